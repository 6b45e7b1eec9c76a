//! Servers that try to take the client's memory or never finish, and
//! streams cut short, against scripted servers on 127.0.0.1: each such
//! request fails with an error naming its cap or the cut, and the request
//! beside it in the same run still succeeds.

mod support;

use servebench_client::{
    self as run, ClientError, Kind, PreparedRequest, RunOptions, CUT_OPENAI, CUT_TGI,
    MAX_BODY_BYTES, MAX_EVENT_BYTES, MAX_LINE_BYTES, MAX_TEXT_BYTES,
};
use servebench_metrics::RequestOutput;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "data: {\"choices\": [{\"text\": \"a\"}]}\n\n";
const EMPTY_TOKEN: &str = "data: {\"choices\": [{\"text\": \"\"}]}\n\n";
const USAGE: &str = "data: {\"choices\": [], \"usage\": {\"completion_tokens\": 1}}\n\n";
const DONE: &str = "data: [DONE]\n\n";
const DELTA: &str = "data: {\"choices\": [{\"delta\": {\"content\": \"a\"}}]}\n\n";
/// What a server that never stops may send at most, so a test without the
/// caps would still end.
const ENDLESS: usize = 1 << 30;

/// Every connection on its own thread (`support::serve`): one request,
/// one scripted answer chosen by the `case` in the request body, then close.
fn serve() -> u16 {
    support::serve(connection)
}

fn connection(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = support::read_request(&mut reader)? else {
        return Ok(());
    };
    let body = String::from_utf8_lossy(&request.body);
    let case = body
        .split("\"case\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("");
    respond(case, &mut { stream })
}

fn chunked_head(out: &mut TcpStream) -> std::io::Result<()> {
    out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
}

/// A body that ends when the connection closes (no length, not chunked).
fn close_head(out: &mut TcpStream) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
    )
}

fn chunk(out: &mut TcpStream, piece: &[u8]) -> std::io::Result<()> {
    out.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
    out.write_all(piece)?;
    out.write_all(b"\r\n")
}

/// A chunked stream, ended properly.
fn stream(out: &mut TcpStream, pieces: &[&str]) -> std::io::Result<()> {
    chunked_head(out)?;
    for piece in pieces {
        chunk(out, piece.as_bytes())?;
    }
    out.write_all(b"0\r\n\r\n")
}

/// `piece` over and over, in 64 KiB chunks, until `limit` bytes were sent
/// or the client hung up.
fn flood(out: &mut TcpStream, piece: &str, limit: usize) -> std::io::Result<()> {
    let batch = piece.repeat((64 << 10) / piece.len().max(1) + 1);
    let mut sent = 0;
    while sent < limit {
        chunk(out, batch.as_bytes())?;
        sent += batch.len();
    }
    Ok(())
}

