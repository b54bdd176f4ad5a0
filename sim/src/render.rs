//! Views of a run, drawn from its `report.json` alone: plots (SVG and PNG,
//! with `plotters`) and a self-contained `index.html`; plus a page comparing
//! two runs; and the map of a live network from `cometnet crawl`.
//!
//! Module map:
//! - [`render_run`]: every view of one run into a directory.
//! - [`compare()`]: two runs side by side with the differences of the headline numbers.
//! - `font`: the embedded DejaVu Sans, registered with plotters (no system fonts).
//! - `theme`: colours, text sizes, number formatting, "no data" panels, the
//!   fault timeline (intervals to shade on time axes).
//! - `raster`: the PNG backend (plotters' bitmap backend with correct glyph placement).
//! - `layout`: deterministic node positions for the topology picture.
//! - `topology`: the peer graph (≤ [`AGGREGATE_ABOVE`] nodes) or the zone/role
//!   matrix (larger runs).
//! - `charts`: time series (peers, components and reconvergence, address-book
//!   sizes, per-channel throughput).
//! - `dist`: distributions (degree histogram, per-node bandwidth, propagation CDF).
//! - `diversity`: peer and address-book diversity (runs with adversaries).
//! - `html`: `index.html`.
//! - `compare`: the comparison page.
//! - [`render_crawl`]: the topology report of a live network from `crawl.json`.

mod charts;
mod compare;
mod crawl;
mod dist;
mod diversity;
mod font;
mod html;
mod layout;
mod raster;
mod theme;
mod topology;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Report;

pub use self::compare::compare;
pub use self::crawl::{render_crawl, CRAWL_PLOTS};
pub use self::theme::channel_name;

/// Pixel size of the topology picture (PNG; the SVG has the same user units).
pub const TOPOLOGY_SIZE: (u32, u32) = (1100, 900);
/// Pixel size of every other plot.
pub const CHART_SIZE: (u32, u32) = (1000, 560);
/// Above this many nodes the topology picture aggregates nodes by zone and role.
pub const AGGREGATE_ABOVE: usize = 500;

/// Base names of the plots [`render_run`] writes (each as `.svg` and `.png`), in page order.
pub const PLOTS: [&str; 8] = [
    "topology",
    "degree",
    "peers",
    "components",
    "addrbook",
    "throughput",
    "bandwidth",
    "propagation",
];

/// Why a view could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Writing a file (or creating the directory) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// plotters failed to draw or encode a plot.
    #[error("drawing {plot}: {message}")]
    Draw {
        /// Which plot.
        plot: String,
        /// plotters' message.
        message: String,
    },
}

