//! Full-stack interop with an independent peer over loopback TCP, both
//! directions: our transport upgrade (SecretConnection + NodeInfo exchange +
//! checks) and MConnection against `tendermint-p2p`'s SecretConnection with
//! NodeInfo and packets encoded straight from `tendermint-proto`
//! (`support/tm_peer.rs`). Checked: handshake, authenticated node IDs, both
//! NodeInfos, ping/pong both ways over several ping intervals, and multi-frame
//! messages (> 10 KiB) each way, byte-exact.

// The reference peer is blocking std::io: it runs on blocking threads and the wall clock.
#![allow(clippy::disallowed_methods)]

#[path = "support/tm_peer.rs"]
mod tm_peer;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use p2p::mconn::driver::{self, DriverConfig, MConnHandle};
use p2p::mconn::{ChannelDescriptor, MConnConfig};
use p2p::net::tcp::{TcpNetwork, TokioRuntime};
use p2p::net::{Network, Runtime};
use p2p::node_info::NodeInfo;
use p2p::transport::{upgrade, UpgradeConfig};
use p2p::{NodeId, NodeKey};
use tm_peer::{tm_node_info, Seen, TmPeer};

const OUR_SEED: [u8; 32] = [0x31; 32];
const THEIR_SEED: [u8; 32] = [0x42; 32];
const NETWORK: &str = "interop-chain";
/// A test channel both sides advertise (the mempool channel: 1 MiB messages).
const CH: u8 = 0x30;
const PING: Duration = Duration::from_millis(300);

fn their_id() -> NodeId {
    NodeKey::from_seed(THEIR_SEED).node_id()
}

fn payload(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(29) ^ tag).collect()
}

fn our_info(key: &NodeKey) -> NodeInfo {
    NodeInfo::builder(key.node_id(), NETWORK, "cometnet-interop")
        .listen_addr("tcp://127.0.0.1:26656")
        .channels(vec![CH, 0x00])
        .build()
}

fn mconn_config() -> MConnConfig {
    MConnConfig {
        ping_interval: PING,
        pong_timeout: Duration::from_millis(250),
        flush_throttle: Duration::from_millis(10),
        ..MConnConfig::default()
    }
}

/// Our side on an already connected tokio stream: upgrade, then MConnection.
async fn our_side(
    rt: &TokioRuntime,
    stream: p2p::net::tcp::TcpStream,
    dialed: Option<NodeId>,
) -> (NodeInfo, MConnHandle, driver::Inbound) {
    let key = NodeKey::from_seed(OUR_SEED);
    let up = upgrade(
        rt,
        stream,
        &key,
        &our_info(&key),
        dialed,
        [0x77; 32],
        UpgradeConfig::default(),
    )
    .await
    .expect("our upgrade");
    assert_eq!(up.conn.remote_id(), their_id());
    let chans = [ChannelDescriptor::MEMPOOL, ChannelDescriptor::PEX];
    let (h, inbound) =
        driver::spawn(rt, up.conn, mconn_config(), &chans, DriverConfig::default()).unwrap();
    (up.peer_info, h, inbound)
}

