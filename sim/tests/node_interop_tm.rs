//! Interop with a running `cometnet node start` process: an independent peer
//! built from `tendermint-p2p`'s SecretConnection and `tendermint-proto`
//! (`p2p/tests/support/tm_peer.rs`, shared) dials the node, completes the
//! handshake and NodeInfo exchange, gets a pong for its ping, and gets a
//! `PexAddrs` reply to its `PexRequest` holding the node's address book.

// The reference peer is blocking std::io on threads, timed by the wall clock.
#![allow(clippy::disallowed_methods)]

mod node_support;
#[path = "../../p2p/tests/support/tm_peer.rs"]
mod tm_peer;

use std::net::TcpStream;
use std::time::Duration;

use node_support::{cometnet, free_port, init_home, ip, wait_until_blocking, Guard};
use p2p::net::Instant;
use p2p::netaddr::NetAddress;
use p2p::pex::addrbook::AddrBook;
use p2p::pex::addrbook_file::WallClock;
use p2p::NodeKey;
use prost::Message as _;
use rand_chacha::rand_core::SeedableRng;
use sim::real::store::FileBookStore;
use tendermint_proto::v0_38::p2p as proto;
use tm_peer::{tm_node_info, Seen, TmPeer};

const NETWORK: &str = "interop-net";
const THEIR_SEED: [u8; 32] = [0x42; 32];

#[test]
fn tendermint_p2p_peer_handshakes_pings_and_gets_pex_addrs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    let node_ip = ip(3, 1);
    let port = free_port(&[node_ip]);
    let (id, addr) = init_home(&home, &format!("tcp://{node_ip}:{port}"), NETWORK);
    assert_eq!(addr, format!("{id}@{node_ip}:{port}"));

    // Two routable (documentation-range) addresses in the node's book.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let mut book = AddrBook::new(true, &mut rng);
    let known: Vec<NetAddress> = (1..=2u8)
        .map(|i| {
            NetAddress::new(
                NodeKey::from_seed([i; 32]).node_id(),
                [203, 0, 113, i].into(),
                26656,
            )
        })
        .collect();
    for a in &known {
        book.add_address(*a, known[0], Instant::ZERO, &mut rng)
            .unwrap();
    }
    let clock = WallClock {
        epoch_unix_nanos: 1_767_225_600_000_000_000,
    };
    FileBookStore::new(home.join("config/addrbook.json"), clock)
        .try_save(&book)
        .unwrap();

    let mut node = Guard(
        cometnet()
            .args(["node", "start", "--home"])
            .arg(&home)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("node.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let target = std::net::SocketAddr::new(node_ip, port);
    let up = wait_until_blocking(Duration::from_secs(20), || {
        TcpStream::connect(target).is_ok()
    });
    assert!(
        up.is_some(),
        "node did not listen: {}",
        std::fs::read_to_string(dir.path().join("node.log")).unwrap()
    );

    let tcp = TcpStream::connect(target).unwrap();
    let their_id = NodeKey::from_seed(THEIR_SEED).node_id().to_string();
    let mut peer = TmPeer::start(tcp, THEIR_SEED, tm_node_info(&their_id, NETWORK, &[0x00]));
    let info = &peer.remote_info;
    assert_eq!(info.default_node_id, id);
    assert_eq!(info.network, NETWORK);
    assert_eq!(info.listen_addr, format!("tcp://{node_ip}:{port}"));
    assert_eq!(info.moniker, "n");
    assert_eq!(info.channels, vec![0x70, 0x00]);
    assert_eq!(
        info.protocol_version.as_ref().map(|v| (v.p2p, v.block)),
        Some((8, 11))
    );
    let pubkey = hex::decode(&peer.remote_pubkey_hex).unwrap();
    assert_eq!(
        NodeKey::load(&home.join("config/node_key.json"))
            .unwrap()
            .public_key()
            .to_vec(),
        pubkey
    );

    peer.ping();
    assert_eq!(
        peer.wait_for(Duration::from_secs(10), |s| *s == Seen::Pong),
        Some(Seen::Pong)
    );

    let request = proto::Message {
        sum: Some(proto::message::Sum::PexRequest(proto::PexRequest {})),
    };
    peer.send_message(0x00, &request.encode_to_vec());
    let reply = peer
        .wait_for(Duration::from_secs(10), |s| {
            matches!(s, Seen::Msg { channel: 0, .. })
        })
        .expect("no PEX reply");
    let Seen::Msg { data, .. } = reply else {
        unreachable!()
    };
    let msg = proto::Message::decode(data.as_slice()).unwrap();
    let Some(proto::message::Sum::PexAddrs(addrs)) = msg.sum else {
        panic!("not PexAddrs: {msg:?}")
    };
    let mut got: Vec<(String, String, u32)> = addrs
        .addrs
        .iter()
        .map(|a| (a.id.clone(), a.ip.clone(), a.port))
        .collect();
    got.sort();
    let mut want: Vec<(String, String, u32)> = known
        .iter()
        .map(|a| (a.id().to_string(), a.ip().to_string(), u32::from(a.port())))
        .collect();
    want.sort();
    assert_eq!(got, want);

    // The node saw an inbound peer with our ID.
    drop(peer);
    let _ = node.0.kill();
    let _ = node.0.wait();
    let log = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
    assert!(
        log.contains(&format!("peer added peer=Peer{{{their_id}")),
        "{log}"
    );
}

/// Waits until the node closes the connection (the reader thread ends).
fn disconnected_within(peer: &TmPeer, limit: Duration) -> bool {
    let end = std::time::Instant::now() + limit;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match peer.seen.recv_timeout(left) {
            Ok(_) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
        }
    }
    false
}

