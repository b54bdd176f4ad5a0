//! The PEX reactor's decision logic (spec 2.7) through its public API: exact
//! actions for requests, replies, bans, `ensure_peers`, dial backoff and seed
//! crawling, with a fake clock and seeded ChaCha RNGs.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use p2p::key::NodeId;
use p2p::netaddr::NetAddress;
use p2p::pex::addrbook::{AddOutcome, AddrBook};
use p2p::pex::messages::{PexDecodeError, PexMessage, MAX_MSG_SIZE};
use p2p::pex::policy::dial::{backoff_base, ensure_peers_bias};
use p2p::pex::policy::{
    Action, DialCheck, DialOutcome, PeerCounts, PeerInfo, Pex, PexConfig, PexStartupError,
    PexViolation, BIAS_TO_SELECT_NEW_PEERS,
};
use p2p::pex::BucketType;
use p2p::time::Instant;
use proptest::prelude::*;
use prost::Message as _;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tendermint_proto::v0_38::p2p as pb;

const KEY: &str = "0b1c2d3e4f5a6b7c8d9e0f1a";
const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
const REQUEST: [u8; 2] = [0x0a, 0x00];

fn id(n: u32) -> NodeId {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[19] = 0xa5;
    NodeId::from_bytes(b)
}

/// Address number `n`, alone in its /16 group.
fn addr(n: u32) -> NetAddress {
    let ip = format!("{}.{}.0.1", 20 + n / 256, n % 256);
    NetAddress::new(id(n), ip.parse::<IpAddr>().unwrap(), 26656)
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn t(secs: u64) -> Instant {
    Instant::from_epoch(Duration::from_secs(secs))
}

/// A book holding addresses `first..first + n`, each self-sourced.
fn book(first: u32, n: u32) -> AddrBook {
    let mut r = rng(99);
    let mut b = AddrBook::with_key(KEY, false).unwrap();
    for i in first..first + n {
        let a = addr(i);
        assert_eq!(b.add_address(a, a, t(1), &mut r), Ok(AddOutcome::Added));
    }
    assert_eq!(b.size(), n as usize);
    b
}

fn pex(config: PexConfig, n: u32) -> Pex {
    Pex::new(config, book(0, n))
}

fn seed_config() -> PexConfig {
    PexConfig {
        seed_mode: true,
        ..PexConfig::default()
    }
}

/// Peer number `n` (addresses from 50_000 on, so never in a test book).
fn peer(n: u32, outbound: bool) -> PeerInfo {
    peer_at(addr(50_000 + n), outbound, t(0))
}

/// A peer whose socket and listen addresses are `a`.
fn peer_at(a: NetAddress, outbound: bool, connected_at: Instant) -> PeerInfo {
    PeerInfo {
        id: a.id(),
        outbound,
        persistent: false,
        socket_addr: a,
        self_reported: Some(a),
        connected_at,
    }
}

fn request_to(to: NodeId) -> Action {
    Action::Send {
        to,
        msg: PexMessage::Request,
    }
}

fn addrs_body(addrs: &[NetAddress]) -> Vec<u8> {
    PexMessage::Addrs(addrs.to_vec()).encode()
}

fn sent_addrs(action: &Action) -> &[NetAddress] {
    match action {
        Action::Send {
            msg: PexMessage::Addrs(a),
            ..
        } => a,
        other => panic!("not an address reply: {other:?}"),
    }
}

fn counts(outbound: usize, inbound: usize, dialing: usize) -> PeerCounts {
    PeerCounts {
        outbound,
        inbound,
        dialing,
    }
}

fn dialed(actions: &[Action]) -> Vec<NetAddress> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial(x) => Some(*x),
            _ => None,
        })
        .collect()
}

fn none(_: &NetAddress) -> bool {
    false
}

#[test]
fn outbound_peer_is_asked_only_while_the_book_needs_addresses() {
    let mut r = rng(1);
    let p = peer(1, true);
    let mut small = pex(PexConfig::default(), 999);
    assert_eq!(small.add_peer(t(5), &p, &mut r), vec![request_to(p.id)]);
    assert!(small.has_outstanding_request(&p.id));
    let mut full = pex(PexConfig::default(), 1000);
    assert_eq!(full.add_peer(t(5), &p, &mut r), vec![]);
    assert!(!full.has_outstanding_request(&p.id));
}

