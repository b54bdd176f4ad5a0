//! Integration tests of `NetAddress` and `NodeInfo` against the derived vector file,
//! the NodeInfo exchange over an in-memory duplex pipe, and no-panic properties of
//! the decoders on arbitrary input.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Cursor};
use p2p::netaddr::{NetAddress, NetAddressError};
use p2p::node_info::{
    check_peer, exchange, ExchangeError, NodeInfo, NodeInfoRejected, MAX_NODE_INFO_SIZE,
};
use p2p::protoio::encode_uvarint;
use p2p::{NodeId, NodeKey};
use proptest::prelude::*;
use tendermint_proto::v0_38::p2p as proto;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/derived-secretconnection-handshake.json"
);

fn vectors() -> serde_json::Value {
    let text = std::fs::read_to_string(VECTORS).expect("vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

fn hex_field(v: &serde_json::Value, path: &[&str]) -> Vec<u8> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    hex::decode(cur.as_str().expect("hex string")).expect("hex")
}

fn node_a() -> (NodeKey, NodeInfo) {
    let v = vectors();
    let seed: [u8; 32] = hex_field(&v, &["identity", "A", "ed25519_seed"])
        .try_into()
        .unwrap();
    let key = NodeKey::from_seed(seed);
    let info = NodeInfo::builder(key.node_id(), "test-chain", "node-a").build();
    (key, info)
}

#[test]
fn node_a_encodes_to_the_vector_bytes() {
    let v = vectors();
    let want = hex_field(&v, &["A_nodeinfo_delimited"]);
    let (key, info) = node_a();
    assert_eq!(
        key.node_id().to_string(),
        v["identity"]["A"]["node_id"].as_str().unwrap()
    );
    assert_eq!(hex::encode(info.to_delimited()), hex::encode(&want));
    // And back: the body decodes to the same struct, which is valid.
    let decoded = NodeInfo::decode(&want[2..]).unwrap();
    assert_eq!(decoded, info);
    decoded.validate().unwrap();
    assert_eq!(want[..2], [0x8b, 0x01]);
}

#[test]
fn pex_addrs_vector_address() {
    let v = vectors();
    let body = hex_field(&v, &["pex_addrs_message_one_addr"]);
    let msg: proto::Message = prost::Message::decode(body.as_slice()).unwrap();
    let Some(proto::message::Sum::PexAddrs(addrs)) = msg.sum.clone() else {
        panic!("not PexAddrs: {msg:?}");
    };
    assert_eq!(addrs.addrs.len(), 1);
    let addr = NetAddress::from_proto(&addrs.addrs[0]).unwrap();
    assert_eq!(
        addr.to_string(),
        "39f713d0a644253f04529421b9f51b9b08979d08@1.2.3.4:26656"
    );
    assert_eq!(
        addr.id().to_string(),
        v["identity"]["B"]["node_id"].as_str().unwrap()
    );
    // Our encoding reproduces the vector.
    let ours = proto::Message {
        sum: Some(proto::message::Sum::PexAddrs(proto::PexAddrs {
            addrs: vec![addr.to_proto()],
        })),
    };
    assert_eq!(prost::Message::encode_to_vec(&ours), body);
}

/// One direction of an in-memory pipe.
#[derive(Default)]
struct Half {
    buf: VecDeque<u8>,
    closed: bool,
    reader: Option<Waker>,
}

/// One end of an in-memory duplex pipe with proper wake-ups.
struct End {
    rx: Arc<Mutex<Half>>,
    tx: Arc<Mutex<Half>>,
}

fn duplex() -> (End, End) {
    let a = Arc::new(Mutex::new(Half::default()));
    let b = Arc::new(Mutex::new(Half::default()));
    (
        End {
            rx: a.clone(),
            tx: b.clone(),
        },
        End { rx: b, tx: a },
    )
}

impl AsyncRead for End {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut half = self.rx.lock().unwrap();
        if half.buf.is_empty() {
            if half.closed {
                return Poll::Ready(Ok(0));
            }
            half.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = out.len().min(half.buf.len());
        for (dst, src) in out.iter_mut().zip(half.buf.drain(..n)) {
            *dst = src;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for End {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let mut half = self.tx.lock().unwrap();
        half.buf.extend(b);
        if let Some(w) = half.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut half = self.tx.lock().unwrap();
        half.closed = true;
        if let Some(w) = half.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

fn info_for(seed: u8, network: &str) -> (NodeId, NodeInfo) {
    let id = NodeKey::from_seed([seed; 32]).node_id();
    (
        id,
        NodeInfo::builder(id, network, format!("node-{seed}")).build(),
    )
}

#[tokio::test]
async fn exchange_both_ways_then_stream_continues() {
    let (mut a, mut b) = duplex();
    let (id_a, info_a) = info_for(1, "test-chain");
    let (id_b, info_b) = info_for(2, "test-chain");
    let (got_b, got_a) = futures::join!(exchange(&mut a, &info_a), exchange(&mut b, &info_b));
    let (got_b, got_a) = (got_b.unwrap(), got_a.unwrap());
    assert_eq!(got_b, info_b);
    assert_eq!(got_a, info_a);
    assert_eq!(check_peer(&info_a, &got_b, &id_b), Ok(()));
    assert_eq!(check_peer(&info_b, &got_a, &id_a), Ok(()));
    assert_eq!(
        check_peer(&info_a, &got_b, &id_a),
        Err(NodeInfoRejected::IdMismatch {
            authenticated: id_a,
            claimed: id_b
        })
    );
    // The bytes after the NodeInfo are still there for the MConnection.
    a.write_all(b"\x02\x0a\x00").await.unwrap();
    let mut ping = [0u8; 3];
    b.read_exact(&mut ping).await.unwrap();
    assert_eq!(ping, [0x02, 0x0a, 0x00]);
}

#[tokio::test]
async fn exchange_with_a_different_network_is_incompatible() {
    let (mut a, mut b) = duplex();
    let (_, info_a) = info_for(1, "chain-a");
    let (id_b, info_b) = info_for(2, "chain-b");
    let (got_b, _) = futures::join!(exchange(&mut a, &info_a), exchange(&mut b, &info_b));
    assert!(matches!(
        check_peer(&info_a, &got_b.unwrap(), &id_b),
        Err(NodeInfoRejected::Incompatible(_))
    ));
}

#[tokio::test]
async fn oversize_prefix_rejected_without_waiting_for_the_body() {
    let (mut ours, mut peer) = duplex();
    let mut prefix = Vec::new();
    encode_uvarint(10_241, &mut prefix);
    // The peer sends only the prefix; a reader that waited for the body would hang.
    peer.write_all(&prefix).await.unwrap();
    let (_, info) = info_for(1, "c");
    let res = tokio::time::timeout(Duration::from_secs(5), exchange(&mut ours, &info))
        .await
        .expect("exchange waited for a body it must not read");
    assert!(matches!(
        res,
        Err(ExchangeError::TooLarge {
            len: 10_241,
            max: MAX_NODE_INFO_SIZE
        })
    ));
}

#[tokio::test]
async fn malformed_protobuf_and_early_close() {
    let (mut ours, mut peer) = duplex();
    // Field 8 (`other`) as a varint instead of a message: wrong wire type.
    peer.write_all(&[2, 0x40, 0x01]).await.unwrap();
    let (_, info) = info_for(1, "c");
    let res = exchange(&mut ours, &info).await;
    assert!(matches!(res, Err(ExchangeError::Malformed(_))), "{res:?}");

    let (mut ours, mut peer) = duplex();
    peer.write_all(&[40, 1, 2, 3]).await.unwrap();
    peer.close().await.unwrap();
    let res = exchange(&mut ours, &info).await;
    assert!(
        matches!(res, Err(ExchangeError::Io(ref e)) if e.kind() == io::ErrorKind::UnexpectedEof),
        "{res:?}"
    );
}

/// Polls a future once; the in-memory inputs used below never make it wait.
fn run_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future did not complete"),
    }
}

/// Reads from fixed bytes, discards writes.
struct FromBytes(Cursor<Vec<u8>>);

impl AsyncRead for FromBytes {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for FromBytes {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn exercise(info: &NodeInfo) {
    let (_, ours) = info_for(1, "test-chain");
    let _ = info.validate();
    let _ = ours.compatible_with(info);
    let _ = check_peer(&ours, info, &info.node_id);
    let _ = info.net_address();
    // Our encoding of what we decoded decodes to the same value.
    let body = prost::Message::encode_to_vec(&info.to_proto());
    assert_eq!(NodeInfo::decode(&body).as_ref().ok(), Some(info));
}

proptest! {
    #[test]
    fn node_info_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(info) = NodeInfo::decode(&bytes) {
            exercise(&info);
        }
        let (_, ours) = info_for(1, "c");
        let mut s = FromBytes(Cursor::new(bytes));
        if let Ok(info) = run_ready(exchange(&mut s, &ours)) {
            exercise(&info);
        }
    }

    #[test]
    fn node_info_decoder_survives_mutated_valid_input(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut body = node_a().1.to_proto();
        body.channels.push(0x99);
        let mut bytes = prost::Message::encode_to_vec(&body);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(info) = NodeInfo::decode(&bytes) {
            exercise(&info);
        }
    }

    #[test]
    fn net_address_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = NetAddress::parse(&s);
        let _ = NetAddress::parse(&format!("39f713d0a644253f04529421b9f51b9b08979d08@{s}"));
        let _ = NetAddress::from_proto(&proto::NetAddress { id: s.to_string(), ip: s.to_string(), port: 1 });
    }

    #[test]
    fn net_address_parser_on_address_like_text(s in "(tcp://)?[0-9a-fA-F@]{0,41}@[\\[\\]0-9a-f:.%]{0,30}(:[0-9+-]{0,6})?") {
        match NetAddress::parse(&s) {
            Ok(a) => {
                prop_assert_eq!(NetAddress::parse(&a.to_string()), Ok(a));
                let _ = (a.group(true), a.group(false), a.routable());
            }
            Err(NetAddressError::Hostname(u)) => prop_assert!(!u.host.is_empty()),
            Err(_) => {}
        }
    }

    #[test]
    fn net_address_round_trips(id in any::<[u8; 20]>(), ip in any::<std::net::IpAddr>(), port in any::<u16>()) {
        let a = NetAddress::new(NodeId::from_bytes(id), ip, port);
        prop_assert_eq!(NetAddress::parse(&a.to_string()), Ok(a));
        prop_assert_eq!(NetAddress::from_proto(&a.to_proto()), Ok(a));
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<NetAddress>(&json).unwrap(), a);
        let _ = (a.group(true), a.group(false), a.valid(), a.local(), a.routable());
    }
}
