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

/// Raw bytes of every token, as the byte-level decoder produces them: one
/// buffer and each token's end in it (one allocation, not one per token).
pub(crate) struct TokenBytes {
    data: Vec<u8>,
    /// `ends[id]`: where token `id`'s bytes end in `data`; they start where
    /// the previous token's end.
    ends: Vec<usize>,
}

/// Characters of GPT-2's byte-level alphabet are all below this.
const BYTE_LEVEL_CHARS: usize = 256 + 68;

/// GPT-2's printable-character → byte table that byte-level BPE uses,
/// indexed by the character (a table, not a hash map: it is looked up once
/// per character of the whole vocabulary).
fn byte_level_char_to_byte() -> [Option<u8>; BYTE_LEVEL_CHARS] {
    let mut table = [None; BYTE_LEVEL_CHARS];
    for (b, c) in (0..=255u8).zip(crate::bpe::byte_level_chars()) {
        if let Some(slot) = table.get_mut(c as usize) {
            *slot = Some(b);
        }
    }
    table
}

/// One token's text as the byte-level decoder turns it into bytes: each
/// character's byte, or the text's UTF-8 when a character is not one of
/// the byte-level alphabet (an added token).
fn push_token_bytes(table: &[Option<u8>; BYTE_LEVEL_CHARS], token: &str, data: &mut Vec<u8>) {
    let start = data.len();
    for c in token.chars() {
        match table.get(c as usize).copied().flatten() {
            Some(b) => data.push(b),
            None => {
                data.truncate(start);
                data.extend_from_slice(token.as_bytes());
                return;
            }
        }
    }
}

impl TokenBytes {
    /// Every id's bytes, `tokenizer.decode([id])` before the lossy UTF-8
    /// conversion. The base vocabulary's come from the table read with the
    /// tokenizer where there is one (looking up 128k ids one by one costs
    /// more than the decoding the table saves), the added tokens' by id.
    pub(crate) fn new(tok: &Tokenizer, total_ids: usize) -> Option<Self> {
        let table = byte_level_char_to_byte();
        let (mut data, mut ends) = match tok.base_token_bytes() {
            Some(base) if base.ends.len() <= total_ids => (base.data.clone(), base.ends.clone()),
            _ => (
                Vec::with_capacity(total_ids.saturating_mul(8)),
                Vec::with_capacity(total_ids),
            ),
        };
        for id in ends.len()..total_ids {
            let token = tok.id_to_token(u32::try_from(id).ok()?)?;
            push_token_bytes(&table, &token, &mut data);
            ends.push(data.len());
        }
        Some(TokenBytes { data, ends })
    }

    /// The bytes of ids `0..n` from a model's vocabulary (token → id),
    /// where those ids are exactly its ids; `None` otherwise.
    pub(crate) fn from_vocab<'a>(
        vocab: impl Iterator<Item = (&'a str, u32)> + Clone,
    ) -> Option<Self> {
        let table = byte_level_char_to_byte();
        // Ids past the number of tokens leave a hole: no table.
        let mut tokens: Vec<Option<&str>> = vec![None; vocab.clone().count()];
        for (token, id) in vocab {
            *tokens.get_mut(usize::try_from(id).ok()?)? = Some(token);
        }
        let mut data = Vec::with_capacity(tokens.len().saturating_mul(8));
        let mut ends = Vec::with_capacity(tokens.len());
        for token in tokens {
            push_token_bytes(&table, token?, &mut data);
            ends.push(data.len());
        }
        Some(TokenBytes { data, ends })
    }

    fn get(&self, id: u32) -> Option<&[u8]> {
        let k = usize::try_from(id).ok()?;
        let end = *self.ends.get(k)?;
        let start = match k.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.data.get(start..end)
    }

