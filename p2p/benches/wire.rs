//! Wire-layer benchmarks, one run, small samples (well under two minutes):
//!
//! - `secret_connection/ours_tcp`: 16 MiB through our SecretConnection pair
//!   over loopback TCP (writer and reader in separate tokio tasks).
//! - `secret_connection/tendermint_p2p_tcp`: the same transfer through the
//!   `tendermint-p2p` crate's pair over loopback TCP (writer and reader threads).
//! - `secret_connection/raw_seal`: the AEAD limit: sealing 1028-byte frames
//!   with ChaCha20-Poly1305 for the same 16 MiB of data, no I/O, one core.
//! - `handshake/ours_in_memory`: CPU time of one full handshake (both sides,
//!   over an in-memory duplex).
//!
//! Run: `cargo bench -p p2p --bench wire`.
#![allow(missing_docs)]
#![allow(clippy::disallowed_methods)] // benches: std threads for the blocking tendermint-p2p peer

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use p2p::secret_connection::frame::{nonce_bytes, TOTAL_FRAME_SIZE};
use p2p::secret_connection::{handshake, SecretReader, SecretWriter};
use p2p::NodeKey;
use tendermint_p2p::secret_connection::{
    Receiver as TheirReceiver, SecretConnection as TheirConnection, Sender as TheirSender, Version,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

const TOTAL: usize = 16 << 20;
const IO_CHUNK: usize = 64 << 10;

type OurReader = SecretReader<Compat<OwnedReadHalf>>;
type OurWriter = SecretWriter<Compat<OwnedWriteHalf>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A connected pair of our SecretConnections over loopback TCP: (A's writer, B's reader).
fn our_pair(rt: &tokio::runtime::Runtime) -> (OurWriter, OurReader) {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
        let (dialed, accepted) = futures::join!(tokio::net::TcpStream::connect(addr), async {
            listener.accept().await.unwrap().0
        });
        let (a, b) = futures::join!(
            handshake(dialed.unwrap().compat(), &ka, [3; 32]),
            handshake(accepted.compat(), &kb, [4; 32]),
        );
        let split = |s: Compat<tokio::net::TcpStream>| {
            let (r, w) = s.into_inner().into_split();
            (r.compat(), w.compat_write())
        };
        let (_, a_tx) = a.unwrap().split_with(split);
        let (b_rx, _) = b.unwrap().split_with(split);
        (a_tx, b_rx)
    })
}

/// Moves [`TOTAL`] bytes from `tx` to `rx`, each in its own task.
fn our_transfer(
    rt: &tokio::runtime::Runtime,
    mut tx: OurWriter,
    mut rx: OurReader,
) -> (OurWriter, OurReader) {
    rt.block_on(async move {
        let writer = tokio::spawn(async move {
            let data = vec![0x5au8; IO_CHUNK];
            for _ in 0..TOTAL / IO_CHUNK {
                tx.write_all(&data).await.unwrap();
            }
            tx.flush().await.unwrap();
            tx
        });
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; IO_CHUNK];
            let mut left = TOTAL;
            while left > 0 {
                let n = rx.read(&mut buf).await.unwrap();
                assert!(n > 0);
                left -= n;
            }
            rx
        });
        (writer.await.unwrap(), reader.await.unwrap())
    })
}

type TheirTx = TheirSender<TcpStream>;
type TheirRx = TheirReceiver<TcpStream>;

/// tendermint-p2p's pair over loopback TCP: (A's sender, B's receiver).
fn their_pair() -> (TheirTx, TheirRx) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let side = |stream: TcpStream, seed: [u8; 32]| {
        TheirConnection::new(
            stream,
            ed25519_consensus::SigningKey::from(seed),
            Version::V0_34,
        )
        .unwrap()
        .split()
        .unwrap()
    };
    let dialer = std::thread::spawn(move || side(TcpStream::connect(addr).unwrap(), [1; 32]));
    let (b_tx, b_rx) = side(listener.accept().unwrap().0, [2; 32]);
    drop(b_tx);
    let (a_tx, _a_rx) = dialer.join().unwrap();
    (a_tx, b_rx)
}

fn their_transfer(mut tx: TheirTx, mut rx: TheirRx) -> (TheirTx, TheirRx) {
    let writer = std::thread::spawn(move || {
        let data = vec![0x5au8; IO_CHUNK];
        for _ in 0..TOTAL / IO_CHUNK {
            tx.write_all(&data).unwrap();
        }
        tx.flush().unwrap();
        tx
    });
    let mut buf = vec![0u8; IO_CHUNK];
    let mut left = TOTAL;
    while left > 0 {
        let n = rx.read(&mut buf).unwrap();
        assert!(n > 0);
        left -= n;
    }
    (writer.join().unwrap(), rx)
}

/// Seals [`TOTAL`] bytes as full 1028-byte frames: the AEAD limit.
fn raw_seal(cipher: &ChaCha20Poly1305, frame: &mut [u8; TOTAL_FRAME_SIZE]) -> u8 {
    let mut x = 0;
    for counter in 0..(TOTAL / 1024) as u64 {
        let tag = cipher
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce_bytes(counter)), b"", frame)
            .unwrap();
        x ^= tag[0];
    }
    x
}

fn bulk(c: &mut Criterion) {
    let mut group = c.benchmark_group("secret_connection");
    group
        .throughput(Throughput::Bytes(TOTAL as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));

    let rt = runtime();
    let mut ours = Some(our_pair(&rt));
    group.bench_function(BenchmarkId::new("ours_tcp", "16MiB"), |b| {
        b.iter(|| {
            let (tx, rx) = ours.take().unwrap();
            ours = Some(our_transfer(&rt, tx, rx));
        })
    });
    drop(ours);

    let mut theirs = Some(their_pair());
    group.bench_function(BenchmarkId::new("tendermint_p2p_tcp", "16MiB"), |b| {
        b.iter(|| {
            let (tx, rx) = theirs.take().unwrap();
            theirs = Some(their_transfer(tx, rx));
        })
    });
    drop(theirs);

    let cipher = ChaCha20Poly1305::new(GenericArray::from_slice(&[9u8; 32]));
    let mut frame = [0u8; TOTAL_FRAME_SIZE];
    group.bench_function(BenchmarkId::new("raw_seal", "16MiB"), |b| {
        b.iter(|| raw_seal(&cipher, &mut frame))
    });
    group.finish();
}

fn handshake_cpu(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let mut group = c.benchmark_group("handshake");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("ours_in_memory_both_sides", |b| {
        let mut i = 0u8;
        b.iter(|| {
            i = i.wrapping_add(1);
            rt.block_on(async {
                let (x, y) = tokio::io::duplex(4096);
                let (a, b) = futures::join!(
                    handshake(x.compat(), &ka, [i; 32]),
                    handshake(y.compat(), &kb, [i ^ 0x80; 32]),
                );
                (a.unwrap().remote_id(), b.unwrap().remote_id())
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bulk, handshake_cpu);
criterion_main!(benches);
