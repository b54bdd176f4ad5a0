//! Node identity: the long-term Ed25519 [`NodeKey`], its [`NodeId`], and the
//! Go-compatible `node_key.json` file (spec 1.8).
//!
//! `NodeId` = lowercase hex of the first 20 bytes of SHA-256(32-byte public key).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use ed25519_consensus::{SigningKey, VerificationKey};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// Number of bytes in a node ID (a truncated SHA-256).
pub const NODE_ID_LEN: usize = 20;

/// The amino type name CometBFT writes for an Ed25519 private key.
pub const PRIV_KEY_TYPE_ED25519: &str = "tendermint/PrivKeyEd25519";

/// A node's identity: 20 bytes, shown as 40 lowercase hex characters.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId([u8; NODE_ID_LEN]);

impl NodeId {
    /// The ID of an Ed25519 public key: SHA-256(pubkey)[..20].
    pub fn from_public_key(pubkey: &[u8; 32]) -> Self {
        let digest = Sha256::digest(pubkey);
        let mut id = [0u8; NODE_ID_LEN];
        id.copy_from_slice(&digest[..NODE_ID_LEN]);
        NodeId(id)
    }

    /// Wraps raw ID bytes.
    pub const fn from_bytes(bytes: [u8; NODE_ID_LEN]) -> Self {
        NodeId(bytes)
    }

    /// The raw 20 bytes.
    pub const fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// Why a string is not a node ID (Go's `validateID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    /// The ID string is empty.
    #[error("node ID is empty")]
    Empty,
    /// The ID is not hex.
    #[error("node ID {0:?} is not hex")]
    NotHex(String),
    /// The ID decodes to the wrong number of bytes.
    #[error("node ID {id:?} has {len} bytes, want {NODE_ID_LEN}")]
    WrongLength {
        /// The offending string.
        id: String,
        /// Its decoded length in bytes.
        len: usize,
    },
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    /// Parses 40 hex characters. Like Go, upper-case hex is accepted; the ID is
    /// always displayed in lower case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NodeIdError::Empty);
        }
        let bytes = hex::decode(s).map_err(|_| NodeIdError::NotHex(truncate(s)))?;
        let id: [u8; NODE_ID_LEN] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| NodeIdError::WrongLength {
                    id: truncate(s),
                    len: bytes.len(),
                })?;
        Ok(NodeId(id))
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Keeps error messages about peer- or user-supplied strings short.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A node's long-term Ed25519 key.
#[derive(Clone)]
pub struct NodeKey {
    signing: SigningKey,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.node_id())
    }
}

/// Errors loading or saving `node_key.json`.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not the JSON shape CometBFT writes.
    #[error("{path}: not a node_key.json: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    priv_key: TypedValue,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedValue {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

