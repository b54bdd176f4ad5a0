//! Rendering a run's views from synthetic reports: every plot is written as
//! SVG and PNG with the expected size and title, `index.html` references only
//! files that exist and nothing on the network, 10,000 nodes render in
//! bounded time with the aggregated topology, and `cometnet report` works on
//! a written report.json (exit 2 when it is missing or corrupt).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sim::collect::{GossipSummary, ReachStat, Totals};
use sim::reconverge::Reconvergence;
use sim::render::{self, CHART_SIZE, PLOTS, TOPOLOGY_SIZE};
use sim::report::{
    AddrBookStats, AssertionResult, Header, NodeFinal, Report, Sample, SCHEMA_VERSION,
};

const ZONES: [&str; 4] = ["N_Virginia", "London", "Tokyo", "Frankfurt"];

/// Deterministic pseudo-random numbers for the synthetic data.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A plausible run of `n` nodes: 60 s, a partition from 20 s to 35 s, a
/// crash/restart, two gossip workloads, one passed and one failed assertion.
fn synthetic(n: usize, seed: u64) -> Report {
    let mut rng = Lcg(seed);
    let role = |i: usize| match i {
        i if i < 3.min(n) && n > 3 => "seed",
        i if i < 13 && n > 3 => "validator",
        _ => "full",
    };
    let nodes: Vec<NodeFinal> = (0..n)
        .map(|i| NodeFinal {
            index: i as u32,
            id: format!("{i:040x}"),
            group: format!("{}s", role(i)),
            zone: ZONES[i % ZONES.len()].into(),
            role: role(i).into(),
            up: i + 1 != n || n <= 3,
            inbound: 0,
            outbound: 0,
            addrbook: 20,
            bytes_sent: 20_000 + rng.below(80_000),
            bytes_received: 20_000 + rng.below(80_000),
        })
        .collect();
    let mut edges = Vec::new();
    if n <= 3 {
        edges.extend((1..n as u32).map(|i| (i - 1, i)));
    } else {
        for i in 0..n as u32 {
            for _ in 0..3 {
                let j = rng.below(n as u64) as u32;
                if j != i {
                    edges.push((i.min(j), i.max(j)));
                }
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let mut deg = vec![0u32; n];
    for &(a, b) in &edges {
        deg[a as usize] += 1;
        deg[b as usize] += 1;
    }
    let mut degree_histogram = BTreeMap::new();
    for d in &deg {
        *degree_histogram.entry(*d).or_insert(0) += 1;
    }
    let mean_deg = 2.0 * edges.len() as f64 / n.max(1) as f64;
    let channels = [
        ("0x00", 300u64),
        ("0x20", 2_000),
        ("0x22", 5_000),
        ("0x30", 8_000),
        ("0x70", 20_000),
    ];
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let samples: Vec<Sample> = (1..=60)
        .map(|t| {
            let tf = f64::from(t);
            let ramp = (tf / 10.0).min(1.0);
            let split = (20..35).contains(&t);
            Sample {
                t: tf,
                up: n as u32 - u32::from((40..50).contains(&t)),
                peers_min: (ramp * 2.0) as u32,
                peers_mean: ramp * mean_deg * if split { 0.8 } else { 1.0 },
                peers_max: (ramp * mean_deg * 2.0) as u32 + 1,
                outbound_mean: ramp * mean_deg / 2.0,
                inbound_mean: ramp * mean_deg / 2.0,
                components: if split { 2 } else { 1 },
                largest_component: if split {
                    (n as u32).div_ceil(2)
                } else {
                    n as u32
                },
                bytes_sent: {
                    for (c, rate) in channels {
                        // Half the traffic during the partition, a burst when it heals.
                        let factor = if split {
                            1
                        } else if t == 35 {
                            6
                        } else {
                            2
                        };
                        *sent.entry(c.to_owned()).or_default() +=
                            rate * n as u64 * factor + rng.below(rate);
                    }
                    sent.clone()
                },
                messages_sent: channels
                    .iter()
                    .map(|(c, _)| ((*c).to_owned(), n as u64 * t as u64))
                    .collect(),
                peers_per_node: Vec::new(),
                addrbook: AddrBookStats {
                    nodes: n as u32,
                    min: (ramp * 8.0) as u32,
                    median: (ramp * 40.0) as u32,
                    max: (ramp * 90.0) as u32 + 1,
                    new_mean: ramp * 30.0,
                    old_mean: ramp * 10.0,
                },
                addrbook_per_node: Vec::new(),
            }
        })
        .collect();
    let mut gossip = BTreeMap::new();
    for (name, base) in [("tx", 80.0), ("blocks", 150.0)] {
        let messages = 200u64;
        let reach = [0.5, 0.9, 0.99, 1.0]
            .iter()
            .enumerate()
            .map(|(k, &fraction)| {
                let got = messages - k as u64 * 10;
                let mut times: Vec<f64> = (0..got)
                    .map(|_| {
                        base * (1.0 + k as f64 * 0.6)
                            + rng.below(1000) as f64 / 10.0 * (1.0 + k as f64)
                    })
                    .collect();
                times.sort_by(f64::total_cmp);
                ReachStat {
                    fraction,
                    messages_reaching: got as f64 / messages as f64,
                    p50_ms: times.get(times.len() / 2).copied(),
                    p90_ms: times.get(times.len() * 9 / 10).copied(),
                    times_ms: times,
                }
            })
            .collect();
        gossip.insert(
            name.to_owned(),
            GossipSummary {
                messages,
                deliveries: messages * n as u64,
                duplicates: messages * n as u64 * 3,
                dropped: 5,
                duplicate_ratio: 3.0,
                mean_coverage: 0.97,
                reach,
            },
        );
    }
    Report {
        schema_version: SCHEMA_VERSION,
        header: Header {
            scenario: format!("synthetic-{n}"),
            scenario_id: "5ca1ab1e0000".into(),
            seed,
            tool_version: "0.1.0".into(),
            engine: "sim".into(),
            duration_s: 60.0,
            nodes: n,
            wall_time_s: 1.5,
            reproduce: format!("cometnet run scenarios/synthetic-{n}.toml --seed {seed}"),
        },
        event_hash: "0f".repeat(32),
        samples,
        nodes,
        degree_histogram,
        edges,
        paths: Default::default(),
        totals: Totals {
            dials: 40 * n as u64,
            dials_ok: 30 * n as u64,
            inbound_rejected: 3,
            peers_added: 10 * n as u64,
            peers_removed: 2 * n as u64,
            removal_reasons: BTreeMap::from([
                ("pong timeout".to_owned(), 5),
                ("peer closed".to_owned(), 7),
            ]),
        },
        gossip,
        timeline: vec![
            (20.0, "partition seeds,validators | fulls".into()),
            (35.0, "heal".into()),
            (40.0, "crash fulls[3]".into()),
            (50.0, "restart fulls[3]".into()),
        ],
        assertions: vec![
            AssertionResult {
                description: "min_peers >= 2 by 30s".into(),
                passed: true,
                detail: "min 3 at 30 s".into(),
            },
            AssertionResult {
                description: "connected at 30s".into(),
                passed: false,
                detail: "2 components at 30 s".into(),
            },
        ],
        reconvergence: vec![
            Reconvergence {
                event: "heal".into(),
                at_s: 35.0,
                components_at_event: 2,
                reconverged_after_s: Some(4.25),
            },
            Reconvergence {
                event: "restart fulls[3]".into(),
                at_s: 50.0,
                components_at_event: 2,
                reconverged_after_s: None,
            },
        ],
        adversary: None,
    }
}

/// Where a test renders: a temporary directory, or `$RENDER_KEEP/<name>` when
/// that variable is set (to look at the pictures).
fn out_dir(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("RENDER_KEEP") {
        Some(keep) => Path::new(&keep).join(name),
        None => tmp.path().join(name),
    };
    (tmp, dir)
}

/// Runs `f` and measures its wall time (these tests bound and print how long
/// rendering takes; nothing simulated reads this clock).
#[allow(clippy::disallowed_methods)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, std::time::Duration) {
    let t0 = Instant::now();
    let out = f();
    (out, t0.elapsed())
}

/// (width, height) from a PNG's IHDR.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap());
    (w, h)
}

/// Values of every `attr="..."` in an HTML text.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let pat = format!("{attr}=\"");
    html.match_indices(&pat)
        .filter_map(|(i, _)| {
            let rest = &html[i + pat.len()..];
            rest.find('"').map(|e| &rest[..e])
        })
        .collect()
}

