//! Our stack against CometBFT's own Go p2p code (`interop/go/gopeer`: a real
//! `p2p.Switch` with `MultiplexTransport`, the PEX reactor and an echo
//! reactor on channel 0x70), over loopback TCP, both directions:
//! handshake + NodeInfo exchange + keepalive, messages byte-exact up to the
//! channel capacity, oversize messages refused by the receiver, and
//! incompatible NodeInfos refused by both sides. PEX is in `go_peer_pex.rs`.
//!
//! Run with `bash interop/run` (these tests are `#[ignore]`d).

#![allow(clippy::disallowed_methods)] // tests wait on the wall clock

use std::time::Duration;

use cometnet_interop::gopeer::{
    ev_is, payload, sha256_hex, wait_for, GoPeer, NodeSpec, OurEvent, OurNode, CHANNEL,
    DEFAULT_RECV_CAP,
};
use p2p::mconn::MConnError;
use p2p::switch::StopReason;

const T: Duration = Duration::from_secs(20);
const PING: Duration = Duration::from_millis(300);
const PONG: Duration = Duration::from_millis(250);

fn spec() -> NodeSpec {
    NodeSpec {
        ping: PING,
        pong: PONG,
        rate: 100_000_000,
        ..NodeSpec::default()
    }
}

const GO_FAST: [&str; 10] = [
    "-ping",
    "300ms",
    "-pong",
    "250ms",
    "-flush",
    "10ms",
    "-send-rate",
    "100000000",
    "-recv-rate",
    "100000000",
];

fn go_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a: Vec<&str> = GO_FAST.to_vec();
    a.extend_from_slice(extra);
    a
}

/// Connects `ours` and `go` (we dial, or Go dials) and checks both sides'
/// view of the new peer, including the NodeInfo each received.
async fn connect(ours: &OurNode, go: &mut GoPeer, we_dial: bool) {
    if we_dial {
        let peer = ours
            .switch
            .dial_peer_with_address(&go.net_address())
            .await
            .unwrap_or_else(|e| panic!("we dial Go: {e}\n{}", go.dump()));
        assert_eq!(peer.id(), go.node_id());
    } else {
        go.cmd(&format!("dial {}", ours.addr));
        let d = go.expect(T, "dial result", |e| ev_is(e, "dial")).await;
        assert_eq!(d["ok"], true, "Go dials us: {d}\n{}", go.dump());
    }
    let gid = go.node_id();
    let (outbound, info) = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerAdded { id, outbound, info } if *id == gid => {
                Some((*outbound, info.clone()))
            }
            _ => None,
        })
    })
    .await
    .expect("Go peer added on our side");
    assert_eq!(outbound, we_dial);
    assert_eq!(info.moniker, "gopeer");
    assert_eq!(info.network, "cometnet-interop");
    assert_eq!(info.version, "0.38.26");
    assert_eq!(info.channels, vec![CHANNEL, 0x00]);
    assert_eq!(info.listen_addr, format!("tcp://{}", go.listen));

    let added = go
        .expect(T, "peer_added", |e| {
            ev_is(e, "peer_added") && e["id"] == ours.id().to_string()
        })
        .await;
    assert_eq!(added["outbound"], !we_dial, "{added}");
    let ni = &added["node_info"];
    assert_eq!(ni["moniker"], "cometnet-interop");
    assert_eq!(ni["network"], "cometnet-interop");
    assert_eq!(ni["channels"], "7000");
    assert_eq!(ni["version"], ours.switch.node_info().version.as_str());
    assert_eq!(
        ni["listen_addr"],
        format!("tcp://127.0.0.1:{}", ours.addr.port())
    );
}

