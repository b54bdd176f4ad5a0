//! Interop with the independent `tendermint-p2p` 0.41 SecretConnection over
//! loopback TCP, in both directions (we dial it; it dials us).
//!
//! Its quirks (spec 7 item 13) shape the test: it runs on std threads with
//! blocking sockets and no read timeout, its reader gets a dedicated thread and
//! buffers of at least 1024 bytes, and it reads our AuthSig with one 103-byte
//! read (our handshake seals it alone in the first frame).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use p2p::secret_connection::{handshake, SecretConnection};
use p2p::{NodeId, NodeKey};
use tendermint_p2p::secret_connection::{SecretConnection as TheirConnection, Version};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

const OUR_SEED: [u8; 32] = [0x11; 32];
const THEIR_SEED: [u8; 32] = [0x22; 32];
/// More than ten frames, not a multiple of the frame size.
const BIG: usize = 10 * 1024 + 4321;

fn payload(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) ^ tag).collect()
}

/// What we send: a short message, then a multi-frame one.
fn ours_to_theirs() -> Vec<u8> {
    [b"hello from p2p".to_vec(), payload(0x5a, BIG)].concat()
}

/// What they send.
fn theirs_to_ours() -> Vec<u8> {
    [
        b"hello from tendermint-p2p".to_vec(),
        payload(0xa5, BIG + 999),
    ]
    .concat()
}

struct TheirView {
    remote_pubkey: [u8; 32],
    remote_id: String,
    received: Vec<u8>,
}

/// Runs tendermint-p2p's side on `stream` (blocking; call on its own thread).
#[allow(clippy::disallowed_methods)] // std threads: tendermint-p2p is blocking; test-only
fn run_theirs(stream: TcpStream) -> TheirView {
    let conn = TheirConnection::new(
        stream,
        ed25519_consensus::SigningKey::from(THEIR_SEED),
        Version::V0_34,
    )
    .expect("tendermint-p2p handshake");
    let pk = conn.remote_pubkey();
    let remote_pubkey = pk.ed25519().expect("ed25519 peer").to_bytes();
    let remote_id = pk.peer_id().to_string();
    let (mut tx, mut rx) = conn.split().expect("split");
    let want = ours_to_theirs().len();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < want {
            let n = rx.read(&mut buf).expect("tendermint-p2p read");
            assert!(n > 0, "EOF after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    let out = theirs_to_ours();
    let (small, big) = out.split_at(25);
    tx.write_all(small).unwrap();
    tx.write_all(big).unwrap();
    tx.flush().unwrap();
    TheirView {
        remote_pubkey,
        remote_id,
        received: reader.join().expect("reader thread"),
    }
}

/// Our side: handshake, then send and receive concurrently on split halves.
async fn run_ours(stream: tokio::net::TcpStream, ephemeral: [u8; 32]) {
    let key = NodeKey::from_seed(OUR_SEED);
    let conn: SecretConnection<Compat<tokio::net::TcpStream>> =
        handshake(stream.compat(), &key, ephemeral)
            .await
            .expect("our handshake");
    let theirs = NodeKey::from_seed(THEIR_SEED);
    assert_eq!(conn.remote_pubkey(), theirs.public_key());
    assert_eq!(conn.remote_id(), theirs.node_id());

    let (mut rx, mut tx) = conn.split_with(|s| {
        let (r, w) = s.into_inner().into_split();
        (r.compat(), w.compat_write())
    });
    let send = async {
        let out = ours_to_theirs();
        tx.write_all(&out[..14]).await.unwrap();
        tx.flush().await.unwrap();
        tx.write_all(&out[14..]).await.unwrap();
        tx.flush().await.unwrap();
    };
    let recv = async {
        let mut got = vec![0u8; theirs_to_ours().len()];
        rx.read_exact(&mut got).await.unwrap();
        got
    };
    let ((), got) = futures::join!(send, recv);
    assert!(got == theirs_to_ours(), "bytes from tendermint-p2p differ");
}

fn check_their_view(view: TheirView) {
    let ours = NodeKey::from_seed(OUR_SEED);
    assert_eq!(view.remote_pubkey, ours.public_key());
    assert_eq!(view.remote_id, ours.node_id().to_string());
    assert_eq!(
        view.remote_id.parse::<NodeId>().unwrap(),
        NodeId::from_public_key(&ours.public_key())
    );
    assert!(view.received == ours_to_theirs(), "bytes from p2p differ");
}

#[allow(clippy::disallowed_methods)] // std thread for the blocking peer; test-only
fn spawn_theirs<F: FnOnce() -> TcpStream + Send + 'static>(connect: F) -> JoinHandle<TheirView> {
    std::thread::spawn(move || run_theirs(connect()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_tendermint_p2p() {
    // Their ephemeral key is random, so several rounds cover both key orders.
    for round in 0u8..4 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let theirs = spawn_theirs(move || listener.accept().unwrap().0);
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        run_ours(stream, [round.wrapping_mul(67).wrapping_add(1); 32]).await;
        check_their_view(theirs.join().expect("their thread"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tendermint_p2p_dials_us() {
    for round in 0u8..4 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let theirs = spawn_theirs(move || TcpStream::connect(addr).unwrap());
        let (stream, _) = listener.accept().await.unwrap();
        run_ours(stream, [round.wrapping_mul(89).wrapping_add(7); 32]).await;
        check_their_view(theirs.join().expect("their thread"));
    }
}
