//! Running a scenario on the event engine: builds the world and the nodes
//! (the real stack: Switch, SecretConnection, MConnection, PEX, gossip),
//! schedules starts, faults, workloads and samples as timed events, runs the
//! virtual clock to the end, and assembles the [`Report`].
//!
//! - `run/plan.rs`: scenario → nodes (addresses, keys, configs) via a seed tree.
//! - `run/faults.rs`: crash, restart, pause, partition, churn, bandwidth.
//! - `run/measure.rs`: samples, assertions and the final report.
//! - `run/adversary.rs`: adversarial nodes and what honest nodes do about them.
//!
//! The pieces both engines share (the checks every engine makes, a node's
//! [`NodeOptions`], the gossip publishers, samples, assertions and the report)
//! are `pub(crate)` here and in `run/*`, so the turmoil engine
//! ([`crate::turmoil_engine`]) runs the same stack with the same options.

pub(crate) mod adversary;
pub(crate) mod faults;
pub(crate) mod measure;
pub mod plan;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use p2p::net::{Instant, Runtime};
use p2p::node::StartExtras;
use p2p::node::{Node, NodeOptions};
use p2p::pex::addrbook::AddrBook;
use p2p::pex::addrbook_file::{self, WallClock};
use p2p::pex::reactor::BookStore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::collect::Collector;
use crate::exec::{Sim, SimRuntime};
use crate::net::{SimNetwork, World};
use crate::report::{AssertionResult, Report, Sample};
use crate::scenario::{Loaded, Scenario};
use plan::{derive, NodePlan, P2P_PORT};

/// Wall-clock time of the simulation's epoch, for `addrbook.json` timestamps
/// (2026-01-01T00:00:00Z): fixed, so saved books are reproducible.
pub const SIM_EPOCH: WallClock = WallClock {
    epoch_unix_nanos: 1_767_225_600_000_000_000,
};

/// A run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario asks for something this engine cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// Building the nodes failed.
    #[error("{0}")]
    Setup(String),
}

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
}

/// An address book kept in memory: the simulated node's disk.
#[derive(Default)]
pub struct MemDisk {
    book: Mutex<Option<String>>,
}

impl BookStore for MemDisk {
    fn save(&self, book: &AddrBook) {
        *self.book.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(addrbook_file::to_json(book, SIM_EPOCH));
    }
}

impl MemDisk {
    pub(crate) fn load(&self, strict: bool) -> Option<AddrBook> {
        let text = self
            .book
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        addrbook_file::from_json(text.as_bytes(), "memory", SIM_EPOCH, strict).ok()
    }
}

struct Slot {
    node: Option<Node>,
    up: bool,
    paused: bool,
    starts: u64,
    disk: Arc<MemDisk>,
    net: SimNetwork,
}

struct State {
    slots: Vec<Slot>,
    timeline: Vec<(f64, String)>,
    samples: Vec<Sample>,
    assertions: Vec<AssertionResult>,
    errors: Vec<String>,
}

/// Everything callbacks and tasks need; cheap to clone.
#[derive(Clone)]
struct Ctx {
    rt: SimRuntime,
    world: World,
    collector: Collector,
    scenario: Arc<Scenario>,
    plans: Arc<Vec<NodePlan>>,
    state: Arc<Mutex<State>>,
    seed: u64,
    gossip_channel: Option<u8>,
    watch: Option<adversary::watch::Watch>,
}

impl Ctx {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn secs(&self) -> f64 {
        self.rt.now().since_epoch().as_secs_f64()
    }

    fn note(&self, what: String) {
        let t = self.secs();
        self.lock().timeline.push((t, what));
    }

    /// Starts (or restarts) node `idx` with its key and its saved address book.
    fn start_node(&self, idx: usize) {
        let plan = &self.plans[idx];
        let (disk, net, starts) = {
            let mut st = self.lock();
            let slot = &mut st.slots[idx];
            if slot.up {
                return;
            }
            slot.up = true;
            slot.starts += 1;
            (slot.disk.clone(), slot.net.clone(), slot.starts)
        };
        self.world.revive(plan.ip);
        self.collector.set_up(idx as u32, true);
        let mut opts = node_options(
            &self.scenario,
            plan,
            self.seed,
            starts,
            disk,
            &self.collector,
            self.gossip_channel,
        );
        if let Some(w) = &self.watch {
            let tee = w.tee(idx as u32, self.collector.node(idx as u32));
            opts.observer = Some(tee.clone());
            opts.gossip_observer = Some(tee);
        }
        let Some(opts) = adversary::start(self, plan, opts, net.clone()) else {
            return;
        };
        let rt = self.rt.with_group(idx as u32 + 1);
        let ctx = self.clone();
        let crypto = self.scenario.crypto.to_p2p();
        rt.clone().spawn(async move {
            match p2p::node::start_with(
                opts,
                StartExtras {
                    crypto,
                    ..Default::default()
                },
                net,
                rt,
            )
            .await
            {
                Ok(node) => {
                    let mut st = ctx.lock();
                    if st.slots[idx].up {
                        st.slots[idx].node = Some(node);
                    }
                }
                Err(e) => {
                    let msg = format!("node {idx} failed to start: {e}");
                    ctx.lock().errors.push(msg);
                }
            }
        });
    }
}

