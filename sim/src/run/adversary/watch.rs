//! Watching adversaries from the honest side, through observer hooks only:
//! a [`Tee`] observer forwards every event to the collector and records, for
//! honest nodes, when adversary peers come and go (and why). Samples read the
//! running stacks (peer sets, connection statistics, address books) like the
//! generic samples do; nothing is measured inside protocol code.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use p2p::gossip::{GossipMsg, GossipObserver};
use p2p::netaddr::NetAddress;
use p2p::node::Node;
use p2p::observe::Observer;
use p2p::pex::known_address::BucketType;
use p2p::switch::{DialError, InboundRejection, Peer, StopReason};
use p2p::time::Instant;
use p2p::NodeId;

use crate::collect::NodeObserver;
use crate::report::adversary::{AdversaryReport, ConnStats, FloodStats, HonestSample, WatchSample};
use crate::scenario::Adversary;

/// Per kind: added, closed lifetimes, reasons.
#[derive(Default)]
struct Kind {
    added: u64,
    lifetimes: Vec<f64>,
    reasons: BTreeMap<String, u64>,
}

#[derive(Default)]
struct FloodPair {
    /// The receiving honest node's `recv_rate`.
    limit: u64,
    /// (time s, bytes) at the previous sample, same connection.
    last: Option<(f64, u64)>,
    max_rate: f64,
    /// Bytes and seconds of full intervals.
    bytes: u64,
    secs: f64,
}

struct State {
    kinds: Vec<Adversary>,
    ids: BTreeMap<NodeId, u32>,
    honest_ips: BTreeSet<IpAddr>,
    strict: Vec<bool>,
    recv_rate: Vec<u64>,
    /// (honest, adversary) -> connected since.
    open: BTreeMap<(u32, u32), Instant>,
    per_kind: BTreeMap<String, Kind>,
    flood: BTreeMap<(u32, u32), FloodPair>,
    honest: Vec<HonestSample>,
    watched: BTreeMap<String, Vec<WatchSample>>,
}

/// The adversary tracker of a run; cheap to clone.
#[derive(Clone)]
pub(crate) struct Watch {
    state: Arc<Mutex<State>>,
    watched: Arc<Vec<u32>>,
}

/// The kind's name in reports (`"silent"`, `"flooder"`, ...).
pub(crate) fn kind_name(k: Adversary) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn median(sorted: &[f64]) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted[sorted.len() / 2])
}

