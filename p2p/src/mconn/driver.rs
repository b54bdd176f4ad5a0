//! Joins the sans-IO [`MConnection`] to a byte stream and a [`Runtime`].
//!
//! One task (spawned with [`Runtime::spawn`]) owns the stream and polls
//! reading, writing and the core's timer itself, in a fixed order (timers,
//! delivery, read, transmit, write/flush, timer re-arm), so a run is
//! deterministic for a deterministic runtime. The core sits behind a mutex
//! shared with the cloneable [`MConnHandle`]: `try_send` queues directly into
//! it and wakes the task.
//!
//! Writes follow Go's buffered writer: bytes from `poll_transmit` collect in a
//! 64 KiB buffer that is written when full or when the core asks for a flush
//! (at once after a ping or pong, `flush_throttle` after a message packet).
//!
//! # Slow consumers do not break keepalive
//!
//! In CometBFT a reactor's slow `Receive` blocks the read loop, so pongs stay
//! unread and the peer is dropped after 45 s (cometbft#2533). Here received
//! messages go to a bounded channel ([`Inbound`]). While it is full:
//! - the task keeps reading and parsing the stream, holding finished messages
//!   in the core, until they add up to [`DriverConfig::recv_backlog_limit`]
//!   bytes; pings found in that input are answered at once and pongs are seen;
//! - past the limit it stops reading (bounded memory) and tells the core
//!   ([`MConnection::set_reading_paused`]), which freezes our pong deadline:
//!   a pong may be waiting unread behind the messages, so the time we
//!   deliberately do not read is not held against the peer;
//! - in both cases it keeps sending pings, pongs and messages and servicing
//!   timers, because the task never blocks on the consumer.
//!
//! What it cannot do is answer a ping it has not read: if the consumer stalls
//! past the backlog limit for longer than the peer's pong timeout, the peer
//! will drop us.
//!
//! If the [`Inbound`] receiver is dropped, received messages are discarded.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{BoxFuture, Either};
use futures::io::{AsyncRead, AsyncWrite};
use futures::task::AtomicWaker;
use futures::FutureExt;

use super::core::{ConnectionStatus, Event, MConnConfig, MConnection};
use super::{ChannelDescriptor, ConfigError, MConnError, TrySendError};
use crate::net::Runtime;
use crate::time::Instant;

/// How long [`MConnHandle::send`] waits for room (`defaultSendTimeout`).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer size of an idle connection (it grows to `read_chunk_size` under load).
const MIN_READ_CHUNK: usize = 2048;
/// Write buffer capacity kept once everything is written.
const IDLE_WRITE_CAPACITY: usize = 8192;
/// Steps per poll before the task yields to the executor.
const STEP_BUDGET: usize = 64;

/// Received messages, `(channel, message)`, as a [`futures::Stream`]. Bounded
/// twice: at most [`DriverConfig::inbound_capacity`] messages and (unless it is
/// a single message) [`DriverConfig::recv_backlog_limit`] bytes; while it is
/// full the driver holds messages and then stops reading.
pub struct Inbound {
    rx: mpsc::Receiver<(u8, Vec<u8>)>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("bytes", &self.shared.inbound_bytes.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl futures::Stream for Inbound {
    type Item = (u8, Vec<u8>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = Pin::new(&mut self.rx).poll_next(cx);
        if let Poll::Ready(Some((_, m))) = &item {
            self.shared
                .inbound_bytes
                .fetch_sub(m.len(), Ordering::AcqRel);
            self.shared.driver.wake();
        }
        item
    }
}

/// Driver settings (local only; nothing here is visible on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverConfig {
    /// Messages the [`Inbound`] channel buffers (futures' mpsc adds one).
    pub inbound_capacity: usize,
    /// Bytes of received messages held while [`Inbound`] is full before
    /// reading stops.
    pub recv_backlog_limit: usize,
    /// Write buffer size (Go: 65,536); a full buffer is written at once.
    pub write_buffer_size: usize,
    /// Bytes asked for per read.
    pub read_chunk_size: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            inbound_capacity: 256,
            recv_backlog_limit: 1 << 20,
            write_buffer_size: 65_536,
            read_chunk_size: 16 * 1024,
        }
    }
}

/// The runtime services the handle needs, with the runtime type erased.
trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep_until(&self, t: Instant) -> BoxFuture<'static, ()>;
}

impl<R: Runtime> Clock for R {
    fn now(&self) -> Instant {
        Runtime::now(self)
    }
    fn sleep_until(&self, t: Instant) -> BoxFuture<'static, ()> {
        Runtime::sleep_until(self, t).boxed()
    }
}

