//! The `random` dataset, step for step as InferenceX's
//! `sample_random_requests` (SPEC §6.3), drawing from the same numpy stream.

use crate::incremental::{self, Encoded, TokenBytes};
use crate::rng::RandomState;
use crate::tokenizer::Tokenizer;
use crate::{PromptsError, SampledRequest};
use std::sync::atomic::{AtomicBool, Ordering};

/// `--random-*` options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomOptions {
    pub input_len: i64,
    pub output_len: i64,
    pub prefix_len: i64,
    pub num_prompts: usize,
    pub range_ratio: f64,
    pub use_chat_template: bool,
    /// `--dsv4`: the DeepSeek-V4 chat encoding instead of the tokenizer's
    /// template (needs `use_chat_template`).
    pub dsv4: bool,
    /// Where the padding tokens come from (the edition's rule).
    pub padding: Padding,
}

/// Where the adjust loop's padding tokens are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Edition 2026-02: the global stream, prompt after prompt.
    Global,
    /// Edition 2026-08: a local generator seeded (`init_by_array`) with the
    /// first four words of the global state after the offsets were drawn.
    /// With `workers` 1 it pads every prompt (the serial path); with more,
    /// prompts are split into `ceil(n / workers)`-sized chunks, each padded
    /// from `RandomState(seed)`, the seeds drawn from the local generator
    /// (`randint(0, 2**31)`) chunk after chunk.
    Local { workers: usize },
}

/// `--random-num-workers` resolved as the original does: 0 or less means
/// `min(cpu_count, 8)` (at least 1).
pub fn resolve_workers(requested: i64, cpu_count: usize) -> usize {
    if requested <= 0 {
        cpu_count.clamp(1, 8)
    } else {
        usize::try_from(requested).unwrap_or(usize::MAX)
    }
}

/// The number of chunks (the original's "worker processes") `n` prompts
/// are split into with `workers` workers: chunks of `ceil(n / workers)`,
/// empty ones dropped.
pub fn chunk_count(n: usize, workers: usize) -> usize {
    let size = chunk_size(n, workers);
    n.div_ceil(size)
}

fn chunk_size(n: usize, workers: usize) -> usize {
    n.div_ceil(workers.max(1)).max(1)
}

/// The message of `--dsv4` without `--use-chat-template`.
pub const DSV4_NEEDS_CHAT: &str = "--dsv4 requires --use-chat-template to be set.";

/// The DeepSeek-V4 encoding of one user message in thinking mode
/// (SPEC-bench §2.8).
pub fn dsv4_prompt(content: &str) -> String {
    format!("<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}><\u{ff5c}User\u{ff5c}>{content}<\u{ff5c}Assistant\u{ff5c}><think>")
}

/// The chat prompt of `content`: the DeepSeek-V4 encoding or the
/// tokenizer's template.
fn chat_prompt(tok: &Tokenizer, content: &str, dsv4: bool) -> Result<String, PromptsError> {
    if dsv4 {
        Ok(dsv4_prompt(content))
    } else {
        tok.chat_prompt(content)
    }
}

/// The generators padding draws from, per prompt.
enum PadSource<'a> {
    Global(&'a mut RandomState),
    Chunks { rngs: Vec<RandomState>, size: usize },
}

impl PadSource<'_> {
    fn new<'a>(rng: &'a mut RandomState, opts: &RandomOptions) -> PadSource<'a> {
        match opts.padding {
            Padding::Global => PadSource::Global(rng),
            Padding::Local { workers } => {
                let mut local = RandomState::from_key(&rng.first_state_words());
                let n = opts.num_prompts;
                if workers <= 1 {
                    return PadSource::Chunks {
                        rngs: vec![local],
                        size: usize::MAX,
                    };
                }
                let size = chunk_size(n, workers);
                let rngs = (0..chunk_count(n, workers))
                    .map(|_| RandomState::new(local.randint(0, 1 << 31) as u32))
                    .collect();
                PadSource::Chunks { rngs, size }
            }
        }
    }

    /// The generator prompt `i` pads from.
    fn rng(&mut self, i: usize) -> &mut RandomState {
        match self {
            PadSource::Global(rng) => rng,
            PadSource::Chunks { rngs, size } => {
                let last = rngs.len().saturating_sub(1);
                let k = (i / *size).min(last);
                &mut rngs[k]
            }
        }
    }
}

