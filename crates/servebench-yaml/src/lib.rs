//! YAML as PyYAML 1.1's `safe_load` reads it; owns nothing else.
//!
//! This crate owns turning YAML text or a YAML file into a
//! [`servebench_pyjson::Value`] with exactly the values Python's
//! `yaml.safe_load` would produce. It does not own what a document means
//! (master configs, runner configs, the simulator's `--sim-config`, the load
//! generator's start-up spec: their crates validate the value), nor how a
//! missing file is worded by a tool that words it differently
//! ([`YamlError::NotFound`] carries the path for that).
//!
//! serde-saphyr (not the archived `serde_yaml`, which reads `3_091_589` as a
//! string) handles the syntax, anchors and aliases, and is told to forward
//! duplicate keys and `<<` entries untouched. Plain scalars are then
//! re-resolved from their source text with PyYAML's YAML 1.1 implicit
//! resolvers, because serde-saphyr's own inference differs in details the
//! configs can hit: PyYAML reads `y`/`n` as strings, `017` as octal 15,
//! `0o17` and `1e3` as strings, `1:30` as 90 (base 60) and `2026-02-19` as a
//! date. Mappings get Python `dict` semantics: a repeated key keeps its first
//! position and its last value, and `<<` merges follow PyYAML's
//! `flatten_mapping` order.
//!
//! Two deliberate differences from PyYAML, both inputs that make every
//! Python tool fail anyway: mapping keys must be strings, and timestamps are
//! rejected with a clear message instead of becoming dates that JSON cannot
//! encode.
//!
//! ```
//! let doc = servebench_yaml::parse("tp: 017\nep: y\nconc: 3_091_589\n").unwrap();
//! assert_eq!(
//!     servebench_pyjson::to_string(&doc),
//!     r#"{"tp": 15, "ep": "y", "conc": 3091589}"#
//! );
//! let err = servebench_yaml::parse("k: [1, 2\n").unwrap_err();
//! assert!(err.to_string().starts_with("invalid YAML: "));
//! ```

