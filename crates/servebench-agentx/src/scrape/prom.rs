//! A small parser for the Prometheus text exposition format (0.0.4, and the
//! parts of OpenMetrics that servers send on `/metrics`): `# HELP`/`# TYPE`
//! comments, counters (family named without `_total`), gauges, histograms
//! (`_bucket{le=..}`, `_sum`, `_count` merged into one series), untyped
//! samples and `info` families. Summaries are skipped, as aiperf skips them.
//!
//! Why our own: the format is line-based and small, the crates that parse it
//! either pull a regex engine and an allocation-per-token model or drop
//! HELP/TYPE, and we need hard caps (a hostile endpoint must not make us
//! allocate without bound): the body size is capped by the HTTP reader, the
//! number of series and labels here.

use std::collections::HashMap;

/// What a family is, after the exposition's `# TYPE` (untyped → `Unknown`,
/// `info` → a gauge named `<base>_info`, as prometheus_client exposes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Gauge,
    Counter,
    Histogram,
    Unknown,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
            Kind::Unknown => "unknown",
        }
    }
}

/// Label pairs, sorted by name (the series identity).
pub(crate) type Labels = Vec<(String, String)>;

/// One series of one scrape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(f64),
    /// Cumulative bucket counts by `le` as written (sorted by bound, `+Inf`
    /// last), the `_sum` and the `_count` (the `+Inf` bucket when absent).
    Histogram {
        buckets: Vec<(String, f64)>,
        sum: f64,
        count: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    pub(crate) value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Family {
    /// The exported name: counters without `_total`.
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// `# HELP` text, unescaped (empty when absent).
    pub(crate) help: String,
    pub(crate) series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Exposition {
    pub(crate) families: Vec<Family>,
    /// Lines that were neither a comment nor a sample (skipped).
    pub(crate) malformed_lines: usize,
}

/// Hard caps on one exposition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Series (after histogram merging) in one scrape.
    pub(crate) max_series: usize,
    /// Labels on one sample.
    pub(crate) max_labels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A large vLLM deployment with DP ranks exposes a few thousand series;
        // 100k leaves room without letting a runaway endpoint grow us forever.
        Limits {
            max_series: 100_000,
            max_labels: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("more than {0} series in one scrape")]
    TooManySeries(usize),
    #[error("a sample has more than {0} labels")]
    TooManyLabels(usize),
    /// Text that is not an exposition at all (HTML, JSON, ...).
    #[error("not Prometheus text: no sample among {0} non-empty lines")]
    NotPrometheus(usize),
}

/// How a sample name relates to a declared family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Bucket,
    Sum,
    Count,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Info,
    Untyped,
}

fn declared(word: &str) -> Declared {
    match word {
        "counter" => Declared::Counter,
        "gauge" => Declared::Gauge,
        "histogram" | "gaugehistogram" => Declared::Histogram,
        "summary" => Declared::Summary,
        "info" => Declared::Info,
        _ => Declared::Untyped,
    }
}