#[test]
fn inbound_peer_is_added_to_the_book_and_not_asked() {
    let mut r = rng(2);
    let mut x = pex(PexConfig::default(), 0);
    let p = peer(1, false);
    assert_eq!(x.add_peer(t(5), &p, &mut r), vec![]);
    let ka = x.book().get(&p.id).unwrap();
    assert_eq!((ka.addr(), ka.src()), (addr(50_001), addr(50_001)));
    // An unusable listen address is ignored silently.
    let mut bad = peer(2, false);
    bad.self_reported = Some(NetAddress::new(bad.id, "0.0.0.0".parse().unwrap(), 1));
    assert_eq!(x.add_peer(t(5), &bad, &mut r), vec![]);
    bad.self_reported = None;
    assert_eq!(x.add_peer(t(5), &bad, &mut r), vec![]);
    assert_eq!(x.book().size(), 1);
}

#[test]
fn one_outstanding_request_per_peer() {
    let mut r = rng(3);
    let mut x = pex(PexConfig::default(), 5);
    let p = peer(1, true);
    assert_eq!(x.add_peer(t(0), &p, &mut r), vec![request_to(p.id)]);
    // A periodic round picks the only peer but a request is already out.
    let all = |_: &NetAddress| true;
    let acts = x.ensure_peers(t(30), counts(1, 0, 0), all, &[p.id], true, &mut r);
    assert!(!acts.contains(&request_to(p.id)), "{acts:?}");
    // Once answered, the next periodic round asks again.
    assert_eq!(x.receive(t(31), &p, &addrs_body(&[]), &mut r), vec![]);
    let acts = x.ensure_peers(t(60), counts(1, 0, 0), all, &[p.id], true, &mut r);
    assert!(acts.contains(&request_to(p.id)), "{acts:?}");
    // Reconnecting resets the outstanding request.
    x.remove_peer(&p.id);
    assert!(!x.has_outstanding_request(&p.id));
    assert_eq!(x.add_peer(t(61), &p, &mut r), vec![request_to(p.id)]);
}

#[test]
fn reply_accepted_once_with_sender_as_source() {
    let mut r = rng(4);
    let mut x = pex(PexConfig::default(), 0);
    let mut p = peer(1, true);
    // Its listen address differs from the socket address: the former is the source.
    let listen = NetAddress::new(p.id, "99.1.2.3".parse().unwrap(), 26656);
    p.self_reported = Some(listen);
    x.add_peer(t(0), &p, &mut r);
    let list: Vec<NetAddress> = (0..20).map(addr).collect();
    assert_eq!(x.receive(t(1), &p, &addrs_body(&list), &mut r), vec![]);
    assert_eq!(x.book().size(), 20);
    for a in &list {
        let ka = x.book().get(&a.id()).unwrap();
        assert_eq!((ka.addr(), ka.src()), (*a, listen));
    }
    // The same list again is unsolicited.
    x.book_mut()
        .add_address(p.socket_addr, listen, t(1), &mut r)
        .unwrap();
    let acts = x.receive(t(2), &p, &addrs_body(&list), &mut r);
    assert_eq!(
        acts,
        vec![Action::StopPeer {
            id: p.id,
            reason: PexViolation::UnsolicitedAddrs,
            ban: true
        }]
    );
    assert!(x.book().is_banned(&p.socket_addr));
}

#[test]
fn unsolicited_addrs_stop_and_ban() {
    let mut r = rng(5);
    let mut x = pex(PexConfig::default(), 3);
    let p = peer(1, false);
    x.add_peer(t(0), &p, &mut r); // inbound: in the book, no request
    assert!(x.book().has_address(&p.socket_addr));
    let acts = x.receive(t(1), &p, &addrs_body(&[addr(50)]), &mut r);
    assert_eq!(
        acts,
        vec![Action::StopPeer {
            id: p.id,
            reason: PexViolation::UnsolicitedAddrs,
            ban: true
        }]
    );
    assert!(x.book().is_banned(&p.socket_addr));
    assert!(!x.book().has_address(&p.socket_addr));
    assert!(
        !x.book().has_address(&addr(50)),
        "nothing from the list is added"
    );
    let ka = x.book().bad_peers().next().unwrap();
    assert_eq!(ka.last_ban_time(), Some(t(1) + 24 * HOUR));
}

