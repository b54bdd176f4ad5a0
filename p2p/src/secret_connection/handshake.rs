//! The SecretConnection handshake as a sans-IO state machine (spec 1.3).
//!
//! Typestates, each consumed by the next step:
//! 1. [`Handshake::new`] with the node key and a 32-byte ephemeral secret (the
//!    caller draws it from an RNG it was given, see [`draw_ephemeral_secret`]).
//!    Send [`Handshake::ephemeral_message`] (35 bytes, plaintext).
//! 2. [`Handshake::receive_ephemeral`] with the peer's 35 bytes yields
//!    [`KeysAgreed`]: the frame [`Sealer`]/[`Opener`] and an [`AwaitingAuthSig`].
//!    Seal [`AwaitingAuthSig::auth_sig_message`] **alone** into the first frame
//!    and send it (the tendermint-p2p crate reads it with one 103-byte read).
//! 3. Collect the peer's decrypted AuthSig (a length-delimited message, body
//!    at most [`AUTH_SIG_MAX_LEN`]; [`auth_sig_body_len`] says how much to read)
//!    and hand it to [`AwaitingAuthSig::receive_auth_sig`]: the result is the
//!    peer's authenticated [`RemoteIdentity`].
//!
//! [`Handshake::with_crypto`] with [`Crypto::Null`] (simulation only) sends
//! the same messages with the same sizes but replaces X25519 by a hash of the
//! two ephemeral keys, signs nothing (a zero signature) and checks nothing:
//! the peer's ID is taken as claimed.
//!
//! No step reads a clock or does I/O; the async adapter in
//! `secret_connection.rs` drives it and owns the deadline.

use std::io;
use std::time::Duration;

use ed25519_consensus::{Signature, VerificationKey};
use rand_core::{CryptoRng, RngCore};
use tendermint_proto::v0_38::crypto::{public_key::Sum, PublicKey};
use tendermint_proto::v0_38::p2p::AuthSigMessage;
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};

use super::frame::{Crypto, FrameError, Opener, Sealer};
use super::kdf;
use crate::key::{NodeId, NodeKey};
use crate::protoio;

/// Length of the ephemeral key message on the wire.
pub const EPHEMERAL_MSG_LEN: usize = 35;
/// The fixed prefix: varint length 34, `BytesValue.value` tag, length 32.
pub const EPHEMERAL_MSG_PREFIX: [u8; 3] = [0x22, 0x0a, 0x20];
/// Maximum body length of the peer's AuthSig message.
pub const AUTH_SIG_MAX_LEN: usize = 1 << 20;

/// Why a handshake failed. Variants up to `BadSignature` are the peer's fault.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's ephemeral-key message is not exactly `22 0a 20 <32 bytes>`.
    #[error("peer's ephemeral key message is malformed: {0}")]
    BadEphemeralMessage(&'static str),
    /// The peer's ephemeral key has low order: the X25519 output is all zeros.
    #[error("peer sent a low-order ephemeral key (all-zero DH output)")]
    LowOrderEphemeralKey,
    /// The peer sent back our own ephemeral public key.
    #[error("peer reflected our own ephemeral key")]
    ReflectedEphemeralKey,
    /// The peer's AuthSig length prefix exceeds [`AUTH_SIG_MAX_LEN`].
    #[error("peer's AuthSig message declares {len} bytes, the limit is {AUTH_SIG_MAX_LEN}")]
    AuthSigTooLong {
        /// The declared length.
        len: u64,
    },
    /// The peer's AuthSig is not a valid `AuthSigMessage`.
    #[error("peer's AuthSig message is malformed: {0}")]
    MalformedAuthSig(String),
    /// The peer's identity key is not Ed25519 (e.g. secp256k1).
    #[error("peer's identity key type {0} is not supported (only ed25519)")]
    UnsupportedKeyType(&'static str),
    /// The peer's Ed25519 key is not 32 bytes long.
    #[error("peer's ed25519 key has {len} bytes, want 32")]
    BadPublicKeyLength {
        /// Its length.
        len: usize,
    },
    /// The peer's Ed25519 key is not a curve point.
    #[error("peer's ed25519 key is not a valid curve point")]
    InvalidPublicKey,
    /// The peer's signature is not 64 bytes long.
    #[error("peer's signature has {len} bytes, want 64")]
    BadSignatureLength {
        /// Its length.
        len: usize,
    },
    /// The peer's signature over the challenge does not verify.
    #[error("peer's signature over the handshake challenge does not verify")]
    BadSignature,
    /// A frame could not be opened (peer's fault) or sealed.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// The stream failed or ended early.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The handshake did not finish in time.
    #[error("handshake timed out after {0:?}")]
    Timeout(Duration),
}

impl HandshakeError {
    /// True when the peer sent something invalid (as opposed to I/O trouble,
    /// a timeout or local exhaustion).
    pub fn peer_misbehaved(&self) -> bool {
        match self {
            HandshakeError::Frame(e) => {
                matches!(e, FrameError::Decrypt | FrameError::ChunkTooLong { .. })
            }
            HandshakeError::Io(_) | HandshakeError::Timeout(_) => false,
            _ => true,
        }
    }
}

/// Draws a fresh 32-byte ephemeral X25519 secret from `rng`.
pub fn draw_ephemeral_secret<R: RngCore + CryptoRng>(rng: &mut R) -> [u8; 32] {
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    secret
}

/// The wire message carrying `pubkey`: `22 0a 20 <pubkey>`.
pub fn encode_ephemeral_message(pubkey: &[u8; 32]) -> [u8; EPHEMERAL_MSG_LEN] {
    let mut msg = [0u8; EPHEMERAL_MSG_LEN];
    msg[..3].copy_from_slice(&EPHEMERAL_MSG_PREFIX);
    msg[3..].copy_from_slice(pubkey);
    msg
}

/// Extracts the peer's ephemeral public key; anything but the exact 35-byte
/// shape is [`HandshakeError::BadEphemeralMessage`].
pub fn parse_ephemeral_message(msg: &[u8]) -> Result<[u8; 32], HandshakeError> {
    if msg.len() != EPHEMERAL_MSG_LEN {
        return Err(HandshakeError::BadEphemeralMessage(
            "length is not 35 bytes",
        ));
    }
    check_ephemeral_prefix(&msg[..3])?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&msg[3..]);
    Ok(key)
}