#[test]
fn pex_abuse_is_dropped_by_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    let node_ip = ip(3, 2);
    let port = free_port(&[node_ip]);
    init_home(&home, &format!("tcp://{node_ip}:{port}"), NETWORK);
    let log_path = dir.path().join("node.log");
    let mut node = Guard(
        cometnet()
            .args(["node", "start", "--home"])
            .arg(&home)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let target = std::net::SocketAddr::new(node_ip, port);
    let up = wait_until_blocking(Duration::from_secs(20), || {
        TcpStream::connect(target).is_ok()
    });
    assert!(up.is_some(), "node did not listen");
    let request = proto::Message {
        sum: Some(proto::message::Sum::PexRequest(proto::PexRequest {})),
    }
    .encode_to_vec();

    // Three requests back to back: the first two are free, the third is too soon.
    let id_a = NodeKey::from_seed([0x51; 32]).node_id().to_string();
    let mut a = TmPeer::start(
        TcpStream::connect(target).unwrap(),
        [0x51; 32],
        tm_node_info(&id_a, NETWORK, &[0x00]),
    );
    for _ in 0..3 {
        a.send_message(0x00, &request);
    }
    assert!(
        disconnected_within(&a, Duration::from_secs(10)),
        "a PEX request too soon must get us dropped"
    );

    // A PexAddrs nobody asked for.
    let id_b = NodeKey::from_seed([0x52; 32]).node_id().to_string();
    let mut b = TmPeer::start(
        TcpStream::connect(target).unwrap(),
        [0x52; 32],
        tm_node_info(&id_b, NETWORK, &[0x00]),
    );
    let unsolicited = proto::Message {
        sum: Some(proto::message::Sum::PexAddrs(proto::PexAddrs {
            addrs: vec![proto::NetAddress {
                id: id_a.clone(),
                ip: "203.0.113.9".into(),
                port: 26656,
            }],
        })),
    }
    .encode_to_vec();
    b.send_message(0x00, &unsolicited);
    assert!(
        disconnected_within(&b, Duration::from_secs(10)),
        "unsolicited PexAddrs must get us dropped"
    );

    drop((a, b));
    let _ = node.0.kill();
    let _ = node.0.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("PEX request") && log.contains("after the previous one"),
        "{log}"
    );
    assert!(log.contains("unsolicited PEX address list"), "{log}");
}
