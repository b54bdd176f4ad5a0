//! Shared look of the plots: colours (zones, channels, series), text sizes,
//! number formatting with units, the "no data" panel, and the scenario's
//! fault timeline turned into windows to shade and instants to mark.

use std::collections::BTreeMap;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::FAMILY;
use super::DrawResult;
use crate::report::{NodeFinal, Report};

/// Qualitative palette (Tableau-like), without grey: grey means "down".
pub(crate) const PALETTE: [RGBColor; 19] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(99, 121, 57),
    RGBColor(140, 109, 49),
    RGBColor(132, 60, 57),
    RGBColor(123, 65, 115),
    RGBColor(107, 174, 214),
    RGBColor(253, 174, 107),
    RGBColor(116, 196, 118),
    RGBColor(158, 154, 200),
    RGBColor(231, 150, 156),
];

/// Colour of nodes that are down, and of secondary marks.
pub(crate) const GREY: RGBColor = RGBColor(150, 150, 150);
/// Colour of fault windows.
pub(crate) const FAULT: RGBColor = RGBColor(230, 80, 60);

/// Text sizes (px): title, axis descriptions, tick labels and legends, small notes.
pub(crate) const TITLE_PX: u32 = 26;
/// Axis description size.
pub(crate) const AXIS_PX: u32 = 18;
/// Tick label and legend size.
pub(crate) const TICK_PX: u32 = 15;
/// Small annotations.
pub(crate) const SMALL_PX: u32 = 13;

/// The 13 zones of the AWS latency matrix, in its order: each keeps its colour across runs.
const AWS_ZONES: [&str; 13] = [
    "N_Virginia",
    "Canada",
    "N_California",
    "London",
    "Oregon",
    "Ireland",
    "Frankfurt",
    "S_Paulo",
    "Tokyo",
    "Mumbai",
    "Sydney",
    "Seoul",
    "Singapore",
];

/// A text style of the embedded font.
pub(crate) fn text(px: u32) -> TextStyle<'static> {
    (FAMILY, px).into_font().into()
}

/// Bold text (titles).
pub(crate) fn bold(px: u32) -> TextStyle<'static> {
    (FAMILY, px).into_font().style(FontStyle::Bold).into()
}

/// A fixed colour per zone: AWS zones by their matrix position, other zones
/// after them in name order.
pub(crate) fn zone_colors(nodes: &[NodeFinal]) -> BTreeMap<String, RGBColor> {
    let mut others: Vec<&str> = nodes
        .iter()
        .map(|n| n.zone.as_str())
        .filter(|z| !AWS_ZONES.contains(z))
        .collect();
    others.sort_unstable();
    others.dedup();
    let mut out = BTreeMap::new();
    for n in nodes {
        let k = AWS_ZONES
            .iter()
            .position(|z| *z == n.zone)
            .or_else(|| {
                others
                    .iter()
                    .position(|z| *z == n.zone)
                    .map(|i| i + AWS_ZONES.len())
            })
            .unwrap_or(0);
        out.entry(n.zone.clone())
            .or_insert(PALETTE[k % PALETTE.len()]);
    }
    out
}

/// Parses a channel key of `Sample::bytes_sent` (`"0x20"`, `"20"`, or decimal-looking hex).
pub(crate) fn channel_id(key: &str) -> Option<u8> {
    let hex = key
        .strip_prefix("0x")
        .or_else(|| key.strip_prefix("0X"))
        .unwrap_or(key);
    u8::from_str_radix(hex, 16).ok()
}

/// Human name of a channel key: `"0x20"` -> `"0x20 consensus state"`.
pub fn channel_name(key: &str) -> String {
    let Some(id) = channel_id(key) else {
        return key.to_owned();
    };
    let what = match id {
        0x00 => "PEX",
        0x20 => "consensus state",
        0x21 => "consensus data",
        0x22 => "consensus vote",
        0x23 => "consensus vote-set bits",
        0x30 => "mempool",
        0x38 => "evidence",
        0x40 => "blocksync",
        0x60 => "statesync snapshot",
        0x61 => "statesync chunk",
        0x70 => "gossip",
        _ => return format!("0x{id:02x}"),
    };
    format!("0x{id:02x} {what}")
}

