//! `NodeInfo`: CometBFT's `DefaultNodeInfo`, the "version handshake" sent right
//! after the SecretConnection is up (spec 1.4, 2.2).
//!
//! - [`NodeInfo`] mirrors the Go struct; [`NodeInfo::builder`] makes our own with
//!   the v0.38.25 defaults; `to_proto`/`TryFrom` convert to the wire type.
//! - [`NodeInfo::validate`] (file `node_info/validate.rs`) and
//!   [`NodeInfo::compatible_with`] are Go's `Validate` and `CompatibleWith`;
//!   [`check_peer`] runs the transport's four checks in Go's order.
//! - [`exchange`] (file `node_info/exchange.rs`) writes ours and reads the peer's
//!   over any futures-io stream, never reading past the peer's message.

use std::time::Duration;

use tendermint_proto::v0_38::p2p as proto;

use crate::key::{truncate, NodeId};
use crate::netaddr::{strip_scheme, NetAddress, NetAddressError};

mod error;
mod exchange;
mod validate;

pub use error::{NodeInfoIncompatible, NodeInfoInvalid, NodeInfoRejected};
pub use exchange::{exchange, ExchangeError};

/// Largest NodeInfo body accepted from a peer (Go's `maxNodeInfoSize`).
pub const MAX_NODE_INFO_SIZE: usize = 10_240;
/// Most channels a NodeInfo may list (Go's `maxNumChannels`).
pub const MAX_NUM_CHANNELS: usize = 16;
/// The deadline Go puts on the whole exchange; the caller applies it.
pub const DEFAULT_NODE_INFO_TIMEOUT: Duration = Duration::from_secs(3);
/// The p2p protocol version of v0.38 (`version.P2PProtocol`).
pub const P2P_PROTOCOL: u64 = 8;
/// The block protocol version of v0.38 (`version.BlockProtocol`).
pub const BLOCK_PROTOCOL: u64 = 11;
/// The software version string we advertise.
pub const SOFTWARE_VERSION: &str = "0.38.25";
/// Default `listen_addr` (`p2p.laddr`).
pub const DEFAULT_LISTEN_ADDR: &str = "tcp://0.0.0.0:26656";
/// Default `other.rpc_address` (`rpc.laddr`).
pub const DEFAULT_RPC_ADDRESS: &str = "tcp://127.0.0.1:26657";
/// The PEX reactor's channel.
pub const PEX_CHANNEL: u8 = 0x00;
/// Channels a v0.38 node advertises besides PEX, in its order: consensus
/// (0x20-0x23), block sync 0x40, mempool 0x30, evidence 0x38, state sync 0x60/0x61.
pub const REACTOR_CHANNELS: [u8; 9] = [0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61];

/// The three protocol versions a node reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProtocolVersion {
    /// P2P protocol (not compared).
    pub p2p: u64,
    /// Block protocol (must match).
    pub block: u64,
    /// Application version (not compared).
    pub app: u64,
}

impl ProtocolVersion {
    /// v0.38 with app version 0: `{p2p: 8, block: 11, app: 0}`.
    pub const V0_38: ProtocolVersion = ProtocolVersion {
        p2p: P2P_PROTOCOL,
        block: BLOCK_PROTOCOL,
        app: 0,
    };
}

/// `DefaultNodeInfoOther`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfoOther {
    /// `"on"`, `"off"` or `""`.
    pub tx_index: String,
    /// The RPC listen address, or empty.
    pub rpc_address: String,
}

/// A node's self-description (`DefaultNodeInfo`). Fields hold what the peer sent;
/// call [`validate`](Self::validate) before trusting them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Protocol versions.
    pub protocol_version: ProtocolVersion,
    /// The node's ID (`default_node_id`).
    pub node_id: NodeId,
    /// Where it accepts connections, e.g. `tcp://0.0.0.0:26656` (`external_address`
    /// if set).
    pub listen_addr: String,
    /// Chain ID.
    pub network: String,
    /// Software version.
    pub version: String,
    /// Channel IDs it speaks, one byte each.
    pub channels: Vec<u8>,
    /// Human-readable name.
    pub moniker: String,
    /// Application-specific extras.
    pub other: NodeInfoOther,
}

