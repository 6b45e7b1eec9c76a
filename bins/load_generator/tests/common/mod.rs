//! Helpers shared by the load generator's integration tests.
#![allow(dead_code)]

use servebench_sim::{BuiltIn, SimOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn tokenizer() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/tokenizers/deepseek-r1")
        .display()
        .to_string()
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("loadgen-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The simulator in fast mode (5 ms to the first token, 1 ms apart) on a
/// thread of its own; returns its port.
pub fn simulator() -> u16 {
    simulator_on([127, 0, 0, 1].into())
}

/// [`simulator`] on another loopback address (`::1`).
pub fn simulator_on(ip: std::net::IpAddr) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = servebench_sim::bind((ip, 0).into()).await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let opts = SimOptions {
                model: "sim".into(),
                ttft: Duration::from_millis(5),
                itl: Duration::from_millis(1),
                deployment: None,
                text: Arc::new(BuiltIn),
                ground_truth: None,
                fault: None,
                fault_every: 1,
                kv_cache_tokens: None,
            };
            servebench_sim::serve(listener, opts, std::future::pending())
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The service, killed when dropped.
pub struct Service {
    pub child: Child,
    pub addr: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory holding the test tokenizer: the service's `--data-dir`
/// unless a test gives its own.
pub fn tokenizers_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/tokenizers")
        .display()
        .to_string()
}

pub fn service(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Service {
    spawn_service(dir, extra, envs, Stdio::inherit())
}

/// The service's stderr (its log), as read so far.
#[derive(Clone, Default)]
pub struct Log(Arc<std::sync::Mutex<String>>);

impl Log {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most 30 s) for a line containing every one of `parts`;
    /// returns it.
    pub fn wait_for_line(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text();
            if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?} in:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// [`service`] with its stderr captured (and echoed to the test's).
pub fn service_logged(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> (Service, Log) {
    let mut svc = spawn_service(dir, extra, envs, Stdio::piped());
    let log = Log::default();
    let stderr = svc.child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Shown with the test's output when it fails.
            let _ = writeln!(std::io::stderr(), "{line}");
            let mut text = sink.0.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    (svc, log)
}

fn spawn_service(dir: &Path, extra: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Service {
    let data_dir = tokenizers_dir();
    let default_data_dir: &[&str] = if extra.contains(&"--data-dir") {
        &[]
    } else {
        &["--data-dir", &data_dir]
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_load_generator"))
        .args(["--port", "0", "--results-dir"])
        .arg(dir.join("results"))
        .args(default_data_dir)
        .args(extra)
        .env_remove("LOADGEN_TOKEN")
        // Tests never reach the Hub.
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_CACHE", dir.join("hf-cache"))
        .env_remove("RUST_LOG")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("load_generator listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Service { child, addr }
}

/// One HTTP/1.1 exchange; returns the status and the body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.unwrap_or("");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub fn spec(sim: u16, prompts: usize, extra: &str) -> String {
    format!(
        r#"{{"host": "127.0.0.1", "port": {sim}, "model": "sim", "tokenizer": "{}", "dataset_name": "random", "random_input_len": 16, "random_output_len": 8, "num_prompts": {prompts}, "ignore_eos": true{extra}}}"#,
        tokenizer()
    )
}

pub fn wait_for(addr: &str, id: &str, states: &[&str]) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = http(addr, "GET", &format!("/runs/{id}"), None, None);
        assert_eq!(status, 200, "{body}");
        let run = json(&body);
        if states.contains(&run["state"].as_str().unwrap_or("")) {
            return run;
        }
        assert!(Instant::now() < deadline, "run {id} stuck: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a run that must be accepted; returns its id and state.
pub fn start(addr: &str, body: &str) -> (String, String) {
    let (status, text) = http(addr, "POST", "/start-load", Some(body), None);
    assert_eq!(status, 202, "{body}: {text}");
    let answer = json(&text);
    (
        answer["run_id"].as_str().unwrap().to_owned(),
        answer["state"].as_str().unwrap().to_owned(),
    )
}

/// Sends SIGTERM to the service (by its PID) and waits at most `limit` for
/// it to exit; returns its exit status.
pub fn terminate(svc: &mut Service, limit: Duration) -> std::process::ExitStatus {
    let pid = svc.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    loop {
        if let Some(status) = svc.child.try_wait().unwrap() {
            return status;
        }
        assert!(t.elapsed() < limit, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the service with `--startup-spec` holding `yaml` and expects it
/// to refuse to start; returns its stderr.
pub fn refused_startup_spec(dir: &Path, yaml: &str) -> String {
    let file = dir.join("runs.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_load_generator"))
        .args(["--port", "0", "--startup-spec", file.to_str().unwrap()])
        .arg("--results-dir")
        .arg(dir.join("results"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}
