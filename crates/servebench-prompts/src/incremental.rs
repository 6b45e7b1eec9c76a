//! Exact, faster encoding of texts that share long stretches with a text
//! already encoded — the situation of the `random` dataset, whose prompts
//! are all slices of one text (the vocabulary decoded in order) and whose
//! retries change only a prompt's end.
//!
//! Why it is exact: with no normalizer, encoding splits the text around
//! added tokens, splits the rest into pieces with the pre-tokenizer's
//! regexes, and runs BPE on each piece alone. Regex splitting is local: away
//! from the ends of a text, where the pieces start and end depends only on
//! the nearby characters. So a text's tokens are those of a reference text
//! over the shared stretch, except within a margin of the stretch's ends,
//! which are encoded for real in small windows. Every window must line up
//! with the reference (same tokens and piece starts around the cut) before
//! its tokens are used; otherwise the whole text is encoded normally.
//!
//! Byte-level BPE is lossless (`decode(encode(t)) == t`), and the byte
//! spans of tokens come from each token's raw bytes, which the byte-level
//! decoder concatenates and converts to UTF-8 lossily.

use crate::tokenizer::Tokenizer;
use crate::PromptsError;
use std::ops::Range;

/// Bytes of context on each side of a cut that the check and the windows
/// cover. Pieces longer than this make the check fail, never the output.
const MARGIN: usize = 192;

/// A text with its tokens, their byte starts and piece starts.
pub(crate) struct Encoded {
    pub text: String,
    pub ids: Vec<u32>,
    /// `starts[k]` = byte offset of token `k`; one more entry for the end.
    starts: Vec<usize>,
    /// Whether token `k` starts a pre-tokenizer piece (or added token).
    piece_start: Vec<bool>,
}

/// Raw bytes of every token, as the byte-level decoder produces them.
pub(crate) struct TokenBytes {
    bytes: Vec<Box<[u8]>>,
}

/// GPT-2's byte ↔ printable-character table that byte-level BPE uses.
fn byte_level_char_to_byte() -> std::collections::HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = std::collections::HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..256 {
        let c = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        if let Some(ch) = char::from_u32(c) {
            map.insert(ch, b as u8);
        }
    }
    map
}

impl TokenBytes {
    pub(crate) fn new(tok: &Tokenizer, total_ids: usize) -> Option<Self> {
        let table = byte_level_char_to_byte();
        let mut bytes = Vec::with_capacity(total_ids);
        for id in 0..total_ids as u32 {
            let token = tok.id_to_token(id)?;
            let mapped: Option<Vec<u8>> = token.chars().map(|c| table.get(&c).copied()).collect();
            bytes.push(
                mapped
                    .unwrap_or_else(|| token.as_bytes().to_vec())
                    .into_boxed_slice(),
            );
        }
        Some(TokenBytes { bytes })
    }

    pub(crate) fn len_of(&self, id: u32) -> Option<usize> {
        self.bytes.get(id as usize).map(|b| b.len())
    }

