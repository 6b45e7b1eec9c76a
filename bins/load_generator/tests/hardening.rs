//! A hostile client of the load generator (issue 12): numbers that used to
//! panic or exhaust memory, files outside the data directory, allow-list
//! bypasses, held connections, concurrent starts, stops while prompts are
//! prepared, SIGTERM mid-run. Each of these failed before the hardening.

mod common;

use common::{
    http, json, refused_startup_spec, scratch, service, simulator, simulator_on, spec, start,
    terminate, tokenizer, wait_for,
};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A body for the simulator at `sim` with `extra` options (none of
/// num_prompts or the random lengths are set unless `extra` sets them).
fn body(sim: u16, extra: &str) -> String {
    format!(
        r#"{{"host": "127.0.0.1", "port": {sim}, "model": "sim", "tokenizer": "{}", "dataset_name": "random"{extra}}}"#,
        tokenizer()
    )
}

fn refused(addr: &str, body: &str, field: &str) {
    let (status, text) = http(addr, "POST", "/start-load", Some(body), None);
    assert_eq!(status, 400, "{body}: {text}");
    assert_eq!(json(&text)["error"]["field"], field, "{body}: {text}");
}

#[test]
fn numbers_out_of_range_are_refused_naming_the_field_and_the_service_goes_on() {
    let sim = simulator();
    let dir = scratch("ranges");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.as_str();
    for (extra, field) in [
        (
            r#", "num_prompts": 2, "request_rate": 1e-300"#,
            "request_rate",
        ),
        (
            r#", "num_prompts": 2, "request_rate": 1e300"#,
            "request_rate",
        ),
        (
            r#", "num_prompts": 2, "num_warmups": 18446744073709551615"#,
            "num_warmups",
        ),
        (
            r#", "num_prompts": 2, "num_warmups": 1000000000000"#,
            "num_warmups",
        ),
        (
            r#", "num_prompts": 2, "random_prefix_len": 1000000000000"#,
            "random_prefix_len",
        ),
        (
            r#", "num_prompts": 2, "random_input_len": 1000000000000"#,
            "random_input_len",
        ),
        (
            r#", "num_prompts": 2, "random_input_len": 1e12"#,
            "random_input_len",
        ),
        (r#", "num_prompts": 2, "burstiness": 1e-300"#, "burstiness"),
        // 10M prompts of 1,024 tokens: past the total the service builds.
        (r#", "num_prompts": 10000000"#, "num_prompts"),
        (
            r#", "num_prompts": 2, "duration_s": 1e300, "request_rate": 1"#,
            "duration_s",
        ),
        (
            r#", "num_prompts": 2, "endpoint": "/v1/completions x""#,
            "endpoint",
        ),
    ] {
        refused(addr, &body(sim, extra), field);
    }
    let port_zero = format!(
        r#"{{"port": 0, "model": "sim", "tokenizer": "{}", "dataset_name": "random", "num_prompts": 2}}"#,
        tokenizer()
    );
    refused(addr, &port_zero, "port");
    let (id, _) = start(addr, &spec(sim, 3, ""));
    assert_eq!(wait_for(addr, &id, &["done", "failed"])["state"], "done");
    assert_eq!(http(addr, "GET", "/health", None, None).0, 200);

    // The same value in a start-up spec: refused at boot, naming it.
    let err = refused_startup_spec(
        &dir,
        "- {model: sim, dataset_name: random, num_prompts: 2, request_rate: 1.0e-300}\n",
    );
    assert!(err.contains("run 1: request_rate"), "{err}");
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
}

#[test]
fn files_come_only_from_the_data_directory() {
    let sim = simulator();
    let dir = scratch("datadir");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("tok")).unwrap();
    let shared_tok = Path::new(&tokenizer()).to_owned();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        copy(&shared_tok.join(f), &data.join("tok").join(f));
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/datasets");
    copy(
        &fixtures.join("custom_small.jsonl"),
        &data.join("prompts.jsonl"),
    );
    std::os::unix::fs::symlink("/proc/self/environ", data.join("environ.jsonl")).unwrap();
    std::os::unix::fs::symlink(&dir, data.join("up")).unwrap();
    std::fs::write(dir.join("secret.jsonl"), "{\"prompt\": \"hunter2\"}\n").unwrap();
    let data_arg = data.display().to_string();
    let svc = service(
        &dir,
        &["--data-dir", &data_arg],
        &[("SERVICE_SECRET", "hunter2")],
    );
    let addr = svc.addr.as_str();
    let custom = |path: &str, tok: &str| {
        format!(
            r#"{{"host": "127.0.0.1", "port": {sim}, "model": "sim", "tokenizer": "{tok}", "dataset_name": "custom", "dataset_path": "{path}", "num_prompts": 3, "ignore_eos": true}}"#
        )
    };
    for path in [
        "/proc/self/environ",
        "environ.jsonl",
        "../secret.jsonl",
        "up/secret.jsonl",
        "/etc/passwd",
        "missing.jsonl",
        ".",
    ] {
        refused(addr, &custom(path, "tok"), "dataset_path");
    }
    // A tokenizer path outside it is refused too (the shared one included).
    refused(addr, &custom("prompts.jsonl", &tokenizer()), "tokenizer");
    refused(addr, &custom("prompts.jsonl", "/etc"), "tokenizer");
    refused(addr, &custom("prompts.jsonl", "../../etc"), "tokenizer");

    let (id, _) = start(addr, &custom("prompts.jsonl", "tok"));
    let run = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["result"]["completed"], 3);
    let (_, runs) = http(addr, "GET", &format!("/runs/{id}"), None, None);
    assert!(!runs.contains("hunter2"));
}

#[test]
fn several_data_directories_are_looked_up_in_order() {
    let sim = simulator();
    let dir = scratch("datadirs");
    let datasets = dir.join("datasets");
    std::fs::create_dir_all(&datasets).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/datasets");
    copy(
        &fixtures.join("custom_small.jsonl"),
        &datasets.join("prompts.jsonl"),
    );
    std::fs::write(dir.join("secret.jsonl"), "{\"prompt\": \"hunter2\"}\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.jsonl"), datasets.join("link.jsonl")).unwrap();
    // A datasets volume first, the tokenizers volume second.
    let (first, second) = (datasets.display().to_string(), common::tokenizers_dir());
    let svc = service(&dir, &["--data-dir", &first, "--data-dir", &second], &[]);
    let addr = svc.addr.as_str();
    let custom = |path: &str, tok: &str| {
        format!(
            r#"{{"host": "127.0.0.1", "port": {sim}, "model": "sim", "tokenizer": "{tok}", "dataset_name": "custom", "dataset_path": "{path}", "num_prompts": 3, "ignore_eos": true}}"#
        )
    };
    // The dataset is in the first, the tokenizer (by name) in the second.
    let (id, _) = start(addr, &custom("prompts.jsonl", "deepseek-r1"));
    let run = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["result"]["completed"], 3);
    // An absolute path inside the second is taken too.
    let absolute = format!("{second}/deepseek-r1");
    let (id, _) = start(addr, &custom("prompts.jsonl", &absolute));
    assert_eq!(wait_for(addr, &id, &["done", "failed"])["state"], "done");
    // Escaping both is refused, whichever way.
    let secret = dir.join("secret.jsonl").display().to_string();
    for path in [
        "../secret.jsonl",
        "link.jsonl",
        secret.as_str(),
        "/etc/passwd",
    ] {
        refused(addr, &custom(path, "deepseek-r1"), "dataset_path");
    }
    for tok in ["../../etc", "/etc", "../deepseek-r1/../../etc"] {
        refused(addr, &custom("prompts.jsonl", tok), "tokenizer");
    }
    let (_, runs) = http(addr, "GET", "/runs", None, None);
    assert!(!runs.contains("hunter2"));
}