/// Checks the first (up to 3) bytes of an ephemeral message, so a reader can
/// reject a bad prefix before waiting for the key.
pub fn check_ephemeral_prefix(prefix: &[u8]) -> Result<(), HandshakeError> {
    if prefix.len() > 3 || EPHEMERAL_MSG_PREFIX[..prefix.len()] != *prefix {
        return Err(HandshakeError::BadEphemeralMessage(
            "prefix is not 22 0a 20 (BytesValue of 32 bytes)",
        ));
    }
    Ok(())
}

/// Step 1: our keys, before the peer's ephemeral key is known.
pub struct Handshake {
    node_key: NodeKey,
    eph_secret: StaticSecret,
    eph_public: [u8; 32],
    crypto: Crypto,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handshake({:?})", self.node_key)
    }
}

/// Step 2's result: the session ciphers and the pending authentication.
#[derive(Debug)]
pub struct KeysAgreed {
    /// Seals our frames (counter 0 first: our AuthSig).
    pub sealer: Sealer,
    /// Opens the peer's frames (counter 0 first: its AuthSig).
    pub opener: Opener,
    /// Our AuthSig to send and the check of the peer's.
    pub auth: AwaitingAuthSig,
}

impl Handshake {
    /// Starts a handshake for `node_key` with the given ephemeral secret.
    pub fn new(node_key: &NodeKey, ephemeral_secret: [u8; 32]) -> Self {
        Self::with_crypto(node_key, ephemeral_secret, Crypto::Real)
    }

    /// Starts a handshake in the given [`Crypto`] mode. In [`Crypto::Null`]
    /// mode the ephemeral "public key" is a hash of the secret (no curve
    /// arithmetic).
    pub fn with_crypto(node_key: &NodeKey, ephemeral_secret: [u8; 32], crypto: Crypto) -> Self {
        let eph_public = match crypto {
            Crypto::Real => XPublicKey::from(&StaticSecret::from(ephemeral_secret)).to_bytes(),
            Crypto::Null => null_hash(b"ephemeral", &ephemeral_secret, &[]),
        };
        Handshake {
            node_key: node_key.clone(),
            eph_secret: StaticSecret::from(ephemeral_secret),
            eph_public,
            crypto,
        }
    }

    /// Our ephemeral X25519 public key.
    pub fn ephemeral_public(&self) -> [u8; 32] {
        self.eph_public
    }

    /// The 35 bytes to send first, in plaintext.
    pub fn ephemeral_message(&self) -> [u8; EPHEMERAL_MSG_LEN] {
        encode_ephemeral_message(&self.eph_public)
    }