/// Handshake both ways, then keepalive: with 300 ms pings and 250 ms pong
/// timeouts on both sides, the connection lives through > 3 ping intervals
/// and Go logs our pings and our pongs to its pings.
async fn handshake_and_keepalive(we_dial: bool) {
    let ours = OurNode::start(spec()).await;
    let mut go = GoPeer::start(&go_args(&["-debug-match", "^Receive (Ping|Pong)$"]));
    connect(&ours, &mut go, we_dial).await;
    tokio::time::sleep(PING * 5).await;
    let count = |m: &str| {
        go.named("log")
            .iter()
            .filter(|e| e["msg"] == m && e["level"] == "debug")
            .count()
    };
    let (pings, pongs) = (count("Receive Ping"), count("Receive Pong"));
    assert!(
        pings >= 3,
        "Go received {pings} pings from us in 5 intervals"
    );
    assert!(
        pongs >= 3,
        "Go received {pongs} pongs from us in 5 intervals"
    );
    assert!(go.named("peer_removed").is_empty(), "{}", go.dump());
    let peer = ours
        .peer(&go.node_id())
        .expect("still connected on our side");
    assert!(peer.is_running());
    assert!(
        !ours
            .events
            .events()
            .iter()
            .any(|e| matches!(e, OurEvent::PeerRemoved { .. })),
        "{:?}",
        ours.events.events()
    );
    ours.switch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn we_dial_go_handshake_and_keepalive() {
    handshake_and_keepalive(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn go_dials_us_handshake_and_keepalive() {
    handshake_and_keepalive(false).await;
}

/// Waits until our probe holds `n` messages and returns the last one.
async fn nth_received(ours: &OurNode, n: usize) -> Vec<u8> {
    let got = wait_for(T, || {
        let r = ours.probe.received();
        (r.len() >= n).then(|| r[n - 1].data.clone())
    })
    .await;
    got.unwrap_or_else(|| {
        panic!(
            "message {n} did not arrive on our side; our events: {:?}",
            ours.events.events()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn messages_both_ways_byte_exact_up_to_capacity() {
    // Default keepalive (60 s / 45 s): 4 MiB messages through a debug build
    // can hold a pong back longer than the 250 ms of the keepalive tests.
    let ours = OurNode::start(NodeSpec {
        rate: 100_000_000,
        ..NodeSpec::default()
    })
    .await;
    let mut go = GoPeer::start(&[
        "-flush",
        "10ms",
        "-send-rate",
        "100000000",
        "-recv-rate",
        "100000000",
    ]);
    connect(&ours, &mut go, true).await;
    let gid = go.node_id();
    let sizes = [1, 1024, 100 * 1024, DEFAULT_RECV_CAP - 1, DEFAULT_RECV_CAP];
    let mut n = 0;
    // Ours -> Go (checked by length and SHA-256 in Go's log), echoed back
    // by Go (checked byte for byte here).
    for (i, &len) in sizes.iter().enumerate() {
        let msg = payload(len, i as u8);
        assert!(ours.send(&gid, msg.clone()).await, "send {len}");
        let sha = sha256_hex(&msg);
        let recv = go
            .expect(T, "recv", |e| {
                ev_is(e, "recv") && e["sha256"] == sha.as_str()
            })
            .await;
        assert_eq!(recv["len"], len, "{recv}");
        assert_eq!(recv["channel"], CHANNEL, "{recv}");
        assert_eq!(recv["peer"], ours.id().to_string());
        n += 1;
        let echo = go
            .expect(T, "echoed", |e| ev_is(e, "echoed") && e["len"] == len)
            .await;
        assert_eq!(echo["ok"], true, "{echo}");
        let echoed = nth_received(&ours, n).await;
        assert_eq!(echoed.len(), len);
        assert!(echoed == msg, "echo of {len} bytes differs");
    }
    // Go -> ours, sent by the Go peer itself.
    for (i, &len) in sizes.iter().enumerate() {
        let tag = 0x80 | i as u8;
        go.cmd(&format!(
            "send {gid_ours} {len} 1 {tag}",
            gid_ours = ours.id()
        ));
        n += 1;
        let got = nth_received(&ours, n).await;
        assert_eq!(got.len(), len);
        assert!(got == payload(len, tag), "Go's {len}-byte message differs");
    }
    let sent = go.named("sent");
    assert_eq!(sent.len(), sizes.len());
    assert!(sent.iter().all(|e| e["ok"] == 1), "{sent:?}");
    assert!(go.named("peer_removed").is_empty(), "{}", go.dump());
    ours.switch.stop().await;
}

const SMALL_CAP: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn oversize_message_to_go_is_refused_by_go() {
    let ours = OurNode::start(spec()).await;
    let cap = SMALL_CAP.to_string();
    let mut go = GoPeer::start(&go_args(&["-recv-cap", &cap, "-echo=false"]));
    connect(&ours, &mut go, true).await;
    let gid = go.node_id();
    // Exactly the capacity is fine.
    let ok = payload(SMALL_CAP, 1);
    assert!(ours.send(&gid, ok.clone()).await);
    let sha = sha256_hex(&ok);
    go.expect(T, "recv of the capacity", |e| {
        ev_is(e, "recv") && e["sha256"] == sha.as_str()
    })
    .await;
    // One byte more: Go stops the peer, naming the capacity.
    assert!(ours.send(&gid, payload(SMALL_CAP + 1, 2)).await);
    let removed = go
        .expect(T, "peer_removed", |e| ev_is(e, "peer_removed"))
        .await;
    assert_eq!(removed["id"], ours.id().to_string());
    assert_eq!(
        removed["reason"],
        format!(
            "received message exceeds available capacity: {SMALL_CAP} < {}",
            SMALL_CAP + 1
        )
    );
    assert_eq!(go.named("recv").len(), 1);
    // Our side sees the connection closed by Go.
    let reason = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("removed on our side");
    assert!(
        matches!(
            reason,
            StopReason::Connection(MConnError::ClosedByPeer | MConnError::Io(_))
        ),
        "{reason:?}"
    );
    ours.switch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn oversize_message_from_go_is_refused_by_us() {
    let ours = OurNode::start(NodeSpec {
        recv_cap: SMALL_CAP,
        ..spec()
    })
    .await;
    let mut go = GoPeer::start(&go_args(&[]));
    connect(&ours, &mut go, false).await;
    let gid = go.node_id();
    go.cmd(&format!("send {} {SMALL_CAP} 1 3", ours.id()));
    assert_eq!(nth_received(&ours, 1).await, payload(SMALL_CAP, 3));
    go.cmd(&format!("send {} {} 1 4", ours.id(), SMALL_CAP + 1));
    let reason = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("we drop Go's oversize message");
    // 64 full packets of 1024 bytes, then one of 1 byte: 65537 > 65536.
    assert!(
        matches!(
            reason,
            StopReason::Connection(MConnError::MessageTooLarge {
                channel: CHANNEL,
                len,
                max: SMALL_CAP
            }) if len == SMALL_CAP + 1
        ),
        "{reason:?}"
    );
    assert_eq!(ours.probe.received().len(), 1);
    let removed = go
        .expect(T, "peer_removed", |e| ev_is(e, "peer_removed"))
        .await;
    assert_eq!(removed["id"], ours.id().to_string());
    assert_eq!(removed["graceful"], false);
    ours.switch.stop().await;
}

/// `which` NodeInfo mismatch (network or channels): refused when we dial
/// (our dial fails; Go logs the rejected inbound peer) and when Go dials
/// (Go's dial fails; we report the rejected inbound connection).
async fn incompatible(ours_spec: NodeSpec, go_extra: &[&str], our_variant: &str, go_text: &str) {
    let ours = OurNode::start(ours_spec).await;
    let mut go = GoPeer::start(&go_args(go_extra));
    // We dial.
    let err = match ours.switch.dial_peer_with_address(&go.net_address()).await {
        Ok(p) => panic!("our dial of an incompatible Go peer succeeded: {}", p.id()),
        Err(e) => format!("{e:?}"),
    };
    assert!(err.contains(our_variant), "{err}");
    let rej = go
        .expect(T, "inbound rejection", |e| {
            ev_is(e, "log") && e["msg"] == "Inbound Peer rejected"
        })
        .await;
    let text = rej["kv"]["err"].as_str().unwrap();
    assert!(text.contains(go_text), "{text}");
    // Go dials.
    go.cmd(&format!("dial {}", ours.addr));
    let d = go.expect(T, "dial result", |e| ev_is(e, "dial")).await;
    assert_eq!(d["ok"], false, "{d}");
    let text = d["err"].as_str().unwrap();
    assert!(text.contains(go_text), "{text}");
    let ours_rej = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::InboundRejected { reason } => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("we reject Go's connection");
    assert!(ours_rej.contains(our_variant), "{ours_rej}");
    assert!(go.named("peer_added").is_empty(), "{}", go.dump());
    assert!(ours.switch.peers().is_empty());
    ours.switch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn other_network_is_refused_by_both_sides() {
    let s = NodeSpec {
        network: "other-chain".into(),
        ..spec()
    };
    incompatible(
        s,
        &[],
        "Incompatible(Network {",
        "peer is on a different network",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn no_common_channel_is_refused_by_both_sides() {
    incompatible(
        spec(),
        &["-channels", "20,21"],
        "Incompatible(NoCommonChannel {",
        "peer has no common channels",
    )
    .await;
}

/// A 0-byte message is a single packet with `eof` set and no `data` field
/// on the wire: both sides deliver it as an empty message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn empty_message_both_ways() {
    let ours = OurNode::start(spec()).await;
    let mut go = GoPeer::start(&go_args(&[]));
    connect(&ours, &mut go, true).await;
    let gid = go.node_id();
    assert!(ours.send(&gid, Vec::new()).await);
    let recv = go
        .expect(T, "recv of 0 bytes", |e| ev_is(e, "recv") && e["len"] == 0)
        .await;
    assert_eq!(recv["sha256"], sha256_hex(&[]));
    // Go's echo, then a 0-byte message Go sends itself.
    assert_eq!(nth_received(&ours, 1).await, Vec::<u8>::new());
    go.cmd(&format!("send {} 0 1", ours.id()));
    assert_eq!(nth_received(&ours, 2).await, Vec::<u8>::new());
    assert!(go.named("peer_removed").is_empty(), "{}", go.dump());
    assert!(ours.peer(&gid).is_some());
    ours.switch.stop().await;
}

/// Go checks only the receiver's NodeInfo before sending, and the receiver
/// only its own channels: with a Go peer that does not advertise 0x70 we do
/// not send on it, yet Go may send to us on it and we deliver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn channel_the_go_peer_does_not_advertise() {
    let ours = OurNode::start(spec()).await;
    let mut go = GoPeer::start(&go_args(&["-channels", "00"]));
    connect_unchecked(&ours, &go).await;
    let gid = go.node_id();
    assert!(!ours.send(&gid, payload(10, 1)).await);
    go.cmd(&format!("send {} 10 1 2", ours.id()));
    let sent = go.expect(T, "sent", |e| ev_is(e, "sent")).await;
    assert_eq!(sent["ok"], 1, "{sent}");
    assert_eq!(nth_received(&ours, 1).await, payload(10, 2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(go.named("recv").is_empty(), "{}", go.dump());
    assert!(go.named("peer_removed").is_empty(), "{}", go.dump());
    ours.switch.stop().await;
}

/// We dial `go` and wait until both sides added the peer.
async fn connect_unchecked(ours: &OurNode, go: &GoPeer) {
    ours.switch
        .dial_peer_with_address(&go.net_address())
        .await
        .unwrap_or_else(|e| panic!("we dial Go: {e}\n{}", go.dump()));
    go.expect(T, "peer_added", |e| {
        ev_is(e, "peer_added") && e["id"] == ours.id().to_string()
    })
    .await;
}

/// Go bounds a packet by the size of a full one on channel 1 (1034 bytes for
/// 1024 data bytes), yet fills packets to 1024 data bytes on every channel:
/// on a channel ≥ 0x80 (a 2-byte varint) a full packet is 1035 bytes and
/// the receiver refuses it. Go refuses such packets from us, and we refuse
/// them from Go, at the same sizes: 1023 bytes pass, 1024 do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn full_packets_on_a_channel_above_0x7f_are_refused_as_go_does() {
    const HIGH: u8 = 0x90;
    let high = NodeSpec {
        channel: HIGH,
        ..spec()
    };
    let go_high = go_args(&["-channel", "144", "-echo=false"]);
    // Go sends.
    let ours = OurNode::start(high.clone()).await;
    let mut go = GoPeer::start(&go_high);
    connect_unchecked(&ours, &go).await;
    let gid = go.node_id();
    go.cmd(&format!("send {} 1023 1 1", ours.id()));
    assert_eq!(nth_received(&ours, 1).await, payload(1023, 1));
    go.cmd(&format!("send {} 1024 1 2", ours.id()));
    let reason = wait_for(T, || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await
    .expect("we refuse Go's 1035-byte packet");
    assert!(
        matches!(
            reason,
            StopReason::Connection(MConnError::PacketTooLarge {
                len: 1035,
                max: 1034
            })
        ),
        "{reason:?}"
    );
    ours.switch.stop().await;
    drop(go);
    // We send.
    let ours = OurNode::start(high).await;
    let go = GoPeer::start(&go_high);
    connect_unchecked(&ours, &go).await;
    let gid = go.node_id();
    assert!(ours.send(&gid, payload(1023, 3)).await);
    go.expect(T, "recv of 1023 bytes", |e| {
        ev_is(e, "recv") && e["len"] == 1023
    })
    .await;
    assert!(ours.send(&gid, payload(1024, 4)).await);
    let removed = go
        .expect(T, "peer_removed", |e| ev_is(e, "peer_removed"))
        .await;
    assert_eq!(removed["reason"], "message exceeds max size (1035 > 1034)");
    assert_eq!(go.named("recv").len(), 1);
    ours.switch.stop().await;
}

/// A Go peer that stops answering (SIGSTOP) is dropped by our keepalive:
/// ping every 300 ms, no pong within 250 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn a_frozen_go_peer_is_dropped_for_a_pong_timeout() {
    let ours = OurNode::start(spec()).await;
    let mut go = GoPeer::start(&go_args(&[]));
    connect(&ours, &mut go, true).await;
    let gid = go.node_id();
    go.signal("STOP");
    let reason = wait_for(Duration::from_secs(5), || {
        ours.events.find(|e| match e {
            OurEvent::PeerRemoved { id, reason } if *id == gid => Some(reason.clone()),
            _ => None,
        })
    })
    .await;
    go.signal("CONT");
    let reason = reason.expect("dropped within 5 s");
    assert!(
        matches!(reason, StopReason::Connection(MConnError::PongTimeout)),
        "{reason:?}"
    );
    // Go, woken up, finds the connection gone.
    go.expect(T, "peer_removed", |e| ev_is(e, "peer_removed"))
        .await;
    ours.switch.stop().await;
}
