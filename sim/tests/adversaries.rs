//! Adversarial nodes on the event engine (small twins of
//! `scenarios/adversaries-100.toml` and `scenarios/eclipse-200.toml`): what
//! honest v0.38 nodes do about silent peers, flooders, PEX abusers and a
//! Sybil group, read from report.json's `adversary` section.

use sim::report::adversary::AdversaryReport;
use sim::report::Report;
use sim::run::{run, RunOptions};
use sim::scenario::Scenario;

fn run_text(text: &str) -> Report {
    let loaded = Scenario::parse(text, "test.toml").expect("scenario parses");
    run(&loaded, &RunOptions::default(), |_| {}).expect("run succeeds")
}

fn adversary(r: &Report) -> &AdversaryReport {
    r.adversary.as_ref().expect("adversary section present")
}

const HONEST: &str = r#"
[[group]]
name = "seed"
count = 1
role = "seed"
zones = ["London"]

[[group]]
name = "full"
count = 6
zones = ["London", "Frankfurt", "Ireland"]
"#;

/// v0.38's fixed MConnection timers: ping every 60 s, pong within 45 s.
const PING_INTERVAL_S: f64 = 60.0;
const PONG_TIMEOUT_S: f64 = 45.0;

#[test]
fn silent_peers_are_dropped_at_the_pong_timeout() {
    let text = format!(
        "duration = \"130s\"\n{HONEST}\n[[group]]\nname = \"silent\"\ncount = 2\n\
         adversary = \"silent\"\nzones = [\"London\"]\nseeds = []\npersistent_peers = [\"full\"]\n"
    );
    let r = run_text(&text);
    let a = adversary(&r);
    assert_eq!(a.nodes["silent"], vec![7, 8]);
    let c = &a.connections["silent"];
    assert!(
        c.added >= 12,
        "each silent node reached every full node: {c:?}"
    );
    assert_eq!(c.removed + c.open_at_end, c.added);
    assert_eq!(
        c.reasons.keys().collect::<Vec<_>>(),
        vec!["connection: no pong within the pong timeout"],
        "{c:?}"
    );
    let bound = PING_INTERVAL_S + PONG_TIMEOUT_S + 2.0;
    let max = c.lifetime_max_s.expect("some were dropped");
    let min = c.lifetime_min_s.expect("some were dropped");
    assert!(max <= bound, "dropped after {max} s > {bound} s");
    assert!(
        min >= PING_INTERVAL_S + PONG_TIMEOUT_S - 1.0,
        "dropped early: {min} s"
    );
    assert!(c.oldest_open_s.unwrap_or(0.0) <= bound, "{c:?}");
}

#[test]
fn flooders_are_held_to_the_receivers_recv_rate() {
    const LIMIT: f64 = 200_000.0;
    let text = format!(
        "duration = \"30s\"\np2p = {{ recv_rate = {LIMIT} }}\n{HONEST}\n\
         [[group]]\nname = \"flooder\"\ncount = 1\nadversary = \"flooder\"\nzones = [\"London\"]\n\
         seeds = []\npersistent_peers = [\"full\"]\nuplink = \"4MB/s\"\n\
         p2p = {{ send_rate = 4000000, recv_rate = 4000000, max_num_inbound_peers = 0 }}\n\
         [[gossip]]\nname = \"tx\"\nsize = 4096\nrate = 0.5\nfrom = \"full\"\n"
    );
    let r = run_text(&text);
    let f = adversary(&r).flood.clone().expect("flood stats");
    assert_eq!(f.recv_rate_limit, LIMIT as u64);
    assert!(
        f.pairs >= 2,
        "{f:?} {:?} {:?}",
        adversary(&r).connections,
        r.nodes.iter().find(|n| n.group == "flooder")
    );
    assert!(f.max_interval_rate <= LIMIT * 1.10, "{f:?}");
    assert!(f.max_interval_fraction <= 1.10, "{f:?}");
    assert!(
        f.mean_pair_rate >= LIMIT * 0.80,
        "the flood saturates the limit: {f:?}"
    );
    assert!(f.mean_pair_fraction >= 0.80, "{f:?}");
    // The copies of the flood stay out of the workload's statistics.
    assert!(
        r.gossip["tx"].duplicate_ratio < 10.0,
        "{:?}",
        r.gossip["tx"]
    );
}

#[test]
fn pex_abusers_are_disconnected_for_each_violation() {
    let text = format!(
        "duration = \"30s\"\n{HONEST}\n[[group]]\nname = \"abuser\"\ncount = 2\n\
         adversary = \"pex_abuser\"\nzones = [\"London\"]\nseeds = []\npersistent_peers = [\"full\"]\n"
    );
    let r = run_text(&text);
    let c = &adversary(&r).connections["pex_abuser"];
    assert!(c.removed >= 12, "{c:?}");
    let reasons: Vec<&String> = c.reasons.keys().collect();
    assert_eq!(
        reasons,
        vec![
            "PEX request # after the previous one (minimum #)",
            "unsolicited PEX address list"
        ],
        "{c:?}"
    );
    // Two free requests one second apart, the third one is too soon.
    assert!(c.lifetime_max_s.unwrap() < 3.0, "{c:?}");
}

