//! `cargo xtask bench-peers`: `benchmark_serving` side by side with
//! `vllm-bench` (vLLM's Rust benchmark client, the peer users would pick
//! instead), both against the same `sim_server`, in one sitting: the table
//! of issue 18. A benchmark, not a test: it fails only when a run fails.
//!
//! vllm-bench is never vendored: the task exports a scratch work tree
//! (`target/bench-peers/vllm-bench`, git-ignored) from a bare clone
//! (`--vllm-bench-git DIR`, by default `target/bench-peers/vllm-bench.git`:
//! `git clone --bare https://github.com/vllm-project/vllm-bench` there), and
//! builds it there with its own `Cargo.lock`.
//!
//! Every client run is `taskset -c 0 /usr/bin/time … CLIENT` with the
//! server pinned to CPU 1: `time` reports the whole process's CPU and peak
//! RSS from `wait4`, and the task samples the client's `/proc/PID/stat`
//! every few milliseconds for the CPU of the streaming window alone. Rates,
//! windows and timing errors are taken from the simulator's ground truth
//! (`--ground-truth`: when each request arrived, when each token was handed
//! to the socket), the same yardstick for both clients. The c=1000 timing
//! rows are run twice: all at once (the row, where the one-thread
//! simulator's intake queue counts as client error) and paced below that
//! intake.

use crate::bench_sim::{measured_timings_ms, read_truth, start_sim, truth_timings_ms, Sim};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use servebench_metrics::{mean, percentile};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Runs of every measurement per client (the table shows median and range)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Fewer prompts per point, 2,000 streams for the memory row, 250
    /// prompts for the preparation row
    #[arg(long)]
    quick: bool,
    /// Use the binaries already built (ours in target/release, vllm-bench
    /// in its scratch tree)
    #[arg(long)]
    skip_build: bool,
    /// Bare git directory of vllm-project/vllm-bench (relative: to the
    /// repository root)
    #[arg(long, default_value = "target/bench-peers/vllm-bench.git")]
    vllm_bench_git: PathBuf,
    /// A vllm-bench binary to use instead of building one
    #[arg(long)]
    vllm_bench_bin: Option<PathBuf>,
    #[arg(long, default_value = "../shared/reference/tokenizers/deepseek-r1")]
    tokenizer: PathBuf,
    /// Wall-clock limit of one client run, seconds
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
    /// Concurrent streams for the large memory row (0 skips it)
    #[arg(long)]
    memory_streams: Option<usize>,
    /// Skip the prompt preparation row (1,000 × 8k-token prompts)
    #[arg(long)]
    skip_prepare: bool,
    /// Measure only these groups of rows (repeatable): zero-delay (CPU,
    /// throughput, RSS at c=256), timing, paced, launch, memory, prepare
    #[arg(long, value_parser = ["zero-delay", "timing", "paced", "launch", "memory", "prepare"])]
    only: Vec<String>,
}

impl Args {
    /// Whether the group of rows `group` is measured in this sitting.
    fn wants(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    Servebench,
    VllmBench,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Servebench => "servebench",
            Peer::VllmBench => "vllm-bench",
        }
    }
}

/// The two client binaries.
struct Bins {
    ours: PathBuf,
    theirs: PathBuf,
}

/// One client invocation.
struct Load {
    concurrency: usize,
    prompts: usize,
    warmups: usize,
    input_len: usize,
    output_len: usize,
    /// `--dry-run`: prepare the prompts, send nothing
    dry_run: bool,
    /// `--request-rate` (Poisson arrivals); `None`: all at once.
    request_rate: Option<f64>,
}

/// What one client run left behind.
struct Measured {
    /// User + system CPU of the whole process (`time`), seconds.
    cpu_s: f64,
    peak_rss_mib: f64,
    /// Spawn to exit, seconds.
    wall_s: f64,
    /// The client was spawned this long after the server's epoch (seconds;
    /// the epoch is taken as the moment the server printed its address).
    spawn_s: f64,
    /// (seconds since the server's epoch, client CPU seconds so far).
    samples: Vec<(f64, f64)>,
    /// Ground truth per request, by arrival: (arrival, token times).
    truth: Vec<(f64, Vec<f64>)>,
    doc: Option<Value>,
}

