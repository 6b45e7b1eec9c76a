//! Running the sweep: for each job start its server, run `benchmark_serving`
//! and `process_result` as the workflow does, stop the server; then
//! `collect_results` per experiment, `summarize`, and the report. A failing
//! entry is recorded (stage and reason) and the sweep goes on.
//!
//! Layout of the output directory:
//!
//! ```text
//! runs/<RESULT_FILENAME>/   server.log, benchmark.log, process_result.log,
//!                           <RESULT_FILENAME>.json (the raw result; with a
//!                           sped-up simulator also .measured.json),
//!                           gpu_metrics.csv (the simulator's power log),
//!                           agg_<RESULT_FILENAME>.json,
//!                           power_validation_<RESULT_FILENAME>.json
//!                           (edition 2026-08), record.json
//! aggs/<exp>/bmk_<RESULT_FILENAME>/agg_<RESULT_FILENAME>.json
//!                           (the artifact layout collect_results expects)
//! agg_<exp>.json            collect_results per experiment
//! summary.md                summarize
//! report.html, sweep.json   the report and every entry's record
//! ```
//!
//! Agentic-coding entries (module `agentic`) run after the fixed-seq-len
//! ones, each in `runs/<name>/` too; they have no agg file and are not
//! collected or summarized (`summarize` knows fixed-seq-len results only):
//! the report and `sweep.json` carry them, and the printed summary gains
//! an agentic table (also `agentic.md`).

use crate::agentic::{self, AgenticJob, AgenticRecord, AgenticSettings};
use crate::plan::{self, BenchSettings, Job};
use crate::provenance::Provenance;
use crate::report::{self, EntryRecord, EntryStatus, ReportInput};
use crate::server::{self, Launch, Server, ServerSpec};
use crate::SweepError;
use serde_json::{json, Value};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the real binaries are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory of the running executable: where `cargo build` and
    /// `cargo install` put the `sweep` binary's siblings.
    pub fn beside_current_exe() -> Result<Binaries, SweepError> {
        let exe = std::env::current_exe()
            .map_err(|e| SweepError::Setup(format!("finding the sweep binary's directory: {e}")))?;
        let dir = exe.parent().ok_or_else(|| {
            SweepError::Setup(format!("{} has no parent directory", exe.display()))
        })?;
        Ok(Binaries {
            dir: dir.to_path_buf(),
        })
    }
}

fn require(binary: &Path) -> Result<(), SweepError> {
    if binary.is_file() {
        Ok(())
    } else {
        Err(SweepError::Setup(format!(
            "{} not found; build the binaries first (cargo build --release --bins)",
            binary.display()
        )))
    }
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// `results/<run-id>`.
    pub out_dir: PathBuf,
    pub run_id: String,
    pub bins: Binaries,
    pub server: ServerSpec,
    pub bench: BenchSettings,
    /// Longest wait for a started server's `/health`.
    pub health_timeout: Duration,
    /// Longest a benchmark may run before the entry fails.
    pub entry_timeout: Duration,
    /// When, with which servebench and command (the report and
    /// `sweep.json` show it).
    pub provenance: Provenance,
    /// How agentic-coding entries run (used only when there are some).
    pub agentic: AgenticSettings,
}

impl SweepOptions {
    /// Results are brought back to simulated time by the simulator's speedup.
    fn time_scale(&self) -> f64 {
        match &self.server {
            ServerSpec::Start(Launch::Sim { speedup, .. }) => *speedup,
            _ => 1.0,
        }
    }
}

/// What a finished sweep produced.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    pub records: Vec<EntryRecord>,
    /// The agentic-coding entries, in matrix order.
    pub agentic: Vec<AgenticRecord>,
    /// `summarize`'s markdown.
    pub summary: String,
    pub report: PathBuf,
}

impl SweepOutcome {
    /// Failed entries, agentic ones included.
    pub fn failed(&self) -> usize {
        failed_count(&self.records) + failed_agentic(&self.agentic)
    }
}

fn failed_count(records: &[EntryRecord]) -> usize {
    records
        .iter()
        .filter(|r| r.status != EntryStatus::Ok)
        .count()
}

