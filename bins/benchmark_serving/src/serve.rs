//! The benchmark run: flags and environment into a `BenchConfig`; on a
//! multi-threaded runtime, with SIGINT/SIGTERM watched from the start, the
//! prompts are prepared, then printed (`--dry-run`) or sent
//! (`servebench_bench::run`, with a progress bar); stdout gets the report,
//! stderr the warnings and the self-audit.

use crate::interrupt::Interrupt;
use crate::{Error, Prepared, ServeArgs};
use servebench_bench::{audit_line, BenchConfig, BenchError, Edition, Ending, SaveConfig};
use servebench_client::{Backend, Observer, Quiet};
use servebench_metrics::RequestOutput;
use servebench_prompts::{PrepareOptions, Tokenizer};
use servebench_pyjson::{Dict, Value};
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// The exit status of an interrupted run (SIGINT or SIGTERM, any phase).
const INTERRUPTED: u8 = 130;

/// Where a bar draws, and how its line is ended.
type Target = Box<dyn Fn() -> (indicatif::ProgressDrawTarget, LineEnd) + Send + Sync>;
/// Writes the newline that ends a bar's line, on the bar's own stream.
type LineEnd = Box<dyn Fn() + Send + Sync>;

/// A progress bar: one tick per finished request. Its line ends with a
/// newline once it is full or is ended (interrupted run): indicatif leaves
/// the cursor after the bar, so whatever came next on the terminal (the
/// report, the warnings, the self-audit) would start on the bar's line.
struct Bar {
    bar: indicatif::ProgressBar,
    len: u64,
    /// Whether the line was ended. Every tick holds this lock: indicatif
    /// redraws a finished bar on any tick, so a tick racing the last one
    /// (or coming after an interrupted phase's bar was ended) would draw
    /// the bar again after its newline, on the next line.
    ended: Mutex<bool>,
    line_end: LineEnd,
}

impl Bar {
    /// Leaves the bar as it stands and ends its line (once; nothing when
    /// it is not drawn, as when stderr is not a terminal).
    fn end(&self) {
        if let Ok(mut ended) = self.ended.lock() {
            self.end_locked(&mut ended);
        }
    }

    fn end_locked(&self, ended: &mut bool) {
        if std::mem::replace(ended, true) {
            return;
        }
        if !self.bar.is_finished() {
            self.bar.abandon();
        }
        if !self.bar.is_hidden() {
            (self.line_end)();
        }
    }
}

impl Observer for Bar {
    fn finished(&self, _output: &RequestOutput, _send_lag_s: f64) {
        let Ok(mut ended) = self.ended.lock() else {
            return;
        };
        if *ended {
            return;
        }
        self.bar.inc(1);
        if self.bar.position() >= self.len {
            self.bar.finish();
            self.end_locked(&mut ended);
        }
    }
}

/// The bars of a run (warm-ups, main run), one at a time: a new one ends
/// the one before, [`Bars::end`] the last.
struct Bars {
    /// `None`: no bars (`--disable-tqdm`).
    target: Option<Target>,
    made: Mutex<Vec<Arc<Bar>>>,
}

impl Bars {
    /// Bars on stderr (drawn only when it is a terminal), or none.
    fn stderr(enabled: bool) -> Bars {
        let target: Target = Box::new(|| {
            let line_end: LineEnd = Box::new(|| {
                let _ = std::io::stderr().write_all(b"\n");
            });
            (indicatif::ProgressDrawTarget::stderr(), line_end)
        });
        Bars {
            target: enabled.then_some(target),
            made: Mutex::new(Vec::new()),
        }
    }

    /// The observer of a phase of `n` requests: a new bar, or nothing.
    fn observer(&self, n: usize) -> Arc<dyn Observer> {
        let Some(target) = &self.target else {
            return Arc::new(Quiet);
        };
        self.end();
        let (draw, line_end) = target();
        let bar = indicatif::ProgressBar::with_draw_target(Some(n as u64), draw);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{percent:>3}%|{wide_bar}| {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}]",
        ) {
            bar.set_style(style);
        }
        let bar = Arc::new(Bar {
            bar,
            len: n as u64,
            ended: Mutex::new(false),
            line_end,
        });
        if let Ok(mut made) = self.made.lock() {
            made.push(Arc::clone(&bar));
        }
        bar
    }

    /// Ends the bars' lines (those not full: an interrupted phase).
    fn end(&self) {
        if let Ok(mut made) = self.made.lock() {
            for bar in made.drain(..) {
                bar.end();
            }
        }
    }
}

fn local_date() -> String {
    chrono::Local::now().format("%Y%m%d-%H%M%S").to_string()
}

