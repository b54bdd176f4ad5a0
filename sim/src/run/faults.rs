//! Scenario events as timed callbacks: partitions, crashes, restarts, pauses,
//! bandwidth changes, churn, and the gossip publishers.

use std::time::Duration;

use p2p::net::{Instant, Runtime};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use p2p::node::Node;

use super::plan::{derive, select};
use super::Ctx;
use crate::collect::Collector;
use crate::scenario::{Event, Scenario, Selector};

fn at(d: Duration) -> Instant {
    Instant::from_epoch(d)
}

/// Schedules every `[[event]]` and `[[gossip]]` of the scenario.
pub(super) fn schedule(ctx: &Ctx) {
    for (i, e) in ctx.scenario.events.iter().enumerate() {
        match e.clone() {
            Event::Churn {
                at: from,
                until,
                rate,
                nodes,
                downtime,
            } => churn(ctx, i, from.0, until.0, rate, &nodes, downtime.0),
            ev => {
                let c = ctx.clone();
                ctx.rt.schedule(at(ev.at().0), move || apply(&c, &ev));
            }
        }
    }
    gossip(ctx);
}

fn nodes(ctx: &Ctx, sel: &Selector) -> Vec<usize> {
    select(&ctx.scenario, sel)
}

/// Kills node `idx`'s process: tasks dropped, connections reset.
pub(super) fn crash(ctx: &Ctx, idx: usize) {
    {
        let mut st = ctx.lock();
        let slot = &mut st.slots[idx];
        if !slot.up {
            return;
        }
        slot.up = false;
        slot.paused = false;
        slot.node = None;
    }
    let g = idx as u32 + 1;
    ctx.rt.resume_group(g);
    ctx.rt.kill_group(g);
    ctx.world.crash(ctx.plans[idx].ip);
    ctx.collector.set_up(idx as u32, false);
    ctx.collector.poll_reconvergence(ctx.rt.now());
}

/// Notes `what` in the timeline and starts measuring the overlay's reconvergence after it.
fn note_and_watch(ctx: &Ctx, what: String) {
    ctx.collector
        .watch_reconvergence(ctx.rt.now(), what.clone());
    ctx.note(what);
}

fn apply(ctx: &Ctx, ev: &Event) {
    match ev {
        Event::Partition { sides, one_way, .. } => {
            let n = sides.len() as u32;
            for (k, side) in sides.iter().enumerate() {
                for sel in side {
                    for idx in nodes(ctx, sel) {
                        ctx.world.set_group(ctx.plans[idx].ip, k as u32 + 1);
                    }
                }
            }
            // Group 0 holds the nodes in no side: one more side, last.
            let order: Vec<u32> = (1..=n).chain(std::iter::once(0)).collect();
            for (i, &a) in order.iter().enumerate() {
                for (j, &b) in order.iter().enumerate() {
                    if i < j || (i > j && !one_way) {
                        ctx.world.block(a, b);
                    }
                }
            }
            let desc: Vec<String> = sides
                .iter()
                .map(|s| {
                    s.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("+")
                })
                .collect();
            ctx.note(format!(
                "partition {}{}",
                desc.join(" | "),
                if *one_way { " (one-way)" } else { "" }
            ));
        }
        Event::Heal { .. } => {
            for p in ctx.plans.iter() {
                ctx.world.set_group(p.ip, 0);
            }
            ctx.world.heal();
            note_and_watch(ctx, "heal".into());
        }
        Event::Crash { nodes: sel, .. } => {
            for idx in nodes(ctx, sel) {
                crash(ctx, idx);
            }
            ctx.note(format!("crash {sel}"));
        }
        Event::Restart { nodes: sel, .. } => {
            for idx in nodes(ctx, sel) {
                ctx.start_node(idx);
            }
            note_and_watch(ctx, format!("restart {sel}"));
        }
        Event::Pause { nodes: sel, .. } => {
            for idx in nodes(ctx, sel) {
                let mut st = ctx.lock();
                if st.slots[idx].up && !st.slots[idx].paused {
                    st.slots[idx].paused = true;
                    ctx.rt.pause_group(idx as u32 + 1);
                }
            }
            ctx.note(format!("pause {sel}"));
        }
        Event::Resume { nodes: sel, .. } => {
            for idx in nodes(ctx, sel) {
                let mut st = ctx.lock();
                if st.slots[idx].paused {
                    st.slots[idx].paused = false;
                    ctx.rt.resume_group(idx as u32 + 1);
                }
            }
            note_and_watch(ctx, format!("resume {sel}"));
        }
        Event::Bandwidth {
            nodes: sel,
            uplink,
            downlink,
            ..
        } => {
            for idx in nodes(ctx, sel) {
                ctx.world.set_bandwidth(
                    ctx.plans[idx].ip,
                    uplink.map(|b| b.0),
                    downlink.map(|b| b.0),
                );
            }
            let show = |b: &Option<crate::scenario::Bandwidth>| {
                b.map_or("unlimited".to_owned(), |b| b.to_string())
            };
            ctx.note(format!(
                "bandwidth {sel}: up {} down {}",
                show(uplink),
                show(downlink)
            ));
        }
        Event::Churn { .. } => {}
    }
}

