//! The Switch (spec 2.1, 2.3–2.5): reactors and their channels, the peer
//! set, dialing and accepting, stopping peers, reconnecting persistent
//! peers, broadcast. CometBFT v0.38 behaviour on any [`Network`] and
//! [`Runtime`]: the same code runs over TCP, in memory and in the simulator.
//!
//! Map:
//! - [`Switch`] (this file): registration of reactors, then [`Switch::start`].
//! - [`config`]: [`SwitchConfig`] from `[p2p]` plus Go's hard-coded timeouts.
//! - [`handle`]: [`SwitchHandle`], the type-erased API of a running switch.
//! - [`peer`]: [`Peer`], the handle reactors send through; `peer_set`: the
//!   peers by ID.
//! - [`reactor`]: the [`Reactor`] trait, its call order, [`Envelope`], and
//!   the [`AddrBookHook`] the PEX address book implements.
//! - `dial`, `accept`, `upgrade`: the outbound and inbound pipelines;
//!   [`filter`]: connection table and filters; [`reconnect`]: the persistent
//!   peer schedule; `core`: add/stop/remove and the per-peer dispatch task;
//!   `task`: task counting for a clean [`SwitchHandle::stop`].
//! - [`error`]: every error, typed by [`crate::transport::Fault`].
//!
//! # Determinism
//!
//! All tasks are spawned with [`Runtime::spawn`], all time comes from
//! [`Runtime::now`]/`sleep`, and all randomness (handshake ephemeral keys,
//! dial jitter, dial order, [`SwitchHandle::fork_rng`]) from one ChaCha20 RNG
//! seeded at construction. Decisions iterate `BTreeMap`s keyed by node ID.
//! On a deterministic executor a run is reproducible from the seed.
//!
//! # Slow reactors do not cause pong timeouts
//!
//! In CometBFT, `Receive` runs on the connection's read loop: a reactor that
//! blocks stops pong processing and the peer is dropped after 45 s
//! (cometbft#2533, #2685). Here each peer has a dispatch task that awaits
//! [`Reactor::receive`] for one message at a time, fed by the MConnection
//! driver's bounded [`crate::mconn::Inbound`] queue. The driver is a separate
//! task that never waits on the dispatcher: while `receive` is slow it keeps
//! reading (holding messages up to a byte limit), answering pings, reading
//! pongs, sending pings and our own messages. A slow `receive` therefore
//! delays only that peer's deliveries. See [`reactor`] for the details and
//! the one limit (a backlog over [`crate::mconn::DriverConfig`]'s
//! `recv_backlog_limit` pauses reading).

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rand_core::SeedableRng;

pub mod config;
pub mod error;
pub mod filter;
pub mod handle;
pub mod peer;
pub mod reactor;
pub mod reconnect;

mod accept;
mod core;
mod dial;
mod peer_set;
mod task;
mod upgrade;

pub use self::config::SwitchConfig;
pub use self::core::DIAL_JITTER_MAX;
pub use self::error::{
    AddPeerError, BoxError, ConnRejected, DialError, InboundRejection, StopReason, SwitchError,
};
pub use self::filter::{ConnFilter, PeerFilter};
pub use self::handle::{PeerCounts, SwitchHandle};
pub use self::peer::{Peer, PeerData};
pub use self::reactor::{AddrBookHook, Envelope, Reactor};

use self::core::{Registry, Shared};
pub(crate) use self::filter::TrackedStream;
use crate::key::NodeKey;
use crate::mconn::MConnection;
use crate::net::{Listener, Network, Runtime};
use crate::netaddr::{strip_scheme, NetAddress};
use crate::node_info::NodeInfo;
use crate::observe::{NoopObserver, Observer};
use crate::time::Instant;

/// A switch being set up: register reactors, then [`Switch::start`].
pub struct Switch<N: Network, R: Runtime> {
    cfg: SwitchConfig,
    node_key: NodeKey,
    node_info: NodeInfo,
    net: N,
    rt: R,
    rng_seed: [u8; 32],
    observer: Arc<dyn Observer>,
    addr_book: Option<Arc<dyn AddrBookHook>>,
    conn_filters: Vec<Arc<dyn ConnFilter>>,
    peer_filters: Vec<Arc<dyn PeerFilter>>,
    registry: Registry,
}

impl<N: Network, R: Runtime> Switch<N, R> {
    /// A switch with our key and NodeInfo (whose channel list the caller
    /// builds, as in CometBFT), dialing and listening on `net`, running on
    /// `rt`, drawing all randomness from a ChaCha20 RNG seeded with `rng_seed`.
    pub fn new(
        cfg: SwitchConfig,
        node_key: NodeKey,
        node_info: NodeInfo,
        net: N,
        rt: R,
        rng_seed: [u8; 32],
    ) -> Self {
        Switch {
            cfg,
            node_key,
            node_info,
            net,
            rt,
            rng_seed,
            observer: Arc::new(NoopObserver),
            addr_book: None,
            conn_filters: Vec::new(),
            peer_filters: Vec::new(),
            registry: Registry::default(),
        }
    }

