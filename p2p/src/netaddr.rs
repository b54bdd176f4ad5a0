//! `NetAddress`: a peer's `id@ip:port` (spec 1.9), as CometBFT's `p2p.NetAddress`.
//!
//! - Parsing ([`NetAddress::parse`]) is pure: a host that is not an IP literal is
//!   reported as [`NetAddressError::Hostname`], carrying an [`UnresolvedAddress`]
//!   that a caller can finish with an injected resolver
//!   ([`UnresolvedAddress::resolve_with`]). The parser never touches DNS.
//! - Formatting follows Go's `String()`: `id@ip:port`, IPv6 in brackets, IPv4-mapped
//!   IPv6 as a dotted quad (addresses are stored in that canonical form).
//! - Classification (`valid`, `local`, `routable`, the RFC ranges, `group`) lives in
//!   `netaddr/ranges.rs`.
//! - Protobuf (`tendermint.p2p.NetAddress`, used by PEX) and the address book's JSON
//!   shape `{"id": "...", "ip": "...", "port": N}`.
//!
//! Go allows a `NetAddress` without an ID (`ip:port`, for listeners and dial strings);
//! here that is just a [`SocketAddr`], see [`NetAddress::socket_addr`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use tendermint_proto::v0_38::p2p as proto;

use crate::key::{truncate, NodeId, NodeIdError};

mod parse;
mod ranges;

pub(crate) use parse::strip_scheme;
use parse::{parse_ip_literal, parse_port, split_host_port};

/// A peer address with its node ID: `id@ip:port`.
///
/// The IP is kept canonical: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is stored
/// as IPv4, which is how Go treats it everywhere (`To4() != nil`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetAddress {
    id: NodeId,
    ip: IpAddr,
    port: u16,
}

impl NetAddress {
    /// Builds an address; an IPv4-mapped IPv6 `ip` is stored as IPv4.
    pub fn new(id: NodeId, ip: IpAddr, port: u16) -> Self {
        NetAddress {
            id,
            ip: ip.to_canonical(),
            port,
        }
    }

    /// Builds an address from an ID and a socket address (e.g. an inbound
    /// connection's remote end, Go's `NewNetAddress`).
    pub fn from_socket_addr(id: NodeId, addr: SocketAddr) -> Self {
        Self::new(id, addr.ip(), addr.port())
    }

    /// The node ID.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The IP address (canonical form).
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `ip:port` to dial (Go's `DialString`).
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Parses `[scheme://]id@host:port` (Go's `NewNetAddressString` without DNS).
    ///
    /// Steps, in Go's order: strip the scheme; split on `@` into exactly two parts;
    /// validate the ID; split host and port (`net.SplitHostPort` rules); reject an
    /// empty host; parse the port as decimal u16; parse the host as an IP literal.
    /// A host that is not an IP literal yields [`NetAddressError::Hostname`] (Go would
    /// look it up at this point, before parsing the port; here the port is checked
    /// first so that the unresolved address is complete).
    pub fn parse(s: &str) -> Result<Self, NetAddressError> {
        let rest = strip_scheme(s);
        let mut parts = rest.split('@');
        let (Some(id_str), Some(host_port), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NetAddressError::NoId { addr: truncate(s) });
        };
        let id = NodeId::from_str(id_str).map_err(|source| NetAddressError::InvalidId {
            addr: truncate(rest),
            source,
        })?;
        let (host, port_str) =
            split_host_port(host_port).map_err(|reason| NetAddressError::BadHostPort {
                addr: truncate(host_port),
                reason,
            })?;
        if host.is_empty() {
            return Err(NetAddressError::EmptyHost {
                addr: truncate(host_port),
            });
        }
        let port = parse_port(port_str).ok_or_else(|| NetAddressError::InvalidPort {
            port: truncate(port_str),
        })?;
        match parse_ip_literal(host) {
            Some(ip) => Ok(NetAddress::new(id, ip, port)),
            None => Err(NetAddressError::Hostname(UnresolvedAddress {
                id,
                host: host.to_owned(),
                port,
            })),
        }
    }

    /// Parses like [`parse`](Self::parse), resolving a hostname with `lookup`
    /// (first result used, as Go does).
    pub fn parse_resolving<F, E>(s: &str, lookup: F) -> Result<Self, NetAddressError>
    where
        F: FnOnce(&str) -> Result<Vec<IpAddr>, E>,
        E: fmt::Display,
    {
        match Self::parse(s) {
            Err(NetAddressError::Hostname(unresolved)) => unresolved.resolve_with(lookup),
            other => other,
        }
    }

    /// The protobuf form (PEX): `ip` as Go's `net.IP.String()` text.
    pub fn to_proto(&self) -> proto::NetAddress {
        proto::NetAddress {
            id: self.id.to_string(),
            ip: self.ip.to_string(),
            port: u32::from(self.port),
        }
    }

    /// Converts a received protobuf address (Go's `NetAddressFromProto`, then the ID
    /// check that Go's address book does). Checked in Go's order: IP, port, ID.
    pub fn from_proto(pb: &proto::NetAddress) -> Result<Self, ProtoAddressError> {
        let ip = IpAddr::from_str(&pb.ip).map_err(|_| ProtoAddressError::InvalidIp {
            ip: truncate(&pb.ip),
        })?;
        let port = u16::try_from(pb.port)
            .map_err(|_| ProtoAddressError::PortOutOfRange { port: pb.port })?;
        let id = NodeId::from_str(&pb.id).map_err(|source| ProtoAddressError::InvalidId {
            id: truncate(&pb.id),
            source,
        })?;
        Ok(NetAddress::new(id, ip, port))
    }
}

impl fmt::Display for NetAddress {
    /// `id@ip:port`, IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.socket_addr())
    }
}