impl Watch {
    /// A tracker for nodes with `ids`/`kinds`/`ips` (by index); `watched`
    /// get per-node diversity series; `strict` and `recv_rate` are each
    /// node's `addr_book_strict` and `recv_rate`.
    pub(crate) fn new(
        ids: &[NodeId],
        kinds: Vec<Adversary>,
        ips: &[IpAddr],
        (strict, recv_rate): (Vec<bool>, Vec<u64>),
        watched: Vec<u32>,
    ) -> Self {
        let honest_ips = ips
            .iter()
            .zip(&kinds)
            .filter(|(_, k)| **k == Adversary::None)
            .map(|(ip, _)| *ip)
            .collect();
        let per_kind = kinds
            .iter()
            .filter(|k| **k != Adversary::None)
            .map(|k| (kind_name(*k), Kind::default()))
            .collect();
        Watch {
            state: Arc::new(Mutex::new(State {
                kinds,
                ids: ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (*id, i as u32))
                    .collect(),
                honest_ips,
                strict,
                recv_rate,
                open: BTreeMap::new(),
                per_kind,
                flood: BTreeMap::new(),
                honest: Vec::new(),
                watched: watched
                    .iter()
                    .map(|w| (w.to_string(), Vec::new()))
                    .collect(),
            })),
            watched: Arc::new(watched),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Node `idx`'s observer: forwards to `inner` and records here.
    pub(crate) fn tee(&self, idx: u32, inner: Arc<NodeObserver>) -> Arc<Tee> {
        Arc::new(Tee {
            idx,
            inner,
            watch: self.clone(),
        })
    }

    fn pair(&self, s: &State, me: u32, peer: &Peer) -> Option<(u32, Adversary)> {
        let other = *s.ids.get(&peer.id())?;
        let kind = *s.kinds.get(other as usize)?;
        let honest = s.kinds.get(me as usize) == Some(&Adversary::None);
        (honest && kind != Adversary::None).then_some((other, kind))
    }

    /// Takes one sample at `t` of the running `nodes`.
    pub(crate) fn sample(&self, t: f64, nodes: &[Option<&Node>]) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let mut groups_all = Vec::new();
        let mut peer_frac = Vec::new();
        let mut book_frac = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            if s.kinds.get(i) != Some(&Adversary::None) {
                continue;
            }
            let strict = s.strict.get(i).copied().unwrap_or(true);
            let peers = node.switch.peers();
            let mut groups = BTreeSet::new();
            let (mut bad, mut bad_out, mut out) = (0u32, 0u32, 0u32);
            for p in &peers {
                groups.insert(p.socket_addr().group(strict));
                let adv = s
                    .ids
                    .get(&p.id())
                    .and_then(|x| s.kinds.get(*x as usize).map(|k| (*x, *k)));
                out += u32::from(p.is_outbound());
                if let Some((x, k)) = adv.filter(|(_, k)| *k != Adversary::None) {
                    bad += 1;
                    bad_out += u32::from(p.is_outbound());
                    if k == Adversary::Flooder {
                        let st = p.status();
                        let limit = s.recv_rate.get(i).copied().unwrap_or(0);
                        let e = s.flood.entry((i as u32, x)).or_default();
                        e.limit = limit;
                        if let Some((t0, b0)) = e.last.filter(|(_, b0)| *b0 <= st.recv.bytes) {
                            let (db, dt) = (st.recv.bytes - b0, t - t0);
                            if dt > 0.0 {
                                e.max_rate = e.max_rate.max(db as f64 / dt);
                                e.bytes += db;
                                e.secs += dt;
                            }
                        }
                        e.last = Some((t, st.recv.bytes));
                    }
                }
            }
            let n = peers.len().max(1) as f64;
            groups_all.push(groups.len() as u32);
            peer_frac.push(f64::from(bad) / n);
            let mut w = WatchSample {
                t,
                peers: peers.len() as u32,
                outbound: out,
                attacker_peers: bad,
                attacker_outbound: bad_out,
                peer_groups: groups.len() as u32,
                ..WatchSample::default()
            };
            if let Some(pex) = &node.pex {
                pex.with_book(|b| {
                    let mut groups = BTreeSet::new();
                    let mut buckets: [BTreeSet<usize>; 4] = Default::default();
                    for ka in b.entries() {
                        let a = ka.addr();
                        groups.insert(a.group(strict));
                        let attacker = !s.honest_ips.contains(&a.ip());
                        w.book += 1;
                        w.book_attacker += u32::from(attacker);
                        let base = if ka.bucket_type() == BucketType::New {
                            0
                        } else {
                            2
                        };
                        for bk in ka.buckets() {
                            buckets[base].insert(*bk);
                            if attacker {
                                buckets[base + 1].insert(*bk);
                            }
                        }
                    }
                    w.book_groups = groups.len() as u32;
                    w.new_buckets = buckets[0].len() as u32;
                    w.attacker_new_buckets = buckets[1].len() as u32;
                    w.old_buckets = buckets[2].len() as u32;
                    w.attacker_old_buckets = buckets[3].len() as u32;
                });
                book_frac.push(f64::from(w.book_attacker) / f64::from(w.book.max(1)));
            }
            if self.watched.contains(&(i as u32)) {
                if let Some(series) = s.watched.get_mut(&i.to_string()) {
                    series.push(w);
                }
            }
        }
        // Pairs no longer connected start afresh on reconnection.
        let mut sorted = groups_all.clone();
        sorted.sort_unstable();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        s.honest.push(HonestSample {
            t,
            peer_groups_min: sorted.first().copied().unwrap_or(0),
            peer_groups_p50: sorted.get(sorted.len() / 2).map_or(0.0, |g| f64::from(*g)),
            attacker_peer_fraction_mean: mean(&peer_frac),
            attacker_peer_fraction_max: max(&peer_frac),
            attacker_book_fraction_mean: mean(&book_frac),
            attacker_book_fraction_max: max(&book_frac),
        });
    }

    /// The report section at time `now`.
    pub(crate) fn report(&self, now: Instant) -> AdversaryReport {
        let s = self.lock();
        let mut nodes: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (i, k) in s.kinds.iter().enumerate() {
            if *k != Adversary::None {
                nodes.entry(kind_name(*k)).or_default().push(i as u32);
            }
        }
        let mut connections = BTreeMap::new();
        for (name, k) in &s.per_kind {
            let mut life = k.lifetimes.clone();
            life.sort_by(f64::total_cmp);
            let open: Vec<f64> = s
                .open
                .iter()
                .filter(|((_, a), _)| {
                    s.kinds.get(*a as usize).map(|k| kind_name(*k)).as_ref() == Some(name)
                })
                .map(|(_, since)| (now - *since).as_secs_f64())
                .collect();
            connections.insert(
                name.clone(),
                ConnStats {
                    added: k.added,
                    removed: life.len() as u64,
                    reasons: k.reasons.clone(),
                    lifetime_min_s: life.first().copied(),
                    lifetime_p50_s: median(&life),
                    lifetime_max_s: life.last().copied(),
                    open_at_end: open.len() as u64,
                    oldest_open_s: open.iter().copied().reduce(f64::max),
                },
            );
        }
        let flood = nodes.contains_key("flooder").then(|| {
            let pairs: Vec<&FloodPair> = s.flood.values().filter(|p| p.secs > 0.0).collect();
            let frac = |rate: f64, p: &FloodPair| rate / p.limit.max(1) as f64;
            FloodStats {
                recv_rate_limit: pairs.iter().map(|p| p.limit).min().unwrap_or(0),
                max_interval_fraction: pairs
                    .iter()
                    .map(|p| frac(p.max_rate, p))
                    .fold(0.0, f64::max),
                mean_pair_fraction: pairs
                    .iter()
                    .map(|p| frac(p.bytes as f64 / p.secs, p))
                    .sum::<f64>()
                    / pairs.len().max(1) as f64,
                pairs: pairs.len() as u64,
                max_interval_rate: pairs.iter().map(|p| p.max_rate).fold(0.0, f64::max),
                mean_pair_rate: pairs.iter().map(|p| p.bytes as f64 / p.secs).sum::<f64>()
                    / pairs.len().max(1) as f64,
                bytes: pairs.iter().map(|p| p.bytes).sum(),
            }
        });
        AdversaryReport {
            nodes,
            connections,
            flood,
            honest: s.honest.clone(),
            watched: s.watched.clone(),
        }
    }
}

