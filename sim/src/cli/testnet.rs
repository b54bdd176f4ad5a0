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
    let early = rt.block_on(async {
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
    });
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
    match early {
        Some(e) => Err(CliError::Failed(e)),
        None => {
            eprintln!("testnet stopped");
            Ok(())
        }
    }
}
