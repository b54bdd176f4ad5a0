//! Channels (spec 1.6, 2.4, 2.6): descriptors, the standard v0.38 channels,
//! and the per-channel state of a connection (send queue, in-flight message,
//! `recently_sent` counter, reassembly buffer).

use std::collections::VecDeque;

use super::packet;
use super::{ConfigError, MConnError};

/// Default send queue capacity (messages).
pub const DEFAULT_SEND_QUEUE_CAPACITY: usize = 1;
/// Default initial capacity of the reassembly buffer (bytes; not a limit).
pub const DEFAULT_RECV_BUFFER_CAPACITY: usize = 4096;
/// Default maximum reassembled message size (21 MiB).
pub const DEFAULT_RECV_MESSAGE_CAPACITY: usize = 22_020_096;

/// PEX channel id.
pub const PEX_CHANNEL: u8 = 0x00;
/// Consensus state channel id.
pub const CONSENSUS_STATE_CHANNEL: u8 = 0x20;
/// Consensus data channel id.
pub const CONSENSUS_DATA_CHANNEL: u8 = 0x21;
/// Consensus vote channel id.
pub const CONSENSUS_VOTE_CHANNEL: u8 = 0x22;
/// Consensus vote-set-bits channel id.
pub const CONSENSUS_VOTE_SET_BITS_CHANNEL: u8 = 0x23;
/// Mempool channel id.
pub const MEMPOOL_CHANNEL: u8 = 0x30;
/// Evidence channel id.
pub const EVIDENCE_CHANNEL: u8 = 0x38;
/// Block sync channel id.
pub const BLOCKSYNC_CHANNEL: u8 = 0x40;
/// State sync snapshot channel id.
pub const STATESYNC_SNAPSHOT_CHANNEL: u8 = 0x60;
/// State sync chunk channel id.
pub const STATESYNC_CHUNK_CHANNEL: u8 = 0x61;

/// Default `mempool.max_tx_bytes` (1 MiB).
pub const DEFAULT_MAX_TX_BYTES: usize = 1_048_576;

/// Describes one channel. A zero capacity means "use the default"
/// ([`ChannelDescriptor::fill_defaults`]); priority must be positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelDescriptor {
    /// Channel id (keep it below 128, see spec 1.5).
    pub id: u8,
    /// Scheduling weight; larger gets more bandwidth.
    pub priority: u32,
    /// Messages that may wait in the send queue (one more can be in flight).
    pub send_queue_capacity: usize,
    /// Initial capacity of the reassembly buffer (bytes), not a limit.
    pub recv_buffer_capacity: usize,
    /// Largest message accepted on this channel (bytes).
    pub recv_message_capacity: usize,
}

const fn desc(id: u8, priority: u32, sq: usize, rb: usize, rm: usize) -> ChannelDescriptor {
    ChannelDescriptor {
        id,
        priority,
        send_queue_capacity: sq,
        recv_buffer_capacity: rb,
        recv_message_capacity: rm,
    }
}

const DB: usize = DEFAULT_RECV_BUFFER_CAPACITY;

impl ChannelDescriptor {
    /// PEX (0x00): priority 1, queue 10, max message 64,000.
    pub const PEX: Self = desc(PEX_CHANNEL, 1, 10, DB, 64_000);
    /// Consensus state (0x20).
    pub const CONSENSUS_STATE: Self = desc(CONSENSUS_STATE_CHANNEL, 6, 100, DB, 1_048_576);
    /// Consensus data (0x21).
    pub const CONSENSUS_DATA: Self = desc(CONSENSUS_DATA_CHANNEL, 10, 100, 204_800, 1_048_576);
    /// Consensus votes (0x22).
    pub const CONSENSUS_VOTE: Self = desc(CONSENSUS_VOTE_CHANNEL, 7, 100, 10_000, 1_048_576);
    /// Consensus vote-set bits (0x23).
    pub const CONSENSUS_VOTE_SET_BITS: Self =
        desc(CONSENSUS_VOTE_SET_BITS_CHANNEL, 1, 2, 1024, 1_048_576);
    /// Mempool (0x30) with the default `max_tx_bytes`: max message 1,048,584.
    pub const MEMPOOL: Self = Self::mempool(DEFAULT_MAX_TX_BYTES);
    /// Evidence (0x38).
    pub const EVIDENCE: Self = desc(EVIDENCE_CHANNEL, 6, 1, DB, 1_048_576);
    /// Block sync (0x40): max message 100 MiB + 5.
    pub const BLOCKSYNC: Self = desc(BLOCKSYNC_CHANNEL, 5, 1000, 204_800, 104_857_605);
    /// State sync snapshots (0x60).
    pub const STATESYNC_SNAPSHOT: Self = desc(STATESYNC_SNAPSHOT_CHANNEL, 5, 10, DB, 4_000_000);
    /// State sync chunks (0x61).
    pub const STATESYNC_CHUNK: Self = desc(STATESYNC_CHUNK_CHANNEL, 3, 10, DB, 16_000_000);

