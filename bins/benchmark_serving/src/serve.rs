//! The benchmark run: flags and environment into a `BenchConfig`, a
//! progress bar, Ctrl-C, then `servebench_bench::run` on a multi-threaded
//! runtime; stdout gets the report, stderr the warnings and the self-audit.

use crate::{Prepared, ServeArgs};
use servebench_bench::{audit_line, BenchConfig, Ending, SaveConfig};
use servebench_client::run::{Observer, Quiet};
use servebench_metrics::RequestOutput;
use servebench_prompts::tokenizer::Tokenizer;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

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

fn config(args: &ServeArgs, model: &str) -> BenchConfig {
    let pytorch =
        std::env::var_os("SAVE_TO_PYTORCH_BENCHMARK_FORMAT").is_some_and(|v| !v.is_empty());
    BenchConfig {
        backend: args.backend.clone(),
        base_url: args.base_url.clone(),
        host: args.host.clone(),
        port: args.port,
        endpoint: args.endpoint.clone(),
        model: model.to_owned(),
        served_model_name: args.served_model_name.clone(),
        tokenizer_id: args.tokenizer.clone().unwrap_or_else(|| model.to_owned()),
        best_of: args.best_of,
        logprobs: args.logprobs,
        ignore_eos: args.ignore_eos,
        profile: args.profile,
        max_concurrency: args.max_concurrency,
        request_rate: args.request_rate,
        burstiness: args.burstiness,
        num_prompts: args.num_prompts as i64,
        num_warmups: args.num_warmups,
        percentile_metrics: args.percentile_metrics.clone(),
        metric_percentiles: args.metric_percentiles.clone(),
        goodput: args.goodput.clone(),
        api_key: std::env::var("OPENAI_API_KEY").ok(),
        new_connection_per_request: args.new_connection_per_request,
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        read_timeout: Duration::from_secs_f64(args.read_timeout),
        ca_file: std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from),
        save: args.save_result.then(|| SaveConfig {
            metadata: args.metadata.clone().unwrap_or_default(),
            save_detailed: args.save_detailed,
            result_dir: args.result_dir.clone(),
            result_filename: args.result_filename.clone(),
            date: local_date,
            pytorch_args: pytorch.then(|| args.python_vars()),
        }),
        save_audit: args.save_audit,
        fail_if_client_bound: args.fail_if_client_bound,
        long_run: None,
    }
}

pub fn run(
    args: &ServeArgs,
    model: &str,
    tok: &Tokenizer,
    prepared: Prepared,
) -> Result<Ending, String> {
    let cfg = config(args, model);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let show = !args.disable_tqdm;
    let progress = move |n: usize| progress_bar(n, show);
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let mut stdout = std::io::stdout();
    let outcome = runtime
        .block_on(servebench_bench::run(
            &cfg,
            tok,
            &prepared,
            &mut stdout,
            &progress,
            ctrl_c,
        ))
        .map_err(|e| e.to_string())?;
    let mut stderr = std::io::stderr();
    if outcome.interrupted {
        let _ = writeln!(
            stderr,
            "benchmark_serving: interrupted: {} of {} requests were launched; reporting those",
            outcome.launched,
            prepared.requests.len()
        );
    }
    if !outcome.any_completed {
        let _ = writeln!(stderr, "warning: All requests failed. This is likely due to a misconfiguration on the benchmark arguments.");
    }
    let _ = stderr.write_all(audit_line(&outcome.audit).as_bytes());
    Ok(outcome.ending)
}
