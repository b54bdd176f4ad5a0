//! A reference peer built only from independent code: the `tendermint-p2p`
//! crate's SecretConnection (sync std::io, its own threads) with NodeInfo and
//! MConnection packets encoded directly with `tendermint-proto`. Nothing here
//! uses this crate's code, so agreement with it is evidence of compatibility.

#![allow(dead_code)]
// Test-only reference peer: blocking std threads and the wall clock are fine here.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use prost::Message;
use tendermint_p2p::secret_connection::{SecretConnection, Version};
use tendermint_proto::v0_38::p2p as proto;

/// A packet as the reference peer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// `PacketPing`.
    Ping,
    /// `PacketPong`.
    Pong,
    /// A reassembled message.
    Msg { channel: u8, data: Vec<u8> },
}

/// The reference peer after its handshake and NodeInfo exchange.
pub struct TmPeer {
    /// The authenticated remote Ed25519 key (hex).
    pub remote_pubkey_hex: String,
    /// The NodeInfo the remote sent.
    pub remote_info: proto::DefaultNodeInfo,
    /// Packets the remote sent, in order.
    pub seen: mpsc::Receiver<Seen>,
    pongs_due: mpsc::Receiver<()>,
    writer: tendermint_p2p::secret_connection::Sender<TcpStream>,
}

/// Our NodeInfo as the reference peer sends it.
pub fn tm_node_info(node_id: &str, network: &str, channels: &[u8]) -> proto::DefaultNodeInfo {
    proto::DefaultNodeInfo {
        protocol_version: Some(proto::ProtocolVersion {
            p2p: 8,
            block: 11,
            app: 0,
        }),
        default_node_id: node_id.to_owned(),
        listen_addr: "tcp://127.0.0.1:26656".to_owned(),
        network: network.to_owned(),
        version: "0.38.25".to_owned(),
        channels: channels.to_vec(),
        moniker: "tm-p2p-peer".to_owned(),
        other: Some(proto::DefaultNodeInfoOther {
            tx_index: "off".to_owned(),
            rpc_address: String::new(),
        }),
    }
}

pub fn read_uvarint(r: &mut impl Read) -> std::io::Result<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        v |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(std::io::Error::other("varint too long"))
}

/// Reads through an internal buffer: tendermint-p2p panics on reads smaller
/// than one decrypted chunk, so reads are always 1024+ bytes.
pub struct ChunkReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Read for ChunkReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.resize(4096, 0);
            let n = self.inner.read(&mut self.buf)?;
            self.buf.truncate(n);
            self.pos = 0;
            if n == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

pub fn delimited(msg: &impl Message) -> Vec<u8> {
    let mut out = Vec::new();
    msg.encode_length_delimited(&mut out).unwrap();
    out
}

/// A connection after the SecretConnection handshake and the NodeInfo
/// exchange, with nothing read since: the caller decides what to do next.
pub struct Handshaked {
    /// The authenticated remote Ed25519 key (hex).
    pub remote_pubkey_hex: String,
    /// The NodeInfo the remote sent.
    pub remote_info: proto::DefaultNodeInfo,
    /// The encrypted write half.
    pub writer: tendermint_p2p::secret_connection::Sender<TcpStream>,
    /// The encrypted read half.
    pub reader: ChunkReader<tendermint_p2p::secret_connection::Receiver<TcpStream>>,
}

