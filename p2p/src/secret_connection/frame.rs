//! Sealed frames of an established SecretConnection (spec 1.3, "Frame format").
//!
//! A frame carries at most [`DATA_MAX_SIZE`] bytes: the 1028-byte plaintext is
//! `LE32(len) || data || padding` (we pad with zeros; received padding is
//! ignored), sealed with ChaCha20-Poly1305 (IETF, no associated data) into
//! [`SEALED_FRAME_SIZE`] bytes. The nonce is 4 zero bytes followed by a
//! little-endian 64-bit counter, one counter per direction.
//!
//! [`Sealer`] and [`Opener`] work in place on caller-owned buffers: no
//! allocation per frame. A counter never wraps: once it reaches `u64::MAX`
//! the direction is exhausted ([`FrameError::NonceExhausted`]), as Go tears
//! the session down instead of reusing a nonce.
//!
//! [`Crypto::Null`] (simulation only) keeps the frame layout, sizes and
//! counters but skips the cipher: the data travels in clear and the tag is
//! zeros. It is not wire-compatible with CometBFT and offers no protection.

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Tag};

/// Size of the little-endian data-length field.
pub const DATA_LEN_SIZE: usize = 4;
/// Maximum number of data bytes in one frame.
pub const DATA_MAX_SIZE: usize = 1024;
/// Size of a plaintext frame (length field + data area).
pub const TOTAL_FRAME_SIZE: usize = DATA_LEN_SIZE + DATA_MAX_SIZE;
/// Size of the Poly1305 tag.
pub const TAG_SIZE: usize = 16;
/// Size of a sealed frame on the wire.
pub const SEALED_FRAME_SIZE: usize = TOTAL_FRAME_SIZE + TAG_SIZE;

/// Why a frame could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The peer's frame failed authentication: tampered, truncated or sealed
    /// under another key or nonce.
    #[error("frame failed authentication (tampered or wrong key/nonce)")]
    Decrypt,
    /// The peer's authenticated frame declares more than 1024 data bytes.
    #[error("frame declares {len} data bytes, the maximum is {DATA_MAX_SIZE}")]
    ChunkTooLong {
        /// The declared length.
        len: u32,
    },
    /// The nonce counter of this direction reached 2^64-1; the session must end.
    #[error("nonce counter exhausted")]
    NonceExhausted,
    /// Local misuse: asked to seal more than 1024 bytes into one frame.
    #[error("cannot seal {len} bytes into one frame (max {DATA_MAX_SIZE})")]
    ChunkTooLarge {
        /// The chunk length.
        len: usize,
    },
}

/// Which cryptography a SecretConnection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Crypto {
    /// X25519, Ed25519 and ChaCha20-Poly1305, as CometBFT: the default and
    /// the only mode that talks to other implementations.
    #[default]
    Real,
    /// Simulation only: the same messages, frame sizes and byte counts, but
    /// no Diffie-Hellman, no signatures and no encryption. Node IDs are taken
    /// as claimed. Lets very large simulated runs skip the crypto cost.
    Null,
}

/// The 12-byte IETF nonce for `counter`.
pub fn nonce_bytes(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

/// Takes the current counter and advances it; `u64::MAX` is never used.
fn next_nonce(counter: &mut u64) -> Result<[u8; 12], FrameError> {
    if *counter == u64::MAX {
        return Err(FrameError::NonceExhausted);
    }
    let n = nonce_bytes(*counter);
    *counter += 1;
    Ok(n)
}

/// Seals outgoing frames under the send key.
pub struct Sealer {
    /// `None` in [`Crypto::Null`] mode.
    cipher: Option<ChaCha20Poly1305>,
    counter: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(counter={})", self.counter)
    }
}

impl Sealer {
    /// A sealer starting at nonce counter 0.
    pub fn new(send_key: &[u8; 32]) -> Self {
        Self::with_counter(send_key, 0)
    }

    /// A sealer whose next frame uses nonce counter `counter`.
    pub fn with_counter(send_key: &[u8; 32], counter: u64) -> Self {
        Sealer {
            cipher: Some(ChaCha20Poly1305::new(GenericArray::from_slice(send_key))),
            counter,
        }
    }

    /// A [`Crypto::Null`] sealer: frames carry their data in clear.
    pub fn null() -> Self {
        Sealer {
            cipher: None,
            counter: 0,
        }
    }

