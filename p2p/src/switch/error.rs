//! Errors of the Switch, each naming who is at fault ([`Fault`]):
//! [`SwitchError`] (local setup), [`DialError`] (an outbound attempt),
//! [`ConnRejected`] (connection filters), [`AddPeerError`] (peer filters and
//! the peer set), [`InboundRejection`] (why an inbound connection was
//! dropped), and [`StopReason`] (why a connected peer was removed).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::key::NodeId;
use crate::mconn::{self, MConnError};
use crate::netaddr::{NetAddress, NetAddressError};
use crate::node_info::NodeInfoRejected;
use crate::transport::{Fault, UpgradeError};

/// A boxed error from user code (a reactor's `start`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The Switch could not be set up or started (our own configuration or system).
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// Two reactors claim one channel (Go panics here).
    #[error("channel {channel:#04x} is claimed by reactor {first:?} and by reactor {second:?}")]
    DuplicateChannel {
        /// The channel ID.
        channel: u8,
        /// Name of the reactor registered first.
        first: String,
        /// Name of the reactor that tried to register it again.
        second: String,
    },
    /// The MConnection settings or a channel descriptor are unusable.
    #[error("MConnection configuration: {0}")]
    MConnConfig(#[from] mconn::ConfigError),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS or backend error.
        source: io::Error,
    },
    /// A reactor's `start` failed; the switch was stopped again.
    #[error("reactor {name:?} failed to start: {source}")]
    ReactorStart {
        /// The reactor's registration name.
        name: String,
        /// Its error.
        source: BoxError,
    },
}

/// A connection filter refused a connection (before the handshake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnRejected {
    /// A connection with this exact remote `ip:port` is already recorded.
    #[error("duplicate connection from {remote}")]
    DuplicateConn {
        /// The remote address.
        remote: SocketAddr,
    },
    /// A connection with this remote IP exists and `allow_duplicate_ip` is off.
    #[error("duplicate IP {ip}")]
    DuplicateIp {
        /// The remote IP.
        ip: IpAddr,
    },
    /// A user connection filter refused it.
    #[error("filtered: {reason}")]
    Filtered {
        /// The filter's reason.
        reason: String,
    },
    /// The connection filters did not answer in time.
    #[error("connection filters timed out after {0:?}")]
    FilterTimeout(Duration),
}

impl ConnRejected {
    /// Who is to blame: our policy, or a slow filter.
    pub fn fault(&self) -> Fault {
        match self {
            ConnRejected::FilterTimeout(_) => Fault::Timeout,
            _ => Fault::Local,
        }
    }
}

/// A handshaked peer could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddPeerError {
    /// A peer with this ID is already connected.
    #[error("duplicate peer ID {id}")]
    DuplicateId {
        /// The ID.
        id: NodeId,
    },
    /// A user peer filter refused it.
    #[error("peer {id} filtered: {reason}")]
    Filtered {
        /// The ID.
        id: NodeId,
        /// The filter's reason.
        reason: String,
    },
    /// The peer filters did not answer in time.
    #[error("peer filters timed out after {0:?}")]
    FilterTimeout(Duration),
    /// The peer's connection failed while it was being added, and its
    /// removal already ran (Go: `ErrPeerRemoval`).
    #[error("peer {id} failed during startup and was already removed")]
    RemovalFailed {
        /// The ID.
        id: NodeId,
    },
    /// The switch is stopping or stopped.
    #[error("the switch is not running")]
    SwitchStopped,
    /// The MConnection could not be built (our own configuration).
    #[error("MConnection configuration: {0}")]
    MConnConfig(mconn::ConfigError),
}

impl AddPeerError {
    /// Who is to blame.
    pub fn fault(&self) -> Fault {
        match self {
            AddPeerError::FilterTimeout(_) => Fault::Timeout,
            AddPeerError::RemovalFailed { .. } => Fault::Io,
            _ => Fault::Local,
        }
    }
}

/// Why `dial_peer_with_address` failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// Already dialing this ID, already connected to it, or (unless
    /// `allow_duplicate_ip`) connected to a peer on the same IP
    /// (Go: `ErrCurrentlyDialingOrExistingAddress`). Nothing was done.
    #[error("already dialing or connected to {addr} (or its IP)")]
    CurrentlyDialingOrExistingAddress {
        /// The address asked for.
        addr: NetAddress,
    },
    /// The TCP connect did not finish within the dial timeout (1 s).
    #[error("dialing {addr} timed out after {after:?}")]
    Timeout {
        /// The address dialed.
        addr: NetAddress,
        /// The dial timeout.
        after: Duration,
    },
    /// The TCP connect failed.
    #[error("dialing {addr}: {source}")]
    Io {
        /// The address dialed.
        addr: NetAddress,
        /// The error.
        source: Arc<io::Error>,
    },
    /// A connection filter refused the connection.
    #[error("connection to {addr} rejected: {source}")]
    Conn {
        /// The address dialed.
        addr: NetAddress,
        /// Why.
        source: ConnRejected,
    },
    /// The upgrade (handshake, dialed-ID check, NodeInfo) failed.
    #[error("upgrading the connection to {addr}: {source}")]
    Upgrade {
        /// The address dialed.
        addr: NetAddress,
        /// Why; [`UpgradeError::fault`] says who is at fault.
        source: UpgradeError,
    },
    /// The connection is up but the peer could not be added.
    #[error("adding peer {addr}: {source}")]
    AddPeer {
        /// The address dialed.
        addr: NetAddress,
        /// Why.
        source: AddPeerError,
    },
}

