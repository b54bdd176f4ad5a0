//! `cometnet testnet`: a local network of real nodes, one process each.
//!
//! Node `i` lives in `DIR/node<i>`, listens on `127.0.0.<i+1>:PORT` (every
//! address of `127.0.0.0/8` is local on Linux; outbound connections leave from
//! the node's own address, see [`crate::real::net`]), with
//! `addr_book_strict = false` so loopback addresses enter address books. The
//! first K nodes are seeds (`seed_mode = true`, each other's seeds); the rest
//! list the seeds in `seeds`. Children are `cometnet node start` processes
//! whose output goes to `DIR/node<i>/node.log`. Their stdin is a pipe from this
//! process: closing it stops them cleanly, and if this process dies for any
//! reason the pipe closes too, so no child outlives it.
//!
//! With `--churn-every D` (and `--duration`) the run is a soak test: every
//! `D` one random non-seed node is stopped and restarted from its home, node
//! memory and descriptors are sampled, and a report is written ([`soak`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Args;
use p2p::config::{GoDuration, NodeConfig};
use p2p::netaddr::NetAddress;
use p2p::NodeKey;

use super::node::{setup_error, tokio_runtime, Shutdown};
use super::CliError;
use crate::real::home::Home;

mod soak;

/// Arguments of `cometnet testnet`.
#[derive(Args, Debug)]
pub struct TestnetArgs {
    /// Number of nodes (at most 254: one 127.0.0.x address each).
    #[arg(long)]
    nodes: u32,
    /// Directory for the node homes (node0, node1, ...).
    #[arg(long)]
    dir: PathBuf,
    /// How many of the first nodes are seeds.
    #[arg(long, default_value_t = 1)]
    seeds: u32,
    /// P2P port of every node (each has its own IP).
    #[arg(long, default_value_t = 26656)]
    base_port: u16,
    /// Chain ID.
    #[arg(long, default_value = "cometnet-testnet")]
    network: String,
    /// `max_num_outbound_peers` of every node.
    #[arg(long, default_value_t = 10)]
    max_outbound: u32,
    /// Gossip messages each node publishes per second.
    #[arg(long, default_value_t = 0.0)]
    gossip_rate: f64,
    /// Serve metrics of node i at 127.0.0.<i+1>:PORT.
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Stop all nodes after this long (Go syntax: 90s, 5m).
    #[arg(long)]
    duration: Option<GoDuration>,
    /// Start the homes already in DIR instead of refusing to overwrite them.
    #[arg(long)]
    reuse: bool,
    /// Soak test: every D stop a random non-seed node and restart it from its
    /// home; needs --duration; writes DIR/soak.json and fails on a panic or a
    /// restarted node that finds no peer.
    #[arg(long)]
    churn_every: Option<GoDuration>,
    /// Soak test: how often node RSS and open descriptors are sampled.
    #[arg(long, default_value = "5s")]
    sample_every: GoDuration,
    /// Soak test: seed of the choice of nodes to restart.
    #[arg(long, default_value_t = 1)]
    churn_seed: u64,
}

fn node_ip(i: u32) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, (i + 1) as u8])
}

fn check(a: &TestnetArgs) -> Result<(), CliError> {
    if a.nodes == 0 || a.nodes > 254 {
        return Err(CliError::Input(format!(
            "--nodes: {} is not in 1..=254",
            a.nodes
        )));
    }
    if a.seeds == 0 || a.seeds > a.nodes {
        return Err(CliError::Input(format!(
            "--seeds: {} is not in 1..=--nodes ({})",
            a.seeds, a.nodes
        )));
    }
    if a.base_port == 0 {
        return Err(CliError::Input("--base-port: 0 is not a port".into()));
    }
    crate::real::home::check_network(&a.network, "--network").map_err(setup_error)?;
    if let Some(d) = a.churn_every {
        if a.duration.is_none() {
            return Err(CliError::Input(
                "--churn-every: needs --duration (a soak run is bounded)".into(),
            ));
        }
        if d.0.is_zero() || a.sample_every.0.is_zero() {
            return Err(CliError::Input(
                "--churn-every and --sample-every must be positive".into(),
            ));
        }
    }
    Ok(())
}

