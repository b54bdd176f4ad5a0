//! Scenario files: the serde model of a simulation (TOML), its loading with
//! errors that name file, line and column, and its validation.
//!
//! Every field is documented in `scenarios/README.md`; unknown fields are
//! errors. The scenario id is a hash of the file's bytes, so a report names
//! exactly the input that produced it.

pub mod adversary;
pub mod units;

use std::collections::BTreeSet;
use std::path::Path;

use p2p::config::{GoDuration, P2pConfig, P2P_KEYS};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use units::{Bandwidth, Selector};

use crate::link::LatencyModel;

/// The channel of the built-in gossip workload (not used by CometBFT).
pub const DEFAULT_GOSSIP_CHANNEL: u8 = 0x70;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; defaults to the file name without `.toml`.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: String,
    /// Master seed (overridden by `--seed`).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time to run.
    pub duration: GoDuration,
    /// How often time series are sampled.
    #[serde(default = "default_sample_interval")]
    pub sample_interval: GoDuration,
    /// Chain ID every node advertises.
    #[serde(default = "default_network")]
    pub network: String,
    /// Latency model: `"aws"`, `"none"`, or an inline `{ zones, matrix }`.
    #[serde(default)]
    pub latency: LatencySpec,
    /// Jitter standard deviation as a fraction of each delay.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// SecretConnection cryptography: `"real"` (default) or `"null"`.
    #[serde(default)]
    pub crypto: CryptoMode,
    /// `[p2p]` overrides applied to every node (same keys as `config.toml`).
    #[serde(default)]
    pub p2p: toml::Table,
    /// Node groups (`[[group]]`).
    #[serde(rename = "group")]
    pub groups: Vec<Group>,
    /// Gossip workloads (`[[gossip]]`).
    #[serde(rename = "gossip", default)]
    pub gossip: Vec<Gossip>,
    /// Timed faults and churn (`[[event]]`).
    #[serde(rename = "event", default)]
    pub events: Vec<Event>,
    /// Checks run at the end (`[[assert]]`).
    #[serde(rename = "assert", default)]
    pub asserts: Vec<Assertion>,
    /// Honest nodes whose peer and address-book diversity is reported every
    /// sample (default: the `persistent_peers` of the `sybil` groups).
    #[serde(default)]
    pub watch: Option<Selector>,
}

fn default_seed() -> u64 {
    1
}
fn default_sample_interval() -> GoDuration {
    GoDuration(std::time::Duration::from_secs(1))
}
fn default_network() -> String {
    "cometnet-sim".into()
}
fn default_jitter() -> f64 {
    0.05
}
fn default_true() -> bool {
    true
}
fn default_fraction() -> f64 {
    0.99
}
fn default_gossip_channel() -> u8 {
    DEFAULT_GOSSIP_CHANNEL
}
fn all_nodes() -> Selector {
    Selector::All
}

/// The latency model of a scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum LatencySpec {
    /// A built-in model: `"aws"` (13 AWS regions) or `"none"` (zero delay).
    Named(String),
    /// An inline matrix of one-way delays in milliseconds.
    Inline {
        /// Zone names.
        zones: Vec<String>,
        /// `matrix[from][to]` in ms.
        matrix: Vec<Vec<f64>>,
    },
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec::Named("aws".into())
    }
}

/// The SecretConnection cryptography of every simulated node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CryptoMode {
    /// X25519, Ed25519 and ChaCha20-Poly1305, as CometBFT.
    #[default]
    Real,
    /// Same messages and byte counts, no crypto ([`p2p::secret_connection::Crypto::Null`]).
    Null,
}

impl CryptoMode {
    /// The stack's setting.
    pub fn to_p2p(self) -> p2p::secret_connection::Crypto {
        match self {
            CryptoMode::Real => p2p::secret_connection::Crypto::Real,
            CryptoMode::Null => p2p::secret_connection::Crypto::Null,
        }
    }
}

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Seed mode: crawls and answers PEX requests, then disconnects.
    Seed,
    /// A full node.
    Full,
    /// A validator (the same as a full node for the p2p layer).
    Validator,
}

