//! The `[p2p]` section of CometBFT's `config.toml` (v0.38 key names and
//! defaults, spec 2.9), plus the two top-level keys the p2p layer needs
//! (`moniker`, `node_key_file`).
//!
//! Reading accepts a whole CometBFT `config.toml`: other sections belong to
//! CometBFT and are ignored; unknown keys *inside* `[p2p]` are returned as
//! warnings; a bad value is an error naming the file, line, column and key.
//! Writing produces a file CometBFT itself loads (same keys, Go duration text).

mod duration;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

pub use duration::{DurationError, GoDuration};

/// Keys of `[p2p]` in CometBFT v0.38, in the order its template writes them.
pub const P2P_KEYS: &[&str] = &[
    "laddr",
    "external_address",
    "seeds",
    "persistent_peers",
    "addr_book_file",
    "addr_book_strict",
    "max_num_inbound_peers",
    "max_num_outbound_peers",
    "unconditional_peer_ids",
    "persistent_peers_max_dial_period",
    "flush_throttle_timeout",
    "max_packet_msg_payload_size",
    "send_rate",
    "recv_rate",
    "pex",
    "seed_mode",
    "private_peer_ids",
    "allow_duplicate_ip",
    "handshake_timeout",
    "dial_timeout",
];

/// `[p2p]` settings. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct P2pConfig {
    /// Listen address, e.g. `tcp://0.0.0.0:26656`.
    pub laddr: String,
    /// Address advertised to peers (`host:port`); empty = use `laddr`.
    pub external_address: String,
    /// Comma-separated `id@host:port` seed nodes.
    pub seeds: String,
    /// Comma-separated `id@host:port` peers kept connected.
    pub persistent_peers: String,
    /// Address book path, relative to the node home.
    pub addr_book_file: String,
    /// Reject non-routable addresses in the address book.
    pub addr_book_strict: bool,
    /// Inbound peer limit.
    pub max_num_inbound_peers: u32,
    /// Outbound target of the PEX reactor (persistent peers count; unconditional ones don't).
    pub max_num_outbound_peers: u32,
    /// Comma-separated node IDs exempt from the limits.
    pub unconditional_peer_ids: String,
    /// Cap of the PEX redial backoff for persistent peers (0 = no cap).
    pub persistent_peers_max_dial_period: GoDuration,
    /// MConnection flush throttle.
    pub flush_throttle_timeout: GoDuration,
    /// Packet payload size; must be equal network-wide.
    pub max_packet_msg_payload_size: u32,
    /// Per-connection send rate, bytes/s (0 = unlimited).
    pub send_rate: u64,
    /// Per-connection receive rate, bytes/s (0 = unlimited).
    pub recv_rate: u64,
    /// Run the PEX reactor (also advertises channel 0x00).
    pub pex: bool,
    /// Crawl the network and answer PEX requests then disconnect.
    pub seed_mode: bool,
    /// Comma-separated node IDs never gossiped.
    pub private_peer_ids: String,
    /// Allow several peers from one IP address.
    pub allow_duplicate_ip: bool,
    /// Kept for compatibility; CometBFT v0.38's transport ignores it (it uses 3 s).
    pub handshake_timeout: GoDuration,
    /// Kept for compatibility; CometBFT v0.38's transport ignores it (it uses 1 s).
    pub dial_timeout: GoDuration,
}

impl Default for P2pConfig {
    /// CometBFT v0.38.25's `DefaultP2PConfig()`.
    fn default() -> Self {
        P2pConfig {
            laddr: "tcp://0.0.0.0:26656".into(),
            external_address: String::new(),
            seeds: String::new(),
            persistent_peers: String::new(),
            addr_book_file: "config/addrbook.json".into(),
            addr_book_strict: true,
            max_num_inbound_peers: 40,
            max_num_outbound_peers: 10,
            unconditional_peer_ids: String::new(),
            persistent_peers_max_dial_period: GoDuration(Duration::ZERO),
            flush_throttle_timeout: GoDuration(Duration::from_millis(100)),
            max_packet_msg_payload_size: 1024,
            send_rate: 5_120_000,
            recv_rate: 5_120_000,
            pex: true,
            seed_mode: false,
            private_peer_ids: String::new(),
            allow_duplicate_ip: false,
            handshake_timeout: GoDuration(Duration::from_secs(20)),
            dial_timeout: GoDuration(Duration::from_secs(3)),
        }
    }
}

