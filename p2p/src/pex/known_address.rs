//! One address book entry (Go's `knownAddress`, spec 2.8): the address, where we
//! heard of it, which buckets hold it, and its dial history.
//!
//! Times are runtime [`Instant`]s; `None` stands for Go's zero `time.Time` ("never"),
//! which sorts before every real time, exactly as in Go's `Before`/`After`.
//! All rules take `now` as an argument.

use std::time::Duration;

use crate::key::NodeId;
use crate::netaddr::NetAddress;
use crate::time::Instant;

/// An entry with no attempt during the last minute is never bad (Go hard-codes it).
pub const RECENT_ATTEMPT_GRACE: Duration = Duration::from_secs(60);
/// Go's `numMissingDays`: not attempted for this long ⇒ bad.
pub const NUM_MISSING: Duration = Duration::from_secs(7 * 24 * 3600);
/// Go's `numRetries`: this many attempts without any success ⇒ bad.
pub const NUM_RETRIES: i32 = 3;
/// Go's `maxFailures`: this many attempts since a success older than
/// [`MIN_BAD`] ⇒ bad.
pub const MAX_FAILURES: i32 = 10;
/// Go's `minBadDays`.
pub const MIN_BAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// Which kind of bucket an entry lives in (Go's `bucketTypeNew`/`bucketTypeOld`;
/// the discriminants are the values written to `addrbook.json`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BucketType {
    /// Heard of, never marked good: lives in up to 4 of the 256 new buckets.
    New = 0x01,
    /// Marked good at least once: lives in exactly one of the 64 old buckets.
    Old = 0x02,
}

impl BucketType {
    /// The number written to `addrbook.json` (`bucket_type`).
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The bucket type of a file value (1 or 2).
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0x01 => Some(BucketType::New),
            0x02 => Some(BucketType::Old),
            _ => None,
        }
    }
}

/// An address the book knows, with its placement and history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownAddress {
    pub(crate) addr: NetAddress,
    pub(crate) src: NetAddress,
    pub(crate) buckets: Vec<usize>,
    pub(crate) attempts: i32,
    pub(crate) bucket_type: BucketType,
    pub(crate) last_attempt: Option<Instant>,
    pub(crate) last_success: Option<Instant>,
    pub(crate) last_ban_time: Option<Instant>,
}

impl KnownAddress {
    /// A fresh entry of type new, in no bucket yet; `last_attempt` starts at `now`
    /// (as Go's `newKnownAddress`).
    pub fn new(addr: NetAddress, src: NetAddress, now: Instant) -> Self {
        KnownAddress {
            addr,
            src,
            buckets: Vec::new(),
            attempts: 0,
            bucket_type: BucketType::New,
            last_attempt: Some(now),
            last_success: None,
            last_ban_time: None,
        }
    }

