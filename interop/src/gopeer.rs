//! The Go test peer (`interop/go/gopeer`, CometBFT's own `p2p.Switch`) and
//! our node, side by side on loopback, for the `go_peer*` tests.
//!
//! - [`GoPeer`]: the Go process; its JSON events (one per stdout line) are
//!   collected by a reader thread and waited for with [`GoPeer::wait`]; stdin
//!   takes its commands (`dial`, `send`, `book`, `peers`, `stop`). Dropping it
//!   kills the process.
//! - [`OurNode`]: our Switch on real TCP with the PEX reactor and a
//!   [`Probe`] reactor on the gossip channel (records every message, raw), and
//!   a [`Recorder`] of switch and PEX events.
//! - [`payload`]: the byte pattern both sides use.

// Tests run on the wall clock and read the child's stdout on a thread.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use p2p::mconn::ChannelDescriptor;
use p2p::net::tcp::{TcpNetwork, TokioRuntime};
use p2p::netaddr::NetAddress;
use p2p::node_info::{NodeInfo, PEX_CHANNEL};
use p2p::observe::Observer;
use p2p::pex::addrbook::AddrBook;
use p2p::pex::policy::PexConfig;
use p2p::pex::reactor::{NoStore, PexObserver, PexReactor};
use p2p::switch::{
    DialError, Envelope, InboundRejection, Peer, Reactor, StopReason, Switch, SwitchConfig,
    SwitchHandle,
};
use p2p::time::Instant as SwInstant;
use p2p::{NodeId, NodeKey};
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The gossip channel both sides run (our `p2p::gossip::GOSSIP_CHANNEL`).
pub const CHANNEL: u8 = p2p::gossip::GOSSIP_CHANNEL;
/// Its default `recv_message_capacity` (our gossip reactor's and gopeer's).
pub const DEFAULT_RECV_CAP: usize = p2p::gossip::HEADER_LEN + p2p::gossip::MAX_PAYLOAD;

/// The test pattern: byte `i` is `(i * 29) as u8 ^ tag` (gopeer's `payload`).
pub fn payload(len: usize, tag: u8) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(29) as u8) ^ tag).collect()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A free TCP port on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 20 ms until it returns `Some` or `limit` passes.
pub async fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Events = Arc<Mutex<Vec<Value>>>;

/// The running Go peer.
pub struct GoPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Events,
    /// Its node ID.
    pub id: String,
    /// `id@127.0.0.1:port`.
    pub addr: String,
    /// Where it listens.
    pub listen: SocketAddr,
}

