//! CometBFT's p2p Prometheus metrics (v0.38.25 `p2p/metrics.go` and
//! `metrics.gen.go`; namespace `cometbft`, subsystem `p2p`, every series with
//! the constant label `chain_id` as `node/setup.go` adds it), served by a tiny
//! HTTP/1.1 responder (`GET /metrics`).
//!
//! | Metric | Type | Labels | Value here |
//! |---|---|---|---|
//! | `cometbft_p2p_peers` | gauge | `chain_id` | peers in the peer set |
//! | `cometbft_p2p_peer_receive_bytes_total` | counter | `chID`, `chain_id`, `peer_id` | message bytes received (all connections to that ID) |
//! | `cometbft_p2p_peer_send_bytes_total` | counter | `chID`, `chain_id`, `peer_id` | message bytes sent |
//! | `cometbft_p2p_peer_pending_send_bytes` | gauge | `chain_id`, `peer_id` | messages queued for the peer, summed over channels |
//!
//! As in Go: `chID` is `fmt.Sprintf("%#x", ch)` (`0x0`, `0x70`); byte counters
//! keep counting across reconnections and are kept after a peer leaves; series
//! appear with the first byte; `peer_pending_send_bytes` is, despite its name,
//! the sum of the channels' send-queue *lengths* (Go's `SendQueueSize`).
//! Differences: bytes are counted when a message has been fully written or
//! reassembled (Go counts a send when it is queued), values are read at scrape
//! time (Go refreshes the pending gauge every 10 s), the pending series of a
//! departed peer disappears, and `num_txs` / `message_*_bytes_total` are not
//! exported. Labels are printed sorted by name, as Go's client does.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use p2p::mconn::ConnectionStatus;
use p2p::net::Instant;
use p2p::observe::Observer;
use p2p::switch::{Peer, StopReason};
use p2p::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Byte counts of one (peer, channel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bytes {
    /// Sent.
    pub sent: u64,
    /// Received.
    pub received: u64,
}

/// The values of one scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Peers connected.
    pub peers: usize,
    /// Bytes per (peer, channel), all connections.
    pub bytes: BTreeMap<(NodeId, u8), Bytes>,
    /// Queued messages per connected peer.
    pub pending: BTreeMap<NodeId, u64>,
}

#[derive(Default)]
struct State {
    live: Vec<Peer>,
    retired: BTreeMap<(NodeId, u8), Bytes>,
}

/// Collects the p2p metrics as an [`Observer`] of the switch.
#[derive(Default)]
pub struct PeerMetrics {
    state: Mutex<State>,
}

fn add_status(into: &mut BTreeMap<(NodeId, u8), Bytes>, id: NodeId, st: &ConnectionStatus) {
    for ch in &st.channels {
        let b = into.entry((id, ch.id)).or_default();
        b.sent += ch.bytes_sent;
        b.received += ch.bytes_received;
    }
}

impl PeerMetrics {
    /// An empty collector.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current values.
    pub fn snapshot(&self) -> Snapshot {
        let (live, mut bytes) = {
            let st = self.lock();
            (st.live.clone(), st.retired.clone())
        };
        let mut pending = BTreeMap::new();
        for p in &live {
            let st = p.status();
            add_status(&mut bytes, p.id(), &st);
            let queued: usize = st.channels.iter().map(|c| c.send_queue_size).sum();
            *pending.entry(p.id()).or_default() += queued as u64;
        }
        bytes.retain(|_, b| b.sent > 0 || b.received > 0);
        Snapshot {
            peers: live.len(),
            bytes,
            pending,
        }
    }

    /// The Prometheus text exposition of [`Self::snapshot`].
    pub fn render(&self, chain_id: &str) -> String {
        render(&self.snapshot(), chain_id)
    }
}

impl Observer for PeerMetrics {
    fn peer_added(&self, _now: Instant, peer: &Peer) {
        self.lock().live.push(peer.clone());
    }

    fn peer_removed(&self, _now: Instant, peer: &Peer, _reason: &StopReason) {
        let status = peer.status();
        let mut st = self.lock();
        let before = st.live.len();
        st.live.retain(|p| !p.same_connection(peer));
        if st.live.len() < before {
            add_status(&mut st.retired, peer.id(), &status);
        }
    }
}

/// A label value escaped for the text format.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition format (version 0.0.4) of `s`.
pub fn render(s: &Snapshot, chain_id: &str) -> String {
    let c = esc(chain_id);
    let mut o = String::new();
    let head = |o: &mut String, name: &str, help: &str, kind: &str| {
        let _ = writeln!(
            o,
            "# HELP cometbft_p2p_{name} {help}\n# TYPE cometbft_p2p_{name} {kind}"
        );
    };
    head(&mut o, "peers", "Number of peers.", "gauge");
    let _ = writeln!(o, "cometbft_p2p_peers{{chain_id=\"{c}\"}} {}", s.peers);
    for (name, help, pick) in [
        (
            "peer_receive_bytes_total",
            "Number of bytes received from a given peer.",
            (|b: &Bytes| b.received) as fn(&Bytes) -> u64,
        ),
        (
            "peer_send_bytes_total",
            "Number of bytes sent to a given peer.",
            |b: &Bytes| b.sent,
        ),
    ] {
        let rows: Vec<_> = s.bytes.iter().filter(|(_, b)| pick(b) > 0).collect();
        if rows.is_empty() {
            continue;
        }
        head(&mut o, name, help, "counter");
        for ((id, ch), b) in rows {
            let _ = writeln!(
                o,
                "cometbft_p2p_{name}{{chID=\"{ch:#x}\",chain_id=\"{c}\",peer_id=\"{id}\"}} {}",
                pick(b)
            );
        }
    }
    if !s.pending.is_empty() {
        head(
            &mut o,
            "peer_pending_send_bytes",
            "Pending bytes to be sent to a given peer.",
            "gauge",
        );
        for (id, n) in &s.pending {
            let _ = writeln!(
                o,
                "cometbft_p2p_peer_pending_send_bytes{{chain_id=\"{c}\",peer_id=\"{id}\"}} {n}"
            );
        }
    }
    o
}

