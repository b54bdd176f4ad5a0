//! Measurements of a run: periodic samples, assertion checks at their times,
//! and the final [`Report`].

use std::collections::BTreeMap;
use std::time::Duration;

use p2p::net::{Instant, Runtime};

use p2p::config::GoDuration;
use p2p::node::Node;

use super::plan::{select, NodePlan};
use super::Ctx;
use crate::collect::{components, Collector};
use crate::report::{AddrBookStats, AssertionResult, Header, NodeFinal, Report, Sample};
use crate::scenario::{Assertion, Loaded, Role, Scenario, Selector};

/// Runs with at most this many nodes record every node's peer count per sample.
const PER_NODE_SAMPLES_MAX: usize = 200;

pub(super) fn schedule(ctx: &Ctx) {
    let c = ctx.clone();
    let interval = ctx.scenario.sample_interval.0;
    let end = ctx.scenario.duration.0;
    ctx.rt.spawn(async move {
        let mut t = Duration::ZERO;
        loop {
            c.rt.sleep_until(Instant::from_epoch(t)).await;
            let s = {
                let st = c.lock();
                let nodes: Vec<Option<&Node>> = st.slots.iter().map(|s| s.node.as_ref()).collect();
                sample(c.secs(), &c.plans, &c.collector, &nodes)
            };
            c.lock().samples.push(s);
            if t >= end {
                break;
            }
            t = (t + interval).min(end);
        }
    });
    for a in ctx.scenario.asserts.clone() {
        match a {
            Assertion::MinPeers { nodes, min, by } => {
                let c = ctx.clone();
                ctx.rt.schedule(Instant::from_epoch(by.0), move || {
                    let r = check_min_peers(&c.scenario, &c.collector, &nodes, min, by);
                    c.lock().assertions.push(r);
                });
            }
            Assertion::Connected { at } => {
                let c = ctx.clone();
                ctx.rt.schedule(Instant::from_epoch(at.0), move || {
                    let r = check_connected(&c.plans, &c.collector, at);
                    c.lock().assertions.push(r);
                });
            }
            Assertion::GossipCoverage { .. } => {}
        }
    }
}

/// The `min_peers` assertion, evaluated now (at `by`).
pub(crate) fn check_min_peers(
    s: &Scenario,
    collector: &Collector,
    nodes: &Selector,
    min: usize,
    by: GoDuration,
) -> AssertionResult {
    let degrees = collector.degrees();
    let up = collector.up();
    let chosen: Vec<usize> = select(s, nodes).into_iter().filter(|i| up[*i]).collect();
    let worst = chosen.iter().map(|&i| degrees[i].0 + degrees[i].1).min();
    let below = chosen
        .iter()
        .filter(|&&i| ((degrees[i].0 + degrees[i].1) as usize) < min)
        .count();
    AssertionResult {
        description: format!("every running node of {nodes} has ≥ {min} peers at {by}"),
        passed: worst.is_some_and(|w| w as usize >= min),
        detail: match worst {
            Some(w) => format!(
                "fewest peers: {w}; {below} of {} nodes below {min}",
                chosen.len()
            ),
            None => "no running node selected".into(),
        },
    }
}

/// The `connected` assertion, evaluated now (at `at`).
pub(crate) fn check_connected(
    plans: &[NodePlan],
    collector: &Collector,
    at: GoDuration,
) -> AssertionResult {
    let (n, largest) = components(&overlay(plans, collector), &collector.edges());
    AssertionResult {
        description: format!("the running non-seed nodes form one component at {at}"),
        passed: n == 1,
        detail: format!("{n} components, largest has {largest} nodes"),
    }
}

/// Running nodes that are part of the overlay: seeds are excluded, since they
/// disconnect everyone by design and would count as components of their own.
fn overlay(plans: &[NodePlan], collector: &Collector) -> Vec<bool> {
    let up = collector.up();
    up.iter()
        .enumerate()
        .map(|(i, u)| *u && plans.get(i).is_some_and(|p| p.role != Role::Seed))
        .collect()
}

fn channel_key(ch: u8) -> String {
    format!("0x{ch:02x}")
}

