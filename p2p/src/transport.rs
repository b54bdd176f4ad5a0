//! Connection upgrade (spec 1.4, 2.1): a raw stream becomes an authenticated,
//! encrypted peer connection with a checked NodeInfo, in Go's order:
//! SecretConnection handshake (3 s) → dialed-ID check (outbound only) →
//! NodeInfo exchange (fresh 3 s) → `validate`, ID match, not self, compatible.
//!
//! Every failure is an [`UpgradeError`] whose [`fault`](UpgradeError::fault)
//! says who is to blame, so the Switch can log, ban or retry accordingly.

use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};

use crate::key::{NodeId, NodeKey};
use crate::net::{timeout, Runtime};
use crate::node_info::{self, ExchangeError, NodeInfo, NodeInfoRejected};
use crate::secret_connection::{self, Crypto, FrameError, HandshakeError, SecretConnection};

/// Who is at fault for an error (design rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The peer broke the protocol (bad signature, malformed or oversize data...).
    PeerMisbehaved,
    /// The peer is well-behaved but cannot talk to us (other network, no common channel).
    PeerIncompatible,
    /// The connection failed (reset, refused, closed).
    Io,
    /// A deadline passed.
    Timeout,
    /// Our own configuration or state (e.g. we dialed ourselves).
    Local,
}

/// Deadlines of the upgrade (Go hard-codes both to 3 s) and its crypto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeConfig {
    /// Deadline of the SecretConnection handshake.
    pub handshake_timeout: Duration,
    /// Deadline of the NodeInfo exchange (starts after the handshake).
    pub node_info_timeout: Duration,
    /// The SecretConnection's cryptography: [`Crypto::Real`] unless a
    /// simulation asked for [`Crypto::Null`].
    pub crypto: Crypto,
}

impl Default for UpgradeConfig {
    fn default() -> Self {
        UpgradeConfig {
            handshake_timeout: secret_connection::DEFAULT_HANDSHAKE_TIMEOUT,
            node_info_timeout: node_info::DEFAULT_NODE_INFO_TIMEOUT,
            crypto: Crypto::Real,
        }
    }
}

/// Why an upgrade failed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The SecretConnection handshake failed (includes its timeout).
    #[error("secret connection handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// We dialed one ID and authenticated another.
    #[error("dialed {dialed} but the peer authenticated as {authenticated}")]
    DialedIdMismatch {
        /// The ID in the address we dialed.
        dialed: NodeId,
        /// The ID proven by the handshake.
        authenticated: NodeId,
    },
    /// The NodeInfo exchange failed.
    #[error("NodeInfo exchange: {0}")]
    NodeInfo(#[from] ExchangeError),
    /// The NodeInfo exchange did not finish in time.
    #[error("NodeInfo exchange timed out after {0:?}")]
    NodeInfoTimeout(Duration),
    /// The peer's NodeInfo failed the transport's checks.
    #[error("peer rejected: {0}")]
    Rejected(#[from] NodeInfoRejected),
}

impl UpgradeError {
    /// Who is to blame.
    pub fn fault(&self) -> Fault {
        match self {
            UpgradeError::Handshake(HandshakeError::Io(_)) => Fault::Io,
            UpgradeError::Handshake(HandshakeError::Timeout(_)) => Fault::Timeout,
            UpgradeError::Handshake(HandshakeError::Frame(
                FrameError::NonceExhausted | FrameError::ChunkTooLarge { .. },
            )) => Fault::Local,
            UpgradeError::Handshake(_) => Fault::PeerMisbehaved,
            UpgradeError::DialedIdMismatch { .. } => Fault::PeerMisbehaved,
            UpgradeError::NodeInfo(ExchangeError::Io(_)) => Fault::Io,
            UpgradeError::NodeInfo(_) => Fault::PeerMisbehaved,
            UpgradeError::NodeInfoTimeout(_) => Fault::Timeout,
            UpgradeError::Rejected(NodeInfoRejected::Incompatible(_)) => Fault::PeerIncompatible,
            UpgradeError::Rejected(NodeInfoRejected::SelfConnection) => Fault::Local,
            UpgradeError::Rejected(_) => Fault::PeerMisbehaved,
        }
    }
}

/// An upgraded connection: encrypted stream plus the peer's checked NodeInfo.
pub struct Upgraded<S> {
    /// The encrypted stream; the MConnection runs on it next.
    pub conn: SecretConnection<S>,
    /// The peer's NodeInfo (validated, compatible, ID = authenticated ID).
    pub peer_info: NodeInfo,
}

/// Upgrades `stream`. `dialed` is the ID we dialed (outbound) or `None`
/// (inbound); `ephemeral_secret` comes from the caller's RNG
/// ([`secret_connection::handshake::draw_ephemeral_secret`]).
pub async fn upgrade<R, S>(
    rt: &R,
    stream: S,
    node_key: &NodeKey,
    ours: &NodeInfo,
    dialed: Option<NodeId>,
    ephemeral_secret: [u8; 32],
    cfg: UpgradeConfig,
) -> Result<Upgraded<S>, UpgradeError>
where
    R: Runtime,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handshake =
        secret_connection::handshake_with_crypto(stream, node_key, ephemeral_secret, cfg.crypto);
    let mut conn = match timeout(rt, cfg.handshake_timeout, handshake).await {
        Ok(result) => result?,
        Err(e) => return Err(HandshakeError::Timeout(e.0).into()),
    };
    let authenticated = conn.remote_id();
    if let Some(dialed) = dialed {
        if dialed != authenticated {
            return Err(UpgradeError::DialedIdMismatch {
                dialed,
                authenticated,
            });
        }
    }
    let peer_info = match timeout(
        rt,
        cfg.node_info_timeout,
        node_info::exchange(&mut conn, ours),
    )
    .await
    {
        Ok(r) => r?,
        Err(e) => return Err(UpgradeError::NodeInfoTimeout(e.0)),
    };
    node_info::check_peer(ours, &peer_info, &authenticated)?;
    Ok(Upgraded { conn, peer_info })
}
