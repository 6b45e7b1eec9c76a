//! The runner's scheduling against a scripted server on 127.0.0.1: the
//! concurrency limit and its first-come order, arrival pacing, interrupts
//! with their grace, endless streamed runs, and a request whose task
//! panics. The server answers each request (one per connection) after the
//! delay its body asks for, with the request's own number as the text, and
//! records when each request arrived and how many were in flight.

mod support;

use servebench_client::{Client, Kind, Observer, PreparedRequest, RunOptions};
use servebench_metrics::RequestOutput;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Log {
    /// (request number, seconds since the server started) per arrival.
    arrivals: Vec<(usize, f64)>,
    in_flight: usize,
    most_in_flight: usize,
}

struct Server {
    port: u16,
    log: Arc<Mutex<Log>>,
}

fn serve() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = Arc::new(Mutex::new(Log::default()));
    let shared = Arc::clone(&log);
    let start = Instant::now();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = Arc::clone(&shared);
            std::thread::spawn(move || {
                let _ = connection(stream, &log, start);
            });
        }
    });
    Server { port, log }
}

fn field(body: &str, name: &str) -> u64 {
    body.split(&format!("\"{name}\": "))
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn connection(stream: TcpStream, log: &Mutex<Log>, start: Instant) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = support::read_request(&mut reader)? else {
        return Ok(());
    };
    let body = String::from_utf8_lossy(&request.body);
    let n = field(&body, "n") as usize;
    let delay = Duration::from_millis(field(&body, "delay_ms"));
    {
        let mut log = log.lock().expect("log");
        log.arrivals.push((n, start.elapsed().as_secs_f64()));
        log.in_flight += 1;
        log.most_in_flight = log.most_in_flight.max(log.in_flight);
    }
    std::thread::sleep(delay);
    log.lock().expect("log").in_flight -= 1;
    let mut out = stream;
    let text = format!("data: {{\"choices\": [{{\"text\": \"{n}\"}}]}}\n\ndata: [DONE]\n\n");
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )
}

fn options(port: u16, max_concurrency: Option<usize>, grace: Duration) -> RunOptions {
    RunOptions {
        kind: Kind::Completions,
        api_url: format!("http://127.0.0.1:{port}/v1/completions"),
        authorization: String::new(),
        max_concurrency,
        reuse_connections: true,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        total_timeout: Duration::from_secs(20),
        interrupt_grace: grace,
        ca_file: None,
    }
}

