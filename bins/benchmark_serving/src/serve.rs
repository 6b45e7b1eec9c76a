//! The benchmark run: flags and environment into a `BenchConfig`; on a
//! multi-threaded runtime, with SIGINT/SIGTERM watched from the start, the
//! prompts are prepared, then printed (`--dry-run`) or sent
//! (`servebench_bench::run`, with a progress bar); stdout gets the report,
//! stderr the warnings and the self-audit.

use crate::interrupt::Interrupt;
use crate::{Error, Prepared, ServeArgs};
use servebench_bench::{audit_line, BenchConfig, BenchError, Ending, SaveConfig};
use servebench_client::{Backend, Observer, Quiet};
use servebench_metrics::{MetricsOptions, RequestOutput};
use servebench_prompts::{PrepareOptions, Tokenizer};
use servebench_pyjson::{Dict, Value};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

/// The exit status of an interrupted run (SIGINT or SIGTERM, any phase).
const INTERRUPTED: u8 = 130;

/// The progress bar: one tick per finished request.
struct Bar {
    bar: indicatif::ProgressBar,
    len: u64,
}

impl Observer for Bar {
    fn finished(&self, _output: &RequestOutput, _send_lag_s: f64) {
        self.bar.inc(1);
        if self.bar.position() >= self.len {
            self.bar.finish();
        }
    }
}

fn progress_bar(n: usize, enabled: bool) -> Arc<dyn Observer> {
    if !enabled {
        return Arc::new(Quiet);
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(n as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{percent:>3}%|{wide_bar}| {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}]",
    ) {
        bar.set_style(style);
    }
    Arc::new(Bar { bar, len: n as u64 })
}

fn local_date() -> String {
    chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()
}

/// The run's configuration: the options parsed (after the prompts are
/// prepared, where `servebench_bench::run` used to parse them: the errors
/// come where and in the order they did), the environment read.
pub fn config(args: &ServeArgs, model: &str) -> Result<BenchConfig, String> {
    let o = &args.run;
    // Always one of the names clap allows.
    let backend = Backend::parse(&o.backend)
        .ok_or_else(|| BenchError::Backend(o.backend.clone()).to_string())?;
    let base_url = o
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", o.host, o.port));
    let metrics = MetricsOptions::parse(&o.percentile_metrics, &o.metric_percentiles, &o.goodput)
        .map_err(|e| {
        // The run checks its limits and its URL first.
        let earlier = o
            .check_limits()
            .map_err(BenchError::from)
            .and_then(|()| servebench_bench::api_url(backend, &base_url, &o.endpoint));
        earlier
            .err()
            .map_or(e.to_string(), |earlier| earlier.to_string())
    })?;
    let pytorch =
        std::env::var_os("SAVE_TO_PYTORCH_BENCHMARK_FORMAT").is_some_and(|v| !v.is_empty());
    Ok(BenchConfig {
        options: o.clone(),
        backend,
        metrics,
        model: model.to_owned(),
        tokenizer_id: o.tokenizer.clone().unwrap_or_else(|| model.to_owned()),
        base_url,
        api_key: std::env::var("OPENAI_API_KEY").ok(),
        new_connection_per_request: args.new_connection_per_request,
        connect_timeout: args.connect_timeout,
        read_timeout: args.read_timeout,
        ca_file: std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from),
        save: o.save_result.then(|| SaveConfig {
            date: local_date,
            pytorch_args: pytorch.then(|| o.python_vars()),
        }),
        save_audit: args.save_audit,
        fail_if_client_bound: args.fail_if_client_bound,
        long_run: None,
    })
}