fn respond(case: &str, out: &mut TcpStream) -> std::io::Result<()> {
    match case {
        "ok" => stream(out, &[TOKEN, TOKEN, USAGE, DONE]),
        // One 50 MB line.
        "line" => {
            chunked_head(out)?;
            chunk(out, b"data: ")?;
            flood(out, "x", 50_000_000)?;
            chunk(out, b"\n\n")?;
            out.write_all(b"0\r\n\r\n")
        }
        // One event of 64 KiB `data:` lines that never ends.
        "event" => {
            let line = format!("data: {}\n", "x".repeat(64 << 10));
            chunked_head(out)?;
            flood(out, &line, ENDLESS)
        }
        // Two million tiny token frames.
        "frames" => {
            chunked_head(out)?;
            flood(out, EMPTY_TOKEN, 2_000_000 * EMPTY_TOKEN.len())
        }
        // Chat deltas of 8 KiB each, for ever.
        "endless-text" => {
            let delta = DELTA.replace("\"a\"", &format!("\"{}\"", "x".repeat(8 << 10)));
            chunked_head(out)?;
            flood(out, &delta, ENDLESS)
        }
        // Keep-alive comments every 20 ms for ever (10 s here).
        "trickle" => {
            chunked_head(out)?;
            for _ in 0..500 {
                chunk(out, b": keep-alive\n\n")?;
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
        "stall" => {
            chunked_head(out)?;
            std::thread::sleep(Duration::from_secs(3));
            Ok(())
        }
        "cut-clean" => stream(out, &[TOKEN, TOKEN]),
        "cut-close" => {
            close_head(out)?;
            out.write_all(TOKEN.as_bytes())
        }
        "cut-mid-frame" => {
            chunked_head(out)?;
            chunk(out, TOKEN.as_bytes())?;
            out.write_all(b"40\r\ndata: {\"choi")
        }
        "cut-mid-event" => {
            close_head(out)?;
            out.write_all(format!("{TOKEN}data: {{\"choices\": [{{\"te").as_bytes())
        }
        "done-unterminated" => {
            close_head(out)?;
            out.write_all(format!("{TOKEN}data: [DONE]").as_bytes())
        }
        "usage-no-done" => stream(out, &[TOKEN, USAGE]),
        "done-no-usage" => stream(out, &[TOKEN, DONE]),
        "chat-ok" => stream(out, &[DELTA, USAGE, DONE]),
        "chat-cut" => stream(out, &[DELTA, DELTA]),
        "chat-done-only" => stream(out, &[DONE]),
        "chat-empty" => stream(out, &[]),
        "tgi-ok" => stream(
            out,
            &[
                "data:{\"token\":{\"text\":\"a\"},\"generated_text\":null}\n\n",
                "data:{\"token\":{\"text\":\"b\"},\"generated_text\":\"ab\"}\n\n",
            ],
        ),
        "tgi-cut" => stream(
            out,
            &["data:{\"token\":{\"text\":\"a\"},\"generated_text\":null}\n\n"],
        ),
        "trt-ok" => stream(
            out,
            &[
                "data:{\"text_output\":\"p\"}\n\n",
                "data:{\"text_output\":\"q\"}\n\n",
            ],
        ),
        "trt-cut" => {
            chunked_head(out)?;
            chunk(out, b"data:{\"text_output\":\"p\"}\n\n")?;
            out.write_all(b"20\r\ndata:{\"text_")
        }
        "mii-ok" => stream(out, &["{\"text\": [\"whole answer\"]}"]),
        "mii-huge" => {
            chunked_head(out)?;
            chunk(out, b"{\"text\": [\"")?;
            flood(out, "x", ENDLESS)
        }
        "mii-truncated" => {
            close_head(out)?;
            out.write_all(b"{\"text\": [\"whole ans")
        }
        "mii-short" => out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"text\": ["),
        _ => out.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
    }
}

/// Runs one request per case, all at once, against one scripted server.
fn go(kind: Kind, cases: &[&str], read_timeout: f64, total_timeout: f64) -> Vec<RequestOutput> {
    let port = serve();
    let opts = RunOptions {
        kind,
        api_url: format!("http://127.0.0.1:{port}/generate"),
        authorization: String::new(),
        max_concurrency: None,
        reuse_connections: true,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs_f64(read_timeout),
        total_timeout: Duration::from_secs_f64(total_timeout),
        interrupt_grace: Duration::from_secs(1),
        ca_file: None,
    };
    let requests: Vec<PreparedRequest> = cases
        .iter()
        .map(|case| PreparedRequest {
            body: format!("{{\"case\": \"{case}\"}}").into(),
            prompt_len: 1,
        })
        .collect();
    let gaps = vec![None; requests.len()];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = runtime
        .block_on(run::run(
            opts,
            requests,
            &gaps,
            Arc::new(run::Quiet),
            std::future::pending(),
        ))
        .expect("run");
    assert_eq!(outcome.outputs.len(), cases.len());
    outcome.outputs
}

/// `expected[i]`: `Ok(text)` for a success with that text, `Err(start)` for
/// a failure whose error starts with `start`.
#[track_caller]
fn check(outputs: &[RequestOutput], cases: &[&str], expected: &[Result<&str, &str>]) {
    for ((out, case), want) in outputs.iter().zip(cases).zip(expected) {
        match want {
            Ok(text) => {
                assert!(out.success, "{case}: {}", out.error);
                assert_eq!(out.generated_text, *text, "{case}");
            }
            Err(start) => {
                assert!(!out.success, "{case} succeeded");
                assert!(
                    out.error.starts_with(start),
                    "{case}: {:?} does not start with {start:?}",
                    out.error
                );
            }
        }
    }
}

#[test]
fn a_50_mb_line_and_an_endless_event_fail_their_request_only() {
    let cases = ["line", "event", "ok"];
    let outputs = go(Kind::Completions, &cases, 10.0, 60.0);
    let line = ClientError::LineTooLong {
        limit: MAX_LINE_BYTES,
        offset: 0,
    }
    .to_string();
    // The event's 16th line of 64 KiB takes it past 1 MiB (with the 15
    // `\n` that join the lines).
    let event = ClientError::EventTooLarge {
        limit: MAX_EVENT_BYTES,
        offset: 15 * ((64 << 10) + 7),
    }
    .to_string();
    check(&outputs, &cases, &[Err(&line), Err(&event), Ok("aa")]);
    assert_eq!(
        line,
        "a line of the event stream (from byte 0) exceeds the 1 MiB line cap"
    );
}

#[test]
fn two_million_frames_end_at_the_event_cap() {
    let cases = ["frames", "ok"];
    let outputs = go(Kind::Completions, &cases, 10.0, 120.0);
    let cap = ClientError::Events { limit: 1 << 20 }.to_string();
    check(&outputs, &cases, &[Err(&cap), Ok("aa")]);
    assert_eq!(
        cap,
        "the stream exceeded 1048576 events, the per-request cap"
    );
    // What it kept stayed within the cap: one ITL entry per token chunk.
    assert!(outputs[0].itl.len() < 1 << 20);
}

#[test]
fn an_endless_stream_ends_at_the_text_cap() {
    let cases = ["endless-text", "chat-ok"];
    let outputs = go(Kind::Chat, &cases, 10.0, 60.0);
    let cap = ClientError::Text {
        limit: MAX_TEXT_BYTES,
    }
    .to_string();
    check(&outputs, &cases, &[Err(&cap), Ok("a")]);
    assert!(outputs[0].generated_text.len() <= MAX_TEXT_BYTES);
}

#[test]
fn a_whole_body_past_its_cap_fails() {
    let cases = ["mii-huge", "mii-ok"];
    let outputs = go(Kind::DeepspeedMii, &cases, 10.0, 60.0);
    let cap = ClientError::Body {
        limit: MAX_BODY_BYTES,
    }
    .to_string();
    check(&outputs, &cases, &[Err(&cap), Ok("whole answer")]);
    assert_eq!(
        cap,
        "the response body exceeded 16 MiB, the cap on a whole response"
    );
}

#[test]
fn a_trickle_ends_at_the_total_timeout_and_a_stall_at_the_read_timeout() {
    let cases = ["trickle", "stall", "ok"];
    let outputs = go(Kind::Completions, &cases, 0.5, 1.5);
    check(
        &outputs,
        &cases,
        &[
            Err("the request did not finish within 1.5s"),
            Err("the stream stalled: no data for 500ms"),
            Ok("aa"),
        ],
    );
}

#[test]
fn cut_streams_per_backend() {
    let cut = "the stream was cut: ";
    let cut_in_event = "the stream was cut inside its last event: JSONDecodeError";
    let cases = [
        "cut-clean",
        "cut-close",
        "cut-mid-frame",
        "cut-mid-event",
        "done-unterminated",
        "usage-no-done",
        "done-no-usage",
    ];
    let outputs = go(Kind::Completions, &cases, 10.0, 60.0);
    check(
        &outputs,
        &cases,
        &[
            Err(CUT_OPENAI),
            Err(CUT_OPENAI),
            Err(cut),
            Err(cut_in_event),
            Ok("a"),
            Ok("a"),
            Ok("a"),
        ],
    );
    assert_eq!(outputs[5].output_tokens, Some(1));
    // The original's quirk: without a usage report it stays 0 (SPEC §6.6).
    assert_eq!(outputs[6].output_tokens, Some(0));

    let cases = ["chat-cut", "chat-empty", "chat-done-only", "chat-ok"];
    let outputs = go(Kind::Chat, &cases, 10.0, 60.0);
    check(
        &outputs,
        &cases,
        &[Err(CUT_OPENAI), Err(CUT_OPENAI), Ok(""), Ok("a")],
    );

    let cases = ["tgi-cut", "tgi-ok"];
    let outputs = go(Kind::Tgi, &cases, 10.0, 60.0);
    check(&outputs, &cases, &[Err(CUT_TGI), Ok("ab")]);

    // TensorRT-LLM has no end marker: the HTTP framing tells a cut.
    let cases = ["trt-cut", "trt-ok"];
    let outputs = go(Kind::TensorrtLlm, &cases, 10.0, 60.0);
    check(&outputs, &cases, &[Err(cut), Ok("pq")]);

    let cases = ["mii-truncated", "mii-short", "mii-ok"];
    let outputs = go(Kind::DeepspeedMii, &cases, 10.0, 60.0);
    check(
        &outputs,
        &cases,
        &[Err("JSONDecodeError"), Err(cut), Ok("whole answer")],
    );
}
