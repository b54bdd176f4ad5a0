//! A short soak of `cometnet testnet`: 8 node processes on 127.0.0.1..8 (one
//! seed) for 30 s, one random non-seed node stopped and restarted from its
//! home every 3 s. The run must end with exit code 0 (no node panicked, every
//! restarted node found a peer again) and a `soak.json` whose per-node memory
//! and descriptor counts stay within loose bounds after the warm-up.
//!
//! The long version (numbers in `docs/reliability.md`):
//! `cometnet testnet --nodes 32 --dir /tmp/soak --churn-every 3s --duration 5m`.

#![allow(clippy::disallowed_methods)] // wall-clock waits around child processes

mod node_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use node_support::{cometnet, free_port, ip, Guard};

#[test]
fn testnet_soak_with_churn() {
    let dir = tempfile::tempdir().unwrap();
    let ips: Vec<_> = (1..=8).map(|h| ip(0, h)).collect();
    let port = free_port(&ips);
    let t0 = Instant::now();
    let child = cometnet()
        .args(["testnet", "--nodes", "8", "--max-outbound", "3", "--dir"])
        .arg(dir.path())
        .args(["--base-port", &port.to_string()])
        .args([
            "--churn-every",
            "3s",
            "--sample-every",
            "1s",
            "--duration",
            "30s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    // Bounded wait: 30 s of soak plus start and stop.
    let mut status = None;
    while t0.elapsed() < Duration::from_secs(120) {
        if let Some(s) = guard.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = status.expect("testnet did not stop within 120 s");
    let mut err = String::new();
    std::io::Read::read_to_string(guard.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    println!("{err}");
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("soak: 8 nodes"), "{err}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("soak.json")).unwrap()).unwrap();
    let restarts = report["restarts"].as_array().unwrap();
    assert!(restarts.len() >= 8, "{} restarts", restarts.len());
    for r in restarts {
        assert!(r["reconnected_after"].is_number(), "{r}");
        assert!(
            (1..8).contains(&r["node"].as_u64().unwrap()),
            "seed restarted: {r}"
        );
    }
    assert_eq!(report["panicked"].as_array().unwrap().len(), 0);
    let growth = report["growth"].as_array().unwrap();
    assert_eq!(growth.len(), 8);
    for g in growth {
        let d = |a: &str, b: &str| g[b].as_i64().unwrap() - g[a].as_i64().unwrap();
        // A node has at most 8 peers here: its descriptors move with its peers only.
        assert!(d("fds_start", "fds_end").abs() <= 10, "{g}");
        assert!(
            d("rss_start_kib", "rss_end_kib") < 16 * 1024,
            "RSS grew: {g}"
        );
    }
}