/// Largest request head read.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a client has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The response to one request head.
fn respond(head: &str, body: impl FnOnce() -> String) -> Vec<u8> {
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, text) = match (method, path) {
        ("GET" | "HEAD", "/metrics" | "/") => ("200 OK", body()),
        ("GET" | "HEAD", _) => ("404 Not Found", "not found; try /metrics\n".to_owned()),
        _ => ("405 Method Not Allowed", "only GET\n".to_owned()),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(text.as_bytes());
    }
    out
}

async fn handle(mut sock: tokio::net::TcpStream, metrics: Arc<PeerMetrics>, chain_id: Arc<str>) {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if !matches!(
        tokio::time::timeout(REQUEST_TIMEOUT, read).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let head = String::from_utf8_lossy(&buf);
    let out = respond(&head, || metrics.render(&chain_id));
    let _ = sock.write_all(&out).await;
    let _ = sock.shutdown().await;
}

/// Answers `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<PeerMetrics>, chain_id: String) {
    let chain_id: Arc<str> = chain_id.into();
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                drop(tokio::spawn(handle(
                    sock,
                    metrics.clone(),
                    chain_id.clone(),
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        NodeId::from_bytes([b; 20])
    }

    #[test]
    fn text_format_matches_go_names_and_labels() {
        let mut s = Snapshot {
            peers: 2,
            ..Snapshot::default()
        };
        s.bytes.insert(
            (id(0xaa), 0x00),
            Bytes {
                sent: 2,
                received: 0,
            },
        );
        s.bytes.insert(
            (id(0xaa), 0x70),
            Bytes {
                sent: 300,
                received: 4000,
            },
        );
        s.pending.insert(id(0xaa), 3);
        let a = "aa".repeat(20);
        let want = format!(
            "# HELP cometbft_p2p_peers Number of peers.\n\
             # TYPE cometbft_p2p_peers gauge\n\
             cometbft_p2p_peers{{chain_id=\"c\\\"1\"}} 2\n\
             # HELP cometbft_p2p_peer_receive_bytes_total Number of bytes received from a given peer.\n\
             # TYPE cometbft_p2p_peer_receive_bytes_total counter\n\
             cometbft_p2p_peer_receive_bytes_total{{chID=\"0x70\",chain_id=\"c\\\"1\",peer_id=\"{a}\"}} 4000\n\
             # HELP cometbft_p2p_peer_send_bytes_total Number of bytes sent to a given peer.\n\
             # TYPE cometbft_p2p_peer_send_bytes_total counter\n\
             cometbft_p2p_peer_send_bytes_total{{chID=\"0x0\",chain_id=\"c\\\"1\",peer_id=\"{a}\"}} 2\n\
             cometbft_p2p_peer_send_bytes_total{{chID=\"0x70\",chain_id=\"c\\\"1\",peer_id=\"{a}\"}} 300\n\
             # HELP cometbft_p2p_peer_pending_send_bytes Pending bytes to be sent to a given peer.\n\
             # TYPE cometbft_p2p_peer_pending_send_bytes gauge\n\
             cometbft_p2p_peer_pending_send_bytes{{chain_id=\"c\\\"1\",peer_id=\"{a}\"}} 3\n"
        );
        assert_eq!(render(&s, "c\"1"), want);
    }

    #[test]
    fn http_routes() {
        let ok = String::from_utf8(respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", || {
            "m 1\n".into()
        }))
        .unwrap();
        assert_eq!(
            ok,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\nm 1\n"
        );
        let nf = String::from_utf8(respond("GET /x HTTP/1.1\r\n\r\n", String::new)).unwrap();
        assert!(nf.starts_with("HTTP/1.1 404 "), "{nf}");
        let head =
            String::from_utf8(respond("HEAD /metrics HTTP/1.1\r\n\r\n", || "abc".into())).unwrap();
        assert!(
            head.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
        let post =
            String::from_utf8(respond("POST /metrics HTTP/1.1\r\n\r\n", String::new)).unwrap();
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    }

    #[tokio::test]
    async fn serves_over_tcp() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(serve(l, PeerMetrics::new(), "net".into()));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert!(
            got.ends_with("cometbft_p2p_peers{chain_id=\"net\"} 0\n"),
            "{got}"
        );
        task.abort();
    }
}
