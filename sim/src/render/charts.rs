//! Time series of a run (x = simulated seconds, the scenario's fault windows
//! shaded and its events marked): peers per node, connected components (with
//! the time to reconverge after each heal or restart), address-book sizes,
//! and per-channel throughput.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::theme::{
    byte_unit, channel_color, channel_name, draw_faults, fault_keys, faults, fmt_num, header,
    no_data, time_end, time_mesh, time_mesh_ticks, Key, TimeChart, PALETTE,
};
use super::DrawResult;
use crate::report::Report;

/// Most events whose numbers are written on the charts (beyond, lines only).
const NUMBERED_EVENTS: usize = 30;

fn build<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    end: f64,
    ymax: f64,
    x_labels: bool,
) -> Result<TimeChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(28)
        .margin_top(8)
        .margin_bottom(8)
        .x_label_area_size(if x_labels { 56 } else { 28 })
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..end, 0.0..ymax)
}

/// Peers per running node: min–max band, mean, mean outbound and inbound.
pub(crate) fn peers<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Peers per running node over time";
    if r.samples.is_empty() {
        return no_data(area, title, "the report has no samples");
    }
    let rows = r.samples.iter().map(|s| {
        let (lo, hi) = (f64::from(s.peers_min), f64::from(s.peers_max));
        (s.t, [lo, hi, s.peers_mean, s.outbound_mean, s.inbound_mean])
    });
    let spec = Band {
        title,
        y_label: "peers (connections per node)",
        colors: [PALETTE[0], PALETTE[1], PALETTE[2]],
        labels: ["mean", "mean outbound", "mean inbound"],
    };
    band_chart(area, r, &spec, rows.collect())
}

/// What a [`band_chart`] shows: its colours (band and main line, then the
/// two dashed lines) and the labels of the main and dashed lines.
struct Band<'a> {
    title: &'a str,
    y_label: &'a str,
    colors: [RGBColor; 3],
    labels: [&'a str; 3],
}

/// A chart over time of a min–max band, a main line and two dashed lines,
/// under the run's fault shading; each row is `(t, [min, max, main,
/// dashed 1, dashed 2])`.
fn band_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
    spec: &Band<'_>,
    rows: Vec<(f64, [f64; 5])>,
) -> DrawResult<DB> {
    let end = time_end(r);
    let f = faults(&r.timeline, end);
    let top = rows.iter().map(|(_, v)| v[1]).fold(0.0, f64::max);
    let ymax = (top * 1.1).max(1.0) + 0.5;
    let [band, d1, d2] = spec.colors;
    let mut keys = vec![
        (Key::Fill(band.mix(0.2)), "min–max over nodes".to_owned()),
        (Key::Line(band), spec.labels[0].to_owned()),
        (Key::Dashed(d1), spec.labels[1].to_owned()),
        (Key::Dashed(d2), spec.labels[2].to_owned()),
    ];
    keys.extend(fault_keys(&f));
    let body = header(area, spec.title, &keys)?;
    let mut chart = build(&body, end, ymax, true)?;
    time_mesh(&mut chart, spec.y_label, true)?;
    draw_faults(
        &mut chart,
        &f,
        (0.0, ymax),
        f.marks.len() <= NUMBERED_EVENTS,
    )?;
    let mut pts: Vec<(f64, f64)> = rows.iter().map(|(t, v)| (*t, v[1])).collect();
    pts.extend(rows.iter().rev().map(|(t, v)| (*t, v[0])));
    chart.draw_series(std::iter::once(Polygon::new(pts, band.mix(0.2).filled())))?;
    let thin = |c: RGBColor| ShapeStyle::from(c).stroke_width(2);
    for (i, c) in [(3, d1), (4, d2)] {
        chart.draw_series(DashedLineSeries::new(
            rows.iter().map(|(t, v)| (*t, v[i])),
            8,
            5,
            thin(c),
        ))?;
    }
    chart.draw_series(LineSeries::new(
        rows.iter().map(|(t, v)| (*t, v[2])),
        ShapeStyle::from(band).stroke_width(3),
    ))?;
    Ok(())
}