/// A fixed colour per channel id.
pub(crate) fn channel_color(key: &str) -> RGBColor {
    let k = match channel_id(key) {
        Some(0x00) => 4,
        Some(0x20) => 0,
        Some(0x21) => 9,
        Some(0x22) => 14,
        Some(0x23) => 17,
        Some(0x30) => 2,
        Some(0x38) => 5,
        Some(0x40) => 1,
        Some(0x60) => 6,
        Some(0x61) => 18,
        Some(0x70) => 3,
        Some(id) => 7 + usize::from(id) % 5,
        None => 8,
    };
    PALETTE[k]
}

/// A byte count with a decimal unit: `1.5 MB`.
pub(crate) fn fmt_bytes(b: f64) -> String {
    let (div, unit) = byte_unit(b);
    format!("{} {unit}", fmt_num(b / div))
}

/// The decimal unit that keeps `max` readable: (divisor, name).
pub(crate) fn byte_unit(max: f64) -> (f64, &'static str) {
    match max.abs() {
        m if m >= 1e9 => (1e9, "GB"),
        m if m >= 1e6 => (1e6, "MB"),
        m if m >= 1e3 => (1e3, "KB"),
        _ => (1.0, "B"),
    }
}

/// A number with 3 significant digits, without a trailing `.0`.
pub(crate) fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a == 0.0 || a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// An axis tick: integers without decimals, others with up to 3 significant digits.
pub(crate) fn fmt_tick(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 * x.abs().max(1.0) {
        format!("{x:.0}")
    } else {
        let s = fmt_num(x);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    }
}

