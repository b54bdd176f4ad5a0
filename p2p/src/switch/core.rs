//! The running switch's shared state ([`Shared`]) and the peer lifecycle:
//! wrap an upgraded connection into a [`Peer`], `add_peer` (spec 2.3 steps:
//! filters → running check → `init_peer` → start → peer set → `add_peer`),
//! the per-peer dispatch task, `stop_and_remove` (close → `remove_peer` →
//! leave the set last), `stop_peer_for_error` (+ reconnect of persistent
//! peers), and `stop`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use super::accept::AcceptSlots;
use super::error::{AddPeerError, StopReason};
use super::filter::{run_filters, ConnFilter, ConnKey, ConnTable, FilterFailure, PeerFilter};
use super::peer::{Peer, PeerParts};
use super::peer_set::PeerSet;
use super::reactor::{AddrBookHook, Envelope, Reactor};
use super::task::{Shutdown, Tasks};
use super::{SwitchConfig, TrackedStream};
use crate::key::{NodeId, NodeKey};
use crate::mconn::driver::{self, Driver};
use crate::mconn::{ChannelDescriptor, Inbound};
use crate::net::{Network, Runtime};
use crate::netaddr::NetAddress;
use crate::node_info::NodeInfo;
use crate::observe::Observer;
use crate::secret_connection::SecretConnection;
use crate::time::Instant;
use crate::transport::Upgraded;

/// Upper bound (exclusive) of the random delays before dials (Go's
/// `dialRandomizerIntervalMilliseconds`).
pub const DIAL_JITTER_MAX: Duration = Duration::from_millis(3000);

/// Reactors and their channels, fixed at start.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) reactors: Vec<(String, Arc<dyn Reactor>)>,
    pub(crate) by_channel: BTreeMap<u8, usize>,
    pub(crate) channels: Vec<ChannelDescriptor>,
}

/// The parts of a peer that exist before it starts.
pub(crate) struct Pending<S> {
    driver: Driver<SecretConnection<TrackedStream<S>>>,
    inbound: Inbound,
}

