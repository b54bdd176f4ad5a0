//! Deterministic simulator for the CometBFT-compatible p2p stack, and the
//! `cometnet` command line.
//!
//! Module map:
//! - [`exec`]: the single-threaded executor with a virtual clock ([`exec::Sim`],
//!   [`exec::SimRuntime`]).
//! - [`run`]: a scenario on the event engine; [`turmoil_engine`]: the same on
//!   turmoil (small runs; a cross-check and the speed baseline).
//! - [`cli`]: the clap command tree; one module per subcommand.
//! - [`render`]: plots and HTML pages drawn from a `report.json`.

pub mod cli;
pub mod collect;
pub mod exec;
pub mod link;
pub mod net;
pub mod render;
pub mod report;
pub mod run;
pub mod scenario;
pub mod turmoil_engine;
