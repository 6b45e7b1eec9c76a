//! The decoder on recorded-style streams, split at every byte, against the
//! `eventsource-stream` oracle.

use futures_util::StreamExt;
use servebench_client::{decode_all, Decoder, Event};
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/sse")
            .join(name),
    )
    .expect("fixture")
}

fn oracle(bytes: &[u8], cuts: &[usize]) -> Vec<(String, String, String)> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        pieces.push(Ok::<Vec<u8>, std::io::Error>(bytes[start..c].to_vec()));
        start = c;
    }
    let mut stream =
        eventsource_stream::Eventsource::eventsource(futures_util::stream::iter(pieces));
    futures_executor::block_on(async {
        let mut out = Vec::new();
        while let Some(event) = stream.next().await {
            let e = event.expect("well-formed");
            out.push((e.event, e.data, e.id));
        }
        out
    })
}

fn ours(events: &[Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| (e.event.clone(), e.data.clone(), e.id.clone()))
        .collect()
}

#[track_caller]
fn check(name: &str, expected_events: usize) {
    let bytes = fixture(name);
    let whole = decode_all(&bytes).expect("decodes");
    assert_eq!(whole.len(), expected_events, "{name}");
    assert_eq!(
        ours(&whole),
        oracle(&bytes, &[]),
        "{name}: oracle disagrees"
    );
    for cut in 0..=bytes.len() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.feed(&bytes[..cut], &mut out).expect("first part");
        d.feed(&bytes[cut..], &mut out).expect("second part");
        assert_eq!(out, whole, "{name}: split at byte {cut}");
        if cut % 7 == 0 {
            assert_eq!(
                ours(&out),
                oracle(&bytes, &[cut]),
                "{name}: oracle split at {cut}"
            );
        }
    }
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for b in &bytes {
        d.feed(std::slice::from_ref(b), &mut out)
            .expect("byte by byte");
    }
    assert_eq!(out, whole, "{name}: byte by byte");
}

#[test]
fn vllm_completion_stream() {
    check("vllm_completions.txt", 5);
    let events = decode_all(&fixture("vllm_completions.txt")).expect("decodes");
    assert!(events[2].data.contains(" is open 🙂"));
    assert_eq!(events[4].data, "[DONE]");
}

#[test]
fn sglang_chat_stream_with_crlf_and_keepalive() {
    check("sglang_chat_crlf.txt", 5);
}
