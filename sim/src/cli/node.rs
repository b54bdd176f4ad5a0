//! `cometnet node init` and `cometnet node start`: a real node over TCP from a
//! CometBFT-style home directory (see [`crate::real::home`]).
//!
//! `start` checks every input (config, flags, key, address book) before it
//! writes anything; bad input is exit code 2 with one line naming the flag or
//! file. It runs the Switch + PEX (+ gossip on channel 0x70) on a multi-thread
//! tokio runtime and stops on Ctrl-C, SIGTERM, `--duration`, or (for
//! `testnet` children) when its stdin closes: the switch is stopped, which
//! saves the address book.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use p2p::config::{GoDuration, NodeConfig};
use p2p::gossip::{GossipMsg, GossipObserver, GOSSIP_CHANNEL};
use p2p::net::tcp::TokioRuntime;
use p2p::net::Instant;
use p2p::netaddr::{NetAddress, NetAddressError};
use p2p::node::{NodeError, NodeOptions};
use p2p::switch::{SwitchConfig, SwitchError};
use p2p::{NodeId, NodeKey};
use rand_chacha::rand_core::SeedableRng as _;

use super::CliError;
use process::stdin_closed;
pub(super) use process::{random_seed, tokio_runtime, Shutdown};

mod process;
use crate::real::home::{check_node_info, Home, SetupError};
use crate::real::metrics::PeerMetrics;
use crate::real::net::LoopbackBoundTcp;
use crate::real::store::FileBookStore;
use crate::real::{dns_resolver, parse_laddr, parse_metrics_addr, wall_clock};

/// Arguments of `cometnet node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    #[command(subcommand)]
    cmd: NodeCmd,
}

#[derive(Subcommand, Debug)]
enum NodeCmd {
    /// Write a node home: config/config.toml, config/node_key.json, config/cometnet.toml.
    Init(InitArgs),
    /// Run a node (Switch + PEX + gossip) over TCP until Ctrl-C / SIGTERM.
    Start(StartArgs),
}

/// Arguments of `cometnet node init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The node's home directory.
    #[arg(long)]
    home: PathBuf,
    /// Chain ID (NodeInfo `network`); stored in config/cometnet.toml.
    #[arg(long, default_value = "cometnet")]
    network: String,
    /// Node name (default: the home directory's name).
    #[arg(long)]
    moniker: Option<String>,
    /// Listen address.
    #[arg(long, default_value = "tcp://0.0.0.0:26656")]
    laddr: String,
    /// Replace an existing config.toml (the node key is always kept).
    #[arg(long)]
    force: bool,
}

/// Arguments of `cometnet node start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// The node's home directory (from `node init`, or a CometBFT home).
    #[arg(long)]
    pub home: PathBuf,
    /// Seeds `id@host:port,...` (replaces [p2p].seeds).
    #[arg(long)]
    pub seeds: Option<String>,
    /// Persistent peers `id@host:port,...` (replaces [p2p].persistent_peers).
    #[arg(long)]
    pub persistent_peers: Option<String>,
    /// Chain ID (default: config/cometnet.toml, else genesis.json's chain_id).
    #[arg(long)]
    pub network: Option<String>,
    /// Listen address tcp://IP:PORT (replaces [p2p].laddr).
    #[arg(long)]
    pub laddr: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:26660 or :26660).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Publish this many gossip messages per second (0 = only relay).
    #[arg(long, default_value_t = 0.0)]
    pub gossip_rate: f64,
    /// Payload bytes of each published gossip message.
    #[arg(long, default_value_t = 256)]
    pub gossip_size: usize,
    /// Do not run the gossip reactor (channel 0x70): PEX only.
    #[arg(long)]
    pub no_gossip: bool,
    /// Stop by itself after this long (Go syntax: 90s, 5m).
    #[arg(long)]
    pub duration: Option<GoDuration>,
    /// Stop when stdin closes (used by `cometnet testnet` so no child outlives it).
    #[arg(long, hide = true)]
    pub stop_on_stdin_eof: bool,
}

/// Runs `cometnet node ...`.
pub fn node_cmd(a: &NodeArgs) -> Result<(), CliError> {
    match &a.cmd {
        NodeCmd::Init(i) => init(i),
        NodeCmd::Start(s) => start(s),
    }
}

pub(super) fn setup_error(e: SetupError) -> CliError {
    match e {
        SetupError::Input(m) => CliError::Input(m),
        SetupError::Io(m) => CliError::Failed(m),
    }
}

fn init(a: &InitArgs) -> Result<(), CliError> {
    let home = Home::new(&a.home);
    let moniker = a.moniker.clone().unwrap_or_else(|| {
        a.home
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| check_node_info(n, "tcp://127.0.0.1:1", "").is_ok())
            .unwrap_or_else(|| "cometnet".to_owned())
    });
    let mut config = NodeConfig {
        moniker,
        ..NodeConfig::default()
    };
    config.p2p.laddr = a.laddr.clone();
    let done = home
        .init(&config, &a.network, a.force)
        .map_err(setup_error)?;
    let listen = parse_laddr(&config.p2p.laddr).map_err(CliError::Input)?;
    let id = done.key.node_id();
    println!("{id}");
    println!("{}", NetAddress::from_socket_addr(id, listen));
    eprintln!(
        "initialized {} (network {:?}, {} key); start it with: cometnet node start --home {}",
        a.home.display(),
        a.network,
        if done.key_created { "new" } else { "existing" },
        a.home.display()
    );
    if listen.ip().is_unspecified() {
        eprintln!(
            "note: it listens on all interfaces; peers must dial one of this host's addresses"
        );
    }
    Ok(())
}

