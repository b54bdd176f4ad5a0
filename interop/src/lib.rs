//! Support code for the Go interop suite (`bash interop/run`).
//!
//! The suite's tests live in `interop/tests/` and are `#[ignore]`d, so the
//! default `cargo test --workspace` skips them; `interop/run` builds the Go
//! tools (`interop/go/`) and runs them with `--ignored`. Paths to the built
//! tools arrive in environment variables set by that script:
//!
//! - `COMETNET_GOPEER`: the Go test peer (`interop/go/gopeer`).
//! - `COMETNET_COMETBFT`: the `cometbft` v0.38 binary.
//! - `COMETNET_BIN`: our `cometnet` binary.

pub mod cmtnet;
pub mod gopeer;

use std::path::PathBuf;

/// The path in environment variable `var`, or a panic that says how to run
/// the suite (tests only: a missing tool is a setup error, never a pass).
pub fn tool(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("{var} is not set: run the Go interop suite with `bash interop/run`"),
    }
}
