//! A flood-gossip reactor on its own channel: the built-in workload of the
//! testbed (a stand-in for mempool transactions or block parts) and the
//! traffic two of our real nodes exchange.
//!
//! Each message carries a header `origin (20 bytes) || seq (u64 BE) ||
//! published_at (u64 BE, ns on the publisher's runtime clock)` and a payload.
//! A node delivers a message the first time it sees `(origin, seq)` and
//! forwards it to every peer except the one it came from (`try_send`: a full
//! queue drops the copy, counted). Later copies are duplicates. The set of seen
//! messages is bounded (oldest forgotten first).
//!
//! What happens is reported to a [`GossipObserver`]; nothing is measured here.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;

use crate::key::NodeId;
use crate::mconn::ChannelDescriptor;
use crate::switch::{Envelope, Reactor, StopReason, SwitchHandle};
use crate::time::Instant;
use crate::transport::Fault;

/// The default channel (not used by CometBFT).
pub const GOSSIP_CHANNEL: u8 = 0x70;
/// Header bytes before the payload.
pub const HEADER_LEN: usize = 20 + 8 + 8;
/// Largest payload accepted.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// Messages remembered for duplicate detection.
pub const SEEN_CAPACITY: usize = 100_000;

/// The identity of a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId {
    /// The publishing node.
    pub origin: NodeId,
    /// Its sequence number at the origin.
    pub seq: u64,
}

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipMsg {
    /// Identity.
    pub id: MsgId,
    /// Publication time on the origin's clock (the simulator's clock is shared).
    pub published_at: Instant,
    /// Payload length.
    pub payload_len: usize,
}

/// Why a gossip message was refused (the sender misbehaved).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    /// Shorter than the header.
    #[error("gossip message of {0} bytes is shorter than its {HEADER_LEN}-byte header")]
    TooShort(usize),
}

/// Encodes a message with a payload of `payload_len` bytes (a repeating pattern).
pub fn encode(id: MsgId, published_at: Instant, payload_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.extend_from_slice(id.origin.as_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
    out.extend_from_slice(&published_at.as_nanos().to_be_bytes());
    out.extend((0..payload_len).map(|i| (i as u8) ^ (id.seq as u8)));
    out
}

/// Decodes the header of a message.
pub fn decode(bytes: &[u8]) -> Result<GossipMsg, GossipError> {
    if bytes.len() < HEADER_LEN {
        return Err(GossipError::TooShort(bytes.len()));
    }
    let mut origin = [0u8; 20];
    origin.copy_from_slice(&bytes[..20]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[20..28]);
    let mut at = [0u8; 8];
    at.copy_from_slice(&bytes[28..36]);
    Ok(GossipMsg {
        id: MsgId {
            origin: NodeId::from_bytes(origin),
            seq: u64::from_be_bytes(seq),
        },
        published_at: Instant::from_nanos(u64::from_be_bytes(at)),
        payload_len: bytes.len() - HEADER_LEN,
    })
}

/// Receives what a node's gossip reactor does (for metrics).
pub trait GossipObserver: Send + Sync + 'static {
    /// A message was seen for the first time (`from` = None: we published it).
    fn delivered(&self, now: Instant, msg: &GossipMsg, from: Option<NodeId>) {
        let _ = (now, msg, from);
    }
    /// A copy of a message already seen arrived.
    fn duplicate(&self, now: Instant, msg: &GossipMsg, from: NodeId) {
        let _ = (now, msg, from);
    }
    /// A forward was dropped because the peer's send queue was full.
    fn dropped(&self, now: Instant, msg: &GossipMsg, to: NodeId) {
        let _ = (now, msg, to);
    }
}

struct NoObserver;
impl GossipObserver for NoObserver {}

struct State {
    seen: BTreeSet<MsgId>,
    order: VecDeque<MsgId>,
    next_seq: u64,
    switch: Option<SwitchHandle>,
}

/// The gossip reactor.
pub struct GossipReactor {
    channel: ChannelDescriptor,
    me: NodeId,
    observer: Arc<dyn GossipObserver>,
    state: Mutex<State>,
}

