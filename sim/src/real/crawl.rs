//! The network map behind `cometnet crawl`: a switch [`Observer`] (who we
//! connected to, with their NodeInfo; which dials failed) and a
//! [`PexObserver`] (which address lists each peer sent us), turned into
//! `crawl.json`:
//!
//! ```text
//! { "network": "<chain ID>", "started_at": "<RFC 3339 UTC>", "duration_s": 60.0,
//!   "crawler_id": "<our ephemeral ID>", "seeds": ["id@host:port", ..],
//!   "nodes": [ { "id": "<hex>", "addresses": ["ip:port", ..], "first_seen_s": 1.2,
//!                "reachable": true, "last_error": null,
//!                "node_info": { "moniker", "version", "network", "channels": "<HEX>",
//!                               "listen_addr", "protocol_version": {"p2p","block","app"},
//!                               "tx_index", "rpc_address" } | null } ],
//!   "edges": [ ["<from id>", "<to id>"], .. ] }
//! ```
//!
//! An edge `[A, B]` means A sent us an address of B. `addresses` are every
//! `ip:port` we dialed or were told for the node; `reachable` is true once we
//! completed a handshake with it; `first_seen_s` counts from the crawl start.
//! Nodes and edges are sorted by ID. The crawler itself never appears.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use p2p::net::Instant;
use p2p::netaddr::NetAddress;
use p2p::node_info::NodeInfo;
use p2p::observe::Observer;
use p2p::pex::reactor::PexObserver;
use p2p::switch::{DialError, Peer};
use p2p::NodeId;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

/// What the crawl driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrawlEvent {
    /// Addresses of nodes we had no address for before.
    Learned(Vec<NetAddress>),
    /// This peer answered our address request (we may disconnect from it).
    Answered(NodeId),
}

/// NodeInfo as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfoJson {
    /// Human-readable name.
    pub moniker: String,
    /// Software version.
    pub version: String,
    /// Chain ID.
    pub network: String,
    /// Channel IDs, upper-case hex (as CometBFT's `/net_info`).
    pub channels: String,
    /// Self-reported listen address.
    pub listen_addr: String,
    /// Protocol versions.
    pub protocol_version: ProtocolVersionJson,
    /// `other.tx_index`.
    pub tx_index: String,
    /// `other.rpc_address`.
    pub rpc_address: String,
}

/// Protocol versions of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolVersionJson {
    /// P2P protocol.
    pub p2p: u64,
    /// Block protocol.
    pub block: u64,
    /// Application.
    pub app: u64,
}

impl From<&NodeInfo> for NodeInfoJson {
    fn from(i: &NodeInfo) -> Self {
        NodeInfoJson {
            moniker: i.moniker.clone(),
            version: i.version.clone(),
            network: i.network.clone(),
            channels: hex_upper(&i.channels),
            listen_addr: i.listen_addr.clone(),
            protocol_version: ProtocolVersionJson {
                p2p: i.protocol_version.p2p,
                block: i.protocol_version.block,
                app: i.protocol_version.app,
            },
            tx_index: i.other.tx_index.clone(),
            rpc_address: i.other.rpc_address.clone(),
        }
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// One node of the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrawlNode {
    /// Node ID.
    pub id: String,
    /// `ip:port` addresses dialed or heard of.
    pub addresses: Vec<String>,
    /// Its NodeInfo, if we connected.
    pub node_info: Option<NodeInfoJson>,
    /// Seconds after the start when we first heard of it.
    pub first_seen_s: f64,
    /// We completed a handshake with it.
    pub reachable: bool,
    /// The last dial error, if it never became reachable.
    pub last_error: Option<String>,
}

/// `crawl.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrawlReport {
    /// Chain ID crawled.
    pub network: String,
    /// Start (RFC 3339, UTC).
    pub started_at: String,
    /// Length of the crawl.
    pub duration_s: f64,
    /// The crawler's (ephemeral) node ID.
    pub crawler_id: String,
    /// The seeds given.
    pub seeds: Vec<String>,
    /// Every node heard of, by ID.
    pub nodes: Vec<CrawlNode>,
    /// `[from, to]`: `from` told us about `to`.
    pub edges: Vec<[String; 2]>,
}