/// Writes the homes; returns each node's `id@ip:port`.
fn create(a: &TestnetArgs) -> Result<Vec<NetAddress>, CliError> {
    let homes: Vec<Home> = (0..a.nodes)
        .map(|i| Home::new(a.dir.join(format!("node{i}"))))
        .collect();
    if let Some(h) = homes.iter().find(|h| h.config_file().exists()) {
        return Err(CliError::Input(format!(
            "{}: already exists (use --reuse to start the existing testnet, or another --dir)",
            h.dir.display()
        )));
    }
    let mut addrs = Vec::new();
    for (i, h) in (0..a.nodes).zip(&homes) {
        let key_path = h.path(&NodeConfig::default().node_key_file);
        let key = NodeKey::generate_os();
        std::fs::create_dir_all(h.dir.join("config"))
            .and_then(|()| key.save(&key_path).map_err(std::io::Error::other))
            .map_err(|e| CliError::Failed(format!("{}: {e}", key_path.display())))?;
        addrs.push(NetAddress::new(key.node_id(), node_ip(i), a.base_port));
    }
    let seeds: Vec<&NetAddress> = addrs.iter().take(a.seeds as usize).collect();
    for (i, h) in (0..a.nodes).zip(&homes) {
        let mut c = NodeConfig {
            moniker: format!("node{i}"),
            ..NodeConfig::default()
        };
        c.p2p.laddr = format!("tcp://{}:{}", node_ip(i), a.base_port);
        c.p2p.addr_book_strict = false;
        c.p2p.max_num_outbound_peers = a.max_outbound;
        c.p2p.seed_mode = i < a.seeds;
        c.p2p.seeds = seeds
            .iter()
            .filter(|s| s.id() != addrs[i as usize].id())
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",");
        h.init(&c, &a.network, true).map_err(setup_error)?;
    }
    Ok(addrs)
}

/// Reads the existing homes' addresses.
fn existing(a: &TestnetArgs) -> Result<Vec<NetAddress>, CliError> {
    (0..a.nodes)
        .map(|i| {
            let h = Home::new(a.dir.join(format!("node{i}")));
            let c =
                NodeConfig::load(&h.config_file()).map_err(|e| CliError::Input(e.to_string()))?;
            let key = NodeKey::load(&h.path(&c.config.node_key_file))
                .map_err(|e| CliError::Input(e.to_string()))?;
            let listen = crate::real::parse_laddr(&c.config.p2p.laddr).map_err(CliError::Input)?;
            Ok(NetAddress::from_socket_addr(key.node_id(), listen))
        })
        .collect()
}

/// The children; killed if still running when dropped.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn spawn(a: &TestnetArgs, i: u32, home: &Path) -> Result<Child, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Failed(format!("current executable: {e}")))?;
    let log_path = home.join("node.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| CliError::Failed(format!("{}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| CliError::Failed(format!("{}: {e}", log_path.display())))?;
    let mut cmd = Command::new(exe);
    cmd.args(["node", "start", "--stop-on-stdin-eof", "--home"])
        .arg(home)
        .args(["--gossip-rate", &a.gossip_rate.to_string()])
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log2);
    if let Some(port) = a.metrics_port {
        cmd.args(["--metrics", &format!("{}:{port}", node_ip(i))]);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    cmd.env("NO_COLOR", "1");
    cmd.spawn()
        .map_err(|e| CliError::Failed(format!("starting node{i}: {e}")))
}

