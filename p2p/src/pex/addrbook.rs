//! The PEX address book (Go's `p2p/pex/addrbook.go`, spec 2.8) as a pure data
//! structure: no file I/O, no clock, no global RNG. Time-dependent methods take
//! `now`, random choices take an `rng`; persistence is in [`super::addrbook_file`].
//!
//! Layout: one [`KnownAddress`] per node ID (`lookup`), banned entries aside
//! (`bad_peers`), 256 "new" buckets and 64 "old" buckets holding IDs. An entry is
//! in 1..=4 new buckets or exactly one old bucket. Buckets may hold 65 entries
//! (Go's off-by-one, kept).
//!
//! Determinism: all state is in `BTreeMap`/`BTreeSet`/`Vec`. Go keys a bucket by
//! the address string `id@ip:port`; since IDs are fixed-length lowercase hex and
//! unique per entry, ordering buckets by ID is ordering by that string. Where Go
//! takes "the first found in map iteration order" (bad entry to expire, oldest
//! entry on ties) this takes the first in ID order. Bucket placement uses a keyed
//! hash of the book's `key` (SHA-256 over `key || data`, first 8 bytes big-endian),
//! so the same key gives the same placement on every run; Go uses HighwayHash with
//! a per-process random key, so indices never matched across Go restarts anyway.
//!
//! Deviations from Go, all deliberate: random bucket choice in
//! [`AddrBook::pick_address`] picks uniformly among non-empty buckets (same
//! distribution as Go's retry loop, but bounded); [`AddrBook::get_selection_with_bias`]
//! takes exactly the wanted number from each kind (Go's `randomPickAddresses`
//! returns one address when asked for zero, so Go can return one address more
//! than the selection size).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::known_address::{BucketType, KnownAddress};
use crate::key::NodeId;
use crate::netaddr::NetAddress;
use crate::time::Instant;

/// Below this many addresses the book asks peers for more (`needAddressThreshold`).
pub const NEED_ADDRESS_THRESHOLD: usize = 1000;
/// How often Go saves the book (`dumpAddressInterval`); for the caller's timer.
pub const DUMP_ADDRESS_INTERVAL: Duration = Duration::from_secs(120);
/// Number of new buckets.
pub const NEW_BUCKET_COUNT: usize = 256;
/// Nominal capacity of a new bucket (it may reach one more, as in Go).
pub const NEW_BUCKET_SIZE: usize = 64;
/// Number of old buckets.
pub const OLD_BUCKET_COUNT: usize = 64;
/// Nominal capacity of an old bucket (it may reach one more, as in Go).
pub const OLD_BUCKET_SIZE: usize = 64;
/// New buckets over which one source group's addresses spread.
pub const NEW_BUCKETS_PER_GROUP: u64 = 32;
/// Old buckets over which one address group spreads.
pub const OLD_BUCKETS_PER_GROUP: u64 = 4;
/// New buckets one address may be in.
pub const MAX_NEW_BUCKETS_PER_ADDRESS: usize = 4;
/// Percentage of the book returned by [`AddrBook::get_selection`].
pub const GET_SELECTION_PERCENT: usize = 23;
/// Minimum selection size (if the book is that large).
pub const MIN_GET_SELECTION: usize = 32;
/// Maximum selection size (= the PEX reply limit).
pub const MAX_GET_SELECTION: usize = 250;
/// Length of the book's key: 24 hex characters (12 random bytes).
pub const KEY_LEN: usize = 24;

/// Why [`AddrBook::add_address`] refused an address (Go's `ErrAddrBook*`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrBookError {
    /// The IP is unspecified, RFC 3849 documentation space or broadcast.
    #[error("cannot add invalid address {addr}")]
    InvalidAddress {
        /// The address.
        addr: NetAddress,
    },
    /// The ID is in the ban list (even if the ban has expired but was not yet
    /// lifted by [`AddrBook::reinstate_bad_peers`]).
    #[error("address {addr} is currently banned")]
    Banned {
        /// The address.
        addr: NetAddress,
    },
    /// The ID is one of our private peers.
    #[error("cannot add private peer with address {addr}")]
    PrivateId {
        /// The address.
        addr: NetAddress,
    },
    /// The source is one of our private peers.
    #[error("cannot add peer coming from private peer with address {src}")]
    PrivateSource {
        /// The source address.
        src: NetAddress,
    },
    /// The address is one of ours.
    #[error("cannot add ourselves with address {addr}")]
    OwnAddress {
        /// The address.
        addr: NetAddress,
    },
    /// Strict mode (`addr_book_strict`) and the address is not routable.
    #[error("cannot add non-routable address {addr}")]
    NonRoutable {
        /// The address.
        addr: NetAddress,
    },
    /// A book key that is not 24 hex characters.
    #[error("address book key {key:?} is not {KEY_LEN} hex characters")]
    BadKey {
        /// The key given (truncated).
        key: String,
    },
}