#[derive(Default)]
struct Rec {
    addresses: BTreeSet<String>,
    node_info: Option<NodeInfoJson>,
    first_seen: Option<Instant>,
    reachable: bool,
    last_error: Option<String>,
}

#[derive(Default)]
struct State {
    nodes: BTreeMap<NodeId, Rec>,
    edges: BTreeSet<(NodeId, NodeId)>,
}

/// Records a crawl (see the module documentation).
pub struct CrawlRecorder {
    me: NodeId,
    started: Instant,
    state: Mutex<State>,
    events: Option<UnboundedSender<CrawlEvent>>,
}

impl CrawlRecorder {
    /// A recorder for crawler `me`, started at `started` (runtime clock);
    /// driver events go to `events`.
    pub fn new(me: NodeId, started: Instant, events: Option<UnboundedSender<CrawlEvent>>) -> Self {
        CrawlRecorder {
            me,
            started,
            state: Mutex::new(State::default()),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, ev: CrawlEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(ev);
        }
    }

    /// Notes `addr` (e.g. a seed we are about to dial) at `now`.
    pub fn note_address(&self, now: Instant, addr: &NetAddress) -> bool {
        if addr.id() == self.me {
            return false;
        }
        let mut st = self.lock();
        let rec = st.nodes.entry(addr.id()).or_default();
        rec.first_seen.get_or_insert(now);
        let new_node = rec.addresses.is_empty();
        rec.addresses.insert(addr.socket_addr().to_string());
        new_node
    }

    /// Node IDs known so far, and how many completed a handshake.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        let reachable = st.nodes.values().filter(|r| r.reachable).count();
        (st.nodes.len(), reachable)
    }

    /// The report at `now`.
    pub fn report(&self, now: Instant, header: CrawlReport) -> CrawlReport {
        let st = self.lock();
        let secs = |t: Option<Instant>| {
            t.map_or(0.0, |t| {
                t.saturating_duration_since(self.started).as_secs_f64()
            })
        };
        let nodes = st
            .nodes
            .iter()
            .map(|(id, r)| CrawlNode {
                id: id.to_string(),
                addresses: r.addresses.iter().cloned().collect(),
                node_info: r.node_info.clone(),
                first_seen_s: secs(r.first_seen),
                reachable: r.reachable,
                last_error: if r.reachable {
                    None
                } else {
                    r.last_error.clone()
                },
            })
            .collect();
        let edges = st
            .edges
            .iter()
            .map(|(a, b)| [a.to_string(), b.to_string()])
            .collect();
        CrawlReport {
            duration_s: now.saturating_duration_since(self.started).as_secs_f64(),
            nodes,
            edges,
            ..header
        }
    }

    /// Handles an address list from `from` received at `now`.
    pub fn addrs_at(&self, now: Instant, from: NodeId, addrs: &[NetAddress]) {
        let mut learned = Vec::new();
        {
            let mut st = self.lock();
            for a in addrs {
                if a.id() == self.me {
                    continue;
                }
                if a.id() != from {
                    st.edges.insert((from, a.id()));
                }
                let rec = st.nodes.entry(a.id()).or_default();
                rec.first_seen.get_or_insert(now);
                if rec.addresses.insert(a.socket_addr().to_string()) {
                    learned.push(*a);
                }
            }
        }
        if !learned.is_empty() {
            self.send(CrawlEvent::Learned(learned));
        }
        self.send(CrawlEvent::Answered(from));
    }
}

