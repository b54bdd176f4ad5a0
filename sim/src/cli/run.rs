//! `cometnet run SCENARIO`: run a scenario on the simulator (the event engine,
//! or turmoil with `--engine turmoil`) and write its report.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use crate::report::Report;
use crate::run::{run, Progress, RunError, RunOptions};
use crate::scenario::Scenario;
use crate::turmoil_engine::{self, TurmoilOptions};

/// Arguments of `cometnet run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML; see scenarios/README.md).
    scenario: PathBuf,
    /// Master seed (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Output directory (default: reports/<scenario>/<id>-s<seed>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Simulation engine.
    #[arg(long, value_enum, default_value_t = Engine::Event)]
    engine: Engine,
    /// Turmoil's tick in Go duration syntax (with --engine turmoil only).
    #[arg(long, value_name = "DURATION", default_value = "10ms")]
    tick: String,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
    /// Write report.json only (no plots, no index.html).
    #[arg(long)]
    no_render: bool,
}

/// Simulation engines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    /// The event-driven engine (virtual clock; scales to 10,000 nodes).
    Event,
    /// turmoil, for small runs (≤ 200 nodes): a cross-check and the speed
    /// baseline; no [[event]]s, bandwidth or NAT.
    Turmoil,
}

fn bar(end: Duration, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(end.as_millis() as u64);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] sim {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

/// Runs the scenario, writes the report, prints a summary.
#[allow(clippy::disallowed_methods)] // allow-ambient: wall time for the progress bar and the report header only
pub fn run_cmd(a: &RunArgs) -> Result<(), CliError> {
    let loaded = Scenario::load(&a.scenario).map_err(|e| CliError::Input(e.to_string()))?;
    let seed = a.seed.unwrap_or(loaded.scenario.seed);
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(&loaded.name)
            .join(format!("{}-s{seed}", loaded.id))
    });
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
    // Refuse what the engine cannot run before announcing the run.
    let supported = match a.engine {
        Engine::Event => crate::run::check_common(&loaded.scenario).map(|_| ()),
        Engine::Turmoil => turmoil_engine::check_supported(&loaded.scenario).map(|_| ()),
    };
    if let Err(e) = supported {
        return Err(CliError::Input(format!("{}: {e}", a.scenario.display())));
    }
    eprintln!(
        "running {} on the {} engine ({} nodes, {} simulated, seed {seed}, scenario id {})",
        loaded.name,
        match a.engine {
            Engine::Event => "event",
            Engine::Turmoil => "turmoil",
        },
        loaded.scenario.node_count(),
        loaded.scenario.duration,
        loaded.id
    );
    let started = std::time::Instant::now(); // allow-ambient: wall time for progress only
    let pb = bar(loaded.scenario.duration.0, a.quiet);
    let on_progress = |p: Progress| {
        let wall = started.elapsed().as_secs_f64().max(1e-9);
        pb.set_position(p.now.as_millis() as u64);
        pb.set_message(format!(
            "{:.1}s/{:.0}s | wall {:.1}s | {:.0}k {}/s",
            p.now.as_secs_f64(),
            p.end.as_secs_f64(),
            wall,
            p.events as f64 / wall / 1000.0,
            match a.engine {
                Engine::Event => "events",
                Engine::Turmoil => "ticks",
            }
        ));
    };
    let result = match a.engine {
        Engine::Event => run(&loaded, &RunOptions { seed: Some(seed) }, on_progress),
        Engine::Turmoil => {
            let opts = TurmoilOptions {
                seed: Some(seed),
                tick,
            };
            turmoil_engine::run(&loaded, &opts, on_progress)
        }
    };
    let mut report = result.map_err(|e| match e {
        // The scenario asks for what the engine lacks: the file is the problem.
        RunError::Unsupported(m) => CliError::Input(format!("{}: {m}", a.scenario.display())),
        RunError::Setup(m) => CliError::Failed(m),
    })?;
    pb.finish_and_clear();
    report.header.wall_time_s = started.elapsed().as_secs_f64();
    report.header.reproduce = match a.engine {
        Engine::Event => format!("cometnet run {} --seed {seed}", a.scenario.display()),
        Engine::Turmoil => format!(
            "cometnet run {} --seed {seed} --engine turmoil --tick {}",
            a.scenario.display(),
            a.tick
        ),
    };
    let path = report
        .write(&out)
        .map_err(|e| CliError::Failed(format!("{}: {e}", out.display())))?;
    print_summary(&report);
    println!("report: {}", path.display());
    if !a.no_render {
        let files = crate::render::render_run(&report, &out)
            .map_err(|e| CliError::Failed(e.to_string()))?;
        if let Some(index) = files.last() {
            println!("page:   {}", index.display());
        }
    }
    if !report.passed() {
        let failed = report.assertions.iter().filter(|x| !x.passed).count();
        return Err(CliError::Failed(format!("{failed} assertion(s) failed")));
    }
    Ok(())
}

fn print_summary(r: &Report) {
    let h = &r.header;
    println!(
        "{}: {} nodes, {:.0}s simulated in {:.1}s wall ({:.1}x real time)",
        h.scenario,
        h.nodes,
        h.duration_s,
        h.wall_time_s,
        h.duration_s / h.wall_time_s.max(1e-9)
    );
    if let Some(s) = r.samples.last() {
        println!(
            "  peers per node: min {} mean {:.1} max {} (out {:.1}, in {:.1}); components: {} (largest {})",
            s.peers_min, s.peers_mean, s.peers_max, s.outbound_mean, s.inbound_mean, s.components, s.largest_component
        );
    }
    println!(
        "  graph: diameter {} hops, mean path {:.2} hops",
        r.paths.diameter, r.paths.mean_path_length
    );
    if let Some(b) = r
        .samples
        .last()
        .map(|s| &s.addrbook)
        .filter(|b| b.nodes > 0)
    {
        println!(
            "  address book: min {} median {} max {} addresses (new {:.1}, old {:.1} on average)",
            b.min, b.median, b.max, b.new_mean, b.old_mean
        );
    }
    for x in &r.reconvergence {
        let after = match x.reconverged_after_s {
            Some(d) => format!("one component again after {d:.3}s"),
            None => "not one component again before the end".to_owned(),
        };
        println!(
            "  reconvergence after {} at {:.1}s: {} component(s) right after, {after}",
            x.event, x.at_s, x.components_at_event
        );
    }
    let t = &r.totals;
    println!(
        "  dials: {} ({} connected); inbound rejected: {}",
        t.dials, t.dials_ok, t.inbound_rejected
    );
    for (name, g) in &r.gossip {
        let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0} ms"));
        let r90 = g.reach.get(1);
        let r99 = g.reach.get(2);
        println!(
            "  gossip {name}: {} messages, coverage {:.1}%, 90% of nodes in {} (median), 99% in {}, duplicates {:.2}/delivery",
            g.messages,
            g.mean_coverage * 100.0,
            fmt(r90.and_then(|x| x.p50_ms)),
            fmt(r99.and_then(|x| x.p50_ms)),
            g.duplicate_ratio
        );
    }
    for a in &r.assertions {
        println!(
            "  [{}] {} — {}",
            if a.passed { "pass" } else { "FAIL" },
            a.description,
            a.detail
        );
    }
    println!("  event hash: {}", r.event_hash);
}
