//! The clap command tree; each subcommand lives in its own module.

mod bench;
mod crawl;
mod keys;
mod node;
mod report;
mod run;
mod testnet;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A testbed for CometBFT's p2p layer: a wire-compatible Rust stack that runs in a
/// deterministic simulator and over real TCP.
#[derive(Parser, Debug)]
#[command(
    name = "cometnet",
    version,
    about = "A testbed for CometBFT's p2p layer: a wire-compatible Rust stack in a deterministic simulator and over real TCP",
    after_help = "Examples:\n  cometnet run scenarios/quickstart.toml          simulate 50 nodes, write a report\n  cometnet report reports/quickstart/<id>-s1      re-draw a report\n  cometnet run scenarios/pex-bootstrap-200.toml --engine turmoil\n                                                  the same stack on turmoil (a cross-check)\n  cometnet bench sim                              event engine vs turmoil, 1,000 nodes, memory\n  cometnet keygen --out node/config/node_key.json make a node key\n\nLogs: RUST_LOG=info (or debug, p2p=debug, ...). Exit codes: 0 ok, 1 failure, 2 bad input.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a node key and write it as a CometBFT-compatible node_key.json.
    Keygen(keys::KeygenArgs),
    /// Print the node ID of a node_key.json (hex of SHA-256(pubkey)[..20]).
    Id(keys::IdArgs),
    /// Run a scenario file on the deterministic simulator and write its report.
    Run(run::RunArgs),
    /// Re-draw a run's plots and index.html from its report.json, draw a crawl.json, or compare two runs.
    Report(report::ReportArgs),
    /// Real node over TCP: `node init` writes a home, `node start` runs it.
    Node(node::NodeArgs),
    /// Start a local network of real nodes on 127.0.0.x, one process each.
    Testnet(testnet::TestnetArgs),
    /// Map a live network from its seeds (PEX) and write crawl.json.
    Crawl(crawl::CrawlArgs),
    /// Benchmarks: `bench sim` times the simulator engines and prints a table.
    Bench(bench::BenchArgs),
}

/// An error that ends the program, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The user gave bad input (arguments or files): exit code 2.
    #[error("{0}")]
    Input(String),
    /// The operation itself failed: exit code 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Input(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
        }
    }
}

/// Help and version go to stdout (exit 0); a usage error is printed as one
/// line, `cometnet: error: ...`, naming the argument (exit 2).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("cometnet: error: a subcommand is required (see --help)");
        }
        _ => eprintln!("cometnet: error: {}", one_line(&e.to_string())),
    }
    ExitCode::from(2)
}

/// Clap's message up to its first blank line, joined into one line.
fn one_line(text: &str) -> String {
    let first = text.trim_start().strip_prefix("error: ").unwrap_or(text);
    first
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses arguments, runs the subcommand, prints errors as one line on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    // Logs go to stderr, filtered by RUST_LOG (default: warnings only).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let result = match cli.command {
        Command::Keygen(a) => keys::keygen(&a),
        Command::Id(a) => keys::id(&a),
        Command::Run(a) => run::run_cmd(&a),
        Command::Report(a) => report::report(&a),
        Command::Node(a) => node::node_cmd(&a),
        Command::Testnet(a) => testnet::testnet_cmd(&a),
        Command::Crawl(a) => crawl::crawl_cmd(&a),
        Command::Bench(a) => bench::bench(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cometnet: error: {e}");
            e.exit_code()
        }
    }
}
