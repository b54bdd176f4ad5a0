//! The Reactor API (spec 2.5): how protocol modules plug into the Switch.
//!
//! A reactor owns some channels ([`Reactor::channels`]; no two reactors may
//! share one, [`super::SwitchError::DuplicateChannel`]). The Switch calls it,
//! for one reactor, in this order (CometBFT's ABNF):
//!
//! ```text
//! start           = channels start *peer-management stop
//! peer-management = init-peer start-peer stop-peer   ; peers concurrently
//! start-peer      = [*receive] (connected-peer / start-error)
//! connected-peer  = add-peer *receive
//! stop-peer       = [peer-error] remove-peer
//! ```
//!
//! - [`Reactor::init_peer`] runs before the peer's connection starts, so no
//!   message of that peer can arrive before it.
//! - [`Reactor::receive`] may run **before** [`Reactor::add_peer`]: the
//!   connection starts, then the peer is added to the set, then every
//!   reactor's `add_peer` runs, while messages already flow.
//! - If starting or adding the peer fails, `add_peer` and `remove_peer` may
//!   never be called: do not keep state from `init_peer` that only
//!   `remove_peer` would clean up (use the peer's key/value store instead).
//! - [`Reactor::remove_peer`] runs after the connection is closed; the peer
//!   leaves the peer set only after every reactor's `remove_peer` returned,
//!   so a reconnecting peer of the same ID cannot be `init_peer`-ed earlier.
//!   After it, no new `receive` starts for that `Peer` value (one that was
//!   already running may still finish). A reconnect is a new `Peer` value
//!   with the same ID.
//!
//! # Slow `receive` does not break keepalive
//!
//! `receive` is async and is awaited by a per-peer dispatch task that drains
//! the MConnection's [`crate::mconn::Inbound`] queue. The MConnection driver
//! is a separate task that never waits for the dispatcher: it keeps sending
//! pings, answering the peer's pings and reading pongs while `receive`
//! blocks, buffering received messages (queue, then a bounded byte backlog,
//! see [`crate::mconn::driver`]). So a slow `receive` delays only that peer's
//! deliveries (for every reactor, in order); other peers are unaffected, and
//! the connection is not dropped for a pong timeout, unlike CometBFT where
//! `Receive` runs on the read loop (cometbft#2533). Only when the backlog
//! limit is reached does the driver stop reading, and then a peer that keeps
//! pinging us will eventually time out on its side.
//!
//! The same holds for the other callbacks: they are plain functions called
//! from switch tasks and must not block (spawn work with
//! [`super::SwitchHandle::spawn`]).

use futures::future::BoxFuture;

use super::error::{BoxError, StopReason};
use super::handle::SwitchHandle;
use super::peer::Peer;
use crate::mconn::ChannelDescriptor;

/// A message received from a peer.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The channel it arrived on.
    pub channel: u8,
    /// The sender.
    pub src: Peer,
    /// The message bytes (one reassembled MConnection message, not decoded).
    pub message: Vec<u8>,
}

/// A protocol module attached to the Switch (object-safe; use `Arc<dyn Reactor>`).
pub trait Reactor: Send + Sync + 'static {
    /// The channels this reactor owns; their descriptors configure every
    /// peer's MConnection.
    fn channels(&self) -> Vec<ChannelDescriptor>;

    /// Called once when the switch starts, before any peer exists. An error
    /// aborts the start. Keep `sw` to dial, send, and stop peers; drop it in
    /// [`Reactor::stop`].
    fn start(&self, sw: SwitchHandle) -> Result<(), BoxError> {
        let _ = sw;
        Ok(())
    }

    /// Called once when the switch stops, after every peer was removed.
    fn stop(&self) {}

    /// A new peer, before its connection starts.
    fn init_peer(&self, peer: &Peer) {
        let _ = peer;
    }

    /// The peer is running and in the peer set.
    fn add_peer(&self, peer: &Peer) {
        let _ = peer;
    }

    /// The peer's connection was closed; it leaves the peer set next.
    fn remove_peer(&self, peer: &Peer, reason: &StopReason) {
        let _ = (peer, reason);
    }

    /// A message on one of this reactor's channels. Awaited by the peer's
    /// dispatch task: the next message of this peer (for any reactor) waits
    /// until it completes, but keepalive does not (see the module doc).
    fn receive(&self, envelope: Envelope) -> BoxFuture<'_, ()>;
}

/// What the Switch tells the address book (implemented by the PEX reactor's
/// book). Every method has a no-op default.
pub trait AddrBookHook: Send + Sync + 'static {
    /// `addr` is one of ours (we dialed ourselves); never dial it again.
    fn add_our_address(&self, addr: &crate::netaddr::NetAddress) {
        let _ = addr;
    }
    /// Forget `addr`.
    fn remove_address(&self, addr: &crate::netaddr::NetAddress) {
        let _ = addr;
    }
    /// The peer did something useful (Go: consensus every 10,000 votes/parts).
    fn mark_good(&self, id: &crate::key::NodeId) {
        let _ = id;
    }
    /// Learned `addr` from `src` (persistent peers: `src` is our own address).
    fn add_address(&self, addr: &crate::netaddr::NetAddress, src: &crate::netaddr::NetAddress) {
        let _ = (addr, src);
    }
    /// IDs never to store or gossip (`private_peer_ids`).
    fn add_private_ids(&self, ids: &[crate::key::NodeId]) {
        let _ = ids;
    }
    /// Persist the book now.
    fn save(&self) {}
}