#![warn(unreachable_pub)]

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use servebench_files::Limit;
use servebench_pyjson::{Dict, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a YAML file or text could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum YamlError {
    /// [`load_file`]: the file does not exist. Worded like the Python
    /// tools' `Input file '...' does not exist.`; callers with their own
    /// wording (the runner config) match on this variant.
    #[error("Input file '{}' does not exist.", .0.display())]
    NotFound(PathBuf),

    /// [`load_file`]: the file was refused or unreadable: not a regular
    /// file (a FIFO, a device, a directory), over [`Limit::CONFIG`], or an
    /// I/O error.
    #[error(transparent)]
    Input(servebench_files::FilesError),

    /// Not valid YAML (or not UTF-8, or a construct PyYAML would turn into
    /// something JSON cannot hold). `message` is one line; `path` is the
    /// file for [`load_file`], `None` for [`parse`].
    #[error("{}invalid YAML: {message}", at(path.as_deref()))]
    Invalid {
        path: Option<PathBuf>,
        message: String,
    },
}

/// `PATH: ` before a message about a file, nothing for bare text.
fn at(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

/// Reads and parses a YAML file the way `yaml.safe_load(open(path))` does.
/// Only a regular file of at most [`Limit::CONFIG`] bytes is read: a FIFO
/// (on which Python blocks), a device or a directory is refused at once.
pub fn load_file(path: &Path) -> Result<Value, YamlError> {
    let text = match servebench_files::read(path, Limit::CONFIG) {
        Ok(bytes) => bytes,
        Err(err) if err.is_not_found() => return Err(YamlError::NotFound(path.to_owned())),
        Err(err) => return Err(YamlError::Input(err)),
    };
    let invalid = |message| YamlError::Invalid {
        path: Some(path.to_owned()),
        message,
    };
    let text = String::from_utf8(text).map_err(|err| {
        invalid(format!(
            "not valid UTF-8 (byte {})",
            err.utf8_error().valid_up_to()
        ))
    })?;
    parse_text(&text).map_err(invalid)
}

/// Parses one YAML document into a [`Value`] with `safe_load` semantics.
/// An empty document is `None`, as in PyYAML. The error's message is one
/// line.
pub fn parse(src: &str) -> Result<Value, YamlError> {
    parse_text(src).map_err(|message| YamlError::Invalid {
        path: None,
        message,
    })
}

fn parse_text(src: &str) -> Result<Value, String> {
    if is_blank_document(src) {
        return Ok(Value::Null);
    }
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        merge_keys: serde_saphyr::MergeKeyPolicy::AsOrdinary,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        legacy_octal_numbers: true,
        with_snippet: false,
    };
    let root: Spanned<Node> = serde_saphyr::from_str_with_options(src, options)
        .map_err(|err| one_line(&err.to_string()))?;
    Converter { src }.node(&root)
}

/// A document holding only comments, whitespace or `---`/`...` markers.
fn is_blank_document(src: &str) -> bool {
    src.lines().all(|line| {
        let t = line.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parse tree as serde-saphyr hands it over, before PyYAML resolution.
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML node")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        i128::try_from(v)
            .map(Node::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

/// What a resolved mapping key turned out to be.
enum Key {
    Str(String),
    Merge,
}

struct Converter<'a> {
    src: &'a str,
}

impl Converter<'_> {
    fn node(&self, node: &Spanned<Node>) -> Result<Value, String> {
        match &node.value {
            Node::Seq(items) => items
                .iter()
                .map(|item| self.node(item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List),
            Node::Map(entries) => self.mapping(node, entries).map(Value::Dict),
            _ => self.scalar(node),
        }
    }

    fn scalar(&self, node: &Spanned<Node>) -> Result<Value, String> {
        let line = node.defined.line();
        let resolved = match &node.value {
            // Quoted, block and explicitly tagged scalars are not resolved
            // implicitly; serde-saphyr already honoured their style and tag.
            _ if !self.is_plain(node) => self.as_parsed(node)?,
            Node::Str(text) => resolve_plain(text),
            _ => resolve_plain(self.raw_text(node).unwrap_or_default()),
        };
        match resolved {
            Resolved::Value(v) => Ok(v),
            Resolved::Timestamp(text) => Err(format!(
                "line {line}: `{text}` is a YAML 1.1 timestamp, which no config field accepts \
                 (quote it to make it a string)"
            )),
            Resolved::Invalid(text, why) => Err(format!("line {line}: `{text}`: {why}")),
            Resolved::Merge => Err(format!("line {line}: `<<` is only valid as a mapping key")),
        }
    }

    fn as_parsed(&self, node: &Spanned<Node>) -> Result<Resolved, String> {
        Ok(Resolved::Value(match &node.value {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Int(*i),
            Node::Float(f) => Value::Float(*f),
            Node::Str(s) => Value::Str(s.clone()),
            Node::Seq(_) | Node::Map(_) => {
                return Err(format!("line {}: expected a scalar", node.defined.line()))
            }
        }))
    }

    fn key(&self, node: &Spanned<Node>) -> Result<Key, String> {
        let line = node.defined.line();
        // serde-saphyr passes a collection used as a key as its text; a
        // plain scalar never starts with a flow indicator.
        let collection_key = matches!(node.value, Node::Seq(_) | Node::Map(_))
            || (self.is_plain(node)
                && self
                    .raw_text(node)
                    .is_some_and(|raw| raw.starts_with(['[', '{'])));
        if collection_key {
            return Err(format!(
                "line {line}: a mapping key must be a string, not a collection"
            ));
        }
        if let Node::Str(text) = &node.value {
            if self.is_plain(node) && text == "<<" {
                return Ok(Key::Merge);
            }
        }
        match self.scalar(node) {
            Ok(Value::Str(s)) => Ok(Key::Str(s)),
            Ok(other) => Err(format!(
                "line {line}: mapping key {} is a {}, not a string (quote it)",
                servebench_pyjson::to_string(&other),
                other.type_name()
            )),
            Err(err) => Err(err),
        }
    }

    /// Builds a dict the way PyYAML's `construct_mapping` does after
    /// `flatten_mapping`: merged pairs first, later merge sources before
    /// earlier ones (so earlier ones win), then the mapping's own pairs.
    fn mapping(
        &self,
        node: &Spanned<Node>,
        entries: &[(Spanned<Node>, Spanned<Node>)],
    ) -> Result<Dict, String> {
        let mut merged: Vec<(String, Value)> = Vec::new();
        let mut own: Vec<(String, Value)> = Vec::new();
        for (key, value) in entries {
            match self.key(key)? {
                Key::Str(k) => own.push((k, self.node(value)?)),
                Key::Merge => merged.extend(self.merge_sources(node, value)?),
            }
        }
        Ok(merged.into_iter().chain(own).collect())
    }

    fn merge_sources(
        &self,
        parent: &Spanned<Node>,
        value: &Spanned<Node>,
    ) -> Result<Vec<(String, Value)>, String> {
        let line = parent.defined.line();
        let not_mapping =
            || format!("line {line}: `<<` must merge a mapping or a list of mappings");
        match &value.value {
            Node::Map(_) => match self.node(value)? {
                Value::Dict(d) => Ok(pairs(d)),
                _ => Err(not_mapping()),
            },
            Node::Seq(items) => {
                let mut out = Vec::new();
                for item in items.iter().rev() {
                    match (&item.value, self.node(item)?) {
                        (Node::Map(_), Value::Dict(d)) => out.extend(pairs(d)),
                        _ => return Err(not_mapping()),
                    }
                }
                Ok(out)
            }
            _ => Err(not_mapping()),
        }
    }

    /// The scalar's text as written (without tag or anchor), when known.
    fn raw_text(&self, node: &Spanned<Node>) -> Option<&str> {
        let span = node.defined.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        self.src.get(start..start + len)
    }

    /// A plain scalar: not quoted, not a block scalar, no explicit tag.
    fn is_plain(&self, node: &Spanned<Node>) -> bool {
        let Some(raw) = self.raw_text(node) else {
            return true;
        };
        if raw.starts_with(['\'', '"']) {
            return false;
        }
        let Some(start) = node
            .defined
            .span()
            .byte_offset()
            .and_then(|o| usize::try_from(o).ok())
        else {
            return true;
        };
        // Look back over properties (`&anchor`) for a tag (`!...`) or a block
        // scalar indicator (`|`, `>`), which only precede non-plain scalars.
        let mut before = self.src.get(..start).unwrap_or_default();
        loop {
            let trimmed = before.trim_end();
            let token_start = trimmed
                .rfind(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | '{'))
                .map_or(0, |i| i + 1);
            let token = &trimmed[token_start..];
            if token.starts_with('&') {
                before = &trimmed[..token_start];
                continue;
            }
            return !(token.starts_with('!') || token.starts_with(['|', '>']));
        }
    }
}

fn pairs(d: Dict) -> Vec<(String, Value)> {
    d.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect()
}

enum Resolved {
    Value(Value),
    Merge,
    Timestamp(String),
    Invalid(String, &'static str),
}

/// PyYAML's implicit resolution of a plain scalar (SafeLoader, YAML 1.1).
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Value(Value::Null),
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Value(Value::Bool(true))
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Value(Value::Bool(false))
        }
        "<<" => return Resolved::Merge,
        "=" => {
            return Resolved::Invalid(
                text.to_owned(),
                "PyYAML's safe_load cannot construct the YAML `=` value type",
            )
        }
        _ => {}
    }
    if is_yaml11_float(text) {
        return match construct_float(text) {
            Some(f) => Resolved::Value(Value::Float(f)),
            None => Resolved::Invalid(text.to_owned(), "not a valid float"),
        };
    }
    if is_yaml11_int(text) {
        return match construct_int(text) {
            Some(i) => Resolved::Value(Value::Int(i)),
            None => Resolved::Invalid(text.to_owned(), "integer is empty or too large"),
        };
    }
    if is_yaml11_timestamp(text) {
        return Resolved::Timestamp(text.to_owned());
    }
    Resolved::Value(Value::Str(text.to_owned()))
}

/// A tiny cursor for hand-written versions of PyYAML's resolver regexes.
struct Scan<'a> {
    rest: &'a [u8],
}

