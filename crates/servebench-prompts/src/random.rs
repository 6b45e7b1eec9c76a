//! The `random` dataset, step for step as InferenceX's
//! `sample_random_requests` (SPEC §6.3), drawing from the same numpy stream.

use crate::rng::RandomState;
use crate::tokenizer::Tokenizer;
use crate::{PromptsError, SampledRequest};

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
pub fn sample(
    tok: &Tokenizer,
    rng: &mut RandomState,
    opts: &RandomOptions,
) -> Result<Vec<SampledRequest>, PromptsError> {
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
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let len = usize::try_from(input_lens[i]).map_err(|_| {
            PromptsError::Options(format!("input length {} is negative (the chat template is longer than --random-input-len?)", input_lens[i]))
        })?;
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