    /// How many ids it has bytes for.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn len_of(&self, id: u32) -> Option<usize> {
        self.get(id).map(<[u8]>::len)
    }

    /// The raw byte string of `ids`.
    pub(crate) fn concat(&self, ids: impl IntoIterator<Item = u32>) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for id in ids {
            out.extend_from_slice(self.get(id)?);
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
        let piece_start = piece_starts(words);
        Self::tiled(bytes, text, ids, piece_start)
    }

    /// The encoding of `text` as `ids`, if their bytes tile it exactly.
    fn tiled(
        bytes: &TokenBytes,
        text: String,
        ids: Vec<u32>,
        piece_start: Vec<bool>,
    ) -> Option<Self> {
        let starts = token_starts(bytes, &ids)?;
        // The tokens must tile the text exactly, or nothing here applies.
        if starts.last() != Some(&text.len()) || piece_start.len() != ids.len() {
            return None;
        }
        Some(Encoded {
            text,
            ids,
            starts,
            piece_start,
        })
    }

    /// [`Encoded::new`] of a long text on up to `threads` threads: the text
    /// is cut into parts that overlap by [`OVERLAP`] bytes, each part is
    /// encoded alone, and neighbours are joined at a piece start near the
    /// cut where both encodings agree around it (the same check, on the
    /// same margin, as a prompt's windows). If a join does not line up, the
    /// whole text is encoded on one thread instead.
    pub(crate) fn new_parallel(
        tok: &Tokenizer,
        bytes: &TokenBytes,
        text: String,
        threads: usize,
    ) -> Result<Option<Self>, PromptsError> {
        Self::new_in_parts(tok, bytes, text, threads, MIN_PART)
    }

    /// [`Encoded::new_parallel`] with parts of at least `min_part` bytes.
    fn new_in_parts(
        tok: &Tokenizer,
        bytes: &TokenBytes,
        text: String,
        threads: usize,
        min_part: usize,
    ) -> Result<Option<Self>, PromptsError> {
        if let Some((ids, piece_start)) = encode_in_parts(tok, bytes, &text, threads, min_part)? {
            if let Some(starts) = token_starts(bytes, &ids) {
                // The joined tokens tile the text, as every part's did.
                if starts.last() == Some(&text.len()) && piece_start.len() == ids.len() {
                    return Ok(Some(Encoded {
                        text,
                        ids,
                        starts,
                        piece_start,
                    }));
                }
            }
        }
        Self::new(tok, bytes, text)
    }

    fn end(&self, k: usize) -> usize {
        self.starts[k + 1]
    }
}

/// Parts of a text encoded on separate threads are at least this long.
const MIN_PART: usize = 64 * 1024;

/// Bytes each part of a parallel encoding reaches past its cut.
const OVERLAP: usize = 4 * MARGIN;

/// Byte offset of each token, and the end, from the tokens' byte lengths.
fn token_starts(bytes: &TokenBytes, ids: &[u32]) -> Option<Vec<usize>> {
    let mut starts = Vec::with_capacity(ids.len() + 1);
    let mut at = 0usize;
    for &id in ids {
        starts.push(at);
        at = at.checked_add(bytes.len_of(id)?)?;
    }
    starts.push(at);
    Some(starts)
}

/// Whether each token starts a piece, from the piece index of each token.
fn piece_starts(words: &[Option<u32>]) -> Vec<bool> {
    (0..words.len())
        .map(|k| k == 0 || words[k] != words[k - 1] || words[k].is_none())
        .collect()
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// One part of a parallel encoding: tokens of `text[from..]` with their
/// byte starts (relative to `from`) and piece starts.
struct Part {
    from: usize,
    ids: Vec<u32>,
    starts: Vec<usize>,
    piece_start: Vec<bool>,
}

impl Part {
    fn new(
        tok: &Tokenizer,
        bytes: &TokenBytes,
        text: &str,
        from: usize,
    ) -> Result<Option<Self>, PromptsError> {
        let (ids, words) = tok.encode_with_words(text)?;
        let Some(starts) = token_starts(bytes, &ids) else {
            return Ok(None);
        };
        if starts.last() != Some(&text.len()) || words.len() != ids.len() {
            return Ok(None);
        }
        Ok(Some(Part {
            from,
            piece_start: piece_starts(&words),
            ids,
            starts,
        }))
    }

    /// The token starting exactly at absolute offset `at`.
    fn token_at(&self, at: usize) -> Option<usize> {
        let local = at.checked_sub(self.from)?;
        self.starts[..self.ids.len()].binary_search(&local).ok()
    }
}

/// Token ids and, per token, whether it starts a piece.
type Joined = (Vec<u32>, Vec<bool>);

/// The tokens and piece starts of `text` from up to `threads` parts of at
/// least `min_part` bytes, encoded on as many threads and joined; `None`
/// when there is one part, or a part does not tile its text, or a join
/// does not line up.
fn encode_in_parts(
    tok: &Tokenizer,
    bytes: &TokenBytes,
    text: &str,
    threads: usize,
    min_part: usize,
) -> Result<Option<Joined>, PromptsError> {
    let parts = threads.min(text.len() / min_part.max(1)).max(1);
    if parts == 1 {
        return Ok(None);
    }
    let cuts: Vec<usize> = (1..parts)
        .map(|j| floor_char_boundary(text, text.len() / parts * j))
        .collect();
    let ranges: Vec<Range<usize>> = (0..parts)
        .map(|j| {
            let from = j
                .checked_sub(1)
                .and_then(|p| cuts.get(p))
                .map_or(0, |&c| floor_char_boundary(text, c.saturating_sub(OVERLAP)));
            let to = cuts.get(j).map_or(text.len(), |&c| {
                ceil_char_boundary(text, c.saturating_add(OVERLAP))
            });
            from..to
        })
        .collect();
    let encoded: Vec<Result<Option<Part>, PromptsError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .iter()
            .map(|r| {
                let piece = text.get(r.clone()).unwrap_or_default();
                let from = r.start;
                scope.spawn(move || Part::new(tok, bytes, piece, from))
            })
            .collect();
        handles
            .into_iter()
            // A part whose thread panicked is one that does not line up.
            .map(|h| h.join().unwrap_or(Ok(None)))
            .collect()
    });
    let mut done = Vec::with_capacity(parts);
    for part in encoded {
        match part? {
            Some(p) => done.push(p),
            None => return Ok(None),
        }
    }
    Ok(join_parts(&done, &cuts))
}