/// Accumulates one histogram series over its `_bucket/_sum/_count` lines.
#[derive(Debug, Default)]
struct HistAcc {
    buckets: Vec<(String, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
}

#[derive(Debug, Default)]
struct Builder {
    families: Vec<Family>,
    family_index: HashMap<String, usize>,
    /// (family, labels) → index in the family's series (scalars) or in `hists`.
    series_index: HashMap<(usize, Labels), usize>,
    hists: Vec<(usize, Labels, HistAcc)>,
    series_count: usize,
}

/// Parses one exposition. Malformed lines are skipped and counted (a server
/// that writes one odd line should not cost us the whole scrape); a body with
/// no sample at all among non-empty lines is `NotPrometheus`.
pub(crate) fn parse(text: &str, limits: Limits) -> Result<Exposition, ParseError> {
    let mut types: HashMap<&str, Declared> = HashMap::new();
    let mut helps: HashMap<&str, String> = HashMap::new();
    let mut b = Builder::default();
    let mut malformed = 0usize;
    let mut samples = 0usize;
    let mut non_empty = 0usize;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        non_empty = non_empty.saturating_add(1);
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix("TYPE ") {
                let mut it = r.split_whitespace();
                if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                    types.entry(name).or_insert(declared(kind));
                }
            } else if let Some(r) = rest.strip_prefix("HELP ") {
                let r = r.trim_start();
                let (name, help) = r.split_once(' ').unwrap_or((r, ""));
                helps.entry(name).or_insert_with(|| unescape_help(help));
            }
            continue;
        }
        let Some((name, labels, value)) = parse_sample(line, limits.max_labels)? else {
            malformed = malformed.saturating_add(1);
            continue;
        };
        samples = samples.saturating_add(1);
        let (base, decl, role) = resolve(name, &types);
        let (kind, family_name, role) = match decl {
            Declared::Summary => continue,
            Declared::Counter => match role {
                Role::Plain => (Kind::Counter, strip_total(base), Role::Plain),
                _ => continue,
            },
            Declared::Gauge => (Kind::Gauge, base.to_string(), Role::Plain),
            Declared::Info => (Kind::Gauge, info_name(base), Role::Plain),
            Declared::Histogram => match role {
                Role::Plain | Role::Skip => continue,
                r => (Kind::Histogram, base.to_string(), r),
            },
            Declared::Untyped => (Kind::Unknown, base.to_string(), Role::Plain),
        };
        let help = helps
            .get(base)
            .or_else(|| helps.get(name))
            .cloned()
            .unwrap_or_default();
        b.add(family_name, kind, help, labels, value, role, limits)?;
    }
    if samples == 0 && non_empty > 0 && types.is_empty() {
        return Err(ParseError::NotPrometheus(non_empty));
    }
    Ok(b.finish(malformed))
}

impl Builder {
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    fn add(
        &mut self,
        family_name: String,
        kind: Kind,
        help: String,
        mut labels: Labels,
        value: f64,
        role: Role,
        limits: Limits,
    ) -> Result<(), ParseError> {
        let fam = match self.family_index.get(&family_name) {
            Some(&i) => i,
            None => {
                let i = self.families.len();
                self.family_index.insert(family_name.clone(), i);
                self.families.push(Family {
                    name: family_name,
                    kind,
                    help,
                    series: Vec::new(),
                });
                i
            }
        };
        let Some(family) = self.families.get_mut(fam) else {
            return Ok(());
        };
        if family.kind != kind {
            // The same exported name under two types (e.g. `x` untyped and
            // `x_total` counter): keep the first, as a store keyed by name must.
            return Ok(());
        }
        let le = if role == Role::Bucket {
            let Some(pos) = labels.iter().position(|(k, _)| k == "le") else {
                return Ok(());
            };
            Some(labels.remove(pos).1)
        } else {
            None
        };
        let key = (fam, labels);
        if let Some(&i) = self.series_index.get(&key) {
            if kind == Kind::Histogram {
                if let Some((_, _, acc)) = self.hists.get_mut(i) {
                    acc.apply(role, le, value);
                }
            }
            // A repeated scalar series: the first value wins.
            return Ok(());
        }
        if self.series_count >= limits.max_series {
            return Err(ParseError::TooManySeries(limits.max_series));
        }
        self.series_count = self.series_count.saturating_add(1);
        if kind == Kind::Histogram {
            let mut acc = HistAcc::default();
            acc.apply(role, le, value);
            self.series_index.insert(key.clone(), self.hists.len());
            self.hists.push((key.0, key.1, acc));
        } else {
            family.series.push(Series {
                labels: key.1.clone(),
                value: Value::Scalar(value),
            });
            self.series_index.insert(key, family.series.len());
        }
        Ok(())
    }

