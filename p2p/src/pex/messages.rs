//! PEX wire messages on channel 0x00 (spec 1.7): `tendermint.p2p.Message` with
//! oneof `pex_request = 1` / `pex_addrs = 2`.
//!
//! Decoding follows Go's reactor: a body that is not protobuf or has an empty
//! oneof disconnects the peer; an entry of `PexAddrs` whose IP does not parse or
//! whose port is ≥ 65536 rejects the whole message and gets the sender banned
//! ([`PexDecodeError::is_ban`]). An entry with a malformed node ID is accepted by
//! Go's decoder and only dropped by its address book, so here it is skipped.

use prost::Message as _;
use tendermint_proto::v0_38::p2p::{message::Sum, Message, PexAddrs, PexRequest};

use crate::netaddr::{NetAddress, ProtoAddressError};

/// The PEX channel ID.
pub const PEX_CHANNEL: u8 = 0x00;
/// Most addresses a reply carries (Go's `maxGetSelection`).
pub const MAX_ADDRS_PER_REPLY: usize = 250;
/// Over-estimated encoded size of one address (Go's `maxAddressSize`).
pub const MAX_ADDRESS_SIZE: usize = 256;
/// Largest PEX message (= the channel's receive capacity, Go's `maxMsgSize`).
pub const MAX_MSG_SIZE: usize = MAX_ADDRESS_SIZE * MAX_ADDRS_PER_REPLY;

/// A PEX message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PexMessage {
    /// "Send me addresses" (`PexRequest {}`).
    Request,
    /// Addresses, in reply to a request (`PexAddrs`).
    Addrs(Vec<NetAddress>),
}

/// Why a PEX message body was rejected. Every variant means the sender
/// misbehaved (Go disconnects it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PexDecodeError {
    /// Larger than [`MAX_MSG_SIZE`] (MConnection normally stops this earlier).
    #[error("PEX message of {len} bytes exceeds {MAX_MSG_SIZE}")]
    TooLarge {
        /// Body length.
        len: usize,
    },
    /// Not a `tendermint.p2p.Message`.
    #[error("malformed PEX message: {0}")]
    Malformed(String),
    /// The oneof is empty (or holds a type this version does not know).
    #[error("PEX message with no content")]
    Empty,
    /// An address with an invalid IP or port: Go disconnects and bans the sender.
    #[error("PEX address {index}: {source}")]
    BadAddress {
        /// Position in the list.
        index: usize,
        /// The IP or port problem.
        source: ProtoAddressError,
    },
}

impl PexDecodeError {
    /// True if Go bans the sender (24 h) besides disconnecting it.
    pub fn is_ban(&self) -> bool {
        matches!(self, PexDecodeError::BadAddress { .. })
    }
}

impl PexMessage {
    /// The protobuf body (not length-prefixed). `Request` is `0a 00`.
    pub fn encode(&self) -> Vec<u8> {
        let sum = match self {
            PexMessage::Request => Sum::PexRequest(PexRequest {}),
            PexMessage::Addrs(addrs) => Sum::PexAddrs(PexAddrs {
                addrs: addrs.iter().map(NetAddress::to_proto).collect(),
            }),
        };
        Message { sum: Some(sum) }.encode_to_vec()
    }

    /// Decodes a body; see the module documentation for what is rejected and what
    /// is skipped.
    pub fn decode(bytes: &[u8]) -> Result<Self, PexDecodeError> {
        if bytes.len() > MAX_MSG_SIZE {
            return Err(PexDecodeError::TooLarge { len: bytes.len() });
        }
        let msg = Message::decode(bytes).map_err(|e| PexDecodeError::Malformed(e.to_string()))?;
        match msg.sum {
            None => Err(PexDecodeError::Empty),
            Some(Sum::PexRequest(_)) => Ok(PexMessage::Request),
            Some(Sum::PexAddrs(list)) => {
                let mut out = Vec::with_capacity(list.addrs.len());
                for (index, pb) in list.addrs.iter().enumerate() {
                    match NetAddress::from_proto(pb) {
                        Ok(a) => out.push(a),
                        Err(source) if source.is_misbehaviour() => {
                            return Err(PexDecodeError::BadAddress { index, source })
                        }
                        Err(_) => {}
                    }
                }
                Ok(PexMessage::Addrs(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::NodeId;
    use tendermint_proto::v0_38::p2p::NetAddress as PbAddr;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/derived-secretconnection-handshake.json"
    );

    #[test]
    fn request_bytes() {
        assert_eq!(PexMessage::Request.encode(), vec![0x0a, 0x00]);
        assert_eq!(PexMessage::decode(&[0x0a, 0x00]), Ok(PexMessage::Request));
        assert_eq!(MAX_MSG_SIZE, 64_000);
    }

    #[test]
    fn addrs_vector() {
        let text = std::fs::read_to_string(VECTORS).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let want = hex::decode(v["pex_addrs_message_one_addr"].as_str().unwrap()).unwrap();
        let id: NodeId = v["identity"]["B"]["node_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let msg = PexMessage::Addrs(vec![NetAddress::new(id, "1.2.3.4".parse().unwrap(), 26656)]);
        assert_eq!(msg.encode(), want);
        assert_eq!(PexMessage::decode(&want), Ok(msg));
    }

    fn addrs_body(addrs: Vec<PbAddr>) -> Vec<u8> {
        Message {
            sum: Some(Sum::PexAddrs(PexAddrs { addrs })),
        }
        .encode_to_vec()
    }

    fn pb(id: &str, ip: &str, port: u32) -> PbAddr {
        PbAddr {
            id: id.into(),
            ip: ip.into(),
            port,
        }
    }

    #[test]
    fn decode_errors() {
        assert_eq!(PexMessage::decode(&[]), Err(PexDecodeError::Empty));
        assert!(matches!(
            PexMessage::decode(&[0x0a, 0x05, 0x01]),
            Err(PexDecodeError::Malformed(_))
        ));
        assert!(matches!(
            PexMessage::decode(&vec![0u8; MAX_MSG_SIZE + 1]),
            Err(PexDecodeError::TooLarge { len: 64_001 })
        ));
        let id = "39f713d0a644253f04529421b9f51b9b08979d08";
        // A bad ID is skipped, a later bad IP still rejects the whole message.
        let body = addrs_body(vec![pb("zz", "1.2.3.4", 1), pb(id, "host.example", 1)]);
        let err = PexMessage::decode(&body).unwrap_err();
        assert!(err.is_ban());
        assert!(matches!(
            err,
            PexDecodeError::BadAddress {
                index: 1,
                source: ProtoAddressError::InvalidIp { .. }
            }
        ));
        let body = addrs_body(vec![pb(id, "1.2.3.4", 65_536)]);
        assert!(matches!(
            PexMessage::decode(&body),
            Err(PexDecodeError::BadAddress {
                index: 0,
                source: ProtoAddressError::PortOutOfRange { port: 65_536 }
            })
        ));
        let body = addrs_body(vec![pb("zz", "1.2.3.4", 1), pb(id, "5.6.7.8", 2)]);
        match PexMessage::decode(&body).unwrap() {
            PexMessage::Addrs(a) => {
                assert_eq!(a.len(), 1);
                assert_eq!(a[0].to_string(), format!("{id}@5.6.7.8:2"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!PexDecodeError::Empty.is_ban());
    }
}
