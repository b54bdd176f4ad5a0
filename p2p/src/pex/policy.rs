//! The PEX reactor's decision logic (spec 2.7, Go's `p2p/pex/pex_reactor.go`) as
//! a sans-IO state machine: [`Pex`].
//!
//! [`Pex`] owns the [`AddrBook`] and the reactor's bookkeeping (outstanding
//! requests, request rate per peer, dial attempts per `ip:port`, seed-mode crawl
//! records). It never dials, sends, sleeps or reads a clock: every input takes
//! `now` (and an RNG where Go draws random numbers) and returns the [`Action`]s the
//! caller must carry out. A thin adapter binds it to the Switch; the simulator
//! drives the same code.
//!
//! - [`types`]: configuration, peer facts, actions, violations;
//! - this file: constants, inputs from peers (`add_peer`, `remove_peer`,
//!   `receive`) and the request/reply rules;
//! - [`dial`]: `ensure_peers`, the dial backoff (`dial_check`/`dial_result`) and
//!   seed dialing;
//! - [`seed`]: seed ("crawler") mode: `crawl_start`, `crawl`.
//!
//! Contract with the adapter (mirrors the Go call order):
//! - call [`Pex::add_peer`] when a peer has been added to the switch (for a dial
//!   this is *before* reporting [`Pex::dial_result`], as Go's `DialPeerWithAddress`
//!   runs the reactors' `AddPeer` before it returns) and [`Pex::remove_peer`] when
//!   it is gone;
//! - hand every PEX channel message to [`Pex::receive`];
//! - run [`Pex::ensure_peers`] (normal mode) after [`Pex::ensure_peers_initial_delay`],
//!   then every [`PexConfig::ensure_peers_period`] with `periodic = true`, and
//!   with `periodic = false` on [`Action::WakeEnsurePeers`] (Go drops a wake-up
//!   that arrives while a round is running); or, in seed mode, [`Pex::crawl_start`]
//!   once and [`Pex::crawl`] every [`CRAWL_PEER_PERIOD`];
//! - report the outcome of every [`Action::Dial`] with [`Pex::dial_result`] (not
//!   of [`Action::DialSeeds`]: Go keeps no attempt record for seeds).
//!
//! Where this differs from Go, deliberately: actions come in a fixed order (Go's
//! `ensurePeers` dials from a map in random order, in goroutines); the random
//! choices (peer to ask, seed order, backoff jitter) use the given RNG; the dial
//! backoff saturates instead of wrapping Go's `int64` nanoseconds (reached only
//! by persistent addresses after 34 failures, where Go's wait turns negative
//! or wrong).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use rand_core::RngCore;

use super::addrbook::AddrBook;
use super::messages::{PexMessage, MAX_ADDRS_PER_REPLY};
use crate::key::NodeId;
use crate::netaddr::NetAddress;
use crate::time::Instant;

pub mod dial;
pub mod seed;
pub mod types;

pub use dial::{DialCheck, DialOutcome, PeerCounts};
pub use types::{Action, PeerInfo, PexConfig, PexStartupError, PexViolation};

/// How often `ensurePeers` runs (`defaultEnsurePeersPeriod`).
pub const DEFAULT_ENSURE_PEERS_PERIOD: Duration = Duration::from_secs(30);
/// How often a seed crawls (`crawlPeerPeriod`).
pub const CRAWL_PEER_PERIOD: Duration = Duration::from_secs(30);
/// A seed does not re-crawl a node ID sooner than this (`minTimeBetweenCrawls`).
pub const MIN_TIME_BETWEEN_CRAWLS: Duration = Duration::from_secs(2 * 60);
/// Crawl records older than this are dropped.
pub const CRAWL_RECORD_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// A non-persistent address that failed more dials than this is banned and
/// given up (`maxAttemptsToDial`).
pub const MAX_ATTEMPTS_TO_DIAL: u32 = 16;
/// Share (in %) of new addresses in a seed's reply (`biasToSelectNewPeers`).
pub const BIAS_TO_SELECT_NEW_PEERS: i32 = 30;
/// How long a misbehaving peer stays banned (`defaultBanTime`).
pub const DEFAULT_BAN_TIME: Duration = Duration::from_secs(24 * 3600);
/// A seed disconnects non-persistent peers connected this long (set by Go's node).
pub const SEED_DISCONNECT_WAIT_PERIOD: Duration = Duration::from_secs(28 * 3600);

