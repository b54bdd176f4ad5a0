//! Two runs side by side: a table of headline numbers with their
//! differences, two overlay charts (peers over time, 90% propagation CDF),
//! and each run's own plots next to each other (each run is rendered in full
//! into `a/` and `b/` under the output directory).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::dist::cdf_points;
use super::html::{badge, esc, num, table, CSS, FIGURES};
use super::theme::{
    channel_name, fmt_bytes, fmt_num, fmt_tick, header, no_data, text, time_end, time_mesh, Key,
    AXIS_PX, PALETTE, TICK_PX,
};
use super::{
    create_dir, draw_err, emit, font, render_run, write_file, DrawResult, RenderError, CHART_SIZE,
};
use crate::report::Report;

/// How a headline number is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Count,
    Real,
    Bytes,
    Ms,
    Pct,
    Secs,
}

fn show(v: Option<f64>, u: Unit) -> String {
    let Some(v) = v else {
        return "–".into();
    };
    match u {
        Unit::Count => format!("{v:.0}"),
        Unit::Real => fmt_num(v),
        Unit::Bytes => fmt_bytes(v),
        Unit::Ms => format!("{} ms", fmt_num(v)),
        Unit::Pct => format!("{v:.1}%"),
        Unit::Secs => format!("{} s", fmt_num(v)),
    }
}

/// The headline numbers of a run: (name, value, unit), in display order.
fn headline(r: &Report) -> Vec<(String, Option<f64>, Unit)> {
    let last = r.samples.last();
    let t = &r.totals;
    let f = |x: u64| Some(x as f64);
    let mut v = vec![
        ("nodes".to_owned(), Some(r.header.nodes as f64), Unit::Count),
        (
            "simulated duration".to_owned(),
            Some(r.header.duration_s),
            Unit::Secs,
        ),
        (
            "final nodes running".to_owned(),
            last.map(|s| f64::from(s.up)),
            Unit::Count,
        ),
        (
            "final mean peers".to_owned(),
            last.map(|s| s.peers_mean),
            Unit::Real,
        ),
        (
            "final min peers".to_owned(),
            last.map(|s| f64::from(s.peers_min)),
            Unit::Count,
        ),
        (
            "final components".to_owned(),
            last.map(|s| f64::from(s.components)),
            Unit::Count,
        ),
        (
            "final largest component".to_owned(),
            last.map(|s| f64::from(s.largest_component)),
            Unit::Count,
        ),
        ("dials".to_owned(), f(t.dials), Unit::Count),
        ("dials succeeded".to_owned(), f(t.dials_ok), Unit::Count),
        (
            "inbound refused".to_owned(),
            f(t.inbound_rejected),
            Unit::Count,
        ),
        ("peers added".to_owned(), f(t.peers_added), Unit::Count),
        ("peers removed".to_owned(), f(t.peers_removed), Unit::Count),
    ];
    for (name, g) in &r.gossip {
        v.push((
            format!("gossip {name}: coverage"),
            Some(g.mean_coverage * 100.0),
            Unit::Pct,
        ));
        v.push((
            format!("gossip {name}: duplicate ratio"),
            Some(g.duplicate_ratio),
            Unit::Real,
        ));
        v.push((format!("gossip {name}: dropped"), f(g.dropped), Unit::Count));
        for s in &g.reach {
            let lvl = format!("{:.0}%", s.fraction * 100.0);
            v.push((
                format!("gossip {name}: {lvl} reach p50"),
                s.p50_ms,
                Unit::Ms,
            ));
            v.push((
                format!("gossip {name}: {lvl} reach p90"),
                s.p90_ms,
                Unit::Ms,
            ));
        }
    }
    if let Some(b) = last.map(|s| &s.addrbook).filter(|b| b.nodes > 0) {
        v.push((
            "final median address book".to_owned(),
            Some(f64::from(b.median)),
            Unit::Count,
        ));
    }
    for x in &r.reconvergence {
        v.push((
            format!(
                "one component again after {} at {} s",
                x.event,
                fmt_num(x.at_s)
            ),
            x.reconverged_after_s,
            Unit::Secs,
        ));
    }
    if let Some(s) = last {
        for (k, &b) in &s.bytes_sent {
            v.push((
                format!("bytes sent {}", channel_name(k)),
                Some(b as f64),
                Unit::Bytes,
            ));
        }
        v.push((
            "bytes sent, all channels".to_owned(),
            Some(s.bytes_sent.values().sum::<u64>() as f64),
            Unit::Bytes,
        ));
    }
    let passed = r.assertions.iter().filter(|a| a.passed).count();
    v.push((
        "assertions passed".to_owned(),
        Some(passed as f64),
        Unit::Count,
    ));
    v.push((
        "wall time".to_owned(),
        Some(r.header.wall_time_s),
        Unit::Secs,
    ));
    v
}