impl DialError {
    /// Who is to blame.
    pub fn fault(&self) -> Fault {
        match self {
            DialError::CurrentlyDialingOrExistingAddress { .. } => Fault::Local,
            DialError::Timeout { .. } => Fault::Timeout,
            DialError::Io { .. } => Fault::Io,
            DialError::Conn { source, .. } => source.fault(),
            DialError::Upgrade { source, .. } => source.fault(),
            DialError::AddPeer { source, .. } => source.fault(),
        }
    }

    /// True if we dialed ourselves (the NodeInfo carried our own ID).
    pub fn is_self(&self) -> bool {
        matches!(
            self,
            DialError::Upgrade {
                source: UpgradeError::Rejected(NodeInfoRejected::SelfConnection),
                ..
            }
        )
    }
}

/// Why an inbound connection was dropped before becoming a peer.
#[derive(Debug, thiserror::Error)]
pub enum InboundRejection {
    /// A connection filter refused it.
    #[error("connection rejected: {0}")]
    Conn(#[from] ConnRejected),
    /// The upgrade failed.
    #[error("upgrade failed: {0}")]
    Upgrade(#[from] UpgradeError),
    /// We already have `max_num_inbound_peers` inbound peers (checked after
    /// the handshake, as in Go).
    #[error("too many inbound peers: have {have}, max {max}")]
    InboundLimit {
        /// Inbound peers, excluding unconditional ones.
        have: usize,
        /// The limit.
        max: usize,
    },
    /// The peer could not be added.
    #[error("adding peer failed: {0}")]
    AddPeer(#[from] AddPeerError),
}

impl InboundRejection {
    /// Who is to blame.
    pub fn fault(&self) -> Fault {
        match self {
            InboundRejection::Conn(e) => e.fault(),
            InboundRejection::Upgrade(e) => e.fault(),
            InboundRejection::InboundLimit { .. } => Fault::Local,
            InboundRejection::AddPeer(e) => e.fault(),
        }
    }
}

/// Why a connected peer was stopped and removed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StopReason {
    /// The MConnection ended with an error (protocol violation, pong timeout,
    /// I/O, closed by the peer).
    #[error("connection error: {0}")]
    Connection(MConnError),
    /// The connection was closed locally with [`super::Peer::close`]
    /// (treated like an error, as Go's `CloseConn` makes the read fail).
    #[error("connection closed locally")]
    ClosedLocally,
    /// A reactor (or the application) reported an error.
    #[error("{message}")]
    Reactor {
        /// Who is to blame.
        fault: Fault,
        /// What happened.
        message: String,
    },
    /// `stop_peer_gracefully`, or the peer was flush-stopped; no reconnect.
    #[error("stopped gracefully")]
    Graceful,
    /// The switch is shutting down.
    #[error("switch stopping")]
    SwitchStopping,
}

impl StopReason {
    /// A reactor-reported error.
    pub fn reactor(fault: Fault, message: impl Into<String>) -> Self {
        StopReason::Reactor {
            fault,
            message: message.into(),
        }
    }

    /// Who is to blame, if anyone.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            StopReason::Connection(e) if e.is_peer_misbehavior() => Some(Fault::PeerMisbehaved),
            StopReason::Connection(MConnError::PongTimeout) => Some(Fault::Timeout),
            StopReason::Connection(_) => Some(Fault::Io),
            StopReason::Reactor { fault, .. } => Some(*fault),
            StopReason::ClosedLocally | StopReason::Graceful | StopReason::SwitchStopping => None,
        }
    }
}

/// Reading [`super::SwitchConfig`] from a [`crate::config::P2pConfig`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchConfigError {
    /// An entry of `persistent_peers` is not an `id@host:port` address.
    #[error("persistent_peers entry {index} ({entry:?}): {source}")]
    PersistentPeer {
        /// Position in the list (0-based).
        index: usize,
        /// The entry.
        entry: String,
        /// Why.
        source: NetAddressError,
    },
    /// An entry of an ID list is not a node ID.
    #[error("{key} entry {index} ({entry:?}) is not a node ID: {source}")]
    PeerId {
        /// `unconditional_peer_ids` or `private_peer_ids`.
        key: &'static str,
        /// Position in the list (0-based).
        index: usize,
        /// The entry.
        entry: String,
        /// Why.
        source: crate::key::NodeIdError,
    },
}
