//! The prefix cache: vLLM's automatic prefix caching, kept as hashes.
//!
//! A prompt's token ids are cut into blocks of [`BLOCK_TOKENS`]; only full
//! blocks are hashed, and each block's hash covers its parent's hash and
//! its own ids, so one hash stands for the whole prefix up to the block's
//! end (a different early block changes every later hash). A lookup walks
//! the hashes from the start and stops at the first block not cached. As
//! in vLLM, a request always computes at least its last token: a lookup
//! considers only the blocks that end before it (`(tokens − 1) / 16` of
//! them), so a prompt seen twice hits all but its last block when its
//! length is a multiple of 16.
//!
//! Capacity is in blocks. When more are cached, the least recently used go
//! first. A request touches its blocks last to first, so the first block
//! of a prefix is the most recently used and a chain is evicted from its
//! tail, the way vLLM frees a request's blocks in reverse order (evicting
//! a chain's head would strand every block after it).
//!
//! The cache holds content only: in vLLM a cached block no request
//! references is a *free* block that still remembers its hash, so it does
//! not count in the KV-cache usage gauge; the engine (model mode) shrinks
//! the cache as running requests claim the pool.
//!
//! The hit accounting is vLLM's (`vllm:prefix_cache_queries` and
//! `vllm:prefix_cache_hits` count tokens): a lookup of a prompt of `n`
//! tokens adds `n` queries and `16 · hit blocks` hits.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens per KV-cache block (vLLM's default `--block-size`).
pub const BLOCK_TOKENS: usize = 16;

/// The prefix cache's size in fast mode when `--kv-cache-tokens` is not
/// given: 2²⁰ tokens, about what one H200 holds for an 8B model at bf16.
pub const FAST_MODE_KV_TOKENS: usize = 1 << 20;

/// The largest `--kv-cache-tokens` accepted: block indices are 32-bit.
pub const MAX_KV_TOKENS: usize = (u32::MAX as usize - 1) * BLOCK_TOKENS;

/// The start-up line that states the KV cache's size in vLLM's words,
/// `GPU KV cache size: 1,048,576 tokens`: InferenceX's
/// `process_agentic_result` reads `kv_cache_pool_tokens` from `server.log`
/// with `GPU KV cache size:\s*([\d,]+)\s*tokens` (SPEC-agentx §7.5).
/// Like vLLM (`num_gpu_blocks × block_size`, printed with `{:,}`) it
/// counts the whole blocks that `kv_tokens` holds.
pub fn kv_cache_size_line(kv_tokens: usize) -> String {
    let tokens = (kv_tokens / BLOCK_TOKENS).saturating_mul(BLOCK_TOKENS);
    let digits = tokens.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("GPU KV cache size: {grouped} tokens")
}

/// The hash of the (absent) parent of a prompt's first block.
const ROOT: u64 = 0x9e37_79b9_7f4a_7c15;

/// Bytes per block of the prompt *text*, the engine's stand-in for token
/// blocks while a slow tokenizer is still counting (module `engine`):
/// about 16 tokens of English.
pub(crate) const TEXT_BLOCK_BYTES: usize = 64;

/// `block`'s hash in the chain after `parent`. SipHash-1-3 with fixed
/// keys: deterministic across runs, and 64 bits make a false hit between
/// two different prefixes practically impossible at the sizes a run sees.
fn chain(parent: u64, block: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write_u64(parent);
    h.write(block);
    h.finish()
}

/// The chained hashes of the full blocks of `ids`.
pub(crate) fn block_hashes(ids: &[u32]) -> Vec<u64> {
    let mut out = Vec::with_capacity(ids.len() / BLOCK_TOKENS);
    let mut parent = ROOT;
    let mut bytes = [0u8; BLOCK_TOKENS * 4];
    for block in ids.chunks_exact(BLOCK_TOKENS) {
        for (slot, id) in bytes.chunks_exact_mut(4).zip(block) {
            slot.copy_from_slice(&id.to_le_bytes());
        }
        parent = chain(parent, &bytes);
        out.push(parent);
    }
    out
}

