//! `cargo xtask bench-agentx`: what AgentX replay costs on the client
//! (issue 17), as a benchmark, not a test:
//!
//! (a) corpus preparation for a trace file with a real tokenizer
//!     (default `traces/medium.jsonl`, DeepSeek-R1): load the tokenizer and
//!     the traces, split every trace into its streams and build every
//!     turn's messages (escaped request bodies included), in process, as
//!     `agentic_replay` does before its first request; next to upstream
//!     `aiperf` (PyPI, in a scratch venv under `target/`) preparing the
//!     same file on this machine (tokenizer, Weka trace loader, the
//!     conversation composer; no services started). A second row times
//!     both from process start (interpreter, imports, argv validation).
//! (b) dispatch lag (sent minus scheduled, from `agentic_replay`'s
//!     `replay_audit.json`) and the client's CPU while it replays 64
//!     concurrent trees against `sim_server` in fast mode, once with the
//!     server counting tokens with the tokenizer and once without (on a
//!     2-core machine the server's tokenizer takes most of a core from the
//!     client, which shows up as lag).
//!
//! The aiperf side runs a small driver generated into the scratch
//! directory at run time: it parses the same `aiperf profile` argv with
//! aiperf's own CLI, then, in place of starting the benchmark services,
//! times `Tokenizer.from_pretrained` and `CustomDatasetComposer.create_dataset`
//! (what aiperf's dataset manager runs first). Offline, aiperf only takes
//! a tokenizer from a Hugging Face cache, so the tokenizer directory is
//! placed in a private cache as repo `servebench/dsr1-tokenizer`; its file
//! loader reads a directory of per-trace `.json` files, so the `.jsonl` is
//! split into one.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use servebench_agentx::plan::{self, TreePlan};
use servebench_agentx::replay::{EscapeCache, TreePrompts};
use servebench_agentx::synth::Synthesizer;
use servebench_agentx::trace::{self, Entry, Trace};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Timed runs of each preparation (median and range)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Profiling duration of the dispatch-lag replay, seconds (0 skips it)
    #[arg(long, default_value_t = 45.0)]
    duration: f64,
    /// Concurrent trees (lanes) of the dispatch-lag replay
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// Do not run aiperf: show the figures it measured last time on this
    /// machine (target/bench-agentx/aiperf-last.json), if any
    #[arg(long)]
    skip_aiperf: bool,
    /// The scratch venv for upstream aiperf (created and filled from PyPI
    /// when it lacks aiperf)
    #[arg(long, default_value = "target/bench-agentx/aiperf-venv")]
    aiperf_venv: PathBuf,
    /// The aiperf release installed into the venv
    #[arg(long, default_value = "0.13.0")]
    aiperf_version: String,
    /// How sim_server counts prompt tokens in the dispatch-lag replay:
    /// `tokenizer` (DeepSeek-R1, what the artifacts need), `words` (no
    /// tokenizer: on a small machine the server's tokenizer takes a core
    /// from the client, which shows up as dispatch lag) or `both`
    #[arg(long, value_enum, default_value_t = SimCounts::Both)]
    sim_counts: SimCounts,
    /// Skip the cross-check: one real `aiperf profile` run (10 s, 2 trees,
    /// against sim_server) whose own log says how long its dataset
    /// manager took to configure the tokenizer and the dataset
    #[arg(long)]
    no_aiperf_profile: bool,
    /// Python to create the venv with (aiperf 0.13.0 needs >= 3.10)
    #[arg(long, default_value = "python3")]
    python: String,
    /// Trace file (one trace per line)
    #[arg(long, default_value = "../shared/reference/agentx/traces/medium.jsonl")]
    traces: PathBuf,
    /// Tokenizer directory (tokenizer.json, tokenizer_config.json)
    #[arg(long, default_value = "../shared/reference/tokenizers/deepseek-r1")]
    tokenizer: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SimCounts {
    Tokenizer,
    Words,
    Both,
}

/// The scratch directory (ignored by git, outside every crate).
const SCRATCH: &str = "target/bench-agentx";
/// The Hugging Face repo id the tokenizer gets in aiperf's private cache.
const HF_REPO: &str = "servebench/dsr1-tokenizer";
/// The aiperf figures of the last run, for `--skip-aiperf`.
const LAST: &str = "aiperf-last.json";

/// One timed preparation.
#[derive(Clone, Copy)]
struct Sample {
    wall_s: f64,
    cpu_s: f64,
}

