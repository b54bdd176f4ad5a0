//! A node's home directory, laid out like CometBFT's so that the same directory
//! works for both:
//!
//! ```text
//! DIR/config/config.toml     CometBFT's config (we read `moniker`, `node_key_file`, `[p2p]`)
//! DIR/config/node_key.json   the node key (CometBFT's format, mode 0600)
//! DIR/config/cometnet.toml   network = "<chain ID>"   (ours; CometBFT ignores it)
//! DIR/config/addrbook.json   `[p2p].addr_book_file` (Go's format)
//! ```
//!
//! CometBFT takes the chain ID from `config/genesis.json`, a file that must
//! also hold validators and consensus parameters; writing a stub would make
//! CometBFT refuse to start from this home. So `node init` writes the chain ID
//! to `config/cometnet.toml` instead, and `node start` reads it from there, or
//! from `genesis.json`'s `chain_id` when the home is a real CometBFT home.

use std::path::{Path, PathBuf};

use p2p::config::NodeConfig;
use p2p::node_info::NodeInfo;
use p2p::NodeKey;

/// Longest chain ID CometBFT accepts (`types.MaxChainIDLen`).
pub const MAX_CHAIN_ID_LEN: usize = 50;

/// A setup step failed: bad input (a flag or a file's content) or I/O.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The user's input is wrong; the message names the flag or file.
    #[error("{0}")]
    Input(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

/// The paths of a node home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// The home directory.
    pub dir: PathBuf,
}

/// `config/cometnet.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The chain ID (NodeInfo `network`).
    pub network: String,
}

#[derive(serde::Deserialize)]
struct Genesis {
    chain_id: String,
}

/// What `init` did.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The node key (loaded if one existed, else new).
    pub key: NodeKey,
    /// True if the key was generated now.
    pub key_created: bool,
}

/// Checks a chain ID as CometBFT's genesis validation does (non-empty, ≤ 50 bytes).
pub fn check_network(network: &str, origin: &str) -> Result<(), SetupError> {
    if network.is_empty() || network.len() > MAX_CHAIN_ID_LEN {
        return Err(SetupError::Input(format!(
            "{origin}: network (chain ID) {network:?} must have 1 to {MAX_CHAIN_ID_LEN} bytes"
        )));
    }
    Ok(())
}

/// Checks that `moniker` and `listen_addr` make a valid NodeInfo.
pub fn check_node_info(moniker: &str, listen_addr: &str, origin: &str) -> Result<(), SetupError> {
    let probe = NodeKey::from_seed([0; 32]).node_id();
    NodeInfo::builder(probe, "probe", moniker)
        .listen_addr(listen_addr)
        .build()
        .validate()
        .map_err(|e| SetupError::Input(format!("{origin}: {e}")))
}

