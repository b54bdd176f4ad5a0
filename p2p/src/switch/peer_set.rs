//! The set of connected peers, keyed and iterated by [`NodeId`] (Go's
//! `PeerSet`, with deterministic order).
//!
//! Rules (spec 2.3): adding fails on a duplicate ID, or if a removal of this
//! very peer was already attempted (it failed during startup: Go's
//! `ErrPeerRemoval`), or once the switch is stopping. Removing only removes
//! the same connection; removing a peer that is not in the set flags it so a
//! racing add refuses it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use super::error::AddPeerError;
use super::peer::Peer;
use crate::key::NodeId;

#[derive(Default)]
struct Inner {
    peers: BTreeMap<NodeId, Peer>,
    closed: bool,
}

/// Connected peers.
#[derive(Default)]
pub(crate) struct PeerSet {
    inner: Mutex<Inner>,
}

impl PeerSet {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, peer: &Peer) -> Result<(), AddPeerError> {
        let mut s = self.lock();
        if s.closed {
            return Err(AddPeerError::SwitchStopped);
        }
        if peer.removal_failed() {
            return Err(AddPeerError::RemovalFailed { id: peer.id() });
        }
        if s.peers.contains_key(&peer.id()) {
            return Err(AddPeerError::DuplicateId { id: peer.id() });
        }
        s.peers.insert(peer.id(), peer.clone());
        Ok(())
    }

    pub(crate) fn has(&self, id: &NodeId) -> bool {
        self.lock().peers.contains_key(id)
    }

    pub(crate) fn has_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.lock().peers.values().any(|p| p.remote_ip() == ip)
    }

    pub(crate) fn get(&self, id: &NodeId) -> Option<Peer> {
        self.lock().peers.get(id).cloned()
    }

    /// Removes `peer` if this very connection is in the set; otherwise flags
    /// it as "removal failed" and returns false.
    pub(crate) fn remove(&self, peer: &Peer) -> bool {
        let mut s = self.lock();
        match s.peers.get(&peer.id()) {
            Some(p) if p.same_connection(peer) => {
                s.peers.remove(&peer.id());
                true
            }
            _ => {
                peer.set_removal_failed();
                false
            }
        }
    }

    /// All peers, sorted by ID.
    pub(crate) fn list(&self) -> Vec<Peer> {
        self.lock().peers.values().cloned().collect()
    }

    /// Refuses further adds and returns the peers left.
    pub(crate) fn close(&self) -> Vec<Peer> {
        let mut s = self.lock();
        s.closed = true;
        s.peers.values().cloned().collect()
    }

    /// `(outbound, inbound)`, not counting `unconditional` IDs.
    pub(crate) fn counts(&self, unconditional: &BTreeSet<NodeId>) -> (usize, usize) {
        let s = self.lock();
        let mut out = 0;
        let mut inb = 0;
        for p in s.peers.values() {
            if unconditional.contains(&p.id()) {
                continue;
            }
            if p.is_outbound() {
                out += 1;
            } else {
                inb += 1;
            }
        }
        (out, inb)
    }
}
