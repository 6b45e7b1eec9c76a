//! Prompt synthesis from hash ids (SPEC §1.6-1.7): each turn of a stream
//! becomes chat messages whose token ids number exactly the recorded `in`,
//! with identical content wherever the recorded hash ids are identical, so
//! that a prefix-caching server sees the recorded reuse.
//!
//! How: a fixed text corpus (generated here, code-flavoured, from our own
//! word lists and `datasets/sonnet.txt`) is tokenized once with the model
//! tokenizer into `C` (`N` ids). Hash id `h` of trace `T` is the
//! `block_size` ids of `C` from `start = u64(sha256("{seed}:{T}:{h}")[..8])
//! scaled into [0, N)`, wrapping around; the partial tail of a turn comes
//! from a start keyed by `(conversation id, turn index, "partial_tail")`.
//! The bytes are not aiperf's (its Mersenne-Twister draws and corpus are
//! not reproduced); the properties are.
//!
//! Text: when the tokenizer decodes by concatenating per-token strings
//! (byte-level BPE without clean-up, checked once over all of `C`), a
//! segment's text is a concatenation of corpus slices and costs a memcpy;
//! otherwise each segment is decoded from its ids with the tokenizer.
//! Segments (a message's content) are decoded on their own, as they are
//! separate messages; every segment but the trailing one is whole blocks.
//!
//! Segment contents are `Arc<str>` shared by every turn that carries them.

use crate::trace::Request;
use crate::AgentxError;
use servebench_prompts::Tokenizer;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A chat role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The OpenAI `role` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message; contents are shared between turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: Arc<str>,
}

/// The messages of one turn (the full list to send, SPEC §1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnMessages {
    pub messages: Vec<Message>,
    /// The number of token ids the messages were built from: exactly the
    /// turn's recorded `in`.
    pub input_tokens: u64,
    /// The truncation at this turn cut into or dropped segments sent
    /// before (a compaction, or a partial last block re-hashed), so the
    /// whole list is new to the server, not an append.
    pub reset_context: bool,
}

/// What one stream (root or subagent chain) looks like.
#[derive(Debug, Clone)]
pub struct StreamShape<'a> {
    /// The trace id: block content is keyed by (trace, hash id).
    pub trace_id: &'a str,
    /// The conversation id: partial tails are keyed by (conversation, turn).
    pub conversation_id: &'a str,
    /// Tool + system tokens of this stream (the turn-0 system message is
    /// `ceil(prefix_tokens / block_size)` blocks; 0 = no system message).
    pub prefix_tokens: u64,
    pub block_size: u32,
    /// The stream's requests, in order.
    pub turns: Vec<&'a Request>,
}

/// The token corpus `C` and, when decoding is concatenation, its text.
struct Corpus {
    ids: Vec<u32>,
    /// `text[offsets[i]..offsets[i + 1]]` is token `i`'s text; `None` when
    /// the tokenizer does not decode by concatenation.
    text: Option<(String, Vec<usize>)>,
}

/// Builds prompts for streams; cheap to share across threads.
pub struct Synthesizer {
    tokenizer: Arc<Tokenizer>,
    seed: u64,
    corpus: Arc<Corpus>,
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer")
            .field("seed", &self.seed)
            .field("corpus_tokens", &self.corpus.ids.len())
            .field("fast_decode", &self.corpus.text.is_some())
            .finish_non_exhaustive()
    }
}

/// A run of `len` corpus positions from `start`, wrapping around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: usize,
    len: usize,
}

/// One message's worth of blocks (plus the trailing partial tail).
#[derive(Debug)]
struct Segment {
    role: Role,
    /// Block indexes `[first_block, first_block + starts.len())` of the
    /// stream's current prompt.
    first_block: usize,
    /// Corpus start of each block.
    starts: Vec<usize>,
    /// Tokens per block.
    block: usize,
    /// The partial tail (the last segment of a turn only).
    tail: Option<Run>,
    tokens: u64,
    content: Arc<str>,
}

impl Segment {
    fn end_block(&self) -> usize {
        self.first_block.saturating_add(self.starts.len())
    }
}

/// One turn: the segment list and whether it reset the context.
struct TurnPlan {
    segments: Vec<Arc<Segment>>,
    reset_context: bool,
}

