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
/// Without a random prefix and with a plain byte-level tokenizer, prompts
/// are built and encoded incrementally from one reference text (see
/// `incremental`), which gives the same result as [`sample_direct`] many
/// times faster.
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
    if opts.prefix_len == 0 && tok.is_plain_byte_level() {
        if let Some(bytes) = TokenBytes::new(tok, tok.total_ids()) {
            return sample_incremental(tok, &bytes, rng, opts, cancel);
        }
    }
    let plan = plan(tok, rng, opts)?;
    build_direct(tok, rng, opts, plan, cancel)
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
    let mut input_len = opts.input_len;
    if opts.use_chat_template {
        let dummy = tok.chat_prompt("a")?;
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
    build_direct(tok, rng, opts, plan, &AtomicBool::new(false))
}

fn build_direct(
    tok: &Tokenizer,
    rng: &mut RandomState,
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
                    let extra = rng.randint_n(0, vocab, target - ids.len());
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
            prompt = tok.chat_prompt(&prompt)?;
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
        let Some(encoded) = Encoded::new(tok, bytes, text)? else {
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
    bytes: &'a TokenBytes,
    reference: &'a Reference,
}

impl Prompt {
    fn encode(&self, cx: &Shared) -> Result<Vec<u32>, PromptsError> {
        incremental::encode(
            cx.tok,
            cx.bytes,
            &self.text,
            self.shared.clone(),
            &cx.reference.encoded,
            self.ref_start,
        )
    }

    /// Replaces the text by the decode of `ids`, keeping the stretch still
    /// shared with the reference.
    fn redecode(&mut self, cx: &Shared, ids: &[u32]) -> Result<(), PromptsError> {
        let next = cx
            .bytes
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

fn sample_incremental(
    tok: &Tokenizer,
    bytes: &TokenBytes,
    rng: &mut RandomState,
    opts: &RandomOptions,
    cancel: &AtomicBool,
) -> Result<Vec<SampledRequest>, PromptsError> {
    let plan = plan(tok, rng, opts)?;
    let lens: Vec<usize> = plan
        .input_lens
        .iter()
        .map(|&l| input_len(l))
        .collect::<Result<_, _>>()?;
    let max_len = lens.iter().copied().max().unwrap_or(0);
    let vocab = plan.vocab;
    let reference = if max_len <= vocab as usize {
        Reference::new(tok, bytes, vocab as usize, max_len)?
    } else {
        None
    };
    let Some(reference) = reference else {
        // Prompts longer than the vocabulary: no single reference slice.
        return build_direct(tok, rng, opts, plan, cancel);
    };
    let Plan {
        input_lens: _,
        output_lens,
        offsets,
        ..
    } = plan;
    let n = opts.num_prompts;
    let cx = Shared {
        tok,
        bytes,
        reference: &reference,
    };
    // Everything up to the first padding step, for prompt `i`.
    let speculate = |i: usize| -> Result<(Prompt, Step), PromptsError> {
        let start = ((offsets[i] + i as i64) % vocab) as usize;
        let (text, shared, ref_start) = reference
            .slice(bytes, start, start + lens[i])
            .ok_or_else(|| PromptsError::Options("internal: token bytes unavailable".into()))?;
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
    let workers = std::thread::available_parallelism()
        .map_or(1, |w| w.get())
        .min(n)
        .max(1);
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
                    let extra = rng.randint_n(0, vocab, prompt.target - ids.len());
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
                    opts.use_chat_template,
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
    chat: bool,
) -> Result<SampledRequest, PromptsError> {
    let target = prompt.target;
    if chat {
        let text = cx.tok.chat_prompt(&prompt.text)?;
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