/// Poisson crashes at `rate`/s among `sel` in [from, until), each restarted
/// after `downtime`. Drawn up front from the seed tree.
fn churn(
    ctx: &Ctx,
    i: usize,
    from: Duration,
    until: Duration,
    rate: f64,
    sel: &Selector,
    downtime: Duration,
) {
    let mut rng = ChaCha20Rng::from_seed(derive(ctx.seed, "churn", i as u64));
    let candidates = nodes(ctx, sel);
    if candidates.is_empty() {
        return;
    }
    let c = ctx.clone();
    ctx.rt.schedule(at(until), move || {
        c.collector
            .watch_reconvergence(c.rt.now(), "churn end".into())
    });
    let mut t = from.as_secs_f64();
    loop {
        let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        t += -u.ln() / rate;
        if t >= until.as_secs_f64() {
            break;
        }
        let idx = candidates[(rng.next_u64() % candidates.len() as u64) as usize];
        let when = Duration::from_secs_f64(t);
        let c = ctx.clone();
        ctx.rt.schedule(at(when), move || {
            if c.lock().slots[idx].up {
                crash(&c, idx);
                c.note(format!("churn: crash node {idx}"));
                let c2 = c.clone();
                c.rt.schedule(at(when + downtime), move || {
                    c2.start_node(idx);
                    c2.note(format!("churn: restart node {idx}"));
                });
            }
        });
    }
}

/// One gossip origin: node `node` publishes `size`-byte messages of workload
/// `workload` at `first`, `first + interval`, ... while the time is ≤ `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Publisher {
    pub(crate) workload: usize,
    pub(crate) node: usize,
    pub(crate) first: Duration,
    pub(crate) interval: Duration,
    pub(crate) stop: Duration,
    pub(crate) size: usize,
}

/// Every (workload, origin node) of the scenario, each with a random phase
/// drawn from the seed tree; the same list for every engine.
pub(crate) fn publishers(s: &Scenario, seed: u64) -> Vec<Publisher> {
    let end = s.duration.0;
    let mut out = Vec::new();
    for (w, g) in s.gossip.iter().enumerate() {
        let interval = Duration::from_secs_f64(1.0 / g.rate);
        let stop = g.stop.map_or(end, |s| s.0.min(end));
        let mut rng = ChaCha20Rng::from_seed(derive(seed, "gossip-phase", w as u64));
        for node in select(s, &g.from) {
            let phase = Duration::from_secs_f64(
                interval.as_secs_f64() * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64),
            );
            out.push(Publisher {
                workload: w,
                node,
                first: g.start.0 + phase,
                interval,
                stop,
                size: g.size,
            });
        }
    }
    out
}

/// Publishes one message of `p` on `node` (tagged with its workload first).
pub(crate) fn publish(collector: &Collector, node: &Node, p: &Publisher) {
    if let Some(r) = &node.gossip {
        collector.next_publish_workload(p.workload);
        r.publish(p.size);
    }
}

/// One publisher task per (workload, origin node).
fn gossip(ctx: &Ctx) {
    for p in publishers(&ctx.scenario, ctx.seed) {
        let c = ctx.clone();
        ctx.rt.spawn(async move {
            let mut next = p.first;
            while next <= p.stop {
                c.rt.sleep_until(at(next)).await;
                let node = {
                    let st = c.lock();
                    let slot = &st.slots[p.node];
                    if slot.paused {
                        None
                    } else {
                        slot.node.clone()
                    }
                };
                if let Some(node) = node {
                    publish(&c.collector, &node, &p);
                }
                next += p.interval;
            }
        });
    }
}