/// The measured table: (row, peer) → one value per run.
type Table = BTreeMap<(usize, Peer), Vec<f64>>;

struct Row {
    label: String,
    unit: Unit,
}

#[derive(Clone, Copy)]
enum Unit {
    Micros,
    KiloPerSec,
    SignedMillis,
    Secs,
    MiB,
}

fn fmt_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Micros => format!("{v:.2} µs"),
        Unit::KiloPerSec => format!("{:.0}k", v / 1000.0),
        Unit::SignedMillis => format!("{v:+.1} ms"),
        Unit::Secs => format!("{v:.2} s"),
        Unit::MiB => format!("{v:.0} MiB"),
    }
}

fn fmt_range(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Micros => format!("{v:.2}"),
        Unit::KiloPerSec => format!("{:.0}k", v / 1000.0),
        Unit::SignedMillis => format!("{v:+.1}"),
        Unit::Secs => format!("{v:.2}"),
        Unit::MiB => format!("{v:.0}"),
    }
}

/// "median [min–max]" of one cell, or why there is none.
fn cell(unit: Unit, values: Option<&Vec<f64>>) -> String {
    let values: Vec<f64> = values
        .map(|v| v.iter().copied().filter(|x| x.is_finite()).collect())
        .unwrap_or_default();
    if values.is_empty() {
        return "n/a (no run produced it)".to_owned();
    }
    let med = percentile(&values, 50.0);
    if values.len() == 1 {
        return fmt_value(unit, med);
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{} [{}–{}]",
        fmt_value(unit, med),
        fmt_range(unit, lo),
        fmt_range(unit, hi)
    )
}

/// User + system CPU seconds of a live process (`/proc/PID/stat`, clock
/// ticks of `USER_HZ`, 100 on Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    crate::bench_agentx::cpu_seconds(&pid.to_string())
}

/// The first child of `pid` (`time`'s child: the client itself).
fn first_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU seconds at time `t` (server-epoch seconds), interpolated between
/// the samples around it.
fn cpu_at(samples: &[(f64, f64)], t: f64) -> Option<f64> {
    let after = samples.iter().position(|s| s.0 >= t)?;
    let (t1, c1) = samples[after];
    if after == 0 {
        return Some(c1);
    }
    let (t0, c0) = samples[after - 1];
    if t1 <= t0 {
        return Some(c1);
    }
    Some(c0 + (c1 - c0) * (t - t0) / (t1 - t0))
}

/// The client's own command line for this load.
fn client_command(
    peer: Peer,
    bins: &Bins,
    tokenizer: &Path,
    load: &Load,
    addr: Option<&str>,
    dir: &Path,
    file: &str,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| (*s).to_owned()));
    let bin = match peer {
        Peer::Servebench => &bins.ours,
        Peer::VllmBench => &bins.theirs,
    };
    push(&[&bin.to_string_lossy()]);
    push(&["--model", "sim", "--dataset-name", "random"]);
    push(&["--tokenizer", &tokenizer.to_string_lossy()]);
    push(&["--random-input-len", &load.input_len.to_string()]);
    push(&["--random-output-len", &load.output_len.to_string()]);
    // Fixed lengths: ours keeps InferenceX's old range semantics ([ratio ×
    // len, len]), vllm-bench has vLLM's new ones (len × (1 ± ratio)).
    match peer {
        Peer::Servebench => push(&["--random-range-ratio", "1.0"]),
        Peer::VllmBench => push(&["--random-range-ratio", "0.0", "--backend", "vllm"]),
    }
    push(&["--num-prompts", &load.prompts.to_string(), "--seed", "0"]);
    if load.dry_run {
        push(&["--dry-run"]);
        return a;
    }
    push(&["--max-concurrency", &load.concurrency.to_string()]);
    push(&["--num-warmups", &load.warmups.to_string()]);
    if let Some(rate) = load.request_rate {
        push(&["--request-rate", &rate.to_string()]);
    }
    push(&[
        "--ignore-eos",
        "--disable-tqdm",
        "--save-result",
        "--save-detailed",
    ]);
    push(&["--result-filename", file]);
    if peer == Peer::VllmBench {
        push(&["--result-dir", &dir.to_string_lossy()]);
    }
    if let Some(addr) = addr {
        push(&["--base-url", &format!("http://{addr}")]);
    }
    a
}