struct Inner {
    core: MConnection,
    send_waiters: Vec<Waker>,
    end: Option<Result<(), MConnError>>,
    end_waiters: Vec<Waker>,
}

struct Shared {
    inner: Mutex<Inner>,
    driver: AtomicWaker,
    /// Bytes of messages in the [`Inbound`] channel.
    inbound_bytes: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn wake_all(ws: &mut Vec<Waker>) {
    ws.drain(..).for_each(Waker::wake);
}

fn push_waker(ws: &mut Vec<Waker>, w: &Waker) {
    if !ws.iter().any(|x| x.will_wake(w)) {
        ws.push(w.clone());
    }
}

/// A cheap, cloneable handle to a running MConnection.
#[derive(Clone)]
pub struct MConnHandle {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MConnHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MConnHandle").finish_non_exhaustive()
    }
}

impl MConnHandle {
    /// Queues `msg` on `channel` if there is room; never blocks. False if the
    /// queue is full, the channel unknown, or the connection stopping.
    pub fn try_send(&self, channel: u8, msg: Vec<u8>) -> bool {
        let ok = self.shared.lock().core.try_send(channel, msg).is_ok();
        if ok {
            self.shared.driver.wake();
        }
        ok
    }

    /// Queues `msg`, waiting for room at most [`DEFAULT_SEND_TIMEOUT`] of
    /// runtime time. False on timeout, unknown channel or stopped connection.
    pub async fn send(&self, channel: u8, msg: Vec<u8>) -> bool {
        self.send_timeout(channel, msg, DEFAULT_SEND_TIMEOUT).await
    }

    /// Like [`MConnHandle::send`] with an explicit time limit.
    pub async fn send_timeout(&self, channel: u8, msg: Vec<u8>, limit: Duration) -> bool {
        let mut msg = Some(msg);
        let mut attempt = |cx: Option<&Context<'_>>| -> Poll<bool> {
            let mut inner = self.shared.lock();
            match inner.core.check_send(channel) {
                Ok(()) => {
                    let m = msg.take().unwrap_or_default();
                    let ok = inner.core.try_send(channel, m).is_ok();
                    drop(inner);
                    self.shared.driver.wake();
                    Poll::Ready(ok)
                }
                Err(TrySendError::Full) => {
                    if let Some(cx) = cx {
                        push_waker(&mut inner.send_waiters, cx.waker());
                    }
                    Poll::Pending
                }
                Err(_) => Poll::Ready(false),
            }
        };
        if let Poll::Ready(ok) = attempt(None) {
            return ok;
        }
        let deadline = self.clock.now() + limit;
        let wait = std::future::poll_fn(|cx| attempt(Some(cx)));
        let sleep = self.clock.sleep_until(deadline);
        match futures::future::select(std::pin::pin!(wait), sleep).await {
            Either::Left((ok, _)) => ok,
            Either::Right(((), _)) => false,
        }
    }

    /// Closes the connection at once; queued messages are dropped.
    pub fn close(&self) {
        self.shared.lock().core.close();
        self.shared.driver.wake();
    }

    /// Stops accepting messages, transmits and flushes everything already
    /// queued, then closes. The returned future (optional to await) resolves
    /// like [`MConnHandle::closed`].
    pub fn flush_stop(&self) -> impl Future<Output = Result<(), MConnError>> + Send + 'static {
        self.shared.lock().core.start_flush_stop();
        self.shared.driver.wake();
        self.closed()
    }

    /// Resolves when the connection has ended: `Ok(())` after `close` or
    /// `flush_stop`, otherwise the error that stopped it.
    pub fn closed(&self) -> impl Future<Output = Result<(), MConnError>> + Send + 'static {
        let shared = self.shared.clone();
        std::future::poll_fn(move |cx| {
            let mut inner = shared.lock();
            match &inner.end {
                Some(r) => Poll::Ready(r.clone()),
                None => {
                    push_waker(&mut inner.end_waiters, cx.waker());
                    Poll::Pending
                }
            }
        })
    }

    /// True until the connection starts stopping.
    pub fn is_running(&self) -> bool {
        self.shared.lock().core.is_open()
    }

    /// Per-channel queues and counters, rates and totals.
    pub fn status(&self) -> ConnectionStatus {
        let now = self.clock.now();
        self.shared.lock().core.status(now)
    }
}