impl GoPeer {
    /// Starts `$COMETNET_GOPEER` with `args` and waits (≤ 20 s) for its
    /// `listening` event.
    pub fn start(args: &[&str]) -> GoPeer {
        let mut child = Command::new(crate::tool("COMETNET_GOPEER"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gopeer");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let events: Events = Arc::default();
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "raw", "line": line}));
                sink.lock().unwrap().push(v);
            }
        });
        let mut peer = GoPeer {
            child,
            stdin,
            events,
            id: String::new(),
            addr: String::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let end = Instant::now() + Duration::from_secs(20);
        let ev = loop {
            if let Some(e) = peer.find(|e| ev_is(e, "listening")) {
                break e;
            }
            if let Some(e) = peer.find(|e| ev_is(e, "error")) {
                panic!("gopeer failed to start: {e}");
            }
            assert!(
                Instant::now() < end,
                "gopeer did not start: {}",
                peer.dump()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        peer.id = ev["id"].as_str().unwrap().to_owned();
        peer.addr = ev["addr"].as_str().unwrap().to_owned();
        peer.listen = ev["listen"].as_str().unwrap().parse().unwrap();
        peer
    }

    /// Its address as ours.
    pub fn net_address(&self) -> NetAddress {
        NetAddress::parse(&self.addr).unwrap()
    }

    /// Its node ID as ours.
    pub fn node_id(&self) -> NodeId {
        self.id.parse().unwrap()
    }

    /// Sends a signal (`STOP`, `CONT`, …) to the process with `kill`.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Sends one command line.
    pub fn cmd(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to gopeer");
        stdin.flush().unwrap();
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// The events named `name` so far.
    pub fn named(&self, name: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| ev_is(e, name))
            .collect()
    }

    /// The first event matching `pred` so far.
    pub fn find(&self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .find(|e| pred(e))
            .cloned()
    }

    /// Waits (polling) up to `limit` for an event matching `pred`.
    pub async fn wait(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        wait_for(limit, || self.find(&pred)).await
    }

    /// Like [`GoPeer::wait`], panicking with the event log on timeout.
    pub async fn expect(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        match self.wait(limit, pred).await {
            Some(v) => v,
            None => panic!(
                "gopeer: no {what} within {limit:?}; events:\n{}",
                self.dump()
            ),
        }
    }

    /// The last 60 events, one per line (for failure messages).
    pub fn dump(&self) -> String {
        let ev = self.events();
        let skip = ev.len().saturating_sub(60);
        ev[skip..]
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for GoPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `e["event"] == name`.
pub fn ev_is(e: &Value, name: &str) -> bool {
    e["event"] == name
}

/// What our switch and PEX reactor reported.
#[derive(Debug, Clone)]
pub enum OurEvent {
    /// A peer joined the peer set.
    PeerAdded {
        /// Its ID.
        id: NodeId,
        /// We dialed it.
        outbound: bool,
        /// Its NodeInfo.
        info: Box<NodeInfo>,
    },
    /// A peer left, and why.
    PeerRemoved {
        /// Its ID.
        id: NodeId,
        /// Why.
        reason: StopReason,
    },
    /// A dial ended (`Err`: the error's Debug form).
    DialFinished {
        /// The address dialed.
        addr: NetAddress,
        /// The peer, or the error.
        result: Result<NodeId, String>,
    },
    /// An inbound connection was refused (Debug form of the reason).
    InboundRejected {
        /// Why.
        reason: String,
    },
    /// A peer sent us a PEX address list.
    PexAddrs {
        /// The sender.
        from: NodeId,
        /// The addresses.
        addrs: Vec<NetAddress>,
    },
}

/// Collects [`OurEvent`]s.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<OurEvent>>);

impl Recorder {
    /// Every event so far.
    pub fn events(&self) -> Vec<OurEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The first event `f` maps to `Some`.
    pub fn find<T>(&self, f: impl Fn(&OurEvent) -> Option<T>) -> Option<T> {
        self.0.lock().unwrap().iter().find_map(f)
    }

    fn push(&self, e: OurEvent) {
        self.0.lock().unwrap().push(e);
    }
}

impl Observer for Recorder {
    fn peer_added(&self, _: SwInstant, peer: &Peer) {
        self.push(OurEvent::PeerAdded {
            id: peer.id(),
            outbound: peer.is_outbound(),
            info: Box::new(peer.node_info().clone()),
        });
    }
    fn peer_removed(&self, _: SwInstant, peer: &Peer, reason: &StopReason) {
        self.push(OurEvent::PeerRemoved {
            id: peer.id(),
            reason: reason.clone(),
        });
    }
    fn dial_finished(&self, _: SwInstant, addr: &NetAddress, result: Result<&Peer, &DialError>) {
        self.push(OurEvent::DialFinished {
            addr: *addr,
            result: result.map(|p| p.id()).map_err(|e| format!("{e:?}")),
        });
    }
    fn inbound_rejected(&self, _: SwInstant, _: SocketAddr, reason: &InboundRejection) {
        self.push(OurEvent::InboundRejected {
            reason: format!("{reason:?}"),
        });
    }
}

impl PexObserver for Recorder {
    fn addrs_received(&self, _: SwInstant, from: NodeId, addrs: &[NetAddress]) {
        self.push(OurEvent::PexAddrs {
            from,
            addrs: addrs.to_vec(),
        });
    }
}

/// A message the [`Probe`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The sender.
    pub from: NodeId,
    /// The bytes.
    pub data: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

/// Our reactor on the gossip channel: records every message as received.
pub struct Probe {
    desc: ChannelDescriptor,
    got: Mutex<Vec<Received>>,
    keep_bytes: bool,
}

impl Probe {
    /// Messages so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Number of messages and total bytes so far, and when the last arrived.
    pub fn totals(&self) -> (usize, usize, Option<Instant>) {
        let g = self.got.lock().unwrap();
        let bytes = g.iter().map(|r| r.data.len()).sum::<usize>();
        (g.len(), bytes, g.last().map(|r| r.at))
    }
}

impl Reactor for Probe {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![self.desc]
    }
    fn receive(&self, env: Envelope) -> BoxFuture<'_, ()> {
        let at = Instant::now();
        let mut data = env.message;
        if !self.keep_bytes {
            // Bulk runs: remember the length only.
            data = vec![0; data.len()];
        }
        self.got.lock().unwrap().push(Received {
            from: env.src.id(),
            data,
            at,
        });
        Box::pin(async {})
    }
}

/// How to build [`OurNode`].
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Key seed (all 32 bytes).
    pub seed: u8,
    /// Chain ID.
    pub network: String,
    /// The channel of the [`Probe`] (default [`CHANNEL`]).
    pub channel: u8,
    /// NodeInfo channels (default: the probe's channel, plus PEX if on).
    pub channels: Option<Vec<u8>>,
    /// Run PEX.
    pub pex: bool,
    /// PEX seed mode.
    pub seed_mode: bool,
    /// Seeds for PEX.
    pub seeds: Vec<NetAddress>,
    /// Addresses put in the book before start.
    pub book: Vec<NetAddress>,
    /// PEX ensure-peers period.
    pub ensure_peers_period: Duration,
    /// Ping interval / pong timeout.
    pub ping: Duration,
    /// Pong timeout.
    pub pong: Duration,
    /// Flush throttle.
    pub flush: Duration,
    /// Send and receive rate (bytes/s).
    pub rate: u64,
    /// `recv_message_capacity` of the gossip channel.
    pub recv_cap: usize,
    /// Keep received bytes (false for bulk transfers).
    pub keep_bytes: bool,
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            seed: 0x51,
            network: "cometnet-interop".into(),
            channel: CHANNEL,
            channels: None,
            pex: true,
            seed_mode: false,
            seeds: Vec::new(),
            book: Vec::new(),
            ensure_peers_period: Duration::from_secs(30),
            ping: Duration::from_secs(60),
            pong: Duration::from_secs(45),
            flush: Duration::from_millis(10),
            rate: 5_120_000,
            recv_cap: DEFAULT_RECV_CAP,
            keep_bytes: true,
        }
    }
}