/// The run's configuration: the options parsed (after the prompts are
/// prepared, where `servebench_bench::run` used to parse them: the errors
/// come where and in the order they did), the environment read.
pub fn config(args: &ServeArgs, model: &str, edition: Edition) -> Result<BenchConfig, String> {
    let o = &args.run;
    // Always one of the names clap allows.
    let backend = Backend::parse(&o.backend)
        .ok_or_else(|| BenchError::Backend(o.backend.clone()).to_string())?;
    let base_url = o
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", o.host, o.port));
    let metrics = o.metrics_options(edition).map_err(|e| {
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
        edition,
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
            pytorch_args: pytorch.then(|| o.python_vars(edition)),
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
pub fn main(
    args: &ServeArgs,
    model: &str,
    opts: PrepareOptions,
    edition: Edition,
) -> Result<ExitCode, Error> {
    let tokenizer = args.run.tokenizer.as_deref().unwrap_or(model).to_owned();
    // Wake-ups coalesced while tokens flow: a co-located server pays for
    // each one (see `servebench_client::coalesce_wakeups`).
    let runtime =
        servebench_client::coalesce_wakeups(&mut tokio::runtime::Builder::new_multi_thread())
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
    let cfg = config(args, model, edition)?;
    let ending = run(&runtime, args, &cfg, &tok, &prepared, interrupt)?;
    Ok(match ending {
        Ending::Ok => ExitCode::SUCCESS,
        Ending::MissingSummaryKeys | Ending::FailureGate => ExitCode::FAILURE,
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
    let bars = Bars::stderr(!args.run.disable_tqdm);
    let progress = |n: usize| bars.observer(n);
    let mut stdout = std::io::stdout();
    let outcome = runtime.block_on(servebench_bench::run(
        cfg,
        tok,
        prepared,
        &mut stdout,
        &progress,
        interrupt.wait(),
    ));
    // Whatever stderr gets next starts on a line of its own.
    bars.end();
    let outcome = outcome?;
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
    // The original's last words (SystemExit): after everything else.
    if let Some(message) = &outcome.failure_gate {
        let _ = writeln!(stderr, "{message}");
    }
    Ok(outcome.ending)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal that records what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl Screen {
        fn push(&self, s: &str) {
            self.0.lock().unwrap().push_str(s);
        }

        fn text(&self) -> String {
            self.0.lock().unwrap().clone()
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            60
        }
        fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.push(s);
            self.push("\n");
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.push(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.push("\r");
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn bars_on(screen: &Screen) -> Bars {
        let screen = screen.clone();
        let target: Target = Box::new(move || {
            let on_screen = screen.clone();
            let line_end: LineEnd = Box::new(move || on_screen.push("\n"));
            (
                indicatif::ProgressDrawTarget::term_like(Box::new(screen.clone())),
                line_end,
            )
        });
        Bars {
            target: Some(target),
            made: Mutex::new(Vec::new()),
        }
    }

    fn finish(observer: &Arc<dyn Observer>, times: usize) {
        for _ in 0..times {
            observer.finished(&RequestOutput::failed(0), 0.0);
        }
    }

    #[test]
    fn a_full_bar_ends_its_line_once() {
        let screen = Screen::default();
        let bars = bars_on(&screen);
        finish(&bars.observer(3), 3);
        let text = screen.text();
        assert!(text.contains("3/3"), "{text:?}");
        assert!(text.ends_with("]\n"), "{text:?}");
        bars.end();
        assert_eq!(screen.text(), text);
    }

    #[test]
    fn an_interrupted_bar_ends_its_line_when_the_next_begins_or_the_run_ends() {
        let screen = Screen::default();
        let bars = bars_on(&screen);
        finish(&bars.observer(3), 1);
        let warmups = screen.text();
        assert!(!warmups.ends_with('\n'), "{warmups:?}");
        let main_run = bars.observer(4);
        let text = screen.text();
        assert!(text.starts_with(&warmups), "{text:?}");
        assert!(text.ends_with("]\n"), "{text:?}");
        finish(&main_run, 2);
        bars.end();
        let text = screen.text();
        assert!(text.contains("2/4"), "{text:?}");
        assert!(text.ends_with("]\n"), "{text:?}");
        assert!(!text.ends_with("\n\n"), "{text:?}");
    }

    /// A request that finishes after its bar's line was ended (a phase
    /// interrupted, or a worker's tick racing the last one) leaves the bar
    /// alone: indicatif redraws a finished bar on every tick, which once
    /// put the self-audit on a redrawn bar's line in CI.
    #[test]
    fn nothing_is_drawn_after_a_bar_ends_its_line() {
        let screen = Screen::default();
        let bars = bars_on(&screen);
        let warmups = bars.observer(3);
        finish(&warmups, 1);
        bars.end();
        let text = screen.text();
        assert!(text.ends_with("]\n"), "{text:?}");
        finish(&warmups, 2);
        assert_eq!(screen.text(), text);
        // And a full bar: a late extra tick draws nothing either.
        let main_run = bars.observer(2);
        finish(&main_run, 3);
        let text = screen.text();
        assert!(text.ends_with("2/2 [") || text.ends_with("]\n"), "{text:?}");
        assert_eq!(text.matches('\n').count(), 2, "{text:?}");
    }

    #[test]
    fn no_bars_no_newlines() {
        let bars = Bars::stderr(false);
        finish(&bars.observer(2), 2);
        assert!(bars.made.lock().unwrap().is_empty());
        let hidden = Screen::default();
        let line_end: LineEnd = {
            let hidden = hidden.clone();
            Box::new(move || hidden.push("\n"))
        };
        let bar = Bar {
            bar: indicatif::ProgressBar::hidden(),
            len: 1,
            ended: Mutex::new(false),
            line_end,
        };
        bar.finished(&RequestOutput::failed(0), 0.0);
        assert_eq!(hidden.text(), "");
    }
}