/// The original retries the decode → encode round trip at most this often.
const MAX_RETRIES: usize = 10;

/// `randint(int(len * ratio), len + 1, size=n)`.
fn sample_uniform(
    rng: &mut RandomState,
    len: i64,
    ratio: f64,
    n: usize,
) -> Result<Vec<i64>, PromptsError> {
    // `int()` truncates toward zero.
    let lower = (len as f64 * ratio).trunc() as i64;
    if lower > len {
        return Err(PromptsError::Options(format!(
            "the length range [{lower}, {len}] is empty (--random-range-ratio above 1?)"
        )));
    }
    Ok(rng.randint_n(lower, len + 1, n))
}

/// Samples `num_prompts` requests. Every random choice comes from `rng`, in
/// the original's order: prefix, input lengths, output lengths, offsets,
/// then each prompt's padding tokens.
///
/// Without a random prefix, prompts are prepared on every core, each up to
/// its first padding step, and finished in order (padding draws from the
/// shared stream). When the prompts are long enough for it to pay, and the
/// tokenizer is plain byte-level, they are also encoded incrementally from
/// one reference text (see `incremental`). Either way the result is that of
/// [`sample_direct`].
pub fn sample(
    tok: &Tokenizer,
    rng: &mut RandomState,
    opts: &RandomOptions,
) -> Result<Vec<SampledRequest>, PromptsError> {
    sample_cancellable(tok, rng, opts, &AtomicBool::new(false))
}

/// [`sample`], giving up with [`PromptsError::Cancelled`] soon after
/// `cancel` is set (checked before each prompt).
pub(crate) fn sample_cancellable(
    tok: &Tokenizer,
    rng: &mut RandomState,
    opts: &RandomOptions,
    cancel: &AtomicBool,
) -> Result<Vec<SampledRequest>, PromptsError> {
    let reference = if opts.prefix_len == 0 {
        ReferenceChoice::WhenItPays
    } else {
        ReferenceChoice::Never
    };
    sample_with(tok, rng, opts, cancel, reference)
}

/// Whether the random dataset builds the incremental encoding's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReferenceChoice {
    /// When [`reference_pays`] (the default).
    WhenItPays,
    /// Whenever it can (tests of the incremental path).
    #[cfg_attr(not(test), allow(dead_code))]
    Always,
    /// Never (a random prefix: no incremental path).
    Never,
}

/// Tokens near each end of a prompt that incremental encoding still
/// encodes for real: two windows of about 3 × `MARGIN` bytes (192) each, at
/// the 4 to 7 bytes per token of a large vocabulary.
const WINDOW_TOKENS: usize = 256;

/// Whether the reference (one encoding of the whole decoded vocabulary,
/// `vocab + max_len` tokens, and every token's bytes) costs less than
/// incremental encoding saves: the middle of each long prompt, once per
/// round trip (counted once). A choice of speed only: both ways give the
/// same prompts. For 1024 prompts of 128 tokens it never pays (nothing is
/// left between the windows); for 1000 of 8k it pays sixtyfold.
fn reference_pays(lens: &[usize], vocab: usize) -> bool {
    let saved = lens
        .iter()
        .map(|l| l.saturating_sub(WINDOW_TOKENS))
        .fold(0usize, usize::saturating_add);
    let max_len = lens.iter().copied().max().unwrap_or(0);
    saved > vocab.saturating_add(max_len)
}