/// Connected components (top) and the largest component against nodes up (bottom).
pub(crate) fn components<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Connected components over time";
    if r.samples.is_empty() {
        return no_data(area, title, "the report has no samples");
    }
    let end = time_end(r);
    let f = faults(&r.timeline, end);
    let (comp, largest, up) = (PALETTE[3], PALETTE[0], PALETTE[7]);
    let mut keys = vec![
        (
            Key::Line(comp),
            "components among running non-seed nodes".to_owned(),
        ),
        (Key::Line(largest), "largest component (nodes)".to_owned()),
        (Key::Dashed(up), "nodes running, seeds included".to_owned()),
    ];
    let reconv = reconvergence_spans(r, end);
    keys.extend(reconvergence_keys(r));
    keys.extend(fault_keys(&f));
    let body = header(area, title, &keys)?;
    let (h, _) = (body.dim_in_pixel().1, ());
    let (upper, lower) = body.split_vertically(h * 45 / 100);
    let cmax = r.samples.iter().map(|s| s.components).max().unwrap_or(0);
    let cy = (f64::from(cmax) * 1.15).max(2.0) + 0.5;
    let mut c1 = build(&upper, end, cy, false)?;
    time_mesh_ticks(
        &mut c1,
        "components",
        false,
        Some((cmax as usize + 2).min(8)),
    )?;
    draw_faults(&mut c1, &f, (0.0, cy), f.marks.len() <= NUMBERED_EVENTS)?;
    draw_reconvergence(&mut c1, &reconv, cy)?;
    let step = |v: Vec<(f64, f64)>| {
        // Hold each value until the next sample: counts change in steps.
        let mut out = Vec::with_capacity(v.len() * 2);
        for (k, &(t, y)) in v.iter().enumerate() {
            if k > 0 {
                out.push((t, v[k - 1].1));
            }
            out.push((t, y));
        }
        out
    };
    c1.draw_series(LineSeries::new(
        step(
            r.samples
                .iter()
                .map(|s| (s.t, f64::from(s.components)))
                .collect(),
        ),
        ShapeStyle::from(comp).stroke_width(3),
    ))?;
    let nmax = r
        .samples
        .iter()
        .map(|s| s.up.max(s.largest_component))
        .max()
        .unwrap_or(0);
    let ny = (f64::from(nmax) * 1.1).max(1.0);
    let mut c2 = build(&lower, end, ny, true)?;
    time_mesh(&mut c2, "nodes", true)?;
    draw_faults(&mut c2, &f, (0.0, ny), false)?;
    c2.draw_series(LineSeries::new(
        step(
            r.samples
                .iter()
                .map(|s| (s.t, f64::from(s.largest_component)))
                .collect(),
        ),
        ShapeStyle::from(largest).stroke_width(3),
    ))?;
    c2.draw_series(DashedLineSeries::new(
        step(r.samples.iter().map(|s| (s.t, f64::from(s.up))).collect()),
        8,
        5,
        ShapeStyle::from(up).stroke_width(2),
    ))?;
    Ok(())
}

/// Colour of reconvergence spans.
const RECONVERGE: RGBColor = RGBColor(44, 160, 44);
/// Most reconvergence times listed one by one in the legend.
const LISTED_SPANS: usize = 4;

/// Legend entries of the reconvergence spans: each time with its timeline
/// number when there are few, else one entry pointing to the table.
fn reconvergence_keys(r: &Report) -> Vec<(Key, String)> {
    let fill = Key::Fill(RECONVERGE.mix(0.28));
    if r.reconvergence.is_empty() {
        return Vec::new();
    }
    if r.reconvergence.len() > LISTED_SPANS {
        return vec![(
            fill,
            "until one component again (times in index.html)".to_owned(),
        )];
    }
    r.reconvergence
        .iter()
        .map(|x| {
            let number = r
                .timeline
                .iter()
                .position(|(t, d)| *t == x.at_s && *d == x.event)
                .map_or(String::new(), |i| format!("{} ", i + 1));
            let word = x.event.split_whitespace().next().unwrap_or("");
            let after = match x.reconverged_after_s {
                Some(d) => format!("one component after {} s", fmt_num(d)),
                None => "never one component again".to_owned(),
            };
            (fill, format!("{number}{word}: {after}"))
        })
        .collect()
}

/// (start s, end s) of each reconvergence span; spans that never ended run
/// to `end`; instant ones (0 s) are left out.
pub(crate) fn reconvergence_spans(r: &Report, end: f64) -> Vec<(f64, f64)> {
    r.reconvergence
        .iter()
        .filter_map(|x| match x.reconverged_after_s {
            Some(d) if d > 0.0 => Some((x.at_s, x.at_s + d)),
            Some(_) => None,
            None => Some((x.at_s, end.max(x.at_s))),
        })
        .collect()
}

/// Shades each reconvergence span in the lower third of the chart, with its
/// end marked (the legend gives the lengths).
fn draw_reconvergence<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    spans: &[(f64, f64)],
    ymax: f64,
) -> DrawResult<DB> {
    let band = ymax * 0.3;
    chart.draw_series(
        spans
            .iter()
            .map(|(s, e)| Rectangle::new([(*s, 0.0), (*e, band)], RECONVERGE.mix(0.28).filled())),
    )?;
    for (_, e) in spans {
        chart.draw_series(LineSeries::new(
            [(*e, 0.0), (*e, band)],
            ShapeStyle::from(RECONVERGE).stroke_width(2),
        ))?;
    }
    Ok(())
}

