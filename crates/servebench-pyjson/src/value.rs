use hashbrown::hash_table::{Entry, HashTable};
use std::fmt;
use std::hash::{BuildHasher, RandomState};

/// A value as Python's `json` module sees it.
///
/// `Int` holds Python integers up to 128 bits, which covers every value the
/// tools read or compute; `Bool` is kept apart from `Int` because JSON spells
/// them differently even though Python compares `True == 1`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Dict(Dict),
}

impl Value {
    /// The Python type name, for error messages (`int`, `str`, `NoneType`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Python truthiness: `None`, `False`, `0`, `0.0`, `""`, `[]`, `{}` are false.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Dict(d) => !d.is_empty(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i.into())
    }
}

impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}

impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

/// An insertion-ordered string-keyed map with Python `dict` assignment
/// semantics.
///
/// The entries live in one `Vec` in insertion order; that order is what the
/// writer prints and what equality compares. A dict of up to 16 keys is
/// searched by a scan, as it always was (most the tools build are that
/// small, and pay for no table). Past 16 keys a hash
/// index of entry positions is built beside the `Vec`, so that building a
/// dict of n keys (parsing a JSON object, loading a YAML mapping) costs O(n)
/// instead of the O(n^2) of scanning for a duplicate before every insertion.
/// The index stores positions (with their key's hash), not keys, so no key
/// string is held twice, and it is boxed, so a `Value` is no larger than
/// before.
#[derive(Clone, Default)]
pub struct Dict {
    entries: Vec<(String, Value)>,
    /// Invariant: `Some` whenever `entries.len() > INDEX_THRESHOLD` (it is
    /// kept once built, also after removals), and then it holds exactly one
    /// slot per entry: the entry's position and its key's hash.
    index: Option<Box<Index>>,
}

/// Above this many keys a dict keeps a hash index. Below it a scan over a
/// few short keys is cheap, and no table is allocated or hashed into.
const INDEX_THRESHOLD: usize = 16;

/// Positions into `Dict::entries`, hashed by their entry's key: 16 bytes a
/// slot, beside the entry's 56 (plus its strings). Boxed so a `Dict` (and
/// therefore every `Value`) stays as small as a `Vec` plus a pointer.
#[derive(Clone)]
struct Index {
    /// Randomly seeded, as std's `HashMap` is, so that crafted keys cannot
    /// make every lookup collide.
    hasher: RandomState,
    slots: HashTable<Slot>,
}

/// An entry's position with its key's hash, kept so that growing the table
/// never re-reads (and re-hashes) the key strings, and a probe compares a
/// full hash before it touches an entry.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    pos: usize,
}

impl Index {
    fn build(entries: &[(String, Value)]) -> Self {
        let hasher = RandomState::new();
        let mut slots = HashTable::with_capacity(entries.len());
        for (pos, (key, _)) in entries.iter().enumerate() {
            let hash = hasher.hash_one(key.as_str());
            slots.insert_unique(hash, Slot { hash, pos }, |s| s.hash);
        }
        Index { hasher, slots }
    }
}

/// The entry at `pos` has this key (false for a position out of range).
fn key_at(entries: &[(String, Value)], pos: usize, key: &str) -> bool {
    entries.get(pos).is_some_and(|(k, _)| k == key)
}

impl Dict {
    pub fn new() -> Self {
        Self::default()
    }

