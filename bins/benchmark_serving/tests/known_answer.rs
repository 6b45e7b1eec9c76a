//! Known-answer test: the simulator (in this process, on its own runtime)
//! streams with a 50 ms first-token delay and 10 ms between tokens and logs
//! when it wrote each token; the real `benchmark_serving` binary, at
//! concurrency 100, must measure TTFT and ITL close to that truth. As in
//! the workflows, warmups run first, so the main run finds its
//! connections open.

use servebench_metrics::mean;
use servebench_sim::{BuiltIn, SimOptions, TokenLog};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "a timing-accuracy check: run it on an optimized build (cargo test --release); cargo xtask ci does"
)]
fn mean_ttft_and_itl_match_the_simulators_truth_at_concurrency_100() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<TokenLog>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        // One worker per core, as sim_server runs by default: a one-thread
        // simulator parses each burst of 100 requests one after another
        // before its truth clock starts, and that queue (up to 1.5 ms on
        // 2 cores, growing as the client got faster) counted as client
        // error.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = servebench_sim::bind(([127, 0, 0, 1], 0).into())
                .await
                .unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let opts = SimOptions {
                model: "sim".into(),
                ttft: Duration::from_millis(50),
                itl: Duration::from_millis(10),
                deployment: None,
                text: Arc::new(BuiltIn),
                ground_truth: Some(tx),
                fault: None,
                fault_every: 1,
                kv_cache_tokens: None,
            };
            servebench_sim::serve(listener, opts, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("known-answer");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tokenizer = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/tokenizers/deepseek-r1");
    let out = Command::new(env!("CARGO_BIN_EXE_benchmark_serving"))
        .args(["--model", "sim", "--dataset-name", "random"])
        .arg("--tokenizer")
        .arg(tokenizer)
        .args(["--random-input-len", "16", "--random-output-len", "100"])
        .args([
            "--num-prompts",
            "200",
            "--max-concurrency",
            "100",
            "--ignore-eos",
            "--num-warmups",
            "100",
        ])
        .args(["--disable-tqdm", "--save-result", "--save-detailed"])
        .args(["--result-filename", "out.json"])
        .args(["--base-url", &format!("http://{addr}")])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = stop_tx.send(());
    server.join().unwrap();
    let mut logs = Vec::new();
    while let Ok(log) = rx.try_recv() {
        logs.push(log);
    }
    assert_eq!(logs.len(), 300);
    // The warmups arrived first (the main run starts after they all
    // finished): the truth of the main run's 200 is the rest.
    logs.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    let mut truth_ttft = Vec::new();
    let mut truth_itl = Vec::new();
    for log in &logs[100..] {
        truth_ttft.push(log.token_s[0] - log.arrival_s);
        truth_itl.extend(log.token_s.windows(2).map(|w| w[1] - w[0]));
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    assert_eq!(doc["completed"], 200);
    let ttft_err = doc["mean_ttft_ms"].as_f64().unwrap() - mean(&truth_ttft) * 1000.0;
    let itl_err = doc["mean_itl_ms"].as_f64().unwrap() - mean(&truth_itl) * 1000.0;
    // Shown with --nocapture; the figures go into the closing notes.
    let summary = format!(
        "truth: mean TTFT {:.3} ms, mean ITL {:.3} ms; error: TTFT {ttft_err:.3} ms, ITL {itl_err:.3} ms",
        mean(&truth_ttft) * 1000.0,
        mean(&truth_itl) * 1000.0
    );
    let _ = writeln!(std::io::stderr(), "{summary}");
    assert!(ttft_err.abs() <= 2.0, "mean TTFT off by {ttft_err:.3} ms");
    assert!(itl_err.abs() <= 0.5, "mean ITL off by {itl_err:.3} ms");
}