/// Address-book sizes of the running nodes with PEX: min–max band, median,
/// mean of the new and of the old buckets.
pub(crate) fn addrbook<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Address book size over time";
    if r.samples.iter().all(|s| s.addrbook.nodes == 0) {
        return no_data(
            area,
            title,
            "no address books in the samples (PEX off, or an older report)",
        );
    }
    let rows = r.samples.iter().filter(|s| s.addrbook.nodes > 0).map(|s| {
        let b = &s.addrbook;
        let (lo, hi, mid) = (f64::from(b.min), f64::from(b.max), f64::from(b.median));
        (s.t, [lo, hi, mid, b.new_mean, b.old_mean])
    });
    let spec = Band {
        title,
        y_label: "addresses known per node",
        colors: [PALETTE[4], PALETTE[1], PALETTE[2]],
        labels: ["median", "mean in new buckets", "mean in old buckets"],
    };
    band_chart(area, r, &spec, rows.collect())
}

/// Bytes/s per channel between consecutive samples, from the cumulative
/// `bytes_sent` (the first sample counts from t = 0). Channels that never
/// carried a byte are left out; a counter that went down counts as 0.
pub(crate) fn channel_rates(r: &Report) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let keys: std::collections::BTreeSet<&String> =
        r.samples.iter().flat_map(|s| s.bytes_sent.keys()).collect();
    for key in keys {
        let mut prev = (0.0f64, 0u64);
        let mut series = Vec::new();
        let mut any = false;
        for s in &r.samples {
            let b = s.bytes_sent.get(key).copied().unwrap_or(prev.1);
            let dt = s.t - prev.0;
            if dt > 0.0 {
                let rate = b.saturating_sub(prev.1) as f64 / dt;
                any |= rate > 0.0;
                series.push((s.t, rate));
            }
            prev = (s.t, b);
        }
        if any {
            out.insert(key.clone(), series);
        }
    }
    out
}

/// Per-channel throughput over time (all nodes' sends together).
pub(crate) fn throughput<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Throughput per channel over time (all nodes, sent)";
    let rates = channel_rates(r);
    if rates.is_empty() {
        return no_data(area, title, "no channel carried bytes in the samples");
    }
    let end = time_end(r);
    let f = faults(&r.timeline, end);
    let max = rates.values().flatten().map(|p| p.1).fold(0.0, f64::max);
    let (div, unit) = byte_unit(max);
    let ymax = (max / div * 1.1).max(1e-9);
    let mut keys: Vec<(Key, String)> = rates
        .keys()
        .map(|k| (Key::Line(channel_color(k)), channel_name(k)))
        .collect();
    keys.extend(fault_keys(&f));
    let body = header(area, title, &keys)?;
    let mut chart = build(&body, end, ymax, true)?;
    time_mesh(&mut chart, &format!("throughput ({unit}/s)"), true)?;
    draw_faults(
        &mut chart,
        &f,
        (0.0, ymax),
        f.marks.len() <= NUMBERED_EVENTS,
    )?;
    for (k, series) in &rates {
        chart.draw_series(LineSeries::new(
            series.iter().map(|&(t, v)| (t, v / div)),
            ShapeStyle::from(channel_color(k)).stroke_width(2),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Sample;

    fn sample(t: f64, bytes: &[(&str, u64)]) -> Sample {
        Sample {
            t,
            up: 1,
            peers_min: 0,
            peers_mean: 0.0,
            peers_max: 0,
            outbound_mean: 0.0,
            inbound_mean: 0.0,
            components: 1,
            largest_component: 1,
            bytes_sent: bytes.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            messages_sent: BTreeMap::new(),
            peers_per_node: Vec::new(),
            addrbook: Default::default(),
            addrbook_per_node: Vec::new(),
        }
    }

    #[test]
    fn rates_from_cumulative_counters() {
        let mut r = crate::render::tests_support::tiny();
        r.samples = vec![
            sample(1.0, &[("0x00", 100), ("0x20", 0)]),
            sample(2.0, &[("0x00", 300), ("0x20", 0)]),
            sample(4.0, &[("0x00", 250), ("0x20", 0)]),
        ];
        let rates = channel_rates(&r);
        assert_eq!(rates.keys().collect::<Vec<_>>(), ["0x00"]);
        assert_eq!(rates["0x00"], vec![(1.0, 100.0), (2.0, 200.0), (4.0, 0.0)]);
    }
}
