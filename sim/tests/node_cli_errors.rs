//! Bad input to `node init`, `node start`, `testnet` and `crawl`: exit code 2,
//! one line on stderr naming the flag or file, and no file left behind.

mod node_support;

use std::path::Path;
use std::process::Output;

use node_support::{cometnet, init_home, set_config, tree};

/// Exit 2 with one stderr line containing every `needle`.
fn assert_input_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("cometnet: error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

fn start(home: &Path, extra: &[&str]) -> Output {
    cometnet()
        .args(["node", "start", "--duration", "1s", "--home"])
        .arg(home)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn bad_config_value_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    init_home(&home, "tcp://127.0.4.1:26656", "errs");
    set_config(&home, "max_num_inbound_peers", "\"many\"");
    std::fs::remove_file(home.join("config/node_key.json")).unwrap();
    let before = tree(dir.path());
    let out = start(&home, &[]);
    assert_input_error(&out, &["config/config.toml:", "max_num_inbound_peers"]);
    // No key generated, no address book written.
    assert_eq!(tree(dir.path()), before);

    set_config(&home, "max_num_inbound_peers", "40");
    set_config(&home, "persistent_peers", "\"nope@1.2.3.4:5\"");
    let out = start(&home, &[]);
    assert_input_error(
        &out,
        &["config.toml: [p2p].persistent_peers", "nope@1.2.3.4:5"],
    );
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn bad_node_key_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    init_home(&home, "tcp://127.0.4.2:26656", "errs");
    std::fs::write(
        home.join("config/node_key.json"),
        r#"{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"AAAA"}}"#,
    )
    .unwrap();
    let before = tree(dir.path());
    let out = start(&home, &[]);
    assert_input_error(&out, &["node_key.json", "64"]);
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn bad_seeds_and_other_flags_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    init_home(&home, "tcp://127.0.4.3:26656", "errs");
    let before = tree(dir.path());
    let id = "a".repeat(40);
    for (flags, needles) in [
        (
            vec!["--seeds".to_owned(), format!("{id}@1.2.3.4:5,xyz")],
            vec!["--seeds", "\"xyz\""],
        ),
        (
            vec!["--seeds".to_owned(), format!("{id}@1.2.3.4:99999")],
            vec!["--seeds", "99999"],
        ),
        (
            vec!["--persistent-peers".to_owned(), "1.2.3.4:5".to_owned()],
            vec!["--persistent-peers"],
        ),
        (
            vec!["--laddr".to_owned(), "tcp://localhost:1".to_owned()],
            vec!["--laddr"],
        ),
        (
            vec!["--metrics".to_owned(), "x".to_owned()],
            vec!["--metrics"],
        ),
        (
            vec!["--network".to_owned(), String::new()],
            vec!["--network"],
        ),
    ] {
        let args: Vec<&str> = flags.iter().map(String::as_str).collect();
        assert_input_error(&start(&home, &args), &needles);
        assert_eq!(tree(dir.path()), before, "{flags:?}");
    }
    // A home that was never initialized.
    let missing = dir.path().join("nothing");
    assert_input_error(
        &start(&missing, &[]),
        &["nothing/config/config.toml", "node init"],
    );
    assert!(!missing.exists());
}

#[test]
fn init_testnet_and_crawl_refuse_bad_input_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    let out = cometnet()
        .args(["node", "init", "--laddr", "udp://1.2.3.4:5", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    assert_input_error(&out, &["--laddr", "tcp://"]);
    assert!(!home.exists());
    init_home(&home, "tcp://127.0.4.4:26656", "errs");
    let config = std::fs::read(home.join("config/config.toml")).unwrap();
    let again = cometnet()
        .args(["node", "init", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    assert_input_error(&again, &["config.toml", "already exists", "--force"]);
    assert_eq!(
        std::fs::read(home.join("config/config.toml")).unwrap(),
        config
    );

    let tn = dir.path().join("tn");
    for (flags, needle) in [
        (["--nodes", "3", "--seeds", "4"], "--seeds"),
        (["--nodes", "0", "--seeds", "1"], "--nodes"),
        (["--nodes", "300", "--seeds", "1"], "--nodes"),
    ] {
        let out = cometnet()
            .args(["testnet", "--dir"])
            .arg(&tn)
            .args(flags)
            .output()
            .unwrap();
        assert_input_error(&out, &[needle]);
        assert!(!tn.exists());
    }

    let out_dir = dir.path().join("crawl");
    let out = cometnet()
        .args([
            "crawl",
            "--seeds",
            "bad@1.2.3.4:5",
            "--network",
            "x",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_input_error(&out, &["--seeds", "bad@1.2.3.4:5"]);
    assert!(!out_dir.exists());
}
