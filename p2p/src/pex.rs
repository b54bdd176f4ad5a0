//! Peer exchange (PEX, spec 1.7, 2.7, 2.8): the address book and the PEX wire
//! messages. The reactor that drives them is a separate layer on top.
//!
//! - [`known_address`]: one entry of the book (`knownAddress`): address, source,
//!   buckets, attempts, and the "bad" rules.
//! - [`addrbook`]: the sans-IO address book (`AddrBook`): new/old buckets, keyed
//!   placement, add/pick/select/mark operations. Takes `now` and an RNG; keeps
//!   no clock, no timer, no file.
//! - [`addrbook_file`]: `addrbook.json` in Go's format, with a [`addrbook_file::WallClock`]
//!   mapping runtime instants to wall-clock times.
//! - [`messages`]: `PexRequest`/`PexAddrs` encode/decode and the channel constants.
//! - [`reactor`]: the PEX reactor binding the policy to the Switch, saving the book.
//! - [`policy`]: the reactor's decisions (`ensurePeers`, request/reply rules, dial
//!   backoff, seed crawling) as a sans-IO state machine returning actions.

pub mod addrbook;
pub mod addrbook_file;
pub mod known_address;
pub mod messages;
pub mod policy;
pub mod reactor;

pub use addrbook::{AddOutcome, AddrBook, AddrBookError, Promotion};
pub use addrbook_file::WallClock;
pub use known_address::{BucketType, KnownAddress};
pub use messages::{PexDecodeError, PexMessage, PEX_CHANNEL};
pub use policy::{Action, DialOutcome, PeerCounts, PeerInfo, Pex, PexConfig, PexViolation};
