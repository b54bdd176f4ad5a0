//! The reactors that give adversarial nodes their behaviour. Each replaces
//! one honest reactor on its channel (the node runs with `pex = false` or
//! without the gossip reactor); the rest of the stack (Switch,
//! SecretConnection, MConnection) is the real one.
//!
//! - [`FloodReactor`] (`flooder`): sends copies of one gossip message to
//!   every peer as fast as the send queue takes them.
//! - [`PexAttack`] (`pex_abuser`, `sybil`): answers PEX requests with
//!   attacker-chosen addresses; an abuser also sends requests every
//!   [`ABUSE_PERIOD`] (even members) or unsolicited address lists (odd ones).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use p2p::gossip::{self, GossipReactor, MsgId};
use p2p::mconn::ChannelDescriptor;
use p2p::netaddr::NetAddress;
use p2p::pex::messages::{PexMessage, MAX_ADDRS_PER_REPLY};
use p2p::switch::{BoxError, Envelope, Peer, Reactor, SwitchHandle};
use p2p::time::Instant;
use p2p::NodeId;

/// How often a `pex_abuser` sends a request or an unsolicited list.
pub const ABUSE_PERIOD: Duration = Duration::from_secs(1);

/// Pause after a send that timed out while the peer still runs.
const RETRY: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `flooder`: floods every peer with one gossip message, over and over.
pub struct FloodReactor {
    channel: ChannelDescriptor,
    message: Arc<Vec<u8>>,
    sw: Mutex<Option<SwitchHandle>>,
}

impl FloodReactor {
    /// Floods `channel` with copies of message `(me, 0)` of `payload` bytes.
    pub fn new(me: NodeId, channel: u8, payload: usize) -> Self {
        let descriptor = GossipReactor::new(me, channel)
            .channels()
            .into_iter()
            .next();
        let message = gossip::encode(MsgId { origin: me, seq: 0 }, Instant::ZERO, payload);
        FloodReactor {
            channel: descriptor.unwrap_or(ChannelDescriptor {
                id: channel,
                priority: 5,
                send_queue_capacity: 100,
                recv_buffer_capacity: 4096,
                recv_message_capacity: message.len(),
            }),
            message: Arc::new(message),
            sw: Mutex::new(None),
        }
    }
}

impl Reactor for FloodReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![self.channel]
    }

    fn start(&self, sw: SwitchHandle) -> Result<(), BoxError> {
        *lock(&self.sw) = Some(sw);
        Ok(())
    }

    fn stop(&self) {
        *lock(&self.sw) = None;
    }

    fn add_peer(&self, peer: &Peer) {
        let Some(sw) = lock(&self.sw).clone() else {
            return;
        };
        let (peer, msg, ch) = (peer.clone(), self.message.clone(), self.channel.id);
        let sw2 = sw.clone();
        sw.spawn(async move {
            while peer.is_running() {
                if !peer.send(ch, msg.as_ref().clone()).await {
                    sw2.sleep(RETRY).await;
                }
            }
        });
    }

    fn receive(&self, _envelope: Envelope) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// What a [`PexAttack`] reactor does besides answering requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PexMode {
    /// Sends a PEX request every [`ABUSE_PERIOD`] (Go allows two, then one
    /// per `ensure_peers_period / 3`).
    RequestFlood,
    /// Sends an unsolicited address list every [`ABUSE_PERIOD`].
    Unsolicited,
    /// Only answers requests (with attacker addresses): a Sybil.
    AnswerOnly,
}

/// `pex_abuser` and `sybil`: a PEX reactor that hands out attacker addresses.
pub struct PexAttack {
    mode: PexMode,
    /// The addresses every answer carries (at most 250).
    addrs: Vec<NetAddress>,
    sw: Mutex<Option<SwitchHandle>>,
}

impl PexAttack {
    /// A reactor in `mode` that answers with `addrs` (truncated to 250).
    pub fn new(mode: PexMode, mut addrs: Vec<NetAddress>) -> Self {
        addrs.truncate(MAX_ADDRS_PER_REPLY);
        PexAttack {
            mode,
            addrs,
            sw: Mutex::new(None),
        }
    }
}

impl Reactor for PexAttack {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::PEX]
    }

    fn start(&self, sw: SwitchHandle) -> Result<(), BoxError> {
        *lock(&self.sw) = Some(sw);
        Ok(())
    }

    fn stop(&self) {
        *lock(&self.sw) = None;
    }

    fn add_peer(&self, peer: &Peer) {
        let msg = match self.mode {
            PexMode::AnswerOnly => return,
            PexMode::RequestFlood => PexMessage::Request.encode(),
            PexMode::Unsolicited => PexMessage::Addrs(self.addrs.clone()).encode(),
        };
        let Some(sw) = lock(&self.sw).clone() else {
            return;
        };
        let (peer, sw2) = (peer.clone(), sw.clone());
        sw.spawn(async move {
            while peer.is_running() {
                peer.send(ChannelDescriptor::PEX.id, msg.clone()).await;
                sw2.sleep(ABUSE_PERIOD).await;
            }
        });
    }

    fn receive(&self, env: Envelope) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok(PexMessage::Request) = PexMessage::decode(&env.message) {
                let reply = PexMessage::Addrs(self.addrs.clone()).encode();
                env.src.send(ChannelDescriptor::PEX.id, reply).await;
            }
        })
    }
}