/// `other.tx_index` of our own NodeInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxIndex {
    /// `"on"` (the indexer is not `null`).
    On,
    /// `"off"`.
    Off,
    /// `""`.
    Unset,
}

impl TxIndex {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            TxIndex::On => "on",
            TxIndex::Off => "off",
            TxIndex::Unset => "",
        }
    }
}

/// Builds our own [`NodeInfo`] with v0.38.25 defaults (see [`NodeInfo::builder`]).
#[derive(Debug, Clone)]
pub struct NodeInfoBuilder {
    info: NodeInfo,
}

impl NodeInfoBuilder {
    /// Sets `listen_addr` (default [`DEFAULT_LISTEN_ADDR`]).
    pub fn listen_addr(mut self, addr: impl Into<String>) -> Self {
        self.info.listen_addr = addr.into();
        self
    }

    /// Sets the channel list (default [`REACTOR_CHANNELS`] then [`PEX_CHANNEL`]).
    pub fn channels(mut self, channels: impl Into<Vec<u8>>) -> Self {
        self.info.channels = channels.into();
        self
    }

    /// Sets the application version (default 0).
    pub fn app_version(mut self, app: u64) -> Self {
        self.info.protocol_version.app = app;
        self
    }

    /// Sets the software version string (default [`SOFTWARE_VERSION`]).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = version.into();
        self
    }

    /// Sets `other.tx_index` (default [`TxIndex::On`]).
    pub fn tx_index(mut self, tx_index: TxIndex) -> Self {
        self.info.other.tx_index = tx_index.as_str().to_owned();
        self
    }

    /// Sets `other.rpc_address` (default [`DEFAULT_RPC_ADDRESS`]).
    pub fn rpc_address(mut self, addr: impl Into<String>) -> Self {
        self.info.other.rpc_address = addr.into();
        self
    }

    /// The finished NodeInfo (not validated; see [`NodeInfo::validate`]).
    pub fn build(self) -> NodeInfo {
        self.info
    }
}

impl NodeInfo {
    /// Starts our own NodeInfo as `node.makeNodeInfo` does in v0.38.25:
    /// protocol `{8, 11, 0}`, version `0.38.25`, listen `tcp://0.0.0.0:26656`,
    /// channels `40 20 21 22 23 30 38 60 61 00`, tx_index `on`,
    /// rpc `tcp://127.0.0.1:26657`.
    pub fn builder(
        node_id: NodeId,
        network: impl Into<String>,
        moniker: impl Into<String>,
    ) -> NodeInfoBuilder {
        let mut channels = REACTOR_CHANNELS.to_vec();
        channels.push(PEX_CHANNEL);
        NodeInfoBuilder {
            info: NodeInfo {
                protocol_version: ProtocolVersion::V0_38,
                node_id,
                listen_addr: DEFAULT_LISTEN_ADDR.to_owned(),
                network: network.into(),
                version: SOFTWARE_VERSION.to_owned(),
                channels,
                moniker: moniker.into(),
                other: NodeInfoOther {
                    tx_index: TxIndex::On.as_str().to_owned(),
                    rpc_address: DEFAULT_RPC_ADDRESS.to_owned(),
                },
            },
        }
    }

    /// The wire form; `protocol_version` and `other` are always present.
    pub fn to_proto(&self) -> proto::DefaultNodeInfo {
        proto::DefaultNodeInfo {
            protocol_version: Some(proto::ProtocolVersion {
                p2p: self.protocol_version.p2p,
                block: self.protocol_version.block,
                app: self.protocol_version.app,
            }),
            default_node_id: self.node_id.to_string(),
            listen_addr: self.listen_addr.clone(),
            network: self.network.clone(),
            version: self.version.clone(),
            channels: self.channels.clone(),
            moniker: self.moniker.clone(),
            other: Some(proto::DefaultNodeInfoOther {
                tx_index: self.other.tx_index.clone(),
                rpc_address: self.other.rpc_address.clone(),
            }),
        }
    }

