//! The `keygen` and `id` subcommands, run as a user would.

use std::process::Command;

fn cometnet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cometnet"))
}

#[test]
fn help_lists_subcommands() {
    let out = cometnet().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("keygen") && text.contains("id"), "{text}");
}

#[test]
fn keygen_then_id_agree_and_refuse_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config/node_key.json");
    let out = cometnet()
        .args(["keygen", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(id.len(), 40);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

    // By file and by home directory.
    for arg in [path.clone(), dir.path().to_path_buf()] {
        let out = cometnet().arg("id").arg(&arg).output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), id);
    }

    let again = cometnet()
        .args(["keygen", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8(again.stderr)
        .unwrap()
        .contains("already exists"));
}

#[test]
fn id_of_the_go_example_key() {
    // The key pair printed in cometbft's crypto/README.md (see shared/vectors).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node_key.json");
    std::fs::write(
        &path,
        r#"{"priv_key":{"type":"tendermint/PrivKeyEd25519","value":"EVkqJO/jIXp3rkASXfh9YnyToYXRXhBr6g9cQVxPFnQBP/5povV4HTjvsy530kybxKHwEi85iU8YL0qQhSYVoQ=="}}"#,
    )
    .unwrap();
    let out = cometnet().arg("id").arg(&path).output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "a3258dcbf45dca0df052981870f2d1441a36d145"
    );
}

#[test]
fn id_of_a_broken_file_is_a_one_line_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node_key.json");
    std::fs::write(&path, "{not json").unwrap();
    let out = cometnet().arg("id").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("node_key.json"), "{err}");
    let missing = cometnet()
        .arg("id")
        .arg(dir.path().join("nope.json"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
