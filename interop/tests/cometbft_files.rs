//! The node home files are interchangeable with CometBFT v0.38's, proven with
//! the real binary: `cometbft start` runs on the `config.toml`,
//! `node_key.json` and `addrbook.json` our node wrote, and `cometnet node
//! start` runs on a `node_key.json` and `addrbook.json` CometBFT wrote.
//! Run with `bash interop/run cometbft`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cometnet_interop::cmtnet::{
    free_port, now, peers, read, rpc, set_toml_key, wait_for, wait_height, write, GoNode, Harness,
    Res,
};
use cometnet_interop::tool;
use p2p::pex::addrbook::AddrBook;
use p2p::pex::addrbook_file::{self, WallClock};
use p2p::pex::known_address::BucketType;
use serde_json::Value;

/// Our node A (whose files CometBFT then runs on); the validators are on 127.77.2.2..=5.
const OURS_A: Ipv4Addr = Ipv4Addr::new(127, 77, 2, 10);
/// Our node B (running on CometBFT's files).
const OURS_B: Ipv4Addr = Ipv4Addr::new(127, 77, 2, 11);

fn ok<T>(r: Res<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn load_book(path: &Path) -> AddrBook {
    match addrbook_file::load(
        path,
        WallClock {
            epoch_unix_nanos: 0,
        },
        false,
    ) {
        Ok(Some(b)) => b,
        Ok(None) => panic!("{}: no address book written", path.display()),
        Err(e) => panic!("{}: our loader rejects it: {e}", path.display()),
    }
}

/// Every entry of a book file, read as plain JSON: `id@ip:port` -> (bucket type, buckets).
fn file_entries(path: &Path) -> BTreeMap<String, (u64, Vec<usize>)> {
    let v: Value = serde_json::from_str(&ok(read(path))).expect("addrbook.json is JSON");
    let entries = v["addrs"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let a = &e["addr"];
            let addr = format!(
                "{}@{}:{}",
                a["id"].as_str().unwrap_or(""),
                a["ip"].as_str().unwrap_or(""),
                a["port"]
            );
            let buckets = e["buckets"]
                .as_array()
                .map(|b| {
                    b.iter()
                        .filter_map(|x| x.as_u64())
                        .map(|x| x as usize)
                        .collect()
                })
                .unwrap_or_default();
            (addr, (e["bucket_type"].as_u64().unwrap_or(0), buckets))
        })
        .collect()
}

/// The same, from a loaded book (bucket type 1 = new, 2 = old, as in the file).
fn book_entries(book: &AddrBook) -> BTreeMap<String, (u64, Vec<usize>)> {
    book.entries()
        .map(|k| {
            let t = match k.bucket_type() {
                BucketType::New => 1,
                BucketType::Old => 2,
            };
            (k.addr().to_string(), (t, k.buckets().to_vec()))
        })
        .collect()
}

fn book_addrs(book: &AddrBook) -> BTreeSet<String> {
    book.entries().map(|k| k.addr().to_string()).collect()
}

/// A book file written by CometBFT loads in ours with exactly its entries, types
/// and buckets (bucket indices come from Go's per-process hash key, so they are
/// kept, not recomputed), and the loaded book is consistent.
fn check_loaded(book: &AddrBook, path: &Path, origin: &str) {
    ok(book
        .check_invariants()
        .map_err(|e| format!("{origin}: {e}")));
    assert_eq!(
        book_entries(book),
        file_entries(path),
        "{origin}: our loader changed entries"
    );
}

fn status_of(rpc_addr: SocketAddr) -> Value {
    ok(rpc(rpc_addr, "/status"))
}