#[test]
fn invalid_ip_stops_and_bans_malformed_only_stops() {
    let mut r = rng(6);
    let mut x = pex(PexConfig::default(), 3);
    let p = peer(1, false);
    x.add_peer(t(0), &p, &mut r);
    let body = pb::Message {
        sum: Some(pb::message::Sum::PexAddrs(pb::PexAddrs {
            addrs: vec![pb::NetAddress {
                id: id(7).to_string(),
                ip: "not-an-ip".into(),
                port: 1,
            }],
        })),
    }
    .encode_to_vec();
    let acts = x.receive(t(1), &p, &body, &mut r);
    assert!(
        matches!(
            &acts[..],
            [Action::StopPeer {
                reason: PexViolation::BadAddrs(PexDecodeError::BadAddress { index: 0, .. }),
                ban: true,
                ..
            }]
        ),
        "{acts:?}"
    );
    assert!(x.book().is_banned(&p.socket_addr));

    let q = peer(2, false);
    x.add_peer(t(0), &q, &mut r);
    for body in [&[][..], &[0x0a, 0x05, 0x01][..], &[0x1a, 0x00][..]] {
        let acts = x.receive(t(1), &q, body, &mut r);
        assert!(
            matches!(
                &acts[..],
                [Action::StopPeer {
                    reason: PexViolation::Malformed(_),
                    ban: false,
                    ..
                }]
            ),
            "{acts:?}"
        );
    }
    assert!(!x.book().is_banned(&q.socket_addr));
}

#[test]
fn request_rate_two_free_then_ten_seconds() {
    let mut r = rng(7);
    let mut x = pex(PexConfig::default(), 40);
    let p = peer(1, false);
    x.add_peer(t(0), &p, &mut r);
    assert_eq!(x.min_request_interval(), 10 * SEC);
    let first = x.receive(t(100), &p, &REQUEST, &mut r);
    let second = x.receive(t(100), &p, &REQUEST, &mut r);
    assert_eq!(sent_addrs(&first[0]).len(), 32);
    assert_eq!(sent_addrs(&second[0]).len(), 32);
    // Third exactly 10 s after the second: fine; fourth 9.999 s later: banned.
    let third = x.receive(t(110), &p, &REQUEST, &mut r);
    assert_eq!(third.len(), 1);
    sent_addrs(&third[0]);
    let early = t(110) + Duration::from_millis(9_999);
    assert_eq!(
        x.receive(early, &p, &REQUEST, &mut r),
        vec![Action::StopPeer {
            id: p.id,
            reason: PexViolation::RequestTooSoon {
                since_last: Duration::from_millis(9_999),
                min_interval: 10 * SEC
            },
            ban: true
        }]
    );
    assert!(x.book().is_banned(&p.socket_addr));

    // A third request within 10 s of the second is refused; after remove_peer
    // the history starts over.
    let q = peer(2, true);
    x.receive(t(200), &q, &REQUEST, &mut r);
    x.receive(t(201), &q, &REQUEST, &mut r);
    let acts = x.receive(t(205), &q, &REQUEST, &mut r);
    assert!(matches!(
        &acts[..],
        [Action::StopPeer {
            reason: PexViolation::RequestTooSoon { .. },
            ban: true,
            ..
        }]
    ));
    x.remove_peer(&q.id);
    for s in [206, 206] {
        let acts = x.receive(t(s), &q, &REQUEST, &mut r);
        sent_addrs(&acts[0]);
    }
}

#[test]
fn replies_never_exceed_250_addresses() {
    let mut r = rng(8);
    for config in [PexConfig::default(), seed_config()] {
        let mut x = pex(config, 2000);
        for n in 0..3 {
            let acts = x.receive(t(0), &peer(n, false), &REQUEST, &mut r);
            let list = sent_addrs(&acts[0]);
            assert_eq!(list.len(), 250);
            let ids: BTreeSet<NodeId> = list.iter().map(NetAddress::id).collect();
            assert_eq!(ids.len(), 250);
            assert!(PexMessage::Addrs(list.to_vec()).encode().len() <= MAX_MSG_SIZE);
        }
    }
}