impl Home {
    /// The home at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Home { dir: dir.into() }
    }

    /// `config/config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config").join("config.toml")
    }

    /// `config/cometnet.toml`.
    pub fn settings_file(&self) -> PathBuf {
        self.dir.join("config").join("cometnet.toml")
    }

    /// `config/genesis.json` (read only).
    pub fn genesis_file(&self) -> PathBuf {
        self.dir.join("config").join("genesis.json")
    }

    /// A path from the config (`node_key_file`, `addr_book_file`): relative
    /// paths are relative to the home, as in CometBFT.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// The chain ID: `config/cometnet.toml`'s `network`, else `config/genesis.json`'s
    /// `chain_id`, else `None`.
    pub fn read_network(&self) -> Result<Option<String>, SetupError> {
        let path = self.settings_file();
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let s: Settings = toml::from_str(&text).map_err(|e| {
                    SetupError::Input(format!("{shown}: {}", e.message().replace('\n', " ")))
                })?;
                check_network(&s.network, &shown)?;
                return Ok(Some(s.network));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SetupError::Io(format!("{shown}: {e}"))),
        }
        let gpath = self.genesis_file();
        let gshown = gpath.display().to_string();
        match std::fs::read(&gpath) {
            Ok(bytes) => {
                let g: Genesis = serde_json::from_slice(&bytes)
                    .map_err(|e| SetupError::Input(format!("{gshown}: {e}")))?;
                check_network(&g.chain_id, &gshown)?;
                Ok(Some(g.chain_id))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SetupError::Io(format!("{gshown}: {e}"))),
        }
    }

    /// Writes a home: `config.toml` from `config`, `cometnet.toml` with
    /// `network`, and a node key unless one exists (it is kept: an identity is
    /// never replaced, even with `force`). Refuses to replace an existing
    /// `config.toml` unless `force`. Every input is checked before anything is
    /// written; if a write fails, files created by this call are removed.
    pub fn init(
        &self,
        config: &NodeConfig,
        network: &str,
        force: bool,
    ) -> Result<Initialized, SetupError> {
        check_network(network, "--network")?;
        config
            .validate("config")
            .map_err(|e| SetupError::Input(e.to_string()))?;
        crate::real::parse_laddr(&config.p2p.laddr)
            .map_err(|e| SetupError::Input(format!("--laddr: {e}")))?;
        let advertised = if config.p2p.external_address.is_empty() {
            &config.p2p.laddr
        } else {
            &config.p2p.external_address
        };
        check_node_info(&config.moniker, advertised, "--moniker/--laddr")?;
        let cfg_path = self.config_file();
        if cfg_path.exists() && !force {
            return Err(SetupError::Input(format!(
                "{}: already exists (use --force to replace it)",
                cfg_path.display()
            )));
        }
        let key_path = self.path(&config.node_key_file);
        let existing = if key_path.exists() {
            Some(NodeKey::load(&key_path).map_err(|e| SetupError::Input(e.to_string()))?)
        } else {
            None
        };
        let mut created: Vec<PathBuf> = Vec::new();
        let mut created_dirs: Vec<PathBuf> = Vec::new();
        let result = self.write_files(
            config,
            network,
            &key_path,
            existing,
            &mut created,
            &mut created_dirs,
        );
        if result.is_err() {
            for p in created.iter().rev() {
                let _ = std::fs::remove_file(p);
            }
            // Deepest first; `remove_dir` only removes empty directories.
            for d in created_dirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
        result
    }

    fn write_files(
        &self,
        config: &NodeConfig,
        network: &str,
        key_path: &Path,
        existing: Option<NodeKey>,
        created: &mut Vec<PathBuf>,
        created_dirs: &mut Vec<PathBuf>,
    ) -> Result<Initialized, SetupError> {
        let io =
            |p: &Path, e: &dyn std::fmt::Display| SetupError::Io(format!("{}: {e}", p.display()));
        for p in [self.config_file(), key_path.to_path_buf()] {
            if let Some(d) = p.parent() {
                // Remember which directories this call creates (outermost first).
                let mut missing: Vec<PathBuf> = d
                    .ancestors()
                    .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
                    .map(Path::to_path_buf)
                    .collect();
                missing.reverse();
                let made = std::fs::create_dir_all(d);
                created_dirs.extend(missing.into_iter().filter(|a| a.is_dir()));
                made.map_err(|e| io(d, &e))?;
            }
        }
        let (key, key_created) = match existing {
            Some(k) => (k, false),
            None => {
                let k = NodeKey::generate_os();
                k.save(key_path)
                    .map_err(|e| SetupError::Io(e.to_string()))?;
                created.push(key_path.to_path_buf());
                (k, true)
            }
        };
        for (path, text) in [
            (self.config_file(), config.to_toml()),
            (self.settings_file(), settings_toml(network)),
        ] {
            let fresh = !path.exists();
            p2p::fsutil::write_atomic(&path, text.as_bytes(), 0o644).map_err(|e| io(&path, &e))?;
            if fresh {
                created.push(path);
            }
        }
        Ok(Initialized { key, key_created })
    }
}

