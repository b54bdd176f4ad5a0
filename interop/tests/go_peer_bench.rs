//! Measurement, not a check: handshake time and bulk throughput on channel
//! 0x70 between our node and CometBFT's Go peer over loopback, each side as
//! dialer and as sender, in one run. Prints a table.
//!
//! `bash interop/run go_peer_bench -- --nocapture` (ignored by default). The
//! suite builds in the dev profile: our `p2p` crate at opt-level 0 (its
//! dependencies, the crypto included, at 2); Go is optimized.

#![allow(clippy::disallowed_methods)] // measures wall time

use std::time::{Duration, Instant};

use cometnet_interop::gopeer::{ev_is, wait_for, GoPeer, NodeSpec, OurEvent, OurNode};

const T: Duration = Duration::from_secs(60);
const ROUNDS: usize = 5;
const MSG: usize = 64 * 1024;
const COUNT: usize = 256; // 16 MiB
const RATE: &str = "1000000000";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "Go interop: run bash interop/run"]
async fn go_peer_bench() {
    let ours = OurNode::start(NodeSpec {
        rate: 1_000_000_000,
        keep_bytes: false,
        pex: false,
        ..NodeSpec::default()
    })
    .await;
    let mut go = GoPeer::start(&[
        "-pex=false",
        "-echo=false",
        "-flush",
        "10ms",
        "-send-rate",
        RATE,
        "-recv-rate",
        RATE,
    ]);
    let gid = go.node_id();
    let removed = |n: usize| {
        let ev = ours.events.events();
        ev.iter()
            .filter(|e| matches!(e, OurEvent::PeerRemoved { id, .. } if *id == gid))
            .count()
            >= n
    };

    // Handshake (TCP connect + SecretConnection + NodeInfo + peer start), we dial.
    let mut ours_dial = Vec::new();
    for round in 1..=ROUNDS {
        let t0 = Instant::now();
        ours.switch
            .dial_peer_with_address(&go.net_address())
            .await
            .unwrap();
        ours_dial.push(t0.elapsed());
        ours.switch.stop_peer_gracefully(&gid);
        let gone = wait_for(T, || (go.named("peer_removed").len() >= round).then_some(())).await;
        assert!(gone.is_some() && wait_for(T, || removed(round).then_some(())).await.is_some());
    }
    // Go dials (its DialPeerWithAddress, timed in Go).
    let mut go_dial = Vec::new();
    for round in 1..=ROUNDS {
        go.cmd(&format!("dial {}", ours.addr));
        let d = wait_for(T, || {
            let d = go.named("dial");
            (d.len() >= round).then(|| d[round - 1].clone())
        })
        .await
        .expect("dial result");
        assert_eq!(d["ok"], true, "{d}");
        go_dial.push(Duration::from_micros(d["elapsed_us"].as_u64().unwrap()));
        go.cmd(&format!("stop {}", ours.id()));
        let n = ROUNDS + round;
        let gone = wait_for(T, || (go.named("peer_removed").len() >= n).then_some(())).await;
        assert!(gone.is_some() && wait_for(T, || removed(n).then_some(())).await.is_some());
    }

    // Bulk: COUNT messages of MSG bytes each way on one connection.
    ours.switch
        .dial_peer_with_address(&go.net_address())
        .await
        .unwrap();
    let msg = cometnet_interop::gopeer::payload(MSG, 7);
    let peer = ours.peer(&gid).unwrap();
    let t0 = Instant::now();
    for _ in 0..COUNT {
        assert!(peer.send(0x70, msg.clone()).await);
    }
    let all = wait_for(T, || (go.named("recv").len() >= COUNT).then(Instant::now)).await;
    let ours_send = all.expect("Go received everything") - t0;

    let t0 = Instant::now();
    go.cmd(&format!("send {} {MSG} {COUNT} 9", ours.id()));
    let last = wait_for(T, || {
        let (n, bytes, last) = ours.probe.totals();
        (n >= COUNT).then(|| {
            assert_eq!(bytes, MSG * COUNT);
            last.unwrap()
        })
    })
    .await
    .expect("we received everything");
    let go_send = last - t0;
    let sent = go.expect(T, "sent", |e| ev_is(e, "sent")).await;
    assert_eq!(sent["ok"], COUNT);

    let mib = (MSG * COUNT) as f64 / (1024.0 * 1024.0);
    let rate = |d: Duration| mib / d.as_secs_f64();
    println!();
    println!("go_peer_bench: loopback, {ROUNDS} handshakes each way (median), {mib} MiB in {COUNT} x {} KiB messages on 0x70, rate limits 1 GB/s", MSG / 1024);
    println!("| dialer / sender | handshake (median) | bulk time | MiB/s |");
    println!("|---|---|---|---|");
    println!(
        "| ours -> Go | {:.2} ms | {:.0} ms | {:.1} |",
        median(ours_dial).as_secs_f64() * 1e3,
        ours_send.as_secs_f64() * 1e3,
        rate(ours_send)
    );
    println!(
        "| Go -> ours | {:.2} ms | {:.0} ms | {:.1} |",
        median(go_dial).as_secs_f64() * 1e3,
        go_send.as_secs_f64() * 1e3,
        rate(go_send)
    );
    ours.switch.stop().await;
}