/// Rows of (name, A, B, unit): A's order, then names only B has.
fn joined(a: &Report, b: &Report) -> Vec<(String, Option<f64>, Option<f64>, Unit)> {
    let (ha, hb) = (headline(a), headline(b));
    let mut rows: Vec<(String, Option<f64>, Option<f64>, Unit)> = ha
        .iter()
        .map(|(n, va, u)| {
            (
                n.clone(),
                *va,
                hb.iter().find(|x| x.0 == *n).and_then(|x| x.1),
                *u,
            )
        })
        .collect();
    for (n, vb, u) in hb {
        if !ha.iter().any(|x| x.0 == n) {
            rows.push((n, None, vb, u));
        }
    }
    rows
}

fn diff_cells(a: Option<f64>, b: Option<f64>, u: Unit) -> (String, String) {
    let (Some(a), Some(b)) = (a, b) else {
        return ("–".into(), "–".into());
    };
    let d = b - a;
    let shown = match u {
        Unit::Bytes => format!("{}{}", if d < 0.0 { "−" } else { "+" }, fmt_bytes(d.abs())),
        Unit::Pct => format!("{d:+.1} pt"),
        _ => {
            let s = show(Some(d.abs()), u);
            format!("{}{s}", if d < 0.0 { "−" } else { "+" })
        }
    };
    let rel = if a != 0.0 {
        let p = 100.0 * d / a.abs();
        let s = format!("{}{:.1}%", if p < 0.0 { "−" } else { "+" }, p.abs());
        // Changes of 10% or more stand out.
        if p.abs() >= 10.0 {
            format!("<b>{s}</b>")
        } else {
            s
        }
    } else {
        "–".into()
    };
    if d == 0.0 {
        ("0".into(), "0%".into())
    } else {
        (shown, rel)
    }
}

fn run_label(r: &Report) -> String {
    format!("{} (seed {})", r.header.scenario, r.header.seed)
}

fn overlay_peers<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    a: &Report,
    b: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Mean and minimum peers per running node: A vs B";
    if a.samples.is_empty() && b.samples.is_empty() {
        return no_data(area, title, "neither report has samples");
    }
    let end = time_end(a).max(time_end(b));
    let top = a
        .samples
        .iter()
        .chain(&b.samples)
        .map(|s| s.peers_mean.max(f64::from(s.peers_min)))
        .fold(0.0, f64::max);
    let ymax = (top * 1.15).max(1.0);
    let (ca, cb) = (PALETTE[0], PALETTE[1]);
    let keys = [
        (Key::Line(ca), format!("A mean: {}", run_label(a))),
        (Key::Dashed(ca), "A min".to_owned()),
        (Key::Line(cb), format!("B mean: {}", run_label(b))),
        (Key::Dashed(cb), "B min".to_owned()),
    ];
    let body = header(area, title, &keys)?;
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(8)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..end, 0.0..ymax)?;
    time_mesh(&mut chart, "peers per node", true)?;
    for (r, c) in [(a, ca), (b, cb)] {
        chart.draw_series(DashedLineSeries::new(
            r.samples.iter().map(|s| (s.t, f64::from(s.peers_min))),
            8,
            5,
            ShapeStyle::from(c).stroke_width(2),
        ))?;
        chart.draw_series(LineSeries::new(
            r.samples.iter().map(|s| (s.t, s.peers_mean)),
            ShapeStyle::from(c).stroke_width(3),
        ))?;
    }
    Ok(())
}

fn overlay_propagation<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    a: &Report,
    b: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let title = "Time to reach 90% of the nodes: A vs B";
    let mut keys = Vec::new();
    let mut curves = Vec::new();
    let names: std::collections::BTreeSet<&String> =
        a.gossip.keys().chain(b.gossip.keys()).collect();
    for (wi, name) in names.iter().enumerate() {
        for (ri, (r, tag)) in [(a, "A"), (b, "B")].into_iter().enumerate() {
            let Some(g) = r.gossip.get(*name) else {
                continue;
            };
            let Some(s) = g.reach.iter().find(|s| (s.fraction - 0.9).abs() < 1e-9) else {
                continue;
            };
            if s.times_ms.is_empty() {
                continue;
            }
            // Colour: workload; solid: A, dashed: B.
            let c = PALETTE[wi % PALETTE.len()];
            let key = if ri == 0 {
                Key::Line(c)
            } else {
                Key::Dashed(c)
            };
            keys.push((key, format!("{tag}: {name}")));
            let mut t = s.times_ms.clone();
            curves.push((
                c,
                ri == 1,
                cdf_points(&mut t, usize::try_from(g.messages).unwrap_or(usize::MAX)),
            ));
        }
    }
    if curves.is_empty() {
        return no_data(
            area,
            title,
            "no gossip message reached 90% of the nodes in either run",
        );
    }
    let xmax = curves
        .iter()
        .flat_map(|c| c.2.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let body = header(area, title, &keys)?;
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(28)
        .margin_bottom(8)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..(xmax * 1.05).max(1.0), 0.0..1.02)?;
    let fmt = |v: &f64| fmt_tick(*v);
    let pct = |v: &f64| format!("{:.0}%", v * 100.0);
    chart
        .configure_mesh()
        .x_desc("time since publication (ms)")
        .y_desc("messages that got there (CDF)")
        .axis_desc_style(text(AXIS_PX))
        .label_style(text(TICK_PX))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(245, 245, 245))
        .max_light_lines(1)
        .x_label_formatter(&fmt)
        .y_label_formatter(&pct)
        .draw()?;
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

