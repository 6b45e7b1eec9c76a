//! Byte-pair merging of one pre-tokenized piece, the tokenizers crate's
//! `BPE` model step without its per-call costs.
//!
//! The crate's model looks up every character as a string in a hash map,
//! builds a `Word` and a heap per piece, clones every token's text into the
//! `Encoding` and keeps a thread-local cache that stops taking entries once
//! it holds 10,000 words (after the first hundred prompts of a run, it only
//! costs). Here characters are looked up in a table, pairs in a map keyed
//! by both ids, and nothing is kept per token but its id.
//!
//! Exactness: the crate merges, among all adjacent pairs with a merge, the
//! one of lowest rank, the leftmost on ties (its heap orders entries by rank
//! then position, and every pair is pushed when it forms; an entry whose
//! pair has changed since is skipped, and no changed pair can pass that
//! check, as the pair's bytes start and end where the entry's did). Short
//! pieces do exactly that by scanning; long ones keep the crate's heap.
//! The options this does not implement (dropout, subword prefix and
//! suffix) mean no `FastBpe`; a character outside the vocabulary hands the
//! piece back to the crate (its unknown-token and byte-fallback rules).
//! The tests compare both on the real DeepSeek tokenizer and on merge
//! tables built to hit ties, duplicates and stale pairs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a pair of ids packed into a `u64` (the only key hashed here).
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        // Fold the product's high bits down: the map indexes by low bits.
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8)) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

type PairMap = HashMap<u64, Merge, BuildHasherDefault<PairHasher>>;

/// A merge: its rank (order in the file) and the id it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Merge {
    rank: u32,
    new_id: u32,
}

/// No merge: ranks above every real one.
const NO_MERGE: Merge = Merge {
    rank: u32::MAX,
    new_id: 0,
};

fn pair(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// Single characters below this are looked up in a table.
const CHAR_TABLE: usize = 0x800;

/// No id in the character table.
const NONE: u32 = u32::MAX;

/// Pieces of at most this many characters are merged by scanning.
const SCAN_MAX: usize = 64;

/// GPT-2's byte-level alphabet: the character standing for each byte in
/// byte-level vocabularies (printable bytes stand for themselves, the
/// others for U+0100 onwards, in byte order).
pub(crate) fn byte_level_chars() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut chars = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..=255u8 {
        chars[usize::from(b)] = if printable(b) {
            char::from(b)
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap_or('\0')
        };
    }
    chars
}

/// A BPE model's vocabulary of single characters and its merges.
pub(crate) struct FastBpe {
    merges: PairMap,
    /// Id of each byte's byte-level character, or [`NONE`].
    byte_ids: [u32; 256],
    /// The merge of two bytes' characters, at `a << 8 | b` (a piece's
    /// first pairs are all of these: a table, not the map).
    byte_pairs: Box<[Merge]>,
    /// Id of each character below [`CHAR_TABLE`], or [`NONE`].
    char_table: Vec<u32>,
    /// Ids of the other single-character tokens.
    other_chars: HashMap<char, u32>,
}

impl std::fmt::Debug for FastBpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastBpe")
            .field("merges", &self.merges.len())
            .finish_non_exhaustive()
    }
}