impl GossipReactor {
    /// A reactor for node `me` on `channel` (see [`GOSSIP_CHANNEL`]).
    pub fn new(me: NodeId, channel: u8) -> Self {
        GossipReactor {
            channel: ChannelDescriptor {
                id: channel,
                priority: 5,
                send_queue_capacity: 100,
                recv_buffer_capacity: 4096,
                recv_message_capacity: HEADER_LEN + MAX_PAYLOAD,
            },
            me,
            observer: Arc::new(NoObserver),
            state: Mutex::new(State {
                seen: BTreeSet::new(),
                order: VecDeque::new(),
                next_seq: 0,
                switch: None,
            }),
        }
    }

    /// Reports events to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn GossipObserver>) -> Self {
        self.observer = observer;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `id` seen; false if it already was.
    fn remember(st: &mut State, id: MsgId) -> bool {
        if !st.seen.insert(id) {
            return false;
        }
        st.order.push_back(id);
        if st.order.len() > SEEN_CAPACITY {
            if let Some(old) = st.order.pop_front() {
                st.seen.remove(&old);
            }
        }
        true
    }

    /// Publishes a new message with `payload_len` bytes to every peer.
    /// Returns its id, or `None` before the switch started.
    pub fn publish(&self, payload_len: usize) -> Option<MsgId> {
        let (sw, id) = {
            let mut st = self.lock();
            let sw = st.switch.clone()?;
            let id = MsgId {
                origin: self.me,
                seq: st.next_seq,
            };
            st.next_seq += 1;
            Self::remember(&mut st, id);
            (sw, id)
        };
        let now = sw.now();
        let bytes = encode(id, now, payload_len.min(MAX_PAYLOAD));
        let msg = GossipMsg {
            id,
            published_at: now,
            payload_len,
        };
        self.observer.delivered(now, &msg, None);
        self.forward(&sw, &msg, &bytes, None);
        Some(id)
    }

    fn forward(&self, sw: &SwitchHandle, msg: &GossipMsg, bytes: &[u8], except: Option<NodeId>) {
        for peer in sw.peers() {
            if Some(peer.id()) == except || !peer.node_info().has_channel(self.channel.id) {
                continue;
            }
            if !peer.try_send(self.channel.id, bytes.to_vec()) {
                self.observer.dropped(sw.now(), msg, peer.id());
            }
        }
    }
}

impl Reactor for GossipReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![self.channel]
    }

    fn start(&self, sw: SwitchHandle) -> Result<(), crate::switch::BoxError> {
        self.lock().switch = Some(sw);
        Ok(())
    }

    fn stop(&self) {
        self.lock().switch = None;
    }

    fn receive(&self, env: Envelope) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let from = env.src.id();
            let sw = match self.lock().switch.clone() {
                Some(sw) => sw,
                None => return,
            };
            let msg = match decode(&env.message) {
                Ok(m) => m,
                Err(e) => {
                    sw.stop_peer_for_error(
                        &from,
                        StopReason::reactor(Fault::PeerMisbehaved, e.to_string()),
                    );
                    return;
                }
            };
            let now = sw.now();
            let fresh = Self::remember(&mut self.lock(), msg.id);
            if fresh {
                self.observer.delivered(now, &msg, Some(from));
                self.forward(&sw, &msg, &env.message, Some(from));
            } else {
                self.observer.duplicate(now, &msg, from);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_short_input() {
        let id = MsgId {
            origin: NodeId::from_bytes([7; 20]),
            seq: 42,
        };
        let bytes = encode(id, Instant::from_nanos(123_456), 10);
        assert_eq!(bytes.len(), HEADER_LEN + 10);
        assert_eq!(&bytes[..20], &[7u8; 20]);
        assert_eq!(&bytes[20..28], &42u64.to_be_bytes());
        let m = decode(&bytes).unwrap();
        assert_eq!(
            m,
            GossipMsg {
                id,
                published_at: Instant::from_nanos(123_456),
                payload_len: 10
            }
        );
        assert_eq!(decode(&bytes[..35]), Err(GossipError::TooShort(35)));
    }

    #[test]
    fn seen_set_is_bounded() {
        let r = GossipReactor::new(NodeId::from_bytes([1; 20]), GOSSIP_CHANNEL);
        let mut st = r.lock();
        for seq in 0..(SEEN_CAPACITY as u64 + 10) {
            assert!(GossipReactor::remember(
                &mut st,
                MsgId {
                    origin: NodeId::from_bytes([2; 20]),
                    seq
                }
            ));
        }
        assert_eq!(st.seen.len(), SEEN_CAPACITY);
        assert!(!st.seen.contains(&MsgId {
            origin: NodeId::from_bytes([2; 20]),
            seq: 0
        }));
    }
}