impl fmt::Debug for NetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetAddress({self})")
    }
}

impl FromStr for NetAddress {
    type Err = NetAddressError;

    /// Same as [`NetAddress::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<&NetAddress> for proto::NetAddress {
    fn from(a: &NetAddress) -> Self {
        a.to_proto()
    }
}

impl TryFrom<&proto::NetAddress> for NetAddress {
    type Error = ProtoAddressError;

    fn try_from(pb: &proto::NetAddress) -> Result<Self, Self::Error> {
        NetAddress::from_proto(pb)
    }
}

/// An `id@host:port` whose host is a name that still needs a DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedAddress {
    /// The node ID (already validated).
    pub id: NodeId,
    /// The hostname, as written.
    pub host: String,
    /// The port (already validated).
    pub port: u16,
}

impl UnresolvedAddress {
    /// Finishes parsing with `lookup`; Go uses the first address returned.
    pub fn resolve_with<F, E>(self, lookup: F) -> Result<NetAddress, NetAddressError>
    where
        F: FnOnce(&str) -> Result<Vec<IpAddr>, E>,
        E: fmt::Display,
    {
        match lookup(&self.host) {
            Ok(ips) => match ips.first() {
                Some(ip) => Ok(NetAddress::new(self.id, *ip, self.port)),
                None => Err(NetAddressError::Lookup {
                    host: truncate(&self.host),
                    reason: "no addresses".to_owned(),
                }),
            },
            Err(e) => Err(NetAddressError::Lookup {
                host: truncate(&self.host),
                reason: e.to_string(),
            }),
        }
    }
}

/// Why a string is not an `id@ip:port` (Go's `ErrNetAddress{NoID,Invalid,Lookup}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetAddressError {
    /// Not exactly one `@` (Go's `ErrNetAddressNoID`).
    #[error("address {addr:?} does not contain exactly one ID (want id@host:port)")]
    NoId {
        /// The input.
        addr: String,
    },
    /// The part before `@` is not a node ID.
    #[error("address {addr:?} has an invalid ID: {source}")]
    InvalidId {
        /// The input without scheme.
        addr: String,
        /// What is wrong with the ID.
        source: NodeIdError,
    },
    /// `host:port` is malformed (Go's `net.SplitHostPort` error text).
    #[error("address {addr:?}: {reason}")]
    BadHostPort {
        /// The `host:port` part.
        addr: String,
        /// Go's reason, e.g. "missing port in address".
        reason: &'static str,
    },
    /// The host is empty.
    #[error("address {addr:?}: empty host")]
    EmptyHost {
        /// The `host:port` part.
        addr: String,
    },
    /// The port is not a decimal u16.
    #[error("invalid port {port:?}")]
    InvalidPort {
        /// The port text.
        port: String,
    },
    /// The host is a name, not an IP literal; resolve it with
    /// [`UnresolvedAddress::resolve_with`].
    #[error("host {:?} is not an IP address and needs a DNS lookup", .0.host)]
    Hostname(UnresolvedAddress),
    /// The lookup of a hostname failed (Go's `ErrNetAddressLookup`; callers treat
    /// it as non-fatal for seeds and persistent peers).
    #[error("lookup of {host:?} failed: {reason}")]
    Lookup {
        /// The hostname.
        host: String,
        /// The resolver's error.
        reason: String,
    },
}

