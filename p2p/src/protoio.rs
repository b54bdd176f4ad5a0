//! Length-delimited protobuf framing (spec 1.2): `uvarint(len) || body`.
//!
//! Every reader checks the declared length against a per-context maximum
//! *before* buffering the body, so a peer cannot make us allocate more.

use prost::Message;

/// Largest encoding of a u64 uvarint.
pub const MAX_VARINT_LEN: usize = 10;

/// Why a length prefix or body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The varint has more than 10 bytes or overflows u64.
    #[error("malformed length prefix")]
    BadVarint,
    /// The declared body length exceeds the context's limit.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The body is not valid protobuf for the expected type.
    #[error("malformed protobuf: {0}")]
    Malformed(String),
}

/// Decodes a uvarint at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` ends before the varint does (more bytes are
/// needed), `Ok(Some((value, bytes_used)))` otherwise.
pub fn decode_uvarint(buf: &[u8]) -> Result<Option<(u64, usize)>, FrameError> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i >= MAX_VARINT_LEN {
            return Err(FrameError::BadVarint);
        }
        let part = u64::from(b & 0x7f);
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return Err(FrameError::BadVarint);
        }
        value |= part << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= MAX_VARINT_LEN {
        return Err(FrameError::BadVarint);
    }
    Ok(None)
}

/// Appends the uvarint encoding of `v` to `out`.
pub fn encode_uvarint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Number of bytes `encode_uvarint(v)` writes.
pub fn uvarint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

/// Appends `uvarint(len) || msg` to `out`.
pub fn encode_delimited<M: Message>(msg: &M, out: &mut Vec<u8>) {
    let len = msg.encoded_len();
    out.reserve(len + uvarint_len(len as u64));
    encode_uvarint(len as u64, out);
    // Cannot fail: `out` is a Vec that grows as needed.
    let _ = msg.encode(out);
}

/// `uvarint(len) || msg` as a new vector.
pub fn to_delimited<M: Message>(msg: &M) -> Vec<u8> {
    let mut out = Vec::new();
    encode_delimited(msg, &mut out);
    out
}

/// Tries to split one delimited message off the front of `buf`.
///
/// Returns `Ok(None)` if `buf` does not yet hold the whole message, or
/// `Ok(Some((body, consumed)))`. A declared length above `max` is an error as
/// soon as the prefix is complete.
pub fn split_delimited(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some((len, n)) = decode_uvarint(buf)? else {
        return Ok(None);
    };
    if len > max as u64 {
        return Err(FrameError::TooLong { len, max });
    }
    let len = len as usize;
    if buf.len() - n < len {
        return Ok(None);
    }
    Ok(Some((&buf[n..n + len], n + len)))
}

/// Decodes a protobuf body of type `M`.
pub fn decode<M: Message + Default>(body: &[u8]) -> Result<M, FrameError> {
    M::decode(body).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_limits() {
        for v in [0u64, 1, 127, 128, 300, 1034, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            encode_uvarint(v, &mut out);
            assert_eq!(out.len(), uvarint_len(v));
            assert_eq!(decode_uvarint(&out), Ok(Some((v, out.len()))));
            assert_eq!(decode_uvarint(&out[..out.len() - 1]), Ok(None));
        }
        assert_eq!(decode_uvarint(&[0xff; 11]), Err(FrameError::BadVarint));
        // 10th byte may only carry one bit.
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(decode_uvarint(&over), Err(FrameError::BadVarint));
    }

    #[test]
    fn split_checks_limit_before_body_arrives() {
        // Declares 2000 bytes, none present yet: rejected at once for max 1034.
        assert_eq!(
            split_delimited(&[0xd0, 0x0f], 1034),
            Err(FrameError::TooLong {
                len: 2000,
                max: 1034
            })
        );
        assert_eq!(split_delimited(&[3, 1, 2], 10), Ok(None));
        assert_eq!(
            split_delimited(&[3, 1, 2, 3, 9], 10),
            Ok(Some((&[1u8, 2, 3][..], 4)))
        );
    }
}
