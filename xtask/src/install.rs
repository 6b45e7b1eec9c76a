//! `cargo xtask install`: builds the release binaries (the same build as
//! `cargo xtask sweep` and `cargo build --release`) and copies every tool
//! of `bins/` into one directory on `PATH`, by default Cargo's own
//! (`$CARGO_HOME/bin`, `~/.cargo/bin`), where `cargo install` puts
//! programs. One build for all eight tools, where `cargo install --path`
//! per binary would compile the workspace eight times.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to install into (default: $CARGO_HOME/bin, else ~/.cargo/bin)
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
}

pub fn run(a: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let dest = match &a.bin_dir {
        Some(d) => d.clone(),
        None => default_bin_dir()?,
    };
    let tools = tools(&root)?;
    eprintln!(
        "servebench install: building the release binaries, then copying {} tools to {}",
        tools.len(),
        dest.display()
    );
    let built = crate::build_release_workspace()?;
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    for tool in &tools {
        let from = built.join(tool);
        let to = dest.join(tool);
        copy_executable(&from, &to)?;
        println!("installed {}", to.display());
    }
    if !on_path(&dest) {
        eprintln!(
            "note: {} is not on PATH; add it, e.g. export PATH=\"{}:$PATH\"",
            dest.display(),
            dest.display()
        );
    }
    Ok(())
}

/// The tools: one binary per directory of `bins/`, named as the directory.
pub(crate) fn tools(root: &Path) -> Result<Vec<String>> {
    let bins = root.join("bins");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&bins).with_context(|| format!("reading {}", bins.display()))? {
        let entry = entry.with_context(|| format!("reading {}", bins.display()))?;
        if entry.path().join("Cargo.toml").is_file() {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("no binaries under {}", bins.display());
    }
    Ok(names)
}

fn default_bin_dir() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join("bin"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cargo/bin")),
        None => bail!("neither CARGO_HOME nor HOME is set: pass --bin-dir DIR"),
    }
}

/// Copies through a temporary file in the destination directory and
/// renames it over the old one, so that a copy of the tool that is running
/// (a load generator, a sweep) keeps its file and nobody sees half a binary.
fn copy_executable(from: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("tool");
    let tmp = dir.join(format!(".{name}.servebench-install-{}", std::process::id()));
    std::fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    if let Err(e) = std::fs::rename(&tmp, to) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("replacing {}", to.display()));
    }
    Ok(())
}

fn on_path(dir: &Path) -> bool {
    let want = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|p| p.canonicalize().unwrap_or(p) == want)
    })
}
