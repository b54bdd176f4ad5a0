//! Switch lifecycle on tokio's paused clock: persistent-peer reconnects,
//! stopping peers, a slow reactor versus keepalive, clean shutdown; and one
//! run over real TCP loopback.

mod switch_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use p2p::mconn::{DriverConfig, MConnConfig};
use p2p::net::memory::MemoryNetwork;
use p2p::net::tcp::{TcpNetwork, TokioRuntime};
use p2p::node_info::NodeInfo;
use p2p::switch::{DialError, StopReason, Switch, SwitchConfig};
use p2p::time::Instant;
use p2p::transport::Fault;
use switch_support::*;

fn dial_starts(n: &Node) -> Vec<Instant> {
    n.obs
        .events()
        .into_iter()
        .filter_map(|(t, o)| matches!(o, Obs::DialStarted(_)).then_some(t))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn persistent_peer_is_reconnected_after_restart() {
    let net = MemoryNetwork::new();
    let b = start(&net, 2, SwitchConfig::default()).await;
    let cfg = SwitchConfig {
        persistent_peers: vec![b.addr],
        ..SwitchConfig::default()
    };
    let a = start(&net, 1, cfg).await;
    // Dialed at start after U[0, 3 s).
    assert!(wait_until(Duration::from_secs(4), || a.peer(b.id).is_some()).await);
    assert!(a.peer(b.id).unwrap().is_persistent());
    assert!(a.book.calls().contains(&Book::Add(b.addr, a.addr)));
    assert!(a.book.calls().contains(&Book::Save));

    b.handle.stop().await;
    let down = a.now();
    assert!(wait_until(Duration::from_secs(1), || a.peer(b.id).is_none()).await);
    assert_eq!(a.reactor.removes(b.id).len(), 1);
    tokio::time::sleep(Duration::from_secs(12)).await;
    let b2 = start(&net, 2, SwitchConfig::default()).await;
    let restarted = a.now(); // one clock: each TokioRuntime has its own epoch
    assert!(wait_until(Duration::from_secs(10), || a.peer(b.id).is_some()).await);
    let back = a.now();

    // First phase: attempt at once, then every 5 s + U[0, 3 s).
    let starts: Vec<_> = dial_starts(&a).into_iter().filter(|t| *t >= down).collect();
    assert!(starts.len() >= 3, "{starts:?}");
    assert!(starts[0].saturating_duration_since(down) < Duration::from_millis(100));
    for w in starts.windows(2) {
        let gap = w[1].saturating_duration_since(w[0]);
        assert!(
            gap >= Duration::from_secs(5) && gap < Duration::from_secs(8),
            "gap {gap:?}"
        );
    }
    let wait = back.saturating_duration_since(restarted);
    assert!(
        wait < Duration::from_secs(8),
        "reconnected {wait:?} after restart"
    );
    assert_eq!(a.obs.count(|o| matches!(o, Obs::ReconnectStarted(_))), 1);
    assert!(b2.peer(a.id).is_some());
}

#[tokio::test(start_paused = true)]
async fn stop_for_error_reconnects_persistent_graceful_does_not() {
    let net = MemoryNetwork::new();
    let b = start(&net, 2, SwitchConfig::default()).await;
    let cfg = SwitchConfig {
        persistent_peers: vec![b.addr],
        ..SwitchConfig::default()
    };
    let a = start(&net, 1, cfg).await;
    assert!(wait_until(Duration::from_secs(4), || a.peer(b.id).is_some()).await);
    let first = a.peer(b.id).unwrap();

    a.handle.stop_peer_for_error(
        &b.id,
        StopReason::reactor(Fault::PeerMisbehaved, "bad message"),
    );
    assert!(!first.is_running());
    assert_eq!(a.reactor.removes(b.id), vec!["bad message".to_owned()]);
    assert!(
        wait_until(Duration::from_secs(30), || a
            .peer(b.id)
            .is_some_and(|p| !p.same_connection(&first)))
        .await
    );
    assert_eq!(a.obs.count(|o| matches!(o, Obs::ReconnectStarted(_))), 1);
    // The new connection works.
    assert!(wait_until(Duration::from_secs(5), || b.peer(a.id).is_some()).await);
    let second = a.peer(b.id).unwrap();
    assert!(second.send(CH, b"again".to_vec()).await);
    assert!(
        wait_until(Duration::from_secs(1), || b.reactor.received(a.id).len()
            == 1)
        .await
    );

    a.handle.stop_peer_gracefully(&b.id);
    assert!(a.peer(b.id).is_none());
    let dials = dial_starts(&a).len();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(a.peer(b.id).is_none());
    assert_eq!(
        dial_starts(&a).len(),
        dials,
        "no redial after a graceful stop"
    );
    assert_eq!(
        a.reactor.removes(b.id).last().unwrap(),
        "stopped gracefully"
    );
    assert!(b.peer(a.id).is_none());
    assert_eq!(b.reactor.removes(a.id).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn slow_reactor_does_not_cause_pong_timeout() {
    let net = MemoryNetwork::new();
    let cfg = || SwitchConfig {
        mconn: MConnConfig {
            ping_interval: Duration::from_secs(10),
            pong_timeout: Duration::from_secs(5),
            ..MConnConfig::default()
        },
        ..SwitchConfig::default()
    };
    let a = start(&net, 1, cfg()).await;
    let b = start(&net, 2, cfg()).await;
    let pb = connect(&a, &b).await;
    let pa = b.peer(a.id).unwrap();

    // b's reactor blocks in receive for 5 virtual minutes while a keeps sending.
    let gate = b.reactor.gate.lock().await;
    let sender = tokio::spawn({
        let pb = pb.clone();
        async move {
            let mut sent = 0u32;
            for i in 0..300u32 {
                if pb.send(CH, format!("m{i:03}").into_bytes()).await {
                    sent += 1;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            sent
        }
    });
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(b.reactor.received(a.id).is_empty(), "receive is blocked");
    assert!(pb.is_running() && pa.is_running());
    assert!(a.peer(b.id).unwrap().same_connection(&pb));
    assert!(b.peer(a.id).unwrap().same_connection(&pa));
    assert!(a.reactor.removes(b.id).is_empty() && b.reactor.removes(a.id).is_empty());
    drop(gate);
    assert_eq!(sender.await.unwrap(), 300);
    assert!(
        wait_until(Duration::from_secs(5), || b.reactor.received(a.id).len()
            == 300)
        .await
    );
    let got = b.reactor.received(a.id);
    assert_eq!(got[0], (CH, b"m000".to_vec()));
    assert_eq!(got[299], (CH, b"m299".to_vec()));
    assert!(a.peer(b.id).unwrap().same_connection(&pb));
}

/// The limit of the guarantee above, and proof that the harness sees a
/// pong timeout: with a tiny receive backlog the slow side stops reading,
/// so it cannot answer the sender's pings and the sender drops it.
#[tokio::test(start_paused = true)]
async fn past_the_receive_backlog_the_sender_times_out() {
    let net = MemoryNetwork::new();
    let mconn = MConnConfig {
        ping_interval: Duration::from_secs(10),
        pong_timeout: Duration::from_secs(5),
        ..MConnConfig::default()
    };
    let a = start(
        &net,
        1,
        SwitchConfig {
            mconn: mconn.clone(),
            ..SwitchConfig::default()
        },
    )
    .await;
    let small = SwitchConfig {
        mconn,
        driver: DriverConfig {
            inbound_capacity: 1,
            recv_backlog_limit: 64,
            ..DriverConfig::default()
        },
        ..SwitchConfig::default()
    };
    let b = start(&net, 2, small).await;
    let pb = connect(&a, &b).await;
    let gate = b.reactor.gate.lock().await;
    for i in 0..20u32 {
        assert!(pb.send(CH, vec![i as u8; 100]).await);
    }
    assert!(wait_until(Duration::from_secs(30), || a.peer(b.id).is_none()).await);
    assert_eq!(
        a.reactor.removes(b.id),
        vec!["connection error: no pong within the pong timeout".to_owned()]
    );
    drop(gate);
    assert!(wait_until(Duration::from_secs(10), || b.peer(a.id).is_none()).await);
}

/// Same seeds, same scenario: the same observed events at the same virtual times.
#[tokio::test(start_paused = true)]
async fn runs_are_deterministic_for_a_seed() {
    async fn run() -> Vec<(Duration, Obs)> {
        let net = MemoryNetwork::new();
        let b = start(&net, 2, SwitchConfig::default()).await;
        let c = start(&net, 3, SwitchConfig::default()).await;
        let cfg = SwitchConfig {
            persistent_peers: vec![b.addr, c.addr, address(4)],
            ..SwitchConfig::default()
        };
        let a = start(&net, 1, cfg).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        b.handle.stop().await;
        tokio::time::sleep(Duration::from_secs(40)).await;
        a.handle.stop().await;
        c.handle.stop().await;
        a.obs
            .events()
            .into_iter()
            .map(|(t, o)| (t.since_epoch(), o))
            .collect()
    }
    let first = run().await;
    let second = run().await;
    assert!(first.len() > 10, "{first:?}");
    assert_eq!(first, second);
}

#[tokio::test(start_paused = true)]
async fn stop_ends_every_peer_on_both_sides() {
    let net = MemoryNetwork::new();
    let a = start(&net, 1, SwitchConfig::default()).await;
    let b = start(&net, 2, SwitchConfig::default()).await;
    let c = start(&net, 3, SwitchConfig::default()).await;
    connect(&a, &b).await;
    connect(&c, &a).await;

    a.handle.stop().await;
    assert!(!a.handle.is_running());
    assert!(a.handle.peers().is_empty());
    assert!(a.reactor.stopped.load(Ordering::SeqCst));
    assert!(a.reactor.handle.lock().unwrap().is_none());
    assert_eq!(a.reactor.removes(b.id), vec!["switch stopping".to_owned()]);
    assert_eq!(a.reactor.removes(c.id), vec!["switch stopping".to_owned()]);
    assert_eq!(a.obs.count(|o| matches!(o, Obs::Removed(..))), 2);
    assert!(
        wait_until(Duration::from_secs(1), || b.peer(a.id).is_none()
            && c.peer(a.id).is_none())
        .await
    );
    assert_eq!(b.reactor.removes(a.id).len(), 1);
    assert_eq!(c.reactor.removes(a.id).len(), 1);
    // The listener is closed; a stopped switch does not dial.
    let err = b.handle.dial_peer_with_address(&a.addr).await.unwrap_err();
    assert!(matches!(err, DialError::Io { .. }), "{err:?}");
    let err = a.handle.dial_peer_with_address(&b.addr).await.unwrap_err();
    assert!(matches!(err, DialError::AddPeer { .. }), "{err:?}");
    // Stopping twice is harmless.
    a.handle.stop().await;
}

#[tokio::test]
async fn two_switches_over_tcp_loopback() {
    async fn node(seed: u8) -> (p2p::switch::SwitchHandle, std::sync::Arc<TestReactor>) {
        let k = key(seed);
        let info = NodeInfo::builder(k.node_id(), "test-chain", format!("tcp{seed}"))
            .channels(vec![CH])
            .listen_addr("")
            .build();
        let reactor = TestReactor::new(&[CH]);
        let mut sw = Switch::new(
            SwitchConfig::default(),
            k,
            info,
            TcpNetwork,
            TokioRuntime::new(),
            [seed; 32],
        );
        sw.add_reactor("test", reactor.clone()).unwrap();
        let h = sw.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        (h, reactor)
    }
    let (a, ra) = node(1).await;
    let (b, rb) = node(2).await;
    assert_ne!(b.listen_addr().port(), 0);
    assert_eq!(
        b.node_info().listen_addr,
        format!("tcp://{}", b.listen_addr())
    );
    let pb = a.dial_peer_with_address(&b.net_address()).await.unwrap();
    assert!(pb.send(CH, b"ping over tcp".to_vec()).await);
    let a_id = a.net_address().id();
    let b_id = b.net_address().id();
    let mut ok = false;
    for _ in 0..500 {
        if ra.received(b_id) == vec![(CH, b"pong over tcp".to_vec())] {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "a got {:?}", ra.events());
    assert_eq!(rb.received(a_id), vec![(CH, b"ping over tcp".to_vec())]);
    a.stop().await;
    b.stop().await;
}