/// Result of drawing on one backend.
pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_err<E: std::error::Error + Send + Sync>(
    plot: &str,
    e: DrawingAreaErrorKind<E>,
) -> RenderError {
    RenderError::Draw {
        plot: plot.to_owned(),
        message: e.to_string(),
    }
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RenderError> {
    std::fs::write(path, bytes).map_err(|source| RenderError::Io {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), RenderError> {
    std::fs::create_dir_all(dir).map_err(|source| RenderError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// Draws one picture twice, as `<dir>/<name>.svg` and `<dir>/<name>.png`:
/// `$draw` is a closure-like `|area| expr` expanded once per backend (the
/// drawing functions are generic over the backend).
macro_rules! emit {
    ($out:expr, $dir:expr, $name:expr, $size:expr, |$area:ident| $draw:expr) => {{
        let name: &str = $name;
        let svg_path = $dir.join(format!("{name}.svg"));
        let mut text = String::new();
        {
            let $area =
                plotters::prelude::SVGBackend::with_string(&mut text, $size).into_drawing_area();
            $draw.map_err(|e| draw_err(name, e))?;
            $area.present().map_err(|e| draw_err(name, e))?;
        }
        write_file(&svg_path, text.as_bytes())?;
        let png_path = $dir.join(format!("{name}.png"));
        {
            let $area = $crate::render::raster::Raster::new(&png_path, $size).into_drawing_area();
            $draw.map_err(|e| draw_err(name, e))?;
            $area.present().map_err(|e| draw_err(name, e))?;
        }
        $out.push(svg_path);
        $out.push(png_path);
    }};
}
pub(crate) use emit;

/// Fills the area white; every picture starts with it.
pub(crate) fn clear<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    area.fill(&WHITE)
}

/// Writes every plot of `report` (as SVG and PNG) and `index.html` into `dir`
/// (created if needed); returns the paths written, `index.html` last.
pub fn render_run(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, RenderError> {
    create_dir(dir)?;
    font::ensure().map_err(|message| RenderError::Draw {
        plot: "font".into(),
        message,
    })?;
    let mut out = Vec::new();
    emit!(out, dir, "topology", TOPOLOGY_SIZE, |a| topology::draw(
        &a, report
    ));
    emit!(out, dir, "degree", CHART_SIZE, |a| dist::degree(&a, report));
    emit!(out, dir, "peers", CHART_SIZE, |a| charts::peers(&a, report));
    emit!(out, dir, "components", CHART_SIZE, |a| charts::components(
        &a, report
    ));
    emit!(out, dir, "addrbook", CHART_SIZE, |a| charts::addrbook(
        &a, report
    ));
    emit!(out, dir, "throughput", CHART_SIZE, |a| charts::throughput(
        &a, report
    ));
    emit!(out, dir, "bandwidth", CHART_SIZE, |a| dist::bandwidth(
        &a, report
    ));
    emit!(out, dir, "propagation", CHART_SIZE, |a| dist::propagation(
        &a, report
    ));
    if report.adversary.is_some() {
        emit!(out, dir, diversity::NAME, CHART_SIZE, |a| diversity::draw(
            &a, report
        ));
    }
    let index = dir.join("index.html");
    write_file(&index, html::index(report).as_bytes())?;
    out.push(index);
    Ok(out)
}

/// A small report for the unit tests of the render modules.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::collections::BTreeMap;

    use crate::collect::{GossipSummary, ReachStat, Totals};
    use crate::report::{Header, NodeFinal, Report, Sample};

    /// Three nodes in a line, two samples, one gossip workload `tx`.
    pub(crate) fn tiny() -> Report {
        let nodes = (0..3)
            .map(|i| NodeFinal {
                index: i,
                id: format!("{i:040x}"),
                group: "g".into(),
                zone: "Tokyo".into(),
                role: "full".into(),
                up: true,
                inbound: 1,
                outbound: 1,
                addrbook: 2,
                bytes_sent: 1000,
                bytes_received: 1000,
            })
            .collect();
        let sample = |t: f64, b: u64| Sample {
            t,
            up: 3,
            peers_min: 1,
            peers_mean: 1.33,
            peers_max: 2,
            outbound_mean: 0.67,
            inbound_mean: 0.67,
            components: 1,
            largest_component: 3,
            bytes_sent: BTreeMap::from([("0x70".to_owned(), b)]),
            messages_sent: BTreeMap::from([("0x70".to_owned(), b / 100)]),
            peers_per_node: vec![1, 2, 1],
            addrbook: crate::report::AddrBookStats::of(&[(1, 1), (2, 0), (1, 2)]),
            addrbook_per_node: vec![2, 2, 3],
        };
        Report {
            schema_version: crate::report::SCHEMA_VERSION,
            header: Header {
                scenario: "tiny".into(),
                scenario_id: "0123456789ab".into(),
                seed: 7,
                tool_version: "0.1.0".into(),
                engine: "sim".into(),
                duration_s: 2.0,
                nodes: 3,
                wall_time_s: 0.1,
                reproduce: "cometnet run tiny.toml --seed 7".into(),
            },
            event_hash: "ab".repeat(32),
            samples: vec![sample(1.0, 500), sample(2.0, 1500)],
            nodes,
            degree_histogram: BTreeMap::from([(1, 2), (2, 1)]),
            edges: vec![(0, 1), (1, 2)],
            paths: Default::default(),
            totals: Totals::default(),
            gossip: BTreeMap::from([(
                "tx".to_owned(),
                GossipSummary {
                    messages: 2,
                    deliveries: 6,
                    reach: vec![ReachStat {
                        fraction: 0.5,
                        messages_reaching: 1.0,
                        p50_ms: Some(10.0),
                        p90_ms: Some(20.0),
                        times_ms: vec![10.0, 20.0],
                    }],
                    ..GossipSummary::default()
                },
            )]),
            timeline: vec![(1.5, "crash g[0]".into())],
            assertions: Vec::new(),
            reconvergence: Vec::new(),
            adversary: None,
        }
    }
}
