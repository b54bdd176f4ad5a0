//! The view of a live network mapped by `cometnet crawl`, drawn from its
//! `crawl.json` alone: the "who knows whom" graph (an edge joins A and B when
//! A sent the crawler an address of B in a PEX reply), the degree
//! distributions of that graph, and an `index.html` with the same look as a
//! run's page and a table of every node found.
//!
//! Node colour is the software version each node reported in its NodeInfo
//! (grey: never reached, so unknown); squares are the seeds the crawl started
//! from; hollow marks are nodes the crawler never completed a handshake with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::html::{esc, num, table, CSS};
use super::layout::{positions, FORCE_MAX};
use super::theme::{
    bold, fmt_int, fmt_num, header, no_data, plural, text, zone_colors, Key, AXIS_PX, GREY,
    PALETTE, SMALL_PX, TICK_PX, TITLE_PX,
};
use super::topology::{node_mark, LABEL_MAX};
use super::{draw_err, emit, write_file, DrawResult, RenderError, CHART_SIZE, TOPOLOGY_SIZE};
use crate::real::crawl::CrawlReport;
use crate::report::NodeFinal;

/// Base names of the plots [`render_crawl`] writes (each as `.svg` and `.png`), in page order.
pub const CRAWL_PLOTS: [&str; 2] = ["crawl-topology", "crawl-degree"];

/// Most edges drawn on the topology picture; beyond, an even subset (the
/// picture says how many).
const MAX_EDGES: usize = 20_000;
/// Most versions with their own colour and legend line; the rest are "other".
const MAX_VERSIONS: usize = 12;
/// Version label of nodes never reached.
const UNKNOWN: &str = "unknown (not reached)";
const LEGEND_W: i32 = 300;
/// Extra style of the node table: smaller text, IDs broken anywhere, and
/// sideways scrolling when it is still too wide.
const NODES_CSS: &str = ".wide{overflow-x:auto}table.nodes{font-size:13px}table.nodes code{word-break:break-all;font-size:12px}table.nodes td{padding:3px 6px}";

/// The crawl as a graph over the indices of `CrawlReport::nodes`.
struct Graph {
    /// Layout carriers: `zone` = version class, `role` = seed/full, `up` = reachable.
    nodes: Vec<NodeFinal>,
    /// Undirected pairs (i < j), each once.
    pairs: Vec<(u32, u32)>,
    /// Directed edges whose both ends are listed nodes.
    directed: usize,
    /// How many nodes sent an address of each node (in-degree).
    known_by: Vec<u32>,
    /// How many nodes' addresses each node sent (out-degree).
    knows: Vec<u32>,
}

fn seed_ids(c: &CrawlReport) -> BTreeSet<String> {
    c.seeds
        .iter()
        .filter_map(|s| s.split('@').next())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn version_of(n: &crate::real::crawl::CrawlNode) -> String {
    n.node_info
        .as_ref()
        .map_or_else(|| UNKNOWN.to_owned(), |i| i.version.clone())
}

/// Version classes: the [`MAX_VERSIONS`] most common keep their name.
fn version_classes(c: &CrawlReport) -> BTreeMap<String, String> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for n in &c.nodes {
        *count.entry(version_of(n)).or_default() += 1;
    }
    let mut by_count: Vec<(&String, &usize)> = count.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let keep: BTreeSet<&String> = by_count.iter().take(MAX_VERSIONS).map(|x| x.0).collect();
    count
        .keys()
        .map(|v| {
            let class = if keep.contains(v) || v == UNKNOWN {
                v.clone()
            } else {
                "other versions".to_owned()
            };
            (v.clone(), class)
        })
        .collect()
}

fn graph(c: &CrawlReport) -> Graph {
    let index: BTreeMap<&str, u32> = c
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i as u32))
        .collect();
    let seeds = seed_ids(c);
    let classes = version_classes(c);
    let nodes = c
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeFinal {
            index: i as u32,
            id: n.id.clone(),
            group: String::new(),
            zone: classes.get(&version_of(n)).cloned().unwrap_or_default(),
            role: if seeds.contains(&n.id.to_ascii_lowercase()) {
                "seed".into()
            } else {
                "full".into()
            },
            up: n.reachable,
            inbound: 0,
            outbound: 0,
            addrbook: 0,
            bytes_sent: 0,
            bytes_received: 0,
        })
        .collect();
    let mut known_by = vec![0u32; c.nodes.len()];
    let mut knows = vec![0u32; c.nodes.len()];
    let mut directed = BTreeSet::new();
    for [a, b] in &c.edges {
        if let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) {
            if i != j && directed.insert((i, j)) {
                knows[i as usize] += 1;
                known_by[j as usize] += 1;
            }
        }
    }
    let pairs: BTreeSet<(u32, u32)> = directed
        .iter()
        .map(|&(i, j)| (i.min(j), i.max(j)))
        .collect();
    Graph {
        nodes,
        pairs: pairs.into_iter().collect(),
        directed: directed.len(),
        known_by,
        knows,
    }
}

