//! The sans-IO MConnection state machine (spec 2.6), in quinn-proto's shape.
//!
//! Inputs: [`MConnection::handle_input`] (bytes read from the stream),
//! [`MConnection::handle_timeout`] (the clock reached [`MConnection::poll_timeout`]),
//! [`MConnection::try_send`] (a user message). Outputs:
//! [`MConnection::poll_transmit`] (bytes to write), [`MConnection::poll_event`]
//! (reassembled messages) and the flush state ([`MConnection::needs_flush`],
//! [`MConnection::mark_flushed`]). Every call takes `now`; the core never reads
//! a clock.
//!
//! Behaviour (v0.38): a ping every `ping_interval` from creation (not
//! idle-based) and `PongTimeout` if no pong arrives within `pong_timeout` of
//! writing it; a received ping queues one pong (coalesced); written pings and
//! pongs ask for an immediate flush, message packets may wait `flush_throttle`;
//! message packets go out in batches of at most 10 after the send limiter
//! allows, each from the pending channel with the smallest
//! `recently_sent / priority` (ties to the first registered); every 2 s
//! `recently_sent` decays by 0.8. The receive limiter is checked before each
//! packet is processed; bytes it holds back stay buffered until
//! [`MConnection::recv_ready_at`].
//!
//! Reading can be paused ([`MConnection::set_reading_paused`]) when the local
//! consumer is slow: while paused, the pong deadline does not run, since a pong
//! may be sitting unread in the stream.

use std::collections::VecDeque;
use std::time::Duration;

use super::channel::{Channel, ChannelDescriptor, ChannelStatus};
use super::flow::{FlowStatus, RateLimiter};
use super::packet::{self, Packet, DEFAULT_MAX_PACKET_MSG_PAYLOAD_SIZE};
use super::{ConfigError, MConnError, TrySendError};
use crate::time::Instant;

/// Packets per send batch (`numBatchPacketMsgs`).
pub const BATCH_PACKETS: usize = 10;
/// Period of the `recently_sent` decay.
pub const STATS_PERIOD: Duration = Duration::from_secs(2);

/// MConnection settings (spec 2.6). Defaults are a v0.38 node's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MConnConfig {
    /// Send limit in bytes per second (0 = unlimited).
    pub send_rate: u64,
    /// Receive limit in bytes per second (0 = unlimited).
    pub recv_rate: u64,
    /// Message bytes per packet; a network-wide constant in practice.
    pub max_packet_msg_payload_size: usize,
    /// Longest time written message packets may wait before a flush.
    pub flush_throttle: Duration,
    /// Time between pings.
    pub ping_interval: Duration,
    /// Time to wait for a pong; must be below `ping_interval`.
    pub pong_timeout: Duration,
}

impl Default for MConnConfig {
    fn default() -> Self {
        MConnConfig {
            send_rate: 5_120_000,
            recv_rate: 5_120_000,
            max_packet_msg_payload_size: DEFAULT_MAX_PACKET_MSG_PAYLOAD_SIZE,
            flush_throttle: Duration::from_millis(100),
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(45),
        }
    }
}

impl MConnConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pong_timeout >= self.ping_interval {
            return Err(ConfigError::PongTimeoutNotBelowPingInterval {
                pong_timeout: self.pong_timeout,
                ping_interval: self.ping_interval,
            });
        }
        if self.max_packet_msg_payload_size == 0 {
            return Err(ConfigError::ZeroPayloadSize);
        }
        Ok(())
    }
}

/// Something the connection produced for its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message arrived on `channel`.
    Received {
        /// The channel.
        channel: u8,
        /// The reassembled message bytes.
        message: Vec<u8>,
    },
}

/// A snapshot of the connection for status and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStatus {
    /// Time since the connection was created.
    pub duration: Duration,
    /// Send direction.
    pub send: FlowStatus,
    /// Receive direction.
    pub recv: FlowStatus,
    /// Channels in registration order.
    pub channels: Vec<ChannelStatus>,
    /// Time from our last answered ping being written to its pong being read.
    pub last_ping_rtt: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PongTimer {
    Idle,
    Running(Instant),
    /// Reading is paused; this much of the timeout is left.
    Paused(Duration),
}

#[derive(Debug)]
enum State {
    Open,
    FlushStopping,
    Closed(Option<MConnError>),
}