    /// `d[key] = value`: a new key goes last, an existing key keeps its
    /// position and gets the new value. Amortised O(1) once the dict is
    /// indexed.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        let pos = self.entries.len();
        match &mut self.index {
            Some(index) => {
                let entries = &self.entries;
                let hash = index.hasher.hash_one(key.as_str());
                match index.slots.entry(
                    hash,
                    |s| s.hash == hash && key_at(entries, s.pos, &key),
                    |s| s.hash,
                ) {
                    Entry::Occupied(slot) => {
                        let existing = slot.get().pos;
                        if let Some(entry) = self.entries.get_mut(existing) {
                            entry.1 = value;
                        }
                        return;
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(Slot { hash, pos });
                    }
                }
                self.entries.push((key, value));
            }
            None => {
                match self.entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => self.entries.push((key, value)),
                }
                if self.entries.len() > INDEX_THRESHOLD {
                    self.index = Some(Box::new(Index::build(&self.entries)));
                }
            }
        }
    }

    /// The position of `key` in insertion order.
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => {
                let hash = index.hasher.hash_one(key);
                index
                    .slots
                    .find(hash, |s| {
                        s.hash == hash && key_at(&self.entries, s.pos, key)
                    })
                    .map(|s| s.pos)
            }
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        let pos = self.position(key)?;
        self.entries.get(pos).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// `d.pop(key)`: the later keys move up one place, keeping their order.
    /// O(n), like `Vec::remove`: every later position in the index shifts
    /// down by one. The tools remove a handful of keys from small dicts, so
    /// this is not worth a tombstone scheme.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.position(key)?;
        if let Some(index) = &mut self.index {
            let hash = index.hasher.hash_one(key);
            if let Ok(slot) = index.slots.find_entry(hash, |s| s.pos == pos) {
                slot.remove();
            }
            for slot in index.slots.iter_mut() {
                if slot.pos > pos {
                    // `slot.pos > pos >= 0`, so this cannot underflow.
                    slot.pos -= 1;
                }
            }
        }
        Some(self.entries.remove(pos).1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

/// Order-sensitive, as it has always been: two dicts are equal when they
/// hold the same keys with equal values in the same order (Rust `==` on
/// the entry list; a NaN value is unequal to itself). This is stricter than
/// Python's `dict ==`, which ignores order; `ops::eq` is the Python one. The
/// index is a cache of the entries and takes no part.
impl PartialEq for Dict {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

/// Prints exactly what the derived `Debug` printed before the index existed
/// (`Dict { entries: [("a", Int(1))] }`), so debug output and any snapshot
/// of it do not depend on whether a dict is indexed.
impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dict")
            .field("entries", &self.entries)
            .finish()
    }
}

/// The entries in order, moved out (the index goes with the dict).
impl IntoIterator for Dict {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Dict {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut d = Dict::new();
        for (k, v) in iter {
            d.insert(k, v);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dict_moves_out_its_entries_in_order() {
        // Indexed (over INDEX_THRESHOLD keys), with a key reassigned.
        let mut d: Dict = (0..40).map(|i| (format!("k{i}"), Value::Int(i))).collect();
        d.insert("k3", Value::Null);
        let moved: Vec<(String, Value)> = d.into_iter().collect();
        assert_eq!(moved.len(), 40);
        assert_eq!(moved[3], ("k3".to_owned(), Value::Null));
        assert_eq!(moved[39], ("k39".to_owned(), Value::Int(39)));
    }

    #[test]
    fn reassignment_keeps_first_position() {
        let d: Dict = [
            ("a", Value::Int(1)),
            ("b", Value::Int(2)),
            ("a", Value::Int(3)),
        ]
        .into_iter()
        .collect();
        let keys: Vec<_> = d.keys().collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(d.get("a"), Some(&Value::Int(3)));
    }

    /// The reference model: the linear-scan dict this type used to be,
    /// whose behaviour the indexed one must reproduce exactly.
    #[derive(Debug, Default)]
    struct Model(Vec<(String, Value)>);

    impl Model {
        fn insert(&mut self, key: &str, value: Value) {
            match self.0.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => self.0.push((key.to_owned(), value)),
            }
        }
        fn remove(&mut self, key: &str) -> Option<Value> {
            let pos = self.0.iter().position(|(k, _)| k == key)?;
            Some(self.0.remove(pos).1)
        }
    }

    /// `d` holds exactly the model's entries in its order, every lookup
    /// agrees (also for `absent` keys), and the index invariant holds.
    #[track_caller]
    fn check(d: &Dict, model: &Model, absent: &[&str]) {
        let got: Vec<(&str, &Value)> = d.iter().collect();
        let want: Vec<(&str, &Value)> = model.0.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(got, want);
        assert_eq!(d.len(), model.0.len());
        assert_eq!(d.is_empty(), model.0.is_empty());
        for (pos, (key, value)) in model.0.iter().enumerate() {
            assert_eq!(d.position(key), Some(pos), "{key}");
            assert_eq!(d.get(key), Some(value), "{key}");
            assert!(d.contains_key(key), "{key}");
        }
        for key in absent {
            if !model.0.iter().any(|(k, _)| k == key) {
                assert_eq!(d.get(key), None, "{key}");
                assert!(!d.contains_key(key), "{key}");
            }
        }
        match &d.index {
            Some(index) => {
                // One slot per entry, each with its key's hash.
                let mut positions: Vec<usize> = index.slots.iter().map(|s| s.pos).collect();
                positions.sort_unstable();
                assert!(positions.iter().copied().eq(0..d.len()), "{positions:?}");
                for slot in index.slots.iter() {
                    let (key, _) = &d.entries[slot.pos];
                    assert_eq!(slot.hash, index.hasher.hash_one(key.as_str()), "{key}");
                }
            }
            None => assert!(d.len() <= INDEX_THRESHOLD, "{} keys, no index", d.len()),
        }
        assert_eq!(
            format!("{d:?}"),
            format!("Dict {{ entries: {:?} }}", model.0),
            "Debug as derived"
        );
    }

