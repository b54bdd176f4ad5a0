//! SecretConnection: CometBFT's authenticated encryption over a byte stream
//! (spec 1.1-1.3).
//!
//! - [`kdf`]: HKDF key split and the Merlin challenge (pure functions).
//! - [`handshake`]: the sans-IO STS handshake state machine.
//! - [`frame`]: [`Sealer`]/[`Opener`] for the fixed 1044-byte frames.
//! - [`stream_io`]: the adapter's frame reader/writer driven synchronously
//!   over byte slices (fuzzing and tests).
//! - this file: the async adapter. [`handshake()`] drives the state machine over
//!   any futures-io stream and returns a [`SecretConnection`], itself a
//!   futures-io `AsyncRead + AsyncWrite` byte stream that can be [split] into
//!   independent halves.
//!
//! Buffering: writes seal as many frames as the input allows (up to
//! [`MAX_BATCH_FRAMES`]) into one buffer and hand it to the stream in as few
//! writes as possible, so **call `flush`** before waiting for an answer, as
//! with any buffered writer. Reads pull large chunks, open whole frames in
//! place and keep leftover plaintext across calls. Buffers start small and
//! grow only under bulk traffic, so idle connections stay cheap.
//!
//! The handshake deadline is the caller's: see [`handshake_with_timeout`].
//!
//! [split]: SecretConnection::split

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

pub mod frame;
pub mod handshake;
pub mod kdf;
pub mod stream_io;

pub use frame::{Crypto, FrameError, Opener, Sealer, DATA_MAX_SIZE, SEALED_FRAME_SIZE};
pub use handshake::{Handshake, HandshakeError, RemoteIdentity};

use crate::key::{NodeId, NodeKey};
use crate::net::Runtime;
use handshake::KeysAgreed;

/// Go's hard-coded handshake deadline (`defaultHandshakeTimeout`).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most frames sealed or buffered for reading at once (about 64 KiB of data).
pub const MAX_BATCH_FRAMES: usize = 64;
/// Frames the read buffer holds before bulk traffic makes it grow.
const INITIAL_READ_FRAMES: usize = 4;

/// Runs the handshake over `io` with our `node_key` and a fresh 32-byte
/// ephemeral secret ([`handshake::draw_ephemeral_secret`]). Each message is
/// written before the peer's is awaited, so two of our nodes never deadlock.
/// The caller checks the remote ID against the dialed one.
pub async fn handshake<S>(
    io: S,
    node_key: &NodeKey,
    ephemeral_secret: [u8; 32],
) -> Result<SecretConnection<S>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    handshake_with_crypto(io, node_key, ephemeral_secret, Crypto::Real).await
}

/// [`handshake()`] in the given [`Crypto`] mode ([`Crypto::Null`] is for
/// simulations only and does not talk to real CometBFT nodes).
pub async fn handshake_with_crypto<S>(
    mut io: S,
    node_key: &NodeKey,
    ephemeral_secret: [u8; 32],
    crypto: Crypto,
) -> Result<SecretConnection<S>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hs = Handshake::with_crypto(node_key, ephemeral_secret, crypto);
    io.write_all(&hs.ephemeral_message()).await?;
    io.flush().await?;
    let mut msg = [0u8; handshake::EPHEMERAL_MSG_LEN];
    io.read_exact(&mut msg[..3]).await?;
    handshake::check_ephemeral_prefix(&msg[..3])?;
    io.read_exact(&mut msg[3..]).await?;
    let KeysAgreed {
        sealer,
        opener,
        auth,
    } = hs.receive_ephemeral(&msg)?;
    let mut chan = Channel {
        io,
        reader: ReadState::new(opener),
        writer: WriteState::new(sealer),
    };
    // 103 bytes: sealed alone into frame 0, as Go and tendermint-p2p expect.
    chan.write_all(auth.auth_sig_message())
        .await
        .map_err(from_io)?;
    chan.flush().await.map_err(from_io)?;

    let mut prefix = [0u8; crate::protoio::MAX_VARINT_LEN];
    let mut n = 0;
    let len = loop {
        let Some(byte) = prefix.get_mut(n..n + 1) else {
            return Err(HandshakeError::MalformedAuthSig("bad length prefix".into()));
        };
        chan.read_exact(byte).await.map_err(from_io)?;
        n += 1;
        if let Some((len, _)) = handshake::auth_sig_body_len(&prefix[..n])? {
            break len;
        }
    };
    let mut body = Vec::new();
    (&mut chan)
        .take(len as u64)
        .read_to_end(&mut body)
        .await
        .map_err(from_io)?;
    if body.len() != len {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    let remote = auth.receive_auth_sig(&body)?;
    Ok(SecretConnection { chan, remote })
}

