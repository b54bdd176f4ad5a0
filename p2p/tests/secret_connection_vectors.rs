//! SecretConnection against known answers and hostile input:
//! - the 32 upstream HKDF golden lines and the Merlin sanity vector;
//! - the derived end-to-end vector (`derived-secretconnection-handshake.json`);
//! - the upstream fuzz seed corpus, round-tripped through an in-memory pair;
//! - bad input with exact error variants, and proptests that nothing panics.

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use p2p::secret_connection::frame::{self, FrameError, Opener, Sealer, SEALED_FRAME_SIZE};
use p2p::secret_connection::handshake::{self, Handshake, HandshakeError, KeysAgreed};
use p2p::secret_connection::{kdf, SecretConnection};
use p2p::NodeKey;
use proptest::prelude::*;
use prost::Message;
use serde_json::Value;
use tendermint_proto::v0_38::crypto::{public_key::Sum, PublicKey};
use tendermint_proto::v0_38::p2p::AuthSigMessage;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/");

fn read_vector(name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}{name}")).unwrap()
}

fn derived() -> Value {
    serde_json::from_str(&read_vector("derived-secretconnection-handshake.json")).unwrap()
}

fn hx(v: &Value, path: &str) -> Vec<u8> {
    let mut cur = v;
    for part in path.split('/') {
        cur = match part.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[part],
        };
    }
    hex::decode(
        cur.as_str()
            .unwrap_or_else(|| panic!("{path} is not a string")),
    )
    .unwrap()
}

fn a32(v: &[u8]) -> [u8; 32] {
    v.try_into().unwrap()
}

#[test]
fn hkdf_golden_file_all_32_lines() {
    let text = read_vector("TestDeriveSecretsAndChallengeGolden.golden");
    let (mut trues, mut falses) = (0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 5, "{line}");
        let dh = a32(&hex::decode(f[0]).unwrap());
        let loc_is_least = match f[1] {
            "true" => {
                trues += 1;
                true
            }
            "false" => {
                falses += 1;
                false
            }
            other => panic!("bad bool {other}"),
        };
        let keys = kdf::derive_session_keys(&dh, loc_is_least);
        assert_eq!(hex::encode(*keys.recv_key), f[2]);
        assert_eq!(hex::encode(*keys.send_key), f[3]);
        assert_eq!(hex::encode(&kdf::hkdf_okm(&dh)[64..]), f[4]);
    }
    assert_eq!((trues, falses), (17, 15));
}

#[test]
fn merlin_sanity_vector() {
    let mut t = merlin::Transcript::new(b"test protocol");
    t.append_message(b"some label", b"some data");
    let mut out = [0u8; 32];
    t.challenge_bytes(b"challenge", &mut out);
    assert_eq!(
        hex::encode(out),
        "d5a21972d0d5fe320c0d263fac7fffb8145aa640af6e9bca177c03c7efcf0615"
    );
}

fn node_key(v: &Value, who: &str) -> NodeKey {
    NodeKey::from_seed(a32(&hx(v, &format!("identity/{who}/ed25519_seed"))))
}

/// A's and B's handshakes after the key exchange, from the vector's keys.
fn agreed(v: &Value) -> (KeysAgreed, KeysAgreed) {
    let ha = Handshake::new(&node_key(v, "A"), a32(&hx(v, "ephemeral/A_priv")));
    let hb = Handshake::new(&node_key(v, "B"), a32(&hx(v, "ephemeral/B_priv")));
    let (ma, mb) = (ha.ephemeral_message(), hb.ephemeral_message());
    (
        ha.receive_ephemeral(&mb).unwrap(),
        hb.receive_ephemeral(&ma).unwrap(),
    )
}

#[test]
fn derived_identities_and_node_ids() {
    let v = derived();
    for who in ["A", "B"] {
        let key = node_key(&v, who);
        assert_eq!(
            key.public_key().to_vec(),
            hx(&v, &format!("identity/{who}/ed25519_pub"))
        );
        assert_eq!(
            key.node_id().to_string(),
            v["identity"][who]["node_id"].as_str().unwrap()
        );
    }
    let ex = &v["node_key_example"];
    let key = NodeKey::from_json(ex["node_key_json"].as_str().unwrap(), "vector").unwrap();
    assert_eq!(key.public_key().to_vec(), hx(ex, "ed25519_pub_hex"));
    assert_eq!(key.node_id().to_string(), ex["node_id"].as_str().unwrap());
    assert_eq!(key.to_json(), ex["node_key_json"].as_str().unwrap());
}