fn px(v: f64) -> i32 {
    v.round() as i32
}

/// The "who knows whom" picture.
fn topology<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &CrawlReport,
    g: &Graph,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = format!("Crawled network {:?}: who knows whom", c.network);
    if g.nodes.is_empty() {
        return no_data(area, &title, "the crawl found no nodes");
    }
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    area.draw(&Text::new(title, (20, 18), bold(TITLE_PX)))?;
    let top = 64;
    let side = (w - LEGEND_W - 30).min(h - top - 20);
    let (ox, oy) = (20 + (w - LEGEND_W - 30 - side) / 2, top);
    let pos = positions(&g.nodes, &g.pairs);
    let to_px = |p: (f64, f64)| {
        (
            ox + px(p.0 * f64::from(side)),
            oy + px(p.1 * f64::from(side)),
        )
    };
    let n = g.nodes.len();
    let step = g.pairs.len().div_ceil(MAX_EDGES).max(1);
    let alpha = if n <= 60 { 0.5 } else { 0.18 };
    let edge_style =
        ShapeStyle::from(RGBColor(90, 90, 90).mix(alpha)).stroke_width(if n <= 60 { 2 } else { 1 });
    for &(a, b) in g.pairs.iter().step_by(step) {
        if let (Some(&pa), Some(&pb)) = (pos.get(a as usize), pos.get(b as usize)) {
            area.draw(&PathElement::new(vec![to_px(pa), to_px(pb)], edge_style))?;
        }
    }
    let colors = zone_colors(&g.nodes);
    let color = |nd: &NodeFinal| {
        if nd.zone == UNKNOWN {
            GREY
        } else {
            colors.get(&nd.zone).copied().unwrap_or(GREY)
        }
    };
    let s = px((40.0 / (n as f64).sqrt()).clamp(3.0, 11.0));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| g.nodes[i].role == "seed"); // seeds on top
    for i in order {
        let nd = &g.nodes[i];
        let p = to_px(pos[i]);
        node_mark(area, p, s, &nd.role, color(nd), nd.up)?;
        if n <= LABEL_MAX {
            // The row number of the node table in index.html.
            area.draw(&Text::new(
                (i + 1).to_string(),
                (p.0 + s + 2, p.1 - s - 12),
                text(if n <= 20 { TICK_PX } else { SMALL_PX }),
            ))?;
        }
    }
    // Legend.
    let (x, mut y) = (w - LEGEND_W, top);
    let line = 24;
    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    for nd in &g.nodes {
        *per_class.entry(nd.zone.as_str()).or_default() += 1;
    }
    area.draw(&Text::new("Version (colour)", (x, y), bold(TICK_PX)))?;
    y += line;
    for (v, k) in &per_class {
        let col = if *v == UNKNOWN {
            GREY
        } else {
            colors.get(*v).copied().unwrap_or(GREY)
        };
        area.draw(&Circle::new((x + 8, y + 8), 7, col.filled()))?;
        let mut label = format!("{v} ({k})");
        if label.chars().count() > 34 {
            label = label.chars().take(33).collect::<String>() + "…";
        }
        area.draw(&Text::new(label, (x + 24, y), text(TICK_PX)))?;
        y += line;
    }
    y += line / 2;
    area.draw(&Text::new("Shape", (x, y), bold(TICK_PX)))?;
    y += line;
    let reachable = g.nodes.iter().filter(|n| n.up).count();
    let seeds = g.nodes.iter().filter(|n| n.role == "seed").count();
    let shapes = [
        ("seed", true, format!("seed given to the crawl ({seeds})")),
        (
            "full",
            true,
            format!("reached by the crawler ({reachable})"),
        ),
        (
            "full",
            false,
            format!("never reached, hollow ({})", n - reachable),
        ),
    ];
    for (role, up, label) in shapes {
        node_mark(area, (x + 8, y + 8), 6, role, RGBColor(90, 90, 90), up)?;
        area.draw(&Text::new(label, (x + 24, y), text(TICK_PX)))?;
        y += line;
    }
    y += line / 2;
    let mut notes = vec![
        plural(n as u64, "node"),
        format!(
            "{}: A sent the crawler",
            plural(g.directed as u64, "directed edge")
        ),
        "an address of B (drawn as lines)".to_owned(),
    ];
    if step > 1 {
        notes.push(format!(
            "showing 1 line in {step} ({} of {})",
            fmt_int(g.pairs.len().div_ceil(step) as u64),
            fmt_int(g.pairs.len() as u64)
        ));
    }
    notes.push(format!(
        "layout: {}",
        if n <= FORCE_MAX {
            "force-directed, pulled to version"
        } else {
            "versions on a circle"
        }
    ));
    notes.push(format!("crawl length: {} s", fmt_num(c.duration_s)));
    for t in notes {
        area.draw(&Text::new(t, (x, y), text(SMALL_PX)))?;
        y += line - 4;
    }
    Ok(())
}

