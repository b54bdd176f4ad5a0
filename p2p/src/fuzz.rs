//! Fuzzing entry points: one function per input surface, shared by the
//! cargo-fuzz targets in `fuzz/` and the stable corpus/proptest twins in
//! `p2p/tests/fuzz_corpus.rs`, so both exercise exactly the same code.
//!
//! Each function takes arbitrary bytes, never panics, and returns:
//! - `Ok(Ok(summary))`: the input was accepted; `summary` is a short, exact
//!   description tests compare against;
//! - `Ok(Err(reason))`: the input was rejected with a typed error (fine);
//! - `Err(Violation)`: an invariant broke (a round trip changed the value,
//!   a reader returned data it should not have): a bug. Fuzz targets panic on it.
//!
//! - this file: the wire surfaces (SecretConnection frames and handshake
//!   messages, MConnection packets, NodeInfo, PEX, `NetAddress`).
//! - [`files`]: the file surfaces (`addrbook.json`, `config.toml`, `node_key.json`).

use std::time::Duration;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use prost::Message;
use tendermint_proto::v0_38::p2p as proto;

use crate::key::NodeKey;
use crate::mconn::packet;
use crate::mconn::{channel::standard_channels, Event, MConnConfig, MConnection};
use crate::netaddr::NetAddress;
use crate::node_info::{check_peer, NodeInfo, TxIndex};
use crate::pex::PexMessage;
use crate::secret_connection::frame::{nonce_bytes, DATA_LEN_SIZE, TOTAL_FRAME_SIZE};
use crate::secret_connection::handshake::{self, Handshake};
use crate::secret_connection::stream_io::{read_stream, write_stream};
use crate::secret_connection::{FrameError, DATA_MAX_SIZE, SEALED_FRAME_SIZE};
use crate::time::Instant;

pub mod files;

/// An accepted input's summary (`Ok`) or the rejection reason (`Err`).
pub type Verdict = Result<String, String>;

/// A broken invariant found by a harness: a bug in the code under test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated: {0}")]
pub struct Violation(pub String);

/// Returns `Err(Violation)` built from a format string when `cond` is false.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(Violation(format!($($arg)*)));
        }
    };
}
pub(crate) use ensure;

/// The session key every SecretConnection harness uses.
pub const FUZZ_KEY: [u8; 32] = [0x42; 32];
/// The local node's key seed in the handshake harness.
pub const LOCAL_SEED: [u8; 32] = [1; 32];
/// The local node's ephemeral secret in the handshake harness.
pub const LOCAL_EPHEMERAL: [u8; 32] = [11; 32];

/// SecretConnection frame reader. `data[0] % 3` picks the mode, `data[1]` and
/// `data[2]` the stream's read chunk and the caller's read size, the rest is
/// the payload:
/// - 0: the payload is a ciphertext stream, opened with [`FUZZ_KEY`];
/// - 1: the payload is plaintext: written, then read back ([`secret_connection_round_trip`]);
/// - 2: the payload is a list of 1028-byte plaintext frames (length field
///   included, so lengths over 1024 are reachable), sealed with [`FUZZ_KEY`]
///   and read; the result must match a straightforward model of the reader.
pub fn secret_connection(data: &[u8]) -> Result<Verdict, Violation> {
    let Some((&mode, rest)) = data.split_first() else {
        return Ok(Err("empty input".into()));
    };
    let (io_chunk, read_size, payload) = match rest {
        [a, b, payload @ ..] => (chunk_size(*a), chunk_size(*b), payload),
        _ => (SEALED_FRAME_SIZE, 4096, rest),
    };
    match mode % 3 {
        0 => {
            let got = read_stream(&FUZZ_KEY, payload, io_chunk, read_size);
            ensure!(
                got.plaintext.len() <= payload.len() / SEALED_FRAME_SIZE * DATA_MAX_SIZE,
                "{} plaintext bytes from {} ciphertext bytes",
                got.plaintext.len(),
                payload.len()
            );
            Ok(match got.error {
                None => Ok(format!("{} bytes", got.plaintext.len())),
                Some(e) => Err(e.to_string()),
            })
        }
        // At most ~32 writes: one frame per tiny write makes long inputs slow.
        1 => secret_connection_round_trip(payload, read_size.max(payload.len() / 32 + 1), io_chunk),
        _ => raw_frames(payload, io_chunk, read_size),
    }
}

/// 1..=4081 bytes from one selector byte (covers sub-frame and multi-frame sizes).
fn chunk_size(b: u8) -> usize {
    usize::from(b) * 16 + 1
}

