//! One end of a simulated connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use p2p::net::{Runtime, Stream};

use super::World;

/// One end of a simulated TCP connection (futures-io stream).
pub struct SimStream {
    world: World,
    conn: u64,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
    closed: bool,
}

impl SimStream {
    pub(super) fn new(
        world: World,
        conn: u64,
        side: usize,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Self {
        SimStream {
            world,
            conn,
            side,
            local,
            peer,
            closed: false,
        }
    }

    /// Sends FIN after the bytes already in flight.
    fn send_fin(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let (id, d) = (self.conn, self.side);
        let at = {
            let mut s = self.world.lock();
            let Some(c) = s.conns.get_mut(&id) else {
                return;
            };
            c.dirs[d].fin_sent = true;
            c.dirs[d].last_arrival
        };
        let world = self.world.clone();
        let at = at.max(self.world.rt.now());
        self.world.rt.schedule(at, move || {
            let now = world.rt.now();
            let mut s = world.lock();
            if let Some(c) = s.conns.get_mut(&id) {
                c.dirs[d].fin_arrived = true;
                if let Some(w) = c.dirs[d].reader.take() {
                    w.wake();
                }
            }
            World::record(&mut s, now, 2, id, d, 0);
        });
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        self.send_fin();
        let mut s = self.world.lock();
        let incoming = 1 - self.side;
        let remove = match s.conns.get_mut(&self.conn) {
            Some(c) => {
                let dir = &mut c.dirs[incoming];
                dir.reader_gone = true;
                dir.buf.clear();
                dir.stalled.clear();
                dir.unread = 0;
                if let Some(w) = dir.writer.take() {
                    w.wake();
                }
                c.open_ends = c.open_ends.saturating_sub(1);
                c.open_ends == 0
            }
            None => false,
        };
        if remove {
            // Deliveries still scheduled find no connection and are dropped.
            if let Some(c) = s.conns.remove(&self.conn) {
                for end in c.ends {
                    if let Some(h) = s.hosts.get_mut(&end.ip()) {
                        h.conns.remove(&self.conn);
                    }
                }
            }
        }
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.world.lock();
        let Some(c) = s.conns.get_mut(&self.conn) else {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        };
        let dir = &mut c.dirs[1 - self.side];
        if !dir.buf.is_empty() && !out.is_empty() {
            let n = dir.buf.read(out);
            dir.unread = dir.unread.saturating_sub(n);
            if let Some(w) = dir.writer.take() {
                w.wake();
            }
            return Poll::Ready(Ok(n));
        }
        if dir.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if dir.fin_arrived || out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        dir.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = {
            let mut s = self.world.lock();
            let window = s.window;
            let Some(c) = s.conns.get_mut(&self.conn) else {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            };
            let dir = &mut c.dirs[self.side];
            if dir.reset {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            if dir.fin_sent || dir.reader_gone {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if dir.unread >= window {
                dir.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = data.len().min(window - dir.unread).min(super::MAX_SEGMENT);
            dir.unread += n;
            n
        };
        self.world
            .transmit(self.conn, self.side, data[..n].to_vec());
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.send_fin();
        Poll::Ready(Ok(()))
    }
}

impl Stream for SimStream {
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
}
