//! Shared harness for the switch tests: a recording test reactor, observer
//! and address book, and helpers to start switches on a `MemoryNetwork`
//! (each node on its own IP) under tokio's paused clock.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use p2p::mconn::ChannelDescriptor;
use p2p::net::memory::MemoryNetwork;
use p2p::net::tcp::TokioRuntime;
use p2p::net::Runtime;
use p2p::netaddr::NetAddress;
use p2p::node_info::{NodeInfo, NodeInfoRejected};
use p2p::observe::Observer;
use p2p::switch::{
    AddPeerError, AddrBookHook, ConnRejected, DialError, Envelope, InboundRejection, Peer, Reactor,
    StopReason, Switch, SwitchConfig, SwitchHandle,
};
use p2p::time::Instant;
use p2p::transport::UpgradeError;
use p2p::{NodeId, NodeKey};

pub const CH: u8 = 0x10;
pub const CH2: u8 = 0x11;
pub const PORT: u16 = 26656;

/// What a reactor saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Init(NodeId),
    Add(NodeId),
    Remove(NodeId, String),
    Recv(NodeId, u8, Vec<u8>),
}

/// Records every call; `receive` first takes `gate` (tests hold it to make
/// the reactor slow) and answers messages starting with `ping` with `pong`.
pub struct TestReactor {
    channels: Vec<u8>,
    pub events: Mutex<Vec<Ev>>,
    pub gate: tokio::sync::Mutex<()>,
    pub handle: Mutex<Option<SwitchHandle>>,
    pub started: AtomicBool,
    pub stopped: AtomicBool,
}

impl TestReactor {
    pub fn new(channels: &[u8]) -> Arc<Self> {
        Arc::new(TestReactor {
            channels: channels.to_vec(),
            events: Mutex::new(Vec::new()),
            gate: tokio::sync::Mutex::new(()),
            handle: Mutex::new(None),
            started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        })
    }

    pub fn events(&self) -> Vec<Ev> {
        self.events.lock().unwrap().clone()
    }

    fn push(&self, e: Ev) {
        self.events.lock().unwrap().push(e);
    }

    pub fn received(&self, from: NodeId) -> Vec<(u8, Vec<u8>)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Recv(id, ch, m) if id == from => Some((ch, m)),
                _ => None,
            })
            .collect()
    }

    pub fn removes(&self, of: NodeId) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Remove(id, r) if id == of => Some(r),
                _ => None,
            })
            .collect()
    }
}

impl Reactor for TestReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        self.channels
            .iter()
            .map(|c| ChannelDescriptor {
                send_queue_capacity: 100,
                ..ChannelDescriptor::new(*c, 1)
            })
            .collect()
    }
    fn start(&self, sw: SwitchHandle) -> Result<(), p2p::switch::BoxError> {
        *self.handle.lock().unwrap() = Some(sw);
        self.started.store(true, Ordering::SeqCst);
        Ok(())
    }
    fn stop(&self) {
        self.handle.lock().unwrap().take();
        self.stopped.store(true, Ordering::SeqCst);
    }
    fn init_peer(&self, peer: &Peer) {
        self.push(Ev::Init(peer.id()));
    }
    fn add_peer(&self, peer: &Peer) {
        self.push(Ev::Add(peer.id()));
    }
    fn remove_peer(&self, peer: &Peer, reason: &StopReason) {
        self.push(Ev::Remove(peer.id(), reason.to_string()));
    }
    fn receive(&self, env: Envelope) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _g = self.gate.lock().await;
            self.push(Ev::Recv(env.src.id(), env.channel, env.message.clone()));
            if env.message.starts_with(b"ping") {
                let mut reply = b"pong".to_vec();
                reply.extend_from_slice(&env.message[4..]);
                env.src.send(env.channel, reply).await;
            }
        })
    }
}

/// A comparable summary of an [`InboundRejection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rej {
    Conn(ConnRejected),
    SelfConnection,
    Upgrade(String),
    InboundLimit { have: usize, max: usize },
    AddPeer(AddPeerError),
}

/// What the observer saw, with virtual times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obs {
    Added(NodeId),
    Removed(NodeId, String),
    DialStarted(NetAddress),
    DialFinished(NetAddress, Result<NodeId, String>),
    Rejected(SocketAddr, Rej),
    ReconnectStarted(NetAddress),
    ReconnectGaveUp(NetAddress),
}

#[derive(Default)]
pub struct RecObserver {
    pub events: Mutex<Vec<(Instant, Obs)>>,
}

impl RecObserver {
    pub fn events(&self) -> Vec<(Instant, Obs)> {
        self.events.lock().unwrap().clone()
    }
    pub fn rejections(&self) -> Vec<Rej> {
        self.events()
            .into_iter()
            .filter_map(|(_, o)| match o {
                Obs::Rejected(_, r) => Some(r),
                _ => None,
            })
            .collect()
    }
    pub fn count(&self, f: impl Fn(&Obs) -> bool) -> usize {
        self.events().iter().filter(|(_, o)| f(o)).count()
    }
    fn push(&self, now: Instant, o: Obs) {
        self.events.lock().unwrap().push((now, o));
    }
}

