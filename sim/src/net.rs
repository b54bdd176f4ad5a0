//! The simulated network: the [`Network`] backend of the simulator.
//!
//! A [`World`] holds hosts (one IP each, a zone, optional uplink/downlink
//! bandwidth, inbound reachability), listeners and connections. Link state
//! exists only per connection. A write is timed when it is made:
//!
//! ```text
//! depart  = max(now, uplink free) + bytes / uplink
//! arrive  = depart + one-way delay(zone → zone) + jitter, kept FIFO per direction
//! deliver = max(arrive, downlink free) + bytes / downlink
//! ```
//!
//! and becomes an event that appends the bytes to the reader's buffer. Each
//! direction has a window (socket buffers): a writer waits while that many
//! bytes are unread, so a slow reader slows its sender, as with TCP.
//! Partitions (one-way, between host groups) stall bytes rather than drop
//! them, like TCP retransmission, until healed; dials across a partition or to
//! an inbound-unreachable host (NAT) never complete (callers time out).
//! Every connection, delivery and close is folded into an event hash.

mod stream;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use p2p::net::{Instant, Listener, Network, Runtime};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub use stream::SimStream;

use crate::exec::SimRuntime;
use crate::link::LatencyModel;

/// Bytes a direction may have unread (in flight + buffered) before writers wait.
pub const DEFAULT_WINDOW: usize = 256 * 1024;

/// Largest chunk one write puts on the wire as a single event; larger writes
/// are split so the receiver sees a stream, not one late burst.
pub const MAX_SEGMENT: usize = 64 * 1024;

/// How a host is attached to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostConfig {
    /// Index of its zone in the latency model.
    pub zone: usize,
    /// Uplink in bytes/s (`None` = unlimited).
    pub uplink: Option<u64>,
    /// Downlink in bytes/s (`None` = unlimited).
    pub downlink: Option<u64>,
    /// Whether others can dial it (false = behind NAT).
    pub reachable: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            zone: 0,
            uplink: None,
            downlink: None,
            reachable: true,
        }
    }
}

struct Host {
    cfg: HostConfig,
    up: bool,
    group: u32,
    up_busy: Instant,
    down_busy: Instant,
    next_port: u16,
    conns: BTreeSet<u64>,
}

/// Delivered, unread bytes as the chunks they arrived in.
#[derive(Default)]
struct RecvBuf {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already read.
    offset: usize,
}

impl RecvBuf {
    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    fn push(&mut self, chunk: Vec<u8>) {
        if !chunk.is_empty() {
            self.chunks.push_back(chunk);
        }
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.offset = 0;
    }

    /// Copies up to `out.len()` bytes out; returns the count.
    fn read(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let avail = &front[self.offset..];
            let k = avail.len().min(out.len() - n);
            out[n..n + k].copy_from_slice(&avail[..k]);
            n += k;
            self.offset += k;
            if self.offset == front.len() {
                self.chunks.pop_front();
                self.offset = 0;
            }
        }
        n
    }
}

#[derive(Default)]
struct Dir {
    buf: RecvBuf,
    unread: usize,
    last_arrival: Instant,
    fin_sent: bool,
    fin_arrived: bool,
    reset: bool,
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    stalled: Vec<Vec<u8>>,
}

struct Conn {
    ends: [SocketAddr; 2],
    dirs: [Dir; 2],
    open_ends: u8,
}

struct State {
    model: LatencyModel,
    hosts: BTreeMap<IpAddr, Host>,
    listeners: BTreeMap<SocketAddr, mpsc::UnboundedSender<SimStream>>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    blocked: BTreeSet<(u32, u32)>,
    rng: ChaCha8Rng,
    hasher: Sha256,
    events: u64,
    bytes_delivered: u64,
    window: usize,
}

/// Totals of what the network carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetStats {
    /// Hashed events (connects, deliveries, closes, resets).
    pub events: u64,
    /// Bytes handed to readers' buffers.
    pub bytes_delivered: u64,
    /// Connections currently open.
    pub open_connections: usize,
}

/// The shared simulated network. Cloning yields a handle to the same world.
#[derive(Clone)]
pub struct World {
    state: Arc<Mutex<State>>,
    rt: SimRuntime,
}