#[test]
fn seed_answers_inbound_once_with_biased_selection() {
    let mut x = pex(seed_config(), 200);
    // Promote 100 entries so both kinds exist.
    for i in 0..100 {
        x.book_mut().mark_good(&id(i), t(2));
    }
    assert_eq!((x.book().n_new(), x.book().n_old()), (100, 100));
    let p = peer(1, false);
    let mut r = rng(9);
    let mut expect_rng = r.clone();
    let want = x
        .book()
        .get_selection_with_bias(BIAS_TO_SELECT_NEW_PEERS, &mut expect_rng);
    let acts = x.receive(t(10), &p, &REQUEST, &mut r);
    assert_eq!(
        acts,
        vec![
            Action::Send {
                to: p.id,
                msg: PexMessage::Addrs(want.clone())
            },
            Action::FlushAndDisconnect(p.id)
        ]
    );
    // 46 addresses, 14 (30 %) new first.
    assert_eq!(want.len(), 46);
    let is_new = |a: &NetAddress| x.book().get(&a.id()).unwrap().bucket_type() == BucketType::New;
    assert!(want[..14].iter().all(is_new) && !want[14..].iter().any(is_new));
    // Repeats on the same connection are ignored, even much later.
    assert_eq!(x.receive(t(11), &p, &REQUEST, &mut r), vec![]);
    assert_eq!(x.receive(t(5000), &p, &REQUEST, &mut r), vec![]);
    // An outbound peer of a seed follows the normal rules.
    let o = peer(2, true);
    let acts = x.receive(t(10), &o, &REQUEST, &mut r);
    assert_eq!(acts.len(), 1);
    assert_eq!(sent_addrs(&acts[0]).len(), 46);
}

#[test]
fn ensure_peers_dials_up_to_ten_distinct() {
    let mut x = pex(PexConfig::default(), 100);
    let mut r = rng(10);
    let acts = x.ensure_peers(t(0), counts(0, 0, 0), none, &[], false, &mut r);
    let d = dialed(&acts);
    assert_eq!(d.len(), 10);
    assert_eq!(
        d.iter().map(NetAddress::id).collect::<BTreeSet<_>>().len(),
        10
    );
    // Only dials, no seeds (something was picked), no request (not periodic).
    assert_eq!(acts.len(), 10);
    // 3 outbound + 4 dialing ⇒ 3 to dial.
    let acts = x.ensure_peers(t(0), counts(3, 9, 4), none, &[], false, &mut r);
    assert_eq!(dialed(&acts).len(), 3);
    // Connected/dialing addresses are skipped.
    let busy: BTreeSet<NetAddress> = (0..95).map(addr).collect();
    let acts = x.ensure_peers(
        t(0),
        counts(0, 0, 0),
        |a| busy.contains(a),
        &[],
        false,
        &mut r,
    );
    assert!(dialed(&acts).iter().all(|a| !busy.contains(a)));
}

#[test]
fn ensure_peers_does_nothing_at_the_outbound_target() {
    let config = PexConfig {
        seeds: vec![addr(500)],
        ..PexConfig::default()
    };
    let mut x = pex(config, 0);
    let mut r = rng(11);
    let p = id(1);
    for c in [counts(10, 0, 0), counts(6, 0, 4), counts(0, 50, 12)] {
        assert_eq!(x.ensure_peers(t(0), c, none, &[p], true, &mut r), vec![]);
    }
}

#[test]
fn ensure_peers_bias_rises_with_outbound() {
    assert_eq!(
        [0, 1, 3, 8, 9, 50].map(ensure_peers_bias),
        [10, 20, 40, 90, 90, 90]
    );
    // Half new, half old: the share of new picks grows with the bias.
    let mut base = pex(PexConfig::default(), 200);
    for i in 0..100 {
        base.book_mut().mark_good(&id(i), t(2));
    }
    let share_new = |out: usize| {
        let mut r = rng(12);
        let mut new = 0;
        for _ in 0..30 {
            let mut x = base.clone();
            let acts = x.ensure_peers(t(0), counts(out, 0, 0), none, &[], false, &mut r);
            let d = dialed(&acts);
            new += d
                .iter()
                .filter(|a| x.book().get(&a.id()).unwrap().bucket_type() == BucketType::New)
                .count();
        }
        new
    };
    // 30 rounds × 9 dials at out=1 (bias 20) vs 30 × 2 at out=8 (bias 90).
    let low = share_new(1) as f64 / 270.0;
    let high = share_new(8) as f64 / 60.0;
    assert!(low < 0.4 && high > 0.7, "low {low}, high {high}");
}

