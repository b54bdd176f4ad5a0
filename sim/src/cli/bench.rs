//! `cometnet bench sim`: the simulator's benchmarks, run one after another in
//! one process, printed as a table (numbers only; no thresholds):
//!
//! - (a) `scenarios/pex-bootstrap-200.toml` on the event engine and on
//!   turmoil: wall time of each and their ratio;
//! - (b) `scenarios/bench-1000.toml` (1,000 nodes, no churn) on the event
//!   engine: wall time and simulated/wall;
//! - (c) memory per idle node: the same with `max_num_outbound_peers = 5`, so
//!   nodes settle around 10 peers; the growth of the process's resident set
//!   (`VmRSS` in `/proc/self/status`) from before the world is built to the
//!   end of the run, divided by the node count (run first, on a fresh heap);
//! - (d) cost per delivered message: a gossip-heavy run (the same network
//!   plus a `[[gossip]]` workload): wall time / (deliveries + duplicates);
//!   also the marginal cost against (b), which is the same run without gossip.
//!
//!   Row (d') is the same run with `crypto = "null"`: what the simulation-only
//!   null SecretConnection saves per message;
//! - (e) with `--geo-10k`, last: `scenarios/geo-10k.toml` (10,000 nodes,
//!   60 s) with real and with null crypto: wall time and the process's peak
//!   resident set (`VmHWM`; the 10k world is far its largest).
//!
//! `--quick` shrinks every run (a smoke test); `--nodes-1k` runs only the
//! 1,000-node rows (b)-(d), skipping the turmoil comparison.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::CliError;
use crate::report::Report;
use crate::run::{self, Progress, RunOptions};
use crate::scenario::{Loaded, Role, Scenario};
use crate::turmoil_engine::{self, TurmoilOptions};

const PEX_200: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/pex-bootstrap-200.toml"
));
const BENCH_1000: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/bench-1000.toml"
));
const GEO_10K: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/geo-10k.toml"
));
/// Switches a scenario text to the null SecretConnection.
const NULL_CRYPTO: &str = "crypto = \"null\"\n";

/// The header line of the result table (tests look for it).
pub const TABLE_HEADER: &str = "| # | measurement | engine | nodes | simulated | wall | result |";

/// Arguments of `cometnet bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// Simulator speed and memory: event engine vs turmoil, 1,000 nodes,
    /// memory per idle node, cost per delivered message.
    Sim(SimBenchArgs),
}

/// Arguments of `cometnet bench sim`.
#[derive(Args, Debug)]
pub struct SimBenchArgs {
    /// Only the 1,000-node rows (b, c, d); skip the turmoil comparison.
    #[arg(long = "nodes-1k")]
    nodes_1k: bool,
    /// Tiny runs (seconds in total): a smoke test of the bench itself.
    #[arg(long)]
    quick: bool,
    /// Also run the 10,000-node `geo-10k` scenario, with real and with null
    /// crypto (several minutes and about 6 GiB of memory).
    #[arg(long = "geo-10k")]
    geo_10k: bool,
    /// Nodes of the turmoil comparison (a) (default 200, or 20 with --quick);
    /// turmoil's cost grows as N³ per tick, so measure at 50/100 and extrapolate
    /// if 200 is too slow.
    #[arg(long, value_name = "N")]
    turmoil_nodes: Option<usize>,
    /// Turmoil's tick, Go duration syntax.
    #[arg(long, value_name = "DURATION", default_value = "10ms")]
    tick: String,
}

/// Most nodes `--turmoil-nodes` accepts (turmoil's cost grows as N³ per tick).
const MAX_TURMOIL_NODES: usize = 2000;

/// Runs `cometnet bench ...`.
pub fn bench(a: &BenchArgs) -> Result<(), CliError> {
    match &a.what {
        BenchWhat::Sim(s) => bench_sim(s),
    }
}

/// Sizes of the runs: (nodes, simulated seconds).
struct Plan {
    compare: (usize, u64),
    big: (usize, u64),
    geo: (usize, u64),
    gossip_origins: usize,
    gossip_start: u64,
}

impl Plan {
    fn new(a: &SimBenchArgs) -> Plan {
        if a.quick {
            Plan {
                compare: (a.turmoil_nodes.unwrap_or(12), 10),
                big: (60, 15),
                geo: (100, 10),
                gossip_origins: 4,
                gossip_start: 8,
            }
        } else {
            Plan {
                compare: (a.turmoil_nodes.unwrap_or(200), 60),
                big: (1000, 60),
                geo: (10_000, 60),
                gossip_origins: 20,
                gossip_start: 30,
            }
        }
    }
}

/// Parses `text` (plus `extra` TOML appended), then resizes it to `nodes`
/// (seed groups keep their size) and `secs`, without assertions.
fn scenario(
    text: &str,
    origin: &str,
    extra: &str,
    nodes: usize,
    secs: u64,
) -> Result<Loaded, CliError> {
    let mut loaded = Scenario::parse(&format!("{text}\n{extra}"), origin)
        .map_err(|e| CliError::Failed(format!("bench scenario: {e}")))?;
    let s = &mut loaded.scenario;
    s.duration.0 = Duration::from_secs(secs);
    s.asserts.clear();
    let seeds: usize = s
        .groups
        .iter()
        .filter(|g| g.role == Role::Seed)
        .map(|g| g.count)
        .sum();
    if let Some(g) = s.groups.iter_mut().find(|g| g.role != Role::Seed) {
        g.count = nodes.saturating_sub(seeds).max(1);
    }
    Ok(loaded)
}