/// The first 8 bytes of sha256(text), big-endian.
fn hash64(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// `x` scaled uniformly into `[0, n)` (Lemire's multiply-shift).
fn scale(x: u64, n: usize) -> usize {
    ((u128::from(x) * n as u128) >> 64) as usize
}

impl Synthesizer {
    /// Tokenizes the corpus with `tokenizer` (in parallel chunks) and
    /// checks whether decoding is concatenation.
    pub fn new(tokenizer: Arc<Tokenizer>, seed: u64) -> Result<Self, AgentxError> {
        let text = corpus_text();
        let ids = encode_chunks(&tokenizer, &text)?;
        if ids.len() < 1024 {
            return Err(AgentxError::Synth(format!(
                "the corpus is only {} tokens with tokenizer {}",
                ids.len(),
                tokenizer.source.display()
            )));
        }
        let text = concatenation_text(&tokenizer, &ids)?;
        Ok(Synthesizer {
            tokenizer,
            seed,
            corpus: Arc::new(Corpus { ids, text }),
        })
    }

    /// Tokens in the corpus `C`.
    pub fn corpus_tokens(&self) -> usize {
        self.corpus.ids.len()
    }

    /// Whether segment text is cut from the corpus text (the fast path)
    /// rather than decoded by the tokenizer.
    pub fn fast_decode(&self) -> bool {
        self.corpus.text.is_some()
    }

    /// One stream's turns, in order.
    pub fn stream(&self, shape: &StreamShape) -> Result<Vec<TurnMessages>, AgentxError> {
        Ok(self
            .plan(shape)?
            .into_iter()
            .map(|turn| TurnMessages {
                messages: turn
                    .segments
                    .iter()
                    .map(|s| Message {
                        role: s.role,
                        content: Arc::clone(&s.content),
                    })
                    .collect(),
                input_tokens: turn.segments.iter().map(|s| s.tokens).sum(),
                reset_context: turn.reset_context,
            })
            .collect())
    }

    /// Many streams, in parallel (`threads` workers), results in input
    /// order.
    pub fn streams(
        &self,
        shapes: &[StreamShape],
        threads: usize,
    ) -> Result<Vec<Vec<TurnMessages>>, AgentxError> {
        par_map(shapes, threads, |shape| self.stream(shape))
            .ok_or_else(|| AgentxError::Synth("a prompt worker panicked".into()))?
            .into_iter()
            .collect()
    }

    /// The token ids of each turn's prompt (the messages' ids, in order):
    /// for checks and audits, not the hot path.
    pub fn stream_token_ids(&self, shape: &StreamShape) -> Result<Vec<Vec<u32>>, AgentxError> {
        Ok(self
            .plan(shape)?
            .iter()
            .map(|turn| {
                turn.segments
                    .iter()
                    .flat_map(|s| self.segment_ids(s))
                    .collect()
            })
            .collect())
    }

    /// The token ids of each message of each turn.
    pub fn stream_message_ids(
        &self,
        shape: &StreamShape,
    ) -> Result<Vec<Vec<Vec<u32>>>, AgentxError> {
        Ok(self
            .plan(shape)?
            .iter()
            .map(|turn| turn.segments.iter().map(|s| self.segment_ids(s)).collect())
            .collect())
    }

    /// The corpus start of hash id `h` of trace `trace`.
    fn block_start(&self, trace: &str, h: u64) -> usize {
        scale(
            hash64(&format!("{}:{trace}:{h}", self.seed)),
            self.corpus.ids.len(),
        )
    }

    /// The partial tail of `n` tokens of turn `turn` of `conversation`.
    fn tail_run(&self, conversation: &str, turn: usize, n: usize) -> Run {
        let x = hash64(&format!("{}:{conversation}:{turn}:partial_tail", self.seed));
        let span = self.corpus.ids.len().saturating_sub(n).max(1);
        Run {
            start: (x % span as u64) as usize,
            len: n,
        }
    }

    /// The runs of a segment, in order (each block, then the tail).
    fn runs<'s>(
        &self,
        starts: &'s [usize],
        block: usize,
        tail: Option<Run>,
    ) -> impl Iterator<Item = Run> + 's {
        starts
            .iter()
            .map(move |&start| Run { start, len: block })
            .chain(tail)
    }

    /// Splits a wrapping run into at most two contiguous corpus ranges
    /// (more when a run is longer than the corpus).
    fn ranges(&self, run: Run) -> impl Iterator<Item = std::ops::Range<usize>> {
        let n = self.corpus.ids.len();
        let mut at = run.start % n.max(1);
        let mut left = run.len;
        std::iter::from_fn(move || {
            if left == 0 || n == 0 {
                return None;
            }
            let take = left.min(n - at);
            let range = at..at + take;
            left -= take;
            at = 0;
            Some(range)
        })
    }

    fn segment_ids(&self, s: &Segment) -> Vec<u32> {
        let mut ids = Vec::with_capacity(usize::try_from(s.tokens).unwrap_or(0));
        for run in self.runs(&s.starts, s.block, s.tail) {
            for r in self.ranges(run) {
                ids.extend_from_slice(&self.corpus.ids[r]);
            }
        }
        ids
    }

    /// The text of a segment's runs.
    fn render(
        &self,
        starts: &[usize],
        block: usize,
        tail: Option<Run>,
    ) -> Result<Arc<str>, AgentxError> {
        if let Some((text, offsets)) = &self.corpus.text {
            let mut bytes = 0usize;
            for run in self.runs(starts, block, tail) {
                for r in self.ranges(run) {
                    bytes = bytes.saturating_add(offsets[r.end] - offsets[r.start]);
                }
            }
            let mut out = String::with_capacity(bytes);
            for run in self.runs(starts, block, tail) {
                for r in self.ranges(run) {
                    out.push_str(&text[offsets[r.start]..offsets[r.end]]);
                }
            }
            return Ok(Arc::from(out));
        }
        let mut ids = Vec::new();
        for run in self.runs(starts, block, tail) {
            for r in self.ranges(run) {
                ids.extend_from_slice(&self.corpus.ids[r]);
            }
        }
        Ok(Arc::from(self.tokenizer.decode(&ids)?))
    }

    fn segment(
        &self,
        role: Role,
        first_block: usize,
        starts: Vec<usize>,
        block: usize,
        tail: Option<Run>,
    ) -> Result<Arc<Segment>, AgentxError> {
        let tokens = starts
            .len()
            .checked_mul(block)
            .and_then(|b| b.checked_add(tail.map_or(0, |t| t.len)))
            .ok_or_else(|| AgentxError::Synth("segment size overflows".into()))?;
        let content = self.render(&starts, block, tail)?;
        Ok(Arc::new(Segment {
            role,
            first_block,
            starts,
            block,
            tail,
            tokens: tokens as u64,
            content,
        }))
    }

    /// The segment lists of a stream's turns (SPEC §1.7, pre-canned
    /// assistant mode).
    fn plan(&self, shape: &StreamShape) -> Result<Vec<TurnPlan>, AgentxError> {
        let block = usize::try_from(shape.block_size).unwrap_or(0);
        if block == 0 {
            return Err(AgentxError::Synth(format!(
                "stream {}: block_size must be positive",
                shape.conversation_id
            )));
        }
        let block64 = block as u64;
        let mut plans: Vec<TurnPlan> = Vec::with_capacity(shape.turns.len());
        let mut segments: Vec<Arc<Segment>> = Vec::new();
        // Block content is per (trace, hash id): computed once per stream.
        let mut starts_of: HashMap<u64, usize> = HashMap::new();
        let mut start_of = |h: u64| {
            *starts_of
                .entry(h)
                .or_insert_with(|| self.block_start(shape.trace_id, h))
        };
        let mut prev: Option<(&Request, usize)> = None;
        for (k, req) in shape.turns.iter().enumerate() {
            let input = usize::try_from(req.input_tokens).map_err(|_| {
                AgentxError::Synth(format!("request of {} tokens", req.input_tokens))
            })?;
            // Full blocks: the hashed ones within `in`; the rest is tail
            // (a hashed-but-partial last block is tail too).
            let covered = req.hash_ids.len().min(input / block);
            let tail_n = input - covered * block;
            let tail = (tail_n > 0).then(|| self.tail_run(shape.conversation_id, k, tail_n));
            let mut reset = false;
            let (keep, assistant) = match prev {
                None => {
                    // Turn 0: the tool+system prefix is one system message.
                    let mut system = usize::try_from(shape.prefix_tokens.div_ceil(block64))
                        .unwrap_or(usize::MAX)
                        .min(covered);
                    // A prompt that is all system prefix keeps its last
                    // block as the user message (a chat needs one).
                    if system == covered && tail.is_none() && system > 0 {
                        system -= 1;
                    }
                    if system > 0 {
                        let starts = req.hash_ids[..system]
                            .iter()
                            .map(|&h| start_of(h))
                            .collect();
                        segments.push(self.segment(Role::System, 0, starts, block, None)?);
                    }
                    (system, 0)
                }
                Some((p, p_covered)) => {
                    let lcp = p
                        .hash_ids
                        .iter()
                        .zip(req.hash_ids.iter())
                        .take_while(|(a, b)| a == b)
                        .count()
                        .min(p_covered)
                        .min(covered);
                    // Truncate at block `lcp`: cut or drop segments; a
                    // trailing partial tail is dropped.
                    let mut kept: Vec<Arc<Segment>> = Vec::with_capacity(segments.len());
                    for s in segments.drain(..) {
                        if s.end_block() <= lcp && s.tail.is_none() {
                            kept.push(s);
                        } else if s.first_block < lcp {
                            reset = true;
                            // Only the last segment can reach past `lcp`
                            // (it ends at the previous turn's full blocks).
                            let n = (lcp - s.first_block).min(s.starts.len());
                            let starts = s.starts[..n].to_vec();
                            kept.push(self.segment(s.role, s.first_block, starts, block, None)?);
                        } else {
                            reset = true;
                        }
                    }
                    segments = kept;
                    let new_blocks = covered - lcp;
                    let has_user = segments.iter().any(|s| s.role == Role::User);
                    // The recorded previous answer, pre-canned.
                    let mut assistant = if has_user {
                        usize::try_from(p.output_tokens.div_ceil(block64))
                            .unwrap_or(usize::MAX)
                            .min(new_blocks)
                    } else {
                        0
                    };
                    if assistant == new_blocks && tail.is_none() && assistant > 0 {
                        assistant -= 1;
                    }
                    (lcp, assistant)
                }
            };
            if assistant > 0 {
                let starts = req.hash_ids[keep..keep + assistant]
                    .iter()
                    .map(|&h| start_of(h))
                    .collect();
                segments.push(self.segment(Role::Assistant, keep, starts, block, None)?);
            }
            let user_from = keep + assistant;
            if user_from < covered || tail.is_some() {
                let starts = req.hash_ids[user_from..covered]
                    .iter()
                    .map(|&h| start_of(h))
                    .collect();
                segments.push(self.segment(Role::User, user_from, starts, block, tail)?);
            }
            let total: u64 = segments.iter().map(|s| s.tokens).sum();
            if total != req.input_tokens {
                return Err(AgentxError::Synth(format!(
                    "stream {} turn {k}: built {total} tokens for in={}",
                    shape.conversation_id, req.input_tokens
                )));
            }
            plans.push(TurnPlan {
                segments: segments.clone(),
                reset_context: reset,
            });
            prev = Some((req, covered));
        }
        Ok(plans)
    }
}

