//! Metrics checked against values computed by hand, and a report snapshot.

use sim::report::Report;
use sim::run::{run, RunOptions};
use sim::scenario::Scenario;

fn run_text(text: &str) -> Report {
    let loaded = Scenario::parse(text, "ground-truth.toml").expect("scenario parses");
    run(&loaded, &RunOptions::default(), |_| {}).expect("run succeeds")
}

/// x — y — z, no PEX: y keeps persistent connections to x and z.
const LINE: &str = r#"
duration = "30s"
latency = "none"
p2p = { pex = false }

[[group]]
name = "x"
count = 1

[[group]]
name = "y"
count = 1
persistent_peers = ["x", "z"]

[[group]]
name = "z"
count = 1

[[gossip]]
name = "g"
size = 100
rate = 1.0
from = "x"
start = "10s"
stop = "20s"
"#;

#[test]
fn three_node_line() {
    let r = run_text(LINE);
    assert_eq!(r.edges, vec![(0, 1), (1, 2)]);
    assert_eq!(r.paths.diameter, 2);
    assert!(
        (r.paths.mean_path_length - 4.0 / 3.0).abs() < 1e-12,
        "{:?}",
        r.paths
    );
    let last = r.samples.last().unwrap();
    assert_eq!((last.components, last.largest_component), (1, 3));
    assert_eq!(
        r.degree_histogram.into_iter().collect::<Vec<_>>(),
        vec![(1, 2), (2, 1)]
    );
    // Gossip: x publishes 10 messages of 100 bytes (+36 header); each crosses
    // x→y and y→z exactly once, and nobody gets a duplicate.
    let g = &r.gossip["g"];
    assert_eq!(g.messages, 10);
    assert_eq!(g.duplicates, 0);
    assert_eq!(last.messages_sent["0x70"], 20);
    assert_eq!(last.bytes_sent["0x70"], 20 * 136);
    assert_eq!(g.mean_coverage, 1.0);
}

#[test]
fn report_matches_the_checked_in_snapshot() {
    let text = LINE.replace("duration = \"30s\"", "duration = \"25s\"");
    let json = run_text(&text).to_json_without_wall_time();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/line-report.json"
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &json).unwrap();
    }
    let want =
        std::fs::read_to_string(path).expect("snapshot exists (UPDATE_SNAPSHOTS=1 writes it)");
    assert_eq!(
        json, want,
        "report.json changed; if intended, rerun with UPDATE_SNAPSHOTS=1"
    );
}

/// x — y — z as in [`LINE`] (y keeps persistent connections), cut between
/// {x, y} and {z} from 10 s to 150 s.
const CUT_LINE: &str = r#"
duration = "200s"
latency = "none"
p2p = { pex = false }

[[group]]
name = "x"
count = 1

[[group]]
name = "y"
count = 1
persistent_peers = ["x", "z"]

[[group]]
name = "z"
count = 1

[[event]]
action = "partition"
at = "10s"
sides = [["x", "y"], ["z"]]

[[event]]
action = "heal"
at = "150s"
"#;

#[test]
fn reconvergence_after_a_heal() {
    let r = run_text(CUT_LINE);
    assert_eq!(r.reconvergence.len(), 1, "{:?}", r.reconvergence);
    let h = &r.reconvergence[0];
    assert_eq!((h.event.as_str(), h.at_s), ("heal", 150.0));
    // y–z dies of a pong timeout (ping every 60 s, pong within 45 s) long
    // before the heal: two components when it comes.
    assert_eq!(h.components_at_event, 2);
    // y's reconnect routine is still in phase 1 at the heal (20 attempts,
    // each ≥ 5 s apart, started ≥ 55 s in): its next attempt comes within
    // 5 s + 3 s jitter, plus at most a 3 s dial timeout for a dial in flight.
    let d = h.reconverged_after_s.expect("the line reconverges");
    assert!(d > 0.0 && d <= 11.0, "reconverged after {d} s");
    // The samples (every second) agree: split before heal + d, whole at the
    // first sample after it.
    let back = 150.0 + d;
    let before = r.samples.iter().rfind(|s| s.t < back).unwrap();
    let after = r.samples.iter().find(|s| s.t >= back).unwrap();
    assert_eq!((before.components, after.components), (2, 1), "{d}");
    assert!(r
        .samples
        .iter()
        .any(|s| s.t > 60.0 && s.t < 150.0 && s.components == 2));
    // No PEX: no address books in the samples.
    assert!(r.samples.iter().all(|s| s.addrbook.nodes == 0));
}

/// A seed and five nodes that bootstrap with PEX.
const PEX_SMALL: &str = r#"
duration = "60s"
latency = "none"

[[group]]
name = "seed"
count = 1
role = "seed"

[[group]]
name = "n"
count = 5
"#;

#[test]
fn address_book_sizes_are_sampled() {
    let r = run_text(PEX_SMALL);
    let last = r.samples.last().unwrap();
    assert_eq!(last.addrbook.nodes, 6);
    assert_eq!(last.addrbook_per_node.len(), 6);
    for s in &r.samples {
        let b = &s.addrbook;
        // A book never holds its own node: at most the 5 others.
        assert!(
            b.min <= b.median && b.median <= b.max && b.max <= 5,
            "{b:?}"
        );
        let sum: u32 = s.addrbook_per_node.iter().sum();
        let mean = b.new_mean + b.old_mean;
        assert!(
            (mean * f64::from(b.nodes) - f64::from(sum)).abs() < 1e-6,
            "{s:?}"
        );
    }
    // By the end the nodes have learned of each other through the seed.
    assert!(last.addrbook.median >= 4, "{:?}", last.addrbook);
}
