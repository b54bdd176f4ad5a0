//! `index.html` of a run: one self-contained page (inline CSS, images by
//! relative path, no scripts, nothing fetched from the network) with the
//! summary, assertions, how to reproduce the run, the plots and the detailed
//! tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::theme::{channel_name, fmt_bytes, fmt_int, fmt_num, fmt_tick};
use crate::report::Report;

/// The page's stylesheet (shared with the comparison page).
pub(crate) const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222;line-height:1.4}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 12px}.badge{font-size:15px;padding:3px 10px;border-radius:12px;vertical-align:middle;margin-left:8px;color:#fff}
.pass{background:#2c8c3c}.fail{background:#c62f2f}.none{background:#888}
table{border-collapse:collapse;margin:6px 0 12px;font-size:14px}th,td{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#2c8c3c;font-weight:bold}.bad{color:#c62f2f;font-weight:bold}
pre{background:#f6f6f6;border:1px solid #ddd;padding:10px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
figure{margin:18px 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:14px;color:#444;margin-top:4px}
nav a{margin-right:14px}code{background:#f3f3f3;padding:1px 4px}";

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table (no header row when every heading is empty); cells are HTML already (escape text with [`esc`]); a cell
/// starting with `\u{1}` is right-aligned (numbers).
pub(crate) fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table>");
    if head.iter().any(|h| !h.is_empty()) {
        s.push_str("<tr>");
        for h in head {
            let _ = write!(s, "<th>{}</th>", esc(h));
        }
        s.push_str("</tr>\n");
    }
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            match cell.strip_prefix('\u{1}') {
                Some(num) => {
                    let _ = write!(s, "<td class=\"num\">{num}</td>");
                }
                None => {
                    let _ = write!(s, "<td>{cell}</td>");
                }
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

/// A right-aligned number cell.
pub(crate) fn num(x: impl std::fmt::Display) -> String {
    format!("\u{1}{x}")
}

/// The pass/fail badge of a run.
pub(crate) fn badge(r: &Report) -> String {
    let n = r.assertions.len();
    let ok = r.assertions.iter().filter(|a| a.passed).count();
    match (n, r.passed()) {
        (0, _) => "<span class=\"badge none\">no assertions</span>".to_owned(),
        (_, true) => format!("<span class=\"badge pass\">passed: {ok} of {n} assertions</span>"),
        (_, false) => format!(
            "<span class=\"badge fail\">FAILED: {} of {n} assertions</span>",
            n - ok
        ),
    }
}

/// (file base name, caption) of every plot, in page order.
pub(crate) const FIGURES: [(&str, &str); 8] = [
    ("topology", "Peer graph at the end of the run. Colour: zone; shape: role (square = seed, black outline = validator); hollow: down at the end. Large runs show a class-by-class matrix of connection counts instead."),
    ("degree", "Peers per running node at the end of the run."),
    ("peers", "Peers per running node over time (band: min to max). Shaded: fault windows; dashed red lines: timeline events, numbered as in the timeline below."),
    ("components", "Connected components among running non-seed nodes, and the size of the largest one. Green: from a heal, restart or resume until the nodes form one component again (its length is in the legend and in the Reconvergence table; the lines are samples, held until the next one, while those times are exact)."),
    ("addrbook", "Addresses in each running node's address book (new + old buckets; nodes with PEX only): min to max band, median, and the mean number in the new and in the old buckets."),
    ("throughput", "Bytes per second sent on each channel, all nodes together, between consecutive samples."),
    ("bandwidth", "Each node's mean send and receive rate over the run, as a CDF over nodes."),
    ("propagation", "For each gossip message, the time until it reached 50/90/99/100% of the nodes running when it was published (CDF over messages; curves end below 100% when some messages never got there)."),
];

const DIVERSITY_CAPTION: &str = "Address groups (/16) among the watched node's peers and in its address book, with the attacker peers, attacker book entries and the new buckets they reach; without a watched node, the fewest and median groups among honest nodes' peers.";

/// Connections of honest nodes with each adversary kind (counted by the
/// honest side) and the flood bound.
fn adversaries(r: &Report) -> String {
    let Some(a) = &r.adversary else {
        return String::new();
    };
    let mut s = String::from("<table><tr><th>kind</th><th>nodes</th><th>connections</th><th>removed</th><th>open at end</th><th>lifetime min / median / max (s)</th><th>reasons (honest side)</th></tr>\n");
    let secs = |x: Option<f64>| x.map_or("–".to_owned(), |v| format!("{v:.1}"));
    for (kind, c) in &a.connections {
        let nodes = a.nodes.get(kind).map_or(0, Vec::len);
        let reasons: Vec<String> = c
            .reasons
            .iter()
            .map(|(why, n)| format!("{n} × {}", esc(why)))
            .collect();
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{nodes}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {} / {}</td><td>{}</td></tr>",
            esc(kind),
            c.added,
            c.removed,
            c.open_at_end,
            secs(c.lifetime_min_s),
            secs(c.lifetime_p50_s),
            secs(c.lifetime_max_s),
            reasons.join("<br>")
        );
    }
    s.push_str("</table>\n");
    if let Some(f) = &a.flood {
        let _ = writeln!(
            s,
            "<p>Flood: {:.1} MB received from flooders; the fastest one-interval rate from one flooder was {:.0} B/s, {:.3} × the receiver's own <code>recv_rate</code> (≤ 1 means throttling held).</p>",
            f.bytes as f64 / 1e6,
            f.max_interval_rate,
            f.max_interval_fraction
        );
    }
    s
}

fn summary(r: &Report) -> String {
    let h = &r.header;
    let speed = if h.wall_time_s > 0.0 {
        format!("{}× real time", fmt_num(h.duration_s / h.wall_time_s))
    } else {
        "–".into()
    };
    let rows = [
        ("scenario", esc(&h.scenario)),
        (
            "scenario id",
            format!("<code>{}</code>", esc(&h.scenario_id)),
        ),
        ("seed", h.seed.to_string()),
        ("simulated duration", format!("{} s", fmt_num(h.duration_s))),
        ("nodes", h.nodes.to_string()),
        ("engine", esc(&h.engine)),
        ("cometnet version", esc(&h.tool_version)),
        (
            "wall time",
            format!("{} s ({speed})", fmt_num(h.wall_time_s)),
        ),
        ("event hash", format!("<code>{}</code>", esc(&r.event_hash))),
        ("report schema", r.schema_version.to_string()),
    ];
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(k, v)| vec![esc(k), v]).collect();
    table(&["", ""], &rows)
}

fn groups(r: &Report) -> String {
    #[derive(Default)]
    struct G {
        role: BTreeMap<String, u32>,
        zones: BTreeMap<String, u32>,
        n: u32,
        up: u32,
        inb: u64,
        out: u64,
        book: u64,
        sent: u64,
    }
    let mut gs: BTreeMap<&str, G> = BTreeMap::new();
    for nd in &r.nodes {
        let g = gs.entry(nd.group.as_str()).or_default();
        *g.role.entry(nd.role.clone()).or_default() += 1;
        *g.zones.entry(nd.zone.clone()).or_default() += 1;
        g.n += 1;
        g.up += u32::from(nd.up);
        g.inb += u64::from(nd.inbound);
        g.out += u64::from(nd.outbound);
        g.book += nd.addrbook as u64;
        g.sent += nd.bytes_sent;
    }
    let dur = r.header.duration_s.max(1e-9);
    let rows: Vec<Vec<String>> = gs
        .iter()
        .map(|(name, g)| {
            let m = |x: u64| num(fmt_tick(x as f64 / f64::from(g.n.max(1))));
            let list = |b: &BTreeMap<String, u32>| {
                esc(&b
                    .iter()
                    .map(|(k, v)| {
                        if b.len() == 1 {
                            k.clone()
                        } else {
                            format!("{k} ({v})")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "))
            };
            vec![
                esc(name),
                list(&g.role),
                list(&g.zones),
                num(fmt_int(u64::from(g.n))),
                num(fmt_int(u64::from(g.up))),
                m(g.out),
                m(g.inb),
                m(g.book),
                num(format!(
                    "{}/s",
                    fmt_bytes(g.sent as f64 / f64::from(g.n.max(1)) / dur)
                )),
            ]
        })
        .collect();
    table(
        &[
            "group",
            "role",
            "zones",
            "nodes",
            "up at end",
            "outbound",
            "inbound",
            "address book",
            "sent per node",
        ],
        &rows,
    )
}

fn assertions(r: &Report) -> String {
    if r.assertions.is_empty() {
        return "<p>The scenario has no assertions.</p>\n".into();
    }
    let rows: Vec<Vec<String>> = r
        .assertions
        .iter()
        .map(|a| {
            let res = if a.passed {
                "<span class=\"ok\">✔ passed</span>"
            } else {
                "<span class=\"bad\">✘ failed</span>"
            };
            vec![esc(&a.description), res.to_owned(), esc(&a.detail)]
        })
        .collect();
    table(&["assertion", "result", "measured"], &rows)
}

fn end_state(r: &Report) -> String {
    let Some(s) = r.samples.last() else {
        return "<p>No samples.</p>\n".into();
    };
    let t = &r.totals;
    let ok = if t.dials == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * t.dials_ok as f64 / t.dials as f64)
    };
    let rows = vec![
        vec![
            esc(&format!("at t = {} s: nodes running", fmt_num(s.t))),
            num(fmt_int(u64::from(s.up))),
        ],
        vec![
            "peers per node: min / mean / max".into(),
            num(format!(
                "{} / {} / {}",
                s.peers_min,
                fmt_num(s.peers_mean),
                s.peers_max
            )),
        ],
        vec![
            "mean outbound / inbound".into(),
            num(format!(
                "{} / {}",
                fmt_num(s.outbound_mean),
                fmt_num(s.inbound_mean)
            )),
        ],
        vec![
            "connected components (largest)".into(),
            num(format!("{} ({} nodes)", s.components, s.largest_component)),
        ],
        vec![
            "address book size: min / median / max".into(),
            if s.addrbook.nodes == 0 {
                num("–")
            } else {
                num(format!(
                    "{} / {} / {}",
                    s.addrbook.min, s.addrbook.median, s.addrbook.max
                ))
            },
        ],
        vec![
            "dials (succeeded)".into(),
            num(format!(
                "{} ({}, {ok})",
                fmt_int(t.dials),
                fmt_int(t.dials_ok)
            )),
        ],
        vec![
            "inbound connections refused".into(),
            num(fmt_int(t.inbound_rejected)),
        ],
        vec![
            "peers added / removed".into(),
            num(format!(
                "{} / {}",
                fmt_int(t.peers_added),
                fmt_int(t.peers_removed)
            )),
        ],
    ];
    let mut out = table(&["", ""], &rows);
    if !t.removal_reasons.is_empty() {
        let rows: Vec<Vec<String>> = t
            .removal_reasons
            .iter()
            .map(|(k, v)| vec![esc(k), num(fmt_int(*v))])
            .collect();
        out.push_str(&table(&["peer removal reason", "count"], &rows));
    }
    out
}

fn gossip(r: &Report) -> String {
    if r.gossip.is_empty() {
        return "<p>No gossip workload.</p>\n".into();
    }
    let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{} ms", fmt_num(v)));
    let mut rows = Vec::new();
    for (name, g) in &r.gossip {
        let reach = |f: f64| g.reach.iter().find(|s| (s.fraction - f).abs() < 1e-9);
        let cell = |f: f64| {
            reach(f).map_or("–".into(), |s| {
                format!(
                    "{} / {} ({:.0}% of msgs)",
                    ms(s.p50_ms),
                    ms(s.p90_ms),
                    s.messages_reaching * 100.0
                )
            })
        };
        rows.push(vec![
            esc(name),
            num(fmt_int(g.messages)),
            num(fmt_int(g.deliveries)),
            num(format!(
                "{} ({})",
                fmt_int(g.duplicates),
                fmt_num(g.duplicate_ratio)
            )),
            num(fmt_int(g.dropped)),
            num(format!("{:.1}%", g.mean_coverage * 100.0)),
            num(cell(0.5)),
            num(cell(0.9)),
            num(cell(0.99)),
        ]);
    }
    table(
        &[
            "workload",
            "messages",
            "deliveries",
            "duplicates (per delivery)",
            "dropped",
            "coverage",
            "50% reach p50 / p90",
            "90% reach p50 / p90",
            "99% reach p50 / p90",
        ],
        &rows,
    )
}

fn channels(r: &Report) -> String {
    let Some(s) = r.samples.last() else {
        return "<p>No samples.</p>\n".into();
    };
    let dur = s.t.max(1e-9);
    let rows: Vec<Vec<String>> = s
        .bytes_sent
        .iter()
        .map(|(k, &b)| {
            let m = s.messages_sent.get(k).copied().unwrap_or(0);
            vec![
                esc(&channel_name(k)),
                num(fmt_bytes(b as f64)),
                num(fmt_int(m)),
                num(format!("{}/s", fmt_bytes(b as f64 / dur))),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "<p>No channel traffic.</p>\n".into();
    }
    table(
        &["channel", "bytes sent", "messages sent", "mean rate"],
        &rows,
    )
}

fn reconvergence(r: &Report) -> String {
    if r.reconvergence.is_empty() {
        return "<p>No heal, restart or resume in this run.</p>\n".into();
    }
    let rows: Vec<Vec<String>> = r
        .reconvergence
        .iter()
        .map(|x| {
            let after = match x.reconverged_after_s {
                Some(d) if x.components_at_event <= 1 => {
                    format!("{} s (already one component)", fmt_num(d))
                }
                Some(d) => format!("{} s", fmt_num(d)),
                None => "<span class=\"bad\">not before the end</span>".to_owned(),
            };
            vec![
                esc(&x.event),
                num(format!("{} s", fmt_num(x.at_s))),
                num(x.components_at_event),
                num(after),
            ]
        })
        .collect();
    table(
        &[
            "event",
            "at",
            "components right after",
            "one component again after",
        ],
        &rows,
    )
}

fn timeline(r: &Report) -> String {
    if r.timeline.is_empty() {
        return "<p>No scheduled events.</p>\n".into();
    }
    let rows: Vec<Vec<String>> = r
        .timeline
        .iter()
        .enumerate()
        .map(|(i, (t, d))| vec![num(i + 1), num(format!("{} s", fmt_num(*t))), esc(d)])
        .collect();
    table(&["#", "time", "event"], &rows)
}

/// The whole `index.html`.
pub(crate) fn index(r: &Report) -> String {
    let h = &r.header;
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>{} (seed {}): cometnet run</title>\n<style>\n{CSS}\n</style></head><body>\n",
        esc(&h.scenario),
        h.seed
    );
    let _ = write!(
        s,
        "<h1>{} {}</h1>\n<p class=\"sub\">scenario id <code>{}</code> · seed {} · {} nodes · {} s simulated · cometnet {}</p>\n",
        esc(&h.scenario),
        badge(r),
        esc(&h.scenario_id),
        h.seed,
        h.nodes,
        fmt_num(h.duration_s),
        esc(&h.tool_version)
    );
    s.push_str("<nav><a href=\"#reproduce\">Reproduce</a><a href=\"#assertions\">Assertions</a><a href=\"#reconvergence\">Reconvergence</a><a href=\"#plots\">Plots</a><a href=\"#state\">End state</a><a href=\"#gossip\">Gossip</a><a href=\"#channels\">Channels</a><a href=\"#timeline\">Timeline</a></nav>\n");
    let _ = write!(
        s,
        "<h2 id=\"reproduce\">Reproduce</h2>\n<pre>{}</pre>\n<p>Same scenario file (id <code>{}</code>) and seed {} give the same event hash. Re-draw this page from <a href=\"report.json\">report.json</a> with <code>cometnet report &lt;this directory&gt;</code>.</p>\n",
        esc(&h.reproduce),
        esc(&h.scenario_id),
        h.seed
    );
    s.push_str("<h2 id=\"summary\">Summary</h2>\n");
    s.push_str(&summary(r));
    s.push_str(&groups(r));
    s.push_str("<h2 id=\"assertions\">Assertions</h2>\n");
    s.push_str(&assertions(r));
    s.push_str("<h2 id=\"reconvergence\">Reconvergence</h2>\n<p>Time from each heal, restart or resume until the running non-seed nodes form one connected component again, exact to the event that joined them.</p>\n");
    s.push_str(&reconvergence(r));
    s.push_str("<h2 id=\"plots\">Plots</h2>\n");
    for (name, caption) in FIGURES {
        let (w, hgt) = if name == "topology" {
            super::TOPOLOGY_SIZE
        } else {
            super::CHART_SIZE
        };
        let _ = writeln!(
            s,
            "<figure id=\"fig-{name}\"><img src=\"{name}.png\" width=\"{w}\" height=\"{hgt}\" alt=\"{name} plot\"><figcaption>{} <a href=\"{name}.svg\">SVG</a></figcaption></figure>",
            esc(caption)
        );
    }
    if r.adversary.is_some() {
        let (w, hgt) = super::CHART_SIZE;
        let name = super::diversity::NAME;
        let _ = writeln!(
            s,
            "<figure id=\"fig-{name}\"><img src=\"{name}.png\" width=\"{w}\" height=\"{hgt}\" alt=\"{name} plot\"><figcaption>{} <a href=\"{name}.svg\">SVG</a></figcaption></figure>",
            esc(DIVERSITY_CAPTION)
        );
        s.push_str("<h2 id=\"adversaries\">Adversaries</h2>\n");
        s.push_str(&adversaries(r));
    }
    s.push_str("<h2 id=\"state\">End state and connections</h2>\n");
    s.push_str(&end_state(r));
    s.push_str("<h2 id=\"gossip\">Gossip</h2>\n");
    s.push_str(&gossip(r));
    s.push_str("<h2 id=\"channels\">Traffic per channel</h2>\n");
    s.push_str(&channels(r));
    s.push_str("<h2 id=\"timeline\">Timeline</h2>\n");
    s.push_str(&timeline(r));
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }

    #[test]
    fn number_cells_are_right_aligned() {
        let t = table(&["a", "b"], &[vec!["x".into(), num(3)]]);
        assert!(t.contains("<td>x</td><td class=\"num\">3</td>"), "{t}");
        assert!(t.contains("<th>a</th>"));
        assert!(!table(&["", ""], &[]).contains("<th>"));
    }
}
