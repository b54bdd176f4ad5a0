//! Switch over `MemoryNetwork` on tokio's paused clock: connecting,
//! reactor calls, sending rules, limits, filters and dial errors.

mod switch_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use p2p::net::memory::MemoryNetwork;
use p2p::net::tcp::TokioRuntime;
use p2p::node_info::{NodeInfo, NodeInfoRejected};
use p2p::switch::{ConnRejected, DialError, Switch, SwitchConfig, SwitchError};
use p2p::transport::UpgradeError;
use switch_support::*;

#[tokio::test(start_paused = true)]
async fn two_switches_connect_and_exchange_messages() {
    let net = MemoryNetwork::new();
    let a = start(&net, 1, SwitchConfig::default()).await;
    let b = start(&net, 2, SwitchConfig::default()).await;
    assert!(a.reactor.started.load(std::sync::atomic::Ordering::SeqCst));

    let pb = connect(&a, &b).await;
    assert_eq!(pb.id(), b.id);
    assert!(pb.is_outbound());
    assert!(!pb.is_persistent());
    assert_eq!(pb.socket_addr(), b.addr);
    assert_eq!(pb.remote_ip(), ip(2));
    assert_eq!(pb.node_info().moniker, "node2");
    let pa = b.peer(a.id).unwrap();
    assert!(!pa.is_outbound());
    assert_eq!(pa.socket_addr().id(), a.id);
    assert_eq!(pa.socket_addr().ip(), ip(1));
    assert_ne!(pa.socket_addr().port(), PORT, "inbound: the ephemeral port");
    assert_eq!(pa.remote_ip(), ip(1));

    // Both reactors: init_peer, then add_peer.
    assert_eq!(a.reactor.events(), vec![Ev::Init(b.id), Ev::Add(b.id)]);
    assert_eq!(b.reactor.events(), vec![Ev::Init(a.id), Ev::Add(a.id)]);
    assert_eq!(a.handle.num_peers().outbound, 1);
    assert_eq!(a.handle.num_peers().inbound, 0);
    assert_eq!(b.handle.num_peers().inbound, 1);
    assert_eq!(
        a.obs.count(|o| matches!(o, Obs::Added(id) if *id == b.id)),
        1
    );

    // a → b, and b answers (from its receive) → a.
    assert!(pb.send(CH, b"ping1".to_vec()).await);
    assert!(
        wait_until(Duration::from_secs(2), || !a
            .reactor
            .received(b.id)
            .is_empty())
        .await
    );
    assert_eq!(b.reactor.received(a.id), vec![(CH, b"ping1".to_vec())]);
    assert_eq!(a.reactor.received(b.id), vec![(CH, b"pong1".to_vec())]);
    assert!(pa.try_send(CH, b"direct".to_vec()));
    assert!(
        wait_until(Duration::from_secs(2), || a.reactor.received(b.id).len()
            == 2)
        .await
    );
    assert_eq!(a.reactor.received(b.id)[1], (CH, b"direct".to_vec()));

    // The per-peer store.
    pb.set("k", Arc::new(7u32));
    assert_eq!(pb.get_as::<u32>("k").as_deref(), Some(&7));
    assert!(pb.get_as::<String>("k").is_none());
    assert!(a.peer(b.id).unwrap().same_connection(&pb));
    assert!(pb.status().duration <= Duration::from_secs(10));

    // mark_peer_as_good goes to the address book.
    a.handle.mark_peer_as_good(&b.id);
    assert!(a.book.calls().contains(&Book::Good(b.id)));
}