/// Why a received protobuf `NetAddress` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoAddressError {
    /// `ip` is not an IP literal: the sender misbehaved (Go bans it).
    #[error("peer sent an address whose ip {ip:?} is not an IP")]
    InvalidIp {
        /// The text received.
        ip: String,
    },
    /// `port` does not fit in 16 bits: the sender misbehaved (Go bans it).
    #[error("peer sent an address with port {port} >= 65536")]
    PortOutOfRange {
        /// The value received.
        port: u32,
    },
    /// The ID is not a node ID. Go accepts the message and its address book drops
    /// just this entry (`Valid()` fails), so this is not misbehaviour.
    #[error("address has an invalid ID {id:?}: {source}")]
    InvalidId {
        /// The ID received.
        id: String,
        /// What is wrong with it.
        source: NodeIdError,
    },
}

impl ProtoAddressError {
    /// True if the whole message must be rejected and the sender disconnected and
    /// banned (bad IP or port); false if only this entry is to be skipped.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ProtoAddressError::InvalidIp { .. } | ProtoAddressError::PortOutOfRange { .. }
        )
    }
}

/// The address book's JSON shape of an address.
#[derive(serde::Serialize, serde::Deserialize)]
struct NetAddressJson {
    id: NodeId,
    ip: String,
    port: u16,
}