/// The driver task. Usually started by [`spawn`]; poll it yourself to run it
/// on another executor.
pub struct Driver<S> {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    stream: Option<S>,
    cfg: DriverConfig,
    tx: mpsc::Sender<(u8, Vec<u8>)>,
    rx_gone: bool,
    held: Option<(u8, Vec<u8>)>,
    read_buf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    writing: bool,
    read_paused: bool,
    eof: bool,
    closing: bool,
    timer: Option<(Instant, BoxFuture<'static, ()>)>,
}

/// Builds an MConnection on `stream` and returns its handle, the inbound
/// receiver and the driver future (not yet running).
pub fn new<S, R>(
    rt: &R,
    stream: S,
    config: MConnConfig,
    channels: &[ChannelDescriptor],
    dcfg: DriverConfig,
) -> Result<(MConnHandle, Inbound, Driver<S>), ConfigError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: Runtime,
{
    let core = MConnection::new(Runtime::now(rt), config, channels)?;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            core,
            send_waiters: Vec::new(),
            end: None,
            end_waiters: Vec::new(),
        }),
        driver: AtomicWaker::new(),
        inbound_bytes: AtomicUsize::new(0),
    });
    let (tx, rx) = mpsc::channel(dcfg.inbound_capacity);
    let rx = Inbound {
        rx,
        shared: shared.clone(),
    };
    let clock: Arc<dyn Clock> = Arc::new(rt.clone());
    let handle = MConnHandle {
        shared: shared.clone(),
        clock: clock.clone(),
    };
    let driver = Driver {
        shared,
        clock,
        stream: Some(stream),
        read_buf: vec![0; dcfg.read_chunk_size.clamp(1, MIN_READ_CHUNK)],
        out: Vec::new(),
        cfg: dcfg,
        tx,
        rx_gone: false,
        held: None,
        out_pos: 0,
        writing: false,
        read_paused: false,
        eof: false,
        closing: false,
        timer: None,
    };
    Ok((handle, rx, driver))
}

/// Builds an MConnection on `stream` and runs its driver with `rt.spawn`.
pub fn spawn<S, R>(
    rt: &R,
    stream: S,
    config: MConnConfig,
    channels: &[ChannelDescriptor],
    dcfg: DriverConfig,
) -> Result<(MConnHandle, Inbound), ConfigError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: Runtime,
{
    let (handle, rx, driver) = new(rt, stream, config, channels, dcfg)?;
    rt.spawn(driver);
    Ok((handle, rx))
}