/// The streams of a trace with flattened-agent detection off (SPEC §1.5,
/// the MVP): the top-level requests as conversation `<trace id>` with the
/// trace's tool+system prefix, and each subagent entry's requests as one
/// chain `<trace id>::sa:<agent_id>` with its own prefix. Conversation ids
/// are returned alongside, as the shapes borrow them.
pub fn trace_conversation_ids(trace: &crate::trace::Trace) -> Vec<String> {
    std::iter::once(trace.id.clone())
        .chain(trace.entries.iter().filter_map(|e| match e {
            crate::trace::Entry::Subagent(s) => Some(format!("{}::sa:{}", trace.id, s.agent_id)),
            crate::trace::Entry::Request(_) => None,
        }))
        .collect()
}

/// The shapes of [`trace_conversation_ids`]' streams, in the same order.
pub fn trace_streams<'a>(
    trace: &'a crate::trace::Trace,
    conversation_ids: &'a [String],
) -> Vec<StreamShape<'a>> {
    use crate::trace::Entry;
    let mut shapes = Vec::new();
    let mut ids = conversation_ids.iter();
    let Some(root) = ids.next() else {
        return shapes;
    };
    shapes.push(StreamShape {
        trace_id: &trace.id,
        conversation_id: root,
        prefix_tokens: trace.tool_tokens.saturating_add(trace.system_tokens),
        block_size: trace.block_size,
        turns: trace
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Request(r) => Some(r),
                Entry::Subagent(_) => None,
            })
            .collect(),
    });
    for (sub, id) in trace
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Subagent(s) => Some(s),
            Entry::Request(_) => None,
        })
        .zip(ids)
    {
        shapes.push(StreamShape {
            trace_id: &trace.id,
            conversation_id: id,
            prefix_tokens: sub.tool_tokens.saturating_add(sub.system_tokens),
            block_size: trace.block_size,
            turns: sub.requests.iter().collect(),
        });
    }
    shapes
}