impl<'a> Scan<'a> {
    fn new(s: &'a str) -> Self {
        Scan { rest: s.as_bytes() }
    }
    fn eat(&mut self, pred: impl Fn(u8) -> bool) -> bool {
        match self.rest.first() {
            Some(&b) if pred(b) => {
                self.rest = &self.rest[1..];
                true
            }
            _ => false,
        }
    }
    fn eat_str(&mut self, s: &str) -> bool {
        match self.rest.strip_prefix(s.as_bytes()) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }
    fn eat_many(&mut self, pred: impl Fn(u8) -> bool) -> usize {
        let n = self.rest.iter().take_while(|b| pred(**b)).count();
        self.rest = &self.rest[n..];
        n
    }
    fn sign(&mut self) {
        self.eat(|b| b == b'+' || b == b'-');
    }
    fn done(&self) -> bool {
        self.rest.is_empty()
    }
}

fn digit_or_underscore(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

/// `(?::[0-5]?[0-9])+` applied to the text after the first colon-free part.
fn sexagesimal_parts_ok(parts: &[&str]) -> bool {
    !parts.is_empty()
        && parts.iter().all(|p| match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, b] => (b'0'..=b'5').contains(a) && b.is_ascii_digit(),
            _ => false,
        })
}

fn is_yaml11_int(text: &str) -> bool {
    let mut s = Scan::new(text);
    s.sign();
    let body = std::str::from_utf8(s.rest).unwrap_or_default();
    if let Some(bin) = body.strip_prefix("0b") {
        return !bin.is_empty() && bin.bytes().all(|b| matches!(b, b'0' | b'1' | b'_'));
    }
    if let Some(hex) = body.strip_prefix("0x") {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_');
    }
    if let Some(oct) = body.strip_prefix('0') {
        return oct.is_empty() || oct.bytes().all(|b| matches!(b, b'0'..=b'7' | b'_'));
    }
    let mut parts = body.split(':');
    let head = parts.next().unwrap_or_default();
    let head_ok = head
        .as_bytes()
        .first()
        .is_some_and(|b| (b'1'..=b'9').contains(b))
        && head.bytes().all(digit_or_underscore);
    let tail: Vec<&str> = parts.collect();
    head_ok && (tail.is_empty() || sexagesimal_parts_ok(&tail))
}