/// What an accepted [`AddrBook::add_address`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// A new entry was created in a new bucket.
    Added,
    /// The ID was known: its entry (with its original address) got one more new
    /// bucket reference.
    AddedBucket,
    /// The ID was known and nothing changed: it is old, already in 4 buckets, lost
    /// the 1/(2×buckets) draw, or is already in the computed bucket.
    Unchanged,
}

/// What [`AddrBook::mark_good`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// The ID is not in the book.
    NotFound,
    /// Already old: only its history was updated.
    AlreadyOld,
    /// Moved to an old bucket. If that bucket was full, its entry with the oldest
    /// last attempt was removed and, as in Go (which fails to re-add an "old"
    /// entry to a new bucket), dropped from the book: `dropped` names it.
    Promoted {
        /// The ID evicted from the full old bucket, if any.
        dropped: Option<NodeId>,
    },
    /// The entry could not be placed in an old bucket (unreachable unless the
    /// book is inconsistent); if it had to leave its new buckets it is gone.
    Lost,
}

/// An entry handed to [`AddrBook::from_entries`] that breaks an invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// A second entry for an ID.
    #[error("duplicate entry for node ID {0}")]
    DuplicateId(NodeId),
    /// The entry is in no bucket.
    #[error("entry is in no bucket")]
    NoBuckets,
    /// More buckets than the type allows (new: 4, old: 1).
    #[error("entry is in {count} buckets, at most {max} allowed for its type")]
    TooManyBuckets {
        /// Buckets listed.
        count: usize,
        /// Allowed.
        max: usize,
    },
    /// A bucket index outside 0..256 (new) or 0..64 (old).
    #[error("bucket index {bucket} out of range 0..{count}")]
    BucketOutOfRange {
        /// The index as written.
        bucket: i64,
        /// Number of buckets of the entry's type.
        count: usize,
    },
    /// A bucket listed twice.
    #[error("bucket {0} listed twice")]
    DuplicateBucket(usize),
    /// A bucket would hold more than 65 entries.
    #[error("bucket {bucket} holds more than {max} entries")]
    BucketOverfull {
        /// The bucket index.
        bucket: usize,
        /// 65.
        max: usize,
    },
}

/// The address book. See the module documentation.
#[derive(Clone, Debug)]
pub struct AddrBook {
    key: String,
    strict: bool,
    our_addrs: BTreeSet<NetAddress>,
    private_ids: BTreeSet<NodeId>,
    lookup: BTreeMap<NodeId, KnownAddress>,
    bad_peers: BTreeMap<NodeId, KnownAddress>,
    buckets_new: Vec<BTreeSet<NodeId>>,
    buckets_old: Vec<BTreeSet<NodeId>>,
    n_new: usize,
    n_old: usize,
}

impl AddrBook {
    /// An empty book with a fresh random key (12 bytes from `rng` as 24 hex
    /// characters). `strict` is `addr_book_strict`.
    pub fn new(strict: bool, rng: &mut impl RngCore) -> Self {
        let mut raw = [0u8; KEY_LEN / 2];
        rng.fill_bytes(&mut raw);
        Self::empty(hex::encode(raw), strict)
    }

    /// An empty book with the given key (24 hex characters).
    pub fn with_key(key: &str, strict: bool) -> Result<Self, AddrBookError> {
        if !is_valid_key(key) {
            return Err(AddrBookError::BadKey {
                key: crate::key::truncate(key),
            });
        }
        Ok(Self::empty(key.to_owned(), strict))
    }

    fn empty(key: String, strict: bool) -> Self {
        AddrBook {
            key,
            strict,
            our_addrs: BTreeSet::new(),
            private_ids: BTreeSet::new(),
            lookup: BTreeMap::new(),
            bad_peers: BTreeMap::new(),
            buckets_new: vec![BTreeSet::new(); NEW_BUCKET_COUNT],
            buckets_old: vec![BTreeSet::new(); OLD_BUCKET_COUNT],
            n_new: 0,
            n_old: 0,
        }
    }

