//! Turning a scenario into concrete nodes: indices, addresses, keys, zones,
//! configs, seeds and persistent peers. Everything derives from the master
//! seed through a seed tree, so the same file and seed give the same network.

use std::net::{IpAddr, Ipv4Addr};

use p2p::config::P2pConfig;
use p2p::netaddr::NetAddress;
use p2p::NodeKey;
use sha2::{Digest, Sha256};

use crate::link::LatencyModel;
use crate::net::HostConfig;
use crate::scenario::{Adversary, Role, Scenario, Selector};

/// The p2p port every simulated node listens on.
pub const P2P_PORT: u16 = 26656;

/// A 32-byte seed for `purpose` derived from the master seed (the seed tree).
pub fn derive(master: u64, purpose: &str, index: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"cometnet-seed-tree");
    h.update(master.to_le_bytes());
    h.update((purpose.len() as u64).to_le_bytes());
    h.update(purpose.as_bytes());
    h.update(index.to_le_bytes());
    h.finalize().into()
}

/// The address of node `idx`: spread over the 64 /16 networks of
/// 100.64.0.0/10 (shared address space, which CometBFT treats as routable),
/// so the address book sees many groups as on a real network.
pub fn node_ip(idx: usize) -> IpAddr {
    let q = idx / 64;
    IpAddr::V4(Ipv4Addr::new(
        100,
        64 + (idx % 64) as u8,
        (q / 250) as u8,
        (q % 250) as u8 + 1,
    ))
}

/// One node of the scenario.
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// Global index.
    pub index: usize,
    /// Index of its group in the scenario.
    pub group: usize,
    /// Index within its group.
    pub member: usize,
    /// Its IP.
    pub ip: IpAddr,
    /// Its key.
    pub key: NodeKey,
    /// Zone index in the latency model.
    pub zone: usize,
    /// Network attachment.
    pub host: HostConfig,
    /// Its `[p2p]` config (seeds and persistent peers filled in).
    pub p2p: P2pConfig,
    /// Role.
    pub role: Role,
    /// Adversarial behaviour.
    pub adversary: Adversary,
    /// Start time.
    pub start_at: std::time::Duration,
}

impl NodePlan {
    /// `id@ip:port`.
    pub fn address(&self) -> NetAddress {
        NetAddress::new(self.key.node_id(), self.ip, P2P_PORT)
    }
}

/// Index ranges of each group: `ranges[g] = (first, count)`.
pub fn group_ranges(s: &Scenario) -> Vec<(usize, usize)> {
    let mut first = 0;
    s.groups
        .iter()
        .map(|g| {
            let r = (first, g.count);
            first += g.count;
            r
        })
        .collect()
}

/// The node indices a selector names (sorted).
pub fn select(s: &Scenario, sel: &Selector) -> Vec<usize> {
    let ranges = group_ranges(s);
    match sel {
        Selector::All => (0..s.node_count()).collect(),
        Selector::Group { group, range } => {
            let Some(g) = s.groups.iter().position(|x| &x.name == group) else {
                return Vec::new();
            };
            let (first, count) = ranges[g];
            let (a, b) = range.unwrap_or((0, count));
            (first + a.min(count)..first + b.min(count)).collect()
        }
    }
}

/// Every node of the scenario, in index order.
pub fn plan(s: &Scenario, seed: u64, model: &LatencyModel) -> Result<Vec<NodePlan>, String> {
    let ranges = group_ranges(s);
    let mut nodes = Vec::with_capacity(s.node_count());
    for (g, group) in s.groups.iter().enumerate() {
        let base = s.p2p_config(group)?;
        let subnet = match &group.subnet {
            Some(text) => Some(crate::scenario::adversary::Subnet::parse(text)?),
            None => None,
        };
        for member in 0..group.count {
            let index = ranges[g].0 + member;
            let zone = match group.zones.is_empty() {
                true => 0,
                false => model
                    .zone_index(&group.zones[member % group.zones.len()])
                    .unwrap_or(0),
            };
            let ip = match subnet {
                Some(net) => IpAddr::V4(net.host(member)),
                None => node_ip(index),
            };
            let mut p2p = base.clone();
            p2p.laddr = format!("tcp://{ip}:{P2P_PORT}");
            p2p.seed_mode = group.role == Role::Seed;
            nodes.push(NodePlan {
                index,
                group: g,
                member,
                ip,
                key: NodeKey::from_seed(derive(seed, "node-key", index as u64)),
                zone,
                host: HostConfig {
                    zone,
                    uplink: group.uplink.map(|b| b.0),
                    downlink: group.downlink.map(|b| b.0),
                    reachable: group.reachable,
                },
                p2p,
                role: group.role,
                adversary: group.adversary,
                start_at: group.start_at.0,
            });
        }
    }
    // Seeds and persistent peers by group name.
    let addrs: Vec<String> = nodes.iter().map(|n| n.address().to_string()).collect();
    let of_groups = |names: &[String], except: usize| -> String {
        let mut out = Vec::new();
        for name in names {
            if let Some(g) = s.groups.iter().position(|x| &x.name == name) {
                let (first, count) = ranges[g];
                out.extend(
                    (first..first + count)
                        .filter(|i| *i != except)
                        .map(|i| addrs[i].clone()),
                );
            }
        }
        out.join(",")
    };
    let seed_groups: Vec<String> = s
        .groups
        .iter()
        .filter(|g| g.role == Role::Seed)
        .map(|g| g.name.clone())
        .collect();
    for n in &mut nodes {
        let group = &s.groups[n.group];
        let seeds = group.seeds.clone().unwrap_or_else(|| seed_groups.clone());
        if !group.p2p.contains_key("seeds") && !s.p2p.contains_key("seeds") {
            n.p2p.seeds = of_groups(&seeds, n.index);
        }
        if !group.persistent_peers.is_empty() {
            n.p2p.persistent_peers = of_groups(&group.persistent_peers, n.index);
        }
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_distinct_and_spread() {
        let ips: std::collections::BTreeSet<_> = (0..20_000).map(node_ip).collect();
        assert_eq!(ips.len(), 20_000);
        assert_eq!(node_ip(0), IpAddr::V4(Ipv4Addr::new(100, 64, 0, 1)));
        assert_eq!(node_ip(1), IpAddr::V4(Ipv4Addr::new(100, 65, 0, 1)));
        assert_eq!(node_ip(64), IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)));
        let a = NetAddress::new(NodeKey::from_seed([1; 32]).node_id(), node_ip(5), 1);
        assert!(
            a.routable(),
            "shared address space counts as routable for the address book"
        );
    }

    #[test]
    fn seed_tree_is_stable_and_separates_purposes() {
        assert_eq!(derive(1, "node-key", 0), derive(1, "node-key", 0));
        assert_ne!(derive(1, "node-key", 0), derive(2, "node-key", 0));
        assert_ne!(derive(1, "node-key", 0), derive(1, "node-rng", 0));
        assert_ne!(derive(1, "node-key", 0), derive(1, "node-key", 1));
    }
}