/// [`handshake()`] bounded by `limit` of `rt`'s time ([`HandshakeError::Timeout`]).
pub async fn handshake_with_timeout<R, S>(
    rt: &R,
    limit: Duration,
    io: S,
    node_key: &NodeKey,
    ephemeral_secret: [u8; 32],
) -> Result<SecretConnection<S>, HandshakeError>
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin,
{
    match crate::net::timeout(rt, limit, handshake(io, node_key, ephemeral_secret)).await {
        Ok(result) => result,
        Err(crate::net::Elapsed(d)) => Err(HandshakeError::Timeout(d)),
    }
}

/// Turns an I/O error of our own stream back into the frame error it carries.
fn from_io(e: io::Error) -> HandshakeError {
    match e.get_ref().and_then(|r| r.downcast_ref::<FrameError>()) {
        Some(f) => HandshakeError::Frame(f.clone()),
        None => HandshakeError::Io(e),
    }
}

/// A frame error as an `io::Error` (downcast with `get_ref` to recover it).
fn to_io(e: &FrameError) -> io::Error {
    let kind = match e {
        FrameError::Decrypt | FrameError::ChunkTooLong { .. } => io::ErrorKind::InvalidData,
        FrameError::NonceExhausted | FrameError::ChunkTooLarge { .. } => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.clone())
}

/// An established, authenticated, encrypted byte stream.
pub struct SecretConnection<S> {
    chan: Channel<S>,
    remote: RemoteIdentity,
}

impl<S> std::fmt::Debug for SecretConnection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretConnection({})", self.remote.node_id)
    }
}

impl<S> SecretConnection<S> {
    /// The peer's authenticated Ed25519 public key.
    pub fn remote_pubkey(&self) -> [u8; 32] {
        self.remote.pubkey
    }

    /// The peer's node ID.
    pub fn remote_id(&self) -> NodeId {
        self.remote.node_id
    }

    /// The peer's identity.
    pub fn remote(&self) -> RemoteIdentity {
        self.remote
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.chan.io
    }

    /// The underlying stream; buffered plaintext and unsent frames are lost.
    pub fn into_inner(self) -> S {
        self.chan.io
    }

    /// Splits into halves that read and write independently, after `f` split
    /// the stream (e.g. a TCP stream's owned halves).
    pub fn split_with<R, W>(
        self,
        f: impl FnOnce(S) -> (R, W),
    ) -> (SecretReader<R>, SecretWriter<W>) {
        let (r, w) = f(self.chan.io);
        (
            SecretReader {
                io: r,
                state: self.chan.reader,
                remote: self.remote,
            },
            SecretWriter {
                io: w,
                state: self.chan.writer,
                remote: self.remote,
            },
        )
    }

    /// Splits into halves sharing the stream through a lock (`futures::io::split`).
    #[allow(clippy::type_complexity)]
    pub fn split(self) -> (SecretReader<ReadHalf<S>>, SecretWriter<WriteHalf<S>>)
    where
        S: AsyncRead + AsyncWrite,
    {
        self.split_with(|s| s.split())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SecretConnection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.chan).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for SecretConnection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.chan).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.chan).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.chan).poll_close(cx)
    }
}

/// The reading half of a split [`SecretConnection`].
pub struct SecretReader<R> {
    io: R,
    state: ReadState,
    remote: RemoteIdentity,
}

impl<R> SecretReader<R> {
    /// The peer's identity.
    pub fn remote(&self) -> RemoteIdentity {
        self.remote
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for SecretReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.state.poll_read(&mut this.io, cx, buf)
    }
}

/// The writing half of a split [`SecretConnection`].
pub struct SecretWriter<W> {
    io: W,
    state: WriteState,
    remote: RemoteIdentity,
}

