//! Harness of the hostile-peer tests (`hostile.rs`): one of our nodes on
//! loopback TCP (Switch + gossip reactor on 0x70 + optional PEX), an observer
//! and a log capture to check why peers were dropped, an honest peer that keeps
//! exchanging gossip with the node from its own thread, and helpers for
//! hostile peers. Honest and hostile peers are built on the independent
//! `tendermint-p2p` SecretConnection (`support/tm_peer.rs`), so they speak the
//! real wire format without using this crate's code.
#![allow(dead_code)]
// Test harness: blocking peer threads and the wall clock are the point.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use p2p::gossip::{self, GossipMsg, GossipObserver, GossipReactor, MsgId, GOSSIP_CHANNEL};
use p2p::net::tcp::{TcpNetwork, TokioRuntime};
use p2p::node_info::{NodeInfo, PEX_CHANNEL};
use p2p::observe::Observer;
use p2p::pex::addrbook::AddrBook;
use p2p::pex::policy::PexConfig;
use p2p::pex::reactor::{NoStore, PexReactor};
use p2p::switch::{InboundRejection, Peer, StopReason, Switch, SwitchConfig, SwitchHandle};
use p2p::transport::Fault;
use p2p::{NodeId, NodeKey};
use prost::Message;
use tendermint_proto::v0_38::p2p as proto;

#[path = "../support/tm_peer.rs"]
pub mod tm_peer;

pub use tm_peer::{handshake, tm_node_info, Handshaked, Seen, TmPeer};

/// Chain ID of the test node.
pub const NETWORK: &str = "hostile-test";
/// Seed of the node's key.
pub const NODE_SEED: [u8; 32] = [0x11; 32];

/// Runs the tests of this binary one at a time: they count file
/// descriptors and measure rates and memory of the whole process.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the log capture (once per test binary; `info` level).
pub fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .try_init();
    });
}

/// Captured log lines containing every one of `needles`.
pub fn log_lines(needles: &[&str]) -> Vec<String> {
    let all = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    all.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}

/// What the switch reported.
#[derive(Debug, Clone)]
pub enum Obs {
    /// A peer joined.
    Added(NodeId),
    /// A peer left, and why.
    Removed(NodeId, StopReason),
    /// An inbound connection was refused: its `Debug` form and who is at fault.
    Rejected(SocketAddr, String, Fault),
}

/// Records switch events.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Obs>>,
}

impl Recorder {
    /// Everything so far.
    pub fn events(&self) -> Vec<Obs> {
        self.events.lock().unwrap().clone()
    }

    /// Why `id` was removed, if it was.
    pub fn removed(&self, id: NodeId) -> Option<StopReason> {
        self.events().into_iter().find_map(|e| match e {
            Obs::Removed(i, r) if i == id => Some(r),
            _ => None,
        })
    }

    /// Rejections of connections from `local` (the hostile side's address).
    pub fn rejected_from(&self, remote: SocketAddr) -> Vec<(String, Fault)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Obs::Rejected(a, r, f) if a == remote => Some((r, f)),
                _ => None,
            })
            .collect()
    }

    /// All rejections.
    pub fn rejections(&self) -> Vec<(SocketAddr, String, Fault)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Obs::Rejected(a, r, f) => Some((a, r, f)),
                _ => None,
            })
            .collect()
    }
}

impl Observer for Recorder {
    fn peer_added(&self, _now: p2p::time::Instant, peer: &Peer) {
        self.events.lock().unwrap().push(Obs::Added(peer.id()));
    }
    fn peer_removed(&self, _now: p2p::time::Instant, peer: &Peer, reason: &StopReason) {
        self.events
            .lock()
            .unwrap()
            .push(Obs::Removed(peer.id(), reason.clone()));
    }
    fn inbound_rejected(&self, _now: p2p::time::Instant, remote: SocketAddr, r: &InboundRejection) {
        self.events
            .lock()
            .unwrap()
            .push(Obs::Rejected(remote, format!("{r:?}"), r.fault()));
    }
}

