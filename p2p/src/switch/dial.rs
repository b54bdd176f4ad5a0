//! Outbound connections (spec 2.1, 2.3): `dial_peer_with_address` and
//! `dial_peers_async`.
//!
//! 1. Refuse at once with `CurrentlyDialingOrExistingAddress` if the ID is
//!    being dialed, is a peer, or (unless `allow_duplicate_ip`) a peer has
//!    the same IP. Otherwise the ID is "dialing" until the attempt ends.
//! 2. TCP connect with the dial timeout (1 s) → connection filters → upgrade
//!    with the dialed-ID check → wrap (persistent if the address is a
//!    configured persistent peer) → `add_peer`.
//! 3. A self-connection registers the address as ours in the address book
//!    and is not retried; any other failure before `add_peer` starts the
//!    reconnect routine if the address is a persistent peer.
//!
//! The attempt runs in its own task, so dropping the returned future does
//! not cancel it half-way (a started peer is always added or closed).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;
use futures::future::Either;

use super::core::{lock, Shared};
use super::error::{AddPeerError, DialError};
use super::peer::Peer;
use super::upgrade::{filter_and_upgrade, ConnectError, Connected};
use crate::key::NodeId;
use crate::net::{timeout, Network, Runtime};
use crate::netaddr::NetAddress;

/// Removes the ID from the dialing set when the attempt ends.
struct Dialing<'a> {
    set: &'a Mutex<BTreeSet<NodeId>>,
    id: NodeId,
}

impl Drop for Dialing<'_> {
    fn drop(&mut self) {
        lock(self.set).remove(&self.id);
    }
}

/// Go's `NetAddress.Same`: same dial string or same ID.
fn same(a: &NetAddress, b: &NetAddress) -> bool {
    a.socket_addr() == b.socket_addr() || a.id() == b.id()
}

impl<N: Network, R: Runtime> Shared<N, R> {
    /// Go's `IsDialingOrExistingAddress`.
    pub(crate) fn is_dialing_or_existing_address(&self, addr: &NetAddress) -> bool {
        lock(&self.dialing).contains(&addr.id()) || self.is_existing(addr)
    }

    fn is_existing(&self, addr: &NetAddress) -> bool {
        self.peers.has(&addr.id()) || (!self.cfg.allow_duplicate_ip && self.peers.has_ip(addr.ip()))
    }