/// Requests received from a peer on its current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestLog {
    /// One request accepted (Go stores the zero time: the next one is free too).
    First,
    /// Two or more accepted; the last accepted one at this time.
    Timed(Instant),
    /// Seed mode: this inbound peer got its one reply.
    Answered,
}

/// Per-`ip:port` dial history (in memory only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DialAttempts {
    number: u32,
    last_dialed: Instant,
}

/// The PEX reactor's state. See the module documentation.
#[derive(Debug, Clone)]
pub struct Pex {
    config: PexConfig,
    book: AddrBook,
    /// Peers added and not yet removed.
    connected: BTreeSet<NodeId>,
    /// Peers with an unanswered request of ours.
    requests_sent: BTreeSet<NodeId>,
    /// Requests received, per peer, on the current connection.
    requests_received: BTreeMap<NodeId, RequestLog>,
    /// Dial history by `ip:port`.
    dial_attempts: BTreeMap<SocketAddr, DialAttempts>,
    /// Seed mode: last crawl attempt by ID.
    crawled: BTreeMap<NodeId, Instant>,
    /// Seed mode: crawl dials not yet reported.
    crawl_dials: BTreeSet<NetAddress>,
}

impl Pex {
    /// A reactor around an (already loaded) book.
    pub fn new(config: PexConfig, book: AddrBook) -> Self {
        Pex {
            config,
            book,
            connected: BTreeSet::new(),
            requests_sent: BTreeSet::new(),
            requests_received: BTreeMap::new(),
            dial_attempts: BTreeMap::new(),
            crawled: BTreeMap::new(),
            crawl_dials: BTreeSet::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PexConfig {
        &self.config
    }

    /// The address book (to save it).
    pub fn book(&self) -> &AddrBook {
        &self.book
    }

    /// The address book, mutable (mark good, add our address, ...).
    pub fn book_mut(&mut self) -> &mut AddrBook {
        &mut self.book
    }

    /// Go's startup check: seeds were configured, none resolved, and the book is
    /// empty ⇒ error.
    pub fn startup_check(&self) -> Result<(), PexStartupError> {
        let configured = self.config.seeds.len() + self.config.unresolved_seeds;
        if configured > 0 && self.config.seeds.is_empty() && self.book.is_empty() {
            return Err(PexStartupError::NoSeedsAndEmptyBook);
        }
        Ok(())
    }

    /// A request of ours to `id` is unanswered.
    pub fn has_outstanding_request(&self, id: &NodeId) -> bool {
        self.requests_sent.contains(id)
    }

    /// A peer joined (Go's `AddPeer`). Outbound: ask it for addresses if the book
    /// needs more. Inbound: add its self-reported address with itself as source
    /// (refusals ignored); no request.
    pub fn add_peer(
        &mut self,
        now: Instant,
        peer: &PeerInfo,
        rng: &mut impl RngCore,
    ) -> Vec<Action> {
        self.connected.insert(peer.id);
        let mut out = Vec::new();
        if peer.outbound {
            if self.book.need_more_addrs() {
                self.request_addrs(peer.id, &mut out);
            }
        } else if let Some(addr) = peer.self_reported {
            let _refused = self.book.add_address(addr, addr, now, rng);
        }
        out
    }

    /// A peer left (Go's `RemovePeer`): forget our outstanding request and its
    /// request history, so a reconnection starts afresh.
    pub fn remove_peer(&mut self, id: &NodeId) {
        self.connected.remove(id);
        self.requests_sent.remove(id);
        self.requests_received.remove(id);
    }

    /// A PEX message body from `peer` (Go's `Receive`).
    pub fn receive(
        &mut self,
        now: Instant,
        peer: &PeerInfo,
        bytes: &[u8],
        rng: &mut impl RngCore,
    ) -> Vec<Action> {
        match PexMessage::decode(bytes) {
            Err(e) if e.is_ban() => self.stop(now, peer, PexViolation::BadAddrs(e), true),
            Err(e) => self.stop(now, peer, PexViolation::Malformed(e), false),
            Ok(PexMessage::Request) => self.on_request(now, peer, rng),
            Ok(PexMessage::Addrs(addrs)) => self.on_addrs(now, peer, addrs, rng),
        }
    }

    fn on_request(&mut self, now: Instant, peer: &PeerInfo, rng: &mut impl RngCore) -> Vec<Action> {
        if self.config.seed_mode && !peer.outbound {
            if self.requests_received.contains_key(&peer.id) {
                return Vec::new();
            }
            self.requests_received.insert(peer.id, RequestLog::Answered);
            let addrs = self
                .book
                .get_selection_with_bias(BIAS_TO_SELECT_NEW_PEERS, rng);
            return vec![reply(peer.id, addrs), Action::FlushAndDisconnect(peer.id)];
        }
        if let Err(reason) = self.check_request_rate(now, peer.id) {
            return self.stop(now, peer, reason, true);
        }
        vec![reply(peer.id, self.book.get_selection(rng))]
    }

    /// Go's `receiveRequest`: two free requests per connection, then at least
    /// `ensure_peers_period / 3` between accepted ones.
    fn check_request_rate(&mut self, now: Instant, id: NodeId) -> Result<(), PexViolation> {
        let next = match self.requests_received.get(&id) {
            None => RequestLog::First,
            Some(RequestLog::First) => RequestLog::Timed(now),
            Some(RequestLog::Timed(last)) => {
                let since_last = now - *last;
                let min_interval = self.min_request_interval();
                if since_last < min_interval {
                    return Err(PexViolation::RequestTooSoon {
                        since_last,
                        min_interval,
                    });
                }
                RequestLog::Timed(now)
            }
            // Only reachable if the peer's direction changed under the same ID.
            Some(RequestLog::Answered) => RequestLog::Timed(now),
        };
        self.requests_received.insert(id, next);
        Ok(())
    }

    /// The minimum interval between a peer's requests: a third of the
    /// ensure-peers period (10 s by default).
    pub fn min_request_interval(&self) -> Duration {
        self.config.ensure_peers_period / 3
    }

    fn on_addrs(
        &mut self,
        now: Instant,
        peer: &PeerInfo,
        addrs: Vec<NetAddress>,
        rng: &mut impl RngCore,
    ) -> Vec<Action> {
        if !self.requests_sent.remove(&peer.id) {
            return self.stop(now, peer, PexViolation::UnsolicitedAddrs, true);
        }
        let Some(src) = peer.self_reported else {
            return self.stop(now, peer, PexViolation::NoSelfAddress, false);
        };
        for addr in addrs {
            let _refused = self.book.add_address(addr, src, now, rng);
        }
        // Go signals its ensure-peers routine, which does not run on a seed.
        if !self.config.seed_mode && self.config.seeds.contains(&src) {
            return vec![Action::WakeEnsurePeers];
        }
        Vec::new()
    }

    /// Stops a peer; with `ban`, first bans its socket address's ID in the book.
    fn stop(
        &mut self,
        now: Instant,
        peer: &PeerInfo,
        reason: PexViolation,
        ban: bool,
    ) -> Vec<Action> {
        if ban {
            self.book
                .mark_bad(&peer.socket_addr, self.config.ban_time, now);
        }
        vec![Action::StopPeer {
            id: peer.id,
            reason,
            ban,
        }]
    }

    /// Go's `RequestAddrs`: at most one outstanding request per peer.
    fn request_addrs(&mut self, id: NodeId, out: &mut Vec<Action>) {
        if self.requests_sent.insert(id) {
            out.push(Action::Send {
                to: id,
                msg: PexMessage::Request,
            });
        }
    }

    /// The address is one of the configured persistent peers (Go's
    /// `IsPeerPersistent`: exact `id@ip:port` match).
    pub fn is_persistent(&self, addr: &NetAddress) -> bool {
        self.config.persistent_peers.contains(addr)
    }
}

/// A reply with at most [`MAX_ADDRS_PER_REPLY`] addresses.
fn reply(to: NodeId, mut addrs: Vec<NetAddress>) -> Action {
    addrs.truncate(MAX_ADDRS_PER_REPLY);
    Action::Send {
        to,
        msg: PexMessage::Addrs(addrs),
    }
}

pub(crate) use super::addrbook::below;

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const KEY: &str = "00112233445566778899aabb";

    fn at(secs: u64) -> Instant {
        Instant::from_epoch(Duration::from_secs(secs))
    }

    /// Address `n`, alone in its /16 group.
    pub(super) fn test_addr(n: u8) -> NetAddress {
        let ip = std::net::Ipv4Addr::new(30, n, 0, 1);
        NetAddress::new(NodeId::from_bytes([n; 20]), ip.into(), 26656)
    }

    pub(super) fn test_pex(config: PexConfig) -> Pex {
        Pex::new(config, AddrBook::with_key(KEY, false).unwrap())
    }

    fn info(n: u8, outbound: bool) -> PeerInfo {
        let a = test_addr(n);
        PeerInfo {
            id: a.id(),
            outbound,
            persistent: false,
            socket_addr: a,
            self_reported: Some(a),
            connected_at: at(0),
        }
    }

    #[test]
    fn request_log_transitions() {
        let mut x = test_pex(PexConfig::default());
        let id = test_addr(1).id();
        assert_eq!(x.check_request_rate(at(5), id), Ok(()));
        assert_eq!(x.requests_received.get(&id), Some(&RequestLog::First));
        assert_eq!(x.check_request_rate(at(5), id), Ok(()));
        assert_eq!(
            x.requests_received.get(&id),
            Some(&RequestLog::Timed(at(5)))
        );
        assert!(x.check_request_rate(at(14), id).is_err());
        // A refused request does not move the reference time.
        assert_eq!(
            x.requests_received.get(&id),
            Some(&RequestLog::Timed(at(5)))
        );
        assert_eq!(x.check_request_rate(at(15), id), Ok(()));
        assert_eq!(
            x.requests_received.get(&id),
            Some(&RequestLog::Timed(at(15)))
        );
        // A custom period changes the interval.
        let fast = test_pex(PexConfig {
            ensure_peers_period: Duration::from_secs(3),
            ..PexConfig::default()
        });
        assert_eq!(fast.min_request_interval(), Duration::from_secs(1));
    }

    #[test]
    fn seed_marks_inbound_answered_and_remove_peer_forgets() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let mut x = test_pex(PexConfig {
            seed_mode: true,
            ..PexConfig::default()
        });
        let p = info(2, false);
        let acts = x.receive(at(1), &p, &[0x0a, 0x00], &mut r);
        assert_eq!(
            acts,
            vec![
                Action::Send {
                    to: p.id,
                    msg: PexMessage::Addrs(Vec::new())
                },
                Action::FlushAndDisconnect(p.id)
            ]
        );
        assert_eq!(x.requests_received.get(&p.id), Some(&RequestLog::Answered));
        x.remove_peer(&p.id);
        assert!(x.requests_received.is_empty() && x.connected.is_empty());
        assert_eq!(x.receive(at(2), &p, &[0x0a, 0x00], &mut r).len(), 2);
    }

