//! Inbound connections (spec 2.1, 2.3).
//!
//! - The accept loop takes a slot of [`AcceptSlots`] before each `accept`:
//!   at most `max_num_inbound_peers + len(unconditional_peer_ids)` accepted
//!   sockets are open at once (Go's limit listener; 0 means no limit). A
//!   slot is held by the socket for its whole life, so further connections
//!   wait in the listener's backlog.
//! - Each accepted socket is handled in its own task: connection filters →
//!   upgrade (no dialed-ID check). A self-connection registers the address
//!   as ours in the address book.
//! - Then, serialized like Go's single accept routine: unless the peer is
//!   unconditional, if the inbound count (unconditional peers excluded) is
//!   `>= max_num_inbound_peers` the connection is closed after the
//!   handshake; otherwise `add_peer`.
//! - Every refusal is logged and reported to the
//!   [`Observer`](crate::observe::Observer) as an [`InboundRejection`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::future::Either;

use super::core::Shared;
use super::error::InboundRejection;
use super::upgrade::{filter_and_upgrade, ConnectError, Connected};
use crate::net::{Listener, Network, Runtime, Stream};
use crate::netaddr::NetAddress;
use crate::node_info::NodeInfoRejected;
use crate::transport::UpgradeError;

/// Pause after an accept error other than "listener gone".
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Default)]
struct SlotState {
    used: usize,
    waiter: Option<Waker>,
}

/// Counts open accepted sockets against the cap.
pub(crate) struct AcceptSlots {
    cap: usize,
    state: Mutex<SlotState>,
}

impl AcceptSlots {
    /// `cap` = 0 means unlimited (as Go, which then installs no limit).
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(AcceptSlots {
            cap,
            state: Mutex::new(SlotState::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a free slot (one waiter: the accept loop).
    pub(crate) fn acquire(self: &Arc<Self>) -> impl Future<Output = AcceptPermit> + '_ {
        std::future::poll_fn(move |cx| {
            let mut s = self.lock();
            if self.cap == 0 || s.used < self.cap {
                s.used += 1;
                Poll::Ready(AcceptPermit {
                    slots: self.clone(),
                })
            } else {
                s.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    /// Slots in use.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.lock().used
    }
}

/// One open accepted socket; frees its slot when dropped.
pub(crate) struct AcceptPermit {
    slots: Arc<AcceptSlots>,
}

impl Drop for AcceptPermit {
    fn drop(&mut self) {
        let mut s = self.slots.lock();
        s.used = s.used.saturating_sub(1);
        if let Some(w) = s.waiter.take() {
            w.wake();
        }
    }
}

/// Accepts until the switch stops (the task is dropped with the listener)
/// or the listener is gone.
pub(crate) async fn accept_loop<N: Network, R: Runtime>(
    shared: Arc<Shared<N, R>>,
    mut listener: N::Listener,
) {
    loop {
        let permit = shared.accept_slots.acquire().await;
        match listener.accept().await {
            Ok(stream) => {
                let sh = shared.clone();
                shared.spawn_task(async move { handle_inbound(sh, stream, permit).await });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => {
                tracing::error!(error = %e, "listener closed; accept loop ends");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                drop(permit);
                shared.rt.sleep(ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
}

fn reject<N: Network, R: Runtime>(
    shared: &Shared<N, R>,
    remote: SocketAddr,
    reason: InboundRejection,
) {
    tracing::info!(%remote, %reason, fault = ?reason.fault(), "inbound peer rejected");
    shared
        .observer
        .inbound_rejected(shared.now(), remote, &reason);
}

async fn handle_inbound<N: Network, R: Runtime>(
    shared: Arc<Shared<N, R>>,
    stream: N::Stream,
    permit: AcceptPermit,
) {
    let remote = stream.peer_addr();
    let upgrade = std::pin::pin!(filter_and_upgrade(&*shared, stream, None, Some(permit)));
    let connected = match futures::future::select(shared.shutdown.wait(), upgrade).await {
        Either::Left(_) => return,
        Either::Right((Ok(c), _)) => c,
        Either::Right((Err(e), _)) => {
            let reason = match e {
                ConnectError::Conn(e) => InboundRejection::Conn(e),
                ConnectError::Upgrade(e) => {
                    if matches!(e, UpgradeError::Rejected(NodeInfoRejected::SelfConnection)) {
                        let addr = NetAddress::from_socket_addr(shared.our_addr.id(), remote);
                        if let Some(book) = &shared.addr_book {
                            book.remove_address(&addr);
                            book.add_our_address(&addr);
                        }
                    }
                    InboundRejection::Upgrade(e)
                }
            };
            reject(&shared, remote, reason);
            return;
        }
    };
    let Connected { up, remote, key } = connected;
    let id = up.peer_info.node_id;
    let socket_addr = NetAddress::from_socket_addr(id, remote);
    let (peer, pending) = match shared.wrap_peer(up, false, socket_addr, remote, key) {
        Ok(x) => x,
        Err(e) => {
            shared.conns.remove(key);
            reject(&shared, remote, InboundRejection::AddPeer(e));
            return;
        }
    };
    let _admit = shared.admit.lock().await;
    if !shared.is_unconditional(&id) {
        let (_, have) = shared.peers.counts(&shared.cfg.unconditional_peer_ids);
        let max = shared.cfg.max_num_inbound_peers;
        if have >= max {
            drop(pending);
            shared.discard(&peer);
            reject(
                &shared,
                remote,
                InboundRejection::InboundLimit { have, max },
            );
            return;
        }
    }
    if let Err(e) = shared.add_peer(&peer, pending).await {
        shared.discard(&peer);
        reject(&shared, remote, InboundRejection::AddPeer(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn slots_cap_and_release() {
        let s = AcceptSlots::new(2);
        let a = s.acquire().now_or_never().unwrap();
        let b = s.acquire().now_or_never().unwrap();
        assert_eq!(s.in_use(), 2);
        assert!(s.acquire().now_or_never().is_none());
        drop(a);
        let c = s.acquire().now_or_never().unwrap();
        assert_eq!(s.in_use(), 2);
        drop((b, c));
        assert_eq!(s.in_use(), 0);
        let unlimited = AcceptSlots::new(0);
        let many: Vec<_> = (0..100)
            .map(|_| unlimited.acquire().now_or_never().unwrap())
            .collect();
        assert_eq!(unlimited.in_use(), 100);
        drop(many);
    }
}
