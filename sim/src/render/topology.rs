//! The topology picture: the final peer graph.
//!
//! Up to [`AGGREGATE_ABOVE`] nodes every node is drawn (colour = zone,
//! shape/outline = role, hollow = down at the end) with its edges, and
//! node numbers up to [`LABEL_MAX`] nodes. Larger runs are aggregated into a
//! class-by-class matrix (class = zone and role, or zone alone when that
//! gives too many classes) whose cells count the connections between the
//! classes, so 10,000 nodes stay readable.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{positions, role_rank, FORCE_MAX};
use super::theme::{
    bold, fmt_int, fmt_num, plural, text, zone_colors, GREY, SMALL_PX, TICK_PX, TITLE_PX,
};
use super::{DrawResult, AGGREGATE_ABOVE};
use crate::report::{NodeFinal, Report};

/// Node numbers are written next to nodes up to this many nodes.
pub(crate) const LABEL_MAX: usize = 60;
/// Most classes the aggregated matrix shows (the rest become "other").
const MAX_CLASSES: usize = 20;
const LEGEND_W: i32 = 270;

/// Draws the picture that fits the run's size.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    if r.nodes.is_empty() {
        return super::theme::no_data(
            area,
            "Peer graph at the end of the run",
            "the report lists no nodes",
        );
    }
    if r.nodes.len() > AGGREGATE_ABOVE {
        matrix(area, r)
    } else {
        graph(area, r)
    }
}

fn px(v: f64) -> i32 {
    v.round() as i32
}

fn centred(px: u32) -> TextStyle<'static> {
    text(px).pos(Pos::new(HPos::Center, VPos::Center))
}

/// A node's mark at `(x, y)` with radius `s`.
pub(crate) fn node_mark<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    s: i32,
    role: &str,
    color: RGBColor,
    up: bool,
) -> DrawResult<DB> {
    let fill = if up { color.filled() } else { WHITE.filled() };
    let (edge, width) = match (up, role) {
        (false, _) => (color, 2),
        (true, "seed" | "validator") => (BLACK, 2),
        _ => (WHITE, 1),
    };
    let stroke = ShapeStyle::from(edge).stroke_width(width);
    match role {
        "seed" => {
            let h = s + 1;
            area.draw(&Rectangle::new([(x - h, y - h), (x + h, y + h)], fill))?;
            area.draw(&Rectangle::new([(x - h, y - h), (x + h, y + h)], stroke))
        }
        "validator" | "full" => {
            area.draw(&Circle::new((x, y), s, fill))?;
            area.draw(&Circle::new((x, y), s, stroke))
        }
        _ => {
            let h = s + 2;
            let pts = vec![(x, y - h), (x + h, y + h - 1), (x - h, y + h - 1)];
            area.draw(&Polygon::new(pts.clone(), fill))?;
            let mut closed = pts.clone();
            closed.push(pts[0]);
            area.draw(&PathElement::new(closed, stroke))
        }
    }
}

fn graph<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Report) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let n = r.nodes.len();
    let colors = zone_colors(&r.nodes);
    area.draw(&Text::new(
        format!(
            "Peer graph at the end of the run (t = {} s)",
            fmt_num(r.header.duration_s)
        ),
        (20, 18),
        bold(TITLE_PX),
    ))?;
    let top = 64;
    let side = (w - LEGEND_W - 30).min(h - top - 20);
    let (ox, oy) = (20 + (w - LEGEND_W - 30 - side) / 2, top);
    let pos = positions(&r.nodes, &r.edges);
    let to_px = |p: (f64, f64)| {
        (
            ox + px(p.0 * f64::from(side)),
            oy + px(p.1 * f64::from(side)),
        )
    };
    let by_index: BTreeMap<u32, usize> = r
        .nodes
        .iter()
        .enumerate()
        .map(|(i, nd)| (nd.index, i))
        .collect();
    let alpha = if n <= LABEL_MAX { 0.55 } else { 0.22 };
    let edge_style = ShapeStyle::from(RGBColor(90, 90, 90).mix(alpha))
        .stroke_width(if n <= LABEL_MAX { 2 } else { 1 });
    for (a, b) in &r.edges {
        if let (Some(&i), Some(&j)) = (by_index.get(a), by_index.get(b)) {
            area.draw(&PathElement::new(
                vec![to_px(pos[i]), to_px(pos[j])],
                edge_style,
            ))?;
        }
    }
    let s = px((40.0 / (n as f64).sqrt()).clamp(3.0, 11.0));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(role_rank(&r.nodes[i].role))); // seeds on top
    for i in order {
        let nd = &r.nodes[i];
        let c = colors.get(&nd.zone).copied().unwrap_or(GREY);
        let p = to_px(pos[i]);
        node_mark(area, p, s, &nd.role, c, nd.up)?;
        if n <= LABEL_MAX {
            let px = if n <= 20 { TICK_PX } else { SMALL_PX };
            area.draw(&Text::new(
                nd.index.to_string(),
                (p.0 + s + 2, p.1 - s - 12),
                text(px),
            ))?;
        }
    }
    let layout = if n <= FORCE_MAX {
        "force-directed, pulled to zone"
    } else {
        "zones on a circle"
    };
    legend(area, r, &colors, (w - LEGEND_W, top), layout)
}

fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
    colors: &BTreeMap<String, RGBColor>,
    (x, mut y): (i32, i32),
    layout: &str,
) -> DrawResult<DB> {
    let mut zone_n: BTreeMap<&str, usize> = BTreeMap::new();
    let mut role_n: BTreeMap<(u8, &str), usize> = BTreeMap::new();
    let down = r.nodes.iter().filter(|n| !n.up).count();
    for nd in &r.nodes {
        *zone_n.entry(nd.zone.as_str()).or_default() += 1;
        *role_n
            .entry((role_rank(&nd.role), nd.role.as_str()))
            .or_default() += 1;
    }
    let line = 24;
    area.draw(&Text::new("Zone (colour)", (x, y), bold(TICK_PX)))?;
    y += line;
    for (z, k) in &zone_n {
        let c = colors.get(*z).copied().unwrap_or(GREY);
        area.draw(&Circle::new((x + 8, y + 8), 7, c.filled()))?;
        area.draw(&Text::new(format!("{z} ({k})"), (x + 24, y), text(TICK_PX)))?;
        y += line;
    }
    y += line / 2;
    area.draw(&Text::new("Role (shape)", (x, y), bold(TICK_PX)))?;
    y += line;
    for ((_, role), k) in &role_n {
        node_mark(area, (x + 8, y + 8), 6, role, GREY, true)?;
        area.draw(&Text::new(
            format!("{role} ({k})"),
            (x + 24, y),
            text(TICK_PX),
        ))?;
        y += line;
    }
    if down > 0 {
        node_mark(area, (x + 8, y + 8), 6, "full", RGBColor(90, 90, 90), false)?;
        area.draw(&Text::new(
            format!("down at the end, hollow ({down})"),
            (x + 24, y),
            text(TICK_PX),
        ))?;
        y += line;
    }
    y += line / 2;
    let n = r.nodes.len() as f64;
    let notes = [
        format!(
            "{}, {}",
            plural(r.nodes.len() as u64, "node"),
            plural(r.edges.len() as u64, "edge")
        ),
        format!("mean degree {}", fmt_num(2.0 * r.edges.len() as f64 / n)),
        format!("layout: {layout}"),
    ];
    for t in notes {
        area.draw(&Text::new(t, (x, y), text(SMALL_PX)))?;
        y += line - 4;
    }
    Ok(())
}

/// Node classes for the matrix: (label, zone) per class and each node's class.
fn classes(nodes: &[NodeFinal]) -> (Vec<(String, String)>, Vec<usize>) {
    let mut by_pair: BTreeMap<(&str, u8, &str), usize> = BTreeMap::new();
    for nd in nodes {
        *by_pair
            .entry((nd.zone.as_str(), role_rank(&nd.role), nd.role.as_str()))
            .or_default() += 1;
    }
    let roles: std::collections::BTreeSet<&str> = nodes.iter().map(|n| n.role.as_str()).collect();
    let with_role = by_pair.len() <= MAX_CLASSES && roles.len() > 1;
    let key = |nd: &NodeFinal| {
        if with_role {
            format!("{} / {}", nd.zone, nd.role)
        } else {
            nd.zone.clone()
        }
    };
    let mut count: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for nd in nodes {
        count.entry(key(nd)).or_insert((0, nd.zone.clone())).0 += 1;
    }
    let mut list: Vec<(String, usize, String)> =
        count.into_iter().map(|(k, (c, z))| (k, c, z)).collect();
    if list.len() > MAX_CLASSES {
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(MAX_CLASSES - 1);
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list.push(("other".into(), 0, String::new()));
    }
    let pos: BTreeMap<&str, usize> = list
        .iter()
        .enumerate()
        .map(|(i, c)| (c.0.as_str(), i))
        .collect();
    let other = list.len() - 1;
    let of: Vec<usize> = nodes
        .iter()
        .map(|nd| pos.get(key(nd).as_str()).copied().unwrap_or(other))
        .collect();
    (list.into_iter().map(|(k, _, z)| (k, z)).collect(), of)
}

fn abbrev(x: u64) -> String {
    match x {
        x if x >= 1_000_000 => format!("{:.1}M", x as f64 / 1e6),
        x if x >= 10_000 => format!("{}k", x / 1000),
        x if x >= 1_000 => format!("{:.1}k", x as f64 / 1e3),
        x => x.to_string(),
    }
}

