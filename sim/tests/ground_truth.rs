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