impl Observer for CrawlRecorder {
    fn peer_added(&self, now: Instant, peer: &Peer) {
        if peer.id() == self.me {
            return;
        }
        let mut st = self.lock();
        let rec = st.nodes.entry(peer.id()).or_default();
        rec.first_seen.get_or_insert(now);
        rec.reachable = true;
        rec.node_info = Some(NodeInfoJson::from(peer.node_info()));
        if peer.is_outbound() {
            rec.addresses
                .insert(peer.socket_addr().socket_addr().to_string());
        }
    }

    fn dial_finished(&self, now: Instant, addr: &NetAddress, result: Result<&Peer, &DialError>) {
        if let Err(e) = result {
            if addr.id() == self.me {
                return;
            }
            let mut st = self.lock();
            let rec = st.nodes.entry(addr.id()).or_default();
            rec.first_seen.get_or_insert(now);
            rec.last_error = Some(e.to_string());
        }
    }
}

impl PexObserver for CrawlRecorder {
    fn addrs_received(&self, now: Instant, from: NodeId, addrs: &[NetAddress]) {
        self.addrs_at(now, from, addrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(b: u8, port: u16) -> NetAddress {
        NetAddress::new(NodeId::from_bytes([b; 20]), [127, 0, 0, b].into(), port)
    }

    fn header() -> CrawlReport {
        CrawlReport {
            network: "n".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_s: 0.0,
            crawler_id: NodeId::from_bytes([9; 20]).to_string(),
            seeds: vec![],
            nodes: vec![],
            edges: vec![],
        }
    }

    #[test]
    fn edges_nodes_and_events() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let me = NodeId::from_bytes([9; 20]);
        let t0 = Instant::ZERO + Duration::from_secs(10);
        let r = CrawlRecorder::new(me, t0, Some(tx));
        assert!(r.note_address(t0, &addr(1, 5)));
        let t1 = t0 + Duration::from_millis(1500);
        // Node 1 tells us about 2, 3, itself and us.
        let me_addr = NetAddress::new(me, [127, 0, 0, 9].into(), 1);
        r.addrs_received(
            t1,
            addr(1, 5).id(),
            &[addr(2, 5), addr(3, 5), addr(1, 5), me_addr],
        );
        assert_eq!(
            rx.try_recv().unwrap(),
            CrawlEvent::Learned(vec![addr(2, 5), addr(3, 5)])
        );
        assert_eq!(
            rx.try_recv().unwrap(),
            CrawlEvent::Answered(addr(1, 5).id())
        );
        // Node 2 repeats 3 under a second address: only that address is new.
        r.addrs_received(t1, addr(2, 5).id(), &[addr(3, 5), addr(3, 6)]);
        assert_eq!(
            rx.try_recv().unwrap(),
            CrawlEvent::Learned(vec![addr(3, 6)])
        );
        assert_eq!(r.counts(), (3, 0));
        let rep = r.report(t0 + Duration::from_secs(60), header());
        assert_eq!(rep.duration_s, 60.0);
        let ids: Vec<_> = rep.nodes.iter().map(|n| n.id.clone()).collect();
        assert_eq!(
            ids,
            vec![
                addr(1, 5).id().to_string(),
                addr(2, 5).id().to_string(),
                addr(3, 5).id().to_string()
            ]
        );
        assert_eq!(rep.nodes[0].first_seen_s, 0.0);
        assert_eq!(rep.nodes[1].first_seen_s, 1.5);
        assert_eq!(rep.nodes[2].addresses, vec!["127.0.0.3:5", "127.0.0.3:6"]);
        assert!(!rep.nodes[0].reachable && rep.nodes[0].node_info.is_none());
        let e = |a: u8, b: u8| [addr(a, 5).id().to_string(), addr(b, 5).id().to_string()];
        assert_eq!(rep.edges, vec![e(1, 2), e(1, 3), e(2, 3)]);
        let json = serde_json::to_string(&rep).unwrap();
        let back: CrawlReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rep);
    }

    #[test]
    fn channels_are_upper_hex() {
        assert_eq!(hex_upper(&[0x40, 0x20, 0x00, 0x70]), "40200070");
    }
}