/// A sample of the network at `t` seconds; `nodes[i]` is node `i`'s running
/// stack, if any.
pub(crate) fn sample(
    t: f64,
    plans: &[NodePlan],
    collector: &Collector,
    nodes: &[Option<&Node>],
) -> Sample {
    let up = collector.up();
    let degrees = collector.degrees();
    let running: Vec<usize> = (0..up.len()).filter(|&i| up[i]).collect();
    let totals: Vec<u32> = running
        .iter()
        .map(|&i| degrees[i].0 + degrees[i].1)
        .collect();
    let n = running.len().max(1) as f64;
    let (nc, largest) = components(&overlay(plans, collector), &collector.edges());
    let mut live: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
    for node in nodes.iter().flatten() {
        for peer in node.switch.peers() {
            for ch in peer.status().channels {
                let e = live.entry(ch.id).or_default();
                e.0 += ch.messages_sent;
                e.1 += ch.bytes_sent;
            }
        }
    }
    let sent = collector.sent_totals(&live);
    let books = addrbook_sizes(&up, nodes);
    let running_books: Vec<(u32, u32)> = books.iter().flatten().copied().collect();
    Sample {
        t,
        up: running.len() as u32,
        peers_min: totals.iter().copied().min().unwrap_or(0),
        peers_mean: totals.iter().map(|&d| f64::from(d)).sum::<f64>() / n,
        peers_max: totals.iter().copied().max().unwrap_or(0),
        outbound_mean: running
            .iter()
            .map(|&i| f64::from(degrees[i].1))
            .sum::<f64>()
            / n,
        inbound_mean: running
            .iter()
            .map(|&i| f64::from(degrees[i].0))
            .sum::<f64>()
            / n,
        components: nc as u32,
        largest_component: largest as u32,
        bytes_sent: sent
            .iter()
            .map(|(ch, (_, b))| (channel_key(*ch), *b))
            .collect(),
        messages_sent: sent
            .iter()
            .map(|(ch, (m, _))| (channel_key(*ch), *m))
            .collect(),
        peers_per_node: if up.len() <= PER_NODE_SAMPLES_MAX {
            (0..up.len()).map(|i| degrees[i].0 + degrees[i].1).collect()
        } else {
            Vec::new()
        },
        addrbook: AddrBookStats::of(&running_books),
        addrbook_per_node: if up.len() <= PER_NODE_SAMPLES_MAX {
            books.iter().map(|b| b.map_or(0, |(n, o)| n + o)).collect()
        } else {
            Vec::new()
        },
    }
}

/// `(new, old)` address-book bucket sizes of each running node with PEX
/// (`None` for the others), read through the reactor's accessor: the
/// simulator polls state it owns; the protocol computes nothing.
fn addrbook_sizes(up: &[bool], nodes: &[Option<&Node>]) -> Vec<Option<(u32, u32)>> {
    (0..up.len())
        .map(|i| {
            if !up[i] {
                return None;
            }
            let pex = nodes.get(i).copied().flatten()?.pex.as_ref()?;
            Some(pex.with_book(|b| (b.n_new() as u32, b.n_old() as u32)))
        })
        .collect()
}

pub(super) fn report(ctx: &Ctx, loaded: &Loaded) -> Report {
    let assertions = std::mem::take(&mut ctx.lock().assertions);
    let net_hash = ctx.world.event_hash();
    let st = ctx.lock();
    let nodes: Vec<Option<&Node>> = st.slots.iter().map(|s| s.node.as_ref()).collect();
    let mut report = build_report(&RunRecord {
        engine: "event",
        loaded,
        seed: ctx.seed,
        plans: &ctx.plans,
        collector: &ctx.collector,
        nodes: &nodes,
        samples: &st.samples,
        timeline: &st.timeline,
        assertions,
        net_hash: &net_hash,
    });
    if let Some(w) = &ctx.watch {
        report.adversary = Some(w.report(ctx.rt.now()));
    }
    report
}

