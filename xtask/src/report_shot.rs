//! `cargo xtask report-shot`: opens a sweep's `report.html` in headless
//! Chromium (Debian package `chromium`) with the network cut off, saves a
//! screenshot, and fails if the page logged anything to the console (a
//! script error, a resource it tried to fetch).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The report to open (default: the newest results/*/report.html)
    #[arg(long)]
    report: Option<PathBuf>,
    /// Where to write the PNG (default: report.png beside the report)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Browser window width in pixels
    #[arg(long, default_value_t = 1400)]
    width: u32,
    /// Browser window height in pixels (the screenshot's height)
    #[arg(long, default_value_t = 2600)]
    height: u32,
    /// The Chromium executable
    #[arg(long, default_value = "chromium")]
    chromium: String,
}

fn newest_report(root: &Path) -> Result<PathBuf> {
    let results = root.join("results");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for dir in std::fs::read_dir(&results)
        .with_context(|| {
            format!(
                "reading {} (run cargo xtask sweep first)",
                results.display()
            )
        })?
        .flatten()
    {
        let report = dir.path().join("report.html");
        if let Ok(modified) = report.metadata().and_then(|m| m.modified()) {
            if best.as_ref().is_none_or(|(t, _)| modified > *t) {
                best = Some((modified, report));
            }
        }
    }
    best.map(|(_, p)| p)
        .with_context(|| format!("no results/*/report.html under {}", root.display()))
}

pub fn run(a: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let report = match &a.report {
        Some(p) => p.clone(),
        None => newest_report(&root)?,
    };
    let report = report
        .canonicalize()
        .with_context(|| format!("{} not found", report.display()))?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| report.with_file_name("report.png"));
    let output = Command::new(&a.chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        // Any fetch would fail: the page must not need the network.
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--window-size={},{}", a.width, a.height))
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .with_context(|| format!("running {} (Debian: apt-get install chromium)", a.chromium))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Failed to load resource"))
        .collect();
    if !output.status.success() || !out.is_file() {
        bail!("chromium failed ({}):\n{log}", output.status);
    }
    println!("screenshot: {}", out.display());
    if !console.is_empty() {
        bail!(
            "the page logged {} console message(s):\n{}",
            console.len(),
            console.join("\n")
        );
    }
    println!("console: no messages");
    Ok(())
}
