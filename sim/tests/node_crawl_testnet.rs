//! `cometnet testnet` and `cometnet crawl` as processes: a 5-node testnet on
//! 127.0.0.1..5 (one seed), crawled from its seed, gives a map with every
//! node, reachable, with its NodeInfo, and "who told us about whom" edges.
//! Killing the testnet process stops every node cleanly (their stdin pipe
//! closes), so no node outlives it; a testnet with `--duration` stops by itself.

#![allow(clippy::disallowed_methods)] // wall-clock waits around child processes

mod node_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use node_support::{cometnet, free_port, ip, wait_until_blocking, Guard};
use sim::real::crawl::CrawlReport;

fn log(dir: &Path, i: u32) -> String {
    std::fs::read_to_string(dir.join(format!("node{i}/node.log"))).unwrap_or_default()
}

fn start_testnet(dir: &Path, n: u32, port: u16, extra: &[&str]) -> (Guard, Vec<String>) {
    let mut child = cometnet()
        .args(["testnet", "--nodes", &n.to_string(), "--dir"])
        .arg(dir)
        .args(["--base-port", &port.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // One line per node: "node<i> <role> <id@ip:port> log <path>".
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut addrs = Vec::new();
    for _ in 0..n {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        addrs.push(line.split_whitespace().nth(2).unwrap().to_owned());
    }
    (Guard(child), addrs)
}

#[test]
fn crawl_of_a_local_testnet_finds_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let ips: Vec<_> = (1..=5).map(|h| ip(0, h)).collect();
    let port = free_port(&ips);
    let mport = free_port(&ips);
    let (mut testnet, addrs) = start_testnet(
        dir.path(),
        5,
        port,
        &["--gossip-rate", "10", "--metrics-port", &mport.to_string()],
    );
    assert!(
        addrs[0].ends_with(&format!("@127.0.0.1:{port}")),
        "{addrs:?}"
    );
    // Each node connected to the seed at least once.
    let ready = wait_until_blocking(Duration::from_secs(30), || {
        (1..5).all(|i| log(dir.path(), i).contains("peer added"))
    });
    assert!(
        ready.is_some(),
        "testnet did not come up: {}",
        log(dir.path(), 1)
    );
    println!("testnet: every node met the seed {ready:?} after start");

    let out_dir = dir.path().join("crawl");
    let t0 = Instant::now();
    let crawl = cometnet()
        .args([
            "crawl",
            "--seeds",
            &addrs[0],
            "--network",
            "cometnet-testnet",
        ])
        .args([
            "--duration",
            "12s",
            "--laddr",
            "tcp://127.0.0.100:0",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(crawl.status.success(), "{crawl:?}");
    let report: CrawlReport =
        serde_json::from_slice(&std::fs::read(out_dir.join("crawl.json")).unwrap()).unwrap();
    let ids: BTreeSet<String> = addrs
        .iter()
        .map(|a| a.split('@').next().unwrap().to_owned())
        .collect();
    let found: BTreeSet<String> = report.nodes.iter().map(|n| n.id.clone()).collect();
    let last_seen = report
        .nodes
        .iter()
        .map(|n| n.first_seen_s)
        .fold(0.0, f64::max);
    println!(
        "crawl: {} nodes, {} edges, all known after {last_seen:.2}s (crawl process {:?})",
        report.nodes.len(),
        report.edges.len(),
        t0.elapsed()
    );
    assert_eq!(found, ids, "{report:#?}");
    assert_eq!(report.network, "cometnet-testnet");
    for n in &report.nodes {
        assert!(n.reachable, "{n:?}");
        let info = n.node_info.as_ref().unwrap();
        assert_eq!(info.network, "cometnet-testnet");
        assert!(info.moniker.starts_with("node"));
        assert_eq!(info.protocol_version.p2p, 8);
        let addr = addrs.iter().find(|a| a.starts_with(&n.id)).unwrap();
        assert!(
            n.addresses
                .contains(&addr.split('@').nth(1).unwrap().to_owned()),
            "{n:?}"
        );
    }
    // The seed told us about others; every edge joins two known nodes.
    let seed_id = addrs[0].split('@').next().unwrap();
    assert!(
        report.edges.iter().any(|[from, _]| from == seed_id),
        "{:?}",
        report.edges
    );
    assert!(report
        .edges
        .iter()
        .all(|[a, b]| ids.contains(a) && ids.contains(b) && a != b));

    // The non-seed nodes gossip with each other; their metrics show it.
    let mut last = String::new();
    let gossiping = wait_until_blocking(Duration::from_secs(40), || {
        (2..=5).all(|h| {
            last = http_get(std::net::SocketAddr::new(ip(0, h), mport), "/metrics");
            last.contains("cometbft_p2p_peer_receive_bytes_total{chID=\"0x70\",chain_id=\"cometnet-testnet\",peer_id=")
        })
    });
    assert!(gossiping.is_some(), "a node received no gossip:\n{last}");
    assert!(last.starts_with("HTTP/1.1 200 OK\r\n"), "{last}");
    println!("gossip seen in every non-seed node's metrics {gossiping:?} after the crawl");

    // Kill the testnet process: its nodes see stdin close and stop cleanly.
    testnet.0.kill().unwrap();
    testnet.0.wait().unwrap();
    let stopped = wait_until_blocking(Duration::from_secs(20), || {
        (0..5).all(|i| log(dir.path(), i).contains("stopped"))
    });
    assert!(
        stopped.is_some(),
        "a node outlived the testnet: {}",
        log(dir.path(), 4)
    );
    println!("testnet killed: all nodes stopped {stopped:?} later");
    for i in 0..5 {
        assert!(dir
            .path()
            .join(format!("node{i}/config/addrbook.json"))
            .exists());
    }
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn testnet_with_duration_stops_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    // Nodes of this testnet are 127.0.0.1 and .2, on another port than the other test.
    let port = free_port(&[ip(0, 1), ip(0, 2)]);
    let t0 = Instant::now();
    let (mut testnet, addrs) = start_testnet(dir.path(), 2, port, &["--duration", "4s"]);
    assert_eq!(addrs.len(), 2);
    let status = testnet.0.wait().unwrap();
    assert!(status.success(), "{status}");
    println!(
        "2-node testnet with --duration 4s exited after {:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(20));
    for i in 0..2 {
        let l = log(dir.path(), i);
        assert!(l.contains("stopped; address book saved"), "{l}");
    }
}