#[test]
fn derived_ephemeral_messages() {
    let v = derived();
    for who in ["A", "B"] {
        let hs = Handshake::new(
            &node_key(&v, who),
            a32(&hx(&v, &format!("ephemeral/{who}_priv"))),
        );
        let public = hx(&v, &format!("ephemeral/{who}_pub"));
        let wire = hx(&v, &format!("ephemeral/{who}_wire_msg"));
        assert_eq!(hs.ephemeral_public().to_vec(), public);
        assert_eq!(hs.ephemeral_message().to_vec(), wire);
        assert_eq!(
            handshake::parse_ephemeral_message(&wire).unwrap().to_vec(),
            public
        );
    }
}

#[test]
fn derived_key_schedule() {
    let v = derived();
    let (a_pub, b_pub) = (
        a32(&hx(&v, "ephemeral/A_pub")),
        a32(&hx(&v, "ephemeral/B_pub")),
    );
    let (lower, upper) = kdf::sort_ephemeral_keys(b_pub, a_pub);
    assert_eq!(lower.to_vec(), hx(&v, "handshake/lower"));
    assert_eq!(upper.to_vec(), hx(&v, "handshake/upper"));
    assert_eq!(v["handshake"]["A_is_lower"], Value::Bool(lower == a_pub));

    let a_sec = x25519_dalek::StaticSecret::from(a32(&hx(&v, "ephemeral/A_priv")));
    let b_sec = x25519_dalek::StaticSecret::from(a32(&hx(&v, "ephemeral/B_priv")));
    let dh = *a_sec.diffie_hellman(&b_pub.into()).as_bytes();
    assert_eq!(dh, *b_sec.diffie_hellman(&a_pub.into()).as_bytes());
    assert_eq!(dh.to_vec(), hx(&v, "handshake/dh_secret"));
    assert_eq!(kdf::hkdf_okm(&dh).to_vec(), hx(&v, "handshake/hkdf_okm_96"));

    let ka = kdf::derive_session_keys(&dh, lower == a_pub);
    let kb = kdf::derive_session_keys(&dh, lower == b_pub);
    assert_eq!(ka.recv_key.to_vec(), hx(&v, "handshake/A_recv_key"));
    assert_eq!(ka.send_key.to_vec(), hx(&v, "handshake/A_send_key"));
    assert_eq!(kb.recv_key.to_vec(), hx(&v, "handshake/B_recv_key"));
    assert_eq!(kb.send_key.to_vec(), hx(&v, "handshake/B_send_key"));

    let challenge = kdf::challenge(&lower, &upper, &dh);
    assert_eq!(challenge.to_vec(), hx(&v, "handshake/merlin_challenge"));
    for who in ["A", "B"] {
        assert_eq!(
            node_key(&v, who).sign(&challenge).to_vec(),
            hx(&v, &format!("handshake/{who}_signature"))
        );
    }
}

#[test]
fn derived_handshake_messages_and_frames() {
    let v = derived();
    let (mut a, mut b) = agreed(&v);
    let challenge = hx(&v, "handshake/merlin_challenge");
    assert_eq!(a.auth.challenge().to_vec(), challenge);
    assert_eq!(b.auth.challenge().to_vec(), challenge);
    let a_auth = hx(&v, "handshake/A_authsig_delimited");
    let b_auth = hx(&v, "handshake/B_authsig_delimited");
    assert_eq!(a.auth.auth_sig_message(), &a_auth[..]);
    assert_eq!(b.auth.auth_sig_message(), &b_auth[..]);
    assert_eq!(a_auth.len(), 103);

    // A's first two frames, byte-exact with zero padding; B opens them.
    let node_info = hx(&v, "A_nodeinfo_delimited");
    for (i, payload) in [&a_auth, &node_info].into_iter().enumerate() {
        let f = &v["frames_A_to_B"][i];
        assert_eq!(f["nonce_counter"].as_u64(), Some(i as u64));
        let plain = hx(f, "plaintext_1028");
        assert_eq!(plain.len(), frame::TOTAL_FRAME_SIZE);
        assert_eq!(plain[..4], (payload.len() as u32).to_le_bytes());
        assert_eq!(&plain[4..4 + payload.len()], &payload[..]);
        assert!(plain[4 + payload.len()..].iter().all(|&x| x == 0));

        assert_eq!(a.sealer.counter(), i as u64);
        let mut sealed = [0u8; SEALED_FRAME_SIZE];
        a.sealer.seal(payload, &mut sealed).unwrap();
        assert_eq!(sealed.to_vec(), hx(f, "sealed_1044"), "frame {i}");
        assert_eq!(b.opener.open(&mut sealed).unwrap(), &payload[..]);
    }

    let id_b = a.auth.receive_auth_sig_delimited(&b_auth).unwrap();
    let id_a = b.auth.receive_auth_sig_delimited(&a_auth).unwrap();
    assert_eq!(
        id_a.node_id.to_string(),
        v["identity"]["A"]["node_id"].as_str().unwrap()
    );
    assert_eq!(
        id_b.node_id.to_string(),
        v["identity"]["B"]["node_id"].as_str().unwrap()
    );
    assert_eq!(id_b.pubkey.to_vec(), hx(&v, "identity/B/ed25519_pub"));
}

