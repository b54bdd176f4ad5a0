//! Connection and peer filters (spec 2.1).
//!
//! - The connection table (`ConnTable`) records every connection, inbound
//!   and outbound, by remote `ip:port` from the filter step until cleanup.
//!   Built-in connection filters, run before the handshake: the exact remote
//!   `ip:port` is not already recorded (`isDuplicate`), and, unless
//!   `allow_duplicate_ip`, no recorded connection has the same IP. The check
//!   and the insertion happen under one lock, so two racing connections from
//!   one IP cannot both pass.
//! - User filters ([`ConnFilter`], [`PeerFilter`]; Go's ABCI `filter_peers`
//!   queries) run together under one time limit (5 s by default).
//! - The built-in peer filter (duplicate ID) lives in the peer set.
//!
//! A table entry is removed by the switch when the peer is stopped, and in
//! any case when the connection's stream is dropped (`ConnGuard`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};

use super::accept::AcceptPermit;
use super::error::ConnRejected;
use super::peer::Peer;
use crate::net::{timeout, Runtime};

/// A user connection filter, run on the remote address before the handshake.
pub trait ConnFilter: Send + Sync + 'static {
    /// `Err(reason)` refuses the connection.
    fn filter(&self, remote: SocketAddr) -> BoxFuture<'static, Result<(), String>>;
}

/// A user peer filter, run after the handshake, before the peer is added.
pub trait PeerFilter: Send + Sync + 'static {
    /// `Err(reason)` refuses the peer.
    fn filter(&self, peer: &Peer) -> BoxFuture<'static, Result<(), String>>;
}

/// Why the user filters refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterFailure {
    Rejected(String),
    Timeout(Duration),
}

/// Runs `checks` together (polled in order, first refusal wins) for at most `limit`.
pub(crate) async fn run_filters<R: Runtime>(
    rt: &R,
    limit: Duration,
    checks: Vec<BoxFuture<'static, Result<(), String>>>,
) -> Result<(), FilterFailure> {
    if checks.is_empty() {
        return Ok(());
    }
    match timeout(rt, limit, futures::future::try_join_all(checks)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(reason)) => Err(FilterFailure::Rejected(reason)),
        Err(e) => Err(FilterFailure::Timeout(e.0)),
    }
}

/// Identifies one recorded connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ConnKey {
    remote: SocketAddr,
    token: u64,
}

#[derive(Default)]
struct Table {
    conns: BTreeMap<SocketAddr, (u64, IpAddr)>,
    next_token: u64,
}

/// Every connection between the filter step and its cleanup.
#[derive(Default)]
pub(crate) struct ConnTable {
    inner: Mutex<Table>,
}

impl ConnTable {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The built-in filters, then records `remote`.
    pub(crate) fn admit(
        self: &Arc<Self>,
        remote: SocketAddr,
        allow_duplicate_ip: bool,
    ) -> Result<ConnGuard, ConnRejected> {
        let ip = remote.ip().to_canonical();
        let mut t = self.lock();
        if t.conns.contains_key(&remote) {
            return Err(ConnRejected::DuplicateConn { remote });
        }
        if !allow_duplicate_ip && t.conns.values().any(|(_, i)| *i == ip) {
            return Err(ConnRejected::DuplicateIp { ip });
        }
        t.next_token += 1;
        let token = t.next_token;
        t.conns.insert(remote, (token, ip));
        Ok(ConnGuard {
            table: self.clone(),
            key: ConnKey { remote, token },
        })
    }

    /// Forgets the connection `key` (no-op if already gone).
    pub(crate) fn remove(&self, key: ConnKey) {
        let mut t = self.lock();
        if t.conns
            .get(&key.remote)
            .is_some_and(|(tok, _)| *tok == key.token)
        {
            t.conns.remove(&key.remote);
        }
    }

    /// Recorded connections.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().conns.len()
    }
}

/// Removes its table entry when dropped.
pub(crate) struct ConnGuard {
    table: Arc<ConnTable>,
    key: ConnKey,
}

impl ConnGuard {
    pub(crate) fn key(&self) -> ConnKey {
        self.key
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.table.remove(self.key);
    }
}

/// A stream carrying the resources tied to its life: its connection-table
/// entry and, for accepted sockets, a slot of the accept limit.
pub(crate) struct TrackedStream<S> {
    inner: S,
    _conn: ConnGuard,
    _permit: Option<AcceptPermit>,
}

impl<S> TrackedStream<S> {
    pub(crate) fn new(inner: S, conn: ConnGuard, permit: Option<AcceptPermit>) -> Self {
        TrackedStream {
            inner,
            _conn: conn,
            _permit: permit,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TrackedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TrackedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn duplicate_conn_and_ip() {
        let t = Arc::new(ConnTable::default());
        let g = t.admit(sa("10.0.0.1:1000"), false).unwrap();
        assert_eq!(
            t.admit(sa("10.0.0.1:1000"), true).err(),
            Some(ConnRejected::DuplicateConn {
                remote: sa("10.0.0.1:1000")
            })
        );
        assert_eq!(
            t.admit(sa("10.0.0.1:1001"), false).err(),
            Some(ConnRejected::DuplicateIp {
                ip: "10.0.0.1".parse().unwrap()
            })
        );
        // IPv4-mapped IPv6 is the same IP.
        assert!(t.admit(sa("[::ffff:10.0.0.1]:5"), false).is_err());
        let g2 = t.admit(sa("10.0.0.1:1001"), true).unwrap();
        assert_eq!(t.len(), 2);
        drop(g);
        assert_eq!(t.len(), 1);
        let k = g2.key();
        t.remove(k);
        assert_eq!(t.len(), 0);
        // A stale guard does not remove a newer entry at the same address.
        let g3 = t.admit(sa("10.0.0.1:1001"), false).unwrap();
        drop(g2);
        assert_eq!(t.len(), 1);
        drop(g3);
        assert_eq!(t.len(), 0);
    }
}