/// Every local reference of a page exists under `dir`; nothing points to the network.
fn check_page(page: &Path) {
    let dir = page.parent().unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "network reference in {}",
        page.display()
    );
    assert!(!html.contains("<script"), "scripts in {}", page.display());
    let refs: Vec<&str> = attr_values(&html, "src")
        .into_iter()
        .chain(attr_values(&html, "href"))
        .collect();
    assert!(refs.len() >= 7, "too few references: {refs:?}");
    for r in refs {
        if r.starts_with('#') {
            continue;
        }
        let f = dir.join(r);
        assert!(
            f.is_file(),
            "{} references missing {}",
            page.display(),
            f.display()
        );
    }
}

const TITLES: [(&str, &str); 8] = [
    ("topology", "Peer graph"),
    ("degree", "Degree distribution"),
    ("peers", "Peers per running node over time"),
    ("components", "Connected components over time"),
    ("addrbook", "Address book size over time"),
    ("throughput", "Throughput per channel"),
    ("bandwidth", "Per-node bandwidth"),
    ("propagation", "Gossip propagation"),
];

fn check_run(dir: &Path, written: &[std::path::PathBuf]) {
    assert_eq!(written.len(), PLOTS.len() * 2 + 1);
    assert_eq!(written.last().unwrap(), &dir.join("index.html"));
    for (name, title) in TITLES {
        let svg = dir.join(format!("{name}.svg"));
        let png = dir.join(format!("{name}.png"));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.starts_with("<svg") || text.starts_with("<?xml"),
            "{name}.svg starts {:?}",
            &text[..20]
        );
        assert!(
            text.trim_end().ends_with("</svg>"),
            "{name}.svg is not closed"
        );
        assert!(text.contains(title), "{name}.svg lacks its title {title:?}");
        let want = if name == "topology" {
            TOPOLOGY_SIZE
        } else {
            CHART_SIZE
        };
        assert_eq!(png_size(&png), want, "{name}.png");
        assert!(
            std::fs::metadata(&png).unwrap().len() > 2000,
            "{name}.png is nearly empty"
        );
    }
    check_page(&dir.join("index.html"));
}

