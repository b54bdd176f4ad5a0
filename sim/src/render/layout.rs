//! Deterministic node positions for the topology picture (no RNG: the same
//! report always gives the same picture).
//!
//! Nodes are first grouped by zone: each zone gets a disk on a circle, and
//! its nodes fill the disk on a sunflower spiral (seeds in the middle, then
//! validators, then full nodes). Up to [`FORCE_MAX`] nodes, a force-directed
//! pass (Fruchterman–Reingold with a pull towards each node's zone centre)
//! then moves connected nodes together and pushes components apart, so
//! lines, rings and partitions show their shape.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use crate::report::NodeFinal;

/// Largest graph that gets the force-directed pass.
pub(crate) const FORCE_MAX: usize = 300;
const ITERATIONS: usize = 300;
/// Strength of the spring from each node to its zone centre (several
/// zones), and to the middle (one zone: only keeps components together).
const ZONE_PULL: f64 = 1.5;
const CENTRE_PULL: f64 = 0.1;

/// Drawing order of roles inside a zone (seeds in the centre).
pub(crate) fn role_rank(role: &str) -> u8 {
    match role {
        "seed" => 0,
        "validator" => 1,
        "full" => 2,
        _ => 3,
    }
}

/// Positions in the unit square, one per entry of `nodes`; `edges` hold node
/// indices (`NodeFinal::index`); edges naming unknown nodes are ignored.
pub(crate) fn positions(nodes: &[NodeFinal], edges: &[(u32, u32)]) -> Vec<(f64, f64)> {
    let n = nodes.len();
    if n == 0 {
        return Vec::new();
    }
    let mut zones: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        zones.entry(node.zone.as_str()).or_default().push(i);
    }
    let z = zones.len();
    let ring = if z == 1 { 0.0 } else { 0.3 };
    let mut pos = vec![(0.5, 0.5); n];
    let mut centre = vec![(0.5, 0.5); n];
    for (k, members) in zones.values_mut().enumerate() {
        let a = 2.0 * PI * k as f64 / z as f64 - PI / 2.0;
        let c = (0.5 + ring * a.cos(), 0.5 + ring * a.sin());
        let mut r = 0.45 * (members.len() as f64 / n as f64).sqrt();
        if z > 1 {
            r = r.min(0.95 * ring * (PI / z as f64).sin()).max(0.02);
        }
        members.sort_by_key(|&i| (role_rank(&nodes[i].role), nodes[i].index));
        let m = members.len() as f64;
        let golden = PI * (3.0 - 5f64.sqrt());
        for (j, &i) in members.iter().enumerate() {
            let rr = if members.len() == 1 {
                0.0
            } else {
                r * ((j as f64 + 0.5) / m).sqrt()
            };
            let th = j as f64 * golden;
            pos[i] = (c.0 + rr * th.cos(), c.1 + rr * th.sin());
            centre[i] = c;
        }
    }
    if n <= FORCE_MAX && n > 1 {
        let by_index: BTreeMap<u32, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, nd)| (nd.index, i))
            .collect();
        let links: Vec<(usize, usize)> = edges
            .iter()
            .filter_map(|(a, b)| Some((*by_index.get(a)?, *by_index.get(b)?)))
            .filter(|(a, b)| a != b)
            .collect();
        force(
            &mut pos,
            &centre,
            &links,
            if z > 1 { ZONE_PULL } else { CENTRE_PULL },
        );
    }
    fit(&mut pos);
    pos
}

