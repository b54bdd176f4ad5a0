//! THE abstract network: every byte and every timer of the stack goes through
//! these two traits, so the same protocol code runs over real TCP
//! ([`tcp`], tokio), in memory ([`memory`], for tests) and in the simulator
//! (the `sim` crate).
//!
//! # Contract
//!
//! [`Network`]
//! - `dial(addr)` resolves to a connected [`Stream`] or an `io::Error`
//!   (`ConnectionRefused` when nothing listens, `TimedOut` when the backend
//!   gives up). It imposes no timeout of its own unless documented by the
//!   backend; callers wrap it with [`timeout`].
//! - `listen(addr)` binds; port 0 picks a free port, reported by
//!   [`Listener::local_addr`]. Binding an address in use is `AddrInUse`.
//! - Dropping a `Listener` stops accepting; streams already accepted live on.
//!
//! [`Stream`]
//! - A reliable, ordered byte stream (futures-io `AsyncRead + AsyncWrite`).
//!   Bytes written are delivered in order or the stream fails; a read of 0
//!   bytes means the peer closed its write side; `poll_close` closes ours.
//! - Dropping a stream closes both directions.
//! - `peer_addr`/`local_addr` are fixed at creation.
//!
//! [`Runtime`]
//! - `now()` is monotonic (never decreases) and is the only clock protocol
//!   code sees. Instants are measured from the runtime's epoch.
//! - `sleep_until(t)` completes at the first moment `now() >= t`.
//! - `spawn(f)` runs `f` to completion concurrently; panics in `f` are the
//!   backend's business and must not take other tasks down.
//! - Randomness is not part of the runtime: callers pass RNGs explicitly.
//!
//! The traits use futures-io rather than tokio types so the simulator can
//! drive them with its own executor.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};

pub use crate::time::Instant;

pub mod memory;
#[cfg(feature = "tcp")]
pub mod tcp;

/// A connected, reliable, ordered byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The remote end's address.
    fn peer_addr(&self) -> SocketAddr;
    /// Our end's address.
    fn local_addr(&self) -> SocketAddr;
}

/// A bound listening socket.
pub trait Listener: Send + 'static {
    /// The type of accepted streams.
    type Stream: Stream;
    /// Waits for the next inbound connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Stream>> + Send + '_;
    /// The bound address (with the real port if 0 was asked for).
    fn local_addr(&self) -> SocketAddr;
}

/// Dials and listens. Cloning is cheap and yields a handle to the same network.
pub trait Network: Clone + Send + Sync + 'static {
    /// Connected streams.
    type Stream: Stream;
    /// Bound listeners.
    type Listener: Listener<Stream = Self::Stream>;
    /// Opens a connection to `addr`.
    fn dial(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send + 'static;
    /// Binds a listener at `addr`.
    fn listen(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send + 'static;
}

/// Clock, timers and tasks. Cloning is cheap and yields a handle to the same runtime.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The current time on this runtime's clock.
    fn now(&self) -> Instant;
    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static;
    /// A future that completes after `d` has passed.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.sleep_until(self.now() + d)
    }
    /// Runs `fut` concurrently until it completes.
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

/// `fut` did not complete within its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct Elapsed(pub Duration);

/// Runs `fut` for at most `limit` of `rt`'s time. If both are ready at once
/// the future wins (it is polled first), which keeps outcomes deterministic.
pub async fn timeout<R: Runtime, F: Future>(
    rt: &R,
    limit: Duration,
    fut: F,
) -> Result<F::Output, Elapsed> {
    let sleep = pin!(rt.sleep(limit));
    let fut = pin!(fut);
    match futures::future::select(fut, sleep).await {
        futures::future::Either::Left((out, _)) => Ok(out),
        futures::future::Either::Right(((), _)) => Err(Elapsed(limit)),
    }
}