/// The parts of `config.toml` the p2p layer reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NodeConfig {
    /// Human-readable node name (NodeInfo `moniker`).
    pub moniker: String,
    /// Node key path, relative to the node home.
    pub node_key_file: String,
    /// The `[p2p]` section.
    pub p2p: P2pConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            moniker: "cometnet".into(),
            node_key_file: "config/node_key.json".into(),
            p2p: P2pConfig::default(),
        }
    }
}

/// A config file could not be used. Messages are one line and name the place.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bad TOML or a value of the wrong type.
    #[error("{origin}:{line}:{column}: {key}{message}")]
    Parse {
        /// File name (or `<string>`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// `key: ` prefix when the offending key is known, else empty.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value parsed but is not allowed.
    #[error("{origin}: [p2p].{key}: {message}")]
    Invalid {
        /// File name (or `<string>`).
        origin: String,
        /// The offending key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A loaded config and the unknown `[p2p]` keys it contained.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The settings (defaults where the file is silent).
    pub config: NodeConfig,
    /// `"[p2p].name (line N)"` for each key CometBFT v0.38 does not define.
    pub unknown_keys: Vec<String>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn key_on_line(text: &str, line: usize) -> String {
    let l = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    match l.split_once('=') {
        Some((k, _)) if !k.trim().is_empty() && !k.trim_start().starts_with('[') => {
            format!("{}: ", k.trim())
        }
        _ => String::new(),
    }
}

impl NodeConfig {
    /// Parses `config.toml` text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
        let parse_err = |e: toml::de::Error| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ConfigError::Parse {
                origin: origin.to_owned(),
                line,
                column,
                key: key_on_line(text, line),
                message: e.message().replace('\n', " "),
            }
        };
        let doc: toml::Table = toml::from_str(text).map_err(parse_err)?;
        let config: NodeConfig = toml::from_str(text).map_err(parse_err)?;
        let mut unknown_keys = Vec::new();
        if let Some(toml::Value::Table(p2p)) = doc.get("p2p") {
            for k in p2p.keys() {
                if !P2P_KEYS.contains(&k.as_str()) {
                    let line = text
                        .lines()
                        .position(|l| l.trim_start().starts_with(k.as_str()))
                        .map_or(String::new(), |i| format!(" (line {})", i + 1));
                    unknown_keys.push(format!("[p2p].{k}{line}"));
                }
            }
        }
        config.validate(origin)?;
        Ok(Loaded {
            config,
            unknown_keys,
        })
    }

    /// Reads and parses a `config.toml` file.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &'static str, message: &str| ConfigError::Invalid {
            origin: origin.to_owned(),
            key,
            message: message.to_owned(),
        };
        let p = &self.p2p;
        if p.max_packet_msg_payload_size == 0 {
            return Err(bad(
                "max_packet_msg_payload_size",
                "must be at least 1 (CometBFT uses 1024)",
            ));
        }
        if p.seed_mode && !p.pex {
            return Err(bad("seed_mode", "seed mode needs pex = true"));
        }
        if p.laddr.trim().is_empty() {
            return Err(bad(
                "laddr",
                "must not be empty (e.g. \"tcp://0.0.0.0:26656\")",
            ));
        }
        Ok(())
    }

    /// The file text: the same keys, order and value formats as CometBFT's template.
    pub fn to_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let p = &self.p2p;
        let mut o = String::new();
        o.push_str("# CometBFT config.toml written by cometnet. CometBFT v0.38 loads it too:\n");
        o.push_str("# keys not listed here take CometBFT's defaults.\n\n");
        let _ = writeln!(
            o,
            "# A custom human readable name for this node\nmoniker = {}\n",
            q(&self.moniker)
        );
        let _ = writeln!(
            o,
            "# Path to the node key (relative to the home directory)\nnode_key_file = {}\n",
            q(&self.node_key_file)
        );
        o.push_str("#######################################################\n");
        o.push_str("###           P2P Configuration Options             ###\n");
        o.push_str("#######################################################\n[p2p]\n\n");
        let mut kv = |comment: &str, key: &str, value: String| {
            let _ = writeln!(o, "# {comment}\n{key} = {value}\n");
        };
        kv(
            "Address to listen for incoming connections",
            "laddr",
            q(&p.laddr),
        );
        kv(
            "Address to advertise to peers for them to dial (host:port)",
            "external_address",
            q(&p.external_address),
        );
        kv(
            "Comma separated list of seed nodes to connect to",
            "seeds",
            q(&p.seeds),
        );
        kv(
            "Comma separated list of nodes to keep persistent connections to",
            "persistent_peers",
            q(&p.persistent_peers),
        );
        kv(
            "Path to address book",
            "addr_book_file",
            q(&p.addr_book_file),
        );
        kv(
            "Set true for strict address routability rules; false for private or local networks",
            "addr_book_strict",
            p.addr_book_strict.to_string(),
        );
        kv(
            "Maximum number of inbound peers",
            "max_num_inbound_peers",
            p.max_num_inbound_peers.to_string(),
        );
        kv(
            "Maximum number of outbound peers to connect to (persistent peers count towards it)",
            "max_num_outbound_peers",
            p.max_num_outbound_peers.to_string(),
        );
        kv("List of node IDs, to which a connection will be (re)established ignoring any existing limits", "unconditional_peer_ids", q(&p.unconditional_peer_ids));
        kv(
            "Maximum pause when redialing a persistent peer (if zero, exponential backoff is used)",
            "persistent_peers_max_dial_period",
            q(&p.persistent_peers_max_dial_period.to_string()),
        );
        kv(
            "Time to wait before flushing messages out on the connection",
            "flush_throttle_timeout",
            q(&p.flush_throttle_timeout.to_string()),
        );
        kv(
            "Maximum size of a message packet payload, in bytes",
            "max_packet_msg_payload_size",
            p.max_packet_msg_payload_size.to_string(),
        );
        kv(
            "Rate at which packets can be sent, in bytes/second",
            "send_rate",
            p.send_rate.to_string(),
        );
        kv(
            "Rate at which packets can be received, in bytes/second",
            "recv_rate",
            p.recv_rate.to_string(),
        );
        kv(
            "Set true to enable the peer-exchange reactor",
            "pex",
            p.pex.to_string(),
        );
        kv(
            "Seed mode: crawl the network; answer address requests, then disconnect",
            "seed_mode",
            p.seed_mode.to_string(),
        );
        kv("Comma separated list of peer IDs to keep private (will not be gossiped to other peers)", "private_peer_ids", q(&p.private_peer_ids));
        kv(
            "Toggle to disable guard against peers connecting from the same ip",
            "allow_duplicate_ip",
            p.allow_duplicate_ip.to_string(),
        );
        kv(
            "Peer connection configuration (ignored by CometBFT v0.38's transport)",
            "handshake_timeout",
            q(&p.handshake_timeout.to_string()),
        );
        kv(
            "Dial timeout (ignored by CometBFT v0.38's transport, which uses 1s)",
            "dial_timeout",
            q(&p.dial_timeout.to_string()),
        );
        o
    }

    /// Writes [`Self::to_toml`] to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        crate::fsutil::write_atomic(path, self.to_toml().as_bytes(), 0o644).map_err(|source| {
            ConfigError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests;