    /// The raw byte string of `ids`.
    pub(crate) fn concat(&self, ids: impl IntoIterator<Item = u32>) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for id in ids {
            out.extend_from_slice(self.bytes.get(id as usize)?);
        }
        Some(out)
    }

    /// `tokenizer.decode(ids)` for a byte-level tokenizer.
    pub(crate) fn decode(&self, ids: &[u32]) -> Option<String> {
        self.concat(ids.iter().copied())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

impl Encoded {
    /// Encodes `text` normally, with the piece structure.
    pub(crate) fn new(
        tok: &Tokenizer,
        bytes: &TokenBytes,
        text: String,
    ) -> Result<Option<Self>, PromptsError> {
        let (ids, words) = tok.encode_with_words(&text)?;
        Ok(Self::from_parts(bytes, text, ids, &words))
    }

    fn from_parts(
        bytes: &TokenBytes,
        text: String,
        ids: Vec<u32>,
        words: &[Option<u32>],
    ) -> Option<Self> {
        let mut starts = Vec::with_capacity(ids.len() + 1);
        let mut at = 0usize;
        for &id in &ids {
            starts.push(at);
            at += bytes.len_of(id)?;
        }
        starts.push(at);
        // The tokens must tile the text exactly, or nothing here applies.
        if at != text.len() {
            return None;
        }
        let piece_start = (0..ids.len())
            .map(|k| k == 0 || words[k] != words[k - 1] || words[k].is_none())
            .collect();
        Some(Encoded {
            text,
            ids,
            starts,
            piece_start,
        })
    }

    fn end(&self, k: usize) -> usize {
        self.starts[k + 1]
    }
}

/// Encodes `text` knowing that `text[shared]` equals
/// `reference.text[ref_start..ref_start + shared.len()]`.
pub(crate) fn encode(
    tok: &Tokenizer,
    bytes: &TokenBytes,
    text: &str,
    shared: Range<usize>,
    reference: &Encoded,
    ref_start: usize,
) -> Result<Vec<u32>, PromptsError> {
    match try_encode(tok, bytes, text, &shared, reference, ref_start)? {
        Some(ids) => Ok(ids),
        None => tok.encode(text),
    }
}

fn try_encode(
    tok: &Tokenizer,
    bytes: &TokenBytes,
    text: &str,
    shared: &Range<usize>,
    reference: &Encoded,
    ref_start: usize,
) -> Result<Option<Vec<u32>>, PromptsError> {
    if shared.len() < 6 * MARGIN {
        return Ok(None);
    }
    let to_text = |r: usize| r + shared.start - ref_start;
    let (lo, hi) = (
        ref_start + 2 * MARGIN,
        ref_start + shared.len() - 2 * MARGIN,
    );
    // First and last reference pieces that start / end inside [lo, hi].
    let first = reference.starts.partition_point(|&s| s < lo);
    let Some(p1) = (first..reference.ids.len()).find(|&k| reference.piece_start[k]) else {
        return Ok(None);
    };
    let last_end = reference
        .starts
        .partition_point(|&s| s <= hi)
        .saturating_sub(1);
    let Some(p2) = (p1..last_end).rev().find(|&k| reference.piece_start[k]) else {
        return Ok(None);
    };
    if reference.starts[p1] > hi || p2 <= p1 {
        return Ok(None);
    }
    let (cut1, cut2) = (to_text(reference.starts[p1]), to_text(reference.starts[p2]));
    let Some(head) = window_tokens(
        tok,
        bytes,
        text,
        0,
        cut1 + MARGIN,
        cut1,
        reference,
        p1,
        &to_text,
    )?
    else {
        return Ok(None);
    };
    let Some(tail) = window_tokens(
        tok,
        bytes,
        text,
        cut2 - MARGIN,
        text.len(),
        cut2,
        reference,
        p2,
        &to_text,
    )?
    else {
        return Ok(None);
    };
    let mut ids = head.0;
    ids.extend_from_slice(&reference.ids[p1..p2]);
    ids.extend_from_slice(&tail.1);
    Ok(Some(ids))
}

/// A window's tokens before and from the cut.
type Split = (Vec<u32>, Vec<u32>);

/// Encodes `text[from..to]` and splits its tokens at `cut` (absolute),
/// after checking that around the cut (± MARGIN/2) it has exactly the
/// reference's tokens and piece starts. Returns (before cut, from cut).
#[allow(clippy::too_many_arguments)] // one call site per side; a struct would only rename them
fn window_tokens(
    tok: &Tokenizer,
    bytes: &TokenBytes,
    text: &str,
    from: usize,
    to: usize,
    cut: usize,
    reference: &Encoded,
    ref_cut_token: usize,
    to_text: &dyn Fn(usize) -> usize,
) -> Result<Option<Split>, PromptsError> {
    // Windows start and end on character boundaries.
    let mut from = from.min(cut);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = to.clamp(cut, text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let (Some(window), true) = (text.get(from..to), text.is_char_boundary(cut)) else {
        return Ok(None);
    };
    let Some(enc) = Encoded::new(tok, bytes, window.to_owned())? else {
        return Ok(None);
    };
    let local_cut = cut - from;
    let Ok(k) = enc.starts[..enc.ids.len()].binary_search(&local_cut) else {
        return Ok(None);
    };
    if !enc.piece_start[k] {
        return Ok(None);
    }
    // Compare tokens whose spans lie within ± MARGIN/2 of the cut.
    let (lo, hi) = (local_cut.saturating_sub(MARGIN / 2), local_cut + MARGIN / 2);
    let mut w = k;
    while w > 0 && enc.starts[w - 1] >= lo {
        w -= 1;
    }
    let offset = ref_cut_token as isize - k as isize;
    let mut j = w;
    while j < enc.ids.len() && enc.end(j) <= hi {
        let r = j as isize + offset;
        let Ok(r) = usize::try_from(r) else {
            return Ok(None);
        };
        if r >= reference.ids.len()
            || reference.ids[r] != enc.ids[j]
            || reference.piece_start[r] != enc.piece_start[j]
            || to_text(reference.starts[r]) != enc.starts[j] + from
        {
            return Ok(None);
        }
        j += 1;
    }
    if j - w < 4 {
        return Ok(None);
    }
    Ok(Some((enc.ids[..k].to_vec(), enc.ids[k..].to_vec())))
}