    /// `uvarint(len) || DefaultNodeInfo`, as sent on the wire.
    pub fn to_delimited(&self) -> Vec<u8> {
        crate::protoio::to_delimited(&self.to_proto())
    }

    /// Decodes a received body (without length prefix) into a NodeInfo. Sans-IO
    /// half of [`exchange`].
    pub fn decode(body: &[u8]) -> Result<NodeInfo, ExchangeError> {
        let pb: proto::DefaultNodeInfo =
            crate::protoio::decode(body).map_err(|e| ExchangeError::Malformed(e.to_string()))?;
        NodeInfo::try_from(pb).map_err(ExchangeError::Invalid)
    }

    /// True if the node lists `channel`.
    pub fn has_channel(&self, channel: u8) -> bool {
        self.channels.contains(&channel)
    }

    /// The self-reported address `id@listen_addr` (scheme stripped). A hostname
    /// gives [`NetAddressError::Hostname`], which the caller may resolve.
    pub fn net_address(&self) -> Result<NetAddress, NetAddressError> {
        NetAddress::parse(&format!(
            "{}@{}",
            self.node_id,
            strip_scheme(&self.listen_addr)
        ))
    }

    /// Go's `CompatibleWith`, with `self` = ours: same block version, same network,
    /// and at least one common channel if we list any. p2p and app versions are
    /// not compared.
    pub fn compatible_with(&self, other: &NodeInfo) -> Result<(), NodeInfoIncompatible> {
        if self.protocol_version.block != other.protocol_version.block {
            return Err(NodeInfoIncompatible::BlockVersion {
                ours: self.protocol_version.block,
                theirs: other.protocol_version.block,
            });
        }
        if self.network != other.network {
            return Err(NodeInfoIncompatible::Network {
                ours: self.network.clone(),
                theirs: truncate(&other.network),
            });
        }
        if !self.channels.is_empty() && !self.channels.iter().any(|c| other.has_channel(*c)) {
            return Err(NodeInfoIncompatible::NoCommonChannel {
                ours: self.channels.clone(),
                theirs: other.channels.clone(),
            });
        }
        Ok(())
    }
}

impl TryFrom<proto::DefaultNodeInfo> for NodeInfo {
    type Error = NodeInfoInvalid;

    /// Absent `protocol_version`/`other` read as zero values, as in Go. The only
    /// failure is the node ID, which Go's `Validate` rejects first anyway.
    fn try_from(pb: proto::DefaultNodeInfo) -> Result<Self, Self::Error> {
        let node_id: NodeId =
            pb.default_node_id
                .parse()
                .map_err(|source| NodeInfoInvalid::NodeId {
                    id: truncate(&pb.default_node_id),
                    source,
                })?;
        if node_id.to_string() != pb.default_node_id {
            return Err(NodeInfoInvalid::NodeIdNotLowercase {
                id: pb.default_node_id,
            });
        }
        let pv = pb.protocol_version.unwrap_or_default();
        let other = pb.other.unwrap_or_default();
        Ok(NodeInfo {
            protocol_version: ProtocolVersion {
                p2p: pv.p2p,
                block: pv.block,
                app: pv.app,
            },
            node_id,
            listen_addr: pb.listen_addr,
            network: pb.network,
            version: pb.version,
            channels: pb.channels,
            moniker: pb.moniker,
            other: NodeInfoOther {
                tx_index: other.tx_index,
                rpc_address: other.rpc_address,
            },
        })
    }
}

impl From<&NodeInfo> for proto::DefaultNodeInfo {
    fn from(info: &NodeInfo) -> Self {
        info.to_proto()
    }
}

