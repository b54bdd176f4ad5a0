//! PEX between our node and CometBFT's own PEX reactor (`interop/go/gopeer`)
//! over loopback, both ways: each side learns the addresses in the other's
//! book; the Go peer in seed (crawler) mode crawls us; our node in seed mode
//! answers the Go peer's request and then disconnects it, as Go's seeds do.
//!
//! Run with `bash interop/run` (these tests are `#[ignore]`d).

#![allow(clippy::disallowed_methods)] // tests wait on the wall clock

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use cometnet_interop::gopeer::{ev_is, wait_for, GoPeer, NodeSpec, OurEvent, OurNode};
use p2p::netaddr::NetAddress;
use p2p::switch::StopReason;
use p2p::NodeKey;

const T: Duration = Duration::from_secs(20);

/// Three addresses nobody listens on (ports 2-4 of 127.0.0.1), IDs from `tag`.
fn fake_addrs(tag: u8) -> Vec<NetAddress> {
    (0..3u8)
        .map(|i| {
            NetAddress::from_socket_addr(
                NodeKey::from_seed([tag.wrapping_add(i); 32]).node_id(),
                SocketAddr::from(([127, 0, 0, 1], 2 + u16::from(i))),
            )
        })
        .collect()
}

fn strings(addrs: &[NetAddress]) -> BTreeSet<String> {
    addrs.iter().map(|a| a.to_string()).collect()
}

