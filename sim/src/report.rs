//! `report.json`: the stable, versioned output of a run. Every view (plots,
//! HTML) is drawn from this file alone. Schema documented in `reports/README.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub mod adversary;

use crate::collect::{GossipSummary, Totals};

/// Version of the `report.json` schema; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest simulated time a report may describe (about 115 days).
pub const MAX_REPORT_SECONDS: f64 = 1e7;

/// The whole report.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Report {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Who/what/when of the run.
    pub header: Header,
    /// SHA-256 over the network's and the observers' event streams.
    pub event_hash: String,
    /// Samples every `sample_interval`.
    pub samples: Vec<Sample>,
    /// Per-node state at the end.
    pub nodes: Vec<NodeFinal>,
    /// Degree histogram at the end: `degree -> nodes`.
    pub degree_histogram: BTreeMap<u32, u32>,
    /// Final peer graph: undirected edges between node indices.
    pub edges: Vec<(u32, u32)>,
    /// Diameter and mean path length of the final graph among running non-seed nodes.
    #[serde(default)]
    pub paths: crate::collect::PathStats,
    /// Counters.
    pub totals: Totals,
    /// Gossip propagation per workload, by name.
    pub gossip: BTreeMap<String, GossipSummary>,
    /// Scenario events as they were applied: (time s, description).
    pub timeline: Vec<(f64, String)>,
    /// Assertion outcomes.
    pub assertions: Vec<AssertionResult>,
    /// How long the overlay took to become one component again after each
    /// heal, restart and churn restart (empty in reports written before the field existed).
    #[serde(default)]
    pub reconvergence: Vec<crate::reconverge::Reconvergence>,
    /// Adversaries and peer diversity (only when the scenario has adversaries
    /// or a `watch` selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversary: Option<adversary::AdversaryReport>,
}

/// Identity of the run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Header {
    /// Scenario name.
    pub scenario: String,
    /// Scenario id (hash of the file).
    pub scenario_id: String,
    /// Master seed.
    pub seed: u64,
    /// `cometnet` version.
    pub tool_version: String,
    /// Simulation engine.
    pub engine: String,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Nodes in the scenario.
    pub nodes: usize,
    /// Wall-clock seconds the run took (the only field that differs between identical runs).
    pub wall_time_s: f64,
    /// Command that reproduces the run.
    pub reproduce: String,
}

/// A snapshot of the network.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Sample {
    /// Simulated time (s).
    pub t: f64,
    /// Nodes running.
    pub up: u32,
    /// Peer count over running nodes: min, mean, max.
    pub peers_min: u32,
    /// Mean peers per running node.
    pub peers_mean: f64,
    /// Max peers.
    pub peers_max: u32,
    /// Mean outbound peers.
    pub outbound_mean: f64,
    /// Mean inbound peers.
    pub inbound_mean: f64,
    /// Connected components among running nodes.
    pub components: u32,
    /// Size of the largest component.
    pub largest_component: u32,
    /// Cumulative bytes sent per channel (hex id -> bytes), all nodes.
    pub bytes_sent: BTreeMap<String, u64>,
    /// Cumulative messages sent per channel.
    pub messages_sent: BTreeMap<String, u64>,
    /// Peers per node (only for runs of at most 200 nodes; empty otherwise).
    pub peers_per_node: Vec<u32>,
    /// Address-book sizes over the running nodes that run PEX (zeros in
    /// reports written before the field existed).
    #[serde(default)]
    pub addrbook: AddrBookStats,
    /// Address-book size per node, 0 for nodes down or without PEX (only for
    /// runs of at most 200 nodes; empty otherwise).
    #[serde(default)]
    pub addrbook_per_node: Vec<u32>,
}