#[test]
fn fifty_nodes_render_every_view() {
    let (_tmp, dir) = out_dir("n50");
    let r = synthetic(50, 1);
    r.write(&dir).unwrap();
    let (written, took) = timed(|| render::render_run(&r, &dir).unwrap());
    println!("50 nodes rendered in {took:?}");
    check_run(&dir, &written);
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for needle in [
        "cometnet run scenarios/synthetic-50.toml --seed 1",
        "5ca1ab1e0000",
        "FAILED: 1 of 2 assertions",
        "connected at 30s",
        "0x70 gossip",
        "partition seeds,validators | fulls",
        "<td>heal</td><td class=\"num\">35.0 s</td><td class=\"num\">2</td><td class=\"num\">4.25 s</td>",
        "not before the end",
        "address book size: min / median / max",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle:?}");
    }
    let topo = std::fs::read_to_string(dir.join("topology.svg")).unwrap();
    assert!(!topo.contains("aggregated"));
    let comps = std::fs::read_to_string(dir.join("components.svg")).unwrap();
    assert!(
        comps.contains("2 heal: one component after 4.25 s"),
        "reconvergence time missing from the legend"
    );
    assert!(comps.contains("4 restart: never one component again"));
}

#[test]
fn three_node_line_renders() {
    let (_tmp, dir) = out_dir("n3");
    let r = synthetic(3, 2);
    r.write(&dir).unwrap();
    let written = render::render_run(&r, &dir).unwrap();
    check_run(&dir, &written);
}

