//! The file-based datasets, as vLLM's benchmark defines them: ShareGPT
//! conversations, sonnet poem lines, and custom JSONL prompts. Their random
//! choices come from Python's `random` seeded with `--seed`, so a seed picks
//! the same prompts as vLLM's client. Token counts include the special
//! tokens transformers adds (`tokenizer(text).input_ids`), as vLLM counts.

use crate::pyrandom::PyRandom;
use crate::tokenizer::Tokenizer;
use crate::{PromptsError, SampledRequest};
use servebench_files::Limit;
use servebench_pyjson::Value;
use std::path::{Path, PathBuf};

fn bad(path: &Path, message: impl Into<String>) -> PromptsError {
    PromptsError::Dataset {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The dataset's text: a regular file of at most [`Limit::DATASET`] bytes
/// (a FIFO, device or directory is refused, naming the file).
fn read(path: &Path) -> Result<String, PromptsError> {
    servebench_files::read_text(path, Limit::DATASET).map_err(|e| bad(path, e.reason()))
}

/// `--dataset-name sharegpt`: the first two turns of each conversation
/// with at least two, shuffled, then kept unless too short (prompt or
/// reply under 4 tokens) or too long (prompt over 1024 tokens, or prompt
/// plus reply over 2048), until `num_prompts` are found.
pub fn sharegpt(
    tok: &Tokenizer,
    rng: &mut PyRandom,
    path: &Path,
    num_prompts: usize,
    fixed_output_len: Option<i64>,
) -> Result<Vec<SampledRequest>, PromptsError> {
    if fixed_output_len.is_some_and(|n| n < 4) {
        return Err(PromptsError::Options(
            "--sharegpt-output-len must be at least 4 (output_len too small)".into(),
        ));
    }
    let doc = servebench_pyjson::from_str(&read(path)?)
        .map_err(|e| bad(path, format!("invalid JSON: {e}")))?;
    let entries = doc
        .as_list()
        .ok_or_else(|| bad(path, "expected a JSON list of conversations"))?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let turns = entry
            .as_dict()
            .and_then(|d| d.get("conversations"))
            .and_then(Value::as_list)
            .ok_or_else(|| bad(path, format!("entry {i} has no \"conversations\" list")))?;
        if turns.len() < 2 {
            continue;
        }
        let turn = |t: usize| {
            turns[t]
                .as_dict()
                .and_then(|d| d.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(path, format!("entry {i}, turn {t} has no string \"value\"")))
        };
        pairs.push((turn(0)?, turn(1)?));
    }
    rng.shuffle(&mut pairs);
    let mut out = Vec::new();
    for (prompt, completion) in pairs {
        if out.len() == num_prompts {
            break;
        }
        let prompt_len = tok.encode_with_special(&prompt)?.len();
        let output_len = match fixed_output_len {
            Some(n) => n,
            None => tok.encode_with_special(&completion)?.len() as i64,
        };
        if prompt_len < 4 || (fixed_output_len.is_none() && output_len < 4) {
            continue;
        }
        if prompt_len > 1024 || prompt_len as i64 + output_len > 2048 {
            continue;
        }
        out.push(SampledRequest {
            prompt,
            prompt_len,
            output_len,
            target_len: prompt_len,
        });
    }
    Ok(out)
}

/// `--sonnet-*` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SonnetOptions {
    pub input_len: i64,
    pub output_len: i64,
    pub prefix_len: i64,
    pub num_prompts: usize,
    /// `openai-chat` sends the raw prompt and lets the server apply the
    /// template; the other backends send the formatted prompt.
    pub chat_backend: bool,
}

const SONNET_BASE_PROMPT: &str = "Pick as many lines as you can from these poem lines:\n";

