//! Seed ("crawler") mode (spec 2.7, Go's `crawlPeersRoutine`): dial the seeds
//! (or crawl) once, then every [`CRAWL_PEER_PERIOD`](super::CRAWL_PEER_PERIOD)
//! disconnect long-connected peers, crawl a selection of the book, and expire
//! old crawl records. Replies to inbound requests are in the parent module.

use rand_core::RngCore;

use super::{Action, PeerInfo, Pex, CRAWL_RECORD_EXPIRY, MIN_TIME_BETWEEN_CRAWLS};
use crate::key::NodeId;
use crate::netaddr::NetAddress;
use crate::time::Instant;

impl Pex {
    /// The crawler's first step: dial the seeds (random order, sequentially) if
    /// any are configured, else crawl [`get_selection`](crate::pex::AddrBook::get_selection).
    pub fn crawl_start(&mut self, now: Instant, rng: &mut impl RngCore) -> Vec<Action> {
        if let Some(seeds) = self.dial_seeds(rng) {
            return vec![seeds];
        }
        let addrs = self.book.get_selection(rng);
        self.crawl_addrs(now, &addrs, rng)
    }

    /// One periodic crawler round: gracefully disconnect every non-persistent peer
    /// of `connected` connected for at least
    /// [`seed_disconnect_wait_period`](super::PexConfig::seed_disconnect_wait_period);
    /// crawl a fresh `get_selection()`; drop crawl records older than 24 h.
    pub fn crawl(
        &mut self,
        now: Instant,
        connected: &[PeerInfo],
        rng: &mut impl RngCore,
    ) -> Vec<Action> {
        let wait = self.config.seed_disconnect_wait_period;
        let mut out: Vec<Action> = connected
            .iter()
            .filter(|p| now - p.connected_at >= wait && !p.persistent)
            .map(|p| Action::Disconnect(p.id))
            .collect();
        let addrs = self.book.get_selection(rng);
        out.extend(self.crawl_addrs(now, &addrs, rng));
        self.crawled
            .retain(|_, last| now - *last <= CRAWL_RECORD_EXPIRY);
        let crawled = &self.crawled;
        self.crawl_dials.retain(|a| crawled.contains_key(&a.id()));
        out
    }

    /// Go's `crawlPeers`: for each address whose ID was not crawled within 2 min,
    /// record the attempt and dial it if [`dial_check`](Self::dial_check) allows.
    /// When that dial is reported connected, the peer is asked for addresses.
    fn crawl_addrs(
        &mut self,
        now: Instant,
        addrs: &[NetAddress],
        rng: &mut impl RngCore,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for addr in addrs {
            if let Some(last) = self.crawled.get(&addr.id()) {
                if now - *last < MIN_TIME_BETWEEN_CRAWLS {
                    continue;
                }
            }
            self.crawled.insert(addr.id(), now);
            if self.dial_check(now, addr, rng).allowed() {
                self.crawl_dials.insert(*addr);
                out.push(Action::Dial(*addr));
            }
        }
        out
    }

    /// When the crawler last tried `id`, if within the last 24 h.
    pub fn last_crawled(&self, id: &NodeId) -> Option<Instant> {
        self.crawled.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pex::policy::tests::{test_addr, test_pex};
    use crate::pex::policy::{DialOutcome, PexConfig};
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::time::Duration;

    #[test]
    fn pending_crawl_dials_follow_their_records() {
        let mut r = ChaCha8Rng::seed_from_u64(1);
        let mut x = test_pex(PexConfig {
            seed_mode: true,
            ..PexConfig::default()
        });
        let a = test_addr(4);
        let b = test_addr(5);
        let t0 = Instant::ZERO;
        assert_eq!(
            x.crawl_addrs(t0, &[a, b, a], &mut r),
            vec![Action::Dial(a), Action::Dial(b)]
        );
        assert_eq!(x.crawl_dials.len(), 2);
        x.dial_result(t0, &b, DialOutcome::Failed);
        assert_eq!(x.crawl_dials.len(), 1);
        // `a` is never reported: its pending dial goes with its record.
        let day = t0 + Duration::from_secs(24 * 3600 + 1);
        x.crawl(day, &[], &mut r);
        assert!(x.crawl_dials.is_empty() && x.crawled.is_empty());
    }
}