/// The chained hashes of the full [`TEXT_BLOCK_BYTES`] blocks of `text`.
pub(crate) fn text_block_hashes(text: &str) -> Vec<u64> {
    let mut parent = ROOT;
    (text.as_bytes().chunks_exact(TEXT_BLOCK_BYTES))
        .map(|block| {
            parent = chain(parent, block);
            parent
        })
        .collect()
}

/// A prompt's exact token count and the hashes of its full blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocks {
    pub tokens: usize,
    pub hashes: Vec<u64>,
}

impl Blocks {
    pub(crate) fn new(tokens: usize, ids: &[u32]) -> Self {
        Blocks {
            tokens,
            hashes: block_hashes(ids),
        }
    }
}

/// Keys are hashes already: use them as they are.
#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    hash: u64,
    /// Towards the most recently used end.
    newer: u32,
    /// Towards the least recently used end.
    older: u32,
}

/// Cached block hashes in least-recently-used order: a doubly linked list
/// in a slab, so touching and evicting are O(1).
#[derive(Debug)]
pub(crate) struct PrefixCache {
    capacity: usize,
    index: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
}

impl PrefixCache {
    /// A cache of at most `capacity` blocks (capped at [`MAX_KV_TOKENS`]
    /// worth of blocks).
    pub(crate) fn new(capacity: usize) -> Self {
        PrefixCache {
            capacity: capacity.min(MAX_KV_TOKENS / BLOCK_TOKENS),
            index: HashMap::default(),
            nodes: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
        }
    }

    /// Blocks cached now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The tokens of `blocks` already cached, as vLLM counts them: whole
    /// leading blocks, ending before the prompt's last token. The hit
    /// blocks become the most recently used.
    pub(crate) fn lookup(&mut self, blocks: &Blocks) -> usize {
        let usable = blocks.tokens.saturating_sub(1) / BLOCK_TOKENS;
        let hashes = &blocks.hashes[..usable.min(blocks.hashes.len())];
        self.lookup_hashes(hashes) * BLOCK_TOKENS
    }

    /// The number of leading `hashes` cached; those become the most
    /// recently used.
    pub(crate) fn lookup_hashes(&mut self, hashes: &[u64]) -> usize {
        let hit = hashes
            .iter()
            .take_while(|h| self.index.contains_key(h))
            .count();
        for h in hashes[..hit].iter().rev() {
            if let Some(&i) = self.index.get(h) {
                self.touch(i);
            }
        }
        hit
    }

    /// Caches every full block of `blocks` (last to first, so the first is
    /// the most recently used), then evicts the least recently used blocks
    /// beyond `limit` (and beyond the capacity).
    pub(crate) fn insert(&mut self, blocks: &Blocks, limit: usize) {
        self.insert_hashes(&blocks.hashes, limit);
    }

    /// [`insert`](Self::insert) for bare hashes.
    pub(crate) fn insert_hashes(&mut self, hashes: &[u64], limit: usize) {
        let limit = limit.min(self.capacity);
        self.shrink(limit);
        if limit == 0 {
            return;
        }
        for &h in hashes.iter().rev() {
            match self.index.get(&h) {
                Some(&i) => self.touch(i),
                None => {
                    while self.index.len() >= limit {
                        self.evict_oldest();
                    }
                    self.push(h);
                }
            }
        }
    }

    /// Evicts the least recently used blocks until at most `limit` remain.
    pub(crate) fn shrink(&mut self, limit: usize) {
        while self.index.len() > limit.min(self.capacity) {
            self.evict_oldest();
        }
    }

    fn unlink(&mut self, i: u32) {
        let Node { newer, older, .. } = self.nodes[i as usize];
        match newer {
            NIL => self.newest = older,
            n => self.nodes[n as usize].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.nodes[o as usize].newer = newer,
        }
    }

    fn link_newest(&mut self, i: u32) {
        let node = &mut self.nodes[i as usize];
        node.newer = NIL;
        node.older = self.newest;
        match self.newest {
            NIL => self.oldest = i,
            n => self.nodes[n as usize].newer = i,
        }
        self.newest = i;
    }

