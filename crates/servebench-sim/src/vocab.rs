//! The built-in vocabulary used when no tokenizer is given: cheap,
//! deterministic text, and a token estimate for prompts.

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
