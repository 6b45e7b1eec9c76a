//! What one streamed chunk says, as far as the metrics read it (SPEC §6.6):
//! `choices[0].text` and `choices[0].delta.content`, whether `choices` is a
//! non-empty list, a non-empty `usage` with its `completion_tokens`, TGI's
//! `generated_text`, TensorRT-LLM's `text_output`. Nothing else is kept.
//!
//! The hot path reads a chunk with [`ChunkView::parse_with`]: a one-pass scanner
//! of the JSON text for the usual chunk ([`ChunkView::scan`], about 0.7× the
//! serde parse's time on the simulator's chunks), else a typed serde parse;
//! both borrow the strings they keep (copying only a string with escapes)
//! and skip every other field without building it. Each answers
//! only where it is sure to agree with Python's `json.loads` (the
//! `servebench-pyjson` parse, [`ChunkView::of_value`]); anything else is
//! `None`, and the caller reads that chunk the exact, slower way, which
//! also gives the exact error text of a chunk that is not JSON. The typed
//! parse gives up on:
//! * anything `serde_json` rejects: not JSON, `NaN`/`Infinity`, a lone
//!   surrogate, nesting deeper than 128, a number out of `f64`'s range;
//! * a repeated key among those read (Python keeps the last value; the
//!   typed parse does not guess);
//! * a number `serde_json` reads as a float where Python may read an
//!   integer: every float-typed `completion_tokens` (`-0` is a float to
//!   serde, the integer 0 to Python), and any number of magnitude 1e38 or
//!   more (an integer past 128 bits, which Python's parse here rejects).
//!
//! A stream's chunks differ, mostly, in their text alone: [`Template`]
//! keeps the bytes around the last scanned chunk's text, and a chunk with
//! the same bytes around a valid string is read without scanning them again
//! (what the scanner would answer, since it reads the same bytes the same
//! way; a third of a chunk's reading left).
//!
//! Both paths produce a [`ChunkView`], and one function applies it, so the
//! only thing that can differ is the reading itself; the tests compare the
//! two on a corpus of odd chunks.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use servebench_pyjson::{Dict, Value};
use std::borrow::Cow;
use std::fmt;

/// A chunk's fields that the metrics read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ChunkView<'a> {
    /// `choices[0]` when `choices` is a non-empty list.
    pub(crate) first_choice: Option<Choice<'a>>,
    /// `usage` when it is a non-empty object: its `completion_tokens` if
    /// that is an integer within `i64`.
    pub(crate) usage: Option<Option<i64>>,
    /// `generated_text` when it is a string.
    pub(crate) generated_text: Option<Cow<'a, str>>,
    /// `text_output` when it is a string.
    pub(crate) text_output: Option<Cow<'a, str>>,
}

/// Which string of a chunk varies from chunk to chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `choices[0].text` (completions).
    Text,
    /// `choices[0].delta.content` (chat).
    Content,
}

/// The bytes around the varying string of the last chunk the scanner read,
/// and what the rest of that chunk said. A chunk is the prefix, a JSON
/// string, then the suffix: the scanner, reading the same bytes the same
/// way, would answer the same view with that string in the slot (its state
/// after the prefix, and so its reading of the suffix, does not depend on
/// the string's content).
#[derive(Debug, Default)]
pub(crate) struct Template {
    /// Up to and with the string's opening quote (empty: no template).
    prefix: Vec<u8>,
    /// From just after its closing quote to the end.
    suffix: Vec<u8>,
    slot: Option<Slot>,
    usage: Option<Option<i64>>,
}

impl Template {
    /// `data` read through the template, if it fits.
    fn read<'a>(&self, data: &'a str) -> Option<ChunkView<'a>> {
        let slot = self.slot?;
        let b = data.as_bytes();
        if b.len() < self.prefix.len() + 1 + self.suffix.len()
            || !b.starts_with(&self.prefix)
            || !b.ends_with(&self.suffix)
        {
            return None;
        }
        let mut s = Scan {
            src: data,
            b,
            // At the opening quote.
            i: self.prefix.len() - 1,
        };
        let text = s.string()?;
        if s.i != b.len() - self.suffix.len() {
            return None;
        }
        let first_choice = Some(match slot {
            Slot::Text => Choice::Object {
                text: Some(text),
                delta: None,
            },
            Slot::Content => Choice::Object {
                text: None,
                delta: Some(Some(text)),
            },
        });
        Some(ChunkView {
            first_choice,
            usage: self.usage,
            generated_text: None,
            text_output: None,
        })
    }

    /// Keeps the shape of `data`, which the scanner read as `view`; a
    /// chunk without one plain (unescaped) varying string clears it.
    fn learn(&mut self, data: &str, view: &ChunkView<'_>) {
        self.slot = None;
        let (slot, text) = match &view.first_choice {
            Some(Choice::Object {
                text: Some(Cow::Borrowed(t)),
                delta: None,
            }) => (Slot::Text, *t),
            Some(Choice::Object {
                text: None,
                delta: Some(Some(Cow::Borrowed(t))),
            }) => (Slot::Content, *t),
            _ => return,
        };
        if view.generated_text.is_some() || view.text_output.is_some() {
            return;
        }
        // Borrowed from `data`: where in it.
        let Some(start) = (text.as_ptr() as usize).checked_sub(data.as_ptr() as usize) else {
            return;
        };
        let end = start + text.len();
        let b = data.as_bytes();
        if start == 0 || b.get(start - 1) != Some(&b'"') || b.get(end) != Some(&b'"') {
            return;
        }
        let (Some(prefix), Some(suffix)) = (b.get(..start), b.get(end + 1..)) else {
            return;
        };
        self.prefix.clear();
        self.prefix.extend_from_slice(prefix);
        self.suffix.clear();
        self.suffix.extend_from_slice(suffix);
        self.usage = view.usage;
        self.slot = Some(slot);
    }
}

