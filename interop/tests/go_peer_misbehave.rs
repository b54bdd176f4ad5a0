//! Misbehaviour on the PEX channel between our node and CometBFT's Go PEX
//! reactor (`interop/go/gopeer`), both ways, each side with its own reason:
//! an address list nobody asked for, and bytes that are not a PEX message.
//! The Go peer sends raw bytes with its `raw` command; we send them with
//! `Peer::send` on channel 0x00.
//!
//! Run with `bash interop/run` (these tests are `#[ignore]`d).

#![allow(clippy::disallowed_methods)] // tests wait on the wall clock

use std::time::Duration;

use cometnet_interop::gopeer::{ev_is, wait_for, GoPeer, NodeSpec, OurEvent, OurNode};
use p2p::switch::StopReason;
use p2p::transport::Fault;

const T: Duration = Duration::from_secs(20);
/// `Message { pex_addrs: PexAddrs { addrs: [] } }`.
const EMPTY_ADDRS: [u8; 2] = [0x12, 0x00];
/// Not protobuf: field 31, wire type 7.
const GARBAGE: [u8; 3] = [0xff, 0xff, 0xff];

/// A connected pair; `go_dials`: the Go peer is the outbound side.
async fn pair(go_dials: bool) -> (OurNode, GoPeer) {
    let ours = OurNode::start(NodeSpec::default()).await;
    let mut go = GoPeer::start(&["-flush", "10ms"]);
    if go_dials {
        go.cmd(&format!("dial {}", ours.addr));
    } else {
        ours.switch
            .dial_peer_with_address(&go.net_address())
            .await
            .unwrap();
    }
    go.expect(T, "peer_added", |e| {
        ev_is(e, "peer_added") && e["id"] == ours.id().to_string()
    })
    .await;
    let gid = go.node_id();
    let added = wait_for(T, || ours.peer(&gid).map(|_| ())).await;
    assert!(added.is_some(), "not connected on our side");
    (ours, go)
}

/// Go sends `bytes` on 0x00; we stop it for misbehaviour with a message
/// starting with `ours`.
async fn go_sends(bytes: &[u8], ours_msg: &str) {
    let (ours, mut go) = pair(true).await;
    go.cmd(&format!("raw {} 0 {}", ours.id(), hex(bytes)));
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
            assert_eq!(*fault, Fault::PeerMisbehaved);
            assert!(message.starts_with(ours_msg), "{message}");
        }
        other => panic!("{other:?}"),
    }
    go.expect(T, "peer_removed", |e| ev_is(e, "peer_removed"))
        .await;
    ours.switch.stop().await;
}

/// We send `bytes` on 0x00; Go stops us with a reason starting with `go_msg`.
async fn we_send(bytes: &[u8], go_msg: &str) {
    let (ours, go) = pair(false).await;
    let gid = go.node_id();
    assert!(ours.peer(&gid).unwrap().send(0x00, bytes.to_vec()).await);
    let removed = go
        .expect(T, "peer_removed", |e| {
            ev_is(e, "peer_removed") && e["id"] == ours.id().to_string()
        })
        .await;
    let reason = removed["reason"].as_str().unwrap();
    assert!(reason.starts_with(go_msg), "{reason}");
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn unsolicited_addrs_from_go_are_refused_by_us() {
    go_sends(&EMPTY_ADDRS, "unsolicited PEX address list").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn unsolicited_addrs_from_us_are_refused_by_go() {
    we_send(&EMPTY_ADDRS, "unsolicited pexAddrsMessage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn malformed_pex_message_from_go_is_refused_by_us() {
    go_sends(&GARBAGE, "malformed PEX message").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn malformed_pex_message_from_us_is_refused_by_go() {
    we_send(&GARBAGE, "recovered from panic: unmarshaling message").await;
}