#[test]
fn seeds_only_when_nothing_was_picked() {
    let seeds: Vec<NetAddress> = (500..504).map(addr).collect();
    let config = PexConfig {
        seeds: seeds.clone(),
        ..PexConfig::default()
    };
    let mut r = rng(13);
    // Empty book: seeds, in a random order.
    let mut x = pex(config.clone(), 0);
    let acts = x.ensure_peers(t(0), counts(0, 0, 0), none, &[], false, &mut r);
    let [Action::DialSeeds(order)] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(
        order.iter().collect::<BTreeSet<_>>(),
        seeds.iter().collect()
    );
    // Everything picked is already connected: seeds too.
    let mut x = pex(config.clone(), 5);
    let acts = x.ensure_peers(t(0), counts(0, 0, 0), |_| true, &[], false, &mut r);
    assert!(matches!(&acts[..], [Action::DialSeeds(_)]), "{acts:?}");
    // A pick, even one in backoff, means no seeds.
    let mut x = pex(config.clone(), 1);
    x.dial_result(t(0), &addr(0), DialOutcome::Failed);
    let acts = x.ensure_peers(t(1), counts(0, 0, 0), none, &[], false, &mut r);
    assert_eq!(acts, vec![]);
    // A full book never falls back to seeds.
    let mut x = pex(config, 1000);
    let acts = x.ensure_peers(t(0), counts(0, 0, 0), |_| true, &[], false, &mut r);
    assert_eq!(acts, vec![]);
}

#[test]
fn random_request_only_when_periodic_and_connected() {
    let mut r = rng(14);
    let peers = [id(50_001), id(50_002), id(50_003)];
    let mut x = pex(PexConfig::default(), 50);
    let busy = |_: &NetAddress| true;
    assert_eq!(
        x.ensure_peers(t(0), counts(3, 0, 0), busy, &peers, false, &mut r),
        vec![]
    );
    assert_eq!(
        x.ensure_peers(t(0), counts(0, 0, 0), busy, &[], true, &mut r),
        vec![]
    );
    let acts = x.ensure_peers(t(0), counts(3, 0, 0), busy, &peers, true, &mut r);
    let [Action::Send {
        to,
        msg: PexMessage::Request,
    }] = &acts[..]
    else {
        panic!("{acts:?}")
    };
    assert!(peers.contains(to));
    // A full book asks nobody.
    let mut full = pex(PexConfig::default(), 1000);
    assert_eq!(
        full.ensure_peers(t(0), counts(3, 0, 0), busy, &peers, true, &mut r),
        vec![]
    );
}

#[test]
fn reply_from_a_seed_wakes_ensure_peers() {
    let mut r = rng(15);
    let s = peer(1, true);
    let config = PexConfig {
        seeds: vec![s.self_reported.unwrap()],
        ..PexConfig::default()
    };
    let mut x = pex(config, 0);
    assert_eq!(x.add_peer(t(0), &s, &mut r), vec![request_to(s.id)]);
    assert_eq!(
        x.receive(t(1), &s, &addrs_body(&[addr(1)]), &mut r),
        vec![Action::WakeEnsurePeers]
    );
    // A non-seed's reply does not.
    let p = peer(2, true);
    x.add_peer(t(0), &p, &mut r);
    assert_eq!(x.receive(t(1), &p, &addrs_body(&[addr(2)]), &mut r), vec![]);
}

#[test]
fn dial_backoff_doubles_with_jitter_below_a_second() {
    let mut r = rng(16);
    let mut x = pex(PexConfig::default(), 1);
    let a = addr(0);
    assert_eq!(x.dial_check(t(0), &a, &mut r), DialCheck::Dial);
    let mut last = t(0);
    for n in 1..=10u32 {
        x.dial_result(last, &a, DialOutcome::Failed);
        assert_eq!(x.dial_attempts(&a), n);
        let wait = backoff_base(n);
        assert_eq!(wait, Duration::from_secs(1 << n));
        let before = last + wait - Duration::from_millis(1);
        match x.dial_check(before, &a, &mut r) {
            DialCheck::TooEarly {
                backoff,
                last_dialed,
            } => {
                assert_eq!(last_dialed, last);
                assert!(backoff >= wait && backoff < wait + SEC, "{backoff:?}");
            }
            other => panic!("attempt {n}: {other:?}"),
        }
        last = last + wait + SEC;
        assert_eq!(x.dial_check(last, &a, &mut r), DialCheck::Dial);
    }
    assert_eq!(x.book().get(&a.id()).unwrap().attempts(), 10);
    // Already connected/dialing changes nothing; success forgets the history.
    x.dial_result(last, &a, DialOutcome::AlreadyConnectedOrDialing);
    assert_eq!(x.dial_attempts(&a), 10);
    x.dial_result(last, &a, DialOutcome::Connected);
    assert_eq!(x.dial_attempts(&a), 0);
    assert_eq!(x.dial_check(last, &a, &mut r), DialCheck::Dial);
}

