//! Checks of the adversarial parts of a scenario (`adversary`, `subnet`,
//! `watch`) and the parsing of a group's `subnet`.

use std::net::Ipv4Addr;

use super::{Adversary, Role, Scenario, ScenarioError, Selector};

/// The range of node addresses [`crate::run::plan::node_ip`] hands out by
/// default (100.64.0.0/10); a `subnet` must stay outside it.
const DEFAULT_RANGE: Subnet = Subnet {
    base: u32::from_be_bytes([100, 64, 0, 0]),
    prefix: 10,
};

/// An IPv4 network `base/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// The network address (host bits zero).
    pub base: u32,
    /// Prefix length (8..=24).
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/p` with 8 ≤ p ≤ 24 and zero host bits.
    pub fn parse(text: &str) -> Result<Subnet, String> {
        let (ip, len) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not of the form a.b.c.d/prefix"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| (8..=24).contains(p))
            .ok_or_else(|| format!("prefix {len:?} must be between 8 and 24"))?;
        let base = u32::from(ip);
        if base & !Self::mask(prefix) != 0 {
            return Err(format!("{text:?} has host bits set"));
        }
        Ok(Subnet { base, prefix })
    }

    fn mask(prefix: u8) -> u32 {
        u32::MAX << (32 - u32::from(prefix))
    }

    /// Usable host addresses (all but the network and broadcast ones).
    pub fn hosts(&self) -> usize {
        (1usize << (32 - usize::from(self.prefix))) - 2
    }

    /// The `n`-th host address (0-based; `n < hosts()`).
    pub fn host(&self, n: usize) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(n as u32 + 1))
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.prefix) == self.base
    }

    fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        self.base & Self::mask(p) == other.base & Self::mask(p)
    }
}

/// Validates adversary groups, subnets and `watch` (called by
/// `Scenario::validate` after the generic checks).
pub(super) fn validate(
    s: &Scenario,
    check_sel: &dyn Fn(String, &Selector) -> Result<(), ScenarioError>,
    bad: &dyn Fn(String, String) -> ScenarioError,
) -> Result<(), ScenarioError> {
    let mut nets: Vec<(usize, Subnet)> = Vec::new();
    for (i, g) in s.groups.iter().enumerate() {
        let f = |x: &str| format!("group[{i}].{x}");
        if g.adversary != Adversary::None && g.role == Role::Seed {
            return Err(bad(
                f("adversary"),
                "an adversarial group cannot have role = \"seed\"".into(),
            ));
        }
        if g.adversary == Adversary::Flooder && s.gossip.is_empty() {
            return Err(bad(
                f("adversary"),
                "a flooder floods the gossip channel: add a [[gossip]] workload".into(),
            ));
        }
        if let Some(text) = &g.subnet {
            let net = Subnet::parse(text).map_err(|m| bad(f("subnet"), m))?;
            if net.hosts() < g.count {
                return Err(bad(
                    f("subnet"),
                    format!(
                        "{text} has {} host addresses for {} nodes",
                        net.hosts(),
                        g.count
                    ),
                ));
            }
            if net.overlaps(&DEFAULT_RANGE) {
                return Err(bad(
                    f("subnet"),
                    format!("{text} overlaps 100.64.0.0/10, where the other nodes live"),
                ));
            }
            if let Some((j, _)) = nets.iter().find(|(_, n)| n.overlaps(&net)) {
                return Err(bad(
                    f("subnet"),
                    format!("{text} overlaps group[{j}].subnet"),
                ));
            }
            nets.push((i, net));
        }
    }
    if let Some(w) = &s.watch {
        check_sel("watch".into(), w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_hand_out_hosts() {
        let n = Subnet::parse("45.77.0.0/16").unwrap();
        assert_eq!(n.hosts(), 65_534);
        assert_eq!(n.host(0), Ipv4Addr::new(45, 77, 0, 1));
        assert_eq!(n.host(300), Ipv4Addr::new(45, 77, 1, 45));
        assert!(n.contains(Ipv4Addr::new(45, 77, 200, 3)));
        assert!(!n.contains(Ipv4Addr::new(45, 78, 0, 1)));
        assert_eq!(
            Subnet::parse("45.77.0.1/16").unwrap_err(),
            "\"45.77.0.1/16\" has host bits set"
        );
        assert_eq!(
            Subnet::parse("45.77.0.0/30").unwrap_err(),
            "prefix \"30\" must be between 8 and 24"
        );
        assert!(n.overlaps(&Subnet::parse("45.0.0.0/8").unwrap()));
        assert!(!n.overlaps(&DEFAULT_RANGE));
    }
}
