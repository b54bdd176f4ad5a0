//! The MConnection `Packet` codec (spec 1.5).
//!
//! Every unit on the stream is `uvarint(len) || Packet`, where `Packet` is the
//! oneof `{ PacketPing = 1, PacketPong = 2, PacketMsg = 3 }` of
//! `tendermint_proto::v0_38::p2p`. Decoding goes through prost; the hot
//! encoding path for `PacketMsg` is written by hand with `prost::encoding`
//! (the tests prove it byte-identical to prost's own encoding).

use prost::Message;
use tendermint_proto::v0_38::p2p as pb;

use crate::protoio::{self, FrameError};

/// Default `max_packet_msg_payload_size`: bytes of message data per packet.
pub const DEFAULT_MAX_PACKET_MSG_PAYLOAD_SIZE: usize = 1024;

/// A ping on the wire, prefix included.
pub const PING_BYTES: [u8; 3] = [0x02, 0x0a, 0x00];
/// A pong on the wire, prefix included.
pub const PONG_BYTES: [u8; 3] = [0x02, 0x12, 0x00];

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Keepalive request; must be answered with a pong.
    Ping,
    /// Keepalive answer.
    Pong,
    /// A chunk of a message.
    Msg(PacketMsg),
}

/// A chunk of a channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketMsg {
    /// The channel id (validated to fit in a byte).
    pub channel: u8,
    /// True on the last chunk of a message.
    pub eof: bool,
    /// The chunk's bytes.
    pub data: Vec<u8>,
}

/// Why bytes could not be decoded into a [`Packet`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The declared body length exceeds the maximum packet size.
    #[error("packet of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The length prefix is not a valid uvarint.
    #[error("malformed length prefix")]
    BadVarint,
    /// The body is not a valid `Packet`.
    #[error("malformed packet: {0}")]
    Malformed(String),
    /// The `Packet` has no known oneof field.
    #[error("empty packet")]
    EmptyPacket,
    /// `PacketMsg.channel_id` is negative or above 255.
    #[error("channel id {0} out of range")]
    ChannelOutOfRange(i32),
}

impl From<FrameError> for PacketError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::BadVarint => PacketError::BadVarint,
            FrameError::TooLong { len, max } => PacketError::TooLarge { len, max },
            FrameError::Malformed(m) => PacketError::Malformed(m),
        }
    }
}

/// Length of the encoded `PacketMsg` message itself (inside the `Packet`).
fn msg_inner_len(channel: u8, eof: bool, data_len: usize) -> usize {
    let ch = if channel != 0 {
        1 + protoio::uvarint_len(u64::from(channel))
    } else {
        0
    };
    let eof = if eof { 2 } else { 0 };
    let data = if data_len > 0 {
        1 + protoio::uvarint_len(data_len as u64) + data_len
    } else {
        0
    };
    ch + eof + data
}

/// Body length (prefix excluded) of a `Packet{PacketMsg{channel, eof, data}}`.
pub fn msg_body_len(channel: u8, eof: bool, data_len: usize) -> usize {
    let inner = msg_inner_len(channel, eof, data_len);
    1 + protoio::uvarint_len(inner as u64) + inner
}

/// Bytes on the wire (prefix included) of a `PacketMsg` packet.
pub fn msg_wire_len(channel: u8, eof: bool, data_len: usize) -> usize {
    let body = msg_body_len(channel, eof, data_len);
    protoio::uvarint_len(body as u64) + body
}

/// The largest packet body a peer may send: the encoded size of a packet on
/// channel 1 with `eof = true` and `payload` data bytes (1034 for 1024).
pub fn max_packet_msg_size(payload: usize) -> usize {
    msg_body_len(1, true, payload)
}

/// Appends a delimited ping.
pub fn encode_ping(out: &mut Vec<u8>) {
    out.extend_from_slice(&PING_BYTES);
}

/// Appends a delimited pong.
pub fn encode_pong(out: &mut Vec<u8>) {
    out.extend_from_slice(&PONG_BYTES);
}

