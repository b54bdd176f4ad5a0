//! The soak mode of `cometnet testnet` (`--churn-every`): while the testnet
//! runs, every period one random non-seed node is stopped (stdin closed: a
//! clean stop that saves its address book) and started again from its home
//! (same key, same book); every `--sample-every` the resident memory and open
//! file descriptors of each node process are read from `/proc`. At the end
//! it checks that no node panicked, that every restarted node logged a new
//! peer after its restart, and reports per-node memory and descriptor growth
//! after the warm-up (first quarter of the run, at least 20 s), as a table on
//! stderr and as `DIR/soak.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// One `/proc` sample of a node process.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Sample {
    /// Seconds since the soak started.
    pub(crate) t: f64,
    /// Process ID.
    pub(crate) pid: u32,
    /// `VmRSS` in KiB.
    pub(crate) rss_kib: u64,
    /// Entries of `/proc/PID/fd`.
    pub(crate) fds: u64,
}

/// Reads RSS and the descriptor count of `pid` (Linux only; `None` elsewhere
/// or when the process is gone).
pub(crate) fn sample(pid: u32, t: f64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample {
        t,
        pid,
        rss_kib,
        fds,
    })
}

/// A restart and whether the node found a peer afterwards.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Restart {
    /// The node's index.
    pub(crate) node: u32,
    /// Seconds since the soak started.
    pub(crate) at: f64,
    /// Seconds until its log showed a new peer (`None`: not yet / never).
    pub(crate) reconnected_after: Option<f64>,
    /// Log length when it was started again (new lines start here).
    #[serde(skip)]
    pub(crate) log_from: u64,
}

/// Per-node growth after the warm-up, for the longest-lived process of the node.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeGrowth {
    /// The node's index.
    pub(crate) node: u32,
    /// Restarts of this node.
    pub(crate) restarts: u32,
    /// RSS at the first sample after the warm-up, KiB.
    pub(crate) rss_start_kib: u64,
    /// RSS at the last sample, KiB.
    pub(crate) rss_end_kib: u64,
    /// Highest RSS after the warm-up, KiB.
    pub(crate) rss_max_kib: u64,
    /// Descriptors at the first sample after the warm-up.
    pub(crate) fds_start: u64,
    /// Descriptors at the last sample.
    pub(crate) fds_end: u64,
    /// Most descriptors after the warm-up.
    pub(crate) fds_max: u64,
}

/// What `soak.json` holds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SoakReport {
    /// Nodes in the testnet.
    pub(crate) nodes: u32,
    /// Seconds run.
    pub(crate) duration_s: f64,
    /// Seconds excluded as warm-up.
    pub(crate) warmup_s: f64,
    /// Every restart.
    pub(crate) restarts: Vec<Restart>,
    /// Growth per node.
    pub(crate) growth: Vec<NodeGrowth>,
    /// Nodes whose log contains a panic.
    pub(crate) panicked: Vec<u32>,
    /// Every sample, by node.
    pub(crate) samples: BTreeMap<u32, Vec<Sample>>,
}

impl SoakReport {
    /// Restarted nodes that logged no new peer.
    pub(crate) fn not_reconnected(&self) -> Vec<u32> {
        self.restarts
            .iter()
            .filter(|r| r.reconnected_after.is_none())
            .map(|r| r.node)
            .collect()
    }

    /// Summary lines for stderr.
    pub(crate) fn summary(&self) -> String {
        let mut out = format!(
            "soak: {} nodes, {:.0} s, {} restarts ({} reconnected), {} panics\n",
            self.nodes,
            self.duration_s,
            self.restarts.len(),
            self.restarts.len() - self.not_reconnected().len(),
            self.panicked.len()
        );
        let rss: Vec<i64> = self
            .growth
            .iter()
            .map(|g| g.rss_end_kib as i64 - g.rss_start_kib as i64)
            .collect();
        let fds: Vec<i64> = self
            .growth
            .iter()
            .map(|g| g.fds_end as i64 - g.fds_start as i64)
            .collect();
        let span = |v: &[i64]| (v.iter().min().copied(), v.iter().max().copied());
        let (r0, r1) = span(&rss);
        let (f0, f1) = span(&fds);
        let rss_end: Vec<u64> = self.growth.iter().map(|g| g.rss_end_kib).collect();
        out += &format!(
            "after {:.0} s warm-up: RSS change per node {}..{} KiB (end RSS {}..{} KiB), fd change {}..{} (end fds {}..{})\n",
            self.warmup_s,
            r0.unwrap_or(0),
            r1.unwrap_or(0),
            rss_end.iter().min().unwrap_or(&0),
            rss_end.iter().max().unwrap_or(&0),
            f0.unwrap_or(0),
            f1.unwrap_or(0),
            self.growth.iter().map(|g| g.fds_end).min().unwrap_or(0),
            self.growth.iter().map(|g| g.fds_end).max().unwrap_or(0),
        );
        let slow: Vec<f64> = self
            .restarts
            .iter()
            .filter_map(|r| r.reconnected_after)
            .collect();
        if let Some(max) = slow.iter().copied().reduce(f64::max) {
            out += &format!("slowest reconnect after restart: {max:.1} s\n");
        }
        out
    }
}