/// Misbehaviour of an adversarial group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Adversary {
    /// Honest.
    #[default]
    None,
    /// Completes handshakes, then never sends anything (not even pongs).
    Silent,
    /// Floods its peers with gossip messages as fast as its link allows.
    Flooder,
    /// Sends PEX requests far faster than allowed and unsolicited address lists.
    PexAbuser,
    /// One of many attacker nodes (usually from one `subnet`) that connect to
    /// their `persistent_peers` (the victims) and answer PEX requests with
    /// attacker addresses only: an eclipse attempt.
    Sybil,
}

/// A group of identical nodes (`[[group]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Unique name, used by selectors.
    pub name: String,
    /// Number of nodes.
    pub count: usize,
    /// Role of every node.
    #[serde(default = "default_role")]
    pub role: Role,
    /// Zones assigned round-robin (default: the model's first zone).
    #[serde(default)]
    pub zones: Vec<String>,
    /// Per-node uplink (default unlimited).
    #[serde(default)]
    pub uplink: Option<Bandwidth>,
    /// Per-node downlink (default unlimited).
    #[serde(default)]
    pub downlink: Option<Bandwidth>,
    /// Whether other nodes can dial these (false = behind NAT).
    #[serde(default = "default_true")]
    pub reachable: bool,
    /// When the nodes start.
    #[serde(default)]
    pub start_at: GoDuration,
    /// `[p2p]` overrides for this group (on top of the scenario's).
    #[serde(default)]
    pub p2p: toml::Table,
    /// Groups whose nodes are this group's seeds (default: every seed group).
    #[serde(default)]
    pub seeds: Option<Vec<String>>,
    /// Groups whose nodes are this group's persistent peers.
    #[serde(default)]
    pub persistent_peers: Vec<String>,
    /// Adversarial behaviour.
    #[serde(default)]
    pub adversary: Adversary,
    /// IPv4 network (`a.b.c.d/p`, 8 ≤ p ≤ 24) the nodes take their addresses
    /// from, in order (default: spread over the 64 /16s of 100.64.0.0/10).
    #[serde(default)]
    pub subnet: Option<String>,
}

fn default_role() -> Role {
    Role::Full
}

/// A gossip workload (`[[gossip]]`): origins publish tagged messages that
/// every node floods to its peers once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gossip {
    /// Name used in reports and assertions.
    pub name: String,
    /// Channel ID (< 128).
    #[serde(default = "default_gossip_channel")]
    pub channel: u8,
    /// Message size in bytes.
    pub size: usize,
    /// Messages per second, per origin node.
    pub rate: f64,
    /// Origin nodes.
    #[serde(default = "all_nodes")]
    pub from: Selector,
    /// First publication time.
    #[serde(default)]
    pub start: GoDuration,
    /// Last publication time (default: end of the run).
    #[serde(default)]
    pub stop: Option<GoDuration>,
}

/// A timed event (`[[event]]`), tagged by `action`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// Split the network: traffic between different sides stops (or only
    /// from side i to later sides when `one_way`).
    Partition {
        /// When.
        at: GoDuration,
        /// The sides; nodes in no side form one more side.
        sides: Vec<Vec<Selector>>,
        /// Block only traffic from earlier sides to later ones.
        #[serde(default)]
        one_way: bool,
    },
    /// Remove every partition.
    Heal {
        /// When.
        at: GoDuration,
    },
    /// Kill nodes' processes (state on disk survives).
    Crash {
        /// When.
        at: GoDuration,
        /// Which nodes.
        nodes: Selector,
    },
    /// Start crashed nodes again with their key and address book.
    Restart {
        /// When.
        at: GoDuration,
        /// Which nodes.
        nodes: Selector,
    },
    /// Freeze nodes (no CPU, sockets stay open).
    Pause {
        /// When.
        at: GoDuration,
        /// Which nodes.
        nodes: Selector,
    },
    /// Unfreeze paused nodes.
    Resume {
        /// When.
        at: GoDuration,
        /// Which nodes.
        nodes: Selector,
    },
    /// Change nodes' bandwidth.
    Bandwidth {
        /// When.
        at: GoDuration,
        /// Which nodes.
        nodes: Selector,
        /// New uplink (absent = unlimited).
        #[serde(default)]
        uplink: Option<Bandwidth>,
        /// New downlink (absent = unlimited).
        #[serde(default)]
        downlink: Option<Bandwidth>,
    },
    /// Random churn: between `at` and `until`, crash a random node of
    /// `nodes` at `rate` per second and restart it after `downtime`.
    Churn {
        /// Start.
        at: GoDuration,
        /// End.
        until: GoDuration,
        /// Crashes per second.
        rate: f64,
        /// Candidate nodes.
        #[serde(default = "all_nodes")]
        nodes: Selector,
        /// Time each crashed node stays down.
        downtime: GoDuration,
    },
}

