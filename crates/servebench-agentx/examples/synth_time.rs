//! Times prompt synthesis for a trace file: tokenizer load, corpus
//! preparation and every stream's messages.
//!
//! `cargo run --release -p servebench-agentx --example synth_time --
//! TOKENIZER TRACES [THREADS]`; with `SYNTH_DRIFT=1` it also re-encodes
//! each stream's last turn and reports the token drift (the text need not
//! round-trip; the SPEC observed `in + 10..13` on the wire).

use servebench_agentx::synth::{trace_conversation_ids, trace_streams, StreamShape, Synthesizer};
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(tok), Some(path)) = (args.get(1), args.get(2)) else {
        return Err("usage: synth_time TOKENIZER TRACES [THREADS]".into());
    };
    let threads: usize = args.get(3).map_or(Ok(2), |t| t.parse())?;
    let mut out = std::io::stdout().lock();
    let t0 = Instant::now();
    let traces = servebench_agentx::trace::load_path(std::path::Path::new(path))?;
    let t1 = Instant::now();
    let env = |k: &str| std::env::var(k).ok();
    let tokenizer = Arc::new(servebench_prompts::Tokenizer::load(tok, &env)?);
    let tok_for_drift = Arc::clone(&tokenizer);
    let t2 = Instant::now();
    let synth = Synthesizer::new(tokenizer, 42)?;
    let t3 = Instant::now();
    let ids: Vec<Vec<String>> = traces.iter().map(trace_conversation_ids).collect();
    let shapes: Vec<StreamShape> = traces
        .iter()
        .zip(&ids)
        .flat_map(|(t, ids)| trace_streams(t, ids))
        .collect();
    let streams = synth.streams(&shapes, threads)?;
    let t4 = Instant::now();
    let (mut turns, mut tokens, mut unique_bytes) = (0usize, 0u64, 0usize);
    let mut seen = HashSet::new();
    for turn in streams.iter().flatten() {
        turns += 1;
        tokens += turn.input_tokens;
        for m in &turn.messages {
            if seen.insert(Arc::as_ptr(&m.content) as *const u8 as usize) {
                unique_bytes += m.content.len();
            }
        }
    }
    writeln!(
        out,
        "{} traces, {} streams, {turns} turns, {tokens} prompt tokens; corpus {} tokens (fast decode {})",
        traces.len(),
        shapes.len(),
        synth.corpus_tokens(),
        synth.fast_decode()
    )?;
    writeln!(
        out,
        "load traces {:.3}s, load tokenizer {:.3}s, corpus {:.3}s, messages ({threads} threads) {:.3}s; distinct message text {:.1} MB",
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64(),
        (t4 - t3).as_secs_f64(),
        unique_bytes as f64 / 1e6
    )?;
    if std::env::var("SYNTH_DRIFT").is_ok_and(|v| v == "1") {
        let (mut recorded, mut encoded) = (0u64, 0u64);
        for turn in streams.iter().filter_map(|s| s.last()) {
            recorded += turn.input_tokens;
            for m in &turn.messages {
                encoded += tok_for_drift.encode(&m.content)?.len() as u64;
            }
        }
        writeln!(
            out,
            "re-encoded last turns: {encoded} tokens for {recorded} ids ({:+.3}%)",
            (encoded as f64 - recorded as f64) * 100.0 / recorded.max(1) as f64
        )?;
    }
    Ok(())
}