impl World {
    /// An empty network on `rt` with `model` latencies and jitter drawn from `seed`.
    pub fn new(rt: SimRuntime, model: LatencyModel, seed: u64) -> Self {
        World {
            state: Arc::new(Mutex::new(State {
                model,
                hosts: BTreeMap::new(),
                listeners: BTreeMap::new(),
                conns: BTreeMap::new(),
                next_conn: 0,
                blocked: BTreeSet::new(),
                rng: ChaCha8Rng::seed_from_u64(seed),
                hasher: Sha256::new(),
                events: 0,
                bytes_delivered: 0,
                window: DEFAULT_WINDOW,
            })),
            rt,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or reconfigures) a host and returns its network handle.
    pub fn add_host(&self, ip: IpAddr, cfg: HostConfig) -> SimNetwork {
        let mut s = self.lock();
        let host = s.hosts.entry(ip).or_insert_with(|| Host {
            cfg,
            up: true,
            group: 0,
            up_busy: Instant::ZERO,
            down_busy: Instant::ZERO,
            next_port: 40000,
            conns: BTreeSet::new(),
        });
        host.cfg = cfg;
        host.up = true;
        SimNetwork {
            world: self.clone(),
            ip,
        }
    }

    /// The latency model.
    pub fn model(&self) -> LatencyModel {
        self.lock().model.clone()
    }

    /// Changes a host's bandwidth (bytes/s, `None` = unlimited).
    pub fn set_bandwidth(&self, ip: IpAddr, uplink: Option<u64>, downlink: Option<u64>) {
        if let Some(h) = self.lock().hosts.get_mut(&ip) {
            h.cfg.uplink = uplink;
            h.cfg.downlink = downlink;
        }
    }

    /// Puts a host in a partition group (0 by default).
    pub fn set_group(&self, ip: IpAddr, group: u32) {
        if let Some(h) = self.lock().hosts.get_mut(&ip) {
            h.group = group;
        }
    }

    /// Blocks traffic from group `from` to group `to` (one way).
    pub fn block(&self, from: u32, to: u32) {
        self.lock().blocked.insert((from, to));
    }

    /// Removes every block and resends stalled bytes.
    pub fn heal(&self) {
        let stalled = {
            let mut s = self.lock();
            s.blocked.clear();
            let mut out = Vec::new();
            for (&id, c) in s.conns.iter_mut() {
                for (d, dir) in c.dirs.iter_mut().enumerate() {
                    for chunk in dir.stalled.drain(..) {
                        out.push((id, d, chunk));
                    }
                }
            }
            out
        };
        for (id, d, chunk) in stalled {
            self.transmit(id, d, chunk);
        }
    }

    /// Takes a host down (its process died): its connections are reset for the
    /// peers after one network delay; later dials to it are refused.
    pub fn crash(&self, ip: IpAddr) {
        let conns: Vec<u64> = {
            let mut s = self.lock();
            let Some(h) = s.hosts.get_mut(&ip) else {
                return;
            };
            h.up = false;
            let ids: Vec<u64> = std::mem::take(&mut h.conns).into_iter().collect();
            s.listeners.retain(|a, _| a.ip() != ip);
            ids
        };
        for id in conns {
            self.reset(id);
        }
    }

    /// Brings a crashed host back (a restart).
    pub fn revive(&self, ip: IpAddr) {
        if let Some(h) = self.lock().hosts.get_mut(&ip) {
            h.up = true;
        }
    }

    /// Counters.
    pub fn stats(&self) -> NetStats {
        let s = self.lock();
        NetStats {
            events: s.events,
            bytes_delivered: s.bytes_delivered,
            open_connections: s.conns.len(),
        }
    }

    /// Hex SHA-256 over every network event so far, in order.
    pub fn event_hash(&self) -> String {
        hex_digest(self.lock().hasher.clone().finalize().as_slice())
    }

    fn record(s: &mut State, now: Instant, kind: u8, conn: u64, dir: usize, len: usize) {
        s.events += 1;
        s.hasher.update(now.as_nanos().to_le_bytes());
        s.hasher.update([kind, dir as u8]);
        s.hasher.update(conn.to_le_bytes());
        s.hasher.update((len as u64).to_le_bytes());
    }

    fn blocked(s: &State, from: IpAddr, to: IpAddr) -> bool {
        match (s.hosts.get(&from), s.hosts.get(&to)) {
            (Some(a), Some(b)) => s.blocked.contains(&(a.group, b.group)),
            _ => true,
        }
    }

    /// Schedules `chunk` on direction `d` of connection `id` (timing per the module doc).
    fn transmit(&self, id: u64, d: usize, chunk: Vec<u8>) {
        let now = self.rt.now();
        let at = {
            let mut guard = self.lock();
            let s = &mut *guard;
            let Some(c) = s.conns.get(&id) else { return };
            let (src, dst) = (c.ends[d].ip(), c.ends[1 - d].ip());
            let last = c.dirs[d].last_arrival;
            let n = chunk.len() as f64;
            let (src_zone, up) = match s.hosts.get_mut(&src) {
                Some(h) => {
                    let start = now.max(h.up_busy);
                    h.up_busy = start + serialize(n, h.cfg.uplink);
                    (h.cfg.zone, h.up_busy)
                }
                None => return,
            };
            let dst_zone = s.hosts.get(&dst).map_or(0, |h| h.cfg.zone);
            let arrive = (up + s.model.sample(src_zone, dst_zone, &mut s.rng)).max(last);
            let deliver = match s.hosts.get_mut(&dst) {
                Some(h) => {
                    let start = arrive.max(h.down_busy);
                    h.down_busy = start + serialize(n, h.cfg.downlink);
                    h.down_busy
                }
                None => arrive,
            };
            if let Some(c) = s.conns.get_mut(&id) {
                c.dirs[d].last_arrival = deliver;
            }
            deliver
        };
        let world = self.clone();
        self.rt.schedule(at, move || world.deliver(id, d, chunk));
    }

    fn deliver(&self, id: u64, d: usize, chunk: Vec<u8>) {
        let now = self.rt.now();
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(c) = s.conns.get(&id) else { return };
        let (src, dst) = (c.ends[d].ip(), c.ends[1 - d].ip());
        let blocked = Self::blocked(s, src, dst);
        let len = chunk.len();
        let Some(c) = s.conns.get_mut(&id) else {
            return;
        };
        let dir = &mut c.dirs[d];
        if dir.reset || dir.reader_gone {
            return;
        }
        if blocked {
            dir.stalled.push(chunk);
            return;
        }
        dir.buf.push(chunk);
        if let Some(w) = dir.reader.take() {
            w.wake();
        }
        s.bytes_delivered += len as u64;
        Self::record(s, now, 1, id, d, len);
    }

    /// Resets both directions of a connection, seen by each end after one delay.
    fn reset(&self, id: u64) {
        let delay = {
            let s = self.lock();
            let Some(c) = s.conns.get(&id) else { return };
            let zone = |ip: &IpAddr| s.hosts.get(ip).map_or(0, |h| h.cfg.zone);
            s.model
                .base_delay(zone(&c.ends[0].ip()), zone(&c.ends[1].ip()))
        };
        let world = self.clone();
        self.rt.schedule(self.rt.now() + delay, move || {
            let now = world.rt.now();
            let mut s = world.lock();
            if let Some(c) = s.conns.get_mut(&id) {
                for dir in &mut c.dirs {
                    dir.reset = true;
                    dir.buf.clear();
                    dir.stalled.clear();
                    if let Some(w) = dir.reader.take() {
                        w.wake();
                    }
                    if let Some(w) = dir.writer.take() {
                        w.wake();
                    }
                }
            }
            Self::record(&mut s, now, 3, id, 0, 0);
        });
    }
}

fn serialize(bytes: f64, rate: Option<u64>) -> Duration {
    match rate {
        Some(r) if r > 0 => Duration::from_secs_f64(bytes / r as f64),
        _ => Duration::ZERO,
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One host's view of the [`World`]: the [`Network`] handle a simulated node uses.
#[derive(Clone)]
pub struct SimNetwork {
    world: World,
    ip: IpAddr,
}

impl SimNetwork {
    /// This host's address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The world this host lives in.
    pub fn world(&self) -> &World {
        &self.world
    }
}

enum DialPlan {
    Connect { stream: SimStream, rtt: Duration },
    Refuse(Duration),
    Hang,
}

impl SimNetwork {
    fn plan_dial(&self, addr: SocketAddr) -> Result<DialPlan, io::Error> {
        let now = self.world.rt.now();
        let mut guard = self.world.lock();
        let s = &mut *guard;
        let src = self.ip;
        let Some(me) = s.hosts.get_mut(&src) else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "host not in the world",
            ));
        };
        if !me.up {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "host is down"));
        }
        let port = me.next_port;
        me.next_port = if port == u16::MAX { 40000 } else { port + 1 };
        let src_zone = me.cfg.zone;
        let Some(dst) = s.hosts.get(&addr.ip()) else {
            return Ok(DialPlan::Hang);
        };
        let rtt =
            s.model.base_delay(src_zone, dst.cfg.zone) + s.model.base_delay(dst.cfg.zone, src_zone);
        if !dst.up {
            return Ok(DialPlan::Refuse(rtt));
        }
        if !dst.cfg.reachable
            || World::blocked(s, src, addr.ip())
            || World::blocked(s, addr.ip(), src)
        {
            return Ok(DialPlan::Hang);
        }
        let Some(listener) = s.listeners.get(&addr).cloned() else {
            return Ok(DialPlan::Refuse(rtt));
        };
        let local = SocketAddr::new(src, port);
        tracing::trace!(target: "sim::net", %local, %addr, "connect");
        let id = s.next_conn;
        s.next_conn += 1;
        s.conns.insert(
            id,
            Conn {
                ends: [local, addr],
                dirs: [Dir::default(), Dir::default()],
                open_ends: 2,
            },
        );
        for ip in [src, addr.ip()] {
            if let Some(h) = s.hosts.get_mut(&ip) {
                h.conns.insert(id);
            }
        }
        World::record(s, now, 0, id, 0, 0);
        drop(guard);
        let server = SimStream::new(self.world.clone(), id, 1, addr, local);
        let client = SimStream::new(self.world.clone(), id, 0, local, addr);
        let half = rtt / 2;
        self.world.rt.schedule(now + half, move || {
            // A listener gone by now drops the stream, which closes it.
            let _ = listener.unbounded_send(server);
        });
        Ok(DialPlan::Connect {
            stream: client,
            rtt,
        })
    }
}