fn page(a: &Report, b: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Compare {} vs {}</title>\n<style>\n{CSS}\n.pair{{display:grid;grid-template-columns:1fr 1fr;gap:12px}}.pair figure{{margin:6px 0}}\n</style></head><body>\n<h1>Comparing two runs</h1>\n",
        esc(&run_label(a)),
        esc(&run_label(b))
    );
    let id_rows: Vec<Vec<String>> = [("A", a), ("B", b)]
        .iter()
        .map(|(tag, r)| {
            vec![
                format!("<a href=\"{}/index.html\">{tag}</a>", tag.to_lowercase()),
                esc(&r.header.scenario),
                format!("<code>{}</code>", esc(&r.header.scenario_id)),
                num(r.header.seed),
                badge(r),
                format!("<code>{}</code>", esc(&r.header.reproduce)),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "run",
            "scenario",
            "scenario id",
            "seed",
            "assertions",
            "reproduce",
        ],
        &id_rows,
    ));
    s.push_str("<h2>Headline numbers</h2>\n");
    let rows: Vec<Vec<String>> = joined(a, b)
        .into_iter()
        .map(|(n, va, vb, u)| {
            let (d, rel) = diff_cells(va, vb, u);
            vec![
                esc(&n),
                num(esc(&show(va, u))),
                num(esc(&show(vb, u))),
                num(esc(&d)),
                num(rel),
            ]
        })
        .collect();
    s.push_str(&table(&["metric", "A", "B", "B − A", "change"], &rows));
    s.push_str("<h2>Overlays</h2>\n");
    for name in ["compare_peers", "compare_propagation"] {
        let _ = writeln!(
            s,
            "<figure><img src=\"{name}.png\" width=\"{}\" height=\"{}\" alt=\"{name}\"><figcaption><a href=\"{name}.svg\">SVG</a></figcaption></figure>",
            CHART_SIZE.0, CHART_SIZE.1
        );
    }
    s.push_str("<h2>Side by side (left: A, right: B)</h2>\n");
    for (name, caption) in FIGURES {
        let _ = writeln!(
            s,
            "<div class=\"pair\"><figure><img src=\"a/{name}.png\" alt=\"A {name}\"></figure><figure><img src=\"b/{name}.png\" alt=\"B {name}\"></figure></div><p class=\"sub\">{}</p>",
            esc(caption)
        );
    }
    s.push_str("</body></html>\n");
    s
}

/// Renders both runs (into `out/a` and `out/b`), two overlay charts, and
/// `out/index.html` comparing them; returns the path of that page.
pub fn compare(a: &Report, b: &Report, out: &Path) -> Result<PathBuf, RenderError> {
    create_dir(out)?;
    render_run(a, &out.join("a"))?;
    render_run(b, &out.join("b"))?;
    font::ensure().map_err(|message| RenderError::Draw {
        plot: "font".into(),
        message,
    })?;
    let mut files = Vec::new();
    emit!(files, out, "compare_peers", CHART_SIZE, |area| {
        overlay_peers(&area, a, b)
    });
    emit!(files, out, "compare_propagation", CHART_SIZE, |area| {
        overlay_propagation(&area, a, b)
    });
    let index = out.join("index.html");
    write_file(&index, page(a, b).as_bytes())?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences() {
        assert_eq!(
            diff_cells(Some(10.0), Some(12.0), Unit::Count),
            ("+2".into(), "<b>+20.0%</b>".into())
        );
        assert_eq!(
            diff_cells(Some(2e6), Some(1e6), Unit::Bytes),
            ("−1.00 MB".into(), "<b>−50.0%</b>".into())
        );
        assert_eq!(
            diff_cells(Some(0.0), Some(0.0), Unit::Real),
            ("0".into(), "0%".into())
        );
        assert_eq!(
            diff_cells(None, Some(1.0), Unit::Real),
            ("–".into(), "–".into())
        );
        assert_eq!(
            diff_cells(Some(50.0), Some(52.5), Unit::Pct),
            ("+2.5 pt".into(), "+5.0%".into())
        );
        assert_eq!(
            diff_cells(Some(100.0), Some(95.0), Unit::Count),
            ("−5".into(), "−5.0%".into())
        );
    }

    #[test]
    fn rows_join_by_name() {
        let a = crate::render::tests_support::tiny();
        let mut b = a.clone();
        b.gossip.clear();
        let rows = joined(&a, &b);
        let cov = rows.iter().find(|r| r.0 == "gossip tx: coverage").unwrap();
        assert!(cov.1.is_some() && cov.2.is_none());
    }
}