/// One histogram panel of `values` (one per node) with x axis `x_desc`.
fn hist_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    values: &[u32],
    x_desc: &str,
    color: RGBColor,
) -> DrawResult<DB> {
    let mut h: BTreeMap<u32, u32> = BTreeMap::new();
    for &v in values {
        *h.entry(v).or_default() += 1;
    }
    let (width, bins) = super::dist::degree_bins(&h);
    let bmax = bins.last().map_or(0, |b| b.0);
    let cmax = bins.iter().map(|b| b.1).max().unwrap_or(0);
    let ymax = (f64::from(cmax) * 1.1).ceil().max(1.0) as u32;
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(8)
        .x_label_area_size(52)
        .y_label_area_size(84)
        .build_cartesian_2d((0u32..bmax).into_segmented(), 0u32..ymax)?;
    let xfmt = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(b) | SegmentValue::Exact(b) if width == 1 => b.to_string(),
        SegmentValue::CenterOf(b) | SegmentValue::Exact(b) => {
            format!("{}–{}", b * width, (b + 1) * width - 1)
        }
        SegmentValue::Last => String::new(),
    };
    let desc = if width == 1 {
        x_desc.to_owned()
    } else {
        format!("{x_desc}, bins of {width}")
    };
    chart
        .configure_mesh()
        .x_desc(desc)
        .y_desc("nodes")
        .axis_desc_style(text(AXIS_PX))
        .label_style(text(TICK_PX))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(245, 245, 245))
        .disable_x_mesh()
        .max_light_lines(1)
        .x_labels(((bmax + 2) as usize).min(if width == 1 { 25 } else { 10 }))
        .x_label_formatter(&xfmt)
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(color.mix(0.85).filled())
            .margin(2)
            .data(bins.iter().copied()),
    )?;
    Ok(())
}

/// In-degree (over every node) above out-degree (over nodes that sent addresses).
fn degree<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, g: &Graph) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Degree distribution of the crawl graph";
    if g.directed == 0 {
        return no_data(area, title, "no node sent the crawler an address list");
    }
    let senders: Vec<u32> = g.knows.iter().copied().filter(|&k| k > 0).collect();
    let mean = |v: &[u32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64;
    let keys = [
        (
            Key::Fill(PALETTE[0].mix(0.85)),
            format!(
                "top: known by (all {}, mean {})",
                plural(g.known_by.len() as u64, "node"),
                fmt_num(mean(&g.known_by))
            ),
        ),
        (
            Key::Fill(PALETTE[1].mix(0.85)),
            format!(
                "bottom: knows ({} that sent addresses, mean {})",
                plural(senders.len() as u64, "node"),
                fmt_num(mean(&senders))
            ),
        ),
    ];
    let body = header(area, title, &keys)?;
    let h = body.dim_in_pixel().1;
    let (upper, lower) = body.split_vertically(h / 2);
    hist_panel(
        &upper,
        &g.known_by,
        "nodes that sent the crawler its address (in-degree)",
        PALETTE[0],
    )?;
    hist_panel(
        &lower,
        &senders,
        "addresses of other nodes it sent (out-degree)",
        PALETTE[1],
    )
}