impl Event {
    /// When the event (starts to) apply.
    pub fn at(&self) -> GoDuration {
        match self {
            Event::Partition { at, .. }
            | Event::Heal { at }
            | Event::Crash { at, .. }
            | Event::Restart { at, .. }
            | Event::Pause { at, .. }
            | Event::Resume { at, .. }
            | Event::Bandwidth { at, .. }
            | Event::Churn { at, .. } => *at,
        }
    }
}

/// A check on the run (`[[assert]]`), tagged by `kind`; a failed one makes
/// `cometnet run` exit with code 1.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assertion {
    /// Every selected running node has at least `min` peers at time `by`.
    MinPeers {
        /// Which nodes.
        #[serde(default = "all_nodes")]
        nodes: Selector,
        /// Peer count.
        min: usize,
        /// Deadline.
        by: GoDuration,
    },
    /// The running nodes form one connected component at time `at`.
    Connected {
        /// When.
        at: GoDuration,
    },
    /// Messages of gossip `gossip` reach `fraction` of the running nodes
    /// within `within` of publication (median over messages).
    GossipCoverage {
        /// Gossip workload name.
        gossip: String,
        /// Fraction of nodes (0..1).
        #[serde(default = "default_fraction")]
        fraction: f64,
        /// Latency bound.
        within: GoDuration,
    },
}

