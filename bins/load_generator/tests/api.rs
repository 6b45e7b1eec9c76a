//! The load generator as a client sees it: the real binary on 127.0.0.1,
//! driven over HTTP, benchmarking the in-process simulator.

mod common;

use common::{
    http, json, refused_startup_spec, scratch, service, simulator, spec, start, tokenizer,
    tokenizers_dir, wait_for,
};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn runs_start_finish_stop_and_report_metrics() {
    let sim = simulator();
    let dir = scratch("api");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.as_str();
    assert_eq!(http(addr, "GET", "/health", None, None).0, 200);

    // A run to completion; a second start while it runs is refused.
    let (id, _) = start(
        addr,
        &spec(sim, 40, r#", "max_concurrency": 4, "request_rate": 200"#),
    );
    let (status, body) = http(addr, "POST", "/start-load", Some(&spec(sim, 5, "")), None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["error"]["active"], id.as_str());
    let run = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["progress"]["completed"], 40);
    // The accepted options, defaults filled in.
    assert_eq!(run["spec"]["num_prompts"], 40);
    assert_eq!(run["spec"]["request_rate"], 200.0);
    assert_eq!(run["spec"]["random_range_ratio"], 1.0);
    assert_eq!(run["spec"]["backend"], "vllm");
    let result = &run["result"];
    assert_eq!(result["completed"], 40);
    assert_eq!(result["max_concurrency"], 4);
    assert!(result["client_audit"]["send_lag_p99_ms"].is_number());
    // The stored file is the same document, named by the run id.
    let file = dir.join("results").join(format!("{id}.json"));
    assert_eq!(run["result_location"], file.display().to_string().as_str());
    let stored = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(stored["completed"], 40);
    assert_eq!(stored["date"], result["date"]);
    assert!(!std::fs::read_dir(dir.join("results"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".tmp")));

    // Metrics carry the run's counters and histograms.
    let (status, metrics) = http(addr, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let labels = format!("run_id=\"{id}\",model=\"sim\",backend=\"vllm\"");
    for line in [
        format!("loadgen_requests_started_total{{{labels}}} 40"),
        format!("loadgen_requests_completed_total{{{labels}}} 40"),
        format!("loadgen_requests_failed_total{{{labels}}} 0"),
        format!("loadgen_requests_in_flight{{{labels}}} 0"),
        format!("loadgen_output_tokens_total{{{labels}}} 320"),
        format!("loadgen_ttft_seconds_count{{{labels}}} 40"),
        "loadgen_runs{state=\"done\"} 1".to_owned(),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line}\n{metrics}"
        );
    }

    // Queued behind a long run, then the long run is stopped mid-way.
    let (long, _) = start(addr, &spec(sim, 5000, r#", "request_rate": 100"#));
    let (queued, state) = start(addr, &spec(sim, 5, r#", "queue": true"#));
    assert_eq!(state, "queued");
    let deadline = Instant::now() + Duration::from_secs(60);
    while json(&http(addr, "GET", &format!("/runs/{long}"), None, None).1)["progress"]["finished"]
        .as_u64()
        .unwrap_or(0)
        < 20
    {
        assert!(Instant::now() < deadline, "the long run made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = http(addr, "POST", &format!("/runs/{long}/stop"), None, None);
    assert_eq!(status, 202, "{body}");
    let stopped = wait_for(addr, &long, &["stopped", "done", "failed"]);
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(stopped["result"]["interrupted"], true);
    let partial = stopped["result"]["completed"].as_u64().unwrap();
    assert!((20..5000).contains(&partial), "{partial}");
    assert!(dir.join("results").join(format!("{long}.json")).is_file());
    // The queued run runs next.
    assert_eq!(
        wait_for(addr, &queued, &["done", "failed"])["state"],
        "done"
    );
    assert_eq!(
        http(addr, "POST", &format!("/runs/{long}/stop"), None, None).0,
        409
    );
    assert_eq!(http(addr, "POST", "/runs/nope/stop", None, None).0, 404);
    assert_eq!(http(addr, "GET", "/runs/nope", None, None).0, 404);
    let (_, list) = http(addr, "GET", "/runs", None, None);
    let ids: Vec<String> = json(&list)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![id, long, queued]);
}

#[test]
fn bad_payloads_and_refused_targets_are_400_with_the_field() {
    let dir = scratch("bad");
    let svc = service(&dir, &["--allow-target", "127.0.0.1:9"], &[]);
    let addr = svc.addr.as_str();
    for (body, field) in [
        (
            r#"{"model": "m", "dataset_name": "random", "port": 9, "num_prompts": "x"}"#,
            "num_prompts",
        ),
        (
            r#"{"model": "m", "dataset_name": "random", "port": 9, "rate": 1}"#,
            "rate",
        ),
        (r#"{"dataset_name": "random", "port": 9}"#, "model"),
        (
            r#"{"model": "m", "dataset_name": "sonnet", "port": 9}"#,
            "dataset_path",
        ),
        (
            r#"{"model": "m", "dataset_name": "random", "port": 9, "request_rate": 0}"#,
            "request_rate",
        ),
        (
            r#"{"model": "m", "dataset_name": "random", "port": 8000}"#,
            "host",
        ),
        (
            r#"{"model": "m", "dataset_name": "random", "base_url": "http://10.1.2.3:9"}"#,
            "base_url",
        ),
        ("not json", "(body)"),
    ] {
        let (status, text) = http(addr, "POST", "/start-load", Some(body), None);
        assert_eq!(status, 400, "{body}: {text}");
        assert_eq!(json(&text)["error"]["field"], field, "{body}: {text}");
    }
    // A tokenizer path outside the data directory is refused; a model id
    // that is not in the cache (offline) is accepted, then fails with why.
    let body = r#"{"model": "m", "tokenizer": "/nonexistent/tokenizer.json", "dataset_name": "random", "port": 9, "num_prompts": 2}"#;
    let (status, text) = http(addr, "POST", "/start-load", Some(body), None);
    assert_eq!(status, 400, "{text}");
    assert_eq!(json(&text)["error"]["field"], "tokenizer", "{text}");
    let body = r#"{"model": "m", "tokenizer": "nobody/nonexistent", "dataset_name": "random", "port": 9, "num_prompts": 2}"#;
    let (id, _) = start(addr, body);
    let run = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "failed");
    assert!(
        run["error"].as_str().unwrap().contains("nonexistent"),
        "{run}"
    );
    assert_eq!(http(addr, "GET", "/start-load", None, None).0, 405);
    assert_eq!(http(addr, "GET", "/nowhere", None, None).0, 404);
    let big = format!(r#"{{"model": "{}"}}"#, "m".repeat(2 << 20));
    assert_eq!(http(addr, "POST", "/start-load", Some(&big), None).0, 413);
}

#[test]
fn a_token_guards_mutating_calls_and_is_required_off_loopback() {
    let dir = scratch("auth");
    let out = Command::new(env!("CARGO_BIN_EXE_load_generator"))
        .args(["--host", "0.0.0.0", "--port", "0"])
        .env_remove("LOADGEN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOADGEN_TOKEN"));

    let secret = "s3cret-token";
    let svc = service(&dir, &[], &[("LOADGEN_TOKEN", secret)]);
    let addr = svc.addr.as_str();
    let body = r#"{"model": "m", "dataset_name": "random", "num_prompts": 1}"#;
    assert_eq!(http(addr, "POST", "/start-load", Some(body), None).0, 401);
    assert_eq!(
        http(addr, "POST", "/start-load", Some(body), Some("wrong")).0,
        401
    );
    assert_eq!(http(addr, "POST", "/runs/x/stop", None, None).0, 401);
    assert_eq!(http(addr, "GET", "/health", None, None).0, 200);
    let (status, text) = http(addr, "POST", "/start-load", Some(body), Some(secret));
    assert_eq!(status, 202, "{text}");
    let (_, metrics) = http(addr, "GET", "/metrics", None, None);
    let (_, runs) = http(addr, "GET", "/runs", None, None);
    assert!(!metrics.contains(secret) && !runs.contains(secret));
}

#[test]
fn a_startup_spec_runs_in_order_and_a_bad_one_is_refused() {
    let sim = simulator();
    let dir = scratch("startup");
    let file = dir.join("runs.yaml");
    std::fs::write(
        &file,
        format!(
            "- {{host: 127.0.0.1, port: {sim}, model: sim, tokenizer: '{t}', dataset_name: random, random_input_len: 16, random_output_len: 4, num_prompts: 6}}\n- {{host: 127.0.0.1, port: {sim}, model: sim, tokenizer: '{t}', dataset_name: random, random_input_len: 16, random_output_len: 4, num_prompts: 3, request_rate: 50}}\n",
            t = tokenizer()
        ),
    )
    .unwrap();
    let svc = service(&dir, &["--startup-spec", file.to_str().unwrap()], &[]);
    let addr = svc.addr.as_str();
    let (_, list) = http(addr, "GET", "/runs", None, None);
    let ids: Vec<String> = json(&list)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        wait_for(addr, &ids[0], &["done", "failed"])["result"]["completed"],
        6
    );
    assert_eq!(
        wait_for(addr, &ids[1], &["done", "failed"])["result"]["completed"],
        3
    );

    let err = refused_startup_spec(
        &dir,
        "- {model: sim, dataset_name: random, num_prompts: -1}\n",
    );
    assert!(err.contains("run 1: num_prompts"), "{err}");
}

#[test]
fn a_stress_run_cycles_its_prompts_for_the_duration() {
    let sim = simulator();
    let dir = scratch("stress");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.as_str();
    let (id, _) = start(
        addr,
        &spec(sim, 5, r#", "request_rate": 40, "duration_s": 2"#),
    );
    let run = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    // About 40/s for 2 s from 5 prompts sent over and over.
    let completed = run["result"]["completed"].as_u64().unwrap();
    assert!((60..=100).contains(&completed), "{completed}");
    assert_eq!(run["result"]["total_output_tokens"], completed * 8);
    assert!(run["result"]["duration"].as_f64().unwrap() >= 1.9);
    // The per-request spool is gone; only the result stays.
    let staging: Vec<_> = std::fs::read_dir(dir.join("results/.staging"))
        .unwrap()
        .flatten()
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
}

#[test]
fn the_shipped_sonnet_runs_with_the_default_lengths() {
    // datasets/sonnet.txt with sonnet_input_len 550, prefix 200, output
    // 150 (the defaults), the tokenizer from a second data directory.
    let sim = simulator();
    let dir = scratch("sonnet");
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .display()
        .to_string();
    let tokenizers = tokenizers_dir();
    let svc = service(
        &dir,
        &["--data-dir", &datasets, "--data-dir", &tokenizers],
        &[],
    );
    let body = format!(
        r#"{{"port": {sim}, "model": "sim", "tokenizer": "deepseek-r1", "dataset_name": "sonnet", "dataset_path": "sonnet.txt", "num_prompts": 4}}"#
    );
    let (id, _) = start(&svc.addr, &body);
    let run = wait_for(&svc.addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["result"]["completed"], 4, "{run}");
    let input = run["result"]["total_input_tokens"].as_u64().unwrap();
    assert!((4 * 500..=4 * 600).contains(&input), "{input}");
}