    /// Rebuilds a book from stored entries (bucket lists trusted only after
    /// validation: index ranges, 1..=4 distinct new buckets or exactly one old
    /// bucket, one entry per ID, at most 65 entries per bucket).
    pub fn from_entries(
        key: &str,
        strict: bool,
        entries: impl IntoIterator<Item = KnownAddress>,
    ) -> Result<Self, AddrBookLoadError> {
        let mut book = Self::with_key(key, strict).map_err(AddrBookLoadError::Key)?;
        for (index, ka) in entries.into_iter().enumerate() {
            book.insert_loaded(ka)
                .map_err(|problem| AddrBookLoadError::Entry { index, problem })?;
        }
        Ok(book)
    }

    fn insert_loaded(&mut self, ka: KnownAddress) -> Result<(), EntryProblem> {
        let id = ka.id();
        if self.lookup.contains_key(&id) {
            return Err(EntryProblem::DuplicateId(id));
        }
        let (count, max) = match ka.bucket_type {
            BucketType::New => (NEW_BUCKET_COUNT, MAX_NEW_BUCKETS_PER_ADDRESS),
            BucketType::Old => (OLD_BUCKET_COUNT, 1),
        };
        if ka.buckets.is_empty() {
            return Err(EntryProblem::NoBuckets);
        }
        if ka.buckets.len() > max {
            return Err(EntryProblem::TooManyBuckets {
                count: ka.buckets.len(),
                max,
            });
        }
        for (i, &b) in ka.buckets.iter().enumerate() {
            if b >= count {
                return Err(EntryProblem::BucketOutOfRange {
                    bucket: i64::try_from(b).unwrap_or(i64::MAX),
                    count,
                });
            }
            if ka.buckets[..i].contains(&b) {
                return Err(EntryProblem::DuplicateBucket(b));
            }
            let cap = match ka.bucket_type {
                BucketType::New => NEW_BUCKET_SIZE + 1,
                BucketType::Old => OLD_BUCKET_SIZE + 1,
            };
            if self.buckets(ka.bucket_type)[b].len() >= cap {
                return Err(EntryProblem::BucketOverfull {
                    bucket: b,
                    max: cap,
                });
            }
        }
        for &b in &ka.buckets {
            self.buckets_mut(ka.bucket_type)[b].insert(id);
        }
        *self.count_mut(ka.bucket_type) += 1;
        self.lookup.insert(id, ka);
        Ok(())
    }

    // ----- accessors -------------------------------------------------------

    /// The 24-hex-character key (persisted; seeds bucket placement).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `addr_book_strict`: only routable addresses, groups "local"/"unroutable".
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Number of entries (new + old; banned entries not counted).
    pub fn size(&self) -> usize {
        self.n_new + self.n_old
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// Number of new entries.
    pub fn n_new(&self) -> usize {
        self.n_new
    }

    /// Number of old entries.
    pub fn n_old(&self) -> usize {
        self.n_old
    }

    /// Fewer than 1000 entries: ask peers for more.
    pub fn need_more_addrs(&self) -> bool {
        self.size() < NEED_ADDRESS_THRESHOLD
    }

    /// The entry for `id`, if any.
    pub fn get(&self, id: &NodeId) -> Option<&KnownAddress> {
        self.lookup.get(id)
    }

    /// All entries in ID order (what is persisted).
    pub fn entries(&self) -> impl Iterator<Item = &KnownAddress> + '_ {
        self.lookup.values()
    }