/// A scenario could not be used. One line, naming the place.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bad TOML, a wrong type, or an unknown field.
    #[error("{origin}:{line}:{column}: {key}{message}")]
    Parse {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// `key: ` when the line holds a `key = value`, else empty.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The values do not make sense together.
    #[error("{origin}: {field}: {message}")]
    Invalid {
        /// The file.
        origin: String,
        /// Dotted path of the field, e.g. `group[1].zones`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A parsed and validated scenario with its identity.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The scenario.
    pub scenario: Scenario,
    /// Name (the `name` field or the file stem).
    pub name: String,
    /// First 12 hex chars of SHA-256 of the file's bytes.
    pub id: String,
    /// The latency model it selects.
    pub latency: LatencyModel,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `"key: "` if line `line` (1-based) of `text` is a `key = value` line.
fn key_on_line(text: &str, line: usize) -> String {
    let l = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    match l.split_once('=') {
        Some((k, _)) if !k.trim().is_empty() && !k.trim_start().starts_with('[') => {
            format!("{}: ", k.trim())
        }
        _ => String::new(),
    }
}

impl Scenario {
    /// Parses and validates scenario text; `origin` names it in errors and
    /// provides the default name.
    pub fn parse(text: &str, origin: &str) -> Result<Loaded, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ScenarioError::Parse {
                origin: origin.to_owned(),
                line,
                column,
                key: key_on_line(text, line),
                message: e.message().replace('\n', " "),
            }
        })?;
        let stem = Path::new(origin)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("scenario");
        let name = scenario.name.clone().unwrap_or_else(|| stem.to_owned());
        let digest = Sha256::digest(text.as_bytes());
        let id: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let latency = scenario.validate(origin)?;
        Ok(Loaded {
            scenario,
            name,
            id,
            latency,
        })
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Total number of nodes.
    pub fn node_count(&self) -> usize {
        // Saturating: counts come from the file and may be absurd.
        self.groups
            .iter()
            .fold(0usize, |n, g| n.saturating_add(g.count))
    }

    /// The `[p2p]` config of `group`: v0.38 defaults, then the scenario's
    /// overrides, then the group's.
    pub fn p2p_config(&self, group: &Group) -> Result<P2pConfig, String> {
        let defaults = toml::Table::try_from(P2pConfig::default()).map_err(|e| e.to_string())?;
        let mut merged = defaults;
        for (k, v) in self.p2p.iter().chain(group.p2p.iter()) {
            merged.insert(k.clone(), v.clone());
        }
        P2pConfig::deserialize(merged).map_err(|e| e.message().replace('\n', " "))
    }

    fn validate(&self, origin: &str) -> Result<LatencyModel, ScenarioError> {
        let bad = |field: String, message: String| ScenarioError::Invalid {
            origin: origin.to_owned(),
            field,
            message,
        };
        if self.duration.0.is_zero() {
            return Err(bad("duration".into(), "must be greater than 0s".into()));
        }
        if self.sample_interval.0.is_zero() {
            return Err(bad(
                "sample_interval".into(),
                "must be greater than 0s".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(bad(
                "jitter".into(),
                format!("{} is not between 0 and 1", self.jitter),
            ));
        }
        let latency = match &self.latency {
            LatencySpec::Named(n) if n == "aws" => LatencyModel::aws(),
            LatencySpec::Named(n) if n == "none" => LatencyModel::single("local", std::time::Duration::ZERO),
            LatencySpec::Named(n) => {
                return Err(bad("latency".into(), format!("unknown model {n:?} (built in: \"aws\", \"none\"; or an inline {{ zones, matrix }})")))
            }
            LatencySpec::Inline { zones, matrix } => {
                LatencyModel::new(zones.clone(), matrix.clone()).map_err(|e| bad("latency".into(), e.to_string()))?
            }
        }
        .with_jitter_fraction(self.jitter);
        if self.groups.is_empty() {
            return Err(bad(
                "group".into(),
                "at least one [[group]] is needed".into(),
            ));
        }
        let total = self.node_count();
        if total > 60_000 {
            return Err(bad(
                "group".into(),
                format!("{total} nodes; at most 60000 are supported"),
            ));
        }
        for k in self.p2p.keys() {
            if !P2P_KEYS.contains(&k.as_str()) {
                return Err(bad(
                    format!("p2p.{k}"),
                    "not a [p2p] key of CometBFT v0.38".into(),
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let f = |s: &str| format!("group[{i}].{s}");
            if g.name.is_empty()
                || !g
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad(
                    f("name"),
                    format!("{:?} must be letters, digits, '_' or '-'", g.name),
                ));
            }
            if !names.insert(g.name.as_str()) {
                return Err(bad(
                    f("name"),
                    format!("{:?} is used by two groups", g.name),
                ));
            }
            if g.count == 0 {
                return Err(bad(f("count"), "must be at least 1".into()));
            }
            for z in &g.zones {
                if latency.zone_index(z).is_none() {
                    return Err(bad(
                        f("zones"),
                        format!("unknown zone {z:?} (known: {})", latency.zones().join(", ")),
                    ));
                }
            }
            for k in g.p2p.keys() {
                if !P2P_KEYS.contains(&k.as_str()) {
                    return Err(bad(
                        f(&format!("p2p.{k}")),
                        "not a [p2p] key of CometBFT v0.38".into(),
                    ));
                }
            }
            let cfg = self.p2p_config(g).map_err(|m| bad(f("p2p"), m))?;
            if g.role == Role::Seed && !cfg.pex {
                return Err(bad(f("role"), "a seed needs pex = true".into()));
            }
            if g.start_at.0 > self.duration.0 {
                return Err(bad(f("start_at"), "is after the end of the run".into()));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            for (field, list) in [
                ("seeds", g.seeds.clone().unwrap_or_default()),
                ("persistent_peers", g.persistent_peers.clone()),
            ] {
                for name in list {
                    if !names.contains(name.as_str()) {
                        return Err(bad(
                            format!("group[{i}].{field}"),
                            format!("no group named {name:?}"),
                        ));
                    }
                }
            }
        }
        let check_sel = |field: String, s: &Selector| -> Result<(), ScenarioError> {
            if let Selector::Group { group, range } = s {
                let Some(g) = self.groups.iter().find(|g| &g.name == group) else {
                    return Err(bad(field, format!("no group named {group:?}")));
                };
                if let Some((_, end)) = range {
                    if *end > g.count {
                        return Err(bad(
                            field,
                            format!("{s} is beyond the {} nodes of {group:?}", g.count),
                        ));
                    }
                }
            }
            Ok(())
        };
        let mut gossip_names = BTreeSet::new();
        for (i, w) in self.gossip.iter().enumerate() {
            let f = |s: &str| format!("gossip[{i}].{s}");
            if !gossip_names.insert(w.name.as_str()) {
                return Err(bad(f("name"), format!("{:?} is used twice", w.name)));
            }
            if w.channel >= 128 {
                return Err(bad(
                    f("channel"),
                    "must be below 128 (CometBFT's packet size limit)".into(),
                ));
            }
            if w.size == 0 || w.size > 4 * 1024 * 1024 {
                return Err(bad(f("size"), "must be between 1 byte and 4 MiB".into()));
            }
            if !(w.rate > 0.0 && w.rate <= 10_000.0) {
                return Err(bad(
                    f("rate"),
                    "must be between 0 and 10000 messages per second".into(),
                ));
            }
            check_sel(f("from"), &w.from)?;
        }
        for (i, e) in self.events.iter().enumerate() {
            let f = |s: &str| format!("event[{i}].{s}");
            if e.at().0 > self.duration.0 {
                return Err(bad(f("at"), "is after the end of the run".into()));
            }
            match e {
                Event::Partition { sides, .. } => {
                    if sides.is_empty() {
                        return Err(bad(f("sides"), "needs at least one side".into()));
                    }
                    for s in sides.iter().flatten() {
                        check_sel(f("sides"), s)?;
                    }
                }
                Event::Churn {
                    until, rate, nodes, ..
                } => {
                    if until.0 < e.at().0 {
                        return Err(bad(f("until"), "is before `at`".into()));
                    }
                    if !(*rate > 0.0 && *rate <= 1000.0) {
                        return Err(bad(
                            f("rate"),
                            "must be between 0 and 1000 per second".into(),
                        ));
                    }
                    check_sel(f("nodes"), nodes)?;
                }
                Event::Crash { nodes, .. }
                | Event::Restart { nodes, .. }
                | Event::Pause { nodes, .. }
                | Event::Resume { nodes, .. }
                | Event::Bandwidth { nodes, .. } => check_sel(f("nodes"), nodes)?,
                Event::Heal { .. } => {}
            }
        }
        for (i, a) in self.asserts.iter().enumerate() {
            let f = |s: &str| format!("assert[{i}].{s}");
            match a {
                Assertion::MinPeers { nodes, .. } => check_sel(f("nodes"), nodes)?,
                Assertion::GossipCoverage {
                    gossip, fraction, ..
                } => {
                    if !gossip_names.contains(gossip.as_str()) {
                        return Err(bad(f("gossip"), format!("no [[gossip]] named {gossip:?}")));
                    }
                    if !(0.0..=1.0).contains(fraction) {
                        return Err(bad(f("fraction"), "must be between 0 and 1".into()));
                    }
                }
                Assertion::Connected { .. } => {}
            }
        }
        adversary::validate(self, &check_sel, &bad)?;
        Ok(latency)
    }
}

#[cfg(test)]
mod tests;
