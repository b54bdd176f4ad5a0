//! Adversarial nodes in the event engine (`adversary = ...` on a group) and
//! the measurements about them.
//!
//! - `adversary/silent.rs`: `silent`, handshakes then silence.
//! - `adversary/reactors.rs`: the reactors of `flooder`, `pex_abuser` and
//!   `sybil` nodes, which otherwise run the honest stack.
//! - `adversary/watch.rs`: the honest side's view (observer tee, samples,
//!   the report's `adversary` section).

pub(crate) mod reactors;
pub(crate) mod silent;
pub(crate) mod watch;

use std::net::IpAddr;
use std::sync::Arc;

use p2p::net::{Instant, Runtime};
use p2p::netaddr::NetAddress;
use p2p::node::StartExtras;
use p2p::node::{Node, NodeOptions};
use p2p::node_info::{NodeInfo, PEX_CHANNEL};
use p2p::switch::Reactor;
use p2p::NodeId;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::plan::{derive, select, NodePlan, P2P_PORT};
use super::Ctx;
use crate::scenario::{Adversary, Scenario, Selector};
use reactors::{FloodReactor, PexAttack, PexMode};
use watch::Watch;

/// Bogus addresses (unused IPs of the adversary's own /16) in every list a
/// `pex_abuser` or `sybil` hands out, after the real attacker addresses.
pub const BOGUS_ADDRS: usize = 100;

/// The tracker of a run, if it has adversaries or a `watch` selector.
pub(crate) fn watch_for(s: &Scenario, plans: &[NodePlan]) -> Option<Watch> {
    let kinds: Vec<Adversary> = plans.iter().map(|p| p.adversary).collect();
    if s.watch.is_none() && kinds.iter().all(|k| *k == Adversary::None) {
        return None;
    }
    let watched: Vec<u32> = watched(s)
        .into_iter()
        .filter(|i| kinds.get(*i) == Some(&Adversary::None))
        .map(|i| i as u32)
        .collect();
    let ids: Vec<NodeId> = plans.iter().map(|p| p.key.node_id()).collect();
    let ips: Vec<IpAddr> = plans.iter().map(|p| p.ip).collect();
    let strict = plans.iter().map(|p| p.p2p.addr_book_strict).collect();
    let recv_rate = plans.iter().map(|p| p.p2p.recv_rate).collect();
    Some(Watch::new(&ids, kinds, &ips, (strict, recv_rate), watched))
}

/// The watched nodes: `watch`, or else the `persistent_peers` of Sybils.
fn watched(s: &Scenario) -> Vec<usize> {
    if let Some(sel) = &s.watch {
        return select(s, sel);
    }
    let mut out = std::collections::BTreeSet::new();
    for g in s.groups.iter().filter(|g| g.adversary == Adversary::Sybil) {
        for name in &g.persistent_peers {
            let sel = Selector::Group {
                group: name.clone(),
                range: None,
            };
            out.extend(select(s, &sel));
        }
    }
    out.into_iter().collect()
}

/// Samples the tracker every `sample_interval` (after the generic sample).
pub(super) fn schedule(ctx: &Ctx) {
    let Some(watch) = ctx.watch.clone() else {
        return;
    };
    let c = ctx.clone();
    let interval = ctx.scenario.sample_interval.0;
    let end = ctx.scenario.duration.0;
    ctx.rt.spawn(async move {
        let mut t = std::time::Duration::ZERO;
        loop {
            c.rt.sleep_until(Instant::from_epoch(t)).await;
            {
                let st = c.lock();
                let nodes: Vec<Option<&Node>> = st.slots.iter().map(|s| s.node.as_ref()).collect();
                watch.sample(c.secs(), &nodes);
            }
            if t >= end {
                break;
            }
            t = (t + interval).min(end);
        }
    });
}