/// The sans-IO MConnection.
#[derive(Debug)]
pub struct MConnection {
    config: MConnConfig,
    channels: Vec<Channel>,
    max_packet_size: usize,
    created: Instant,
    last_now: Instant,
    state: State,
    in_buf: Vec<u8>,
    in_pos: usize,
    events: VecDeque<Event>,
    pending_recv_bytes: usize,
    pong_pending: bool,
    ping_pending: bool,
    /// When our outstanding ping was written, and the last measured round trip.
    ping_sent_at: Option<Instant>,
    last_rtt: Option<Duration>,
    next_ping: Instant,
    pong: PongTimer,
    reading_paused: bool,
    next_stats: Instant,
    unflushed_since: Option<Instant>,
    flush_now: Option<Instant>,
    send_flow: RateLimiter,
    recv_flow: RateLimiter,
}

impl MConnection {
    /// A connection started at `now` with the local channels, in registration
    /// order (which breaks scheduling ties). Zero capacities get defaults.
    pub fn new(
        now: Instant,
        config: MConnConfig,
        channels: &[ChannelDescriptor],
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut chans: Vec<Channel> = Vec::with_capacity(channels.len());
        for d in channels {
            let d = d.fill_defaults();
            d.validate()?;
            if chans.iter().any(|c| c.desc.id == d.id) {
                return Err(ConfigError::DuplicateChannel { channel: d.id });
            }
            chans.push(Channel::new(d));
        }
        Ok(MConnection {
            max_packet_size: packet::max_packet_msg_size(config.max_packet_msg_payload_size),
            channels: chans,
            created: now,
            last_now: now,
            state: State::Open,
            in_buf: Vec::new(),
            in_pos: 0,
            events: VecDeque::new(),
            pending_recv_bytes: 0,
            pong_pending: false,
            ping_pending: false,
            ping_sent_at: None,
            last_rtt: None,
            next_ping: now + config.ping_interval,
            pong: PongTimer::Idle,
            reading_paused: false,
            next_stats: now + STATS_PERIOD,
            unflushed_since: None,
            flush_now: None,
            send_flow: RateLimiter::new(now, config.send_rate),
            recv_flow: RateLimiter::new(now, config.recv_rate),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MConnConfig {
        &self.config
    }

    /// The largest packet body accepted from the peer.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    fn tick(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn fail(&mut self, e: MConnError) -> MConnError {
        if !matches!(self.state, State::Closed(_)) {
            self.state = State::Closed(Some(e.clone()));
        }
        e
    }

    /// `Some(Ok(()))` after a local close, `Some(Err(e))` after a failure,
    /// `None` while open or flush-stopping.
    pub fn close_reason(&self) -> Option<Result<(), MConnError>> {
        match &self.state {
            State::Closed(None) => Some(Ok(())),
            State::Closed(Some(e)) => Some(Err(e.clone())),
            _ => None,
        }
    }

    fn closed_result(&self) -> Result<(), MConnError> {
        self.close_reason().unwrap_or(Ok(()))
    }

    /// True while open (not flush-stopping or closed).
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// True once closed (locally or by an error).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Closes at once; queued data is dropped.
    pub fn close(&mut self) {
        if !self.is_closed() {
            self.state = State::Closed(None);
        }
    }

    /// Stops accepting messages, pings and pongs; queued messages keep being
    /// transmitted. Done when [`MConnection::is_flush_stop_done`].
    pub fn start_flush_stop(&mut self) {
        if matches!(self.state, State::Open) {
            self.state = State::FlushStopping;
            self.ping_pending = false;
            self.pong_pending = false;
            self.pong = PongTimer::Idle;
        }
    }

    /// True if flush-stopping and every queued message has been transmitted.
    pub fn is_flush_stop_done(&self) -> bool {
        matches!(self.state, State::FlushStopping) && self.channels.iter().all(Channel::is_idle)
    }

    /// Checks whether `try_send(channel, _)` would succeed right now.
    pub fn check_send(&self, channel: u8) -> Result<(), TrySendError> {
        if !matches!(self.state, State::Open) {
            return Err(TrySendError::Closed);
        }
        match self.channels.iter().find(|c| c.desc.id == channel) {
            None => Err(TrySendError::UnknownChannel),
            Some(c) if !c.has_room() => Err(TrySendError::Full),
            Some(_) => Ok(()),
        }
    }

    /// Queues `msg` on `channel` without blocking.
    pub fn try_send(&mut self, channel: u8, msg: Vec<u8>) -> Result<(), TrySendError> {
        self.check_send(channel)?;
        if let Some(c) = self.channels.iter_mut().find(|c| c.desc.id == channel) {
            c.push(msg);
        }
        Ok(())
    }

    /// Messages waiting in send queues (not counting in-flight ones).
    pub fn queued_messages(&self) -> usize {
        self.channels.iter().map(Channel::queue_len).sum()
    }

    /// Feeds bytes read from the stream. Complete packets are processed as far
    /// as the receive limiter allows; the rest stays buffered.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), MConnError> {
        let now = self.tick(now);
        if self.is_closed() {
            return self.closed_result();
        }
        self.in_buf.extend_from_slice(bytes);
        self.process_input(now)
    }

    fn process_input(&mut self, now: Instant) -> Result<(), MConnError> {
        loop {
            self.recv_flow.record(now, 0);
            if self.recv_flow.ready_at(now).is_some() {
                break;
            }
            let avail = self.in_buf.get(self.in_pos..).unwrap_or_default();
            match packet::split_packet(avail, self.max_packet_size) {
                Ok(None) => break,
                Err(e) => return Err(self.fail(e.into())),
                Ok(Some((pkt, used))) => {
                    self.in_pos += used;
                    self.recv_flow.record(now, used);
                    if let Err(e) = self.dispatch(now, pkt) {
                        return Err(self.fail(e));
                    }
                }
            }
        }
        if self.in_pos == self.in_buf.len() {
            self.in_buf.clear();
            self.in_pos = 0;
        } else if self.in_pos > self.in_buf.len() / 2 {
            self.in_buf.drain(..self.in_pos);
            self.in_pos = 0;
        }
        Ok(())
    }

    fn dispatch(&mut self, now: Instant, pkt: Packet) -> Result<(), MConnError> {
        match pkt {
            Packet::Ping => self.pong_pending = matches!(self.state, State::Open),
            Packet::Pong => {
                self.pong = PongTimer::Idle;
                if let Some(sent) = self.ping_sent_at.take() {
                    self.last_rtt = Some(now - sent);
                }
            }
            Packet::Msg(m) => {
                let ch = self
                    .channels
                    .iter_mut()
                    .find(|c| c.desc.id == m.channel)
                    .ok_or(MConnError::UnknownChannel(i32::from(m.channel)))?;
                if let Some(message) = ch.recv_packet(m.eof, m.data)? {
                    self.pending_recv_bytes += message.len();
                    self.events.push_back(Event::Received {
                        channel: m.channel,
                        message,
                    });
                }
            }
        }
        Ok(())
    }

    /// The next user event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        let Event::Received { message, .. } = &ev;
        self.pending_recv_bytes -= message.len();
        Some(ev)
    }