/// The resident set of this process in KiB (Linux), from `/proc/self/status`.
fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// The peak resident set of this process so far in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One run with its wall time and the resident set before and at its end.
struct Measured {
    report: Report,
    wall: f64,
    rss_before: Option<u64>,
    rss_end: Option<u64>,
}

enum Engine {
    Event,
    Turmoil(Duration),
}

#[allow(clippy::disallowed_methods)] // allow-ambient: the wall time is what a benchmark measures
fn measure(loaded: &Loaded, engine: &Engine) -> Result<Measured, CliError> {
    let name = match engine {
        Engine::Event => "event".to_owned(),
        Engine::Turmoil(t) => format!("turmoil (tick {t:?})"),
    };
    eprintln!(
        "bench: {} nodes, {:?} simulated, on the {name} engine...",
        loaded.scenario.node_count(),
        loaded.scenario.duration.0
    );
    let rss_before = rss_kib();
    let mut rss_end = None;
    let started = std::time::Instant::now(); // allow-ambient: benchmark wall time
    let on_progress = |p: Progress| {
        if p.now >= p.end {
            rss_end = rss_kib();
        }
    };
    let result = match engine {
        Engine::Event => run::run(loaded, &RunOptions::default(), on_progress),
        Engine::Turmoil(tick) => {
            let opts = TurmoilOptions {
                seed: None,
                tick: *tick,
            };
            turmoil_engine::run(loaded, &opts, on_progress)
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let report = result.map_err(|e| CliError::Failed(format!("bench run: {e}")))?;
    eprintln!("bench:   {wall:.1} s wall");
    Ok(Measured {
        report,
        wall,
        rss_before,
        rss_end,
    })
}

fn final_mean_peers(r: &Report) -> f64 {
    r.samples.last().map_or(0.0, |s| s.peers_mean)
}

type Row = [String; 7];

fn row(id: &str, what: &str, engine: &str, m: &Measured, result: String) -> Row {
    [
        id.into(),
        what.into(),
        engine.into(),
        m.report.header.nodes.to_string(),
        format!("{:.0} s", m.report.header.duration_s),
        format!("{:.2} s", m.wall),
        result,
    ]
}

fn bench_sim(a: &SimBenchArgs) -> Result<(), CliError> {
    let tick = a
        .tick
        .parse::<p2p::config::GoDuration>()
        .map_err(|e| CliError::Input(format!("--tick {:?}: {e}", a.tick)))?
        .0;
    if tick.is_zero() {
        return Err(CliError::Input(format!(
            "--tick {:?}: must be greater than 0s",
            a.tick
        )));
    }
    if let Some(n) = a
        .turmoil_nodes
        .filter(|n| !(2..=MAX_TURMOIL_NODES).contains(n))
    {
        return Err(CliError::Input(format!(
            "--turmoil-nodes {n}: must be between 2 and {MAX_TURMOIL_NODES}"
        )));
    }
    let plan = Plan::new(a);
    let (big_n, big_s) = plan.big;
    let gossip = format!(
        "[[gossip]]\nname = \"bench\"\nsize = 250\nrate = 1.0\nfrom = \"full[0..{}]\"\nstart = \"{}s\"\n",
        plan.gossip_origins, plan.gossip_start
    );
    let mut rows: Vec<Row> = Vec::new();

    // (c) first, on a fresh heap, so the RSS growth is the world's.
    let idle = scenario(
        BENCH_1000,
        "bench-1000-idle.toml",
        "[p2p]\nmax_num_outbound_peers = 5\n",
        big_n,
        big_s,
    )?;
    let c = measure(&idle, &Engine::Event)?;
    if !a.nodes_1k {
        let (n, secs) = plan.compare;
        let cmp = scenario(PEX_200, "pex-bootstrap-200.toml", "", n, secs)?;
        let ev = measure(&cmp, &Engine::Event)?;
        let tu = measure(&cmp, &Engine::Turmoil(tick))?;
        let peers = |m: &Measured| {
            format!(
                "{:.1}x real time; final mean peers {:.1}; dials {}",
                m.report.header.duration_s / m.wall.max(1e-9),
                final_mean_peers(&m.report),
                m.report.totals.dials
            )
        };
        rows.push(row("a", "pex-bootstrap", "event", &ev, peers(&ev)));
        rows.push(row(
            "a",
            "pex-bootstrap",
            &format!("turmoil, tick {}", a.tick),
            &tu,
            peers(&tu),
        ));
        rows.push([
            "a".into(),
            "speed ratio".into(),
            "turmoil / event".into(),
            n.to_string(),
            format!("{secs} s"),
            String::new(),
            format!("event engine {:.1}x faster", tu.wall / ev.wall.max(1e-9)),
        ]);
    }
    let b = measure(
        &scenario(BENCH_1000, "bench-1000.toml", "", big_n, big_s)?,
        &Engine::Event,
    )?;
    rows.push(row(
        "b",
        "bench-1000 (no churn)",
        "event",
        &b,
        format!(
            "simulated/wall {:.2}; final mean peers {:.1}",
            b.report.header.duration_s / b.wall.max(1e-9),
            final_mean_peers(&b.report)
        ),
    ));
    let nodes = c.report.header.nodes.max(1) as f64;
    let mem = match (c.rss_before, c.rss_end) {
        (Some(x), Some(y)) => format!(
            "{:.0} KiB per node (RSS {:.0} → {:.0} MiB); final mean peers {:.1}",
            y.saturating_sub(x) as f64 / nodes,
            x as f64 / 1024.0,
            y as f64 / 1024.0,
            final_mean_peers(&c.report)
        ),
        _ => "n/a (no /proc/self/status)".into(),
    };
    rows.push(row("c", "memory per idle node", "event", &c, mem));
    let heavy = scenario(BENCH_1000, "bench-1000-gossip.toml", &gossip, big_n, big_s)?;
    let d = measure(&heavy, &Engine::Event)?;
    let g = d.report.gossip.get("bench").cloned().unwrap_or_default();
    let received = (g.deliveries + g.duplicates).max(1) as f64;
    rows.push(row(
        "d",
        "cost per delivered message",
        "event",
        &d,
        format!(
            "{:.2} µs ({} messages, {} deliveries + {} duplicates); marginal over (b) {:.2} µs",
            d.wall * 1e6 / received,
            g.messages,
            g.deliveries,
            g.duplicates,
            (d.wall - b.wall).max(0.0) * 1e6 / received
        ),
    ));
    let null_heavy = scenario(
        &format!("{NULL_CRYPTO}{BENCH_1000}"),
        "bench-1000-gossip-null.toml",
        &gossip,
        big_n,
        big_s,
    )?;
    let d2 = measure(&null_heavy, &Engine::Event)?;
    let g2 = d2.report.gossip.get("bench").cloned().unwrap_or_default();
    let received2 = (g2.deliveries + g2.duplicates).max(1) as f64;
    rows.push(row(
        "d'",
        "the same, crypto null",
        "event",
        &d2,
        format!(
            "{:.2} µs per delivered message; same event hash as (d): {}",
            d2.wall * 1e6 / received2,
            d2.report.event_hash == d.report.event_hash
        ),
    ));
    // (e) last: the 10k world is far the largest, so the process's peak
    // resident set is its own.
    if a.geo_10k {
        let (n, secs) = plan.geo;
        for (label, extra) in [("real", ""), ("null", NULL_CRYPTO)] {
            let text = format!("{extra}{GEO_10K}");
            let geo = scenario(&text, "geo-10k.toml", "", n, secs)?;
            let m = measure(&geo, &Engine::Event)?;
            let peak = peak_rss_kib().map_or("n/a".to_owned(), |k| {
                format!("{:.2} GiB", k as f64 / (1024.0 * 1024.0))
            });
            rows.push(row(
                "e",
                &format!("geo-10k, crypto {label}"),
                "event",
                &m,
                format!(
                    "simulated/wall {:.2}; process peak RSS so far {peak}; final mean peers {:.1}",
                    m.report.header.duration_s / m.wall.max(1e-9),
                    final_mean_peers(&m.report)
                ),
            ));
        }
    }
    print_table(a, &rows);
    Ok(())
}

fn print_table(a: &SimBenchArgs, rows: &[Row]) {
    let build = if cfg!(debug_assertions) {
        "debug build: not representative, use --release"
    } else {
        "release build"
    };
    println!(
        "cometnet bench sim{}{}{} ({build})",
        if a.quick { " --quick" } else { "" },
        if a.nodes_1k { " --nodes-1k" } else { "" },
        if a.geo_10k { " --geo-10k" } else { "" }
    );
    println!();
    println!("{TABLE_HEADER}");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("| {} |", r.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_scenarios_resize_and_keep_the_seeds() {
        let l = scenario(
            BENCH_1000,
            "x.toml",
            "[p2p]\nmax_num_outbound_peers = 5\n",
            100,
            7,
        )
        .unwrap();
        assert_eq!(l.scenario.node_count(), 100);
        assert_eq!(l.scenario.groups[0].count, 4);
        assert_eq!(l.scenario.duration.0, Duration::from_secs(7));
        assert!(l.scenario.asserts.is_empty());
        let cfg = l.scenario.p2p_config(&l.scenario.groups[1]).unwrap();
        assert_eq!(cfg.max_num_outbound_peers, 5);
        let g = scenario(
            PEX_200,
            "y.toml",
            "[[gossip]]\nname = \"g\"\nsize = 1\nrate = 1.0\n",
            200,
            60,
        )
        .unwrap();
        assert_eq!(g.scenario.node_count(), 200);
        assert_eq!(g.scenario.gossip.len(), 1);
    }

    #[test]
    fn rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss_kib().is_some_and(|k| k > 0));
        }
    }
}
