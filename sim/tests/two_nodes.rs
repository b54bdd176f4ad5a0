//! Two simulated nodes running the real stack: the network model's latency
//! and bandwidth show up exactly in what the protocol measures.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use p2p::config::P2pConfig;
use p2p::gossip::{GossipMsg, GossipObserver};
use p2p::net::Instant;
use p2p::node::{self, Node, NodeOptions};
use p2p::pex::addrbook::AddrBook;
use p2p::pex::reactor::NoStore;
use p2p::time::Instant as T;
use p2p::{NodeId, NodeKey};
use rand_chacha::rand_core::SeedableRng;
use sim::exec::Sim;
use sim::link::LatencyModel;
use sim::net::{HostConfig, World};

const TOKYO: &str = "Tokyo";
const FRANKFURT: &str = "Frankfurt";

#[derive(Default)]
struct Deliveries(Mutex<Vec<(T, usize)>>);
impl GossipObserver for Deliveries {
    fn delivered(&self, now: T, msg: &GossipMsg, from: Option<NodeId>) {
        if from.is_some() {
            self.0.lock().unwrap().push((now, msg.payload_len));
        }
    }
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(100, 64, 0, n))
}

/// Starts nodes a (Tokyo, uplink `up`) and b (Frankfurt); b has a as persistent peer.
fn pair(sim: &mut Sim, up: Option<u64>) -> (Node, Node, Arc<Deliveries>, LatencyModel) {
    let rt = sim.runtime();
    let model = LatencyModel::aws();
    let world = World::new(rt.clone(), model.clone(), 7);
    let za = model.zone_index(TOKYO).unwrap();
    let zb = model.zone_index(FRANKFURT).unwrap();
    let na = world.add_host(
        ip(1),
        HostConfig {
            zone: za,
            uplink: up,
            ..Default::default()
        },
    );
    let nb = world.add_host(
        ip(2),
        HostConfig {
            zone: zb,
            ..Default::default()
        },
    );
    let (ka, kb) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let deliveries = Arc::new(Deliveries::default());
    let opts = |key: NodeKey, n: u8, persistent: String, obs: Option<Arc<dyn GossipObserver>>| {
        let mut p2p = P2pConfig {
            persistent_peers: persistent,
            flush_throttle_timeout: p2p::config::GoDuration(Duration::from_millis(1)),
            ..P2pConfig::default()
        };
        p2p.pex = false;
        NodeOptions {
            key,
            p2p,
            network: "two".into(),
            moniker: format!("n{n}"),
            listen: SocketAddr::new(ip(n), 26656),
            advertise: None,
            gossip_channel: Some(p2p::gossip::GOSSIP_CHANNEL),
            rng_seed: [n; 32],
            book: AddrBook::new(
                false,
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(n)),
            ),
            book_store: Arc::new(NoStore),
            observer: None,
            gossip_observer: obs,
            resolver: None,
        }
    };
    let a_addr = format!("{}@{}:26656", ka.node_id(), ip(1));
    let oa = opts(ka, 1, String::new(), None);
    let ob = opts(kb, 2, a_addr, Some(deliveries.clone()));
    let rta = rt.with_group(1);
    let rtb = rt.with_group(2);
    let a = sim
        .block_on(T::from_epoch(Duration::from_secs(1)), async move {
            node::start(oa, na, rta).await.unwrap()
        })
        .unwrap();
    let b = sim
        .block_on(T::from_epoch(Duration::from_secs(1)), async move {
            node::start(ob, nb, rtb).await.unwrap()
        })
        .unwrap();
    (a, b, deliveries, model)
}

#[test]
fn ping_rtt_is_twice_the_zone_latency() {
    let mut sim = Sim::new();
    let (a, b, _, model) = pair(&mut sim, None);
    sim.run_until(Instant::from_epoch(Duration::from_secs(130)));
    let one_way_ab = model.base_delay(
        model.zone_index(TOKYO).unwrap(),
        model.zone_index(FRANKFURT).unwrap(),
    );
    let one_way_ba = model.base_delay(
        model.zone_index(FRANKFURT).unwrap(),
        model.zone_index(TOKYO).unwrap(),
    );
    let expected = one_way_ab + one_way_ba;
    // Jitter: normal, sd = delay/20 per direction; allow 4 sd of the sum.
    let bound = Duration::from_secs_f64(4.0 * (expected.as_secs_f64() / 20.0) / 2f64.sqrt());
    for (name, n) in [("a", &a), ("b", &b)] {
        let peers = n.switch.peers();
        assert_eq!(peers.len(), 1, "{name} has its peer");
        let rtt = peers[0]
            .status()
            .last_ping_rtt
            .expect("a ping was answered");
        println!("{name}: ping RTT {rtt:?}, expected {expected:?} ± {bound:?}");
        assert!(
            rtt.abs_diff(expected) <= bound,
            "{name}: {rtt:?} vs {expected:?}"
        );
    }
}

#[test]
fn bulk_throughput_matches_the_uplink() {
    let uplink = 1_250_000; // 10 Mbit/s
    let mut sim = Sim::new();
    let (a, _b, deliveries, _) = pair(&mut sim, Some(uplink));
    sim.run_until(Instant::from_epoch(Duration::from_secs(5)));
    let gossip = a.gossip.clone().unwrap();
    let start = sim.now();
    let (count, size) = (16usize, 1_000_000usize);
    for _ in 0..count {
        gossip.publish(size).unwrap();
    }
    sim.run_until(Instant::from_epoch(Duration::from_secs(60)));
    let got = deliveries.0.lock().unwrap().clone();
    assert_eq!(got.len(), count, "every message arrived");
    let last = got.last().unwrap().0;
    let secs = (last - start).as_secs_f64();
    let rate = (count * size) as f64 / secs;
    println!("payload throughput {rate:.0} B/s over {secs:.2} s (uplink {uplink} B/s)");
    assert!(
        (rate / uplink as f64 - 1.0).abs() <= 0.05,
        "{rate} vs {uplink}"
    );
}