impl NodeKey {
    /// Builds a key from its 32-byte Ed25519 seed (the secret half).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        NodeKey {
            signing: SigningKey::from(seed),
        }
    }

    /// Generates a key from the given RNG (seeded in the simulator).
    pub fn generate<R: RngCore + CryptoRng>(rng: R) -> Self {
        NodeKey {
            signing: SigningKey::new(rng),
        }
    }

    /// Generates a key from the operating system's entropy (production use only).
    #[allow(clippy::disallowed_types)] // allow-ambient: a real node's key must be unpredictable
    pub fn generate_os() -> Self {
        Self::generate(rand_core::OsRng) // allow-ambient: real node keys
    }

    /// The 32-byte seed.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verification_key().to_bytes()
    }

    /// The public key as a verifier.
    pub fn verification_key(&self) -> VerificationKey {
        self.signing.verification_key()
    }

    /// This node's ID.
    pub fn node_id(&self) -> NodeId {
        NodeId::from_public_key(&self.public_key())
    }

    /// Signs `msg` with plain Ed25519.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// The `node_key.json` text exactly as CometBFT writes it (compact JSON).
    pub fn to_json(&self) -> String {
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&self.seed());
        both[32..].copy_from_slice(&self.public_key());
        let file = KeyFile {
            priv_key: TypedValue {
                kind: PRIV_KEY_TYPE_ED25519.to_owned(),
                value: base64::engine::general_purpose::STANDARD.encode(both),
            },
        };
        serde_json::to_string(&file).unwrap_or_default()
    }

    /// Parses `node_key.json` text. `origin` names the source in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, NodeKeyError> {
        let fmt_err = |reason: String| NodeKeyError::Format {
            path: origin.to_owned(),
            reason,
        };
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| fmt_err(describe_json_error(text, &e)))?;
        if file.priv_key.kind != PRIV_KEY_TYPE_ED25519 {
            return Err(fmt_err(format!(
                "priv_key.type is {:?}, only {PRIV_KEY_TYPE_ED25519:?} is supported",
                truncate(&file.priv_key.kind)
            )));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(file.priv_key.value.as_bytes())
            .map_err(|e| fmt_err(format!("priv_key.value is not base64: {e}")))?;
        let both: [u8; 64] = raw
            .as_slice()
            .try_into()
            .map_err(|_| fmt_err(format!("priv_key.value has {} bytes, want 64", raw.len())))?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&both[..32]);
        let key = NodeKey::from_seed(seed);
        if key.public_key()[..] != both[32..] {
            return Err(fmt_err(
                "public half does not match the private seed".into(),
            ));
        }
        Ok(key)
    }

    /// Loads `node_key.json` (first removing temp files of writers killed
    /// mid-save, see [`crate::fsutil::remove_stale_temps`]).
    pub fn load(path: &Path) -> Result<Self, NodeKeyError> {
        crate::fsutil::remove_stale_temps(path);
        let text = std::fs::read_to_string(path).map_err(|source| NodeKeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Writes `node_key.json` atomically with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), NodeKeyError> {
        crate::fsutil::write_atomic(path, self.to_json().as_bytes(), 0o600).map_err(|source| {
            NodeKeyError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// Loads the key at `path`, or generates one from OS entropy and saves it there.
    pub fn load_or_generate(path: &Path) -> Result<Self, NodeKeyError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = Self::generate_os();
        key.save(path)?;
        Ok(key)
    }
}

/// A `node_key.json` decode error prefixed with the field at fault
/// (`priv_key`, `priv_key.type`, `priv_key.value`) when the text is JSON.
fn describe_json_error(text: &str, e: &serde_json::Error) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return e.to_string(); // a syntax error: serde names line and column
    };
    let field = match v.get("priv_key") {
        Some(pk) if pk.is_object() => {
            if pk.get("type").is_some_and(serde_json::Value::is_string) {
                "priv_key.value"
            } else {
                "priv_key.type"
            }
        }
        _ => "priv_key",
    };
    format!("{field}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_field() {
        let err = |t: &str| NodeKey::from_json(t, "k.json").unwrap_err().to_string();
        assert!(
            err("{}").contains("k.json: not a node_key.json: priv_key: missing field `priv_key`"),
            "{}",
            err("{}")
        );
        assert!(err(r#"{"priv_key": 5}"#).contains(": priv_key: invalid type: integer `5`"));
        assert!(err(r#"{"priv_key": {"type": 1, "value": ""}}"#)
            .contains(": priv_key.type: invalid type"));
        assert!(err(r#"{"priv_key": {"type": "x"}}"#)
            .contains(": priv_key.value: missing field `value`"));
        assert!(err("{").contains("EOF while parsing an object at line 1 column 1"));
    }

    #[test]
    fn rfc8032_test1_node_id() {
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let key = NodeKey::from_seed(seed.try_into().unwrap());
        assert_eq!(
            hex::encode(key.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            key.node_id().to_string(),
            "21fe31dfa154a261626bf854046fd2271b7bed4b"
        );
    }

    #[test]
    fn node_id_parse_errors() {
        assert_eq!("".parse::<NodeId>(), Err(NodeIdError::Empty));
        assert!(matches!(
            "zz".parse::<NodeId>(),
            Err(NodeIdError::NotHex(_))
        ));
        assert!(matches!(
            "abcd".parse::<NodeId>(),
            Err(NodeIdError::WrongLength { len: 2, .. })
        ));
        let upper: NodeId = "21FE31DFA154A261626BF854046FD2271B7BED4B".parse().unwrap();
        assert_eq!(
            upper.to_string(),
            "21fe31dfa154a261626bf854046fd2271b7bed4b"
        );
    }

    #[test]
    fn json_rejects_mismatched_halves_and_other_types() {
        let key = NodeKey::from_seed([7; 32]);
        let good = key.to_json();
        assert_eq!(NodeKey::from_json(&good, "x").unwrap().seed(), [7; 32]);
        let other = good.replace(PRIV_KEY_TYPE_ED25519, "tendermint/PrivKeySecp256k1");
        assert!(matches!(
            NodeKey::from_json(&other, "x"),
            Err(NodeKeyError::Format { .. })
        ));
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&[7; 32]);
        let bad = format!(
            r#"{{"priv_key":{{"type":"{PRIV_KEY_TYPE_ED25519}","value":"{}"}}}}"#,
            base64::engine::general_purpose::STANDARD.encode(both)
        );
        let err = NodeKey::from_json(&bad, "x").unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
    }
}
