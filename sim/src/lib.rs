//! Deterministic simulator for the CometBFT-compatible p2p stack, and the
//! `cometnet` command line.
//!
//! Module map:
//! - [`exec`]: the single-threaded executor with a virtual clock ([`exec::Sim`],
//!   [`exec::SimRuntime`]).
//! - [`cli`]: the clap command tree; one module per subcommand.
//! - [`real`]: real nodes over TCP (node homes, `addrbook.json` store, metrics, crawl map).

pub mod cli;
pub mod collect;
pub mod exec;
pub mod link;
pub mod net;
pub mod real;
pub mod report;
pub mod run;
pub mod scenario;