    /// Takes the peer's ephemeral message, runs X25519, derives the keys and
    /// the challenge and signs it.
    pub fn receive_ephemeral(self, msg: &[u8]) -> Result<KeysAgreed, HandshakeError> {
        let remote = parse_ephemeral_message(msg)?;
        if remote == self.eph_public {
            return Err(HandshakeError::ReflectedEphemeralKey);
        }
        let (lower, upper) = kdf::sort_ephemeral_keys(self.eph_public, remote);
        let dh = match self.crypto {
            Crypto::Real => {
                let shared = self.eph_secret.diffie_hellman(&XPublicKey::from(remote));
                if !shared.was_contributory() {
                    return Err(HandshakeError::LowOrderEphemeralKey);
                }
                *shared.as_bytes()
            }
            Crypto::Null => null_hash(b"shared", &lower, &upper),
        };
        let keys = kdf::derive_session_keys(&dh, lower == self.eph_public);
        let challenge = kdf::challenge(&lower, &upper, &dh);
        let sig = match self.crypto {
            Crypto::Real => self.node_key.sign(&challenge).to_vec(),
            Crypto::Null => vec![0; 64],
        };
        let msg = AuthSigMessage {
            pub_key: Some(PublicKey {
                sum: Some(Sum::Ed25519(self.node_key.public_key().to_vec())),
            }),
            sig,
        };
        Ok(KeysAgreed {
            sealer: Sealer::for_mode(self.crypto, &keys.send_key),
            opener: Opener::for_mode(self.crypto, &keys.recv_key),
            auth: AwaitingAuthSig {
                challenge,
                auth_sig_message: protoio::to_delimited(&msg),
                crypto: self.crypto,
            },
        })
    }
}

/// The peer's identity, proven by its signature over the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteIdentity {
    /// Its Ed25519 public key.
    pub pubkey: [u8; 32],
    /// Its node ID.
    pub node_id: NodeId,
}

/// Step 3: waiting for the peer's AuthSig.
#[derive(Debug)]
pub struct AwaitingAuthSig {
    challenge: [u8; kdf::CHALLENGE_LEN],
    auth_sig_message: Vec<u8>,
    crypto: Crypto,
}

impl AwaitingAuthSig {
    /// The challenge both sides sign.
    pub fn challenge(&self) -> &[u8; kdf::CHALLENGE_LEN] {
        &self.challenge
    }

    /// Our length-delimited AuthSig (103 bytes); seal it alone in frame 0.
    pub fn auth_sig_message(&self) -> &[u8] {
        &self.auth_sig_message
    }

    /// Verifies the peer's AuthSig body (length prefix already removed).
    pub fn receive_auth_sig(self, body: &[u8]) -> Result<RemoteIdentity, HandshakeError> {
        let (pubkey, sig) = decode_auth_sig(body)?;
        if self.crypto == Crypto::Real {
            let vk =
                VerificationKey::try_from(pubkey).map_err(|_| HandshakeError::InvalidPublicKey)?;
            vk.verify(&Signature::from(sig), &self.challenge)
                .map_err(|_| HandshakeError::BadSignature)?;
        }
        Ok(RemoteIdentity {
            pubkey,
            node_id: NodeId::from_public_key(&pubkey),
        })
    }

    /// Like [`Self::receive_auth_sig`] for exactly one length-delimited message.
    pub fn receive_auth_sig_delimited(self, msg: &[u8]) -> Result<RemoteIdentity, HandshakeError> {
        match auth_sig_body_len(msg)? {
            Some((len, prefix)) if msg.len() - prefix == len => {
                self.receive_auth_sig(&msg[prefix..])
            }
            _ => Err(HandshakeError::MalformedAuthSig(
                "length prefix does not match the message".into(),
            )),
        }
    }
}

/// SHA-256 of a domain label and two inputs: [`Crypto::Null`]'s stand-in
/// for curve arithmetic (distinct per session, but no secrecy).
fn null_hash(label: &[u8], a: &[u8], b: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"cometnet-null-crypto/");
    h.update(label);
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// Reads the AuthSig length prefix at the start of `buf`: `Ok(None)` if the
/// prefix is incomplete, else `(body_len, prefix_len)` with `body_len` within
/// [`AUTH_SIG_MAX_LEN`].
pub fn auth_sig_body_len(buf: &[u8]) -> Result<Option<(usize, usize)>, HandshakeError> {
    match protoio::decode_uvarint(buf) {
        Err(_) => Err(HandshakeError::MalformedAuthSig("bad length prefix".into())),
        Ok(None) => Ok(None),
        Ok(Some((len, _))) if len > AUTH_SIG_MAX_LEN as u64 => {
            Err(HandshakeError::AuthSigTooLong { len })
        }
        Ok(Some((len, n))) => Ok(Some((len as usize, n))),
    }
}