/// [`sample_cancellable`] with the reference chosen by the caller.
pub(crate) fn sample_with(
    tok: &Tokenizer,
    rng: &mut RandomState,
    opts: &RandomOptions,
    cancel: &AtomicBool,
    reference: ReferenceChoice,
) -> Result<Vec<SampledRequest>, PromptsError> {
    if opts.prefix_len == 0 {
        return sample_speculative(tok, rng, opts, cancel, reference);
    }
    let plan = plan(tok, rng, opts)?;
    build_direct(tok, &mut PadSource::new(rng, opts), opts, plan, cancel)
}

fn check(cancel: &AtomicBool) -> Result<(), PromptsError> {
    if cancel.load(Ordering::Relaxed) {
        return Err(PromptsError::Cancelled);
    }
    Ok(())
}

/// The draws every strategy makes before building prompts.
struct Plan {
    vocab: i64,
    prefix: Vec<u32>,
    input_lens: Vec<i64>,
    output_lens: Vec<i64>,
    offsets: Vec<i64>,
}

fn plan(
    tok: &Tokenizer,
    rng: &mut RandomState,
    opts: &RandomOptions,
) -> Result<Plan, PromptsError> {
    let vocab = tok.vocab_size() as i64;
    if vocab == 0 {
        return Err(PromptsError::Options(
            "the tokenizer has an empty vocabulary".into(),
        ));
    }
    let prefix_len = usize::try_from(opts.prefix_len).map_err(|_| {
        PromptsError::Options(format!(
            "--random-prefix-len {} is negative",
            opts.prefix_len
        ))
    })?;
    let prefix: Vec<u32> = rng
        .randint_n(0, vocab, prefix_len)
        .into_iter()
        .map(|t| t as u32)
        .collect();
    if opts.dsv4 && !opts.use_chat_template {
        return Err(PromptsError::Options(DSV4_NEEDS_CHAT.into()));
    }
    let mut input_len = opts.input_len;
    if opts.use_chat_template {
        let dummy = chat_prompt(tok, "a", opts.dsv4)?;
        input_len -= tok.encode(&dummy)?.len() as i64 - 1;
    }
    let n = opts.num_prompts;
    let input_lens = sample_uniform(rng, input_len, opts.range_ratio, n)?;
    let output_lens = sample_uniform(rng, opts.output_len, opts.range_ratio, n)?;
    let offsets = rng.randint_n(0, vocab, n);
    Ok(Plan {
        vocab,
        prefix,
        input_lens,
        output_lens,
        offsets,
    })
}

fn input_len(len: i64) -> Result<usize, PromptsError> {
    usize::try_from(len).map_err(|_| {
        PromptsError::Options(format!(
            "input length {len} is negative (the chat template is longer than --random-input-len?)"
        ))
    })
}

/// The original algorithm, call for call.
pub fn sample_direct(
    tok: &Tokenizer,
    rng: &mut RandomState,
    opts: &RandomOptions,
) -> Result<Vec<SampledRequest>, PromptsError> {
    let plan = plan(tok, rng, opts)?;
    build_direct(
        tok,
        &mut PadSource::new(rng, opts),
        opts,
        plan,
        &AtomicBool::new(false),
    )
}