/// The tool+system prefix, in tokens, that corpora declaring
/// `tool_tokens: 0` / `system_tokens: 0` imply: the longest common
/// hash-id prefix (in full blocks) of the first requests of streams that
/// share a system prompt (the caller picks the group, SPEC §1.7); 0 with
/// fewer than two requests.
pub fn derived_prefix_tokens(first_requests: &[&Request], block_size: u32) -> u64 {
    let block = u64::from(block_size);
    let [first, rest @ ..] = first_requests else {
        return 0;
    };
    if rest.is_empty() || block == 0 {
        return 0;
    }
    let full = |r: &Request| {
        let n = r.input_tokens / block;
        (r.hash_ids.len() as u64).min(n)
    };
    let mut lcp = full(first);
    for r in rest {
        let common = first
            .hash_ids
            .iter()
            .zip(r.hash_ids.iter())
            .take_while(|(a, b)| a == b)
            .count() as u64;
        lcp = lcp.min(common).min(full(r));
    }
    lcp.saturating_mul(block)
}

/// Encodes `text` in line-aligned chunks on a few threads. Chunk borders
/// are fixed by the text, so the ids do not depend on the thread count.
fn encode_chunks(tok: &Tokenizer, text: &str) -> Result<Vec<u32>, AgentxError> {
    const CHUNK: usize = 16 * 1024;
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(CHUNK);
        if cut < rest.len() {
            cut = rest[..cut].rfind('\n').map_or(cut, |i| i + 1);
        }
        let (head, tail) = rest.split_at(cut);
        chunks.push(head);
        rest = tail;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let parts = par_map(&chunks, threads, |chunk| tok.encode(chunk))
        .ok_or_else(|| AgentxError::Synth("a tokenizer worker panicked".into()))?;
    let mut ids = Vec::new();
    for part in parts {
        ids.extend(part?);
    }
    Ok(ids)
}