    /// Bytes of received messages not yet taken with `poll_event`.
    pub fn pending_recv_bytes(&self) -> usize {
        self.pending_recv_bytes
    }

    /// Bytes read but not yet processed (held back by the receive limiter or
    /// an incomplete packet).
    pub fn buffered_input(&self) -> usize {
        self.in_buf.len() - self.in_pos
    }

    /// `None` if the receive limiter lets more input be processed at `now`,
    /// else when it will.
    pub fn recv_ready_at(&self, now: Instant) -> Option<Instant> {
        self.recv_flow.ready_at(now)
    }

    /// Pauses or resumes reading (the caller stops reading the stream because
    /// its consumer is slow). While paused the pong deadline is frozen.
    pub fn set_reading_paused(&mut self, now: Instant, paused: bool) {
        let now = self.tick(now);
        self.reading_paused = paused;
        self.pong = match (self.pong, paused) {
            (PongTimer::Running(d), true) => PongTimer::Paused(d - now),
            (PongTimer::Paused(left), false) => PongTimer::Running(now + left),
            (p, _) => p,
        };
    }

    /// Appends the bytes to write at `now` (a pending pong, a due ping, then
    /// at most one batch of message packets if the send limiter allows) and
    /// returns how many were appended. Call until it returns 0.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> usize {
        let now = self.tick(now);
        let start = out.len();
        match self.state {
            State::Closed(_) => return 0,
            State::FlushStopping => {}
            State::Open => {
                if std::mem::take(&mut self.pong_pending) {
                    packet::encode_pong(out);
                    self.send_flow.record(now, packet::PONG_BYTES.len());
                    self.flush_now.get_or_insert(now);
                }
                if std::mem::take(&mut self.ping_pending) {
                    packet::encode_ping(out);
                    self.ping_sent_at = Some(now);
                    self.send_flow.record(now, packet::PING_BYTES.len());
                    self.flush_now.get_or_insert(now);
                    self.pong = if self.reading_paused {
                        PongTimer::Paused(self.config.pong_timeout)
                    } else {
                        PongTimer::Running(now + self.config.pong_timeout)
                    };
                }
            }
        }
        if self.has_pending_send() {
            self.send_flow.record(now, 0);
            if self.send_flow.ready_at(now).is_none() {
                let mut batch = 0;
                for _ in 0..BATCH_PACKETS {
                    let Some(i) = self.select_channel() else {
                        break;
                    };
                    batch +=
                        self.channels[i].write_packet(self.config.max_packet_msg_payload_size, out);
                }
                self.send_flow.record(now, batch);
                if batch > 0 {
                    self.unflushed_since.get_or_insert(now);
                }
            }
        }
        out.len() - start
    }

    fn has_pending_send(&mut self) -> bool {
        let mut any = false;
        for c in &mut self.channels {
            any |= c.is_send_pending();
        }
        any
    }

    /// The pending channel with the smallest `recently_sent / priority`
    /// (strict `<`: ties go to the earliest registered).
    fn select_channel(&mut self) -> Option<usize> {
        let mut best: Option<(usize, f32)> = None;
        for (i, c) in self.channels.iter_mut().enumerate() {
            if !c.is_send_pending() {
                continue;
            }
            let r = c.ratio();
            if best.is_none_or(|(_, b)| r < b) {
                best = Some((i, r));
            }
        }
        best.map(|(i, _)| i)
    }

    /// When the written bytes must be flushed: at once after a ping or pong,
    /// else `flush_throttle` after the first unflushed message packet.
    pub fn flush_deadline(&self) -> Option<Instant> {
        let throttled = self.unflushed_since.map(|t| t + self.config.flush_throttle);
        match (self.flush_now, throttled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True if the caller must flush at `now`.
    pub fn needs_flush(&self, now: Instant) -> bool {
        self.flush_deadline().is_some_and(|d| d <= now)
    }

    /// The caller flushed everything written so far.
    pub fn mark_flushed(&mut self) {
        self.unflushed_since = None;
        self.flush_now = None;
    }

    /// The next instant at which [`MConnection::handle_timeout`] (or a retry of
    /// `poll_transmit` / input processing, or a flush) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines().min()
    }

    /// Like [`MConnection::poll_timeout`] but only deadlines after `now`; a
    /// driver waiting for the stream to accept an overdue flush uses it.
    pub fn poll_timeout_after(&self, now: Instant) -> Option<Instant> {
        self.deadlines().filter(|t| *t > now).min()
    }

    fn deadlines(&self) -> impl Iterator<Item = Instant> {
        let now = self.last_now;
        let (open, closed) = match self.state {
            State::Open => (true, false),
            State::FlushStopping => (false, false),
            State::Closed(_) => (false, true),
        };
        let pong = match self.pong {
            PongTimer::Running(d) if open => Some(d),
            _ => None,
        };
        let sending = self.channels.iter().any(|c| !c.is_idle());
        let all = [
            open.then_some(self.next_ping),
            pong,
            Some(self.next_stats),
            if sending {
                self.send_flow.ready_at(now)
            } else {
                None
            },
            self.recv_flow.ready_at(now),
            self.flush_deadline(),
        ];
        all.into_iter().flatten().filter(move |_| !closed)
    }

    /// Advances timers to `now`: pong timeout, ping, stats decay, and input
    /// held back by the receive limiter.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), MConnError> {
        let now = self.tick(now);
        if self.is_closed() {
            return self.closed_result();
        }
        if matches!(self.state, State::Open) {
            if let PongTimer::Running(d) = self.pong {
                if now >= d {
                    return Err(self.fail(MConnError::PongTimeout));
                }
            }
            if now >= self.next_ping {
                self.ping_pending = true;
                self.next_ping = skip_past(self.next_ping, self.config.ping_interval, now);
            }
        }
        if now >= self.next_stats {
            // Like Go's ticker: one decay however many periods were missed.
            self.channels.iter_mut().for_each(Channel::decay);
            self.next_stats = skip_past(self.next_stats, STATS_PERIOD, now);
        }
        if self.buffered_input() > 0 {
            self.process_input(now)?;
        }
        Ok(())
    }

    /// Status as of `now`.
    pub fn status(&mut self, now: Instant) -> ConnectionStatus {
        let now = self.tick(now);
        ConnectionStatus {
            duration: now - self.created,
            send: self.send_flow.status(now),
            recv: self.recv_flow.status(now),
            channels: self.channels.iter().map(Channel::status).collect(),
            last_ping_rtt: self.last_rtt,
        }
    }
}

/// The first `t + k * period` (k >= 1) that is after `now`.
fn skip_past(t: Instant, period: Duration, now: Instant) -> Instant {
    let mut next = t + period;
    if next <= now {
        let behind = (now - next).as_nanos() / period.as_nanos().max(1);
        let k = u32::try_from(behind + 1).unwrap_or(u32::MAX);
        next += period.saturating_mul(k);
    }
    next
}