/// Everything the switch's tasks share.
pub(crate) struct Shared<N: Network, R: Runtime> {
    pub(crate) cfg: SwitchConfig,
    pub(crate) net: N,
    pub(crate) rt: R,
    pub(crate) node_key: NodeKey,
    pub(crate) node_info: NodeInfo,
    pub(crate) our_addr: NetAddress,
    pub(crate) listen_addr: SocketAddr,
    pub(crate) registry: Mutex<Arc<Registry>>,
    pub(crate) peers: PeerSet,
    pub(crate) conns: Arc<ConnTable>,
    pub(crate) dialing: Mutex<BTreeSet<NodeId>>,
    pub(crate) reconnecting: Mutex<BTreeSet<NodeId>>,
    pub(crate) rng: Mutex<ChaCha20Rng>,
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) addr_book: Option<Arc<dyn AddrBookHook>>,
    pub(crate) conn_filters: Vec<Arc<dyn ConnFilter>>,
    pub(crate) peer_filters: Vec<Arc<dyn PeerFilter>>,
    pub(crate) running: AtomicBool,
    pub(crate) shutdown: Shutdown,
    pub(crate) tasks: Arc<Tasks>,
    /// Serializes the inbound limit check and `add_peer` (Go's single
    /// accept routine).
    pub(crate) admit: futures::lock::Mutex<()>,
    pub(crate) accept_slots: Arc<AcceptSlots>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<N: Network, R: Runtime> Shared<N, R> {
    pub(crate) fn now(&self) -> Instant {
        self.rt.now()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn registry(&self) -> Arc<Registry> {
        lock(&self.registry).clone()
    }

    /// Runs `f` with the switch's one RNG.
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha20Rng) -> T) -> T {
        f(&mut lock(&self.rng))
    }

    /// U[0, 3 s) in whole milliseconds, as Go.
    pub(crate) fn jitter(&self) -> Duration {
        let ms = DIAL_JITTER_MAX.as_millis() as u64;
        Duration::from_millis(self.with_rng(|r| r.next_u64() % ms))
    }

    pub(crate) fn is_unconditional(&self, id: &NodeId) -> bool {
        self.cfg.unconditional_peer_ids.contains(id)
    }

    pub(crate) fn is_persistent(&self, addr: &NetAddress) -> bool {
        self.cfg.persistent_peers.contains(addr)
    }

    /// Spawns a task that `stop` waits for.
    pub(crate) fn spawn_task(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let guard = self.tasks.enter();
        self.rt.spawn(async move {
            let _guard = guard;
            fut.await;
        });
    }

    /// Spawns a task that is dropped when the switch stops.
    pub(crate) fn spawn_until_shutdown(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let stop = self.shutdown.wait();
        self.spawn_task(async move {
            let fut = std::pin::pin!(fut);
            futures::future::select(stop, fut).await;
        });
    }

    /// Sleeps `d`; false if the switch stopped first.
    pub(crate) async fn sleep_unless_stopped(&self, d: Duration) -> bool {
        let sleep = std::pin::pin!(self.rt.sleep(d));
        matches!(
            futures::future::select(self.shutdown.wait(), sleep).await,
            futures::future::Either::Right(_)
        ) && self.is_running()
    }

    /// Builds the peer and its (not yet running) MConnection.
    pub(crate) fn wrap_peer(
        &self,
        up: Upgraded<TrackedStream<N::Stream>>,
        outbound: bool,
        socket_addr: NetAddress,
        remote_addr: SocketAddr,
        conn_key: ConnKey,
    ) -> Result<(Peer, Pending<N::Stream>), AddPeerError> {
        let persistent = if outbound {
            self.is_persistent(&socket_addr)
        } else {
            up.peer_info
                .net_address()
                .is_ok_and(|a| self.is_persistent(&a))
        };
        let reg = self.registry();
        let (conn, inbound, driver) = driver::new(
            &self.rt,
            up.conn,
            self.cfg.mconn.clone(),
            &reg.channels,
            self.cfg.driver.clone(),
        )
        .map_err(AddPeerError::MConnConfig)?;
        let peer = Peer::new(PeerParts {
            node_info: up.peer_info,
            outbound,
            persistent,
            socket_addr,
            remote_addr,
            conn,
            conn_key,
        });
        Ok((peer, Pending { driver, inbound }))
    }

    /// Go's `addPeer`. On error the caller must [`Shared::discard`] the peer.
    pub(crate) async fn add_peer(
        self: &Arc<Self>,
        peer: &Peer,
        pending: Pending<N::Stream>,
    ) -> Result<(), AddPeerError> {
        if self.peers.has(&peer.id()) {
            return Err(AddPeerError::DuplicateId { id: peer.id() });
        }
        let checks = self.peer_filters.iter().map(|f| f.filter(peer)).collect();
        run_filters(&self.rt, self.cfg.filter_timeout, checks)
            .await
            .map_err(|e| match e {
                FilterFailure::Rejected(reason) => AddPeerError::Filtered {
                    id: peer.id(),
                    reason,
                },
                FilterFailure::Timeout(d) => AddPeerError::FilterTimeout(d),
            })?;
        if !self.is_running() {
            return Err(AddPeerError::SwitchStopped);
        }
        let reg = self.registry();
        for (_, r) in &reg.reactors {
            r.init_peer(peer);
        }
        peer.mark_started();
        self.spawn_task(pending.driver);
        let shared = self.clone();
        let p = peer.clone();
        self.spawn_task(async move { shared.dispatch(p, pending.inbound).await });
        self.peers.add(peer)?;
        self.observer.peer_added(self.now(), peer);
        tracing::info!(peer = %peer, persistent = peer.is_persistent(), "peer added");
        for (_, r) in &reg.reactors {
            r.add_peer(peer);
        }
        Ok(())
    }

    /// Closes a peer that could not be added (no reactor `remove_peer`).
    pub(crate) fn discard(&self, peer: &Peer) {
        peer.claim_stop();
        self.conns.remove(peer.conn_key());
        peer.close();
    }

    /// Delivers the peer's messages to reactors, one at a time, then reports
    /// the end of the connection.
    async fn dispatch(self: Arc<Self>, peer: Peer, mut inbound: Inbound) {
        let reg = self.registry();
        while let Some((channel, message)) = inbound.next().await {
            if !peer.is_running() {
                break;
            }
            let Some((_, reactor)) = reg
                .by_channel
                .get(&channel)
                .and_then(|i| reg.reactors.get(*i))
            else {
                // The MConnection only accepts registered channels.
                continue;
            };
            let src = peer.clone();
            reactor
                .receive(Envelope {
                    channel,
                    src,
                    message,
                })
                .await;
        }
        drop(inbound);
        drop(reg);
        let end = peer.closed().await;
        if peer.is_flush_stopped() {
            if peer.claim_stop() {
                self.stop_and_remove(&peer, &StopReason::Graceful);
            }
            return;
        }
        let reason = match end {
            Err(e) => StopReason::Connection(e),
            Ok(()) => StopReason::ClosedLocally,
        };
        self.stop_peer_for_error(&peer, reason);
    }

    /// Go's `stopAndRemovePeer`; the caller has claimed the stop.
    pub(crate) fn stop_and_remove(&self, peer: &Peer, reason: &StopReason) {
        self.conns.remove(peer.conn_key());
        peer.close();
        let reg = self.registry();
        for (_, r) in &reg.reactors {
            r.remove_peer(peer, reason);
        }
        if self.peers.remove(peer) {
            self.observer.peer_removed(self.now(), peer, reason);
            tracing::info!(peer = %peer, %reason, "peer removed");
        } else {
            tracing::debug!(peer = %peer, %reason, "stopped peer was not in the peer set");
        }
    }

    /// Go's `StopPeerForError`: no-op unless the peer is running; persistent
    /// peers get the reconnect routine.
    pub(crate) fn stop_peer_for_error(self: &Arc<Self>, peer: &Peer, reason: StopReason) {
        if !peer.claim_stop() {
            return;
        }
        tracing::info!(peer = %peer, %reason, "stopping peer for error");
        self.stop_and_remove(peer, &reason);
        if !peer.is_persistent() {
            return;
        }
        let addr = if peer.is_outbound() {
            peer.socket_addr()
        } else {
            match peer.node_info().net_address() {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(peer = %peer, error = %e,
                        "cannot reconnect to inbound persistent peer: bad self-reported address");
                    return;
                }
            }
        };
        self.spawn_reconnect(addr);
    }

    /// Go's `StopPeerGracefully`: stop and remove, no reconnect.
    pub(crate) fn stop_peer_gracefully(&self, peer: &Peer) {
        if peer.claim_stop() {
            self.stop_and_remove(peer, &StopReason::Graceful);
        }
    }

    /// Clean shutdown: every peer stopped and removed, reactors stopped,
    /// listener closed, then waits until every switch task has ended.
    pub(crate) async fn stop(self: &Arc<Self>) {
        if self.running.swap(false, Ordering::AcqRel) {
            tracing::info!(addr = %self.our_addr, "switch stopping");
            self.shutdown.fire();
            for p in self.peers.close() {
                if p.claim_stop() {
                    self.stop_and_remove(&p, &StopReason::SwitchStopping);
                }
            }
            // Dropping the registry breaks the reactor ↔ handle cycle.
            let reg = std::mem::take(&mut *lock(&self.registry));
            for (name, r) in &reg.reactors {
                tracing::debug!(reactor = %name, "stopping reactor");
                r.stop();
            }
        }
        self.tasks.idle().await;
    }
}
