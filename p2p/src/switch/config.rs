//! [`SwitchConfig`]: the Switch's knobs, derived from the `[p2p]` section
//! ([`P2pConfig`], spec 2.9) plus the constants Go hard-codes (dial 1 s,
//! handshake 3 s + NodeInfo 3 s, filters 5 s).

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::error::SwitchConfigError;
use crate::config::P2pConfig;
use crate::key::NodeId;
use crate::mconn::{DriverConfig, MConnConfig};
use crate::netaddr::{NetAddress, NetAddressError};
use crate::transport::UpgradeConfig;

/// TCP connect timeout (Go's `defaultDialTimeout`; `p2p.dial_timeout` is not wired).
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Total time for the connection or peer filters (Go's `defaultFilterTimeout`).
pub const DEFAULT_FILTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the Switch needs besides its key, NodeInfo, network and runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchConfig {
    /// Inbound peers allowed, unconditional peers not counted (default 40).
    pub max_num_inbound_peers: usize,
    /// Outbound target for the PEX reactor; the Switch itself does not
    /// enforce it (default 10).
    pub max_num_outbound_peers: usize,
    /// Allow several connections from or to one IP address (default false).
    pub allow_duplicate_ip: bool,
    /// Peers dialed at start and reconnected when lost.
    pub persistent_peers: Vec<NetAddress>,
    /// IDs exempt from the inbound limit and not counted in [`super::PeerCounts`].
    pub unconditional_peer_ids: BTreeSet<NodeId>,
    /// IDs handed to the address book as private (never gossiped).
    pub private_peer_ids: BTreeSet<NodeId>,
    /// MConnection settings for every peer.
    pub mconn: MConnConfig,
    /// MConnection driver settings (local buffering only).
    pub driver: DriverConfig,
    /// TCP connect timeout.
    pub dial_timeout: Duration,
    /// Handshake and NodeInfo deadlines.
    pub upgrade: UpgradeConfig,
    /// Time limit for all connection filters, and for all peer filters.
    pub filter_timeout: Duration,
}

impl Default for SwitchConfig {
    /// The v0.38 defaults (an empty `[p2p]` section).
    fn default() -> Self {
        let p2p = P2pConfig::default();
        SwitchConfig {
            max_num_inbound_peers: p2p.max_num_inbound_peers as usize,
            max_num_outbound_peers: p2p.max_num_outbound_peers as usize,
            allow_duplicate_ip: p2p.allow_duplicate_ip,
            persistent_peers: Vec::new(),
            unconditional_peer_ids: BTreeSet::new(),
            private_peer_ids: BTreeSet::new(),
            mconn: mconn_config(&p2p),
            driver: DriverConfig::default(),
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            upgrade: UpgradeConfig::default(),
            filter_timeout: DEFAULT_FILTER_TIMEOUT,
        }
    }
}

/// Go's `p2p.MConnConfig(cfg)`: the MConnection defaults with flush throttle,
/// send/recv rate and payload size from `[p2p]`.
pub fn mconn_config(p2p: &P2pConfig) -> MConnConfig {
    MConnConfig {
        send_rate: p2p.send_rate,
        recv_rate: p2p.recv_rate,
        max_packet_msg_payload_size: p2p.max_packet_msg_payload_size as usize,
        flush_throttle: p2p.flush_throttle_timeout.0,
        ..MConnConfig::default()
    }
}

/// Go's `SplitAndTrimEmpty(s, ",", " ")`.
pub(crate) fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',')
        .map(|e| e.trim_matches(' '))
        .filter(|e| !e.is_empty())
}

fn parse_ids(key: &'static str, s: &str) -> Result<BTreeSet<NodeId>, SwitchConfigError> {
    split_list(s)
        .enumerate()
        .map(|(index, entry)| {
            NodeId::from_str(entry).map_err(|source| SwitchConfigError::PeerId {
                key,
                index,
                entry: entry.to_owned(),
                source,
            })
        })
        .collect()
}

impl SwitchConfig {
    /// Reads `[p2p]` without DNS: a persistent peer given by hostname is
    /// skipped with a warning, like a failed lookup in Go.
    pub fn from_p2p_config(p2p: &P2pConfig) -> Result<Self, SwitchConfigError> {
        Self::from_p2p_config_resolving(p2p, |_| Err("no resolver configured"))
    }