    /// A descriptor with the given id and priority and default capacities.
    pub const fn new(id: u8, priority: u32) -> Self {
        desc(id, priority, 0, 0, 0).fill_defaults()
    }

    /// The mempool channel for a given `max_tx_bytes`: the max message is the
    /// size of `Message{Txs{[one tx of max_tx_bytes]}}`.
    pub const fn mempool(max_tx_bytes: usize) -> Self {
        const fn vlen(mut v: usize) -> usize {
            let mut n = 1;
            while v >= 0x80 {
                v >>= 7;
                n += 1;
            }
            n
        }
        let txs = 1 + vlen(max_tx_bytes) + max_tx_bytes;
        let msg = 1 + vlen(txs) + txs;
        desc(MEMPOOL_CHANNEL, 5, 1, DB, msg)
    }

    /// Replaces zero capacities by their defaults.
    pub const fn fill_defaults(mut self) -> Self {
        if self.send_queue_capacity == 0 {
            self.send_queue_capacity = DEFAULT_SEND_QUEUE_CAPACITY;
        }
        if self.recv_buffer_capacity == 0 {
            self.recv_buffer_capacity = DEFAULT_RECV_BUFFER_CAPACITY;
        }
        if self.recv_message_capacity == 0 {
            self.recv_message_capacity = DEFAULT_RECV_MESSAGE_CAPACITY;
        }
        self
    }

    /// Checks the descriptor (priority must be positive).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.priority == 0 {
            return Err(ConfigError::ZeroPriority { channel: self.id });
        }
        Ok(())
    }
}

/// The channels a v0.38 node registers, in its registration order (mempool,
/// blocksync, consensus x4, evidence, statesync x2, PEX), which decides
/// scheduling ties. `mempool = false` models the `nop` mempool.
pub fn standard_channels(mempool: bool, pex: bool) -> Vec<ChannelDescriptor> {
    let mut v = Vec::with_capacity(10);
    if mempool {
        v.push(ChannelDescriptor::MEMPOOL);
    }
    v.extend([
        ChannelDescriptor::BLOCKSYNC,
        ChannelDescriptor::CONSENSUS_STATE,
        ChannelDescriptor::CONSENSUS_DATA,
        ChannelDescriptor::CONSENSUS_VOTE,
        ChannelDescriptor::CONSENSUS_VOTE_SET_BITS,
        ChannelDescriptor::EVIDENCE,
        ChannelDescriptor::STATESYNC_SNAPSHOT,
        ChannelDescriptor::STATESYNC_CHUNK,
    ]);
    if pex {
        v.push(ChannelDescriptor::PEX);
    }
    v
}

/// A snapshot of one channel for status and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStatus {
    /// Channel id.
    pub id: u8,
    /// Scheduling priority.
    pub priority: u32,
    /// Send queue capacity.
    pub send_queue_capacity: usize,
    /// Messages queued or partly sent (Go's `SendQueueSize`).
    pub send_queue_size: usize,
    /// Bytes of messages queued or not yet sent.
    pub pending_send_bytes: usize,
    /// Decaying count of bytes written recently (scheduler input).
    pub recently_sent: u64,
    /// Messages fully written.
    pub messages_sent: u64,
    /// Message bytes fully written (payload, no framing).
    pub bytes_sent: u64,
    /// Messages received and reassembled.
    pub messages_received: u64,
    /// Message bytes received (payload, no framing).
    pub bytes_received: u64,
}