/// `choices[0]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Choice<'a> {
    NotObject,
    Object {
        /// `text` when it is a string.
        text: Option<Cow<'a, str>>,
        /// `None`: no `delta` key; `Some(None)`: `delta` is not an object
        /// or its `content` is not a string.
        delta: Option<Option<Cow<'a, str>>>,
    },
}

impl<'a> ChunkView<'a> {
    /// A one-pass scan of the JSON text, for chunks without anything odd:
    /// it gives up (`None`) on escapes in keys, integers of more than 18
    /// digits, floats of magnitude 1e38 or more, nesting deeper than
    /// [`SCAN_DEPTH`], a repeated key among those read, and whatever is not
    /// strict JSON.
    /// Where it answers, the serde parse and Python answer the same (the
    /// tests run both on the corpus).
    pub(crate) fn scan(data: &'a str) -> Option<ChunkView<'a>> {
        let mut s = Scan {
            src: data,
            b: data.as_bytes(),
            i: 0,
        };
        s.ws();
        let view = s.top()?;
        s.ws();
        (s.i == s.b.len()).then_some(view)
    }

    /// The typed reading; `None` where it cannot be sure to read `data`
    /// as Python would (the caller then uses [`ChunkView::of_value`]):
    /// through `template` (the stream's previous chunk's shape) where the
    /// chunk fits it, else the scanner ([`ChunkView::scan`]), whose chunk
    /// becomes the template, else the serde parse
    /// ([`ChunkView::parse_serde`]).
    pub(crate) fn parse_with(data: &'a str, template: &mut Template) -> Option<ChunkView<'a>> {
        if let Some(view) = template.read(data) {
            return Some(view);
        }
        match Self::scan(data) {
            Some(view) => {
                template.learn(data, &view);
                Some(view)
            }
            None => Self::parse_serde(data),
        }
    }

    /// The serde parse (see the module doc).
    pub(crate) fn parse_serde(data: &'a str) -> Option<ChunkView<'a>> {
        let mut de = serde_json::Deserializer::from_str(data);
        let view = de.deserialize_map(TopVisitor).ok()?;
        de.end().ok()?;
        Some(view)
    }

    /// The same fields from the exact Python-JSON value of the chunk.
    pub(crate) fn of_value(chunk: &'a Dict) -> ChunkView<'a> {
        let str_of = |v: Option<&'a Value>| v.and_then(Value::as_str).map(Cow::Borrowed);
        let first_choice = chunk
            .get("choices")
            .and_then(Value::as_list)
            .and_then(<[Value]>::first)
            .map(|c| match c.as_dict() {
                None => Choice::NotObject,
                Some(c) => Choice::Object {
                    text: str_of(c.get("text")),
                    delta: c
                        .get("delta")
                        .map(|d| str_of(d.as_dict().and_then(|d| d.get("content")))),
                },
            });
        let usage = chunk
            .get("usage")
            .and_then(Value::as_dict)
            .filter(|u| !u.is_empty())
            .map(|u| match u.get("completion_tokens") {
                Some(Value::Int(i)) => i64::try_from(*i).ok(),
                _ => None,
            });
        ChunkView {
            first_choice,
            usage,
            generated_text: str_of(chunk.get("generated_text")),
            text_output: str_of(chunk.get("text_output")),
        }
    }
}

/// The keys read, at any level; everything else is [`Key::Other`].
enum Key {
    Choices,
    Usage,
    GeneratedText,
    TextOutput,
    Text,
    Delta,
    Content,
    CompletionTokens,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            // Escaped keys arrive here too, unescaped, as Python reads them.
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "choices" => Key::Choices,
                    "usage" => Key::Usage,
                    "generated_text" => Key::GeneratedText,
                    "text_output" => Key::TextOutput,
                    "text" => Key::Text,
                    "delta" => Key::Delta,
                    "content" => Key::Content,
                    "completion_tokens" => Key::CompletionTokens,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// Numbers at or past this magnitude may be integers Python's parse
/// rejects (more than 128 bits: 2^127 ≈ 1.7e38): leave them to it.
const FLOAT_LIMIT: f64 = 1e38;

fn unsure<E: de::Error>() -> E {
    E::custom("left to the exact parse")
}

/// Marks `seen` and fails on a repeated key.
fn first_time<E: de::Error>(seen: &mut bool) -> Result<(), E> {
    if std::mem::replace(seen, true) {
        return Err(unsure());
    }
    Ok(())
}

/// Any value, skipped; fails where Python's parse might not accept it.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Skip, E> {
        if v.abs() < FLOAT_LIMIT {
            Ok(Skip)
        } else {
            Err(unsure())
        }
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// Implements the visitor methods of a value that is "something else"
/// unless it has the one shape looked for: any other value is skipped (with
/// [`Skip`]'s checks) and gives `$other`.
macro_rules! otherwise {
    ($other:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            SkipVisitor.visit_f64(v).map(|_| $other)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

macro_rules! other_str {
    ($other:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

macro_rules! other_seq {
    ($other:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            SkipVisitor.visit_seq(seq).map(|_| $other)
        }
    };
}

macro_rules! other_map {
    ($other:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            SkipVisitor.visit_map(map).map(|_| $other)
        }
    };
}

/// A string (borrowed unless it has escapes), or `None` for anything else.
struct MaybeStr<'a>(Option<Cow<'a, str>>);

impl<'de> de::Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(s.to_owned()))))
            }
            otherwise!(MaybeStr(None));
            other_seq!(MaybeStr(None));
            other_map!(MaybeStr(None));
        }
        d.deserialize_any(V)
    }
}

/// `completion_tokens`: an integer within `i64`, else `None`.
struct Tokens(Option<i64>);

impl<'de> de::Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Tokens, E> {
                Ok(Tokens(None))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Tokens, E> {
                Ok(Tokens(Some(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Tokens, E> {
                Ok(Tokens(i64::try_from(v).ok()))
            }
            // A float to serde may be an integer to Python (`-0`, or one
            // past 64 bits): the exact parse decides.
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Tokens, E> {
                Err(unsure())
            }
            fn visit_unit<E>(self) -> Result<Tokens, E> {
                Ok(Tokens(None))
            }
            other_str!(Tokens(None));
            other_seq!(Tokens(None));
            other_map!(Tokens(None));
        }
        d.deserialize_any(V)
    }
}

/// `usage`: `Some(completion_tokens)` when a non-empty object.
struct Usage(Option<Option<i64>>);

impl<'de> de::Deserialize<'de> for Usage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Usage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Usage, A::Error> {
                let (mut any, mut seen, mut tokens) = (false, false, None);
                while let Some(key) = map.next_key::<Key>()? {
                    any = true;
                    if let Key::CompletionTokens = key {
                        first_time(&mut seen)?;
                        tokens = map.next_value::<Tokens>()?.0;
                    } else {
                        map.next_value::<Skip>()?;
                    }
                }
                Ok(Usage(any.then_some(tokens)))
            }
            otherwise!(Usage(None));
            other_str!(Usage(None));
            other_seq!(Usage(None));
        }
        d.deserialize_any(V)
    }
}

