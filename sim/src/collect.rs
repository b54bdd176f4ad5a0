//! Metrics of a run, gathered through the stack's observer hooks (the p2p
//! code computes nothing itself): the peer graph over time, dials, bytes per
//! channel, and gossip propagation. Every observed event is also folded into
//! a hash, so two runs can be compared exactly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use p2p::gossip::{GossipMsg, GossipObserver, MsgId};
use p2p::netaddr::NetAddress;
use p2p::observe::Observer;
use p2p::switch::{DialError, InboundRejection, Peer, StopReason};
use p2p::time::Instant;
use p2p::NodeId;
use sha2::{Digest, Sha256};

/// Propagation of one gossip message.
#[derive(Debug, Clone)]
struct MsgTrack {
    workload: usize,
    published_at: Instant,
    /// Nodes running at publication (the denominator).
    target: u32,
    seen: u32,
    /// Time to reach 50/90/99/100% of `target`.
    reach: [Option<Duration>; 4],
}

const REACH: [f64; 4] = [0.5, 0.9, 0.99, 1.0];

#[derive(Default)]
struct State {
    index: BTreeMap<NodeId, u32>,
    up: Vec<bool>,
    /// Current peers of each node: peer index -> outbound.
    peers: Vec<BTreeMap<u32, bool>>,
    /// Sent totals per channel of connections already closed: (messages, bytes).
    retired_sent: BTreeMap<u8, (u64, u64)>,
    /// Bytes (sent, received) of each node's connections already closed.
    node_retired: BTreeMap<u32, (u64, u64)>,
    dials: u64,
    dials_ok: u64,
    inbound_rejected: u64,
    peers_added: u64,
    peers_removed: u64,
    removal_reasons: BTreeMap<String, u64>,
    /// Gossip messages by id; the workload of each origin node.
    messages: BTreeMap<MsgId, MsgTrack>,
    next_workload: usize,
    duplicates: BTreeMap<usize, u64>,
    deliveries: BTreeMap<usize, u64>,
    dropped: BTreeMap<usize, u64>,
    hasher: Sha256,
    /// Reconvergence watches (see [`crate::reconverge`]).
    reconv: crate::reconverge::Tracker,
}

/// Shared sink of all nodes' observations.
#[derive(Clone, Default)]
pub struct Collector {
    state: Arc<Mutex<State>>,
}

/// Counters at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Dial attempts.
    pub dials: u64,
    /// Dials that produced a peer.
    pub dials_ok: u64,
    /// Inbound connections refused.
    pub inbound_rejected: u64,
    /// Peer additions (each side counts its own).
    pub peers_added: u64,
    /// Peer removals (each side counts its own).
    pub peers_removed: u64,
    /// Removals by reason.
    pub removal_reasons: BTreeMap<String, u64>,
}

/// Propagation summary of one gossip workload.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GossipSummary {
    /// Messages published.
    pub messages: u64,
    /// First deliveries (all nodes).
    pub deliveries: u64,
    /// Copies received after the first.
    pub duplicates: u64,
    /// Forwards dropped at full send queues.
    pub dropped: u64,
    /// duplicates / deliveries.
    pub duplicate_ratio: f64,
    /// Mean fraction of the running nodes each message reached.
    pub mean_coverage: f64,
    /// For 50/90/99/100% of the nodes: (fraction of messages that got there,
    /// median time in ms, 90th percentile in ms, sorted times in ms).
    pub reach: Vec<ReachStat>,
}

/// Time for messages to reach a fraction of the nodes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReachStat {
    /// Fraction of nodes (0.5, 0.9, 0.99, 1.0).
    pub fraction: f64,
    /// Fraction of messages that reached it.
    pub messages_reaching: f64,
    /// Median time (ms) among those that did.
    pub p50_ms: Option<f64>,
    /// 90th percentile time (ms).
    pub p90_ms: Option<f64>,
    /// Every message's time (ms), sorted: the propagation CDF.
    pub times_ms: Vec<f64>,
}

impl Collector {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers node `idx` with identity `id` (before it starts).
    pub fn register(&self, idx: u32, id: NodeId) {
        let mut s = self.lock();
        s.index.insert(id, idx);
        let n = idx as usize + 1;
        if s.up.len() < n {
            s.up.resize(n, false);
            s.peers.resize(n, BTreeMap::new());
        }
    }