    /// Reports events to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Tells `book` about our addresses, persistent peers and good peers.
    pub fn with_addr_book(mut self, book: Arc<dyn AddrBookHook>) -> Self {
        self.addr_book = Some(book);
        self
    }

    /// Adds a connection filter (run before the handshake).
    pub fn with_conn_filter(mut self, f: Arc<dyn ConnFilter>) -> Self {
        self.conn_filters.push(f);
        self
    }

    /// Adds a peer filter (run after the handshake).
    pub fn with_peer_filter(mut self, f: Arc<dyn PeerFilter>) -> Self {
        self.peer_filters.push(f);
        self
    }

    /// Registers `reactor` under `name`. Fails, registering nothing, if one
    /// of its channels is already owned (by another reactor or listed twice).
    pub fn add_reactor(
        &mut self,
        name: impl Into<String>,
        reactor: Arc<dyn Reactor>,
    ) -> Result<(), SwitchError> {
        let name = name.into();
        let descs = reactor.channels();
        let mut seen = std::collections::BTreeSet::new();
        for d in &descs {
            let owner = self
                .registry
                .by_channel
                .get(&d.id)
                .and_then(|i| self.registry.reactors.get(*i))
                .map(|(n, _)| n.clone());
            let owner = owner.or_else(|| (!seen.insert(d.id)).then(|| name.clone()));
            if let Some(first) = owner {
                return Err(SwitchError::DuplicateChannel {
                    channel: d.id,
                    first,
                    second: name,
                });
            }
        }
        let index = self.registry.reactors.len();
        for d in descs {
            self.registry.by_channel.insert(d.id, index);
            self.registry.channels.push(d);
        }
        self.registry.reactors.push((name, reactor));
        Ok(())
    }

    /// Binds `listen`, starts the reactors (registration order), accepts
    /// inbound peers and dials the persistent peers. If our NodeInfo's
    /// `listen_addr` is empty or has port 0 it is set to the bound address.
    pub async fn start(self, listen: SocketAddr) -> Result<SwitchHandle, SwitchError> {
        MConnection::new(
            Instant::ZERO,
            self.cfg.mconn.clone(),
            &self.registry.channels,
        )?;
        let listener = self
            .net
            .listen(listen)
            .await
            .map_err(|source| SwitchError::Listen {
                addr: listen,
                source,
            })?;
        let bound = listener.local_addr();
        let mut node_info = self.node_info;
        let unset = node_info.listen_addr.is_empty()
            || strip_scheme(&node_info.listen_addr)
                .parse::<SocketAddr>()
                .is_ok_and(|a| a.port() == 0);
        if unset {
            node_info.listen_addr = format!("tcp://{bound}");
        }
        let our_addr = NetAddress::from_socket_addr(self.node_key.node_id(), bound);
        let reactors = self.registry.reactors.clone();
        let shared = Arc::new(Shared {
            accept_slots: accept::AcceptSlots::new(self.cfg.max_incoming_connections()),
            cfg: self.cfg,
            net: self.net,
            rt: self.rt,
            node_key: self.node_key,
            node_info,
            our_addr,
            listen_addr: bound,
            registry: Mutex::new(Arc::new(self.registry)),
            peers: Default::default(),
            conns: Default::default(),
            dialing: Default::default(),
            reconnecting: Default::default(),
            rng: Mutex::new(rand_chacha::ChaCha20Rng::from_seed(self.rng_seed)),
            observer: self.observer,
            addr_book: self.addr_book,
            conn_filters: self.conn_filters,
            peer_filters: self.peer_filters,
            running: AtomicBool::new(true),
            shutdown: Default::default(),
            tasks: Default::default(),
            admit: Default::default(),
        });
        let handle = SwitchHandle::new(shared.clone());
        if let Some(book) = &shared.addr_book {
            book.add_our_address(&our_addr);
            let private: Vec<_> = shared.cfg.private_peer_ids.iter().copied().collect();
            if !private.is_empty() {
                book.add_private_ids(&private);
            }
        }
        for (i, (name, r)) in reactors.iter().enumerate() {
            if let Err(source) = r.start(handle.clone()) {
                for (_, started) in reactors.iter().take(i) {
                    started.stop();
                }
                *core::lock(&shared.registry) = Arc::default();
                shared
                    .running
                    .store(false, std::sync::atomic::Ordering::Release);
                shared.shutdown.fire();
                return Err(SwitchError::ReactorStart {
                    name: name.clone(),
                    source,
                });
            }
        }
        tracing::info!(addr = %our_addr, "switch started");
        let sh = shared.clone();
        shared.spawn_until_shutdown(async move { accept::accept_loop(sh, listener).await });
        if !shared.cfg.persistent_peers.is_empty() {
            shared.dial_peers_async(shared.cfg.persistent_peers.clone());
        }
        Ok(handle)
    }
}