/// Runs the handshake with the Ed25519 `seed` and sends `info`, then reads
/// the remote's NodeInfo.
pub fn handshake(
    tcp: TcpStream,
    seed: [u8; 32],
    info: proto::DefaultNodeInfo,
) -> std::io::Result<Handshaked> {
    let key = ed25519_consensus::SigningKey::from(seed);
    let sc = SecretConnection::new(tcp, key, Version::V0_34)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let remote_pubkey_hex = match sc.remote_pubkey() {
        tendermint_p2p::secret_connection::PublicKey::Ed25519(k) => hex::encode(k.as_bytes()),
    };
    let (mut writer, reader) = sc
        .split()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    writer.write_all(&delimited(&info))?;
    writer.flush()?;
    let mut reader = ChunkReader {
        inner: reader,
        buf: Vec::new(),
        pos: 0,
    };
    let len = read_uvarint(&mut reader)? as usize;
    if len > 10_240 {
        return Err(std::io::Error::other(format!("NodeInfo of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let remote_info = proto::DefaultNodeInfo::decode(body.as_slice())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Handshaked {
        remote_pubkey_hex,
        remote_info,
        writer,
        reader,
    })
}

impl TmPeer {
    /// Runs the handshake and NodeInfo exchange on `tcp` with the given Ed25519
    /// seed, then starts a reader thread that records every packet and answers
    /// pings with pongs.
    pub fn start(tcp: TcpStream, seed: [u8; 32], info: proto::DefaultNodeInfo) -> TmPeer {
        let Handshaked {
            remote_pubkey_hex,
            remote_info,
            writer,
            mut reader,
        } = handshake(tcp, seed, info).expect("tm-p2p handshake and NodeInfo exchange");

        let (tx, seen) = mpsc::channel();
        let (pong_tx, pong_rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            let mut partial: std::collections::BTreeMap<u8, Vec<u8>> = Default::default();
            loop {
                let Ok(len) = read_uvarint(&mut reader) else {
                    return;
                };
                assert!(len <= 1034, "packet of {len} bytes");
                let mut body = vec![0u8; len as usize];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let p = proto::Packet::decode(body.as_slice()).expect("packet decodes");
                let ev = match p.sum.expect("non-empty packet") {
                    proto::packet::Sum::PacketPing(_) => {
                        let _ = pong_tx.send(());
                        Seen::Ping
                    }
                    proto::packet::Sum::PacketPong(_) => Seen::Pong,
                    proto::packet::Sum::PacketMsg(m) => {
                        let ch = u8::try_from(m.channel_id).expect("channel fits u8");
                        let buf = partial.entry(ch).or_default();
                        buf.extend_from_slice(&m.data);
                        if !m.eof {
                            continue;
                        }
                        Seen::Msg {
                            channel: ch,
                            data: std::mem::take(buf),
                        }
                    }
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        TmPeer {
            remote_pubkey_hex,
            remote_info,
            seen,
            pongs_due: pong_rx,
            writer,
        }
    }

    /// Writes one delimited `Packet`.
    pub fn send_packet(&mut self, sum: proto::packet::Sum) {
        let bytes = delimited(&proto::Packet { sum: Some(sum) });
        self.writer.write_all(&bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// Sends a ping.
    pub fn ping(&mut self) {
        self.send_packet(proto::packet::Sum::PacketPing(proto::PacketPing {}));
    }

    /// Answers every ping seen so far with a pong.
    pub fn pump_pongs(&mut self) {
        let n = self.pongs_due.try_iter().count();
        for _ in 0..n {
            self.send_packet(proto::packet::Sum::PacketPong(proto::PacketPong {}));
        }
    }

    /// Sends `data` on `channel` in 1024-byte packets, the last with eof.
    pub fn send_message(&mut self, channel: u8, data: &[u8]) {
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(1024).collect()
        };
        let last = chunks.len() - 1;
        for (i, c) in chunks.into_iter().enumerate() {
            self.send_packet(proto::packet::Sum::PacketMsg(proto::PacketMsg {
                channel_id: i32::from(channel),
                eof: i == last,
                data: c.to_vec(),
            }));
        }
    }

    /// Waits up to `limit` for the next packet that `want` accepts, answering
    /// pings meanwhile; returns the packets skipped on the way.
    pub fn wait_for(&mut self, limit: Duration, want: impl Fn(&Seen) -> bool) -> Option<Seen> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            self.pump_pongs();
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.seen.recv_timeout(left.min(Duration::from_millis(20))) {
                Ok(s) if want(&s) => {
                    self.pump_pongs();
                    return Some(s);
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}