impl serde::Serialize for NetAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        NetAddressJson {
            id: self.id,
            ip: self.ip.to_string(),
            port: self.port,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for NetAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = NetAddressJson::deserialize(d)?;
        let ip = IpAddr::from_str(&j.ip).map_err(|_| {
            serde::de::Error::custom(format!("invalid IP address {:?}", truncate(&j.ip)))
        })?;
        Ok(NetAddress::new(j.id, ip, j.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "39f713d0a644253f04529421b9f51b9b08979d08";

    fn id() -> NodeId {
        ID.parse().unwrap()
    }

    #[test]
    fn parse_and_format_round_trips() {
        let cases = [
            (format!("{ID}@1.2.3.4:26656"), format!("{ID}@1.2.3.4:26656")),
            (
                format!("tcp://{ID}@1.2.3.4:26656"),
                format!("{ID}@1.2.3.4:26656"),
            ),
            (format!("udp://{ID}@1.2.3.4:1"), format!("{ID}@1.2.3.4:1")),
            (
                format!("{ID}@[2001:db8::1]:26656"),
                format!("{ID}@[2001:db8::1]:26656"),
            ),
            (format!("tcp://{ID}@[::1]:0"), format!("{ID}@[::1]:0")),
            (
                format!("{ID}@[::ffff:1.2.3.4]:80"),
                format!("{ID}@1.2.3.4:80"),
            ),
            (
                format!("{ID}@[fe80::1%eth0]:80"),
                format!("{ID}@[fe80::1]:80"),
            ),
            (format!("{ID}@0.0.0.0:0080"), format!("{ID}@0.0.0.0:80")),
            (
                format!("{}@1.2.3.4:5", ID.to_uppercase()),
                format!("{ID}@1.2.3.4:5"),
            ),
        ];
        for (input, want) in cases {
            let a = NetAddress::parse(&input).unwrap();
            assert_eq!(a.to_string(), want, "{input}");
            assert_eq!(NetAddress::parse(&want).unwrap(), a);
        }
        let a: NetAddress = format!("{ID}@[2001:db8:0:0:1:0:0:1]:26656")
            .parse()
            .unwrap();
        assert_eq!(a.id(), id());
        assert_eq!(a.ip(), "2001:db8::1:0:0:1".parse::<IpAddr>().unwrap());
        assert_eq!(a.port(), 26656);
        assert_eq!(a.socket_addr().to_string(), "[2001:db8::1:0:0:1]:26656");
        assert_eq!(
            format!("{a:?}"),
            format!("NetAddress({ID}@[2001:db8::1:0:0:1]:26656)")
        );
    }

    #[test]
    fn v4_mapped_and_v4_compatible_print_like_go() {
        let mapped = NetAddress::new(id(), "::ffff:1.2.3.4".parse().unwrap(), 1);
        assert_eq!(mapped.to_string(), format!("{ID}@1.2.3.4:1"));
        assert_eq!(mapped, NetAddress::new(id(), "1.2.3.4".parse().unwrap(), 1));
        // Go prints IPv4-compatible and RFC 6145 addresses in hex groups.
        let compat = NetAddress::new(id(), "::1.2.3.4".parse().unwrap(), 1);
        assert_eq!(compat.to_string(), format!("{ID}@[::102:304]:1"));
        let translated = NetAddress::new(id(), "::ffff:0:1.2.3.4".parse().unwrap(), 1);
        assert_eq!(translated.to_proto().ip, "::ffff:0:102:304");
    }

    #[test]
    fn each_parse_error() {
        let err = |s: &str| NetAddress::parse(s).unwrap_err();
        assert!(matches!(err("1.2.3.4:26656"), NetAddressError::NoId { .. }));
        assert!(matches!(
            err(&format!("{ID}@{ID}@1.2.3.4:1")),
            NetAddressError::NoId { .. }
        ));
        assert!(matches!(err(""), NetAddressError::NoId { .. }));
        assert!(matches!(
            err("@1.2.3.4:1"),
            NetAddressError::InvalidId {
                source: NodeIdError::Empty,
                ..
            }
        ));
        assert!(matches!(
            err("xyz@1.2.3.4:1"),
            NetAddressError::InvalidId {
                source: NodeIdError::NotHex(_),
                ..
            }
        ));
        assert!(matches!(
            err("abcd@1.2.3.4:1"),
            NetAddressError::InvalidId {
                source: NodeIdError::WrongLength { len: 2, .. },
                ..
            }
        ));
        assert_eq!(
            err(&format!("{ID}@1.2.3.4")),
            NetAddressError::BadHostPort {
                addr: "1.2.3.4".into(),
                reason: "missing port in address"
            }
        );
        assert_eq!(
            err(&format!("{ID}@::1:80")),
            NetAddressError::BadHostPort {
                addr: "::1:80".into(),
                reason: "too many colons in address"
            }
        );
        assert_eq!(
            err(&format!("{ID}@:26656")),
            NetAddressError::EmptyHost {
                addr: ":26656".into()
            }
        );
        assert_eq!(
            err(&format!("{ID}@[]:26656")),
            NetAddressError::EmptyHost {
                addr: "[]:26656".into()
            }
        );
        for port in ["65536", "", "-1", "+1", "0x10", "port"] {
            assert_eq!(
                err(&format!("{ID}@1.2.3.4:{port}")),
                NetAddressError::InvalidPort { port: port.into() },
                "{port}"
            );
        }
        assert_eq!(
            err(&format!("tcp://{ID}@seed.example.com:26656")),
            NetAddressError::Hostname(UnresolvedAddress {
                id: id(),
                host: "seed.example.com".into(),
                port: 26656
            })
        );
        // Leading zeros make a dotted quad a hostname (Go's ParseIP rejects them).
        assert!(matches!(
            err(&format!("{ID}@01.2.3.4:1")),
            NetAddressError::Hostname(_)
        ));
    }

    #[test]
    fn resolving_uses_the_injected_lookup() {
        let input = format!("{ID}@seed.example.com:26656");
        let ok = NetAddress::parse_resolving(&input, |host| {
            assert_eq!(host, "seed.example.com");
            Ok::<_, String>(vec![
                "::ffff:5.6.7.8".parse().unwrap(),
                "1.1.1.1".parse().unwrap(),
            ])
        });
        assert_eq!(ok.unwrap().to_string(), format!("{ID}@5.6.7.8:26656"));
        let failed = NetAddress::parse_resolving(&input, |_| Err("no such host"));
        assert_eq!(
            failed,
            Err(NetAddressError::Lookup {
                host: "seed.example.com".into(),
                reason: "no such host".into()
            })
        );
        let empty = NetAddress::parse_resolving(&input, |_| Ok::<_, String>(vec![]));
        assert!(matches!(empty, Err(NetAddressError::Lookup { .. })));
        // IP literals never reach the resolver.
        let direct = NetAddress::parse_resolving(
            &format!("{ID}@1.2.3.4:1"),
            |_| -> Result<Vec<IpAddr>, String> { panic!("resolver called for an IP literal") },
        );
        assert_eq!(direct.unwrap().to_string(), format!("{ID}@1.2.3.4:1"));
    }

    #[test]
    fn protobuf_round_trip_and_rejections() {
        for s in [
            format!("{ID}@1.2.3.4:26656"),
            format!("{ID}@[2001:470::1]:65535"),
        ] {
            let a = NetAddress::parse(&s).unwrap();
            let pb = proto::NetAddress::from(&a);
            assert_eq!(NetAddress::try_from(&pb), Ok(a));
        }
        let pb = |ip: &str, port: u32| proto::NetAddress {
            id: ID.into(),
            ip: ip.into(),
            port,
        };
        assert_eq!(
            NetAddress::from_proto(&pb("1.2.3.4", 65536)),
            Err(ProtoAddressError::PortOutOfRange { port: 65536 })
        );
        assert_eq!(
            NetAddress::from_proto(&pb("1.2.3.4", u32::MAX)),
            Err(ProtoAddressError::PortOutOfRange { port: u32::MAX })
        );
        for bad in ["example.com", "", "1.2.3.4:5", "[::1]", "fe80::1%eth0"] {
            let e = NetAddress::from_proto(&pb(bad, 1)).unwrap_err();
            assert_eq!(e, ProtoAddressError::InvalidIp { ip: bad.into() });
            assert!(e.is_misbehaviour());
        }
        // IP is checked before the port, as in Go.
        assert!(matches!(
            NetAddress::from_proto(&pb("nope", 70000)),
            Err(ProtoAddressError::InvalidIp { .. })
        ));
        let bad_id = proto::NetAddress {
            id: "zz".into(),
            ip: "1.2.3.4".into(),
            port: 1,
        };
        let e = NetAddress::from_proto(&bad_id).unwrap_err();
        assert!(matches!(
            e,
            ProtoAddressError::InvalidId {
                source: NodeIdError::NotHex(_),
                ..
            }
        ));
        assert!(!e.is_misbehaviour());
    }

    #[test]
    fn json_matches_go_address_book_shape() {
        let a = NetAddress::parse(&format!("{ID}@[2001:db8::1]:26656")).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"id":"{ID}","ip":"2001:db8::1","port":26656}}"#)
        );
        assert_eq!(serde_json::from_str::<NetAddress>(&json).unwrap(), a);
        let mapped = format!(r#"{{"id":"{ID}","ip":"::ffff:1.2.3.4","port":1}}"#);
        assert_eq!(
            serde_json::from_str::<NetAddress>(&mapped)
                .unwrap()
                .to_string(),
            format!("{ID}@1.2.3.4:1")
        );
        for bad in [
            format!(r#"{{"id":"{ID}","ip":"example.com","port":1}}"#),
            format!(r#"{{"id":"{ID}","ip":"1.2.3.4","port":65536}}"#),
            r#"{"id":"zz","ip":"1.2.3.4","port":1}"#.to_string(),
            format!(r#"{{"id":"{ID}","port":1}}"#),
        ] {
            assert!(serde_json::from_str::<NetAddress>(&bad).is_err(), "{bad}");
        }
    }
}
