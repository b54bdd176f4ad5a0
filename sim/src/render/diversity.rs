//! The diversity plot (only for reports with an `adversary` section): for
//! the first watched node, distinct address groups among its peers and in
//! its address book, and its attacker peers and book entries; without a
//! watched node, the honest nodes' fewest and median peer groups.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::theme::{header, no_data, time_end, time_mesh, Key, PALETTE};
use super::DrawResult;
use crate::report::Report;

/// Base name of the plot.
pub(crate) const NAME: &str = "diversity";

type Series = Vec<(String, RGBColor, bool, Vec<(f64, f64)>)>;

fn series(r: &Report) -> Option<(String, Series)> {
    let a = r.adversary.as_ref()?;
    let line = |name: &str, c: usize, dashed: bool, pts: Vec<(f64, f64)>| {
        (name.to_owned(), PALETTE[c], dashed, pts)
    };
    if let Some((node, w)) = a.watched.iter().find(|(_, w)| !w.is_empty()) {
        let f = |g: fn(&crate::report::adversary::WatchSample) -> u32| {
            w.iter().map(|s| (s.t, f64::from(g(s)))).collect::<Vec<_>>()
        };
        return Some((
            format!("Peer and address-book diversity of node {node}"),
            vec![
                line("address groups among peers", 0, false, f(|s| s.peer_groups)),
                line("attacker peers", 1, false, f(|s| s.attacker_peers)),
                line("address groups in book", 2, false, f(|s| s.book_groups)),
                line("attacker book entries", 3, true, f(|s| s.book_attacker)),
                line("new buckets used", 4, true, f(|s| s.new_buckets)),
                line(
                    "new buckets with attackers",
                    5,
                    true,
                    f(|s| s.attacker_new_buckets),
                ),
            ],
        ));
    }
    let h = &a.honest;
    Some((
        "Address groups among honest nodes' peers".to_owned(),
        vec![
            line(
                "fewest (any honest node)",
                0,
                false,
                h.iter()
                    .map(|s| (s.t, f64::from(s.peer_groups_min)))
                    .collect(),
            ),
            line(
                "median",
                2,
                false,
                h.iter().map(|s| (s.t, s.peer_groups_p50)).collect(),
            ),
        ],
    ))
}

/// Draws the plot.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Report,
) -> DrawResult<DB> {
    super::clear(area)?;
    let Some((title, lines)) = series(r) else {
        return no_data(
            area,
            "Peer diversity",
            "the report has no adversary section",
        );
    };
    let end = time_end(r);
    let top = lines
        .iter()
        .flat_map(|l| l.3.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let ymax = (top * 1.1).max(1.0);
    let keys: Vec<(Key, String)> = lines
        .iter()
        .map(|(n, c, d, _)| (if *d { Key::Dashed(*c) } else { Key::Line(*c) }, n.clone()))
        .collect();
    let body = header(area, &title, &keys)?;
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(28)
        .margin_top(8)
        .margin_bottom(8)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..end, 0.0..ymax)?;
    time_mesh(&mut chart, "count", true)?;
    for (_, c, dashed, pts) in lines {
        let style = ShapeStyle::from(c).stroke_width(if dashed { 2 } else { 3 });
        match dashed {
            true => chart.draw_series(DashedLineSeries::new(pts, 8, 5, style))?,
            false => chart.draw_series(LineSeries::new(pts, style))?,
        };
    }
    Ok(())
}
