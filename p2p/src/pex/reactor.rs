//! The PEX reactor: binds the sans-IO [`Pex`] policy to the Switch.
//!
//! It owns the policy behind a mutex, feeds it peer events, messages and
//! timer ticks, and carries out the returned [`Action`]s (send, dial, stop,
//! ban). Two tasks run while the switch runs: `ensurePeers` every 30 s (or the
//! seed crawler), and the address-book saver (every 2 minutes, and on stop)
//! through a [`BookStore`] — a file for real nodes, memory in the simulator.
//! [`PexReactor::addr_book_hook`] gives the Switch its address-book hook.
//! An optional [`PexObserver`] sees every address list a peer sends (a
//! crawler records "who told us about whom" with it).

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{BoxFuture, Either};
use futures::StreamExt;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::addrbook::AddrBook;
use super::messages::{PexMessage, PEX_CHANNEL};
use super::policy::{Action, DialOutcome, PeerCounts, PeerInfo, Pex, PexConfig, CRAWL_PEER_PERIOD};
use crate::key::NodeId;
use crate::mconn::ChannelDescriptor;
use crate::netaddr::NetAddress;
use crate::switch::{
    AddrBookHook, BoxError, DialError, Envelope, Peer, Reactor, StopReason, SwitchHandle,
};
use crate::time::Instant;
use crate::transport::Fault;

/// How often the address book is saved (Go's `dumpAddressInterval`).
pub const SAVE_INTERVAL: Duration = Duration::from_secs(120);

/// Where the address book is persisted.
pub trait BookStore: Send + Sync + 'static {
    /// Persists `book` (errors are the store's to log).
    fn save(&self, book: &AddrBook);
}

/// Sees the address lists peers send. Called from the reactor's receive
/// path, before the policy handles the list (so also for lists the policy then
/// rejects as unsolicited); lists that fail to decode are not reported. Must
/// not block.
pub trait PexObserver: Send + Sync + 'static {
    /// `from` sent us a `PexAddrs` message with `addrs` (at `now` on the switch clock).
    fn addrs_received(&self, now: Instant, from: NodeId, addrs: &[NetAddress]);
}

/// A store that keeps nothing.
pub struct NoStore;
impl BookStore for NoStore {
    fn save(&self, _book: &AddrBook) {}
}

struct Inner {
    pex: Pex,
    rng: ChaCha20Rng,
    sw: Option<SwitchHandle>,
    wake: Option<mpsc::UnboundedSender<()>>,
    observer: Option<Arc<dyn PexObserver>>,
}

/// The PEX reactor (channel 0x00).
pub struct PexReactor {
    inner: Mutex<Inner>,
    store: Arc<dyn BookStore>,
    me: Weak<PexReactor>,
}

