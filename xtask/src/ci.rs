use anyhow::{bail, Context, Result};
use std::process::Command;

pub fn run() -> Result<()> {
    let root = crate::workspace_root();
    let shared = root.join("../shared/reference");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    step(
        "format",
        Command::new(&cargo).args(["fmt", "--all", "--check"]),
    )?;
    step(
        "clippy",
        Command::new(&cargo).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Broken intra-doc links and stray HTML in doc comments fail CI too.
    step(
        "docs",
        Command::new(&cargo)
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // The README's test command.
    step("tests", Command::new(&cargo).args(["test", "--workspace"]))?;
    step(
        "build binaries",
        Command::new(&cargo).args(["build", "--workspace", "--bins"]),
    )?;
    let bin_dir = root.join("target/debug");
    if !shared.join("check_golden.py").is_file() {
        bail!(
            "golden checks need ../shared/reference beside the repository ({} is missing)",
            shared.display()
        );
    }
    // Every family (gsc-, pr-, cr-, sum-, bsm-): all five tools exist.
    step(
        "golden compatibility cases",
        Command::new("python3")
            .arg(shared.join("check_golden.py"))
            .arg(shared.join("golden"))
            .arg("--bin-dir")
            .arg(&bin_dir),
    )?;
    step(
        "golden prompt cases",
        Command::new("python3")
            .arg(shared.join("check_prompts.py"))
            .arg(shared.join("golden-prompts"))
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--tokenizers")
            .arg(shared.join("tokenizers")),
    )?;
    // A short, seeded pass of hostile input over the file tools (the debug
    // binaries built above), the load generator's spec parser, the SSE
    // decoder and the JSON parser: panics, hangs and memory blow-ups fail CI.
    // Through cargo: the test step above rebuilt xtask, so this process's
    // own executable is gone (and the fuzzer starts itself as a worker).
    step(
        "fuzz (30 s)",
        Command::new(&cargo)
            .args(["run", "--quiet", "--bin", "xtask", "--"])
            .args(["fuzz", "--seconds", "30", "--bin-dir"])
            .arg(&bin_dir),
    )?;
    // Timing accuracy means something only in an optimized build; the
    // debug test run above skips this test. `--workspace`, not `-p`: the
    // features are the release build's, so its dependencies (tokenizers
    // among them) are reused, not compiled a second time.
    step(
        "client timing known-answer test (release)",
        Command::new(&cargo).args(["test", "--release", "--workspace", "--test", "known_answer"]),
    )?;
    eprintln!("==> ci: all steps passed");
    Ok(())
}

fn step(name: &str, command: &mut Command) -> Result<()> {
    eprintln!("==> {name}");
    let status = command
        .current_dir(crate::workspace_root())
        .status()
        .with_context(|| format!("{name}: could not start {command:?}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}