/// An integer with thousands separators: `10,000`.
pub(crate) fn fmt_int(x: u64) -> String {
    let d = x.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 node`, `2 nodes`.
pub(crate) fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{} {what}s", fmt_int(n))
    }
}

/// End of the time axis (s): the run's duration, or the last sample if later.
pub(crate) fn time_end(r: &Report) -> f64 {
    let last = r.samples.last().map_or(0.0, |s| s.t);
    r.header.duration_s.max(last).max(1e-3)
}

/// Draws the title and a centred explanation instead of a chart.
pub(crate) fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    why: &str,
) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let c = |x: u32| i32::try_from(x / 2).unwrap_or(0);
    area.draw(&Text::new(
        title.to_owned(),
        (c(w), 30),
        bold(TITLE_PX).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    area.draw(&Text::new(
        format!("no data: {why}"),
        (c(w), c(h)),
        text(AXIS_PX)
            .color(&GREY)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))
}

/// The scenario's timeline as pictures: windows between a fault and its end
/// (partition→heal, crash→restart, pause→resume, churn→`until`), and every
/// event as a numbered instant.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Faults {
    /// (start s, end s, what) windows to shade.
    pub windows: Vec<(f64, f64, String)>,
    /// (time s, 1-based event number) instants to mark.
    pub marks: Vec<(f64, usize)>,
}

fn first_word(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The rest of a description after its first word (the selector, usually).
fn subject(s: &str) -> &str {
    let t = s.trim_start();
    t.find(char::is_whitespace).map_or("", |i| t[i..].trim())
}

/// The number (seconds) after `until` in a description, if any: `until 40s`, `until=40`.
fn until(s: &str) -> Option<f64> {
    let i = s.find("until")?;
    let rest = s[i + 5..].trim_start_matches([' ', '=', ':']);
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

/// Pairs the timeline's events into fault windows ending at `end` at the latest.
pub(crate) fn faults(timeline: &[(f64, String)], end: f64) -> Faults {
    let mut f = Faults::default();
    // Open windows: (kind that closes it, subject, start, label).
    let mut open: Vec<(&str, String, f64, String)> = Vec::new();
    for (i, (t, desc)) in timeline.iter().enumerate() {
        f.marks.push((*t, i + 1));
        let word = first_word(desc);
        let closer = match word.as_str() {
            "partition" => Some("heal"),
            "crash" => Some("restart"),
            "pause" => Some("resume"),
            _ => None,
        };
        if let Some(c) = closer {
            open.push((c, subject(desc).to_owned(), *t, word.clone()));
        } else if word == "churn" {
            let stop = until(desc).unwrap_or(end).min(end);
            f.windows.push((*t, stop.max(*t), word.clone()));
        } else {
            // Close: `heal` closes every partition; others the same subject, else the oldest.
            let subj = subject(desc);
            let matching: Vec<usize> = open
                .iter()
                .enumerate()
                .filter(|(_, o)| o.0 == word)
                .map(|(k, _)| k)
                .collect();
            let close: Vec<usize> = if word == "heal" {
                matching
            } else {
                let same = matching.iter().copied().find(|&k| open[k].1 == subj);
                same.or_else(|| matching.first().copied())
                    .into_iter()
                    .collect()
            };
            for &k in close.iter().rev() {
                let (_, _, s, label) = open.remove(k);
                f.windows.push((s, *t, label));
            }
        }
    }
    for (_, _, s, label) in open {
        f.windows.push((s, end, label));
    }
    f.windows
        .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    f
}

/// A chart with seconds on x and a linear y.
pub(crate) type TimeChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Shades the fault windows and marks every timeline event (dashed line, and
/// with `numbers` its number at the top) on a time chart whose y range is `y0..y1`.
pub(crate) fn draw_faults<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    faults: &Faults,
    (y0, y1): (f64, f64),
    numbers: bool,
) -> DrawResult<DB> {
    let fill = FAULT.mix(0.14).filled();
    chart.draw_series(
        faults
            .windows
            .iter()
            .map(|(s, e, _)| Rectangle::new([(*s, y0), (*e, y1)], fill)),
    )?;
    let line = ShapeStyle::from(FAULT.mix(0.7)).stroke_width(1);
    for &(t, n) in &faults.marks {
        chart.draw_series(DashedLineSeries::new([(t, y0), (t, y1)], 6, 4, line))?;
        if !numbers {
            continue;
        }
        chart.draw_series(std::iter::once(Text::new(
            format!(" {n}"),
            (t, y1),
            text(TICK_PX)
                .color(&FAULT)
                .pos(Pos::new(HPos::Left, VPos::Top)),
        )))?;
    }
    Ok(())
}

/// A legend entry's sample.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key {
    /// A solid line.
    Line(RGBColor),
    /// A thin dashed line.
    Dashed(RGBColor),
    /// A filled box (bands, shaded windows, bars).
    Fill(RGBAColor),
}

/// Draws the title and a legend row (wrapped) above the chart; returns the
/// area left for the chart. Legends never cover data this way.
pub(crate) fn header<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    keys: &[(Key, String)],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = area.dim_in_pixel();
    let w = i32::try_from(w).unwrap_or(i32::MAX);
    area.draw(&Text::new(title.to_owned(), (20, 14), bold(TITLE_PX)))?;
    let style = text(TICK_PX);
    let (x0, row_h) = (90, 24);
    let (mut x, mut y) = (x0, 56);
    for (key, label) in keys {
        let (tw, _) = area.estimate_text_size(label, &style)?;
        let need = 34 + i32::try_from(tw).unwrap_or(0) + 22;
        if x > x0 && x + need > w - 10 {
            x = x0;
            y += row_h;
        }
        let mid = y + 8;
        match *key {
            Key::Line(c) => area.draw(&PathElement::new(
                vec![(x, mid), (x + 28, mid)],
                ShapeStyle::from(c).stroke_width(3),
            ))?,
            Key::Dashed(c) => area
                .draw(&PathElement::new(
                    vec![(x, mid), (x + 7, mid)],
                    ShapeStyle::from(c).stroke_width(2),
                ))
                .and_then(|_| {
                    area.draw(&PathElement::new(
                        vec![(x + 11, mid), (x + 18, mid)],
                        ShapeStyle::from(c).stroke_width(2),
                    ))
                })
                .and_then(|_| {
                    area.draw(&PathElement::new(
                        vec![(x + 22, mid), (x + 28, mid)],
                        ShapeStyle::from(c).stroke_width(2),
                    ))
                })?,
            Key::Fill(c) => area.draw(&Rectangle::new(
                [(x, mid - 7), (x + 28, mid + 7)],
                c.filled(),
            ))?,
        }
        area.draw(&Text::new(label.clone(), (x + 34, y), style.clone()))?;
        x += need;
    }
    let used = if keys.is_empty() { 52 } else { y + row_h + 4 };
    Ok(area.split_vertically(used).1)
}

/// Legend entries of the fault timeline, if it has any events.
pub(crate) fn fault_keys(f: &Faults) -> Vec<(Key, String)> {
    let mut keys = Vec::new();
    if !f.windows.is_empty() {
        keys.push((Key::Fill(FAULT.mix(0.14)), "fault window".to_owned()));
    }
    if !f.marks.is_empty() {
        keys.push((
            Key::Dashed(FAULT),
            "timeline event (number as in index.html)".to_owned(),
        ));
    }
    keys
}

/// Axis styling shared by the time charts.
pub(crate) fn time_mesh<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    y_desc: &str,
    with_x: bool,
) -> DrawResult<DB> {
    time_mesh_ticks(chart, y_desc, with_x, None)
}

/// [`time_mesh`] with a given number of y ticks (for small integer counts).
pub(crate) fn time_mesh_ticks<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    y_desc: &str,
    with_x: bool,
    y_ticks: Option<usize>,
) -> DrawResult<DB> {
    let fmt = |v: &f64| fmt_tick(*v);
    let mut mesh = chart.configure_mesh();
    if let Some(n) = y_ticks {
        mesh.y_labels(n);
    }
    mesh.max_light_lines(1);
    mesh.y_desc(y_desc)
        .axis_desc_style(text(AXIS_PX))
        .label_style(text(TICK_PX))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(245, 245, 245))
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt);
    if with_x {
        mesh.x_desc("simulated time (s)");
    }
    mesh.draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_and_keys() {
        assert_eq!(channel_name("0x20"), "0x20 consensus state");
        assert_eq!(channel_name("70"), "0x70 gossip");
        assert_eq!(channel_name("0x00"), "0x00 PEX");
        assert_eq!(channel_name("0x7f"), "0x7f");
        assert_eq!(channel_name("zz"), "zz");
        assert_eq!(channel_id("0x61"), Some(0x61));
    }

    #[test]
    fn units() {
        assert_eq!(fmt_bytes(1_500_000.0), "1.50 MB");
        assert_eq!(fmt_bytes(999.0), "999 B");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(f64::NAN), "–");
        assert_eq!(fmt_tick(10.0), "10");
        assert_eq!(fmt_tick(2.5), "2.5");
        assert_eq!(fmt_tick(0.25), "0.25");
        assert_eq!(fmt_int(10_000), "10,000");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(plural(1, "node"), "1 node");
    }

    #[test]
    fn fault_windows_pair_events() {
        let tl = vec![
            (10.0, "partition a | b".to_owned()),
            (12.0, "crash g[0]".to_owned()),
            (15.0, "crash g[1]".to_owned()),
            (20.0, "restart g[1]".to_owned()),
            (30.0, "heal".to_owned()),
            (40.0, "churn rate 1/s until 50s".to_owned()),
            (45.0, "bandwidth g uplink 1MB/s".to_owned()),
        ];
        let f = faults(&tl, 60.0);
        assert_eq!(
            f.windows,
            vec![
                (10.0, 30.0, "partition".to_owned()),
                (12.0, 60.0, "crash".to_owned()),
                (15.0, 20.0, "crash".to_owned()),
                (40.0, 50.0, "churn".to_owned()),
            ]
        );
        assert_eq!(f.marks.len(), 7);
        assert_eq!(f.marks[6], (45.0, 7));
    }
}