#[test]
fn partitioned_single_zone_run_renders() {
    let (_tmp, dir) = out_dir("split");
    let mut r = synthetic(60, 6);
    for nd in &mut r.nodes {
        nd.zone = "Ireland".into();
    }
    // Two halves that never connect: edges only within each half.
    r.edges.retain(|&(a, b)| (a < 30) == (b < 30));
    r.write(&dir).unwrap();
    let written = render::render_run(&r, &dir).unwrap();
    check_run(&dir, &written);
}

#[test]
fn four_hundred_nodes_with_a_hub() {
    let (_tmp, dir) = out_dir("n400");
    let mut r = synthetic(400, 8);
    // Seed 0 knows 300 nodes: the degree histogram needs bins.
    r.edges.extend((100..400).map(|j| (0, j)));
    r.edges.sort_unstable();
    r.edges.dedup();
    let mut deg = vec![0u32; 400];
    for &(a, b) in &r.edges {
        deg[a as usize] += 1;
        deg[b as usize] += 1;
    }
    r.degree_histogram.clear();
    for d in deg {
        *r.degree_histogram.entry(d).or_insert(0) += 1;
    }
    r.write(&dir).unwrap();
    let written = render::render_run(&r, &dir).unwrap();
    check_run(&dir, &written);
    let topo = std::fs::read_to_string(dir.join("topology.svg")).unwrap();
    assert!(topo.contains("layout: zones on a circle"));
    let degree = std::fs::read_to_string(dir.join("degree.svg")).unwrap();
    assert!(degree.contains("bins of 10"));
}

#[test]
fn empty_report_renders_no_data_panels() {
    let (_tmp, dir) = out_dir("empty");
    let mut r = synthetic(3, 3);
    r.samples.clear();
    r.nodes.clear();
    r.edges.clear();
    r.degree_histogram.clear();
    r.gossip.clear();
    r.timeline.clear();
    r.write(&dir).unwrap();
    render::render_run(&r, &dir).unwrap();
    let peers = std::fs::read_to_string(dir.join("peers.svg")).unwrap();
    assert!(peers.contains("no data: the report has no samples"));
    let books = std::fs::read_to_string(dir.join("addrbook.svg")).unwrap();
    assert!(books.contains("no data: no address books in the samples"));
    check_page(&dir.join("index.html"));
}

#[test]
fn ten_thousand_nodes_aggregate_in_bounded_time() {
    let (_tmp, dir) = out_dir("n10000");
    let r = synthetic(10_000, 4);
    r.write(&dir).unwrap();
    let (written, took) = timed(|| render::render_run(&r, &dir).unwrap());
    println!(
        "10,000 nodes / {} edges rendered in {took:?}",
        r.edges.len()
    );
    check_run(&dir, &written);
    let topo = std::fs::read_to_string(dir.join("topology.svg")).unwrap();
    assert!(
        topo.contains("aggregated"),
        "the 10,000-node topology is not aggregated"
    );
    assert!(
        topo.len() < 200_000,
        "aggregated topology.svg is {} bytes",
        topo.len()
    );
    assert!(took.as_secs() < 120, "rendering took {took:?}");
}