    /// A sealer for `crypto` (the key is unused in [`Crypto::Null`] mode).
    pub fn for_mode(crypto: Crypto, send_key: &[u8; 32]) -> Self {
        match crypto {
            Crypto::Real => Self::new(send_key),
            Crypto::Null => Self::null(),
        }
    }

    /// The counter the next frame will use.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Seals `chunk` (at most 1024 bytes) into `out`, zero padding included.
    pub fn seal(
        &mut self,
        chunk: &[u8],
        out: &mut [u8; SEALED_FRAME_SIZE],
    ) -> Result<(), FrameError> {
        let len = chunk.len();
        if len > DATA_MAX_SIZE {
            return Err(FrameError::ChunkTooLarge { len });
        }
        let nonce = next_nonce(&mut self.counter)?;
        let (plain, tag_out) = out.split_at_mut(TOTAL_FRAME_SIZE);
        let (len_field, data) = plain.split_at_mut(DATA_LEN_SIZE);
        len_field.copy_from_slice(&(len as u32).to_le_bytes());
        let (used, pad) = data.split_at_mut(len);
        used.copy_from_slice(chunk);
        pad.fill(0);
        let Some(cipher) = &self.cipher else {
            tag_out.fill(0);
            return Ok(());
        };
        // Only fails for plaintexts beyond ChaCha20's 256 GiB limit.
        let tag = cipher
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", plain)
            .map_err(|_| FrameError::ChunkTooLarge { len })?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Seals as much of `data` as fits into `out`, one frame per 1024 bytes
    /// (the last frame may be partial). Returns `(bytes consumed, bytes
    /// written)`; `written` is a multiple of [`SEALED_FRAME_SIZE`]. Stops at
    /// the first frame that cannot be sealed and fails only if that is the
    /// first one (the error repeats on the next call).
    pub fn seal_many(&mut self, data: &[u8], out: &mut [u8]) -> Result<(usize, usize), FrameError> {
        let mut consumed = 0;
        let mut written = 0;
        for (chunk, frame) in data
            .chunks(DATA_MAX_SIZE)
            .zip(out.chunks_exact_mut(SEALED_FRAME_SIZE))
        {
            let sealed = match <&mut [u8; SEALED_FRAME_SIZE]>::try_from(frame) {
                Ok(frame) => self.seal(chunk, frame),
                Err(_) => break, // unreachable: chunks_exact_mut
            };
            match sealed {
                Ok(()) => {
                    consumed += chunk.len();
                    written += SEALED_FRAME_SIZE;
                }
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok((consumed, written))
    }
}

/// Opens incoming frames under the receive key.
pub struct Opener {
    /// `None` in [`Crypto::Null`] mode.
    cipher: Option<ChaCha20Poly1305>,
    counter: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Opener(counter={})", self.counter)
    }
}

impl Opener {
    /// An opener expecting nonce counter 0 next.
    pub fn new(recv_key: &[u8; 32]) -> Self {
        Self::with_counter(recv_key, 0)
    }

    /// An opener expecting nonce counter `counter` next.
    pub fn with_counter(recv_key: &[u8; 32], counter: u64) -> Self {
        Opener {
            cipher: Some(ChaCha20Poly1305::new(GenericArray::from_slice(recv_key))),
            counter,
        }
    }

    /// A [`Crypto::Null`] opener: frames are read in clear, tags ignored.
    pub fn null() -> Self {
        Opener {
            cipher: None,
            counter: 0,
        }
    }

    /// An opener for `crypto` (the key is unused in [`Crypto::Null`] mode).
    pub fn for_mode(crypto: Crypto, recv_key: &[u8; 32]) -> Self {
        match crypto {
            Crypto::Real => Self::new(recv_key),
            Crypto::Null => Self::null(),
        }
    }

    /// The counter the next frame must have been sealed with.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Authenticates and decrypts `frame` in place and returns its data bytes
    /// (a sub-slice of `frame`, possibly empty). On error the frame's content
    /// is unspecified and the connection must be closed.
    pub fn open<'a>(
        &mut self,
        frame: &'a mut [u8; SEALED_FRAME_SIZE],
    ) -> Result<&'a [u8], FrameError> {
        let nonce = next_nonce(&mut self.counter)?;
        let (plain, tag) = frame.split_at_mut(TOTAL_FRAME_SIZE);
        if let Some(cipher) = &self.cipher {
            let tag = Tag::clone_from_slice(tag);
            cipher
                .decrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", plain, &tag)
                .map_err(|_| FrameError::Decrypt)?;
        }
        let (len_field, data) = plain.split_at(DATA_LEN_SIZE);
        let mut len_bytes = [0u8; DATA_LEN_SIZE];
        len_bytes.copy_from_slice(len_field);
        let len = u32::from_le_bytes(len_bytes);
        match data.get(..len as usize) {
            Some(chunk) if len as usize <= DATA_MAX_SIZE => Ok(chunk),
            _ => Err(FrameError::ChunkTooLong { len }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn round_trip_and_counters() {
        let mut s = Sealer::new(&KEY);
        let mut o = Opener::new(&KEY);
        for msg in [&b""[..], b"hello", &[0xab; DATA_MAX_SIZE]] {
            let mut f = [0xffu8; SEALED_FRAME_SIZE];
            s.seal(msg, &mut f).unwrap();
            assert_eq!(o.open(&mut f).unwrap(), msg);
        }
        assert_eq!((s.counter(), o.counter()), (3, 3));
    }

    #[test]
    fn null_mode_keeps_layout_and_sends_clear_data() {
        let mut s = Sealer::for_mode(Crypto::Null, &KEY);
        let mut o = Opener::for_mode(Crypto::Null, &KEY);
        let mut f = [0xffu8; SEALED_FRAME_SIZE];
        s.seal(b"abc", &mut f).unwrap();
        assert_eq!(&f[..7], &[3, 0, 0, 0, b'a', b'b', b'c']);
        assert!(f[7..].iter().all(|b| *b == 0));
        assert_eq!(o.open(&mut f).unwrap(), b"abc");
        assert_eq!((s.counter(), o.counter()), (1, 1));
        // A real opener refuses a null frame.
        s.seal(b"abc", &mut f).unwrap();
        assert_eq!(Opener::new(&KEY).open(&mut f), Err(FrameError::Decrypt));
    }

    #[test]
    fn too_large_chunk_is_refused() {
        let mut f = [0u8; SEALED_FRAME_SIZE];
        let err = Sealer::new(&KEY).seal(&[0; DATA_MAX_SIZE + 1], &mut f);
        assert_eq!(err, Err(FrameError::ChunkTooLarge { len: 1025 }));
    }

    #[test]
    fn seal_many_stops_at_exhaustion() {
        let mut s = Sealer::with_counter(&KEY, u64::MAX - 1);
        let mut out = vec![0u8; 3 * SEALED_FRAME_SIZE];
        let data = [5u8; 3 * DATA_MAX_SIZE];
        assert_eq!(
            s.seal_many(&data, &mut out),
            Ok((DATA_MAX_SIZE, SEALED_FRAME_SIZE))
        );
        assert_eq!(
            s.seal_many(&data, &mut out),
            Err(FrameError::NonceExhausted)
        );
    }

    #[test]
    fn wrong_nonce_fails() {
        let mut f = [0u8; SEALED_FRAME_SIZE];
        Sealer::new(&KEY).seal(b"x", &mut f).unwrap();
        assert_eq!(
            Opener::with_counter(&KEY, 1).open(&mut f),
            Err(FrameError::Decrypt)
        );
    }

    #[test]
    fn seal_many_partial_tail_and_capacity() {
        let data = vec![1u8; 2 * DATA_MAX_SIZE + 10];
        let mut out = vec![0u8; 2 * SEALED_FRAME_SIZE + 100];
        let mut s = Sealer::new(&KEY);
        assert_eq!(
            s.seal_many(&data, &mut out).unwrap(),
            (2 * DATA_MAX_SIZE, 2 * SEALED_FRAME_SIZE)
        );
        let mut out = vec![0u8; 3 * SEALED_FRAME_SIZE];
        let mut s = Sealer::new(&KEY);
        assert_eq!(
            s.seal_many(&data, &mut out).unwrap(),
            (data.len(), 3 * SEALED_FRAME_SIZE)
        );
        let mut o = Opener::new(&KEY);
        let last: &mut [u8; SEALED_FRAME_SIZE] =
            (&mut out[2 * SEALED_FRAME_SIZE..]).try_into().unwrap();
        o.counter = 2;
        assert_eq!(o.open(last).unwrap(), &[1u8; 10]);
    }
}