    /// Sizes around the point where the index is built.
    const SIZES: [usize; 8] = [0, 1, 2, 15, 16, 17, 18, 100];

    fn key(i: usize) -> String {
        format!("k{i}")
    }

    #[test]
    fn order_duplicates_and_remove_across_the_threshold() {
        for n in SIZES {
            let mut d = Dict::new();
            let mut model = Model::default();
            for i in 0..n {
                let v = Value::Int(i128::try_from(i).unwrap_or(0));
                d.insert(key(i), v.clone());
                model.insert(&key(i), v);
                check(&d, &model, &["", "k-1", "missing"]);
            }
            // Re-assigning every other key keeps its place, takes the value.
            for i in (0..n).step_by(2) {
                d.insert(key(i), Value::from("again"));
                model.insert(&key(i), Value::from("again"));
            }
            check(&d, &model, &[]);
            // Remove the first, a middle and the last key, then a missing one.
            for k in [key(0), key(n / 2), key(n.saturating_sub(1)), key(n)] {
                assert_eq!(d.remove(&k), model.remove(&k), "n={n} remove {k}");
                check(&d, &model, &[&k]);
            }
            // A removed key comes back at the end, like Python's dict.
            d.insert(key(0), Value::Null);
            model.insert(&key(0), Value::Null);
            check(&d, &model, &[]);
        }
    }

    #[test]
    fn equality_is_entry_order_and_ignores_the_index() {
        for n in SIZES.into_iter().filter(|&n| n >= 2) {
            let forward: Dict = (0..n).map(|i| (key(i), Value::Null)).collect();
            let backward: Dict = (0..n).rev().map(|i| (key(i), Value::Null)).collect();
            // Same keys and values, other order: unequal (Python's `==` would
            // say equal; `ops::eq` is that one).
            assert_ne!(forward, backward, "n={n}");
            // Built past the threshold and shrunk back: indexed, yet equal to
            // a small dict that never was.
            let mut shrunk: Dict = (0..n + INDEX_THRESHOLD)
                .map(|i| (key(i), Value::Null))
                .collect();
            for i in n..n + INDEX_THRESHOLD {
                shrunk.remove(&key(i));
            }
            assert!(shrunk.index.is_some());
            assert_eq!(shrunk, forward, "n={n}");
            assert_eq!(shrunk.clone(), forward, "n={n}");
            let mut changed = forward.clone();
            changed.insert(key(n - 1), Value::Int(1));
            assert_ne!(changed, forward, "n={n}");
        }
        let nan: Dict = [("x", Value::Float(f64::NAN))].into_iter().collect();
        assert_ne!(nan, nan.clone(), "NaN values stay unequal, as derived");
    }

    /// SplitMix64: a tiny seeded generator, so a failing sequence replays.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % n
        }
    }

    #[test]
    fn random_operations_match_the_linear_model() {
        for seed in 0..200 {
            let mut rng = SplitMix64(seed);
            // Key pools from a few keys to well past the threshold, so the
            // sequences grow, shrink and cross it both ways.
            let pool = 1 + rng.below(60);
            let mut d = Dict::new();
            let mut model = Model::default();
            for step in 0..400 {
                let k = format!("key{}", rng.below(pool));
                match rng.below(10) {
                    0..=5 => {
                        let v = Value::Int(i128::from(step));
                        d.insert(k.as_str(), v.clone());
                        model.insert(&k, v);
                    }
                    6..=7 => assert_eq!(d.remove(&k), model.remove(&k), "seed {seed}"),
                    8 => d = d.clone(),
                    _ => {
                        let cloned = d.clone();
                        assert_eq!(cloned, d, "seed {seed}");
                    }
                }
                check(&d, &model, &[&k]);
            }
        }
    }

    /// The index is boxed so that every `Value`, also the numbers in a long
    /// list, stays as large as it was before dicts had one.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_value_stays_four_words() {
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    #[test]
    fn truthiness_follows_python() {
        let cases = [
            (Value::Null, false),
            (Value::Bool(false), false),
            (Value::Int(0), false),
            (Value::Float(0.0), false),
            (Value::Float(-0.0), false),
            (Value::Float(f64::NAN), true),
            (Value::from(""), false),
            (Value::from("no"), true),
            (Value::List(vec![]), false),
            (Value::Dict(Dict::new()), false),
            (Value::Int(-1), true),
        ];
        for (v, want) in cases {
            assert_eq!(v.is_truthy(), want, "{v:?}");
        }
    }
}
