//! A real CometBFT v0.38 testnet (4 validators, built-in kvstore app, on
//! loopback) with our `cometnet node` in it, and `cometnet crawl` mapping it.
//! Run with `bash interop/run cometbft`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use cometnet_interop::cmtnet::{
    free_port, height, now, peers, read, rpc, set_toml_key, wait_for, write, GoNet, Harness, Res,
};
use cometnet_interop::tool;
use serde_json::Value;

/// Our node's IP; the Go validators are on 127.77.1.2..=5.
const OURS: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 10);
/// The crawler's IP (outbound connections are bound to it).
const CRAWLER: Ipv4Addr = Ipv4Addr::new(127, 77, 1, 20);
/// How long our node must stay connected.
const HOLD: Duration = Duration::from_secs(120);

fn ok<T>(r: Res<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// `cometnet node init` + edits; returns (home, node id).
fn init_ours(
    h: &Harness,
    bin: &std::path::Path,
    net: &GoNet,
    listen: SocketAddr,
) -> (std::path::PathBuf, String) {
    let home = h.dir.join("ours");
    let mut init = Command::new(bin);
    init.args(["node", "init", "--home"])
        .arg(&home)
        .args(["--laddr", &format!("tcp://{listen}")])
        .args(["--network", &net.chain_id, "--moniker", "cometnet-a"]);
    let out = ok(h.run(init, Duration::from_secs(30)));
    let id = out.lines().next().unwrap_or("").trim().to_owned();
    assert_eq!(
        id.len(),
        40,
        "`cometnet node init` printed no node ID: {out:?}"
    );
    let cfg = home.join("config/config.toml");
    let mut text = ok(read(&cfg));
    // Loopback addresses are not routable; every Go peer dials from 127.0.0.1.
    text = ok(set_toml_key(&text, "p2p", "addr_book_strict", "false"));
    text = ok(set_toml_key(&text, "p2p", "allow_duplicate_ip", "true"));
    ok(write(&cfg, &text));
    (home, id)
}

/// The fields of a CometBFT `node_info` JSON (RPC) that `crawl.json` records, in crawl.json's shape.
fn crawl_shape(ni: &Value) -> Value {
    let num = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(Value::Null, Value::from)
    };
    serde_json::json!({
        "moniker": ni["moniker"], "version": ni["version"], "network": ni["network"],
        "channels": ni["channels"], "listen_addr": ni["listen_addr"],
        "protocol_version": {
            "p2p": num(&ni["protocol_version"]["p2p"]),
            "block": num(&ni["protocol_version"]["block"]),
            "app": num(&ni["protocol_version"]["app"]),
        },
        "tx_index": ni["other"]["tx_index"], "rpc_address": ni["other"]["rpc_address"],
    })
}