fn build_direct(
    tok: &Tokenizer,
    pad: &mut PadSource,
    opts: &RandomOptions,
    plan: Plan,
    cancel: &AtomicBool,
) -> Result<Vec<SampledRequest>, PromptsError> {
    let Plan {
        vocab,
        prefix,
        input_lens,
        output_lens,
        offsets,
    } = plan;
    let prefix_len = prefix.len();
    let n = opts.num_prompts;
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        check(cancel)?;
        let len = input_len(input_lens[i])?;
        let target = prefix_len + len;
        let mut ids = prefix.clone();
        ids.extend((0..len as i64).map(|j| ((offsets[i] + i as i64 + j) % vocab) as u32));
        let mut prompt = tok.decode(&ids)?;
        // Whether `prompt` is known to encode to exactly `target` tokens.
        let mut converged = false;
        for _ in 0..MAX_RETRIES {
            let mut ids = tok.encode(&prompt)?;
            match ids.len().cmp(&target) {
                std::cmp::Ordering::Less => {
                    let extra = pad.rng(i).randint_n(0, vocab, target - ids.len());
                    ids.extend(extra.into_iter().map(|t| t as u32));
                }
                std::cmp::Ordering::Greater => ids.truncate(target),
                std::cmp::Ordering::Equal => {
                    converged = true;
                    break;
                }
            }
            prompt = tok.decode(&ids)?;
        }
        if opts.use_chat_template {
            prompt = chat_prompt(tok, &prompt, opts.dsv4)?;
        }
        // The original re-encodes the final prompt; when the loop ended on an
        // exact match that encoding is the one just made.
        let prompt_len = if converged && !opts.use_chat_template {
            target
        } else {
            tok.encode(&prompt)?.len()
        };
        requests.push(SampledRequest {
            prompt,
            prompt_len,
            output_len: output_lens[i],
            target_len: target,
        });
    }
    Ok(requests)
}

/// The reference: the base vocabulary decoded in id order, followed by its
/// first `extra` ids again (so any run of consecutive ids is one slice).
struct Reference {
    ids: Vec<u32>,
    /// Offset in the lossy text at clean token boundaries: those where both
    /// neighbouring bytes are ASCII, so lossy UTF-8 conversion restarts
    /// there and texts can be cut and joined at them.
    text_at: Vec<Option<usize>>,
    encoded: Encoded,
}

impl Reference {
    fn new(
        tok: &Tokenizer,
        bytes: &TokenBytes,
        vocab: usize,
        extra: usize,
        threads: usize,
    ) -> Result<Option<Self>, PromptsError> {
        let ids: Vec<u32> = (0..vocab as u32)
            .chain(0..extra.min(vocab) as u32)
            .collect();
        let Some(raw_bytes) = bytes.concat(ids.iter().copied()) else {
            return Ok(None);
        };
        let mut raw = Vec::with_capacity(ids.len() + 1);
        let mut at = 0usize;
        for &id in &ids {
            raw.push(at);
            let Some(len) = bytes.len_of(id) else {
                return Ok(None);
            };
            at += len;
        }
        raw.push(at);
        let is_clean = |k: usize| {
            let at = raw[k];
            at == 0 || at == raw_bytes.len() || (raw_bytes[at - 1] < 0x80 && raw_bytes[at] < 0x80)
        };
        let mut text = String::with_capacity(raw_bytes.len() + raw_bytes.len() / 8);
        let mut text_at = vec![None; raw.len()];
        let mut last = 0usize;
        for k in 0..raw.len() {
            if is_clean(k) {
                text.push_str(&String::from_utf8_lossy(&raw_bytes[raw[last]..raw[k]]));
                text_at[k] = Some(text.len());
                last = k;
            }
        }
        let Some(encoded) = Encoded::new_parallel(tok, bytes, text, threads)? else {
            return Ok(None);
        };
        Ok(Some(Reference {
            ids,
            text_at,
            encoded,
        }))
    }

