//! Value types of scenario files: bandwidths and node selectors.

use std::fmt;
use std::str::FromStr;

/// A bandwidth in bytes per second, written as an integer (bytes/s) or a
/// string with a unit: `"100Mbit/s"`, `"12.5MB/s"`, `"1Gbps"`, `"512KiB/s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bandwidth(pub u64);

impl FromStr for Bandwidth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num.parse().map_err(|_| {
            format!("bandwidth {s:?}: expected a number and a unit like \"100Mbit/s\"")
        })?;
        let unit = unit.trim();
        let factor = match unit {
            "" | "B/s" | "Bps" => 1.0,
            "KB/s" | "kB/s" => 1e3,
            "MB/s" => 1e6,
            "GB/s" => 1e9,
            "KiB/s" => 1024.0,
            "MiB/s" => 1024.0 * 1024.0,
            "GiB/s" => 1024.0 * 1024.0 * 1024.0,
            "bit/s" | "bps" => 1.0 / 8.0,
            "kbit/s" | "Kbit/s" | "kbps" | "Kbps" => 1e3 / 8.0,
            "Mbit/s" | "Mbps" => 1e6 / 8.0,
            "Gbit/s" | "Gbps" => 1e9 / 8.0,
            other => return Err(format!("bandwidth {s:?}: unknown unit {other:?} (use B/s, KB/s, MB/s, KiB/s, MiB/s, kbit/s, Mbit/s, Gbit/s)")),
        };
        let bytes = value * factor;
        if !bytes.is_finite() || !(1.0..=1e15).contains(&bytes) {
            return Err(format!("bandwidth {s:?} is out of range (1 B/s to 1 PB/s)"));
        }
        Ok(Bandwidth(bytes.round() as u64))
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64 * 8.0;
        if b >= 1e9 {
            write!(f, "{}Gbit/s", trim(b / 1e9))
        } else if b >= 1e6 {
            write!(f, "{}Mbit/s", trim(b / 1e6))
        } else if b >= 1e3 {
            write!(f, "{}kbit/s", trim(b / 1e3))
        } else {
            write!(f, "{}B/s", self.0)
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl<'de> serde::Deserialize<'de> for Bandwidth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(0) => Err(serde::de::Error::custom("bandwidth must be at least 1 B/s")),
            Raw::Int(n) => Ok(Bandwidth(n)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl serde::Serialize for Bandwidth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// Which nodes an event or assertion applies to: `"*"` (all), `"group"`,
/// `"group[3]"` (one node, 0-based) or `"group[2..5]"` (half-open range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every node.
    All,
    /// Nodes `range` of `group` (all of it when `None`).
    Group {
        /// Group name.
        group: String,
        /// Index range within the group.
        range: Option<(usize, usize)>,
    },
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "*" {
            return Ok(Selector::All);
        }
        let bad = || {
            format!("node selector {s:?}: use \"*\", \"group\", \"group[3]\" or \"group[0..10]\"")
        };
        let Some((name, rest)) = s.split_once('[') else {
            if s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad());
            }
            return Ok(Selector::Group {
                group: s.to_owned(),
                range: None,
            });
        };
        let inner = rest.strip_suffix(']').ok_or_else(bad)?;
        let range = match inner.split_once("..") {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a >= b {
                    return Err(format!("node selector {s:?}: empty range"));
                }
                (a, b)
            }
            None => {
                let i: usize = inner.trim().parse().map_err(|_| bad())?;
                (i, i + 1)
            }
        };
        Ok(Selector::Group {
            group: name.trim().to_owned(),
            range: Some(range),
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::All => f.write_str("*"),
            Selector::Group { group, range: None } => f.write_str(group),
            Selector::Group {
                group,
                range: Some((a, b)),
            } if b - a == 1 => write!(f, "{group}[{a}]"),
            Selector::Group {
                group,
                range: Some((a, b)),
            } => write!(f, "{group}[{a}..{b}]"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_units() {
        let b = |s: &str| s.parse::<Bandwidth>().map(|b| b.0);
        assert_eq!(b("100Mbit/s"), Ok(12_500_000));
        assert_eq!(b("12.5MB/s"), Ok(12_500_000));
        assert_eq!(b("1Gbps"), Ok(125_000_000));
        assert_eq!(b("512KiB/s"), Ok(524_288));
        assert_eq!(b("5120000"), Ok(5_120_000));
        assert!(b("fast").is_err());
        assert!(b("10 furlongs").is_err());
        assert!(b("0B/s").is_err());
        assert_eq!(Bandwidth(12_500_000).to_string(), "100Mbit/s");
    }

    #[test]
    fn selectors() {
        let p = |s: &str| s.parse::<Selector>();
        assert_eq!(p("*"), Ok(Selector::All));
        assert_eq!(
            p("full"),
            Ok(Selector::Group {
                group: "full".into(),
                range: None
            })
        );
        assert_eq!(
            p("full[3]"),
            Ok(Selector::Group {
                group: "full".into(),
                range: Some((3, 4))
            })
        );
        assert_eq!(
            p("full[0..10]"),
            Ok(Selector::Group {
                group: "full".into(),
                range: Some((0, 10))
            })
        );
        for bad in ["", "full[", "full[a]", "full[5..5]", "a b"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(p("full[2..4]").unwrap().to_string(), "full[2..4]");
    }
}
