use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

pub fn run() -> Result<()> {
    let root = crate::workspace_root();
    let shared = root.join("../shared/reference");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let started = std::time::Instant::now();
    setup(&root, &shared, &cargo)?;
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
    step("tests", Command::new(&cargo).args(["test", "--workspace"]))?;
    step(
        "build binaries",
        Command::new(&cargo).args(["build", "--workspace", "--bins"]),
    )?;
    let bin_dir = root.join("target/debug");
    // The release build of the timing test below compiles for a minute and
    // a half on 2 cores; the steps until then (README examples, goldens,
    // fuzz) mostly keep one core busy, so it is built beside them and only
    // its run waits until they are done (on a fresh 2-core clone the CI
    // stood at 15 min with it in line).
    let known_answer = known_answer_build(&root, &cargo)?;
    timed("README examples", || {
        crate::readme::check(&bin_dir).context("README examples")
    })?;
    // Edition 2026-02, pinned as a workflow pins it: every family (gsc-,
    // pr-, cr-, sum-, bsm-) and the prompt cases.
    step(
        "golden cases, edition 2026-02",
        Command::new("python3")
            .arg(shared.join("check_golden.py"))
            .arg(shared.join("golden"))
            .arg("--bin-dir")
            .arg(&bin_dir)
            .args(["--env", "INFERENCEX_CONTRACT=2026-02"]),
    )?;
    step(
        "golden prompt cases, edition 2026-02",
        Command::new("python3")
            .arg(shared.join("check_prompts.py"))
            .arg(shared.join("golden-prompts"))
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--tokenizers")
            .arg(shared.join("tokenizers"))
            .args(["--env", "INFERENCEX_CONTRACT=2026-02"]),
    )?;
    // Edition 2026-08 (the default, so unpinned).
    step(
        "golden prompt cases, edition 2026-08",
        Command::new("python3")
            .arg(shared.join("check_prompts.py"))
            .arg(shared.join("2026-08/golden-prompts"))
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--tokenizers")
            .arg(shared.join("tokenizers")),
    )?;
    for family in EDITION_2026_08_FAMILIES {
        step(
            &format!("golden cases, edition 2026-08, {family}*"),
            Command::new("python3")
                .arg(shared.join("check_golden.py"))
                .arg(shared.join("2026-08/golden"))
                .arg("--bin-dir")
                .arg(&bin_dir)
                .args(["-k", family]),
        )?;
    }
    // A short, seeded pass of hostile input over the file tools (the debug
    // binaries built above), the load generator's spec parser, the SSE
    // decoder and the JSON parser: panics, hangs and memory blow-ups fail CI.
    // In a child process, because the fuzzer starts itself as a worker: this
    // very executable, not `cargo run`, which rebuilt xtask and ring/rustls
    // (75 s on a fresh 2-core clone) when an earlier step had compiled them
    // with other features.
    let xtask = std::env::current_exe().context("finding xtask's own executable")?;
    step(
        "fuzz (30 s)",
        Command::new(&xtask)
            .args(["fuzz", "--seconds", "30", "--bin-dir"])
            .arg(&bin_dir),
    )?;
    // Timing accuracy means something only in an optimized build; the
    // debug test run above skips this test. `--workspace`, not `-p`: the
    // features are the release build's, so its dependencies (tokenizers
    // among them) are reused, not compiled a second time.
    timed("client timing known-answer test: release build", || {
        known_answer.finish()
    })?;
    step(
        "client timing known-answer test (release)",
        Command::new(&cargo).args(["test", "--release", "--workspace", "--test", "known_answer"]),
    )?;
    eprintln!(
        "==> ci: all steps passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What a fresh machine lacks, checked or installed before the first step,
/// so that `cargo xtask ci` is the one test command there too: the Rust
/// linters, Python 3 and `../shared/reference` for the golden checks, and
/// `moto_server` (PyPI `moto[server]`) for the load generator's S3 test, in
/// a virtual environment under `target/` (ignored by git; the S3 test
/// finds it there by itself, so a later plain `cargo test` does too).
fn setup(root: &Path, shared: &Path, cargo: &str) -> Result<()> {
    eprintln!("==> setup");
    for (tool, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        let present = Command::new(cargo)
            .args([tool, "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            step(
                &format!("install {component}"),
                Command::new("rustup").args(["component", "add", component]),
            )?;
        }
    }
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        bail!("python3 is required for the golden checks and the S3 test's moto server");
    }
    if !shared.join("check_golden.py").is_file() {
        bail!(
            "the golden checks need ../shared/reference beside the repository ({} is missing)",
            shared.display()
        );
    }
    if std::env::var_os("MOTO_SERVER").is_none() {
        let venv = root.join(MOTO_VENV);
        let moto = venv.join("bin/moto_server");
        if !moto.is_file() {
            eprintln!(
                "installing moto_server (for the S3 test) into {}",
                venv.display()
            );
            step(
                "python venv",
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
            )?;
            step(
                "pip install moto[server]",
                Command::new(venv.join("bin/pip")).args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "moto[server]",
                ]),
            )?;
        }
        // Inherited by every step below (the S3 test reads it).
        std::env::set_var("MOTO_SERVER", &moto);
    }
    Ok(())
}

/// The case families of `../shared/reference/2026-08/golden`: every tool
/// of the set follows edition 2026-08.
const EDITION_2026_08_FAMILIES: &[&str] = &["gsc-", "pc-", "bsm-", "pw-", "pr-", "cr-", "cer-"];

/// Where `setup` installs moto, relative to the workspace root; the S3
/// test looks there too.
const MOTO_VENV: &str = "target/ci-venv";

/// Runs one step, saying when it starts and how long it took (so that a
/// slow CI run shows where its time went).
/// The timing test's release build, running in the background; stopped
/// if CI fails before it is waited for.
struct Background {
    child: Option<std::process::Child>,
    log: std::path::PathBuf,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Background {
    /// Waits for the build; a failure shows the end of its log.
    fn finish(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = child.wait().context("waiting for the release build")?;
        if status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "the release build failed ({status}); the end of {}:\n{}",
            self.log.display(),
            tail.join("\n")
        )
    }
}

/// Starts `cargo test --release … --no-run` for the known-answer test,
/// its output to `target/ci-known-answer-build.log`.
fn known_answer_build(root: &Path, cargo: &str) -> Result<Background> {
    let log = root.join("target/ci-known-answer-build.log");
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("opening the build log twice")?;
    let child = Command::new(cargo)
        .args([
            "test",
            "--release",
            "--workspace",
            "--test",
            "known_answer",
            "--no-run",
        ])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .context("starting the release build")?;
    eprintln!(
        "==> client timing known-answer test: release build started in the background (log: {})",
        log.display()
    );
    Ok(Background {
        child: Some(child),
        log,
    })
}

fn step(name: &str, command: &mut Command) -> Result<()> {
    timed(name, || {
        let status = command
            .current_dir(crate::workspace_root())
            .status()
            .with_context(|| format!("{name}: could not start {command:?}"))?;
        if !status.success() {
            bail!("{name} failed ({status})");
        }
        Ok(())
    })
}

fn timed(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("==> {name}");
    let start = std::time::Instant::now();
    let result = f();
    eprintln!(
        "==> {name}: {} in {:.0} s",
        if result.is_ok() { "done" } else { "failed" },
        start.elapsed().as_secs_f64()
    );
    result
}
