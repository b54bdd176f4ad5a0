//! The turmoil engine: the same stack and the same scenario file on
//! [turmoil](https://docs.rs/turmoil), for small runs. It is a cross-check of
//! the event engine's results and the baseline its speed is measured against
//! (`cometnet bench sim`); it is not a scale engine (design.md section 4:
//! turmoil steps every host and scans its N × N link table every tick).
//!
//! Each scenario node is a turmoil host with the node's own IP
//! ([`crate::run::plan::node_ip`]) running [`p2p::node::start`] with the same
//! [`p2p::node::NodeOptions`] as on the event engine, over the adapters of
//! [`net`]. Gossip publishers run as tasks on their origin host; samples and
//! assertions are taken between steps, at their scheduled times.
//!
//! Modelled: groups, roles, seeds and persistent peers, `start_at`, `[p2p]`
//! overrides, zones and latency, gossip workloads, samples, and the
//! `min_peers`, `connected` and `gossip_coverage` assertions.
//!
//! Approximated (documented in `scenarios/README.md`):
//! - Time advances in fixed ticks ([`TurmoilOptions::tick`], 10 ms by
//!   default); a message is delivered at the first tick boundary after its
//!   latency, so every hop costs at least one tick.
//! - A dial completes after one one-way delay: turmoil answers a SYN
//!   without a return trip (a real TCP connect takes a round trip).
//! - Turmoil has one latency per host pair, used in both directions: the mean
//!   of the matrix's two directions.
//! - Jitter: turmoil draws `min + (max - min) × Exp(λ = 5)` (capped at max)
//!   per segment, in whole milliseconds. With `min = d(1 - j)` and
//!   `max = min + 5jd` (`d` the delay, `j` the scenario's `jitter`) the mean
//!   is `d` and the standard deviation `jd`, as on the event engine, but the
//!   distribution is skewed, not normal.
//! - The event hash covers the observed stack events only and differs from
//!   the event engine's: compare the two engines' statistics, not hashes.
//!
//! Refused with [`RunError::Unsupported`]: `[[event]]`s, `uplink`/`downlink`
//! (no bandwidth model), `reachable = false` (no NAT), and adversaries.

pub mod net;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use p2p::net::{Instant, Runtime};
use p2p::node::Node;
use p2p::node::StartExtras;

use crate::collect::Collector;
use crate::report::{AssertionResult, Report, Sample};
use crate::run::faults::{publish, publishers, Publisher};
use crate::run::measure::{build_report, check_connected, check_min_peers, sample, RunRecord};
use crate::run::plan::{self, derive, NodePlan};
use crate::run::{check_common, node_options, MemDisk, Progress, RunError, SIM_EPOCH};
use crate::scenario::{Assertion, Event, Loaded, Scenario};
use net::{TurmoilNetwork, TurmoilRuntime};

/// The default tick: the step in which turmoil advances every host and link.
pub const DEFAULT_TICK: Duration = Duration::from_millis(10);

/// Options of one turmoil run.
#[derive(Debug, Clone)]
pub struct TurmoilOptions {
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Turmoil's tick (latency resolution; the wall cost grows as 1/tick).
    pub tick: Duration,
}

impl Default for TurmoilOptions {
    fn default() -> Self {
        TurmoilOptions {
            seed: None,
            tick: DEFAULT_TICK,
        }
    }
}

/// Refuses what turmoil cannot model, naming the field; returns the gossip channel.
pub fn check_supported(s: &Scenario) -> Result<Option<u8>, RunError> {
    if let Some(e) = s.events.first() {
        let action = match e {
            Event::Partition { .. } => "partition",
            Event::Heal { .. } => "heal",
            Event::Crash { .. } => "crash",
            Event::Restart { .. } => "restart",
            Event::Pause { .. } => "pause",
            Event::Resume { .. } => "resume",
            Event::Bandwidth { .. } => "bandwidth",
            Event::Churn { .. } => "churn",
        };
        return Err(RunError::Unsupported(format!(
            "event[0] (action {action:?}): the turmoil engine does not run [[event]]s \
             (partitions, crashes, restarts, pauses, bandwidth changes, churn); use --engine event"
        )));
    }
    for (i, g) in s.groups.iter().enumerate() {
        let field = if g.uplink.is_some() {
            Some("uplink")
        } else if g.downlink.is_some() {
            Some("downlink")
        } else {
            None
        };
        if let Some(f) = field {
            return Err(RunError::Unsupported(format!(
                "group[{i}].{f} (group {:?}): the turmoil engine has no bandwidth model; \
                 remove it or use --engine event",
                g.name
            )));
        }
        if g.adversary != crate::scenario::Adversary::None || g.subnet.is_some() {
            return Err(RunError::Unsupported(format!(
                "group[{i}] (group {:?}): the turmoil engine runs no adversaries or subnets; \
                 use --engine event",
                g.name
            )));
        }
        if !g.reachable {
            return Err(RunError::Unsupported(format!(
                "group[{i}].reachable = false (group {:?}): the turmoil engine does not model NAT; \
                 use --engine event",
                g.name
            )));
        }
    }
    check_common(s)
}