impl Observer for RecObserver {
    fn peer_added(&self, now: Instant, peer: &Peer) {
        self.push(now, Obs::Added(peer.id()));
    }
    fn peer_removed(&self, now: Instant, peer: &Peer, reason: &StopReason) {
        self.push(now, Obs::Removed(peer.id(), reason.to_string()));
    }
    fn dial_started(&self, now: Instant, addr: &NetAddress) {
        self.push(now, Obs::DialStarted(*addr));
    }
    fn dial_finished(&self, now: Instant, addr: &NetAddress, r: Result<&Peer, &DialError>) {
        let r = r.map(|p| p.id()).map_err(|e| e.to_string());
        self.push(now, Obs::DialFinished(*addr, r));
    }
    fn inbound_rejected(&self, now: Instant, remote: SocketAddr, reason: &InboundRejection) {
        let r = match reason {
            InboundRejection::Conn(c) => Rej::Conn(c.clone()),
            InboundRejection::Upgrade(UpgradeError::Rejected(NodeInfoRejected::SelfConnection)) => {
                Rej::SelfConnection
            }
            InboundRejection::Upgrade(u) => Rej::Upgrade(u.to_string()),
            InboundRejection::InboundLimit { have, max } => Rej::InboundLimit {
                have: *have,
                max: *max,
            },
            InboundRejection::AddPeer(a) => Rej::AddPeer(a.clone()),
        };
        self.push(now, Obs::Rejected(remote, r));
    }
    fn reconnect_started(&self, now: Instant, addr: &NetAddress) {
        self.push(now, Obs::ReconnectStarted(*addr));
    }
    fn reconnect_gave_up(&self, now: Instant, addr: &NetAddress) {
        self.push(now, Obs::ReconnectGaveUp(*addr));
    }
}

/// Address-book calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Book {
    Ours(NetAddress),
    Remove(NetAddress),
    Good(NodeId),
    Add(NetAddress, NetAddress),
    Private(Vec<NodeId>),
    Save,
}

#[derive(Default)]
pub struct RecBook {
    pub calls: Mutex<Vec<Book>>,
}

impl RecBook {
    pub fn calls(&self) -> Vec<Book> {
        self.calls.lock().unwrap().clone()
    }
}

impl AddrBookHook for RecBook {
    fn add_our_address(&self, addr: &NetAddress) {
        self.calls.lock().unwrap().push(Book::Ours(*addr));
    }
    fn remove_address(&self, addr: &NetAddress) {
        self.calls.lock().unwrap().push(Book::Remove(*addr));
    }
    fn mark_good(&self, id: &NodeId) {
        self.calls.lock().unwrap().push(Book::Good(*id));
    }
    fn add_address(&self, addr: &NetAddress, src: &NetAddress) {
        self.calls.lock().unwrap().push(Book::Add(*addr, *src));
    }
    fn add_private_ids(&self, ids: &[NodeId]) {
        self.calls.lock().unwrap().push(Book::Private(ids.to_vec()));
    }
    fn save(&self) {
        self.calls.lock().unwrap().push(Book::Save);
    }
}

/// One running test node.
pub struct Node {
    pub key: NodeKey,
    pub id: NodeId,
    pub addr: NetAddress,
    pub handle: SwitchHandle,
    pub reactor: Arc<TestReactor>,
    pub obs: Arc<RecObserver>,
    pub book: Arc<RecBook>,
    pub rt: TokioRuntime,
}

impl Node {
    /// The connected peer with `id`.
    pub fn peer(&self, id: NodeId) -> Option<Peer> {
        self.handle.peer(&id)
    }
    pub fn now(&self) -> Instant {
        self.rt.now()
    }
}

pub fn key(seed: u8) -> NodeKey {
    NodeKey::from_seed([seed; 32])
}

pub fn ip(seed: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, seed])
}

pub fn address(seed: u8) -> NetAddress {
    NetAddress::new(key(seed).node_id(), ip(seed), PORT)
}

/// Node `seed` on IP 10.0.0.`seed`, port 26656, channel [`CH`].
pub async fn start(net: &MemoryNetwork, seed: u8, cfg: SwitchConfig) -> Node {
    start_with(net, seed, ip(seed), PORT, cfg, &[CH], &[CH]).await
}

/// A node with its own IP, port, registered and advertised channels.
pub async fn start_with(
    net: &MemoryNetwork,
    seed: u8,
    ip: IpAddr,
    port: u16,
    cfg: SwitchConfig,
    channels: &[u8],
    advertised: &[u8],
) -> Node {
    let key = key(seed);
    let id = key.node_id();
    let listen = SocketAddr::new(ip, port);
    let info = NodeInfo::builder(id, "test-chain", format!("node{seed}"))
        .channels(advertised.to_vec())
        .listen_addr(format!("tcp://{listen}"))
        .build();
    let reactor = TestReactor::new(channels);
    let obs = Arc::new(RecObserver::default());
    let book = Arc::new(RecBook::default());
    let rt = TokioRuntime::new();
    let mut sw = Switch::new(
        cfg,
        key.clone(),
        info,
        net.with_ip(ip),
        rt.clone(),
        [seed; 32],
    )
    .with_observer(obs.clone())
    .with_addr_book(book.clone());
    sw.add_reactor("test", reactor.clone()).unwrap();
    let handle = sw.start(listen).await.unwrap();
    Node {
        key,
        id,
        addr: NetAddress::new(id, ip, port),
        handle,
        reactor,
        obs,
        book,
        rt,
    }
}

/// Polls `f` every 10 ms of virtual time for at most `limit`.
pub async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let step = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    loop {
        if f() {
            return true;
        }
        if waited >= limit {
            return false;
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
}

/// `a` dials `b` and both see each other as added peers.
pub async fn connect(a: &Node, b: &Node) -> Peer {
    let p = a.handle.dial_peer_with_address(&b.addr).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || b.handle.peer(&a.id).is_some()
            && b.reactor.events().contains(&Ev::Add(a.id)))
        .await,
        "{} never saw {}",
        b.id,
        a.id
    );
    p
}
