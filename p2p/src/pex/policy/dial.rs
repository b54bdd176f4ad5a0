//! Outbound dialing (spec 2.7): `ensurePeers`, the per-`ip:port` dial backoff
//! (`dialPeer`), and seed dialing (`dialSeeds`).
//!
//! Go runs `dialPeer` in a goroutine per picked address: the backoff check, the
//! dial, then the bookkeeping. Here the check is [`Pex::dial_check`] (done by
//! [`Pex::ensure_peers`] and [`Pex::crawl`](super::Pex::crawl) before they emit
//! [`Action::Dial`]), the dial is the caller's, and the bookkeeping is
//! [`Pex::dial_result`].

use std::time::Duration;

use rand_core::RngCore;

use super::{below, Action, Pex, MAX_ATTEMPTS_TO_DIAL};
use crate::key::NodeId;
use crate::netaddr::NetAddress;
use crate::time::Instant;

/// The switch's peer counts (Go's `NumPeers()`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Connected outbound peers (unconditional peers excluded, as Go counts).
    pub outbound: usize,
    /// Connected inbound peers.
    pub inbound: usize,
    /// Dials in progress.
    pub dialing: usize,
}

/// How a dial emitted as [`Action::Dial`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialOutcome {
    /// The peer was added to the switch.
    Connected,
    /// The switch was already connected to or dialing it (no bookkeeping).
    AlreadyConnectedOrDialing,
    /// Any other failure (counts as an attempt).
    Failed,
}

/// The verdict of [`Pex::dial_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialCheck {
    /// Dial it.
    Dial,
    /// Backing off: `backoff` has not yet passed since `last_dialed`.
    TooEarly {
        /// The required wait (2^attempts s + jitter, possibly capped).
        backoff: Duration,
        /// The last failed dial.
        last_dialed: Instant,
    },
    /// A non-persistent address failed more than 16 dials: it has been banned
    /// (if in the book) and is not dialed.
    GaveUp {
        /// Failed dials so far.
        attempts: u32,
    },
}

impl DialCheck {
    /// The address may be dialed now.
    pub fn allowed(&self) -> bool {
        matches!(self, DialCheck::Dial)
    }
}

impl Pex {
    /// How long Go's ensure-peers routine sleeps before its first round: a random
    /// duration in `[0, period)` if the node has any peer or dial in progress,
    /// else none.
    pub fn ensure_peers_initial_delay(
        &self,
        counts: PeerCounts,
        rng: &mut impl RngCore,
    ) -> Duration {
        if counts.outbound + counts.inbound + counts.dialing == 0 {
            return Duration::ZERO;
        }
        let period = u64::try_from(self.config.ensure_peers_period.as_nanos()).unwrap_or(u64::MAX);
        let n = usize::try_from(period).unwrap_or(usize::MAX);
        Duration::from_nanos(below(rng, n) as u64)
    }

    /// One round of Go's `ensurePeers(periodic)`.
    ///
    /// 1. `numToDial = max_num_outbound_peers − (outbound + dialing)`; nothing if ≤ 0.
    /// 2. `bias = min(outbound, 8) × 10 + 10`.
    /// 3. Up to `numToDial × 3` picks, skipping duplicates and addresses for which
    ///    `is_dialing_or_connected` holds (the switch: dialing, connected, or same
    ///    IP), until `numToDial` are collected.
    /// 4. Each picked address passing [`dial_check`](Self::dial_check) becomes an
    ///    [`Action::Dial`] (a picked address in backoff still counts as picked).
    /// 5. If the book needs addresses: reinstate expired bans; if it still does,
    ///    send a request to a random peer of `connected` when `periodic`, and dial
    ///    the seeds when nothing was picked.
    ///
    /// Seed mode never runs this (Go starts the crawler instead): returns nothing.
    pub fn ensure_peers(
        &mut self,
        now: Instant,
        counts: PeerCounts,
        is_dialing_or_connected: impl Fn(&NetAddress) -> bool,
        connected: &[NodeId],
        periodic: bool,
        rng: &mut impl RngCore,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if self.config.seed_mode {
            return out;
        }
        let busy = counts.outbound.saturating_add(counts.dialing);
        let num_to_dial = self.config.max_num_outbound_peers.saturating_sub(busy);
        if num_to_dial == 0 {
            return out;
        }
        let bias = ensure_peers_bias(counts.outbound);
        let mut picked: Vec<NetAddress> = Vec::new();
        for _ in 0..num_to_dial.saturating_mul(3) {
            if picked.len() >= num_to_dial {
                break;
            }
            let Some(addr) = self.book.pick_address(bias, rng) else {
                continue;
            };
            if picked.iter().any(|p| p.id() == addr.id()) || is_dialing_or_connected(&addr) {
                continue;
            }
            picked.push(addr);
        }
        for addr in &picked {
            if self.dial_check(now, addr, rng).allowed() {
                out.push(Action::Dial(*addr));
            }
        }
        if self.book.need_more_addrs() {
            self.book.reinstate_bad_peers(now);
        }
        if self.book.need_more_addrs() {
            if periodic && !connected.is_empty() {
                let peer = connected[below(rng, connected.len())];
                self.request_addrs(peer, &mut out);
            }
            if picked.is_empty() {
                out.extend(self.dial_seeds(rng));
            }
        }
        out
    }

