//! PEX over real TCP on loopback: one seed and 20 nodes that know only the
//! seed all reach their outbound target (`max_num_outbound_peers = 4`), each
//! node listening on its own `127.0.1.x` address. In-process: 21 nodes on one
//! tokio runtime. Prints the time convergence took: about 60 s with Go's 30 s
//! `ensurePeers` period. A node that others dialed before it heard from the
//! seed holds only addresses of peers it is already connected to (which it may
//! not dial again); at 30 s it asks one of them for addresses, and dials them
//! at 60 s. The limit is 150 s (four periods plus slack).

#![allow(clippy::disallowed_methods)] // the test measures wall time

mod node_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use node_support::{free_port, ip, loopback_p2p, options, start, wait_until};
use p2p::netaddr::NetAddress;
use p2p::NodeKey;

const NODES: u8 = 20;
const TARGET: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_nodes_reach_their_outbound_target_through_one_seed() {
    let ips: Vec<_> = (1..=NODES + 1).map(|h| ip(1, h)).collect();
    let port = free_port(&ips);
    let seed_addr = NetAddress::from_socket_addr(
        NodeKey::from_seed([1; 32]).node_id(),
        SocketAddr::new(ips[0], port),
    );
    let t0 = Instant::now();
    let mut seed_cfg = loopback_p2p();
    seed_cfg.seed_mode = true;
    let seed = start(options(1, SocketAddr::new(ips[0], port), seed_cfg)).await;
    let mut nodes = Vec::new();
    for i in 1..=NODES {
        let mut cfg = loopback_p2p();
        cfg.max_num_outbound_peers = TARGET as u32;
        cfg.seeds = seed_addr.to_string();
        let listen = SocketAddr::new(ips[usize::from(i)], port);
        nodes.push(start(options(i + 1, listen, cfg)).await);
    }
    let took = wait_until(Duration::from_secs(150), || {
        nodes
            .iter()
            .all(|n| n.switch.num_peers().outbound >= TARGET)
    })
    .await;
    let outbound: Vec<usize> = nodes
        .iter()
        .map(|n| n.switch.num_peers().outbound)
        .collect();
    let inbound: Vec<usize> = nodes.iter().map(|n| n.switch.num_peers().inbound).collect();
    println!(
        "PEX convergence: {NODES} nodes reached {TARGET} outbound peers {:?} after start \
         (starting all 21 took {:?}); outbound {outbound:?}, inbound {inbound:?}",
        took,
        t0.elapsed() - took.unwrap_or_default()
    );
    assert!(
        took.is_some(),
        "not converged in 150 s: outbound {outbound:?}"
    );
    // Every node is a distinct IP to its peers: nobody was refused as a duplicate IP.
    for n in &nodes {
        for p in n.switch.peers() {
            assert_eq!(p.remote_ip(), p.node_info().net_address().unwrap().ip());
        }
    }
    for n in nodes.iter().chain([&seed]) {
        n.switch.stop().await;
    }
}
