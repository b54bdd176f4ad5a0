//! Go `time.Duration` text: parsing (`time.ParseDuration` syntax) and printing
//! (`Duration.String()` form), so config files round-trip with CometBFT.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A non-negative duration written the way Go writes it (`"100ms"`, `"1m30s"`, `"0s"`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not Go duration syntax.
    #[error("invalid duration {0:?} (examples: \"100ms\", \"3s\", \"1m30s\")")]
    Syntax(String),
    /// A leading minus sign: negative durations are not allowed here.
    #[error("duration {0:?} can't be negative")]
    Negative(String),
    /// More than about 292 years.
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

impl FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || DurationError::Syntax(crate::key::truncate(text));
        let mut s = text;
        if let Some(rest) = s.strip_prefix('-') {
            if rest
                .trim_start_matches(['0', '.'])
                .chars()
                .any(|c| c.is_ascii_digit() && c != '0')
            {
                return Err(DurationError::Negative(crate::key::truncate(text)));
            }
            s = rest;
        } else if let Some(rest) = s.strip_prefix('+') {
            s = rest;
        }
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err(syntax());
        }
        let mut total: u128 = 0;
        while !s.is_empty() {
            let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (int_part, rest) = s.split_at(int_end);
            let (frac_part, rest) = match rest.strip_prefix('.') {
                Some(r) => {
                    let e = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                    r.split_at(e)
                }
                None => ("", rest),
            };
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(syntax());
            }
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let (unit, rest) = rest.split_at(unit_end);
            let scale = unit_nanos(unit).ok_or_else(syntax)?;
            let overflow = || DurationError::Overflow(crate::key::truncate(text));
            let int: u128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| overflow())?
            };
            let mut value = int.checked_mul(scale).ok_or_else(overflow)?;
            let mut frac_scale = scale;
            for d in frac_part.bytes().take(20) {
                frac_scale /= 10;
                value += u128::from(d - b'0') * frac_scale;
            }
            total = total.checked_add(value).ok_or_else(overflow)?;
            if total > i64::MAX as u128 {
                return Err(overflow());
            }
            s = rest;
        }
        Ok(GoDuration(Duration::from_nanos(total as u64)))
    }
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String()`: `"0s"`, `"1.5µs"`, `"100ms"`, `"1m30s"`, `"2h0m0s"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns == 0 {
            return f.write_str("0s");
        }
        let frac = |v: u128, div: u128| -> String {
            let whole = v / div;
            let rest = v % div;
            if rest == 0 {
                return whole.to_string();
            }
            let width = div.to_string().len() - 1;
            let digits = format!("{rest:0width$}");
            format!("{whole}.{}", digits.trim_end_matches('0'))
        };
        if ns < 1_000 {
            return write!(f, "{ns}ns");
        }
        if ns < 1_000_000 {
            return write!(f, "{}µs", frac(ns, 1_000));
        }
        if ns < 1_000_000_000 {
            return write!(f, "{}ms", frac(ns, 1_000_000));
        }
        let secs_ns = ns % 60_000_000_000;
        let mins = ns / 60_000_000_000;
        let secs = frac(secs_ns, 1_000_000_000);
        if mins == 0 {
            return write!(f, "{secs}s");
        }
        let (h, m) = (mins / 60, mins % 60);
        if h == 0 {
            write!(f, "{m}m{secs}s")
        } else {
            write!(f, "{h}h{m}m{secs}s")
        }
    }
}

impl serde::Serialize for GoDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Duration, DurationError> {
        s.parse::<GoDuration>().map(|d| d.0)
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(p("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(p("0s"), Ok(Duration::ZERO));
        assert_eq!(p("0"), Ok(Duration::ZERO));
        assert_eq!(p("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(p("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(p(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(p("2h45m"), Ok(Duration::from_secs(2 * 3600 + 45 * 60)));
        assert_eq!(p("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(p("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(p("-0s"), Ok(Duration::ZERO));
        assert!(matches!(p("-1s"), Err(DurationError::Negative(_))));
        for bad in ["", "s", "100", "1x", "1.s.", "ms100", " 1s"] {
            assert!(matches!(p(bad), Err(DurationError::Syntax(_))), "{bad}");
        }
        assert!(matches!(p("9999999999h"), Err(DurationError::Overflow(_))));
    }

    #[test]
    fn prints_like_go() {
        let s = |d: Duration| GoDuration(d).to_string();
        assert_eq!(s(Duration::ZERO), "0s");
        assert_eq!(s(Duration::from_millis(100)), "100ms");
        assert_eq!(s(Duration::from_millis(10)), "10ms");
        assert_eq!(s(Duration::from_secs(3)), "3s");
        assert_eq!(s(Duration::from_secs(20)), "20s");
        assert_eq!(s(Duration::from_secs(90)), "1m30s");
        assert_eq!(s(Duration::from_secs(120)), "2m0s");
        assert_eq!(s(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(s(Duration::from_millis(1500)), "1.5s");
        assert_eq!(s(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(s(Duration::from_nanos(7)), "7ns");
        for d in [
            Duration::from_millis(1234),
            Duration::from_secs(86_400 * 3 + 7),
        ] {
            assert_eq!(p(&s(d)), Ok(d));
        }
    }
}