/// Appends a delimited `PacketMsg` packet and returns the number of bytes
/// written (prefix included).
pub fn encode_msg(channel: u8, eof: bool, data: &[u8], out: &mut Vec<u8>) -> usize {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let inner = msg_inner_len(channel, eof, data.len());
    let body = 1 + protoio::uvarint_len(inner as u64) + inner;
    let start = out.len();
    out.reserve(protoio::uvarint_len(body as u64) + body);
    encode_varint(body as u64, out);
    encode_key(3, WireType::LengthDelimited, out);
    encode_varint(inner as u64, out);
    if channel != 0 {
        encode_key(1, WireType::Varint, out);
        encode_varint(u64::from(channel), out);
    }
    if eof {
        encode_key(2, WireType::Varint, out);
        out.push(1);
    }
    if !data.is_empty() {
        encode_key(3, WireType::LengthDelimited, out);
        encode_varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }
    out.len() - start
}

/// Appends any packet, delimited, and returns the bytes written.
pub fn encode(packet: &Packet, out: &mut Vec<u8>) -> usize {
    match packet {
        Packet::Ping => {
            encode_ping(out);
            PING_BYTES.len()
        }
        Packet::Pong => {
            encode_pong(out);
            PONG_BYTES.len()
        }
        Packet::Msg(m) => encode_msg(m.channel, m.eof, &m.data, out),
    }
}

/// Decodes a packet body (prefix already removed).
pub fn decode_body(body: &[u8]) -> Result<Packet, PacketError> {
    let p = pb::Packet::decode(body).map_err(|e| PacketError::Malformed(e.to_string()))?;
    match p.sum {
        None => Err(PacketError::EmptyPacket),
        Some(pb::packet::Sum::PacketPing(_)) => Ok(Packet::Ping),
        Some(pb::packet::Sum::PacketPong(_)) => Ok(Packet::Pong),
        Some(pb::packet::Sum::PacketMsg(m)) => {
            let channel = u8::try_from(m.channel_id)
                .map_err(|_| PacketError::ChannelOutOfRange(m.channel_id))?;
            Ok(Packet::Msg(PacketMsg {
                channel,
                eof: m.eof,
                data: m.data,
            }))
        }
    }
}

