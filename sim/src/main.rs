//! `cometnet`: the command line of the CometBFT p2p testbed (see the `sim` library's `cli`).

use std::process::ExitCode;

fn main() -> ExitCode {
    sim::cli::main()
}