fn construct_int(text: &str) -> Option<i128> {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (sign, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (-1, &cleaned[1..]),
        Some(b'+') => (1, &cleaned[1..]),
        _ => (1, &cleaned[..]),
    };
    let magnitude = if body == "0" {
        0
    } else if let Some(bin) = body.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = body.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if body.starts_with('0') {
        i128::from_str_radix(body, 8).ok()?
    } else if body.contains(':') {
        let mut value: i128 = 0;
        for part in body.split(':') {
            value = value
                .checked_mul(60)?
                .checked_add(part.parse::<i128>().ok()?)?;
        }
        value
    } else {
        body.parse::<i128>().ok()?
    };
    magnitude.checked_mul(sign)
}

fn is_yaml11_float(text: &str) -> bool {
    // [-+]?\.(?:inf|Inf|INF)  and  \.(?:nan|NaN|NAN)
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let exponent_ok = |s: &mut Scan| {
        // (?:[eE][-+][0-9]+)?
        if s.eat(|b| b == b'e' || b == b'E') {
            s.eat(|b| b == b'-' || b == b'+') && s.eat_many(|b| b.is_ascii_digit()) > 0
        } else {
            true
        }
    };
    // \.[0-9_]+(?:[eE][-+][0-9]+)?   (no sign)
    {
        let mut s = Scan::new(text);
        if s.eat_str(".") && s.eat_many(digit_or_underscore) > 0 && exponent_ok(&mut s) && s.done()
        {
            return true;
        }
    }
    // [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
    {
        let mut s = Scan::new(text);
        s.sign();
        if s.eat(|b| b.is_ascii_digit()) {
            s.eat_many(digit_or_underscore);
            if s.eat_str(".") {
                s.eat_many(digit_or_underscore);
                if exponent_ok(&mut s) && s.done() {
                    return true;
                }
            }
        }
    }
    // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    let unsigned_bytes = unsigned.as_bytes();
    if unsigned_bytes.first().is_some_and(u8::is_ascii_digit) {
        if let Some((int_part, frac)) = unsigned.rsplit_once('.') {
            let mut parts = int_part.split(':');
            let head = parts.next().unwrap_or_default();
            let tail: Vec<&str> = parts.collect();
            return head.bytes().all(digit_or_underscore)
                && !tail.is_empty()
                && sexagesimal_parts_ok(&tail)
                && frac.bytes().all(digit_or_underscore);
        }
    }
    false
}