/// Per-channel connection state.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) desc: ChannelDescriptor,
    queue: VecDeque<Vec<u8>>,
    /// The message being sent and how much of it is already written.
    sending: Option<(Vec<u8>, usize)>,
    pub(crate) recently_sent: u64,
    recving: Vec<u8>,
    queued_bytes: usize,
    messages_sent: u64,
    bytes_sent: u64,
    messages_received: u64,
    bytes_received: u64,
}

impl Channel {
    /// `desc` must be filled and validated.
    pub(crate) fn new(desc: ChannelDescriptor) -> Self {
        Channel {
            desc,
            queue: VecDeque::new(),
            sending: None,
            recently_sent: 0,
            recving: Vec::new(),
            queued_bytes: 0,
            messages_sent: 0,
            bytes_sent: 0,
            messages_received: 0,
            bytes_received: 0,
        }
    }

    pub(crate) fn has_room(&self) -> bool {
        self.queue.len() < self.desc.send_queue_capacity
    }

    pub(crate) fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn push(&mut self, msg: Vec<u8>) {
        self.queued_bytes += msg.len();
        self.queue.push_back(msg);
    }

    /// True if a packet can be written; moves the next queued message into
    /// the in-flight slot if it is empty (Go's `isSendPending`).
    pub(crate) fn is_send_pending(&mut self) -> bool {
        if self.sending.is_none() {
            self.sending = self.queue.pop_front().map(|m| (m, 0));
        }
        self.sending.is_some()
    }

    /// Scheduler key: `recently_sent / priority` as f32 (as Go computes it).
    pub(crate) fn ratio(&self) -> f32 {
        self.recently_sent as f32 / self.desc.priority as f32
    }

    /// Writes the next packet of the in-flight message; returns the bytes
    /// written (0 if nothing was in flight).
    pub(crate) fn write_packet(&mut self, max_payload: usize, out: &mut Vec<u8>) -> usize {
        let Some((msg, off)) = self.sending.as_mut() else {
            return 0;
        };
        let rest = msg.len() - *off;
        let take = rest.min(max_payload);
        let eof = rest <= max_payload;
        let n = packet::encode_msg(self.desc.id, eof, &msg[*off..*off + take], out);
        *off += take;
        self.recently_sent = self.recently_sent.saturating_add(n as u64);
        if eof {
            let len = msg.len();
            self.sending = None;
            self.queued_bytes -= len;
            self.messages_sent += 1;
            self.bytes_sent += len as u64;
        }
        n
    }