/// Decodes an AuthSig body into (Ed25519 key, signature) with the structural
/// checks of spec 1.3 step 11; the signature itself is not verified here.
pub fn decode_auth_sig(body: &[u8]) -> Result<([u8; 32], [u8; 64]), HandshakeError> {
    let msg: AuthSigMessage =
        protoio::decode(body).map_err(|e| HandshakeError::MalformedAuthSig(e.to_string()))?;
    let key = match msg.pub_key.and_then(|k| k.sum) {
        None => return Err(HandshakeError::MalformedAuthSig("no public key".into())),
        Some(Sum::Secp256k1(_)) => return Err(HandshakeError::UnsupportedKeyType("secp256k1")),
        Some(Sum::Ed25519(key)) => key,
    };
    let pubkey: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| HandshakeError::BadPublicKeyLength { len: key.len() })?;
    let sig: [u8; 64] = msg
        .sig
        .as_slice()
        .try_into()
        .map_err(|_| HandshakeError::BadSignatureLength { len: msg.sig.len() })?;
    Ok((pubkey, sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Handshake, Handshake) {
        (
            Handshake::new(&NodeKey::from_seed([1; 32]), [11; 32]),
            Handshake::new(&NodeKey::from_seed([2; 32]), [22; 32]),
        )
    }

    #[test]
    fn both_sides_agree_and_authenticate() {
        let (a, b) = pair();
        let (ma, mb) = (a.ephemeral_message(), b.ephemeral_message());
        let ka = a.receive_ephemeral(&mb).unwrap();
        let kb = b.receive_ephemeral(&ma).unwrap();
        assert_eq!(ka.auth.challenge(), kb.auth.challenge());
        assert_eq!(ka.auth.auth_sig_message().len(), 103);
        let sig_a = ka.auth.auth_sig_message().to_vec();
        let sig_b = kb.auth.auth_sig_message().to_vec();
        let id_b = ka.auth.receive_auth_sig_delimited(&sig_b).unwrap();
        let id_a = kb.auth.receive_auth_sig_delimited(&sig_a).unwrap();
        assert_eq!(id_a.node_id, NodeKey::from_seed([1; 32]).node_id());
        assert_eq!(id_b.pubkey, NodeKey::from_seed([2; 32]).public_key());
    }

    #[test]
    fn null_mode_agrees_with_the_same_message_sizes() {
        let ka_key = NodeKey::from_seed([1; 32]);
        let a = Handshake::with_crypto(&ka_key, [11; 32], Crypto::Null);
        let b = Handshake::with_crypto(&NodeKey::from_seed([2; 32]), [22; 32], Crypto::Null);
        let (ma, mb) = (a.ephemeral_message(), b.ephemeral_message());
        assert_eq!(ma.len(), EPHEMERAL_MSG_LEN);
        let ka = a.receive_ephemeral(&mb).unwrap();
        let kb = b.receive_ephemeral(&ma).unwrap();
        assert_eq!(ka.auth.challenge(), kb.auth.challenge());
        assert_eq!(ka.auth.auth_sig_message().len(), 103);
        let id_a = kb
            .auth
            .receive_auth_sig_delimited(ka.auth.auth_sig_message())
            .unwrap();
        assert_eq!(id_a.node_id, ka_key.node_id());
        // A real handshake refuses a null AuthSig (zero signature).
        let (c, d) = pair();
        let kc = c.receive_ephemeral(&d.ephemeral_message()).unwrap();
        let null_sig = ka.auth.auth_sig_message().to_vec();
        assert!(matches!(
            kc.auth.receive_auth_sig_delimited(&null_sig),
            Err(HandshakeError::BadSignature)
        ));
    }

    #[test]
    fn prefix_checks() {
        assert!(check_ephemeral_prefix(&[0x22, 0x0a]).is_ok());
        assert!(matches!(
            check_ephemeral_prefix(&[0x23]),
            Err(HandshakeError::BadEphemeralMessage(_))
        ));
    }

    #[test]
    fn reflected_key_is_refused() {
        let (a, _) = pair();
        let own = a.ephemeral_message();
        assert!(matches!(
            a.receive_ephemeral(&own),
            Err(HandshakeError::ReflectedEphemeralKey)
        ));
    }

    #[test]
    fn signature_from_another_session_is_refused() {
        let (a, b) = pair();
        let ka = a.receive_ephemeral(&b.ephemeral_message()).unwrap();
        let (c, d) = (
            Handshake::new(&NodeKey::from_seed([1; 32]), [33; 32]),
            Handshake::new(&NodeKey::from_seed([2; 32]), [44; 32]),
        );
        let kd = d.receive_ephemeral(&c.ephemeral_message()).unwrap();
        let err = ka
            .auth
            .receive_auth_sig_delimited(kd.auth.auth_sig_message())
            .unwrap_err();
        assert!(matches!(err, HandshakeError::BadSignature), "{err}");
        assert!(err.peer_misbehaved());
    }

    #[test]
    fn oversize_auth_sig_prefix_is_refused_early() {
        // 1 MiB + 1 as a varint: 0x81 0x80 0x40.
        assert!(matches!(
            auth_sig_body_len(&[0x81, 0x80, 0x40]),
            Err(HandshakeError::AuthSigTooLong { len: 1_048_577 })
        ));
        assert_eq!(auth_sig_body_len(&[0x80]).unwrap(), None);
        assert_eq!(auth_sig_body_len(&[0x66]).unwrap(), Some((102, 1)));
    }
}