fn failed_agentic(records: &[AgenticRecord]) -> usize {
    records
        .iter()
        .filter(|r| r.status != EntryStatus::Ok)
        .count()
}

/// Writes one of the sweep's output files, whole or not at all
/// (`servebench_files::write_atomic`).
pub(crate) fn write_output(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    servebench_files::write_atomic(path, bytes).map_err(|e| SweepError::Io {
        path: e.path().to_owned(),
        source: e.into_io_error(),
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Checks that every binary the sweep calls is there.
pub(crate) fn check_binaries(opts: &SweepOptions) -> Result<(), SweepError> {
    for name in [
        "benchmark_serving",
        "process_result",
        "collect_results",
        "summarize",
    ] {
        require(&opts.bins.path(name))?;
    }
    match &opts.server {
        ServerSpec::Start(Launch::Sim { binary, .. }) => require(binary),
        _ => Ok(()),
    }
}

/// Runs every job, then collects, summarizes and writes the report and
/// `sweep.json`. Progress goes to `progress`.
pub fn run_sweep(
    jobs: &[Job],
    opts: &SweepOptions,
    progress: &mut dyn Write,
) -> Result<SweepOutcome, SweepError> {
    run_with_agentic(jobs, &[], opts, progress)
}

/// [`run_sweep`] with agentic-coding entries too, run after the others
/// (`agentic_replay` against a simulator at ×1 each; module `agentic`).
pub fn run_with_agentic(
    jobs: &[Job],
    agentic_jobs: &[AgenticJob],
    opts: &SweepOptions,
    progress: &mut dyn Write,
) -> Result<SweepOutcome, SweepError> {
    check_binaries(opts)?;
    std::fs::create_dir_all(&opts.out_dir).map_err(io(&opts.out_dir))?;
    let total = jobs.len() + agentic_jobs.len();
    let mut records = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let _ = write!(progress, "[{}/{total}] {} ... ", i + 1, job.name);
        let _ = progress.flush();
        let record = run_entry(job, opts)?;
        let _ = writeln!(progress, "{}", record_line(&record));
        records.push(record);
    }
    let mut agentic_records = Vec::with_capacity(agentic_jobs.len());
    for (i, job) in agentic_jobs.iter().enumerate() {
        let _ = write!(
            progress,
            "[{}/{total}] agentic {} ... ",
            jobs.len() + i + 1,
            job.name
        );
        let _ = progress.flush();
        let record = agentic::run_entry(job, opts, &opts.agentic)?;
        let _ = writeln!(progress, "{}", agentic::record_line(&record));
        agentic_records.push(record);
    }
    finish(records, agentic_records, opts, progress)
}

/// Runs only job `index` (one Slurm array task); its record is kept in its
/// directory for a later `finish`.
pub(crate) fn run_one(
    jobs: &[Job],
    index: usize,
    opts: &SweepOptions,
) -> Result<EntryRecord, SweepError> {
    let job = jobs.get(index).ok_or_else(|| {
        SweepError::Setup(format!(
            "entry index {index} is out of range: the sweep has {} entries (0..{})",
            jobs.len(),
            jobs.len().saturating_sub(1)
        ))
    })?;
    check_binaries(opts)?;
    run_entry(job, opts)
}

/// The records kept by earlier [`run_one`] calls; an entry without one is
/// reported as not run.
pub(crate) fn load_records(jobs: &[Job], opts: &SweepOptions) -> Vec<EntryRecord> {
    jobs.iter()
        .map(|job| {
            let dir = entry_dir(opts, job);
            let record = std::fs::read_to_string(dir.join("record.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            match record {
                Some(r) if r["status"] == "ok" => EntryRecord {
                    name: job.name.clone(),
                    exp_name: job.entry.exp_name.clone(),
                    entry: job.row.clone(),
                    status: EntryStatus::Ok,
                    agg: read_agg(&dir, job).ok(),
                    power_reasons: read_power_reasons(&dir, job),
                },
                Some(r) => failed(
                    job,
                    r["stage"].as_str().unwrap_or("unknown"),
                    r["message"].as_str().unwrap_or("no message recorded"),
                ),
                None => failed(
                    job,
                    "not run",
                    "no record.json: the entry did not run (or did not finish)",
                ),
            }
        })
        .collect()
}

fn failed(job: &Job, stage: &str, message: &str) -> EntryRecord {
    EntryRecord {
        name: job.name.clone(),
        exp_name: job.entry.exp_name.clone(),
        entry: job.row.clone(),
        status: EntryStatus::Failed {
            stage: stage.to_owned(),
            message: message.to_owned(),
        },
        agg: None,
        power_reasons: Vec::new(),
    }
}

fn record_line(record: &EntryRecord) -> String {
    match &record.status {
        EntryStatus::Ok => {
            let tput = record
                .agg
                .as_ref()
                .and_then(|a| a["tput_per_gpu"].as_f64())
                .map_or(String::new(), |t| format!(" ({t:.0} tok/s/GPU)"));
            format!("ok{tput}")
        }
        // The whole message: a server failure carries the end of its log
        // on the following (indented) lines, which is the cause to read.
        EntryStatus::Failed { stage, message } => format!("FAILED at {stage}: {message}"),
    }
}

fn entry_dir(opts: &SweepOptions, job: &Job) -> PathBuf {
    opts.out_dir.join("runs").join(&job.name)
}

fn read_agg(dir: &Path, job: &Job) -> Result<Value, String> {
    let path = dir.join(format!("agg_{}.json", job.name));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Python's json may write NaN/Infinity; the report treats them as missing.
    servebench_pyjson::from_str(&text)
        .map(|v| servebench_pyjson::to_serde_json(&v))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The `reasons` of process_result's power sidecar (edition 2026-08);
/// empty without one.
fn read_power_reasons(dir: &Path, job: &Job) -> Vec<String> {
    let path = dir.join(format!("power_validation_{}.json", job.name));
    let sidecar = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| servebench_pyjson::from_str(&text).ok())
        .map(|v| servebench_pyjson::to_serde_json(&v));
    sidecar
        .as_ref()
        .and_then(|s| s.get("reasons"))
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// One entry, start to end. Only a failure to write in the output
/// directory is an error; everything else is the entry's failure.
pub(crate) fn run_entry(job: &Job, opts: &SweepOptions) -> Result<EntryRecord, SweepError> {
    let dir = entry_dir(opts, job);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let started = Instant::now();
    let record = match steps(job, opts, &dir) {
        Ok(agg) => EntryRecord {
            name: job.name.clone(),
            exp_name: job.entry.exp_name.clone(),
            entry: job.row.clone(),
            status: EntryStatus::Ok,
            agg: Some(agg),
            power_reasons: read_power_reasons(&dir, job),
        },
        Err((stage, message)) => failed(job, stage, &message),
    };
    let mut kept = report::entry_json(&record);
    kept["seconds"] = json!(started.elapsed().as_secs_f64());
    let path = dir.join("record.json");
    write_output(&path, format!("{kept:#}\n").as_bytes())?;
    Ok(record)
}

type Step<T> = Result<T, (&'static str, String)>;

/// The simulator's power log in an entry's directory (process_result's
/// default name, and `GPU_METRICS_CSV` names it explicitly).
pub(crate) const GPU_METRICS_CSV: &str = "gpu_metrics.csv";

/// Now, in unix seconds (the simulated clock's origin).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn steps(job: &Job, opts: &SweepOptions, dir: &Path) -> Step<Value> {
    let mut env = plan::env(job, &opts.bench);
    // The simulator logs its GPUs' power (nvidia-smi CSV, local time) for
    // process_result's power step; both run with TZ=UTC so that they read
    // the local-time stamps alike (no daylight-saving fold). The clock
    // origin is the moment the server starts: the simulator writes wall
    // time w as origin + (w - origin) x speedup, and the result's window
    // is mapped the same way (module scale).
    let simulated = matches!(&opts.server, ServerSpec::Start(Launch::Sim { .. }));
    let origin = unix_now();
    if simulated {
        env.push(("GPU_METRICS_CSV", GPU_METRICS_CSV.to_owned()));
        env.push(("TZ", "UTC".to_owned()));
    }
    let gpu_metrics = dir.join(GPU_METRICS_CSV);
    let mut server = None;
    let base_url = match &opts.server {
        ServerSpec::External(url) => url.trim_end_matches('/').to_owned(),
        ServerSpec::Start(launch) => {
            let s = Server::start(
                launch,
                job,
                &env,
                &dir.join("server.log"),
                opts.health_timeout,
                Some((gpu_metrics.as_path(), origin)),
            )
            .map_err(|e| ("server", e))?;
            let url = s.base_url.clone();
            server = Some(s);
            url
        }
    };
    let result_dir = dir.to_string_lossy().into_owned();
    let args = plan::bench_args(job, &base_url, &result_dir, &opts.bench);
    let bench = run_logged(
        Command::new(opts.bins.path("benchmark_serving"))
            .args(&args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir),
        &dir.join("benchmark.log"),
        opts.entry_timeout,
    );
    if let Some(mut s) = server {
        s.stop();
    }
    // An all-failed run is reported with the benchmark's reasons whether it
    // exited 0 (2026-02) or 1 (the 2026-08 failure gate, after saving).
    let result = dir.join(format!("{}.json", job.name));
    no_request_completed(&result, &dir.join("benchmark.log")).map_err(|e| ("benchmark", e))?;
    bench.map_err(|e| ("benchmark", e))?;
    let scale = opts.time_scale();
    if scale != 1.0 {
        to_simulated_time(&result, scale, origin).map_err(|e| ("scale", e))?;
    }
    run_logged(
        Command::new(opts.bins.path("process_result"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir),
        &dir.join("process_result.log"),
        Duration::from_secs(60),
    )
    .map_err(|e| ("process_result", e))?;
    let agg_name = format!("agg_{}.json", job.name);
    let artifact = opts
        .out_dir
        .join("aggs")
        .join(&job.entry.exp_name)
        .join(format!("bmk_{}", job.name));
    let agg = std::fs::create_dir_all(&artifact)
        .and_then(|()| std::fs::read(dir.join(&agg_name)))
        .map_err(|e| ("process_result", format!("copying {agg_name}: {e}")))?;
    servebench_files::write_atomic(&artifact.join(&agg_name), &agg).map_err(|e| {
        (
            "process_result",
            format!("copying {agg_name}: {}", e.reason()),
        )
    })?;
    read_agg(dir, job).map_err(|e| ("process_result", e))
}

/// A benchmark whose requests all failed saves an all-zero result and exits
/// 0 (edition 2026-02) or 1 (2026-08's failure gate); the entry fails here, with the reasons the benchmark
/// gave (e.g. that it could not connect, and to which address), instead of
/// later in `process_result` with a division by zero.
fn no_request_completed(result: &Path, log: &Path) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(result) else {
        // A missing result is process_result's to report, as before.
        return Ok(());
    };
    let completed = servebench_pyjson::from_str(&text)
        .ok()
        .and_then(|v| v.as_dict().and_then(|d| d.get("completed").cloned()));
    if !matches!(completed, Some(servebench_pyjson::Value::Int(0))) {
        return Ok(());
    }
    let reasons = std::fs::read_to_string(log)
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|line| {
                    line.starts_with("benchmark_serving: ") && line.contains("requests failed")
                })
                .map(|line| line.trim_start_matches("benchmark_serving: ").to_owned())
        })
        .unwrap_or_else(|| format!("see {}", log.display()));
    Err(format!("no request completed: {reasons}"))
}

/// Rewrites a result in simulated time (`origin`: the simulated clock's
/// origin, unix seconds), keeping the measured one as
/// `<name>.measured.json`.
fn to_simulated_time(result: &Path, speedup: f64, origin: f64) -> Result<(), String> {
    let text = std::fs::read_to_string(result).map_err(|e| format!("{}: {e}", result.display()))?;
    let doc =
        servebench_pyjson::from_str(&text).map_err(|e| format!("{}: {e}", result.display()))?;
    let Some(dict) = doc.as_dict() else {
        return Err(format!("{}: not a JSON object", result.display()));
    };
    let measured = result.with_extension("measured.json");
    let write = |path: &Path, text: &str| {
        servebench_files::write_atomic(path, text.as_bytes())
            .map_err(|e| format!("{}: {}", path.display(), e.reason()))
    };
    write(&measured, &text)?;
    let scaled = crate::scale::to_simulated_time(dict, speedup, origin);
    write(
        result,
        &servebench_pyjson::to_string(&servebench_pyjson::Value::Dict(scaled)),
    )
}

/// Runs a command with stdout and stderr in `log`; a non-zero exit, a
/// failure to start or a timeout is an error ending with the log's tail.
pub(crate) fn run_logged(cmd: &mut Command, log: &Path, timeout: Duration) -> Result<(), String> {
    let out = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {program}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} did not finish within {timeout:?}{}",
                    server::log_tail(log)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} exited with {status}{}",
            server::log_tail(log)
        ))
    }
}