/// Go's `FuzzP2PSecretConnection` property: `plaintext` written on one side
/// (in writes of `write_size`) is read back unchanged on the other (stream
/// chunks of `io_chunk`).
pub fn secret_connection_round_trip(
    plaintext: &[u8],
    write_size: usize,
    io_chunk: usize,
) -> Result<Verdict, Violation> {
    let sealed = write_stream(&FUZZ_KEY, plaintext, write_size, io_chunk)
        .map_err(|e| Violation(format!("write failed: {e}")))?;
    // Each write seals its own frames (as Go's Write does), so small writes
    // make more frames than the data needs.
    let frames = sealed.len() / SEALED_FRAME_SIZE;
    let least = plaintext.len().div_ceil(DATA_MAX_SIZE);
    let most = least + plaintext.len().div_ceil(write_size.max(1));
    ensure!(
        sealed.len() % SEALED_FRAME_SIZE == 0 && (least..=most).contains(&frames),
        "{} bytes in writes of {write_size} sealed into {} bytes",
        plaintext.len(),
        sealed.len()
    );
    let got = read_stream(&FUZZ_KEY, &sealed, io_chunk, write_size);
    ensure!(got.error.is_none(), "read failed: {:?}", got.error);
    ensure!(got.plaintext == plaintext, "round trip changed the data");
    Ok(Ok(format!("{} bytes", plaintext.len())))
}

fn raw_frames(payload: &[u8], io_chunk: usize, read_size: usize) -> Result<Verdict, Violation> {
    let cipher = ChaCha20Poly1305::new(&FUZZ_KEY.into());
    let mut stream = Vec::new();
    let mut expect = Vec::new();
    let mut expect_err = None;
    for (i, chunk) in payload.chunks(TOTAL_FRAME_SIZE).enumerate() {
        let mut plain = [0u8; TOTAL_FRAME_SIZE];
        plain[..chunk.len()].copy_from_slice(chunk);
        let mut len_field = [0u8; DATA_LEN_SIZE];
        len_field.copy_from_slice(&plain[..DATA_LEN_SIZE]);
        let len = u32::from_le_bytes(len_field);
        if expect_err.is_none() {
            match usize::try_from(len) {
                Ok(n) if n <= DATA_MAX_SIZE => {
                    expect.extend_from_slice(&plain[DATA_LEN_SIZE..DATA_LEN_SIZE + n]);
                }
                _ => expect_err = Some(FrameError::ChunkTooLong { len }),
            }
        }
        let nonce = nonce_bytes(i as u64);
        let tag = cipher
            .encrypt_in_place_detached(&nonce.into(), b"", &mut plain)
            .map_err(|e| Violation(format!("seal failed: {e}")))?;
        stream.extend_from_slice(&plain);
        stream.extend_from_slice(&tag);
    }
    let got = read_stream(&FUZZ_KEY, &stream, io_chunk, read_size);
    ensure!(
        got.frame_error() == expect_err.as_ref(),
        "reader error {:?}, model {:?}",
        got.error,
        expect_err
    );
    if expect_err.is_none() {
        ensure!(got.error.is_none(), "reader error {:?}", got.error);
    }
    ensure!(
        got.plaintext == expect,
        "reader plaintext differs from the model"
    );
    Ok(match expect_err {
        None => Ok(format!("{} bytes", expect.len())),
        Some(e) => Err(e.to_string()),
    })
}