    /// Reads `[p2p]`, resolving persistent-peer hostnames once with `lookup`
    /// (first address pinned, as Go does). Lookup failures skip the entry
    /// with a warning (Go: `ErrNetAddressLookup` is tolerated); any other
    /// malformed entry is an error.
    pub fn from_p2p_config_resolving<F, E>(
        p2p: &P2pConfig,
        mut lookup: F,
    ) -> Result<Self, SwitchConfigError>
    where
        F: FnMut(&str) -> Result<Vec<IpAddr>, E>,
        E: fmt::Display,
    {
        let mut persistent_peers = Vec::new();
        for (index, entry) in split_list(&p2p.persistent_peers).enumerate() {
            match NetAddress::parse_resolving(entry, &mut lookup) {
                Ok(a) => persistent_peers.push(a),
                Err(e @ NetAddressError::Lookup { .. }) => {
                    tracing::warn!(entry, error = %e, "persistent peer skipped: lookup failed");
                }
                Err(source) => {
                    return Err(SwitchConfigError::PersistentPeer {
                        index,
                        entry: entry.to_owned(),
                        source,
                    })
                }
            }
        }
        Ok(SwitchConfig {
            max_num_inbound_peers: p2p.max_num_inbound_peers as usize,
            max_num_outbound_peers: p2p.max_num_outbound_peers as usize,
            allow_duplicate_ip: p2p.allow_duplicate_ip,
            persistent_peers,
            unconditional_peer_ids: parse_ids(
                "unconditional_peer_ids",
                &p2p.unconditional_peer_ids,
            )?,
            private_peer_ids: parse_ids("private_peer_ids", &p2p.private_peer_ids)?,
            mconn: mconn_config(p2p),
            ..SwitchConfig::default()
        })
    }

    /// Simultaneously open accepted sockets allowed (Go's limit listener):
    /// `max_num_inbound_peers + len(unconditional_peer_ids)`.
    pub fn max_incoming_connections(&self) -> usize {
        self.max_num_inbound_peers + self.unconditional_peer_ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoDuration;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_are_v038() {
        let c = SwitchConfig::default();
        assert_eq!(c.max_num_inbound_peers, 40);
        assert_eq!(c.max_num_outbound_peers, 10);
        assert!(!c.allow_duplicate_ip);
        assert_eq!(c.dial_timeout, Duration::from_secs(1));
        assert_eq!(c.upgrade.handshake_timeout, Duration::from_secs(3));
        assert_eq!(c.upgrade.node_info_timeout, Duration::from_secs(3));
        assert_eq!(c.filter_timeout, Duration::from_secs(5));
        assert_eq!(c.mconn.flush_throttle, Duration::from_millis(100));
        assert_eq!(c.mconn.send_rate, 5_120_000);
        assert_eq!(c.mconn.max_packet_msg_payload_size, 1024);
        assert_eq!(c.max_incoming_connections(), 40);
    }

    #[test]
    fn reads_p2p_section() {
        let p2p = P2pConfig {
            persistent_peers: format!(" {A}@1.2.3.4:26656 ,, {B}@example.com:1 "),
            unconditional_peer_ids: format!("{A}, {B}"),
            private_peer_ids: B.to_owned(),
            max_num_inbound_peers: 3,
            allow_duplicate_ip: true,
            flush_throttle_timeout: GoDuration(Duration::from_millis(10)),
            send_rate: 7,
            ..P2pConfig::default()
        };
        let c = SwitchConfig::from_p2p_config(&p2p).unwrap();
        assert_eq!(c.persistent_peers.len(), 1, "hostname entry skipped");
        assert_eq!(
            c.persistent_peers[0].to_string(),
            format!("{A}@1.2.3.4:26656")
        );
        assert_eq!(c.unconditional_peer_ids.len(), 2);
        assert_eq!(c.private_peer_ids.len(), 1);
        assert_eq!(c.max_incoming_connections(), 5);
        assert!(c.allow_duplicate_ip);
        assert_eq!(c.mconn.flush_throttle, Duration::from_millis(10));
        assert_eq!(c.mconn.send_rate, 7);

        let resolved = SwitchConfig::from_p2p_config_resolving(&p2p, |h| {
            assert_eq!(h, "example.com");
            Ok::<_, String>(vec!["9.9.9.9".parse().unwrap(), "8.8.8.8".parse().unwrap()])
        })
        .unwrap();
        assert_eq!(
            resolved.persistent_peers[1].to_string(),
            format!("{B}@9.9.9.9:1")
        );
    }

    #[test]
    fn bad_entries_are_errors() {
        let p2p = P2pConfig {
            persistent_peers: format!("{A}@1.2.3.4:26656,nope"),
            ..P2pConfig::default()
        };
        assert!(matches!(
            SwitchConfig::from_p2p_config(&p2p),
            Err(SwitchConfigError::PersistentPeer { index: 1, .. })
        ));
        let p2p = P2pConfig {
            unconditional_peer_ids: format!("{A},xyz"),
            ..P2pConfig::default()
        };
        assert!(matches!(
            SwitchConfig::from_p2p_config(&p2p),
            Err(SwitchConfigError::PeerId {
                key: "unconditional_peer_ids",
                index: 1,
                ..
            })
        ));
    }
}