/// What one preparation produced (to show both sides did the same work),
/// and where its time went (seconds).
#[derive(Default)]
struct Counts {
    tokenizer_s: f64,
    traces_s: f64,
    corpus_s: f64,
    messages_s: f64,
    bodies_s: f64,
    traces: usize,
    requests: usize,
    conversations: usize,
    turns: usize,
    prompt_tokens: u64,
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let scratch = root.join(SCRATCH);
    std::fs::create_dir_all(&scratch)?;
    let traces = root.join(&args.traces);
    let tokenizer = root.join(&args.tokenizer);
    let runs = args.runs.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::build_release(&["agentic_replay", "sim_server"])?;
    let bin = root.join("target/release");
    let load_before = load_average();

    // (a) ours, in process, then from process start.
    let mut ours = Vec::new();
    let mut counts = Counts::default();
    for _ in 0..runs {
        let (sample, c) = prepare_ours(&traces, &tokenizer, cores)?;
        ours.push(sample);
        counts = c;
    }
    let mut ours_start = Vec::new();
    for _ in 0..runs {
        ours_start.push(replay_until_prompts_ready(
            &bin, &traces, &tokenizer, &scratch,
        )?);
    }

    // (a) aiperf.
    let last_path = scratch.join(LAST);
    let aiperf: Option<Value> = if args.skip_aiperf {
        std::fs::read_to_string(&last_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    } else {
        let venv = root.join(&args.aiperf_venv);
        ensure_aiperf(&venv, &args.python, &args.aiperf_version)?;
        let mut doc = measure_aiperf(&venv, &scratch, &traces, &tokenizer, runs)?;
        if !args.no_aiperf_profile {
            doc["profile_log"] = match aiperf_profile_log(&venv, &bin, &scratch, &tokenizer) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("bench-agentx: the aiperf profile cross-check failed: {e:#}");
                    Value::Null
                }
            };
        }
        std::fs::write(&last_path, serde_json::to_vec_pretty(&doc)?)?;
        Some(doc)
    };

    // (b) dispatch lag.
    let modes: &[bool] = match args.sim_counts {
        SimCounts::Tokenizer => &[true],
        SimCounts::Words => &[false],
        SimCounts::Both => &[true, false],
    };
    let mut dispatch = Vec::new();
    if args.duration > 0.0 {
        for &sim_tokenizer in modes {
            dispatch.push((
                sim_tokenizer,
                dispatch_lag(
                    &bin,
                    &traces,
                    &tokenizer,
                    &scratch,
                    args.concurrency,
                    args.duration,
                    sim_tokenizer,
                ),
            ));
        }
    }

    let name = traces.file_name().map_or_else(
        || traces.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tok_name = tokenizer.file_name().map_or_else(
        || tokenizer.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let version = aiperf
        .as_ref()
        .and_then(|d| d["aiperf_version"].as_str())
        .unwrap_or(&args.aiperf_version)
        .to_owned();
    println!();
    println!(
        "(a) corpus preparation: {name} ({} traces, {} requests), tokenizer {tok_name}; {runs} run(s) each, median [min-max] wall seconds; {cores} cores, load average {load_before} before",
        counts.traces, counts.requests
    );
    println!("| | servebench | aiperf {version} | ratio |");
    println!("|---|---:|---:|---:|");
    let mut note = String::new();
    let theirs_prep = aiperf.as_ref().map(|d| samples(&d["prep"]));
    let theirs_start = aiperf.as_ref().map(|d| samples(&d["process"]));
    row(
        "corpus prep (tokenizer, traces, every turn's messages)",
        &ours,
        theirs_prep.as_deref(),
    );
    row(
        "from process start (interpreter, imports, argv)",
        &ours_start,
        theirs_start.as_deref(),
    );
    if let Some(log) = aiperf
        .as_ref()
        .map(|d| &d["profile_log"])
        .filter(|l| !l.is_null())
    {
        let theirs = log["tokenizer_s"].as_f64().unwrap_or(f64::NAN)
            + log["dataset_s"].as_f64().unwrap_or(f64::NAN);
        let ours_wall: Vec<f64> = ours.iter().map(|s| s.wall_s).collect();
        println!(
            "| cross-check: a real `aiperf profile`, its log's tokenizer + dataset configured (1 run, empty dataset cache) | {} | {theirs:.3} s | {:.0}× |",
            spread(&ours_wall),
            theirs / median(&ours_wall).max(1e-9)
        );
        note = format!(
            "aiperf profile: all services configured in {:.1} s with an empty dataset cache, {:.1} s on a re-run that found the dataset in its cache ({}; a fresh runner starts empty)",
            log["services_s"].as_f64().unwrap_or(f64::NAN),
            log["warm_services_s"].as_f64().unwrap_or(f64::NAN),
            if log["warm_cache_hit"].as_bool() == Some(true) { "cache hit" } else { "no cache hit" }
        );
    }
    cpu_row("CPU seconds, corpus prep", &ours, theirs_prep.as_deref());
    cpu_row(
        "CPU seconds, from process start (aiperf: with its worker processes)",
        &ours_start,
        theirs_start.as_deref(),
    );
    println!(
        "servebench built {} conversations, {} turns, {} prompt tokens (synthesis threads: {cores}); last run: tokenizer {:.3} s, traces and trees {:.3} s, corpus tokens {:.3} s, messages {:.3} s, request bodies {:.3} s",
        counts.conversations,
        counts.turns,
        counts.prompt_tokens,
        counts.tokenizer_s,
        counts.traces_s,
        counts.corpus_s,
        counts.messages_s,
        counts.bodies_s
    );
    match &aiperf {
        Some(d) => println!(
            "aiperf built {} conversations, {} turns; last run: tokenizer {:.3} s, dataset (load, synthesis, reconstruction) {:.3} s{}",
            d["conversations"],
            d["turns"],
            d["prep"][runs_in(d).saturating_sub(1)]["tokenizer_s"].as_f64().unwrap_or(f64::NAN),
            d["prep"][runs_in(d).saturating_sub(1)]["dataset_s"].as_f64().unwrap_or(f64::NAN),
            if args.skip_aiperf {
                format!(
                    "; figures measured {} (--skip-aiperf)",
                    d["measured_at"].as_str().unwrap_or("earlier")
                )
            } else {
                String::new()
            }
        ),
        None => println!("aiperf: not measured (--skip-aiperf and no earlier figures in {SCRATCH}/{LAST})"),
    }
    if !note.is_empty() {
        println!("{note}");
    }

    println!();
    if dispatch.is_empty() {
        println!("(b) dispatch lag: skipped (--duration 0)");
        return Ok(());
    }
    println!(
        "(b) dispatch lag (sent minus scheduled), {} concurrent trees, {name}, sim_server fast mode (--ttft-ms 20 --itl-ms 1, 1 thread), client on CPU 0 and server on CPU 1 (taskset, when there are 2 cores), {:.0} s profiling",
        args.concurrency, args.duration
    );
    println!("| sim_server token counts | phase | requests | lag p50 (ms) | lag p99 (ms) | lag max (ms) |");
    println!("|---|---|---:|---:|---:|---:|");
    let counts_label = |t: bool| {
        if t {
            "DeepSeek-R1 tokenizer"
        } else {
            "no tokenizer"
        }
    };
    for (sim_tokenizer, d) in &dispatch {
        let Ok(d) = d else { continue };
        for (label, key) in [
            ("profiling", "dispatch_lateness_profiling"),
            (
                "profiling, the dispatcher's part (scheduled to decided)",
                "dispatcher_lateness_profiling",
            ),
            ("all (warm-up included)", "dispatch_lateness"),
        ] {
            let s = &d.audit[key];
            if s.is_null() {
                continue;
            }
            println!(
                "| {} | {label} | {} | {:.3} | {:.3} | {:.3} |",
                counts_label(*sim_tokenizer),
                s["count"],
                s["p50_ms"].as_f64().unwrap_or(f64::NAN),
                s["p99_ms"].as_f64().unwrap_or(f64::NAN),
                s["max_ms"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    println!("(on a small machine, a load average above 1 besides this benchmark competes with the client for cores: lag figures are then pessimistic)");
    for (sim_tokenizer, d) in &dispatch {
        match d {
            Err(e) => println!(
                "{}: not available: {e:#}",
                counts_label(*sim_tokenizer)
            ),
            Ok(d) => println!(
                "{}: client {:.2} CPU s while replaying ({:.1} s wall, {:.1}% of one core), {:.2} CPU s before (prompts), peak RSS {:.0} MiB; server {:.2} CPU s; {} records, {} errors; mean busy lanes {:.1}; load average {} before, {} after; audit verdict: {}",
                counts_label(*sim_tokenizer),
                d.replay_cpu_s,
                d.replay_wall_s,
                100.0 * d.replay_cpu_s / d.replay_wall_s.max(1e-9),
                d.prep_cpu_s,
                d.peak_rss_mib,
                d.server_cpu_s,
                d.records,
                d.errors,
                d.audit["occupancy"]["mean_busy_lanes"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                d.load_before,
                d.load_after,
                d.audit["verdict"].as_str().unwrap_or("?")
            ),
        }
    }
    Ok(())
}

/// The 1-minute load average (`/proc/loadavg`): other work on the
/// machine shows up in every figure here.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn runs_in(d: &Value) -> usize {
    d["prep"].as_array().map_or(0, Vec::len)
}

fn row(label: &str, ours: &[Sample], theirs: Option<&[Sample]>) {
    let ours_wall: Vec<f64> = ours.iter().map(|s| s.wall_s).collect();
    let (theirs_cell, ratio) = match theirs {
        Some(t) if !t.is_empty() => {
            let w: Vec<f64> = t.iter().map(|s| s.wall_s).collect();
            (
                spread(&w),
                format!("{:.0}×", median(&w) / median(&ours_wall).max(1e-9)),
            )
        }
        _ => ("n/a".to_owned(), String::new()),
    };
    println!(
        "| {label} | {} | {theirs_cell} | {ratio} |",
        spread(&ours_wall)
    );
}

fn cpu_row(label: &str, ours: &[Sample], theirs: Option<&[Sample]>) {
    let cpu = |v: &[Sample]| median(&v.iter().map(|s| s.cpu_s).collect::<Vec<_>>());
    let theirs_cell = theirs
        .filter(|t| !t.is_empty())
        .map_or("n/a".to_owned(), |t| format!("{:.2}", cpu(t)));
    println!("| {label} | {:.2} | {theirs_cell} | |", cpu(ours));
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// "median [min-max]" in seconds.
fn spread(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.len() > 1 {
        format!("{:.3} s [{min:.3}-{max:.3}]", median(v))
    } else {
        format!("{:.3} s", median(v))
    }
}

fn samples(v: &Value) -> Vec<Sample> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some(Sample {
                        wall_s: s["wall_s"].as_f64()?,
                        cpu_s: s["cpu_s"].as_f64().unwrap_or(f64::NAN),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat`; the
/// kernel reports clock ticks of `USER_HZ`, 100 on Linux).
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is
    // field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident set of a live process, MiB (`VmHWM`).
fn peak_rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The request a turn of a tree came from (as `agentic_replay` finds it).
/// Our corpus preparation, in this process: tokenizer, traces, the trees
/// of streams, every turn's messages (on `threads` workers) and their
/// escaped request bodies.
fn prepare_ours(traces_path: &Path, tokenizer: &Path, threads: usize) -> Result<(Sample, Counts)> {
    let cpu0 = cpu_seconds("self").unwrap_or(f64::NAN);
    let start = Instant::now();
    let env = |k: &str| std::env::var(k).ok();
    let tok = servebench_prompts::Tokenizer::load(&tokenizer.to_string_lossy(), &env)
        .context("loading the tokenizer")?;
    let t_tok = start.elapsed();
    let traces = trace::load_path(traces_path).context("loading the traces")?;
    let trees: Vec<Arc<TreePlan>> = traces
        .iter()
        .filter_map(plan::build)
        .map(Arc::new)
        .collect();
    let t_traces = start.elapsed();
    let synth = Synthesizer::new(Arc::new(tok), 42)?;
    let t_corpus = start.elapsed();
    let by_id: std::collections::HashMap<&str, &Trace> =
        traces.iter().map(|t| (t.id.as_str(), t)).collect();
    let shapes = servebench_agentx::session::stream_shapes(&trees, &by_id)?;
    let streams = synth.streams(&shapes, threads)?;
    let t_messages = start.elapsed();
    let mut cache = EscapeCache::new();
    let mut left = streams.as_slice();
    let mut bodies = Vec::with_capacity(trees.len());
    for tree in &trees {
        let (mine, rest) = left.split_at(tree.streams.len().min(left.len()));
        left = rest;
        bodies.push(TreePrompts::from_messages(tree, mine, &mut cache)?);
    }
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds("self").unwrap_or(f64::NAN) - cpu0;
    let counts = Counts {
        tokenizer_s: t_tok.as_secs_f64(),
        traces_s: (t_traces - t_tok).as_secs_f64(),
        corpus_s: (t_corpus - t_traces).as_secs_f64(),
        messages_s: (t_messages - t_corpus).as_secs_f64(),
        bodies_s: wall_s - t_messages.as_secs_f64(),
        traces: traces.len(),
        requests: traces
            .iter()
            .flat_map(|t| &t.entries)
            .map(|e| match e {
                Entry::Request(_) => 1,
                Entry::Subagent(s) => s.requests.len(),
            })
            .sum(),
        conversations: shapes.len(),
        turns: streams.iter().map(Vec::len).sum(),
        prompt_tokens: streams.iter().flatten().map(|t| t.input_tokens).sum(),
    };
    drop(bodies);
    Ok((Sample { wall_s, cpu_s }, counts))
}

/// The workflow's command line (`servebench_agentx::options`), without the
/// sweep's warm-up and extras, as this benchmark has always run both tools.
fn replay_argv(
    url: &str,
    tokenizer: &str,
    input: &Path,
    out: &Path,
    concurrency: u32,
    duration: f64,
    local_overrides: bool,
) -> Vec<String> {
    servebench_agentx::options::WorkflowCommand {
        url,
        model: "servebench-sim",
        tokenizer,
        concurrency: concurrency.into(),
        duration_s: duration,
        warmup_grace_s: 120.0,
        warmup_requests_per_lane: None,
        workflow_extras: false,
        artifacts: out,
        traces: input,
        local_overrides,
    }
    .argv()
}

/// Starts `agentic_replay` against a port that accepts and never answers
/// and times it from spawn to its "prompts ready" line; then stops it.
fn replay_until_prompts_ready(
    bin: &Path,
    traces: &Path,
    tokenizer: &Path,
    scratch: &Path,
) -> Result<Sample> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let out = scratch.join("start-artifacts");
    let tokenizer = tokenizer.to_string_lossy();
    let args = replay_argv(&url, &tokenizer, traces, &out, 64, 1800.0, false);
    let start = Instant::now();
    let mut child = Command::new(bin.join("agentic_replay"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting agentic_replay")?;
    let pid = child.id().to_string();
    let mut ready = None;
    let mut tail = Vec::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines() {
            let line = line?;
            if line.contains("prompts ready") {
                ready = Some(Sample {
                    wall_s: start.elapsed().as_secs_f64(),
                    cpu_s: cpu_seconds(&pid).unwrap_or(f64::NAN),
                });
                break;
            }
            tail.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(listener);
    ready.with_context(|| {
        format!(
            "agentic_replay never printed 'prompts ready':\n{}",
            tail.join("\n")
        )
    })
}

/// Creates the venv and installs aiperf from PyPI unless it is there.
fn ensure_aiperf(venv: &Path, python: &str, version: &str) -> Result<()> {
    let py = venv.join("bin/python");
    let installed = Command::new(&py)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('aiperf'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if installed.as_deref() == Some(version) {
        return Ok(());
    }
    if !py.exists() {
        eprintln!("bench-agentx: creating {}", venv.display());
        let ok = Command::new(python)
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .with_context(|| format!("running {python} -m venv"))?
            .success();
        if !ok {
            bail!("{python} -m venv {} failed", venv.display());
        }
    }
    eprintln!(
        "bench-agentx: pip install aiperf=={version} (PyPI) into {}",
        venv.display()
    );
    let ok = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", &format!("aiperf=={version}")])
        .status()
        .context("running pip")?
        .success();
    if !ok {
        bail!("pip install aiperf=={version} failed");
    }
    Ok(())
}

/// The driver aiperf runs under (see the module doc).
const DRIVER: &str = r#"# Generated by `cargo xtask bench-agentx` (servebench): times upstream
# aiperf's corpus preparation for an `aiperf profile` argv. aiperf's own CLI
# parses and validates the argv; in place of starting the benchmark
# services, this times what its dataset manager runs first: the tokenizer,
# then the custom-dataset composer (Weka trace loader, prompt synthesis,
# conversation reconstruction). Prints one JSON line.
import json
import os
import resource
import sys
import time


def cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main():
    import importlib.metadata

    import aiperf.cli_runner as cli_runner
    from aiperf.cli import app

    result = {"aiperf_version": importlib.metadata.version("aiperf")}

    def prepare_only(plan):
        from aiperf.common.tokenizer import Tokenizer
        from aiperf.dataset.composer.custom import CustomDatasetComposer
        from aiperf.orchestrator.orchestrator import resolve_run_seed

        seed = resolve_run_seed(plan, plan.variations[0])
        run = cli_runner._make_benchmark_run(
            plan.configs[0], random_seed=seed, variables=plan.variables
        )
        cfg = run.cfg
        tc = cfg.tokenizer
        c0, t0 = cpu(), time.perf_counter()
        tokenizer = Tokenizer.from_pretrained(
            tc.get_tokenizer_name_for_model(cfg.get_model_names()[0]),
            trust_remote_code=tc.trust_remote_code,
            revision=tc.revision,
            resolve_alias=tc.should_resolve_alias,
        )
        t1 = time.perf_counter()
        composer = CustomDatasetComposer(run=run, tokenizer=tokenizer)
        conversations = composer.create_dataset()
        t2 = time.perf_counter()
        result.update(
            tokenizer_s=t1 - t0,
            dataset_s=t2 - t1,
            wall_s=t2 - t0,
            cpu_s=cpu() - c0,
            conversations=len(conversations),
            turns=sum(len(c.turns) for c in conversations),
            dataset_type=str(composer.detected_dataset_type),
        )

    cli_runner.run_benchmark = prepare_only
    try:
        app(["profile", *sys.argv[1:]])
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    # Skip interpreter teardown (multiprocessing finalizers): not part of
    # the preparation, and it can outlive the measurement by seconds.
    os._exit(0 if "wall_s" in result else 1)


# The loader's worker pool spawns processes that import __main__.
if __name__ == "__main__":
    main()
"#;

/// Times aiperf `runs` times; returns the document saved for
/// `--skip-aiperf`.
fn measure_aiperf(
    venv: &Path,
    scratch: &Path,
    traces: &Path,
    tokenizer: &Path,
    runs: usize,
) -> Result<Value> {
    // The tokenizer as a Hugging Face cache repo (aiperf refuses a plain
    // directory offline).
    let hub = scratch.join("hf-cache/hub");
    let repo = hub.join(format!("models--{}", HF_REPO.replace('/', "--")));
    let snapshot = repo.join("snapshots/0");
    std::fs::create_dir_all(&snapshot)?;
    std::fs::create_dir_all(repo.join("refs"))?;
    std::fs::write(repo.join("refs/main"), "0")?;
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        let from = tokenizer.join(f);
        if from.exists() {
            std::fs::copy(&from, snapshot.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    // One `.json` per trace.
    let dir = scratch.join("aiperf-traces");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let text =
        std::fs::read_to_string(traces).with_context(|| format!("reading {}", traces.display()))?;
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        std::fs::write(dir.join(format!("{i:05}.json")), line)?;
    }
    let driver = scratch.join("aiperf_prepare.py");
    std::fs::write(&driver, DRIVER)?;
    // The driver puts `profile` in front itself.
    let args = replay_argv(
        "http://127.0.0.1:9",
        HF_REPO,
        &dir,
        &scratch.join("aiperf-artifacts"),
        64,
        1800.0,
        false,
    )
    .split_off(1);
    let mut prep = Vec::new();
    let mut process = Vec::new();
    let mut last = Value::Null;
    for i in 0..runs {
        eprintln!("bench-agentx: aiperf run {}/{runs}", i + 1);
        // /usr/bin/time counts the pool's worker processes too.
        let time_file = scratch.join("aiperf-time.txt");
        let _ = std::fs::remove_file(&time_file);
        let gnu_time = Path::new("/usr/bin/time");
        let mut cmd = if gnu_time.exists() {
            let mut c = Command::new(gnu_time);
            c.args(["-f", "%U %S", "-o"])
                .arg(&time_file)
                .arg(venv.join("bin/python"));
            c
        } else {
            Command::new(venv.join("bin/python"))
        };
        let start = Instant::now();
        let out = cmd
            .arg(&driver)
            .args(&args)
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_HOME", scratch.join("hf-cache"))
            .env("HF_HUB_CACHE", &hub)
            .env("MPLCONFIGDIR", scratch.join("matplotlib"))
            .env("AIPERF_DATASET_WEKA_LIVE_ASSISTANT_RESPONSES", "0")
            .env("AIPERF_DATASET_CONFIGURATION_TIMEOUT", "1800")
            .env("AIPERF_SERVICE_PROFILE_CONFIGURE_TIMEOUT", "1800")
            .current_dir(scratch)
            .stdin(Stdio::null())
            .output()
            .context("running the aiperf driver")?;
        let wall = start.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let doc: Option<Value> = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|d| d.get("wall_s").is_some());
        let Some(doc) = doc.filter(|_| out.status.success()) else {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(30).collect();
            bail!(
                "the aiperf driver failed ({}):\n{}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        };
        prep.push(
            serde_json::json!({"wall_s": doc["wall_s"], "cpu_s": doc["cpu_s"],
            "tokenizer_s": doc["tokenizer_s"], "dataset_s": doc["dataset_s"]}),
        );
        let cpu: Option<f64> = std::fs::read_to_string(&time_file).ok().and_then(|t| {
            let last = t.lines().last()?.to_owned();
            let mut f = last.split_whitespace().map(|x| x.parse::<f64>().ok());
            Some(f.next()?? + f.next()??)
        });
        process.push(serde_json::json!({"wall_s": wall, "cpu_s": cpu}));
        last = doc;
    }
    let measured_at = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Ok(serde_json::json!({
        "aiperf_version": last["aiperf_version"],
        "measured_at": measured_at,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "traces": traces.display().to_string(),
        "conversations": last["conversations"],
        "turns": last["turns"],
        "prep": prep,
        "process": process,
    }))
}

/// Two real `aiperf profile` runs on the split traces (2 trees, 10 s,
/// against a fast-mode sim_server): the first with an empty dataset cache
/// (a fresh machine), the second finding what the first stored there (a
/// re-run on the same machine). Returns what their logs say:
/// `{tokenizer_s, dataset_s, services_s, warm_services_s, warm_cache_hit}`.
fn aiperf_profile_log(venv: &Path, bin: &Path, scratch: &Path, tokenizer: &Path) -> Result<Value> {
    let tok = tokenizer.display().to_string();
    let mut sim = Command::new(bin.join("sim_server"));
    sim.args(["--port", "0", "--model", "servebench-sim", "--threads", "1"])
        .args(["--ttft-ms", "20", "--itl-ms", "1", "--tokenizer", &tok])
        .stderr(Stdio::null());
    let server = crate::bench_sim::Sim::listening(&mut sim, "sim_server")?;
    // aiperf keeps prepared datasets in ~/.cache/aiperf by default: a
    // private one here, emptied first.
    let cache = scratch.join("aiperf-dataset-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let hub = scratch.join("hf-cache/hub");
    let mut logs = Vec::new();
    for pass in ["cold", "warm"] {
        let out = scratch.join(format!("aiperf-profile-{pass}"));
        let _ = std::fs::remove_dir_all(&out);
        let mut args = replay_argv(
            &format!("http://{}", server.addr),
            HF_REPO,
            &scratch.join("aiperf-traces"),
            &out,
            2,
            10.0,
            true,
        );
        args.extend(["--ui", "none"].map(str::to_owned));
        eprintln!("bench-agentx: a real aiperf profile run (10 s, 2 trees), dataset cache {pass}");
        let status = Command::new(venv.join("bin/aiperf"))
            .args(&args)
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_HOME", scratch.join("hf-cache"))
            .env("HF_HUB_CACHE", &hub)
            .env("MPLCONFIGDIR", scratch.join("matplotlib"))
            .env("AIPERF_DATASET_MMAP_CACHE_DIR", &cache)
            .env("AIPERF_DATASET_WEKA_LIVE_ASSISTANT_RESPONSES", "0")
            .env("AIPERF_DATASET_CONFIGURATION_TIMEOUT", "1800")
            .env("AIPERF_SERVICE_PROFILE_CONFIGURE_TIMEOUT", "1800")
            .current_dir(scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running aiperf profile")?;
        logs.push(
            std::fs::read_to_string(out.join("logs/aiperf.log"))
                .with_context(|| format!("aiperf profile ({status}) left no log"))?,
        );
    }
    drop(server);
    // "... - Tokenizer(s) configured in 1.57 seconds"
    let seconds = |log: &str, what: &str| -> Option<f64> {
        log.lines()
            .filter_map(|l| l.split_once(what))
            .find_map(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
    };
    let cold = logs.first().map_or("", String::as_str);
    let warm = logs.get(1).map_or("", String::as_str);
    let (Some(tokenizer_s), Some(dataset_s)) = (
        seconds(cold, "Tokenizer(s) configured in "),
        seconds(cold, "Dataset configured in "),
    ) else {
        bail!("aiperf profile: no configure timings in its log");
    };
    Ok(serde_json::json!({
        "tokenizer_s": tokenizer_s,
        "dataset_s": dataset_s,
        "services_s": seconds(cold, "All services configured in "),
        "warm_services_s": seconds(warm, "All services configured in "),
        "warm_cache_hit": warm.contains("dataset cache HIT"),
    }))
}

struct Dispatch {
    audit: Value,
    records: usize,
    errors: usize,
    prep_cpu_s: f64,
    replay_cpu_s: f64,
    replay_wall_s: f64,
    peak_rss_mib: f64,
    server_cpu_s: f64,
    /// `/proc/loadavg` (1 minute) before and after the replay: other work
    /// on the machine shows up as lateness.
    load_before: String,
    load_after: String,
}

/// Replays `traces` with `concurrency` trees against a fast-mode
/// `sim_server` for `duration` seconds of profiling (warm-up primers in
/// one burst, to bound the run) and reads the replay's audit. The client's
/// CPU is sampled from `/proc` every 50 ms: at "prompts ready" and the
/// last sample before it exits.
/// `program` pinned to one CPU (`taskset`, which execs it: same pid), so
/// that the server's work does not land on the client's core; unpinned on
/// one core or without `taskset`.
fn on_cpu(program: &Path, cpu: usize) -> Command {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = Path::new("/usr/bin/taskset");
    if cores >= 2 && taskset.exists() {
        let mut c = Command::new(taskset);
        c.args(["-c", &cpu.to_string()]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn dispatch_lag(
    bin: &Path,
    traces: &Path,
    tokenizer: &Path,
    scratch: &Path,
    concurrency: u32,
    duration: f64,
    sim_tokenizer: bool,
) -> Result<Dispatch> {
    let load_before = load_average();
    let tok = tokenizer.display().to_string();
    let mut sim = on_cpu(&bin.join("sim_server"), 1);
    sim.args(["--port", "0", "--model", "servebench-sim", "--threads", "1"])
        .args(["--ttft-ms", "20", "--itl-ms", "1"])
        .stderr(Stdio::null());
    if sim_tokenizer {
        sim.args(["--tokenizer", &tok]);
    }
    let server = crate::bench_sim::Sim::listening(&mut sim, "sim_server")?;
    let out = scratch.join("replay-artifacts");
    let _ = std::fs::remove_dir_all(&out);
    let args = replay_argv(
        &format!("http://{}", server.addr),
        &tok,
        traces,
        &out,
        concurrency,
        duration,
        true,
    );
    eprintln!(
        "bench-agentx: replaying {} with {concurrency} trees for {duration} s",
        traces.display()
    );
    let mut child = on_cpu(&bin.join("agentic_replay"), 0)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting agentic_replay")?;
    let pid = child.id().to_string();
    let server_pid = server.pid().to_string();
    let mut server_cpu = (f64::NAN, f64::NAN);
    let (tx, rx) = mpsc::channel::<String>();
    let reader = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    });
    let mut lines = Vec::new();
    let mut ready: Option<(Instant, f64)> = None;
    let (mut last_cpu, mut last_rss, mut last_at) = (f64::NAN, f64::NAN, Instant::now());
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Some(c) = cpu_seconds(&pid) {
            last_cpu = c;
            last_at = Instant::now();
        }
        if let Some(r) = peak_rss_mib(&pid) {
            last_rss = r;
        }
        if let Some(c) = cpu_seconds(&server_pid) {
            server_cpu.1 = c;
        }
        while let Ok(line) = rx.try_recv() {
            if ready.is_none() && line.contains("prompts ready") {
                ready = Some((Instant::now(), cpu_seconds(&pid).unwrap_or(last_cpu)));
                server_cpu.0 = cpu_seconds(&server_pid).unwrap_or(f64::NAN);
            }
            lines.push(line);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(r) = reader {
        let _ = r.join();
    }
    lines.extend(rx.try_iter());
    drop(server);
    let load_after = load_average();
    if !status.success() {
        let tail: Vec<&String> = lines.iter().rev().take(20).collect();
        bail!(
            "agentic_replay failed ({status}):\n{}",
            tail.into_iter()
                .rev()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let (ready_at, prep_cpu_s) = ready.context("agentic_replay never printed 'prompts ready'")?;
    eprintln!(
        "bench-agentx: the replay ran {:.1} s after its prompts were ready",
        ready_at.elapsed().as_secs_f64()
    );
    let audit: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("replay_audit.json"))
            .context("reading replay_audit.json")?,
    )?;
    let jsonl = std::fs::read_to_string(out.join("profile_export.jsonl")).unwrap_or_default();
    let (mut records, mut errors) = (0, 0);
    for l in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        records += 1;
        if serde_json::from_str::<Value>(l)
            .is_ok_and(|r| r.get("error").is_some_and(|e| !e.is_null()))
        {
            errors += 1;
        }
    }
    Ok(Dispatch {
        audit,
        records,
        errors,
        prep_cpu_s,
        replay_cpu_s: last_cpu - prep_cpu_s,
        replay_wall_s: last_at.saturating_duration_since(ready_at).as_secs_f64(),
        peak_rss_mib: last_rss,
        server_cpu_s: server_cpu.1 - server_cpu.0,
        load_before,
        load_after,
    })
}