    /// The text of ids `from..to` of the reference sequence, and the stretch
    /// of it that is a slice of the reference text: `(text, shared, ref_start)`.
    fn slice(
        &self,
        bytes: &TokenBytes,
        from: usize,
        to: usize,
    ) -> Option<(String, std::ops::Range<usize>, usize)> {
        const SEARCH: usize = 64;
        let c1 = (from + 4..(from + 4 + SEARCH).min(to)).find(|&k| self.text_at[k].is_some());
        let c2 = (to.saturating_sub(4 + SEARCH).max(from)..to.saturating_sub(4))
            .rev()
            .find(|&k| self.text_at[k].is_some());
        let lossy = |a: usize, b: usize| bytes.decode(&self.ids[a..b]);
        match (c1, c2) {
            (Some(c1), Some(c2)) if c1 < c2 => {
                let (t1, t2) = (self.text_at[c1]?, self.text_at[c2]?);
                let mut text = lossy(from, c1)?;
                let start = text.len();
                text.push_str(self.encoded.text.get(t1..t2)?);
                let end = text.len();
                text.push_str(&lossy(c2, to)?);
                Some((text, start..end, t1))
            }
            _ => Some((lossy(from, to)?, 0..0, 0)),
        }
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // Back off to a character boundary shared by both.
    (0..=n)
        .rev()
        .find(|&i| a.is_char_boundary(i) && b.is_char_boundary(i))
        .unwrap_or(0)
}

/// One prompt's decode → encode loop, resumable where it needs random
/// tokens: truncations draw nothing, so any thread can run them; padding
/// draws from the shared stream, so only the in-order driver does that.
struct Prompt {
    text: String,
    shared: std::ops::Range<usize>,
    ref_start: usize,
    target: usize,
    tries_left: usize,
}

/// Where a prompt's loop stopped.
enum Step {
    /// The text encodes to exactly `target` tokens.
    Converged,
    /// Encoded to these ids, fewer than `target`: padding comes next.
    NeedsPadding(Vec<u32>),
    /// The original's ten round trips are used up.
    Exhausted,
}

struct Shared<'a> {
    tok: &'a Tokenizer,
    /// Every token's bytes and the reference, when incremental encoding is
    /// used; otherwise the tokenizer encodes and decodes every text.
    incremental: Option<(&'a TokenBytes, &'a Reference)>,
    /// Every token's bytes for decoding without the reference (see
    /// [`DECODE_TABLE_TOKENS`]).
    decoder: Option<&'a TokenBytes>,
}

impl Shared<'_> {
    /// `tokenizer.decode(ids)`.
    fn decode(&self, ids: &[u32]) -> Result<String, PromptsError> {
        match self.decoder {
            Some(bytes) => bytes
                .decode(ids)
                .ok_or_else(|| PromptsError::Options("internal: token bytes unavailable".into())),
            None => self.tok.decode(ids),
        }
    }
}

/// Prompt tokens from which decoding by a table of every token's bytes
/// beats the tokenizer's decoder (about 0.3 µs per token, against 0.02):
/// the table is a copy of the one read with the tokenizer (about 1 ms for
/// a large vocabulary). A choice of speed only: a byte-level decode is the
/// tokens' bytes, converted lossily.
const DECODE_TABLE_TOKENS: usize = 4 * 1024;

impl Prompt {
    fn encode(&self, cx: &Shared) -> Result<Vec<u32>, PromptsError> {
        match cx.incremental {
            Some((bytes, reference)) => incremental::encode(
                cx.tok,
                bytes,
                &self.text,
                self.shared.clone(),
                &reference.encoded,
                self.ref_start,
            ),
            None => cx.tok.encode(&self.text),
        }
    }

    /// Replaces the text by the decode of `ids`, keeping the stretch still
    /// shared with the reference.
    fn redecode(&mut self, cx: &Shared, ids: &[u32]) -> Result<(), PromptsError> {
        let Some((bytes, _)) = cx.incremental else {
            self.text = cx.decode(ids)?;
            return Ok(());
        };
        let next = bytes
            .decode(ids)
            .ok_or_else(|| PromptsError::Options("internal: token bytes unavailable".into()))?;
        self.shared.end = self
            .shared
            .end
            .min(common_prefix(&self.text, &next))
            .max(self.shared.start);
        self.text = next;
        Ok(())
    }