/// `delta`: `Some(content)` when an object, else `None`.
struct Delta<'a>(Option<Option<Cow<'a, str>>>);

impl<'de> de::Deserialize<'de> for Delta<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Delta<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut seen, mut content) = (false, None);
                while let Some(key) = map.next_key::<Key>()? {
                    if let Key::Content = key {
                        first_time(&mut seen)?;
                        content = map.next_value::<MaybeStr<'de>>()?.0;
                    } else {
                        map.next_value::<Skip>()?;
                    }
                }
                Ok(Delta(Some(content)))
            }
            otherwise!(Delta(None));
            other_str!(Delta(None));
            other_seq!(Delta(None));
        }
        d.deserialize_any(V)
    }
}

/// `choices[0]`.
impl<'de> de::Deserialize<'de> for Choice<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Choice<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut seen_text, mut seen_delta) = (false, false);
                let (mut text, mut delta) = (None, None);
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Text => {
                            first_time(&mut seen_text)?;
                            text = map.next_value::<MaybeStr<'de>>()?.0;
                        }
                        Key::Delta => {
                            first_time(&mut seen_delta)?;
                            // A `delta` that is not an object reads as one
                            // without content.
                            delta = Some(map.next_value::<Delta<'de>>()?.0.unwrap_or(None));
                        }
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(Choice::Object { text, delta })
            }
            otherwise!(Choice::NotObject);
            other_str!(Choice::NotObject);
            other_seq!(Choice::NotObject);
        }
        d.deserialize_any(V)
    }
}

/// `choices`: its first element when a non-empty list.
struct Choices<'a>(Option<Choice<'a>>);

impl<'de> de::Deserialize<'de> for Choices<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Choices<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Choice<'de>>()?;
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Choices(first))
            }
            otherwise!(Choices(None));
            other_str!(Choices(None));
            other_map!(Choices(None));
        }
        d.deserialize_any(V)
    }
}

/// The chunk itself: an object (anything else is left to the exact path,
/// which names the error).
struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = ChunkView<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut view = ChunkView::default();
        let mut seen = [false; 4];
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Choices => {
                    first_time(&mut seen[0])?;
                    view.first_choice = map.next_value::<Choices<'de>>()?.0;
                }
                Key::Usage => {
                    first_time(&mut seen[1])?;
                    view.usage = map.next_value::<Usage>()?.0;
                }
                Key::GeneratedText => {
                    first_time(&mut seen[2])?;
                    view.generated_text = map.next_value::<MaybeStr<'de>>()?.0;
                }
                Key::TextOutput => {
                    first_time(&mut seen[3])?;
                    view.text_output = map.next_value::<MaybeStr<'de>>()?.0;
                }
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(view)
    }
}

/// Nesting the scanner follows before giving up (serde's limit is 128).
const SCAN_DEPTH: u32 = 64;