/// Handshake messages as received from a peer: `data[..35]` is its ephemeral
/// key message, the rest its length-delimited AuthSig, checked against the
/// challenge of a local node ([`LOCAL_SEED`], [`LOCAL_EPHEMERAL`]). The
/// stateless parsers also see the whole input.
pub fn handshake_messages(data: &[u8]) -> Result<Verdict, Violation> {
    let _ = handshake::check_ephemeral_prefix(&data[..data.len().min(3)]);
    let _ = handshake::parse_ephemeral_message(data);
    if let Ok(Some((len, prefix))) = handshake::auth_sig_body_len(data) {
        ensure!(
            len <= handshake::AUTH_SIG_MAX_LEN && prefix <= 10,
            "length {len} with prefix {prefix}"
        );
    }
    let _ = handshake::decode_auth_sig(data);
    let split = data.len().min(handshake::EPHEMERAL_MSG_LEN);
    let (eph, auth) = data.split_at(split);
    let local = Handshake::new(&NodeKey::from_seed(LOCAL_SEED), LOCAL_EPHEMERAL);
    let agreed = match local.receive_ephemeral(eph) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let body_ok = auth
        .get(
            handshake::auth_sig_body_len(auth)
                .ok()
                .flatten()
                .map_or(0, |(_, p)| p)..,
        )
        .map(handshake::decode_auth_sig);
    match agreed.auth.receive_auth_sig_delimited(auth) {
        Ok(remote) => {
            ensure!(
                matches!(body_ok, Some(Ok((k, _))) if k == remote.pubkey),
                "accepted an AuthSig the decoder rejects"
            );
            Ok(Ok(remote.node_id.to_string()))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// MConnection input: `data` is the decrypted byte stream from a peer, fed to
/// a connection with the standard channels in pieces whose size depends on
/// `data[0]`. Also splits the stream with the bare packet decoder and checks
/// that every decoded packet survives re-encoding.
pub fn mconn_input(data: &[u8]) -> Result<Verdict, Violation> {
    let config = MConnConfig::default();
    let max = packet::max_packet_msg_size(config.max_packet_msg_payload_size);
    let mut rest = data;
    let mut packets = 0usize;
    while let Ok(Some((pkt, used))) = packet::split_packet(rest, max) {
        ensure!(used > 0 && used <= rest.len(), "consumed {used} bytes");
        let mut again = Vec::new();
        packet::encode(&pkt, &mut again);
        let back = packet::split_packet(&again, usize::MAX);
        ensure!(
            matches!(&back, Ok(Some((p, n))) if *p == pkt && *n == again.len()),
            "re-encoded packet decodes differently: {back:?}"
        );
        packets += 1;
        rest = &rest[used..];
    }
    let channels = standard_channels(true, true);
    let t0 = Instant::from_epoch(Duration::from_secs(1));
    let mut conn = MConnection::new(t0, config, &channels)
        .map_err(|e| Violation(format!("standard config rejected: {e}")))?;
    let piece = data.first().map_or(1, |b| usize::from(*b) * 8 + 1);
    let mut messages = 0usize;
    let mut result = Ok(());
    for (i, chunk) in data.chunks(piece).enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        result = conn.handle_input(now, chunk);
        while let Some(Event::Received { channel, message }) = conn.poll_event() {
            let desc = channels.iter().find(|d| d.id == channel);
            ensure!(
                desc.is_some_and(|d| message.len() <= d.recv_message_capacity),
                "message of {} bytes on channel {channel:#x}",
                message.len()
            );
            messages += 1;
        }
        let mut out = Vec::new();
        conn.poll_transmit(now, &mut out);
        if result.is_err() {
            break;
        }
    }
    ensure!(conn.pending_recv_bytes() == 0, "undrained received bytes");
    Ok(match result {
        Ok(()) => Ok(format!("{packets} packets, {messages} messages")),
        Err(e) => Err(e.to_string()),
    })
}

/// The NodeInfo the NodeInfo harness compares peers with.
pub fn local_node_info() -> NodeInfo {
    NodeInfo::builder(
        NodeKey::from_seed(LOCAL_SEED).node_id(),
        "test-chain",
        "local",
    )
    .listen_addr("tcp://127.0.0.1:26656")
    .tx_index(TxIndex::On)
    .build()
}

/// A received NodeInfo body (no length prefix): decode, `validate`,
/// compatibility with [`local_node_info`], the transport's checks and the
/// self-reported address; a decoded NodeInfo must survive re-encoding.
pub fn node_info(data: &[u8]) -> Result<Verdict, Violation> {
    let peer = match NodeInfo::decode(data) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let again = NodeInfo::decode(&peer.to_proto().encode_to_vec());
    ensure!(
        again.as_ref().ok() == Some(&peer),
        "re-encoded NodeInfo differs: {again:?}"
    );
    let ours = local_node_info();
    let _ = peer.net_address();
    if let Err(e) = peer.validate() {
        return Ok(Err(e.to_string()));
    }
    if let Err(e) = check_peer(&ours, &peer, &peer.node_id) {
        return Ok(Err(e.to_string()));
    }
    Ok(Ok(format!("{} {}", peer.node_id, peer.moniker)))
}

/// A PEX message body; a decoded message must survive re-encoding.
pub fn pex_message(data: &[u8]) -> Result<Verdict, Violation> {
    match PexMessage::decode(data) {
        Ok(msg) => {
            let again = PexMessage::decode(&msg.encode());
            ensure!(again.as_ref() == Ok(&msg), "re-encoded PEX message differs");
            Ok(Ok(match msg {
                PexMessage::Request => "request".to_owned(),
                PexMessage::Addrs(a) => format!("{} addrs", a.len()),
            }))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// `NetAddress` from a string (`id@host:port`, when `data` is UTF-8) and from
/// a protobuf `NetAddress`; each accepted address must survive its own
/// round trip. The verdict is the string parse's (the proto one if not UTF-8).
pub fn net_address(data: &[u8]) -> Result<Verdict, Violation> {
    let from_proto = match proto::NetAddress::decode(data) {
        Ok(pb) => match NetAddress::from_proto(&pb) {
            Ok(a) => {
                let back = NetAddress::from_proto(&a.to_proto());
                ensure!(back == Ok(a), "proto round trip of {a} gave {back:?}");
                Ok(a)
            }
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    let verdict = match std::str::from_utf8(data) {
        Ok(s) => match NetAddress::parse(s) {
            Ok(a) => {
                let back = NetAddress::parse(&a.to_string());
                ensure!(back == Ok(a), "string round trip of {a} gave {back:?}");
                Ok(a)
            }
            Err(e) => Err(e.to_string()),
        },
        Err(_) => from_proto,
    };
    if let Ok(a) = &verdict {
        let _ = (a.routable(), a.group(true), a.group(false));
    }
    Ok(verdict.map(|a| a.to_string()))
}