fn go_list(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn join(addrs: &[NetAddress]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

const GO_FAST: [&str; 2] = ["-flush", "10ms"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn we_learn_the_go_peers_addresses() {
    let theirs = fake_addrs(0xa0);
    let ours = OurNode::start(NodeSpec::default()).await;
    let go = GoPeer::start(&[&GO_FAST[..], &["-book-add", &join(&theirs)]].concat());
    ours.switch
        .dial_peer_with_address(&go.net_address())
        .await
        .unwrap();
    // Outbound peer and our book needs addresses: we ask, Go answers.
    let gid = go.node_id();
    let got = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PexAddrs { from, addrs } if *from == gid => Some(addrs.clone()),
            _ => None,
        })
    })
    .await
    .expect("a PEX address list from Go");
    go.expect(T, "our pex request", |e| {
        ev_is(e, "pex_request") && e["peer"] == ours.id().to_string()
    })
    .await;
    let got = strings(&got);
    assert!(strings(&theirs).is_subset(&got), "{got:?}");
    let book = strings(&ours.book());
    for a in &theirs {
        assert!(
            book.contains(&a.to_string()),
            "{a} not in our book {book:?}"
        );
    }
    // Go does not hold it against us: one request, connection kept.
    assert!(go.named("peer_removed").is_empty(), "{}", go.dump());
    // Go put our self-reported address (NodeInfo listen_addr) in its book.
    let mut go = go;
    go.cmd("book");
    let book = go.expect(T, "book", |e| ev_is(e, "book")).await;
    assert!(
        go_list(&book["addrs"]).contains(&ours.addr.to_string()),
        "{book}"
    );
    ours.switch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn the_go_peer_learns_our_addresses() {
    let mine = fake_addrs(0xb0);
    let ours = OurNode::start(NodeSpec {
        book: mine.clone(),
        ..NodeSpec::default()
    })
    .await;
    let mut go = GoPeer::start(&GO_FAST);
    go.cmd(&format!("dial {}", ours.addr));
    let list = go
        .expect(T, "pex_addrs from us", |e| {
            ev_is(e, "pex_addrs") && e["peer"] == ours.id().to_string()
        })
        .await;
    let got = go_list(&list["addrs"]);
    assert!(strings(&mine).is_subset(&got), "{got:?}");
    // Go's address book took them.
    go.cmd("book");
    let book = go.expect(T, "book", |e| ev_is(e, "book")).await;
    let book = go_list(&book["addrs"]);
    assert!(strings(&mine).is_subset(&book), "{book:?}");
    let gid = go.node_id();
    let req = ours
        .events
        .events()
        .iter()
        .filter(|e| matches!(e, OurEvent::PeerRemoved { id, .. } if *id == gid))
        .count();
    assert_eq!(req, 0, "we keep the Go peer: {:?}", ours.events.events());
    ours.switch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn a_go_seed_crawls_us() {
    let mine = fake_addrs(0xc0);
    let ours = OurNode::start(NodeSpec {
        book: mine.clone(),
        ..NodeSpec::default()
    })
    .await;
    let our_addr = ours.addr.to_string();
    // The crawler knows only us: its first crawl dials us and asks for addresses.
    let go = GoPeer::start(&[&GO_FAST[..], &["-seed-mode", "-book-add", &our_addr]].concat());
    let added = go
        .expect(T, "crawler connected to us", |e| {
            ev_is(e, "peer_added") && e["id"] == ours.id().to_string()
        })
        .await;
    assert_eq!(added["outbound"], true);
    let list = go
        .expect(T, "pex_addrs from us", |e| {
            ev_is(e, "pex_addrs") && e["peer"] == ours.id().to_string()
        })
        .await;
    let got = go_list(&list["addrs"]);
    assert!(strings(&mine).is_subset(&got), "{got:?}");
    let gid = go.node_id();
    let inbound = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerAdded { id, outbound, .. } if *id == gid => Some(*outbound),
            _ => None,
        })
    })
    .await;
    assert_eq!(inbound, Some(false));
    ours.switch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn our_seed_serves_a_go_peer_then_disconnects_it() {
    let mine = fake_addrs(0xd0);
    let ours = OurNode::start(NodeSpec {
        seed_mode: true,
        book: mine.clone(),
        ..NodeSpec::default()
    })
    .await;
    let our_id = ours.id().to_string();
    let our_addr = ours.addr.to_string();
    // A normal Go node with us as its only seed: its empty book makes it dial
    // the seed at once and ask for addresses.
    let go = GoPeer::start(&[&GO_FAST[..], &["-seeds", &our_addr]].concat());
    let list = go
        .expect(T, "pex_addrs from our seed", |e| {
            ev_is(e, "pex_addrs") && e["peer"] == our_id.as_str()
        })
        .await;
    let got = go_list(&list["addrs"]);
    assert!(strings(&mine).is_subset(&got), "{got:?}");
    // Then we hang up, after the list went out.
    let removed = go
        .expect(T, "our seed disconnects", |e| {
            ev_is(e, "peer_removed") && e["id"] == our_id.as_str()
        })
        .await;
    assert!(
        removed["t_us"].as_i64() >= list["t_us"].as_i64(),
        "{removed} before {list}"
    );
    let gid = go.node_id();
    let reason = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("removed on our side");
    assert!(matches!(reason, StopReason::Graceful), "{reason:?}");
    // Go took the addresses into its book (and would now dial them).
    let mut go = go;
    go.cmd("book");
    let book = go.expect(T, "book", |e| ev_is(e, "book")).await;
    let book = go_list(&book["addrs"]);
    assert!(strings(&mine).is_subset(&book), "{book:?}");
    ours.switch.stop().await;
}

