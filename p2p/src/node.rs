//! A whole node: Switch + PEX reactor + gossip reactor, assembled from a
//! CometBFT `[p2p]` config. Both the real node (`cometnet node start`) and
//! every simulated node are built here, generic over the network and runtime.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::config::P2pConfig;
use crate::gossip::{GossipObserver, GossipReactor};
use crate::key::NodeKey;
use crate::net::{Network, Runtime};
use crate::netaddr::{NetAddress, NetAddressError};
use crate::node_info::{NodeInfo, PEX_CHANNEL};
use crate::observe::Observer;
use crate::pex::addrbook::AddrBook;
use crate::pex::policy::PexConfig;
use crate::pex::reactor::{BookStore, PexReactor};
use crate::secret_connection::Crypto;
use crate::switch::config::split_list;
use crate::switch::error::SwitchConfigError;
use crate::switch::{Reactor, Switch, SwitchConfig, SwitchError, SwitchHandle};

/// Resolves a host name to addresses (DNS for real nodes).
pub type Resolver = Arc<dyn Fn(&str) -> Result<Vec<IpAddr>, String> + Send + Sync>;

/// Everything needed to start a node.
pub struct NodeOptions {
    /// Identity.
    pub key: NodeKey,
    /// `[p2p]` settings.
    pub p2p: P2pConfig,
    /// Chain ID.
    pub network: String,
    /// Human-readable name.
    pub moniker: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The address advertised in NodeInfo (`listen_addr`); default `tcp://<listen>`.
    pub advertise: Option<String>,
    /// Run the gossip reactor on this channel.
    pub gossip_channel: Option<u8>,
    /// Seed of every random choice of this node.
    pub rng_seed: [u8; 32],
    /// The address book (loaded from disk or new).
    pub book: AddrBook,
    /// Where the book is saved.
    pub book_store: Arc<dyn BookStore>,
    /// Switch events.
    pub observer: Option<Arc<dyn Observer>>,
    /// Gossip events.
    pub gossip_observer: Option<Arc<dyn GossipObserver>>,
    /// Resolves hostnames in seeds/persistent peers (none: hostnames are skipped).
    pub resolver: Option<Resolver>,
}

/// A started node.
#[derive(Clone)]
pub struct Node {
    /// The switch.
    pub switch: SwitchHandle,
    /// The PEX reactor (when `pex = true`).
    pub pex: Option<Arc<PexReactor>>,
    /// The gossip reactor (when enabled).
    pub gossip: Option<Arc<GossipReactor>>,
}

/// A node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A `[p2p]` value is unusable.
    #[error("[p2p] config: {0}")]
    Config(#[from] SwitchConfigError),
    /// A seed address is malformed.
    #[error("[p2p].seeds entry {entry:?}: {source}")]
    Seed {
        /// The entry.
        entry: String,
        /// Why.
        source: NetAddressError,
    },
    /// The switch failed to start.
    #[error(transparent)]
    Switch(#[from] SwitchError),
}

fn seed_rng(seed: [u8; 32], purpose: u8) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed);
    h.update([purpose]);
    h.finalize().into()
}

/// Starts a node on `net`/`rt`.
pub async fn start<N: Network, R: Runtime>(
    opts: NodeOptions,
    net: N,
    rt: R,
) -> Result<Node, NodeError> {
    start_with(opts, StartExtras::default(), net, rt).await
}

/// What a simulation may add to a node: the simulator's knobs, never set
/// by a real node.
#[derive(Default)]
pub struct StartExtras {
    /// The SecretConnection's cryptography; simulations of very large
    /// networks may pass [`Crypto::Null`].
    pub crypto: Crypto,
    /// Reactors (name, reactor) added after the built-in ones; their
    /// channels are advertised in the NodeInfo. The simulator uses them to
    /// give adversarial nodes a modified behaviour on a channel (with
    /// `pex = false` or no gossip channel, so no two reactors share one).
    pub reactors: Vec<(String, Arc<dyn Reactor>)>,
}

/// [`start`] with [`StartExtras`].
pub async fn start_with<N: Network, R: Runtime>(
    opts: NodeOptions,
    extras: StartExtras,
    net: N,
    rt: R,
) -> Result<Node, NodeError> {
    let lookup = |host: &str| match &opts.resolver {
        Some(r) => r(host),
        None => Err("no resolver".to_owned()),
    };
    let mut cfg = SwitchConfig::from_p2p_config_resolving(&opts.p2p, lookup)?;
    cfg.upgrade.crypto = extras.crypto;
    let extra = extras.reactors;
    let mut seeds = Vec::new();
    let mut unresolved = 0;
    for entry in split_list(&opts.p2p.seeds) {
        match NetAddress::parse_resolving(entry, lookup) {
            Ok(a) => seeds.push(a),
            Err(NetAddressError::Lookup { .. } | NetAddressError::Hostname(_)) => {
                tracing::warn!(entry, "seed skipped: its host name could not be resolved");
                unresolved += 1;
            }
            Err(source) => {
                return Err(NodeError::Seed {
                    entry: entry.to_owned(),
                    source,
                })
            }
        }
    }
    let mut channels = Vec::new();
    if let Some(ch) = opts.gossip_channel {
        channels.push(ch);
    }
    if opts.p2p.pex {
        channels.push(PEX_CHANNEL);
    }
    for (_, r) in &extra {
        channels.extend(r.channels().iter().map(|c| c.id));
    }
    let advertise = opts
        .advertise
        .clone()
        .unwrap_or_else(|| format!("tcp://{}", opts.listen));
    let info = NodeInfo::builder(
        opts.key.node_id(),
        opts.network.clone(),
        opts.moniker.clone(),
    )
    .listen_addr(advertise)
    .channels(channels)
    .build();
    let me = opts.key.node_id();
    let mut switch = Switch::new(
        cfg.clone(),
        opts.key,
        info,
        net,
        rt,
        seed_rng(opts.rng_seed, 1),
    );
    if let Some(o) = opts.observer {
        switch = switch.with_observer(o);
    }
    let gossip = opts.gossip_channel.map(|ch| {
        let mut r = GossipReactor::new(me, ch);
        if let Some(o) = opts.gossip_observer.clone() {
            r = r.with_observer(o);
        }
        Arc::new(r)
    });
    let pex = if opts.p2p.pex {
        let pcfg = PexConfig {
            max_num_outbound_peers: opts.p2p.max_num_outbound_peers as usize,
            seed_mode: opts.p2p.seed_mode,
            seeds,
            unresolved_seeds: unresolved,
            persistent_peers: cfg.persistent_peers.clone(),
            persistent_peers_max_dial_period: opts.p2p.persistent_peers_max_dial_period.0,
            ..PexConfig::default()
        };
        let mut book = opts.book;
        book.add_private_ids(cfg.private_peer_ids.iter().copied());
        let r = PexReactor::new(pcfg, book, opts.book_store, seed_rng(opts.rng_seed, 2));
        switch = switch.with_addr_book(r.addr_book_hook());
        Some(r)
    } else {
        None
    };
    if let Some(g) = &gossip {
        switch.add_reactor("GOSSIP", g.clone())?;
    }
    if let Some(p) = &pex {
        switch.add_reactor("PEX", p.clone())?;
    }
    for (name, r) in extra {
        switch.add_reactor(&name, r)?;
    }
    let handle = switch.start(opts.listen).await?;
    Ok(Node {
        switch: handle,
        pex,
        gossip,
    })
}