    /// Go's `dialSeeds`: all resolved seeds in random order, for the caller to dial
    /// one after the other (nothing if there are none).
    pub(super) fn dial_seeds(&self, rng: &mut impl RngCore) -> Option<Action> {
        if self.config.seeds.is_empty() {
            return None;
        }
        let mut seeds = self.config.seeds.clone();
        for i in (1..seeds.len()).rev() {
            seeds.swap(i, below(rng, i + 1));
        }
        Some(Action::DialSeeds(seeds))
    }

    /// The checks `dialPeer` makes before dialing `addr` (attempts keyed by
    /// `ip:port`):
    /// - non-persistent and more than 16 failed attempts ⇒ ban the ID in the book
    ///   for [`ban_time`](super::PexConfig::ban_time) and give up ([`DialCheck::GaveUp`],
    ///   again on every later check: Go never forgets the count);
    /// - some failed attempts ⇒ wait `2^attempts s + U[0, 1 s)` since the last
    ///   one (a fresh jitter on each check), capped to
    ///   `persistent_peers_max_dial_period` for a persistent address when that is
    ///   non-zero.
    pub fn dial_check(
        &mut self,
        now: Instant,
        addr: &NetAddress,
        rng: &mut impl RngCore,
    ) -> DialCheck {
        let Some(record) = self.dial_attempts.get(&addr.socket_addr()).copied() else {
            return DialCheck::Dial;
        };
        let persistent = self.is_persistent(addr);
        if !persistent && record.number > MAX_ATTEMPTS_TO_DIAL {
            self.book.mark_bad(addr, self.config.ban_time, now);
            return DialCheck::GaveUp {
                attempts: record.number,
            };
        }
        if record.number == 0 {
            return DialCheck::Dial;
        }
        let jitter = Duration::from_nanos(below(rng, 1_000_000_000) as u64);
        let mut backoff = backoff_base(record.number).saturating_add(jitter);
        let cap = self.config.persistent_peers_max_dial_period;
        if persistent && !cap.is_zero() && backoff > cap {
            backoff = cap;
        }
        if now - record.last_dialed < backoff {
            return DialCheck::TooEarly {
                backoff,
                last_dialed: record.last_dialed,
            };
        }
        DialCheck::Dial
    }

    /// [`dial_check`](Self::dial_check) allows a dial now.
    pub fn should_dial(&mut self, now: Instant, addr: &NetAddress, rng: &mut impl RngCore) -> bool {
        self.dial_check(now, addr, rng).allowed()
    }

