//! The optional `adversary` section of `report.json` (present only when the
//! scenario has adversarial groups or a `watch` selector): what honest nodes
//! did about adversaries, and how diverse the watched nodes' peers and
//! address books stayed. Schema in `reports/README.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdversaryReport {
    /// Adversary kind -> node indices.
    pub nodes: BTreeMap<String, Vec<u32>>,
    /// Honest-side connections with adversaries, by adversary kind.
    pub connections: BTreeMap<String, ConnStats>,
    /// Flood bounds (present when there are flooders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flood: Option<FloodStats>,
    /// Per sample, over all running honest nodes.
    pub honest: Vec<HonestSample>,
    /// Per watched node (index as text), per sample.
    pub watched: BTreeMap<String, Vec<WatchSample>>,
}

/// Connections between honest nodes and adversaries of one kind, counted on
/// the honest side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnStats {
    /// Peers added (honest node, adversary) pairs.
    pub added: u64,
    /// Of those, removed before the end.
    pub removed: u64,
    /// Removals by reason (the honest node's stop reason).
    pub reasons: BTreeMap<String, u64>,
    /// Lifetime of removed connections (s): min, median, max.
    pub lifetime_min_s: Option<f64>,
    /// Median lifetime.
    pub lifetime_p50_s: Option<f64>,
    /// Longest lifetime.
    pub lifetime_max_s: Option<f64>,
    /// Connections still open at the end.
    pub open_at_end: u64,
    /// Age (s) of the oldest connection still open at the end.
    pub oldest_open_s: Option<f64>,
}

/// Bytes honest nodes received from flooders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FloodStats {
    /// The smallest `recv_rate` (bytes/s) among the receiving honest nodes.
    pub recv_rate_limit: u64,
    /// Highest rate over one sample interval divided by the receiving
    /// node's own `recv_rate`, any pair.
    pub max_interval_fraction: f64,
    /// Mean over pairs of (bytes / connected time) / the receiver's `recv_rate`.
    pub mean_pair_fraction: f64,
    /// (honest, flooder) connections observed over at least one full interval.
    pub pairs: u64,
    /// Highest rate over one sample interval, any pair (bytes/s).
    pub max_interval_rate: f64,
    /// Mean over pairs of each pair's bytes / connected time (bytes/s).
    pub mean_pair_rate: f64,
    /// Total bytes honest nodes received on flooder connections.
    pub bytes: u64,
}

/// Diversity over all running honest nodes at one time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HonestSample {
    /// Simulated time (s).
    pub t: f64,
    /// Fewest distinct address groups among a node's peers.
    pub peer_groups_min: u32,
    /// Median of the same.
    pub peer_groups_p50: f64,
    /// Mean fraction of a node's peers that are adversaries.
    pub attacker_peer_fraction_mean: f64,
    /// Highest such fraction.
    pub attacker_peer_fraction_max: f64,
    /// Mean fraction of a node's address book that is attacker addresses.
    pub attacker_book_fraction_mean: f64,
    /// Highest such fraction.
    pub attacker_book_fraction_max: f64,
}

/// One watched node at one time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchSample {
    /// Simulated time (s).
    pub t: f64,
    /// Peers (in + out).
    pub peers: u32,
    /// Outbound peers.
    pub outbound: u32,
    /// Peers that are adversaries.
    pub attacker_peers: u32,
    /// Outbound peers that are adversaries.
    pub attacker_outbound: u32,
    /// Distinct address groups (/16) among the peers.
    pub peer_groups: u32,
    /// Address book entries.
    pub book: u32,
    /// Entries whose IP is not an honest node's.
    pub book_attacker: u32,
    /// Distinct address groups in the book.
    pub book_groups: u32,
    /// Non-empty new buckets.
    pub new_buckets: u32,
    /// New buckets holding at least one attacker address.
    pub attacker_new_buckets: u32,
    /// Non-empty old buckets.
    pub old_buckets: u32,
    /// Old buckets holding at least one attacker address.
    pub attacker_old_buckets: u32,
}
