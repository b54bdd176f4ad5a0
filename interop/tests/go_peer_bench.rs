//! Measurement, not a check: handshake time and bulk throughput on channel
//! 0x70 between our node and CometBFT's Go peer over loopback, each side as
//! dialer and as sender, in one run. Prints a table.
//!
//! A third row, Go to Go (two gopeers), is the reference on the same machine
//! in the same run.
//!
//! `bash interop/run go_peer_bench --nocapture` runs it in the dev profile,
//! where our `p2p` crate is at opt-level 0 (dependencies at 2): throughput is
//! then ~30x lower. For comparable numbers build it optimized, with the
//! variables `interop/run` exports:
//! `cargo test --release -p cometnet-interop --test go_peer_bench -- --ignored --nocapture`.

#![allow(clippy::disallowed_methods)] // measures wall time

use std::time::{Duration, Instant, SystemTime};

use cometnet_interop::gopeer::{ev_is, wait_for, GoPeer, NodeSpec, OurEvent, OurNode};

const T: Duration = Duration::from_secs(20);
const ROUNDS: usize = 5;
const MSG: usize = 64 * 1024;
const COUNT: usize = 256; // 16 MiB
const GO_ARGS: [&str; 8] = [
    "-pex=false",
    "-echo=false",
    "-flush",
    "10ms",
    "-send-rate",
    "1000000000",
    "-recv-rate",
    "1000000000",
];

/// Unix time in µs (the clock of gopeer's `t_us`).
fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Waits for `go`'s `n`-th `recv` event and returns its `t_us`.
async fn nth_recv_us(go: &GoPeer, n: usize) -> i64 {
    let ev = wait_for(T, || {
        let r = go.named("recv");
        (r.len() >= n).then(|| r[n - 1].clone())
    })
    .await
    .unwrap_or_else(|| panic!("gopeer received fewer than {n} messages"));
    ev["t_us"].as_i64().unwrap()
}

/// `go` dials `to` ROUNDS times (stopping the peer after each); Go's own timings.
async fn go_dials(
    go: &mut GoPeer,
    to: &str,
    to_id: &str,
    gone: impl Fn(&GoPeer, usize) -> bool,
) -> Vec<Duration> {
    let mut out = Vec::new();
    let base = go.named("dial").len();
    for round in 1..=ROUNDS {
        go.cmd(&format!("dial {to}"));
        let d = wait_for(T, || {
            let d = go.named("dial");
            (d.len() >= base + round).then(|| d[base + round - 1].clone())
        })
        .await
        .expect("dial result");
        assert_eq!(d["ok"], true, "{d}");
        out.push(Duration::from_micros(d["elapsed_us"].as_u64().unwrap()));
        go.cmd(&format!("stop {to_id}"));
        let ok = wait_for(T, || gone(go, round).then_some(())).await;
        assert!(ok.is_some(), "round {round} to {to}:\n{}", go.dump());
    }
    out
}

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
    let mut go = GoPeer::start(&GO_ARGS);
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
        let gone = wait_for(T, || {
            (go.named("peer_removed").len() >= round).then_some(())
        })
        .await;
        assert!(gone.is_some() && wait_for(T, || removed(round).then_some(())).await.is_some());
    }
    // Go dials (its DialPeerWithAddress, timed in Go).
    let our_id = ours.id().to_string();
    let go_dial = go_dials(&mut go, &ours.addr.to_string(), &our_id, |go, round| {
        removed(round + ROUNDS) && go.named("peer_removed").len() >= round + ROUNDS
    })
    .await;

    // Bulk: COUNT messages of MSG bytes each way on one connection.
    ours.switch
        .dial_peer_with_address(&go.net_address())
        .await
        .unwrap();
    let msg = cometnet_interop::gopeer::payload(MSG, 7);
    let peer = ours.peer(&gid).unwrap();
    let t0 = unix_us();
    for _ in 0..COUNT {
        assert!(peer.send(0x70, msg.clone()).await);
    }
    let ours_send = Duration::from_micros((nth_recv_us(&go, COUNT).await - t0) as u64);

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

    ours.switch.stop().await;

    // Go to Go: a second gopeer, same flags.
    let mut go2 = GoPeer::start(&GO_ARGS);
    let go2_id = go2.id.clone();
    let go2_addr = go2.addr.clone();
    let gg_dial = go_dials(&mut go, &go2_addr, &go2_id, |_, round| {
        go2.named("peer_removed").len() >= round
    })
    .await;
    go.cmd(&format!("dial {go2_addr}"));
    let dialed = wait_for(T, || (go.named("dial").len() > 2 * ROUNDS).then_some(())).await;
    assert!(dialed.is_some(), "{}", go.dump());
    let t0 = unix_us();
    go.cmd(&format!("send {go2_id} {MSG} {COUNT} 9"));
    let gg_send = Duration::from_micros((nth_recv_us(&go2, COUNT).await - t0) as u64);
    go2.cmd("quit");

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
    println!(
        "| Go -> Go | {:.2} ms | {:.0} ms | {:.1} |",
        median(gg_dial).as_secs_f64() * 1e3,
        gg_send.as_secs_f64() * 1e3,
        rate(gg_send)
    );
    println!(
        "(our side built with debug assertions: {}; see the module doc)",
        cfg!(debug_assertions)
    );
}
