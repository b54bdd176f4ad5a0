//! Fuzzing entry points for the files a user or a crashed process hands us:
//! `addrbook.json`, `config.toml` and `node_key.json` (see the parent module
//! for the `Verdict`/`Violation` convention).

use super::{ensure, Verdict, Violation};
use crate::config::NodeConfig;
use crate::key::NodeKey;
use crate::pex::addrbook_file::{self, WallClock};

/// The wall clock the `addrbook.json` harness maps times with (2026-01-01).
pub const FUZZ_CLOCK: WallClock = WallClock {
    epoch_unix_nanos: 1_767_225_600_000_000_000,
};

/// `addrbook.json` bytes, loaded in non-strict and strict mode. A loaded book
/// saved again and reloaded must save to the same text.
pub fn addrbook_json(data: &[u8]) -> Result<Verdict, Violation> {
    let _ = addrbook_file::from_json(data, "addrbook.json", FUZZ_CLOCK, true);
    let book = match addrbook_file::from_json(data, "addrbook.json", FUZZ_CLOCK, false) {
        Ok(b) => b,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let text = addrbook_file::to_json(&book, FUZZ_CLOCK);
    let again = addrbook_file::from_json(text.as_bytes(), "addrbook.json", FUZZ_CLOCK, false)
        .map_err(|e| Violation(format!("saved book does not load: {e}")))?;
    ensure!(again.size() == book.size(), "reload changed the size");
    let text2 = addrbook_file::to_json(&again, FUZZ_CLOCK);
    ensure!(text2 == text, "save/load/save is not stable");
    Ok(Ok(format!(
        "{} addresses ({} new, {} old)",
        book.size(),
        book.n_new(),
        book.n_old()
    )))
}

/// `config.toml` text; an accepted config written out and parsed again must
/// be the same config.
pub fn config_toml(data: &[u8]) -> Result<Verdict, Violation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(Err("not UTF-8".into()));
    };
    let loaded = match NodeConfig::from_toml(text, "config.toml") {
        Ok(l) => l,
        Err(e) => {
            let msg = e.to_string();
            ensure!(!msg.contains('\n'), "multi-line error: {msg:?}");
            return Ok(Err(msg));
        }
    };
    let written = loaded.config.to_toml();
    let again = NodeConfig::from_toml(&written, "config.toml")
        .map_err(|e| Violation(format!("written config does not parse: {e}")))?;
    ensure!(
        again.config == loaded.config,
        "config changed through to_toml"
    );
    Ok(Ok(format!(
        "moniker {:?}, {} unknown keys",
        loaded.config.moniker,
        loaded.unknown_keys.len()
    )))
}

/// `node_key.json` text; an accepted key must write back to a file that
/// loads as the same key.
pub fn node_key_json(data: &[u8]) -> Result<Verdict, Violation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(Err("not UTF-8".into()));
    };
    match NodeKey::from_json(text, "node_key.json") {
        Ok(k) => {
            let again = NodeKey::from_json(&k.to_json(), "node_key.json");
            ensure!(
                again.as_ref().map(NodeKey::seed).ok() == Some(k.seed()),
                "key changed through to_json"
            );
            Ok(Ok(k.node_id().to_string()))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}