/// `--dataset-name sonnet`: a fixed run of leading poem lines (about
/// `prefix_len` tokens) plus randomly sampled lines (about `input_len`
/// tokens in all), after a fixed instruction, in the tokenizer's chat format.
pub fn sonnet(
    tok: &Tokenizer,
    rng: &mut PyRandom,
    path: &Path,
    opts: &SonnetOptions,
) -> Result<Vec<SampledRequest>, PromptsError> {
    if opts.input_len <= opts.prefix_len {
        return Err(PromptsError::Options(
            "--sonnet-input-len must be greater than --sonnet-prefix-len".into(),
        ));
    }
    let text = read(path)?;
    // `readlines()`: every line keeps its newline.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.is_empty() {
        return Err(bad(path, "the file has no lines"));
    }
    let mut total = 0usize;
    for line in &lines {
        total += tok.encode_with_special(line)?.len();
    }
    let average = total as f64 / lines.len() as f64;
    let offset = tok
        .encode_with_special(&tok.chat_prompt(SONNET_BASE_PROMPT)?)?
        .len() as i64;
    if opts.input_len <= offset {
        return Err(PromptsError::Options(format!(
            "Please set --sonnet-input-len higher than {offset}."
        )));
    }
    if opts.prefix_len <= offset {
        return Err(PromptsError::Options(format!(
            "Please set --sonnet-prefix-len higher than {offset}."
        )));
    }
    // Python's round() rounds halves to even.
    let num_input_lines = ((opts.input_len - offset) as f64 / average).round_ties_even() as i64;
    let num_prefix_lines = ((opts.prefix_len - offset) as f64 / average).round_ties_even() as usize;
    let prefix: String = lines.iter().take(num_prefix_lines).copied().collect();
    let sampled_count = usize::try_from(num_input_lines - num_prefix_lines as i64)
        .map_err(|_| PromptsError::Options("the sonnet prefix is longer than the input".into()))?;
    let mut out = Vec::with_capacity(opts.num_prompts);
    for _ in 0..opts.num_prompts {
        let picks = rng
            .sample_indices(lines.len(), sampled_count)
            .ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "{sampled_count} lines per prompt are needed but the file has {}",
                        lines.len()
                    ),
                )
            })?;
        let sampled: String = picks.iter().map(|&i| lines[i]).collect();
        let prompt = format!("{SONNET_BASE_PROMPT}{prefix}{sampled}");
        let formatted = tok.chat_prompt(&prompt)?;
        let prompt_len = tok.encode_with_special(&formatted)?.len();
        let sent = if opts.chat_backend { prompt } else { formatted };
        out.push(SampledRequest {
            prompt: sent,
            prompt_len,
            output_len: opts.output_len,
            target_len: prompt_len,
        });
    }
    Ok(out)
}

/// `--dataset-name custom`: a JSONL file of `{"prompt": "...",
/// "output_tokens": N}` objects, shuffled, the first `num_prompts` taken.
pub fn custom(
    tok: &Tokenizer,
    rng: &mut PyRandom,
    path: &Path,
    num_prompts: usize,
) -> Result<Vec<SampledRequest>, PromptsError> {
    let text = read(path)?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| bad(path, format!("line {}: {message}", n + 1));
        let value =
            servebench_pyjson::from_str(line).map_err(|e| at(format!("invalid JSON: {e}")))?;
        let d = value
            .as_dict()
            .ok_or_else(|| at("expected a JSON object".into()))?;
        let prompt = d
            .get("prompt")
            .and_then(Value::as_str)
            .ok_or_else(|| at("missing string \"prompt\"".into()))?;
        let output_len = match d.get("output_tokens") {
            Some(Value::Int(i)) if *i > 0 => *i as i64,
            _ => return Err(at("\"output_tokens\" must be a positive integer".into())),
        };
        rows.push((prompt.to_owned(), output_len));
    }
    if rows.len() < num_prompts {
        return Err(bad(
            path,
            format!(
                "{} prompts in the file, --num-prompts asks for {num_prompts}",
                rows.len()
            ),
        ));
    }
    rng.shuffle(&mut rows);
    rows.truncate(num_prompts);
    rows.into_iter()
        .map(|(prompt, output_len)| {
            let prompt_len = tok.encode_with_special(&prompt)?.len();
            Ok(SampledRequest {
                prompt,
                prompt_len,
                output_len,
                target_len: prompt_len,
            })
        })
        .collect()
}

/// A dataset file's path, required for the file datasets.
pub fn require_path(name: &str, path: Option<&str>) -> Result<PathBuf, PromptsError> {
    path.map(PathBuf::from).ok_or_else(|| {
        PromptsError::Options(format!(
            "--dataset-path is required for --dataset-name {name}"
        ))
    })
}