impl<W> SecretWriter<W> {
    /// The peer's identity.
    pub fn remote(&self) -> RemoteIdentity {
        self.remote
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for SecretWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.state.poll_write(&mut this.io, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.state.poll_flush(&mut this.io, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.state.poll_close(&mut this.io, cx)
    }
}

/// Stream plus both directions' state; used before and after authentication.
struct Channel<S> {
    io: S,
    reader: ReadState,
    writer: WriteState,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Channel<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.reader.poll_read(&mut this.io, cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Channel<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writer.poll_write(&mut this.io, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.writer.poll_flush(&mut this.io, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.writer.poll_close(&mut this.io, cx)
    }
}

/// Receive direction: ciphertext in `buf[pos..filled]`, the opened frame's
/// undelivered plaintext in `buf[plain_start..plain_end]`.
struct ReadState {
    opener: Opener,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    plain_start: usize,
    plain_end: usize,
    failed: Option<FrameError>,
}

impl ReadState {
    fn new(opener: Opener) -> Self {
        ReadState {
            opener,
            buf: vec![0; INITIAL_READ_FRAMES * SEALED_FRAME_SIZE],
            pos: 0,
            filled: 0,
            plain_start: 0,
            plain_end: 0,
            failed: None,
        }
    }

    fn poll_read<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = &self.failed {
            return Poll::Ready(Err(to_io(e)));
        }
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut copied = 0;
        loop {
            let pending = self.plain_end - self.plain_start;
            if pending > 0 {
                let n = pending.min(out.len() - copied);
                out[copied..copied + n]
                    .copy_from_slice(&self.buf[self.plain_start..self.plain_start + n]);
                self.plain_start += n;
                copied += n;
                if copied == out.len() {
                    return Poll::Ready(Ok(copied));
                }
            }
            if self.filled - self.pos >= SEALED_FRAME_SIZE {
                let end = self.pos + SEALED_FRAME_SIZE;
                let opened =
                    match <&mut [u8; SEALED_FRAME_SIZE]>::try_from(&mut self.buf[self.pos..end]) {
                        Ok(frame) => self.opener.open(frame).map(|chunk| chunk.len()),
                        Err(_) => Err(FrameError::Decrypt), // unreachable: the slice has the length
                    };
                match opened {
                    Ok(len) => {
                        self.plain_start = self.pos + frame::DATA_LEN_SIZE;
                        self.plain_end = self.plain_start + len;
                        self.pos = end;
                        continue;
                    }
                    Err(e) => {
                        let err = to_io(&e);
                        self.failed = Some(e);
                        return Poll::Ready(if copied > 0 { Ok(copied) } else { Err(err) });
                    }
                }
            }
            if copied > 0 {
                return Poll::Ready(Ok(copied));
            }
            // No plaintext left: move the partial frame to the front, read more.
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.filled, 0);
                self.filled -= self.pos;
                self.pos = 0;
            }
            let n = ready!(Pin::new(&mut *io).poll_read(cx, &mut self.buf[self.filled..]))?;
            if n == 0 {
                return Poll::Ready(if self.filled == 0 {
                    Ok(0)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended inside a frame",
                    ))
                });
            }
            self.filled += n;
            if self.filled == self.buf.len()
                && self.buf.len() < MAX_BATCH_FRAMES * SEALED_FRAME_SIZE
            {
                let grown = (self.buf.len() * 4).min(MAX_BATCH_FRAMES * SEALED_FRAME_SIZE);
                self.buf.resize(grown, 0);
            }
        }
    }
}

/// Send direction: sealed frames not yet accepted by the stream in `buf[start..end]`.
struct WriteState {
    sealer: Sealer,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    failed: Option<FrameError>,
}

impl WriteState {
    fn new(sealer: Sealer) -> Self {
        WriteState {
            sealer,
            buf: Vec::new(),
            start: 0,
            end: 0,
            failed: None,
        }
    }

    /// Writes all sealed bytes to `io` (not flushing it).
    fn poll_drain<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.start < self.end {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.buf[self.start..self.end]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.start += n;
        }
        self.start = 0;
        self.end = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = &self.failed {
            return Poll::Ready(Err(to_io(e)));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        const CAP: usize = MAX_BATCH_FRAMES * SEALED_FRAME_SIZE;
        if self.end + SEALED_FRAME_SIZE > CAP {
            ready!(self.poll_drain(io, cx))?;
        }
        let frames = data.len().div_ceil(DATA_MAX_SIZE);
        let want = (self.end + frames * SEALED_FRAME_SIZE).min(CAP);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let (consumed, written) = match self.sealer.seal_many(data, &mut self.buf[self.end..want]) {
            Ok(done) => done,
            Err(e) => {
                let err = to_io(&e);
                self.failed = Some(e);
                return Poll::Ready(Err(err));
            }
        };
        self.end += written;
        // Hand the frames to the stream now; if it is busy (or broken) they
        // wait for the next write or flush, which reports any error.
        let _ = self.poll_drain(io, cx);
        Poll::Ready(Ok(consumed))
    }