/// Waits (up to 20 s) until the nodes started so far logged (after their
/// log's length at start, `log_start[i]`) that they listen.
fn wait_listening(dir: &Path, log_start: &[u64], children: &mut Children) -> Result<(), CliError> {
    for _ in 0..200 {
        let up = log_start.iter().enumerate().all(|(i, &from)| {
            std::fs::read(dir.join(format!("node{i}/node.log"))).is_ok_and(|l| {
                let new = l
                    .get(usize::try_from(from).unwrap_or(0)..)
                    .unwrap_or_default();
                String::from_utf8_lossy(new).contains(" listening on ")
            })
        });
        if up {
            return Ok(());
        }
        for (name, c) in &mut children.0 {
            if let Ok(Some(status)) = c.try_wait() {
                return Err(CliError::Failed(format!(
                    "{name} exited early ({status}); see its node.log"
                )));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CliError::Failed(
        "the seeds did not start listening within 20 s; see their node.log".into(),
    ))
}

/// Runs `cometnet testnet`.
pub fn testnet_cmd(a: &TestnetArgs) -> Result<(), CliError> {
    check(a)?;
    if !(a.gossip_rate.is_finite() && a.gossip_rate >= 0.0) {
        return Err(CliError::Input(format!(
            "--gossip-rate: {} is not a rate >= 0",
            a.gossip_rate
        )));
    }
    let addrs = if a.reuse { existing(a)? } else { create(a)? };
    let rt = tokio_runtime()?;
    let mut shutdown = {
        let _in_runtime = rt.enter();
        Shutdown::new()
    };
    let mut children = Children(Vec::new());
    let mut log_start = Vec::new();
    for (i, addr) in (0..a.nodes).zip(&addrs) {
        let home = a.dir.join(format!("node{i}"));
        if i == a.seeds {
            // Nodes dial their seeds at once and retry only after 30 s:
            // start them when the seeds listen.
            wait_listening(&a.dir, &log_start, &mut children)?;
        }
        log_start.push(std::fs::metadata(home.join("node.log")).map_or(0, |m| m.len()));
        let child = spawn(a, i, &home)?;
        let role = if i < a.seeds { "seed" } else { "node" };
        println!(
            "node{i} {role} {addr} log {}",
            home.join("node.log").display()
        );
        children.0.push((format!("node{i}"), child));
    }
    eprintln!(
        "testnet of {} nodes running on network {:?}; Ctrl-C stops it{}",
        a.nodes,
        a.network,
        a.duration
            .map_or(String::new(), |d| format!(" (stops by itself after {d})"))
    );
    let limit = a.duration.map(|d| d.0);
    let mut soak_report = None;
    let early = if let (Some(every), Some(limit)) = (a.churn_every, limit) {
        let r = rt.block_on(soak_loop(a, &mut children, &mut shutdown, every.0, limit));
        match r {
            Ok(report) => {
                soak_report = Some(report);
                None
            }
            Err(e) => Some(e),
        }
    } else {
        rt.block_on(async {
        let watch = async {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                for (name, c) in &mut children.0 {
                    if let Ok(Some(status)) = c.try_wait() {
                        return Some(format!("{name} exited early ({status}); see its node.log"));
                    }
                }
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.wait() => None,
            _ = async { match limit { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => None,
            e = watch => e,
        }
        })
    };
    eprintln!("stopping {} nodes", children.0.len());
    for (_, c) in &mut children.0 {
        drop(c.stdin.take());
    }
    rt.block_on(async {
        for _ in 0..60 {
            if children
                .0
                .iter_mut()
                .all(|(_, c)| !matches!(c.try_wait(), Ok(None)))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(children);
    if let Some(mut report) = soak_report {
        // Stopping can panic too: look at the logs once every node is down.
        report.panicked = soak::panicked(&a.dir, a.nodes);
        return finish_soak(&a.dir, &report);
    }
    match early {
        Some(e) => Err(CliError::Failed(e)),
        None => {
            eprintln!("testnet stopped");
            Ok(())
        }
    }
}

fn finish_soak(dir: &Path, report: &soak::SoakReport) -> Result<(), CliError> {
    let path = soak::report_path(dir);
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, json)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    eprint!("{}", report.summary());
    eprintln!("soak report: {}", path.display());
    if !report.panicked.is_empty() {
        return Err(CliError::Failed(format!(
            "nodes {:?} panicked; see their node.log",
            report.panicked
        )));
    }
    let lost = report.not_reconnected();
    if !lost.is_empty() {
        return Err(CliError::Failed(format!(
            "restarted nodes {lost:?} found no peer again"
        )));
    }
    Ok(())
}

/// Seconds since `start` on the wall clock.
#[allow(clippy::disallowed_methods)] // allow-ambient: a soak run is timed on the wall clock
fn since(start: tokio::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// The soak run: churn, sampling and reconnect checks until `limit` or Ctrl-C.
async fn soak_loop(
    a: &TestnetArgs,
    children: &mut Children,
    shutdown: &mut Shutdown,
    every: Duration,
    limit: Duration,
) -> Result<soak::SoakReport, String> {
    #[allow(clippy::disallowed_methods)] // allow-ambient: a soak run is timed on the wall clock
    let start = tokio::time::Instant::now(); // allow-ambient: soak wall clock
    let mut picker = soak::Picker::new(a.churn_seed, a.seeds, a.nodes - a.seeds);
    let mut samples: std::collections::BTreeMap<u32, Vec<soak::Sample>> = Default::default();
    let mut restarts: Vec<soak::Restart> = Vec::new();
    let (mut next_churn, mut next_sample) = (every.as_secs_f64(), 0.0);
    let log = |i: u32| a.dir.join(format!("node{i}/node.log"));
    loop {
        let t = since(start);
        if t >= limit.as_secs_f64() {
            break;
        }
        if t >= next_sample {
            for (i, (_, c)) in (0..).zip(children.0.iter()) {
                if let Some(s) = soak::sample(c.id(), t) {
                    samples.entry(i).or_default().push(s);
                }
            }
            next_sample += a.sample_every.0.as_secs_f64();
        }
        if t >= next_churn {
            next_churn += every.as_secs_f64();
            if let Some(i) = picker.next() {
                let home = a.dir.join(format!("node{i}"));
                if let Some((_, c)) = children.0.get_mut(i as usize) {
                    soak::stop_child(c, Duration::from_secs(10)).await;
                    let log_from = std::fs::metadata(log(i)).map_or(0, |m| m.len());
                    *c = spawn(a, i, &home).map_err(|e| e.to_string())?;
                    tracing::info!(node = i, "restarted");
                    restarts.push(soak::Restart {
                        node: i,
                        at: since(start),
                        reconnected_after: None,
                        log_from,
                    });
                }
            }
        }
        for r in restarts
            .iter_mut()
            .filter(|r| r.reconnected_after.is_none())
        {
            if soak::reconnected(&log(r.node), r.log_from) {
                r.reconnected_after = Some(since(start) - r.at);
            }
        }
        for (name, c) in &mut children.0 {
            if let Ok(Some(status)) = c.try_wait() {
                return Err(format!("{name} exited early ({status}); see its node.log"));
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let duration_s = since(start);
    let warmup_s = (duration_s / 4.0).max(20.0_f64.min(duration_s / 2.0));
    Ok(soak::SoakReport {
        nodes: a.nodes,
        duration_s,
        warmup_s,
        growth: soak::growth(&samples, &restarts, warmup_s),
        restarts,
        panicked: Vec::new(),
        samples,
    })
}