#[tokio::test]
async fn duplicate_channel_registration_is_an_error() {
    let net = MemoryNetwork::new();
    let k = key(1);
    let info = NodeInfo::builder(k.node_id(), "test-chain", "n").build();
    let mut sw = Switch::new(
        SwitchConfig::default(),
        k,
        info,
        net,
        TokioRuntime::new(),
        [0; 32],
    );
    sw.add_reactor("first", TestReactor::new(&[CH])).unwrap();
    let err = sw
        .add_reactor("second", TestReactor::new(&[CH2, CH]))
        .unwrap_err();
    assert!(matches!(
        err,
        SwitchError::DuplicateChannel { channel: CH, ref first, ref second }
            if first == "first" && second == "second"
    ));
    let err = sw
        .add_reactor("twice", TestReactor::new(&[0x30, 0x30]))
        .unwrap_err();
    assert!(matches!(
        err,
        SwitchError::DuplicateChannel { channel: 0x30, ref first, ref second }
            if first == "twice" && second == "twice"
    ));
    // Nothing of the failed registrations stuck: CH2 and 0x30 are still free.
    sw.add_reactor("third", TestReactor::new(&[CH2, 0x30]))
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn send_on_a_channel_the_peer_did_not_advertise_is_false() {
    let net = MemoryNetwork::new();
    let cfg = SwitchConfig::default;
    let a = start_with(&net, 1, ip(1), PORT, cfg(), &[CH, CH2], &[CH, CH2]).await;
    let b = start_with(&net, 2, ip(2), PORT, cfg(), &[CH], &[CH]).await;
    let pb = connect(&a, &b).await;
    assert!(
        !pb.send(CH2, b"x".to_vec()).await,
        "b did not advertise CH2"
    );
    assert!(!pb.try_send(CH2, b"x".to_vec()));
    assert!(!pb.send(0x55, b"x".to_vec()).await, "nobody knows 0x55");
    assert!(pb.send(CH, b"y".to_vec()).await);
    assert!(
        wait_until(Duration::from_secs(1), || !b
            .reactor
            .received(a.id)
            .is_empty())
        .await
    );
    assert_eq!(b.reactor.received(a.id), vec![(CH, b"y".to_vec())]);
    // Still connected: nothing was sent on an unknown channel.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(b.peer(a.id).unwrap().is_running());
}

#[tokio::test(start_paused = true)]
async fn inbound_limit_and_unconditional_peers() {
    let net = MemoryNetwork::new();
    let cfg = SwitchConfig {
        max_num_inbound_peers: 2,
        unconditional_peer_ids: BTreeSet::from([key(9).node_id()]),
        ..SwitchConfig::default()
    };
    let hub = start(&net, 3, cfg).await;
    let a = start(&net, 1, SwitchConfig::default()).await;
    let b = start(&net, 2, SwitchConfig::default()).await;
    let e = start(&net, 5, SwitchConfig::default()).await;
    let u = start(&net, 9, SwitchConfig::default()).await;
    connect(&a, &hub).await;
    connect(&b, &hub).await;
    assert_eq!(hub.handle.num_peers().inbound, 2);

    // The third regular peer completes the handshake and is then dropped.
    let _ = e.handle.dial_peer_with_address(&hub.addr).await;
    assert!(wait_until(Duration::from_secs(5), || !hub.obs.rejections().is_empty()).await);
    assert_eq!(
        hub.obs.rejections(),
        vec![Rej::InboundLimit { have: 2, max: 2 }]
    );
    assert!(hub.peer(e.id).is_none());
    assert_eq!(hub.handle.num_peers().inbound, 2);
    assert_eq!(hub.handle.peers().len(), 2);
    assert!(!hub.reactor.events().contains(&Ev::Init(e.id)));
    // e sees the connection closed.
    assert!(wait_until(Duration::from_secs(5), || e.peer(hub.id).is_none()).await);

    // The unconditional peer is exempt and not counted.
    connect(&u, &hub).await;
    assert_eq!(hub.handle.num_peers().inbound, 2);
    assert_eq!(hub.handle.peers().len(), 3);
    assert_eq!(u.handle.num_peers().outbound, 1);
    let ids: Vec<_> = hub.handle.peers().iter().map(|p| p.id()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "peers() is sorted by ID");
}

#[tokio::test(start_paused = true)]
async fn duplicate_ip_refused_unless_allowed() {
    let net = MemoryNetwork::new();
    let shared_ip = ip(7);
    let cfg = SwitchConfig::default;
    let hub = start(&net, 3, cfg()).await;
    let a = start_with(&net, 1, shared_ip, PORT, cfg(), &[CH], &[CH]).await;
    let b = start_with(&net, 2, shared_ip, PORT + 1, cfg(), &[CH], &[CH]).await;
    connect(&a, &hub).await;
    let err = b
        .handle
        .dial_peer_with_address(&hub.addr)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DialError::Upgrade {
                source: UpgradeError::Handshake(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(wait_until(Duration::from_secs(1), || !hub.obs.rejections().is_empty()).await);
    assert_eq!(
        hub.obs.rejections(),
        vec![Rej::Conn(ConnRejected::DuplicateIp { ip: shared_ip })]
    );
    assert_eq!(hub.handle.peers().len(), 1);

    // Dialing side: an address on the IP of a connected peer is refused at once.
    let err = a
        .handle
        .dial_peer_with_address(&p2p::netaddr::NetAddress::new(key(4).node_id(), ip(3), 1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DialError::CurrentlyDialingOrExistingAddress { .. }
    ));
    assert!(a
        .handle
        .is_dialing_or_existing_address(&p2p::netaddr::NetAddress::new(
            key(4).node_id(),
            ip(3),
            1
        )));

    // With allow_duplicate_ip both are accepted.
    let open = SwitchConfig {
        allow_duplicate_ip: true,
        ..SwitchConfig::default()
    };
    let hub2 = start(&net, 4, open).await;
    connect(&a, &hub2).await;
    connect(&b, &hub2).await;
    assert_eq!(hub2.handle.num_peers().inbound, 2);
    assert!(hub2.obs.rejections().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dialing_a_connected_id_is_refused() {
    let net = MemoryNetwork::new();
    let a = start(&net, 1, SwitchConfig::default()).await;
    let b = start(&net, 2, SwitchConfig::default()).await;
    connect(&a, &b).await;
    let err = a.handle.dial_peer_with_address(&b.addr).await.unwrap_err();
    assert!(matches!(err, DialError::CurrentlyDialingOrExistingAddress { addr } if addr == b.addr));
    // Same ID at another address: still refused.
    let other = p2p::netaddr::NetAddress::new(b.id, ip(99), 1);
    let err = a.handle.dial_peer_with_address(&other).await.unwrap_err();
    assert!(matches!(
        err,
        DialError::CurrentlyDialingOrExistingAddress { .. }
    ));
    assert_eq!(a.obs.count(|o| matches!(o, Obs::DialStarted(_))), 1);
    // While a dial is in flight the ID counts as dialing.
    let c = start(&net, 3, SwitchConfig::default()).await;
    let fut = a.handle.dial_peer_with_address(&c.addr);
    assert_eq!(a.handle.num_peers().dialing, 1);
    let err = a.handle.dial_peer_with_address(&c.addr).await.unwrap_err();
    assert!(matches!(
        err,
        DialError::CurrentlyDialingOrExistingAddress { .. }
    ));
    fut.await.unwrap();
    assert_eq!(a.handle.num_peers().dialing, 0);
    assert_eq!(a.handle.num_peers().outbound, 2);
}

#[tokio::test(start_paused = true)]
async fn dialing_ourselves_is_rejected_and_not_retried() {
    let net = MemoryNetwork::new();
    // allow_duplicate_ip, or the duplicate-IP filter on the accepting side
    // refuses the connection before the NodeInfo shows it is us.
    let cfg = SwitchConfig {
        allow_duplicate_ip: true,
        persistent_peers: vec![address(1)],
        ..SwitchConfig::default()
    };
    let a = start(&net, 1, cfg).await;
    let err = a.handle.dial_peer_with_address(&a.addr).await.unwrap_err();
    assert!(err.is_self(), "{err:?}");
    assert!(matches!(
        err,
        DialError::Upgrade {
            source: UpgradeError::Rejected(NodeInfoRejected::SelfConnection),
            ..
        }
    ));
    let calls = a.book.calls();
    assert!(calls.contains(&Book::Remove(a.addr)));
    assert!(calls.contains(&Book::Ours(a.addr)));
    // The accepting half saw itself too.
    assert!(
        wait_until(Duration::from_secs(1), || a
            .obs
            .rejections()
            .contains(&Rej::SelfConnection))
        .await
    );
    // No reconnect although the address is "persistent".
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(a.obs.count(|o| matches!(o, Obs::ReconnectStarted(_))), 0);
    assert_eq!(a.obs.count(|o| matches!(o, Obs::DialStarted(_))), 1);
    assert!(a.handle.peers().is_empty());
    // dial_peers_async skips our own address (and does not add it to the book).
    a.handle.dial_peers_async(vec![a.addr]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(a.obs.count(|o| matches!(o, Obs::DialStarted(_))), 1);
}

#[tokio::test(start_paused = true)]
async fn dialing_the_wrong_id_is_a_mismatch() {
    let net = MemoryNetwork::new();
    let a = start(&net, 1, SwitchConfig::default()).await;
    let b = start(&net, 2, SwitchConfig::default()).await;
    let wrong = p2p::netaddr::NetAddress::new(key(3).node_id(), ip(2), PORT);
    let err = a.handle.dial_peer_with_address(&wrong).await.unwrap_err();
    assert!(
        matches!(
            err,
            DialError::Upgrade {
                source: UpgradeError::DialedIdMismatch { dialed, authenticated },
                ..
            } if dialed == key(3).node_id() && authenticated == b.id
        ),
        "{err:?}"
    );
    assert_eq!(err.fault(), p2p::transport::Fault::PeerMisbehaved);
    assert!(a.handle.peers().is_empty());
    assert_eq!(a.handle.num_peers().dialing, 0);
    // Nothing listens: refused at once.
    let err = a
        .handle
        .dial_peer_with_address(&address(8))
        .await
        .unwrap_err();
    assert!(matches!(err, DialError::Io { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn broadcast_reaches_every_peer() {
    let net = MemoryNetwork::new();
    let hub = start(&net, 1, SwitchConfig::default()).await;
    let mut spokes = Vec::new();
    for seed in 2..=4 {
        let n = start(&net, seed, SwitchConfig::default()).await;
        connect(&n, &hub).await;
        spokes.push(n);
    }
    let results = hub.handle.broadcast(CH, b"to all".to_vec()).await;
    let mut want: Vec<_> = spokes.iter().map(|n| (n.id, true)).collect();
    want.sort();
    assert_eq!(results, want);
    for n in &spokes {
        assert!(
            wait_until(Duration::from_secs(1), || !n
                .reactor
                .received(hub.id)
                .is_empty())
            .await
        );
        assert_eq!(n.reactor.received(hub.id), vec![(CH, b"to all".to_vec())]);
    }
}
