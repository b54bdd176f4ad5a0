//! The policy's vocabulary: [`PexConfig`], the caller's [`PeerInfo`], the
//! [`Action`]s it returns, why it stops a peer ([`PexViolation`]) and why it
//! refuses to start ([`PexStartupError`]).

use std::time::Duration;

use super::{DEFAULT_BAN_TIME, DEFAULT_ENSURE_PEERS_PERIOD, SEED_DISCONNECT_WAIT_PERIOD};
use crate::key::NodeId;
use crate::netaddr::NetAddress;
use crate::pex::messages::{PexDecodeError, PexMessage};
use crate::time::Instant;

/// The reactor's settings (Go's `ReactorConfig` plus the switch facts it asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PexConfig {
    /// Outbound target (`max_num_outbound_peers`, default 10).
    pub max_num_outbound_peers: usize,
    /// Seed ("crawler") mode (`seed_mode`).
    pub seed_mode: bool,
    /// Period of `ensurePeers` (30 s); a peer may send one request per a third of it.
    pub ensure_peers_period: Duration,
    /// The configured seeds that parsed and resolved, in configuration order.
    pub seeds: Vec<NetAddress>,
    /// Configured seeds whose DNS lookup failed (dropped for the process lifetime).
    pub unresolved_seeds: usize,
    /// Persistent peers (an address is persistent if it equals one of these).
    pub persistent_peers: Vec<NetAddress>,
    /// Cap of the dial backoff of persistent peers (`persistent_peers_max_dial_period`;
    /// zero = no cap).
    pub persistent_peers_max_dial_period: Duration,
    /// Ban duration for misbehaviour and given-up addresses (24 h).
    pub ban_time: Duration,
    /// Seed mode: disconnect non-persistent peers connected this long (28 h).
    pub seed_disconnect_wait_period: Duration,
}

impl Default for PexConfig {
    fn default() -> Self {
        PexConfig {
            max_num_outbound_peers: 10,
            seed_mode: false,
            ensure_peers_period: DEFAULT_ENSURE_PEERS_PERIOD,
            seeds: Vec::new(),
            unresolved_seeds: 0,
            persistent_peers: Vec::new(),
            persistent_peers_max_dial_period: Duration::ZERO,
            ban_time: DEFAULT_BAN_TIME,
            seed_disconnect_wait_period: SEED_DISCONNECT_WAIT_PERIOD,
        }
    }
}

/// What the caller knows about a connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its node ID.
    pub id: NodeId,
    /// We dialed it.
    pub outbound: bool,
    /// It is one of our persistent peers.
    pub persistent: bool,
    /// The remote end of the connection with its ID (Go's `SocketAddr()`): the
    /// address banned on misbehaviour.
    pub socket_addr: NetAddress,
    /// `id@listen_addr` from its NodeInfo (Go's `NodeInfo().NetAddress()`), `None`
    /// if that does not parse/resolve.
    pub self_reported: Option<NetAddress>,
    /// When it was connected.
    pub connected_at: Instant,
}

/// Why the reactor stops a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PexViolation {
    /// A third (or later) request less than a third of the ensure-peers period
    /// after the previous accepted one.
    #[error("PEX request {since_last:?} after the previous one (minimum {min_interval:?})")]
    RequestTooSoon {
        /// Time since the previous accepted request.
        since_last: Duration,
        /// The minimum interval.
        min_interval: Duration,
    },
    /// Addresses we did not ask for (Go's `ErrUnsolicitedList`).
    #[error("unsolicited PEX address list")]
    UnsolicitedAddrs,
    /// An address list with an invalid IP or port.
    #[error("bad PEX address list: {0}")]
    BadAddrs(PexDecodeError),
    /// A body that is not a PEX message (or has an empty oneof).
    #[error("malformed PEX message: {0}")]
    Malformed(PexDecodeError),
    /// It answered our request but its own NodeInfo address is unusable, so its
    /// addresses have no source (Go stops it without a ban).
    #[error("peer's self-reported address is unusable")]
    NoSelfAddress,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a PEX message on channel 0x00.
    Send {
        /// The peer.
        to: NodeId,
        /// The message.
        msg: PexMessage,
    },
    /// Dial an address now (asynchronously) and report [`Pex::dial_result`](super::Pex::dial_result).
    Dial(NetAddress),
    /// Dial these seeds one after the other, stopping at the first that connects
    /// or is already connected/being dialed. Not reported back.
    DialSeeds(Vec<NetAddress>),
    /// Stop the peer for an error. If `ban`, its ID has already been banned in
    /// the book for [`PexConfig::ban_time`].
    StopPeer {
        /// The peer.
        id: NodeId,
        /// Why.
        reason: PexViolation,
        /// Whether it was banned.
        ban: bool,
    },
    /// Seed reply sent: flush the peer's queues, then stop it gracefully.
    FlushAndDisconnect(NodeId),
    /// Stop the peer gracefully (seed mode: connected long enough).
    Disconnect(NodeId),
    /// Run [`Pex::ensure_peers`](super::Pex::ensure_peers) now with `periodic = false` (a seed answered).
    WakeEnsurePeers,
}

/// Startup refused (Go's `OnStart`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PexStartupError {
    /// Seeds were configured, none resolved, and the book is empty.
    #[error("address book is empty and couldn't resolve any seed nodes")]
    NoSeedsAndEmptyBook,
}