    /// The outcome of an [`Action::Dial`]. Connected ⇒ the history of its
    /// `ip:port` is forgotten (and, for a seed's crawl dial of a peer still
    /// connected, a request is sent); failed ⇒ `mark_attempt` in the book and one
    /// more attempt at `now`; already connected/dialing ⇒ nothing.
    pub fn dial_result(
        &mut self,
        now: Instant,
        addr: &NetAddress,
        outcome: DialOutcome,
    ) -> Vec<Action> {
        let crawl = self.crawl_dials.remove(addr);
        let mut out = Vec::new();
        match outcome {
            DialOutcome::AlreadyConnectedOrDialing => {}
            DialOutcome::Failed => {
                self.book.mark_attempt(addr, now);
                let record =
                    self.dial_attempts
                        .entry(addr.socket_addr())
                        .or_insert(super::DialAttempts {
                            number: 0,
                            last_dialed: now,
                        });
                record.number = record.number.saturating_add(1);
                record.last_dialed = now;
            }
            DialOutcome::Connected => {
                self.dial_attempts.remove(&addr.socket_addr());
                if crawl && self.connected.contains(&addr.id()) {
                    self.request_addrs(addr.id(), &mut out);
                }
            }
        }
        out
    }

    /// Failed dials recorded for `addr`'s `ip:port` (Go's `AttemptsToDial`).
    pub fn dial_attempts(&self, addr: &NetAddress) -> u32 {
        self.dial_attempts
            .get(&addr.socket_addr())
            .map_or(0, |r| r.number)
    }
}

/// `ensurePeers`' bias towards new addresses: `min(outbound, 8) × 10 + 10`.
pub fn ensure_peers_bias(outbound: usize) -> i32 {
    i32::try_from(outbound.min(8)).unwrap_or(8) * 10 + 10
}

/// `2^attempts` seconds, saturating (Go's `int64` nanoseconds wrap from 34
/// attempts on, which only persistent addresses reach).
pub fn backoff_base(attempts: u32) -> Duration {
    1u64.checked_shl(attempts)
        .map_or(Duration::MAX, Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pex::policy::tests::{test_addr, test_pex};
    use crate::pex::policy::PexConfig;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn backoff_and_bias_values() {
        assert_eq!(backoff_base(0), Duration::from_secs(1));
        assert_eq!(backoff_base(16), Duration::from_secs(65_536));
        assert_eq!(backoff_base(63), Duration::from_secs(1 << 63));
        assert_eq!(backoff_base(64), Duration::MAX);
        assert_eq!(ensure_peers_bias(0), 10);
        assert_eq!(ensure_peers_bias(usize::MAX), 90);
    }

    #[test]
    fn attempts_are_keyed_by_ip_and_port() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let mut x = test_pex(PexConfig::default());
        let a = test_addr(1);
        let same_socket = NetAddress::new(test_addr(2).id(), a.ip(), a.port());
        let other_port = NetAddress::new(a.id(), a.ip(), a.port() + 1);
        x.dial_result(Instant::ZERO, &a, DialOutcome::Failed);
        assert_eq!(x.dial_attempts(&same_socket), 1);
        assert_eq!(x.dial_attempts(&other_port), 0);
        assert!(!x.should_dial(Instant::ZERO, &same_socket, &mut r));
        assert!(x.should_dial(Instant::ZERO, &other_port, &mut r));
    }

    #[test]
    fn gave_up_is_sticky_and_bans_only_known_ids() {
        let mut r = ChaCha8Rng::seed_from_u64(2);
        let mut x = test_pex(PexConfig::default());
        let a = test_addr(3);
        for _ in 0..=MAX_ATTEMPTS_TO_DIAL {
            x.dial_result(Instant::ZERO, &a, DialOutcome::Failed);
        }
        // Not in the book: nothing to ban, still given up.
        assert_eq!(
            x.dial_check(Instant::ZERO, &a, &mut r),
            DialCheck::GaveUp { attempts: 17 }
        );
        assert!(!x.book.is_banned(&a));
        assert_eq!(x.dial_attempts(&a), 17);
    }

    #[test]
    fn seeds_are_permuted_deterministically() {
        let seeds: Vec<NetAddress> = (1..=6).map(test_addr).collect();
        let x = test_pex(PexConfig {
            seeds: seeds.clone(),
            ..PexConfig::default()
        });
        let run = |seed| {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            match x.dial_seeds(&mut r) {
                Some(Action::DialSeeds(s)) => s,
                other => panic!("{other:?}"),
            }
        };
        let first = run(7);
        assert_eq!(first, run(7));
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, seeds);
        assert!((0..20).any(|s| run(s) != seeds), "some seed reorders");
        assert_eq!(
            test_pex(PexConfig::default()).dial_seeds(&mut ChaCha8Rng::seed_from_u64(0)),
            None
        );
    }
}