fn construct_float(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_lowercase();
    let (sign, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (-1.0, &cleaned[1..]),
        Some(b'+') => (1.0, &cleaned[1..]),
        _ => (1.0, &cleaned[..]),
    };
    let magnitude = if body == ".inf" {
        f64::INFINITY
    } else if body == ".nan" {
        return Some(f64::NAN);
    } else if body.contains(':') {
        let mut value = 0.0;
        for part in body.split(':') {
            value = value * 60.0 + python_float(part)?;
        }
        value
    } else {
        python_float(body)?
    };
    Some(sign * magnitude)
}

/// Python's `float()` on the digit strings the resolver lets through
/// (`1.`, `.5`, `1.5e+3`); Rust's parser rejects a bare trailing `.` only.
fn python_float(s: &str) -> Option<f64> {
    if s == "." || s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok()
}

fn is_yaml11_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    // [0-9]{4}-[0-9]{2}-[0-9]{2}
    if b.len() == 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
    {
        return true;
    }
    // [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(T|t|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?
    //   ([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?
    let mut s = Scan::new(text);
    let n_digits = |s: &mut Scan, lo: usize, hi: usize| {
        let n = s.eat_many(|b| b.is_ascii_digit());
        (lo..=hi).contains(&n)
    };
    if !(n_digits(&mut s, 4, 4)
        && s.eat_str("-")
        && n_digits(&mut s, 1, 2)
        && s.eat_str("-")
        && n_digits(&mut s, 1, 2))
    {
        return false;
    }
    if !(s.eat(|b| b == b'T' || b == b't') || s.eat_many(|b| b == b' ' || b == b'\t') > 0) {
        return false;
    }
    if !(n_digits(&mut s, 1, 2)
        && s.eat_str(":")
        && n_digits(&mut s, 2, 2)
        && s.eat_str(":")
        && n_digits(&mut s, 2, 2))
    {
        return false;
    }
    if s.eat_str(".") {
        s.eat_many(|b| b.is_ascii_digit());
    }
    s.eat_many(|b| b == b' ' || b == b'\t');
    if s.eat_str("Z") {
        return s.done();
    }
    if s.eat(|b| b == b'+' || b == b'-') {
        if !n_digits(&mut s, 1, 2) {
            return false;
        }
        if s.eat_str(":") && !n_digits(&mut s, 2, 2) {
            return false;
        }
    }
    s.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use servebench_pyjson::to_string;

    #[track_caller]
    fn check(doc: &str, expected_json: &str) {
        let value = parse(doc).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
        assert_eq!(to_string(&value), expected_json, "{doc:?}");
    }

    /// Each expected value was produced by PyYAML 6.0 `safe_load`.
    #[test]
    fn plain_scalars_resolve_like_pyyaml() {
        let table = [
            ("yes", "true"),
            ("Yes", "true"),
            ("YES", "true"),
            ("no", "false"),
            ("on", "true"),
            ("Off", "false"),
            ("true", "true"),
            ("False", "false"),
            ("y", r#""y""#),
            ("n", r#""n""#),
            ("Y", r#""Y""#),
            ("yEs", r#""yEs""#),
            ("~", "null"),
            ("null", "null"),
            ("Null", "null"),
            ("NULL", "null"),
            ("", "null"),
            ("017", "15"),
            ("0o17", r#""0o17""#),
            ("0x1f", "31"),
            ("0b101", "5"),
            ("-0x1f", "-31"),
            ("+12", "12"),
            ("1_000", "1000"),
            ("3_091_589", "3091589"),
            ("1:30", "90"),
            ("-1:30", "-90"),
            ("1:30.5", "90.5"),
            ("08", r#""08""#),
            ("09.5", "9.5"),
            ("1e3", r#""1e3""#),
            ("1.0e+3", "1000.0"),
            ("1.0e3", r#""1.0e3""#),
            ("1.", "1.0"),
            ("-.5", r#""-.5""#),
            (".5", "0.5"),
            ("+.inf", "Infinity"),
            ("-.INF", "-Infinity"),
            (".nan", "NaN"),
            ("0", "0"),
            ("-0", "0"),
            ("00", "0"),
            ("0_", "0"),
            ("1.5_0", "1.5"),
            ("2026-2-19", r#""2026-2-19""#),
            ("12:5", "725"),
            ("1:60", r#""1:60""#),
            ("<<x", r#""<<x""#),
            ("8.0", "8.0"),
            ("-8", "-8"),
        ];
        for (scalar, want) in table {
            check(&format!("k: {scalar}\n"), &format!(r#"{{"k": {want}}}"#));
        }
    }

    #[test]
    fn quoted_block_and_tagged_scalars_are_not_resolved() {
        check(
            "a: !!str 5\nb: !!int '7'\nc: |\n  yes\nd: >-\n  12\ne: &x 0x10\nf: *x\ng: 'yes'\nh: \"1_000\"\n",
            r#"{"a": "5", "b": 7, "c": "yes\n", "d": "12", "e": 16, "f": 16, "g": "yes", "h": "1_000"}"#,
        );
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        check("k: 1\nj: 2\nk: 3\n", r#"{"k": 3, "j": 2}"#);
    }

    #[test]
    fn merge_keys_follow_pyyaml_order() {
        check(
            "a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  w: 0\n  <<: [*a, *b]\n  x: 9\n",
            r#"{"a": {"x": 1, "y": 2}, "b": {"y": 3, "z": 4}, "c": {"y": 2, "z": 4, "x": 9, "w": 0}}"#,
        );
        check(
            "base: &b {p: 1}\nd:\n  <<: *b\n  '<<': lit\n",
            r#"{"base": {"p": 1}, "d": {"p": 1, "<<": "lit"}}"#,
        );
    }

    #[test]
    fn empty_documents_are_none() {
        check("", "null");
        check("# only a comment\n---\n", "null");
    }

    #[track_caller]
    fn check_err(doc: &str, needle: &str) {
        match parse_text(doc) {
            Ok(v) => panic!("{doc:?} parsed as {v:?}"),
            Err(e) => {
                assert!(e.contains(needle), "{doc:?}: error {e:?} lacks {needle:?}");
                assert!(!e.contains('\n'), "error is not one line: {e:?}");
            }
        }
    }

    #[test]
    fn bad_documents_give_one_line_errors() {
        check_err("k: 2026-02-19\n", "timestamp");
        check_err("1: x\n", "not a string");
        check_err("? [a]\n: x\n", "collection");
        check_err("? {a: 1}\n: x\n", "collection");
        check_err("? - a\n: x\n", "");
        check_err("k: =\n", "`=`");
        check_err("k: [1, 2\n", "");
        check_err("k: {a: 1\n", "");
        check_err("a:\n  - b\n c: d\n", "");
        check_err("k: \"unterminated\n", "");
        check_err("k: *nowhere\n", "");
        check_err("a: <<\n", "<<");
        check_err("x:\n  <<: 5\n", "merge");
    }

    #[test]
    fn garbage_and_truncated_input_never_panic() {
        let real = "dsr1-fp8-h100-vllm:\n  image: img\n  seq-len-configs:\n  - isl: 1024\n    search-space:\n    - { tp: 8, conc-start: 4, conc-end: 64 }\n";
        for cut in 0..=real.len() {
            let _ = parse(&real[..cut]);
        }
        let mut seed: u32 = 7;
        let alphabet = b"ab:-[]{}&*!|>'\"#\n ,?<=0123456789.";
        for _ in 0..2000 {
            let doc: String = (0..40)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    alphabet[(seed >> 16) as usize % alphabet.len()] as char
                })
                .collect();
            let _ = parse(&doc);
        }
    }
}
