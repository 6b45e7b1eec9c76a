//! The service's log (stderr): one line for each event of a run's life and
//! of the service's, readable by an operator, without secrets.

mod common;

use common::*;
use std::time::Duration;

const KEY: &str = "sk-do-not-log-me";
const TOKEN: &str = "loadgen-token-do-not-log";

/// Starts a run (with the service's token); returns its id.
fn start_run(addr: &str, body: &str) -> String {
    let (status, text) = http(addr, "POST", "/start-load", Some(body), Some(TOKEN));
    assert_eq!(status, 202, "{body}: {text}");
    json(&text)["run_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_runs_lifecycle_is_logged_on_stderr() {
    let sim = simulator();
    let dir = scratch("logs");
    let (mut svc, log) = service_logged(
        &dir,
        &[],
        &[("OPENAI_API_KEY", KEY), ("LOADGEN_TOKEN", TOKEN)],
    );
    let addr = svc.addr.clone();
    log.wait_for_line(&["INFO", &format!("listening on http://{addr}")]);

    // A run that finishes.
    let done = start_run(&addr, &spec(sim, 3, ""));
    let run = wait_for(&addr, &done, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    let queued = log.wait_for_line(&["run queued", &done]);
    for part in [
        "model=sim",
        &format!("target=http://127.0.0.1:{sim}/v1/completions"),
        "dataset=random",
        "num_prompts=3",
    ] {
        assert!(queued.contains(part), "{part}: {queued}");
    }
    log.wait_for_line(&["run started", &done]);
    let finished = log.wait_for_line(&["run finished", &done]);
    let stored = dir.join("results").join(format!("{done}.json"));
    for part in [
        "completed=3",
        "failed=0",
        "duration=",
        &format!("result={}", stored.display()),
    ] {
        assert!(finished.contains(part), "{part}: {finished}");
    }

    // A run stopped through the API keeps its partial result.
    let stopped = start_run(&addr, &spec(sim, 500, r#", "request_rate": 20"#));
    // Past the prompts' preparation: requests have finished.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while wait_for(&addr, &stopped, &["running"])["progress"]["finished"] == 0 {
        assert!(std::time::Instant::now() < deadline, "no request finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, text) = http(
        &addr,
        "POST",
        &format!("/runs/{stopped}/stop"),
        None,
        Some(TOKEN),
    );
    assert_eq!(status, 202, "{text}");
    wait_for(&addr, &stopped, &["stopped"]);
    log.wait_for_line(&["stopping run", &stopped, "by=api"]);
    let line = log.wait_for_line(&["run stopped", &stopped]);
    let partial = dir.join("results").join(format!("{stopped}.json"));
    for part in ["by=api", &format!("result={}", partial.display())] {
        assert!(line.contains(part), "{part}: {line}");
    }
    assert!(!line.contains("completed=0 "), "{line}");

    // A run that fails says why.
    let failed = start_run(
        &addr,
        &spec(sim, 2, "").replace(&tokenizer(), "nobody/nonexistent"),
    );
    wait_for(&addr, &failed, &["failed"]);
    let line = log.wait_for_line(&["WARN", "run failed", &failed]);
    assert!(line.contains("reason="), "{line}");
    assert!(line.contains("nonexistent"), "{line}");

    // At shutdown: the signal, the active run stopped, the queued one
    // dropped, then the exit.
    let active = start_run(&addr, &spec(sim, 500, r#", "request_rate": 20"#));
    wait_for(&addr, &active, &["running"]);
    let waiting = start_run(&addr, &spec(sim, 3, r#", "queue": true"#));
    let status = terminate(&mut svc, Duration::from_secs(30));
    assert!(status.success(), "{status}");
    log.wait_for_line(&["received SIGTERM"]);
    log.wait_for_line(&["queued run dropped", &waiting, "by=shutdown"]);
    log.wait_for_line(&["run stopped", &active, "by=shutdown"]);
    log.wait_for_line(&["exiting"]);

    let text = log.text();
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    // One line per event: each run is queued and ends once.
    for id in [&done, &stopped, &failed, &active] {
        let lines = |what: &str| {
            text.lines()
                .filter(|l| l.contains(what) && l.contains(id.as_str()))
                .count()
        };
        assert_eq!(lines("run queued"), 1, "{id}: {text}");
        assert_eq!(
            lines("run finished") + lines("run stopped") + lines("run failed"),
            1,
            "{id}: {text}"
        );
    }
}

#[test]
fn rust_log_filters_the_log() {
    let dir = scratch("logs-filtered");
    let (mut svc, log) = service_logged(&dir, &[], &[("RUST_LOG", "warn")]);
    let status = terminate(&mut svc, Duration::from_secs(30));
    assert!(status.success(), "{status}");
    // The reader thread may still be draining the pipe.
    std::thread::sleep(Duration::from_millis(200));
    let text = log.text();
    assert!(!text.contains("listening"), "{text}");
    assert!(!text.contains("exiting"), "{text}");
}

/// The SIGTERM handler is installed before the address is printed: a
/// signal sent the moment "listening" appears is a clean shutdown, never
/// the default action (death by signal, nothing saved). Before the fix it
/// was installed only when the server first polled it: a window of
/// microseconds after the line, which a loaded CI machine hit once
/// (`rust_log_filters_the_log` died by SIGTERM). Repeated to widen the net.
#[test]
fn sigterm_right_after_listening_shuts_down_cleanly() {
    for i in 0..12 {
        let dir = scratch(&format!("logs-early-term-{i}"));
        let mut svc = service(&dir, &[], &[]);
        let status = terminate(&mut svc, Duration::from_secs(30));
        assert!(status.success(), "try {i}: {status}");
    }
}
