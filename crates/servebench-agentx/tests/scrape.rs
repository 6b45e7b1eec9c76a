//! The scraper against scripted Prometheus endpoints on 127.0.0.1: totals,
//! rates and timeslices against the values the server served, the export's
//! key sets against the real aiperf 0.13.0 sample, and endpoints that must
//! be disabled with a warning (unreachable, JSON) without failing the run.

use serde_json::Value;
use servebench_agentx::record::Phase;
use servebench_agentx::scrape::{endpoints, ScrapeOptions, Scraper};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The counter drops back (a server restart) at this scrape number.
const RESET_AT: u64 = 6;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The exposition served to the `k`-th request (1-based): the counter rises
/// by 10 per scrape and restarts at 5 on scrape `RESET_AT`; the gauge is
/// `k % 3`; the histogram gains one 15 ms observation per scrape.
fn body(k: u64) -> String {
    let counter = if k < RESET_AT {
        10 * k
    } else {
        10 * (k - RESET_AT) + 5
    };
    format!(
        "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n\
         # TYPE vllm:prompt_tokens_total counter\n\
         vllm:prompt_tokens_total{{model_name=\"m\"}} {counter}.0\n\
         # HELP vllm:num_requests_running Number of requests in model execution batches.\n\
         # TYPE vllm:num_requests_running gauge\n\
         vllm:num_requests_running{{model_name=\"m\"}} {g}.0\n\
         # TYPE vllm:time_to_first_token_seconds histogram\n\
         vllm:time_to_first_token_seconds_bucket{{le=\"0.01\",model_name=\"m\"}} 0.0\n\
         vllm:time_to_first_token_seconds_bucket{{le=\"0.02\",model_name=\"m\"}} {k}.0\n\
         vllm:time_to_first_token_seconds_bucket{{le=\"+Inf\",model_name=\"m\"}} {k}.0\n\
         vllm:time_to_first_token_seconds_count{{model_name=\"m\"}} {k}.0\n\
         vllm:time_to_first_token_seconds_sum{{model_name=\"m\"}} {s}\n\
         # TYPE servebench_sim_faults_total counter\n\
         servebench_sim_faults_total{{model_name=\"m\",kind=\"cut\"}} 0\n\
         # TYPE build_info gauge\n\
         build_info{{version=\"1.2.3\"}} 1\n",
        g = k % 3,
        s = 0.015 * k as f64,
    )
}

/// Serves `body(k)` (odd requests with Content-Length, even ones chunked)
/// or a JSON document; returns the URL and the count of requests served.
async fn serve(json: bool) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let k = count.fetch_add(1, Ordering::SeqCst) + 1;
                let response = if json {
                    let b = "{\"metrics\": []}";
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                        b.len()
                    )
                } else if k % 2 == 1 {
                    let b = body(k);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{b}",
                        b.len()
                    )
                } else {
                    let b = body(k);
                    let (x, y) = b.split_at(b.len() / 2);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
                         {:x}\r\n{x}\r\n{:x}\r\n{y}\r\n0\r\n\r\n",
                        x.len(),
                        y.len()
                    )
                };
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/metrics"), served)
}

fn options(urls: Vec<String>) -> ScrapeOptions {
    let mut o = ScrapeOptions::new(urls);
    o.interval = Duration::from_millis(40);
    o.slice_duration = Some(Duration::from_millis(200));
    o.reachability_timeout = Duration::from_secs(2);
    o
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn sample() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/agentx/artifacts-sample/aiperf_artifacts/server_metrics_export.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn series<'a>(doc: &'a Value, section: &str, family: &str) -> &'a Value {
    &doc[section][family]["series"][0]
}