    /// Marks a node running or not. A node going down loses its peer list
    /// (its process died; the other side reports its own removals).
    pub fn set_up(&self, idx: u32, up: bool) {
        let mut s = self.lock();
        if let Some(u) = s.up.get_mut(idx as usize) {
            *u = up;
        }
        if !up {
            if let Some(p) = s.peers.get_mut(idx as usize) {
                p.clear();
            }
        }
        s.hasher.update([9, up as u8]);
        s.hasher.update(idx.to_le_bytes());
        s.reconv.invalidate();
    }

    /// Leaves node `idx` (a seed) out of the overlay whose reconvergence is measured.
    pub fn exclude_from_overlay(&self, idx: u32) {
        self.lock().reconv.exclude(idx);
    }

    /// Starts measuring how long after `event` (at `now`) the overlay is one
    /// component again (see [`crate::reconverge`]).
    pub fn watch_reconvergence(&self, now: Instant, event: String) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let edges = || edges_of(&s.peers);
        s.reconv.start(secs(now), event, &s.up, edges);
    }

    /// Re-checks open reconvergence watches at `now` (after nodes went up or down).
    pub fn poll_reconvergence(&self, now: Instant) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let edges = || edges_of(&s.peers);
        s.reconv.poll(secs(now), &s.up, edges);
    }

    /// Every reconvergence measured so far, in event order.
    pub fn reconvergence(&self) -> Vec<crate::reconverge::Reconvergence> {
        self.lock().reconv.results()
    }

    /// The observer for node `idx`.
    pub fn node(&self, idx: u32) -> Arc<NodeObserver> {
        Arc::new(NodeObserver {
            idx,
            coll: self.clone(),
        })
    }

    /// Tags the next message published (by any node) with `workload`; call
    /// right before `GossipReactor::publish`.
    pub fn next_publish_workload(&self, workload: usize) {
        self.lock().next_workload = workload;
    }

    /// Number of running nodes.
    pub fn up_count(&self) -> usize {
        self.lock().up.iter().filter(|u| **u).count()
    }

    /// Current peer count (inbound, outbound) of every node (0 for nodes down).
    pub fn degrees(&self) -> Vec<(u32, u32)> {
        let s = self.lock();
        s.peers
            .iter()
            .map(|p| {
                let out = p.values().filter(|o| **o).count() as u32;
                (p.len() as u32 - out, out)
            })
            .collect()
    }

    /// Whether each node is running.
    pub fn up(&self) -> Vec<bool> {
        self.lock().up.clone()
    }

    /// Undirected edges (i < j), each once, in order.
    pub fn edges(&self) -> Vec<(u32, u32)> {
        let s = self.lock();
        let mut out: Vec<(u32, u32)> = s
            .peers
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.keys()
                    .map(move |&j| ((i as u32).min(j), (i as u32).max(j)))
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Adds closed connections' sent totals to `live` per-channel (messages, bytes).
    pub fn sent_totals(&self, live: &BTreeMap<u8, (u64, u64)>) -> BTreeMap<u8, (u64, u64)> {
        let s = self.lock();
        let mut out = s.retired_sent.clone();
        for (ch, (m, b)) in live {
            let e = out.entry(*ch).or_default();
            e.0 += m;
            e.1 += b;
        }
        out
    }

    /// Bytes (sent, received) on node `idx`'s closed connections.
    pub fn node_retired(&self, idx: u32) -> (u64, u64) {
        self.lock()
            .node_retired
            .get(&idx)
            .copied()
            .unwrap_or_default()
    }

    /// Counters so far.
    pub fn totals(&self) -> Totals {
        let s = self.lock();
        Totals {
            dials: s.dials,
            dials_ok: s.dials_ok,
            inbound_rejected: s.inbound_rejected,
            peers_added: s.peers_added,
            peers_removed: s.peers_removed,
            removal_reasons: s.removal_reasons.clone(),
        }
    }

    /// Hex SHA-256 over every observed event, in order.
    pub fn hash(&self) -> String {
        self.lock()
            .hasher
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Propagation summary of workload `w`.
    pub fn gossip_summary(&self, w: usize) -> GossipSummary {
        let s = self.lock();
        let tracks: Vec<&MsgTrack> = s.messages.values().filter(|m| m.workload == w).collect();
        let deliveries = s.deliveries.get(&w).copied().unwrap_or(0);
        let duplicates = s.duplicates.get(&w).copied().unwrap_or(0);
        let n = tracks.len();
        let reach = REACH
            .iter()
            .enumerate()
            .map(|(k, &fraction)| {
                let mut times: Vec<f64> = tracks
                    .iter()
                    .filter_map(|t| t.reach[k])
                    .map(|d| d.as_secs_f64() * 1000.0)
                    .collect();
                times.sort_by(f64::total_cmp);
                ReachStat {
                    fraction,
                    messages_reaching: if n == 0 {
                        0.0
                    } else {
                        times.len() as f64 / n as f64
                    },
                    p50_ms: percentile(&times, 0.5),
                    p90_ms: percentile(&times, 0.9),
                    times_ms: times,
                }
            })
            .collect();
        let mean_coverage = if n == 0 {
            0.0
        } else {
            tracks
                .iter()
                .map(|t| f64::from(t.seen.min(t.target)) / f64::from(t.target.max(1)))
                .sum::<f64>()
                / n as f64
        };
        GossipSummary {
            messages: n as u64,
            deliveries,
            duplicates,
            dropped: s.dropped.get(&w).copied().unwrap_or(0),
            duplicate_ratio: if deliveries == 0 {
                0.0
            } else {
                duplicates as f64 / deliveries as f64
            },
            mean_coverage,
            reach,
        }
    }

    /// Median over messages of workload `w` of the time to reach `fraction` of
    /// the nodes (`None` if fewer than half of the messages got there).
    pub fn median_reach(&self, w: usize, fraction: f64) -> Option<Duration> {
        let s = self.lock();
        let mut times = Vec::new();
        let mut n = 0usize;
        for t in s.messages.values().filter(|m| m.workload == w) {
            n += 1;
            let need = (fraction * f64::from(t.target)).ceil().max(1.0) as u32;
            if t.seen >= need {
                // Recorded reach levels bound the time from above.
                let k = REACH.iter().position(|r| *r >= fraction).unwrap_or(3);
                if let Some(d) = t.reach[k] {
                    times.push(d);
                }
            }
        }
        if n == 0 || times.len() * 2 < n {
            return None;
        }
        times.sort_unstable();
        times.get(n / 2).copied().or_else(|| times.last().copied())
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied()
}

/// One node's observer: forwards to the [`Collector`] with the node's index.
pub struct NodeObserver {
    idx: u32,
    coll: Collector,
}

fn hash_event(s: &mut State, now: Instant, kind: u8, a: u32, b: u32) {
    s.hasher.update(now.as_nanos().to_le_bytes());
    s.hasher.update([kind]);
    s.hasher.update(a.to_le_bytes());
    s.hasher.update(b.to_le_bytes());
}

/// A coarse label of a stop reason for counting: the text before any
/// detail (a connection error keeps its first clause), numbers as `#` (a
/// reason like "PEX request 1.2s after ..." must not make one key per value).
pub(crate) fn reason_label(r: &StopReason) -> String {
    let first = |t: String| t.split(": ").next().unwrap_or_default().to_owned();
    let text = match r {
        StopReason::Connection(e) => format!("connection: {}", first(e.to_string())),
        other => first(other.to_string()),
    };
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|w| match w.chars().any(|c| c.is_ascii_digit()) {
            true if w.ends_with(')') => "#)",
            true => "#",
            false => w,
        })
        .collect();
    words.join(" ")
}

impl Observer for NodeObserver {
    fn peer_added(&self, now: Instant, peer: &Peer) {
        let mut s = self.coll.lock();
        let Some(&j) = s.index.get(&peer.id()) else {
            return;
        };
        if let Some(p) = s.peers.get_mut(self.idx as usize) {
            p.insert(j, peer.is_outbound());
        }
        s.peers_added += 1;
        hash_event(&mut s, now, 1, self.idx, j);
        if s.reconv.watching() {
            let st = &mut *s;
            let edges = || edges_of(&st.peers);
            st.reconv
                .edge_added(secs(now), (self.idx, j), &st.up, edges);
        }
    }

    fn peer_removed(&self, now: Instant, peer: &Peer, reason: &StopReason) {
        let status = peer.status();
        let mut s = self.coll.lock();
        let Some(&j) = s.index.get(&peer.id()) else {
            return;
        };
        if let Some(p) = s.peers.get_mut(self.idx as usize) {
            p.remove(&j);
        }
        let node = s.node_retired.entry(self.idx).or_default();
        node.0 += status.send.bytes;
        node.1 += status.recv.bytes;
        for ch in &status.channels {
            let e = s.retired_sent.entry(ch.id).or_default();
            e.0 += ch.messages_sent;
            e.1 += ch.bytes_sent;
        }
        s.peers_removed += 1;
        s.reconv.invalidate();
        *s.removal_reasons.entry(reason_label(reason)).or_default() += 1;
        hash_event(&mut s, now, 2, self.idx, j);
    }

    fn dial_started(&self, now: Instant, _addr: &NetAddress) {
        let mut s = self.coll.lock();
        s.dials += 1;
        hash_event(&mut s, now, 3, self.idx, 0);
    }

    fn dial_finished(&self, now: Instant, _addr: &NetAddress, result: Result<&Peer, &DialError>) {
        let mut s = self.coll.lock();
        if result.is_ok() {
            s.dials_ok += 1;
        }
        hash_event(&mut s, now, 4, self.idx, result.is_ok() as u32);
    }

    fn inbound_rejected(&self, now: Instant, _remote: SocketAddr, _reason: &InboundRejection) {
        let mut s = self.coll.lock();
        s.inbound_rejected += 1;
        hash_event(&mut s, now, 5, self.idx, 0);
    }
}

impl GossipObserver for NodeObserver {
    fn delivered(&self, now: Instant, msg: &GossipMsg, from: Option<NodeId>) {
        let mut guard = self.coll.lock();
        let s = &mut *guard;
        if from.is_none() {
            let workload = s.next_workload;
            let target = s.up.iter().filter(|u| **u).count() as u32;
            s.messages.insert(
                msg.id,
                MsgTrack {
                    workload,
                    published_at: now,
                    target,
                    seen: 0,
                    reach: [None; 4],
                },
            );
        }
        let Some(t) = s.messages.get_mut(&msg.id) else {
            return;
        };
        t.seen += 1;
        let elapsed = now - t.published_at;
        for (k, f) in REACH.iter().enumerate() {
            let need = (f * f64::from(t.target)).ceil().max(1.0) as u32;
            if t.reach[k].is_none() && t.seen >= need {
                t.reach[k] = Some(elapsed);
            }
        }
        let w = t.workload;
        *s.deliveries.entry(w).or_default() += 1;
        hash_event(s, now, 6, self.idx, msg.id.seq as u32);
    }

    fn duplicate(&self, now: Instant, msg: &GossipMsg, _from: NodeId) {
        let mut guard = self.coll.lock();
        let s = &mut *guard;
        let w = s.messages.get(&msg.id).map_or(0, |t| t.workload);
        *s.duplicates.entry(w).or_default() += 1;
        hash_event(s, now, 7, self.idx, msg.id.seq as u32);
    }

    fn dropped(&self, now: Instant, msg: &GossipMsg, _to: NodeId) {
        let mut guard = self.coll.lock();
        let s = &mut *guard;
        let w = s.messages.get(&msg.id).map_or(0, |t| t.workload);
        *s.dropped.entry(w).or_default() += 1;
        hash_event(s, now, 8, self.idx, msg.id.seq as u32);
    }
}

/// Seconds since the epoch of `now`.
fn secs(now: Instant) -> f64 {
    now.since_epoch().as_secs_f64()
}

/// Undirected edges (i < j) of per-node peer maps, each once, in order.
fn edges_of(peers: &[BTreeMap<u32, bool>]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = peers
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.keys()
                .map(move |&j| ((i as u32).min(j), (i as u32).max(j)))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Connected components of `n` nodes (only running ones count) under `edges`:
/// (number of components, size of the largest).
pub fn components(up: &[bool], edges: &[(u32, u32)]) -> (usize, usize) {
    let n = up.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for &(a, b) in edges {
        let (a, b) = (a as usize, b as usize);
        if a < n && b < n && up[a] && up[b] {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra != rb {
                parent[ra] = rb;
            }
        }
    }
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, _) in up.iter().enumerate().filter(|(_, u)| **u) {
        let r = find(&mut parent, i);
        *sizes.entry(r).or_default() += 1;
    }
    (sizes.len(), sizes.values().copied().max().unwrap_or(0))
}

/// Shortest-path statistics of a graph.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PathStats {
    /// Longest shortest path between two connected nodes (hops).
    pub diameter: u32,
    /// Mean shortest-path length over connected pairs (hops).
    pub mean_path_length: f64,
    /// Sources the BFS ran from (all nodes up to [`EXACT_PATHS_MAX`], else a seeded sample).
    pub sources: usize,
}