    fn finish(mut self, malformed_lines: usize) -> Exposition {
        for (fam, labels, acc) in self.hists {
            let mut buckets = acc.buckets;
            buckets.sort_by(|a, b| le_value(&a.0).total_cmp(&le_value(&b.0)));
            let inf = buckets
                .iter()
                .find(|(le, _)| le_value(le).is_infinite())
                .map(|(_, c)| *c);
            let Some(count) = acc.count.or(inf) else {
                continue;
            };
            if let Some(f) = self.families.get_mut(fam) {
                f.series.push(Series {
                    labels,
                    value: Value::Histogram {
                        buckets,
                        sum: acc.sum.unwrap_or(0.0),
                        count,
                    },
                });
            }
        }
        self.families.retain(|f| !f.series.is_empty());
        Exposition {
            families: self.families,
            malformed_lines,
        }
    }
}

impl HistAcc {
    fn apply(&mut self, role: Role, le: Option<String>, value: f64) {
        match (role, le) {
            (Role::Bucket, Some(le)) if !self.buckets.iter().any(|(l, _)| *l == le) => {
                self.buckets.push((le, value));
            }
            (Role::Sum, _) => {
                self.sum.get_or_insert(value);
            }
            (Role::Count, _) => {
                self.count.get_or_insert(value);
            }
            _ => {}
        }
    }
}

/// The numeric bound of an `le` label (`+Inf` → infinity; junk sorts last).
pub(crate) fn le_value(le: &str) -> f64 {
    parse_float(le).unwrap_or(f64::INFINITY)
}

fn strip_total(name: &str) -> String {
    name.strip_suffix("_total").unwrap_or(name).to_string()
}

fn info_name(base: &str) -> String {
    if base.ends_with("_info") {
        base.to_string()
    } else {
        format!("{base}_info")
    }
}

/// Finds the declared family of a sample name: the name itself, or the name
/// less a histogram/counter/info suffix.
fn resolve<'a>(name: &'a str, types: &HashMap<&str, Declared>) -> (&'a str, Declared, Role) {
    if let Some(&d) = types.get(name) {
        return (name, d, Role::Plain);
    }
    for (suffix, role) in [
        ("_bucket", Role::Bucket),
        ("_sum", Role::Sum),
        ("_count", Role::Count),
        ("_total", Role::Plain),
        ("_created", Role::Skip),
        ("_info", Role::Plain),
        ("_gsum", Role::Sum),
        ("_gcount", Role::Count),
    ] {
        if let Some(base) = name.strip_suffix(suffix) {
            if let Some(&d) = types.get(base) {
                // OpenMetrics declares `x counter` and writes `x_total`.
                return (base, d, role);
            }
        }
    }
    (name, Declared::Untyped, Role::Plain)
}

/// `name{labels} value [timestamp]` → (name, sorted labels, value); `None`
/// for a malformed line.
fn parse_sample(line: &str, max_labels: usize) -> Result<Option<(&str, Labels, f64)>, ParseError> {
    let bytes = line.as_bytes();
    let name_end = bytes
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b':'))
        .unwrap_or(bytes.len());
    let name = &line[..name_end];
    let valid_start = name
        .as_bytes()
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b':');
    if !valid_start {
        return Ok(None);
    }
    let mut rest = line[name_end..].trim_start();
    let mut labels = Labels::new();
    if let Some(r) = rest.strip_prefix('{') {
        match parse_labels(r, &mut labels, max_labels)? {
            Some(after) => rest = after,
            None => return Ok(None),
        }
    }
    // Value, then an optional timestamp (ignored) and OpenMetrics exemplar.
    let mut fields = rest.split_whitespace();
    let Some(v) = fields.next() else {
        return Ok(None);
    };
    let Some(value) = parse_float(v) else {
        return Ok(None);
    };
    if let Some(ts) = fields.next() {
        if ts != "#" && parse_float(ts).is_none() {
            return Ok(None);
        }
    }
    labels.sort();
    Ok(Some((name, labels, value)))
}