impl PexReactor {
    /// A reactor over `book` with `config`; randomness from `rng_seed`.
    pub fn new(
        config: PexConfig,
        book: AddrBook,
        store: Arc<dyn BookStore>,
        rng_seed: [u8; 32],
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| PexReactor {
            inner: Mutex::new(Inner {
                pex: Pex::new(config, book),
                rng: ChaCha20Rng::from_seed(rng_seed),
                sw: None,
                wake: None,
                observer: None,
            }),
            store,
            me: me.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports received address lists to `observer` (replaces any earlier one).
    pub fn set_observer(&self, observer: Arc<dyn PexObserver>) {
        self.lock().observer = Some(observer);
    }

    /// Runs `f` on the address book (e.g. to read its size or save it).
    pub fn with_book<T>(&self, f: impl FnOnce(&mut AddrBook) -> T) -> T {
        f(self.lock().pex.book_mut())
    }

    /// The hook the Switch uses to tell the book about our own address,
    /// good peers and persistent peers.
    pub fn addr_book_hook(self: &Arc<Self>) -> Arc<dyn AddrBookHook> {
        Arc::new(Hook(self.clone()))
    }

    /// Saves the book through the store.
    pub fn save(&self) {
        let book = self.lock().pex.book().clone();
        self.store.save(&book);
    }

    fn info(sw: &SwitchHandle, peer: &Peer) -> PeerInfo {
        PeerInfo {
            id: peer.id(),
            outbound: peer.is_outbound(),
            persistent: peer.is_persistent(),
            socket_addr: peer.socket_addr(),
            self_reported: peer.node_info().net_address().ok(),
            connected_at: sw.now() - peer.status().duration,
        }
    }

    /// Carries out actions; dials run as tasks (`await_dials` = false) or in
    /// order (the seed crawler).
    async fn execute(self: Arc<Self>, sw: SwitchHandle, actions: Vec<Action>, await_dials: bool) {
        for action in actions {
            match action {
                Action::Send { to, msg } => {
                    if let Some(p) = sw.peer(&to) {
                        if !p.try_send(PEX_CHANNEL, msg.encode()) {
                            tracing::debug!(peer = %to, "PEX send queue full; message dropped");
                        }
                    }
                }
                Action::Dial(addr) => {
                    let me = self.clone();
                    let sw2 = sw.clone();
                    let task = async move { me.dial(sw2, addr).await };
                    if await_dials {
                        task.await;
                    } else {
                        sw.spawn(task);
                    }
                }
                Action::DialSeeds(seeds) => {
                    let sw2 = sw.clone();
                    let task = async move {
                        for s in seeds {
                            match sw2.dial_peer_with_address(&s).await {
                                Ok(_)
                                | Err(DialError::CurrentlyDialingOrExistingAddress { .. }) => break,
                                Err(e) => {
                                    tracing::debug!(seed = %s, error = %e, "seed dial failed")
                                }
                            }
                        }
                    };
                    sw.spawn(task);
                }
                Action::StopPeer { id, reason, ban: _ } => {
                    // The policy already banned the address in the book when asked to.
                    tracing::info!(peer = %id, reason = %reason, "stopping peer for PEX violation");
                    sw.stop_peer_for_error(
                        &id,
                        StopReason::reactor(Fault::PeerMisbehaved, reason.to_string()),
                    );
                }
                Action::FlushAndDisconnect(id) => {
                    if let Some(p) = sw.peer(&id) {
                        let sw2 = sw.clone();
                        sw.spawn(async move {
                            p.flush_stop().await;
                            sw2.stop_peer_gracefully(&id);
                        });
                    }
                }
                Action::Disconnect(id) => sw.stop_peer_gracefully(&id),
                Action::WakeEnsurePeers => {
                    if let Some(w) = &self.lock().wake {
                        let _ = w.unbounded_send(());
                    }
                }
            }
        }
    }

    async fn dial(self: Arc<Self>, sw: SwitchHandle, addr: NetAddress) {
        let result = sw.dial_peer_with_address(&addr).await;
        let outcome = match &result {
            Ok(_) => DialOutcome::Connected,
            Err(DialError::CurrentlyDialingOrExistingAddress { .. }) => {
                DialOutcome::AlreadyConnectedOrDialing
            }
            Err(_) => DialOutcome::Failed,
        };
        let actions = self.lock().pex.dial_result(sw.now(), &addr, outcome);
        // Only requests follow a dial (a seed asks a freshly crawled peer).
        for action in actions {
            if let Action::Send { to, msg } = action {
                if let Some(p) = sw.peer(&to) {
                    let _ = p.try_send(PEX_CHANNEL, msg.encode());
                }
            }
        }
    }

    fn counts(sw: &SwitchHandle) -> PeerCounts {
        let c = sw.num_peers();
        PeerCounts {
            outbound: c.outbound,
            inbound: c.inbound,
            dialing: c.dialing,
        }
    }

    async fn ensure_peers_loop(
        self: Arc<Self>,
        sw: SwitchHandle,
        mut wake: mpsc::UnboundedReceiver<()>,
    ) {
        let (delay, period) = {
            let mut g = self.lock();
            let inner = &mut *g;
            (
                inner
                    .pex
                    .ensure_peers_initial_delay(Self::counts(&sw), &mut inner.rng),
                inner.pex.config().ensure_peers_period,
            )
        };
        sw.sleep(delay).await;
        let mut periodic = true;
        loop {
            let actions = {
                let connected: Vec<NodeId> = sw.peers().iter().map(Peer::id).collect();
                let mut g = self.lock();
                let inner = &mut *g;
                inner.pex.ensure_peers(
                    sw.now(),
                    Self::counts(&sw),
                    |a| sw.is_dialing_or_existing_address(a),
                    &connected,
                    periodic,
                    &mut inner.rng,
                )
            };
            self.clone().execute(sw.clone(), actions, false).await;
            let tick = sw.sleep(period);
            futures::pin_mut!(tick);
            match futures::future::select(tick, wake.next()).await {
                Either::Left(_) => periodic = true,
                Either::Right((Some(()), _)) => periodic = false,
                Either::Right((None, _)) => return,
            }
        }
    }

    async fn crawl_loop(self: Arc<Self>, sw: SwitchHandle) {
        let actions = {
            let mut g = self.lock();
            let inner = &mut *g;
            inner.pex.crawl_start(sw.now(), &mut inner.rng)
        };
        self.clone().execute(sw.clone(), actions, true).await;
        loop {
            sw.sleep(CRAWL_PEER_PERIOD).await;
            let connected: Vec<PeerInfo> = sw.peers().iter().map(|p| Self::info(&sw, p)).collect();
            let actions = {
                let mut g = self.lock();
                let inner = &mut *g;
                inner.pex.crawl(sw.now(), &connected, &mut inner.rng)
            };
            self.clone().execute(sw.clone(), actions, true).await;
        }
    }

    async fn save_loop(self: Arc<Self>, sw: SwitchHandle) {
        loop {
            sw.sleep(SAVE_INTERVAL).await;
            self.save();
        }
    }
}

impl Reactor for PexReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::PEX]
    }

    fn start(&self, sw: SwitchHandle) -> Result<(), BoxError> {
        let me = self.me.upgrade().ok_or("PEX reactor dropped")?;
        let (tx, rx) = mpsc::unbounded();
        let seed_mode = {
            let mut g = self.lock();
            g.pex.startup_check()?;
            g.sw = Some(sw.clone());
            g.wake = Some(tx);
            g.pex.config().seed_mode
        };
        if seed_mode {
            sw.spawn(me.clone().crawl_loop(sw.clone()));
        } else {
            sw.spawn(me.clone().ensure_peers_loop(sw.clone(), rx));
        }
        sw.spawn(me.save_loop(sw.clone()));
        Ok(())
    }

    fn stop(&self) {
        {
            let mut g = self.lock();
            g.sw = None;
            g.wake = None;
        }
        self.save();
    }

    fn add_peer(&self, peer: &Peer) {
        let Some(me) = self.me.upgrade() else { return };
        let Some(sw) = self.lock().sw.clone() else {
            return;
        };
        let info = Self::info(&sw, peer);
        let actions = {
            let mut g = self.lock();
            let inner = &mut *g;
            inner.pex.add_peer(sw.now(), &info, &mut inner.rng)
        };
        if !actions.is_empty() {
            sw.spawn(me.execute(sw.clone(), actions, false));
        }
    }

    fn remove_peer(&self, peer: &Peer, _reason: &StopReason) {
        self.lock().pex.remove_peer(&peer.id());
    }

    fn receive(&self, env: Envelope) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Some(me) = self.me.upgrade() else { return };
            let Some(sw) = self.lock().sw.clone() else {
                return;
            };
            let observer = self.lock().observer.clone();
            if let Some(o) = observer {
                if let Ok(PexMessage::Addrs(addrs)) = PexMessage::decode(&env.message) {
                    o.addrs_received(sw.now(), env.src.id(), &addrs);
                }
            }
            let info = Self::info(&sw, &env.src);
            let actions = {
                let mut g = self.lock();
                let inner = &mut *g;
                inner
                    .pex
                    .receive(sw.now(), &info, &env.message, &mut inner.rng)
            };
            me.execute(sw, actions, false).await;
        })
    }
}

struct Hook(Arc<PexReactor>);

impl AddrBookHook for Hook {
    fn add_our_address(&self, addr: &NetAddress) {
        self.0.with_book(|b| b.add_our_address(*addr));
    }
    fn remove_address(&self, addr: &NetAddress) {
        self.0.with_book(|b| b.remove_address(addr));
    }
    fn mark_good(&self, id: &NodeId) {
        let now = self.0.lock().sw.as_ref().map(SwitchHandle::now);
        if let Some(now) = now {
            self.0.with_book(|b| b.mark_good(id, now));
        }
    }
    fn add_address(&self, addr: &NetAddress, src: &NetAddress) {
        let mut g = self.0.lock();
        let now = g.sw.as_ref().map(SwitchHandle::now).unwrap_or_default();
        let inner = &mut *g;
        let _ = inner
            .pex
            .book_mut()
            .add_address(*addr, *src, now, &mut inner.rng);
    }
    fn add_private_ids(&self, ids: &[NodeId]) {
        self.0.with_book(|b| b.add_private_ids(ids.iter().copied()));
    }
    fn save(&self) {
        self.0.save();
    }
}
