//! `cometnet crawl`: map a live network from its seeds and write `crawl.json`
//! (format in [`crate::real::crawl`]).
//!
//! The crawler is our node in seed mode with PEX only (it advertises channel
//! 0x00 and nothing else), an ephemeral key and an in-memory address book. It
//! dials the seeds; every outbound peer gets one PEX request on connect (the
//! policy's rule); every address list that names a node we had no address
//! for makes us dial that address (at most `--max-dials` at once, each
//! `ip:port` once); a peer that answered is disconnected gracefully so we do
//! not hold its inbound slot. The seed-mode crawl loop re-crawls the book
//! every 30 s (each ID at most every 2 minutes), as a Go seed does. The
//! crawler advertises `tcp://0.0.0.0:<port>`, an address nobody stores, so it
//! does not leak into the network's address books.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use p2p::config::{GoDuration, P2pConfig};
use p2p::net::tcp::TokioRuntime;
use p2p::net::Runtime;
use p2p::netaddr::NetAddress;
use p2p::node::NodeOptions;
use p2p::pex::addrbook::AddrBook;
use p2p::pex::reactor::NoStore;
use p2p::NodeKey;
use rand_chacha::rand_core::SeedableRng;

use super::node::{random_seed, setup_error, tokio_runtime, Shutdown};
use super::CliError;
use crate::real::crawl::{CrawlEvent, CrawlRecorder, CrawlReport};
use crate::real::net::LoopbackBoundTcp;
use crate::real::{dns_resolver, free_port, parse_laddr, unix_now_nanos};

/// Arguments of `cometnet crawl`.
#[derive(Args, Debug)]
pub struct CrawlArgs {
    /// Where to start: `id@host:port,...`.
    #[arg(long)]
    seeds: String,
    /// Chain ID of the network.
    #[arg(long)]
    network: String,
    /// How long to crawl (Go syntax: 60s, 5m).
    #[arg(long, default_value = "60s")]
    duration: GoDuration,
    /// Output directory (crawl.json is written there).
    #[arg(long)]
    out: PathBuf,
    /// Our listen address (port 0: any free port).
    #[arg(long, default_value = "tcp://0.0.0.0:0")]
    laddr: String,
    /// Dials in flight at most.
    #[arg(long, default_value_t = 16)]
    max_dials: usize,
    /// Also dial private and loopback addresses (on by itself when a seed is one).
    #[arg(long)]
    allow_private: bool,
    /// Also draw the map (plots and index.html next to crawl.json; the same
    /// as `cometnet report DIR` afterwards).
    #[arg(long)]
    report: bool,
}

fn resolve_seeds(list: &str) -> Result<Vec<NetAddress>, CliError> {
    let resolver = dns_resolver();
    let mut out = Vec::new();
    for entry in list
        .split(',')
        .map(|e| e.trim_matches(' '))
        .filter(|e| !e.is_empty())
    {
        match NetAddress::parse_resolving(entry, |h| resolver(h)) {
            Ok(a) => out.push(a),
            Err(e @ p2p::netaddr::NetAddressError::Lookup { .. }) => {
                eprintln!("warning: --seeds entry {entry:?} skipped: {e}");
            }
            Err(e) => return Err(CliError::Input(format!("--seeds entry {entry:?}: {e}"))),
        }
    }
    if out.is_empty() {
        return Err(CliError::Input("--seeds: no usable seed address".into()));
    }
    Ok(out)
}

/// Most concurrent dials `--max-dials` accepts.
const MAX_DIALS: usize = 4096;

