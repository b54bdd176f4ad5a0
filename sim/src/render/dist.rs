//! Distributions at the end of a run: the degree histogram, per-node
//! bandwidth (CDF of each node's mean send and receive rate), and gossip
//! propagation (CDF over messages of the time to reach 50/90/99/100% of the
//! running nodes).

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::theme::{
    byte_unit, fmt_bytes, fmt_num, fmt_tick, header, no_data, plural, text, Key, AXIS_PX, PALETTE,
    TICK_PX,
};
use super::DrawResult;
use crate::report::Report;

fn mesh_colors() -> (RGBColor, RGBColor) {
    (RGBColor(225, 225, 225), RGBColor(245, 245, 245))
}

/// Most bars of the degree histogram; wider degree ranges are binned.
const MAX_BARS: u32 = 60;

/// The histogram as (bin, nodes) with its bin width: degrees as they are
/// up to [`MAX_BARS`] bars, else bins of a round width (1, 2, 5 × 10^k).
pub(crate) fn degree_bins(h: &std::collections::BTreeMap<u32, u32>) -> (u32, Vec<(u32, u32)>) {
    let dmax = h.keys().copied().max().unwrap_or(0);
    let mut width = 1u32;
    let mut k = 0;
    while dmax / width + 1 > MAX_BARS {
        width = [2, 5, 10][k % 3] * 10u32.pow(k as u32 / 3);
        k += 1;
    }
    let mut bins: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
    for (&d, &c) in h {
        *bins.entry(d / width).or_default() += c;
    }
    (width, bins.into_iter().collect())
}

/// Histogram of peers per node at the end of the run.
pub(crate) fn degree<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Degree distribution at the end of the run";
    let total: u64 = r.degree_histogram.values().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return no_data(area, title, "the degree histogram is empty");
    }
    let (width, bins) = degree_bins(&r.degree_histogram);
    let bmax = bins.last().map_or(0, |b| b.0);
    let cmax = bins.iter().map(|b| b.1).max().unwrap_or(0);
    let sum: u64 = r
        .degree_histogram
        .iter()
        .map(|(&d, &c)| u64::from(d) * u64::from(c))
        .sum();
    let mean = sum as f64 / total as f64;
    let color = PALETTE[0];
    let keys = [(
        Key::Fill(color.mix(0.85)),
        format!(
            "nodes with that many peers ({}, mean {}, max {} peers)",
            plural(total, "node"),
            fmt_num(mean),
            r.degree_histogram.keys().max().copied().unwrap_or(0)
        ),
    )];
    let body = header(area, title, &keys)?;
    let ymax = (f64::from(cmax) * 1.1).ceil().max(1.0) as u32;
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(8)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d((0u32..bmax).into_segmented(), 0u32..ymax)?;
    let xfmt = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(b) | SegmentValue::Exact(b) if width == 1 => b.to_string(),
        SegmentValue::CenterOf(b) | SegmentValue::Exact(b) => {
            format!("{}–{}", b * width, (b + 1) * width - 1)
        }
        SegmentValue::Last => String::new(),
    };
    let x_desc = if width == 1 {
        "peers per node (degree)".to_owned()
    } else {
        format!("peers per node (degree, bins of {width})")
    };
    let (bold_c, light_c) = mesh_colors();
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("nodes")
        .axis_desc_style(text(AXIS_PX))
        .label_style(text(TICK_PX))
        .bold_line_style(bold_c)
        .light_line_style(light_c)
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

/// Most steps a CDF curve draws; longer ones are drawn through this many quantiles.
pub(crate) const CDF_STEPS: usize = 1000;

/// Points of a step CDF over `values` (sorted here): (value, fraction ≤
/// value), where `total` counts values that never happened too. Beyond
/// [`CDF_STEPS`] values the curve goes through evenly spaced quantiles
/// (keeps SVGs small for 10,000 nodes or messages).
pub(crate) fn cdf_points(values: &mut [f64], total: usize) -> Vec<(f64, f64)> {
    values.sort_by(f64::total_cmp);
    let n = total.max(values.len()).max(1) as f64;
    let mut out = Vec::with_capacity(values.len().min(CDF_STEPS) * 2 + 1);
    out.push((values.first().copied().unwrap_or(0.0), 0.0));
    if values.len() > CDF_STEPS {
        let last = values.len() - 1;
        for k in 0..CDF_STEPS {
            let i = k * last / (CDF_STEPS - 1);
            out.push((values[i], (i + 1) as f64 / n));
        }
        return out;
    }
    for (i, &v) in values.iter().enumerate() {
        out.push((v, i as f64 / n));
        out.push((v, (i + 1) as f64 / n));
    }
    out
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn cdf_chart<'a, DB: DrawingBackend>(
    body: &'a DrawingArea<DB, Shift>,
    xmax: f64,
    x_desc: &str,
    y_desc: &str,
) -> Result<super::theme::TimeChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(body)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(8)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..xmax, 0.0..1.02)?;
    let fmt = |v: &f64| fmt_tick(*v);
    let pct = |v: &f64| format!("{:.0}%", v * 100.0);
    let (bold_c, light_c) = mesh_colors();
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(text(AXIS_PX))
        .label_style(text(TICK_PX))
        .bold_line_style(bold_c)
        .light_line_style(light_c)
        .max_light_lines(1)
        .x_label_formatter(&fmt)
        .y_label_formatter(&pct)
        .draw()?;
    Ok(chart)
}