/// Checks an `id@host:port` list (host names are resolved later).
pub(super) fn check_list(list: &str, origin: &str) -> Result<Vec<NetAddress>, CliError> {
    let mut out = Vec::new();
    for entry in list
        .split(',')
        .map(|e| e.trim_matches(' '))
        .filter(|e| !e.is_empty())
    {
        match NetAddress::parse(entry) {
            Ok(a) => out.push(a),
            Err(NetAddressError::Hostname(_)) => {}
            Err(e) => return Err(CliError::Input(format!("{origin} entry {entry:?}: {e}"))),
        }
    }
    Ok(out)
}

/// Everything `start` needs, checked.
struct Plan {
    config: NodeConfig,
    cfg_shown: String,
    network: String,
    listen: std::net::SocketAddr,
    metrics: Option<std::net::SocketAddr>,
    key_path: PathBuf,
    book_path: PathBuf,
}

fn plan(a: &StartArgs) -> Result<Plan, CliError> {
    let home = Home::new(&a.home);
    let cfg_path = home.config_file();
    let cfg_shown = cfg_path.display().to_string();
    if !cfg_path.exists() {
        return Err(CliError::Input(format!(
            "{cfg_shown}: not found (run `cometnet node init --home {}` first)",
            a.home.display()
        )));
    }
    let loaded = NodeConfig::load(&cfg_path).map_err(|e| CliError::Input(e.to_string()))?;
    for k in &loaded.unknown_keys {
        tracing::warn!("{cfg_shown}: unknown key {k} ignored");
    }
    let mut config = loaded.config;
    let origin = |flag: &Option<String>, flag_name: &str, key: &str| match flag {
        Some(_) => flag_name.to_owned(),
        None => format!("{cfg_shown}: [p2p].{key}"),
    };
    let seeds_origin = origin(&a.seeds, "--seeds", "seeds");
    let peers_origin = origin(
        &a.persistent_peers,
        "--persistent-peers",
        "persistent_peers",
    );
    let laddr_origin = origin(&a.laddr, "--laddr", "laddr");
    if let Some(s) = &a.seeds {
        config.p2p.seeds = s.clone();
    }
    if let Some(s) = &a.persistent_peers {
        config.p2p.persistent_peers = s.clone();
    }
    if let Some(s) = &a.laddr {
        config.p2p.laddr = s.clone();
    }
    check_list(&config.p2p.seeds, &seeds_origin)?;
    check_list(&config.p2p.persistent_peers, &peers_origin)?;
    SwitchConfig::from_p2p_config_resolving(&config.p2p, |_| {
        Ok::<_, String>(vec![std::net::IpAddr::from([127, 0, 0, 1])])
    })
    .map_err(|e| CliError::Input(format!("{cfg_shown}: [p2p].{e}")))?;
    let mut listen = parse_laddr(&config.p2p.laddr)
        .map_err(|e| CliError::Input(format!("{laddr_origin}: {e}")))?;
    if listen.port() == 0 {
        let port = crate::real::free_port(listen.ip()).map_err(|e| {
            CliError::Failed(format!("{laddr_origin}: cannot bind {}: {e}", listen.ip()))
        })?;
        listen.set_port(port);
    }
    let network = match &a.network {
        Some(n) => {
            crate::real::home::check_network(n, "--network").map_err(setup_error)?;
            n.clone()
        }
        None => home.read_network().map_err(setup_error)?.ok_or_else(|| {
            CliError::Input(format!(
                "no chain ID: pass --network or write {}",
                home.settings_file().display()
            ))
        })?,
    };
    check_node_info(&config.moniker, &advertised(&config, listen), &cfg_shown)
        .map_err(setup_error)?;
    let metrics = a
        .metrics
        .as_deref()
        .map(parse_metrics_addr)
        .transpose()
        .map_err(|e| CliError::Input(format!("--metrics: {e}")))?;
    if !(a.gossip_rate.is_finite() && a.gossip_rate >= 0.0) {
        return Err(CliError::Input(format!(
            "--gossip-rate: {} is not a rate >= 0",
            a.gossip_rate
        )));
    }
    Ok(Plan {
        key_path: home.path(&config.node_key_file),
        book_path: home.path(&config.p2p.addr_book_file),
        config,
        cfg_shown,
        network,
        listen,
        metrics,
    })
}

/// The NodeInfo `listen_addr`: `external_address` if set, else `laddr`.
fn advertised(config: &NodeConfig, listen: std::net::SocketAddr) -> String {
    let ext = config.p2p.external_address.trim();
    if ext.is_empty() {
        format!("tcp://{listen}")
    } else if ext.contains("://") {
        ext.to_owned()
    } else {
        format!("tcp://{ext}")
    }
}

