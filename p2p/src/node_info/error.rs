//! Why a peer's NodeInfo is refused, by fault: malformed ([`NodeInfoInvalid`], the
//! peer misbehaved), incompatible ([`NodeInfoIncompatible`]), or one of the
//! transport's checks ([`NodeInfoRejected`]).

use super::MAX_NUM_CHANNELS;
use crate::key::{NodeId, NodeIdError};
use crate::netaddr::NetAddressError;

/// The peer sent a malformed NodeInfo (Go: "invalid NodeInfo"); the peer is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeInfoInvalid {
    /// `default_node_id` is not a node ID.
    #[error("NodeInfo has an invalid node ID {id:?}: {source}")]
    NodeId {
        /// The ID sent.
        id: String,
        /// What is wrong with it.
        source: NodeIdError,
    },
    /// `default_node_id` is valid hex but not lower case. Go's `Validate` accepts
    /// it, then rejects it as not equal to the authenticated ID (an auth failure).
    #[error("NodeInfo node ID {id:?} is not lower-case hex")]
    NodeIdNotLowercase {
        /// The ID sent.
        id: String,
    },
    /// `id@listen_addr` does not parse as an address.
    #[error("NodeInfo listen_addr is invalid: {0}")]
    ListenAddr(NetAddressError),
    /// `version` is non-empty and not printable ASCII, or only spaces.
    #[error("NodeInfo version {version:?} must be printable ASCII text")]
    Version {
        /// The version sent.
        version: String,
    },
    /// More than [`MAX_NUM_CHANNELS`] channels.
    #[error("NodeInfo lists {count} channels, at most {MAX_NUM_CHANNELS} allowed")]
    TooManyChannels {
        /// How many were listed.
        count: usize,
    },
    /// A channel ID is listed twice.
    #[error("NodeInfo lists channel {channel:#04x} twice")]
    DuplicateChannel {
        /// The repeated ID.
        channel: u8,
    },
    /// `moniker` is empty, not printable ASCII, or only spaces.
    #[error("NodeInfo moniker {moniker:?} must be non-empty printable ASCII text")]
    Moniker {
        /// The moniker sent.
        moniker: String,
    },
    /// `other.tx_index` is not `""`, `"on"` or `"off"`.
    #[error("NodeInfo tx_index {tx_index:?} must be \"on\", \"off\" or empty")]
    TxIndex {
        /// The value sent.
        tx_index: String,
    },
    /// `other.rpc_address` is non-empty and not printable ASCII, or only spaces.
    #[error("NodeInfo rpc_address {rpc_address:?} must be printable ASCII text")]
    RpcAddress {
        /// The value sent.
        rpc_address: String,
    },
}

/// The peer is well-formed but cannot talk to us (Go: "incompatible").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeInfoIncompatible {
    /// Different block protocol versions.
    #[error("peer is on block version {theirs}, we are on {ours}")]
    BlockVersion {
        /// Ours.
        ours: u64,
        /// The peer's.
        theirs: u64,
    },
    /// Different chains.
    #[error("peer is on network {theirs:?}, we are on {ours:?}")]
    Network {
        /// Ours.
        ours: String,
        /// The peer's.
        theirs: String,
    },
    /// No channel in common (only checked when we list channels).
    #[error("no common channels: ours {ours:02x?}, peer's {theirs:02x?}")]
    NoCommonChannel {
        /// Ours.
        ours: Vec<u8>,
        /// The peer's.
        theirs: Vec<u8>,
    },
}

/// Why a peer's NodeInfo made us close the connection (the transport's checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeInfoRejected {
    /// The NodeInfo is malformed: the peer misbehaved.
    #[error(transparent)]
    Invalid(#[from] NodeInfoInvalid),
    /// The NodeInfo claims another ID than the key that authenticated the
    /// connection (Go: auth failure).
    #[error("NodeInfo ID {claimed} differs from the authenticated ID {authenticated}")]
    IdMismatch {
        /// The ID of the SecretConnection key.
        authenticated: NodeId,
        /// The ID in the NodeInfo.
        claimed: NodeId,
    },
    /// We connected to ourselves.
    #[error("connected to ourselves")]
    SelfConnection,
    /// The peer is incompatible.
    #[error(transparent)]
    Incompatible(#[from] NodeInfoIncompatible),
}