impl Network for SimNetwork {
    type Stream = SimStream;
    type Listener = SimListener;

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn dial(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<SimStream>> + Send + 'static {
        let plan = self.plan_dial(addr);
        let rt = self.world.rt.clone();
        async move {
            match plan? {
                DialPlan::Connect { stream, rtt } => {
                    rt.sleep(rtt).await;
                    Ok(stream)
                }
                DialPlan::Refuse(rtt) => {
                    rt.sleep(rtt).await;
                    Err(io::ErrorKind::ConnectionRefused.into())
                }
                DialPlan::Hang => futures::future::pending().await,
            }
        }
    }

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn listen(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<SimListener>> + Send + 'static {
        let result = (|| {
            let mut s = self.world.lock();
            if addr.ip() != self.ip {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    "not this host's address",
                ));
            }
            if s.listeners.contains_key(&addr) {
                return Err(io::ErrorKind::AddrInUse.into());
            }
            let (tx, rx) = mpsc::unbounded();
            s.listeners.insert(addr, tx);
            Ok(SimListener {
                rx,
                local: addr,
                world: self.world.clone(),
            })
        })();
        async move { result }
    }
}

/// A listening socket in the simulation.
pub struct SimListener {
    rx: mpsc::UnboundedReceiver<SimStream>,
    local: SocketAddr,
    world: World,
}

impl Drop for SimListener {
    fn drop(&mut self) {
        self.world.lock().listeners.remove(&self.local);
    }
}

impl Listener for SimListener {
    type Stream = SimStream;

    async fn accept(&mut self) -> io::Result<SimStream> {
        self.rx
            .next()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "host went down"))
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

#[cfg(test)]
mod tests;
