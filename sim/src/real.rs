//! Real nodes over TCP: the pieces `cometnet node`, `testnet` and `crawl` share.
//!
//! - [`home`]: the node home directory (`config/config.toml`, `config/node_key.json`,
//!   `config/cometnet.toml` with the chain ID) and `node init`.
//! - [`store`]: `addrbook.json` as a [`p2p::pex::reactor::BookStore`] (atomic saves).
//! - [`net`]: TCP whose outbound connections leave from the node's own loopback
//!   address, so a local testnet on `127.0.0.x` looks like distinct hosts.
//! - [`metrics`]: CometBFT's p2p Prometheus metrics and a tiny HTTP responder.
//! - [`crawl`]: the network map recorder behind `cometnet crawl`.
//!
//! This module is where the wall clock and DNS enter: [`wall_clock`] maps the
//! runtime's epoch to Unix time once, [`dns_resolver`] resolves seed and peer
//! host names.

pub mod crawl;
pub mod home;
pub mod metrics;
pub mod net;
pub mod store;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use p2p::net::tcp::TokioRuntime;
use p2p::net::Runtime;
use p2p::node::Resolver;
use p2p::pex::addrbook_file::WallClock;

/// The wall-clock time of `rt`'s epoch, read once (`addrbook.json` stores wall times).
#[allow(clippy::disallowed_methods)] // allow-ambient: real nodes map their runtime epoch to Unix time once, at startup
pub fn wall_clock(rt: &TokioRuntime) -> WallClock {
    let unix_now = std::time::SystemTime::now() // allow-ambient: see above
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let since_epoch = rt.now().since_epoch().as_nanos() as i128;
    WallClock {
        epoch_unix_nanos: unix_now - since_epoch,
    }
}

/// Unix seconds now (for report headers).
#[allow(clippy::disallowed_methods)] // allow-ambient: a report header's start time
pub fn unix_now_nanos() -> i128 {
    std::time::SystemTime::now() // allow-ambient: see above
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Resolves host names with the operating system's resolver (blocking; used
/// once per seed or persistent peer at startup).
pub fn dns_resolver() -> Resolver {
    Arc::new(|host: &str| {
        let addrs = (host, 0u16)
            .to_socket_addrs()
            .map_err(|e| format!("lookup {host}: {e}"))?;
        let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
        if ips.is_empty() {
            return Err(format!("lookup {host}: no addresses"));
        }
        Ok(ips)
    })
}

/// Parses a listen address as CometBFT writes it: `tcp://IP:PORT` (the scheme
/// is optional; only `tcp` is accepted, the host must be an IP literal).
pub fn parse_laddr(s: &str) -> Result<SocketAddr, String> {
    let rest = match s.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!("{s:?}: only tcp:// is supported, not {scheme}://"))
        }
        None => s,
    };
    rest.parse::<SocketAddr>()
        .map_err(|_| format!("{s:?} is not tcp://IP:PORT (e.g. tcp://0.0.0.0:26656)"))
}

/// A free TCP port on `ip` right now (to know, before binding, the port a
/// `:0` listen address will get, so that it can be advertised).
pub fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

/// Parses a metrics listen address: `IP:PORT`, `:PORT` (all interfaces, as
/// CometBFT's `prometheus_listen_addr = ":26660"`), optionally with `tcp://`.
pub fn parse_metrics_addr(s: &str) -> Result<SocketAddr, String> {
    let rest = s.strip_prefix("tcp://").unwrap_or(s);
    let full = if rest.starts_with(':') {
        format!("0.0.0.0{rest}")
    } else {
        rest.to_owned()
    };
    full.parse::<SocketAddr>()
        .map_err(|_| format!("{s:?} is not IP:PORT or :PORT (e.g. 127.0.0.1:26660)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laddr_forms() {
        assert_eq!(
            parse_laddr("tcp://127.0.0.3:26656").unwrap(),
            "127.0.0.3:26656".parse().unwrap()
        );
        assert_eq!(parse_laddr("[::1]:5").unwrap(), "[::1]:5".parse().unwrap());
        assert!(parse_laddr("udp://1.2.3.4:5")
            .unwrap_err()
            .contains("only tcp"));
        assert!(parse_laddr("tcp://localhost:5").is_err());
        assert!(parse_laddr("tcp://1.2.3.4").is_err());
    }

    #[test]
    fn metrics_addr_forms() {
        assert_eq!(
            parse_metrics_addr(":26660").unwrap(),
            "0.0.0.0:26660".parse().unwrap()
        );
        assert_eq!(
            parse_metrics_addr("tcp://127.0.0.1:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert!(parse_metrics_addr("26660").is_err());
    }

    #[test]
    fn resolver_handles_literals_and_failures() {
        let r = dns_resolver();
        assert_eq!(r("127.0.0.1").unwrap(), vec![IpAddr::from([127, 0, 0, 1])]);
        assert!(r("no-such-host.invalid").is_err());
    }
}
