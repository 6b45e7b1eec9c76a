//! The benchmark run, in the original's order: prepare, warm up, profile,
//! run, report, save. Each step is a library call; this file only wires
//! them and prints.

use crate::{Prepared, ServeArgs};
use servebench_client::backend::{self, Backend, RequestSpec};
use servebench_client::run::{self, Audit, PreparedRequest, RunOptions, RunOutcome};
use servebench_metrics::{calculate_metrics, MetricsOptions, RequestInput};
use servebench_prompts::tokenizer::Tokenizer;
use servebench_pyjson::{float_repr, Dict, Value};
use servebench_results::serving::{
    exits_nonzero_after_save, pytorch_file_name, pytorch_records, report, result_dict,
    saved_document, saved_file_name, SaveOptions,
};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// How the run ended, for the exit status.
pub enum Ending {
    Ok,
    /// The saved result lacks a summary key (the original exits 1).
    MissingSummaryKeys,
    ClientBound,
    Interrupted,
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn progress_bar(n: usize, enabled: bool) -> Arc<dyn Fn() + Send + Sync> {
    if !enabled {
        return Arc::new(|| {});
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
    Arc::new(move || {
        bar.inc(1);
        if bar.position() >= n as u64 {
            bar.finish();
        }
    })
}

pub fn run(
    args: &ServeArgs,
    model: &str,
    tok: &Tokenizer,
    prepared: Prepared,
) -> Result<Ending, String> {
    let backend = Backend::parse(&args.backend)
        .ok_or_else(|| format!("Unknown backend: {}", args.backend))?;
    let kind = backend.kind();
    let (api_url, base_url) = match &args.base_url {
        Some(base) => (format!("{base}{}", args.endpoint), base.clone()),
        None => (
            format!("http://{}:{}{}", args.host, args.port, args.endpoint),
            format!("http://{}:{}", args.host, args.port),
        ),
    };
    backend::check_url(kind, &api_url).map_err(|e| e.to_string())?;
    // Errors in these options surface before any request is sent.
    let metric_opts = MetricsOptions::parse(
        &args.percentile_metrics,
        &args.metric_percentiles,
        &args.goodput,
    )
    .map_err(|e| e.to_string())?;
    let served = args.served_model_name.as_deref().unwrap_or(model);
    let spec = |i: usize| {
        let r = &prepared.requests[i];
        RequestSpec {
            model: prepared.lora.get(i).map_or(served, String::as_str),
            prompt: &r.prompt,
            prompt_len: r.prompt_len as i64,
            output_len: r.output_len,
            best_of: args.best_of,
            logprobs: args.logprobs,
            ignore_eos: args.ignore_eos,
        }
    };
    let mut requests = Vec::with_capacity(prepared.requests.len());
    for i in 0..prepared.requests.len() {
        let body = backend::request_body(kind, &spec(i)).map_err(|e| e.to_string())?;
        requests.push(PreparedRequest {
            body: body.into(),
            prompt_len: prepared.requests[i].prompt_len as i64,
        });
    }
    let Some(first) = prepared.requests.first() else {
        return Err("there are no requests to send (the dataset gave none)".into());
    };
    let test_body = backend::request_body(
        kind,
        &RequestSpec {
            model: served,
            ..spec(0)
        },
    )
    .map_err(|e| e.to_string())?;
    let test_request = PreparedRequest {
        body: test_body.into(),
        prompt_len: first.prompt_len as i64,
    };
    let max_concurrency = args
        .max_concurrency
        .and_then(|c| usize::try_from(c).ok())
        .filter(|&c| c > 0);
    run::check_open_files(max_concurrency.unwrap_or(requests.len())).map_err(|e| e.to_string())?;

    let opts = RunOptions {
        kind,
        api_url: api_url.clone(),
        authorization: backend::authorization(std::env::var("OPENAI_API_KEY").ok().as_deref()),
        max_concurrency,
        reuse_connections: !args.new_connection_per_request,
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        read_timeout: Duration::from_secs_f64(args.read_timeout),
        total_timeout: Duration::from_secs(6 * 3600),
        interrupt_grace: Duration::from_secs(5),
        ca_file: std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from),
    };
    let client = run::Client::new(opts.clone()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;

    say("Starting initial single prompt test run...");
    let warmups = usize::try_from(args.num_warmups).unwrap_or(0);
    if warmups > 0 {
        say(&format!("Warming up with {warmups} requests..."));
        let reqs = vec![test_request.clone(); warmups];
        let bar = progress_bar(warmups, !args.disable_tqdm);
        runtime
            .block_on(client.run(reqs, &vec![None; warmups], bar, std::future::pending()))
            .map_err(|e| e.to_string())?;
        say("Warmup completed.");
    }
    let profile = |path: &str, start: &str, done: &str| -> Result<(), String> {
        say(start);
        let o = RunOptions {
            api_url: format!("{base_url}{path}"),
            max_concurrency: None,
            ..opts.clone()
        };
        let outcome = runtime
            .block_on(run::run(
                o,
                vec![test_request.clone()],
                &[None],
                Arc::new(|| {}),
                std::future::pending(),
            ))
            .map_err(|e| e.to_string())?;
        if outcome.outputs.first().is_some_and(|o| o.success) {
            say(done);
        }
        Ok(())
    };
    if args.profile {
        profile("/start_profile", "Starting profiler...", "Profiler started")?;
    }
    say(&format!(
        "Traffic request rate: {}",
        float_repr(args.request_rate)
    ));
    let distribution = if args.burstiness == 1.0 {
        "Poisson process"
    } else {
        "Gamma distribution"
    };
    say(&format!(
        "Burstiness factor: {} ({distribution})",
        float_repr(args.burstiness)
    ));
    say(&format!(
        "Maximum request concurrency: {}",
        args.max_concurrency
            .map_or("None".to_owned(), |c| c.to_string())
    ));
    say("Starting main benchmark run...");
    let bar = progress_bar(requests.len(), !args.disable_tqdm);
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let outcome: RunOutcome = runtime
        .block_on(client.run(requests, &prepared.gaps, bar, ctrl_c))
        .map_err(|e| e.to_string())?;
    if args.profile {
        profile("/stop_profile", "Stopping profiler...", "Profiler stopped")?;
    }
    if outcome.interrupted {
        let _ = writeln!(
            std::io::stderr(),
            "benchmark_serving: interrupted: {} of {} requests were launched; reporting those",
            outcome.outputs.len(),
            prepared.requests.len()
        );
    }

    let inputs: Vec<RequestInput> = prepared.requests[..outcome.outputs.len()]
        .iter()
        .map(|r| RequestInput {
            prompt_len: r.prompt_len as i64,
            output_len: r.output_len,
        })
        .collect();
    let count = |text: &str| tok.encode(text).map_or(0, |ids| ids.len() as i64);
    let (metrics, lens) = calculate_metrics(
        &inputs,
        &outcome.outputs,
        outcome.duration,
        count,
        &metric_opts,
    )
    .map_err(|e| e.to_string())?;
    if metrics.completed == 0 {
        let _ = writeln!(std::io::stderr(), "warning: All requests failed. This is likely due to a misconfiguration on the benchmark arguments.");
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(report(&metrics, outcome.duration, &metric_opts).as_bytes());
    let _ = out.flush();
    drop(out);
    let _ = std::io::stderr().write_all(audit_text(&outcome.audit).as_bytes());

    let mut ending = if outcome.interrupted {
        Ending::Interrupted
    } else if args.fail_if_client_bound && outcome.audit.client_bound {
        Ending::ClientBound
    } else {
        Ending::Ok
    };
    if args.save_result {
        let result = result_dict(
            &metrics,
            &lens,
            &outcome.outputs,
            outcome.duration,
            &metric_opts,
        );
        let save = SaveOptions {
            backend: args.backend.clone(),
            model_id: model.to_owned(),
            tokenizer_id: args.tokenizer.clone().unwrap_or_else(|| model.to_owned()),
            best_of: args.best_of,
            num_prompts: args.num_prompts as i64,
            metadata: args.metadata.clone().unwrap_or_default(),
            request_rate: args.request_rate,
            burstiness: args.burstiness,
            max_concurrency: args.max_concurrency,
            save_detailed: args.save_detailed,
            result_filename: args.result_filename.clone(),
            result_dir: args.result_dir.clone(),
            date: chrono::Local::now().format("%Y%m%d-%H%M%S").to_string(),
        };
        let mut doc = saved_document(&result, &save).map_err(|e| e.to_string())?;
        if outcome.interrupted {
            doc.insert("interrupted", Value::Bool(true));
        }
        if args.save_audit {
            doc.insert("client_audit", audit_value(&outcome.audit));
        }
        let file = saved_file_name(&save);
        let text = servebench_pyjson::to_string(&Value::Dict(doc.clone()));
        std::fs::write(&file, text).map_err(|e| format!("writing the result file {file}: {e}"))?;
        if exits_nonzero_after_save(&doc) {
            if matches!(ending, Ending::Ok) {
                ending = Ending::MissingSummaryKeys;
            }
        } else if std::env::var_os("SAVE_TO_PYTORCH_BENCHMARK_FORMAT")
            .is_some_and(|v| !v.is_empty())
        {
            if let Some(records) = pytorch_records(&doc, &args.python_vars(), model) {
                let pt_file = pytorch_file_name(&file);
                std::fs::write(&pt_file, servebench_pyjson::to_string(&records))
                    .map_err(|e| format!("writing the PyTorch-format file {pt_file}: {e}"))?;
            }
        }
    }
    Ok(ending)
}

fn audit_text(a: &Audit) -> String {
    let opt =
        |v: Option<f64>, unit: &str| v.map_or("unknown".to_owned(), |v| format!("{v:.2} {unit}"));
    format!(
        "Client self-audit: send lag p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; CPU {}; peak RSS {} (at start {}); {} connections opened; client_bound: {} ({})\n",
        a.send_lag_p50_ms,
        a.send_lag_p99_ms,
        a.send_lag_max_ms,
        opt(a.cpu_seconds, "s"),
        opt(a.peak_rss_mib, "MiB"),
        opt(a.start_rss_mib, "MiB"),
        a.connections_opened,
        a.client_bound,
        a.verdict
    )
}

fn audit_value(a: &Audit) -> Value {
    let opt = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
    let mut d = Dict::new();
    d.insert("send_lag_p50_ms", Value::Float(a.send_lag_p50_ms));
    d.insert("send_lag_p99_ms", Value::Float(a.send_lag_p99_ms));
    d.insert("send_lag_max_ms", Value::Float(a.send_lag_max_ms));
    d.insert("cpu_seconds", opt(a.cpu_seconds));
    d.insert("peak_rss_mib", opt(a.peak_rss_mib));
    d.insert("start_rss_mib", opt(a.start_rss_mib));
    d.insert(
        "connections_opened",
        Value::Int(a.connections_opened.into()),
    );
    d.insert("client_bound", Value::Bool(a.client_bound));
    d.insert("verdict", a.verdict.clone().into());
    Value::Dict(d)
}