/// [`ChunkView::scan`]'s cursor over the text.
struct Scan<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A number in JSON's grammar: `Some(Some(v))` for an integer of at
    /// most 18 digits (so within `i64`), `Some(None)` for one with a
    /// fraction or exponent below [`FLOAT_LIMIT`] in magnitude (a float to
    /// Python too); `None` (give up) for anything else.
    fn number(&mut self) -> Option<Option<i64>> {
        let start = self.i;
        let neg = self.eat(b'-').is_some();
        let int_start = self.i;
        self.digits();
        let int = self.b.get(int_start..self.i)?;
        match int {
            [] | [b'0', _, ..] => return None,
            _ => {}
        }
        let mut float = false;
        if self.eat(b'.').is_some() {
            float = true;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            float = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        if float {
            let v: f64 = self.src.get(start..self.i)?.parse().ok()?;
            return (v.abs() < FLOAT_LIMIT).then_some(None);
        }
        if int.len() > 18 {
            return None;
        }
        let v = int.iter().fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
        Some(Some(if neg { -v } else { v }))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A string, borrowed unless it has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        self.run()?;
        if self.eat(b'"').is_some() {
            return self.src.get(start..self.i - 1).map(Cow::Borrowed);
        }
        let mut out = String::from(self.src.get(start..self.i)?);
        loop {
            let run = self.i;
            self.run()?;
            out.push_str(self.src.get(run..self.i)?);
            if self.eat(b'"').is_some() {
                return Some(Cow::Owned(out));
            }
            self.i += 1;
            let c = match self.peek()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    self.i += 1;
                    let hi = self.hex4()?;
                    let code = match hi {
                        0xD800..=0xDBFF => {
                            self.literal(b"\\u")?;
                            let lo = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&lo) {
                                return None;
                            }
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        // A lone low surrogate: serde refuses it.
                        0xDC00..=0xDFFF => return None,
                        c => c,
                    };
                    out.push(char::from_u32(code)?);
                    continue;
                }
                _ => return None,
            };
            self.i += 1;
            out.push(c);
        }
    }

    /// Moves to the next `"` or backslash of a string; `None` at the end
    /// of the text or at a control character (JSON wants them escaped).
    /// Eight bytes at a time (the strings of a chunk are too short for
    /// `memchr` to pay for its set-up).
    fn run(&mut self) -> Option<()> {
        let rest = self.b.get(self.i..)?;
        let mut at = 0;
        while let Some(word) = rest.get(at..at + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if let Some(k) = first_special(u64::from_le_bytes(w)) {
                at += k;
                return self.stop_at(at);
            }
            at += 8;
        }
        let k = rest
            .get(at..)?
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        self.stop_at(at + k)
    }

    fn stop_at(&mut self, k: usize) -> Option<()> {
        if *self.b.get(self.i + k)? < 0x20 {
            return None;
        }
        self.i += k;
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let end = self.i.checked_add(4)?;
        let digits = self.b.get(self.i..end)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + char::from(d).to_digit(16)?;
        }
        self.i = end;
        Some(v)
    }

    /// A key: a string without escapes (an escaped key gives up).
    fn key(&mut self) -> Option<&'a str> {
        match self.string()? {
            Cow::Borrowed(k) => Some(k),
            Cow::Owned(_) => None,
        }
    }

    /// An object's members, each value read by `member(self, key)`.
    fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.items(b'{', b'}', depth, |s, _| {
            let key = s.key()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            member(s, key)
        })
    }

    /// A list's elements, each read by `element(self, index)`.
    fn array(
        &mut self,
        depth: u32,
        element: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        self.items(b'[', b']', depth, element)
    }

    /// `open`, items separated by commas (each read by `item(self,
    /// index)`), `close`; no trailing comma.
    fn items(
        &mut self,
        open: u8,
        close: u8,
        depth: u32,
        mut item: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        if depth > SCAN_DEPTH {
            return None;
        }
        self.eat(open)?;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        let mut k = 0;
        loop {
            self.ws();
            item(self, k)?;
            k += 1;
            self.ws();
            if self.eat(b',').is_none() {
                return self.eat(close);
            }
        }
    }

    /// Any value, skipped.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(depth + 1, |s, _| s.skip(depth + 1)),
            b'[' => self.array(depth + 1, |s, _| s.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// A string, or `None` (the value skipped) for anything else.
    fn maybe_str(&mut self, depth: u32) -> Option<Option<Cow<'a, str>>> {
        if self.peek()? == b'"' {
            return self.string().map(Some);
        }
        self.skip(depth).map(|()| None)
    }

    fn top(&mut self) -> Option<ChunkView<'a>> {
        let mut view = ChunkView::default();
        let mut seen = [false; 4];
        self.object(0, |s, key| {
            match key {
                "choices" => {
                    once(&mut seen[0])?;
                    view.first_choice = s.choices(1)?;
                }
                "usage" => {
                    once(&mut seen[1])?;
                    view.usage = s.usage(1)?;
                }
                "generated_text" => {
                    once(&mut seen[2])?;
                    view.generated_text = s.maybe_str(1)?;
                }
                "text_output" => {
                    once(&mut seen[3])?;
                    view.text_output = s.maybe_str(1)?;
                }
                _ => s.skip(1)?,
            }
            Some(())
        })?;
        Some(view)
    }

    /// `choices`: its first element when a non-empty list.
    fn choices(&mut self, depth: u32) -> Option<Option<Choice<'a>>> {
        if self.peek()? != b'[' {
            return self.skip(depth).map(|()| None);
        }
        let mut first = None;
        self.array(depth + 1, |s, k| {
            if k == 0 {
                first = Some(s.choice(depth + 1)?);
                Some(())
            } else {
                s.skip(depth + 1)
            }
        })?;
        Some(first)
    }

    fn choice(&mut self, depth: u32) -> Option<Choice<'a>> {
        if self.peek()? != b'{' {
            return self.skip(depth).map(|()| Choice::NotObject);
        }
        let (mut seen_text, mut seen_delta) = (false, false);
        let (mut text, mut delta) = (None, None);
        self.object(depth + 1, |s, key| {
            match key {
                "text" => {
                    once(&mut seen_text)?;
                    text = s.maybe_str(depth + 1)?;
                }
                "delta" => {
                    once(&mut seen_delta)?;
                    delta = Some(s.delta(depth + 1)?);
                }
                _ => s.skip(depth + 1)?,
            }
            Some(())
        })?;
        Some(Choice::Object { text, delta })
    }

    /// `delta`: its `content` string when an object has one.
    fn delta(&mut self, depth: u32) -> Option<Option<Cow<'a, str>>> {
        if self.peek()? != b'{' {
            return self.skip(depth).map(|()| None);
        }
        let (mut seen, mut content) = (false, None);
        self.object(depth + 1, |s, key| {
            if key == "content" {
                once(&mut seen)?;
                content = s.maybe_str(depth + 1)?;
                Some(())
            } else {
                s.skip(depth + 1)
            }
        })?;
        Some(content)
    }

    /// `usage`: `Some(completion_tokens)` when a non-empty object.
    fn usage(&mut self, depth: u32) -> Option<Option<Option<i64>>> {
        if self.peek()? != b'{' {
            return self.skip(depth).map(|()| None);
        }
        let (mut any, mut seen, mut tokens) = (false, false, None);
        self.object(depth + 1, |s, key| {
            any = true;
            if key == "completion_tokens" {
                once(&mut seen)?;
                // An integer is Python's int; a float is not one.
                tokens = match s.peek()? {
                    b'-' | b'0'..=b'9' => s.number()?,
                    _ => {
                        s.skip(depth + 1)?;
                        None
                    }
                };
                Some(())
            } else {
                s.skip(depth + 1)
            }
        })?;
        Some(any.then_some(tokens))
    }
}