/// Exercises a connected pair: checks identities, ping/pong, messages.
async fn exercise(
    mut tm: TmPeer,
    peer_info: NodeInfo,
    h: MConnHandle,
    mut inbound: driver::Inbound,
) {
    let rt = TokioRuntime::new();
    // Identities and NodeInfo as each side saw them.
    assert_eq!(
        tm.remote_pubkey_hex,
        hex::encode(NodeKey::from_seed(OUR_SEED).public_key())
    );
    assert_eq!(
        tm.remote_info.default_node_id,
        NodeKey::from_seed(OUR_SEED).node_id().to_string()
    );
    assert_eq!(tm.remote_info.network, NETWORK);
    assert_eq!(tm.remote_info.channels, vec![CH, 0x00]);
    assert_eq!(
        tm.remote_info
            .protocol_version
            .as_ref()
            .map(|v| (v.p2p, v.block)),
        Some((8, 11))
    );
    assert_eq!(peer_info.node_id, their_id());
    assert_eq!(peer_info.moniker, "tm-p2p-peer");
    assert_eq!(peer_info.channels, vec![CH]);

    // Message from us, > 10 KiB: arrives byte-exact on their side.
    let ours = payload(0x5a, 10 * 1024 + 4321);
    assert!(h.send(CH, ours.clone()).await);
    let tm = tokio::task::spawn_blocking(move || {
        let got = tm.wait_for(Duration::from_secs(5), |s| matches!(s, Seen::Msg { .. }));
        assert_eq!(
            got,
            Some(Seen::Msg {
                channel: CH,
                data: ours
            })
        );
        tm
    })
    .await
    .unwrap();

    // Message from them, > 10 KiB, plus a ping: we deliver it and answer the ping.
    let theirs = payload(0xa5, 3 * 4096 + 17);
    let expect = theirs.clone();
    let tm = tokio::task::spawn_blocking(move || {
        let mut tm = tm;
        tm.send_message(CH, &theirs);
        tm.ping();
        let pong = tm.wait_for(Duration::from_secs(5), |s| *s == Seen::Pong);
        assert_eq!(pong, Some(Seen::Pong), "we answer their ping");
        tm
    })
    .await
    .unwrap();
    let got = p2p::net::timeout(
        &rt,
        Duration::from_secs(5),
        futures::StreamExt::next(&mut inbound),
    )
    .await
    .expect("message from them in time");
    assert_eq!(got, Some((CH, expect)));

    // Keepalive: over more than three of our ping intervals they see our pings,
    // answer them, and our connection (pong timeout 250 ms) stays up.
    let mut tm = tokio::task::spawn_blocking(move || {
        let mut tm = tm;
        let mut pings = 0;
        let end = std::time::Instant::now() + PING * 4 + Duration::from_millis(100);
        while std::time::Instant::now() < end {
            if tm
                .wait_for(Duration::from_millis(50), |s| *s == Seen::Ping)
                .is_some()
            {
                pings += 1;
            }
        }
        assert!(pings >= 3, "saw {pings} pings in four intervals");
        tm
    })
    .await
    .unwrap();
    assert!(
        h.is_running(),
        "connection survived several ping intervals: {:?}",
        h.status()
    );
    tm.pump_pongs();
    h.close();
    let end = p2p::net::timeout(&rt, Duration::from_secs(2), h.closed()).await;
    assert!(matches!(end, Ok(Ok(()))), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_tendermint_p2p() {
    let rt = TokioRuntime::new();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let tm = tokio::task::spawn_blocking(move || {
        let (s, _) = l.accept().unwrap();
        TmPeer::start(
            s,
            THEIR_SEED,
            tm_node_info(&their_id().to_string(), NETWORK, &[CH]),
        )
    });
    let stream = TcpNetwork.dial(addr).await.unwrap();
    let (info, h, inbound) = our_side(&rt, stream, Some(their_id())).await;
    exercise(tm.await.unwrap(), info, h, inbound).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tendermint_p2p_dials_us() {
    let rt = TokioRuntime::new();
    let mut l = TcpNetwork
        .listen("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr: SocketAddr = p2p::net::Listener::local_addr(&l);
    let tm = tokio::task::spawn_blocking(move || {
        let s = TcpStream::connect(addr).unwrap();
        TmPeer::start(
            s,
            THEIR_SEED,
            tm_node_info(&their_id().to_string(), NETWORK, &[CH]),
        )
    });
    let stream = p2p::net::Listener::accept(&mut l).await.unwrap();
    let (info, h, inbound) = our_side(&rt, stream, None).await;
    exercise(tm.await.unwrap(), info, h, inbound).await;
    let _ = rt.now();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incompatible_network_is_refused_with_its_reason() {
    let rt = TokioRuntime::new();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let tm = tokio::task::spawn_blocking(move || {
        let (s, _) = l.accept().unwrap();
        TmPeer::start(
            s,
            THEIR_SEED,
            tm_node_info(&their_id().to_string(), "other-chain", &[CH]),
        )
    });
    let stream = TcpNetwork.dial(addr).await.unwrap();
    let key = NodeKey::from_seed(OUR_SEED);
    let err = upgrade(
        &rt,
        stream,
        &key,
        &our_info(&key),
        Some(their_id()),
        [7; 32],
        UpgradeConfig::default(),
    )
    .await
    .err()
    .expect("must be refused");
    assert!(
        matches!(
            &err,
            p2p::transport::UpgradeError::Rejected(p2p::node_info::NodeInfoRejected::Incompatible(
                p2p::node_info::NodeInfoIncompatible::Network { .. }
            ))
        ),
        "{err:?}"
    );
    assert_eq!(err.fault(), p2p::transport::Fault::PeerIncompatible);
    drop(tm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_the_wrong_id_is_refused() {
    let rt = TokioRuntime::new();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let _tm = std::thread::Builder::new().spawn(move || {
        let (s, _) = l.accept().unwrap();
        // The handshake may fail on their side once we hang up; that is fine.
        let _ = std::panic::catch_unwind(|| {
            TmPeer::start(
                s,
                THEIR_SEED,
                tm_node_info(&their_id().to_string(), NETWORK, &[CH]),
            )
        });
    });
    let stream = TcpNetwork.dial(addr).await.unwrap();
    let key = NodeKey::from_seed(OUR_SEED);
    let wrong = NodeId::from_bytes([9; 20]);
    let err = upgrade(
        &rt,
        stream,
        &key,
        &our_info(&key),
        Some(wrong),
        [7; 32],
        UpgradeConfig::default(),
    )
    .await
    .err()
    .expect("must be refused");
    match err {
        p2p::transport::UpgradeError::DialedIdMismatch {
            dialed,
            authenticated,
        } => {
            assert_eq!(dialed, wrong);
            assert_eq!(authenticated, their_id());
        }
        other => panic!("{other:?}"),
    }
}
