//! Real TCP over tokio: [`TcpNetwork`] and [`TokioRuntime`].
//!
//! This is the one module of the stack allowed to read the OS clock. The
//! runtime's epoch is the moment the `TokioRuntime` was created.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use super::{Instant, Listener, Network, Runtime, Stream};

/// A [`Runtime`] backed by the ambient tokio runtime and the OS monotonic clock.
///
/// Must be used from within a tokio runtime (the `spawn` and `sleep` calls
/// need one). Under `#[tokio::test(start_paused = true)]` its clock is tokio's
/// virtual clock.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    epoch: Arc<tokio::time::Instant>,
}

impl TokioRuntime {
    /// A runtime whose epoch is now.
    #[allow(clippy::disallowed_methods)] // allow-ambient: the real backend owns the clock
    pub fn new() -> Self {
        TokioRuntime {
            epoch: Arc::new(tokio::time::Instant::now()),
        }
    }

    fn to_tokio(&self, t: Instant) -> tokio::time::Instant {
        *self.epoch + t.since_epoch()
    }
}

impl Default for TokioRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime for TokioRuntime {
    #[allow(clippy::disallowed_methods)] // allow-ambient: the real backend owns the clock
    fn now(&self) -> Instant {
        Instant::from_epoch(tokio::time::Instant::now().saturating_duration_since(*self.epoch))
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(self.to_tokio(deadline))
    }

    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(fut));
    }
}

/// Real TCP sockets.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpNetwork;

/// A TCP connection as a futures-io stream.
#[derive(Debug)]
pub struct TcpStream {
    inner: Compat<tokio::net::TcpStream>,
    peer: SocketAddr,
    local: SocketAddr,
}

impl TcpStream {
    /// Wraps a connected tokio stream (sets `TCP_NODELAY`: MConnection does its own batching).
    pub fn from_tokio(s: tokio::net::TcpStream) -> io::Result<Self> {
        s.set_nodelay(true)?;
        let peer = s.peer_addr()?;
        let local = s.local_addr()?;
        Ok(TcpStream {
            inner: s.compat(),
            peer,
            local,
        })
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl Stream for TcpStream {
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// A bound TCP listener.
#[derive(Debug)]
pub struct TcpListener {
    inner: tokio::net::TcpListener,
    local: SocketAddr,
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&mut self) -> io::Result<TcpStream> {
        let (s, _) = self.inner.accept().await?;
        TcpStream::from_tokio(s)
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Network for TcpNetwork {
    type Stream = TcpStream;
    type Listener = TcpListener;

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn dial(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<TcpStream>> + Send + 'static {
        async move { TcpStream::from_tokio(tokio::net::TcpStream::connect(addr).await?) }
    }

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn listen(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<TcpListener>> + Send + 'static {
        async move {
            let inner = tokio::net::TcpListener::bind(addr).await?;
            let local = inner.local_addr()?;
            Ok(TcpListener { inner, local })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};
    use std::time::Duration;

    #[tokio::test]
    async fn loopback_echo_and_addresses() {
        let net = TcpNetwork;
        let mut l = net.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr();
        assert_ne!(addr.port(), 0);
        let server = tokio::spawn(async move {
            let mut s = l.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            s.flush().await.unwrap();
            s.peer_addr()
        });
        let mut c = net.dial(addr).await.unwrap();
        assert_eq!(c.peer_addr(), addr);
        c.write_all(b"hello").await.unwrap();
        c.flush().await.unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        assert_eq!(server.await.unwrap(), c.local_addr());
    }

    #[tokio::test]
    async fn dial_refused_is_an_io_error() {
        // Bind then drop to find a port nobody listens on.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let err = TcpNetwork.dial(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test(start_paused = true)]
    async fn runtime_clock_and_timeout() {
        let rt = TokioRuntime::new();
        let t0 = rt.now();
        rt.sleep(Duration::from_secs(5)).await;
        assert_eq!(rt.now() - t0, Duration::from_secs(5));
        let r = crate::net::timeout(
            &rt,
            Duration::from_secs(3),
            rt.sleep(Duration::from_secs(10)),
        );
        assert_eq!(r.await, Err(crate::net::Elapsed(Duration::from_secs(3))));
        let ok = crate::net::timeout(&rt, Duration::from_secs(3), async { 7 }).await;
        assert_eq!(ok, Ok(7));
    }
}
