//! Where response text and prompt token counts come from: a [`TextSource`].
//! The built-in one is a small word list with a token estimate; the
//! `sim_server` binary plugs in a real tokenizer.

/// Token text for responses and token counts for prompts.
pub trait TextSource: Send + Sync + std::fmt::Debug {
    /// Tokens in a prompt.
    fn prompt_tokens(&self, text: &str) -> usize;
    /// The `k`-th generated token of the response seeded by `seed`.
    fn token(&self, seed: u64, k: usize) -> &str;
}

/// The built-in word list (see [`token`] and [`estimate_tokens`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltIn;

impl TextSource for BuiltIn {
    fn prompt_tokens(&self, text: &str) -> usize {
        estimate_tokens(text)
    }

    fn token(&self, seed: u64, k: usize) -> &str {
        token(seed, k)
    }
}

const WORDS: [&str; 32] = [
    " the",
    " model",
    " answers",
    " quickly",
    ",",
    " and",
    " every",
    " token",
    " arrives",
    " on",
    " time",
    ".",
    " A",
    " batch",
    " of",
    " requests",
    " shares",
    " one",
    " GPU",
    " while",
    " cache",
    " blocks",
    " fill",
    " up",
    " then",
    " drain",
    " again",
    ";",
    " latency",
    " stays",
    " low",
    " here",
];

/// The `k`-th generated token of a response seeded by `seed`.
pub fn token(seed: u64, k: usize) -> &'static str {
    WORDS[((seed as usize).wrapping_add(k.wrapping_mul(7))) % WORDS.len()]
}

/// Prompt tokens without a real tokenizer: ⌈len/4⌉ per whitespace-separated
/// word (at least 1 for a non-empty prompt), roughly what BPE tokenizers
/// give for English text.
pub fn estimate_tokens(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| w.len().div_ceil(4))
        .sum::<usize>()
        .max(usize::from(!text.is_empty()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn estimates() {
        assert_eq!(super::estimate_tokens(""), 0);
        assert_eq!(super::estimate_tokens("a"), 1);
        assert_eq!(super::estimate_tokens("hello world, tokens"), 2 + 2 + 2);
        assert_eq!(super::token(0, 0), " the");
    }
}