/// What the hosts share with the harness.
struct Env {
    scenario: Scenario,
    plans: Vec<NodePlan>,
    seed: u64,
    collector: Collector,
    gossip_channel: Option<u8>,
    publishers: Vec<Publisher>,
    state: Mutex<HostState>,
}

#[derive(Default)]
struct HostState {
    nodes: Vec<Option<Node>>,
    errors: Vec<String>,
}

impl Env {
    fn lock(&self) -> MutexGuard<'_, HostState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The software of host `idx`: waits for `start_at`, starts the node, runs
/// its gossip publishers, and never returns (turmoil stops ticking a host
/// whose software has finished).
async fn host_main(env: Arc<Env>, idx: usize) {
    let rt = TurmoilRuntime::current_host();
    let plan = &env.plans[idx];
    rt.sleep_until(Instant::from_epoch(plan.start_at)).await;
    env.collector.set_up(idx as u32, true);
    let opts = node_options(
        &env.scenario,
        plan,
        env.seed,
        1,
        Arc::new(MemDisk::default()),
        &env.collector,
        env.gossip_channel,
    );
    let crypto = env.scenario.crypto.to_p2p();
    let net = TurmoilNetwork::new(plan.ip);
    match p2p::node::start_with(
        opts,
        StartExtras {
            crypto,
            ..Default::default()
        },
        net,
        rt.clone(),
    )
    .await
    {
        Ok(node) => {
            let started = rt.now();
            for p in env.publishers.iter().filter(|p| p.node == idx).copied() {
                let (rt2, node, env) = (rt.clone(), node.clone(), env.clone());
                rt.spawn(async move {
                    let mut next = p.first;
                    while next <= p.stop {
                        // As on the event engine: no publications before the node runs.
                        if Instant::from_epoch(next) >= started {
                            rt2.sleep_until(Instant::from_epoch(next)).await;
                            publish(&env.collector, &node, &p);
                        }
                        next += p.interval;
                    }
                });
            }
            env.lock().nodes[idx] = Some(node);
        }
        Err(e) => env
            .lock()
            .errors
            .push(format!("node {idx} failed to start: {e}")),
    }
    std::future::pending::<()>().await;
}

/// Sets every host pair's latency from the scenario's model (see the module doc).
fn set_latencies(sim: &turmoil::Sim<'_>, loaded: &Loaded, plans: &[NodePlan]) {
    let model = &loaded.latency;
    let j = loaded.scenario.jitter;
    sim.set_message_latency_curve(5.0);
    for (i, a) in plans.iter().enumerate() {
        for b in &plans[i + 1..] {
            let d = (model.base_delay(a.zone, b.zone) + model.base_delay(b.zone, a.zone)) / 2;
            if j == 0.0 || d.is_zero() {
                sim.set_link_latency(a.ip, b.ip, d);
            } else {
                let min = d.mul_f64(1.0 - j);
                sim.set_link_latency(a.ip, b.ip, min);
                sim.set_link_max_message_latency(a.ip, b.ip, min + d.mul_f64(5.0 * j));
            }
        }
    }
}

/// A check due at a time: index into the scenario's `[[assert]]`s.
fn timed_checks(s: &Scenario) -> Vec<(Duration, usize)> {
    let mut out: Vec<(Duration, usize)> = s
        .asserts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Assertion::MinPeers { by, .. } => Some((by.0, i)),
            Assertion::Connected { at } => Some((at.0, i)),
            Assertion::GossipCoverage { .. } => None,
        })
        .filter(|(t, _)| *t <= s.duration.0)
        .collect();
    out.sort();
    out
}

fn check(env: &Env, a: &Assertion) -> Option<AssertionResult> {
    match a {
        Assertion::MinPeers { nodes, min, by } => Some(check_min_peers(
            &env.scenario,
            &env.collector,
            nodes,
            *min,
            *by,
        )),
        Assertion::Connected { at } => Some(check_connected(&env.plans, &env.collector, *at)),
        Assertion::GossipCoverage { .. } => None,
    }
}