/// Requests per second of the paced timing rows: below what one simulator
/// thread parses (20-30k/s), so requests do not queue in it.
const PACED_RATE: f64 = 10_000.0;

/// Settings of one sitting.
struct Ctx<'a> {
    root: PathBuf,
    bins: Bins,
    tokenizer: PathBuf,
    timeout: Duration,
    dir: PathBuf,
    args: &'a Args,
}

/// Runs one client once: against a fresh simulator with these delays
/// (`None`: no server, a dry run).
fn measure(ctx: &Ctx, peer: Peer, load: &Load, delays: Option<(u32, u32)>) -> Result<Measured> {
    let dir = &ctx.dir;
    let file = format!("{}.json", peer.name());
    let truth_file = dir.join("truth.jsonl");
    let time_file = dir.join(format!("{}.time", peer.name()));
    for f in [&dir.join(&file), &truth_file, &time_file] {
        let _ = std::fs::remove_file(f);
    }
    let sim: Option<(Sim, Instant)> = match delays {
        Some((ttft, itl)) => {
            let sim = start_sim(&ctx.root, 1, ttft, itl, Some(&truth_file))?;
            let epoch = Instant::now();
            // Every server thread on CPU 1, the client on CPU 0.
            let pinned = Command::new("taskset")
                .args(["-a", "-cp", "1", &sim.pid().to_string()])
                .stdout(Stdio::null())
                .status()?;
            if !pinned.success() {
                bail!("taskset could not pin sim_server to CPU 1");
            }
            Some((sim, epoch))
        }
        None => None,
    };
    let argv = client_command(
        peer,
        &ctx.bins,
        &ctx.tokenizer,
        load,
        sim.as_ref().map(|s| s.0.addr.as_str()),
        dir,
        &file,
    );
    // A dry run has no server: it may use both cores, as users run it.
    let mut cmd = if delays.is_some() {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "/usr/bin/time"]);
        c
    } else {
        Command::new("/usr/bin/time")
    };
    cmd.args(["-f", "%U %S %M", "-o"])
        .arg(&time_file)
        .args(&argv)
        .current_dir(dir)
        // vllm-bench caches tokenizer checks under the user's cache dir.
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(
            dir.join(format!("{}.out", peer.name())),
        )?)
        .stderr(std::fs::File::create(
            dir.join(format!("{}.err", peer.name())),
        )?)
        // Its own process group, so a timeout ends `time` and the client.
        .process_group(0);
    let origin = sim.as_ref().map_or_else(Instant::now, |s| s.1);
    let spawned = Instant::now();
    let mut child = cmd.spawn().context("starting /usr/bin/time (GNU time)")?;
    let mut client = None;
    let mut samples = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if client.is_none() {
            client = first_child(child.id());
        }
        if let Some(cpu) = client.and_then(cpu_seconds) {
            samples.push((origin.elapsed().as_secs_f64(), cpu));
        }
        if spawned.elapsed() > ctx.timeout {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            bail!(
                "{} ran past {} s ({} prompts at concurrency {}); killed",
                peer.name(),
                ctx.timeout.as_secs(),
                load.prompts,
                load.concurrency
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall_s = spawned.elapsed().as_secs_f64();
    let spawn_s = spawned.duration_since(origin).as_secs_f64();
    let truth = match sim {
        Some((sim, _)) => {
            sim.stop();
            read_truth(&truth_file)?
        }
        None => Vec::new(),
    };
    if !status.success() {
        let err =
            std::fs::read_to_string(dir.join(format!("{}.err", peer.name()))).unwrap_or_default();
        let tail: String = err.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        bail!("{} failed ({status}): {tail}", peer.name());
    }
    // `time` writes "Command exited …" first when the command failed; the
    // numbers are on the last line.
    let times = std::fs::read_to_string(&time_file)?;
    let nums: Vec<f64> = times
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let [user, sys, rss_kib] = nums[..] else {
        bail!("unexpected output of /usr/bin/time: {times}");
    };
    let doc = if load.dry_run {
        None
    } else {
        let text = std::fs::read_to_string(dir.join(&file))
            .with_context(|| format!("{} wrote no result file", peer.name()))?;
        let doc: Value = serde_json::from_str(&text)?;
        if doc["completed"].as_u64() != Some(load.prompts as u64) {
            bail!(
                "{}: {} of {} requests completed",
                peer.name(),
                doc["completed"],
                load.prompts
            );
        }
        Some(doc)
    };
    if !load.dry_run && truth.len() != load.prompts + load.warmups {
        bail!(
            "{}: the server saw {} requests, expected {} warmups + {} prompts",
            peer.name(),
            truth.len(),
            load.warmups,
            load.prompts
        );
    }
    Ok(Measured {
        cpu_s: user + sys,
        peak_rss_mib: rss_kib / 1024.0,
        wall_s,
        spawn_s,
        samples,
        truth,
        doc,
    })
}

/// Figures of a zero-delay run: CPU per streamed token over the whole
/// process and over the streaming window, and streamed tokens/s in that
/// window, all from the ground truth.
struct Fast {
    cpu_per_token_us: f64,
    window_cpu_per_token_us: f64,
    tokens_per_s: f64,
}

fn fast_figures(m: &Measured, warmups: usize) -> Fast {
    let all_tokens: usize = m.truth.iter().map(|r| r.1.len()).sum();
    let main = m.truth.get(warmups..).unwrap_or_default();
    let tokens: usize = main.iter().map(|r| r.1.len()).sum();
    let start = main.first().map_or(f64::NAN, |r| r.0);
    let end = main
        .iter()
        .filter_map(|r| r.1.last().copied())
        .fold(f64::NEG_INFINITY, f64::max);
    let window_cpu = match (cpu_at(&m.samples, start), cpu_at(&m.samples, end)) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    Fast {
        cpu_per_token_us: m.cpu_s / all_tokens as f64 * 1e6,
        window_cpu_per_token_us: window_cpu / tokens as f64 * 1e6,
        tokens_per_s: tokens as f64 / (end - start),
    }
}

/// Mean TTFT error and p99 ITL error (ms) of the client against the
/// simulator's truth for the main run.
fn timing_errors(m: &Measured, warmups: usize) -> Result<(f64, f64)> {
    let doc = m.doc.as_ref().context("no result file")?;
    let (ttfts, itls) = measured_timings_ms(doc)?;
    let (t_ttft, t_itl) = truth_timings_ms(m.truth.get(warmups..).unwrap_or_default());
    Ok((
        mean(&ttfts) - mean(&t_ttft),
        percentile(&itls, 99.0) - percentile(&t_itl, 99.0),
    ))
}

/// Exports the scratch tree of vllm-bench from the bare clone (when its
/// commit changed) and builds it; returns the binary.
fn build_vllm_bench(root: &Path, git: &Path, skip_build: bool) -> Result<(PathBuf, String)> {
    let tree = root.join("target/bench-peers/vllm-bench");
    let bin = tree.join("target/release/vllm-bench");
    let stamp = tree.join(".source-commit");
    let head = Command::new("git")
        .arg("--git-dir")
        .arg(git)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(head) = head else {
        let have = std::fs::read_to_string(&stamp).unwrap_or_default();
        if skip_build && bin.exists() {
            return Ok((bin, have.trim().to_owned()));
        }
        bail!(
            "no bare clone of vllm-project/vllm-bench at {} (`git clone --bare \
             https://github.com/vllm-project/vllm-bench {}`, or pass --vllm-bench-git DIR)",
            git.display(),
            git.display()
        );
    };
    if skip_build && bin.exists() {
        return Ok((bin, head));
    }
    if std::fs::read_to_string(&stamp).unwrap_or_default().trim() != head {
        // A fresh export, keeping its build cache (target/).
        std::fs::create_dir_all(&tree)?;
        for entry in std::fs::read_dir(&tree)? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        let archive = Command::new("git")
            .arg("--git-dir")
            .arg(git)
            .args(["archive", "--format=tar", "HEAD"])
            .stdout(Stdio::piped())
            .spawn()?;
        let untar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&tree)
            .stdin(archive.stdout.context("git archive's output")?)
            .status()?;
        if !untar.success() {
            bail!("exporting vllm-bench from {} failed", git.display());
        }
        // The tree lies under our workspace: keep cargo from taking it for
        // a member.
        let manifest = tree.join("Cargo.toml");
        let mut text = std::fs::read_to_string(&manifest)?;
        text.push_str("\n[workspace]\n");
        std::fs::write(&manifest, text)?;
        std::fs::write(&stamp, &head)?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--bin",
            "vllm-bench",
        ])
        .current_dir(&tree)
        .env("CARGO_TARGET_DIR", tree.join("target"))
        .status()
        .context("running cargo build for vllm-bench")?;
    if !status.success() {
        bail!("building vllm-bench failed");
    }
    Ok((bin, head))
}

