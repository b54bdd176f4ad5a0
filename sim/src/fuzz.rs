//! Fuzzing entry point for scenario files, shared by the `scenario` cargo-fuzz
//! target and `sim/tests/fuzz_scenarios.rs` (same convention as [`p2p::fuzz`]:
//! never panics; `Ok(verdict)` or an invariant [`Violation`]).

use p2p::fuzz::{Verdict, Violation};

use crate::run::{check_common, plan::plan};
use crate::scenario::Scenario;

/// Scenarios with at most this many nodes are also planned (keys, configs,
/// zones of every node) as `cometnet run` does before simulating.
pub const PLAN_MAX_NODES: usize = 64;

/// Scenario TOML bytes: parse and validate (as `cometnet run` loads a file),
/// then every group's `[p2p]` config and, for small scenarios, the node plan.
/// A scenario that validates must yield a config for every group.
pub fn scenario(data: &[u8]) -> Result<Verdict, Violation> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(Err("not UTF-8".into()));
    };
    let loaded = match Scenario::parse(text, "fuzz.toml") {
        Ok(l) => l,
        Err(e) => {
            let msg = e.to_string();
            if msg.contains('\n') {
                return Err(Violation(format!("multi-line error: {msg:?}")));
            }
            return Ok(Err(msg));
        }
    };
    let s = &loaded.scenario;
    for g in &s.groups {
        if let Err(e) = s.p2p_config(g) {
            return Err(Violation(format!(
                "group {:?} validated but has no config: {e}",
                g.name
            )));
        }
    }
    let nodes = s.node_count();
    if nodes <= PLAN_MAX_NODES {
        if let Err(e) = check_common(s) {
            return Ok(Err(e.to_string()));
        }
        match plan(s, s.seed, &loaded.latency) {
            Ok(p) if p.len() == nodes => {}
            Ok(p) => {
                return Err(Violation(format!("{} plans for {nodes} nodes", p.len())));
            }
            Err(e) => return Err(Violation(format!("validated but not plannable: {e}"))),
        }
    }
    Ok(Ok(format!(
        "{} ({nodes} nodes, id {})",
        loaded.name, loaded.id
    )))
}
