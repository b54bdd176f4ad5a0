//! `cometnet report`: re-draws a run's plots and `index.html` from its
//! `report.json`, draws the map of a live network from a `crawl.json`
//! (`cometnet crawl`'s output), or compares two runs.

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use crate::real::crawl::CrawlReport;
use crate::render::{self, RenderError};
use crate::report::{Report, SCHEMA_VERSION};

/// Arguments of `cometnet report`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["run_dir", "compare"])))]
pub struct ReportArgs {
    /// A run directory (holding report.json) to re-render in place, or a
    /// crawl directory or crawl.json file to render as a topology report.
    run_dir: Option<PathBuf>,
    /// Compare two runs (directories or report.json files) side by side.
    #[arg(long, num_args = 2, value_names = ["RUN_A", "RUN_B"], conflicts_with = "run_dir")]
    compare: Option<Vec<PathBuf>>,
    /// Where to write the comparison (default: `compare-<A>-vs-<B>` next to RUN_A).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The report.json of a run directory, or the path itself when it names a `.json` file.
fn report_path(p: &Path) -> PathBuf {
    if p.extension().is_some_and(|e| e == "json") && !p.is_dir() {
        p.to_owned()
    } else {
        p.join("report.json")
    }
}

/// Reads and checks a report; every problem with the file is bad input (exit 2).
pub fn load(p: &Path) -> Result<Report, CliError> {
    let path = report_path(p);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let report = Report::from_json(&text).map_err(|e| {
        CliError::Input(format!("{}: not a valid report.json: {e}", path.display()))
    })?;
    report
        .check()
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    if report.schema_version > SCHEMA_VERSION {
        return Err(CliError::Input(format!(
            "{}: schema version {} is newer than this cometnet understands ({SCHEMA_VERSION})",
            path.display(),
            report.schema_version
        )));
    }
    Ok(report)
}

fn failed(e: RenderError) -> CliError {
    CliError::Failed(e.to_string())
}

/// The directory holding a run's report (the run directory itself, or the file's parent).
fn run_dir(p: &Path) -> PathBuf {
    match report_path(p).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn name_of(p: &Path) -> String {
    run_dir(p)
        .file_name()
        .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Whether `p` names a crawl: a directory with `crawl.json` and no
/// `report.json`, or a JSON file with a `crawler_id` field.
fn is_crawl(p: &Path) -> bool {
    if p.is_dir() {
        return !p.join("report.json").exists() && p.join("crawl.json").is_file();
    }
    std::fs::read_to_string(p)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("crawler_id").is_some() && v.get("schema_version").is_none())
}

/// Renders the crawl at `p` (directory or file) next to its file; returns the page.
pub(crate) fn render_crawl_at(p: &Path) -> Result<PathBuf, CliError> {
    let file = if p.is_dir() {
        p.join("crawl.json")
    } else {
        p.to_owned()
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
    let crawl: CrawlReport = serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{}: not a valid crawl.json: {e}", file.display())))?;
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = file.file_name().map_or_else(
        || "crawl.json".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let files = render::render_crawl(&crawl, &dir, &name).map_err(failed)?;
    Ok(files
        .last()
        .cloned()
        .unwrap_or_else(|| dir.join("index.html")))
}

/// Re-renders one run (or renders a crawl), or compares two runs; prints the path of the page written.
pub fn report(a: &ReportArgs) -> Result<(), CliError> {
    let index = match (&a.run_dir, &a.compare) {
        (_, Some(pair)) => {
            let [ra, rb] = pair.as_slice() else {
                return Err(CliError::Input("--compare needs two runs".into()));
            };
            let (x, y) = (load(ra)?, load(rb)?);
            let out = a.out.clone().unwrap_or_else(|| {
                let base = run_dir(ra);
                let parent = base
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_owned);
                parent.join(format!("compare-{}-vs-{}", name_of(ra), name_of(rb)))
            });
            render::compare(&x, &y, &out).map_err(failed)?
        }
        (Some(_), None) if a.out.is_some() => {
            return Err(CliError::Input(
                "--out only applies to --compare (a run is re-rendered in its own directory)"
                    .into(),
            ))
        }
        (Some(dir), None) if is_crawl(dir) => render_crawl_at(dir)?,
        (Some(dir), None) => {
            let r = load(dir)?;
            let files = render::render_run(&r, &run_dir(dir)).map_err(failed)?;
            files
                .last()
                .cloned()
                .unwrap_or_else(|| run_dir(dir).join("index.html"))
        }
        (None, None) => {
            return Err(CliError::Input(
                "give a run directory or --compare RUN_A RUN_B".into(),
            ))
        }
    };
    println!("{}", index.display());
    Ok(())
}
