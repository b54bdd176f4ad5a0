//! Tests of config reading and writing.

use super::*;

#[test]
fn defaults_round_trip_through_text() {
    let c = NodeConfig::default();
    let text = c.to_toml();
    assert!(
        text.contains("flush_throttle_timeout = \"100ms\""),
        "{text}"
    );
    assert!(
        text.contains("persistent_peers_max_dial_period = \"0s\""),
        "{text}"
    );
    assert!(text.contains("handshake_timeout = \"20s\""), "{text}");
    let loaded = NodeConfig::from_toml(&text, "x").unwrap();
    assert_eq!(loaded.config, c);
    assert!(loaded.unknown_keys.is_empty());
    // Every key of CometBFT's template is written, in its order.
    let mut last = 0;
    for k in P2P_KEYS {
        let at = text
            .find(&format!("\n{k} = "))
            .unwrap_or_else(|| panic!("{k} missing"));
        assert!(at > last, "{k} out of order");
        last = at;
    }
}

#[test]
fn reads_a_cometbft_file_ignoring_other_sections() {
    let text = r#"
version = "0.38.25"
proxy_app = "tcp://127.0.0.1:26658"
moniker = "val-1"

[rpc]
laddr = "tcp://127.0.0.1:26657"

[p2p]
laddr = "tcp://127.0.0.2:26656"
persistent_peers = "21fe31dfa154a261626bf854046fd2271b7bed4b@127.0.0.3:26656"
flush_throttle_timeout = "10ms"
max_num_inbound_peers = 7
allow_duplicate_ip = true
upnp = false

[mempool]
size = 5000
"#;
    let l = NodeConfig::from_toml(text, "config.toml").unwrap();
    assert_eq!(l.config.moniker, "val-1");
    assert_eq!(l.config.p2p.laddr, "tcp://127.0.0.2:26656");
    assert_eq!(
        l.config.p2p.flush_throttle_timeout,
        GoDuration(Duration::from_millis(10))
    );
    assert_eq!(l.config.p2p.max_num_inbound_peers, 7);
    assert!(l.config.p2p.allow_duplicate_ip);
    assert_eq!(
        l.config.p2p.send_rate, 5_120_000,
        "unset keys keep v0.38 defaults"
    );
    assert_eq!(l.unknown_keys, vec!["[p2p].upnp (line 15)".to_owned()]);
}

#[test]
fn bad_values_name_file_line_column_and_key() {
    let text = "[p2p]\nmax_num_inbound_peers = -1\n";
    let e = NodeConfig::from_toml(text, "c.toml").unwrap_err();
    match &e {
        ConfigError::Parse { line, key, .. } => {
            assert_eq!(*line, 2);
            assert_eq!(key, "max_num_inbound_peers: ");
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.starts_with("c.toml:2:"), "{msg}");
    assert_eq!(msg.lines().count(), 1);

    let text = "[p2p]\nflush_throttle_timeout = \"fast\"\n";
    let msg = NodeConfig::from_toml(text, "c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("flush_throttle_timeout") && msg.contains("invalid duration"),
        "{msg}"
    );

    let text = "[p2p]\nseed_mode = true\npex = false\n";
    let e = NodeConfig::from_toml(text, "c.toml").unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Invalid {
                key: "seed_mode",
                ..
            }
        ),
        "{e:?}"
    );

    let e = NodeConfig::from_toml("[p2p\n", "c.toml").unwrap_err();
    assert!(matches!(e, ConfigError::Parse { line: 1, .. }), "{e:?}");
}
