//! The latency model: named zones, a one-way delay matrix between them, and
//! seeded jitter (CometBFT e2e semantics: normal jitter with standard
//! deviation `delay / 20`, at least 1 ms, per direction).
//!
//! The built-in model `aws` is `shared/vectors/aws-latencies.csv` (13 AWS
//! regions, milliseconds), compiled in.

use std::time::Duration;

use rand_core::RngCore;

/// The AWS inter-region matrix used by CometBFT's e2e tests (ms, one way).
pub const AWS_LATENCIES_CSV: &str = include_str!("../data/aws-latencies.csv");

/// Zones and one-way delays between them.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyModel {
    zones: Vec<String>,
    /// `delay_ms[from][to]`.
    delay_ms: Vec<Vec<f64>>,
    /// Jitter standard deviation as a fraction of the delay (CometBFT: 1/20).
    jitter_fraction: f64,
}

/// A latency matrix could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LatencyError {
    /// Malformed CSV or matrix.
    #[error("latency matrix line {line}: {reason}")]
    Format {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl LatencyModel {
    /// A model from zone names and a square matrix of one-way delays in ms.
    pub fn new(zones: Vec<String>, delay_ms: Vec<Vec<f64>>) -> Result<Self, LatencyError> {
        let bad = |line, reason: String| LatencyError::Format { line, reason };
        if zones.is_empty() {
            return Err(bad(1, "no zones".into()));
        }
        if delay_ms.len() != zones.len() {
            return Err(bad(
                1,
                format!("{} zones but {} rows", zones.len(), delay_ms.len()),
            ));
        }
        for (i, row) in delay_ms.iter().enumerate() {
            if row.len() != zones.len() {
                return Err(bad(
                    i + 2,
                    format!("row has {} values, want {}", row.len(), zones.len()),
                ));
            }
            if let Some(v) = row.iter().find(|v| !v.is_finite() || **v < 0.0) {
                return Err(bad(
                    i + 2,
                    format!("delay {v} is not a non-negative number"),
                ));
            }
        }
        Ok(LatencyModel {
            zones,
            delay_ms,
            jitter_fraction: 1.0 / 20.0,
        })
    }

    /// One zone, no delay: for unit tests.
    pub fn single(zone: &str, delay: Duration) -> Self {
        LatencyModel {
            zones: vec![zone.to_owned()],
            delay_ms: vec![vec![delay.as_secs_f64() * 1000.0]],
            jitter_fraction: 0.0,
        }
    }

    /// Parses CometBFT's CSV format (`From/to,zone,...` header; `#` starts a comment).
    pub fn from_csv(text: &str) -> Result<Self, LatencyError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
            .filter(|(_, l)| !l.is_empty());
        let (_, header) = lines.next().ok_or(LatencyError::Format {
            line: 1,
            reason: "empty".into(),
        })?;
        let zones: Vec<String> = header
            .split(',')
            .skip(1)
            .map(|z| z.trim().to_owned())
            .collect();
        let mut rows = Vec::new();
        for (n, line) in lines {
            let mut cells = line.split(',');
            let name = cells.next().unwrap_or("").trim();
            if zones.get(rows.len()).map(String::as_str) != Some(name) {
                return Err(LatencyError::Format {
                    line: n,
                    reason: format!("row {name:?} out of order"),
                });
            }
            let row = cells
                .map(|c| c.trim().parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LatencyError::Format {
                    line: n,
                    reason: e.to_string(),
                })?;
            rows.push(row);
        }
        Self::new(zones, rows)
    }

    /// The built-in AWS model.
    pub fn aws() -> Self {
        Self::from_csv(AWS_LATENCIES_CSV)
            .unwrap_or_else(|_| Self::single("default", Duration::ZERO))
    }

    /// Sets the jitter standard deviation as a fraction of the delay (0 = none).
    pub fn with_jitter_fraction(mut self, f: f64) -> Self {
        self.jitter_fraction = f.max(0.0);
        self
    }

    /// Zone names, in matrix order.
    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// Index of a zone by name.
    pub fn zone_index(&self, name: &str) -> Option<usize> {
        self.zones.iter().position(|z| z == name)
    }

    /// The configured one-way delay, without jitter.
    pub fn base_delay(&self, from: usize, to: usize) -> Duration {
        let ms = self
            .delay_ms
            .get(from)
            .and_then(|r| r.get(to))
            .copied()
            .unwrap_or(0.0);
        Duration::from_secs_f64(ms / 1000.0)
    }

    /// A one-way delay sample: base + N(0, (base × fraction, at least 1 ms when
    /// jitter is on)) clamped at zero.
    pub fn sample(&self, from: usize, to: usize, rng: &mut impl RngCore) -> Duration {
        let base = self.base_delay(from, to).as_secs_f64();
        if self.jitter_fraction == 0.0 || base == 0.0 {
            return Duration::from_secs_f64(base);
        }
        let sd = (base * self.jitter_fraction).max(0.001);
        Duration::from_secs_f64((base + sd * standard_normal(rng)).max(0.0))
    }
}

/// A standard normal sample (Box-Muller) from 64 random bits per uniform.
pub fn standard_normal(rng: &mut impl RngCore) -> f64 {
    let u = |rng: &mut dyn RngCore| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (u1, u2) = (u(rng), u(rng));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn aws_matrix_matches_the_vector_file() {
        let m = LatencyModel::aws();
        assert_eq!(m.zones().len(), 13);
        assert_eq!(m.zones()[0], "N_Virginia");
        let (va, ca, sg) = (
            0,
            m.zone_index("Canada").unwrap(),
            m.zone_index("Singapore").unwrap(),
        );
        assert_eq!(m.base_delay(va, ca), Duration::from_millis(7));
        assert_eq!(m.base_delay(va, sg), Duration::from_millis(105));
        assert_eq!(m.base_delay(sg, sg), Duration::ZERO);
        // The asymmetric pair noted in SOURCES.md.
        let nc = m.zone_index("N_California").unwrap();
        assert_eq!(m.base_delay(ca, nc), Duration::from_millis(38));
        assert_eq!(m.base_delay(nc, ca), Duration::from_millis(39));
    }

    #[test]
    fn jitter_is_seeded_and_centred() {
        let m = LatencyModel::aws();
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let xs: Vec<_> = (0..2000).map(|_| m.sample(0, 12, &mut a)).collect();
        let ys: Vec<_> = (0..2000).map(|_| m.sample(0, 12, &mut b)).collect();
        assert_eq!(xs, ys);
        let mean = xs.iter().map(Duration::as_secs_f64).sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.105).abs() < 0.001, "mean {mean}");
        let sd = (xs
            .iter()
            .map(|x| (x.as_secs_f64() - mean).powi(2))
            .sum::<f64>()
            / xs.len() as f64)
            .sqrt();
        assert!((sd - 0.00525).abs() < 0.0006, "sd {sd}");
    }

    #[test]
    fn bad_matrices_are_errors() {
        assert!(LatencyModel::from_csv("From/to,a,b\na,0,1\n").is_err());
        assert!(LatencyModel::from_csv("From/to,a\nb,0\n").is_err());
        assert!(LatencyModel::from_csv("From/to,a\na,-1\n").is_err());
        assert!(LatencyModel::from_csv("From/to,a\na,x\n").is_err());
    }
}