/// The transport's checks on a received NodeInfo, in Go's order (spec 1.4):
/// `validate`, ID equals the authenticated ID, not our own ID, compatible with ours.
pub fn check_peer(
    ours: &NodeInfo,
    peer: &NodeInfo,
    authenticated_id: &NodeId,
) -> Result<(), NodeInfoRejected> {
    peer.validate()?;
    if peer.node_id != *authenticated_id {
        return Err(NodeInfoRejected::IdMismatch {
            authenticated: *authenticated_id,
            claimed: peer.node_id,
        });
    }
    if peer.node_id == ours.node_id {
        return Err(NodeInfoRejected::SelfConnection);
    }
    ours.compatible_with(peer)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::NodeIdError;

    fn id(b: u8) -> NodeId {
        NodeId::from_bytes([b; 20])
    }

    fn info(b: u8) -> NodeInfo {
        NodeInfo::builder(id(b), "test-chain", "node").build()
    }

    #[test]
    fn builder_defaults_and_setters() {
        let i = info(1);
        assert_eq!(
            i.protocol_version,
            ProtocolVersion {
                p2p: 8,
                block: 11,
                app: 0
            }
        );
        assert_eq!(i.version, "0.38.25");
        assert_eq!(i.listen_addr, "tcp://0.0.0.0:26656");
        assert_eq!(
            i.channels,
            [0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00]
        );
        assert_eq!(i.other.tx_index, "on");
        assert_eq!(i.other.rpc_address, "tcp://127.0.0.1:26657");
        let j = NodeInfo::builder(id(1), "c", "m")
            .listen_addr("tcp://1.2.3.4:5")
            .channels([0x40])
            .app_version(3)
            .version("x")
            .tx_index(TxIndex::Off)
            .rpc_address("")
            .build();
        assert_eq!(j.protocol_version.app, 3);
        assert_eq!(
            (
                j.listen_addr.as_str(),
                j.channels.as_slice(),
                j.version.as_str()
            ),
            ("tcp://1.2.3.4:5", &[0x40u8][..], "x")
        );
        assert_eq!(
            (j.other.tx_index.as_str(), j.other.rpc_address.as_str()),
            ("off", "")
        );
        assert_eq!(TxIndex::Unset.as_str(), "");
    }

    #[test]
    fn proto_round_trip_always_emits_nested_messages() {
        let mut i = info(1);
        i.other = NodeInfoOther::default();
        i.protocol_version = ProtocolVersion::default();
        let pb = proto::DefaultNodeInfo::from(&i);
        assert!(pb.protocol_version.is_some() && pb.other.is_some());
        // Empty nested messages still appear on the wire as tag + zero length.
        let bytes = prost::Message::encode_to_vec(&pb);
        assert_eq!(&bytes[..2], &[0x0a, 0x00]);
        assert_eq!(&bytes[bytes.len() - 2..], &[0x42, 0x00]);
        assert_eq!(NodeInfo::try_from(pb), Ok(i));
    }

    #[test]
    fn from_proto_defaults_and_id_errors() {
        let mut pb = info(0xab).to_proto();
        pb.protocol_version = None;
        pb.other = None;
        let got = NodeInfo::try_from(pb.clone()).unwrap();
        assert_eq!(got.protocol_version, ProtocolVersion::default());
        assert_eq!(got.other, NodeInfoOther::default());

        pb.default_node_id = pb.default_node_id.to_uppercase();
        assert!(matches!(
            NodeInfo::try_from(pb.clone()),
            Err(NodeInfoInvalid::NodeIdNotLowercase { .. })
        ));
        pb.default_node_id = String::new();
        assert!(matches!(
            NodeInfo::try_from(pb.clone()),
            Err(NodeInfoInvalid::NodeId {
                source: NodeIdError::Empty,
                ..
            })
        ));
        pb.default_node_id = "0102".into();
        assert!(matches!(
            NodeInfo::try_from(pb),
            Err(NodeInfoInvalid::NodeId {
                source: NodeIdError::WrongLength { len: 2, .. },
                ..
            })
        ));
    }

    #[test]
    fn compatibility() {
        let ours = info(1);
        let mut theirs = info(2);
        assert_eq!(ours.compatible_with(&theirs), Ok(()));
        // p2p and app versions, version string and moniker are not compared.
        theirs.protocol_version.p2p = 7;
        theirs.protocol_version.app = 99;
        theirs.version = "0.37.0".into();
        assert_eq!(ours.compatible_with(&theirs), Ok(()));

        let mut other_block = info(2);
        other_block.protocol_version.block = 10;
        assert_eq!(
            ours.compatible_with(&other_block),
            Err(NodeInfoIncompatible::BlockVersion {
                ours: 11,
                theirs: 10
            })
        );
        let mut other_net = info(2);
        other_net.network = "other-chain".into();
        assert_eq!(
            ours.compatible_with(&other_net),
            Err(NodeInfoIncompatible::Network {
                ours: "test-chain".into(),
                theirs: "other-chain".into()
            })
        );
        // Block version is checked before the network.
        other_net.protocol_version.block = 12;
        assert!(matches!(
            ours.compatible_with(&other_net),
            Err(NodeInfoIncompatible::BlockVersion { .. })
        ));
        let mut disjoint = info(2);
        disjoint.channels = vec![0x70, 0x71];
        assert_eq!(
            ours.compatible_with(&disjoint),
            Err(NodeInfoIncompatible::NoCommonChannel {
                ours: ours.channels.clone(),
                theirs: vec![0x70, 0x71]
            })
        );
        disjoint.channels.push(0x00);
        assert_eq!(ours.compatible_with(&disjoint), Ok(()));
        // With no channels of our own, any peer passes the channel check.
        let mut none = info(1);
        none.channels.clear();
        disjoint.channels.clear();
        assert_eq!(none.compatible_with(&disjoint), Ok(()));
    }

    #[test]
    fn check_peer_order() {
        let ours = info(1);
        let peer = info(2);
        assert_eq!(check_peer(&ours, &peer, &id(2)), Ok(()));
        assert_eq!(
            check_peer(&ours, &peer, &id(3)),
            Err(NodeInfoRejected::IdMismatch {
                authenticated: id(3),
                claimed: id(2)
            })
        );
        assert_eq!(
            check_peer(&ours, &info(1), &id(1)),
            Err(NodeInfoRejected::SelfConnection)
        );
        let mut bad = info(2);
        bad.network = "x".into();
        assert!(matches!(
            check_peer(&ours, &bad, &id(2)),
            Err(NodeInfoRejected::Incompatible(
                NodeInfoIncompatible::Network { .. }
            ))
        ));
        // Validation comes first, before the ID and self checks.
        bad.moniker.clear();
        assert!(matches!(
            check_peer(&ours, &bad, &id(9)),
            Err(NodeInfoRejected::Invalid(NodeInfoInvalid::Moniker { .. }))
        ));
        let mut me_incompatible = info(1);
        me_incompatible.network = "x".into();
        assert_eq!(
            check_peer(&ours, &me_incompatible, &id(1)),
            Err(NodeInfoRejected::SelfConnection)
        );
    }

    #[test]
    fn self_reported_address() {
        let mut i = info(0xab);
        i.listen_addr = "tcp://1.2.3.4:26656".into();
        assert_eq!(
            i.net_address().unwrap().to_string(),
            format!("{}@1.2.3.4:26656", id(0xab))
        );
        i.listen_addr = "[::1]:1".into();
        assert_eq!(
            i.net_address().unwrap().to_string(),
            format!("{}@[::1]:1", id(0xab))
        );
        i.listen_addr = "tcp://seed.example:26656".into();
        assert!(matches!(i.net_address(), Err(NetAddressError::Hostname(_))));
        assert!(i.has_channel(0x30) && !i.has_channel(0x31));
    }
}