/// Joins the parts at one agreed piece start near each cut: the tokens of
/// part `j` from its join with part `j - 1` up to its join with part `j + 1`.
fn join_parts(parts: &[Part], cuts: &[usize]) -> Option<Joined> {
    let mut ids = Vec::new();
    let mut piece_start = Vec::new();
    // Where the current part's tokens begin (its join with the previous).
    let mut begin = 0usize;
    for (j, &cut) in cuts.iter().enumerate() {
        let (left, right) = (parts.get(j)?, parts.get(j + 1)?);
        let (kl, kr) = agreed_join(left, right, cut)?;
        if kl < begin {
            return None;
        }
        ids.extend_from_slice(left.ids.get(begin..kl)?);
        piece_start.extend_from_slice(left.piece_start.get(begin..kl)?);
        begin = kr;
    }
    let last = parts.last()?;
    ids.extend_from_slice(last.ids.get(begin..)?);
    piece_start.extend_from_slice(last.piece_start.get(begin..)?);
    Some((ids, piece_start))
}

/// The first piece start at or after `cut` in `left` (within MARGIN of
/// it), if `right` starts a piece at the same byte and both have the same
/// tokens, piece starts and offsets within ± MARGIN/2 of it: `(token in
/// left, token in right)`.
fn agreed_join(left: &Part, right: &Part, cut: usize) -> Option<(usize, usize)> {
    let local = cut.checked_sub(left.from)?;
    let first = left.starts[..left.ids.len()].partition_point(|&s| s < local);
    let kl = (first..left.ids.len()).find(|&k| left.piece_start[k])?;
    let at = left.from + left.starts[kl];
    if at > cut + MARGIN {
        return None;
    }
    let kr = right.token_at(at)?;
    if !right.piece_start[kr] {
        return None;
    }
    let (lo, hi) = (at.saturating_sub(MARGIN / 2), at + MARGIN / 2);
    let mut w = kl;
    while w > 0 && left.from + left.starts[w - 1] >= lo {
        w -= 1;
    }
    let mut k = w;
    while k < left.ids.len() && left.from + left.starts[k + 1] <= hi {
        // The token of `right` that `k` of `left` should be.
        let r = (k + kr).checked_sub(kl)?;
        if r >= right.ids.len()
            || right.ids[r] != left.ids[k]
            || right.piece_start[r] != left.piece_start[k]
            || right.from + right.starts[r] != left.from + left.starts[k]
        {
            return None;
        }
        k += 1;
    }
    // Both sides of the join were compared.
    (w < kl && k > kl && k - w >= 4).then_some((kl, kr))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn deepseek() -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/tokenizers/deepseek-r1");
        Tokenizer::load(&dir.display().to_string(), &|_| None).unwrap()
    }

    /// The table read with the tokenizer gives every id the bytes that
    /// looking each id up gives.
    #[test]
    fn token_bytes_from_the_vocabulary_are_those_by_id() {
        let tok = deepseek();
        assert!(tok.base_token_bytes().is_some());
        let fast = TokenBytes::new(&tok, tok.total_ids()).unwrap();
        let table = byte_level_char_to_byte();
        let (mut data, mut ends) = (Vec::new(), Vec::new());
        for id in 0..tok.total_ids() as u32 {
            push_token_bytes(&table, &tok.id_to_token(id).unwrap(), &mut data);
            ends.push(data.len());
        }
        assert_eq!(fast.ends, ends);
        assert!(fast.data == data);
        // Ids with a hole are no table.
        assert!(TokenBytes::from_vocab([("a", 0u32), ("b", 2)].into_iter()).is_none());
        assert!(TokenBytes::from_vocab([("a", 1u32), ("b", 0)].into_iter()).is_some());
    }

    #[test]
    fn the_byte_table_is_gpt2s() {
        let table = byte_level_char_to_byte();
        assert_eq!(table['!' as usize], Some(b'!'));
        assert_eq!(table['\u{120}' as usize], Some(b' '));
        assert_eq!(table['\u{10a}' as usize], Some(b'\n'));
        assert_eq!(table['\u{100}' as usize], Some(0));
        assert_eq!(table[0xad], None);
        assert_eq!(table[' ' as usize], None);
        assert_eq!(table.iter().flatten().count(), 256);
    }

    #[test]
    fn token_bytes_decode_as_the_tokenizer() {
        let tok = deepseek();
        let bytes = TokenBytes::new(&tok, tok.total_ids()).unwrap();
        let vocab = tok.vocab_size() as u32;
        let ids: Vec<u32> = (0..vocab).step_by(37).collect();
        assert_eq!(bytes.decode(&ids).unwrap(), tok.decode(&ids).unwrap());
        // An added token (id 0 here) is its text.
        assert_eq!(bytes.len_of(0), Some(tok.decode(&[0]).unwrap().len()));
        assert_eq!(
            bytes.decode(&[0]),
            Some("<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}>".into())
        );
        assert_eq!(bytes.len_of(tok.total_ids() as u32), None);
        assert_eq!(bytes.concat([tok.total_ids() as u32]), None);
    }

    /// Encoded on several threads and joined, the text has exactly the
    /// tokens and piece starts of one encoding, whether the joins line up
    /// or a piece across a cut sends it back to one thread.
    #[test]
    fn parallel_encoding_equals_the_serial_one() {
        let tok = deepseek();
        let bytes = TokenBytes::new(&tok, tok.total_ids()).unwrap();
        let ids: Vec<u32> = (2000..9000).collect();
        let words = bytes.decode(&ids).unwrap();
        let long_piece = format!(
            "{}{}{}",
            "hello world ".repeat(200),
            "x".repeat(3000),
            " and more".repeat(200)
        );
        // The vocabulary's words join at every cut; the long piece cannot
        // be cut in two.
        assert!(encode_in_parts(&tok, &bytes, &words, 5, 1)
            .unwrap()
            .is_some());
        assert!(encode_in_parts(&tok, &bytes, &long_piece, 2, 1)
            .unwrap()
            .is_none());
        for text in [words, long_piece] {
            let serial = Encoded::new(&tok, &bytes, text.clone()).unwrap().unwrap();
            for (threads, min_part) in [(2, 1), (3, 4096), (7, 1), (2, usize::MAX)] {
                let par = Encoded::new_in_parts(&tok, &bytes, text.clone(), threads, min_part)
                    .unwrap()
                    .unwrap();
                assert_eq!(par.ids, serial.ids, "{threads} threads");
                assert_eq!(par.starts, serial.starts);
                assert_eq!(par.piece_start, serial.piece_start);
                assert_eq!(par.text, serial.text);
            }
        }
    }

    #[test]
    fn parts_join_only_where_they_agree() {
        let tok = deepseek();
        let bytes = TokenBytes::new(&tok, tok.total_ids()).unwrap();
        let text = format!(
            "{}{}{}",
            "hello world ".repeat(200),
            "x".repeat(3000),
            " and more".repeat(200)
        );
        let part = |cut: usize| {
            let left = Part::new(&tok, &bytes, &text[..cut + OVERLAP], 0)
                .unwrap()
                .unwrap();
            let from = cut - OVERLAP;
            let right = Part::new(&tok, &bytes, &text[from..], from)
                .unwrap()
                .unwrap();
            agreed_join(&left, &right, cut)
                .map(|(kl, kr)| (left.from + left.starts[kl], right.from + right.starts[kr]))
        };
        // Among the words: the next piece start (" world" at 1206).
        assert_eq!(part(1201), Some((1205, 1205)));
        // Inside the 3000-byte piece: nothing to join at.
        assert_eq!(part(3600), None);
    }
}