    /// Builds an entry with every field given (the file loader's constructor).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        addr: NetAddress,
        src: NetAddress,
        buckets: Vec<usize>,
        attempts: i32,
        bucket_type: BucketType,
        last_attempt: Option<Instant>,
        last_success: Option<Instant>,
        last_ban_time: Option<Instant>,
    ) -> Self {
        KnownAddress {
            addr,
            src,
            buckets,
            attempts,
            bucket_type,
            last_attempt,
            last_success,
            last_ban_time,
        }
    }

    /// The node ID (the book's key for this entry).
    pub fn id(&self) -> NodeId {
        self.addr.id()
    }

    /// The address as first learned (a later address for the same ID is not stored).
    pub fn addr(&self) -> NetAddress {
        self.addr
    }

    /// The address of the peer we learned it from.
    pub fn src(&self) -> NetAddress {
        self.src
    }

    /// Indices of the buckets (of [`bucket_type`](Self::bucket_type)) that hold it,
    /// in the order they were added.
    pub fn buckets(&self) -> &[usize] {
        &self.buckets
    }

    /// Dial attempts since the last success.
    pub fn attempts(&self) -> i32 {
        self.attempts
    }

    /// New or old.
    pub fn bucket_type(&self) -> BucketType {
        self.bucket_type
    }

    /// Last dial attempt (`None` = never / Go's zero time).
    pub fn last_attempt(&self) -> Option<Instant> {
        self.last_attempt
    }

    /// Last time it was marked good (`None` = never).
    pub fn last_success(&self) -> Option<Instant> {
        self.last_success
    }

    /// End of its latest ban (`None` = never banned).
    pub fn last_ban_time(&self) -> Option<Instant> {
        self.last_ban_time
    }

    /// Type old.
    pub fn is_old(&self) -> bool {
        self.bucket_type == BucketType::Old
    }

    /// Type new.
    pub fn is_new(&self) -> bool {
        self.bucket_type == BucketType::New
    }

    /// Go's `markAttempt`: `last_attempt = now`, one more attempt.
    pub fn mark_attempt(&mut self, now: Instant) {
        self.last_attempt = Some(now);
        self.attempts = self.attempts.saturating_add(1);
    }

    /// Go's `markGood`: `last_attempt = last_success = now`, attempts reset.
    pub fn mark_good(&mut self, now: Instant) {
        self.last_attempt = Some(now);
        self.last_success = Some(now);
        self.attempts = 0;
    }

    /// Go's `ban`: the ban ends at `now + d`, unless it already ends later (a ban
    /// is only ever extended).
    pub fn ban(&mut self, d: Duration, now: Instant) {
        let until = now + d;
        if self.last_ban_time < Some(until) {
            self.last_ban_time = Some(until);
        }
    }

    /// Go's `isBanned`: the ban ends after `now`.
    pub fn is_banned(&self, now: Instant) -> bool {
        self.last_ban_time.is_some_and(|t| t > now)
    }

    /// Go's `isBad` (only new entries can be bad):
    /// 1. old ⇒ not bad;
    /// 2. attempted less than a minute ago ⇒ not bad;
    /// 3. last attempt more than 7 days ago ⇒ bad;
    /// 4. never succeeded and at least 3 attempts ⇒ bad;
    /// 5. last success more than 7 days ago (or never) and at least 10 attempts ⇒ bad.
    ///
    /// "Ago" is measured as `now - t`; a time after `now` counts as zero ago.
    pub fn is_bad(&self, now: Instant) -> bool {
        if self.is_old() {
            return false;
        }
        // `None` is Go's zero time: infinitely long ago.
        let ago = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t));
        let since_attempt = ago(self.last_attempt);
        if since_attempt.is_some_and(|d| d < RECENT_ATTEMPT_GRACE) {
            return false;
        }
        if since_attempt.is_none_or(|d| d > NUM_MISSING) {
            return true;
        }
        if self.last_success.is_none() && self.attempts >= NUM_RETRIES {
            return true;
        }
        ago(self.last_success).is_none_or(|d| d > MIN_BAD) && self.attempts >= MAX_FAILURES
    }

    /// Adds a bucket reference; returns the new count, or `None` if it was
    /// already there (Go's `addBucketRef` returning -1).
    pub(crate) fn add_bucket_ref(&mut self, idx: usize) -> Option<usize> {
        if self.buckets.contains(&idx) {
            return None;
        }
        self.buckets.push(idx);
        Some(self.buckets.len())
    }

    /// Drops a bucket reference; returns the remaining count, or `None` if it was
    /// not there.
    pub(crate) fn remove_bucket_ref(&mut self, idx: usize) -> Option<usize> {
        let pos = self.buckets.iter().position(|&b| b == idx)?;
        self.buckets.remove(pos);
        Some(self.buckets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn ka(now: Instant) -> KnownAddress {
        let id = NodeId::from_bytes([1; 20]);
        let addr = NetAddress::new(id, "1.2.3.4".parse().unwrap(), 26656);
        let src = NetAddress::new(NodeId::from_bytes([2; 20]), "5.6.7.8".parse().unwrap(), 1);
        KnownAddress::new(addr, src, now)
    }

    fn at(d: Duration) -> Instant {
        Instant::from_epoch(d)
    }

    #[test]
    fn attempt_good_and_ban_bookkeeping() {
        let t0 = at(DAY);
        let mut k = ka(t0);
        assert_eq!(
            (k.last_attempt(), k.last_success(), k.attempts()),
            (Some(t0), None, 0)
        );
        k.mark_attempt(t0 + DAY);
        k.mark_attempt(t0 + DAY * 2);
        assert_eq!((k.last_attempt(), k.attempts()), (Some(t0 + DAY * 2), 2));
        k.mark_good(t0 + DAY * 3);
        assert_eq!(
            (k.last_attempt(), k.last_success(), k.attempts()),
            (Some(t0 + DAY * 3), Some(t0 + DAY * 3), 0)
        );
        k.ban(DAY, t0);
        assert_eq!(k.last_ban_time(), Some(t0 + DAY));
        // A shorter ban does not shorten it; a longer one extends it.
        k.ban(Duration::from_secs(1), t0);
        assert_eq!(k.last_ban_time(), Some(t0 + DAY));
        assert!(k.is_banned(t0 + DAY - Duration::from_nanos(1)));
        assert!(!k.is_banned(t0 + DAY));
        k.ban(DAY * 2, t0);
        assert_eq!(k.last_ban_time(), Some(t0 + DAY * 2));
    }

    #[test]
    fn is_bad_rules() {
        let t0 = at(DAY * 30);
        // Fresh: attempted "now" (creation) ⇒ not bad even with many attempts.
        let mut k = ka(t0);
        k.attempts = 50;
        assert!(!k.is_bad(t0 + Duration::from_secs(59)));
        // Rule 4: never succeeded, 3 attempts, attempted > 1 minute ago.
        let mut k = ka(t0);
        k.attempts = 3;
        assert!(!k.is_bad(t0 + Duration::from_secs(60) - Duration::from_nanos(1)));
        assert!(k.is_bad(t0 + Duration::from_secs(60)));
        k.attempts = 2;
        assert!(!k.is_bad(t0 + Duration::from_secs(3600)));
        // Rule 3: not attempted for more than 7 days.
        assert!(!k.is_bad(t0 + NUM_MISSING));
        assert!(k.is_bad(t0 + NUM_MISSING + Duration::from_nanos(1)));
        // Rule 5: success long ago and 10 failures.
        let mut k = ka(t0);
        k.mark_good(t0 - DAY * 8);
        k.last_attempt = Some(t0);
        k.attempts = 9;
        let later = t0 + Duration::from_secs(120);
        assert!(!k.is_bad(later));
        k.attempts = 10;
        assert!(k.is_bad(later));
        k.last_success = Some(t0 - DAY * 6);
        assert!(!k.is_bad(later));
        // Zero-time last attempt: long ago ⇒ bad.
        let mut k = ka(t0);
        k.last_attempt = None;
        assert!(k.is_bad(t0));
        // Old entries are never bad.
        k.bucket_type = BucketType::Old;
        assert!(!k.is_bad(t0));
        // An attempt in the future counts as just now.
        let mut k = ka(t0 + DAY);
        k.attempts = 5;
        assert!(!k.is_bad(t0));
    }

    #[test]
    fn bucket_refs() {
        let mut k = ka(Instant::ZERO);
        assert_eq!(k.add_bucket_ref(5), Some(1));
        assert_eq!(k.add_bucket_ref(7), Some(2));
        assert_eq!(k.add_bucket_ref(5), None);
        assert_eq!(k.remove_bucket_ref(9), None);
        assert_eq!(k.remove_bucket_ref(5), Some(1));
        assert_eq!(k.buckets(), &[7]);
        assert_eq!(BucketType::from_u8(2), Some(BucketType::Old));
        assert_eq!(BucketType::from_u8(0), None);
        assert_eq!(BucketType::New.as_u8(), 1);
    }
}