#[tokio::test]
async fn totals_rates_and_timeslices_follow_what_was_served() {
    let (url, served) = serve(false).await;
    let t0 = now_ns();
    let (scraper, warnings) = Scraper::start(options(vec![url.clone()])).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    scraper.mark_phase(Phase::Profiling, t0, None);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let metrics = scraper.stop().await;
    assert_eq!(metrics.endpoints_successful(), std::slice::from_ref(&url));
    let doc = metrics.export_json("bench", "0.13.0", &serde_json::json!({}));

    let n = served.load(Ordering::SeqCst);
    let info = &doc["summary"]["endpoint_info"][&url];
    assert_eq!(info["total_fetches"], n, "every served scrape is recorded");
    assert!(
        n > RESET_AT + 2,
        "{n} scrapes are too few to cross the reset"
    );
    // Every body differs (the counter moves), so every fetch is an update.
    assert_eq!(info["unique_updates"], n);

    let c = series(&doc, "metrics", "vllm:prompt_tokens");
    // +10 per scrape, except the reset scrape which counts 5 from zero.
    let total = 10.0 * (n - 1) as f64 - 5.0;
    assert_eq!(c["stats"]["total"], total);
    let span_s = (info["last_fetch_ns"].as_u64().unwrap()
        - info["first_fetch_ns"].as_u64().unwrap()) as f64
        / 1e9;
    let rate = c["stats"]["rate"].as_f64().unwrap();
    assert!(
        (rate - total / span_s).abs() < 1e-6 * rate,
        "{rate} vs {}",
        total / span_s
    );
    let slices = c["timeslices"].as_array().unwrap();
    let sliced: f64 = slices.iter().map(|s| s["total"].as_f64().unwrap()).sum();
    assert_eq!(sliced, total, "slices partition the window");
    assert_eq!(slices[0]["start_ns"], t0);
    for w in slices.windows(2) {
        assert_eq!(w[0]["end_ns"], w[1]["start_ns"]);
    }
    let last = slices.last().unwrap();
    assert_eq!(last["end_ns"], info["last_fetch_ns"]);
    assert_eq!(last["is_complete"], false);
    assert!(slices[..slices.len() - 1]
        .iter()
        .all(|s| s.get("is_complete").is_none()));

    let g = series(&doc, "metrics", "vllm:num_requests_running");
    let values: Vec<f64> = (1..=n).map(|k| (k % 3) as f64).collect();
    let mean = values.iter().sum::<f64>() / n as f64;
    assert!((g["stats"]["avg"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert_eq!(g["stats"]["min"], 0.0);
    assert_eq!(g["stats"]["max"], 2.0);

    let h = series(&doc, "metrics", "vllm:time_to_first_token_seconds");
    assert_eq!(h["stats"]["count"], n - 1);
    assert_eq!(h["buckets"]["0.02"], n - 1);
    assert_eq!(h["buckets"]["0.01"], 0);
    assert!((h["stats"]["avg"].as_f64().unwrap() - 0.015).abs() < 1e-9);
    let hs: u64 = h["timeslices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(hs, n - 1);
}

#[tokio::test]
async fn export_has_the_sample_shape_and_writes_both_files() {
    let (url, _) = serve(false).await;
    let (scraper, _) = Scraper::start(options(vec![url.clone()])).await.unwrap();
    let w0 = now_ns();
    scraper.mark_phase(Phase::Warmup, w0, None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p0 = now_ns();
    scraper.mark_phase(Phase::Warmup, w0, Some(p0));
    scraper.mark_phase(Phase::Profiling, p0, None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    scraper.mark_phase(Phase::Profiling, p0, Some(now_ns()));
    let metrics = scraper.stop().await;

    let dir = std::env::temp_dir().join(format!("agentx-scrape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({"scenario": "inferencex-agentx-mvp"});
    assert!(metrics.write(&dir, "bench", "0.13.0", &config).unwrap());
    let text = std::fs::read_to_string(dir.join("server_metrics_export.json")).unwrap();
    let csv = std::fs::read_to_string(dir.join("server_metrics_export.csv")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // The InferenceX required-prefix check greps the raw file.
    assert!(text.contains("\"vllm:"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let want = sample();

    assert_eq!(keys(&doc), keys(&want));
    assert_eq!(keys(&doc["summary"]), keys(&want["summary"]));
    let info = |d: &Value| {
        d["summary"]["endpoint_info"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone()
    };
    assert_eq!(keys(&info(&doc)), keys(&info(&want)));
    assert_eq!(
        keys(&doc["summary"]["phase_time_ranges"]),
        keys(&want["summary"]["phase_time_ranges"])
    );
    assert_eq!(doc["input_config"], config);
    assert_eq!(doc["metrics_phase"], "profiling");

    for section in ["metrics", "warmup_metrics"] {
        for family in [
            "vllm:prompt_tokens",
            "vllm:num_requests_running",
            "vllm:time_to_first_token_seconds",
        ] {
            let (got, exp) = (&doc[section][family], &want[section][family]);
            assert_eq!(keys(got), keys(exp), "{section} {family}");
            assert_eq!(got["type"], exp["type"]);
            assert_eq!(got["unit"], exp["unit"]);
            let (gs, es) = (
                series(&doc, section, family),
                series(&want, section, family),
            );
            if family.ends_with("_seconds") && section == "warmup_metrics" {
                // The sample's warm-up TTFT had observations; ours too.
                assert!(gs["stats"]["count"].as_u64().unwrap() > 0);
            }
            assert_eq!(keys(gs), keys(es), "{section} {family} series");
            assert_eq!(
                keys(&gs["stats"]),
                keys(&es["stats"]),
                "{section} {family} stats"
            );
            let (gt, et) = (
                gs["timeslices"].as_array().unwrap(),
                es["timeslices"].as_array().unwrap(),
            );
            let (complete, partial) = (keys(&et[0]), keys(et.last().unwrap()));
            assert_ne!(complete, partial);
            for t in gt {
                let k = keys(t);
                assert!(
                    k == complete || k == partial,
                    "{section} {family} slice {k:?}"
                );
            }
            assert_eq!(keys(&gt[0]), complete, "{section} {family} first slice");
            // Counter and histogram slices are never skipped, so the last is
            // the partial one (a gauge slice without a scrape is left out).
            if !family.contains("running") {
                assert_eq!(
                    keys(gt.last().unwrap()),
                    partial,
                    "{section} {family} last slice"
                );
            }
        }
    }
    assert_eq!(
        doc["metrics"]["vllm:prompt_tokens"]["description"],
        "Number of prefill tokens processed."
    );
    assert_eq!(doc["metrics"]["build_info"]["type"], "gauge");
    assert!(
        doc["metrics"]["vllm:prompt_tokens"]["series"][0]["stats"]["total"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // CSV: the sample's header lines and section headers.
    let sample_csv = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/agentx/artifacts-sample/aiperf_artifacts/server_metrics_export.csv"),
    )
    .unwrap();
    let headers = |t: &str| -> Vec<String> {
        t.split("\n\n")
            .map(|s| {
                s.lines()
                    .find(|l| l.starts_with("Endpoint,"))
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    let (got, exp) = (headers(&csv), headers(&sample_csv));
    assert_eq!(got[..3], exp[..3], "gauge, counter and histogram headers");
    assert_eq!(got[3], "Endpoint,Metric,Key,Value,Description");
    let port = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    assert!(csv.contains(&format!("\n{port},counter,vllm:prompt_tokens,tokens,")));
    assert!(csv.contains(&format!("\n{port},build_info,version,1.2.3,\n")));
    assert!(csv.contains(",0.01=0;0.02="));
}

#[tokio::test]
async fn unreachable_and_json_endpoints_are_disabled_with_a_warning() {
    // A port nobody listens on: bind, note it, close.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/metrics", l.local_addr().unwrap())
    };
    let (json_url, _) = serve(true).await;
    let (good, _) = serve(false).await;
    let urls = endpoints(
        &good.replace("/metrics", "/v1/chat/completions"),
        &[dead.clone(), json_url.clone()],
    );
    assert_eq!(urls, vec![good.clone(), dead.clone(), json_url.clone()]);
    let (scraper, warnings) = Scraper::start(options(urls)).await.unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains(&dead), "{warnings:?}");
    assert!(
        warnings[1].contains(&json_url) && warnings[1].contains("json"),
        "{warnings:?}"
    );
    let metrics = scraper.stop().await;
    assert_eq!(metrics.endpoints_successful(), std::slice::from_ref(&good));
    let doc = metrics.export_json("b", "v", &Value::Null);
    assert_eq!(
        doc["summary"]["endpoints_configured"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Nothing reachable: not an error, and no files.
    let (scraper, warnings) = Scraper::start(options(vec![dead])).await.unwrap();
    assert_eq!(warnings.len(), 1);
    let metrics = scraper.stop().await;
    assert!(metrics.endpoints_successful().is_empty());
    let dir = std::env::temp_dir().join(format!("agentx-scrape-none-{}", std::process::id()));
    assert!(!metrics.write(&dir, "b", "v", &Value::Null).unwrap());
    assert!(!dir.join("server_metrics_export.json").exists());
}

/// One non-streaming chat request over a fresh connection.
async fn chat(addr: &str, prompt: &str) {
    let body = serde_json::json!({
        "model": "sim",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 4,
    })
    .to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test]
async fn sim_server_prefix_cache_families_reach_the_export() {
    let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = servebench_sim::SimOptions {
        model: "sim".into(),
        ttft: Duration::from_millis(5),
        itl: Duration::from_millis(1),
        fault: None,
        fault_every: 1,
        deployment: None,
        ground_truth: None,
        text: Arc::new(servebench_sim::BuiltIn),
        kv_cache_tokens: Some(100_000),
    };
    tokio::spawn(servebench_sim::serve(listener, opts, async move {
        let _ = rx.await;
    }));
    let urls = endpoints(&format!("http://{addr}"), &[]);
    let (scraper, warnings) = Scraper::start(options(urls.clone())).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    scraper.mark_phase(Phase::Profiling, now_ns(), None);
    let prompt = "the quick brown fox jumps over the lazy dog ".repeat(40);
    for _ in 0..3 {
        chat(&addr, &prompt).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let metrics = scraper.stop().await;
    drop(tx);
    let doc = metrics.export_json("b", "0.13.0", &Value::Null);
    let m = &doc["metrics"];
    let total = |family: &str| -> f64 {
        m[family]["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stats"]["total"].as_f64().unwrap())
            .sum()
    };
    for family in [
        "vllm:prefix_cache_queries",
        "vllm:prefix_cache_hits",
        "vllm:prompt_tokens_by_source",
        "vllm:request_success",
    ] {
        assert_eq!(m[family]["type"], "counter", "{family}");
    }
    assert_eq!(total("vllm:request_success"), 3.0);
    assert!(
        total("vllm:prefix_cache_hits") > 0.0,
        "a repeated prompt hits"
    );
    assert!(total("vllm:prefix_cache_queries") >= total("vllm:prefix_cache_hits"));
    let sources: BTreeSet<String> = m["vllm:prompt_tokens_by_source"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["labels"]["source"].as_str().unwrap().to_string())
        .collect();
    assert!(
        sources.contains("local_cache_hit") && sources.contains("local_compute"),
        "{sources:?}"
    );
    assert_eq!(m["vllm:kv_cache_usage_perc"]["type"], "gauge");
    assert_eq!(m["vllm:kv_cache_usage_perc"]["unit"], "percent");
    assert_eq!(
        m["vllm:time_to_first_token_seconds"]["series"][0]["stats"]["count"],
        3
    );
}
