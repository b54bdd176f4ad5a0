//! The string-level pieces of address parsing, with Go's exact rules: scheme
//! stripping (`removeProtocolIfDefined`), `net.SplitHostPort`,
//! `strconv.ParseUint(port, 10, 16)` and IP literals.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// Go's `removeProtocolIfDefined`: the text between the first `://` and the next
/// one (or the end); the input unchanged if it has no `://`.
pub(crate) fn strip_scheme(s: &str) -> &str {
    match s.split_once("://") {
        Some((_, rest)) => rest.split("://").next().unwrap_or(rest),
        None => s,
    }
}

/// Go's `net.SplitHostPort`: same rules, same error texts.
pub(crate) fn split_host_port(hp: &str) -> Result<(&str, &str), &'static str> {
    const MISSING_PORT: &str = "missing port in address";
    const TOO_MANY_COLONS: &str = "too many colons in address";
    // The port starts after the last colon.
    let Some(i) = hp.rfind(':') else {
        return Err(MISSING_PORT);
    };
    let (host, j, k);
    if hp.starts_with('[') {
        // The first ']' must sit just before the last ':'.
        let Some(end) = hp.find(']') else {
            return Err("missing ']' in address");
        };
        if end + 1 == hp.len() {
            return Err(MISSING_PORT);
        }
        if end + 1 != i {
            return Err(if hp[end + 1..].starts_with(':') {
                TOO_MANY_COLONS
            } else {
                MISSING_PORT
            });
        }
        host = &hp[1..end];
        (j, k) = (1, end + 1);
    } else {
        host = &hp[..i];
        if host.contains(':') {
            return Err(TOO_MANY_COLONS);
        }
        (j, k) = (0, 0);
    }
    if hp[j..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hp[k..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host, &hp[i + 1..]))
}

/// Go's `strconv.ParseUint(s, 10, 16)`: ASCII digits only (no sign, leading zeros
/// allowed), at most 65535.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An IP literal as Go accepts it without DNS: `net.ParseIP` (dotted quad without
/// leading zeros, IPv6 text), plus an IPv6 literal with a non-empty `%zone`, which
/// Go's resolver returns without a query (the zone is then dropped).
pub(crate) fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(host) {
        return Some(ip);
    }
    let (addr, zone) = host.split_once('%')?;
    if zone.is_empty() {
        return None;
    }
    Ipv6Addr::from_str(addr).ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_scheme_like_go() {
        assert_eq!(strip_scheme("tcp://1.2.3.4:5"), "1.2.3.4:5");
        assert_eq!(strip_scheme("udp://x"), "x");
        assert_eq!(strip_scheme("1.2.3.4:5"), "1.2.3.4:5");
        // strings.Split(s, "://")[1]: only the second piece survives.
        assert_eq!(strip_scheme("a://b://c"), "b");
        assert_eq!(strip_scheme("://"), "");
    }

    #[test]
    fn split_host_port_like_go() {
        assert_eq!(split_host_port("1.2.3.4:80"), Ok(("1.2.3.4", "80")));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", "80")));
        assert_eq!(split_host_port("host:"), Ok(("host", "")));
        assert_eq!(split_host_port(":80"), Ok(("", "80")));
        assert_eq!(split_host_port("[]:80"), Ok(("", "80")));
        assert_eq!(split_host_port(""), Err("missing port in address"));
        assert_eq!(split_host_port("1.2.3.4"), Err("missing port in address"));
        assert_eq!(split_host_port("::1:80"), Err("too many colons in address"));
        assert_eq!(split_host_port("[::1]"), Err("missing port in address"));
        assert_eq!(split_host_port("[::1]x:80"), Err("missing port in address"));
        assert_eq!(
            split_host_port("[::1]:8:0"),
            Err("too many colons in address")
        );
        assert_eq!(split_host_port("[::1:80"), Err("missing ']' in address"));
        assert_eq!(split_host_port("a[b:80"), Err("unexpected '[' in address"));
        assert_eq!(split_host_port("ab]:80"), Err("unexpected ']' in address"));
        assert_eq!(
            split_host_port("[a[b]:80"),
            Err("unexpected '[' in address")
        );
    }

    #[test]
    fn port_like_parse_uint() {
        assert_eq!(parse_port("26656"), Some(26656));
        assert_eq!(parse_port("0080"), Some(80));
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("+80"), None);
        assert_eq!(parse_port("-1"), None);
        assert_eq!(parse_port(""), None);
        assert_eq!(parse_port("8 0"), None);
    }

    #[test]
    fn ip_literals() {
        assert_eq!(
            parse_ip_literal("1.2.3.4"),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse_ip_literal("01.2.3.4"), None);
        assert_eq!(
            parse_ip_literal("fe80::1%eth0"),
            Some("fe80::1".parse().unwrap())
        );
        assert_eq!(parse_ip_literal("fe80::1%"), None);
        assert_eq!(parse_ip_literal("1.2.3.4%eth0"), None);
        assert_eq!(parse_ip_literal("example.com"), None);
    }
}