    fn poll_flush<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(io, cx))?;
        Pin::new(io).poll_flush(cx)
    }

    fn poll_close<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(io, cx))?;
        Pin::new(io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    use super::*;

    #[derive(Default)]
    struct Queue {
        bytes: VecDeque<u8>,
        closed: bool,
        waker: Option<Waker>,
    }

    /// One end of an in-memory duplex pipe that moves at most `max_io` bytes per call.
    struct End {
        rx: Arc<Mutex<Queue>>,
        tx: Arc<Mutex<Queue>>,
        max_io: usize,
    }

    fn pipe(max_io: usize) -> (End, End) {
        let (a, b) = (Arc::default(), Arc::default());
        (
            End {
                rx: Arc::clone(&a),
                tx: Arc::clone(&b),
                max_io,
            },
            End {
                rx: b,
                tx: a,
                max_io,
            },
        )
    }

    impl AsyncRead for End {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let mut q = self.rx.lock().unwrap();
            if q.bytes.is_empty() {
                if q.closed {
                    return Poll::Ready(Ok(0));
                }
                q.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = out.len().min(q.bytes.len()).min(self.max_io);
            for (o, b) in out.iter_mut().zip(q.bytes.drain(..n)) {
                *o = b;
            }
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for End {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            let mut q = self.tx.lock().unwrap();
            let n = data.len().min(self.max_io);
            q.bytes.extend(&data[..n]);
            if let Some(w) = q.waker.take() {
                w.wake();
            }
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            let mut q = self.tx.lock().unwrap();
            q.closed = true;
            if let Some(w) = q.waker.take() {
                w.wake();
            }
            Poll::Ready(Ok(()))
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn keys() -> (NodeKey, NodeKey) {
        (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]))
    }

    async fn connect(max_io: usize) -> (SecretConnection<End>, SecretConnection<End>) {
        let (ka, kb) = keys();
        let (a, b) = pipe(max_io);
        let (ra, rb) = futures::join!(handshake(a, &ka, [3; 32]), handshake(b, &kb, [4; 32]));
        (ra.unwrap(), rb.unwrap())
    }

    #[test]
    fn handshake_authenticates_both_ways_even_byte_by_byte() {
        let (ka, kb) = keys();
        for max_io in [1, 7, 1 << 20] {
            let (a, b) = block_on(connect(max_io));
            assert_eq!(a.remote_id(), kb.node_id());
            assert_eq!(b.remote_pubkey(), ka.public_key());
        }
    }

    #[test]
    fn stream_round_trip_with_odd_sizes() {
        block_on(async {
            let (mut a, mut b) = connect(3000).await;
            let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
            let writer = async {
                for piece in data.chunks(777) {
                    a.write_all(piece).await.unwrap();
                }
                a.flush().await.unwrap();
                a
            };
            let reader = async {
                let mut got = Vec::new();
                let mut buf = [0u8; 999];
                while got.len() < data.len() {
                    let n = b.read(&mut buf[..1 + got.len() % 998]).await.unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&buf[..n]);
                }
                got
            };
            let (_a, got) = futures::join!(writer, reader);
            assert_eq!(got, data);
        });
    }

    #[test]
    fn split_halves_work_concurrently() {
        block_on(async {
            let (a, b) = connect(1 << 16).await;
            let (mut ar, mut aw) = a.split();
            let (mut br, mut bw) = b.split();
            assert_eq!(ar.remote().node_id, keys().1.node_id());
            let msg = vec![9u8; 5000];
            let (_, _, x, y) = futures::join!(
                async {
                    aw.write_all(&msg).await.unwrap();
                    aw.flush().await.unwrap()
                },
                async {
                    bw.write_all(&msg).await.unwrap();
                    bw.flush().await.unwrap()
                },
                async {
                    let mut v = vec![0; 5000];
                    br.read_exact(&mut v).await.unwrap();
                    v
                },
                async {
                    let mut v = vec![0; 5000];
                    ar.read_exact(&mut v).await.unwrap();
                    v
                },
            );
            assert_eq!((x, y), (msg.clone(), msg));
        });
    }

    #[test]
    fn eof_inside_a_frame_is_unexpected_eof_and_clean_eof_is_zero() {
        block_on(async {
            let (a, mut b) = connect(1 << 16).await;
            let raw_tx = Arc::clone(&a.get_ref().tx);
            drop(a);
            raw_tx.lock().unwrap().bytes.extend([0u8; 100]);
            raw_tx.lock().unwrap().closed = true;
            let err = b.read(&mut [0u8; 10]).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

            let (mut a, mut b) = connect(1 << 16).await;
            a.close().await.unwrap();
            assert_eq!(b.read(&mut [0u8; 10]).await.unwrap(), 0);
        });
    }

    #[test]
    fn tampered_frame_poisons_the_reader() {
        block_on(async {
            let (mut a, mut b) = connect(1 << 16).await;
            a.write_all(b"hello").await.unwrap();
            a.flush().await.unwrap();
            let raw_tx = Arc::clone(&a.get_ref().tx);
            raw_tx.lock().unwrap().bytes[10] ^= 1;
            for _ in 0..2 {
                let err = b.read(&mut [0u8; 10]).await.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidData);
                let inner = err.get_ref().and_then(|e| e.downcast_ref::<FrameError>());
                assert_eq!(inner, Some(&FrameError::Decrypt));
            }
        });
    }

    #[test]
    fn peer_faults_during_handshake_have_exact_variants() {
        let (ka, _) = keys();
        block_on(async {
            // Wrong prefix: refused after 3 bytes, without waiting for 35.
            let (a, mut b) = pipe(1 << 16);
            b.write_all(&[0x21, 0x0a, 0x1f]).await.unwrap();
            let err = handshake(a, &ka, [3; 32]).await.unwrap_err();
            assert!(
                matches!(err, HandshakeError::BadEphemeralMessage(_)),
                "{err}"
            );

            // Low-order key.
            let (a, mut b) = pipe(1 << 16);
            b.write_all(&handshake::encode_ephemeral_message(&[0; 32]))
                .await
                .unwrap();
            let err = handshake(a, &ka, [3; 32]).await.unwrap_err();
            assert!(matches!(err, HandshakeError::LowOrderEphemeralKey), "{err}");

            // Peer hangs up after its ephemeral key.
            let (a, mut b) = pipe(1 << 16);
            let peer = Handshake::new(&keys().1, [4; 32]);
            b.write_all(&peer.ephemeral_message()).await.unwrap();
            b.close().await.unwrap();
            let err = handshake(a, &ka, [3; 32]).await.unwrap_err();
            assert!(
                matches!(&err, HandshakeError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof)
            );

            // Peer's first frame is garbage.
            let (a, mut b) = pipe(1 << 16);
            b.write_all(&peer.ephemeral_message()).await.unwrap();
            b.write_all(&[0u8; SEALED_FRAME_SIZE]).await.unwrap();
            let err = handshake(a, &ka, [3; 32]).await.unwrap_err();
            assert!(
                matches!(err, HandshakeError::Frame(FrameError::Decrypt)),
                "{err}"
            );
        });
    }

    /// A runtime whose timers have always already expired.
    #[derive(Clone)]
    struct ExpiredRt;

    impl Runtime for ExpiredRt {
        fn now(&self) -> crate::time::Instant {
            crate::time::Instant::ZERO
        }
        fn sleep_until(
            &self,
            _: crate::time::Instant,
        ) -> impl Future<Output = ()> + Send + 'static {
            futures::future::ready(())
        }
        fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
            tokio::spawn(f);
        }
    }

    #[test]
    fn silent_peer_times_out() {
        block_on(async {
            let rt = ExpiredRt;
            let (a, _b) = pipe(1 << 16);
            let err = handshake_with_timeout(&rt, DEFAULT_HANDSHAKE_TIMEOUT, a, &keys().0, [3; 32])
                .await
                .unwrap_err();
            assert!(matches!(err, HandshakeError::Timeout(d) if d == Duration::from_secs(3)));
            assert!(!err.peer_misbehaved());
        });
    }
}
