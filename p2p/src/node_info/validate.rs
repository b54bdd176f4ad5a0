//! Go's `DefaultNodeInfo.Validate` (spec 2.2): the shape checks on a NodeInfo,
//! in Go's order. `network` is left to [`NodeInfo::compatible_with`].

use super::{NodeInfo, NodeInfoInvalid, MAX_NUM_CHANNELS};
use crate::key::truncate;
use crate::netaddr::NetAddressError;

/// Go's `IsASCIIText(s) && ASCIITrim(s) != ""`: non-empty, every byte in 32..=126,
/// not only spaces (so tabs and newlines are rejected).
fn printable_not_blank(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (32..=126).contains(&b)) && s.bytes().any(|b| b != b' ')
}

impl NodeInfo {
    /// Go's `Validate`, in its order: `id@listen_addr` parses as an address (a
    /// hostname is accepted without a DNS lookup, where Go would look it up);
    /// `version` empty or printable ASCII; at most 16 channels without duplicates;
    /// `moniker` printable ASCII and not blank; `tx_index` in `""`/`on`/`off`;
    /// `rpc_address` empty or printable ASCII.
    pub fn validate(&self) -> Result<(), NodeInfoInvalid> {
        match self.net_address() {
            Ok(_) | Err(NetAddressError::Hostname(_)) => {}
            Err(e) => return Err(NodeInfoInvalid::ListenAddr(e)),
        }
        if !self.version.is_empty() && !printable_not_blank(&self.version) {
            return Err(NodeInfoInvalid::Version {
                version: truncate(&self.version),
            });
        }
        if self.channels.len() > MAX_NUM_CHANNELS {
            return Err(NodeInfoInvalid::TooManyChannels {
                count: self.channels.len(),
            });
        }
        let mut seen = [false; 256];
        for &ch in &self.channels {
            let slot = &mut seen[usize::from(ch)];
            if *slot {
                return Err(NodeInfoInvalid::DuplicateChannel { channel: ch });
            }
            *slot = true;
        }
        if !printable_not_blank(&self.moniker) {
            return Err(NodeInfoInvalid::Moniker {
                moniker: truncate(&self.moniker),
            });
        }
        if !matches!(self.other.tx_index.as_str(), "" | "on" | "off") {
            return Err(NodeInfoInvalid::TxIndex {
                tx_index: truncate(&self.other.tx_index),
            });
        }
        let rpc = &self.other.rpc_address;
        if !rpc.is_empty() && !printable_not_blank(rpc) {
            return Err(NodeInfoInvalid::RpcAddress {
                rpc_address: truncate(rpc),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::NodeId;
    use crate::netaddr::NetAddressError;

    fn good() -> NodeInfo {
        NodeInfo::builder(NodeId::from_bytes([7; 20]), "test-chain", "node-a").build()
    }

    fn invalid(f: impl FnOnce(&mut NodeInfo)) -> NodeInfoInvalid {
        let mut info = good();
        f(&mut info);
        info.validate().unwrap_err()
    }

    #[test]
    fn defaults_are_valid_and_edge_cases_pass() {
        good().validate().unwrap();
        let mut info = good();
        info.version = String::new();
        info.other.tx_index = String::new();
        info.other.rpc_address = String::new();
        info.channels = (0..16).collect();
        info.moniker = " ~x ".into();
        info.listen_addr = "0.0.0.0:26656".into();
        info.validate().unwrap();
        for ok in ["off", "on"] {
            info.other.tx_index = ok.into();
            info.validate().unwrap();
        }
        // Hostnames are syntactically fine; no lookup happens.
        info.listen_addr = "tcp://node.example.com:26656".into();
        info.validate().unwrap();
        info.listen_addr = "[::]:26656".into();
        info.validate().unwrap();
    }

    #[test]
    fn listen_addr_failures() {
        assert!(matches!(
            invalid(|i| i.listen_addr = "tcp://0.0.0.0".into()),
            NodeInfoInvalid::ListenAddr(NetAddressError::BadHostPort { .. })
        ));
        assert!(matches!(
            invalid(|i| i.listen_addr = String::new()),
            NodeInfoInvalid::ListenAddr(NetAddressError::BadHostPort { .. })
        ));
        assert!(matches!(
            invalid(|i| i.listen_addr = "tcp://:26656".into()),
            NodeInfoInvalid::ListenAddr(NetAddressError::EmptyHost { .. })
        ));
        assert!(matches!(
            invalid(|i| i.listen_addr = "1.2.3.4:99999".into()),
            NodeInfoInvalid::ListenAddr(NetAddressError::InvalidPort { .. })
        ));
        assert!(matches!(
            invalid(|i| i.listen_addr = "host.example:x".into()),
            NodeInfoInvalid::ListenAddr(NetAddressError::InvalidPort { .. })
        ));
        // An '@' in listen_addr makes two '@' in "id@listen_addr".
        assert!(matches!(
            invalid(|i| i.listen_addr = "x@1.2.3.4:1".into()),
            NodeInfoInvalid::ListenAddr(NetAddressError::NoId { .. })
        ));
    }

    #[test]
    fn each_field_failure() {
        for bad in ["   ", "0.38\t", "v\u{e9}"] {
            assert_eq!(
                invalid(|i| i.version = bad.into()),
                NodeInfoInvalid::Version {
                    version: bad.into()
                }
            );
        }
        assert_eq!(
            invalid(|i| i.channels = (0..17).collect()),
            NodeInfoInvalid::TooManyChannels { count: 17 }
        );
        assert_eq!(
            invalid(|i| i.channels = vec![0x40, 0x20, 0x40]),
            NodeInfoInvalid::DuplicateChannel { channel: 0x40 }
        );
        for bad in ["", " ", "a\tb", "\u{e9}t\u{e9}", "a\nb"] {
            assert_eq!(
                invalid(|i| i.moniker = bad.into()),
                NodeInfoInvalid::Moniker {
                    moniker: bad.into()
                }
            );
        }
        for bad in ["ON", "kv", " on", "null"] {
            assert_eq!(
                invalid(|i| i.other.tx_index = bad.into()),
                NodeInfoInvalid::TxIndex {
                    tx_index: bad.into()
                }
            );
        }
        for bad in ["  ", "tcp://\u{7f}"] {
            assert_eq!(
                invalid(|i| i.other.rpc_address = bad.into()),
                NodeInfoInvalid::RpcAddress {
                    rpc_address: bad.into()
                }
            );
        }
    }

    #[test]
    fn checks_run_in_go_order() {
        // Both the channel count and the moniker are wrong: channels are checked first.
        let e = invalid(|i| {
            i.channels = (0..20).collect();
            i.moniker = String::new();
            i.listen_addr = "ok.example:1".into();
        });
        assert_eq!(e, NodeInfoInvalid::TooManyChannels { count: 20 });
        let e = invalid(|i| {
            i.listen_addr = "bad".into();
            i.version = " ".into();
        });
        assert!(matches!(e, NodeInfoInvalid::ListenAddr(_)));
    }
}