/// Graphs up to this many nodes get exact path statistics.
pub const EXACT_PATHS_MAX: usize = 2000;

/// Diameter and mean path length among the nodes in `mask`, by BFS from
/// every node (or from `sample` evenly spread nodes on larger graphs).
pub fn path_stats(mask: &[bool], edges: &[(u32, u32)], sample: usize) -> PathStats {
    let n = mask.len();
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        let (ua, ub) = (a as usize, b as usize);
        if ua < n && ub < n && mask[ua] && mask[ub] {
            adj[ua].push(b);
            adj[ub].push(a);
        }
    }
    let nodes: Vec<usize> = (0..n).filter(|&i| mask[i]).collect();
    let sources: Vec<usize> = if nodes.len() <= EXACT_PATHS_MAX {
        nodes.clone()
    } else {
        let step = (nodes.len() / sample.max(1)).max(1);
        nodes.iter().step_by(step).copied().collect()
    };
    let (mut diameter, mut total, mut pairs) = (0u32, 0u64, 0u64);
    let mut dist = vec![u32::MAX; n];
    let mut queue = std::collections::VecDeque::new();
    for &s in &sources {
        dist.iter_mut().for_each(|d| *d = u32::MAX);
        dist[s] = 0;
        queue.push_back(s);
        while let Some(u) = queue.pop_front() {
            for &v in &adj[u] {
                let v = v as usize;
                if dist[v] == u32::MAX {
                    dist[v] = dist[u] + 1;
                    diameter = diameter.max(dist[v]);
                    total += u64::from(dist[v]);
                    pairs += 1;
                    queue.push_back(v);
                }
            }
        }
    }
    PathStats {
        diameter,
        mean_path_length: if pairs == 0 {
            0.0
        } else {
            total as f64 / pairs as f64
        },
        sources: sources.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_stats_of_small_graphs() {
        let up = vec![true; 3];
        let line = path_stats(&up, &[(0, 1), (1, 2)], 10);
        assert_eq!(line.diameter, 2);
        assert!((line.mean_path_length - 4.0 / 3.0).abs() < 1e-12);
        assert_eq!(line.sources, 3);
        let ring = path_stats(
            &[true; 6],
            &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)],
            10,
        );
        assert_eq!(ring.diameter, 3);
        assert!((ring.mean_path_length - 1.8).abs() < 1e-12);
        let cut = path_stats(&[true, true, false], &[(0, 1), (1, 2)], 10);
        assert_eq!((cut.diameter, cut.sources), (1, 2));
    }

    #[test]
    fn components_of_small_graphs() {
        let up = vec![true; 5];
        assert_eq!(components(&up, &[(0, 1), (1, 2), (3, 4)]), (2, 3));
        assert_eq!(components(&up, &[(0, 1), (1, 2), (2, 3), (3, 4)]), (1, 5));
        let mut down = up.clone();
        down[2] = false;
        assert_eq!(components(&down, &[(0, 1), (1, 2), (2, 3), (3, 4)]), (2, 2));
        assert_eq!(components(&[], &[]), (0, 0));
    }

    #[test]
    fn percentiles() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9), Some(5.0));
    }
}
