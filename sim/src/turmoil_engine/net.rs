//! The stack's [`Network`] and [`Runtime`] traits over turmoil: streams are
//! turmoil's simulated `TcpStream`s (tokio-io, adapted to futures-io with
//! `tokio_util::compat`), time is the host's paused tokio clock, and tasks are
//! `tokio::spawn`ed on the host's runtime.
//!
//! Everything here must be created and used inside a turmoil host (turmoil's
//! sockets find their host through a thread-local set while the host runs).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use p2p::net::{Instant, Listener, Network, Runtime, Stream};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// A [`Runtime`] on the current turmoil host: `now()` is the simulation's
/// elapsed time, read from the host's paused tokio clock.
#[derive(Clone, Debug)]
pub struct TurmoilRuntime {
    /// The host's tokio instant at simulated time zero.
    epoch: tokio::time::Instant,
}

impl TurmoilRuntime {
    /// The runtime of the host whose software is running now. Turmoil gives
    /// each host its own tokio runtime (and clock), so the epoch is taken
    /// from turmoil's elapsed simulation time when the host starts.
    #[allow(clippy::disallowed_methods)] // allow-ambient: the host's paused tokio clock is turmoil's virtual time
    pub fn current_host() -> Self {
        let since = turmoil::sim_elapsed().unwrap_or_default();
        let now = tokio::time::Instant::now(); // allow-ambient: turmoil virtual time
        TurmoilRuntime {
            epoch: now.checked_sub(since).unwrap_or(now),
        }
    }
}

impl Runtime for TurmoilRuntime {
    #[allow(clippy::disallowed_methods)] // allow-ambient: the host's paused tokio clock is turmoil's virtual time
    fn now(&self) -> Instant {
        let host = tokio::time::Instant::now(); // allow-ambient: turmoil virtual time
        Instant::from_epoch(host.saturating_duration_since(self.epoch))
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(self.epoch + deadline.since_epoch())
    }

    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(fut));
    }
}

/// The [`Network`] of one turmoil host with address `ip`.
#[derive(Clone, Copy, Debug)]
pub struct TurmoilNetwork {
    ip: IpAddr,
}

impl TurmoilNetwork {
    /// The network as seen by the host `ip`.
    pub fn new(ip: IpAddr) -> Self {
        TurmoilNetwork { ip }
    }
}

impl Network for TurmoilNetwork {
    type Stream = TurmoilStream;
    type Listener = TurmoilListener;

    fn dial(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<TurmoilStream>> + Send + 'static {
        let connect = turmoil::net::TcpStream::connect(addr);
        async move { TurmoilStream::new(connect.await?) }
    }

    /// Turmoil binds only the unspecified address (or loopback); listening on
    /// the host's own IP binds the unspecified address with the same port.
    fn listen(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<TurmoilListener>> + Send + 'static {
        let ip = self.ip;
        async move {
            if addr.ip() != ip && !addr.ip().is_unspecified() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("{addr}: not an address of host {ip}"),
                ));
            }
            let any: IpAddr = match ip {
                IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
                IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
            };
            let inner = turmoil::net::TcpListener::bind(SocketAddr::new(any, addr.port())).await?;
            let port = inner.local_addr()?.port();
            Ok(TurmoilListener {
                inner,
                local: SocketAddr::new(ip, port),
            })
        }
    }
}

/// A listening turmoil socket.
pub struct TurmoilListener {
    inner: turmoil::net::TcpListener,
    local: SocketAddr,
}

impl Listener for TurmoilListener {
    type Stream = TurmoilStream;

    async fn accept(&mut self) -> io::Result<TurmoilStream> {
        let (stream, _) = self.inner.accept().await?;
        TurmoilStream::new(stream)
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// A turmoil TCP stream as a futures-io [`Stream`].
pub struct TurmoilStream {
    inner: Compat<turmoil::net::TcpStream>,
    peer: SocketAddr,
    local: SocketAddr,
}

impl TurmoilStream {
    fn new(s: turmoil::net::TcpStream) -> io::Result<Self> {
        let (peer, local) = (s.peer_addr()?, s.local_addr()?);
        Ok(TurmoilStream {
            inner: s.compat(),
            peer,
            local,
        })
    }
}

impl Stream for TurmoilStream {
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl AsyncRead for TurmoilStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TurmoilStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};
    use std::time::Duration;

    /// Two hosts: a listener echoes, a client measures the round trip on the
    /// runtime's clock, which must match the link latency (in ticks).
    #[test]
    fn dial_listen_echo_and_clock() {
        let mut sim = turmoil::Builder::new()
            .tick_duration(Duration::from_millis(1))
            .rng_seed(1)
            .build();
        let a: IpAddr = "100.64.0.1".parse().unwrap();
        let b: IpAddr = "100.65.0.1".parse().unwrap();
        sim.host(a, move || async move {
            let mut l = TurmoilNetwork::new(a).listen(SocketAddr::new(a, 7)).await?;
            assert_eq!(l.local_addr(), SocketAddr::new(a, 7));
            let mut s = l.accept().await?;
            assert_eq!(s.local_addr(), SocketAddr::new(a, 7));
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await?;
            s.write_all(&buf).await?;
            s.flush().await?;
            std::future::pending::<()>().await;
            Ok(())
        });
        sim.client(b, async move {
            let rt = TurmoilRuntime::current_host();
            let net = TurmoilNetwork::new(b);
            let wrong = net.listen("100.66.0.1:7".parse().unwrap()).await;
            assert_eq!(
                wrong.err().map(|e| e.kind()),
                Some(io::ErrorKind::AddrNotAvailable)
            );
            let refused = net.dial(SocketAddr::new(a, 8)).await;
            assert_eq!(
                refused.err().map(|e| e.kind()),
                Some(io::ErrorKind::ConnectionRefused)
            );
            let t0 = rt.now();
            let mut s = net.dial(SocketAddr::new(a, 7)).await?;
            assert_eq!(s.peer_addr(), SocketAddr::new(a, 7));
            assert_eq!(s.local_addr().ip(), b);
            s.write_all(b"hello").await?;
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"hello");
            let rtt = rt.now() - t0;
            // SYN, data, echo: three 20 ms hops (turmoil's SYN-ACK takes no time).
            assert!(
                rtt >= Duration::from_millis(60) && rtt <= Duration::from_millis(70),
                "{rtt:?}"
            );
            rt.sleep(Duration::from_millis(250)).await;
            assert!(rt.now() - t0 >= rtt + Duration::from_millis(250));
            Ok(())
        });
        sim.set_link_latency(a, b, Duration::from_millis(20));
        sim.run().unwrap();
    }
}