type End = Result<(), MConnError>;

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// One pass over every source. `Ok(true)` if anything moved.
    fn step(&mut self, cx: &mut Context<'_>) -> Result<bool, End> {
        let now = self.clock.now();
        let shared = self.shared.clone();
        let mut inner = shared.lock();
        let Some(stream) = self.stream.as_mut() else {
            return Err(Ok(()));
        };
        if let Some(r) = inner.core.close_reason() {
            return Err(r);
        }
        let mut progress = false;

        if self.closing {
            return match Pin::new(stream).poll_close(cx) {
                Poll::Ready(_) => Err(Ok(())),
                Poll::Pending => Ok(false),
            };
        }

        // 1. Timers.
        inner.core.handle_timeout(now).map_err(Err)?;

        // 2. Deliver received messages.
        loop {
            if self.held.is_none() {
                self.held = inner
                    .core
                    .poll_event()
                    .map(|Event::Received { channel, message }| (channel, message));
            }
            let Some(m) = self.held.take() else { break };
            if self.rx_gone {
                progress = true;
                continue;
            }
            // Byte bound of the channel: one message of any size may wait,
            // more only while they fit within the backlog limit.
            let queued = self.shared.inbound_bytes.load(Ordering::Acquire);
            if queued > 0 && queued + m.1.len() > self.cfg.recv_backlog_limit {
                self.held = Some(m);
                break;
            }
            match self.tx.poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    // Counted before the send, so the receiver's decrement
                    // never comes first.
                    let len = m.1.len();
                    self.shared.inbound_bytes.fetch_add(len, Ordering::AcqRel);
                    if self.tx.start_send(m).is_err() {
                        self.shared.inbound_bytes.fetch_sub(len, Ordering::AcqRel);
                    }
                    progress = true;
                }
                Poll::Ready(Err(_)) => {
                    self.rx_gone = true;
                    progress = true;
                }
                Poll::Pending => {
                    self.held = Some(m);
                    break;
                }
            }
        }
        let backlog = inner.core.pending_recv_bytes() + self.held.as_ref().map_or(0, |m| m.1.len());
        let pause = backlog >= self.cfg.recv_backlog_limit;
        if pause != self.read_paused {
            self.read_paused = pause;
            inner.core.set_reading_paused(now, pause);
        }

        // 3. Read. After the peer's EOF, end once what it sent is delivered.
        if self.eof {
            let limited =
                inner.core.buffered_input() > 0 && inner.core.recv_ready_at(now).is_some();
            if self.held.is_none() && inner.core.pending_recv_bytes() == 0 && !limited {
                return Err(Err(MConnError::ClosedByPeer));
            }
        } else if !self.read_paused && inner.core.recv_ready_at(now).is_none() {
            match Pin::new(&mut *stream).poll_read(cx, &mut self.read_buf) {
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    progress = true;
                }
                Poll::Ready(Ok(n)) => {
                    let data = self.read_buf.get(..n).unwrap_or_default();
                    inner.core.handle_input(now, data).map_err(Err)?;
                    progress = true;
                    // Grow under bulk traffic, shrink back when idle: idle
                    // connections hold little memory.
                    let len = self.read_buf.len();
                    if n == len && len < self.cfg.read_chunk_size {
                        self.read_buf
                            .resize((len * 2).min(self.cfg.read_chunk_size), 0);
                    } else if n < len / 8 && len > MIN_READ_CHUNK {
                        self.read_buf.truncate(len / 2);
                        self.read_buf.shrink_to_fit();
                    }
                }
                Poll::Ready(Err(e)) => return Err(Err(e.into())),
                Poll::Pending => {}
            }
        }

        // 4. Transmit into the write buffer.
        if self.out_pos > 0 && !self.writing {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        let queued_before = inner.core.queued_messages();
        while self.out.len() - self.out_pos < self.cfg.write_buffer_size {
            if inner.core.poll_transmit(now, &mut self.out) == 0 {
                break;
            }
            progress = true;
        }
        if inner.core.queued_messages() < queued_before {
            wake_all(&mut inner.send_waiters);
        }

        // 5. Write and flush.
        let flush_stop_done = inner.core.is_flush_stop_done();
        let must_flush = inner.core.needs_flush(now) || flush_stop_done;
        if self.out_pos < self.out.len()
            && (must_flush || self.out.len() - self.out_pos >= self.cfg.write_buffer_size)
        {
            self.writing = true;
        }
        while self.writing && self.out_pos < self.out.len() {
            match Pin::new(&mut *stream).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Err(Err(
                        std::io::Error::from(std::io::ErrorKind::WriteZero).into()
                    ))
                }
                Poll::Ready(Ok(n)) => {
                    self.out_pos += n;
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(Err(e.into())),
                Poll::Pending => break,
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            if self.out.capacity() > IDLE_WRITE_CAPACITY {
                self.out.shrink_to(IDLE_WRITE_CAPACITY);
            }
            self.out_pos = 0;
            self.writing = false;
            if must_flush {
                match Pin::new(&mut *stream).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        inner.core.mark_flushed();
                        progress = true;
                        if flush_stop_done {
                            self.closing = true;
                        }
                    }
                    Poll::Ready(Err(e)) => return Err(Err(e.into())),
                    Poll::Pending => {}
                }
            }
        }

        // 6. Re-arm the timer.
        match inner.core.poll_timeout_after(now) {
            None => self.timer = None,
            Some(t) => {
                if self.timer.as_ref().is_none_or(|(d, _)| *d != t) {
                    self.timer = Some((t, self.clock.sleep_until(t)));
                }
                if let Some((_, sleep)) = self.timer.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        self.timer = None;
                        progress = true;
                    }
                }
            }
        }
        Ok(progress)
    }

    fn finish(&mut self, end: End) {
        self.stream = None;
        let mut inner = self.shared.lock();
        // Messages that arrived before the end still go out if they fit.
        let held = self.held.take();
        let rest = std::iter::from_fn(|| inner.core.poll_event())
            .map(|Event::Received { channel, message }| (channel, message));
        for m in held.into_iter().chain(rest) {
            let len = m.1.len();
            self.shared.inbound_bytes.fetch_add(len, Ordering::AcqRel);
            if self.tx.try_send(m).is_err() {
                self.shared.inbound_bytes.fetch_sub(len, Ordering::AcqRel);
                break;
            }
        }
        inner.core.close();
        if inner.end.is_none() {
            inner.end = Some(end);
        }
        wake_all(&mut inner.end_waiters);
        wake_all(&mut inner.send_waiters);
    }
}

impl<S> Future for Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.shared.driver.register(cx.waker());
        for _ in 0..STEP_BUDGET {
            match this.step(cx) {
                Ok(true) => {}
                Ok(false) => return Poll::Pending,
                Err(end) => {
                    this.finish(end);
                    return Poll::Ready(());
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<S> Drop for Driver<S> {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        if inner.end.is_none() {
            inner.core.close();
            let e = std::io::Error::other("MConnection driver dropped");
            inner.end = Some(Err(e.into()));
            wake_all(&mut inner.end_waiters);
            wake_all(&mut inner.send_waiters);
        }
    }
}