    /// Banned entries in ID order (not persisted).
    pub fn bad_peers(&self) -> impl Iterator<Item = &KnownAddress> + '_ {
        self.bad_peers.values()
    }

    /// Number of entries in each bucket of a kind, by index.
    pub fn bucket_lens(&self, kind: BucketType) -> Vec<usize> {
        self.buckets(kind).iter().map(BTreeSet::len).collect()
    }

    /// An entry of type old exists for the ID (Go's `IsGood`).
    pub fn is_good(&self, addr: &NetAddress) -> bool {
        self.lookup
            .get(&addr.id())
            .is_some_and(KnownAddress::is_old)
    }

    /// The ID is in the ban list (Go's `IsBanned`; expiry is not checked).
    pub fn is_banned(&self, addr: &NetAddress) -> bool {
        self.bad_peers.contains_key(&addr.id())
    }

    /// An entry exists for the ID (whatever address it holds).
    pub fn has_address(&self, addr: &NetAddress) -> bool {
        self.lookup.contains_key(&addr.id())
    }

    /// Records one of our own addresses so it is never added.
    pub fn add_our_address(&mut self, addr: NetAddress) {
        self.our_addrs.insert(addr);
    }

    /// `addr` is one of ours (exact `id@ip:port` match, as Go).
    pub fn is_our_address(&self, addr: &NetAddress) -> bool {
        self.our_addrs.contains(addr)
    }

    /// Records private peer IDs (`private_peer_ids`): never added, nor anything
    /// they tell us.
    pub fn add_private_ids(&mut self, ids: impl IntoIterator<Item = NodeId>) {
        self.private_ids.extend(ids);
    }

    /// The new bucket `addr` heard from `src` goes to:
    /// `H(key‖group(src)‖BE64(H(key‖group(addr)‖group(src)) mod 32)) mod 256`.
    pub fn new_bucket_of(&self, addr: &NetAddress, src: &NetAddress) -> usize {
        let ga = addr.group(self.strict);
        let gs = src.group(self.strict);
        let h1 = self.hash(&[ga.as_bytes(), gs.as_bytes()]) % NEW_BUCKETS_PER_GROUP;
        let h2 = self.hash(&[gs.as_bytes(), &h1.to_be_bytes()]);
        usize::try_from(h2 % NEW_BUCKET_COUNT as u64).unwrap_or(0)
    }

    /// The old bucket of `addr`:
    /// `H(key‖group(addr)‖BE64(H(key‖"id@ip:port") mod 4)) mod 64`.
    pub fn old_bucket_of(&self, addr: &NetAddress) -> usize {
        let h1 = self.hash(&[addr.to_string().as_bytes()]) % OLD_BUCKETS_PER_GROUP;
        let ga = addr.group(self.strict);
        let h2 = self.hash(&[ga.as_bytes(), &h1.to_be_bytes()]);
        usize::try_from(h2 % OLD_BUCKET_COUNT as u64).unwrap_or(0)
    }

    /// First 8 bytes (big-endian) of SHA-256(key ‖ parts...).
    fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut h = Sha256::new();
        h.update(self.key.as_bytes());
        for p in parts {
            h.update(p);
        }
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        u64::from_be_bytes(first)
    }

    // ----- operations ------------------------------------------------------

    /// Adds `addr`, learned from `src`, to a new bucket (Go's `AddAddress`).
    ///
    /// Rejected, in Go's order: invalid IP; ID banned; ID private; source ID
    /// private; one of our addresses; non-routable in strict mode. A known ID keeps
    /// its entry and original address: if old, or already in 4 new buckets,
    /// nothing happens; otherwise with probability 1/(2×buckets) the entry gets a
    /// reference in the bucket computed from the *new* `addr`/`src`. Adding to a
    /// bucket holding more than 64 entries first expires one (the first bad entry
    /// in ID order, else the one with the oldest last attempt).
    pub fn add_address(
        &mut self,
        addr: NetAddress,
        src: NetAddress,
        now: Instant,
        rng: &mut impl RngCore,
    ) -> Result<AddOutcome, AddrBookError> {
        if !addr.valid() {
            return Err(AddrBookError::InvalidAddress { addr });
        }
        let id = addr.id();
        if self.bad_peers.contains_key(&id) {
            return Err(AddrBookError::Banned { addr });
        }
        if self.private_ids.contains(&id) {
            return Err(AddrBookError::PrivateId { addr });
        }
        if self.private_ids.contains(&src.id()) {
            return Err(AddrBookError::PrivateSource { src });
        }
        if self.our_addrs.contains(&addr) {
            return Err(AddrBookError::OwnAddress { addr });
        }
        if self.strict && !addr.routable() {
            return Err(AddrBookError::NonRoutable { addr });
        }
        let bucket = self.new_bucket_of(&addr, &src);
        if let Some(ka) = self.lookup.get(&id) {
            if ka.is_old() || ka.buckets.len() >= MAX_NEW_BUCKETS_PER_ADDRESS {
                return Ok(AddOutcome::Unchanged);
            }
            let factor = (2 * ka.buckets.len()).max(1);
            if below(rng, factor) != 0 {
                return Ok(AddOutcome::Unchanged);
            }
            return Ok(match self.add_to_new_bucket(id, bucket, now) {
                NewBucket::Inserted => AddOutcome::AddedBucket,
                NewBucket::AlreadyThere | NewBucket::NotNew => AddOutcome::Unchanged,
            });
        }
        self.lookup.insert(id, KnownAddress::new(addr, src, now));
        match self.add_to_new_bucket(id, bucket, now) {
            NewBucket::Inserted | NewBucket::AlreadyThere => Ok(AddOutcome::Added),
            NewBucket::NotNew => {
                // Unreachable: the entry was just created as new.
                self.lookup.remove(&id);
                Ok(AddOutcome::Unchanged)
            }
        }
    }

    /// Removes the entry of `addr`'s ID (whatever address it holds).
    pub fn remove_address(&mut self, addr: &NetAddress) {
        self.remove_from_all_buckets(addr.id());
    }

    /// Records a dial attempt on the entry of `addr`'s ID.
    pub fn mark_attempt(&mut self, addr: &NetAddress, now: Instant) {
        if let Some(ka) = self.lookup.get_mut(&addr.id()) {
            ka.mark_attempt(now);
        }
    }

    /// Marks the ID good (attempts reset, last success = now) and promotes a new
    /// entry to its old bucket (Go's `MarkGood` + `moveToOld`).
    pub fn mark_good(&mut self, id: &NodeId, now: Instant) -> Promotion {
        let Some(ka) = self.lookup.get_mut(id) else {
            return Promotion::NotFound;
        };
        ka.mark_good(now);
        if ka.is_old() {
            return Promotion::AlreadyOld;
        }
        if ka.buckets.is_empty() {
            // Go logs "cannot promote address that isn't in any new buckets".
            return Promotion::Lost;
        }
        let id = *id;
        let Some(mut ka) = self.remove_from_all_buckets(id) else {
            return Promotion::NotFound;
        };
        ka.bucket_type = BucketType::Old;
        let idx = self.old_bucket_of(&ka.addr);
        self.lookup.insert(id, ka);
        if self.add_to_old_bucket(id, idx) {
            return Promotion::Promoted { dropped: None };
        }
        // Full: evict the oldest. Go then tries to add it to a new bucket, which
        // fails because its type is still old, so it is simply gone.
        let dropped = self.pick_oldest(BucketType::Old, idx);
        if let Some(oldest) = dropped {
            self.remove_from_bucket(oldest, BucketType::Old, idx);
        }
        if self.add_to_old_bucket(id, idx) {
            Promotion::Promoted { dropped }
        } else {
            self.lookup.remove(&id);
            Promotion::Lost
        }
    }

    /// Bans the entry of `addr`'s ID until `now + ban` and removes it from the
    /// book (Go's `MarkBad`). An ID already in the ban list keeps its ban. Returns
    /// false (and does nothing) if the ID is not in the book.
    pub fn mark_bad(&mut self, addr: &NetAddress, ban: Duration, now: Instant) -> bool {
        let id = addr.id();
        let Some(mut ka) = self.remove_from_all_buckets(id) else {
            return false;
        };
        self.bad_peers.entry(id).or_insert_with(|| {
            ka.ban(ban, now);
            ka
        });
        true
    }

    /// Lifts every expired ban (ID order): the entry goes back to the new bucket
    /// computed from its stored address and source. An entry that was old when
    /// banned is forgotten (Go fails to put an old entry into a new bucket and
    /// still deletes it from the ban list). Returns the reinstated addresses.
    pub fn reinstate_bad_peers(&mut self, now: Instant) -> Vec<NetAddress> {
        let expired: Vec<NodeId> = self
            .bad_peers
            .iter()
            .filter(|(_, ka)| !ka.is_banned(now))
            .map(|(id, _)| *id)
            .collect();
        let mut back = Vec::new();
        for id in expired {
            let Some(ka) = self.bad_peers.remove(&id) else {
                continue;
            };
            if ka.is_old() || self.lookup.contains_key(&id) {
                continue;
            }
            let addr = ka.addr;
            let idx = self.new_bucket_of(&ka.addr, &ka.src);
            self.lookup.insert(id, ka);
            self.add_to_new_bucket(id, idx, now);
            back.push(addr);
        }
        back
    }

    /// A random address to dial (Go's `PickAddress`). `bias_new` (clamped to
    /// 0..=100) weighs new against old: old is chosen with probability
    /// `√nOld·(100−bias) / (√nOld·(100−bias) + √nNew·bias)`. `None` if the book
    /// is empty or the chosen kind is (e.g. bias 100 with only old entries).
    pub fn pick_address(&self, bias_new: i32, rng: &mut impl RngCore) -> Option<NetAddress> {
        if self.is_empty() {
            return None;
        }
        let bias = f64::from(bias_new.clamp(0, 100));
        let old_corr = (self.n_old as f64).sqrt() * (100.0 - bias);
        let new_corr = (self.n_new as f64).sqrt() * bias;
        let pick_old = (old_corr + new_corr) * unit_f64(rng) < old_corr;
        let (kind, n) = if pick_old {
            (BucketType::Old, self.n_old)
        } else {
            (BucketType::New, self.n_new)
        };
        if n == 0 {
            return None;
        }
        let non_empty: Vec<&BTreeSet<NodeId>> = self
            .buckets(kind)
            .iter()
            .filter(|b| !b.is_empty())
            .collect();
        if non_empty.is_empty() {
            return None;
        }
        let bucket = non_empty[below(rng, non_empty.len())];
        let id = bucket.iter().nth(below(rng, bucket.len()))?;
        self.lookup.get(id).map(KnownAddress::addr)
    }

    /// A random selection for a PEX reply (Go's `GetSelection`): size from
    /// [`selection_size`], drawn uniformly from all entries (partial Fisher–Yates
    /// over the entries in ID order).
    pub fn get_selection(&self, rng: &mut impl RngCore) -> Vec<NetAddress> {
        let mut all: Vec<NetAddress> = self.lookup.values().map(KnownAddress::addr).collect();
        let n = selection_size(self.size()).min(all.len());
        for i in 0..n {
            let j = i + below(rng, all.len() - i);
            all.swap(i, j);
        }
        all.truncate(n);
        all
    }

    /// A selection with a share of new addresses first (Go's
    /// `GetSelectionWithBias`, used by seeds with bias 30): `n` =
    /// [`selection_size`]; `max(round(bias% × n), n − nOld)` distinct random new
    /// addresses (fewer if there are fewer), then old ones up to `n`.
    pub fn get_selection_with_bias(
        &self,
        bias_new: i32,
        rng: &mut impl RngCore,
    ) -> Vec<NetAddress> {
        let n = selection_size(self.size());
        if n == 0 {
            return Vec::new();
        }
        let bias = f64::from(bias_new.clamp(0, 100));
        let by_bias = (bias / 100.0 * n as f64).round() as usize;
        let need_new = by_bias.max(n.saturating_sub(self.n_old));
        let mut selection = self.random_pick(BucketType::New, need_new, rng);
        let rest = n.saturating_sub(selection.len());
        selection.extend(self.random_pick(BucketType::Old, rest, rng));
        selection
    }

    /// Up to `num` distinct addresses of one kind: every bucket reference is a
    /// ticket (an entry in 3 buckets has 3), shuffled, duplicates skipped.
    fn random_pick(&self, kind: BucketType, num: usize, rng: &mut impl RngCore) -> Vec<NetAddress> {
        if num == 0 {
            return Vec::new();
        }
        let mut tickets: Vec<NodeId> = self.buckets(kind).iter().flatten().copied().collect();
        for i in (1..tickets.len()).rev() {
            let j = below(rng, i + 1);
            tickets.swap(i, j);
        }
        let mut chosen = BTreeSet::new();
        let mut out = Vec::new();
        for id in tickets {
            if out.len() >= num {
                break;
            }
            if chosen.insert(id) {
                if let Some(ka) = self.lookup.get(&id) {
                    out.push(ka.addr);
                }
            }
        }
        out
    }

    /// Verifies the internal invariants (counts, bucket references both ways,
    /// bucket sizes ≤ 65, types). For tests and after loading; `Err` names the
    /// first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let (mut n_new, mut n_old) = (0, 0);
        for (id, ka) in &self.lookup {
            if ka.id() != *id {
                return Err(format!("entry {id} holds address {}", ka.addr));
            }
            match ka.bucket_type {
                BucketType::New => n_new += 1,
                BucketType::Old => n_old += 1,
            }
            let max = match ka.bucket_type {
                BucketType::New => MAX_NEW_BUCKETS_PER_ADDRESS,
                BucketType::Old => 1,
            };
            if ka.buckets.is_empty() || ka.buckets.len() > max {
                return Err(format!("entry {id} is in {} buckets", ka.buckets.len()));
            }
            for &b in &ka.buckets {
                if !self
                    .buckets(ka.bucket_type)
                    .get(b)
                    .is_some_and(|s| s.contains(id))
                {
                    return Err(format!("entry {id} lists bucket {b} that lacks it"));
                }
            }
        }
        if (n_new, n_old) != (self.n_new, self.n_old) {
            return Err(format!(
                "counts ({}, {}) but entries ({n_new}, {n_old})",
                self.n_new, self.n_old
            ));
        }
        for kind in [BucketType::New, BucketType::Old] {
            for (b, set) in self.buckets(kind).iter().enumerate() {
                if set.len() > NEW_BUCKET_SIZE.max(OLD_BUCKET_SIZE) + 1 {
                    return Err(format!("{kind:?} bucket {b} holds {}", set.len()));
                }
                for id in set {
                    let ok = self
                        .lookup
                        .get(id)
                        .is_some_and(|ka| ka.bucket_type == kind && ka.buckets.contains(&b));
                    if !ok {
                        return Err(format!("{kind:?} bucket {b} holds stray {id}"));
                    }
                }
            }
        }
        Ok(())
    }

    // ----- bucket plumbing (Go's private helpers) ---------------------------

    fn buckets(&self, kind: BucketType) -> &[BTreeSet<NodeId>] {
        match kind {
            BucketType::New => &self.buckets_new,
            BucketType::Old => &self.buckets_old,
        }
    }

    fn buckets_mut(&mut self, kind: BucketType) -> &mut [BTreeSet<NodeId>] {
        match kind {
            BucketType::New => &mut self.buckets_new,
            BucketType::Old => &mut self.buckets_old,
        }
    }

    fn count_mut(&mut self, kind: BucketType) -> &mut usize {
        match kind {
            BucketType::New => &mut self.n_new,
            BucketType::Old => &mut self.n_old,
        }
    }

    /// Go's `addToNewBucket`; the entry must already be in `lookup`.
    fn add_to_new_bucket(&mut self, id: NodeId, idx: usize, now: Instant) -> NewBucket {
        match self.lookup.get(&id) {
            Some(ka) if ka.is_new() => {}
            _ => return NewBucket::NotNew,
        }
        if self.buckets_new[idx].contains(&id) {
            return NewBucket::AlreadyThere;
        }
        if self.buckets_new[idx].len() > NEW_BUCKET_SIZE {
            self.expire_new(idx, now);
        }
        self.buckets_new[idx].insert(id);
        if let Some(ka) = self.lookup.get_mut(&id) {
            if ka.add_bucket_ref(idx) == Some(1) {
                self.n_new += 1;
            }
        }
        NewBucket::Inserted
    }

    /// Go's `addToOldBucket`: false if the entry is new, already placed, or the
    /// bucket holds more than 64 entries.
    fn add_to_old_bucket(&mut self, id: NodeId, idx: usize) -> bool {
        match self.lookup.get(&id) {
            Some(ka) if ka.is_old() && ka.buckets.is_empty() => {}
            _ => return false,
        }
        if self.buckets_old[idx].contains(&id) {
            return true;
        }
        if self.buckets_old[idx].len() > OLD_BUCKET_SIZE {
            return false;
        }
        self.buckets_old[idx].insert(id);
        if let Some(ka) = self.lookup.get_mut(&id) {
            if ka.add_bucket_ref(idx) == Some(1) {
                self.n_old += 1;
            }
        }
        true
    }

    /// Go's `expireNew`: drop the first bad entry (ID order) of the bucket, else
    /// its oldest.
    fn expire_new(&mut self, idx: usize, now: Instant) {
        let bad = self.buckets_new[idx]
            .iter()
            .find(|id| self.lookup.get(id).is_some_and(|ka| ka.is_bad(now)))
            .copied();
        if let Some(victim) = bad.or_else(|| self.pick_oldest(BucketType::New, idx)) {
            self.remove_from_bucket(victim, BucketType::New, idx);
        }
    }

    /// The entry of a bucket with the earliest last attempt (first in ID order on
    /// ties; a zero time is the earliest).
    fn pick_oldest(&self, kind: BucketType, idx: usize) -> Option<NodeId> {
        self.buckets(kind)[idx]
            .iter()
            .filter_map(|id| self.lookup.get(id).map(|ka| (id, ka.last_attempt)))
            .min_by_key(|(_, t)| *t)
            .map(|(id, _)| *id)
    }

    /// Go's `removeFromBucket`: drops one reference; an entry left in no bucket
    /// leaves the book.
    fn remove_from_bucket(&mut self, id: NodeId, kind: BucketType, idx: usize) {
        let Some(ka) = self.lookup.get_mut(&id) else {
            return;
        };
        if ka.bucket_type != kind {
            return;
        }
        let left = ka.remove_bucket_ref(idx);
        self.buckets_mut(kind)[idx].remove(&id);
        if left == Some(0) {
            self.lookup.remove(&id);
            *self.count_mut(kind) -= 1;
        }
    }

    /// Go's `removeFromAllBuckets`: takes the entry out of the book entirely.
    fn remove_from_all_buckets(&mut self, id: NodeId) -> Option<KnownAddress> {
        let mut ka = self.lookup.remove(&id)?;
        let kind = ka.bucket_type;
        for &b in &ka.buckets {
            self.buckets_mut(kind)[b].remove(&id);
        }
        ka.buckets.clear();
        let count = self.count_mut(kind);
        *count = count.saturating_sub(1);
        Some(ka)
    }
}