/// Parses `k="v",...}` (after the `{`), returning the text after `}`.
fn parse_labels<'a>(
    mut s: &'a str,
    out: &mut Labels,
    max_labels: usize,
) -> Result<Option<&'a str>, ParseError> {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix('}') {
            return Ok(Some(r));
        }
        let end = s
            .as_bytes()
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
            .unwrap_or(s.len());
        if end == 0 {
            return Ok(None);
        }
        let key = &s[..end];
        s = s[end..].trim_start();
        let Some(r) = s.strip_prefix('=') else {
            return Ok(None);
        };
        let Some(r) = r.trim_start().strip_prefix('"') else {
            return Ok(None);
        };
        let mut value = String::new();
        let mut chars = r.char_indices();
        let mut closed_at = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Ok(None),
                },
                '"' => {
                    closed_at = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let Some(i) = closed_at else {
            return Ok(None);
        };
        if out.len() >= max_labels {
            return Err(ParseError::TooManyLabels(max_labels));
        }
        out.push((key.to_string(), value));
        s = r[i.saturating_add(1)..].trim_start();
        if let Some(r) = s.strip_prefix(',') {
            s = r;
        } else if !s.starts_with('}') {
            return Ok(None);
        }
    }
}

/// `# HELP` escapes: `\\` and `\n`.
fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Go/Python float syntax plus `+Inf`/`-Inf`/`NaN`.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => {
            // Rust accepts "infinity"/"nan" spellings too; only digits here.
            let first = s.as_bytes().first()?;
            if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
                return None;
            }
            s.parse::<f64>().ok().filter(|v| v.is_finite())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Exposition {
        parse(text, Limits::default()).unwrap()
    }

    fn fam<'a>(e: &'a Exposition, name: &str) -> &'a Family {
        e.families.iter().find(|f| f.name == name).unwrap()
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn counter_drops_total_and_keeps_help() {
        let e = p(
            "# HELP vllm:prompt_tokens_total Number of prefill tokens.\n\
                   # TYPE vllm:prompt_tokens_total counter\n\
                   vllm:prompt_tokens_total{model_name=\"m\"} 10214.0\n",
        );
        let f = fam(&e, "vllm:prompt_tokens");
        assert_eq!(f.kind, Kind::Counter);
        assert_eq!(f.help, "Number of prefill tokens.");
        assert_eq!(f.series[0].labels, l(&[("model_name", "m")]));
        assert_eq!(f.series[0].value, Value::Scalar(10214.0));
    }

    #[test]
    fn openmetrics_counter_declared_without_total() {
        let e = p("# TYPE requests counter\nrequests_total 3\nrequests_created 1.7e9\n");
        let f = fam(&e, "requests");
        assert_eq!(f.series.len(), 1);
        assert_eq!(f.series[0].value, Value::Scalar(3.0));
    }

    #[test]
    fn histogram_parts_merge_into_one_series() {
        let e = p("# HELP ttft_seconds TTFT.\n# TYPE ttft_seconds histogram\n\
                   ttft_seconds_bucket{le=\"+Inf\",m=\"a\"} 4\n\
                   ttft_seconds_bucket{le=\"0.1\",m=\"a\"} 1\n\
                   ttft_seconds_bucket{m=\"a\",le=\"1\"} 3\n\
                   ttft_seconds_sum{m=\"a\"} 2.5\n\
                   ttft_seconds_count{m=\"a\"} 4\n");
        assert_eq!(e.families.len(), 1);
        let f = fam(&e, "ttft_seconds");
        assert_eq!(f.kind, Kind::Histogram);
        assert_eq!(f.series.len(), 1);
        assert_eq!(f.series[0].labels, l(&[("m", "a")]));
        assert_eq!(
            f.series[0].value,
            Value::Histogram {
                buckets: vec![("0.1".into(), 1.0), ("1".into(), 3.0), ("+Inf".into(), 4.0)],
                sum: 2.5,
                count: 4.0
            }
        );
    }

    #[test]
    fn histogram_without_count_uses_inf_bucket() {
        let e = p("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 7\nh_sum 1\n");
        match &fam(&e, "h").series[0].value {
            Value::Histogram { count, .. } => assert_eq!(*count, 7.0),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn summaries_are_ignored_and_untyped_is_unknown() {
        let e = p(
            "# TYPE lat summary\nlat{quantile=\"0.5\"} 1\nlat_sum 3\nlat_count 2\n\
                   plain_metric 5\n",
        );
        assert_eq!(e.families.len(), 1);
        assert_eq!(fam(&e, "plain_metric").kind, Kind::Unknown);
    }

    #[test]
    fn gauge_and_info() {
        let e = p("# TYPE g gauge\ng{a=\"1\"} 0.5\ng{a=\"2\"} NaN\n\
                   # TYPE build info\nbuild_info{version=\"1.2\"} 1\n");
        let g = fam(&e, "g");
        assert_eq!(g.kind, Kind::Gauge);
        assert_eq!(g.series.len(), 2);
        let i = fam(&e, "build_info");
        assert_eq!(i.kind, Kind::Gauge);
        assert_eq!(i.series[0].labels, l(&[("version", "1.2")]));
    }

    #[test]
    fn label_escapes_and_trailing_comma() {
        let e = p("# TYPE g gauge\ng{path=\"C:\\\\x\",q=\"say \\\"hi\\\"\",n=\"a\\nb\",} 1 1700000000000\n");
        assert_eq!(
            fam(&e, "g").series[0].labels,
            l(&[("n", "a\nb"), ("path", "C:\\x"), ("q", "say \"hi\"")])
        );
    }

    #[test]
    fn braces_and_commas_inside_values() {
        let e = p("# TYPE g gauge\ng{a=\"x}y,z=1\"} 2\n");
        assert_eq!(fam(&e, "g").series[0].labels, l(&[("a", "x}y,z=1")]));
    }

    #[test]
    fn malformed_lines_are_counted_and_skipped() {
        let e = p("# TYPE g gauge\n\
                   g{a=\"1\" 1\n\
                   g{a=\"unterminated} 1\n\
                   g 1 notatime\n\
                   g abc\n\
                   9bad 1\n\
                   g{a=\"ok\"} 3\n");
        assert_eq!(e.malformed_lines, 5);
        assert_eq!(fam(&e, "g").series.len(), 1);
    }

    #[test]
    fn html_or_json_is_not_prometheus() {
        for body in ["<html><body>hi</body></html>", "{\"metrics\": [1, 2]}"] {
            assert!(matches!(
                parse(body, Limits::default()),
                Err(ParseError::NotPrometheus(_))
            ));
        }
        // An empty exposition is fine (a server with nothing to say yet).
        assert_eq!(p("").families.len(), 0);
    }

    #[test]
    fn caps_on_series_and_labels() {
        let limits = Limits {
            max_series: 3,
            max_labels: 2,
        };
        let body: String = (0..4).map(|i| format!("g{{i=\"{i}\"}} 1\n")).collect();
        assert_eq!(parse(&body, limits), Err(ParseError::TooManySeries(3)));
        assert_eq!(
            parse("g{a=\"1\",b=\"2\",c=\"3\"} 1\n", limits),
            Err(ParseError::TooManyLabels(2))
        );
    }

    #[test]
    fn repeated_series_keeps_first() {
        let e = p("g 1\ng 2\n");
        assert_eq!(
            fam(&e, "g").series,
            vec![Series {
                labels: vec![],
                value: Value::Scalar(1.0)
            }]
        );
    }

    #[test]
    fn floats() {
        for (s, v) in [
            ("1e3", Some(1000.0)),
            ("-0.5", Some(-0.5)),
            ("+Inf", Some(f64::INFINITY)),
            ("infinity", None),
            ("x", None),
        ] {
            assert_eq!(parse_float(s), v, "{s}");
        }
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
    }
}