/// Our checkout: HEAD and how many files under crates/ and bins/ differ
/// from it (other work in progress is built into the binary too).
fn our_commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"]);
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "crates",
        "bins",
        "Cargo.lock",
    ]);
    let n = dirty.lines().count();
    if n == 0 {
        head
    } else {
        format!("{head} + {n} uncommitted file(s) under crates/, bins/")
    }
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let dir = root.join("target/bench-peers/runs");
    std::fs::create_dir_all(&dir)?;
    // The checkout as built (other work may commit during the sitting).
    let ours_at = our_commit(&root);
    if !args.skip_build {
        crate::build_release(&["sim_server", "benchmark_serving"])?;
    }
    let (theirs, their_commit) = match &args.vllm_bench_bin {
        Some(bin) => (bin.clone(), "(given binary)".to_owned()),
        None => build_vllm_bench(&root, &root.join(&args.vllm_bench_git), args.skip_build)?,
    };
    let ctx = Ctx {
        bins: Bins {
            ours: root.join("target/release/benchmark_serving"),
            theirs,
        },
        tokenizer: root.join(&args.tokenizer),
        timeout: Duration::from_secs(args.timeout_s),
        dir,
        root: root.clone(),
        args,
    };
    let q = args.quick;
    let per_slot = if q { 2 } else { 8 };
    // c=64 streams 8 × 64 × 200 tokens in about 0.2 s: a hiccup of this
    // shared machine moved its rate by 10-40 % between runs of one binary.
    // Five times the prompts give it a window of about a second.
    let per_slot_64 = per_slot * 5;
    let streams = args
        .memory_streams
        .unwrap_or(if q { 2_000 } else { 10_000 });
    let acc_prompts = if q { 1_000 } else { 2_000 };
    let prep_prompts = if q { 250 } else { 1_000 };

    let rows = [
        Row {
            label: "client CPU per streamed token, c=256, zero-delay mock, whole process".into(),
            unit: Unit::Micros,
        },
        Row {
            label: "same, streaming window only".into(),
            unit: Unit::Micros,
        },
        Row {
            label: "streamed tokens/s at c=64 (zero-delay mock)".into(),
            unit: Unit::KiloPerSec,
        },
        Row {
            label: "streamed tokens/s at c=1024".into(),
            unit: Unit::KiloPerSec,
        },
        Row {
            label: "mean TTFT error vs the simulator's ground truth, c=1000 (50/10 ms)".into(),
            unit: Unit::SignedMillis,
        },
        Row {
            label: "p99 ITL error, same run".into(),
            unit: Unit::SignedMillis,
        },
        Row {
            label: "launch to first request, 1024 prompts × 128 tokens".into(),
            unit: Unit::Secs,
        },
        Row {
            label: "peak RSS, c=256 (zero-delay run above)".into(),
            unit: Unit::MiB,
        },
        Row {
            label: format!("peak RSS, {streams} concurrent streams"),
            unit: Unit::MiB,
        },
        Row {
            label: format!("{prep_prompts} × 8k-token prompts prepared (--dry-run, both cores)"),
            unit: Unit::Secs,
        },
        Row {
            label: format!(
                "mean TTFT error, c=1000, arrivals at {PACED_RATE}/s (within the simulator's intake)"
            ),
            unit: Unit::SignedMillis,
        },
        Row {
            label: "p99 ITL error, same paced run".into(),
            unit: Unit::SignedMillis,
        },
    ];
    let mut table: Table = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let record = |table: &mut Table, row: usize, peer: Peer, v: f64| {
        table.entry((row, peer)).or_default().push(v);
    };

    let started = Instant::now();
    // Other work on the machine skews every row: shown with the table.
    let mut loads: Vec<String> = Vec::new();
    for run in 0..args.runs {
        loads.push(
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_owned(),
        );
        // Alternate who goes first, so drift in the machine's state
        // within a sitting does not favour one client.
        let peers = if run % 2 == 0 {
            [Peer::Servebench, Peer::VllmBench]
        } else {
            [Peer::VllmBench, Peer::Servebench]
        };
        eprintln!(
            "bench-peers: run {} of {} ({:.0} s so far)",
            run + 1,
            args.runs,
            started.elapsed().as_secs_f64()
        );
        for peer in peers {
            let mut attempt = |what: &str, result: Result<()>| {
                if let Err(e) = result {
                    failures.push(format!("run {}, {}, {what}: {e:#}", run + 1, peer.name()));
                }
            };
            // Zero-delay ceiling points, 200 tokens per request.
            let zero_delay: &[usize] = if args.wants("zero-delay") {
                &[64, 256, 1024]
            } else {
                &[]
            };
            for &c in zero_delay {
                let load = Load {
                    concurrency: c,
                    prompts: c * if c == 64 { per_slot_64 } else { per_slot },
                    warmups: c,
                    input_len: 16,
                    output_len: 200,
                    dry_run: false,
                    request_rate: None,
                };
                let r = measure(&ctx, peer, &load, Some((0, 0))).map(|m| {
                    let f = fast_figures(&m, load.warmups);
                    match c {
                        64 => record(&mut table, 2, peer, f.tokens_per_s),
                        256 => {
                            record(&mut table, 0, peer, f.cpu_per_token_us);
                            record(&mut table, 1, peer, f.window_cpu_per_token_us);
                            record(&mut table, 7, peer, m.peak_rss_mib);
                        }
                        _ => record(&mut table, 3, peer, f.tokens_per_s),
                    }
                });
                attempt(&format!("zero-delay c={c}"), r);
            }
            // Timing error: 50 ms to the first token, 10 ms between tokens,
            // against the simulator's truth (arrivals at the kernel's receive
            // time); all at once, then paced at PACED_RATE requests/s.
            let timing = Load {
                concurrency: 1000,
                prompts: acc_prompts,
                warmups: 1000,
                input_len: 16,
                output_len: 100,
                dry_run: false,
                request_rate: None,
            };
            for (group, request_rate, (ttft_row, itl_row)) in [
                ("timing", None, (4, 5)),
                ("paced", Some(PACED_RATE), (10, 11)),
            ] {
                if !args.wants(group) {
                    continue;
                }
                let load = Load {
                    request_rate,
                    ..timing
                };
                let r = measure(&ctx, peer, &load, Some((50, 10))).and_then(|m| {
                    let (ttft, itl) = timing_errors(&m, load.warmups)?;
                    record(&mut table, ttft_row, peer, ttft);
                    record(&mut table, itl_row, peer, itl);
                    Ok(())
                });
                attempt(&format!("timing error c=1000 ({group})"), r);
            }
            // Launch to the first request the server sees.
            let load = Load {
                concurrency: 256,
                prompts: 1024,
                warmups: 0,
                input_len: 128,
                output_len: 16,
                dry_run: false,
                request_rate: None,
            };
            if args.wants("launch") {
                let r = measure(&ctx, peer, &load, Some((0, 0))).and_then(|m| {
                    let first = m.truth.first().context("the server saw no request")?.0;
                    record(&mut table, 6, peer, first - m.spawn_s);
                    Ok(())
                });
                attempt("launch to first request", r);
            }
            // Memory with many open streams (200 ms between tokens).
            if streams > 0 && args.wants("memory") {
                let load = Load {
                    concurrency: streams,
                    prompts: streams,
                    warmups: streams,
                    input_len: 16,
                    output_len: 20,
                    dry_run: false,
                    request_rate: None,
                };
                let r = measure(&ctx, peer, &load, Some((50, 200)))
                    .map(|m| record(&mut table, 8, peer, m.peak_rss_mib));
                attempt("memory", r);
            }
            if !ctx.args.skip_prepare && args.wants("prepare") {
                let load = Load {
                    concurrency: 1,
                    prompts: prep_prompts,
                    warmups: 0,
                    input_len: 8192,
                    output_len: 1024,
                    dry_run: true,
                    request_rate: None,
                };
                let r =
                    measure(&ctx, peer, &load, None).map(|m| record(&mut table, 9, peer, m.wall_s));
                attempt("prompt preparation", r);
            }
        }
    }

    println!(
        "servebench {} · vllm-bench {} · {} run(s) each{} · {:.0} s · 1-minute load average \
         at each run's start: {} (2 cores: above ~2, other work competed)",
        ours_at,
        their_commit.get(..12).unwrap_or(&their_commit),
        args.runs,
        if q { " · --quick" } else { "" },
        started.elapsed().as_secs_f64(),
        loads.join(", ")
    );
    println!(
        "client on CPU 0, sim_server (1 thread) on CPU 1; median [min–max]. Zero-delay points: \
         16-token prompts, 200 tokens each, {per_slot}×c prompts ({per_slot_64}×c at c=64) after c warmups; timing: \
         {acc_prompts} prompts × 100 tokens after 1000 warmups; rates and timing errors from \
         the simulator's ground truth"
    );
    println!();
    println!("| | servebench | vllm-bench |");
    println!("|---|---|---|");
    for (i, row) in rows.iter().enumerate() {
        println!(
            "| {} | {} | {} |",
            row.label,
            cell(row.unit, table.get(&(i, Peer::Servebench))),
            cell(row.unit, table.get(&(i, Peer::VllmBench)))
        );
    }
    let raw: BTreeMap<String, Vec<f64>> = table
        .iter()
        .filter_map(|((i, p), v)| {
            Some((format!("{} / {}", rows.get(*i)?.label, p.name()), v.clone()))
        })
        .collect();
    std::fs::write(
        root.join("target/bench-peers/last.json"),
        serde_json::to_string_pretty(&raw)?,
    )?;
    if !failures.is_empty() {
        println!();
        println!("failed runs:");
        for f in &failures {
            println!("- {f}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_cpu_between_samples() {
        let s = [(0.0, 0.0), (1.0, 1.0), (2.0, 3.0)];
        assert_eq!(cpu_at(&s, 1.5), Some(2.0));
        assert_eq!(cpu_at(&s, -1.0), Some(0.0));
        assert_eq!(cpu_at(&s, 3.0), None);
    }

    #[test]
    fn cells_show_median_and_range() {
        let v = vec![3.0, 1.0, 2.0];
        assert_eq!(cell(Unit::Micros, Some(&v)), "2.00 µs [1.00–3.00]");
        assert!(cell(Unit::Micros, None).starts_with("n/a"));
    }
}
