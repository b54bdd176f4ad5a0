//! The NodeInfo exchange over an already-secured stream (spec 1.4): write ours,
//! then read the peer's length-delimited `DefaultNodeInfo` (body at most
//! [`MAX_NODE_INFO_SIZE`] bytes).
//!
//! The reader takes the varint one byte at a time and then exactly the body, so
//! the MConnection bytes that follow on the same stream are left unread. The
//! 3-second deadline ([`super::DEFAULT_NODE_INFO_TIMEOUT`]) is the caller's job
//! (e.g. [`crate::net::timeout`]).

use std::io;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{NodeInfo, NodeInfoInvalid, MAX_NODE_INFO_SIZE};
use crate::protoio::{decode_uvarint, FrameError, MAX_VARINT_LEN};

/// Why the NodeInfo exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Writing ours or reading theirs failed, or the peer closed the stream
    /// (`UnexpectedEof`).
    #[error("NodeInfo exchange I/O: {0}")]
    Io(#[from] io::Error),
    /// The peer's length prefix is not a valid uvarint: the peer misbehaved.
    #[error("peer's NodeInfo length prefix is malformed")]
    BadLengthPrefix,
    /// The peer declared a body above the limit; it was not read. The peer
    /// misbehaved.
    #[error("peer's NodeInfo of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The declared length.
        len: u64,
        /// The limit ([`MAX_NODE_INFO_SIZE`]).
        max: usize,
    },
    /// The body is not a `DefaultNodeInfo` protobuf: the peer misbehaved.
    #[error("peer's NodeInfo is malformed protobuf: {0}")]
    Malformed(String),
    /// The body decoded but its node ID is unusable: the peer misbehaved.
    #[error(transparent)]
    Invalid(NodeInfoInvalid),
}

/// Sends `ours` (and flushes), then reads and decodes the peer's NodeInfo.
///
/// Writing first keeps two nodes that both run this from deadlocking (each side's
/// write completes into the transport's buffers). Nothing is read after the
/// peer's message. The result is not yet checked: run [`super::check_peer`].
pub async fn exchange<S>(stream: &mut S, ours: &NodeInfo) -> Result<NodeInfo, ExchangeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&ours.to_delimited()).await?;
    stream.flush().await?;
    let body = read_delimited(stream, MAX_NODE_INFO_SIZE).await?;
    NodeInfo::decode(&body)
}

/// Reads `uvarint(len)` byte by byte, rejects `len > max` before reading on, then
/// reads exactly `len` bytes.
async fn read_delimited<S>(stream: &mut S, max: usize) -> Result<Vec<u8>, ExchangeError>
where
    S: AsyncRead + Unpin,
{
    let mut prefix = [0u8; MAX_VARINT_LEN];
    let mut used = 0;
    let len = loop {
        let Some(slot) = prefix.get_mut(used..used + 1) else {
            return Err(ExchangeError::BadLengthPrefix);
        };
        stream.read_exact(slot).await?;
        used += 1;
        match decode_uvarint(&prefix[..used]) {
            Ok(Some((len, _))) => break len,
            Ok(None) => {}
            Err(FrameError::BadVarint | FrameError::TooLong { .. } | FrameError::Malformed(_)) => {
                return Err(ExchangeError::BadLengthPrefix)
            }
        }
    };
    if len > max as u64 {
        return Err(ExchangeError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    use futures::io::Cursor;

    use super::*;
    use crate::key::NodeId;
    use crate::protoio::encode_uvarint;

    /// A stream whose reads come from a fixed buffer and whose writes are kept.
    struct Scripted {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Scripted {
        fn new(input: Vec<u8>) -> Self {
            Scripted {
                input: Cursor::new(input),
                output: Vec::new(),
            }
        }
    }

    impl AsyncRead for Scripted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Scripted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.output.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Runs a future that never waits (all I/O here is in memory).
    fn now<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("in-memory future did not complete"),
        }
    }

    fn info(seed: u8) -> NodeInfo {
        NodeInfo::builder(NodeId::from_bytes([seed; 20]), "test-chain", "n").build()
    }

    #[test]
    fn writes_ours_reads_theirs_and_stops_at_its_end() {
        let theirs = info(2);
        let mut input = theirs.to_delimited();
        let theirs_len = input.len() as u64;
        input.extend_from_slice(b"\x02\x0a\x00 mconn bytes");
        let mut s = Scripted::new(input);
        let got = now(exchange(&mut s, &info(1))).unwrap();
        assert_eq!(got, theirs);
        assert_eq!(s.output, info(1).to_delimited());
        assert_eq!(s.input.position(), theirs_len);
    }

    #[test]
    fn oversize_rejected_before_the_body_is_read() {
        let mut input = Vec::new();
        encode_uvarint(MAX_NODE_INFO_SIZE as u64 + 1, &mut input);
        let prefix_len = input.len() as u64;
        input.resize(input.len() + MAX_NODE_INFO_SIZE + 1, 0);
        let mut s = Scripted::new(input);
        let err = now(exchange(&mut s, &info(1))).unwrap_err();
        assert!(
            matches!(
                err,
                ExchangeError::TooLarge {
                    len: 10_241,
                    max: 10_240
                }
            ),
            "{err}"
        );
        assert_eq!(s.input.position(), prefix_len);
    }

    #[test]
    fn bad_prefix_truncation_and_garbage() {
        let mut s = Scripted::new(vec![0xff; 11]);
        let err = now(exchange(&mut s, &info(1))).unwrap_err();
        assert!(matches!(err, ExchangeError::BadLengthPrefix), "{err}");
        assert_eq!(s.input.position(), 10);

        let mut s = Scripted::new(vec![5, 1, 2]);
        let err = now(exchange(&mut s, &info(1))).unwrap_err();
        assert!(
            matches!(err, ExchangeError::Io(ref e) if e.kind() == io::ErrorKind::UnexpectedEof)
        );

        let mut s = Scripted::new(vec![]);
        assert!(matches!(
            now(exchange(&mut s, &info(1))),
            Err(ExchangeError::Io(_))
        ));

        // Field 1 declared as length-delimited with 100 bytes that are not there.
        let mut s = Scripted::new(vec![2, 0x0a, 100]);
        let err = now(exchange(&mut s, &info(1))).unwrap_err();
        assert!(matches!(err, ExchangeError::Malformed(_)), "{err}");
    }

    #[test]
    fn body_of_exactly_the_limit_is_accepted() {
        let mut big = info(2);
        let base = big.to_proto();
        let overhead = prost::Message::encoded_len(&base) - base.moniker.len();
        // moniker = 7, len-prefix of the field is 2 bytes for these sizes.
        big.moniker = "m".repeat(MAX_NODE_INFO_SIZE - overhead - 2 + 1);
        assert_eq!(
            prost::Message::encoded_len(&big.to_proto()),
            MAX_NODE_INFO_SIZE
        );
        let mut s = Scripted::new(big.to_delimited());
        assert_eq!(now(exchange(&mut s, &info(1))).unwrap(), big);
    }
}
