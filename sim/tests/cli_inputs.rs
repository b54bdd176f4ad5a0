//! Malformed input to every `cometnet` subcommand (`run`, `report`,
//! `node init/start`, `testnet`, `crawl`, `keygen`/`id`, `bench`, and clap's
//! own argument errors), as a table: each case must exit with code 2, print
//! exactly one line on stderr naming the file or flag, the field and the
//! problem, and leave the directory tree exactly as it was (no report
//! directory, no half-made home, no key).

mod node_support;

use std::path::Path;

use node_support::{cometnet, init_home, set_config, tree};

const TINY: &str =
    "duration = \"5s\"\nlatency = \"none\"\n\n[[group]]\nname = \"full\"\ncount = 3\n";

/// One malformed input: the files to write first (relative to the temp dir),
/// the arguments (`@` is replaced by the temp dir) and what stderr must name.
struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    needles: &'static [&'static str],
}

const CASES: &[Case] = &[
    // ----- run ---------------------------------------------------------------
    Case {
        name: "run: duration of the wrong type",
        files: &[("s.toml", "duration = 5\n[[group]]\nname = \"a\"\ncount = 1\n")],
        args: &["run", "@/s.toml"],
        needles: &["s.toml:1:12", "duration", "invalid type"],
    },
    Case {
        name: "run: zero nodes in a group",
        files: &[("s.toml", "duration = \"5s\"\n[[group]]\nname = \"a\"\ncount = 0\n")],
        args: &["run", "@/s.toml"],
        needles: &["s.toml", "group[0].count", "at least 1"],
    },
    Case {
        name: "run: unknown field",
        files: &[("s.toml", "duration = \"5s\"\nnodez = 3\n[[group]]\nname = \"a\"\ncount = 1\n")],
        args: &["run", "@/s.toml"],
        needles: &["s.toml:2:1", "nodez", "unknown field"],
    },
    Case {
        name: "run: missing file",
        files: &[],
        args: &["run", "@/missing.toml"],
        needles: &["missing.toml", "No such file"],
    },
    Case {
        name: "run: adversary on turmoil",
        files: &[("s.toml", "duration = \"5s\"\nlatency = \"none\"\n[[group]]\nname = \"a\"\ncount = 2\nadversary = \"silent\"\n")],
        args: &["run", "@/s.toml", "--engine", "turmoil"],
        needles: &["s.toml", "group \"a\"", "turmoil engine runs no adversaries"],
    },
    Case {
        name: "run: events on turmoil",
        files: &[("s.toml", "duration = \"5s\"\nlatency = \"none\"\n[[group]]\nname = \"a\"\ncount = 2\n[[event]]\naction = \"heal\"\nat = \"1s\"\n")],
        args: &["run", "@/s.toml", "--engine", "turmoil"],
        needles: &["s.toml", "event[0]", "turmoil engine does not run"],
    },
    Case {
        name: "run: zero tick",
        files: &[("s.toml", TINY)],
        args: &["run", "@/s.toml", "--engine", "turmoil", "--tick", "0s"],
        needles: &["--tick", "\"0s\"", "greater than 0"],
    },
    Case {
        name: "run: tick without unit",
        files: &[("s.toml", TINY)],
        args: &["run", "@/s.toml", "--tick", "10"],
        needles: &["--tick", "\"10\""],
    },
    Case {
        name: "run: seed not a number",
        files: &[("s.toml", TINY)],
        args: &["run", "@/s.toml", "--seed", "x1"],
        needles: &["--seed", "'x1'", "invalid digit"],
    },
    Case {
        name: "run: unknown engine",
        files: &[("s.toml", TINY)],
        args: &["run", "@/s.toml", "--engine", "warp"],
        needles: &["--engine", "'warp'", "invalid value"],
    },
    // ----- report --------------------------------------------------------------
    Case {
        name: "report: no report.json",
        files: &[],
        args: &["report", "@/nothing"],
        needles: &["nothing/report.json", "No such file"],
    },
    Case {
        name: "report: empty object",
        files: &[("r/report.json", "{}")],
        args: &["report", "@/r"],
        needles: &["r/report.json", "not a valid report.json", "missing field"],
    },
    Case {
        name: "report: torn file",
        files: &[("r/report.json", "{\"schema_version\": 1, \"header\": {")],
        args: &["report", "@/r"],
        needles: &["r/report.json", "not a valid report.json", "line 1"],
    },
    Case {
        name: "report: --compare with one run",
        files: &[],
        args: &["report", "--compare", "@/a"],
        needles: &["--compare", "2 values required"],
    },
    // ----- node init -----------------------------------------------------------
    Case {
        name: "node init: empty network",
        files: &[],
        args: &["node", "init", "--home", "@/h", "--network", ""],
        needles: &["--network", "chain ID", "1 to 50 bytes"],
    },
    Case {
        name: "node init: moniker with a control character",
        files: &[],
        args: &["node", "init", "--home", "@/h", "--moniker", "a\tb"],
        needles: &["--moniker", "moniker"],
    },
    Case {
        name: "node init: laddr with a host name",
        files: &[],
        args: &["node", "init", "--home", "@/h", "--laddr", "tcp://example.com:1"],
        needles: &["--laddr", "example.com"],
    },
    Case {
        name: "node init: a broken existing key",
        files: &[("h/config/node_key.json", "{\"priv_key\": 5}")],
        args: &["node", "init", "--home", "@/h"],
        needles: &["node_key.json", "priv_key", "invalid type"],
    },
    // ----- node start (home written by the test) --------------------------------
    Case {
        name: "node start: duration without unit",
        files: &[],
        args: &["node", "start", "--home", "@/home", "--duration", "5"],
        needles: &["--duration", "'5'"],
    },
    Case {
        name: "node start: negative gossip rate",
        files: &[],
        args: &["node", "start", "--home", "@/home", "--gossip-rate=-1"],
        needles: &["--gossip-rate", "-1", ">= 0"],
    },
    // ----- testnet -----------------------------------------------------------------
    Case {
        name: "testnet: too many nodes",
        files: &[],
        args: &["testnet", "--dir", "@/tn", "--nodes", "255"],
        needles: &["--nodes", "255", "1..=254"],
    },
    Case {
        name: "testnet: NaN gossip rate",
        files: &[],
        args: &["testnet", "--dir", "@/tn", "--nodes", "2", "--gossip-rate", "NaN"],
        needles: &["--gossip-rate", "NaN"],
    },
    Case {
        name: "testnet: port 0",
        files: &[],
        args: &["testnet", "--dir", "@/tn", "--nodes", "2", "--base-port", "0"],
        needles: &["--base-port", "not a port"],
    },
    Case {
        name: "testnet: --reuse of nothing",
        files: &[],
        args: &["testnet", "--dir", "@/tn", "--nodes", "2", "--reuse"],
        needles: &["tn/node0/config/config.toml", "No such file"],
    },
    Case {
        name: "testnet: missing --nodes",
        files: &[],
        args: &["testnet", "--dir", "@/tn"],
        needles: &["required arguments", "--nodes"],
    },
    // ----- crawl -----------------------------------------------------------------
    Case {
        name: "crawl: zero dials",
        files: &[],
        args: &["crawl", "--seeds", "a@1.2.3.4:5", "--network", "n", "--out", "@/c", "--max-dials", "0"],
        needles: &["--max-dials", "0", "1..=4096"],
    },
    Case {
        name: "crawl: absurd dials",
        files: &[],
        args: &["crawl", "--seeds", "a@1.2.3.4:5", "--network", "n", "--out", "@/c", "--max-dials", "18446744073709551615"],
        needles: &["--max-dials", "18446744073709551615"],
    },
    Case {
        name: "crawl: udp laddr",
        files: &[],
        args: &["crawl", "--seeds", "a@1.2.3.4:5", "--network", "n", "--out", "@/c", "--laddr", "udp://1.2.3.4:5"],
        needles: &["--laddr", "tcp://"],
    },
    Case {
        name: "crawl: --out is a file",
        files: &[("f", "x")],
        args: &["crawl", "--seeds", "a@1.2.3.4:5", "--network", "n", "--out", "@/f"],
        needles: &["--out", "not a directory"],
    },
    Case {
        name: "crawl: duration not a duration",
        files: &[],
        args: &["crawl", "--seeds", "a@1.2.3.4:5", "--network", "n", "--out", "@/c", "--duration", "soon"],
        needles: &["--duration", "'soon'"],
    },
    // ----- keygen / id -------------------------------------------------------------
    Case {
        name: "id: value not base64",
        files: &[("k.json", "{\"priv_key\":{\"type\":\"tendermint/PrivKeyEd25519\",\"value\":\"***\"}}")],
        args: &["id", "@/k.json"],
        needles: &["k.json", "priv_key.value", "not base64"],
    },
    Case {
        name: "id: wrong key type",
        files: &[("k.json", "{\"priv_key\":{\"type\":\"tendermint/PrivKeySecp256k1\",\"value\":\"\"}}")],
        args: &["id", "@/k.json"],
        needles: &["k.json", "priv_key.type", "only"],
    },
    Case {
        name: "id: not JSON",
        files: &[("k.json", "priv_key = 1")],
        args: &["id", "@/k.json"],
        needles: &["k.json", "line 1 column 1"],
    },
    Case {
        name: "id: missing file",
        files: &[],
        args: &["id", "@/none.json"],
        needles: &["none.json", "No such file"],
    },
    Case {
        name: "keygen: existing file",
        files: &[("k.json", "keep me")],
        args: &["keygen", "--out", "@/k.json"],
        needles: &["k.json", "already exists", "--force"],
    },
    // ----- bench -------------------------------------------------------------------
    Case {
        name: "bench: zero tick",
        files: &[],
        args: &["bench", "sim", "--tick", "0s"],
        needles: &["--tick", "greater than 0"],
    },
    Case {
        name: "bench: one turmoil node",
        files: &[],
        args: &["bench", "sim", "--turmoil-nodes", "1"],
        needles: &["--turmoil-nodes", "1", "between 2 and 2000"],
    },
    // ----- the command line itself ---------------------------------------------------
    Case {
        name: "unknown subcommand",
        files: &[],
        args: &["frobnicate"],
        needles: &["unrecognized subcommand", "'frobnicate'"],
    },
    Case {
        name: "missing subcommand",
        files: &[],
        args: &["node"],
        needles: &["subcommand is required"],
    },
    Case {
        name: "unknown flag",
        files: &[],
        args: &["run", "x.toml", "--fast"],
        needles: &["unexpected argument", "'--fast'"],
    },
];