/// What an engine hands over to build its [`Report`].
pub(crate) struct RunRecord<'a> {
    /// `header.engine`.
    pub(crate) engine: &'a str,
    pub(crate) loaded: &'a Loaded,
    pub(crate) seed: u64,
    pub(crate) plans: &'a [NodePlan],
    pub(crate) collector: &'a Collector,
    /// Each node's running stack, if any.
    pub(crate) nodes: &'a [Option<&'a Node>],
    pub(crate) samples: &'a [Sample],
    pub(crate) timeline: &'a [(f64, String)],
    /// Assertions checked during the run (gossip coverage is added here).
    pub(crate) assertions: Vec<AssertionResult>,
    /// The engine's own event hash, folded into the report's with the collector's.
    pub(crate) net_hash: &'a str,
}

/// The report of a finished run.
pub(crate) fn build_report(r: &RunRecord<'_>) -> Report {
    let loaded = r.loaded;
    let s = &loaded.scenario;
    let degrees = r.collector.degrees();
    let up = r.collector.up();
    let mut assertions = r.assertions.clone();
    for a in &s.asserts {
        if let Assertion::GossipCoverage {
            gossip,
            fraction,
            within,
        } = a
        {
            let w = s.gossip.iter().position(|g| &g.name == gossip).unwrap_or(0);
            let median = r.collector.median_reach(w, *fraction);
            assertions.push(AssertionResult {
                description: format!(
                    "gossip {gossip:?} reaches {:.0}% of nodes within {within}",
                    fraction * 100.0
                ),
                passed: median.is_some_and(|m| m <= within.0),
                detail: match median {
                    Some(m) => format!("median time {:.1} ms", m.as_secs_f64() * 1000.0),
                    None => "fewer than half of the messages got there".into(),
                },
            });
        }
    }
    let nodes: Vec<NodeFinal> = r
        .plans
        .iter()
        .map(|p| {
            let node = r.nodes.get(p.index).copied().flatten();
            let (mut sent, mut received) = r.collector.node_retired(p.index as u32);
            if let Some(node) = node {
                for peer in node.switch.peers() {
                    let st = peer.status();
                    sent += st.send.bytes;
                    received += st.recv.bytes;
                }
            }
            NodeFinal {
                bytes_sent: sent,
                bytes_received: received,
                index: p.index as u32,
                id: p.key.node_id().to_string(),
                group: s.groups[p.group].name.clone(),
                zone: loaded
                    .latency
                    .zones()
                    .get(p.zone)
                    .cloned()
                    .unwrap_or_default(),
                role: format!("{:?}", p.role).to_lowercase(),
                up: up.get(p.index).copied().unwrap_or(false),
                inbound: degrees.get(p.index).map_or(0, |d| d.0),
                outbound: degrees.get(p.index).map_or(0, |d| d.1),
                addrbook: node
                    .and_then(|n| n.pex.as_ref())
                    .map_or(0, |x| x.with_book(|b| b.size())),
            }
        })
        .collect();
    let mut degree_histogram = BTreeMap::new();
    for n in nodes.iter().filter(|n| n.up) {
        *degree_histogram.entry(n.inbound + n.outbound).or_insert(0) += 1;
    }
    let gossip = s
        .gossip
        .iter()
        .enumerate()
        .map(|(w, g)| (g.name.clone(), r.collector.gossip_summary(w)))
        .collect();
    let event_hash = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(r.net_hash.as_bytes());
        h.update(r.collector.hash().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    };
    Report {
        schema_version: crate::report::SCHEMA_VERSION,
        header: Header {
            scenario: loaded.name.clone(),
            scenario_id: loaded.id.clone(),
            seed: r.seed,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            engine: r.engine.into(),
            duration_s: s.duration.0.as_secs_f64(),
            nodes: r.plans.len(),
            wall_time_s: 0.0,
            reproduce: String::new(),
        },
        event_hash,
        samples: r.samples.to_vec(),
        nodes,
        degree_histogram,
        paths: crate::collect::path_stats(
            &overlay(r.plans, r.collector),
            &r.collector.edges(),
            200,
        ),
        edges: r.collector.edges(),
        totals: r.collector.totals(),
        gossip,
        timeline: r.timeline.to_vec(),
        assertions,
        reconvergence: r.collector.reconvergence(),
        adversary: None,
    }
}
