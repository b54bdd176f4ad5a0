//! A CometBFT v0.38 wire-compatible p2p stack.
//!
//! Module map (dependency order, bottom up):
//! - [`time`]: the `Instant` value protocol cores are handed (they never read a clock).
//! - [`net`]: THE abstract network (`Network`, `Stream`, `Listener`, `Runtime`) and its
//!   backends: [`net::tcp`] (tokio, feature `tcp`) and [`net::memory`] (tests).
//! - [`key`]: `NodeKey` (Ed25519), `NodeId`, `node_key.json`.
//! - [`netaddr`]: `NetAddress` (`id@host:port`), routability, protobuf conversion.
//! - [`protoio`]: uvarint length-delimited protobuf framing with size limits.
//! - [`secret_connection`]: the STS handshake and ChaCha20-Poly1305 frames (sans-IO
//!   cores in `secret_connection/{kdf,handshake,frame}`), plus an async adapter.
//! - [`node_info`]: `DefaultNodeInfo` build, exchange, `validate`, `compatible_with`.
//! - [`transport`]: the upgrade pipeline (handshake → NodeInfo → checks) and [`transport::Fault`].
//! - [`mconn`]: MConnection: packets, channels, rate limiting and the scheduler as a
//!   sans-IO core (`mconn/{packet,channel,flow,core}`), joined to a stream by `mconn/driver`.
//! - [`pex`]: the PEX address book (sans-IO), `addrbook.json`, and the PEX messages.
//! - [`switch`]: the Switch, [`switch::Peer`] and the [`switch::Reactor`] API:
//!   dialing, accepting, limits, filters, persistent-peer reconnects, broadcast.
//! - [`observe`]: the [`observe::Observer`] hooks the switch reports events to.
//! - [`node`]: a whole node (Switch + PEX + gossip) from a `[p2p]` config, on any backend.
//! - [`gossip`]: a flood-gossip reactor on its own channel (the testbed's workload).
//! - [`config`]: the `[p2p]` section of CometBFT's `config.toml` (v0.38 names and defaults).
//! - [`fsutil`]: atomic file writes.
//! - [`fuzz`]: fuzzing entry points (shared by `fuzz/` and the corpus tests).
//!
//! Rules (see `design.md`): protocol logic is sans-IO and takes `now` and RNGs as
//! inputs; errors name who is at fault; nothing a peer sends can panic the node.

pub mod config;
pub mod fsutil;
pub mod fuzz;
pub mod gossip;
pub mod key;
pub mod mconn;
pub mod net;
pub mod netaddr;
pub mod node;
pub mod node_info;
pub mod observe;
pub mod pex;
pub mod protoio;
pub mod secret_connection;
pub mod switch;
pub mod time;
pub mod transport;

pub use key::{NodeId, NodeKey};