#[test]
#[ignore = "Go interop: run bash interop/run"]
fn home_files_interchangeable_with_cometbft() {
    let cometbft = tool("COMETNET_COMETBFT");
    let bin = tool("COMETNET_BIN");
    let mut h = ok(Harness::new("files"));
    let t_start = now();
    // Spares: node4 lends its genesis + (non-validator) priv_validator files
    // to a CometBFT run on our home; node5 is a CometBFT-made key for ours.
    let net = ok(h.go_testnet(&cometbft, [77, 2], 4, 2));
    eprintln!("testnet up after {:?}", t_start.elapsed());
    let (v0, v3) = (net.validators[0].clone(), net.validators[3].clone());
    let ids: BTreeSet<String> = net.validators.iter().map(|v| v.id.clone()).collect();

    // ---- A: our files, written by `cometnet node init` + `node start` ----
    let port_a = ok(free_port(&[OURS_A], &[]));
    let listen_a = SocketAddr::from((OURS_A, port_a));
    let home_a = h.dir.join("ours-a");
    let mut init = Command::new(&bin);
    init.args(["node", "init", "--home"])
        .arg(&home_a)
        .args(["--laddr", &format!("tcp://{listen_a}")])
        .args(["--network", &net.chain_id, "--moniker", "cometnet-a"]);
    let out = ok(h.run(init, Duration::from_secs(30)));
    let id_a = out.lines().next().unwrap_or("").trim().to_owned();
    let cfg_a = home_a.join("config/config.toml");
    let mut text = ok(read(&cfg_a));
    for (k, v) in [
        ("addr_book_strict", "false"),
        ("allow_duplicate_ip", "true"),
        // Not CometBFT's default (10): its effect is visible below.
        ("max_num_outbound_peers", "2"),
    ] {
        text = ok(set_toml_key(&text, "p2p", k, v));
    }
    ok(write(&cfg_a, &text));
    let mut start = Command::new(&bin);
    start
        .args(["node", "start", "--home"])
        .arg(&home_a)
        .args(["--persistent-peers", &v0.addr()])
        .env("RUST_LOG", "info");
    ok(h.spawn("ours-a", start));
    ok(wait_for(
        "goval0 to list node A",
        Duration::from_secs(30),
        || peers(&v0).ok()?.into_iter().find(|p| p.id == id_a),
    ));
    // PEX: A asked goval0 for addresses on connect; give the answer a moment, then
    // stop A cleanly (it saves its book).
    std::thread::sleep(Duration::from_secs(5));
    ok(h.stop("ours-a", Duration::from_secs(15)));
    let book_a_path = home_a.join("config/addrbook.json");
    let book_a = load_book(&book_a_path);
    let ours_written = book_addrs(&book_a);
    let want: BTreeSet<String> = net.validators.iter().map(|v| v.addr()).collect();
    assert!(
        want.is_subset(&ours_written),
        "node A's book lacks validator addresses: want {want:?}, has {ours_written:?}"
    );

    // CometBFT on A's home: our config.toml, node_key.json and addrbook.json as
    // written, plus the consensus files of spare node4 (not a validator).
    let spare = &net.spares[0].home;
    std::fs::create_dir_all(home_a.join("data")).expect("mkdir data");
    for f in [
        "config/genesis.json",
        "config/priv_validator_key.json",
        "data/priv_validator_state.json",
    ] {
        std::fs::copy(spare.join(f), home_a.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
    }
    let cfg_before = ok(read(&cfg_a));
    let rpc_a = SocketAddr::from((OURS_A, ok(free_port(&[OURS_A], &[port_a]))));
    let mut go_a = Command::new(&cometbft);
    go_a.arg("start")
        .arg("--home")
        .arg(&home_a)
        // Not [p2p] keys: our config.toml leaves them at CometBFT's defaults.
        .args([
            "--proxy_app",
            "kvstore",
            "--rpc.laddr",
            &format!("tcp://{rpc_a}"),
        ]);
    ok(h.spawn("go-on-ours", go_a));
    let go_node = GoNode {
        home: home_a.clone(),
        moniker: "go-on-ours".into(),
        id: id_a.clone(),
        p2p: listen_a,
        rpc: rpc_a,
    };
    let st = ok(wait_for(
        "cometbft on our home to answer /status",
        Duration::from_secs(30),
        || rpc(rpc_a, "/status").ok(),
    ));
    let ni = &st["node_info"];
    assert_eq!(
        ni["id"],
        id_a.as_str(),
        "cometbft on our node_key.json has another node ID"
    );
    assert_eq!(
        ni["moniker"], "cometnet-a",
        "cometbft did not take our config.toml's moniker"
    );
    assert_eq!(
        ni["listen_addr"],
        format!("tcp://{listen_a}"),
        "cometbft did not take our [p2p].laddr"
    );
    assert_eq!(ni["network"], net.chain_id.as_str());
    // No seeds, no persistent peers: every outbound peer came from our addrbook.json,
    // and [p2p].max_num_outbound_peers = 2 caps them.
    let t_dial = now();
    let outbound = ok(wait_for(
        "cometbft on our home to dial 2 peers from our book",
        Duration::from_secs(45),
        || {
            let p = peers(&go_node).ok()?;
            let out: BTreeSet<String> = p
                .iter()
                .filter(|p| p.outbound)
                .map(|p| p.id.clone())
                .collect();
            assert!(
                out.len() <= 2,
                "cometbft dialed {} peers; our config says max_num_outbound_peers = 2",
                out.len()
            );
            (out.len() == 2).then_some(out)
        },
    ));
    assert!(
        outbound.is_subset(&ids),
        "cometbft dialed non-validators: {outbound:?}"
    );
    eprintln!(
        "cometbft on our home dialed 2 peers from our book after {:?}",
        t_dial.elapsed()
    );
    ok(wait_height(&go_node, 3, Duration::from_secs(30)));
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        let n = ok(peers(&go_node)).iter().filter(|p| p.outbound).count();
        assert!(
            n <= 2,
            "cometbft has {n} outbound peers; max_num_outbound_peers = 2"
        );
    }
    ok(h.stop("go-on-ours", Duration::from_secs(15)));
    assert_eq!(
        ok(read(&cfg_a)),
        cfg_before,
        "cometbft rewrote our config.toml"
    );
    // CometBFT saved the book it loaded from our file: our loader reads it back,
    // with the same key and every entry kept, in the buckets our hash computes.
    let book_go_saved = load_book(&book_a_path);
    assert_eq!(
        book_go_saved.key(),
        book_a.key(),
        "cometbft changed the book key"
    );
    let go_saved = book_addrs(&book_go_saved);
    assert!(
        ours_written.is_subset(&go_saved),
        "cometbft dropped entries: {ours_written:?} -> {go_saved:?}"
    );
    check_loaded(&book_go_saved, &book_a_path, "cometbft's save of our book");

    // ---- B: CometBFT's files (node5's key, goval3's book) in our node ----
    ok(h.stop(&v3.moniker, Duration::from_secs(20)));
    let go_book = v3.home.join("config/addrbook.json");
    let book_go = load_book(&go_book);
    check_loaded(&book_go, &go_book, "goval3's addrbook.json");
    assert!(
        book_addrs(&book_go)
            .iter()
            .filter(|a| want.contains(*a))
            .count()
            >= 3,
        "goval3's book lacks the other validators: {:?}",
        book_addrs(&book_go)
    );
    let key_b = &net.spares[1];
    let loaded = p2p::NodeKey::load(&key_b.home.join("config/node_key.json"))
        .expect("our loader reads cometbft's node_key.json");
    assert_eq!(
        loaded.node_id().to_string(),
        key_b.id,
        "node ID of cometbft's key differs from `cometbft show-node-id`"
    );

    let port_b = ok(free_port(&[OURS_B], &[]));
    let home_b = h.dir.join("ours-b");
    let mut init = Command::new(&bin);
    init.args(["node", "init", "--home"])
        .arg(&home_b)
        .args([
            "--laddr",
            &format!("tcp://{}", SocketAddr::from((OURS_B, port_b))),
        ])
        .args(["--network", &net.chain_id, "--moniker", "cometnet-b"]);
    ok(h.run(init, Duration::from_secs(30)));
    let cfg_b = home_b.join("config/config.toml");
    ok(write(
        &cfg_b,
        &ok(set_toml_key(
            &ok(read(&cfg_b)),
            "p2p",
            "addr_book_strict",
            "false",
        )),
    ));
    std::fs::copy(
        key_b.home.join("config/node_key.json"),
        home_b.join("config/node_key.json"),
    )
    .expect("copy key");
    std::fs::copy(&go_book, home_b.join("config/addrbook.json")).expect("copy book");
    let mut id_cmd = Command::new(&bin);
    id_cmd.arg("id").arg(&home_b);
    assert_eq!(
        ok(h.run(id_cmd, Duration::from_secs(10))).trim(),
        key_b.id,
        "`cometnet id` of cometbft's key"
    );
    let mut start = Command::new(&bin);
    start
        .args(["node", "start", "--home"])
        .arg(&home_b)
        .env("RUST_LOG", "info");
    ok(h.spawn("ours-b", start));
    // No seeds or persistent peers: B can only find the validators in goval3's book.
    let t_b = now();
    let (who, p) = ok(wait_for(
        "a running validator to list node B (dialed from cometbft's book)",
        Duration::from_secs(45),
        || {
            net.validators[..3].iter().find_map(|v| {
                let p = peers(v).ok()?.into_iter().find(|p| p.id == key_b.id)?;
                Some((v.moniker.clone(), p))
            })
        },
    ));
    assert!(
        !p.outbound,
        "{who} dialed node B; B should have dialed it from its book"
    );
    assert_eq!(p.node_info["moniker"], "cometnet-b");
    eprintln!(
        "{who} lists node B (cometbft's key, dialed from cometbft's book) after {:?}; total {:?}",
        t_b.elapsed(),
        t_start.elapsed()
    );
    let st = status_of(v0.rpc);
    assert!(st["sync_info"]["latest_block_height"].as_str().is_some());
}