    /// Runs round trips until one needs random tokens or the loop ends.
    fn advance(&mut self, cx: &Shared) -> Result<Step, PromptsError> {
        while self.tries_left > 0 {
            self.tries_left -= 1;
            let mut ids = self.encode(cx)?;
            match ids.len().cmp(&self.target) {
                std::cmp::Ordering::Less => return Ok(Step::NeedsPadding(ids)),
                std::cmp::Ordering::Equal => return Ok(Step::Converged),
                std::cmp::Ordering::Greater => {
                    ids.truncate(self.target);
                    self.redecode(cx, &ids)?;
                }
            }
        }
        Ok(Step::Exhausted)
    }
}

/// Builds the reference when `choice` asks for it and the tokenizer
/// allows it (a plain byte-level one, prompts no longer than the
/// vocabulary, so that each is one slice of it).
fn build_reference(
    tok: &Tokenizer,
    lens: &[usize],
    vocab: usize,
    choice: ReferenceChoice,
    threads: usize,
) -> Result<Option<(TokenBytes, Reference)>, PromptsError> {
    let max_len = lens.iter().copied().max().unwrap_or(0);
    let wanted = match choice {
        ReferenceChoice::Never => false,
        ReferenceChoice::Always => true,
        ReferenceChoice::WhenItPays => reference_pays(lens, vocab),
    };
    if !wanted || max_len > vocab || !tok.is_plain_byte_level() {
        return Ok(None);
    }
    let Some(bytes) = TokenBytes::new(tok, tok.total_ids()) else {
        return Ok(None);
    };
    Ok(Reference::new(tok, &bytes, vocab, max_len, threads)?.map(|r| (bytes, r)))
}

fn sample_speculative(
    tok: &Tokenizer,
    rng: &mut RandomState,
    opts: &RandomOptions,
    cancel: &AtomicBool,
    choice: ReferenceChoice,
) -> Result<Vec<SampledRequest>, PromptsError> {
    let plan = plan(tok, rng, opts)?;
    let mut pad = PadSource::new(rng, opts);
    let lens: Vec<usize> = plan
        .input_lens
        .iter()
        .map(|&l| input_len(l))
        .collect::<Result<_, _>>()?;
    let vocab = plan.vocab;
    let n = opts.num_prompts;
    let workers = std::thread::available_parallelism()
        .map_or(1, |w| w.get())
        .min(n)
        .max(1);
    // `plan` refuses an empty vocabulary, so `vocab` is positive.
    let vocab_len = usize::try_from(vocab).unwrap_or(0);
    let built = build_reference(tok, &lens, vocab_len, choice, workers)?;
    let Plan {
        input_lens: _,
        output_lens,
        offsets,
        ..
    } = plan;
    let total: usize = lens.iter().fold(0, |a, &l| a.saturating_add(l));
    let table = match &built {
        None if total >= DECODE_TABLE_TOKENS && tok.is_plain_byte_level() => {
            TokenBytes::new(tok, tok.total_ids())
        }
        _ => None,
    };
    let cx = Shared {
        tok,
        incremental: built.as_ref().map(|(b, r)| (b, r)),
        decoder: built.as_ref().map(|(b, _)| b).or(table.as_ref()),
    };
    // Everything up to the first padding step, for prompt `i`.
    let speculate = |i: usize| -> Result<(Prompt, Step), PromptsError> {
        let start = (offsets[i] + i as i64) % vocab;
        let (text, shared, ref_start) = match cx.incremental {
            Some((bytes, reference)) => {
                let start = start as usize;
                reference
                    .slice(bytes, start, start + lens[i])
                    .ok_or_else(|| {
                        PromptsError::Options("internal: token bytes unavailable".into())
                    })?
            }
            None => {
                // The original's ids: consecutive, wrapping around the vocabulary.
                let ids: Vec<u32> = (0..lens[i] as i64)
                    .map(|j| ((start + j) % vocab) as u32)
                    .collect();
                (cx.decode(&ids)?, 0..0, 0)
            }
        };
        let mut prompt = Prompt {
            text,
            shared,
            ref_start,
            target: lens[i],
            tries_left: MAX_RETRIES,
        };
        let step = prompt.advance(&cx)?;
        Ok((prompt, step))
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, speculate) = (&next, &speculate);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n || cancel.load(Ordering::Relaxed) || tx.send((i, speculate(i))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // The driver finishes prompts strictly in order, so padding tokens
        // come from the stream in the original's order.
        let mut ready: Vec<Option<Result<(Prompt, Step), PromptsError>>> =
            (0..n).map(|_| None).collect();
        let mut requests = Vec::with_capacity(n);
        for (i, result) in rx {
            check(cancel)?;
            ready[i] = Some(result);
            while let Some(result) = ready.get_mut(requests.len()).and_then(Option::take) {
                let j = requests.len();
                let (mut prompt, mut step) = result?;
                while let Step::NeedsPadding(mut ids) = step {
                    let extra = pad.rng(j).randint_n(0, vocab, prompt.target - ids.len());
                    ids.extend(extra.into_iter().map(|t| t as u32));
                    prompt.redecode(&cx, &ids)?;
                    step = prompt.advance(&cx)?;
                }
                let converged = matches!(step, Step::Converged);
                requests.push(finish(
                    &cx,
                    prompt,
                    converged,
                    output_lens[j],
                    opts.use_chat_template.then_some(opts.dsv4),
                )?);
            }
        }
        // Workers that saw the flag stopped early: the prompts are short.
        check(cancel)?;
        Ok(requests)
    })
}

