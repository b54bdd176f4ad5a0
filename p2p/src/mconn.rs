//! MConnection (spec 1.5, 1.6, 2.4, 2.6): many logical channels multiplexed
//! over one reliable byte stream (in production the SecretConnection).
//!
//! Map:
//! - [`packet`]: the `Packet` codec (ping, pong, msg) and `max_packet_msg_size`.
//! - [`channel`]: [`ChannelDescriptor`] with the standard v0.38 channels, and the
//!   per-channel send queue / reassembly state.
//! - [`flow`]: the flowrate-style rate limiter used for sending and receiving.
//! - [`core`]: the sans-IO state machine [`MConnection`]: bytes in, bytes out,
//!   events and timers, all driven by `now` values handed in by the caller.
//! - [`driver`]: one task that joins the core to an `AsyncRead + AsyncWrite`
//!   stream and a [`crate::net::Runtime`]; users talk to it through
//!   [`MConnHandle`] and receive messages from a bounded channel.
//!
//! Errors: [`MConnError`] says why a connection ended (a peer protocol
//! violation, a keepalive timeout, or I/O); [`ConfigError`] rejects a bad local
//! configuration before anything starts; [`TrySendError`] says why a message
//! could not be queued.

use std::io;
use std::sync::Arc;
use std::time::Duration;

pub mod channel;
pub mod core;
pub mod driver;
pub mod flow;
pub mod packet;

pub use self::channel::{ChannelDescriptor, ChannelStatus};
pub use self::core::{ConnectionStatus, Event, MConnConfig, MConnection};
pub use self::driver::{spawn, DriverConfig, Inbound, MConnHandle, DEFAULT_SEND_TIMEOUT};
pub use self::flow::{FlowStatus, RateLimiter};
pub use self::packet::{max_packet_msg_size, Packet, PacketError, PacketMsg};

/// Why an MConnection stopped. Every protocol violation by the peer maps to
/// one variant; see [`MConnError::is_peer_misbehavior`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum MConnError {
    /// Peer misbehaved: a packet's declared length exceeds `max_packet_msg_size`.
    #[error("packet of {len} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// Declared body length.
        len: u64,
        /// The local maximum packet body size.
        max: usize,
    },
    /// Peer misbehaved: a length prefix or protobuf body does not decode.
    #[error("malformed packet: {0}")]
    Malformed(String),
    /// Peer misbehaved: a `Packet` with no (or an unknown) oneof field.
    #[error("packet without a known ping/pong/msg field")]
    EmptyPacket,
    /// Peer misbehaved: a `PacketMsg` for a channel we did not register
    /// (or a channel id outside 0..=255).
    #[error("message on unknown channel {0:#x}")]
    UnknownChannel(i32),
    /// Peer misbehaved: a reassembled message exceeds the channel's
    /// `recv_message_capacity`.
    #[error("message of {len} bytes on channel {channel:#x} exceeds the capacity of {max}")]
    MessageTooLarge {
        /// The channel.
        channel: u8,
        /// Bytes the message would have after appending the packet.
        len: usize,
        /// The channel's `recv_message_capacity`.
        max: usize,
    },
    /// Timeout: no pong arrived within `pong_timeout` after our ping.
    #[error("no pong within the pong timeout")]
    PongTimeout,
    /// The peer closed the stream (read returned 0 bytes).
    #[error("connection closed by the peer")]
    ClosedByPeer,
    /// The stream failed.
    #[error("I/O error: {0}")]
    Io(#[source] Arc<io::Error>),
}

impl MConnError {
    /// True if the error is a protocol violation by the peer (as opposed to a
    /// timeout or an I/O failure).
    pub fn is_peer_misbehavior(&self) -> bool {
        matches!(
            self,
            MConnError::PacketTooLarge { .. }
                | MConnError::Malformed(_)
                | MConnError::EmptyPacket
                | MConnError::UnknownChannel(_)
                | MConnError::MessageTooLarge { .. }
        )
    }
}

impl From<io::Error> for MConnError {
    fn from(e: io::Error) -> Self {
        MConnError::Io(Arc::new(e))
    }
}

impl From<PacketError> for MConnError {
    fn from(e: PacketError) -> Self {
        match e {
            PacketError::TooLarge { len, max } => MConnError::PacketTooLarge { len, max },
            PacketError::BadVarint => MConnError::Malformed("bad length prefix".into()),
            PacketError::Malformed(m) => MConnError::Malformed(m),
            PacketError::EmptyPacket => MConnError::EmptyPacket,
            PacketError::ChannelOutOfRange(id) => MConnError::UnknownChannel(id),
        }
    }
}

/// A local configuration the MConnection refuses to run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `pong_timeout` must be strictly shorter than `ping_interval`.
    #[error("pong timeout {pong_timeout:?} must be less than ping interval {ping_interval:?}")]
    PongTimeoutNotBelowPingInterval {
        /// The configured pong timeout.
        pong_timeout: Duration,
        /// The configured ping interval.
        ping_interval: Duration,
    },
    /// A channel descriptor has priority 0.
    #[error("channel {channel:#x} has priority 0; priorities must be positive")]
    ZeroPriority {
        /// The channel.
        channel: u8,
    },
    /// Two descriptors use the same channel id.
    #[error("channel {channel:#x} is registered twice")]
    DuplicateChannel {
        /// The channel.
        channel: u8,
    },
    /// `max_packet_msg_payload_size` is 0.
    #[error("max_packet_msg_payload_size must be positive")]
    ZeroPayloadSize,
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError {
    /// The channel's send queue is full.
    #[error("send queue full")]
    Full,
    /// No channel with that id was registered locally.
    #[error("unknown channel")]
    UnknownChannel,
    /// The connection is stopping or stopped.
    #[error("connection closed")]
    Closed,
}
