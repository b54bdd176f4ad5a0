//! The part of the pipeline shared by dialed and accepted connections
//! (spec 2.1): connection filters (built-in duplicate `ip:port` and
//! duplicate IP, then user filters under the filter timeout), then the
//! transport upgrade (SecretConnection → dialed-ID check → NodeInfo →
//! checks) with an ephemeral secret drawn from the switch's RNG.

use std::net::SocketAddr;

use super::accept::AcceptPermit;
use super::core::Shared;
use super::error::ConnRejected;
use super::filter::{run_filters, ConnKey, FilterFailure, TrackedStream};
use crate::key::NodeId;
use crate::net::{Network, Runtime, Stream};
use crate::secret_connection::handshake::draw_ephemeral_secret;
use crate::transport::{upgrade, UpgradeError, Upgraded};

/// Why a raw connection did not become an upgraded one.
#[derive(Debug)]
pub(crate) enum ConnectError {
    Conn(ConnRejected),
    Upgrade(UpgradeError),
}

/// An upgraded connection with its remote address and table entry.
pub(crate) struct Connected<S> {
    pub up: Upgraded<TrackedStream<S>>,
    pub remote: SocketAddr,
    pub key: ConnKey,
}

/// Filters and upgrades `stream`. `dialed` is the ID we dialed (outbound);
/// `permit` is the accept slot (inbound). Every resource is released when
/// the stream is dropped, so an error needs no cleanup.
pub(crate) async fn filter_and_upgrade<N: Network, R: Runtime>(
    shared: &Shared<N, R>,
    stream: N::Stream,
    dialed: Option<NodeId>,
    permit: Option<AcceptPermit>,
) -> Result<Connected<N::Stream>, ConnectError> {
    let remote = stream.peer_addr();
    let guard = shared
        .conns
        .admit(remote, shared.cfg.allow_duplicate_ip)
        .map_err(ConnectError::Conn)?;
    let checks = shared
        .conn_filters
        .iter()
        .map(|f| f.filter(remote))
        .collect();
    run_filters(&shared.rt, shared.cfg.filter_timeout, checks)
        .await
        .map_err(|e| {
            ConnectError::Conn(match e {
                FilterFailure::Rejected(reason) => ConnRejected::Filtered { reason },
                FilterFailure::Timeout(d) => ConnRejected::FilterTimeout(d),
            })
        })?;
    let key = guard.key();
    let stream = TrackedStream::new(stream, guard, permit);
    let secret = shared.with_rng(draw_ephemeral_secret);
    let up = upgrade(
        &shared.rt,
        stream,
        &shared.node_key,
        &shared.node_info,
        dialed,
        secret,
        shared.cfg.upgrade,
    )
    .await
    .map_err(ConnectError::Upgrade)?;
    Ok(Connected { up, remote, key })
}