/// A node's observer: the collector's plus the adversary tracker.
pub(crate) struct Tee {
    idx: u32,
    inner: Arc<NodeObserver>,
    watch: Watch,
}

impl Observer for Tee {
    fn peer_added(&self, now: Instant, peer: &Peer) {
        self.inner.peer_added(now, peer);
        let mut s = self.watch.lock();
        if let Some((other, kind)) = self.watch.pair(&s, self.idx, peer) {
            s.open.insert((self.idx, other), now);
            s.per_kind.entry(kind_name(kind)).or_default().added += 1;
        }
    }

    fn peer_removed(&self, now: Instant, peer: &Peer, reason: &StopReason) {
        self.inner.peer_removed(now, peer, reason);
        let mut guard = self.watch.lock();
        let s = &mut *guard;
        if let Some((other, kind)) = self.watch.pair(s, self.idx, peer) {
            if let Some(since) = s.open.remove(&(self.idx, other)) {
                let k = s.per_kind.entry(kind_name(kind)).or_default();
                k.lifetimes.push((now - since).as_secs_f64());
                *k.reasons
                    .entry(crate::collect::reason_label(reason))
                    .or_default() += 1;
            }
            if let Some(f) = s.flood.get_mut(&(self.idx, other)) {
                f.last = None;
            }
        }
    }

    fn dial_started(&self, now: Instant, addr: &NetAddress) {
        self.inner.dial_started(now, addr);
    }

    fn dial_finished(&self, now: Instant, addr: &NetAddress, result: Result<&Peer, &DialError>) {
        self.inner.dial_finished(now, addr, result);
    }

    fn inbound_rejected(&self, now: Instant, remote: SocketAddr, reason: &InboundRejection) {
        self.inner.inbound_rejected(now, remote, reason);
    }

    fn reconnect_started(&self, now: Instant, addr: &NetAddress) {
        self.inner.reconnect_started(now, addr);
    }

    fn reconnect_gave_up(&self, now: Instant, addr: &NetAddress) {
        self.inner.reconnect_gave_up(now, addr);
    }
}

impl GossipObserver for Tee {
    fn delivered(&self, now: Instant, msg: &GossipMsg, from: Option<p2p::NodeId>) {
        if !self.published_by_adversary(msg) {
            self.inner.delivered(now, msg, from);
        }
    }

    fn duplicate(&self, now: Instant, msg: &GossipMsg, from: p2p::NodeId) {
        if !self.published_by_adversary(msg) {
            self.inner.duplicate(now, msg, from);
        }
    }

    fn dropped(&self, now: Instant, msg: &GossipMsg, to: p2p::NodeId) {
        if !self.published_by_adversary(msg) {
            self.inner.dropped(now, msg, to);
        }
    }
}

impl Tee {
    /// Messages published by an adversary (the flood) stay out of the
    /// gossip workload statistics.
    fn published_by_adversary(&self, msg: &GossipMsg) -> bool {
        let s = self.watch.lock();
        s.ids
            .get(&msg.id.origin)
            .and_then(|i| s.kinds.get(*i as usize))
            .is_some_and(|k| *k != Adversary::None)
    }
}