/// Splits one delimited packet off the front of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((packet, consumed)))`: one
/// packet decoded. A declared length above `max` is an error as soon as the
/// prefix is complete, before the body arrives.
pub fn split_packet(buf: &[u8], max: usize) -> Result<Option<(Packet, usize)>, PacketError> {
    match protoio::split_delimited(buf, max)? {
        None => Ok(None),
        Some((body, used)) => Ok(Some((decode_body(body)?, used))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prost_bytes(p: &pb::Packet) -> Vec<u8> {
        protoio::to_delimited(p)
    }

    fn pb_msg(channel_id: i32, eof: bool, data: Vec<u8>) -> pb::Packet {
        pb::Packet {
            sum: Some(pb::packet::Sum::PacketMsg(pb::PacketMsg {
                channel_id,
                eof,
                data,
            })),
        }
    }

    #[test]
    fn exact_wire_bytes() {
        let mut out = Vec::new();
        encode_ping(&mut out);
        assert_eq!(out, hex::decode("020a00").unwrap());
        out.clear();
        encode_pong(&mut out);
        assert_eq!(out, hex::decode("021200").unwrap());
        out.clear();
        // PexRequest (`0a 00`) on channel 0, single packet.
        assert_eq!(encode_msg(0, true, &[0x0a, 0x00], &mut out), 9);
        assert_eq!(out, hex::decode("081a0610011a020a00").unwrap());
        let ping = pb::Packet {
            sum: Some(pb::packet::Sum::PacketPing(pb::PacketPing {})),
        };
        assert_eq!(prost_bytes(&ping), PING_BYTES);
        let pong = pb::Packet {
            sum: Some(pb::packet::Sum::PacketPong(pb::PacketPong {})),
        };
        assert_eq!(prost_bytes(&pong), PONG_BYTES);
    }

    #[test]
    fn max_size_is_1034() {
        assert_eq!(max_packet_msg_size(1024), 1034);
        assert_eq!(
            max_packet_msg_size(1024),
            pb_msg(1, true, vec![0; 1024]).encoded_len()
        );
        assert_eq!(msg_wire_len(1, true, 1024), 1036);
        // Channel >= 128 needs a 2-byte varint: a full chunk no longer fits.
        assert_eq!(msg_body_len(128, true, 1024), 1035);
    }

    #[test]
    fn hand_encoding_equals_prost() {
        for channel in [0u8, 1, 0x20, 0x61, 127, 128, 255] {
            for eof in [false, true] {
                for len in [0usize, 1, 127, 128, 1023, 1024, 20_000] {
                    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    let mut out = Vec::new();
                    let n = encode_msg(channel, eof, &data, &mut out);
                    let want = prost_bytes(&pb_msg(i32::from(channel), eof, data.clone()));
                    assert_eq!(out, want, "ch {channel} eof {eof} len {len}");
                    assert_eq!(n, want.len());
                    assert_eq!(n, msg_wire_len(channel, eof, len));
                }
            }
        }
    }

    #[test]
    fn round_trips() {
        let packets = [
            Packet::Ping,
            Packet::Pong,
            Packet::Msg(PacketMsg {
                channel: 0,
                eof: true,
                data: vec![],
            }),
            Packet::Msg(PacketMsg {
                channel: 0x40,
                eof: false,
                data: vec![7; 1024],
            }),
            Packet::Msg(PacketMsg {
                channel: 255,
                eof: true,
                data: vec![1, 2, 3],
            }),
        ];
        let mut stream = Vec::new();
        for p in &packets {
            encode(p, &mut stream);
        }
        let mut rest = &stream[..];
        for p in &packets {
            let (got, used) = split_packet(rest, 2000).unwrap().unwrap();
            assert_eq!(&got, p);
            rest = &rest[used..];
        }
        assert_eq!(split_packet(rest, 2000), Ok(None));
    }

    #[test]
    fn decoder_errors() {
        // Too large, rejected from the prefix alone (1035 = 0x8b 0x08).
        assert_eq!(
            split_packet(&[0x8b, 0x08], 1034),
            Err(PacketError::TooLarge {
                len: 1035,
                max: 1034
            })
        );
        // Exactly the maximum is fine once complete.
        let mut ok = Vec::new();
        encode_msg(1, true, &[0; 1024], &mut ok);
        assert!(matches!(split_packet(&ok, 1034), Ok(Some((_, 1036)))));
        assert_eq!(split_packet(&ok[..100], 1034), Ok(None));
        // Bad varint.
        assert_eq!(split_packet(&[0xff; 11], 1034), Err(PacketError::BadVarint));
        // Empty oneof: an empty body, and a body with only an unknown field.
        assert_eq!(split_packet(&[0x00], 1034), Err(PacketError::EmptyPacket));
        assert_eq!(
            split_packet(&[0x02, 0x20, 0x01], 1034),
            Err(PacketError::EmptyPacket)
        );
        // Malformed protobuf: truncated inner message, and an invalid wire type.
        assert!(matches!(
            split_packet(&[0x02, 0x1a, 0x05], 1034),
            Err(PacketError::Malformed(_))
        ));
        assert!(matches!(
            split_packet(&[0x01, 0x0f], 1034),
            Err(PacketError::Malformed(_))
        ));
        // Channel ids out of range.
        for (id, err) in [(-1, -1), (256, 256), (i32::MAX, i32::MAX)] {
            let bytes = prost_bytes(&pb_msg(id, true, vec![1]));
            assert_eq!(
                split_packet(&bytes, 1034),
                Err(PacketError::ChannelOutOfRange(err))
            );
        }
    }
}