fn request(n: usize, delay_ms: u64) -> PreparedRequest {
    PreparedRequest {
        body: format!("{{\"n\": {n}, \"delay_ms\": {delay_ms}}}").into(),
        prompt_len: 7,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Counts what the runner tells its observer.
#[derive(Default)]
struct Count {
    started: AtomicUsize,
    finished: AtomicUsize,
}

impl Observer for Count {
    fn started(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn finished(&self, _output: &RequestOutput, _lag: f64) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn the_concurrency_limit_holds_and_slots_go_first_come() {
    let server = serve();
    let requests: Vec<PreparedRequest> = (0..24).map(|n| request(n, 20)).collect();
    let gaps = vec![None; requests.len()];
    let count = Arc::new(Count::default());
    let client =
        Client::new(options(server.port, Some(3), Duration::from_secs(1))).expect("client");
    let observer: Arc<dyn Observer> = count.clone();
    let outcome = runtime()
        .block_on(client.run(requests, &gaps, observer, std::future::pending()))
        .expect("run");
    assert_eq!(outcome.outputs.len(), 24);
    for (n, out) in outcome.outputs.iter().enumerate() {
        assert!(out.success, "{n}: {}", out.error);
        // Each output is filed under its own request.
        assert_eq!(out.generated_text, n.to_string());
        assert_eq!(out.prompt_len, 7);
    }
    assert!(!outcome.interrupted);
    assert_eq!(count.started.load(Ordering::SeqCst), 24);
    assert_eq!(count.finished.load(Ordering::SeqCst), 24);
    let log = server.log.lock().expect("log");
    assert_eq!(log.most_in_flight, 3);
    // First come, first served: request k is sent only once k - 3 ended,
    // so it cannot reach the server before any of the first k - 3.
    let order: Vec<usize> = log.arrivals.iter().map(|&(n, _)| n).collect();
    for (position, &n) in order.iter().enumerate() {
        assert!(n + 3 > position && position + 3 > n, "{order:?}");
    }
    // 8 rounds of 20 ms at the least.
    assert!(outcome.duration >= 0.16, "{}", outcome.duration);
}

#[test]
fn arrivals_keep_their_schedule() {
    let server = serve();
    let requests: Vec<PreparedRequest> = (0..6).map(|n| request(n, 1)).collect();
    let gaps = vec![Some(0.05); requests.len()];
    let client = Client::new(options(server.port, None, Duration::from_secs(1))).expect("client");
    let outcome = runtime()
        .block_on(client.run(
            requests,
            &gaps,
            Arc::new(servebench_client::Quiet),
            std::future::pending(),
        ))
        .expect("run");
    assert!(outcome.outputs.iter().all(|o| o.success));
    let log = server.log.lock().expect("log");
    let mut arrivals = log.arrivals.clone();
    arrivals.sort_by_key(|&(n, _)| n);
    let first = arrivals[0].1;
    for &(n, at) in &arrivals {
        // Due at n × 50 ms after the first: never early, and (deadlines
        // being absolute, not sleeps that add up) not drifting late.
        let due = n as f64 * 0.05;
        assert!(at - first >= due - 0.02, "{n}: {arrivals:?}");
        assert!(at - first < due + 0.2, "{n}: {arrivals:?}");
    }
}

#[test]
fn an_interrupt_launches_nothing_more_and_fails_what_outlives_the_grace() {
    let server = serve();
    // Two quick requests, then slow ones (2 s), one every 50 ms; the
    // interrupt comes at 125 ms: 0 and 1 are done, 2 is in flight.
    let requests: Vec<PreparedRequest> = (0..40)
        .map(|n| request(n, if n < 2 { 0 } else { 2000 }))
        .collect();
    let gaps = vec![Some(0.05); requests.len()];
    let client =
        Client::new(options(server.port, None, Duration::from_millis(200))).expect("client");
    let started = Instant::now();
    let outcome = runtime()
        .block_on(async {
            let stop = tokio::time::sleep(Duration::from_millis(125));
            let quiet = Arc::new(servebench_client::Quiet);
            client.run(requests, &gaps, quiet, stop).await
        })
        .expect("run");
    // The grace (200 ms) ends the run, not the slow answers (2 s).
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(outcome.interrupted);
    assert_eq!(outcome.outputs.len(), 3, "{:?}", outcome.outputs);
    assert!(outcome.outputs[0].success && outcome.outputs[1].success);
    for out in &outcome.outputs[2..] {
        assert!(!out.success);
        assert_eq!(out.error, "interrupted before the answer was complete");
        assert_eq!(out.prompt_len, 7);
    }
    assert_eq!(server.log.lock().expect("log").arrivals.len(), 3);
}

#[test]
fn an_endless_stream_runs_until_stopped_and_hands_on_every_answer() {
    let server = serve();
    let client =
        Client::new(options(server.port, Some(4), Duration::from_secs(2))).expect("client");
    let endless = (0..).map(|n| (request(n, 2), None));
    let mut seen: Vec<usize> = Vec::new();
    let mut sink = |index: usize, output: RequestOutput| {
        assert!(output.success, "{index}: {}", output.error);
        assert_eq!(output.generated_text, index.to_string());
        seen.push(index);
    };
    let done = runtime().block_on(async {
        let stop = tokio::time::sleep(Duration::from_millis(300));
        let quiet = Arc::new(servebench_client::Quiet);
        client.run_stream(endless, quiet, &mut sink, stop).await
    });
    assert!(done.interrupted);
    assert!(done.launched >= 8, "{}", done.launched);
    seen.sort_unstable();
    // Everything launched was handed on, once; nothing else.
    assert_eq!(seen, (0..done.launched).collect::<Vec<_>>());
}

/// Panics when the request numbered `bad` starts (its task dies).
struct PanicOn {
    calls: AtomicUsize,
    bad: usize,
}

impl Observer for PanicOn {
    fn started(&self) {
        if self.calls.fetch_add(1, Ordering::SeqCst) == self.bad {
            panic!("an observer failed");
        }
    }
}

#[test]
fn a_request_whose_task_panics_fails_alone() {
    let server = serve();
    let requests: Vec<PreparedRequest> = (0..6).map(|n| request(n, 5)).collect();
    let gaps = vec![None; requests.len()];
    let client =
        Client::new(options(server.port, Some(1), Duration::from_secs(1))).expect("client");
    let observer = Arc::new(PanicOn {
        calls: AtomicUsize::new(0),
        bad: 2,
    });
    let outcome = runtime()
        .block_on(client.run(requests, &gaps, observer, std::future::pending()))
        .expect("run");
    assert_eq!(outcome.outputs.len(), 6);
    for (n, out) in outcome.outputs.iter().enumerate() {
        if n == 2 {
            assert!(!out.success);
            assert!(
                out.error.starts_with("request task failed"),
                "{}",
                out.error
            );
            assert_eq!(out.prompt_len, 7);
        } else {
            assert!(out.success, "{n}: {}", out.error);
            assert_eq!(out.generated_text, n.to_string());
        }
    }
}
