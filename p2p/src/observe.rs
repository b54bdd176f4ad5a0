//! Observation hooks: the Switch reports what happens to peers and
//! connections through an [`Observer`], so a caller (the simulator, a
//! metrics exporter, a test) can collect metrics. Protocol code computes no
//! metrics itself.
//!
//! Every method has a no-op default; implement only what you need. Methods
//! are called synchronously from switch tasks (never while the switch holds
//! a lock), with `now` from the switch's [`crate::net::Runtime`], and must
//! not block.

use std::net::SocketAddr;

use crate::netaddr::NetAddress;
use crate::switch::{DialError, InboundRejection, Peer, StopReason};
use crate::time::Instant;

/// Receives switch events. Shared as `Arc<dyn Observer>`.
pub trait Observer: Send + Sync + 'static {
    /// A peer was added to the peer set (after every reactor's `init_peer`,
    /// before their `add_peer`).
    fn peer_added(&self, now: Instant, peer: &Peer) {
        let _ = (now, peer);
    }

    /// A peer left the peer set (after every reactor's `remove_peer`).
    fn peer_removed(&self, now: Instant, peer: &Peer, reason: &StopReason) {
        let _ = (now, peer, reason);
    }

    /// An outbound dial starts (after the "already dialing or connected" check).
    fn dial_started(&self, now: Instant, addr: &NetAddress) {
        let _ = (now, addr);
    }

    /// An outbound dial that was started ended: `Ok` with the added peer, or
    /// the error.
    fn dial_finished(&self, now: Instant, addr: &NetAddress, result: Result<&Peer, &DialError>) {
        let _ = (now, addr, result);
    }

    /// An inbound connection from `remote` was dropped before becoming a peer.
    fn inbound_rejected(&self, now: Instant, remote: SocketAddr, reason: &InboundRejection) {
        let _ = (now, remote, reason);
    }

    /// The reconnect routine for a persistent peer started.
    fn reconnect_started(&self, now: Instant, addr: &NetAddress) {
        let _ = (now, addr);
    }

    /// The reconnect routine gave up after its last attempt.
    fn reconnect_gave_up(&self, now: Instant, addr: &NetAddress) {
        let _ = (now, addr);
    }
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {}