#[test]
fn seventeen_failures_ban_a_non_persistent_address() {
    let mut r = rng(17);
    let mut x = pex(PexConfig::default(), 1);
    let a = addr(0);
    for _ in 0..16 {
        x.dial_result(t(0), &a, DialOutcome::Failed);
    }
    let late = t(0) + 30 * HOUR;
    assert_eq!(x.dial_check(late, &a, &mut r), DialCheck::Dial);
    x.dial_result(t(0), &a, DialOutcome::Failed);
    assert_eq!(
        x.dial_check(late, &a, &mut r),
        DialCheck::GaveUp { attempts: 17 }
    );
    assert!(x.book().is_banned(&a));
    assert_eq!(
        x.book().bad_peers().next().unwrap().last_ban_time(),
        Some(late + 24 * HOUR)
    );
    assert!(!x.should_dial(late + 100 * HOUR, &a, &mut r));
}

#[test]
fn persistent_backoff_is_capped_and_never_gives_up() {
    let mut r = rng(18);
    let a = addr(0);
    let config = PexConfig {
        persistent_peers: vec![a],
        persistent_peers_max_dial_period: 5 * SEC,
        ..PexConfig::default()
    };
    let mut x = pex(config, 1);
    for _ in 0..40 {
        x.dial_result(t(100), &a, DialOutcome::Failed);
    }
    assert_eq!(
        x.dial_check(t(104), &a, &mut r),
        DialCheck::TooEarly {
            backoff: 5 * SEC,
            last_dialed: t(100)
        }
    );
    assert_eq!(x.dial_check(t(105), &a, &mut r), DialCheck::Dial);
    assert!(!x.book().is_banned(&a));
    // Without a cap a persistent address backs off exponentially (2^3 s here).
    let mut plain = pex(
        PexConfig {
            persistent_peers: vec![a],
            ..PexConfig::default()
        },
        1,
    );
    for _ in 0..3 {
        plain.dial_result(t(100), &a, DialOutcome::Failed);
    }
    assert!(!plain.should_dial(t(107), &a, &mut r));
    assert!(plain.should_dial(t(109), &a, &mut r));
}

#[test]
fn seed_crawl_dials_uncrawled_and_requests_on_connect() {
    let mut r = rng(19);
    let mut x = pex(seed_config(), 10);
    let acts = x.crawl_start(t(0), &mut r);
    let d = dialed(&acts);
    assert_eq!((acts.len(), d.len()), (10, 10));
    assert_eq!(x.last_crawled(&id(3)), Some(t(0)));
    // Within 2 min: skipped. After: crawled again.
    assert_eq!(x.crawl(t(119), &[], &mut r), vec![]);
    assert_eq!(dialed(&x.crawl(t(120), &[], &mut r)).len(), 10);
    // A crawl dial that connects gets a request (the book is too small for
    // add_peer to have asked already, so it asks first; no duplicate).
    let a = d[0];
    let p = peer_at(a, true, t(121));
    assert_eq!(x.add_peer(t(121), &p, &mut r), vec![request_to(a.id())]);
    assert_eq!(x.dial_result(t(121), &a, DialOutcome::Connected), vec![]);
}

#[test]
fn seed_crawl_requests_even_with_a_full_book() {
    let mut r = rng(20);
    let mut x = pex(seed_config(), 1000);
    let acts = x.crawl_start(t(0), &mut r);
    let d = dialed(&acts);
    assert_eq!(d.len(), 230);
    let (a, b) = (d[0], d[1]);
    let p = peer_at(a, true, t(1));
    assert_eq!(x.add_peer(t(1), &p, &mut r), vec![]);
    assert_eq!(
        x.dial_result(t(1), &a, DialOutcome::Connected),
        vec![request_to(a.id())]
    );
    // Already connected (or gone before the report): no request.
    assert_eq!(
        x.dial_result(t(1), &b, DialOutcome::AlreadyConnectedOrDialing),
        vec![]
    );
    assert_eq!(x.dial_result(t(1), &b, DialOutcome::Connected), vec![]);
    // A failed crawl dial backs off: not dialed at the next crawl 2 min later.
    x.dial_result(t(1), &d[2], DialOutcome::Failed);
    let again = dialed(&x.crawl(t(121), &[], &mut r));
    assert!(!again.contains(&d[2]));
}