/// Runs `cometnet crawl`.
pub fn crawl_cmd(a: &CrawlArgs) -> Result<(), CliError> {
    crate::real::home::check_network(&a.network, "--network").map_err(setup_error)?;
    let mut listen = parse_laddr(&a.laddr).map_err(|e| CliError::Input(format!("--laddr: {e}")))?;
    if a.out.exists() && !a.out.is_dir() {
        return Err(CliError::Input(format!(
            "--out: {} is not a directory",
            a.out.display()
        )));
    }
    if a.max_dials == 0 || a.max_dials > MAX_DIALS {
        return Err(CliError::Input(format!(
            "--max-dials: {} is not in 1..={MAX_DIALS}",
            a.max_dials
        )));
    }
    let seeds = resolve_seeds(&a.seeds)?;
    if listen.port() == 0 {
        let port = free_port(listen.ip())
            .map_err(|e| CliError::Failed(format!("--laddr: cannot bind {}: {e}", listen.ip())))?;
        listen.set_port(port);
    }
    let private = a.allow_private || seeds.iter().any(|s| !s.routable());
    let rt = tokio_runtime()?;
    let result = rt.block_on(crawl(a, seeds, listen, private));
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn crawl(
    a: &CrawlArgs,
    seeds: Vec<NetAddress>,
    listen: SocketAddr,
    private: bool,
) -> Result<(), CliError> {
    let mut shutdown = Shutdown::new();
    let rt = TokioRuntime::new();
    let key = NodeKey::generate_os();
    let me = key.node_id();
    let started_at = p2p::pex::addrbook_file::format_rfc3339_nano(unix_now_nanos());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Arc::new(CrawlRecorder::new(me, rt.now(), Some(tx)));
    let p2p = P2pConfig {
        laddr: format!("tcp://{listen}"),
        pex: true,
        seed_mode: true,
        addr_book_strict: !private,
        allow_duplicate_ip: true,
        ..P2pConfig::default()
    };
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(random_seed());
    let opts = NodeOptions {
        key,
        p2p,
        network: a.network.clone(),
        moniker: "cometnet-crawler".into(),
        listen,
        advertise: Some(format!("tcp://0.0.0.0:{}", listen.port())),
        gossip_channel: None,
        rng_seed: random_seed(),
        book: AddrBook::new(!private, &mut rng),
        book_store: Arc::new(NoStore),
        observer: Some(recorder.clone()),
        gossip_observer: None,
        resolver: Some(dns_resolver()),
    };
    let node = p2p::node::start(opts, LoopbackBoundTcp::new(listen.ip()), rt.clone())
        .await
        .map_err(|e| CliError::Failed(format!("crawler: {e}")))?;
    let Some(pex) = node.pex.clone() else {
        return Err(CliError::Failed("crawler: PEX did not start".into()));
    };
    pex.set_observer(recorder.clone());
    let sw = node.switch.clone();
    eprintln!(
        "crawling network {:?} from {} seed(s) for {} as {me} (listening on {listen})",
        a.network,
        seeds.len(),
        a.duration
    );
    let permits = Arc::new(tokio::sync::Semaphore::new(a.max_dials));
    let mut dialed: BTreeSet<SocketAddr> = BTreeSet::new();
    let dial = |addr: NetAddress, dialed: &mut BTreeSet<SocketAddr>| {
        if addr.id() == me || !dialed.insert(addr.socket_addr()) {
            return;
        }
        if !private && !addr.routable() {
            return;
        }
        let (sw, permits) = (sw.clone(), permits.clone());
        drop(tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            if let Err(e) = sw.dial_peer_with_address(&addr).await {
                tracing::debug!(%addr, error = %e, "crawl dial failed");
            }
        }));
    };
    for s in &seeds {
        recorder.note_address(rt.now(), s);
        dial(*s, &mut dialed);
    }
    let deadline = tokio::time::sleep(a.duration.0);
    tokio::pin!(deadline);
    let mut progress = tokio::time::interval(Duration::from_secs(10));
    progress.tick().await;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => { eprintln!("interrupted; writing what was found"); break; }
            _ = &mut deadline => break,
            ev = rx.recv() => match ev {
                Some(CrawlEvent::Learned(addrs)) => {
                    for addr in addrs {
                        dial(addr, &mut dialed);
                    }
                }
                Some(CrawlEvent::Answered(id)) => {
                    if sw.peer(&id).is_some_and(|p| p.is_outbound()) {
                        sw.stop_peer_gracefully(&id);
                    }
                }
                None => break,
            },
            _ = progress.tick() => {
                let (known, reachable) = recorder.counts();
                eprintln!("{:>5.0}s: {known} nodes known, {reachable} reachable", rt.now().saturating_duration_since(p2p::net::Instant::ZERO).as_secs_f64());
            }
        }
    }
    let header = CrawlReport {
        network: a.network.clone(),
        started_at,
        duration_s: 0.0,
        crawler_id: me.to_string(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let report = recorder.report(rt.now(), header);
    let _ = tokio::time::timeout(Duration::from_secs(5), node.switch.stop()).await;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| CliError::Failed(format!("{}: {e}", a.out.display())))?;
    let path = a.out.join("crawl.json");
    let mut text = serde_json::to_string_pretty(&report)
        .map_err(|e| CliError::Failed(format!("crawl.json: {e}")))?;
    text.push('\n');
    p2p::fsutil::write_atomic(&path, text.as_bytes(), 0o644)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    let reachable = report.nodes.iter().filter(|n| n.reachable).count();
    println!(
        "{} nodes ({reachable} reachable), {} edges in {:.0}s: {}",
        report.nodes.len(),
        report.edges.len(),
        report.duration_s,
        path.display()
    );
    if a.report {
        let page = super::report::render_crawl_at(&path)?;
        println!("page: {}", page.display());
    }
    Ok(())
}