/// Our node joins a 4-validator CometBFT testnet through one validator (a
/// persistent peer) and stays connected for 2 minutes while blocks are made;
/// meanwhile `cometnet crawl` from that validator finds all 5 nodes with the
/// NodeInfo CometBFT itself reports.
#[test]
#[ignore = "Go interop: run bash interop/run"]
fn cometnet_node_in_cometbft_testnet_and_crawl() {
    let cometbft = tool("COMETNET_COMETBFT");
    let bin = tool("COMETNET_BIN");
    let mut h = ok(Harness::new("net"));
    let t_start = now();
    let net = ok(h.go_testnet(&cometbft, [77, 1], 4, 0));
    eprintln!(
        "testnet up (height 2 everywhere) after {:?}",
        t_start.elapsed()
    );
    let v0 = net.validators[0].clone();

    let listen = SocketAddr::from((OURS, ok(free_port(&[OURS], &[]))));
    let (home, our_id) = init_ours(&h, &bin, &net, listen);
    let mut start = Command::new(&bin);
    start
        .args(["node", "start", "--home"])
        .arg(&home)
        .args(["--persistent-peers", &v0.addr()])
        .env("RUST_LOG", "info");
    ok(h.spawn("ours", start));
    let t0 = now();

    // 1. The validator lists our node as a peer (inbound: we dialed it).
    let first = ok(wait_for(
        "goval0 to list our node in /net_info",
        Duration::from_secs(30),
        || peers(&v0).ok()?.into_iter().find(|p| p.id == our_id),
    ));
    assert!(
        !first.outbound,
        "goval0 sees our node as outbound; we dialed it"
    );
    assert_eq!(
        first.node_info["moniker"], "cometnet-a",
        "our moniker as goval0 sees it"
    );
    assert_eq!(
        first.node_info["channels"], "7000",
        "our channels as goval0 sees it (gossip, PEX)"
    );
    assert_eq!(first.node_info["network"], net.chain_id.as_str());
    assert_eq!(first.node_info["listen_addr"], format!("tcp://{listen}"));
    eprintln!("goval0 lists our node after {:?}", t0.elapsed());
    let h0 = ok(height(&v0));

    // 2. Crawl from goval0 as the seed while our node is connected.
    let crawl_out = h.dir.join("crawl");
    let mut crawl = Command::new(&bin);
    crawl
        .args([
            "crawl",
            "--seeds",
            &v0.addr(),
            "--network",
            &net.chain_id,
            "--duration",
            "20s",
        ])
        .arg("--out")
        .arg(&crawl_out)
        .args(["--laddr", &format!("tcp://{CRAWLER}:0")]);
    let t_crawl = now();
    ok(h.run(crawl, Duration::from_secs(60)));
    eprintln!("crawl took {:?}", t_crawl.elapsed());
    let report: Value =
        serde_json::from_str(&ok(read(&crawl_out.join("crawl.json")))).expect("crawl.json is JSON");
    let nodes = report["nodes"].as_array().expect("crawl.json has nodes");
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).cloned();
    for v in &net.validators {
        let n = node(&v.id)
            .unwrap_or_else(|| panic!("crawl did not find {} ({}): {report}", v.moniker, v.id));
        assert_eq!(
            n["reachable"], true,
            "crawl could not handshake with {}: {n}",
            v.moniker
        );
        let status = ok(rpc(v.rpc, "/status"));
        assert_eq!(
            n["node_info"],
            crawl_shape(&status["node_info"]),
            "{}: crawled NodeInfo != its /status",
            v.moniker
        );
        assert!(
            n["addresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == v.p2p.to_string().as_str())),
            "{}: crawl has no address {}: {n}",
            v.moniker,
            v.p2p
        );
    }
    let n =
        node(&our_id).unwrap_or_else(|| panic!("crawl did not find our node {our_id}: {report}"));
    assert_eq!(
        n["reachable"], true,
        "crawl could not handshake with our node: {n}"
    );
    assert_eq!(
        n["node_info"],
        crawl_shape(&first.node_info),
        "our crawled NodeInfo != goval0's view of it"
    );
    assert_eq!(n["node_info"]["version"], p2p::node_info::SOFTWARE_VERSION);
    assert_eq!(
        nodes.len(),
        5,
        "crawl found other nodes than the 4 validators and ours: {report}"
    );

    // 3. Hold for 2 minutes: our node stays a peer of goval0 on the same connection.
    let mut checks = 0;
    while t0.elapsed() < HOLD + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_secs(5));
        assert!(
            h.running("ours"),
            "our node exited; see {}",
            h.log("ours").display()
        );
        let p = ok(peers(&v0));
        assert!(
            p.iter().any(|p| p.id == our_id),
            "after {:?} goval0 no longer lists our node: {p:?}",
            t0.elapsed()
        );
        checks += 1;
    }
    let p = ok(peers(&v0));
    let ours = p
        .iter()
        .find(|p| p.id == our_id)
        .expect("goval0 lists our node at the end");
    assert!(
        ours.connected_for >= HOLD,
        "goval0's connection to our node is only {:?} old: it was re-established",
        ours.connected_for
    );
    let h1 = ok(height(&v0));
    assert!(
        h1 >= h0 + 60,
        "blocks were not produced while we were connected: {h0} -> {h1}"
    );
    let listing: Vec<&str> = net
        .validators
        .iter()
        .filter(|v| peers(v).is_ok_and(|p| p.iter().any(|p| p.id == our_id)))
        .map(|v| v.moniker.as_str())
        .collect();
    eprintln!(
        "held {:?} ({checks} checks); connection age {:?}; height {h0} -> {h1}; validators listing us: {listing:?}; total {:?}",
        t0.elapsed(),
        ours.connected_for,
        t_start.elapsed()
    );
}