#[test]
fn seed_disconnects_old_non_persistent_peers_and_expires_records() {
    let mut r = rng(21);
    let mut x = pex(seed_config(), 0);
    let mut old = peer(1, false);
    let mut old_persistent = peer(2, true);
    old_persistent.persistent = true;
    let mut young = peer(3, true);
    young.connected_at = t(3600);
    old.connected_at = t(0);
    let peers = [old.clone(), old_persistent, young];
    let now = t(0) + 28 * HOUR;
    assert_eq!(
        x.crawl(now, &peers, &mut r),
        vec![Action::Disconnect(old.id)]
    );
    assert_eq!(x.crawl(now - SEC, &peers, &mut r), vec![]);
    // Crawl records last 24 h.
    x.book_mut()
        .add_address(addr(7), addr(7), t(0), &mut r)
        .unwrap();
    assert_eq!(dialed(&x.crawl(t(0), &[], &mut r)), vec![addr(7)]);
    x.book_mut().remove_address(&addr(7));
    x.crawl(t(0) + 24 * HOUR, &[], &mut r);
    assert_eq!(x.last_crawled(&id(7)), Some(t(0)));
    x.crawl(t(0) + 24 * HOUR + SEC, &[], &mut r);
    assert_eq!(x.last_crawled(&id(7)), None);
}

#[test]
fn seed_start_dials_seeds_first() {
    let mut r = rng(22);
    let config = PexConfig {
        seeds: vec![addr(500)],
        ..seed_config()
    };
    let mut x = pex(config, 10);
    assert_eq!(
        x.crawl_start(t(0), &mut r),
        vec![Action::DialSeeds(vec![addr(500)])]
    );
    // Seeds never run ensure_peers and ignore the fast-dial signal.
    assert_eq!(
        x.ensure_peers(t(0), counts(0, 0, 0), none, &[], true, &mut r),
        vec![]
    );
}

#[test]
fn startup_check_matches_go() {
    let none_resolved = PexConfig {
        unresolved_seeds: 2,
        ..PexConfig::default()
    };
    let e = pex(none_resolved.clone(), 0).startup_check().unwrap_err();
    assert_eq!(e, PexStartupError::NoSeedsAndEmptyBook);
    assert_eq!(
        e.to_string(),
        "address book is empty and couldn't resolve any seed nodes"
    );
    assert_eq!(pex(none_resolved, 1).startup_check(), Ok(()));
    assert_eq!(pex(PexConfig::default(), 0).startup_check(), Ok(()));
    let one = PexConfig {
        seeds: vec![addr(1)],
        unresolved_seeds: 1,
        ..PexConfig::default()
    };
    assert_eq!(pex(one, 0).startup_check(), Ok(()));
}

#[test]
fn initial_delay_only_with_peers() {
    let x = pex(PexConfig::default(), 0);
    let mut r = rng(23);
    assert_eq!(
        x.ensure_peers_initial_delay(counts(0, 0, 0), &mut r),
        Duration::ZERO
    );
    let d = x.ensure_peers_initial_delay(counts(0, 1, 0), &mut r);
    assert!(d > Duration::ZERO && d < 30 * SEC, "{d:?}");
}

/// A fixed script of inputs; returns every action produced.
fn script(seed: u64) -> Vec<Action> {
    let mut r = rng(seed);
    let config = PexConfig {
        seeds: vec![addr(900)],
        ..PexConfig::default()
    };
    let mut x = pex(config, 300);
    let mut out = Vec::new();
    let (a, b) = (peer(1, true), peer(2, false));
    out.extend(x.add_peer(t(0), &a, &mut r));
    out.extend(x.add_peer(t(0), &b, &mut r));
    out.extend(x.receive(t(1), &b, &REQUEST, &mut r));
    out.extend(x.receive(t(2), &a, &addrs_body(&[addr(400), addr(401)]), &mut r));
    for round in 0..5u64 {
        let acts = x.ensure_peers(
            t(30 * round),
            counts(1, 1, 0),
            none,
            &[a.id, b.id],
            true,
            &mut r,
        );
        for d in dialed(&acts) {
            out.extend(x.dial_result(t(30 * round + 1), &d, DialOutcome::Failed));
        }
        out.extend(acts);
    }
    out
}

#[test]
fn same_seed_same_actions() {
    let first = script(42);
    assert!(first.len() > 20);
    assert_eq!(first, script(42));
    assert_ne!(first, script(43));
}

