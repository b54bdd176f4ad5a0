//! Helpers shared by the `node_*` tests: in-process real nodes on loopback
//! addresses, the `cometnet` binary as a child process, and waiting.

#![allow(dead_code)]
// Tests wait on the wall clock.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2p::config::P2pConfig;
use p2p::net::tcp::TokioRuntime;
use p2p::node::{Node, NodeOptions};
use p2p::pex::addrbook::AddrBook;
use p2p::pex::reactor::NoStore;
use p2p::NodeKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sim::real::net::LoopbackBoundTcp;

/// The binary under test.
pub fn cometnet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cometnet"))
}

/// Runs the binary to completion.
pub fn run(args: &[&str]) -> Output {
    cometnet().args(args).output().unwrap()
}

/// A port free on every address of `ips` right now.
pub fn free_port(ips: &[IpAddr]) -> u16 {
    'outer: for _ in 0..50 {
        let port = std::net::TcpListener::bind((ips[0], 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for ip in &ips[1..] {
            if std::net::TcpListener::bind((*ip, port)).is_err() {
                continue 'outer;
            }
        }
        return port;
    }
    panic!("no free port");
}

/// `127.0.<net>.<host>`.
pub fn ip(net: u8, host: u8) -> IpAddr {
    IpAddr::from([127, 0, net, host])
}

/// Options of a test node: key from `seed`, PEX on, loopback addresses allowed.
pub fn options(seed: u8, listen: SocketAddr, p2p: P2pConfig) -> NodeOptions {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    NodeOptions {
        key: NodeKey::from_seed([seed; 32]),
        book: AddrBook::new(p2p.addr_book_strict, &mut rng),
        p2p,
        network: "node-test".into(),
        moniker: format!("t{seed}"),
        listen,
        advertise: None,
        gossip_channel: None,
        rng_seed: [seed; 32],
        book_store: Arc::new(NoStore),
        observer: None,
        gossip_observer: None,
        resolver: None,
    }
}

/// Starts an in-process node on real TCP.
pub async fn start(opts: NodeOptions) -> Node {
    let net = LoopbackBoundTcp::new(opts.listen.ip());
    p2p::node::start(opts, net, TokioRuntime::new())
        .await
        .unwrap()
}

/// A `[p2p]` section for loopback tests.
pub fn loopback_p2p() -> P2pConfig {
    P2pConfig {
        addr_book_strict: false,
        flush_throttle_timeout: p2p::config::GoDuration(Duration::from_millis(10)),
        ..P2pConfig::default()
    }
}

/// Polls `f` every 100 ms until it is true or `limit` passes; returns the time it took.
pub async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f().then(|| t0.elapsed())
}

/// Blocking [`wait_until`].
pub fn wait_until_blocking(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f().then(|| t0.elapsed())
}

/// A child process killed (SIGKILL) when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `node init` through the binary; returns (node ID, `id@ip:port`).
pub fn init_home(home: &Path, laddr: &str, network: &str) -> (String, String) {
    let out = cometnet()
        .args(["node", "init", "--home"])
        .arg(home)
        .args(["--laddr", laddr, "--network", network])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let id = lines.next().unwrap().to_owned();
    let addr = lines.next().unwrap().to_owned();
    (id, addr)
}

/// Sets `key = value` in `[p2p]` of a home's config.toml (the key must be there).
pub fn set_config(home: &Path, key: &str, value: &str) {
    let path = home.join("config/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.split('=').next().map(str::trim) == Some(key) {
                found = true;
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(found, "{key} not in {}", path.display());
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

/// The file names under `dir`, recursively, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
