//! The Hugging Face download path against a mock hub on 127.0.0.1.

use servebench_prompts::Tokenizer;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn tokenizer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/tokenizers/deepseek-r1")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Serves `max_requests` requests (one per connection), recording each
/// request line and Authorization header, then stops.
fn mock_hub(max_requests: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                // Header names are case-insensitive.
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        auth = format!("Authorization: {}", value.trim());
                    }
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            seen.lock().expect("log").push(format!("{path} {auth}"));
            let file = |name: &str| {
                std::fs::read(tokenizer_dir().join(name)).expect("reference tokenizer")
            };
            let (status, body) = match path.as_str() {
                "/org/tok/resolve/main/tokenizer.json" => ("200 OK", file("tokenizer.json")),
                "/org/tok/resolve/main/tokenizer_config.json" => {
                    ("200 OK", file("tokenizer_config.json"))
                }
                "/gated/tok/resolve/main/tokenizer.json"
                    if auth == "Authorization: Bearer hf_secret" =>
                {
                    ("200 OK", file("tokenizer.json"))
                }
                "/gated/tok/resolve/main/tokenizer.json" => {
                    ("401 Unauthorized", b"{\"error\":\"gated\"}".to_vec())
                }
                _ => ("404 Not Found", b"{\"error\":\"not found\"}".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nX-Repo-Commit: 0123abcd\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (url, log)
}

fn env_for(
    endpoint: String,
    cache: PathBuf,
    token: Option<&'static str>,
) -> impl Fn(&str) -> Option<String> {
    move |k: &str| match k {
        "HF_ENDPOINT" => Some(endpoint.clone()),
        "HF_HUB_CACHE" => Some(cache.display().to_string()),
        "HF_TOKEN" => token.map(str::to_owned),
        _ => None,
    }
}

#[test]
fn downloads_into_the_cache_layout_then_reads_it_offline() {
    let (url, log) = mock_hub(3);
    let cache = scratch("hub-download");
    let tok = Tokenizer::load("org/tok", &env_for(url, cache.clone(), None)).expect("download");
    assert_eq!(tok.vocab_size(), 128_000);
    let snap = cache.join("models--org--tok/snapshots/0123abcd");
    assert!(snap.join("tokenizer.json").is_file() && snap.join("tokenizer_config.json").is_file());
    assert_eq!(
        std::fs::read_to_string(cache.join("models--org--tok/refs/main")).unwrap(),
        "0123abcd"
    );
    assert_eq!(
        log.lock().unwrap().len(),
        2,
        "tokenizer.json and tokenizer_config.json"
    );
    // Second load: from the cache, no request (the mock would refuse a 3rd+ one anyway).
    let offline = |k: &str| match k {
        "HF_HUB_CACHE" => Some(cache.display().to_string()),
        "HF_HUB_OFFLINE" => Some("1".to_owned()),
        _ => None,
    };
    assert!(Tokenizer::load("org/tok", &offline).is_ok());
}

#[test]
fn gated_and_missing_models_are_clear_errors() {
    // 401, 404, then tokenizer.json and tokenizer_config.json (404) with the token.
    let (url, log) = mock_hub(4);
    let cache = scratch("hub-gated");
    let err = Tokenizer::load("gated/tok", &env_for(url.clone(), cache.clone(), None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("set HF_TOKEN"),
        "{err}"
    );
    let err = Tokenizer::load("org/missing", &env_for(url.clone(), cache.clone(), None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 404"), "{err}");
    let tok = Tokenizer::load("gated/tok", &env_for(url, cache, Some("hf_secret")))
        .expect("with a token");
    assert_eq!(tok.vocab_size(), 128_000);
    let log = log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.ends_with("Authorization: Bearer hf_secret")),
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("/gated")).count(),
        3,
        "{log:?}"
    );
}