/// The addresses an adversary of `plan` hands out: every node of the
/// scenario with the same kind, then [`BOGUS_ADDRS`] unused addresses of
/// its own /16 with random IDs.
fn attacker_addrs(plans: &[NodePlan], plan: &NodePlan, seed: u64) -> Vec<NetAddress> {
    let mut out: Vec<NetAddress> = plans
        .iter()
        .filter(|p| p.adversary == plan.adversary && p.index != plan.index)
        .map(NodePlan::address)
        .collect();
    out.truncate(150);
    let want = out.len() + BOGUS_ADDRS;
    let used: std::collections::BTreeSet<IpAddr> = plans.iter().map(|p| p.ip).collect();
    let mut rng = ChaCha20Rng::from_seed(derive(seed, "adversary-bogus", plan.index as u64));
    let IpAddr::V4(v4) = plan.ip else {
        return out;
    };
    let [a, b, _, _] = v4.octets();
    let mut tries = 0;
    while out.len() < want && tries < 10 * BOGUS_ADDRS {
        tries += 1;
        let r = rng.next_u32();
        let ip = IpAddr::V4(std::net::Ipv4Addr::new(
            a,
            b,
            (r >> 8) as u8,
            (r as u8).max(1),
        ));
        if used.contains(&ip) {
            continue;
        }
        let mut id = [0u8; 20];
        rng.fill_bytes(&mut id);
        out.push(NetAddress::new(NodeId::from_bytes(id), ip, P2P_PORT));
    }
    out
}

/// Starts adversary `plan` with `opts` (built like an honest node's);
/// hands `opts` back untouched for an honest plan.
pub(super) fn start(
    ctx: &Ctx,
    plan: &NodePlan,
    mut opts: NodeOptions,
    net: crate::net::SimNetwork,
) -> Option<NodeOptions> {
    let idx = plan.index;
    let rt = ctx.rt.with_group(idx as u32 + 1);
    let extra: Vec<(String, Arc<dyn Reactor>)> = match plan.adversary {
        Adversary::None => return Some(opts),
        Adversary::Silent => {
            let mut channels = vec![PEX_CHANNEL];
            channels.extend(ctx.gossip_channel);
            let info = NodeInfo::builder(
                plan.key.node_id(),
                ctx.scenario.network.clone(),
                opts.moniker.clone(),
            )
            .listen_addr(format!("tcp://{}", opts.listen))
            .channels(channels)
            .build();
            let lists = format!("{},{}", opts.p2p.persistent_peers, opts.p2p.seeds);
            let targets = lists
                .split(',')
                .map(str::trim)
                .filter_map(|a| a.parse::<NetAddress>().ok())
                .collect();
            silent::spawn(
                silent::Silent {
                    key: plan.key.clone(),
                    info,
                    listen: opts.listen,
                    targets,
                    rng_seed: opts.rng_seed,
                    upgrade: p2p::transport::UpgradeConfig {
                        crypto: ctx.scenario.crypto.to_p2p(),
                        ..Default::default()
                    },
                },
                net,
                rt,
            );
            return None;
        }
        Adversary::Flooder => {
            let ch = ctx
                .gossip_channel
                .unwrap_or(crate::scenario::DEFAULT_GOSSIP_CHANNEL);
            let size = ctx.scenario.gossip.first().map_or(1024, |g| g.size);
            opts.gossip_channel = None;
            let r: Arc<dyn Reactor> = Arc::new(FloodReactor::new(plan.key.node_id(), ch, size));
            vec![("FLOOD".to_owned(), r)]
        }
        Adversary::PexAbuser | Adversary::Sybil => {
            let mode = match plan.adversary {
                Adversary::Sybil => PexMode::AnswerOnly,
                _ if plan.member % 2 == 0 => PexMode::RequestFlood,
                _ => PexMode::Unsolicited,
            };
            opts.p2p.pex = false;
            let addrs = attacker_addrs(&ctx.plans, plan, ctx.seed);
            let r: Arc<dyn Reactor> = Arc::new(PexAttack::new(mode, addrs));
            vec![("PEX".to_owned(), r)]
        }
    };
    let c = ctx.clone();
    let rt2 = rt.clone();
    let crypto = ctx.scenario.crypto.to_p2p();
    rt.spawn(async move {
        match p2p::node::start_with(
            opts,
            StartExtras {
                crypto,
                reactors: extra,
            },
            net,
            rt2,
        )
        .await
        {
            Ok(node) => {
                let mut st = c.lock();
                if st.slots[idx].up {
                    st.slots[idx].node = Some(node);
                }
            }
            Err(e) => {
                let msg = format!("node {idx} failed to start: {e}");
                c.lock().errors.push(msg);
            }
        }
    });
    None
}
