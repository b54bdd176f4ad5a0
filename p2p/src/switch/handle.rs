//! [`SwitchHandle`]: the cloneable, type-erased handle to a running switch,
//! given to the application by [`super::Switch::start`] and to every
//! reactor's `start`. It hides the network and runtime types, so reactors
//! are not generic.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use futures::StreamExt;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::core::{lock, Shared};
use super::error::{DialError, StopReason};
use super::peer::Peer;
use super::SwitchConfig;
use crate::key::NodeId;
use crate::net::{Network, Runtime};
use crate::netaddr::NetAddress;
use crate::node_info::NodeInfo;
use crate::time::Instant;

/// Peer counts (Go's `NumPeers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Outbound peers, unconditional peers excluded.
    pub outbound: usize,
    /// Inbound peers, unconditional peers excluded.
    pub inbound: usize,
    /// Dials in progress.
    pub dialing: usize,
}

/// The switch behind the handle, with network and runtime erased.
trait Api: Send + Sync + 'static {
    fn dial(self: Arc<Self>, addr: NetAddress) -> BoxFuture<'static, Result<Peer, DialError>>;
    fn dial_async(self: Arc<Self>, addrs: Vec<NetAddress>);
    fn shared_stop_for_error(self: Arc<Self>, id: &NodeId, reason: StopReason);
    fn stop(self: Arc<Self>) -> BoxFuture<'static, ()>;
    fn counts(&self) -> PeerCounts;
    fn peers(&self) -> Vec<Peer>;
    fn peer(&self, id: &NodeId) -> Option<Peer>;
    fn dialing_or_existing(&self, addr: &NetAddress) -> bool;
    fn stop_gracefully(&self, id: &NodeId);
    fn mark_good(&self, id: &NodeId);
    fn listen_addr(&self) -> SocketAddr;
    fn net_address(&self) -> NetAddress;
    fn node_info(&self) -> &NodeInfo;
    fn config(&self) -> &SwitchConfig;
    fn running(&self) -> bool;
    fn now(&self) -> Instant;
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
    fn spawn(&self, fut: BoxFuture<'static, ()>);
    fn next_u64(&self) -> u64;
}

impl<N: Network, R: Runtime> Api for Shared<N, R> {
    fn dial(self: Arc<Self>, addr: NetAddress) -> BoxFuture<'static, Result<Peer, DialError>> {
        Shared::dial(&self, addr).boxed()
    }
    fn dial_async(self: Arc<Self>, addrs: Vec<NetAddress>) {
        self.dial_peers_async(addrs)
    }
    fn shared_stop_for_error(self: Arc<Self>, id: &NodeId, reason: StopReason) {
        if let Some(p) = self.peers.get(id) {
            self.stop_peer_for_error(&p, reason);
        }
    }
    fn stop(self: Arc<Self>) -> BoxFuture<'static, ()> {
        async move { Shared::stop(&self).await }.boxed()
    }
    fn counts(&self) -> PeerCounts {
        let (outbound, inbound) = self.peers.counts(&self.cfg.unconditional_peer_ids);
        PeerCounts {
            outbound,
            inbound,
            dialing: lock(&self.dialing).len(),
        }
    }
    fn peers(&self) -> Vec<Peer> {
        self.peers.list()
    }
    fn peer(&self, id: &NodeId) -> Option<Peer> {
        self.peers.get(id)
    }
    fn dialing_or_existing(&self, addr: &NetAddress) -> bool {
        self.is_dialing_or_existing_address(addr)
    }
    fn stop_gracefully(&self, id: &NodeId) {
        if let Some(p) = self.peers.get(id) {
            tracing::info!(peer = %p, "stopping peer gracefully");
            self.stop_peer_gracefully(&p);
        }
    }
    fn mark_good(&self, id: &NodeId) {
        if let Some(book) = &self.addr_book {
            book.mark_good(id);
        }
    }
    fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }
    fn net_address(&self) -> NetAddress {
        self.our_addr
    }
    fn node_info(&self) -> &NodeInfo {
        &self.node_info
    }
    fn config(&self) -> &SwitchConfig {
        &self.cfg
    }
    fn running(&self) -> bool {
        self.is_running()
    }
    fn now(&self) -> Instant {
        self.rt.now()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.rt.sleep(d).boxed()
    }
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        self.spawn_until_shutdown(fut)
    }
    fn next_u64(&self) -> u64 {
        self.with_rng(|r| r.next_u64())
    }
}

/// A handle to a running switch. Cloning is cheap.
#[derive(Clone)]
pub struct SwitchHandle {
    api: Arc<dyn Api>,
}

impl fmt::Debug for SwitchHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SwitchHandle({})", self.api.net_address())
    }
}