    fn touch(&mut self, i: u32) {
        if self.newest != i {
            self.unlink(i);
            self.link_newest(i);
        }
    }

    fn push(&mut self, hash: u64) {
        let node = Node {
            hash,
            newer: NIL,
            older: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                // The capacity caps the slab below NIL (see `new`).
                let i = u32::try_from(self.nodes.len()).unwrap_or(NIL);
                if i == NIL {
                    return;
                }
                self.nodes.push(node);
                i
            }
        };
        self.index.insert(hash, i);
        self.link_newest(i);
    }

    fn evict_oldest(&mut self) {
        let i = self.oldest;
        if i == NIL {
            return;
        }
        self.unlink(i);
        self.index.remove(&self.nodes[i as usize].hash);
        self.free.push(i);
    }
}

/// The cache's counters for `/metrics`, in tokens.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queries: AtomicU64,
    pub hits: AtomicU64,
    /// Hit tokens the simulated GPU prefilled anyway: their exact token
    /// ids were known only after its prefill had passed them (a slow
    /// tokenizer; model mode).
    pub late: AtomicU64,
}

impl Counters {
    pub(crate) fn looked_up(&self, queries: usize, hits: usize) {
        self.queries.fetch_add(queries as u64, Ordering::Relaxed);
        self.hits.fetch_add(hits as u64, Ordering::Relaxed);
    }

    pub(crate) fn late(&self, tokens: usize) {
        self.late.fetch_add(tokens as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number InferenceX's regex and `int(tokens.replace(",", ""))`
    /// read from the line.
    fn inferencex_reads(line: &str) -> Option<usize> {
        let rest = line.split_once("GPU KV cache size:")?.1.trim_start();
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ','))?;
        rest[end..]
            .trim_start()
            .starts_with("tokens")
            .then_some(())?;
        rest[..end].replace(',', "").parse().ok()
    }

    #[test]
    fn kv_cache_size_in_vllm_words() {
        for (kv_tokens, line) in [
            (FAST_MODE_KV_TOKENS, "GPU KV cache size: 1,048,576 tokens"),
            (64, "GPU KV cache size: 64 tokens"),
            (5000, "GPU KV cache size: 4,992 tokens"),
            (16_000, "GPU KV cache size: 16,000 tokens"),
            (123_456_784, "GPU KV cache size: 123,456,784 tokens"),
            (MAX_KV_TOKENS, "GPU KV cache size: 68,719,476,704 tokens"),
        ] {
            assert_eq!(kv_cache_size_line(kv_tokens), line);
            assert_eq!(
                inferencex_reads(line),
                Some(kv_tokens / BLOCK_TOKENS * BLOCK_TOKENS)
            );
        }
    }

    /// `n` token ids; ids from `from` on are shifted by `salt`.
    fn ids(n: usize, from: usize, salt: u32) -> Vec<u32> {
        (0..n as u32)
            .map(|i| if i as usize >= from { i + salt } else { i })
            .collect()
    }

    fn blocks(ids: &[u32]) -> Blocks {
        Blocks::new(ids.len(), ids)
    }

    #[track_caller]
    fn check(cache: &mut PrefixCache, ids: &[u32], expected_hit: usize) {
        let b = blocks(ids);
        assert_eq!(cache.lookup(&b), expected_hit);
        cache.insert(&b, usize::MAX);
    }

    #[test]
    fn hashes_full_blocks_chained() {
        let a = block_hashes(&ids(50, 50, 0));
        assert_eq!(a.len(), 3, "the 2-token tail is not a block");
        // Same ids: same hashes (deterministic).
        assert_eq!(a, block_hashes(&ids(50, 50, 0)));
        // A change in block 0 changes every later hash, although blocks
        // 1 and 2 hold the same ids.
        let mut b = ids(48, 48, 0);
        b[3] = 999;
        let b = block_hashes(&b);
        assert!(a.iter().zip(&b).all(|(x, y)| x != y));
        // A change in block 2 leaves blocks 0 and 1 alone.
        let c = block_hashes(&ids(48, 40, 1));
        assert_eq!(&a[..2], &c[..2]);
        assert_ne!(a[2], c[2]);
        assert!(block_hashes(&[1; 15]).is_empty());
        // Text: 64-byte blocks, chained the same way.
        let text = "x".repeat(130);
        let t = text_block_hashes(&text);
        assert_eq!(t.len(), 2);
        assert_eq!(t[..1], text_block_hashes(&text[..64]));
        assert_ne!(t[0], t[1]);
        assert_ne!(text_block_hashes(&format!("y{}", &text[1..]))[1], t[1]);
    }

