//! Trace loading from the reference corpus and the Hugging Face download
//! path (a scripted hub on 127.0.0.1), and prompt synthesis with the
//! DeepSeek-R1 tokenizer: exact token counts, shared prefixes, seeds.

use servebench_agentx::synth::{
    trace_conversation_ids, trace_streams, Role, StreamShape, Synthesizer,
};
use servebench_agentx::trace::{self, Request, Trace};
use servebench_prompts::Tokenizer;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn traces(name: &str) -> Vec<Trace> {
    trace::load_path(&shared().join("agentx/traces").join(name)).unwrap()
}

fn tokenizer() -> Arc<Tokenizer> {
    static TOK: OnceLock<Arc<Tokenizer>> = OnceLock::new();
    Arc::clone(TOK.get_or_init(|| {
        let dir = shared().join("tokenizers/deepseek-r1");
        Arc::new(Tokenizer::load(dir.to_str().unwrap(), &|_| None).unwrap())
    }))
}

fn synth(seed: u64) -> Arc<Synthesizer> {
    type BySeed = Mutex<Vec<(u64, Arc<Synthesizer>)>>;
    static SYNTH: OnceLock<BySeed> = OnceLock::new();
    let cache = SYNTH.get_or_init(|| Mutex::new(Vec::new()));
    let mut cache = cache.lock().unwrap();
    if let Some((_, s)) = cache.iter().find(|(s, _)| *s == seed) {
        return Arc::clone(s);
    }
    let s = Arc::new(Synthesizer::new(tokenizer(), seed).unwrap());
    cache.push((seed, Arc::clone(&s)));
    s
}

/// Blocks of turn `b` that turn `a`'s prompt shares with it, as §1.7 cuts
/// (full blocks only).
fn shared_blocks(a: &Request, b: &Request, block: u64) -> usize {
    let full = |r: &Request| r.hash_ids.len().min((r.input_tokens / block) as usize);
    a.hash_ids
        .iter()
        .zip(b.hash_ids.iter())
        .take_while(|(x, y)| x == y)
        .count()
        .min(full(a))
        .min(full(b))
}

#[test]
fn every_turn_has_exactly_in_tokens_and_shares_recorded_prefixes() {
    let s = synth(42);
    assert!(s.fast_decode(), "DeepSeek-R1 decodes by concatenation");
    assert!(s.corpus_tokens() > 30_000, "{}", s.corpus_tokens());
    let tok = tokenizer();
    for t in traces("tiny.jsonl") {
        let ids = trace_conversation_ids(&t);
        for shape in trace_streams(&t, &ids) {
            let turns = s.stream(&shape).unwrap();
            let token_ids = s.stream_token_ids(&shape).unwrap();
            let message_ids = s.stream_message_ids(&shape).unwrap();
            assert_eq!(turns.len(), shape.turns.len());
            for (k, req) in shape.turns.iter().enumerate() {
                let turn = &turns[k];
                assert_eq!(
                    turn.input_tokens, req.input_tokens,
                    "{} turn {k}",
                    shape.conversation_id
                );
                assert_eq!(token_ids[k].len() as u64, req.input_tokens);
                // Each message is its own ids decoded.
                assert_eq!(message_ids[k].len(), turn.messages.len());
                for (m, ids) in turn.messages.iter().zip(&message_ids[k]) {
                    assert_eq!(&*m.content, tok.decode(ids).unwrap());
                }
                assert_eq!(turn.messages.last().map(|m| m.role), Some(Role::User));
                if k == 0 {
                    assert!(!turn.reset_context);
                    continue;
                }
                // The shared hash-id prefix is the same token ids...
                let prev = shape.turns[k - 1];
                let n = shared_blocks(prev, req, u64::from(shape.block_size))
                    * shape.block_size as usize;
                assert_eq!(token_ids[k - 1][..n], token_ids[k][..n], "turn {k}");
                // ...and what follows it differs (new blocks or tail).
                let m = token_ids[k - 1].len().min(token_ids[k].len());
                if n < m {
                    assert_ne!(token_ids[k - 1][n..m], token_ids[k][n..m]);
                }
                // Messages kept whole are the same text (shared, not copied).
                let prev_msgs = &turns[k - 1].messages;
                let same = prev_msgs
                    .iter()
                    .zip(&turn.messages)
                    .take_while(|(a, b)| Arc::ptr_eq(&a.content, &b.content))
                    .count();
                assert_eq!(turn.reset_context, same < prev_msgs.len(), "turn {k}");
            }
        }
    }
}