/// Counts gossip deliveries for the status line.
#[derive(Default)]
struct GossipCount {
    delivered: AtomicU64,
    duplicates: AtomicU64,
}

impl GossipObserver for GossipCount {
    fn delivered(&self, _now: Instant, _msg: &GossipMsg, _from: Option<NodeId>) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
    fn duplicate(&self, _now: Instant, _msg: &GossipMsg, _from: NodeId) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }
}

fn start(a: &StartArgs) -> Result<(), CliError> {
    let p = plan(a)?;
    let tokio_rt = tokio_runtime()?;
    let result = tokio_rt.block_on(run(a, p));
    tokio_rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(a: &StartArgs, p: Plan) -> Result<(), CliError> {
    let mut shutdown = Shutdown::new();
    let rt = TokioRuntime::new();
    let store = Arc::new(FileBookStore::new(&p.book_path, wall_clock(&rt)));
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(random_seed());
    let book = store
        .load_or_new(p.config.p2p.addr_book_strict, &mut rng)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let key = if p.key_path.exists() {
        NodeKey::load(&p.key_path).map_err(|e| CliError::Input(e.to_string()))?
    } else {
        NodeKey::load_or_generate(&p.key_path).map_err(|e| CliError::Failed(e.to_string()))?
    };
    let metrics = PeerMetrics::new();
    let gossip_count = Arc::new(GossipCount::default());
    let opts = NodeOptions {
        key: key.clone(),
        advertise: Some(advertised(&p.config, p.listen)),
        p2p: p.config.p2p.clone(),
        network: p.network.clone(),
        moniker: p.config.moniker.clone(),
        listen: p.listen,
        gossip_channel: (!a.no_gossip).then_some(GOSSIP_CHANNEL),
        rng_seed: random_seed(),
        book,
        book_store: store.clone(),
        observer: Some(metrics.clone()),
        gossip_observer: Some(gossip_count.clone()),
        resolver: Some(dns_resolver()),
    };
    let metrics_listener =
        match p.metrics {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                CliError::Failed(format!("--metrics: cannot listen on {addr}: {e}"))
            })?),
            None => None,
        };
    let node = p2p::node::start(opts, LoopbackBoundTcp::new(p.listen.ip()), rt.clone())
        .await
        .map_err(|e| match e {
            NodeError::Switch(SwitchError::Listen { .. }) => CliError::Failed(e.to_string()),
            other => CliError::Input(format!("{}: {other}", p.cfg_shown)),
        })?;
    let me = key.node_id();
    eprintln!(
        "node {me} ({:?}) on network {:?} listening on {}; address book {}",
        p.config.moniker,
        p.network,
        node.switch.listen_addr(),
        p.book_path.display()
    );
    tracing::info!(id = %me, listen = %node.switch.listen_addr(), network = %p.network, "node started");
    let mut tasks = Vec::new();
    if let Some(l) = metrics_listener {
        eprintln!(
            "metrics: http://{}/metrics",
            l.local_addr().map_or(String::new(), |a| a.to_string())
        );
        tasks.push(tokio::spawn(crate::real::metrics::serve(
            l,
            metrics.clone(),
            p.network.clone(),
        )));
    }
    if let (Some(g), true) = (node.gossip.clone(), a.gossip_rate > 0.0) {
        let every = Duration::from_secs_f64(1.0 / a.gossip_rate).max(Duration::from_micros(100));
        let size = a.gossip_size;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let _ = g.publish(size);
            }
        }));
    }
    {
        let sw = node.switch.clone();
        let pex = node.pex.clone();
        let g = gossip_count.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let c = sw.num_peers();
                let book = pex.as_ref().map_or(0, |r| r.with_book(|b| b.size()));
                tracing::info!(
                    outbound = c.outbound,
                    inbound = c.inbound,
                    dialing = c.dialing,
                    book,
                    gossip_delivered = g.delivered.load(Ordering::Relaxed),
                    gossip_duplicates = g.duplicates.load(Ordering::Relaxed),
                    "status"
                );
            }
        }));
    }
    let limit = a.duration.map(|d| d.0);
    tokio::select! {
        biased;
        _ = shutdown.wait() => tracing::info!("signal received"),
        _ = async { match limit { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => {
            tracing::info!("--duration reached");
        }
        _ = async { if a.stop_on_stdin_eof { stdin_closed().await } else { std::future::pending().await } } => {
            tracing::info!("stdin closed");
        }
    }
    for t in &tasks {
        t.abort();
    }
    eprintln!("stopping node {me}");
    if tokio::time::timeout(Duration::from_secs(10), node.switch.stop())
        .await
        .is_err()
    {
        tracing::warn!("switch did not stop within 10 s");
    }
    if let Some(e) = store.last_error() {
        return Err(CliError::Failed(e));
    }
    if node.pex.is_some() {
        eprintln!("stopped; address book saved to {}", p.book_path.display());
    } else {
        eprintln!("stopped");
    }
    Ok(())
}