proptest! {
    #[test]
    fn receive_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        seed_mode in any::<bool>(),
        outbound in any::<bool>(),
        asked in any::<bool>(),
    ) {
        let mut r = rng(24);
        let mut x = pex(PexConfig { seed_mode, ..PexConfig::default() }, 40);
        let p = peer(1, outbound);
        if asked {
            x.add_peer(t(0), &p, &mut r);
        }
        for k in 0..3 {
            for act in x.receive(t(k), &p, &bytes, &mut r) {
                if let Action::Send { msg: PexMessage::Addrs(a), .. } = act {
                    prop_assert!(a.len() <= 250);
                }
            }
        }
    }

    #[test]
    fn receive_arbitrary_address_lists(
        entries in proptest::collection::vec(("[0-9a-f]{0,41}", "[0-9a-f:.]{0,20}", any::<u32>()), 0..40),
    ) {
        let mut r = rng(25);
        let mut x = pex(PexConfig::default(), 0);
        let p = peer(1, true);
        x.add_peer(t(0), &p, &mut r);
        let body = pb::Message {
            sum: Some(pb::message::Sum::PexAddrs(pb::PexAddrs {
                addrs: entries
                    .into_iter()
                    .map(|(id, ip, port)| pb::NetAddress { id, ip, port })
                    .collect(),
            })),
        }
        .encode_to_vec();
        let acts = x.receive(t(1), &p, &body, &mut r);
        prop_assert!(acts.len() <= 1);
        x.book().check_invariants().map_err(TestCaseError::fail)?;
    }
}

#[test]
fn seed_mode_ignores_the_fast_dial_signal() {
    let mut r = rng(26);
    let s = peer(1, true);
    let config = PexConfig {
        seeds: vec![s.self_reported.unwrap()],
        ..seed_config()
    };
    let mut x = pex(config, 0);
    assert_eq!(x.add_peer(t(0), &s, &mut r), vec![request_to(s.id)]);
    assert_eq!(x.receive(t(1), &s, &addrs_body(&[addr(1)]), &mut r), vec![]);
    assert_eq!(x.book().size(), 1);
}

#[test]
fn backoff_jitter_is_fresh_and_cap_is_for_persistent_only() {
    let mut r = rng(27);
    let a = addr(0);
    let config = PexConfig {
        persistent_peers: vec![addr(1)],
        persistent_peers_max_dial_period: 5 * SEC,
        ..PexConfig::default()
    };
    let mut x = pex(config, 2);
    for _ in 0..4 {
        x.dial_result(t(0), &a, DialOutcome::Failed);
    }
    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        let DialCheck::TooEarly { backoff, .. } = x.dial_check(t(15), &a, &mut r) else {
            panic!("not capped: 2^4 s");
        };
        assert!(backoff >= 16 * SEC && backoff < 17 * SEC);
        seen.insert(backoff);
    }
    assert_eq!(seen.len(), 10, "a fresh jitter on each check");
}

#[test]
fn ensure_peers_reinstates_expired_bans_when_the_book_is_small() {
    let mut r = rng(28);
    let mut x = pex(PexConfig::default(), 3);
    assert!(x.book_mut().mark_bad(&addr(0), 24 * HOUR, t(0)));
    let busy = |_: &NetAddress| true;
    x.ensure_peers(
        t(0) + 24 * HOUR - SEC,
        counts(0, 0, 0),
        busy,
        &[],
        false,
        &mut r,
    );
    assert!(x.book().is_banned(&addr(0)), "ban not yet expired");
    x.ensure_peers(t(0) + 24 * HOUR, counts(0, 0, 0), busy, &[], false, &mut r);
    assert!(!x.book().is_banned(&addr(0)) && x.book().has_address(&addr(0)));
}

#[test]
fn ensure_peers_never_picks_an_id_twice() {
    let mut r = rng(29);
    let mut x = pex(PexConfig::default(), 3);
    let acts = x.ensure_peers(t(0), counts(0, 0, 0), none, &[], false, &mut r);
    let mut d = dialed(&acts);
    d.sort();
    assert_eq!(d, vec![addr(0), addr(1), addr(2)]);
}

#[test]
fn ordinary_dial_success_sends_no_extra_request() {
    let mut r = rng(30);
    let mut x = pex(PexConfig::default(), 1000);
    let a = addr(5);
    let p = peer_at(a, true, t(0));
    assert_eq!(x.add_peer(t(0), &p, &mut r), vec![]);
    assert_eq!(x.dial_result(t(0), &a, DialOutcome::Connected), vec![]);
}
