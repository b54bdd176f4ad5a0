//! Deterministic simulator for the CometBFT-compatible p2p stack, and the
//! `cometnet` command line.
//!
//! Module map:
//! - [`exec`]: the single-threaded executor with a virtual clock ([`exec::Sim`],
//!   [`exec::SimRuntime`]).
//! - [`net`], [`link`]: the simulated network (links, bandwidth, partitions,
//!   crashes) and the latency model (zones, jitter).
//! - [`scenario`]: scenario files; [`run`]: runs one on the event engine.
//! - [`collect`]: metrics through the stack's observer hooks; [`report`]: `report.json`.
//! - [`reconverge`]: time until the overlay is one component again after a heal or restart.
//! - [`run`]: a scenario on the event engine; [`turmoil_engine`]: the same on
//!   turmoil (small runs; a cross-check and the speed baseline).
//! - [`cli`]: the clap command tree; one module per subcommand.
//! - [`render`]: plots and HTML pages drawn from a `report.json`.
//! - [`real`]: real nodes over TCP (node homes, `addrbook.json` store, metrics, crawl map).
//! - [`cli`]: the clap command tree; one module per subcommand.
//! - [`fuzz`]: the scenario-file fuzzing entry point.

pub mod cli;
pub mod collect;
pub mod exec;
pub mod fuzz;
pub mod link;
pub mod net;
pub mod real;
pub mod reconverge;
pub mod render;
pub mod report;
pub mod run;
pub mod scenario;
pub mod turmoil_engine;