impl SwitchHandle {
    pub(crate) fn new<N: Network, R: Runtime>(shared: Arc<Shared<N, R>>) -> Self {
        SwitchHandle { api: shared }
    }

    /// Dials `addr` and adds the peer (Go's `DialPeerWithAddress`). The
    /// attempt runs in its own task; dropping the future does not cancel it.
    pub fn dial_peer_with_address(
        &self,
        addr: &NetAddress,
    ) -> impl Future<Output = Result<Peer, DialError>> + Send + 'static {
        self.api.clone().dial(*addr)
    }

    /// Adds `addrs` to the address book, then dials them in random order,
    /// each after U[0, 3 s), skipping our own address (Go's `DialPeersAsync`).
    pub fn dial_peers_async(&self, addrs: Vec<NetAddress>) {
        self.api.clone().dial_async(addrs)
    }

    /// Outbound / inbound (unconditional peers excluded) and dialing counts.
    pub fn num_peers(&self) -> PeerCounts {
        self.api.counts()
    }

    /// Connected peers, sorted by ID.
    pub fn peers(&self) -> Vec<Peer> {
        self.api.peers()
    }

    /// The connected peer with this ID.
    pub fn peer(&self, id: &NodeId) -> Option<Peer> {
        self.api.peer(id)
    }

    /// True if `addr`'s ID is being dialed or connected, or (unless
    /// `allow_duplicate_ip`) a peer has its IP.
    pub fn is_dialing_or_existing_address(&self, addr: &NetAddress) -> bool {
        self.api.dialing_or_existing(addr)
    }

    /// Disconnects the peer for an error (no-op if unknown or already
    /// stopping); persistent peers are then reconnected.
    pub fn stop_peer_for_error(&self, id: &NodeId, reason: StopReason) {
        self.api.clone().shared_stop_for_error(id, reason)
    }

    /// Disconnects the peer without reconnecting.
    pub fn stop_peer_gracefully(&self, id: &NodeId) {
        self.api.stop_gracefully(id)
    }

    /// Sends `msg` on `channel` to every peer (each send in its own task,
    /// waiting up to 10 s). The future, optional to await, yields
    /// `(peer, sent)` sorted by ID.
    pub fn broadcast(
        &self,
        channel: u8,
        msg: Vec<u8>,
    ) -> impl Future<Output = Vec<(NodeId, bool)>> + Send + 'static {
        tracing::debug!(channel, "broadcast");
        let (tx, rx) = futures::channel::mpsc::unbounded();
        for p in self.api.peers() {
            let tx = tx.clone();
            let m = msg.clone();
            self.api.spawn(
                async move {
                    let ok = p.send(channel, m).await;
                    let _ = tx.unbounded_send((p.id(), ok));
                }
                .boxed(),
            );
        }
        drop(tx);
        async move {
            let mut v: Vec<(NodeId, bool)> = rx.collect().await;
            v.sort();
            v
        }
    }

    /// Tells the address book the peer was useful.
    pub fn mark_peer_as_good(&self, id: &NodeId) {
        self.api.mark_good(id)
    }

    /// The bound listen address.
    pub fn listen_addr(&self) -> SocketAddr {
        self.api.listen_addr()
    }

    /// Our `id@listen_addr`.
    pub fn net_address(&self) -> NetAddress {
        self.api.net_address()
    }

    /// Our NodeInfo as sent to peers.
    pub fn node_info(&self) -> &NodeInfo {
        self.api.node_info()
    }

    /// The switch's configuration.
    pub fn config(&self) -> &SwitchConfig {
        self.api.config()
    }

    /// True until `stop` is called.
    pub fn is_running(&self) -> bool {
        self.api.running()
    }

    /// Stops the switch: every peer stopped and removed (reactors see
    /// `remove_peer`), reactors stopped, listener closed; resolves when every
    /// switch task has ended. Do not await it from a switch task or callback.
    pub fn stop(&self) -> impl Future<Output = ()> + Send + 'static {
        self.api.clone().stop()
    }

    /// The switch runtime's clock.
    pub fn now(&self) -> Instant {
        self.api.now()
    }

    /// Sleeps on the switch runtime's clock.
    pub fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.api.sleep(d)
    }

    /// Runs `fut` on the switch runtime until it completes or the switch
    /// stops (then it is dropped); `stop` waits for it.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.api.spawn(fut.boxed())
    }

    /// A new RNG seeded from the switch's RNG, for a reactor's own random
    /// choices (keeps runs deterministic for a given switch seed).
    pub fn fork_rng(&self) -> ChaCha20Rng {
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&self.api.next_u64().to_le_bytes());
        }
        ChaCha20Rng::from_seed(seed)
    }
}
