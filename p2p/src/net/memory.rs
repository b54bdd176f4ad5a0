//! An in-process [`Network`] for tests: streams are bounded in-memory pipes,
//! listeners are entries in a hub owned by the [`MemoryNetwork`] value (no
//! globals, so parallel tests never share state).
//!
//! Addresses are plain `SocketAddr`s. A handle dials from its own IP
//! ([`MemoryNetwork::with_ip`]); ephemeral ports count up from 40000.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::channel::mpsc;
use futures::io::{AsyncRead, AsyncWrite};
use futures::StreamExt;

use super::{Listener, Network, Stream};

/// Bytes a pipe buffers per direction before the writer waits.
pub const DEFAULT_PIPE_CAPACITY: usize = 256 * 1024;

#[derive(Default)]
struct Hub {
    listeners: BTreeMap<SocketAddr, mpsc::UnboundedSender<MemoryStream>>,
    next_port: u16,
}

/// A handle to an in-memory network. Clones share the same hub.
#[derive(Clone)]
pub struct MemoryNetwork {
    hub: Arc<Mutex<Hub>>,
    ip: IpAddr,
    capacity: usize,
}

impl Default for MemoryNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryNetwork {
    /// A new, empty network; this handle dials from 127.0.0.1.
    pub fn new() -> Self {
        MemoryNetwork {
            hub: Arc::new(Mutex::new(Hub {
                listeners: BTreeMap::new(),
                next_port: 40000,
            })),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            capacity: DEFAULT_PIPE_CAPACITY,
        }
    }

    /// A handle on the same network that dials from `ip`.
    pub fn with_ip(&self, ip: IpAddr) -> Self {
        MemoryNetwork { ip, ..self.clone() }
    }

