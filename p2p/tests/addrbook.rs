//! Address book behaviour (spec 2.8), `addrbook.json` (spec 1.10) and PEX decoder
//! robustness, through the public API.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use p2p::key::NodeId;
use p2p::netaddr::NetAddress;
use p2p::pex::addrbook::EntryProblem;
use p2p::pex::addrbook::{selection_size, AddOutcome, AddrBook, AddrBookError, Promotion};
use p2p::pex::addrbook_file::{self, AddrBookFileError, FileEntryProblem, WallClock};
use p2p::pex::known_address::BucketType;
use p2p::pex::messages::PexMessage;
use p2p::time::Instant;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

const KEY: &str = "0b1c2d3e4f5a6b7c8d9e0f1a";
const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

fn id(n: u32) -> NodeId {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[19] = 0x5a;
    NodeId::from_bytes(b)
}

fn na(n: u32, ip: &str) -> NetAddress {
    NetAddress::new(id(n), ip.parse::<IpAddr>().unwrap(), 26656)
}

/// A public IPv4 address in /16 group number `g` (distinct groups for g < 20000).
fn public_ip(g: u32, host: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        20 + g / 256,
        g % 256,
        host / 256 % 256,
        host % 256 + 1
    )
}

fn book(strict: bool) -> AddrBook {
    AddrBook::with_key(KEY, strict).unwrap()
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn t(secs: u64) -> Instant {
    Instant::from_epoch(Duration::from_secs(secs))
}

/// A book of exactly `n` new entries, each in its own /16 group, self-sourced.
fn filled(n: u32, r: &mut ChaCha8Rng) -> AddrBook {
    let mut b = book(false);
    for i in 0..n {
        let a = na(i, &public_ip(i, 0));
        assert_eq!(b.add_address(a, a, t(1), r), Ok(AddOutcome::Added));
    }
    assert_eq!(b.size(), n as usize);
    b.check_invariants().unwrap();
    b
}

#[test]
fn every_rejection_rule() {
    let mut r = rng(1);
    let src = na(900, "8.8.8.8");
    let now = t(10);
    let mut b = book(true);
    for ip in ["0.0.0.0", "::", "2001:db8::1", "255.255.255.255"] {
        let a = na(1, ip);
        assert_eq!(
            b.add_address(a, src, now, &mut r),
            Err(AddrBookError::InvalidAddress { addr: a }),
            "{ip}"
        );
    }
    for ip in [
        "10.0.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "fe80::1",
        "fc00::1",
    ] {
        let a = na(1, ip);
        assert_eq!(
            b.add_address(a, src, now, &mut r),
            Err(AddrBookError::NonRoutable { addr: a }),
            "{ip}"
        );
    }
    // Non-strict books take private addresses.
    let mut lax = book(false);
    assert_eq!(
        lax.add_address(na(1, "10.0.0.1"), src, now, &mut r),
        Ok(AddOutcome::Added)
    );

    b.add_private_ids([id(2), id(901)]);
    let private = na(2, "1.1.1.1");
    assert_eq!(
        b.add_address(private, src, now, &mut r),
        Err(AddrBookError::PrivateId { addr: private })
    );
    let private_src = na(901, "9.9.9.9");
    assert_eq!(
        b.add_address(na(3, "1.1.1.1"), private_src, now, &mut r),
        Err(AddrBookError::PrivateSource { src: private_src })
    );
    let ours = na(4, "4.4.4.4");
    b.add_our_address(ours);
    assert!(b.is_our_address(&ours));
    assert_eq!(
        b.add_address(ours, src, now, &mut r),
        Err(AddrBookError::OwnAddress { addr: ours })
    );
    // Same ID on another port is not "ours" (Go compares the full string).
    assert_eq!(
        b.add_address(NetAddress::new(id(4), ours.ip(), 1), src, now, &mut r),
        Ok(AddOutcome::Added)
    );
    let banned = na(5, "5.5.5.5");
    b.add_address(banned, src, now, &mut r).unwrap();
    assert!(b.mark_bad(&banned, HOUR, now));
    assert_eq!(
        b.add_address(banned, src, now, &mut r),
        Err(AddrBookError::Banned { addr: banned })
    );
    // Still rejected after the ban expired, until reinstated.
    assert_eq!(
        b.add_address(banned, src, now + HOUR * 2, &mut r),
        Err(AddrBookError::Banned { addr: banned })
    );
    // Invalid is checked before banned (Go's order).
    let invalid_banned = NetAddress::new(id(5), "0.0.0.0".parse().unwrap(), 1);
    assert!(matches!(
        b.add_address(invalid_banned, src, now, &mut r),
        Err(AddrBookError::InvalidAddress { .. })
    ));
    assert_eq!(b.size(), 1);
    b.check_invariants().unwrap();
}

#[test]
fn known_id_keeps_its_first_address() {
    let mut r = rng(2);
    let mut b = book(false);
    let first = na(1, "1.2.3.4");
    assert_eq!(
        b.add_address(first, na(100, "9.9.0.1"), t(1), &mut r),
        Ok(AddOutcome::Added)
    );
    let mut outcomes = BTreeMap::new();
    for g in 0..200 {
        let moved = na(1, &public_ip(g, 7));
        let src = na(200 + g, &public_ip(1000 + g, 1));
        let out = b.add_address(moved, src, t(2), &mut r).unwrap();
        *outcomes.entry(format!("{out:?}")).or_insert(0) += 1;
        let ka = b.get(&id(1)).unwrap();
        assert_eq!(ka.addr(), first);
        assert!(ka.buckets().len() <= 4);
    }
    assert_eq!(b.get(&id(1)).unwrap().buckets().len(), 4);
    assert_eq!(outcomes["AddedBucket"], 3, "{outcomes:?}");
    assert_eq!(b.size(), 1);
    assert_eq!(b.n_new(), 1);
    b.check_invariants().unwrap();
    // Once old, another address for the ID is ignored outright.
    assert!(matches!(
        b.mark_good(&id(1), t(3)),
        Promotion::Promoted { dropped: None }
    ));
    assert_eq!(
        b.add_address(na(1, "7.7.7.7"), first, t(4), &mut r),
        Ok(AddOutcome::Unchanged)
    );
    assert_eq!(b.get(&id(1)).unwrap().addr(), first);
    assert_eq!(b.get(&id(1)).unwrap().buckets().len(), 1);
}

/// The re-add draw accepts with probability 1/(2 × current buckets).
#[test]
fn re_add_probability_halves_per_bucket() {
    let mut r = rng(21);
    let first = na(1, "1.2.3.4");
    let mut b = book(false);
    b.add_address(first, first, t(1), &mut r).unwrap();
    for (buckets, expected) in [(1usize, 0.5), (2, 0.25), (3, 1.0 / 6.0)] {
        assert_eq!(b.get(&id(1)).unwrap().buckets().len(), buckets);
        let held: Vec<usize> = b.get(&id(1)).unwrap().buckets().to_vec();
        // A source whose bucket for this address is not one the entry is in.
        let src = (0..)
            .map(|g| na(500 + g, &public_ip(3000 + g, 1)))
            .find(|s| !held.contains(&b.new_bucket_of(&first, s)))
            .unwrap();
        let trials = 4000;
        let mut accepted = 0;
        for _ in 0..trials {
            let mut trial = b.clone();
            if trial.add_address(first, src, t(2), &mut r) == Ok(AddOutcome::AddedBucket) {
                accepted += 1;
            }
        }
        let rate = f64::from(accepted) / f64::from(trials);
        assert!((rate - expected).abs() < 0.03, "{buckets} buckets: {rate}");
        // Grow to the next bucket count.
        while b.get(&id(1)).unwrap().buckets().len() == buckets {
            b.add_address(first, src, t(2), &mut r).unwrap();
        }
    }
    assert_eq!(b.get(&id(1)).unwrap().buckets().len(), 4);
    let src = na(999, "99.1.1.1");
    for _ in 0..100 {
        assert_eq!(
            b.add_address(first, src, t(3), &mut r),
            Ok(AddOutcome::Unchanged)
        );
    }
}

#[test]
fn mark_good_promotes_and_attempts_reset() {
    let mut r = rng(3);
    let mut b = book(false);
    let a = na(1, "1.2.3.4");
    b.add_address(a, na(2, "5.6.7.8"), t(1), &mut r).unwrap();
    b.mark_attempt(&a, t(2));
    b.mark_attempt(&a, t(3));
    assert_eq!(b.get(&a.id()).unwrap().attempts(), 2);
    assert!(!b.is_good(&a));
    assert_eq!(
        b.mark_good(&a.id(), t(4)),
        Promotion::Promoted { dropped: None }
    );
    let ka = b.get(&a.id()).unwrap();
    assert_eq!(ka.bucket_type(), BucketType::Old);
    assert_eq!(ka.buckets(), &[b.old_bucket_of(&a)]);
    assert_eq!(
        (ka.attempts(), ka.last_success(), ka.last_attempt()),
        (0, Some(t(4)), Some(t(4)))
    );
    assert!(b.is_good(&a) && b.has_address(&a));
    assert_eq!((b.n_new(), b.n_old()), (0, 1));
    assert_eq!(b.mark_good(&a.id(), t(5)), Promotion::AlreadyOld);
    assert_eq!(b.mark_good(&id(77), t(5)), Promotion::NotFound);
    b.check_invariants().unwrap();
}

#[test]
fn full_old_bucket_drops_the_demoted_address() {
    let mut r = rng(4);
    let mut b = book(false);
    let src = na(99_999, "9.9.9.9");
    let mut per_bucket: BTreeMap<usize, VecDeque<NodeId>> = BTreeMap::new();
    let mut drops = 0;
    // One /16 group spreads over only 4 old buckets: 400 promotions overflow them.
    for i in 0..400u32 {
        let a = na(i, &format!("1.2.{}.{}", i / 200, i % 200 + 1));
        b.add_address(a, src, t(u64::from(i)), &mut r).unwrap();
        let size_before = b.size();
        let idx = b.old_bucket_of(&a);
        match b.mark_good(&a.id(), t(u64::from(i) + 1)) {
            Promotion::Promoted { dropped: None } => assert_eq!(b.size(), size_before),
            Promotion::Promoted {
                dropped: Some(gone),
            } => {
                drops += 1;
                // The earliest promoted of that bucket is gone from the book entirely.
                assert_eq!(per_bucket.get_mut(&idx).unwrap().pop_front(), Some(gone));
                assert!(b.get(&gone).is_none());
                assert_eq!(b.size(), size_before - 1);
            }
            other => panic!("{other:?}"),
        }
        per_bucket.entry(idx).or_default().push_back(a.id());
        assert!(b.is_good(&a));
    }
    b.check_invariants().unwrap();
    assert_eq!(per_bucket.len(), 4);
    assert_eq!(b.n_new(), 0);
    assert_eq!(b.n_old(), 4 * 65);
    assert_eq!(drops, 400 - 4 * 65);
    assert!(b.bucket_lens(BucketType::Old).iter().all(|&n| n <= 65));
}

#[test]
fn mark_bad_bans_and_reinstate_lifts() {
    let mut r = rng(5);
    let mut b = book(false);
    let a = na(1, "1.2.3.4");
    let src = na(2, "5.6.7.8");
    b.add_address(a, src, t(1), &mut r).unwrap();
    let t0 = t(100);
    assert!(
        !b.mark_bad(&na(3, "3.3.3.3"), HOUR, t0),
        "unknown IDs are not banned"
    );
    assert!(b.mark_bad(&a, HOUR, t0));
    assert!(b.is_banned(&a) && !b.has_address(&a));
    assert_eq!(b.size(), 0);
    let banned = b.bad_peers().next().unwrap();
    assert_eq!(banned.last_ban_time(), Some(t0 + HOUR));
    assert!(b.reinstate_bad_peers(t0 + HOUR - SEC).is_empty());
    assert!(b.is_banned(&a));
    assert_eq!(b.reinstate_bad_peers(t0 + HOUR), vec![a]);
    assert!(!b.is_banned(&a) && b.has_address(&a) && !b.is_good(&a));
    assert_eq!(
        b.get(&a.id()).unwrap().buckets(),
        &[b.new_bucket_of(&a, &src)]
    );
    assert_eq!(b.size(), 1);
    b.check_invariants().unwrap();

    // An old entry that gets banned is forgotten when the ban ends (Go quirk).
    b.mark_good(&a.id(), t0 + HOUR);
    assert!(b.mark_bad(&a, SEC, t0 + HOUR));
    assert!(b.reinstate_bad_peers(t0 + HOUR * 2).is_empty());
    assert!(!b.is_banned(&a) && !b.has_address(&a));
    assert_eq!(b.size(), 0);
    assert_eq!(b.add_address(a, src, t0, &mut r), Ok(AddOutcome::Added));

    b.remove_address(&na(1, "9.9.9.9"));
    assert!(!b.has_address(&a), "remove goes by ID");
    b.check_invariants().unwrap();
}

#[test]
fn selection_sizes_by_book_size() {
    let mut r = rng(6);
    for (n, want) in [(0, 0), (10, 10), (100, 32), (1000, 230), (2000, 250)] {
        let b = filled(n, &mut r);
        assert_eq!(selection_size(n as usize), want);
        let sel = b.get_selection(&mut r);
        assert_eq!(sel.len(), want, "book of {n}");
        let distinct: BTreeSet<_> = sel.iter().collect();
        assert_eq!(distinct.len(), want);
        assert!(sel.iter().all(|a| b.has_address(a)));
        assert_eq!(
            b.get_selection_with_bias(30, &mut r).len(),
            want,
            "biased, book of {n}"
        );
        assert_eq!(b.need_more_addrs(), n < 1000);
    }
}

#[test]
fn biased_selection_puts_new_first() {
    let mut r = rng(7);
    let mut b = filled(150, &mut r);
    for i in 0..50 {
        assert!(matches!(
            b.mark_good(&id(i), t(2)),
            Promotion::Promoted { .. }
        ));
    }
    assert_eq!((b.n_new(), b.n_old()), (100, 50));
    let n = selection_size(150);
    assert_eq!(n, 34);
    let sel = b.get_selection_with_bias(30, &mut r);
    let kinds: Vec<bool> = sel.iter().map(|a| b.is_good(a)).collect();
    // round(0.3 × 34) = 10 new, then 24 old.
    assert_eq!(kinds, [vec![false; 10], vec![true; 24]].concat());
    let sel = b.get_selection_with_bias(100, &mut r);
    assert_eq!(sel.len(), n);
    assert!(sel.iter().all(|a| !b.is_good(a)));
    let sel = b.get_selection_with_bias(0, &mut r);
    assert_eq!(sel.len(), n);
    assert!(sel.iter().all(|a| b.is_good(a)));
    // Only 5 old: n − nOld new addresses are forced in.
    let mut b = filled(40, &mut r);
    for i in 0..5 {
        b.mark_good(&id(i), t(2));
    }
    let sel = b.get_selection_with_bias(0, &mut r);
    let kinds: Vec<bool> = sel.iter().map(|a| b.is_good(a)).collect();
    assert_eq!(kinds, [vec![false; 27], vec![true; 5]].concat());
}

#[test]
fn pick_address_follows_the_bias() {
    let mut r = rng(8);
    assert_eq!(book(false).pick_address(50, &mut r), None);
    let mut b = filled(60, &mut r);
    for i in 0..20 {
        b.mark_good(&id(i), t(2));
    }
    let (mut old, mut new) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..300 {
        let a = b.pick_address(0, &mut r).unwrap();
        assert!(b.is_good(&a));
        old.insert(a);
        let a = b.pick_address(100, &mut r).unwrap();
        assert!(!b.is_good(&a));
        new.insert(a);
        // Out-of-range biases are clamped.
        assert!(b.is_good(&b.pick_address(-5, &mut r).unwrap()));
        assert!(!b.is_good(&b.pick_address(1000, &mut r).unwrap()));
    }
    assert!(
        old.len() > 15 && new.len() > 30,
        "{} {}",
        old.len(),
        new.len()
    );
    // Bias 100 with no new entries gives nothing (Go returns nil).
    let mut only_old = filled(3, &mut r);
    for i in 0..3 {
        only_old.mark_good(&id(i), t(2));
    }
    assert_eq!(only_old.pick_address(100, &mut r), None);
    assert!(only_old.pick_address(99, &mut r).is_some());
}

#[test]
fn full_new_bucket_expires_bad_then_oldest() {
    let mut r = rng(9);
    let mut b = book(false);
    let src = na(99_999, "9.9.9.9");
    // Same address group and source ⇒ one new bucket.
    let addr = |i: u32| na(i, &format!("1.2.{}.{}", i / 200, i % 200 + 1));
    let bucket = b.new_bucket_of(&addr(0), &src);
    for i in 0..65 {
        assert_eq!(
            b.add_address(addr(i), src, t(u64::from(i) + 1000), &mut r),
            Ok(AddOutcome::Added)
        );
    }
    assert_eq!(b.bucket_lens(BucketType::New)[bucket], 65);
    // Make id(40) bad: 3 failed attempts, the last more than a minute ago.
    for _ in 0..3 {
        b.mark_attempt(&addr(40), t(2000));
    }
    let now = t(2061);
    assert!(b.get(&id(40)).unwrap().is_bad(now));
    assert_eq!(
        b.add_address(addr(65), src, now, &mut r),
        Ok(AddOutcome::Added)
    );
    assert!(b.get(&id(40)).is_none(), "the bad entry goes first");
    assert!(b.get(&id(0)).is_some());
    assert_eq!(
        b.add_address(addr(66), src, now, &mut r),
        Ok(AddOutcome::Added)
    );
    assert!(b.get(&id(0)).is_none(), "then the oldest last attempt");
    for i in 67..300 {
        b.add_address(addr(i), src, now + SEC * i, &mut r).unwrap();
    }
    assert_eq!(b.size(), 65);
    let lens = b.bucket_lens(BucketType::New);
    assert_eq!(lens[bucket], 65);
    assert!(lens.iter().all(|&n| n <= 65));
    b.check_invariants().unwrap();
}

/// A fixed mix of operations driven by `seed`.
fn scripted(seed: u64) -> AddrBook {
    let mut r = rng(seed);
    let mut b = AddrBook::new(false, &mut r);
    let mut now = t(1_000);
    for i in 0..3000u32 {
        let x = rand_chacha::rand_core::RngCore::next_u32(&mut r);
        let a = na(x % 1500, &public_ip(x % 37, x % 5));
        let src = na(5000 + x % 11, &public_ip(100 + x % 13, 0));
        now += SEC * (x % 7);
        match i % 10 {
            0..=5 => {
                let _ = b.add_address(a, src, now, &mut r);
            }
            6 => b.mark_attempt(&a, now),
            7 => {
                b.mark_good(&a.id(), now);
            }
            8 => {
                if x % 5 == 0 {
                    b.mark_bad(&a, HOUR, now);
                }
            }
            _ => {
                b.reinstate_bad_peers(now);
                let _ = b.pick_address(50, &mut r);
                let _ = b.get_selection(&mut r);
            }
        }
    }
    b.check_invariants().unwrap();
    b
}

#[test]
fn same_seed_same_book() {
    let clock = WallClock {
        epoch_unix_nanos: 1_700_000_000_000_000_000,
    };
    let a = addrbook_file::to_json(&scripted(42), clock);
    let b = addrbook_file::to_json(&scripted(42), clock);
    assert_eq!(a, b);
    assert!(a.len() > 10_000);
    assert_ne!(a, addrbook_file::to_json(&scripted(43), clock));
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("p2p-addrbook-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn file_round_trip_is_byte_identical() {
    let clock = WallClock {
        epoch_unix_nanos: 1_700_000_000_123_456_789,
    };
    let mut b = scripted(7);
    // A few entries that carry every kind of time.
    let some = b.entries().next().unwrap().addr();
    b.mark_attempt(&some, t(5_000) + Duration::from_nanos(1));
    let dir = tmpdir("roundtrip");
    let (p1, p2) = (dir.join("addrbook.json"), dir.join("again.json"));
    addrbook_file::save(&b, &p1, clock).unwrap();
    let loaded = addrbook_file::load(&p1, clock, false).unwrap().unwrap();
    loaded.check_invariants().unwrap();
    assert_eq!(loaded.size(), b.size());
    assert_eq!(loaded.key(), b.key());
    assert_eq!(
        loaded.entries().collect::<Vec<_>>(),
        b.entries().collect::<Vec<_>>()
    );
    addrbook_file::save(&loaded, &p2, clock).unwrap();
    assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p1).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
    assert!(addrbook_file::load(&dir.join("missing.json"), clock, false)
        .unwrap()
        .is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Exactly what Go's `json.MarshalIndent(.., "", "\t")` writes (UTC node, entries
/// already in ID order): loading and saving reproduces it byte for byte.
const GO_UTC_FILE: &str = "{
\t\"key\": \"0b1c2d3e4f5a6b7c8d9e0f1a\",
\t\"addrs\": [
\t\t{
\t\t\t\"addr\": {
\t\t\t\t\"id\": \"21fe31dfa154a261626bf854046fd2271b7bed4b\",
\t\t\t\t\"ip\": \"2001:4860::8888\",
\t\t\t\t\"port\": 26656
\t\t\t},
\t\t\t\"src\": {
\t\t\t\t\"id\": \"39f713d0a644253f04529421b9f51b9b08979d08\",
\t\t\t\t\"ip\": \"5.6.7.8\",
\t\t\t\t\"port\": 26656
\t\t\t},
\t\t\t\"buckets\": [
\t\t\t\t17,
\t\t\t\t203
\t\t\t],
\t\t\t\"attempts\": 2,
\t\t\t\"bucket_type\": 1,
\t\t\t\"last_attempt\": \"2023-11-14T22:13:20.1234Z\",
\t\t\t\"last_success\": \"0001-01-01T00:00:00Z\",
\t\t\t\"last_ban_time\": \"0001-01-01T00:00:00Z\"
\t\t},
\t\t{
\t\t\t\"addr\": {
\t\t\t\t\"id\": \"a3258dcbf45dca0df052981870f2d1441a36d145\",
\t\t\t\t\"ip\": \"1.2.3.4\",
\t\t\t\t\"port\": 26656
\t\t\t},
\t\t\t\"src\": {
\t\t\t\t\"id\": \"a3258dcbf45dca0df052981870f2d1441a36d145\",
\t\t\t\t\"ip\": \"1.2.3.4\",
\t\t\t\t\"port\": 26656
\t\t\t},
\t\t\t\"buckets\": [
\t\t\t\t5
\t\t\t],
\t\t\t\"attempts\": 0,
\t\t\t\"bucket_type\": 2,
\t\t\t\"last_attempt\": \"2023-11-14T23:13:20Z\",
\t\t\t\"last_success\": \"2023-11-14T23:13:20Z\",
\t\t\t\"last_ban_time\": \"2023-11-14T22:14:00.000000001Z\"
\t\t}
\t]
}";