/// The index of the first byte of `w` (little-endian) that is `"`, a
/// backslash or below 0x20. Each test flags a byte's top bit exactly where
/// it holds for the lowest such byte (a borrow only flags bytes above a
/// true one), so the lowest flag is the answer.
fn first_special(w: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let flags = zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
    (flags != 0).then(|| flags.trailing_zeros() as usize / 8)
}

/// Marks `seen`; `None` when it already was (a repeated key).
fn once(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Chunks of every shape the typed parse must read exactly as Python
    /// does, or leave to the exact parse: real ones, odd field types,
    /// repeated keys, escapes, Python's extra literals, numbers at every
    /// edge, and text that is not JSON or not an object.
    pub(crate) fn corpus() -> Vec<String> {
        let mut c: Vec<String> = [
            // What vLLM and the simulator send.
            r#"{"id":"cmpl-1","object":"text_completion","created":1796005316,"model":"sim","choices":[{"index":0,"text":" model","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#,
            r#"{"id":"cmpl-1","object":"text_completion","created":1796005316,"model":"sim","choices":[],"usage":{"prompt_tokens":1,"total_tokens":4,"completion_tokens":3}}"#,
            r#"{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1,"model":"sim","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-2","choices":[{"index":0,"delta":{"content":" on"},"logprobs":{"content":[{"token":"x","logprob":-0.25,"bytes":[32,111]}]},"finish_reason":"length"}]}"#,
            r#"{"token": {"id": 5, "text": "a", "logprob": -0.5, "special": false}, "generated_text": null, "details": null}"#,
            r#"{"token": {"text": "b"}, "generated_text": "ab", "details": {"finish_reason": "length"}}"#,
            r#"{"model_name": "ensemble", "text_output": "a", "sequence_end": false}"#,
            // `choices` and `choices[0]` of every type.
            r#"{"choices": [{"text": "a"}]}"#,
            r#"{"choices": [{"text": null}]}"#,
            r#"{"choices": [{"text": 5}]}"#,
            r#"{"choices": [{"text": ["a"]}]}"#,
            r#"{"choices": [{"text": {"a": "b"}}]}"#,
            r#"{"choices": [{}]}"#,
            r#"{"choices": []}"#,
            r#"{"choices": {}}"#,
            r#"{"choices": {"0": {"text": "a"}}}"#,
            r#"{"choices": "x"}"#,
            r#"{"choices": null}"#,
            r#"{"choices": 0}"#,
            r#"{"choices": [1]}"#,
            r#"{"choices": [null, {"text": "b"}]}"#,
            r#"{"choices": [[{"text": "a"}]]}"#,
            r#"{"choices": ["x"], "usage": {"completion_tokens": 2}}"#,
            r#"{"choices": [{"text": "a"}, {"text": "b", "text": "c"}, 1e5, NaN]}"#,
            // `delta`.
            r#"{"choices": [{"delta": {}}]}"#,
            r#"{"choices": [{"delta": null}]}"#,
            r#"{"choices": [{"delta": "x"}]}"#,
            r#"{"choices": [{"delta": []}]}"#,
            r#"{"choices": [{"delta": {"content": null}}]}"#,
            r#"{"choices": [{"delta": {"content": 5}}]}"#,
            r#"{"choices": [{"delta": {"content": {"a": 1}}}]}"#,
            r#"{"choices": [{"delta": {"reasoning_content": "r", "content": null}}]}"#,
            r#"{"choices": [{"text": "t", "delta": {"content": "c"}}]}"#,
            // `usage` and `completion_tokens`.
            r#"{"usage": {}}"#,
            r#"{"usage": null}"#,
            r#"{"usage": []}"#,
            r#"{"usage": [1]}"#,
            r#"{"usage": "x"}"#,
            r#"{"usage": {"prompt_tokens": 1}}"#,
            r#"{"choices": [], "usage": {"completion_tokens": null}}"#,
            r#"{"usage": {"completion_tokens": "3"}}"#,
            r#"{"usage": {"completion_tokens": true}}"#,
            r#"{"usage": {"completion_tokens": [3]}}"#,
            r#"{"usage": {"completion_tokens": {"n": 3}}}"#,
            r#"{"usage": {"completion_tokens": -0}}"#,
            r#"{"usage": {"completion_tokens": 0}}"#,
            r#"{"usage": {"completion_tokens": -3}}"#,
            r#"{"usage": {"completion_tokens": 3.0}}"#,
            r#"{"usage": {"completion_tokens": 1e2}}"#,
            r#"{"usage": {"completion_tokens": -0.0}}"#,
            r#"{"usage": {"completion_tokens": 9223372036854775807}}"#,
            r#"{"usage": {"completion_tokens": 9223372036854775808}}"#,
            r#"{"usage": {"completion_tokens": -9223372036854775808}}"#,
            r#"{"usage": {"completion_tokens": -9223372036854775809}}"#,
            r#"{"usage": {"completion_tokens": 18446744073709551616}}"#,
            r#"{"usage": {"completion_tokens": 170141183460469231731687303715884105727}}"#,
            r#"{"usage": {"completion_tokens": 170141183460469231731687303715884105728}}"#,
            r#"{"usage": {"completion_tokens": NaN}}"#,
            r#"{"usage": {"completion_tokens": Infinity}}"#,
            r#"{"usage": {"completion_tokens": -Infinity}}"#,
            // TGI and TensorRT-LLM fields.
            r#"{"generated_text": 5}"#,
            r#"{"generated_text": ""}"#,
            r#"{"text_output": null}"#,
            r#"{"text_output": ""}"#,
            r#"{}"#,
            // Repeated keys: Python keeps the first position, the last value.
            r#"{"choices": [{"text": "a"}], "choices": []}"#,
            r#"{"choices": [], "choices": [{"text": "a"}]}"#,
            r#"{"choices": [{"text": "a", "text": "b"}]}"#,
            r#"{"choices": [{"delta": {"content": "a"}, "delta": {}}]}"#,
            r#"{"choices": [{"delta": {"content": "a", "content": "b"}}]}"#,
            r#"{"usage": {"completion_tokens": 1, "completion_tokens": 2}}"#,
            r#"{"usage": {"completion_tokens": 1}, "usage": {}}"#,
            r#"{"usage": {"a": 1, "a": 2}}"#,
            r#"{"generated_text": "a", "generated_text": null}"#,
            r#"{"text_output": "a", "text_output": "b"}"#,
            r#"{"id": 1, "id": 2, "choices": [{"text": "a", "index": 0, "index": 1}]}"#,
            // Escapes, in values and in keys.
            r#"{"choices": [{"text": "caf\u00e9 \ud83d\ude00 \n\t\"q\" \\ \/ \b\f\r"}]}"#,
            r#"{"choices": [{"text": "café 😀 raw"}]}"#,
            r#"{"choi\u0063es": [{"te\u0078t": "k"}], "usag\u0065": {"completion_tokens": 1}}"#,
            r#"{"choices": [{"delta": {"con\u0074ent": "\u0041"}}]}"#,
            r#"{"choices": [{"text": "\ud800"}]}"#,
            r#"{"choices": [{"text": "\udc00"}]}"#,
            r#"{"choices": [{"text": "\ud800\u0041"}]}"#,
            r#"{"choices": [{"text": "a"}], "x": "\ud800"}"#,
            r#"{"choices": [{"text": "\x"}]}"#,
            r#"{"choices": [{"text": "\u12"}]}"#,
            r#"{"choices": [{"text": "\u0000"}]}"#,
            // Python's literals and numbers anywhere.
            r#"{"choices": [{"text": "a", "logprobs": NaN}]}"#,
            r#"{"choices": [{"text": "a"}], "x": Infinity}"#,
            r#"{"choices": [{"text": "a"}], "x": -Infinity}"#,
            r#"{"choices": [{"text": "a"}], "x": 1e400}"#,
            r#"{"choices": [{"text": "a"}], "x": -1e400}"#,
            r#"{"choices": [{"text": "a"}], "x": 1e-400}"#,
            r#"{"choices": [{"text": "a"}], "x": 1e37}"#,
            r#"{"choices": [{"text": "a"}], "x": -2e38}"#,
            r#"{"choices": [{"text": "a"}], "x": [0.5, -0, 1E+2, 12345678901234567890123]}"#,
            r#"{"choices": [{"text": "a"}], "x": 170141183460469231731687303715884105727}"#,
            r#"{"choices": [{"text": "a"}], "x": 170141183460469231731687303715884105728}"#,
            r#"{"choices": [{"text": "a"}], "x": -170141183460469231731687303715884105729}"#,
            r#"{"choices": [{"text": "a", "x": 1234567890123456789012345678901234567890123}]}"#,
            r#"{"choices": [{"text": "a"}, 99999999999999999999999999999999999999999]}"#,
            r#"{"usage": {"completion_tokens": 2, "x": 999999999999999999999999999999999999999999}}"#,
            r#"{"x": 01}"#,
            r#"{"x": 1.}"#,
            r#"{"x": .5}"#,
            r#"{"x": +1}"#,
            r#"{"x": -}"#,
            // Not JSON, not an object, or not only an object.
            "",
            " ",
            "not json",
            "{",
            "}",
            r#"{"choices": [}"#,
            r#"{"choices": [{"text": "a"}]"#,
            r#"{"choices": [{"text": "a"}]} x"#,
            r#"{"choices": [{"text": "a"}]}{}"#,
            "{\"choices\": [{\"text\": \"s\"}]} \n\t\r",
            " \n{\"choices\": [{\"text\": \"s\"}]}",
            "\u{feff}{}",
            r#"{"a": 1,}"#,
            r#"{'a': 1}"#,
            r#"{"a" 1}"#,
            r#"{a: 1}"#,
            "{\"choices\": [{\"text\": \"a\tb\"}]}",
            "{\"choices\": [{\"text\": \"a\u{1}\"}]}",
            "{\"choices\": [{\"text\": \"a\u{7f}\"}]}",
            "[1]",
            "[]",
            r#""str""#,
            "1",
            "null",
            "true",
            "NaN",
            "[DONE]",
            " [DONE]",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        // Nesting: within serde's depth limit, past it, past Python's.
        for depth in [100, 127, 200, 1000] {
            c.push(format!(
                r#"{{"choices": [{{"text": "d"}}], "x": {}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            ));
        }
        c
    }

    /// Whether `read` answered for `data`; where it does, it must say
    /// what the exact parse says, and never answer where that fails.
    #[track_caller]
    fn agrees_or_abstains(
        read: impl for<'a> Fn(&'a str) -> Option<ChunkView<'a>>,
        data: &str,
    ) -> bool {
        let Some(view) = read(data) else {
            return false;
        };
        let exact = servebench_pyjson::from_str(data);
        match exact.as_ref().ok().and_then(Value::as_dict) {
            Some(dict) => assert_eq!(view, ChunkView::of_value(dict), "{data}"),
            None => panic!("{data}: read as {view:?} where Python reads {exact:?}"),
        }
        true
    }

    /// Where the typed parse answers, it says what the exact parse says;
    /// where the exact parse fails, the typed one never answers.
    #[test]
    fn the_typed_parse_agrees_with_python_json_or_abstains() {
        let corpus = corpus();
        let typed = corpus
            .iter()
            .filter(|d| agrees_or_abstains(|t| ChunkView::parse_serde(t), d))
            .count();
        // The parse is not vacuous: most of the corpus is read typed.
        assert!(typed > 60, "only {typed} chunks read typed");
    }

    /// The same for the scanner, which must also answer for the chunks
    /// servers send.
    #[test]
    fn the_scanner_agrees_with_python_json_or_abstains() {
        let corpus = corpus();
        let scanned = corpus
            .iter()
            .filter(|d| agrees_or_abstains(|t| ChunkView::scan(t), d))
            .count();
        assert!(scanned > 60, "only {scanned} chunks scanned");
        // Including the corpus's real chunks.
        for data in &corpus[..7] {
            assert!(ChunkView::scan(data).is_some(), "{data}");
        }
        // Escaped text is unescaped (and copied), as the serde parse does.
        let escaped = r#"{"choices": [{"text": "caf\u00e9 \ud83d\ude00 \n\"q\" \\ \/"}]}"#;
        assert_eq!(ChunkView::scan(escaped), ChunkView::parse_serde(escaped));
        assert!(ChunkView::scan(escaped).is_some());
    }

    #[test]
    fn the_word_search_finds_the_first_special_byte() {
        let specials = [b'"', b'\\', 0u8, 0x1F];
        let plain = [
            b'a', b' ', 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xFF, 0xA2, 0xDC,
        ];
        let mut x: u64 = 5;
        for _ in 0..20_000 {
            let mut w = [0u8; 8];
            for b in &mut w {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (x >> 33) as usize;
                *b = if r.is_multiple_of(5) {
                    specials[r / 5 % specials.len()]
                } else {
                    plain[r / 5 % plain.len()]
                };
            }
            let want = w.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            assert_eq!(first_special(u64::from_le_bytes(w)), want, "{w:?}");
        }
    }

    /// Every cut and every one-byte change (to JSON's punctuation, digits,
    /// letters, escapes) of the corpus's chunks: the scanner agrees with
    /// Python's reading or abstains.
    /// Every cut of `data` and every change of one of its bytes to JSON's
    /// punctuation, digits, letters or escapes (those that are UTF-8).
    fn mutations(data: &str) -> Vec<String> {
        let replacements = b"{}[]:,\"\\ 0-1.eE+ntfu\x01a";
        let bytes = data.as_bytes();
        let mut variants: Vec<Vec<u8>> = (0..bytes.len()).map(|k| bytes[..k].to_vec()).collect();
        for k in 0..bytes.len() {
            for &r in replacements {
                let mut v = bytes.to_vec();
                v[k] = r;
                variants.push(v);
            }
        }
        variants
            .into_iter()
            .filter_map(|v| String::from_utf8(v).ok())
            .collect()
    }

    #[test]
    fn the_scanner_agrees_on_mutated_chunks() {
        let mut checked = 0;
        for data in corpus().iter().take(40) {
            for text in mutations(data) {
                if agrees_or_abstains(|t| ChunkView::scan(t), &text) {
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    /// A template read answers only what the scanner answers for the same
    /// text, for every chunk of the corpus it can learn from, read against
    /// that chunk with other strings in the slot and against every cut and
    /// one-byte change of it; and it does answer for a new plain string.
    #[test]
    fn a_template_reads_what_the_scanner_reads() {
        let texts = [
            r#""""#,
            r#"" tokens""#,
            r#""caf\u00e9 \ud83d\ude00 \n\"q\"""#,
            r#""\ud800""#,
            r#""a"#,
            "\"a\u{1}\"",
            r#""a\"b""#,
            r#"null"#,
            r#"5"#,
            r#""a","text":"b""#,
        ];
        let (mut learned, mut fits, mut checked) = (0, 0, 0);
        for data in corpus() {
            let Some(view) = ChunkView::scan(&data) else {
                continue;
            };
            let mut template = Template::default();
            template.learn(&data, &view);
            if template.slot.is_none() {
                continue;
            }
            learned += 1;
            // Itself.
            assert_eq!(template.read(&data), Some(view), "{data}");
            let (pre, post) = (
                String::from_utf8(template.prefix.clone()).unwrap(),
                String::from_utf8(template.suffix.clone()).unwrap(),
            );
            let mut variants: Vec<String> = texts
                .iter()
                .map(|t| format!("{}{t}{post}", &pre[..pre.len() - 1]))
                .collect();
            variants.extend(mutations(&data));
            for text in variants {
                if let Some(read) = template.read(&text) {
                    assert_eq!(Some(read), ChunkView::scan(&text), "{text}");
                    assert!(agrees_or_abstains(|t| template.read(t), &text));
                    checked += 1;
                }
            }
            let fresh = format!("{pre} tokens\"{post}");
            if template.read(&fresh).is_some() {
                fits += 1;
            }
        }
        assert!(learned >= 10, "{learned}");
        assert_eq!(fits, learned);
        assert!(checked > 500, "{checked}");
        // A stream: the first chunk is scanned and learned, the next fit.
        let chunk = |t: &str, finish: &str| {
            format!(
                r#"{{"id":"cmpl-1","object":"text_completion","created":1,"model":"sim","choices":[{{"index":0,"text":"{t}","logprobs":null,"finish_reason":{finish},"stop_reason":null}}],"usage":null}}"#
            )
        };
        let mut template = Template::default();
        let first = chunk(" a", "null");
        assert!(ChunkView::parse_with(&first, &mut template).is_some());
        let second = chunk(" b", "null");
        assert!(template.read(&second).is_some());
        let last = chunk(" c", r#""length""#);
        assert!(template.read(&last).is_none(), "the finish reason differs");
        let view = ChunkView::parse_with(&last, &mut template).unwrap();
        assert_eq!(Some(view), ChunkView::scan(&last));
    }

    #[test]
    fn it_abstains_exactly_where_it_cannot_be_sure() {
        let abstains = |d: &str| ChunkView::parse_serde(d).is_none();
        for data in [
            r#"{"choices": [{"text": "a", "text": "b"}]}"#,
            r#"{"usage": {"completion_tokens": -0}}"#,
            r#"{"usage": {"completion_tokens": 3.0}}"#,
            r#"{"choices": [{"text": "a", "logprobs": NaN}]}"#,
            r#"{"choices": [{"text": "\ud800"}]}"#,
            r#"{"choices": [{"text": "a"}], "x": 170141183460469231731687303715884105728}"#,
            "[1]",
            "not json",
        ] {
            assert!(abstains(data), "{data}");
        }
        for data in [
            r#"{"id": 1, "id": 2, "choices": [{"text": "a"}]}"#,
            r#"{"choices": [{"text": "caf\u00e9"}], "x": 12345678901234567890123}"#,
            r#"{"usage": {"completion_tokens": 9223372036854775808}}"#,
        ] {
            assert!(!abstains(data), "{data}");
        }
        // Escaped text is copied, plain text borrowed, by both readings.
        for parse in [ChunkView::parse_serde, ChunkView::scan] {
            let plain = parse(r#"{"choices": [{"text": "a"}]}"#);
            let escaped = parse(r#"{"choices": [{"text": "\u0061"}]}"#);
            let text = |v: Option<ChunkView<'_>>| match v.and_then(|v| v.first_choice) {
                Some(Choice::Object { text: Some(t), .. }) => matches!(t, Cow::Borrowed(_)),
                _ => panic!("no text"),
            };
            assert!(text(plain));
            assert!(!text(escaped));
        }
    }
}