/// `f` over `items` on up to `threads` scoped workers that take the next
/// item as they finish one (items cost very different amounts), results
/// in input order; `None` when a worker panicked.
fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Option<Vec<R>> {
    let workers = threads.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(item)));
                    }
                    out
                })
            })
            .collect();
        // Every handle is joined: the scope would re-raise an unjoined
        // worker's panic.
        let mut all = Vec::with_capacity(items.len());
        let mut panicked = false;
        for h in handles {
            match h.join() {
                Ok(part) => all.extend(part),
                Err(_) => panicked = true,
            }
        }
        (!panicked).then_some(all)
    })?;
    done.sort_by_key(|(i, _)| *i);
    Some(done.into_iter().map(|(_, r)| r).collect())
}

/// The corpus text and token offsets when decoding `ids` is the
/// concatenation of decoding each id alone (then any window of `ids`
/// decodes by concatenation too): every single-token text is valid UTF-8
/// on its own (no U+FFFD) and the whole concatenation equals
/// `decode(ids)`.
fn concatenation_text(
    tok: &Tokenizer,
    ids: &[u32],
) -> Result<Option<(String, Vec<usize>)>, AgentxError> {
    let mut pieces: HashMap<u32, String> = HashMap::new();
    for &id in ids {
        if let std::collections::hash_map::Entry::Vacant(e) = pieces.entry(id) {
            let piece = tok.decode(&[id])?;
            if piece.is_empty() || piece.contains('\u{FFFD}') {
                return Ok(None);
            }
            e.insert(piece);
        }
    }
    let mut text = String::new();
    let mut offsets = Vec::with_capacity(ids.len() + 1);
    for id in ids {
        offsets.push(text.len());
        if let Some(p) = pieces.get(id) {
            text.push_str(p);
        }
    }
    offsets.push(text.len());
    if text != tok.decode(ids)? {
        return Ok(None);
    }
    Ok(Some((text, offsets)))
}