/// Records gossip deliveries (wall-clock times per sender) and drops.
#[derive(Default)]
pub struct GossipRec {
    delivered: Mutex<BTreeMap<NodeId, Vec<Instant>>>,
    duplicates: Mutex<BTreeMap<NodeId, u64>>,
    dropped: Mutex<BTreeMap<NodeId, u64>>,
}

impl GossipRec {
    /// Times at which fresh messages from `id` were delivered.
    pub fn delivered_from(&self, id: NodeId) -> Vec<Instant> {
        self.delivered
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }
    /// Duplicates received from `id`.
    pub fn duplicates_from(&self, id: NodeId) -> u64 {
        *self.duplicates.lock().unwrap().get(&id).unwrap_or(&0)
    }
    /// Forwards to `id` dropped because its queue was full (`try_send` false).
    pub fn dropped_to(&self, id: NodeId) -> u64 {
        *self.dropped.lock().unwrap().get(&id).unwrap_or(&0)
    }
}

impl GossipObserver for GossipRec {
    fn delivered(&self, _now: p2p::time::Instant, _msg: &GossipMsg, from: Option<NodeId>) {
        if let Some(f) = from {
            self.delivered
                .lock()
                .unwrap()
                .entry(f)
                .or_default()
                .push(Instant::now());
        }
    }
    fn duplicate(&self, _now: p2p::time::Instant, _msg: &GossipMsg, from: NodeId) {
        *self.duplicates.lock().unwrap().entry(from).or_default() += 1;
    }
    fn dropped(&self, _now: p2p::time::Instant, _msg: &GossipMsg, to: NodeId) {
        *self.dropped.lock().unwrap().entry(to).or_default() += 1;
    }
}

/// Short deadlines so every case takes seconds: handshake and NodeInfo 300 ms,
/// duplicate IPs allowed (every test peer is on 127.0.0.1).
pub fn test_config() -> SwitchConfig {
    let mut c = SwitchConfig {
        allow_duplicate_ip: true,
        ..SwitchConfig::default()
    };
    c.upgrade.handshake_timeout = Duration::from_millis(300);
    c.upgrade.node_info_timeout = Duration::from_millis(300);
    c
}

/// PEX settings of the test node: no periodic rounds within a test (so no
/// request of ours makes a hostile `PexAddrs` solicited), hence a minimum
/// request interval of 20 minutes.
pub fn test_pex_config() -> PexConfig {
    PexConfig {
        ensure_peers_period: Duration::from_secs(3600),
        ..PexConfig::default()
    }
}

/// Our node under test.
pub struct TestNode {
    /// The running switch.
    pub sw: SwitchHandle,
    /// Gossip on 0x70.
    pub gossip: Arc<GossipReactor>,
    /// PEX, when enabled.
    pub pex: Option<Arc<PexReactor>>,
    /// Switch events.
    pub obs: Arc<Recorder>,
    /// Gossip events.
    pub grec: Arc<GossipRec>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its ID.
    pub id: NodeId,
    publishing: Arc<AtomicBool>,
}