#[test]
fn every_malformed_input_is_one_line_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    // A valid home for the `node start` cases.
    init_home(&root.join("home"), "tcp://127.0.5.1:26656", "inputs");
    let mut failures = Vec::new();
    for case in CASES {
        for (path, text) in case.files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        let before = tree(&root);
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace('@', &root.display().to_string()))
            .collect();
        let out = cometnet()
            .args(&args)
            .current_dir(&root)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit {:?}", out.status.code()));
        }
        if err.lines().count() != 1 || !err.starts_with("cometnet: error: ") {
            problems.push("not one `cometnet: error:` line".to_owned());
        }
        for n in case.needles {
            if !err.contains(n) {
                problems.push(format!("lacks {n:?}"));
            }
        }
        if tree(&root) != before {
            problems.push(format!("wrote files: {:?}", diff(&before, &tree(&root))));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} -- stderr {err:?}",
                case.name,
                problems.join(", ")
            ));
        }
        for (path, _) in case.files {
            remove(&root.join(path), &root);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Paths in `after` that are not in `before`, and the reverse.
fn diff(before: &[String], after: &[String]) -> Vec<String> {
    let added = after
        .iter()
        .filter(|p| !before.contains(p))
        .map(|p| format!("+{p}"));
    let gone = before
        .iter()
        .filter(|p| !after.contains(p))
        .map(|p| format!("-{p}"));
    added.chain(gone).collect()
}

/// Removes a case's file and the directories it needed (up to `root`).
fn remove(p: &Path, root: &Path) {
    let _ = std::fs::remove_file(p);
    let mut d = p.parent();
    while let Some(dir) = d.filter(|d| *d != root) {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
        d = dir.parent();
    }
}

#[test]
fn node_start_names_the_broken_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    init_home(&home, "tcp://127.0.5.2:26656", "inputs");
    let start = || {
        cometnet()
            .args(["node", "start", "--duration", "1s", "--home"])
            .arg(&home)
            .output()
            .unwrap()
    };
    let check = |needles: &[&str]| {
        let before = tree(dir.path());
        let out = start();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{err:?} lacks {n:?}");
        }
        assert_eq!(tree(dir.path()), before);
    };
    let settings = home.join("config/cometnet.toml");
    let good_settings = std::fs::read(&settings).unwrap();
    std::fs::write(&settings, "network = \"\"\n").unwrap();
    check(&["cometnet.toml", "network", "1 to 50 bytes"]);
    std::fs::write(&settings, "netwrk = \"x\"\n").unwrap();
    check(&["cometnet.toml", "netwrk"]);
    std::fs::write(&settings, &good_settings).unwrap();

    set_config(&home, "handshake_timeout", "\"soon\"");
    check(&["config.toml", "handshake_timeout"]);
    set_config(&home, "handshake_timeout", "\"20s\"");
    set_config(&home, "max_packet_msg_payload_size", "0");
    check(&["config.toml", "max_packet_msg_payload_size", "at least 1"]);
    set_config(&home, "max_packet_msg_payload_size", "1024");

    let book = home.join("config/addrbook.json");
    std::fs::write(&book, "{\"key\": \"00\", \"addrs\": [{\"addr\": 5}]}").unwrap();
    check(&["addrbook.json", "addr"]);
    std::fs::remove_file(&book).unwrap();

    let key = home.join("config/node_key.json");
    std::fs::write(&key, "").unwrap();
    check(&["node_key.json", "EOF"]);
}

/// Found by mutating a real `report.json`: a sample time of 2^64 s made the
/// chart code overflow (a panic, exit 101) in `cometnet report`.
#[test]
fn regression_report_with_absurd_times_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let run = dir.path().join("run");
    let out = cometnet()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&run)
        .args(["--quiet", "--no-render"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let path = run.join("report.json");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (pointer, value, needle) in [
        (
            "/samples/0/t",
            serde_json::json!(18446744073709551615u64),
            "samples[0].t",
        ),
        (
            "/header/duration_s",
            serde_json::json!(-1.0),
            "header.duration_s",
        ),
        (
            "/samples/1/peers_mean",
            serde_json::json!(-0.5),
            "samples[1].peers_mean",
        ),
    ] {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).unwrap() = value;
        std::fs::write(&path, serde_json::to_string(&bad).unwrap()).unwrap();
        let before = tree(dir.path());
        let out = cometnet().arg("report").arg(&run).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{pointer}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("run/report.json: ") && err.contains(needle),
            "{err}"
        );
        assert_eq!(tree(dir.path()), before, "{pointer}");
    }
}