/// Growth of each node's longest-lived process over samples after `warmup`.
pub(crate) fn growth(
    samples: &BTreeMap<u32, Vec<Sample>>,
    restarts: &[Restart],
    warmup: f64,
) -> Vec<NodeGrowth> {
    let mut out = Vec::new();
    for (&node, all) in samples {
        let mut by_pid: BTreeMap<u32, Vec<Sample>> = BTreeMap::new();
        for s in all.iter().filter(|s| s.t >= warmup) {
            by_pid.entry(s.pid).or_default().push(*s);
        }
        let Some(series) = by_pid.values().max_by_key(|v| v.len()) else {
            continue;
        };
        let (Some(first), Some(last)) = (series.first(), series.last()) else {
            continue;
        };
        out.push(NodeGrowth {
            node,
            restarts: restarts.iter().filter(|r| r.node == node).count() as u32,
            rss_start_kib: first.rss_kib,
            rss_end_kib: last.rss_kib,
            rss_max_kib: series.iter().map(|s| s.rss_kib).max().unwrap_or(0),
            fds_start: first.fds,
            fds_end: last.fds,
            fds_max: series.iter().map(|s| s.fds).max().unwrap_or(0),
        });
    }
    out
}

/// True if the node's log from byte `from` shows a peer added.
pub(crate) fn reconnected(log: &Path, from: u64) -> bool {
    std::fs::read(log).is_ok_and(|l| {
        let new = l
            .get(usize::try_from(from).unwrap_or(0)..)
            .unwrap_or_default();
        String::from_utf8_lossy(new).contains("peer added")
    })
}

/// Nodes whose log mentions a panic.
pub(crate) fn panicked(dir: &Path, nodes: u32) -> Vec<u32> {
    (0..nodes)
        .filter(|i| {
            std::fs::read(dir.join(format!("node{i}/node.log")))
                .is_ok_and(|l| String::from_utf8_lossy(&l).contains("panicked at"))
        })
        .collect()
}

/// Picks the next node to restart among the non-seeds.
pub(crate) struct Picker {
    rng: ChaCha8Rng,
    first: u32,
    count: u32,
}

impl Picker {
    /// Picks among nodes `first..first + count` with a seeded RNG.
    pub(crate) fn new(seed: u64, first: u32, count: u32) -> Self {
        Picker {
            rng: ChaCha8Rng::seed_from_u64(seed),
            first,
            count,
        }
    }

    /// The next node, if there is any non-seed node.
    pub(crate) fn next(&mut self) -> Option<u32> {
        (self.count > 0).then(|| self.first + (self.rng.next_u64() % u64::from(self.count)) as u32)
    }
}

/// Stops a child cleanly (stdin closed), killing it after `grace`.
pub(crate) async fn stop_child(c: &mut Child, grace: Duration) {
    drop(c.stdin.take());
    let steps = (grace.as_millis() / 50).max(1);
    for _ in 0..steps {
        if !matches!(c.try_wait(), Ok(None)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// Where the report goes.
pub(crate) fn report_path(dir: &Path) -> PathBuf {
    dir.join("soak.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, pid: u32, rss_kib: u64, fds: u64) -> Sample {
        Sample {
            t,
            pid,
            rss_kib,
            fds,
        }
    }

    #[test]
    fn growth_uses_the_longest_lived_process_after_warmup() {
        let mut m = BTreeMap::new();
        m.insert(
            3,
            vec![
                s(1.0, 10, 100, 5),
                s(30.0, 10, 200, 20),
                s(40.0, 10, 210, 22),
                s(45.0, 11, 50, 9),
                s(50.0, 10, 205, 21),
            ],
        );
        let r = vec![Restart {
            node: 3,
            at: 44.0,
            reconnected_after: Some(1.5),
            log_from: 0,
        }];
        let g = growth(&m, &r, 20.0);
        assert_eq!(g.len(), 1);
        let g = &g[0];
        assert_eq!(
            (g.restarts, g.rss_start_kib, g.rss_end_kib, g.rss_max_kib),
            (1, 200, 205, 210)
        );
        assert_eq!((g.fds_start, g.fds_end, g.fds_max), (20, 21, 22));
    }

    #[test]
    fn picker_stays_in_range_and_is_seeded() {
        let mut a = Picker::new(7, 2, 5);
        let mut b = Picker::new(7, 2, 5);
        for _ in 0..100 {
            let x = a.next().unwrap();
            assert!((2..7).contains(&x));
            assert_eq!(Some(x), b.next());
        }
        assert_eq!(Picker::new(1, 3, 0).next(), None);
    }

    #[test]
    fn samples_this_process() {
        let me = std::process::id();
        if let Some(s) = sample(me, 0.0) {
            assert_eq!(s.pid, me);
            assert!(s.rss_kib > 0 && s.fds > 0);
        }
    }
}