    #[test]
    fn the_same_prefix_hits_its_shared_blocks() {
        let mut cache = PrefixCache::new(1000);
        check(&mut cache, &ids(100, 100, 0), 0);
        assert_eq!(cache.len(), 6);
        // 100 more tokens after the same 100: the first 6 blocks (96
        // tokens) hit.
        check(&mut cache, &ids(200, 100, 7), 96);
        // Diverging inside block 3 (token 50): blocks 0..3 hit.
        check(&mut cache, &ids(200, 50, 3), 48);
        // Another prefix from the first token: nothing.
        check(&mut cache, &ids(200, 0, 1000), 0);
        // An identical prompt of 64 tokens hits all but its last block:
        // the last token is always computed.
        check(&mut cache, &ids(64, 64, 0), 48);
        // 65 tokens: the last token is in block 4, blocks 0..4 may hit.
        check(&mut cache, &ids(65, 65, 0), 64);
        check(&mut cache, &[], 0);
    }

    #[test]
    fn a_different_early_block_means_no_later_hits() {
        let mut cache = PrefixCache::new(1000);
        check(&mut cache, &ids(160, 160, 0), 0);
        let mut other = ids(160, 160, 0);
        other[0] = 12345;
        // Blocks 1..10 hold the same ids, but their prefix differs.
        check(&mut cache, &other, 0);
    }

    #[test]
    fn evicts_the_least_recently_used_from_the_tail() {
        // Room for 8 blocks.
        let mut cache = PrefixCache::new(8);
        let a = ids(64, 0, 0); // 4 blocks
        let b = ids(64, 0, 1000);
        let c = ids(64, 0, 2000);
        check(&mut cache, &a, 0);
        check(&mut cache, &b, 0);
        assert_eq!(cache.len(), 8);
        // a is used again: b is now the least recently used.
        check(&mut cache, &a, 48);
        check(&mut cache, &c, 0);
        assert_eq!(cache.len(), 8);
        check(&mut cache, &a, 48);
        check(&mut cache, &b, 0); // b was evicted
                                  // A chain evicted half way keeps its head.
        let mut cache = PrefixCache::new(6);
        check(&mut cache, &a, 0);
        check(&mut cache, &b, 0);
        // b took 4 blocks, a kept its first 2.
        assert_eq!(cache.len(), 6);
        let mut a_again = a.clone();
        a_again.extend(ids(16, 0, 5000)); // 80 tokens: 4 usable blocks
        assert_eq!(cache.lookup(&blocks(&a_again)), 32);
    }

    #[test]
    fn a_limit_below_the_capacity_shrinks_the_cache() {
        let mut cache = PrefixCache::new(100);
        cache.insert(&blocks(&ids(160, 0, 0)), 100);
        assert_eq!(cache.len(), 10);
        cache.shrink(3);
        assert_eq!(cache.len(), 3);
        // The head survives: a lookup still hits 3 blocks.
        assert_eq!(cache.lookup(&blocks(&ids(160, 0, 0))), 48);
        cache.insert(&blocks(&ids(160, 0, 9)), 0);
        assert_eq!(cache.len(), 0);
        // A prompt larger than the cache keeps its first blocks.
        let mut cache = PrefixCache::new(4);
        cache.insert(&blocks(&ids(160, 0, 0)), usize::MAX);
        assert_eq!(cache.len(), 4);
        assert_eq!(cache.lookup(&blocks(&ids(160, 0, 0))), 64);
    }
}