/// The text of `config/cometnet.toml`.
pub fn settings_toml(network: &str) -> String {
    let q = toml::Value::String(network.to_owned()).to_string();
    format!(
        "# cometnet settings that CometBFT keeps elsewhere (the chain ID lives in\n\
         # genesis.json there; cometnet does not write one). CometBFT ignores this file.\n\n\
         # Chain ID: the NodeInfo `network` peers must share.\nnetwork = {q}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(moniker: &str, laddr: &str) -> NodeConfig {
        let mut c = NodeConfig {
            moniker: moniker.into(),
            ..NodeConfig::default()
        };
        c.p2p.laddr = laddr.into();
        c
    }

    #[test]
    fn init_writes_three_files_and_keeps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("n"));
        let first = home
            .init(&config("a", "tcp://127.0.0.1:1"), "chain-x", false)
            .unwrap();
        assert!(first.key_created);
        assert_eq!(home.read_network().unwrap().as_deref(), Some("chain-x"));
        let loaded = NodeConfig::load(&home.config_file()).unwrap();
        assert_eq!(loaded.config.moniker, "a");
        assert!(loaded.unknown_keys.is_empty());
        let err = home
            .init(&config("b", "tcp://127.0.0.1:1"), "chain-y", false)
            .unwrap_err();
        assert!(
            matches!(err, SetupError::Input(ref m) if m.contains("already exists")),
            "{err}"
        );
        let again = home
            .init(&config("b", "tcp://127.0.0.1:1"), "chain-y", true)
            .unwrap();
        assert!(!again.key_created);
        assert_eq!(again.key.node_id(), first.key.node_id());
        assert_eq!(home.read_network().unwrap().as_deref(), Some("chain-y"));
    }

    #[test]
    fn bad_input_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("n"));
        for (c, net) in [
            (config("a", "tcp://localhost:1"), "c"),
            (config("", "tcp://127.0.0.1:1"), "c"),
            (config("a", "tcp://127.0.0.1:1"), ""),
        ] {
            assert!(matches!(
                home.init(&c, net, false),
                Err(SetupError::Input(_))
            ));
        }
        assert!(!home.dir.exists());
    }

    #[test]
    fn a_failure_half_way_leaves_no_half_made_home() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("new/home"));
        // The key's directory cannot be made (a file sits at its parent), after
        // `config/` was created: everything this call made must go again.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, b"x").unwrap();
        let mut c = config("a", "tcp://127.0.0.1:1");
        c.node_key_file = blocker.join("keys/node_key.json").display().to_string();
        let err = home.init(&c, "chain", false).unwrap_err();
        assert!(
            matches!(err, SetupError::Io(ref m) if m.contains("blocker")),
            "{err}"
        );
        assert!(!dir.path().join("new").exists());
        // The same when the last write fails (a directory sits at cometnet.toml).
        std::fs::create_dir_all(home.settings_file()).unwrap();
        let err = home
            .init(&config("a", "tcp://127.0.0.1:1"), "chain", false)
            .unwrap_err();
        assert!(
            matches!(err, SetupError::Io(ref m) if m.contains("cometnet.toml")),
            "{err}"
        );
        let mut left: Vec<_> = std::fs::read_dir(home.dir.join("config"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["cometnet.toml"]);
    }

    #[test]
    fn network_falls_back_to_genesis_chain_id() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        assert_eq!(home.read_network().unwrap(), None);
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            home.genesis_file(),
            r#"{"chain_id":"cosmoshub-4","validators":[]}"#,
        )
        .unwrap();
        assert_eq!(home.read_network().unwrap().as_deref(), Some("cosmoshub-4"));
        std::fs::write(home.settings_file(), "network = 5\n").unwrap();
        let err = home.read_network().unwrap_err();
        assert!(
            matches!(err, SetupError::Input(ref m) if m.contains("cometnet.toml")),
            "{err}"
        );
    }
}