    /// True if nothing is queued or in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.sending.is_none() && self.queue.is_empty()
    }

    /// Appends a received chunk; returns the message when `eof` completes it.
    pub(crate) fn recv_packet(
        &mut self,
        eof: bool,
        data: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, MConnError> {
        let max = self.desc.recv_message_capacity;
        let len = self.recving.len() + data.len();
        if len > max {
            return Err(MConnError::MessageTooLarge {
                channel: self.desc.id,
                len,
                max,
            });
        }
        let msg = if self.recving.is_empty() && eof {
            // Single-packet message: hand the chunk over without copying.
            data
        } else {
            if self.recving.capacity() == 0 {
                // Lazy: idle connections keep no reassembly memory.
                let initial = self.desc.recv_buffer_capacity.clamp(data.len(), max);
                self.recving.reserve_exact(initial);
            }
            self.recving.extend_from_slice(&data);
            if !eof {
                return Ok(None);
            }
            std::mem::take(&mut self.recving)
        };
        self.messages_received += 1;
        self.bytes_received += msg.len() as u64;
        Ok(Some(msg))
    }

    /// The 2-second decay: `recently_sent *= 0.8`, truncated.
    pub(crate) fn decay(&mut self) {
        self.recently_sent = (self.recently_sent as f64 * 0.8) as u64;
    }

    pub(crate) fn status(&self) -> ChannelStatus {
        let in_flight = usize::from(self.sending.is_some());
        let sent_part = self.sending.as_ref().map_or(0, |(_, off)| *off);
        ChannelStatus {
            id: self.desc.id,
            priority: self.desc.priority,
            send_queue_capacity: self.desc.send_queue_capacity,
            send_queue_size: self.queue.len() + in_flight,
            pending_send_bytes: self.queued_bytes - sent_part,
            recently_sent: self.recently_sent,
            messages_sent: self.messages_sent,
            bytes_sent: self.bytes_sent,
            messages_received: self.messages_received,
            bytes_received: self.bytes_received,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_values() {
        assert_eq!(ChannelDescriptor::MEMPOOL.recv_message_capacity, 1_048_584);
        assert_eq!(
            ChannelDescriptor::PEX,
            ChannelDescriptor {
                id: 0,
                priority: 1,
                send_queue_capacity: 10,
                recv_buffer_capacity: 4096,
                recv_message_capacity: 64_000
            }
        );
        assert_eq!(
            ChannelDescriptor::BLOCKSYNC.recv_message_capacity,
            104_857_605
        );
        let ids: Vec<u8> = standard_channels(true, true).iter().map(|d| d.id).collect();
        assert_eq!(
            ids,
            [0x30, 0x40, 0x20, 0x21, 0x22, 0x23, 0x38, 0x60, 0x61, 0x00]
        );
        assert_eq!(standard_channels(false, false).len(), 8);
        for d in standard_channels(true, true) {
            assert_eq!(d, d.fill_defaults());
            assert_eq!(d.validate(), Ok(()));
        }
    }

    #[test]
    fn defaults_and_validation() {
        let d = ChannelDescriptor::new(7, 3);
        assert_eq!(
            (
                d.send_queue_capacity,
                d.recv_buffer_capacity,
                d.recv_message_capacity
            ),
            (1, 4096, 22_020_096)
        );
        let zero = ChannelDescriptor { priority: 0, ..d };
        assert_eq!(
            zero.validate(),
            Err(ConfigError::ZeroPriority { channel: 7 })
        );
    }

    #[test]
    fn reassembly_and_capacity() {
        let mut ch = Channel::new(ChannelDescriptor {
            recv_message_capacity: 10,
            ..ChannelDescriptor::new(1, 1)
        });
        assert_eq!(ch.recv_packet(false, vec![1, 2, 3]).unwrap(), None);
        assert_eq!(ch.recv_packet(false, vec![4]).unwrap(), None);
        assert_eq!(
            ch.recv_packet(true, vec![5, 6]).unwrap(),
            Some(vec![1, 2, 3, 4, 5, 6])
        );
        assert_eq!(ch.recv_packet(true, vec![]).unwrap(), Some(vec![]));
        assert_eq!(
            ch.recv_packet(true, vec![9; 10]).unwrap(),
            Some(vec![9; 10])
        );
        assert_eq!(ch.recv_packet(false, vec![0; 6]).unwrap(), None);
        let err = ch.recv_packet(true, vec![0; 5]).unwrap_err();
        assert!(matches!(
            err,
            MConnError::MessageTooLarge {
                channel: 1,
                len: 11,
                max: 10
            }
        ));
        let st = ch.status();
        assert_eq!((st.messages_received, st.bytes_received), (3, 16));
    }

    #[test]
    fn chunking_and_decay() {
        let mut ch = Channel::new(ChannelDescriptor::new(1, 1));
        ch.push(vec![0xab; 2500]);
        assert!(!ch.has_room());
        assert!(ch.is_send_pending());
        assert!(ch.has_room());
        let mut out = Vec::new();
        assert_eq!(ch.write_packet(1024, &mut out), 1034); // ch 1, no eof: 1032 body
        assert_eq!(ch.write_packet(1024, &mut out), 1034);
        assert_eq!(ch.status().send_queue_size, 1);
        assert_eq!(ch.status().pending_send_bytes, 452);
        assert_eq!(ch.write_packet(1024, &mut out), 464);
        assert!(ch.is_idle());
        assert_eq!(ch.recently_sent, 2532);
        ch.decay();
        assert_eq!(ch.recently_sent, 2025); // 2025.6 truncated
        let st = ch.status();
        assert_eq!(
            (st.messages_sent, st.bytes_sent, st.send_queue_size),
            (1, 2500, 0)
        );
    }
}