/// `collect_results` per experiment, `summarize`, `sweep.json` and the
/// report.
pub(crate) fn finish(
    records: Vec<EntryRecord>,
    agentic: Vec<AgenticRecord>,
    opts: &SweepOptions,
    progress: &mut dyn Write,
) -> Result<SweepOutcome, SweepError> {
    let out = &opts.out_dir;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut exps: Vec<&str> = Vec::new();
    for r in &records {
        if r.status == EntryStatus::Ok && !exps.contains(&r.exp_name.as_str()) {
            exps.push(&r.exp_name);
        }
    }
    for exp in &exps {
        let aggs = Path::new("aggs").join(exp);
        run_logged(
            Command::new(opts.bins.path("collect_results"))
                .arg(&aggs)
                .arg(exp)
                .current_dir(out),
            &out.join(format!("collect_results_{exp}.log")),
            Duration::from_secs(60),
        )
        .map_err(|e| SweepError::Setup(format!("collect_results for {exp}: {e}")))?;
    }
    let summary_path = out.join("summary.md");
    let summary = if exps.is_empty() {
        String::new()
    } else {
        let summarized = Command::new(opts.bins.path("summarize"))
            .arg("aggs")
            .current_dir(out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| SweepError::Setup(format!("starting summarize: {e}")))?;
        if !summarized.status.success() {
            return Err(SweepError::Setup(format!(
                "summarize exited with {}",
                summarized.status
            )));
        }
        write_output(&summary_path, &summarized.stdout)?;
        String::from_utf8(summarized.stdout).map_err(|e| SweepError::Io {
            path: summary_path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?
    };

    // The agentic table: printed after summarize's, and kept on its own.
    let mut summary = summary;
    if !agentic.is_empty() {
        let table = report::agentic_markdown(&agentic);
        write_output(&out.join("agentic.md"), table.as_bytes())?;
        if !summary.is_empty() {
            summary.push('\n');
        }
        summary.push_str(&table);
    }

    let sweep_json = out.join("sweep.json");
    let list: Vec<Value> = records.iter().map(report::entry_json).collect();
    let agentic_list: Vec<Value> = agentic.iter().map(AgenticRecord::to_json).collect();
    let p = &opts.provenance;
    let doc = json!({
        "run_id": opts.run_id,
        "provenance": {
            "date": p.date,
            "version": p.version,
            "git_revision": p.git_revision,
            "command_line": p.command_line,
        },
        "entries": list,
        "agentic": agentic_list,
    });
    write_output(&sweep_json, format!("{doc:#}\n").as_bytes())?;

    let report_path = out.join("report.html");
    let title = format!("servebench sweep {}", opts.run_id);
    let html = report::render(&ReportInput {
        title: &title,
        run_id: &opts.run_id,
        entries: &records,
        agentic: &agentic,
        agentic_settings: &opts.agentic,
        summary_markdown: &summary,
        provenance: &opts.provenance,
        server: &opts.server,
        bench: &opts.bench,
    });
    write_output(&report_path, html.as_bytes())?;
    let total = records.len() + agentic.len();
    let failed = failed_count(&records) + failed_agentic(&agentic);
    let _ = writeln!(
        progress,
        "{} of {total} entries succeeded; report: {}",
        total - failed,
        report_path.display()
    );
    Ok(SweepOutcome {
        records,
        agentic,
        summary,
        report: report_path,
    })
}