/// Decodes the Go string literal in a "go test fuzz v1" `[]byte("...")` line.
fn parse_go_fuzz_file(text: &str) -> Vec<u8> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("go test fuzz v1"));
    let line = lines.next().unwrap();
    assert_eq!(lines.next(), None);
    let lit = line
        .strip_prefix("[]byte(\"")
        .and_then(|s| s.strip_suffix("\")"))
        .unwrap_or_else(|| panic!("not a []byte literal: {line}"));
    let mut out = Vec::new();
    let mut chars = lit.chars();
    let hex_digits = |chars: &mut std::str::Chars<'_>, n: usize| -> u32 {
        let s: String = chars.take(n).collect();
        u32::from_str_radix(&s, 16).unwrap()
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().unwrap();
        match e {
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(11),
            '\\' | '"' | '\'' => out.push(e as u8),
            'x' => out.push(hex_digits(&mut chars, 2) as u8),
            'u' | 'U' => {
                let cp = hex_digits(&mut chars, if e == 'u' { 4 } else { 8 });
                let mut buf = [0u8; 4];
                let ch = char::from_u32(cp).unwrap();
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&format!("{e}{rest}"), 8).unwrap());
            }
            other => panic!("unknown escape \\{other}"),
        }
    }
    out
}

#[test]
fn go_literal_parser_handles_escapes() {
    let text = "go test fuzz v1\n[]byte(\"a\\\"b\\\\\\x41\\101\\n\\u00e9\")";
    assert_eq!(parse_go_fuzz_file(text), b"a\"b\\AA\n\xc3\xa9");
}

type Duplex = Compat<tokio::io::DuplexStream>;

async fn memory_pair() -> (SecretConnection<Duplex>, SecretConnection<Duplex>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (ra, rb) = futures::join!(
        p2p::secret_connection::handshake(a.compat(), &ka, [10; 32]),
        p2p::secret_connection::handshake(b.compat(), &kb, [20; 32]),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.remote_id(), kb.node_id());
    assert_eq!(rb.remote_id(), ka.node_id());
    (ra, rb)
}