/// Progress of a run, reported between steps.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Simulated time reached.
    pub now: Duration,
    /// Simulated time at the end.
    pub end: Duration,
    /// Executor events so far.
    pub events: u64,
    /// Task polls so far.
    pub polls: u64,
}

/// What no engine supports yet; returns the gossip channel (one for all workloads).
pub(crate) fn check_common(s: &Scenario) -> Result<Option<u8>, RunError> {
    let channels: std::collections::BTreeSet<u8> = s.gossip.iter().map(|g| g.channel).collect();
    if channels.len() > 1 {
        return Err(RunError::Unsupported(
            "all [[gossip]] workloads must use the same channel".into(),
        ));
    }
    Ok(channels.iter().next().copied())
}

/// The [`NodeOptions`] of `plan`'s node for its `starts`-th start (1-based):
/// its key, config, moniker, RNG seed, the address book saved on `disk` (or
/// a new one) and the collector's observers. Every engine starts nodes with it.
pub(crate) fn node_options(
    s: &Scenario,
    plan: &NodePlan,
    seed: u64,
    starts: u64,
    disk: Arc<MemDisk>,
    collector: &Collector,
    gossip_channel: Option<u8>,
) -> NodeOptions {
    let idx = plan.index;
    let strict = plan.p2p.addr_book_strict;
    let book = disk.load(strict).unwrap_or_else(|| {
        let mut rng = ChaCha20Rng::from_seed(derive(seed, "addrbook-key", idx as u64));
        AddrBook::new(strict, &mut rng)
    });
    let observer = collector.node(idx as u32);
    NodeOptions {
        key: plan.key.clone(),
        p2p: plan.p2p.clone(),
        network: s.network.clone(),
        moniker: format!("{}-{}", s.groups[plan.group].name, plan.member),
        listen: SocketAddr::new(plan.ip, P2P_PORT),
        advertise: None,
        gossip_channel,
        rng_seed: derive(seed, "node-rng", (idx as u64) << 16 | starts),
        book,
        book_store: disk,
        observer: Some(observer.clone()),
        gossip_observer: Some(observer),
        resolver: None,
    }
}

/// Runs `loaded` and returns its report (assertion failures are in the report).
/// `progress` is called between steps of simulated time.
pub fn run(
    loaded: &Loaded,
    opts: &RunOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Report, RunError> {
    let s = &loaded.scenario;
    let seed = opts.seed.unwrap_or(s.seed);
    let gossip_channel = check_common(s)?;
    let plans = plan::plan(s, seed, &loaded.latency).map_err(RunError::Setup)?;
    let mut sim = Sim::new();
    let rt = sim.runtime();
    let world = World::new(
        rt.clone(),
        loaded.latency.clone(),
        u64::from_le_bytes(derive(seed, "net", 0)[..8].try_into().unwrap_or([0; 8])),
    );
    let collector = Collector::default();
    let mut slots = Vec::with_capacity(plans.len());
    for p in &plans {
        collector.register(p.index as u32, p.key.node_id());
        if p.role == crate::scenario::Role::Seed {
            collector.exclude_from_overlay(p.index as u32);
        }
        let net = world.add_host(p.ip, p.host);
        world.crash(p.ip); // down until started
        slots.push(Slot {
            node: None,
            up: false,
            paused: false,
            starts: 0,
            disk: Arc::new(MemDisk::default()),
            net,
        });
    }
    let watch = adversary::watch_for(s, &plans);
    let ctx = Ctx {
        rt: rt.clone(),
        world: world.clone(),
        collector: collector.clone(),
        scenario: Arc::new(s.clone()),
        plans: Arc::new(plans),
        state: Arc::new(Mutex::new(State {
            slots,
            timeline: Vec::new(),
            samples: Vec::new(),
            assertions: Vec::new(),
            errors: Vec::new(),
        })),
        seed,
        gossip_channel,
        watch,
    };
    for p in ctx.plans.iter() {
        let (c, idx) = (ctx.clone(), p.index);
        rt.schedule(Instant::from_epoch(p.start_at), move || c.start_node(idx));
    }
    faults::schedule(&ctx);
    measure::schedule(&ctx);
    adversary::schedule(&ctx);

    let end = s.duration.0;
    let step = (end / 200).max(Duration::from_millis(100));
    let mut t = Duration::ZERO;
    while t < end {
        t = (t + step).min(end);
        sim.run_until(Instant::from_epoch(t));
        let st = sim.stats();
        progress(Progress {
            now: t,
            end,
            events: st.events,
            polls: st.polls,
        });
    }
    let errors = std::mem::take(&mut ctx.lock().errors);
    if let Some(e) = errors.first() {
        return Err(RunError::Setup(format!(
            "{e} ({} node start failures)",
            errors.len()
        )));
    }
    Ok(measure::report(&ctx, loaded))
}