fn matrix<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Report) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let colors = zone_colors(&r.nodes);
    let (cls, of) = classes(&r.nodes);
    let k = cls.len();
    let by_index: BTreeMap<u32, usize> = r
        .nodes
        .iter()
        .enumerate()
        .map(|(i, nd)| (nd.index, i))
        .collect();
    let mut cell = vec![vec![0u64; k]; k];
    let mut deg_sum = vec![0u64; k];
    let mut members = vec![0u64; k];
    let mut up = vec![0u64; k];
    for (i, c) in of.iter().enumerate() {
        members[*c] += 1;
        up[*c] += u64::from(r.nodes[i].up);
    }
    for (a, b) in &r.edges {
        if let (Some(&i), Some(&j)) = (by_index.get(a), by_index.get(b)) {
            let (ci, cj) = (of[i], of[j]);
            cell[ci][cj] += 1;
            if ci != cj {
                cell[cj][ci] += 1;
            }
            deg_sum[ci] += 1;
            deg_sum[cj] += 1;
        }
    }
    let max = cell.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    area.draw(&Text::new(
        format!(
            "Peer graph by zone and role: {}, {} (aggregated)",
            plural(r.nodes.len() as u64, "node"),
            plural(r.edges.len() as u64, "edge")
        ),
        (20, 18),
        bold(TITLE_PX),
    ))?;
    area.draw(&Text::new(
        "Each cell counts the connections between the nodes of its row's and its column's class (diagonal: within the class).",
        (20, 56),
        text(SMALL_PX),
    ))?;
    let left = 420;
    let top = 120;
    let size = (w - left - 30).min(h - top - 70);
    let cs = (size / k as i32).max(1);
    for (ci, (label, zone)) in cls.iter().enumerate() {
        let y = top + ci as i32 * cs + cs / 2;
        let c = colors.get(zone).copied().unwrap_or(GREY);
        area.draw(&Circle::new((24, y), 7, c.filled()))?;
        let mean = deg_sum[ci] as f64 / members[ci].max(1) as f64;
        area.draw(&Text::new(
            format!(
                "{} {label}  ({}, {} up, deg {})",
                ci + 1,
                plural(members[ci], "node"),
                fmt_int(up[ci]),
                fmt_num(mean)
            ),
            (38, y),
            text(TICK_PX).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        area.draw(&Text::new(
            (ci + 1).to_string(),
            (left + ci as i32 * cs + cs / 2, top - 14),
            centred(TICK_PX),
        ))?;
    }
    let fs = (cs / 3).clamp(9, 18) as u32;
    for (ci, row) in cell.iter().enumerate() {
        for (cj, &v) in row.iter().enumerate() {
            let x0 = left + cj as i32 * cs;
            let y0 = top + ci as i32 * cs;
            let t = (v as f64 / max).sqrt();
            let shade = RGBColor(
                (255.0 - t * (255.0 - 20.0)) as u8,
                (255.0 - t * (255.0 - 70.0)) as u8,
                (255.0 - t * (255.0 - 150.0)) as u8,
            );
            area.draw(&Rectangle::new(
                [(x0, y0), (x0 + cs, y0 + cs)],
                shade.filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(x0, y0), (x0 + cs, y0 + cs)],
                ShapeStyle::from(WHITE).stroke_width(1),
            ))?;
            if cs >= 22 {
                let tc = if t > 0.55 { WHITE } else { BLACK };
                area.draw(&Text::new(
                    abbrev(v),
                    (x0 + cs / 2, y0 + cs / 2),
                    centred(fs).color(&tc),
                ))?;
            }
        }
    }
    area.draw(&Text::new(
        "Rows and columns: class number (colour = zone). deg = mean peers per node of the class.",
        (20, top + k as i32 * cs + 24),
        text(SMALL_PX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u32, zone: &str, role: &str) -> NodeFinal {
        NodeFinal {
            index: i,
            id: String::new(),
            group: "g".into(),
            zone: zone.into(),
            role: role.into(),
            up: true,
            inbound: 0,
            outbound: 0,
            addrbook: 0,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    #[test]
    fn classes_use_role_when_few() {
        let nodes = vec![
            node(0, "Tokyo", "seed"),
            node(1, "Tokyo", "full"),
            node(2, "London", "full"),
        ];
        let (cls, of) = classes(&nodes);
        let labels: Vec<&str> = cls.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(labels, ["London / full", "Tokyo / full", "Tokyo / seed"]);
        assert_eq!(of, vec![2, 1, 0]);
    }

    #[test]
    fn classes_cap_with_other() {
        let nodes: Vec<NodeFinal> = (0..30)
            .map(|i| node(i, &format!("z{i:02}"), "full"))
            .collect();
        let (cls, of) = classes(&nodes);
        assert_eq!(cls.len(), MAX_CLASSES);
        assert_eq!(cls.last().unwrap().0, "other");
        assert!(of.iter().all(|&c| c < MAX_CLASSES));
    }

    #[test]
    fn abbreviations() {
        assert_eq!(abbrev(999), "999");
        assert_eq!(abbrev(1_500), "1.5k");
        assert_eq!(abbrev(25_000), "25k");
    }
}