const EPOCH: i128 = 1_700_000_000 * 1_000_000_000; // 2023-11-14T22:13:20Z

#[test]
fn go_format_round_trips_exactly() {
    let clock = WallClock {
        epoch_unix_nanos: EPOCH,
    };
    let b = addrbook_file::from_json(GO_UTC_FILE.as_bytes(), "go.json", clock, false).unwrap();
    assert_eq!(addrbook_file::to_json(&b, clock), GO_UTC_FILE);
    let empty = book(false);
    assert_eq!(
        addrbook_file::to_json(&empty, clock),
        "{\n\t\"key\": \"0b1c2d3e4f5a6b7c8d9e0f1a\",\n\t\"addrs\": []\n}"
    );
}

#[test]
fn go_file_with_zone_offsets_loads() {
    // As written by a Go node whose local zone is UTC-7 (offsets in the times).
    let text = GO_UTC_FILE
        .replace(
            "2023-11-14T22:13:20.1234Z",
            "2023-11-14T15:13:20.1234-07:00",
        )
        .replace("\"2023-11-14T23:13:20Z\"", "\"2023-11-14T23:13:20+00:00\"")
        .replace(
            "2023-11-14T22:14:00.000000001Z",
            "2023-11-13T22:14:00-07:00",
        );
    let clock = WallClock {
        epoch_unix_nanos: EPOCH,
    };
    let b = addrbook_file::from_json(text.as_bytes(), "go.json", clock, true).unwrap();
    assert!(b.is_strict());
    assert_eq!((b.n_new(), b.n_old()), (1, 1));
    let ipv6: NodeId = "21fe31dfa154a261626bf854046fd2271b7bed4b".parse().unwrap();
    let ka = b.get(&ipv6).unwrap();
    assert_eq!(
        ka.addr().to_string(),
        "21fe31dfa154a261626bf854046fd2271b7bed4b@[2001:4860::8888]:26656"
    );
    assert_eq!(ka.buckets(), &[17, 203]);
    assert_eq!(ka.attempts(), 2);
    assert_eq!(ka.bucket_type(), BucketType::New);
    assert_eq!(ka.last_attempt(), Some(Instant::from_nanos(123_400_000)));
    assert_eq!((ka.last_success(), ka.last_ban_time()), (None, None));
    let old: NodeId = "a3258dcbf45dca0df052981870f2d1441a36d145".parse().unwrap();
    let ka = b.get(&old).unwrap();
    assert_eq!(ka.bucket_type(), BucketType::Old);
    assert_eq!(ka.last_success(), Some(t(3600)));
    // A ban that ended before the runtime epoch is clamped to the epoch.
    assert_eq!(ka.last_ban_time(), Some(Instant::ZERO));
    let again = addrbook_file::to_json(&b, clock);
    assert!(again.contains("\"last_ban_time\": \"2023-11-14T22:13:20Z\""));
    assert!(again.contains("\"last_attempt\": \"2023-11-14T22:13:20.1234Z\""));
}