/// Fruchterman–Reingold with linear cooling and a weak spring to the zone centre.
fn force(pos: &mut [(f64, f64)], centre: &[(f64, f64)], links: &[(usize, usize)], pull: f64) {
    let n = pos.len();
    let k = 0.9 / (n as f64).sqrt();
    let mut disp = vec![(0.0f64, 0.0f64); n];
    for it in 0..ITERATIONS {
        let temp = 0.08 * (1.0 - it as f64 / ITERATIONS as f64) + 0.002;
        disp.iter_mut().for_each(|d| *d = (0.0, 0.0));
        for i in 0..n {
            for j in (i + 1)..n {
                let (mut dx, mut dy) = (pos[i].0 - pos[j].0, pos[i].1 - pos[j].1);
                let mut d2 = dx * dx + dy * dy;
                if d2 < 1e-12 {
                    // Coincident: separate along a direction fixed by the pair.
                    let a = (i * 7 + j * 13) as f64;
                    (dx, dy) = (1e-4 * a.cos(), 1e-4 * a.sin());
                    d2 = 1e-8;
                }
                let f = k * k / d2; // (k²/d) / d: scales the unit vector
                disp[i].0 += dx * f;
                disp[i].1 += dy * f;
                disp[j].0 -= dx * f;
                disp[j].1 -= dy * f;
            }
        }
        for &(a, b) in links {
            let (dx, dy) = (pos[a].0 - pos[b].0, pos[a].1 - pos[b].1);
            let d = (dx * dx + dy * dy).sqrt();
            let f = d / k; // (d²/k) / d
            disp[a].0 -= dx * f;
            disp[a].1 -= dy * f;
            disp[b].0 += dx * f;
            disp[b].1 += dy * f;
        }
        for i in 0..n {
            let (cx, cy) = centre[i];
            disp[i].0 += (cx - pos[i].0) * pull / k;
            disp[i].1 += (cy - pos[i].1) * pull / k;
            let (dx, dy) = disp[i];
            let len = (dx * dx + dy * dy).sqrt();
            if len > 0.0 {
                let step = len.min(temp) / len;
                pos[i].0 = (pos[i].0 + dx * step).clamp(-1.0, 2.0);
                pos[i].1 = (pos[i].1 + dy * step).clamp(-1.0, 2.0);
            }
        }
    }
}

/// Scales and centres the positions into [0.03, 0.97]²: each axis fills
/// the square, but neither is stretched more than 1.5 times the other (a
/// flat line stays flat).
fn fit(pos: &mut [(f64, f64)]) {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in pos.iter() {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let span = (x1 - x0).max(y1 - y0);
    if span.is_nan() || span <= 1e-9 {
        pos.iter_mut().for_each(|p| *p = (0.5, 0.5));
        return;
    }
    let (mut sx, mut sy) = (0.94 / (x1 - x0).max(1e-9), 0.94 / (y1 - y0).max(1e-9));
    (sx, sy) = (sx.min(1.5 * sy), sy.min(1.5 * sx));
    let (ox, oy) = (0.5 - (x0 + x1) / 2.0 * sx, 0.5 - (y0 + y1) / 2.0 * sy);
    for p in pos.iter_mut() {
        *p = (p.0 * sx + ox, p.1 * sy + oy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u32, zone: &str) -> NodeFinal {
        NodeFinal {
            index: i,
            id: format!("{i:040x}"),
            group: "g".into(),
            zone: zone.into(),
            role: "full".into(),
            up: true,
            inbound: 0,
            outbound: 0,
            addrbook: 0,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    #[test]
    fn deterministic_and_inside_the_square() {
        let nodes: Vec<NodeFinal> = (0..40)
            .map(|i| node(i, if i % 2 == 0 { "a" } else { "b" }))
            .collect();
        let edges: Vec<(u32, u32)> = (0..39).map(|i| (i, i + 1)).collect();
        let p1 = positions(&nodes, &edges);
        let p2 = positions(&nodes, &edges);
        assert_eq!(p1, p2);
        assert!(p1
            .iter()
            .all(|&(x, y)| (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)));
    }

    #[test]
    fn a_line_keeps_neighbours_closer_than_ends() {
        let nodes: Vec<NodeFinal> = (0..10).map(|i| node(i, "a")).collect();
        let edges: Vec<(u32, u32)> = (0..9).map(|i| (i, i + 1)).collect();
        let p = positions(&nodes, &edges);
        let d = |a: usize, b: usize| ((p[a].0 - p[b].0).powi(2) + (p[a].1 - p[b].1).powi(2)).sqrt();
        assert!(d(0, 1) < d(0, 9) / 3.0, "{} vs {}", d(0, 1), d(0, 9));
    }

    #[test]
    fn disconnected_halves_drift_apart() {
        let nodes: Vec<NodeFinal> = (0..20).map(|i| node(i, "a")).collect();
        let mut edges = Vec::new();
        for i in 0..10u32 {
            edges.push((i, (i + 1) % 10));
            edges.push((10 + i, 10 + (i + 3) % 10));
        }
        let p = positions(&nodes, &edges);
        let centre = |r: std::ops::Range<usize>| {
            let n = r.len() as f64;
            let (sx, sy) = r.fold((0.0, 0.0), |(x, y), i| (x + p[i].0, y + p[i].1));
            (sx / n, sy / n)
        };
        let (a, b) = (centre(0..10), centre(10..20));
        let gap = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        assert!(gap > 0.4, "component centres only {gap} apart");
    }

    #[test]
    fn empty_and_single() {
        assert!(positions(&[], &[]).is_empty());
        assert_eq!(positions(&[node(0, "a")], &[]), vec![(0.5, 0.5)]);
    }
}