impl FastBpe {
    /// From the vocabulary and merges (in rank order) as the crate's
    /// builder takes them; `None` where the builder would fail (a merge
    /// naming a token outside the vocabulary) or ranks do not fit `u32`.
    pub(crate) fn new<'a>(
        vocab: impl IntoIterator<Item = (&'a str, u32)>,
        lookup: impl Fn(&str) -> Option<u32>,
        merges: &[(String, String)],
    ) -> Option<Self> {
        let mut char_table = vec![NONE; CHAR_TABLE];
        let mut other_chars = HashMap::new();
        for (token, id) in vocab {
            let mut chars = token.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                continue;
            };
            match char_table.get_mut(c as usize) {
                Some(slot) => *slot = id,
                None => {
                    other_chars.insert(c, id);
                }
            }
        }
        let mut map = PairMap::with_capacity_and_hasher(merges.len(), Default::default());
        let mut joined = String::new();
        for (rank, (a, b)) in merges.iter().enumerate() {
            let (a_id, b_id) = (lookup(a)?, lookup(b)?);
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let new_id = lookup(&joined)?;
            // u32::MAX stands for "no merge".
            let rank = u32::try_from(rank).ok().filter(|&r| r != u32::MAX)?;
            // A pair listed twice keeps its last rank, as the crate's map.
            map.insert(pair(a_id, b_id), Merge { rank, new_id });
        }
        let mut byte_ids = [NONE; 256];
        for (id, c) in byte_ids.iter_mut().zip(byte_level_chars()) {
            *id = char_table.get(c as usize).copied().unwrap_or(NONE);
        }
        let byte_pairs = (0..1usize << 16)
            .map(|k| {
                let (a, b) = (byte_ids[k >> 8], byte_ids[k & 0xFF]);
                map.get(&pair(a, b)).copied().unwrap_or(NO_MERGE)
            })
            .collect();
        Some(FastBpe {
            merges: map,
            byte_ids,
            byte_pairs,
            char_table,
            other_chars,
        })
    }

    /// The merges as id pairs, lowest rank first (a pair listed twice
    /// once, at its last rank: the same merging).
    pub(crate) fn merges_by_rank(&self) -> Vec<(u32, u32)> {
        let mut all: Vec<(u32, u64)> = self.merges.iter().map(|(&p, m)| (m.rank, p)).collect();
        all.sort_unstable();
        all.into_iter()
            .map(|(_, p)| ((p >> 32) as u32, p as u32))
            .collect()
    }

    fn char_id(&self, c: char) -> Option<u32> {
        match self.char_table.get(c as usize) {
            Some(&id) => (id != NONE).then_some(id),
            None => self.other_chars.get(&c).copied(),
        }
    }

    fn merge_of(&self, a: u32, b: u32) -> Option<Merge> {
        self.merges.get(&pair(a, b)).copied()
    }

    fn rank_of(&self, a: u32, b: u32) -> Merge {
        self.merge_of(a, b).unwrap_or(NO_MERGE)
    }

    /// Appends the ids of `piece` to `out`; `false` (and `out` as it was)
    /// when a character is not a token, which the crate's model handles.
    pub(crate) fn tokenize(&self, piece: &str, out: &mut Vec<u32>) -> bool {
        let start = out.len();
        for c in piece.chars() {
            match self.char_id(c) {
                Some(id) => out.push(id),
                None => {
                    out.truncate(start);
                    return false;
                }
            }
        }
        self.merge_from(start, out, None);
        true
    }

    /// [`FastBpe::tokenize`] of the byte-level text of `bytes`.
    pub(crate) fn tokenize_bytes(&self, bytes: &[u8], out: &mut Vec<u32>) -> bool {
        let start = out.len();
        for &b in bytes {
            let id = self.byte_ids[usize::from(b)];
            if id == NONE {
                out.truncate(start);
                return false;
            }
            out.push(id);
        }
        self.merge_from(start, out, Some(bytes));
        true
    }

    /// Merges `out[start..]`; `bytes`: the bytes those ids stand for.
    fn merge_from(&self, start: usize, out: &mut Vec<u32>, bytes: Option<&[u8]>) {
        let Some(symbols) = out.get_mut(start..) else {
            return;
        };
        let kept = if symbols.len() <= SCAN_MAX {
            self.merge_scan(symbols, bytes)
        } else {
            self.merge_heap(symbols)
        };
        out.truncate(start + kept);
    }

    /// Merges `ids` in place by repeatedly taking the lowest-rank pair
    /// (leftmost on ties); returns how many ids remain at the front.
    fn merge_scan(&self, ids: &mut [u32], bytes: Option<&[u8]>) -> usize {
        let mut n = ids.len();
        if n < 2 {
            return n;
        }
        // ranks[i]: the merge of ids[i], ids[i + 1].
        let mut ranks = [NO_MERGE; SCAN_MAX];
        match bytes {
            Some(b) if b.len() == n => {
                for (r, w) in ranks.iter_mut().zip(b.windows(2)) {
                    let k = usize::from(w[0]) << 8 | usize::from(w[1]);
                    *r = self.byte_pairs.get(k).copied().unwrap_or(NO_MERGE);
                }
            }
            _ => {
                for i in 0..n - 1 {
                    ranks[i] = self.rank_of(ids[i], ids[i + 1]);
                }
            }
        }
        loop {
            let (mut i, mut m) = (0, NO_MERGE);
            for (k, r) in ranks[..n - 1].iter().enumerate() {
                if r.rank < m.rank {
                    (i, m) = (k, *r);
                }
            }
            if m.rank == u32::MAX {
                return n;
            }
            ids[i] = m.new_id;
            ids.copy_within(i + 2..n, i + 1);
            ranks.copy_within(i + 1..n - 1, i);
            n -= 1;
            if i > 0 {
                ranks[i - 1] = self.rank_of(ids[i - 1], ids[i]);
            }
            if i + 1 < n {
                ranks[i] = self.rank_of(ids[i], ids[i + 1]);
            }
        }
    }

    /// The crate's `Word::merge_all`, for long pieces: a heap of (rank,
    /// position) entries over a linked list of symbols.
    fn merge_heap(&self, ids: &mut [u32]) -> usize {
        let n = ids.len();
        // prev/next links; usize::MAX for none; `alive` false once merged away.
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut next: Vec<usize> = (1..=n)
            .map(|i| if i < n { i } else { usize::MAX })
            .collect();
        let mut alive = vec![true; n];
        let mut queue: BinaryHeap<Reverse<(u32, usize, u32)>> = BinaryHeap::with_capacity(n);
        for i in 0..n.saturating_sub(1) {
            if let Some(m) = self.merge_of(ids[i], ids[i + 1]) {
                queue.push(Reverse((m.rank, i, m.new_id)));
            }
        }
        while let Some(Reverse((_, pos, new_id))) = queue.pop() {
            if !alive[pos] {
                continue;
            }
            let right = next[pos];
            if right == usize::MAX {
                continue;
            }
            // An entry whose pair has changed since it was pushed.
            if self
                .merge_of(ids[pos], ids[right])
                .is_none_or(|m| m.new_id != new_id)
            {
                continue;
            }
            ids[pos] = new_id;
            alive[right] = false;
            next[pos] = next[right];
            if let Some(after) = next.get(pos).copied().filter(|&a| a < n) {
                prev[after] = pos;
            }
            if let Some(before) = prev.get(pos).copied().filter(|&b| b < n) {
                if let Some(m) = self.merge_of(ids[before], ids[pos]) {
                    queue.push(Reverse((m.rank, before, m.new_id)));
                }
            }
            if let Some(after) = next.get(pos).copied().filter(|&a| a < n) {
                if let Some(m) = self.merge_of(ids[pos], ids[after]) {
                    queue.push(Reverse((m.rank, pos, m.new_id)));
                }
            }
        }
        let mut kept = 0;
        for i in 0..n {
            if alive[i] {
                ids[kept] = ids[i];
                kept += 1;
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::bpe::BPE;
    use tokenizers::Model;

    fn build(vocab: &[&str], merges: &[(&str, &str)]) -> (FastBpe, BPE) {
        let vocab_map: HashMap<String, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| ((*t).to_owned(), i as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let fast = FastBpe::new(
            vocab_map.iter().map(|(k, v)| (k.as_str(), *v)),
            |t| vocab_map.get(t).copied(),
            &merges,
        )
        .expect("builds");
        let slow = BPE::builder()
            .vocab_and_merges(
                vocab_map
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<tokenizers::models::bpe::Vocab>(),
                merges,
            )
            .build()
            .expect("the crate builds it");
        (fast, slow)
    }

    #[track_caller]
    fn same(fast: &FastBpe, slow: &BPE, piece: &str) {
        let want: Vec<u32> = slow
            .tokenize(piece)
            .expect("tokenizes")
            .iter()
            .map(|t| t.id)
            .collect();
        let mut got = vec![7];
        assert!(fast.tokenize(piece, &mut got), "{piece:?}");
        assert_eq!(&got[1..], &want[..], "{piece:?}");
        // The same piece as the raw bytes its characters stand for.
        let chars = byte_level_chars();
        let raw: Option<Vec<u8>> = piece
            .chars()
            .map(|c| (0..=255u8).find(|&b| chars[usize::from(b)] == c))
            .collect();
        if let Some(raw) = raw {
            let mut got = vec![7];
            assert!(fast.tokenize_bytes(&raw, &mut got), "{piece:?}");
            assert_eq!(&got[1..], &want[..], "bytes {piece:?}");
        }
        // Both strategies, whatever the piece's length.
        let mut ids: Vec<u32> = piece
            .chars()
            .map(|c| fast.char_id(c).expect("char"))
            .collect();
        let mut ids2 = ids.clone();
        if ids.len() <= SCAN_MAX {
            let k = fast.merge_scan(&mut ids, None);
            assert_eq!(&ids[..k], &want[..], "scan {piece:?}");
        }
        let k = fast.merge_heap(&mut ids2);
        assert_eq!(&ids2[..k], &want[..], "heap {piece:?}");
    }

    /// Ties, overlapping pairs, a pair listed twice (the later rank holds)
    /// and two pairs making the same token.
    #[test]
    fn merges_as_the_crate_does() {
        let vocab = [
            "a", "b", "c", "d", "aa", "aaa", "aaaa", "ab", "bc", "abc", "cd", "bcd", "abcd", "ca",
        ];
        let merges = [
            ("a", "a"),
            ("b", "c"),
            ("aa", "a"),
            ("a", "bc"),
            ("ab", "c"),
            ("a", "b"),
            ("c", "d"),
            ("aa", "aa"),
            ("b", "cd"),
            ("a", "bcd"),
            ("c", "a"),
            // Listed again: this rank is the one that counts.
            ("b", "c"),
        ];
        let (fast, slow) = build(&vocab, &merges);
        let mut pieces: Vec<String> = [
            "",
            "a",
            "aa",
            "aaa",
            "aaaa",
            "aaaaa",
            "aaaaaaa",
            "abc",
            "abcd",
            "cabcd",
            "bcabca",
            "dcba",
            "abcabcabcd",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every string of up to 6 letters over the alphabet, and long ones.
        let letters = ['a', 'b', 'c', 'd'];
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            let mut grown = Vec::new();
            for s in &frontier {
                for l in letters {
                    grown.push(format!("{s}{l}"));
                }
            }
            pieces.extend(grown.iter().cloned());
            frontier = grown;
        }
        let mut x: u64 = 1;
        for len in [65, 100, 300, 1000] {
            let s: String = (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    letters[(x >> 62) as usize]
                })
                .collect();
            pieces.push(s);
        }
        for p in &pieces {
            same(&fast, &slow, p);
        }
    }

    #[test]
    fn the_byte_level_alphabet_is_gpt2s() {
        let chars = byte_level_chars();
        assert_eq!(chars[usize::from(b'a')], 'a');
        assert_eq!(chars[usize::from(b' ')], 'Ġ');
        assert_eq!(chars[usize::from(b'\n')], 'Ċ');
        assert_eq!(chars[0], 'Ā');
        assert_eq!(chars[0xAD], 'Ń');
        let distinct: std::collections::HashSet<char> = chars.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn unknown_characters_go_back_to_the_crate() {
        let (fast, _) = build(&["a", "b", "ab"], &[("a", "b")]);
        let mut out = vec![1, 2];
        assert!(!fast.tokenize("abx", &mut out));
        assert_eq!(out, [1, 2]);
        assert!(fast.tokenize("é", &mut out) == fast.char_id('é').is_some());
    }

    #[test]
    fn a_merge_outside_the_vocabulary_builds_nothing() {
        let vocab: HashMap<String, u32> = [("a".to_owned(), 0), ("b".to_owned(), 1)].into();
        let merges = vec![("a".to_owned(), "b".to_owned())];
        assert!(FastBpe::new(
            vocab.iter().map(|(k, v)| (k.as_str(), *v)),
            |t| vocab.get(t).copied(),
            &merges
        )
        .is_none());
    }
}
