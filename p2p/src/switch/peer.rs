//! [`Peer`]: a cheap, cloneable handle to one connected peer (spec 2.4).
//!
//! A `Peer` value stands for one connection: a reconnect to the same node
//! makes a new `Peer` with the same [`Peer::id`]. Identify peers by ID; use
//! [`Peer::same_connection`] to tell two connections of one ID apart.
//!
//! Sending checks, in Go's order: the peer is running, the peer listed the
//! channel in its NodeInfo (sending on a channel it does not know would get
//! us disconnected), and our MConnection knows the channel.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use crate::key::NodeId;
use crate::mconn::{ConnectionStatus, MConnError, MConnHandle};
use crate::netaddr::NetAddress;
use crate::node_info::NodeInfo;

use super::filter::ConnKey;

const CREATED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;

/// A value reactors store on a peer (e.g. consensus' `PeerState`).
pub type PeerData = Arc<dyn Any + Send + Sync>;

struct Inner {
    node_info: NodeInfo,
    outbound: bool,
    persistent: bool,
    socket_addr: NetAddress,
    remote_addr: SocketAddr,
    conn: MConnHandle,
    conn_key: ConnKey,
    state: AtomicU8,
    removal_failed: AtomicBool,
    flush_stopped: AtomicBool,
    data: Mutex<BTreeMap<String, PeerData>>,
}

/// A connected peer. Cloning is cheap; all clones are the same connection.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

/// What the switch knows when it wraps an upgraded connection.
pub(crate) struct PeerParts {
    pub node_info: NodeInfo,
    pub outbound: bool,
    pub persistent: bool,
    pub socket_addr: NetAddress,
    pub remote_addr: SocketAddr,
    pub conn: MConnHandle,
    pub conn_key: ConnKey,
}

impl Peer {
    pub(crate) fn new(p: PeerParts) -> Self {
        Peer {
            inner: Arc::new(Inner {
                node_info: p.node_info,
                outbound: p.outbound,
                persistent: p.persistent,
                socket_addr: p.socket_addr,
                remote_addr: p.remote_addr,
                conn: p.conn,
                conn_key: p.conn_key,
                state: AtomicU8::new(CREATED),
                removal_failed: AtomicBool::new(false),
                flush_stopped: AtomicBool::new(false),
                data: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The peer's node ID (from its NodeInfo, equal to the authenticated ID).
    pub fn id(&self) -> NodeId {
        self.inner.node_info.node_id
    }

    /// The peer's NodeInfo (validated and compatible with ours).
    pub fn node_info(&self) -> &NodeInfo {
        &self.inner.node_info
    }

    /// True if we dialed the peer.
    pub fn is_outbound(&self) -> bool {
        self.inner.outbound
    }

    /// True if the peer is one of our persistent peers (outbound: the dialed
    /// address; inbound: its self-reported address equals a configured one).
    pub fn is_persistent(&self) -> bool {
        self.inner.persistent
    }

    /// The dialed address (outbound) or `id@remote_ip:remote_port` (inbound,
    /// usually an ephemeral port).
    pub fn socket_addr(&self) -> NetAddress {
        self.inner.socket_addr
    }

    /// The remote IP of the connection.
    pub fn remote_ip(&self) -> IpAddr {
        self.inner.remote_addr.ip().to_canonical()
    }

    /// The remote end of the connection.
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.remote_addr
    }

    /// True between the start of the peer and its stop by the switch.
    pub fn is_running(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == RUNNING
    }

    /// Queues `msg` on `channel`, waiting up to 10 s for room. False, without
    /// sending, if the peer is not running, did not advertise the channel, or
    /// our MConnection does not know it; false on timeout.
    pub async fn send(&self, channel: u8, msg: Vec<u8>) -> bool {
        if !self.may_send(channel) {
            return false;
        }
        self.inner.conn.send(channel, msg).await
    }

    /// Like [`Peer::send`] but never waits: false if the queue is full.
    pub fn try_send(&self, channel: u8, msg: Vec<u8>) -> bool {
        self.may_send(channel) && self.inner.conn.try_send(channel, msg)
    }

    fn may_send(&self, channel: u8) -> bool {
        if !self.is_running() {
            return false;
        }
        if !self.inner.node_info.has_channel(channel) {
            tracing::debug!(peer = %self.id(), channel, "peer did not advertise channel");
            return false;
        }
        true
    }

    /// Connection statistics (duration, rates, per-channel queues).
    pub fn status(&self) -> ConnectionStatus {
        self.inner.conn.status()
    }

    /// Stores `value` under `key` (shared by all reactors).
    pub fn set(&self, key: impl Into<String>, value: PeerData) {
        self.data().insert(key.into(), value);
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<PeerData> {
        self.data().get(key).cloned()
    }

    /// The value stored under `key`, if it is a `T`.
    pub fn get_as<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        self.get(key).and_then(|v| v.downcast::<T>().ok())
    }

    fn data(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PeerData>> {
        self.inner.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends everything queued, then closes the connection. The switch then
    /// removes the peer with [`super::StopReason::Graceful`] (no reconnect).
    /// Resolves when the connection has ended.
    pub async fn flush_stop(&self) {
        self.inner.flush_stopped.store(true, Ordering::Release);
        let _ = self.inner.conn.flush_stop().await;
    }

    /// Closes the connection at once (Go's `CloseConn`). The switch then
    /// removes the peer as for an error ([`super::StopReason::ClosedLocally`];
    /// persistent peers are reconnected).
    pub fn close(&self) {
        self.inner.conn.close();
    }

    /// True if `other` is a handle to the same connection.
    pub fn same_connection(&self, other: &Peer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn mark_started(&self) -> bool {
        self.inner
            .state
            .compare_exchange(CREATED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Claims the one stop of this peer: true for the first caller while it
    /// runs (Go's `IsRunning` check in `StopPeerForError`).
    pub(crate) fn claim_stop(&self) -> bool {
        self.inner
            .state
            .compare_exchange(RUNNING, STOPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn set_removal_failed(&self) {
        self.inner.removal_failed.store(true, Ordering::Release);
    }

    pub(crate) fn removal_failed(&self) -> bool {
        self.inner.removal_failed.load(Ordering::Acquire)
    }

    pub(crate) fn is_flush_stopped(&self) -> bool {
        self.inner.flush_stopped.load(Ordering::Acquire)
    }

    pub(crate) fn conn_key(&self) -> ConnKey {
        self.inner.conn_key
    }

    /// Resolves when the connection has ended, with its error if any.
    pub(crate) async fn closed(&self) -> Result<(), MConnError> {
        self.inner.conn.closed().await
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.inner.outbound { "out" } else { "in" };
        write!(f, "Peer{{{} {} {dir}}}", self.id(), self.inner.remote_addr)
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