#[test]
fn turn_zero_is_system_then_user_and_later_turns_precan_the_answer() {
    let s = synth(0);
    let t = &traces("tiny.jsonl")[0];
    let ids = trace_conversation_ids(t);
    let shape = &trace_streams(t, &ids)[0];
    let turns = s.stream(shape).unwrap();
    let roles = |k: usize| {
        turns[k]
            .messages
            .iter()
            .map(|m| m.role.as_str())
            .collect::<Vec<_>>()
    };
    // tool+system 356 tokens = 6 blocks; in 436 = 6 blocks + a 52-token tail.
    assert_eq!(roles(0), ["system", "user"]);
    // Turn 1 keeps blocks 0-5 (the user tail of turn 0 is dropped: a
    // reset); with no user message left the whole new region is user.
    assert_eq!(roles(1), ["system", "user"]);
    assert!(turns[1].reset_context);
    assert!(Arc::ptr_eq(
        &turns[0].messages[0].content,
        &turns[1].messages[0].content
    ));
    // Turn 2 keeps 9 blocks (cutting turn 1's tail: a reset), then
    // ceil(out 161 / 64) = 3 blocks of pre-canned answer, then the tail.
    assert_eq!(roles(2), ["system", "user", "assistant", "user"]);
    assert!(turns[2].reset_context);
    let msg_ids = s.stream_message_ids(shape).unwrap();
    let lens = |k: usize| msg_ids[k].iter().map(Vec::len).collect::<Vec<_>>();
    assert_eq!(lens(0), [384, 52]);
    assert_eq!(lens(1), [384, 611 - 384]);
    assert_eq!(lens(2), [384, 192, 192, 830 - 768]);
    assert_eq!(msg_ids[2][1][..], msg_ids[1][1][..192]);
}

#[test]
fn traces_differ_and_seeds_reproduce() {
    let t = traces("tiny.jsonl");
    let first_block = |s: &Synthesizer, t: &Trace| {
        let ids = trace_conversation_ids(t);
        let shape = &trace_streams(t, &ids)[0];
        s.stream_token_ids(shape).unwrap()[0][..64].to_vec()
    };
    let (a, b) = (synth(1), synth(2));
    // Hash id 0 of two traces: different blocks.
    assert_ne!(first_block(&a, &t[0]), first_block(&a, &t[1]));
    // Another seed: different blocks; the same seed: the same messages.
    assert_ne!(first_block(&a, &t[0]), first_block(&b, &t[0]));
    let again = Synthesizer::new(tokenizer(), 1).unwrap();
    let ids = trace_conversation_ids(&t[2]);
    let shapes = trace_streams(&t[2], &ids);
    assert_eq!(
        a.streams(&shapes, 3).unwrap(),
        again.streams(&shapes, 1).unwrap()
    );
}

#[test]
fn a_subagent_reuses_the_parents_blocks() {
    // A hand-made trace: the subagent's first prompt starts with the root's
    // blocks 0-2, then its own.
    let line = r#"{"id":"S","models":["m"],"block_size":64,"hash_id_scope":"local","tool_tokens":64,"system_tokens":0,"requests":[{"t":0,"type":"s","model":"m","in":256,"out":10,"hash_ids":[0,1,2,3]},{"t":1,"type":"subagent","agent_id":"a1","subagent_type":"Explore","duration_ms":5,"total_tokens":1,"tool_use_count":null,"status":"completed","models":["m"],"requests":[{"t":1,"type":"n","model":"m","in":300,"out":5,"hash_ids":[0,1,2,9,10]}],"tool_tokens":0,"system_tokens":0}]}"#;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentx-subagent");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s.json"), line).unwrap();
    let t = trace::load_path(&dir.join("s.json")).unwrap();
    let ids = trace_conversation_ids(&t[0]);
    assert_eq!(ids, ["S", "S::sa:a1"]);
    let shapes = trace_streams(&t[0], &ids);
    let s = synth(7);
    let root = s.stream_token_ids(&shapes[0]).unwrap();
    let sub = s.stream_token_ids(&shapes[1]).unwrap();
    assert_eq!(root[0][..192], sub[0][..192]);
    assert_ne!(root[0][192..256], sub[0][192..256]);
    assert_eq!(sub[0].len(), 300);
    let msgs = s.stream(&shapes[1]).unwrap();
    assert_eq!(msgs[0].messages.len(), 1, "no prefix: one user message");
}

