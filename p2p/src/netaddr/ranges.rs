//! Address classification (spec 1.9) and the address book's network group (spec 2.8),
//! as Go's `NetAddress.{Valid,Local,Routable,RFC*}` and `groupKeyFor`.
//!
//! Go's `IPNet.Contains` never matches an IPv4 address (including IPv4-mapped IPv6)
//! against an IPv6 range or the other way round; since [`NetAddress`] stores
//! IPv4-mapped addresses as IPv4, matching on the `IpAddr` variant gives the same
//! answers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::NetAddress;

/// `ip` lies in the IPv4 network `net/bits`.
fn in_v4(ip: IpAddr, net: [u8; 4], bits: u32) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(v4) & mask == u32::from_be_bytes(net) & mask
        }
        IpAddr::V6(_) => false,
    }
}

/// `ip` lies in the IPv6 network `net/bits`.
fn in_v6(ip: IpAddr, net: Ipv6Addr, bits: u32) -> bool {
    match ip {
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(v6) & mask == u128::from(net) & mask
        }
        IpAddr::V4(_) => false,
    }
}

/// Builds an IPv6 address from its eight 16-bit groups.
const fn v6(g: [u16; 8]) -> Ipv6Addr {
    Ipv6Addr::new(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
}

/// `a.b.0.0`: the /16 of an IPv4 address as Go's `IP.Mask(CIDRMask(16, 32)).String()`.
fn slash16(a: u8, b: u8) -> String {
    Ipv4Addr::new(a, b, 0, 0).to_string()
}

impl NetAddress {
    /// RFC 1918 private IPv4: 10/8, 172.16/12, 192.168/16.
    pub fn rfc1918(&self) -> bool {
        in_v4(self.ip, [10, 0, 0, 0], 8)
            || in_v4(self.ip, [192, 168, 0, 0], 16)
            || in_v4(self.ip, [172, 16, 0, 0], 12)
    }

    /// RFC 3849 IPv6 documentation: 2001:db8::/32.
    pub fn rfc3849(&self) -> bool {
        in_v6(self.ip, v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32)
    }

    /// RFC 3927 IPv4 link-local autoconfig: 169.254/16.
    pub fn rfc3927(&self) -> bool {
        in_v4(self.ip, [169, 254, 0, 0], 16)
    }

    /// RFC 3964 6to4: 2002::/16.
    pub fn rfc3964(&self) -> bool {
        in_v6(self.ip, v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16)
    }

    /// RFC 4193 unique local IPv6: fc00::/7.
    pub fn rfc4193(&self) -> bool {
        in_v6(self.ip, v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7)
    }

    /// RFC 4380 Teredo: 2001::/32.
    pub fn rfc4380(&self) -> bool {
        in_v6(self.ip, v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32)
    }

    /// RFC 4843 ORCHID: 2001:10::/28.
    pub fn rfc4843(&self) -> bool {
        in_v6(self.ip, v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0]), 28)
    }

    /// RFC 4862 IPv6 link-local autoconfig: fe80::/64.
    pub fn rfc4862(&self) -> bool {
        in_v6(self.ip, v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 64)
    }

    /// RFC 6052 IPv4-embedded IPv6 well-known prefix: 64:ff9b::/96.
    pub fn rfc6052(&self) -> bool {
        in_v6(self.ip, v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96)
    }

    /// RFC 6145 IPv4-translated IPv6: ::ffff:0:0:0/96.
    pub fn rfc6145(&self) -> bool {
        in_v6(self.ip, v6([0, 0, 0, 0, 0xffff, 0, 0, 0]), 96)
    }

    /// OnionCat (Tor) range: fd87:d87e:eb43::/48.
    pub fn onion_cat_tor(&self) -> bool {
        in_v6(self.ip, v6([0xfd87, 0xd87e, 0xeb43, 0, 0, 0, 0, 0]), 48)
    }

    /// Hurricane Electric's 2001:470::/32 (grouped by /36).
    pub fn hurricane_electric(&self) -> bool {
        in_v6(self.ip, v6([0x2001, 0x470, 0, 0, 0, 0, 0, 0]), 32)
    }

    /// Go's `Valid()` for the IP (the ID is valid by construction): not unspecified
    /// (0.0.0.0, ::), not RFC 3849, not 255.255.255.255.
    pub fn valid(&self) -> bool {
        !(self.ip.is_unspecified() || self.rfc3849() || self.ip == Ipv4Addr::BROADCAST)
    }

    /// Go's `Local()`: loopback (127/8, ::1) or 0.0.0.0/8.
    pub fn local(&self) -> bool {
        self.ip.is_loopback() || in_v4(self.ip, [0, 0, 0, 0], 8)
    }

    /// Go's `Routable()`: valid and in none of RFC 1918, 3927, 4862, 4193, 4843 and
    /// not local. (100.64/10, 198.18/15 etc. count as routable, as in Go.)
    pub fn routable(&self) -> bool {
        self.valid()
            && !(self.rfc1918()
                || self.rfc3927()
                || self.rfc4862()
                || self.rfc4193()
                || self.rfc4843()
                || self.local())
    }

    /// The address book's network group (Go's `groupKeyFor`; `strict` is
    /// `addr_book_strict`): `"local"`/`"unroutable"` in strict mode; the /16 of IPv4
    /// (`"1.2.0.0"`), of the embedded IPv4 for RFC 6145/6052, of bytes 2..4 for 6to4,
    /// of the inverted last 4 bytes for Teredo; `"tor:N"` for OnionCat; else the
    /// IPv6 /32 (/36 for Hurricane Electric) as text.
    pub fn group(&self, strict: bool) -> String {
        if strict && self.local() {
            return "local".to_owned();
        }
        if strict && !self.routable() {
            return "unroutable".to_owned();
        }
        let v6 = match self.ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                return slash16(o[0], o[1]);
            }
            IpAddr::V6(v6) => v6,
        };
        let o = v6.octets();
        if self.rfc6145() || self.rfc6052() {
            return slash16(o[12], o[13]);
        }
        if self.rfc3964() {
            return slash16(o[2], o[3]);
        }
        if self.rfc4380() {
            return slash16(o[12] ^ 0xff, o[13] ^ 0xff);
        }
        if self.onion_cat_tor() {
            return format!("tor:{}", o[6] & 0x0f);
        }
        let bits = if self.hurricane_electric() { 36 } else { 32 };
        let mask = u128::MAX << (128 - bits);
        // A /36 prefix can never be IPv4-mapped, so Rust's text equals Go's.
        Ipv6Addr::from(u128::from(v6) & mask).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::NodeId;

    fn addr(ip: &str) -> NetAddress {
        NetAddress::new(NodeId::from_bytes([0xab; 20]), ip.parse().unwrap(), 26656)
    }

    /// (predicate, inside, just outside) for every range.
    #[test]
    fn each_range_one_inside_one_just_outside() {
        type Pred = fn(&NetAddress) -> bool;
        let table: &[(&str, Pred, &str, &str)] = &[
            ("1918/10", NetAddress::rfc1918, "10.255.255.255", "11.0.0.0"),
            (
                "1918/10 low",
                NetAddress::rfc1918,
                "10.0.0.0",
                "9.255.255.255",
            ),
            (
                "1918/172",
                NetAddress::rfc1918,
                "172.31.255.255",
                "172.32.0.0",
            ),
            (
                "1918/172 low",
                NetAddress::rfc1918,
                "172.16.0.0",
                "172.15.255.255",
            ),
            (
                "1918/192",
                NetAddress::rfc1918,
                "192.168.255.1",
                "192.169.0.0",
            ),
            (
                "3849",
                NetAddress::rfc3849,
                "2001:db8:ffff::1",
                "2001:db9::",
            ),
            ("3927", NetAddress::rfc3927, "169.254.0.1", "169.255.0.0"),
            ("3964", NetAddress::rfc3964, "2002:ffff::1", "2003::"),
            ("4193", NetAddress::rfc4193, "fdff::1", "fe00::"),
            ("4193 low", NetAddress::rfc4193, "fc00::", "fbff:ffff::"),
            ("4380", NetAddress::rfc4380, "2001:0:ffff::1", "2001:1::"),
            ("4843", NetAddress::rfc4843, "2001:1f:ffff::", "2001:20::"),
            ("4843 low", NetAddress::rfc4843, "2001:10::", "2001:f::"),
            (
                "4862",
                NetAddress::rfc4862,
                "fe80::ffff:ffff:ffff:ffff",
                "fe80:0:0:1::",
            ),
            (
                "6052",
                NetAddress::rfc6052,
                "64:ff9b::1.2.3.4",
                "64:ff9b:0:0:0:1::",
            ),
            (
                "6145",
                NetAddress::rfc6145,
                "::ffff:0:1.2.3.4",
                "::fffe:0:1.2.3.4",
            ),
            (
                "tor",
                NetAddress::onion_cat_tor,
                "fd87:d87e:eb43:ffff::",
                "fd87:d87e:eb44::",
            ),
            (
                "he",
                NetAddress::hurricane_electric,
                "2001:470:ffff::",
                "2001:471::",
            ),
        ];
        for (name, pred, inside, outside) in table {
            assert!(pred(&addr(inside)), "{name}: {inside} should be inside");
            assert!(!pred(&addr(outside)), "{name}: {outside} should be outside");
        }
    }

    #[test]
    fn v4_mapped_is_treated_as_v4() {
        let a = addr("::ffff:10.1.2.3");
        assert!(a.rfc1918());
        assert!(!a.rfc6145());
        assert_eq!(a.group(false), "10.1.0.0");
        assert!(!addr("::ffff:0.0.0.0").valid());
        assert!(addr("::ffff:127.0.0.1").local());
    }

    #[test]
    fn valid_local_routable() {
        // (ip, valid, local, routable)
        let table = [
            ("1.2.3.4", true, false, true),
            ("0.0.0.0", false, true, false),
            ("0.1.2.3", true, true, false),
            ("::", false, false, false),
            ("255.255.255.255", false, false, false),
            ("255.255.255.254", true, false, true),
            ("2001:db8::1", false, false, false),
            ("127.0.0.1", true, true, false),
            ("127.255.0.1", true, true, false),
            ("::1", true, true, false),
            ("10.0.0.1", true, false, false),
            ("172.20.0.1", true, false, false),
            ("192.168.1.1", true, false, false),
            ("169.254.1.1", true, false, false),
            ("fe80::1", true, false, false),
            ("fe80:0:0:1::1", true, false, true),
            ("fd00::1", true, false, false),
            ("2001:10::1", true, false, false),
            ("100.64.0.1", true, false, true),
            ("198.18.0.1", true, false, true),
            ("2002:102:304::1", true, false, true),
            ("2001::1", true, false, true),
            ("2600:1f18::1", true, false, true),
        ];
        for (ip, valid, local, routable) in table {
            let a = addr(ip);
            assert_eq!(
                (a.valid(), a.local(), a.routable()),
                (valid, local, routable),
                "{ip}"
            );
        }
    }

    #[test]
    fn groups() {
        let table = [
            ("1.2.3.4", false, "1.2.0.0"),
            ("1.2.3.4", true, "1.2.0.0"),
            ("64:ff9b::5.6.7.8", false, "5.6.0.0"),
            ("::ffff:0:9.10.11.12", false, "9.10.0.0"),
            ("2002:0c0d:0e0f::1", false, "12.13.0.0"),
            // Teredo: last 4 bytes are the client IPv4 XOR 0xff.
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false, "192.0.0.0"),
            ("fd87:d87e:eb43:5a00::1", false, "tor:10"),
            ("fd87:d87e:eb43:ff00::", false, "tor:15"),
            ("2001:470:abcd:1234::1", false, "2001:470:a000::"),
            ("2600:1f18:1234::1", false, "2600:1f18::"),
            ("2a00:1450::1", true, "2a00:1450::"),
            // Strict mode: local first, then unroutable.
            ("127.0.0.1", true, "local"),
            ("::1", true, "local"),
            ("0.0.0.0", true, "local"),
            ("10.1.2.3", true, "unroutable"),
            ("10.1.2.3", false, "10.1.0.0"),
            ("fd87:d87e:eb43::", true, "unroutable"),
            ("2001:db8::1", true, "unroutable"),
            ("2001:db8::1", false, "2001:db8::"),
            ("fe80::1", false, "fe80::"),
        ];
        for (ip, strict, want) in table {
            assert_eq!(addr(ip).group(strict), want, "{ip} strict={strict}");
        }
    }
}