    #[test]
    fn answer_without_self_address_stops_without_ban() {
        let mut r = ChaCha8Rng::seed_from_u64(2);
        let mut x = test_pex(PexConfig::default());
        let mut p = info(3, true);
        p.self_reported = None;
        x.add_peer(at(0), &p, &mut r);
        x.book
            .add_address(p.socket_addr, p.socket_addr, at(0), &mut r)
            .unwrap();
        let body = PexMessage::Addrs(vec![test_addr(9)]).encode();
        assert_eq!(
            x.receive(at(1), &p, &body, &mut r),
            vec![Action::StopPeer {
                id: p.id,
                reason: PexViolation::NoSelfAddress,
                ban: false
            }]
        );
        assert!(!x.has_outstanding_request(&p.id), "Go deletes it first");
        assert!(!x.book.is_banned(&p.socket_addr));
        assert!(!x.book.has_address(&test_addr(9)));
    }

    #[test]
    fn reply_truncates_and_below_is_uniform_enough() {
        let many: Vec<NetAddress> = (0..=255u8).map(test_addr).collect();
        match reply(test_addr(1).id(), many) {
            Action::Send {
                msg: PexMessage::Addrs(a),
                ..
            } => assert_eq!(a.len(), MAX_ADDRS_PER_REPLY),
            other => panic!("{other:?}"),
        }
        let mut r = ChaCha8Rng::seed_from_u64(3);
        let mut seen = [0u32; 3];
        for _ in 0..300 {
            seen[below(&mut r, 3)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 70), "{seen:?}");
        assert_eq!(below(&mut r, 0), 0);
    }
}