#[test]
fn compare_two_runs() {
    let (_tmp, dir) = out_dir("cmp");
    let (a, b) = (synthetic(50, 1), synthetic(40, 9));
    let index = render::compare(&a, &b, &dir).unwrap();
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(html.contains("B − A"));
    assert!(html.contains("final mean peers"));
    assert!(html.contains("gossip tx: 90% reach p50"));
    assert!(
        html.contains("<td>one component again after heal at 35.0 s</td><td class=\"num\">4.25 s</td><td class=\"num\">4.25 s</td>"),
        "{html}"
    );
    assert!(html.contains("final median address book"));
    // nodes: 50 -> 40
    assert!(html.contains("<td>nodes</td><td class=\"num\">50</td><td class=\"num\">40</td><td class=\"num\">−10</td><td class=\"num\"><b>−20.0%</b></td>"), "{html}");
    check_page(&index);
    for name in ["compare_peers", "compare_propagation"] {
        assert_eq!(png_size(&dir.join(format!("{name}.png"))), CHART_SIZE);
    }
}

#[test]
fn reports_without_per_node_bytes_still_load() {
    let r = synthetic(3, 5);
    let mut v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    for n in v["nodes"].as_array_mut().unwrap() {
        let o = n.as_object_mut().unwrap();
        o.remove("bytes_sent");
        o.remove("bytes_received");
    }
    // Fields added later: reconvergence and address-book samples.
    v.as_object_mut().unwrap().remove("reconvergence");
    for smp in v["samples"].as_array_mut().unwrap() {
        let o = smp.as_object_mut().unwrap();
        o.remove("addrbook");
        o.remove("addrbook_per_node");
    }
    let back = Report::from_json(&v.to_string()).unwrap();
    assert!(back.reconvergence.is_empty());
    assert!(back.samples.iter().all(|s| s.addrbook.nodes == 0));
    assert!(back
        .nodes
        .iter()
        .all(|n| n.bytes_sent == 0 && n.bytes_received == 0));
    let tmp = tempfile::tempdir().unwrap();
    render::render_run(&back, tmp.path()).unwrap();
    let bw = std::fs::read_to_string(tmp.path().join("bandwidth.svg")).unwrap();
    assert!(bw.contains("no per-node byte counts"));
}

fn cometnet(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cometnet"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_report_rerenders_and_rejects_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run-s1");
    synthetic(20, 1).write(&run).unwrap();
    let out = cometnet(&["report".as_ref(), run.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        run.join("index.html").display().to_string()
    );
    check_page(&run.join("index.html"));

    let missing = cometnet(&["report".as_ref(), tmp.path().join("nope").as_os_str()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("report.json"));

    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("report.json"), "{\"schema_version\": 1").unwrap();
    let corrupt = cometnet(&["report".as_ref(), bad.as_os_str()]);
    assert_eq!(corrupt.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&corrupt.stderr).contains("not a valid report.json"));

    let none = cometnet(&["report".as_ref()]);
    assert_eq!(none.status.code(), Some(2));

    let out_without_compare = cometnet(&[
        "report".as_ref(),
        run.as_os_str(),
        "--out".as_ref(),
        bad.as_os_str(),
    ]);
    assert_eq!(out_without_compare.status.code(), Some(2));
}

#[test]
fn cli_compare_writes_next_to_run_a() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("x-s1"), tmp.path().join("x-s2"));
    synthetic(10, 1).write(&a).unwrap();
    synthetic(10, 2).write(&b).unwrap();
    let out = cometnet(&[
        "report".as_ref(),
        "--compare".as_ref(),
        a.as_os_str(),
        b.join("report.json").as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = tmp.path().join("compare-x-s1-vs-x-s2").join("index.html");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        page.display().to_string()
    );
    check_page(&page);
    let dest = tmp.path().join("elsewhere");
    let out = cometnet(&[
        "report".as_ref(),
        "--compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--out".as_ref(),
        dest.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(dest.join("index.html").is_file());
}