/// splitmix64: the corpus generator's fixed stream.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        scale(z, n)
    }

    fn pick(&mut self, list: &[&'static str]) -> &'static str {
        list.get(self.below(list.len())).copied().unwrap_or("")
    }
}

/// The corpus: code-flavoured text from a fixed generator (Rust, Python,
/// shell, JSON, logs) interleaved with the lines of `datasets/sonnet.txt`,
/// some 200 KB. Fixed for every run: the run's seed only picks positions.
fn corpus_text() -> String {
    const SONNET: &str = include_str!("../../../datasets/sonnet.txt");
    const VERBS: &[&str] = &[
        "parse", "load", "build", "render", "fetch", "check", "merge", "split", "scale", "emit",
        "collect", "resolve", "encode", "decode", "flush", "retry", "spawn", "join", "drain",
        "sample", "measure", "record", "update", "filter", "reduce", "select", "compare",
    ];
    const NOUNS: &[&str] = &[
        "config",
        "request",
        "response",
        "header",
        "token",
        "block",
        "trace",
        "session",
        "lane",
        "record",
        "metric",
        "buffer",
        "prompt",
        "model",
        "server",
        "client",
        "worker",
        "queue",
        "window",
        "cache",
        "prefix",
        "result",
        "stream",
        "chunk",
        "latency",
        "schedule",
        "batch",
        "endpoint",
        "snapshot",
        "manifest",
        "tokenizer",
        "histogram",
        "percentile",
    ];
    const TYPES: &[&str] = &[
        "u64",
        "usize",
        "f64",
        "String",
        "Vec<u8>",
        "Option<u32>",
        "Config",
        "Request",
        "Duration",
        "HashMap<String, u64>",
        "Arc<str>",
        "PathBuf",
        "Record",
        "Histogram",
    ];
    const METHODS: &[&str] = &[
        "len",
        "is_empty",
        "clone",
        "iter",
        "next",
        "push",
        "pop",
        "insert",
        "remove",
        "get",
        "as_str",
        "to_owned",
        "unwrap_or_default",
        "saturating_add",
        "checked_mul",
        "sort",
    ];
    const WORDS: &[&str] = &[
        "the", "server", "answers", "every", "request", "within", "its", "budget", "when", "queue",
        "is", "full", "we", "wait", "for", "next", "slot", "and", "count", "tokens", "that",
        "arrive", "late", "first", "byte", "cache", "hit", "rate", "rises", "as", "shared",
        "prefixes", "grow", "longer", "a", "retry", "keeps", "order", "of", "records",
    ];
    let mut g = SplitMix(0x5eed_0a6e_17c0_de00);
    let mut out = String::with_capacity(220 * 1024);
    let sonnet: Vec<&str> = SONNET.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut verse = 0usize;
    while out.len() < 200 * 1024 {
        let (v, n, m) = (g.pick(VERBS), g.pick(NOUNS), g.pick(NOUNS));
        let (t1, t2, meth) = (g.pick(TYPES), g.pick(TYPES), g.pick(METHODS));
        let (w1, w2, w3, w4) = (g.pick(WORDS), g.pick(WORDS), g.pick(WORDS), g.pick(WORDS));
        let num = g.below(100_000);
        let line = sonnet
            .get(verse % sonnet.len().max(1))
            .copied()
            .unwrap_or("");
        verse += 1;
        let block = match g.below(6) {
            0 => format!(
                "/// {line}\npub fn {v}_{n}({m}: &{t1}, limit: {t2}) -> Result<{t2}, Error> {{\n    let {n} = {m}.{meth}();\n    if {n}.len() > {num} {{\n        return Err(Error::TooLarge({num}));\n    }}\n    // {w1} {w2} {w3} {w4}\n    Ok(limit)\n}}\n\n"
            ),
            1 => format!(
                "def {v}_{n}(self, {m}, timeout={num}):\n    \"\"\"{line}\"\"\"\n    {n} = self.{m}.{meth}({m})\n    if not {n}:\n        raise ValueError(\"{w1} {w2} {w3}\")\n    return {n}\n\n"
            ),
            2 => format!(
                "2026-08-{:02}T{:02}:{:02}:{:02}.{:03}Z INFO {n}::{v}: {w1} {w2} {w3} {w4} ({num} ms, {m}={})\n",
                1 + g.below(28),
                g.below(24),
                g.below(60),
                g.below(60),
                g.below(1000),
                g.below(4096)
            ),
            3 => format!(
                "{{\"{n}\": \"{v}-{m}\", \"count\": {num}, \"ratio\": 0.{:04}, \"tags\": [\"{w1}\", \"{w2}\"], \"note\": \"{line}\"}}\n",
                g.below(10_000)
            ),
            4 => format!(
                "if [ -f \"$RESULT_DIR/{n}_{num}.json\" ]; then\n  {v}_{m} --{n} \"${{{}}}\" --limit {num} || echo \"{w1} {w2} failed\" >&2\nfi\n",
                m.to_uppercase()
            ),
            _ => format!(
                "    #[test]\n    fn {v}s_the_{n}_of_a_{m}() {{\n        let {m} = {t1}::default();\n        assert_eq!({v}_{n}(&{m}, {num}).{meth}(), {});\n    }}\n\n",
                g.below(512)
            ),
        };
        out.push_str(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_keeps_input_order_and_reports_a_panic() {
        let items: Vec<u64> = (0..100).collect();
        for threads in [0, 1, 3, 200] {
            let got = par_map(&items, threads, |x| x * x).unwrap();
            assert_eq!(got, items.iter().map(|x| x * x).collect::<Vec<_>>());
        }
        assert_eq!(par_map(&[] as &[u64], 4, |x| *x), Some(Vec::new()));
        let panics = par_map(&items, 4, |x| {
            assert!(*x != 57, "worker panic on purpose");
            *x
        });
        assert_eq!(panics, None);
    }

    #[test]
    fn corpus_is_fixed_ascii_and_large() {
        let a = corpus_text();
        assert_eq!(a, corpus_text());
        assert!(a.is_ascii());
        assert!(a.len() >= 200 * 1024, "{}", a.len());
        assert!(a.contains("When midnight settles on the humming hall"));
    }

    fn req(input: u64, hash_ids: &[u64]) -> Request {
        Request {
            t: 0.0,
            streaming: false,
            model: "m".into(),
            input_tokens: input,
            output_tokens: 1,
            hash_ids: hash_ids.into(),
            api_time: None,
            think_time: None,
            ttft: None,
        }
    }

    #[test]
    fn derived_prefix_is_the_common_full_blocks() {
        let a = req(300, &[0, 1, 2, 3, 4]);
        let b = req(500, &[0, 1, 2, 7, 8, 9, 10, 11]);
        let c = req(100, &[0, 1]);
        assert_eq!(derived_prefix_tokens(&[&a, &b], 64), 192);
        // c has one full block only.
        assert_eq!(derived_prefix_tokens(&[&a, &b, &c], 64), 64);
        assert_eq!(derived_prefix_tokens(&[&a], 64), 0);
        assert_eq!(derived_prefix_tokens(&[], 64), 0);
    }

    #[test]
    fn scale_stays_in_range() {
        for n in [1usize, 2, 7, 50_000] {
            for x in [0u64, 1, u64::MAX / 2, u64::MAX] {
                assert!(scale(x, n) < n);
            }
        }
        assert_eq!(scale(u64::MAX, 10), 9);
        assert_eq!(scale(0, 10), 0);
    }
}
