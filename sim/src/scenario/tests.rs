//! Tests of scenario parsing and validation.

use super::*;

const GOOD: &str = r#"
description = "two groups"
seed = 7
duration = "60s"

[p2p]
max_num_outbound_peers = 4

[[group]]
name = "seed"
count = 1
role = "seed"
zones = ["N_Virginia"]

[[group]]
name = "full"
count = 20
zones = ["Tokyo", "Frankfurt"]
uplink = "100Mbit/s"
p2p = { flush_throttle_timeout = "10ms" }

[[gossip]]
name = "txs"
size = 250
rate = 2.0
from = "full[0..5]"

[[event]]
action = "partition"
at = "20s"
sides = [["full[0..10]"], ["seed", "full[10..20]"]]

[[event]]
action = "heal"
at = "40s"

[[assert]]
kind = "min_peers"
min = 2
by = "30s"
"#;

#[test]
fn parses_a_full_scenario() {
    let l = Scenario::parse(GOOD, "scenarios/demo.toml").unwrap();
    assert_eq!(l.name, "demo");
    assert_eq!(l.id.len(), 12);
    let s = &l.scenario;
    assert_eq!(s.seed, 7);
    assert_eq!(s.node_count(), 21);
    assert_eq!(s.groups[1].uplink, Some(Bandwidth(12_500_000)));
    let cfg = s.p2p_config(&s.groups[1]).unwrap();
    assert_eq!(cfg.max_num_outbound_peers, 4);
    assert_eq!(
        cfg.flush_throttle_timeout,
        GoDuration(std::time::Duration::from_millis(10))
    );
    assert_eq!(
        cfg.max_num_inbound_peers, 40,
        "untouched keys keep v0.38 defaults"
    );
    assert!(
        matches!(s.events[0], Event::Partition { ref sides, one_way: false, .. } if sides.len() == 2)
    );
    assert_eq!(s.gossip[0].channel, DEFAULT_GOSSIP_CHANNEL);
    assert_eq!(l.latency.zones().len(), 13);
    // Same bytes, same id; other bytes, other id.
    assert_eq!(Scenario::parse(GOOD, "x.toml").unwrap().id, l.id);
    assert_ne!(
        Scenario::parse(&GOOD.replace("seed = 7", "seed = 8"), "x.toml")
            .unwrap()
            .id,
        l.id
    );
}

fn err(text: &str) -> String {
    Scenario::parse(text, "s.toml").unwrap_err().to_string()
}

#[test]
fn unknown_fields_name_line_and_column() {
    let e = err(&GOOD.replace("count = 20", "count = 20\ncolour = \"red\""));
    assert!(e.starts_with("s.toml:"), "{e}");
    assert!(e.contains("colour"), "{e}");
    let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
    assert_eq!(
        GOOD.replace("count = 20", "count = 20\ncolour = \"red\"")
            .lines()
            .nth(line - 1)
            .unwrap()
            .trim(),
        "colour = \"red\""
    );
    assert_eq!(e.lines().count(), 1);
}

#[test]
fn invalid_values_name_the_field() {
    let cases = [
        (GOOD.replace("\"Tokyo\"", "\"Atlantis\""), "group[1].zones"),
        (
            GOOD.replace("from = \"full[0..5]\"", "from = \"full[0..50]\""),
            "gossip[0].from",
        ),
        (
            GOOD.replace("max_num_outbound_peers = 4", "max_outbound = 4"),
            "p2p.max_outbound",
        ),
        (
            GOOD.replace("name = \"full\"", "name = \"seed\""),
            "group[1].name",
        ),
        (GOOD.replace("at = \"40s\"", "at = \"90s\""), "event[1].at"),
        (GOOD.replace("count = 1\n", "count = 0\n"), "group[0].count"),
        (
            GOOD.replace(
                "flush_throttle_timeout = \"10ms\"",
                "flush_throttle_timeout = \"soon\"",
            ),
            "group[1].p2p",
        ),
    ];
    for (text, field) in cases {
        let e = err(&text);
        assert!(e.starts_with(&format!("s.toml: {field}:")), "{field}: {e}");
    }
    assert!(err("duration = \"1x\"\n[[group]]\nname=\"a\"\ncount=1\n").contains("invalid duration"));
    assert!(
        err(&GOOD.replace("uplink = \"100Mbit/s\"", "uplink = \"fast\"")).contains("bandwidth")
    );
}