/// The chat template and the final token count, as the original does them.
fn finish(
    cx: &Shared,
    prompt: Prompt,
    converged: bool,
    output_len: i64,
    // `Some(dsv4)`: wrapped in the chat template.
    chat: Option<bool>,
) -> Result<SampledRequest, PromptsError> {
    let target = prompt.target;
    if let Some(dsv4) = chat {
        let text = chat_prompt(cx.tok, &prompt.text, dsv4)?;
        let prompt_len = cx.tok.encode(&text)?.len();
        return Ok(SampledRequest {
            prompt: text,
            prompt_len,
            output_len,
            target_len: target,
        });
    }
    // When the loop ended on an exact match, that is the final count.
    let prompt_len = if converged {
        target
    } else {
        prompt.encode(cx)?.len()
    };
    Ok(SampledRequest {
        prompt: prompt.text,
        prompt_len,
        output_len,
        target_len: target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_and_chunks_follow_the_original() {
        assert_eq!(resolve_workers(0, 16), 8);
        assert_eq!(resolve_workers(-3, 2), 2);
        assert_eq!(resolve_workers(0, 0), 1);
        assert_eq!(resolve_workers(3, 64), 3);
        // 10 prompts on 3 workers: 4 + 4 + 2; on 8: chunks of 2, 5 of them.
        assert_eq!(chunk_count(10, 3), 3);
        assert_eq!(chunk_count(10, 8), 5);
        assert_eq!(chunk_count(16, 8), 8);
        assert_eq!(chunk_count(3, 100), 3);
        assert_eq!(chunk_count(0, 4), 0);
    }

    #[test]
    fn local_padding_seeds_from_the_state_without_advancing_it() {
        let opts = |padding| RandomOptions {
            input_len: 8,
            output_len: 4,
            prefix_len: 0,
            num_prompts: 10,
            range_ratio: 1.0,
            use_chat_template: false,
            dsv4: false,
            padding,
        };
        let mut global = RandomState::new(7);
        global.randint_n(0, 100, 5);
        let mut copy = global.clone();
        let mut pad = PadSource::new(&mut global, &opts(Padding::Local { workers: 3 }));
        let mut local = RandomState::from_key(&copy.first_state_words());
        let seeds: Vec<u32> = (0..3).map(|_| local.randint(0, 1 << 31) as u32).collect();
        // Prompts 0-3 pad from chunk 0, 4-7 from chunk 1, 8-9 from chunk 2.
        for (i, seed) in [(0, seeds[0]), (4, seeds[1]), (9, seeds[2])] {
            let want = RandomState::new(seed).randint(0, 1000);
            let mut state = copy.clone();
            let mut fresh = PadSource::new(&mut state, &opts(Padding::Local { workers: 3 }));
            assert_eq!(fresh.rng(i).randint(0, 1000), want, "prompt {i}");
        }
        assert!(pad.rng(3).randint(0, 10) < 10);
        drop(pad);
        // The global stream is where it was.
        assert_eq!(global.next_u32(), copy.next_u32());
        // One worker: the local generator itself, for every prompt.
        let mut serial = PadSource::new(&mut global, &opts(Padding::Local { workers: 1 }));
        let first = serial.rng(9).next_u32();
        let mut again = copy.clone();
        let mut local = RandomState::from_key(&again.first_state_words());
        assert_eq!(first, local.next_u32());
        again.next_u32();
    }

    fn deepseek() -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/tokenizers/deepseek-r1");
        Tokenizer::load(&dir.display().to_string(), &|_| None).unwrap()
    }

    #[test]
    fn the_reference_pays_only_for_many_long_prompts() {
        // The launch benchmark: 1024 prompts of 128 tokens.
        assert!(!reference_pays(&[128; 1024], 128_000));
        assert!(!reference_pays(&[8192; 10], 128_000));
        assert!(!reference_pays(&[], 128_000));
        // The preparation benchmark: 1000 of 8k.
        assert!(reference_pays(&[8192; 1000], 128_000));
        assert!(reference_pays(&[2048; 100], 32_000));
        assert!(!reference_pays(&[usize::MAX; 2], usize::MAX));
    }

    /// With the reference or without it, the prompts and the draws are the
    /// original algorithm's.
    #[test]
    fn with_or_without_the_reference_prompts_are_the_originals() {
        const { assert!(128 * 260 >= DECODE_TABLE_TOKENS) };
        let tok = deepseek();
        let cases = [
            (1500, 0.5, 6, false, 7u32, Padding::Global),
            (3000, 1.0, 4, true, 3, Padding::Local { workers: 3 }),
            (400, 0.8, 8, false, 1, Padding::Local { workers: 1 }),
            // Enough tokens to decode by the table of token bytes.
            (128, 1.0, 260, false, 5, Padding::Local { workers: 1 }),
        ];
        for (input_len, range_ratio, num_prompts, use_chat_template, seed, padding) in cases {
            let opts = RandomOptions {
                input_len,
                output_len: 16,
                prefix_len: 0,
                num_prompts,
                range_ratio,
                use_chat_template,
                dsv4: false,
                padding,
            };
            let mut direct_rng = RandomState::new(seed);
            let direct = sample_direct(&tok, &mut direct_rng, &opts).unwrap();
            for choice in [ReferenceChoice::Always, ReferenceChoice::Never] {
                let mut rng = RandomState::new(seed);
                let cancel = AtomicBool::new(false);
                let got = sample_with(&tok, &mut rng, &opts, &cancel, choice).unwrap();
                assert_eq!(
                    got, direct,
                    "{choice:?}, input_len {input_len}, seed {seed}"
                );
                assert_eq!(rng.clone().next_u32(), direct_rng.clone().next_u32());
            }
        }
    }

    #[test]
    fn dsv4_encoding_of_one_user_message() {
        assert_eq!(
            dsv4_prompt("Hello, world"),
            "<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}><\u{ff5c}User\u{ff5c}>Hello, world<\u{ff5c}Assistant\u{ff5c}><think>"
        );
        assert_eq!(
            dsv4_prompt("a"),
            "<｜begin▁of▁sentence｜><｜User｜>a<｜Assistant｜><think>"
        );
    }
}
