//! Key schedule of the SecretConnection handshake (spec 1.3 steps 3-8).
//!
//! - [`sort_ephemeral_keys`]: the lexicographic order that decides roles.
//! - [`hkdf_okm`] / [`derive_session_keys`]: HKDF-SHA256 over the raw X25519
//!   output (no salt, info [`HKDF_INFO`], 96 bytes) split into the receive and
//!   send AEAD keys by `loc_is_least`.
//! - [`challenge`]: the Merlin transcript over both ephemeral keys and the DH
//!   output; its 32-byte output is what each side signs.
//!
//! Everything here is a pure function of its inputs.

use hkdf::Hkdf;
use merlin::Transcript;
use sha2::Sha256;
use zeroize::Zeroizing;

/// HKDF `info` string.
pub const HKDF_INFO: &[u8] = b"TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN";
/// Merlin transcript (protocol) label.
pub const TRANSCRIPT_LABEL: &[u8] = b"TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH";
/// Transcript label of the lexicographically smaller ephemeral key.
pub const LABEL_LOWER_KEY: &[u8] = b"EPHEMERAL_LOWER_PUBLIC_KEY";
/// Transcript label of the larger ephemeral key.
pub const LABEL_UPPER_KEY: &[u8] = b"EPHEMERAL_UPPER_PUBLIC_KEY";
/// Transcript label of the X25519 output.
pub const LABEL_DH_SECRET: &[u8] = b"DH_SECRET";
/// Transcript label of the challenge extraction.
pub const LABEL_CHALLENGE: &[u8] = b"SECRET_CONNECTION_MAC";
/// Length of the HKDF output (two keys plus the obsolete challenge).
pub const OKM_LEN: usize = 96;
/// Length of the signed challenge.
pub const CHALLENGE_LEN: usize = 32;

/// The two AEAD keys of one side of a connection. Zeroed on drop.
pub struct SessionKeys {
    /// Key that opens frames the peer sends us.
    pub recv_key: Zeroizing<[u8; 32]>,
    /// Key that seals frames we send.
    pub send_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

/// Returns `(lower, upper)`: the two keys in unsigned lexicographic order.
pub fn sort_ephemeral_keys(a: [u8; 32], b: [u8; 32]) -> ([u8; 32], [u8; 32]) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// HKDF-SHA256(ikm = `dh_secret`, salt = none, info = [`HKDF_INFO`]), 96 bytes.
pub fn hkdf_okm(dh_secret: &[u8; 32]) -> Zeroizing<[u8; OKM_LEN]> {
    let mut okm = Zeroizing::new([0u8; OKM_LEN]);
    // `expand` fails only if the output exceeds 255 * 32 bytes; 96 never does.
    let _ = Hkdf::<Sha256>::new(None, dh_secret).expand(HKDF_INFO, &mut okm[..]);
    okm
}

/// Splits the HKDF output into this side's keys. When the local ephemeral key
/// sorts first (`loc_is_least`) it receives with `okm[0..32]` and sends with
/// `okm[32..64]`; otherwise the other way round.
pub fn derive_session_keys(dh_secret: &[u8; 32], loc_is_least: bool) -> SessionKeys {
    let okm = hkdf_okm(dh_secret);
    let mut first = Zeroizing::new([0u8; 32]);
    let mut second = Zeroizing::new([0u8; 32]);
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..64]);
    if loc_is_least {
        SessionKeys {
            recv_key: first,
            send_key: second,
        }
    } else {
        SessionKeys {
            recv_key: second,
            send_key: first,
        }
    }
}

/// The Merlin transcript after the lower key, upper key and DH output were
/// appended (spec 1.3 steps 4 and 6).
pub fn transcript(lower: &[u8; 32], upper: &[u8; 32], dh_secret: &[u8; 32]) -> Transcript {
    let mut t = Transcript::new(TRANSCRIPT_LABEL);
    t.append_message(LABEL_LOWER_KEY, lower);
    t.append_message(LABEL_UPPER_KEY, upper);
    t.append_message(LABEL_DH_SECRET, dh_secret);
    t
}

/// The 32-byte challenge both sides sign (spec 1.3 step 8).
pub fn challenge(lower: &[u8; 32], upper: &[u8; 32], dh_secret: &[u8; 32]) -> [u8; CHALLENGE_LEN] {
    let mut out = [0u8; CHALLENGE_LEN];
    transcript(lower, upper, dh_secret).challenge_bytes(LABEL_CHALLENGE, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn merlin_published_vector() {
        let mut t = Transcript::new(b"test protocol");
        t.append_message(b"some label", b"some data");
        let mut out = [0u8; 32];
        t.challenge_bytes(b"challenge", &mut out);
        assert_eq!(
            hex::encode(out),
            "d5a21972d0d5fe320c0d263fac7fffb8145aa640af6e9bca177c03c7efcf0615"
        );
    }

    #[test]
    fn golden_first_line_both_orders() {
        let dh = h32("9fe4a5a73df12dbd8659b1d9280873fe993caefec6b0ebc2686dd65027148e03");
        let least = derive_session_keys(&dh, true);
        assert_eq!(
            hex::encode(*least.recv_key),
            "80a83ad6afcb6f8175192e41973aed31dd75e3c106f813d986d9567a4865eb2f"
        );
        assert_eq!(
            hex::encode(*least.send_key),
            "96362a04f628a0666d9866147326898bb0847b8db8680263ad19e6336d4eed9e"
        );
        let other = derive_session_keys(&dh, false);
        assert_eq!(*other.send_key, *least.recv_key);
        assert_eq!(*other.recv_key, *least.send_key);
    }

    #[test]
    fn sort_is_unsigned_lexicographic() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[0] = 0x7f;
        b[0] = 0x80;
        assert_eq!(sort_ephemeral_keys(b, a), (a, b));
        assert_eq!(sort_ephemeral_keys(a, b), (a, b));
    }
}