/// CDF over nodes of the mean bytes/s each node sent and received during the run.
pub(crate) fn bandwidth<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Per-node bandwidth (mean over the run)";
    let dur = r.header.duration_s.max(1e-9);
    let mut sent: Vec<f64> = r.nodes.iter().map(|n| n.bytes_sent as f64 / dur).collect();
    let mut recv: Vec<f64> = r
        .nodes
        .iter()
        .map(|n| n.bytes_received as f64 / dur)
        .collect();
    let max = sent.iter().chain(&recv).copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return no_data(area, title, "the report has no per-node byte counts");
    }
    let (div, unit) = byte_unit(max);
    sent.iter_mut()
        .chain(recv.iter_mut())
        .for_each(|v| *v /= div);
    let n = r.nodes.len();
    let (cs, cr) = (PALETTE[1], PALETTE[0]);
    let sent_pts = cdf_points(&mut sent, n);
    let recv_pts = cdf_points(&mut recv, n);
    let label = |what: &str, v: &[f64]| {
        format!(
            "{what} (median {}/s, max {}/s)",
            fmt_bytes(median(v) * div),
            fmt_bytes(v.last().copied().unwrap_or(0.0) * div)
        )
    };
    let keys = [
        (Key::Line(cs), label("sent", &sent)),
        (Key::Line(cr), label("received", &recv)),
    ];
    let body = header(area, title, &keys)?;
    let mut chart = cdf_chart(
        &body,
        max / div * 1.05,
        &format!("mean rate per node ({unit}/s)"),
        "nodes at or below (CDF)",
    )?;
    chart.draw_series(LineSeries::new(
        recv_pts,
        ShapeStyle::from(cr).stroke_width(3),
    ))?;
    chart.draw_series(LineSeries::new(
        sent_pts,
        ShapeStyle::from(cs).stroke_width(2),
    ))?;
    Ok(())
}

/// Colour of a reach level's curve: by level for the first two workloads
/// (the second one dashed), by workload and level after that.
fn reach_color(workload: usize, level: usize) -> RGBColor {
    const BY_LEVEL: [usize; 4] = [2, 0, 1, 3];
    if workload < 2 {
        PALETTE[BY_LEVEL[level % 4]]
    } else {
        PALETTE[(workload * 4 + level) % PALETTE.len()]
    }
}

/// CDF over messages of the time to reach each fraction of the running nodes.
pub(crate) fn propagation<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Gossip propagation: time for a message to reach a share of the nodes";
    let xmax = r
        .gossip
        .values()
        .flat_map(|g| g.reach.iter().flat_map(|s| s.times_ms.iter().copied()))
        .fold(0.0, f64::max);
    if r.gossip
        .values()
        .all(|g| g.reach.iter().all(|s| s.times_ms.is_empty()))
    {
        return no_data(
            area,
            title,
            "no gossip message reached its targets in this run",
        );
    }
    let many = r.gossip.len();
    let mut keys = Vec::new();
    let mut curves = Vec::new();
    for (wi, (name, g)) in r.gossip.iter().enumerate() {
        for (li, s) in g.reach.iter().enumerate() {
            if s.times_ms.is_empty() {
                continue;
            }
            let c = reach_color(wi, li);
            let dashed = wi == 1;
            let who = if many > 1 {
                format!("{name}: ")
            } else {
                String::new()
            };
            let p50 = s
                .p50_ms
                .map_or("–".to_owned(), |v| format!("{} ms", fmt_num(v)));
            let key = if dashed { Key::Dashed(c) } else { Key::Line(c) };
            keys.push((
                key,
                format!("{who}{:.0}% of nodes (p50 {p50})", s.fraction * 100.0),
            ));
            let mut times = s.times_ms.clone();
            let total = usize::try_from(g.messages).unwrap_or(usize::MAX);
            curves.push((c, dashed, cdf_points(&mut times, total)));
        }
    }
    let body = header(area, title, &keys)?;
    let mut chart = cdf_chart(
        &body,
        (xmax * 1.05).max(1.0),
        "time since publication (ms)",
        "messages that got there (CDF)",
    )?;
    for (c, dashed, pts) in curves {
        let style = ShapeStyle::from(c).stroke_width(2);
        if dashed {
            chart.draw_series(DashedLineSeries::new(pts, 8, 5, style))?;
        } else {
            chart.draw_series(LineSeries::new(pts, style))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_counts_messages_that_never_arrived() {
        let mut v = vec![30.0, 10.0];
        let pts = cdf_points(&mut v, 4);
        assert_eq!(
            pts,
            vec![
                (10.0, 0.0),
                (10.0, 0.0),
                (10.0, 0.25),
                (30.0, 0.25),
                (30.0, 0.5)
            ]
        );
    }

    #[test]
    fn long_cdfs_are_drawn_through_quantiles() {
        let mut v: Vec<f64> = (0..10_000).rev().map(f64::from).collect();
        let pts = cdf_points(&mut v, 20_000);
        assert_eq!(pts.len(), CDF_STEPS + 1);
        assert_eq!(pts[1], (0.0, 1.0 / 20_000.0));
        assert_eq!(*pts.last().unwrap(), (9999.0, 0.5));
    }

    #[test]
    fn wide_degree_ranges_are_binned() {
        let h = std::collections::BTreeMap::from([(0u32, 5u32), (3, 1), (130, 2), (9_999, 1)]);
        let (w, bins) = degree_bins(&h);
        assert_eq!(w, 200);
        assert_eq!(bins, vec![(0, 8), (49, 1)]);
        let (w, bins) = degree_bins(&std::collections::BTreeMap::from([(2u32, 4u32), (7, 1)]));
        assert_eq!((w, bins), (1, vec![(2, 4), (7, 1)]));
    }

    #[test]
    fn colours_by_level_for_one_workload() {
        assert_eq!(reach_color(0, 0), PALETTE[2]);
        assert_eq!(reach_color(1, 0), PALETTE[2]);
        assert_ne!(reach_color(2, 0), reach_color(0, 0));
    }
}