#[tokio::test]
async fn fuzz_seed_corpus_round_trips() {
    let mut entries: Vec<_> = std::fs::read_dir(format!("{VECTORS}FuzzP2PSecretConnection"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 7);
    let inputs: Vec<Vec<u8>> = entries
        .iter()
        .map(|p| parse_go_fuzz_file(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let mut expected: Vec<Vec<u8>> = vec![
        b" ".to_vec(),
        br#"{"a": 12, "tsp": 999, k: "blue"}"#.to_vec(),
        b"\"\"".to_vec(),
        b"9999.999".to_vec(),
        b"".to_vec(),
        b"Tendermint fuzzing".to_vec(),
    ];
    let spaces = inputs
        .iter()
        .find(|i| i.len() == 47)
        .expect("47-byte input");
    assert_eq!(spaces.iter().filter(|&&b| b == b'a').count(), 1);
    assert!(spaces.iter().all(|&b| b == b' ' || b == b'a'));
    expected.push(spaces.clone());
    let (mut sorted_in, mut sorted_exp) = (inputs.clone(), expected);
    sorted_in.sort();
    sorted_exp.sort();
    assert_eq!(sorted_in, sorted_exp);

    let (mut a, mut b) = memory_pair().await;
    let mut rounds = 0;
    for input in inputs.iter().filter(|i| !i.is_empty()) {
        a.write_all(input).await.unwrap();
        a.flush().await.unwrap();
        let mut got = vec![0u8; input.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, input);
        // And back the other way.
        b.write_all(input).await.unwrap();
        b.flush().await.unwrap();
        a.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, input);
        rounds += 1;
    }
    assert_eq!(rounds, 6);
}

// ---- Bad input: exact variants, no panic. ----

#[test]
fn ephemeral_message_of_wrong_shape_is_refused() {
    let good = handshake::encode_ephemeral_message(&[9; 32]);
    let mut bad_prefix = good;
    bad_prefix[2] = 0x21;
    let mut longer = good.to_vec();
    longer.push(0);
    for msg in [
        &[][..],
        &good[..34],
        &longer[..],
        &bad_prefix[..],
        &good[1..],
        &[0x23, 0x0a, 0x21, 0][..],
    ] {
        let hs = Handshake::new(&NodeKey::from_seed([1; 32]), [2; 32]);
        assert!(
            matches!(
                hs.receive_ephemeral(msg),
                Err(HandshakeError::BadEphemeralMessage(_))
            ),
            "{}",
            hex::encode(msg)
        );
    }
}

/// All-zero key plus the seven low-order encodings of spec 1.3 step 5, each
/// also with the (ignored) top bit set.
fn low_order_keys() -> Vec<[u8; 32]> {
    let mut keys = vec![[0u8; 32]];
    let mut one = [0u8; 32];
    one[0] = 1;
    keys.push(one);
    for h in [
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    ] {
        keys.push(a32(&hex::decode(h).unwrap()));
    }
    for first in [0xec, 0xed, 0xee] {
        let mut k = [0xffu8; 32];
        k[0] = first;
        k[31] = 0x7f;
        keys.push(k);
    }
    let top: Vec<[u8; 32]> = keys
        .iter()
        .map(|k| {
            let mut t = *k;
            t[31] |= 0x80;
            t
        })
        .collect();
    keys.extend(top);
    keys
}

#[test]
fn low_order_ephemeral_keys_are_refused() {
    let keys = low_order_keys();
    assert_eq!(keys.len(), 14);
    for secret in [[2u8; 32], [0xff; 32]] {
        for key in &keys {
            let hs = Handshake::new(&NodeKey::from_seed([1; 32]), secret);
            let err = hs
                .receive_ephemeral(&handshake::encode_ephemeral_message(key))
                .unwrap_err();
            assert!(
                matches!(err, HandshakeError::LowOrderEphemeralKey),
                "{}: {err}",
                hex::encode(key)
            );
        }
    }
}

fn auth_body(pub_key: Option<Sum>, sig: Vec<u8>) -> Vec<u8> {
    AuthSigMessage {
        pub_key: Some(PublicKey { sum: pub_key }),
        sig,
    }
    .encode_to_vec()
}

/// B's view after the key exchange, for feeding it forged AuthSigs.
fn b_awaiting() -> handshake::AwaitingAuthSig {
    agreed(&derived()).1.auth
}

#[test]
fn bad_signature_is_refused() {
    let v = derived();
    let mut auth = hx(&v, "handshake/A_authsig_delimited");
    *auth.last_mut().unwrap() ^= 0x01;
    let err = b_awaiting().receive_auth_sig_delimited(&auth).unwrap_err();
    assert!(matches!(err, HandshakeError::BadSignature), "{err}");

    // A valid signature by A, presented with B's key.
    let body = auth_body(
        Some(Sum::Ed25519(hx(&v, "identity/B/ed25519_pub"))),
        hx(&v, "handshake/A_signature"),
    );
    let err = b_awaiting().receive_auth_sig(&body).unwrap_err();
    assert!(matches!(err, HandshakeError::BadSignature), "{err}");
}

#[test]
fn secp256k1_and_odd_lengths_are_refused() {
    let v = derived();
    let sig = hx(&v, "handshake/A_signature");
    let pk = hx(&v, "identity/A/ed25519_pub");
    let err = b_awaiting()
        .receive_auth_sig(&auth_body(Some(Sum::Secp256k1(vec![2; 33])), sig.clone()))
        .unwrap_err();
    assert!(
        matches!(err, HandshakeError::UnsupportedKeyType("secp256k1")),
        "{err}"
    );
    let err = b_awaiting()
        .receive_auth_sig(&auth_body(
            Some(Sum::Ed25519(pk[..31].to_vec())),
            sig.clone(),
        ))
        .unwrap_err();
    assert!(
        matches!(err, HandshakeError::BadPublicKeyLength { len: 31 }),
        "{err}"
    );
    let err = b_awaiting()
        .receive_auth_sig(&auth_body(
            Some(Sum::Ed25519(pk.clone())),
            sig[..63].to_vec(),
        ))
        .unwrap_err();
    assert!(
        matches!(err, HandshakeError::BadSignatureLength { len: 63 }),
        "{err}"
    );
    let mut long_sig = sig;
    long_sig.push(0);
    let err = b_awaiting()
        .receive_auth_sig(&auth_body(Some(Sum::Ed25519(pk)), long_sig))
        .unwrap_err();
    assert!(
        matches!(err, HandshakeError::BadSignatureLength { len: 65 }),
        "{err}"
    );
}

#[test]
fn malformed_auth_sig_protobuf_is_refused() {
    let v = derived();
    let good = hx(&v, "handshake/A_authsig_delimited");
    let cases: Vec<Vec<u8>> = vec![
        vec![0x02, 0x0a, 0xff],           // truncated nested length
        vec![0x01, 0xff],                 // invalid tag
        vec![0x00],                       // empty body: no key
        auth_body(None, vec![0; 64]),     // key without a type, undelimited
        good[..good.len() - 1].to_vec(),  // body shorter than its prefix
        [good.clone(), vec![0]].concat(), // trailing byte
        vec![0xff; 11],                   // runaway varint
    ];
    for (i, msg) in cases.iter().enumerate() {
        let msg = if i == 3 {
            let mut d = vec![msg.len() as u8];
            d.extend_from_slice(msg);
            d
        } else {
            msg.clone()
        };
        let err = b_awaiting().receive_auth_sig_delimited(&msg).unwrap_err();
        assert!(
            matches!(err, HandshakeError::MalformedAuthSig(_)),
            "case {i}: {err}"
        );
    }
    // Declared 1 MiB + 1.
    let err = b_awaiting()
        .receive_auth_sig_delimited(&[0x81, 0x80, 0x40, 0])
        .unwrap_err();
    assert!(
        matches!(err, HandshakeError::AuthSigTooLong { len: 1_048_577 }),
        "{err}"
    );
}

/// Seals an arbitrary 1028-byte plaintext the way a (possibly hostile) peer could.
fn seal_raw(
    key: &[u8; 32],
    counter: u64,
    plain: &[u8; frame::TOTAL_FRAME_SIZE],
) -> [u8; SEALED_FRAME_SIZE] {
    let mut out = [0u8; SEALED_FRAME_SIZE];
    out[..frame::TOTAL_FRAME_SIZE].copy_from_slice(plain);
    let cipher = ChaCha20Poly1305::new(GenericArray::from_slice(key));
    let tag = cipher
        .encrypt_in_place_detached(
            GenericArray::from_slice(&frame::nonce_bytes(counter)),
            b"",
            &mut out[..frame::TOTAL_FRAME_SIZE],
        )
        .unwrap();
    out[frame::TOTAL_FRAME_SIZE..].copy_from_slice(&tag);
    out
}

#[test]
fn frame_length_above_1024_is_refused() {
    let key = [5u8; 32];
    for (i, len) in [1025u32, 1028, u32::MAX].into_iter().enumerate() {
        let mut plain = [0u8; frame::TOTAL_FRAME_SIZE];
        plain[..4].copy_from_slice(&len.to_le_bytes());
        let mut sealed = seal_raw(&key, i as u64, &plain);
        let mut opener = Opener::with_counter(&key, i as u64);
        assert_eq!(
            opener.open(&mut sealed),
            Err(FrameError::ChunkTooLong { len })
        );
    }
    // Exactly 1024 and 0 are fine; garbage padding is ignored.
    let mut plain = [0xaau8; frame::TOTAL_FRAME_SIZE];
    plain[..4].copy_from_slice(&1024u32.to_le_bytes());
    let mut sealed = seal_raw(&key, 0, &plain);
    assert_eq!(Opener::new(&key).open(&mut sealed).unwrap(), &[0xaa; 1024]);
    plain[..4].copy_from_slice(&0u32.to_le_bytes());
    let mut sealed = seal_raw(&key, 0, &plain);
    assert_eq!(Opener::new(&key).open(&mut sealed).unwrap(), b"");
}

#[test]
fn tampered_frames_are_refused() {
    let v = derived();
    let key = a32(&hx(&v, "handshake/B_recv_key"));
    let good = hx(&v, "frames_A_to_B/0/sealed_1044");
    for pos in [0, 3, 4, 500, 1027, 1028, 1043] {
        let mut frame: [u8; SEALED_FRAME_SIZE] = good.clone().try_into().unwrap();
        frame[pos] ^= 0x80;
        assert_eq!(
            Opener::new(&key).open(&mut frame),
            Err(FrameError::Decrypt),
            "byte {pos}"
        );
    }
    // Right bytes, wrong position in the stream (nonce 1).
    let mut frame: [u8; SEALED_FRAME_SIZE] = good.try_into().unwrap();
    assert_eq!(
        Opener::with_counter(&key, 1).open(&mut frame),
        Err(FrameError::Decrypt)
    );
}

#[test]
fn nonce_counter_never_wraps() {
    let key = [8u8; 32];
    let mut sealer = Sealer::with_counter(&key, u64::MAX - 1);
    let mut frame = [0u8; SEALED_FRAME_SIZE];
    sealer.seal(b"last", &mut frame).unwrap();
    assert_eq!(sealer.counter(), u64::MAX);
    let mut spare = [0u8; SEALED_FRAME_SIZE];
    assert_eq!(
        sealer.seal(b"one more", &mut spare),
        Err(FrameError::NonceExhausted)
    );
    assert_eq!(
        sealer.seal(b"", &mut spare),
        Err(FrameError::NonceExhausted)
    );

    let mut opener = Opener::with_counter(&key, u64::MAX - 1);
    let mut copy = frame;
    assert_eq!(opener.open(&mut copy).unwrap(), b"last");
    assert_eq!(opener.open(&mut frame), Err(FrameError::NonceExhausted));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ephemeral_parser_never_panics(msg in proptest::collection::vec(any::<u8>(), 0..80)) {
        let parsed = handshake::parse_ephemeral_message(&msg);
        let ok = msg.len() == 35 && msg[..3] == handshake::EPHEMERAL_MSG_PREFIX;
        prop_assert_eq!(parsed.is_ok(), ok);
        let _ = handshake::check_ephemeral_prefix(&msg[..msg.len().min(3)]);
    }

    #[test]
    fn auth_sig_decoder_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = handshake::decode_auth_sig(&body);
        let _ = handshake::auth_sig_body_len(&body);
        let err = b_awaiting().receive_auth_sig_delimited(&body);
        prop_assert!(err.is_err());
    }

    #[test]
    fn auth_sig_fields_map_to_exact_errors(
        key_len in 0usize..40,
        sig_len in 0usize..80,
        secp in any::<bool>(),
    ) {
        let key = vec![1u8; key_len];
        let body = auth_body(
            Some(if secp { Sum::Secp256k1(key) } else { Sum::Ed25519(key) }),
            vec![2; sig_len],
        );
        match handshake::decode_auth_sig(&body) {
            Err(HandshakeError::UnsupportedKeyType("secp256k1")) => prop_assert!(secp),
            Err(HandshakeError::BadPublicKeyLength { len }) => {
                prop_assert!(!secp && len == key_len && len != 32)
            }
            Err(HandshakeError::BadSignatureLength { len }) => {
                prop_assert!(!secp && key_len == 32 && len == sig_len && len != 64)
            }
            Ok(_) => prop_assert!(!secp && key_len == 32 && sig_len == 64),
            Err(e) => prop_assert!(false, "unexpected {}", e),
        }
    }

    #[test]
    fn frame_opening_never_panics(
        raw in proptest::collection::vec(any::<u8>(), SEALED_FRAME_SIZE),
        len in any::<u32>(),
        counter in any::<u64>(),
    ) {
        let key = [3u8; 32];
        let mut frame: [u8; SEALED_FRAME_SIZE] = raw.clone().try_into().unwrap();
        prop_assert!(Opener::with_counter(&key, counter).open(&mut frame).is_err());

        // Authentic frames with an arbitrary length field.
        let counter = counter.min(u64::MAX - 1);
        let mut plain = [0u8; frame::TOTAL_FRAME_SIZE];
        plain.copy_from_slice(&raw[..frame::TOTAL_FRAME_SIZE]);
        plain[..4].copy_from_slice(&len.to_le_bytes());
        let mut sealed = seal_raw(&key, counter, &plain);
        let opened = Opener::with_counter(&key, counter).open(&mut sealed).map(|c| c.len());
        if len <= 1024 {
            prop_assert_eq!(opened, Ok(len as usize));
        } else {
            prop_assert_eq!(opened, Err(FrameError::ChunkTooLong { len }));
        }
    }
}
