//! TCP whose outbound connections leave from the node's own loopback address.
//!
//! On Linux every address in `127.0.0.0/8` is local, but a socket that dials
//! `127.0.0.5` without binding gets the source address `127.0.0.1`. A local
//! testnet with one node per `127.0.0.x` would then see every inbound
//! connection come from `127.0.0.1`, and CometBFT's duplicate-IP guard
//! (`allow_duplicate_ip = false`) would refuse all but one of them. So when
//! both our listen address and the destination are loopback addresses, the
//! dial binds the source address to our listen IP first — a peer sees us at
//! the IP we advertise, as it would across real hosts. Every other dial is a
//! plain [`TcpNetwork`] dial.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};

use p2p::net::tcp::{TcpListener, TcpNetwork, TcpStream};
use p2p::net::Network;

/// [`TcpNetwork`] with loopback source binding (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct LoopbackBoundTcp {
    local: Option<IpAddr>,
}

impl LoopbackBoundTcp {
    /// Dials from `listen_ip` when it and the destination are loopback
    /// addresses (`127.0.0.1`, `::1` and unspecified addresses need no binding).
    pub fn new(listen_ip: IpAddr) -> Self {
        let bind = listen_ip.is_loopback()
            && listen_ip != IpAddr::from([127, 0, 0, 1])
            && listen_ip != IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
        LoopbackBoundTcp {
            local: bind.then_some(listen_ip),
        }
    }

    /// The source address dials to `dest` use, if one is forced.
    pub fn source_for(&self, dest: SocketAddr) -> Option<IpAddr> {
        self.local
            .filter(|l| dest.ip().is_loopback() && l.is_ipv4() == dest.is_ipv4())
    }
}

impl Network for LoopbackBoundTcp {
    type Stream = TcpStream;
    type Listener = TcpListener;

    #[allow(clippy::manual_async_fn)] // the future must not borrow `self`
    fn dial(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<TcpStream>> + Send + 'static {
        let source = self.source_for(addr);
        async move {
            let Some(ip) = source else {
                return TcpNetwork.dial(addr).await;
            };
            let socket = if ip.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(ip, 0))?;
            TcpStream::from_tokio(socket.connect(addr).await?)
        }
    }

    fn listen(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<TcpListener>> + Send + 'static {
        TcpNetwork.listen(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p::net::{Listener, Stream};

    #[test]
    fn binds_only_between_loopback_addresses() {
        let n = LoopbackBoundTcp::new("127.0.0.7".parse().unwrap());
        assert_eq!(
            n.source_for("127.0.0.2:1".parse().unwrap()),
            Some("127.0.0.7".parse().unwrap())
        );
        assert_eq!(n.source_for("10.0.0.1:1".parse().unwrap()), None);
        assert_eq!(n.source_for("[::1]:1".parse().unwrap()), None);
        for plain in ["127.0.0.1", "0.0.0.0", "10.1.2.3", "::1"] {
            let n = LoopbackBoundTcp::new(plain.parse().unwrap());
            assert_eq!(
                n.source_for("127.0.0.2:1".parse().unwrap()),
                None,
                "{plain}"
            );
        }
    }

    #[tokio::test]
    async fn the_peer_sees_our_listen_ip() {
        let net = LoopbackBoundTcp::new("127.0.0.9".parse().unwrap());
        let mut l = net.listen("127.0.0.4:0".parse().unwrap()).await.unwrap();
        let dest = l.local_addr();
        let (c, s) = tokio::join!(net.dial(dest), l.accept());
        let (c, s) = (c.unwrap(), s.unwrap());
        assert_eq!(c.local_addr().ip(), IpAddr::from([127, 0, 0, 9]));
        assert_eq!(s.peer_addr().ip(), IpAddr::from([127, 0, 0, 9]));
    }
}