/// Prepares the requests (`opts` say how, with the tokenizer of `args`),
/// then prints them (`--dry-run`) or runs the benchmark; the exit status. A signal while
/// the prompts are prepared ends at once: nothing was sent, nothing is
/// saved.
pub fn main(args: &ServeArgs, model: &str, opts: PrepareOptions) -> Result<ExitCode, Error> {
    let tokenizer = args.run.tokenizer.as_deref().unwrap_or(model).to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let interrupt = Interrupt::install(&runtime)
        .map_err(|e| format!("watching for SIGINT and SIGTERM: {e}"))?;
    let job = runtime.spawn_blocking(move || prepare(&tokenizer, &opts));
    let prepared = runtime.block_on(async {
        tokio::select! {
            biased;
            () = interrupt.clone().wait() => None,
            done = job => Some(done),
        }
    });
    let Some(done) = prepared else {
        // The preparation cannot be cut short; the process ends without it.
        runtime.shutdown_background();
        let _ = writeln!(
            std::io::stderr(),
            "benchmark_serving: interrupted while preparing the prompts: nothing was sent or saved"
        );
        return Ok(ExitCode::from(INTERRUPTED));
    };
    let (tok, prepared) = done.map_err(|e| format!("preparing the prompts: {e}"))??;
    if args.dry_run {
        dry_run(&prepared)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(prepared.statistics.as_bytes());
    drop(out);
    let cfg = config(args, model)?;
    let ending = run(&runtime, args, &cfg, &tok, &prepared, interrupt)?;
    Ok(match ending {
        Ending::Ok => ExitCode::SUCCESS,
        Ending::MissingSummaryKeys => ExitCode::FAILURE,
        Ending::Interrupted => ExitCode::from(INTERRUPTED),
        Ending::ClientBound => ExitCode::from(3),
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn prepare(tokenizer: &str, opts: &PrepareOptions) -> Result<(Tokenizer, Prepared), Error> {
    let tok = Tokenizer::load(tokenizer, &env)?;
    let prepared = servebench_prompts::prepare(&tok, opts)?;
    Ok((tok, prepared))
}

fn dry_run(prepared: &Prepared) -> Result<(), String> {
    // stdout carries only the requests; the statistics go to stderr.
    let _ = std::io::stderr().write_all(prepared.statistics.as_bytes());
    let mut out = String::new();
    for (r, gap) in prepared.requests.iter().zip(&prepared.gaps) {
        let mut d = Dict::new();
        d.insert("prompt", r.prompt.clone().into());
        d.insert("prompt_len", Value::Int(r.prompt_len as i128));
        d.insert("output_len", Value::Int(r.output_len.into()));
        d.insert("interval_s", gap.map_or(Value::Null, Value::Float));
        servebench_pyjson::write_compact(&mut out, &Value::Dict(d));
        out.push('\n');
    }
    servebench_cli::print(out.as_bytes()).map_err(|e| format!("writing stdout: {e}"))
}

fn run(
    runtime: &tokio::runtime::Runtime,
    args: &ServeArgs,
    cfg: &BenchConfig,
    tok: &Tokenizer,
    prepared: &Prepared,
    interrupt: Interrupt,
) -> Result<Ending, Error> {
    let show = !args.run.disable_tqdm;
    let progress = move |n: usize| progress_bar(n, show);
    let mut stdout = std::io::stdout();
    let outcome = runtime.block_on(servebench_bench::run(
        cfg,
        tok,
        prepared,
        &mut stdout,
        &progress,
        interrupt.wait(),
    ))?;
    let mut stderr = std::io::stderr();
    if let Some(phase) = outcome.interrupted_in {
        let _ = writeln!(
            stderr,
            "benchmark_serving: interrupted during {phase}: {} of {} requests were launched; reporting those",
            outcome.launched,
            prepared.requests.len()
        );
    }
    if outcome.stop_profile_skipped {
        let _ = writeln!(
            stderr,
            "benchmark_serving: /stop_profile was not sent: the server may still be profiling"
        );
    }
    // An interrupt before anything was launched: no request failed.
    let none_launched = outcome.interrupted && outcome.launched == 0;
    if !outcome.any_completed && !none_launched {
        let _ = writeln!(stderr, "warning: All requests failed. This is likely due to a misconfiguration on the benchmark arguments.");
    }
    if let Some(failures) = outcome.failure_summary() {
        let _ = writeln!(stderr, "benchmark_serving: {failures}");
    }
    let _ = stderr.write_all(audit_line(&outcome.audit).as_bytes());
    Ok(outcome.ending)
}