const SYBIL: &str = r#"
duration = "60s"

[[group]]
name = "seed"
count = 2
role = "seed"
zones = ["London", "Tokyo"]

[[group]]
name = "victim"
count = 1
zones = ["Frankfurt"]

[[group]]
name = "full"
count = 40
zones = ["London", "Frankfurt", "Ireland", "Tokyo", "Oregon"]

[[group]]
name = "sybil"
count = 30
adversary = "sybil"
subnet = "45.77.0.0/16"
zones = ["Frankfurt"]
seeds = []
persistent_peers = ["victim"]
"#;

#[test]
fn sybils_from_one_group_stay_in_few_buckets_of_the_victims_book() {
    let r = run_text(SYBIL);
    let a = adversary(&r);
    let series = &a.watched["2"];
    let last = series.last().expect("samples");
    assert_eq!(last.t, 60.0);
    // Every attacker address is in 45.77.0.0/16: one address group, so at
    // most 4 old buckets (OLD_BUCKETS_PER_GROUP) whatever the sources.
    assert!(last.attacker_old_buckets <= 4, "{last:?}");
    // Addresses of group 45.77 learned from a source in 45.77 (the Sybils
    // answering PEX requests, or connecting inbound) all hash to ONE new
    // bucket; only honest relays (other source groups) add more. PickAddress
    // draws a non-empty bucket uniformly, so this ratio bounds the chance that
    // an outbound pick lands in a bucket holding attacker addresses.
    assert!(last.attacker_new_buckets <= 3, "{last:?}");
    let ratio = f64::from(last.attacker_new_buckets) / f64::from(last.new_buckets);
    assert!(ratio <= 0.1, "{ratio} {last:?}");
    // A new bucket holds at most 65 entries: Go expires one only when
    // `len(bucket) > newBucketSize` (64), before adding (addrbook.go).
    assert!(
        last.book_attacker <= 65 * last.attacker_new_buckets,
        "{last:?}"
    );
    assert!(
        last.book_attacker > 0,
        "the Sybils got into the book: {last:?}"
    );
    assert!(last.book_groups >= 20, "honest groups survive: {last:?}");
    assert!(last.peer_groups >= 2, "{last:?}");
    assert!(last.outbound >= 4, "{last:?}");

    // The page shows the diversity plot and the adversaries table.
    let tmp = tempfile::tempdir().unwrap();
    sim::render::render_run(&r, tmp.path()).unwrap();
    let html = std::fs::read_to_string(tmp.path().join("index.html")).unwrap();
    assert!(
        html.contains("<img src=\"diversity.png\""),
        "no diversity figure"
    );
    assert!(tmp.path().join("diversity.png").is_file());
    let row = format!("<tr><td>sybil</td><td>{}</td>", a.nodes["sybil"].len());
    assert!(html.contains(&row), "no sybil row {row}");
}

#[test]
fn adversaries_keep_runs_deterministic() {
    let text = format!(
        "duration = \"20s\"\n{HONEST}\n[[group]]\nname = \"abuser\"\ncount = 1\n\
         adversary = \"pex_abuser\"\nseeds = []\npersistent_peers = [\"full\"]\n\
         [[group]]\nname = \"silent\"\ncount = 1\nadversary = \"silent\"\nseeds = []\npersistent_peers = [\"full\"]\n\
         [[group]]\nname = \"sybil\"\ncount = 3\nadversary = \"sybil\"\nsubnet = \"45.77.0.0/16\"\nseeds = []\npersistent_peers = [\"full\"]\n"
    );
    let a = run_text(&text);
    let b = run_text(&text);
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a.to_json_without_wall_time(), b.to_json_without_wall_time());
}

#[test]
fn bad_adversary_settings_are_named() {
    let e = Scenario::parse(
        "duration = \"1s\"\n[[group]]\nname = \"f\"\ncount = 1\nadversary = \"flooder\"\n",
        "x.toml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "x.toml: group[0].adversary: a flooder floods the gossip channel: add a [[gossip]] workload"
    );
    let e = Scenario::parse(
        "duration = \"1s\"\n[[group]]\nname = \"s\"\ncount = 1\nsubnet = \"100.64.0.0/16\"\n",
        "x.toml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "x.toml: group[0].subnet: 100.64.0.0/16 overlaps 100.64.0.0/10, where the other nodes live"
    );
}
