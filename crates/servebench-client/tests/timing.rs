//! Token times are when the tokens' bytes reached the machine (the
//! kernel's receive time), not when a busy client got round to reading
//! them: a scripted server on 127.0.0.1 streams two tokens 50 and 250 ms
//! after each request while the client's only runtime thread is blocked
//! from 20 to 170 ms.

mod support;

use servebench_client::{Client, Kind, Observer, PreparedRequest, RunOptions};
use servebench_metrics::RequestOutput;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

fn connection(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    while support::read_request(&mut reader)?.is_some() {
        out.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        )?;
        let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
        std::thread::sleep(Duration::from_millis(50));
        out.write_all(chunk("data: {\"choices\": [{\"text\": \"a\"}]}\n\n").as_bytes())?;
        std::thread::sleep(Duration::from_millis(200));
        out.write_all(chunk("data: {\"choices\": [{\"text\": \"b\"}]}\n\n").as_bytes())?;
        out.write_all(chunk("data: [DONE]\n\n").as_bytes())?;
        out.write_all(b"0\r\n\r\n")?;
    }
    Ok(())
}

struct Quiet;

impl Observer for Quiet {
    fn started(&self) {}
    fn finished(&self, _output: &RequestOutput, _lag: f64) {}
}

#[test]
fn tokens_are_timed_when_they_arrived_not_when_a_busy_client_read_them() {
    let port = support::serve(connection);
    let client = Client::new(RunOptions {
        kind: Kind::Completions,
        api_url: format!("http://127.0.0.1:{port}/v1/completions"),
        authorization: String::new(),
        max_concurrency: None,
        reuse_connections: false,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        total_timeout: Duration::from_secs(20),
        interrupt_grace: Duration::from_secs(1),
        ca_file: None,
    })
    .expect("client");
    // One thread: blocking it stops the whole client.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let request = || PreparedRequest {
        body: "{}".into(),
        prompt_len: 1,
    };
    let run = |block: bool| {
        runtime.block_on(async {
            if block {
                tokio::spawn(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    std::thread::sleep(Duration::from_millis(150));
                });
            }
            let outcome = client
                .run(
                    vec![request()],
                    &[None],
                    Arc::new(Quiet),
                    std::future::pending(),
                )
                .await
                .expect("run");
            outcome.outputs.into_iter().next().expect("one output")
        })
    };
    // The kernel turns receive timestamps on for the machine in deferred
    // work when a socket first asks: a first exchange makes sure it has.
    let first = run(false);
    assert!(first.success, "{}", first.error);
    std::thread::sleep(Duration::from_millis(50));
    let out = run(true);
    assert!(out.success, "{}", out.error);
    if cfg!(target_os = "linux") {
        // The first token came at 50 ms and was read at 170 ms or later.
        assert!(
            out.ttft >= 0.045 && out.ttft < 0.14,
            "TTFT {} s: the time the token was read, not when it came",
            out.ttft
        );
        // The second came 200 ms after the first, 80 ms after it was read.
        assert_eq!(out.itl.len(), 1);
        assert!(
            out.itl[0] >= 0.17,
            "ITL {} s: the tokens came 200 ms apart",
            out.itl[0]
        );
        assert!(
            out.latency >= out.ttft + out.itl[0] - 1e-9,
            "latency {} s, TTFT {} s, ITL {} s",
            out.latency,
            out.ttft,
            out.itl[0]
        );
    }
}