fn take_sample(env: &Env, t: Duration) -> Sample {
    let st = env.lock();
    let nodes: Vec<Option<&Node>> = st.nodes.iter().map(Option::as_ref).collect();
    sample(t.as_secs_f64(), &env.plans, &env.collector, &nodes)
}

/// Runs `loaded` on turmoil and returns its report (`header.engine = "turmoil"`).
/// `progress` is called between ticks, about 200 times per run.
pub fn run(
    loaded: &Loaded,
    opts: &TurmoilOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Report, RunError> {
    let s = &loaded.scenario;
    let seed = opts.seed.unwrap_or(s.seed);
    let gossip_channel = check_supported(s)?;
    if opts.tick.is_zero() {
        return Err(RunError::Setup("the turmoil tick must be > 0".into()));
    }
    let plans = plan::plan(s, seed, &loaded.latency).map_err(RunError::Setup)?;
    let n = plans.len();
    let end = s.duration.0;
    let collector = Collector::default();
    for p in &plans {
        collector.register(p.index as u32, p.key.node_id());
    }
    let env = Arc::new(Env {
        publishers: publishers(s, seed),
        scenario: s.clone(),
        plans,
        seed,
        collector,
        gossip_channel,
        state: Mutex::new(HostState {
            nodes: vec![None; n],
            errors: Vec::new(),
        }),
    });
    let turmoil_seed =
        u64::from_le_bytes(derive(seed, "turmoil", 0)[..8].try_into().unwrap_or([0; 8]));
    let epoch = UNIX_EPOCH + Duration::from_nanos(SIM_EPOCH.epoch_unix_nanos as u64);
    let mut sim = turmoil::Builder::new()
        .tick_duration(opts.tick)
        .simulation_duration(end + Duration::from_secs(3600))
        .epoch(epoch)
        .rng_seed(turmoil_seed)
        // The accept backlog and each socket's segment window: turmoil panics
        // when more SYNs wait than this, so leave room for every node at once.
        .tcp_capacity((n + 64).max(256))
        .build();
    for p in &env.plans {
        let (env, idx) = (env.clone(), p.index);
        sim.host(p.ip, move || {
            let env = env.clone();
            async move {
                host_main(env, idx).await;
                Ok(())
            }
        });
    }
    set_latencies(&sim, loaded, &env.plans);

    let mut samples = Vec::new();
    let mut assertions = Vec::new();
    let mut checks = timed_checks(s).into_iter().peekable();
    let mut next_sample = Some(Duration::ZERO);
    let every = (end / 200).max(Duration::from_millis(100));
    let mut next_progress = every;
    let mut steps = 0u64;
    loop {
        let now = sim.elapsed();
        while let Some(t) = next_sample.filter(|t| *t <= now) {
            samples.push(take_sample(&env, t));
            next_sample = (t < end).then(|| (t + s.sample_interval.0).min(end));
        }
        while let Some((_, i)) = checks.next_if(|(t, _)| *t <= now) {
            assertions.extend(check(&env, &s.asserts[i]));
        }
        if now >= end {
            break;
        }
        match std::panic::catch_unwind(AssertUnwindSafe(|| sim.step())) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(RunError::Setup(format!("turmoil: {e}"))),
            Err(_) => {
                return Err(RunError::Setup(format!(
                    "turmoil panicked at {:?} of simulated time",
                    sim.elapsed()
                )))
            }
        }
        steps += 1;
        if sim.elapsed() >= next_progress || sim.elapsed() >= end {
            next_progress += every;
            progress(Progress {
                now: sim.elapsed().min(end),
                end,
                events: steps,
                polls: 0,
            });
        }
    }
    let errors = std::mem::take(&mut env.lock().errors);
    if let Some(e) = errors.first() {
        return Err(RunError::Setup(format!(
            "{e} ({} node start failures)",
            errors.len()
        )));
    }
    let report = {
        let st = env.lock();
        let nodes: Vec<Option<&Node>> = st.nodes.iter().map(Option::as_ref).collect();
        build_report(&RunRecord {
            engine: "turmoil",
            loaded,
            seed,
            plans: &env.plans,
            collector: &env.collector,
            nodes: &nodes,
            samples: &samples,
            timeline: &[],
            assertions,
            net_hash: "turmoil",
        })
    };
    drop(sim);
    Ok(report)
}