#[test]
fn the_allow_list_holds_for_every_spelling_of_a_host() {
    let dir = scratch("allow");
    let svc = service(
        &dir,
        &["--allow-target", "vllm*.svc.cluster.local:8000", "::1"],
        &[],
    );
    let addr = svc.addr.as_str();
    let with = |extra: &str| {
        format!(
            r#"{{"model": "m", "tokenizer": "{}", "dataset_name": "random", "num_prompts": 1{extra}}}"#,
            tokenizer()
        )
    };
    for host in [
        "vllm@127.0.0.2:8000/x?.svc.cluster.local",
        "vllm@127.0.0.2:8000/x#.svc.cluster.local",
        "vllm.svc.cluster.local/../x",
        "vllm .svc.cluster.local",
        "127.0.0.2",
        "[127.0.0.2]",
    ] {
        let b = with(&format!(r#", "host": "{host}", "port": 8000"#));
        refused(addr, &b, "host");
    }
    for url in [
        "http://vllm@127.0.0.2:8000/x?.svc.cluster.local",
        "http://user:pw@vllm-a.svc.cluster.local:8000",
        "http://vllm-a.svc.cluster.local:8000/v1?x=.svc.cluster.local",
        "http://vllm-a.svc.cluster.local:8001",
        "ftp://vllm-a.svc.cluster.local:8000",
    ] {
        refused(
            addr,
            &with(&format!(r#", "base_url": "{url}""#)),
            "base_url",
        );
    }
    // The credentials never show anywhere.
    let (_, runs) = http(addr, "GET", "/runs", None, None);
    assert!(!runs.contains("pw"), "{runs}");
}

#[test]
fn ipv6_targets_run_with_and_without_brackets() {
    let sim = simulator_on("::1".parse().unwrap());
    let dir = scratch("ipv6");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.as_str();
    for host in ["::1", "[::1]"] {
        let b = format!(
            r#"{{"host": "{host}", "port": {sim}, "model": "sim", "tokenizer": "{}", "dataset_name": "random", "random_input_len": 16, "random_output_len": 4, "num_prompts": 3, "ignore_eos": true}}"#,
            tokenizer()
        );
        let (id, _) = start(addr, &b);
        let run = wait_for(addr, &id, &["done", "failed"]);
        assert_eq!(run["state"], "done", "{run}");
        assert_eq!(run["result"]["completed"], 3, "{run}");
    }
    let b = format!(
        r#"{{"base_url": "http://[::1]:{sim}", "model": "sim", "tokenizer": "{}", "dataset_name": "random", "random_input_len": 16, "random_output_len": 4, "num_prompts": 2}}"#,
        tokenizer()
    );
    let (id, _) = start(addr, &b);
    assert_eq!(wait_for(addr, &id, &["done", "failed"])["state"], "done");
}

/// The time `/health` takes to answer on a fresh connection.
fn health_time(addr: &str) -> Duration {
    let t = Instant::now();
    let (status, _) = http(addr, "GET", "/health", None, None);
    assert_eq!(status, 200);
    t.elapsed()
}

#[test]
fn held_connections_neither_block_health_nor_stay_open() {
    let dir = scratch("slowloris");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.as_str();
    // 1,000 connections that start a request and never finish it.
    let mut held = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
        held.push(s);
    }
    // Generous bounds: this checks that /health answers, not how fast (the
    // closing note has the figures).
    let slowest = (0..20).map(|_| health_time(addr)).max().unwrap();
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    // The held connections are closed after the header timeout.
    let mut probe = held.pop().unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut probe, &mut buf);
    assert!(t.elapsed() < Duration::from_secs(25), "{:?}", t.elapsed());
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[test]
fn concurrent_starts_are_all_answered_and_the_queue_is_bounded() {
    let sim = simulator();
    let dir = scratch("concurrent");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.clone();
    let threads: Vec<_> = (0..40)
        .map(|_| {
            let (addr, b) = (
                addr.clone(),
                spec(sim, 2, r#", "queue": true, "request_rate": 1"#),
            );
            std::thread::spawn(move || http(&addr, "POST", "/start-load", Some(&b), None).0)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted = statuses.iter().filter(|&&s| s == 202).count();
    let full = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(accepted + full, 40, "{statuses:?}");
    assert!(full >= 1 && accepted >= 32, "{statuses:?}");
    assert!(health_time(&addr) < Duration::from_secs(2));
    // The list stays small: no options in it.
    let (_, list) = http(&addr, "GET", "/runs", None, None);
    let list = json(&list);
    assert_eq!(list.as_array().unwrap().len(), accepted);
    assert!(list[0].get("spec").is_none(), "{}", list[0]);
}

#[test]
fn a_stop_while_prompts_are_prepared_ends_the_run_at_once() {
    let sim = simulator();
    let dir = scratch("stop-prepare");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.as_str();
    // 200,000 prompts of 1,024 tokens take minutes to prepare.
    let (id, state) = start(
        addr,
        &body(sim, r#", "num_prompts": 200000, "random_input_len": 1024"#),
    );
    assert!(state == "running" || state == "queued", "{state}");
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    assert_eq!(
        http(addr, "POST", &format!("/runs/{id}/stop"), None, None).0,
        202
    );
    let run = wait_for(addr, &id, &["stopped", "done", "failed"]);
    assert_eq!(run["state"], "stopped", "{run}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // The next run starts right away.
    let (next, _) = start(addr, &spec(sim, 2, ""));
    assert_eq!(wait_for(addr, &next, &["done", "failed"])["state"], "done");
}

#[test]
fn sigterm_while_prompts_are_prepared_exits_at_once() {
    let sim = simulator();
    let dir = scratch("sigterm-prepare");
    let mut svc = service(&dir, &[], &[]);
    let addr = svc.addr.clone();
    start(
        &addr,
        &body(sim, r#", "num_prompts": 200000, "random_input_len": 1024"#),
    );
    std::thread::sleep(Duration::from_millis(500));
    let status = terminate(&mut svc, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_mid_run_saves_the_partial_result() {
    let sim = simulator();
    let dir = scratch("sigterm");
    let mut svc = service(&dir, &[], &[]);
    let addr = svc.addr.clone();
    let (id, _) = start(&addr, &spec(sim, 5000, r#", "request_rate": 100"#));
    let deadline = Instant::now() + Duration::from_secs(60);
    while json(&http(&addr, "GET", &format!("/runs/{id}"), None, None).1)["progress"]["finished"]
        .as_u64()
        .unwrap_or(0)
        < 10
    {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = terminate(&mut svc, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let file = dir.join("results").join(format!("{id}.json"));
    let saved = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(saved["interrupted"], true);
    assert!(saved["completed"].as_u64().unwrap() >= 10);
}

#[test]
fn tokens_that_can_never_authenticate_refuse_to_start() {
    for token in ["", "   ", " secret", "secret ", "sécret", "se cret"] {
        let out = Command::new(env!("CARGO_BIN_EXE_load_generator"))
            .args(["--port", "0"])
            .env("LOADGEN_TOKEN", token)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{token:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("LOADGEN_TOKEN"), "{token:?}: {err}");
        assert!(!err.contains(token.trim()) || token.trim().is_empty());
    }
}

#[test]
fn a_run_against_a_dead_server_says_why_in_its_record() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = scratch("dead");
    let svc = service(&dir, &[], &[]);
    let addr = svc.addr.as_str();
    let (id, _) = start(addr, &spec(port, 3, ""));
    let run = wait_for(addr, &id, &["done", "failed"]);
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["result"]["completed"], 0);
    let error = run["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "3 of 3 requests failed: cannot connect to 127.0.0.1:{port}"
        )),
        "{error}"
    );
}
