//! `silent`: a node that completes the real handshakes (SecretConnection,
//! NodeInfo exchange) with everyone it dials or who dials it, then neither
//! reads nor writes on the connection again. Honest peers must drop it when
//! their ping goes unanswered (`ping_interval` + `pong_timeout`).

use std::net::SocketAddr;

use p2p::net::{Listener, Network, Runtime};
use p2p::netaddr::NetAddress;
use p2p::node_info::NodeInfo;
use p2p::secret_connection::handshake::draw_ephemeral_secret;
use p2p::transport::{upgrade, UpgradeConfig};
use p2p::NodeKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::exec::SimRuntime;
use crate::net::SimNetwork;

/// Everything a silent node needs.
pub(crate) struct Silent {
    pub(crate) key: NodeKey,
    pub(crate) info: NodeInfo,
    pub(crate) listen: SocketAddr,
    /// Nodes it dials once at start (its seeds and persistent peers).
    pub(crate) targets: Vec<NetAddress>,
    pub(crate) rng_seed: [u8; 32],
    /// Deadlines and crypto of its handshakes (the scenario's crypto).
    pub(crate) upgrade: UpgradeConfig,
}

/// Upgrades `stream`, then holds the connection open without touching it
/// until the simulation ends (the peer's close goes unnoticed).
async fn handshake_and_hold<S>(
    rt: SimRuntime,
    stream: S,
    key: NodeKey,
    info: NodeInfo,
    dialed: Option<p2p::NodeId>,
    secret: [u8; 32],
    cfg: UpgradeConfig,
) where
    S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin,
{
    if let Ok(up) = upgrade(&rt, stream, &key, &info, dialed, secret, cfg).await {
        let _conn = up.conn;
        std::future::pending::<()>().await;
    }
}

/// Starts the silent node `s` on `net`/`rt`.
pub(crate) fn spawn(s: Silent, net: SimNetwork, rt: SimRuntime) {
    let mut rng = ChaCha20Rng::from_seed(s.rng_seed);
    for target in &s.targets {
        let (rt2, net2, key, info) = (rt.clone(), net.clone(), s.key.clone(), s.info.clone());
        let (addr, id) = (target.socket_addr(), target.id());
        let secret = draw_ephemeral_secret(&mut rng);
        let cfg = s.upgrade;
        rt.spawn(async move {
            if let Ok(stream) = net2.dial(addr).await {
                handshake_and_hold(rt2, stream, key, info, Some(id), secret, cfg).await;
            }
        });
    }
    let rt2 = rt.clone();
    rt.spawn(async move {
        let Ok(mut listener) = net.listen(s.listen).await else {
            return;
        };
        while let Ok(stream) = listener.accept().await {
            let secret = draw_ephemeral_secret(&mut rng);
            let task = handshake_and_hold(
                rt2.clone(),
                stream,
                s.key.clone(),
                s.info.clone(),
                None,
                secret,
                s.upgrade,
            );
            rt2.spawn(task);
        }
    });
}