    /// Go's `DialPeerWithAddress`.
    pub(crate) fn dial(
        self: &Arc<Self>,
        addr: NetAddress,
    ) -> impl Future<Output = Result<Peer, DialError>> + Send + 'static {
        let started = (|| {
            if !self.is_running() {
                return Err(DialError::AddPeer {
                    addr,
                    source: AddPeerError::SwitchStopped,
                });
            }
            let mut dialing = lock(&self.dialing);
            if dialing.contains(&addr.id()) || self.is_existing(&addr) {
                return Err(DialError::CurrentlyDialingOrExistingAddress { addr });
            }
            dialing.insert(addr.id());
            drop(dialing);
            let (tx, rx) = oneshot::channel();
            let shared = self.clone();
            self.spawn_task(async move {
                let _ = tx.send(shared.dial_task(addr).await);
            });
            Ok(rx)
        })();
        async move {
            match started {
                Err(e) => Err(e),
                Ok(rx) => rx.await.unwrap_or(Err(DialError::AddPeer {
                    addr,
                    source: AddPeerError::SwitchStopped,
                })),
            }
        }
    }

    async fn dial_task(self: Arc<Self>, addr: NetAddress) -> Result<Peer, DialError> {
        let _dialing = Dialing {
            set: &self.dialing,
            id: addr.id(),
        };
        tracing::debug!(%addr, "dialing peer");
        self.observer.dial_started(self.now(), &addr);
        let res = self.add_outbound(addr).await;
        self.observer.dial_finished(self.now(), &addr, res.as_ref());
        if let Err(e) = &res {
            tracing::debug!(%addr, error = %e, fault = ?e.fault(), "dial failed");
        }
        res
    }

    async fn connect(&self, addr: NetAddress) -> Result<Connected<N::Stream>, DialError> {
        let limit = self.cfg.dial_timeout;
        let stream = match timeout(&self.rt, limit, self.net.dial(addr.socket_addr())).await {
            Err(_) => return Err(DialError::Timeout { addr, after: limit }),
            Ok(Err(e)) => {
                return Err(DialError::Io {
                    addr,
                    source: Arc::new(e),
                })
            }
            Ok(Ok(s)) => s,
        };
        filter_and_upgrade(self, stream, Some(addr.id()), None)
            .await
            .map_err(|e| match e {
                ConnectError::Conn(source) => DialError::Conn { addr, source },
                ConnectError::Upgrade(source) => DialError::Upgrade { addr, source },
            })
    }

    async fn add_outbound(self: &Arc<Self>, addr: NetAddress) -> Result<Peer, DialError> {
        let connect = std::pin::pin!(self.connect(addr));
        let res = match futures::future::select(self.shutdown.wait(), connect).await {
            Either::Left(_) => Err(DialError::AddPeer {
                addr,
                source: AddPeerError::SwitchStopped,
            }),
            Either::Right((r, _)) => r,
        };
        let Connected { up, remote, key } = match res {
            Ok(c) => c,
            Err(e) if e.is_self() => {
                if let Some(book) = &self.addr_book {
                    book.remove_address(&addr);
                    book.add_our_address(&addr);
                }
                return Err(e);
            }
            Err(e) => {
                if self.is_persistent(&addr) {
                    self.spawn_reconnect(addr);
                }
                return Err(e);
            }
        };
        let (peer, pending) = self
            .wrap_peer(up, true, addr, remote, key)
            .map_err(|source| {
                self.conns.remove(key);
                DialError::AddPeer { addr, source }
            })?;
        if let Err(source) = self.add_peer(&peer, pending).await {
            self.discard(&peer);
            return Err(DialError::AddPeer { addr, source });
        }
        Ok(peer)
    }

    /// Go's `dialPeersAsync`: adds the addresses to the address book (source:
    /// our address) and saves it, then dials them in random order, each
    /// after U[0, 3 s), skipping our own address.
    pub(crate) fn dial_peers_async(self: &Arc<Self>, addrs: Vec<NetAddress>) {
        let ours = self.our_addr;
        if let Some(book) = &self.addr_book {
            for a in addrs.iter().filter(|a| !same(a, &ours)) {
                book.add_address(a, &ours);
            }
            book.save();
        }
        let mut order: Vec<NetAddress> = addrs;
        self.with_rng(|rng| shuffle(&mut order, rng));
        for addr in order {
            if same(&addr, &ours) {
                tracing::debug!(%addr, "not dialing our own address");
                continue;
            }
            let delay = self.jitter();
            let shared = self.clone();
            self.spawn_until_shutdown(async move {
                shared.rt.sleep(delay).await;
                if let Err(e) = shared.dial(addr).await {
                    match e {
                        DialError::CurrentlyDialingOrExistingAddress { .. } => {
                            tracing::debug!(%addr, error = %e, "not dialing peer")
                        }
                        _ if e.is_self() => tracing::debug!(%addr, "dialed ourselves"),
                        _ => tracing::warn!(%addr, error = %e, "error dialing peer"),
                    }
                }
            });
        }
    }
}

/// Fisher–Yates with `rng` (deterministic for a given seed).
pub(crate) fn shuffle<T>(v: &mut [T], rng: &mut impl rand_core::RngCore) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<u32> = (0..20).collect();
        let mut b = a.clone();
        shuffle(&mut a, &mut rand_chacha::ChaCha20Rng::from_seed([1; 32]));
        shuffle(&mut b, &mut rand_chacha::ChaCha20Rng::from_seed([1; 32]));
        assert_eq!(a, b);
        assert_ne!(a, (0..20).collect::<Vec<_>>());
        a.sort();
        assert_eq!(a, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn same_address_or_id() {
        let id1 = NodeId::from_bytes([1; 20]);
        let id2 = NodeId::from_bytes([2; 20]);
        let ip = "10.0.0.1".parse().unwrap();
        assert!(same(
            &NetAddress::new(id1, ip, 1),
            &NetAddress::new(id2, ip, 1)
        ));
        assert!(same(
            &NetAddress::new(id1, ip, 1),
            &NetAddress::new(id1, ip, 2)
        ));
        assert!(!same(
            &NetAddress::new(id1, ip, 1),
            &NetAddress::new(id2, ip, 2)
        ));
    }
}
