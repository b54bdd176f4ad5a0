//! A persistent peer that goes away (its switch stopped) and comes back on the
//! same address with the same key is redialed and reconnected. PEX is off, so
//! the redial is the switch's persistent-peer reconnect routine (first retry
//! after 5 s + up to 3 s of jitter, as Go).

#![allow(clippy::disallowed_methods)] // the test measures wall time

mod node_support;

use std::net::SocketAddr;
use std::time::Duration;

use node_support::{free_port, ip, loopback_p2p, options, start, wait_until};
use p2p::netaddr::NetAddress;
use p2p::NodeKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_and_restarted_persistent_peer_is_reconnected() {
    let (ip_a, ip_b) = (ip(2, 1), ip(2, 2));
    let port = free_port(&[ip_a, ip_b]);
    let b_listen = SocketAddr::new(ip_b, port);
    let b_id = NodeKey::from_seed([12; 32]).node_id();
    let b_cfg = || {
        let mut c = loopback_p2p();
        c.pex = false;
        c
    };
    let mut a_cfg = b_cfg();
    a_cfg.persistent_peers = NetAddress::from_socket_addr(b_id, b_listen).to_string();

    let b = start(options(12, b_listen, b_cfg())).await;
    let a = start(options(11, SocketAddr::new(ip_a, port), a_cfg)).await;
    let first = wait_until(Duration::from_secs(10), || a.switch.peer(&b_id).is_some()).await;
    assert!(first.is_some(), "A never connected to B");
    let old = a.switch.peer(&b_id).unwrap();
    assert!(old.is_persistent() && old.is_outbound());

    b.switch.stop().await;
    let gone = wait_until(Duration::from_secs(10), || a.switch.peer(&b_id).is_none()).await;
    assert!(gone.is_some(), "A still lists B after B stopped");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let b2 = start(options(12, b_listen, b_cfg())).await;
    let back = wait_until(Duration::from_secs(40), || a.switch.peer(&b_id).is_some()).await;
    println!("persistent peer reconnected {back:?} after its restart");
    let back = back.expect("A did not reconnect to the restarted B within 40 s");
    assert!(
        back >= Duration::from_secs(1),
        "reconnected before any backoff: {back:?}"
    );
    let new = a.switch.peer(&b_id).unwrap();
    assert!(!new.same_connection(&old));
    assert!(new.is_outbound() && new.is_persistent());
    assert_eq!(
        b2.switch
            .peer(&a.switch.node_info().node_id)
            .map(|p| p.is_outbound()),
        Some(false)
    );
    a.switch.stop().await;
    b2.switch.stop().await;
}
