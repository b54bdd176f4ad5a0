//! Whole scenarios on the event engine: determinism, partitions, crash and
//! restart, and the bundled quickstart.

use sim::report::Report;
use sim::run::{run, RunOptions};
use sim::scenario::Scenario;

fn run_text(text: &str, seed: Option<u64>) -> Report {
    let loaded = Scenario::parse(text, "test.toml").expect("scenario parses");
    run(&loaded, &RunOptions { seed }, |_| {}).expect("run succeeds")
}

const SMALL: &str = r#"
duration = "40s"
latency = "aws"

[[group]]
name = "seed"
count = 1
role = "seed"
zones = ["London"]

[[group]]
name = "full"
count = 7
zones = ["London", "Tokyo", "Oregon"]

[[gossip]]
name = "txs"
size = 200
rate = 1.0
from = "full[0..2]"
start = "20s"
"#;

#[test]
fn same_seed_same_report_other_seed_other_hash() {
    let a = run_text(SMALL, None);
    let b = run_text(SMALL, None);
    let c = run_text(SMALL, Some(2));
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a.to_json_without_wall_time(), b.to_json_without_wall_time());
    assert_ne!(a.event_hash, c.event_hash);
    // The run did something worth hashing.
    let last = a.samples.last().unwrap();
    assert!(last.peers_mean >= 2.0, "{last:?}");
    assert!(a.gossip["txs"].messages >= 30, "{:?}", a.gossip["txs"]);
}

#[test]
fn null_crypto_changes_nothing_but_the_cost() {
    // The null mode keeps every message and byte count, so the simulated
    // network behaves identically: same events, same report.
    let real = run_text(SMALL, None);
    let null = run_text(&format!("crypto = \"null\"\n{SMALL}"), None);
    assert_eq!(real.event_hash, null.event_hash);
    let strip = |r: &Report| {
        let mut v: serde_json::Value =
            serde_json::from_str(&r.to_json_without_wall_time()).unwrap();
        v["header"]["scenario_id"] = serde_json::Value::Null;
        v["header"]["reproduce"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(&real), strip(&null));
    assert!(real.samples.last().unwrap().peers_mean >= 2.0);
}

#[test]
fn partition_splits_the_graph_and_heal_rejoins_it() {
    let text = r#"
duration = "240s"
latency = "aws"
sample_interval = "5s"

[[group]]
name = "seed"
count = 1
role = "seed"
zones = ["London"]

[[group]]
name = "east"
count = 4
zones = ["Tokyo", "Seoul"]

[[group]]
name = "west"
count = 4
zones = ["Oregon", "London"]

[[gossip]]
name = "txs"
size = 100
rate = 1.0
from = "east[0]"
start = "30s"

[[event]]
action = "partition"
at = "30s"
sides = [["east"], ["west", "seed"]]

[[event]]
action = "heal"
at = "160s"
"#;
    let r = run_text(text, None);
    let at = |t: f64| {
        r.samples
            .iter()
            .find(|s| (s.t - t).abs() < 1e-6)
            .unwrap_or_else(|| panic!("no sample at {t}"))
    };
    assert_eq!(at(25.0).components, 1, "connected before the cut");
    // Pings every 60 s, pong timeout 45 s: every link across the cut is dead by 135 s.
    assert_eq!(
        at(155.0).components,
        2,
        "two sides during the partition: {:?}",
        at(155.0)
    );
    assert_eq!(
        at(240.0).components,
        1,
        "one component after the heal: {:?}",
        at(240.0)
    );
    let times: Vec<f64> = r.timeline.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![30.0, 160.0]);
    // Flooding has no retransmission: messages published on the east side
    // while the cut stalled and then killed the links never reach the west.
    let g = &r.gossip["txs"];
    assert!(
        g.reach[3].messages_reaching < 0.5,
        "{:?}",
        g.reach[3].messages_reaching
    );
    assert!(g.mean_coverage < 0.8, "coverage {}", g.mean_coverage);
}

#[test]
fn crash_and_restart_keep_the_key_and_the_address_book() {
    // full[0] crashes after the book's first save (2 min); the seed dies for
    // good; full[0] comes back and can only find peers through its saved book.
    let text = r#"
duration = "200s"
latency = "aws"
sample_interval = "5s"

[[group]]
name = "seed"
count = 1
role = "seed"
zones = ["Frankfurt"]

[[group]]
name = "full"
count = 5
zones = ["Frankfurt", "London"]

[[event]]
action = "crash"
at = "130s"
nodes = "full[0]"

[[event]]
action = "crash"
at = "135s"
nodes = "seed"

[[event]]
action = "restart"
at = "140s"
nodes = "full[0]"
"#;
    let r = run_text(text, None);
    let n0 = r
        .nodes
        .iter()
        .find(|n| n.group == "full" && n.index == 1)
        .unwrap();
    let planned = Scenario::parse(text, "test.toml").unwrap();
    let again = run_text(text, None);
    assert_eq!(n0.id, again.nodes[1].id, "keys come from the seed tree");
    assert!(n0.up);
    assert!(
        n0.inbound + n0.outbound >= 2,
        "reconnected through its saved book: {n0:?}"
    );
    assert!(n0.addrbook >= 4, "the book survived the crash: {n0:?}");
    assert_eq!(planned.scenario.node_count(), 6);
    let seed = r.nodes.iter().find(|n| n.group == "seed").unwrap();
    assert!(!seed.up);
}

#[test]
fn quickstart_twin_runs_and_passes_its_assertions() {
    // The bundled quickstart with fewer nodes and a shorter run, so the debug
    // test suite stays fast; `cometnet run scenarios/quickstart.toml` runs the
    // full one.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/quickstart.toml");
    let text = std::fs::read_to_string(path).expect("quickstart exists");
    let twin = text
        .replace("count = 48", "count = 18")
        .replace("rate = 2.0", "rate = 1.0");
    assert_ne!(twin, text, "the twin differs from the file it mirrors");
    let loaded = Scenario::parse(&twin, "quickstart.toml").expect("quickstart parses");
    let r = run(&loaded, &RunOptions::default(), |_| {}).expect("quickstart runs");
    for a in &r.assertions {
        assert!(a.passed, "{} — {}", a.description, a.detail);
    }
    assert_eq!(r.assertions.len(), 3);
    assert_eq!(r.header.nodes, 20);
    // The full file parses too.
    assert_eq!(
        Scenario::parse(&text, "quickstart.toml")
            .unwrap()
            .scenario
            .node_count(),
        50
    );
}