/// Our node, running.
pub struct OurNode {
    /// The switch.
    pub switch: SwitchHandle,
    /// The PEX reactor (if on).
    pub pex: Option<Arc<PexReactor>>,
    /// The gossip-channel reactor.
    pub probe: Arc<Probe>,
    /// Switch and PEX events.
    pub events: Arc<Recorder>,
    /// Our `id@127.0.0.1:port`.
    pub addr: NetAddress,
}

impl OurNode {
    /// Starts a node on 127.0.0.1 (a free port) as `spec` says.
    pub async fn start(spec: NodeSpec) -> OurNode {
        let key = NodeKey::from_seed([spec.seed; 32]);
        let me = key.node_id();
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let addr = NetAddress::from_socket_addr(me, listen);
        let mut chans = vec![spec.channel];
        if spec.pex {
            chans.push(PEX_CHANNEL);
        }
        let info = NodeInfo::builder(me, spec.network.clone(), "cometnet-interop")
            .listen_addr(format!("tcp://{listen}"))
            .channels(spec.channels.clone().unwrap_or(chans))
            .build();
        let mut cfg = SwitchConfig {
            allow_duplicate_ip: true,
            ..SwitchConfig::default()
        };
        cfg.mconn.ping_interval = spec.ping;
        cfg.mconn.pong_timeout = spec.pong;
        cfg.mconn.flush_throttle = spec.flush;
        cfg.mconn.send_rate = spec.rate;
        cfg.mconn.recv_rate = spec.rate;
        let events = Arc::new(Recorder::default());
        let mut switch = Switch::new(
            cfg,
            key,
            info,
            TcpNetwork,
            TokioRuntime::new(),
            [spec.seed; 32],
        )
        .with_observer(events.clone());
        let probe = Arc::new(Probe {
            desc: ChannelDescriptor {
                id: spec.channel,
                priority: 5,
                send_queue_capacity: 100,
                recv_buffer_capacity: 4096,
                recv_message_capacity: spec.recv_cap,
            },
            got: Mutex::default(),
            keep_bytes: spec.keep_bytes,
        });
        switch.add_reactor("PROBE", probe.clone()).unwrap();
        let pex = if spec.pex {
            let mut rng = rand_chacha::ChaCha20Rng::from_seed([spec.seed ^ 0xff; 32]);
            let mut book = AddrBook::new(false, &mut rng);
            book.add_our_address(addr);
            for a in &spec.book {
                book.add_address(*a, addr, SwInstant::ZERO, &mut rng)
                    .unwrap();
            }
            let pcfg = PexConfig {
                seed_mode: spec.seed_mode,
                seeds: spec.seeds.clone(),
                ensure_peers_period: spec.ensure_peers_period,
                ..PexConfig::default()
            };
            let r = PexReactor::new(pcfg, book, Arc::new(NoStore), [spec.seed ^ 0x0f; 32]);
            r.set_observer(events.clone());
            switch = switch.with_addr_book(r.addr_book_hook());
            switch.add_reactor("PEX", r.clone()).unwrap();
            Some(r)
        } else {
            None
        };
        let switch = switch.start(listen).await.expect("our switch starts");
        OurNode {
            switch,
            pex,
            probe,
            events,
            addr,
        }
    }

    /// Our node ID.
    pub fn id(&self) -> NodeId {
        self.addr.id()
    }

    /// The addresses in our book.
    pub fn book(&self) -> Vec<NetAddress> {
        match &self.pex {
            Some(p) => p.with_book(|b| b.entries().map(|k| k.addr()).collect()),
            None => Vec::new(),
        }
    }

    /// The connected peer `id`.
    pub fn peer(&self, id: &NodeId) -> Option<Peer> {
        self.switch.peer(id)
    }

    /// Sends `msg` on the probe's channel to `id` (false: not connected or refused).
    pub async fn send(&self, id: &NodeId, msg: Vec<u8>) -> bool {
        match self.peer(id) {
            Some(p) => p.send(self.probe.desc.id, msg).await,
            None => false,
        }
    }
}