fn counts(items: impl Iterator<Item = String>) -> String {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m.iter()
        .map(|(k, v)| format!("{} ({v})", esc(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page; `source` is the crawl file's name (linked).
fn index(c: &CrawlReport, g: &Graph, source: &str) -> String {
    let mut s = String::new();
    let reachable = c.nodes.iter().filter(|n| n.reachable).count();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>crawl of {}: cometnet crawl</title>\n<style>\n{CSS}\n{NODES_CSS}\n</style></head><body>\n",
        esc(&c.network)
    );
    let _ = write!(
        s,
        "<h1>Crawl of {}</h1>\n<p class=\"sub\">started {} · {} s · {} nodes ({} reachable) · {} edges</p>\n",
        esc(&c.network),
        esc(&c.started_at),
        fmt_num(c.duration_s),
        fmt_int(c.nodes.len() as u64),
        fmt_int(reachable as u64),
        fmt_int(g.directed as u64)
    );
    s.push_str("<nav><a href=\"#summary\">Summary</a><a href=\"#plots\">Plots</a><a href=\"#nodes\">Nodes</a></nav>\n");
    let _ = write!(
        s,
        "<h2 id=\"summary\">Summary</h2>\n<p>Drawn from <a href=\"{0}\">{0}</a>; re-draw with <code>cometnet report &lt;this directory&gt;</code>. An edge A → B means A sent the crawler an address of B in a PEX reply.</p>\n",
        esc(source)
    );
    let networks = counts(
        c.nodes
            .iter()
            .filter_map(|n| n.node_info.as_ref().map(|i| i.network.clone())),
    );
    let foreign = c
        .nodes
        .iter()
        .filter_map(|n| n.node_info.as_ref())
        .filter(|i| i.network != c.network)
        .count();
    let rows = vec![
        vec!["network crawled".into(), esc(&c.network)],
        vec!["started".into(), esc(&c.started_at)],
        vec!["length".into(), format!("{} s", fmt_num(c.duration_s))],
        vec![
            "crawler id".into(),
            format!("<code>{}</code>", esc(&c.crawler_id)),
        ],
        vec![
            "seeds".into(),
            c.seeds
                .iter()
                .map(|x| format!("<code>{}</code>", esc(x)))
                .collect::<Vec<_>>()
                .join("<br>"),
        ],
        vec![
            "nodes heard of / reached".into(),
            num(format!(
                "{} / {}",
                fmt_int(c.nodes.len() as u64),
                fmt_int(reachable as u64)
            )),
        ],
        vec![
            "edges (directed / node pairs)".into(),
            num(format!(
                "{} / {}",
                fmt_int(g.directed as u64),
                fmt_int(g.pairs.len() as u64)
            )),
        ],
        vec![
            "versions of reached nodes".into(),
            counts(
                c.nodes
                    .iter()
                    .filter_map(|n| n.node_info.as_ref().map(|i| i.version.clone())),
            ),
        ],
        vec![
            "networks reported by reached nodes".into(),
            if foreign > 0 {
                format!("{networks} <span class=\"bad\">({foreign} on another network)</span>")
            } else {
                networks
            },
        ],
    ];
    s.push_str(&table(&["", ""], &rows));
    s.push_str("<h2 id=\"plots\">Plots</h2>\n");
    let captions = [
        "Who knows whom: a line joins A and B when either sent the crawler an address of the other. Colour: software version; square: a seed the crawl started from; hollow: never reached. Numbers (up to 60 nodes) are rows of the node table below.",
        "How many nodes sent each node's address (top), and how many other nodes' addresses each node sent (bottom; PEX replies are capped, so this shows address-book samples, not connections).",
    ];
    for (name, caption) in CRAWL_PLOTS.iter().zip(captions) {
        let (w, h) = if *name == "crawl-topology" {
            TOPOLOGY_SIZE
        } else {
            CHART_SIZE
        };
        let _ = writeln!(
            s,
            "<figure id=\"fig-{name}\"><img src=\"{name}.png\" width=\"{w}\" height=\"{h}\" alt=\"{name} plot\"><figcaption>{} <a href=\"{name}.svg\">SVG</a></figcaption></figure>",
            esc(caption)
        );
    }
    s.push_str("<h2 id=\"nodes\">Nodes</h2>\n");
    let rows: Vec<Vec<String>> = c
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let info = n.node_info.as_ref();
            let field = |f: fn(&crate::real::crawl::NodeInfoJson) -> &str| {
                info.map_or("–".to_owned(), |i| esc(f(i)))
            };
            let reached = if n.reachable {
                "<span class=\"ok\">✔</span>".to_owned()
            } else {
                format!(
                    "<span class=\"bad\">✘</span> {}",
                    esc(n.last_error.as_deref().unwrap_or(""))
                )
            };
            vec![
                num(i + 1),
                format!("<code>{}</code>", esc(&n.id)),
                n.addresses
                    .iter()
                    .map(|a| esc(a))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                field(|i| &i.moniker),
                field(|i| &i.version),
                field(|i| &i.network),
                field(|i| &i.channels),
                reached,
                num(format!("{} s", fmt_num(n.first_seen_s))),
                num(g.known_by.get(i).copied().unwrap_or(0)),
                num(g.knows.get(i).copied().unwrap_or(0)),
            ]
        })
        .collect();
    if rows.is_empty() {
        s.push_str("<p>The crawl found no nodes.</p>\n");
    } else {
        let t = table(
            &[
                "#",
                "node id",
                "addresses",
                "moniker",
                "version",
                "network",
                "channels",
                "reached",
                "first seen",
                "known by",
                "knows",
            ],
            &rows,
        );
        let _ = writeln!(
            s,
            "<div class=\"wide\">{}</div>",
            t.replacen("<table>", "<table class=\"nodes\">", 1)
        );
    }
    s.push_str("</body></html>\n");
    s
}

/// Writes the crawl's plots (SVG and PNG) and `index.html` into `dir`; the
/// page links the crawl file as `source` (its name in `dir`). Returns the
/// paths written, `index.html` last.
pub fn render_crawl(
    c: &CrawlReport,
    dir: &Path,
    source: &str,
) -> Result<Vec<PathBuf>, RenderError> {
    super::create_dir(dir)?;
    super::font::ensure().map_err(|message| RenderError::Draw {
        plot: "font".into(),
        message,
    })?;
    let g = graph(c);
    let mut out = Vec::new();
    emit!(out, dir, "crawl-topology", TOPOLOGY_SIZE, |a| topology(
        &a, c, &g
    ));
    emit!(out, dir, "crawl-degree", CHART_SIZE, |a| degree(&a, &g));
    let page = dir.join("index.html");
    write_file(&page, index(c, &g, source).as_bytes())?;
    out.push(page);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::crawl::CrawlNode;

    fn node(id: &str, version: Option<&str>) -> CrawlNode {
        CrawlNode {
            id: id.into(),
            addresses: vec![],
            node_info: version.map(|v| crate::real::crawl::NodeInfoJson {
                moniker: "m".into(),
                version: v.into(),
                network: "n".into(),
                channels: "00".into(),
                listen_addr: String::new(),
                protocol_version: crate::real::crawl::ProtocolVersionJson {
                    p2p: 8,
                    block: 11,
                    app: 0,
                },
                tx_index: String::new(),
                rpc_address: String::new(),
            }),
            first_seen_s: 0.0,
            reachable: version.is_some(),
            last_error: None,
        }
    }

    #[test]
    fn degrees_pairs_and_seeds() {
        let c = CrawlReport {
            network: "n".into(),
            started_at: String::new(),
            duration_s: 1.0,
            crawler_id: "ff".into(),
            seeds: vec!["AA@127.0.0.1:1".into()],
            nodes: vec![
                node("aa", Some("0.38")),
                node("bb", Some("0.38")),
                node("cc", None),
            ],
            edges: vec![
                ["aa".into(), "bb".into()],
                ["aa".into(), "cc".into()],
                ["bb".into(), "aa".into()],
                ["bb".into(), "zz".into()], // unknown node: ignored
                ["cc".into(), "cc".into()], // self: ignored
            ],
        };
        let g = graph(&c);
        assert_eq!(g.directed, 3);
        assert_eq!(g.pairs, vec![(0, 1), (0, 2)]);
        assert_eq!(g.known_by, vec![1, 1, 1]);
        assert_eq!(g.knows, vec![2, 1, 0]);
        let roles: Vec<&str> = g.nodes.iter().map(|n| n.role.as_str()).collect();
        assert_eq!(roles, ["seed", "full", "full"]);
        assert_eq!(g.nodes[2].zone, UNKNOWN);
        assert!(!g.nodes[2].up);
    }
}
