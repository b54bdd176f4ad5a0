//! `cometnet`: the command line of the CometBFT p2p testbed.
//!
//! Module map:
//! - `cli`: the clap command tree and one module per subcommand (`cli/keys.rs`: `keygen`, `id`).
//!
//! Exit codes: 0 success, 1 the run or operation failed, 2 bad input (arguments, files).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