impl TestNode {
    /// Starts a node on 127.0.0.1 with `cfg`, gossip on 0x70 (publishing a
    /// 200-byte message every 50 ms) and, with `pex`, the PEX reactor
    /// (non-strict book, [`test_pex_config`]).
    pub async fn start(cfg: SwitchConfig, pex: bool) -> TestNode {
        init_logs();
        let key = NodeKey::from_seed(NODE_SEED);
        let id = key.node_id();
        let mut chans = vec![GOSSIP_CHANNEL];
        if pex {
            chans.push(PEX_CHANNEL);
        }
        let info = NodeInfo::builder(id, NETWORK, "hostile-test-node")
            .channels(chans)
            .build();
        let obs = Arc::new(Recorder::default());
        let grec = Arc::new(GossipRec::default());
        let pex = pex.then(|| {
            let book = AddrBook::with_key("00112233445566778899aabb", false).unwrap();
            PexReactor::new(test_pex_config(), book, Arc::new(NoStore), [0x33; 32])
        });
        let mut sw = Switch::new(cfg, key, info, TcpNetwork, TokioRuntime::new(), [0x22; 32])
            .with_observer(obs.clone());
        if let Some(p) = &pex {
            sw = sw.with_addr_book(p.addr_book_hook());
        }
        let gossip = Arc::new(GossipReactor::new(id, GOSSIP_CHANNEL).with_observer(grec.clone()));
        sw.add_reactor("GOSSIP", gossip.clone()).unwrap();
        if let Some(p) = &pex {
            sw.add_reactor("PEX", p.clone()).unwrap();
        }
        let handle = sw.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = handle.listen_addr();
        let publishing = Arc::new(AtomicBool::new(true));
        let (g, flag) = (gossip.clone(), publishing.clone());
        tokio::spawn(async move {
            while flag.load(Ordering::Relaxed) {
                g.publish(200);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        TestNode {
            sw: handle,
            gossip,
            pex,
            obs,
            grec,
            addr,
            id,
            publishing,
        }
    }

    /// Waits (up to `limit`) until `id` is removed; returns why.
    pub async fn wait_removed(&self, id: NodeId, limit: Duration) -> Option<StopReason> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(r) = self.obs.removed(id) {
                return Some(r);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// Waits (up to `limit`) until `id` is a peer.
    pub async fn wait_peer(&self, id: NodeId, limit: Duration) -> Option<Peer> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(p) = self.sw.peer(&id) {
                return Some(p);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// Waits (up to `limit`) until a connection from `remote` was rejected.
    pub async fn wait_rejected(&self, remote: SocketAddr, limit: Duration) -> Vec<(String, Fault)> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            let r = self.obs.rejected_from(remote);
            if !r.is_empty() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Vec::new()
    }

    /// Stops publishing and the switch.
    pub async fn stop(self) {
        self.publishing.store(false, Ordering::Relaxed);
        self.sw.stop().await;
    }
}

/// The node ID of an Ed25519 seed.
pub fn id_of(seed: [u8; 32]) -> NodeId {
    NodeKey::from_seed(seed).node_id()
}

/// A gossip message from `origin` with sequence number `seq`.
pub fn gossip_msg(origin: NodeId, seq: u64, payload: usize) -> Vec<u8> {
    gossip::encode(MsgId { origin, seq }, p2p::time::Instant::ZERO, payload)
}

/// An honest peer in its own thread: every 50 ms it sends a fresh gossip
/// message and counts the gossip messages the node sends it, answering pings.
pub struct Honest {
    /// Its node ID.
    pub id: NodeId,
    sent: Arc<AtomicU64>,
    got: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tcp: TcpStream,
    thread: Option<JoinHandle<()>>,
}

impl Honest {
    /// Connects to `node` with key seed `[seed; 32]` and starts exchanging.
    pub fn connect(node: SocketAddr, seed: u8) -> Honest {
        let key = [seed; 32];
        let id = id_of(key);
        let tcp = TcpStream::connect(node).unwrap();
        let tcp2 = tcp.try_clone().unwrap();
        let info = tm_node_info(&id.to_string(), NETWORK, &[GOSSIP_CHANNEL]);
        let mut peer = TmPeer::start(tcp, key, info);
        let (sent, got, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (s, g, st) = (sent.clone(), got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut seq = 0;
            while !st.load(Ordering::Relaxed) {
                peer.send_message(GOSSIP_CHANNEL, &gossip_msg(id, seq, 100));
                seq += 1;
                s.fetch_add(1, Ordering::Relaxed);
                let end = Instant::now() + Duration::from_millis(50);
                while let Some(left) = end.checked_duration_since(Instant::now()) {
                    peer.pump_pongs();
                    match peer.seen.recv_timeout(left) {
                        Ok(Seen::Msg { channel, .. }) if channel == GOSSIP_CHANNEL => {
                            g.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
        });
        Honest {
            id,
            sent,
            got,
            stop,
            tcp: tcp2,
            thread: Some(thread),
        }
    }

    /// Gossip messages received from the node so far.
    pub fn got(&self) -> u64 {
        self.got.load(Ordering::Relaxed)
    }

    /// Gossip messages sent to the node so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Honest {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.tcp.shutdown(std::net::Shutdown::Both);
    }
}

/// What the honest peer did in a window, checked against the node.
pub struct Exchange {
    /// Messages from the honest peer the node delivered in the window.
    pub delivered: usize,
    /// Longest time between two of them (or from the window's start).
    pub max_gap: Duration,
    /// Node messages the honest peer received in the window.
    pub received: u64,
}

/// Snapshot at the start of a window.
pub struct Window {
    start: Instant,
    got: u64,
}

impl Window {
    /// Opens a window now.
    pub fn open(h: &Honest) -> Window {
        Window {
            start: Instant::now(),
            got: h.got(),
        }
    }

    /// What happened between `open` and now.
    pub fn close(&self, node: &TestNode, h: &Honest) -> Exchange {
        let times: Vec<Instant> = node
            .grec
            .delivered_from(h.id)
            .into_iter()
            .filter(|t| *t >= self.start)
            .collect();
        let mut last = self.start;
        let mut max_gap = Duration::ZERO;
        for t in times.iter().copied().chain([Instant::now()]) {
            max_gap = max_gap.max(t - last);
            last = t;
        }
        Exchange {
            delivered: times.len(),
            max_gap,
            received: h.got() - self.got,
        }
    }
}

/// Asserts the honest peer kept exchanging during the window: at least
/// `min` messages each way, never 1.5 s without a delivery (typically < 100 ms; the slack is for a loaded 2-core CI machine), still a peer.
pub fn assert_honest_ok(node: &TestNode, h: &Honest, w: &Window, min: usize) -> Exchange {
    let ex = w.close(node, h);
    assert!(
        ex.delivered >= min && ex.received >= min as u64,
        "honest peer starved: delivered {} received {} (min {min})",
        ex.delivered,
        ex.received
    );
    assert!(
        ex.max_gap < Duration::from_millis(1500),
        "honest peer stalled for {:?}",
        ex.max_gap
    );
    assert!(node.sw.peer(&h.id).is_some(), "honest peer was dropped");
    assert!(node.obs.removed(h.id).is_none());
    ex
}

/// Completes the handshake and NodeInfo exchange as `[seed; 32]` on `network`
/// advertising `channels`; returns the connection and its local address.
pub fn hostile_connect(
    node: SocketAddr,
    seed: u8,
    network: &str,
    channels: &[u8],
) -> (Handshaked, TcpStream) {
    let tcp = TcpStream::connect(node).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ctl = tcp.try_clone().unwrap();
    let id = id_of([seed; 32]);
    let info = tm_node_info(&id.to_string(), network, channels);
    (handshake(tcp, [seed; 32], info).unwrap(), ctl)
}

/// Writes one length-delimited `Packet`.
pub fn send_packet(w: &mut impl Write, sum: proto::packet::Sum) -> std::io::Result<()> {
    let mut out = Vec::new();
    proto::Packet { sum: Some(sum) }
        .encode_length_delimited(&mut out)
        .unwrap();
    w.write_all(&out)?;
    w.flush()
}

/// A `PacketMsg`.
pub fn msg(channel: u8, eof: bool, data: Vec<u8>) -> proto::packet::Sum {
    proto::packet::Sum::PacketMsg(proto::PacketMsg {
        channel_id: i32::from(channel),
        eof,
        data,
    })
}

/// Resident set size and its high-water mark of this process, in KiB.
pub fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}