#[test]
fn medium_corpus_all_streams_exact() {
    let s = synth(42);
    let all = traces("medium.jsonl");
    let ids: Vec<Vec<String>> = all.iter().map(trace_conversation_ids).collect();
    let shapes: Vec<StreamShape> = all
        .iter()
        .zip(&ids)
        .flat_map(|(t, ids)| trace_streams(t, ids))
        .collect();
    assert_eq!(shapes.len(), 40 + 81);
    let began = std::time::Instant::now();
    let out = s.streams(&shapes, 2).unwrap();
    let took = began.elapsed();
    let mut turns = 0;
    for (shape, stream) in shapes.iter().zip(&out) {
        for (req, turn) in shape.turns.iter().zip(stream) {
            assert_eq!(turn.input_tokens, req.input_tokens);
            turns += 1;
        }
    }
    assert_eq!(turns, 1421);
    let _ = writeln!(std::io::stderr(), "medium: {turns} turns in {took:?}");
}

/// Serves `max` requests of a dataset hub, recording the paths.
fn mock_hub(max: usize, body: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            seen.lock().unwrap().push(path.clone());
            let (status, body) = if path
                == "/datasets/semianalysisai/cc-traces-weka-062126/resolve/main/traces.jsonl"
            {
                ("200 OK", body.clone())
            } else {
                ("404 Not Found", b"{}".to_vec())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nX-Repo-Commit: 0abc123\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (url, log)
}

#[test]
fn a_dataset_missing_from_the_cache_is_downloaded_once() {
    let body = std::fs::read(shared().join("agentx/traces/tiny.jsonl")).unwrap();
    let (url, log) = mock_hub(2, body);
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentx-hf-download");
    let _ = std::fs::remove_dir_all(&cache);
    let env = |k: &str| match k {
        "HF_HUB_CACHE" => Some(cache.display().to_string()),
        "HF_ENDPOINT" => Some(url.clone()),
        _ => None,
    };
    let t = trace::load_hf_dataset("semianalysis_cc_traces_weka_062126", &env).unwrap();
    assert_eq!(t.len(), 3);
    assert!(cache
        .join("datasets--semianalysisai--cc-traces-weka-062126/snapshots/0abc123/traces.jsonl")
        .is_file());
    // Now from the cache: no second request.
    let t = trace::load_hf_dataset("semianalysis_cc_traces_weka_062126", &env).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(log.lock().unwrap().len(), 1);
    let err = trace::load_hf_dataset("semianalysis_cc_traces_weka_061326", &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 404"), "{err}");
}

#[test]
fn a_tokenizer_that_does_not_decode_by_concatenation_decodes_each_segment() {
    // A word-level tokenizer without a decoder: decode joins words with
    // spaces, so per-token texts do not concatenate to the decoded text.
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"WhitespaceSplit"},"post_processor":null,"decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0,"fn":1,"let":2,"the":3,"if":4,"return":5,"def":6,"self":7},"unk_token":"[UNK]"}}"#;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentx-wordlevel");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokenizer.json");
    std::fs::write(&file, json).unwrap();
    let tok = Arc::new(Tokenizer::load(file.to_str().unwrap(), &|_| None).unwrap());
    let s = Synthesizer::new(Arc::clone(&tok), 3).unwrap();
    assert!(!s.fast_decode());
    let t = &traces("tiny.jsonl")[1];
    let ids = trace_conversation_ids(t);
    for shape in trace_streams(t, &ids) {
        let turns = s.stream(&shape).unwrap();
        let msg_ids = s.stream_message_ids(&shape).unwrap();
        for ((req, turn), ids) in shape.turns.iter().zip(&turns).zip(&msg_ids) {
            assert_eq!(turn.input_tokens, req.input_tokens);
            assert_eq!(
                ids.iter().map(Vec::len).sum::<usize>() as u64,
                req.input_tokens
            );
            for (m, ids) in turn.messages.iter().zip(ids) {
                assert_eq!(&*m.content, tok.decode(ids).unwrap());
            }
        }
    }
}
