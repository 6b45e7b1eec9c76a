//! `cargo xtask sweep`: builds the release binaries and runs
//! `target/release/sweep` (the `sweep` binary, `bins/sweep`) with the
//! given arguments, in the workspace root. Everything else, `--help`
//! included, is the binary's.

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::process::Command;

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// The sweep's arguments (see cargo xtask sweep --help)
    #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// Exits with the sweep's status (the number of failed entries).
pub fn run(a: &Args) -> Result<()> {
    let root = crate::workspace_root();
    // Said before the build starts: on a fresh clone it takes minutes,
    // and cargo's progress alone does not say what it is for.
    eprintln!(
        "servebench sweep: building the release binaries first (cargo build --release --workspace --bins; \
         about 4 minutes on 2 cores the first time, seconds after), then running target/release/sweep"
    );
    let built = crate::build_release_workspace()?;
    let sweep = built.join("sweep");
    let status = Command::new(&sweep)
        .args(&a.args)
        .current_dir(&root)
        .status()
        .with_context(|| format!("running {}", sweep.display()))?;
    std::process::exit(exit_code(status));
}

/// The child's exit code; killed by a signal: 128 + the signal, as a shell.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
