//! The stable twin of the `scenario` cargo-fuzz target: every seed in
//! `fuzz/seeds/scenario/` and every shipped scenario in `scenarios/` goes
//! through [`sim::fuzz::scenario`], plus proptest mutations (byte edits and
//! value swaps on `key = value` lines). No input may break an invariant or
//! panic; the shipped scenarios give exact verdicts.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sim::fuzz::scenario;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn toml_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn corpus() -> Vec<Vec<u8>> {
    let mut all = toml_files(&root().join("fuzz/seeds/scenario"));
    all.extend(toml_files(&root().join("scenarios")));
    all.into_iter().map(|(_, b)| b).collect()
}

#[test]
fn seeds_and_shipped_scenarios_are_accepted_exactly() {
    let mut got = Vec::new();
    for dir in ["fuzz/seeds/scenario", "scenarios"] {
        for (name, bytes) in toml_files(&root().join(dir)) {
            let v = scenario(&bytes).unwrap_or_else(|v| panic!("{dir}/{name}: {v}"));
            let summary = v.unwrap_or_else(|e| panic!("{dir}/{name}: {e}"));
            // The id depends on the bytes; keep name and node count.
            got.push(format!(
                "{dir}/{name}: {}",
                summary.split(", id").next().unwrap()
            ));
        }
    }
    assert_eq!(
        got,
        [
            "fuzz/seeds/scenario/churn-1000.toml: fuzz (1000 nodes",
            "fuzz/seeds/scenario/partition-heal-1000.toml: fuzz (1000 nodes",
            "fuzz/seeds/scenario/quickstart.toml: fuzz (50 nodes",
            "fuzz/seeds/scenario/tiny.toml: tiny (6 nodes",
            "scenarios/adversaries-100.toml: fuzz (100 nodes",
            "scenarios/bench-1000.toml: fuzz (1000 nodes",
            "scenarios/churn-1000.toml: fuzz (1000 nodes",
            "scenarios/eclipse-200.toml: fuzz (250 nodes",
            "scenarios/geo-10k.toml: fuzz (10000 nodes",
            "scenarios/partition-heal-1000.toml: fuzz (1000 nodes",
            "scenarios/pex-bootstrap-200.toml: fuzz (200 nodes",
            "scenarios/quickstart.toml: fuzz (50 nodes",
        ]
    );
}

#[test]
fn broken_scenarios_give_one_line_errors_naming_the_field() {
    let tiny = std::fs::read_to_string(root().join("fuzz/seeds/scenario/tiny.toml")).unwrap();
    for (from, to, want) in [
        (
            "count = 5",
            "count = 0",
            "group[1].count: must be at least 1",
        ),
        ("rate = 1.0", "rate = -1.0", "gossip[0].rate"),
        (
            "nodes = \"full[4..5]\"",
            "nodes = \"full[4..9]\"",
            "event[0].nodes",
        ),
        (
            "duration = \"10s\"",
            "duration = \"10\"",
            "fuzz.toml:2:12: duration: invalid duration",
        ),
        ("seeds = [\"seed\"]", "seeds = [\"nope\"]", "group[1].seeds"),
    ] {
        assert!(tiny.contains(from), "{from}");
        let text = tiny.replacen(from, to, 1);
        let err = scenario(text.as_bytes()).unwrap().unwrap_err();
        assert!(err.starts_with("fuzz.toml"), "{err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        assert!(!err.contains('\n'), "{err:?}");
    }
}

/// Found by reasoning about the fuzz target: group counts whose sum
/// overflows `usize` panicked in `node_count` (debug builds) or wrapped
/// around the 60000-node limit (release builds).
#[test]
fn regression_group_counts_that_overflow_are_rejected() {
    let group = |n: &str| format!("[[group]]\nname = \"{n}\"\ncount = 9223372036854775807\n");
    let text = format!(
        "duration = \"5s\"\n{}{}{}",
        group("a"),
        group("b"),
        group("c")
    );
    let err = scenario(text.as_bytes()).unwrap().unwrap_err();
    assert_eq!(
        err,
        format!(
            "fuzz.toml: group: {} nodes; at most 60000 are supported",
            usize::MAX
        )
    );
}

const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "18446744073709551615",
    "9223372036854775807",
    "1e308",
    "-0.0",
    "nan",
    "\"\"",
    "\"0s\"",
    "\"-5s\"",
    "\"99999999999h\"",
    "\"full[3..1]\"",
    "\"full[0..99999999999999999999]\"",
    "\"seed[0..0]\"",
    "\"nope\"",
    "[]",
    "[[]]",
    "[\"a\", \"a\"]",
    "true",
    "{}",
    "\"1Gbit/s\"",
    "\"0bit/s\"",
];

/// Replaces the value of the `line`-th `key = value` line with `value`.
fn swap_value(text: &str, line: usize, value: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let kv: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains(" = "))
        .collect();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if let Some(&i) = kv.get(line % kv.len().max(1)) {
        let key = lines[i].split(" = ").next().unwrap_or("");
        out[i] = format!("{key} = {value}");
    }
    out.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn value_swaps_break_no_invariant(
        pick in any::<prop::sample::Index>(),
        swaps in prop::collection::vec((any::<usize>(), any::<prop::sample::Index>()), 1..4),
    ) {
        let corpus = corpus();
        let mut text = String::from_utf8(corpus[pick.index(corpus.len())].clone()).unwrap();
        for (line, v) in &swaps {
            text = swap_value(&text, *line, VALUES[v.index(VALUES.len())]);
        }
        if let Err(v) = scenario(text.as_bytes()) {
            prop_assert!(false, "{v} on\n{text}");
        }
    }

    #[test]
    fn byte_edits_break_no_invariant(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let corpus = corpus();
        let mut bytes = corpus[pick.index(corpus.len())].clone();
        for (pos, b) in &edits {
            let at = pos % (bytes.len() + 1);
            if at < bytes.len() && b % 2 == 0 { bytes[at] = *b } else { bytes.insert(at, *b) }
        }
        if let Err(v) = scenario(&bytes) {
            prop_assert!(false, "{v} on {:?}", String::from_utf8_lossy(&bytes));
        }
    }
}