/// Why [`AddrBook::from_entries`] refused stored entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrBookLoadError {
    /// The key is not 24 hex characters.
    #[error("{0}")]
    Key(AddrBookError),
    /// Entry number `index` (0-based) is inconsistent.
    #[error("entry {index}: {problem}")]
    Entry {
        /// Position in the stored list.
        index: usize,
        /// What is wrong.
        problem: EntryProblem,
    },
}

/// Result of Go's `addToNewBucket`.
enum NewBucket {
    Inserted,
    AlreadyThere,
    NotNew,
}

/// Number of addresses [`AddrBook::get_selection`] returns for a book of `size`:
/// `max(min(32, size), ⌊size × 23 / 100⌋)`, at most 250.
pub fn selection_size(size: usize) -> usize {
    MIN_GET_SELECTION
        .min(size)
        .max(size * GET_SELECTION_PERCENT / 100)
        .min(MAX_GET_SELECTION)
}

/// A key as Go writes it: 24 hex characters.
pub fn is_valid_key(key: &str) -> bool {
    key.len() == KEY_LEN && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Uniform in `0..n` (`n` ≥ 1; 0 for `n` ≤ 1), by rejection sampling.
pub(crate) fn below(rng: &mut impl RngCore, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let n = n as u64;
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return usize::try_from(x % n).unwrap_or(0);
        }
    }
}

