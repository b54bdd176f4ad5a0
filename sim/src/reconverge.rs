//! Reconvergence after a fault: how long the overlay (running non-seed nodes)
//! takes to become one connected component again after a heal, a restart, a
//! resume or the end of churn.
//!
//! The [`Collector`](crate::collect::Collector) owns a [`Tracker`] and feeds
//! it the peer graph as its observer hooks see it change: while a watch is
//! open, every peer added is checked (with an incremental union-find that is
//! rebuilt only after a removal or a node going up or down), so the time is
//! exact to the event, not rounded to the sample interval. Protocol code
//! computes nothing; the simulator only says when a watch starts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One watched event and when the overlay became one component after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconvergence {
    /// The event, as in the timeline (`heal`, `restart <nodes>`, `resume <nodes>`, `churn end`).
    pub event: String,
    /// Simulated time of the event (s).
    pub at_s: f64,
    /// Connected components among running non-seed nodes right after the event.
    pub components_at_event: u32,
    /// Seconds from the event until the overlay was one component (0 when it
    /// already was); `None` if it never was again before the end of the run.
    pub reconverged_after_s: Option<f64>,
}

/// Union-find over node indices with a component count.
#[derive(Debug, Clone)]
struct Forest {
    parent: Vec<usize>,
    components: usize,
}

impl Forest {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra] = rb;
            self.components -= 1;
        }
    }
}

/// Open watches and finished measurements.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Nodes that are not part of the overlay (seeds).
    excluded: BTreeSet<u32>,
    open: Vec<Reconvergence>,
    done: Vec<Reconvergence>,
    /// The components of the current graph, while valid (cleared by any
    /// change other than an added edge).
    forest: Option<Forest>,
}

impl Tracker {
    /// Leaves node `idx` out of the overlay.
    pub(crate) fn exclude(&mut self, idx: u32) {
        self.excluded.insert(idx);
        self.forest = None;
    }

    /// Whether any watch is open (only then is the graph checked).
    pub(crate) fn watching(&self) -> bool {
        !self.open.is_empty()
    }

    /// The graph changed in a way the forest cannot follow (a removal, a node up or down).
    pub(crate) fn invalidate(&mut self) {
        self.forest = None;
    }

    fn in_overlay(&self, up: &[bool], i: usize) -> bool {
        up.get(i).copied().unwrap_or(false) && !self.excluded.contains(&(i as u32))
    }

    /// Components of the overlay; rebuilt from `up` and `edges` when needed.
    fn components(&mut self, up: &[bool], edges: impl Fn() -> Vec<(u32, u32)>) -> usize {
        if self.forest.is_none() {
            let n = up.len();
            let mut f = Forest {
                parent: (0..n).collect(),
                components: (0..n).filter(|&i| self.in_overlay(up, i)).count(),
            };
            for (a, b) in edges() {
                let (a, b) = (a as usize, b as usize);
                if self.in_overlay(up, a) && self.in_overlay(up, b) {
                    f.union(a, b);
                }
            }
            self.forest = Some(f);
        }
        self.forest.as_ref().map_or(0, |f| f.components)
    }

    /// Opens a watch for `event` at `now_s`.
    pub(crate) fn start(
        &mut self,
        now_s: f64,
        event: String,
        up: &[bool],
        edges: impl Fn() -> Vec<(u32, u32)>,
    ) {
        let c = self.components(up, edges);
        self.open.push(Reconvergence {
            event,
            at_s: now_s,
            components_at_event: c as u32,
            reconverged_after_s: None,
        });
        self.close_if_connected(now_s, c);
    }

    /// Edge `a`–`b` was added at `now_s` (call only while [`Self::watching`]).
    pub(crate) fn edge_added(
        &mut self,
        now_s: f64,
        (a, b): (u32, u32),
        up: &[bool],
        edges: impl Fn() -> Vec<(u32, u32)>,
    ) {
        let c = if self.forest.is_some() {
            let (a, b) = (a as usize, b as usize);
            let both = self.in_overlay(up, a) && self.in_overlay(up, b);
            match self.forest.as_mut() {
                Some(f) if both && a < f.parent.len() && b < f.parent.len() => {
                    f.union(a, b);
                    f.components
                }
                Some(f) => f.components,
                None => 0,
            }
        } else {
            self.components(up, edges)
        };
        self.close_if_connected(now_s, c);
    }

    /// Re-checks the graph at `now_s` (after a node went up or down).
    pub(crate) fn poll(&mut self, now_s: f64, up: &[bool], edges: impl Fn() -> Vec<(u32, u32)>) {
        if self.watching() {
            let c = self.components(up, edges);
            self.close_if_connected(now_s, c);
        }
    }

    fn close_if_connected(&mut self, now_s: f64, components: usize) {
        if components > 1 {
            return;
        }
        for mut r in self.open.drain(..) {
            r.reconverged_after_s = Some((now_s - r.at_s).max(0.0));
            self.done.push(r);
        }
    }

    /// Every watch, finished or not, in the order of their events.
    pub(crate) fn results(&self) -> Vec<Reconvergence> {
        let mut all: Vec<Reconvergence> = self.done.iter().chain(&self.open).cloned().collect();
        all.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_closes_when_the_overlay_is_one_component() {
        let mut t = Tracker::default();
        t.exclude(0); // a seed: never part of the overlay
        let up = vec![true; 5];
        let mut edges = vec![(0, 1), (0, 2), (1, 2), (3, 4)];
        let e = edges.clone();
        t.start(10.0, "heal".into(), &up, || e.clone());
        assert!(t.watching());
        // {1,2}, {3,4}: the seed's edges do not join anything.
        edges.push((0, 3));
        let e = edges.clone();
        t.edge_added(11.0, (0, 3), &up, || e.clone());
        assert!(t.watching());
        edges.push((2, 3));
        let e = edges.clone();
        t.edge_added(12.5, (2, 3), &up, || e.clone());
        assert!(!t.watching());
        assert_eq!(
            t.results(),
            vec![Reconvergence {
                event: "heal".into(),
                at_s: 10.0,
                components_at_event: 2,
                reconverged_after_s: Some(2.5),
            }]
        );
    }

    #[test]
    fn already_connected_is_zero_and_unfinished_is_none() {
        let mut t = Tracker::default();
        let up = vec![true, true, false];
        t.start(5.0, "restart a".into(), &up, || vec![(0, 1)]);
        let up2 = vec![true, true, true];
        t.invalidate();
        t.start(6.0, "restart b".into(), &up2, || vec![(0, 1)]);
        t.poll(7.0, &up2, || vec![(0, 1)]);
        let r = t.results();
        assert_eq!(r[0].reconverged_after_s, Some(0.0));
        assert_eq!(r[0].components_at_event, 1);
        assert_eq!(r[1].reconverged_after_s, None);
        assert_eq!(r[1].components_at_event, 2);
        // The node going down again leaves one component.
        t.invalidate();
        t.poll(8.0, &up, || vec![(0, 1)]);
        assert_eq!(t.results()[1].reconverged_after_s, Some(2.0));
    }
}
