//! `cometnet report` on a crawl: a small hand-written `crawl.json` renders as
//! a topology report (the who-knows-whom picture, the degree histograms and
//! an `index.html` with a table of the nodes); every file exists with the
//! expected size, and the page references only files that exist.

use std::path::Path;
use std::process::Command;

use sim::render::{CHART_SIZE, CRAWL_PLOTS, TOPOLOGY_SIZE};

fn id(b: u8) -> String {
    format!("{b:02x}").repeat(20)
}

fn info(moniker: &str, version: &str, network: &str) -> String {
    format!(
        r#"{{ "moniker": "{moniker}", "version": "{version}", "network": "{network}",
             "channels": "40202122233038", "listen_addr": "tcp://0.0.0.0:26656",
             "protocol_version": {{ "p2p": 8, "block": 11, "app": 0 }},
             "tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657" }}"#
    )
}

/// Six nodes: a seed (1) that knows everyone, three reached nodes (two
/// versions, one on another chain), two never reached.
fn crawl_json() -> String {
    let node = |b: u8, info: Option<String>, err: Option<&str>| {
        format!(
            r#"{{ "id": "{}", "addresses": ["10.0.0.{b}:26656"], "node_info": {},
                 "first_seen_s": {}.5, "reachable": {}, "last_error": {} }}"#,
            id(b),
            info.clone().unwrap_or_else(|| "null".into()),
            b,
            info.is_some(),
            err.map_or("null".to_owned(), |e| format!("\"{e}\""))
        )
    };
    let nodes = [
        node(1, Some(info("seed-one", "0.38.26", "testchain-1")), None),
        node(2, Some(info("alpha", "0.38.26", "testchain-1")), None),
        node(3, Some(info("beta", "0.38.17", "testchain-1")), None),
        node(4, Some(info("stray", "0.37.4", "otherchain")), None),
        node(5, None, Some("dial timeout")),
        node(6, None, Some("connection refused")),
    ];
    let edges: Vec<String> = [
        (1, 2),
        (1, 3),
        (1, 4),
        (1, 5),
        (1, 6),
        (2, 1),
        (2, 3),
        (3, 6),
    ]
    .iter()
    .map(|(a, b)| format!("[\"{}\", \"{}\"]", id(*a), id(*b)))
    .collect();
    format!(
        r#"{{ "network": "testchain-1", "started_at": "2026-01-01T00:00:00Z", "duration_s": 60.0,
             "crawler_id": "{}", "seeds": ["{}@10.0.0.1:26656"],
             "nodes": [{}], "edges": [{}] }}"#,
        id(0xee),
        id(1),
        nodes.join(",\n"),
        edges.join(", ")
    )
}

fn cometnet(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cometnet"))
        .args(args)
        .output()
        .unwrap()
}

/// (width, height) from a PNG's IHDR.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap());
    (w, h)
}

/// Every `src`/`href` of the page that is not an anchor names an existing
/// file; nothing points to the network; no scripts. Returns the references.
fn check_page(page: &Path) -> Vec<String> {
    let dir = page.parent().unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script"));
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let r = &rest[..rest.find('"').unwrap()];
            if !r.starts_with('#') {
                assert!(dir.join(r).is_file(), "missing {r}");
                refs.push(r.to_owned());
            }
        }
    }
    refs
}

fn check_files(dir: &Path) {
    for name in CRAWL_PLOTS {
        let want = if name == "crawl-topology" {
            TOPOLOGY_SIZE
        } else {
            CHART_SIZE
        };
        assert_eq!(png_size(&dir.join(format!("{name}.png"))), want, "{name}");
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.trim_end().ends_with("</svg>"), "{name}.svg not closed");
    }
}

#[test]
fn crawl_directory_renders_as_a_topology_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("map");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crawl.json"), crawl_json()).unwrap();
    let out = cometnet(&["report".as_ref(), dir.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("index.html");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        page.display().to_string()
    );
    check_files(&dir);
    let mut refs = check_page(&page);
    refs.sort();
    refs.dedup();
    assert_eq!(
        refs,
        [
            "crawl-degree.png",
            "crawl-degree.svg",
            "crawl-topology.png",
            "crawl-topology.svg",
            "crawl.json"
        ]
    );
    let html = std::fs::read_to_string(&page).unwrap();
    for needle in [
        "Crawl of testchain-1",
        "seed-one",
        "0.38.17",
        "40202122233038",
        "10.0.0.5:26656",
        "dial timeout",
        "(1 on another network)",
        "6 / 4",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle:?}");
    }
    let topo = std::fs::read_to_string(dir.join("crawl-topology.svg")).unwrap();
    assert!(topo.contains("who knows whom"));
    assert!(topo.contains("8 directed edges"), "edge count missing");
    let degree = std::fs::read_to_string(dir.join("crawl-degree.svg")).unwrap();
    assert!(degree.contains("Degree distribution of the crawl graph"));
}

#[test]
fn crawl_file_under_another_name_renders_next_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mainnet-crawl.json");
    std::fs::write(&file, crawl_json()).unwrap();
    let out = cometnet(&["report".as_ref(), file.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_files(tmp.path());
    let refs = check_page(&tmp.path().join("index.html"));
    assert!(refs.iter().any(|r| r == "mainnet-crawl.json"), "{refs:?}");
}

#[test]
fn corrupt_crawl_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("crawl.json"), "{\"crawler_id\": 5}").unwrap();
    let out = cometnet(&["report".as_ref(), tmp.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a valid crawl.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