fn load_err(text: &str) -> AddrBookFileError {
    let clock = WallClock {
        epoch_unix_nanos: EPOCH,
    };
    addrbook_file::from_json(text.as_bytes(), "/cfg/addrbook.json", clock, false).unwrap_err()
}

fn entry_problem(text: &str) -> (usize, FileEntryProblem) {
    match load_err(text) {
        AddrBookFileError::BadEntry {
            path,
            index,
            problem,
        } => {
            assert_eq!(path, "/cfg/addrbook.json");
            (index, problem)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_files_are_typed_errors() {
    for text in [
        "",
        "{",
        "null",
        "[1]",
        "\u{1}",
        "{\"key\": 5}",
        "{\"key\":\"0b1c2d3e4f5a6b7c8d9e0f1a\",\"addrs\":[{}]}",
    ] {
        let e = load_err(text);
        assert!(
            matches!(&e, AddrBookFileError::Corrupt { path, .. } if path == "/cfg/addrbook.json"),
            "{text:?}: {e}"
        );
    }
    assert!(matches!(
        load_err(&GO_UTC_FILE.replace("0b1c2d3e4f5a6b7c8d9e0f1a", "nothex")),
        AddrBookFileError::BadKey { key, .. } if key == "nothex"
    ));
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\"ip\": \"1.2.3.4\"", "\"ip\": \"seed.example.com\"")),
        (
            1,
            FileEntryProblem::InvalidIp {
                field: "addr",
                ip: "seed.example.com".into()
            }
        )
    );
    assert!(matches!(
        entry_problem(&GO_UTC_FILE.replace("39f713d0a644253f04529421b9f51b9b08979d08", "xyz")),
        (0, FileEntryProblem::InvalidId { field: "src", .. })
    ));
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace(
            "\"port\": 26656\n\t\t\t},\n\t\t\t\"src\"",
            "\"port\": 70000\n\t\t\t},\n\t\t\t\"src\""
        )),
        (
            0,
            FileEntryProblem::InvalidPort {
                field: "addr",
                port: 70000
            }
        )
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\t\t\t\t203\n", "\t\t\t\t256\n")),
        (
            0,
            FileEntryProblem::Placement(EntryProblem::BucketOutOfRange {
                bucket: 256,
                count: 256
            })
        )
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\t\t\t\t17,\n", "\t\t\t\t-1,\n")),
        (
            0,
            FileEntryProblem::Placement(EntryProblem::BucketOutOfRange {
                bucket: -1,
                count: 256
            })
        )
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\t\t\t\t5\n", "\t\t\t\t64\n")),
        (
            1,
            FileEntryProblem::Placement(EntryProblem::BucketOutOfRange {
                bucket: 64,
                count: 64
            })
        )
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\t\t\t\t203\n", "\t\t\t\t17\n")),
        (
            0,
            FileEntryProblem::Placement(EntryProblem::DuplicateBucket(17))
        )
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\"bucket_type\": 2", "\"bucket_type\": 3")),
        (1, FileEntryProblem::BadBucketType(3))
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\t\t\t\t5\n", "\t\t\t\t5,\n\t\t\t\t6\n")),
        (
            1,
            FileEntryProblem::Placement(EntryProblem::TooManyBuckets { count: 2, max: 1 })
        )
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\t\t\t\t203\n", "1,2,3,203\n")),
        (
            0,
            FileEntryProblem::Placement(EntryProblem::TooManyBuckets { count: 5, max: 4 })
        )
    );
    // 66 entries in one new bucket: more than Go can ever produce.
    let entry = |n: u32| {
        format!(
            r#"{{"addr":{{"id":"{}","ip":"1.2.3.4","port":1}},"src":{{"id":"{}","ip":"1.2.3.4","port":1}},"buckets":[9],"attempts":0,"bucket_type":1,"last_attempt":"2023-11-14T22:13:20Z","last_success":"0001-01-01T00:00:00Z","last_ban_time":"0001-01-01T00:00:00Z"}}"#,
            id(n),
            id(n)
        )
    };
    let full = |k: u32| {
        let list: Vec<String> = (0..k).map(entry).collect();
        format!(r#"{{"key":"{KEY}","addrs":[{}]}}"#, list.join(","))
    };
    let clock = WallClock {
        epoch_unix_nanos: EPOCH,
    };
    let ok = addrbook_file::from_json(full(65).as_bytes(), "x", clock, false).unwrap();
    assert_eq!(ok.bucket_lens(BucketType::New)[9], 65);
    assert_eq!(
        entry_problem(&full(66)),
        (
            65,
            FileEntryProblem::Placement(EntryProblem::BucketOverfull { bucket: 9, max: 65 })
        )
    );
    assert!(matches!(
        entry_problem(&GO_UTC_FILE.replace(
            "2023-11-14T23:13:20Z\",\n\t\t\t\"last_success",
            "yesterday\",\n\t\t\t\"last_success"
        )),
        (
            1,
            FileEntryProblem::BadTime {
                field: "last_attempt",
                ..
            }
        )
    ));
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace("\"a3258dcbf45dca0df052981870f2d1441a36d145\",\n\t\t\t\t\"ip\": \"1.2.3.4\",\n\t\t\t\t\"port\": 26656\n\t\t\t},\n\t\t\t\"src\"", "\"21fe31dfa154a261626bf854046fd2271b7bed4b\",\n\t\t\t\t\"ip\": \"1.2.3.4\",\n\t\t\t\t\"port\": 26656\n\t\t\t},\n\t\t\t\"src\"")),
        (1, FileEntryProblem::Placement(EntryProblem::DuplicateId("21fe31dfa154a261626bf854046fd2271b7bed4b".parse().unwrap())))
    );
    assert_eq!(
        entry_problem(&GO_UTC_FILE.replace(
            "\t\t\t\"buckets\": [\n\t\t\t\t5\n\t\t\t],",
            "\t\t\t\"buckets\": [],"
        )),
        (1, FileEntryProblem::Placement(EntryProblem::NoBuckets))
    );
    // The message names the file.
    let msg = load_err("{").to_string();
    assert!(msg.contains("/cfg/addrbook.json"), "{msg}");
}

proptest! {
    #[test]
    fn pex_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = PexMessage::decode(&bytes);
    }

    #[test]
    fn addrbook_loader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let clock = WallClock { epoch_unix_nanos: EPOCH };
        let _ = addrbook_file::from_json(&bytes, "fuzz", clock, false);
    }

    #[test]
    fn addrbook_loader_survives_mutations(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut bytes = GO_UTC_FILE.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let clock = WallClock { epoch_unix_nanos: EPOCH };
        if let Ok(b) = addrbook_file::from_json(&bytes, "fuzz", clock, false) {
            prop_assert!(b.check_invariants().is_ok());
        }
    }
}
