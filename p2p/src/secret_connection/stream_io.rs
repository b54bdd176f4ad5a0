//! Synchronous access to the SecretConnection's frame reader and writer
//! (the same `ReadState`/`WriteState` the async adapter uses), for fuzzing and
//! tests: ciphertext bytes in, plaintext out, without a handshake or a socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::{FrameError, Opener, ReadState, Sealer, WriteState};

/// A byte source that hands out at most `max` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    max: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = self.data.len().min(self.max).min(buf.len());
        let (head, tail) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = tail;
        Poll::Ready(Ok(n))
    }
}

/// A sink that accepts at most `max` bytes per write.
struct Sink {
    out: Vec<u8>,
    max: usize,
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.max);
        self.out.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// How reading a ciphertext stream ended.
#[derive(Debug)]
pub struct ReadOutcome {
    /// The plaintext delivered before the end or the first error.
    pub plaintext: Vec<u8>,
    /// `None` if the stream ended cleanly at a frame boundary.
    pub error: Option<io::Error>,
}

impl ReadOutcome {
    /// The frame error the reader failed with, if it failed on a frame.
    pub fn frame_error(&self) -> Option<&FrameError> {
        self.error
            .as_ref()
            .and_then(|e| e.get_ref())
            .and_then(|r| r.downcast_ref::<FrameError>())
    }
}

/// Reads `ciphertext` as a SecretConnection stream whose frames are opened with
/// `recv_key` (nonce counter from 0), exactly as [`super::SecretConnection`]'s
/// reader does. The stream hands over at most `io_chunk` bytes per read and the
/// caller asks for `read_size` bytes per read (both at least 1), so partial
/// frames and partial plaintext delivery are exercised. Never panics.
pub fn read_stream(
    recv_key: &[u8; 32],
    ciphertext: &[u8],
    io_chunk: usize,
    read_size: usize,
) -> ReadOutcome {
    let mut state = ReadState::new(Opener::new(recv_key));
    let mut io = Trickle {
        data: ciphertext,
        max: io_chunk.max(1),
    };
    let mut buf = vec![0u8; read_size.max(1)];
    let mut plaintext = Vec::new();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        match state.poll_read(&mut io, &mut cx, &mut buf) {
            // The source never blocks; treat a pending read as the end.
            Poll::Pending | Poll::Ready(Ok(0)) => {
                return ReadOutcome {
                    plaintext,
                    error: None,
                }
            }
            Poll::Ready(Ok(n)) => plaintext.extend_from_slice(&buf[..n]),
            Poll::Ready(Err(e)) => {
                return ReadOutcome {
                    plaintext,
                    error: Some(e),
                }
            }
        }
    }
}

/// Seals `plaintext` with `send_key` (nonce counter from 0) through the
/// SecretConnection's writer, handing it over in writes of at most
/// `write_size` bytes to a stream that accepts at most `io_chunk` bytes per
/// write, and returns the ciphertext. Padding is zero.
pub fn write_stream(
    send_key: &[u8; 32],
    plaintext: &[u8],
    write_size: usize,
    io_chunk: usize,
) -> Result<Vec<u8>, io::Error> {
    let mut state = WriteState::new(Sealer::new(send_key));
    let mut sink = Sink {
        out: Vec::new(),
        max: io_chunk.max(1),
    };
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut rest = plaintext;
    while !rest.is_empty() {
        let take = rest.len().min(write_size.max(1));
        match state.poll_write(&mut sink, &mut cx, &rest[..take]) {
            Poll::Ready(Ok(n)) if n > 0 => rest = &rest[n..],
            Poll::Ready(Ok(_)) | Poll::Pending => {
                return Err(io::ErrorKind::WriteZero.into());
            }
            Poll::Ready(Err(e)) => return Err(e),
        }
    }
    match state.poll_flush(&mut sink, &mut cx) {
        Poll::Ready(Ok(())) => Ok(sink.out),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret_connection::SEALED_FRAME_SIZE;

    #[test]
    fn round_trip_with_odd_chunk_sizes() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let sealed = write_stream(&[3; 32], &data, 999, 17).unwrap();
        // Six writes (5 x 999 + 5 bytes), one frame each.
        assert_eq!(sealed.len(), 6 * SEALED_FRAME_SIZE);
        let got = read_stream(&[3; 32], &sealed, 333, 700);
        assert!(got.error.is_none(), "{:?}", got.error);
        assert_eq!(got.plaintext, data);
    }

    #[test]
    fn wrong_key_and_torn_frame_are_reported() {
        let sealed = write_stream(&[3; 32], b"hello", 5, 5).unwrap();
        let got = read_stream(&[4; 32], &sealed, 100, 100);
        assert_eq!(got.frame_error(), Some(&FrameError::Decrypt));
        let got = read_stream(&[3; 32], &sealed[..100], 100, 100);
        assert_eq!(
            got.error.map(|e| e.kind()),
            Some(io::ErrorKind::UnexpectedEof)
        );
    }
}