    /// A handle on the same network whose new pipes buffer `bytes` per direction.
    pub fn with_pipe_capacity(&self, bytes: usize) -> Self {
        MemoryNetwork {
            capacity: bytes.max(1),
            ..self.clone()
        }
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ephemeral_port(hub: &mut Hub) -> u16 {
        let p = hub.next_port;
        hub.next_port = if p == u16::MAX { 40000 } else { p + 1 };
        p
    }
}

/// One direction of a stream.
struct Pipe {
    buf: VecDeque<u8>,
    capacity: usize,
    reader: Option<Waker>,
    writer: Option<Waker>,
    write_closed: bool,
    read_closed: bool,
}

impl Pipe {
    fn new(capacity: usize) -> Arc<Mutex<Pipe>> {
        Arc::new(Mutex::new(Pipe {
            buf: VecDeque::new(),
            capacity,
            reader: None,
            writer: None,
            write_closed: false,
            read_closed: false,
        }))
    }
}

fn lock(p: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// One end of an in-memory connection.
pub struct MemoryStream {
    rx: Arc<Mutex<Pipe>>,
    tx: Arc<Mutex<Pipe>>,
    local: SocketAddr,
    peer: SocketAddr,
}

impl MemoryStream {
    /// A connected pair of streams (`a` at `a_addr`, `b` at `b_addr`).
    pub fn pair(a_addr: SocketAddr, b_addr: SocketAddr, capacity: usize) -> (Self, Self) {
        let ab = Pipe::new(capacity);
        let ba = Pipe::new(capacity);
        let a = MemoryStream {
            rx: ba.clone(),
            tx: ab.clone(),
            local: a_addr,
            peer: b_addr,
        };
        let b = MemoryStream {
            rx: ab,
            tx: ba,
            local: b_addr,
            peer: a_addr,
        };
        (a, b)
    }

    fn close_write(&self) {
        let mut p = lock(&self.tx);
        p.write_closed = true;
        if let Some(w) = p.reader.take() {
            w.wake();
        }
    }
}

impl Drop for MemoryStream {
    fn drop(&mut self) {
        self.close_write();
        let mut p = lock(&self.rx);
        p.read_closed = true;
        p.buf.clear();
        if let Some(w) = p.writer.take() {
            w.wake();
        }
    }
}

impl AsyncRead for MemoryStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut p = lock(&self.rx);
        if p.buf.is_empty() {
            if p.write_closed || out.is_empty() {
                return Poll::Ready(Ok(0));
            }
            p.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = out.len().min(p.buf.len());
        let (front, back) = p.buf.as_slices();
        let k = n.min(front.len());
        out[..k].copy_from_slice(&front[..k]);
        out[k..n].copy_from_slice(&back[..n - k]);
        p.buf.drain(..n);
        if let Some(w) = p.writer.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MemoryStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut p = lock(&self.tx);
        if p.write_closed || p.read_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = p.capacity.saturating_sub(p.buf.len());
        if room == 0 {
            p.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        p.buf.extend(&data[..n]);
        if let Some(w) = p.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close_write();
        Poll::Ready(Ok(()))
    }
}

impl Stream for MemoryStream {
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// A listener on a [`MemoryNetwork`]; dropping it frees the address.
pub struct MemoryListener {
    rx: mpsc::UnboundedReceiver<MemoryStream>,
    local: SocketAddr,
    net: MemoryNetwork,
}

impl Drop for MemoryListener {
    fn drop(&mut self) {
        self.net.hub().listeners.remove(&self.local);
    }
}

impl Listener for MemoryListener {
    type Stream = MemoryStream;

    async fn accept(&mut self) -> io::Result<MemoryStream> {
        self.rx
            .next()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "network dropped"))
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Network for MemoryNetwork {
    type Stream = MemoryStream;
    type Listener = MemoryListener;

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn dial(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<MemoryStream>> + Send + 'static {
        let result = (|| -> Result<MemoryStream, io::ErrorKind> {
            let mut hub = self.hub();
            let tx = hub
                .listeners
                .get(&addr)
                .cloned()
                .ok_or(io::ErrorKind::ConnectionRefused)?;
            let local = SocketAddr::new(self.ip, Self::ephemeral_port(&mut hub));
            let (ours, theirs) = MemoryStream::pair(local, addr, self.capacity);
            tx.unbounded_send(theirs)
                .map_err(|_| io::ErrorKind::ConnectionRefused)?;
            Ok(ours)
        })();
        async move { result.map_err(io::Error::from) }
    }

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn listen(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<MemoryListener>> + Send + 'static {
        let result = (|| {
            let mut hub = self.hub();
            let mut local = addr;
            if local.port() == 0 {
                local.set_port(Self::ephemeral_port(&mut hub));
            }
            if hub.listeners.contains_key(&local) {
                return Err(io::Error::from(io::ErrorKind::AddrInUse));
            }
            let (tx, rx) = mpsc::unbounded();
            hub.listeners.insert(local, tx);
            Ok(MemoryListener {
                rx,
                local,
                net: self.clone(),
            })
        })();
        async move { result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn dial_accept_echo_close() {
        block_on(async {
            let net = MemoryNetwork::new();
            let addr: SocketAddr = "10.0.0.1:26656".parse().unwrap();
            let mut l = net.listen(addr).await.unwrap();
            assert_eq!(
                net.listen(addr).await.err().map(|e| e.kind()),
                Some(io::ErrorKind::AddrInUse)
            );
            let client_net = net.with_ip("10.0.0.2".parse().unwrap());
            let mut c = client_net.dial(addr).await.unwrap();
            let mut s = l.accept().await.unwrap();
            assert_eq!(s.peer_addr(), c.local_addr());
            assert_eq!(c.local_addr().ip(), "10.0.0.2".parse::<IpAddr>().unwrap());
            c.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
            c.close().await.unwrap();
            assert_eq!(s.read(&mut buf).await.unwrap(), 0);
            drop(s);
            assert_eq!(
                c.write(b"x").await.unwrap_err().kind(),
                io::ErrorKind::BrokenPipe
            );
            drop(l);
            assert_eq!(
                net.dial(addr).await.err().map(|e| e.kind()),
                Some(io::ErrorKind::ConnectionRefused)
            );
        });
    }

    #[test]
    fn writer_waits_for_room() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (mut x, mut y) = MemoryStream::pair(a, a, 8);
        block_on(async {
            assert_eq!(x.write(&[1u8; 20]).await.unwrap(), 8);
            let mut buf = [0u8; 20];
            assert_eq!(y.read(&mut buf).await.unwrap(), 8);
            assert_eq!(x.write(&[2u8; 3]).await.unwrap(), 3);
        });
    }
}