/// Go's rule (`receiveRequest`): the first request is free, the second sets
/// the clock, a third within a third of the ensure-peers period (30 s: 10 s)
/// is misbehaviour. A Go peer asking every 2 s is stopped by us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn we_stop_a_go_peer_that_asks_too_often() {
    let ours = OurNode::start(NodeSpec::default()).await;
    let mut go = GoPeer::start(&[&GO_FAST[..], &["-ensure-peers-period", "2s"]].concat());
    go.cmd(&format!("dial {}", ours.addr));
    let gid = go.node_id();
    let reason = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("we stop the Go peer");
    match &reason {
        StopReason::Reactor { fault, message } => {
            assert_eq!(*fault, p2p::transport::Fault::PeerMisbehaved);
            assert!(message.starts_with("PEX request"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let removed = go
        .expect(T, "peer_removed", |e| {
            ev_is(e, "peer_removed") && e["id"] == ours.id().to_string()
        })
        .await;
    assert_eq!(removed["graceful"], false);
    ours.switch.stop().await;
}

/// The same rule in Go: our node asking every 2 s is stopped by the Go peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn go_stops_our_node_when_it_asks_too_often() {
    let ours = OurNode::start(NodeSpec {
        ensure_peers_period: Duration::from_secs(2),
        ..NodeSpec::default()
    })
    .await;
    let go = GoPeer::start(&GO_FAST);
    ours.switch
        .dial_peer_with_address(&go.net_address())
        .await
        .unwrap();
    let removed = go
        .expect(T, "peer_removed", |e| {
            ev_is(e, "peer_removed") && e["id"] == ours.id().to_string()
        })
        .await;
    let reason = removed["reason"].as_str().unwrap();
    assert!(
        reason.contains("sent next PEX request too soon"),
        "{reason}"
    );
    let requests = go
        .named("pex_request")
        .iter()
        .filter(|e| e["peer"] == ours.id().to_string())
        .count();
    assert_eq!(requests, 3, "{}", go.dump());
    let gid = go.node_id();
    let ours_reason = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("removed on our side");
    assert!(
        matches!(ours_reason, StopReason::Connection(_)),
        "{ours_reason:?}"
    );
    ours.switch.stop().await;
}

/// Our node in seed (crawler) mode crawls a Go node it has in its book.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn our_seed_crawls_a_go_node() {
    let theirs = fake_addrs(0xe0);
    let go = GoPeer::start(&[&GO_FAST[..], &["-book-add", &join(&theirs)]].concat());
    let ours = OurNode::start(NodeSpec {
        seed_mode: true,
        book: vec![go.net_address()],
        ..NodeSpec::default()
    })
    .await;
    let gid = go.node_id();
    let got = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PexAddrs { from, addrs } if *from == gid => Some(addrs.clone()),
            _ => None,
        })
    })
    .await
    .expect("our crawler got Go's addresses");
    let got = strings(&got);
    assert!(strings(&theirs).is_subset(&got), "{got:?}");
    let added = go
        .expect(T, "our crawler connected", |e| {
            ev_is(e, "peer_added") && e["id"] == ours.id().to_string()
        })
        .await;
    assert_eq!(added["outbound"], false);
    go.expect(T, "our crawler's request", |e| {
        ev_is(e, "pex_request") && e["peer"] == ours.id().to_string()
    })
    .await;
    ours.switch.stop().await;
}

/// A Go seed serves our node: we dial it as our seed, ask, get its book,
/// and it hangs up on us after the list went out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn a_go_seed_serves_our_node_then_disconnects_it() {
    let theirs = fake_addrs(0xf0);
    let go = GoPeer::start(&[&GO_FAST[..], &["-seed-mode", "-book-add", &join(&theirs)]].concat());
    let ours = OurNode::start(NodeSpec {
        seeds: vec![go.net_address()],
        ..NodeSpec::default()
    })
    .await;
    let gid = go.node_id();
    let got = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PexAddrs { from, addrs } if *from == gid => Some(addrs.clone()),
            _ => None,
        })
    })
    .await
    .expect("the Go seed's addresses reached us");
    let got = strings(&got);
    assert!(strings(&theirs).is_subset(&got), "{got:?}");
    let removed = go
        .expect(T, "the seed stops us", |e| {
            ev_is(e, "peer_removed") && e["id"] == ours.id().to_string()
        })
        .await;
    assert_eq!(removed["graceful"], true, "{removed}");
    let reason = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("removed on our side");
    assert!(matches!(reason, StopReason::Connection(_)), "{reason:?}");
    let book = strings(&ours.book());
    for a in &theirs {
        assert!(
            book.contains(&a.to_string()),
            "{a} not in our book {book:?}"
        );
    }
    ours.switch.stop().await;
}