/// Address-book sizes (known addresses, new + old buckets) over nodes at one sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct AddrBookStats {
    /// Running nodes with an address book (PEX on); the others are not counted.
    pub nodes: u32,
    /// Smallest book.
    pub min: u32,
    /// Median book (the lower middle value for an even count).
    pub median: u32,
    /// Largest book.
    pub max: u32,
    /// Mean addresses in the new buckets.
    pub new_mean: f64,
    /// Mean addresses in the old buckets (tried and connected).
    pub old_mean: f64,
}

impl AddrBookStats {
    /// Statistics of `(new, old)` bucket sizes, one pair per node.
    pub fn of(books: &[(u32, u32)]) -> AddrBookStats {
        if books.is_empty() {
            return AddrBookStats::default();
        }
        let mut totals: Vec<u32> = books.iter().map(|(n, o)| n + o).collect();
        totals.sort_unstable();
        let k = books.len() as f64;
        AddrBookStats {
            nodes: books.len() as u32,
            min: totals[0],
            median: totals[(totals.len() - 1) / 2],
            max: totals[totals.len() - 1],
            new_mean: books.iter().map(|b| f64::from(b.0)).sum::<f64>() / k,
            old_mean: books.iter().map(|b| f64::from(b.1)).sum::<f64>() / k,
        }
    }
}

/// One node at the end of the run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct NodeFinal {
    /// Index.
    pub index: u32,
    /// Node ID.
    pub id: String,
    /// Group name.
    pub group: String,
    /// Zone name.
    pub zone: String,
    /// Role.
    pub role: String,
    /// Running at the end.
    pub up: bool,
    /// Inbound peers.
    pub inbound: u32,
    /// Outbound peers.
    pub outbound: u32,
    /// Address book size.
    pub addrbook: usize,
    /// Bytes this node sent over the whole run, all channels (0 in reports
    /// written before the field existed).
    #[serde(default)]
    pub bytes_sent: u64,
    /// Bytes this node received over the whole run, all channels.
    #[serde(default)]
    pub bytes_received: u64,
}

/// Outcome of one `[[assert]]`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AssertionResult {
    /// What was asserted.
    pub description: String,
    /// Whether it held.
    pub passed: bool,
    /// The measured value, in words.
    pub detail: String,
}

impl Report {
    /// Pretty JSON text (stable field order).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The JSON with `wall_time_s` zeroed: identical for identical runs.
    pub fn to_json_without_wall_time(&self) -> String {
        let mut r = self.clone();
        r.header.wall_time_s = 0.0;
        r.to_json()
    }

    /// Parses a `report.json`.
    pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Writes `report.json` into `dir` atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("report.json");
        p2p::fsutil::write_atomic(&path, self.to_json().as_bytes(), 0o644)?;
        Ok(path)
    }

    /// Checks what the charts rely on (a hand-edited or damaged file may hold
    /// anything): times finite and within 0..=[`MAX_REPORT_SECONDS`], means
    /// finite and non-negative. Names the first bad field.
    pub fn check(&self) -> Result<(), String> {
        let time = |field: String, t: f64| {
            if t.is_finite() && (0.0..=MAX_REPORT_SECONDS).contains(&t) {
                Ok(())
            } else {
                Err(format!(
                    "{field}: {t} is not a time in 0..={MAX_REPORT_SECONDS} s"
                ))
            }
        };
        let mean = |field: String, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{field}: {v} is not a finite mean >= 0"))
            }
        };
        time("header.duration_s".into(), self.header.duration_s)?;
        for (i, s) in self.samples.iter().enumerate() {
            time(format!("samples[{i}].t"), s.t)?;
            mean(format!("samples[{i}].peers_mean"), s.peers_mean)?;
            mean(format!("samples[{i}].outbound_mean"), s.outbound_mean)?;
            mean(format!("samples[{i}].inbound_mean"), s.inbound_mean)?;
        }
        for (i, (t, _)) in self.timeline.iter().enumerate() {
            time(format!("timeline[{i}]"), *t)?;
        }
        Ok(())
    }

    /// Whether every assertion passed.
    pub fn passed(&self) -> bool {
        self.assertions.iter().all(|a| a.passed)
    }
}