/// Uniform in `[0, 1)` with 53 bits.
fn unit_f64(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn addr(i: u8, ip: &str) -> NetAddress {
        NetAddress::new(NodeId::from_bytes([i; 20]), ip.parse().unwrap(), 26656)
    }

    #[test]
    fn selection_sizes() {
        let got: Vec<usize> = [0, 1, 10, 32, 100, 139, 140, 1000, 1086, 1087, 2000]
            .iter()
            .map(|&s| selection_size(s))
            .collect();
        assert_eq!(got, vec![0, 1, 10, 32, 32, 32, 32, 230, 249, 250, 250]);
    }

    #[test]
    fn placement_is_keyed_and_deterministic() {
        let a = AddrBook::with_key("0123456789abcdef01234567", false).unwrap();
        let b = AddrBook::with_key("0123456789abcdef01234567", false).unwrap();
        let c = AddrBook::with_key("fedcba9876543210fedcba98", false).unwrap();
        let x = addr(1, "1.2.3.4");
        let s = addr(2, "5.6.7.8");
        assert_eq!(a.new_bucket_of(&x, &s), b.new_bucket_of(&x, &s));
        assert_eq!(a.old_bucket_of(&x), b.old_bucket_of(&x));
        // Same groups ⇒ same new bucket, whatever the host bits.
        assert_eq!(
            a.new_bucket_of(&x, &s),
            a.new_bucket_of(&addr(3, "1.2.200.1"), &addr(4, "5.6.0.1"))
        );
        // Another key moves at least one of a few addresses.
        let moved = (0..8u8).any(|i| {
            let y = addr(i, &format!("{}.1.1.1", 10 + i));
            a.new_bucket_of(&y, &s) != c.new_bucket_of(&y, &s)
        });
        assert!(moved);
        assert!(AddrBook::with_key("short", false).is_err());
        assert!(AddrBook::with_key("0123456789abcdef0123456g", false).is_err());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let fresh = AddrBook::new(true, &mut rng);
        assert!(is_valid_key(fresh.key()) && fresh.is_strict());
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = [false; 5];
        for _ in 0..200 {
            seen[below(&mut rng, 5)] = true;
            let u = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(seen, [true; 5]);
        assert_eq!(below(&mut rng, 0), 0);
        assert_eq!(below(&mut rng, 1), 0);
    }
}
