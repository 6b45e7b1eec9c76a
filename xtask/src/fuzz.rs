//! `cargo xtask fuzz`: random and adversarial input, within a time budget,
//! for the file tools (`process_result`, `collect_results`, `summarize`,
//! `generate_sweep_configs`, `benchmark_serving metrics`: release builds run
//! as subprocesses) and, in process, for the load generator's spec parser
//! (`spec::parse` + `spec::validate`), the SSE decoder and `servebench-pyjson`.
//!
//! Per target it counts the inputs run, panics, crashes (killed by a signal:
//! an abort, a stack overflow), hangs (still running after `--deadline`;
//! killed by PID), inputs over the memory limit (a tool's resident memory,
//! sampled from `/proc/<pid>/status`, over `--mem-limit-mib`; an in-process
//! input adding more than `--growth-limit-mib`) and wrong answers (the
//! in-process invariants: the SSE decoder gives the same events however the
//! stream is split; pyjson re-reads what it writes), and the peak memory.
//! Each failing input is saved under `--out/<target>/<kind>-<index>/` with a
//! reproduction command. Exits non-zero on any finding.
//!
//! Deterministic: input `i` of a target depends only on `--seed`, the target
//! and `i` (SplitMix64), so `--targets T --seed S --index I` replays one.
//! The first inputs of each target are fixed adversarial ones (a FIFO, a
//! symlink to /dev/zero, a directory named `*.json`, an empty file, a
//! non-UTF-8 file name, a symlink loop, deep nesting, a 300,000-key object,
//! endless lines, extreme numbers in every spec field); the rest mutate the
//! golden cases (`--golden`), `configs/` and `fixtures/sse/` (bit flips,
//! truncation, splicing, extreme numbers, NaN/Infinity, duplicate keys,
//! wrong types, deep nesting, big objects, non-UTF-8 bytes, huge strings).
//!
//! The in-process targets run in a child process (this binary with the
//! hidden `--worker` option), so an abort, a stack overflow or a hang costs
//! a restart, not the run; the child writes each input to
//! `<out>/.work/<target>/current` before running it, and xtask's debug build
//! checks integer overflow.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Time budget in seconds, split evenly between the targets (each
    /// target's fixed adversarial inputs always run, and the last input may
    /// overrun by up to --deadline)
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Seed of every random choice
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where failing inputs are saved, as <target>/<kind>-<index>/
    // The doc comment is the --help text: the `<...>` are meant literally.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, default_value = "target/fuzz")]
    out: PathBuf,
    /// Targets, comma-separated (default: all): process_result,
    /// collect_results, summarize, generate_sweep_configs,
    /// benchmark_serving-metrics, loadgen-spec, sse, pyjson
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Seconds one input may run before it counts as a hang
    #[arg(long, default_value_t = 5.0)]
    deadline: f64,
    /// Resident memory one tool run may reach (MiB)
    #[arg(long, default_value_t = 512)]
    mem_limit_mib: u64,
    /// Memory one in-process input may add (MiB), on top of 32 bytes per
    /// input byte; the endless SSE streams are three times this long
    #[arg(long, default_value_t = 64)]
    growth_limit_mib: u64,
    /// Run only input INDEX (of the one target given with --targets): a
    /// reproduction
    #[arg(long)]
    index: Option<u64>,
    /// The tools to run (default: release builds, built first)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Golden cases whose inputs are mutated
    #[arg(long, default_value = "../shared/reference/golden")]
    golden: PathBuf,
    /// Internal: the child process running an in-process target from this
    /// input index
    #[arg(long, hide = true)]
    worker: Option<u64>,
}

// ---------------------------------------------------------------- targets

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    ProcessResult,
    CollectResults,
    Summarize,
    GenerateSweepConfigs,
    Metrics,
    Spec,
    Sse,
    PyJson,
}

impl Target {
    const ALL: [Target; 8] = [
        Target::ProcessResult,
        Target::CollectResults,
        Target::Summarize,
        Target::GenerateSweepConfigs,
        Target::Metrics,
        Target::Spec,
        Target::Sse,
        Target::PyJson,
    ];

    fn name(self) -> &'static str {
        match self {
            Target::ProcessResult => "process_result",
            Target::CollectResults => "collect_results",
            Target::Summarize => "summarize",
            Target::GenerateSweepConfigs => "generate_sweep_configs",
            Target::Metrics => "benchmark_serving-metrics",
            Target::Spec => "loadgen-spec",
            Target::Sse => "sse",
            Target::PyJson => "pyjson",
        }
    }

    /// The release binary a tool target runs; `None` in process.
    fn binary(self) -> Option<&'static str> {
        match self {
            Target::ProcessResult => Some("process_result"),
            Target::CollectResults => Some("collect_results"),
            Target::Summarize => Some("summarize"),
            Target::GenerateSweepConfigs => Some("generate_sweep_configs"),
            Target::Metrics => Some("benchmark_serving"),
            Target::Spec | Target::Sse | Target::PyJson => None,
        }
    }
}

/// What one input did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ok,
    Panic,
    Crash,
    Hang,
    Memory,
    Wrong,
}

impl Kind {
    const FAILURES: [Kind; 5] = [
        Kind::Panic,
        Kind::Crash,
        Kind::Hang,
        Kind::Memory,
        Kind::Wrong,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::Panic => "panic",
            Kind::Crash => "crash",
            Kind::Hang => "hang",
            Kind::Memory => "memory",
            Kind::Wrong => "wrong",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Ok]
            .into_iter()
            .chain(Kind::FAILURES)
            .find(|k| k.name() == s)
    }
}

/// How a finished tool run is judged: killed by us (hang, memory), an
/// allocation failure (memory), a panic (exit 101 or the message), a signal
/// or an exit status other than 0, 1 (an error) and 2 (a usage error).
fn classify(code: Option<i32>, stderr: &str, killed: Option<Kind>) -> Kind {
    if let Some(kind) = killed {
        return kind;
    }
    if stderr.contains("memory allocation of") {
        return Kind::Memory;
    }
    if code == Some(101) || stderr.contains("panicked at") {
        return Kind::Panic;
    }
    match code {
        Some(0..=2) => Kind::Ok,
        _ => Kind::Crash,
    }
}

/// The line of stderr that says the most: the panic or abort message, else
/// the last non-empty line.
fn headline(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("panicked at") || l.contains("overflowed its stack"))
        .map(|l| {
            // A panic's message is on the line after "panicked at FILE:".
            let next = stderr.split(l).nth(1).and_then(|r| r.lines().nth(1));
            match next {
                Some(n) if l.trim_end().ends_with(':') => format!("{l} {n}"),
                _ => l.to_owned(),
            }
        })
        .or_else(|| {
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    one_line(&line, 240)
}

fn one_line(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

// ------------------------------------------------------------- generator

/// SplitMix64: small, fast, the same on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    /// The generator of input `index` of `target` under `seed`.
    fn for_input(seed: u64, target: &str, index: u64) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325_u64;
        for b in target.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        let mut rng = Rng(seed ^ h ^ index.wrapping_mul(0xd134_2543_de82_ef95));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A range `a..b` of `0..len`, usually short.
    fn range(&mut self, len: usize) -> (usize, usize) {
        let a = self.below(len + 1);
        let most = if self.chance(80) { 16 } else { len };
        let b = (a + self.below(most + 1)).min(len);
        (a, b)
    }
}

// -------------------------------------------------------------- mutators

/// The largest input a mutation produces.
const MAX_INPUT: usize = 8 << 20;

/// Numbers at the edges: float overflow and underflow, -0, the integer
/// widths' limits and one past them, Python's spellings, YAML 1.1's.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "1e-300",
    "1e300",
    "1e309",
    "-1e309",
    "1e12",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "1.7976931348623157e308",
    "5e-324",
    "NaN",
    "Infinity",
    "-Infinity",
    "-1",
    "2.5",
    "1e-7",
    "0.1",
    "1_000",
    "0x10",
    "017",
    "1e3",
    ".nan",
    ".inf",
];

/// Values of other types and tokens that break structure.
const TOKENS: &[&str] = &[
    "null",
    "true",
    "false",
    "\"\"",
    "[]",
    "{}",
    "[1, 2]",
    "{\"a\": 1}",
    "\"\\ud800\"",
    "\"a\\u0000b\"",
    "\"inf\"",
    "\"NaN\"",
    "\"1e309\"",
    "\"-1\"",
    "~",
    "yes",
    "off",
    "2001-12-14",
    "*a",
    "&a ",
    "<<: ",
    "!!binary ",
    "? ",
    "- ",
    ",",
    ":",
    "\"",
    "{",
    "[",
    "]",
    "}",
    "\\",
];

/// Invalid UTF-8, NUL, control and separator bytes.
const BAD_BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\r",
    b"\x0b\x0c",
    b"\xe2\x80\xa8",
    b"\xf4\x90\x80\x80",
];

/// A number too long for any integer type: `1` and `zeros` zeros.
fn long_number(zeros: usize) -> String {
    format!("1{}", "0".repeat(zeros))
}

/// An object with `n` distinct keys (`{"k0": 0, "k1": 1, ...}`).
fn big_object(n: usize) -> String {
    let mut s = String::with_capacity(n * 14);
    s.push('{');
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("\"k{i}\": {i}"));
    }
    s.push('}');
    s
}

/// `depth` nested arrays (or objects) around `1`, closed or not.
fn deep(depth: usize, objects: bool, closed: bool) -> String {
    let (open, close) = if objects {
        ("{\"a\": ", "}")
    } else {
        ("[", "]")
    };
    let mut s = open.repeat(depth);
    s.push('1');
    if closed {
        s.push_str(&close.repeat(depth));
    }
    s
}

/// One value of any type, often extreme (for a JSON field or a YAML value).
fn wild_value(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => (*rng.pick(NUMBERS)).to_owned(),
        4 => (*rng.pick(TOKENS)).to_owned(),
        5 => long_number(*rng.pick(&[20, 400, 5000])),
        6 => match rng.below(3) {
            0 => format!("{}", rng.next() as i64),
            1 => format!("{:e}", f64::from_bits(rng.next()).abs().min(f64::MAX)),
            _ => format!("{}", rng.below(100_000)),
        },
        7 => deep(*rng.pick(&[128, 129, 900, 901, 5000]), rng.chance(50), true),
        8 => format!(
            "\"{}\"",
            "x".repeat(*rng.pick(&[1 << 10, 1 << 16, 1 << 20]))
        ),
        _ => (*rng.pick(&[
            "\"http://127.0.0.1:8000\"",
            "\"http://[::1]:65536\"",
            "\"https://x:0/\"",
            "\"ftp://a\"",
            "\"http://\"",
            "\"a=b\"",
            "\"ttft:0\"",
            "\"ttft,tpot,itl,e2el\"",
            "\"99.999999\"",
            "\"-1\"",
            "\"random\"",
            "\"sonnet\"",
            "\"openai-chat\"",
        ]))
        .to_owned(),
    }
}

/// Start positions of the numbers in `d` (a digit, or a `-` before one,
/// not inside a word).
fn number_starts(d: &[u8]) -> Vec<usize> {
    let word = |i: usize| i > 0 && (d[i - 1].is_ascii_alphanumeric() || b"._".contains(&d[i - 1]));
    (0..d.len())
        .filter(|&i| d[i].is_ascii_digit() && (i == 0 || d[i - 1] != b'-') && !word(i))
        .chain(
            (0..d.len()).filter(|&i| {
                d[i] == b'-' && d.get(i + 1).is_some_and(u8::is_ascii_digit) && !word(i)
            }),
        )
        .collect()
}

/// The span of the number starting at `start`.
fn number_end(d: &[u8], start: usize) -> usize {
    start
        + 1
        + d[start + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || b"._eE+-".contains(b))
            .count()
}

/// The span of a random value after a `:` (to the next `,`, `}`, `]` or
/// line end): a JSON member's or a YAML mapping's value.
fn value_span(rng: &mut Rng, d: &[u8]) -> Option<(usize, usize)> {
    let colons: Vec<usize> = (0..d.len()).filter(|&i| d[i] == b':').collect();
    let &colon = colons.get(rng.below(colons.len()))?;
    let mut start = colon + 1;
    while d.get(start) == Some(&b' ') {
        start += 1;
    }
    let end = start
        + d[start..]
            .iter()
            .take_while(|b| !b",}]\n\r".contains(b))
            .count();
    Some((start, end))
}

fn replace(d: &mut Vec<u8>, (a, b): (usize, usize), with: &[u8]) {
    d.splice(a..b, with.iter().copied());
}

/// Replaces a random value after a `:` with `with`, or inserts it at a
/// random place when there is none.
fn replace_value(rng: &mut Rng, d: &mut Vec<u8>, with: &[u8]) {
    match value_span(rng, d) {
        Some(span) => replace(d, span, with),
        None => {
            let at = rng.below(d.len() + 1);
            replace(d, (at, at), with);
        }
    }
}

/// Applies one to three random mutations to `data`, splicing from `pool`;
/// returns the result (at most [`MAX_INPUT`] bytes) and what was done.
fn mutate(rng: &mut Rng, data: &[u8], pool: &[&[u8]]) -> (Vec<u8>, String) {
    let mut d = data.to_vec();
    let mut notes = Vec::new();
    for _ in 0..1 + rng.below(3) {
        notes.push(mutate_once(rng, &mut d, pool));
        d.truncate(MAX_INPUT);
    }
    (d, notes.join(", "))
}

fn mutate_once(rng: &mut Rng, d: &mut Vec<u8>, pool: &[&[u8]]) -> &'static str {
    match rng.below(15) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                if !d.is_empty() {
                    let i = rng.below(d.len());
                    d[i] ^= 1 << rng.below(8);
                }
            }
            "bit flips"
        }
        1 => {
            d.truncate(rng.below(d.len() + 1));
            "truncation"
        }
        2 => {
            let (a, b) = rng.range(d.len());
            d.drain(a..b);
            "deleted bytes"
        }
        3 => {
            let (a, b) = rng.range(d.len());
            let times = 1 + rng.below(if b - a < 64 { 2000 } else { 8 });
            let chunk = d[a..b].repeat(times);
            replace(d, (b, b), &chunk);
            "repeated bytes"
        }
        4 => {
            let other = pool.get(rng.below(pool.len())).copied().unwrap_or(b"");
            let (a, b) = rng.range(other.len());
            let at = rng.below(d.len() + 1);
            replace(d, (at, at), &other[a..b]);
            "splice"
        }
        5 => {
            let at = rng.below(d.len() + 1);
            let token = rng.pick(TOKENS).as_bytes();
            replace(d, (at, at), token);
            "token"
        }
        6 => {
            let starts = number_starts(d);
            let number = if rng.chance(80) {
                (*rng.pick(NUMBERS)).to_owned()
            } else {
                long_number(*rng.pick(&[20, 400, 5000]))
            };
            match starts.get(rng.below(starts.len())) {
                Some(&s) => {
                    let end = number_end(d, s);
                    replace(d, (s, end), number.as_bytes());
                }
                None => replace_value(rng, d, number.as_bytes()),
            }
            "extreme number"
        }
        7 => {
            let value = wild_value(rng);
            replace_value(rng, d, value.as_bytes());
            "wrong type"
        }
        8 => {
            let depth = *rng.pick(&[64, 129, 900, 901, 5000, 100_000]);
            let value = deep(depth, rng.chance(50), rng.chance(70));
            replace_value(rng, d, value.as_bytes());
            "deep nesting"
        }
        9 => {
            // Duplicate keys: a line (a member, a mapping entry) twice.
            let lines: Vec<usize> = std::iter::once(0)
                .chain((0..d.len()).filter(|&i| d[i] == b'\n').map(|i| i + 1))
                .collect();
            let &start = rng.pick(&lines);
            let end = d[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(d.len(), |p| start + p + 1);
            let line = d[start..end].to_vec();
            replace(d, (end, end), &line);
            "duplicate line"
        }
        10 => {
            let n = *rng.pick(&[1000, 30_000, 300_000]);
            replace_value(rng, d, big_object(n).as_bytes());
            "big object"
        }
        11 => {
            let n = *rng.pick(&[10_000, 500_000]);
            let array = format!("[{}1]", "1.5, ".repeat(n));
            replace_value(rng, d, array.as_bytes());
            "big array"
        }
        12 => {
            let at = rng.below(d.len() + 1);
            let bytes = *rng.pick(BAD_BYTES);
            replace(d, (at, at), bytes);
            "bad bytes"
        }
        13 => {
            let n = *rng.pick(&[1 << 12, 1 << 20, 4 << 20]);
            let piece = rng.pick(&["x", "\\u00e9", "\\\"", "é"]);
            let s = format!("\"{}\"", piece.repeat(n / piece.len()));
            replace_value(rng, d, s.as_bytes());
            "huge string"
        }
        _ => {
            let value = (*rng.pick(NUMBERS)).to_owned();
            replace_value(rng, d, value.as_bytes());
            "extreme value"
        }
    }
}

// ----------------------------------------------------------- tool inputs

/// A golden case of one tool: its arguments, environment and files.
#[derive(Debug, Clone)]
struct Seed {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    files: Vec<(PathBuf, Vec<u8>)>,
    dirs: Vec<PathBuf>,
}

/// Every golden case of the target's tool (sorted by name); for
/// `generate_sweep_configs` also `configs/`.
fn load_seeds(root: &Path, golden: &Path, target: Target) -> Result<Vec<Seed>> {
    let tool = target.binary().unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(golden)
        .with_context(|| {
            format!(
                "reading the golden cases in {} (--golden)",
                golden.display()
            )
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut seeds = Vec::new();
    for name in names {
        let case = golden.join(&name);
        let Ok(text) = std::fs::read_to_string(case.join("cmd.json")) else {
            continue;
        };
        let cmd: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{name}/cmd.json"))?;
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let args = strings(&cmd["args"]);
        if cmd["tool"] != tool
            || (target == Target::Metrics && args.first().map(String::as_str) != Some("metrics"))
        {
            continue;
        }
        let mut files = Vec::new();
        for (dest, src) in cmd["cwd_files"].as_object().into_iter().flatten() {
            if let Some(bytes) = src.as_str().and_then(|s| std::fs::read(case.join(s)).ok()) {
                files.push((PathBuf::from(dest), bytes));
            }
        }
        let env = cmd["env"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        let dirs = strings(&cmd["cwd_dirs"])
            .into_iter()
            .map(PathBuf::from)
            .collect();
        seeds.push(Seed {
            name,
            args,
            env,
            files,
            dirs,
        });
    }
    if target == Target::GenerateSweepConfigs {
        let configs = root.join("configs");
        let read = |f: &str| std::fs::read(configs.join(f)).unwrap_or_default();
        seeds.push(Seed {
            name: "configs/master.yaml".into(),
            args: [
                "full-sweep",
                "--single-node",
                "--config-files",
                "master.yaml",
                "--runner-config",
                "runners.yaml",
            ]
            .map(str::to_owned)
            .to_vec(),
            // Our own configs are in the 2026-08 schema (the golden seeds
            // run pinned to 2026-02, see base_env).
            env: vec![("INFERENCEX_CONTRACT".into(), "2026-08".into())],
            files: vec![
                ("master.yaml".into(), read("master.yaml")),
                ("runners.yaml".into(), read("runners.yaml")),
            ],
            dirs: Vec::new(),
        });
    }
    if seeds.is_empty() {
        bail!("no golden case of {tool} in {}", golden.display());
    }
    Ok(seeds)
}

/// A file system entry of a case.
#[derive(Debug, Clone)]
enum Entry {
    Bytes(Vec<u8>),
    Fifo,
    Symlink(PathBuf),
    Dir,
}

/// One tool run: arguments, environment (on top of PATH, HOME and a UTF-8
/// locale) and the files of its working directory.
#[derive(Debug, Clone)]
struct Case {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    files: Vec<(PathBuf, Entry)>,
    note: String,
}

impl Case {
    fn from_seed(seed: &Seed) -> Case {
        let mut files: Vec<(PathBuf, Entry)> =
            seed.dirs.iter().map(|d| (d.clone(), Entry::Dir)).collect();
        files.extend(
            seed.files
                .iter()
                .map(|(p, b)| (p.clone(), Entry::Bytes(b.clone()))),
        );
        Case {
            args: seed.args.iter().map(OsString::from).collect(),
            env: seed
                .env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            files,
            note: format!("golden case {}", seed.name),
        }
    }

    /// The file the tool is mostly about: the one named in the arguments
    /// (a config, `case.json`) or else the first.
    fn main_file(&self) -> usize {
        self.files
            .iter()
            .position(|(p, e)| {
                matches!(e, Entry::Bytes(_)) && self.args.iter().any(|a| Path::new(a) == p)
            })
            .or_else(|| {
                self.files
                    .iter()
                    .position(|(_, e)| matches!(e, Entry::Bytes(_)))
            })
            .unwrap_or(0)
    }

    /// The results directory of `collect_results` and `summarize`.
    fn results_dir(&self) -> PathBuf {
        self.args
            .first()
            .map_or_else(|| PathBuf::from("results"), PathBuf::from)
    }

    fn set_main(&mut self, entry: Entry, note: &str) {
        let i = self.main_file();
        if let Some(slot) = self.files.get_mut(i) {
            slot.1 = entry;
        }
        self.note = format!("{}: {note}", self.note);
    }

    fn add(&mut self, name: &[u8], entry: Entry, note: &str) {
        let path = self.results_dir().join(std::ffi::OsStr::from_bytes(name));
        self.files.push((path, entry));
        self.note = format!("{}: {note}", self.note);
    }
}

/// The fixed adversarial inputs of a tool target (their number).
fn tool_specials(target: Target) -> u64 {
    match target {
        Target::CollectResults | Target::Summarize => 8,
        Target::ProcessResult => 8,
        Target::Metrics => 7,
        Target::GenerateSweepConfigs => 9,
        _ => 0,
    }
}

/// Seeds that are not error cases (the base of the adversarial inputs).
fn base_seed(seeds: &[Seed]) -> &Seed {
    seeds
        .iter()
        .filter(|s| !s.name.contains("-err-"))
        .max_by_key(|s| s.files.len())
        .unwrap_or(&seeds[0])
}

/// Input `index` of a tool target.
fn tool_case(target: Target, seeds: &[Seed], seed: u64, index: u64) -> Case {
    if index < tool_specials(target) {
        return tool_special(target, base_seed(seeds), index);
    }
    let mut rng = Rng::for_input(seed, target.name(), index);
    let base = rng.pick(seeds);
    let mut case = Case::from_seed(base);
    let other = rng.pick(seeds);
    let pool: Vec<&[u8]> = base
        .files
        .iter()
        .chain(&other.files)
        .map(|(_, b)| b.as_slice())
        .collect();
    let mut notes = Vec::new();
    let files: Vec<usize> = (0..case.files.len())
        .filter(|&i| matches!(case.files[i].1, Entry::Bytes(_)))
        .collect();
    if !files.is_empty() && !rng.chance(10) {
        let i = if rng.chance(60) {
            case.main_file()
        } else {
            *rng.pick(&files)
        };
        if let Entry::Bytes(bytes) = &case.files[i].1 {
            let (mutated, note) = mutate(&mut rng, bytes, &pool);
            notes.push(format!("{} ({note})", case.files[i].0.display()));
            case.files[i].1 = Entry::Bytes(mutated);
        }
    }
    match target {
        Target::ProcessResult if rng.chance(30) || notes.is_empty() => {
            let values: &[&[u8]] = &[
                b"",
                b" 08 ",
                b"+8192",
                b"1_024",
                b"99999999999999999999999999",
                b"9223372036854775808",
                b"-1",
                b"0",
                b"1e3",
                b"nan",
                b"1k",
                b"\xff",
                b"TRUE",
                b"true",
                b"  ",
            ];
            let k = rng.below(case.env.len());
            if let Some((name, value)) = case.env.get_mut(k) {
                if name != "RESULT_FILENAME" {
                    *value = OsString::from_vec(rng.pick(values).to_vec());
                    notes.push(format!("{}={:?}", name.to_string_lossy(), value));
                }
            }
        }
        Target::GenerateSweepConfigs if rng.chance(20) => {
            let numeric: Vec<usize> = (0..case.args.len())
                .filter(|&i| {
                    case.args[i]
                        .to_str()
                        .is_some_and(|a| a.parse::<i64>().is_ok())
                })
                .collect();
            if let Some(&i) = numeric.get(rng.below(numeric.len())) {
                let value = *rng.pick(&[
                    "0",
                    "-1",
                    "1",
                    "99999999999",
                    "18446744073709551616",
                    "1e3",
                    "2.5",
                    "",
                ]);
                case.args[i] = value.into();
                notes.push(format!("argument {i} = {value:?}"));
            }
        }
        Target::CollectResults | Target::Summarize if rng.chance(30) => {
            if let Some(Entry::Bytes(bytes)) = files.first().map(|&i| &case.files[i].1) {
                let (mutated, note) = mutate(&mut rng, &bytes.clone(), &pool);
                case.add(b"zz-extra.json", Entry::Bytes(mutated), "");
                notes.push(format!("an extra file ({note})"));
            }
        }
        _ => {}
    }
    case.note = format!("golden case {}: {}", base.name, notes.join("; "));
    case
}

/// The fixed adversarial inputs of the tools.
fn tool_special(target: Target, seed: &Seed, k: u64) -> Case {
    let mut case = Case::from_seed(seed);
    let main = match &case.files.get(case.main_file()) {
        Some((_, Entry::Bytes(b))) => b.clone(),
        _ => Vec::new(),
    };
    // A member holding a 300,000-key object, right after the first `{`.
    let with_big_object = |d: &[u8]| -> Vec<u8> {
        let at = d.iter().position(|&b| b == b'{').map_or(0, |i| i + 1);
        let mut out = d[..at].to_vec();
        out.extend_from_slice(format!("\"fuzz\": {}, ", big_object(300_000)).as_bytes());
        out.extend_from_slice(&d[at..]);
        out
    };
    let common = |case: &mut Case, k: u64| match k {
        0 => case.set_main(Entry::Fifo, "a FIFO"),
        1 => case.set_main(Entry::Symlink("/dev/zero".into()), "a symlink to /dev/zero"),
        2 => case.set_main(Entry::Dir, "a directory"),
        3 => case.set_main(Entry::Bytes(Vec::new()), "an empty file"),
        4 => case.set_main(
            Entry::Symlink("/dev/urandom".into()),
            "a symlink to /dev/urandom",
        ),
        5 => case.set_main(
            Entry::Bytes(deep(100_000, false, true).into_bytes()),
            "100,000 nested arrays",
        ),
        _ => case.set_main(
            Entry::Bytes(with_big_object(&main)),
            "a 300,000-key object inside",
        ),
    };
    match target {
        Target::CollectResults | Target::Summarize => {
            let (name, entry, note): (&[u8], Entry, &str) = match k {
                0 => (b"fifo.json", Entry::Fifo, "a FIFO named fifo.json"),
                1 => (
                    b"zero.json",
                    Entry::Symlink("/dev/zero".into()),
                    "zero.json, a symlink to /dev/zero",
                ),
                2 => (b"dir.json", Entry::Dir, "a directory named dir.json"),
                3 => (
                    b"empty.json",
                    Entry::Bytes(Vec::new()),
                    "an empty empty.json",
                ),
                4 => (
                    b"\xff\xfe.json",
                    Entry::Bytes(main.clone()),
                    "a non-UTF-8 file name",
                ),
                5 => (
                    b"loop",
                    Entry::Symlink(".".into()),
                    "a symlink loop (loop -> .)",
                ),
                6 => (
                    b"gone.json",
                    Entry::Symlink("nowhere".into()),
                    "a dangling symlink",
                ),
                _ => (
                    b"big.json",
                    Entry::Bytes(with_big_object(&main)),
                    "a 300,000-key object",
                ),
            };
            case.add(name, entry, note);
        }
        Target::ProcessResult if k == 7 => {
            // A RESULT_FILENAME that is not UTF-8, and its file.
            let name = b"r\xff\xfe".to_vec();
            if let Some((_, v)) = case.env.iter_mut().find(|(n, _)| n == "RESULT_FILENAME") {
                *v = OsString::from_vec(name.clone());
            }
            let i = case.main_file();
            if let Some(slot) = case.files.get_mut(i) {
                slot.0 = PathBuf::from(OsString::from_vec([name, b".json".to_vec()].concat()));
            }
            case.note = format!("{}: RESULT_FILENAME not UTF-8", case.note);
        }
        Target::GenerateSweepConfigs if k == 7 => case.set_main(
            Entry::Bytes(alias_bomb().into_bytes()),
            "a YAML alias bomb (10^9 leaves)",
        ),
        Target::GenerateSweepConfigs if k == 8 => case.set_main(
            Entry::Bytes(format!("x: {}", "- ".repeat(100_000)).into_bytes()),
            "100,000 nested YAML sequences",
        ),
        _ => common(&mut case, k),
    }
    case
}

/// "Billion laughs": nine levels of anchors, each ten aliases of the last.
fn alias_bomb() -> String {
    let mut s = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    s.push_str("boom: *a9\n");
    s
}

/// Creates the case's files under `dir` (emptied first).
fn materialize(case: &Case, dir: &Path) -> Result<()> {
    if dir.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    for (path, entry) in &case.files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match entry {
            Entry::Bytes(b) => std::fs::write(&full, b)?,
            Entry::Dir => std::fs::create_dir_all(&full)?,
            Entry::Symlink(to) => std::os::unix::fs::symlink(to, &full)?,
            Entry::Fifo => {
                let status = Command::new("mkfifo").arg(&full).status()?;
                if !status.success() {
                    bail!("mkfifo {} failed", full.display());
                }
            }
        }
    }
    Ok(())
}

/// Resident memory of a process in KiB: the peak (`VmHWM`) and now (`VmRSS`).
fn memory_kib(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

#[derive(Debug, Clone)]
struct Limits {
    deadline: Duration,
    mem_kib: u64,
    /// `prlimit` from util-linux, to cap the address space (4x the memory
    /// limit) so that a runaway allocation fails before it can be sampled.
    prlimit: bool,
}

/// What one tool run did.
#[derive(Debug, Clone)]
struct Ran {
    kind: Kind,
    peak_kib: u64,
    message: String,
}

/// Runs `command` with stdout and stderr in files under `run`, killing it
/// (by PID) at the deadline or over the memory limit.
fn supervise(mut command: Command, run: &Path, limits: &Limits) -> Result<Ran> {
    let stdout = std::fs::File::create(run.join("stdout"))?;
    let stderr = std::fs::File::create(run.join("stderr"))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let pid = child.id().to_string();
    let started = Instant::now();
    let (mut peak, mut killed, mut pause) = (0, None, Duration::from_micros(200));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some((hwm, rss)) = memory_kib(&pid) {
            peak = peak.max(hwm);
            if rss > limits.mem_kib {
                killed = Some(Kind::Memory);
            }
        }
        if started.elapsed() > limits.deadline {
            killed = Some(Kind::Hang);
        }
        if killed.is_some() {
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(2));
    };
    let mut text = Vec::new();
    std::fs::File::open(run.join("stderr"))?
        .take(1 << 20)
        .read_to_end(&mut text)?;
    let stderr = String::from_utf8_lossy(&text);
    let kind = classify(status.code(), &stderr, killed);
    let message = match (killed, status.signal()) {
        (Some(Kind::Hang), _) => format!("still running after {:?}; killed", limits.deadline),
        (Some(_), _) => format!("resident memory over {} MiB; killed", limits.mem_kib / 1024),
        (None, Some(sig)) => format!("killed by signal {sig}: {}", headline(&stderr)),
        (None, None) => format!(
            "exit {}: {}",
            status.code().unwrap_or(-1),
            headline(&stderr)
        ),
    };
    Ok(Ran {
        kind,
        peak_kib: peak,
        message,
    })
}

/// The environment every tool run gets (as the golden checker's).
fn base_env() -> Vec<(OsString, OsString)> {
    let mut env = Vec::new();
    for name in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(name) {
            env.push((name.into(), v));
        }
    }
    env.push(("LANG".into(), "C.UTF-8".into()));
    env.push(("LC_ALL".into(), "C.UTF-8".into()));
    // The seeds are the 2026-02 golden inputs: mutated, they reach deep
    // into that edition's code only when the tools follow it.
    env.push(("INFERENCEX_CONTRACT".into(), "2026-02".into()));
    env
}

fn run_tool(bin: &Path, case: &Case, run: &Path, limits: &Limits) -> Result<Ran> {
    materialize(case, &run.join("case"))?;
    let mut command = if limits.prlimit {
        let mut c = Command::new("prlimit");
        c.arg(format!("--as={}", limits.mem_kib * 4 * 1024))
            .arg("--")
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    command
        .args(&case.args)
        .env_clear()
        .envs(base_env())
        .envs(case.env.iter().cloned())
        .current_dir(run.join("case"));
    supervise(command, run, limits)
}

/// A shell word: single-quoted, any bytes but NUL.
fn sh_quote(s: &std::ffi::OsStr) -> Vec<u8> {
    let mut out = b"'".to_vec();
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// `repro.sh` for a saved tool case: the run without the harness.
fn repro_script(bin: &Path, case: &Case, replay: &str) -> Vec<u8> {
    let mut s = format!(
        "#!/bin/sh\n# {}\n# Through the harness: {replay}\ncd \"$(dirname \"$0\")/case\" || exit 1\nexec env -i",
        one_line(&case.note, 400)
    )
    .into_bytes();
    for (k, v) in base_env().iter().chain(&case.env) {
        s.push(b' ');
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        s.extend(sh_quote(&kv));
    }
    s.push(b' ');
    s.extend(sh_quote(bin.as_os_str()));
    for a in &case.args {
        s.push(b' ');
        s.extend(sh_quote(a));
    }
    s.push(b'\n');
    s
}

// ------------------------------------------------------- in-process inputs

/// An in-process input: bytes (with the read boundaries, for SSE), or a
/// stream generated as it is fed (too long to hold).
#[derive(Debug, Clone)]
struct Input {
    data: Vec<u8>,
    splits: Vec<usize>,
    stream: Option<Stream>,
    note: String,
}

impl Input {
    fn bytes(data: Vec<u8>, note: impl Into<String>) -> Input {
        Input {
            data,
            splits: Vec::new(),
            stream: None,
            note: note.into(),
        }
    }
}

/// Endless SSE input, fed 1 MiB at a time: one line that never ends, or
/// `data:` lines of an event that never ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Line,
    Data,
}

/// What the in-process targets read: the spec's fields, the SSE fixtures,
/// the golden JSON files.
#[derive(Debug)]
struct InCorpus {
    fields: Vec<(String, String)>,
    docs: Vec<Vec<u8>>,
}

impl InCorpus {
    fn load(root: &Path, golden: &Path, target: Target) -> Result<InCorpus> {
        use servebench_loadgen::LoadSpec;
        let base = LoadSpec {
            model: Some("m".into()),
            dataset_name: "random".into(),
            ..LoadSpec::default()
        };
        let fields = match serde_json::to_value(&base)? {
            serde_json::Value::Object(map) => {
                map.into_iter().map(|(k, v)| (k, v.to_string())).collect()
            }
            _ => Vec::new(),
        };
        let mut docs = Vec::new();
        match target {
            Target::Sse => {
                let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/sse"))?
                    .filter_map(|e| Some(e.ok()?.path()))
                    .collect();
                paths.sort();
                for p in paths {
                    docs.push(std::fs::read(p)?);
                }
            }
            Target::PyJson => {
                let mut paths = Vec::new();
                json_files(golden, &mut paths, 0);
                paths.sort();
                for p in paths.into_iter().take(400) {
                    docs.push(std::fs::read(p)?);
                }
                if docs.is_empty() {
                    docs.push(
                        br#"{"a": [1, 2.5, "x", null, true, NaN, -Infinity], "b": {"c": 1e300}}"#
                            .to_vec(),
                    );
                }
            }
            _ => {}
        }
        Ok(InCorpus { fields, docs })
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() && depth < 6 {
            json_files(&path, out, depth + 1);
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
}

/// Extreme values each spec field gets in turn (the fixed inputs).
const SPEC_EXTREMES: &[&str] = &[
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "1e300",
    "1e-300",
    "-0",
    "-1",
    "0",
    "4294967296",
    "1e12",
];

fn spec_body(fields: &[(String, String)]) -> Vec<u8> {
    let members: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!("{{{}}}", members.join(", ")).into_bytes()
}

const SPEC_FIXED: u64 = 5;

fn inprocess_specials(target: Target, corpus: &InCorpus) -> u64 {
    match target {
        Target::Spec => SPEC_FIXED + (corpus.fields.len() * SPEC_EXTREMES.len()) as u64,
        Target::Sse => 8,
        Target::PyJson => 9,
        _ => 0,
    }
}

fn inprocess_input(target: Target, corpus: &InCorpus, seed: u64, index: u64) -> Input {
    let specials = inprocess_specials(target, corpus);
    let mut rng = Rng::for_input(seed, target.name(), index);
    match target {
        Target::Spec if index < specials => spec_special(corpus, index),
        Target::Spec => {
            let mut fields = corpus.fields.clone();
            let mut notes = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let k = rng.below(fields.len());
                fields[k].1 = if rng.chance(50) {
                    (*rng.pick(SPEC_EXTREMES)).to_owned()
                } else {
                    wild_value(&mut rng)
                };
                notes.push(format!("{}={}", fields[k].0, one_line(&fields[k].1, 30)));
            }
            if rng.chance(10) {
                let k = rng.below(fields.len());
                fields.push(fields[k].clone());
                notes.push(format!("{} twice", fields[k].0));
            }
            let body = spec_body(&fields);
            if rng.chance(30) {
                let (d, note) = mutate(&mut rng, &body, &[]);
                notes.push(note);
                Input::bytes(d, notes.join(", "))
            } else {
                Input::bytes(body, notes.join(", "))
            }
        }
        Target::Sse if index < specials => sse_special(index),
        Target::Sse => {
            let data = if rng.chance(40) && !corpus.docs.is_empty() {
                let doc = rng.pick(&corpus.docs).clone();
                let pool: Vec<&[u8]> = corpus.docs.iter().map(Vec::as_slice).collect();
                mutate(&mut rng, &doc, &pool).0
            } else {
                sse_tokens(&mut rng)
            };
            let splits = if data.len() < 3000 && rng.chance(20) {
                (1..data.len()).collect()
            } else {
                let mut s: Vec<usize> = (0..rng.below(12))
                    .map(|_| rng.below(data.len() + 1))
                    .collect();
                s.sort_unstable();
                s
            };
            Input {
                note: format!("{} bytes in {} reads", data.len(), splits.len() + 1),
                data,
                splits,
                stream: None,
            }
        }
        Target::PyJson if index < specials => pyjson_special(index),
        Target::PyJson => {
            let doc = rng.pick(&corpus.docs).clone();
            let pool: Vec<&[u8]> = corpus.docs.iter().map(Vec::as_slice).collect();
            let (d, note) = mutate(&mut rng, &doc, &pool);
            Input::bytes(d, note)
        }
        _ => Input::bytes(Vec::new(), ""),
    }
}

fn spec_special(corpus: &InCorpus, index: u64) -> Input {
    let model =
        |v: String| format!("{{\"model\": {v}, \"dataset_name\": \"random\"}}").into_bytes();
    match index {
        0 => Input::bytes(
            model(deep(100_000, false, true)),
            "model: 100,000 nested arrays",
        ),
        1 => Input::bytes(
            model(format!("\"{}\"", "x".repeat(MAX_INPUT))),
            "model: an 8 MiB string",
        ),
        2 => Input::bytes(big_object(300_000).into_bytes(), "300,000 unknown keys"),
        3 => {
            let mut body = b"{".to_vec();
            for i in 0..300_000 {
                body.extend_from_slice(format!("\"model\": \"m{i}\", ").as_bytes());
            }
            body.extend_from_slice(b"\"queue\": false}");
            Input::bytes(body, "model 300,000 times")
        }
        4 => Input::bytes(
            b"{\"model\": \"\xff\xfe\", \"dataset_name\": \"random\"}".to_vec(),
            "a non-UTF-8 model name",
        ),
        _ => {
            let k = (index - SPEC_FIXED) as usize;
            let (field, value) = (
                k / SPEC_EXTREMES.len(),
                SPEC_EXTREMES[k % SPEC_EXTREMES.len()],
            );
            let mut fields = corpus.fields.clone();
            let Some(slot) = fields.get_mut(field) else {
                return Input::bytes(Vec::new(), "");
            };
            slot.1 = value.to_owned();
            let note = format!("{} = {value}", slot.0);
            Input::bytes(spec_body(&fields), note)
        }
    }
}

const SSE_TOKENS: &[&[u8]] = &[
    b"data: ",
    b"data:",
    b"data",
    b"event: ",
    b"event:x",
    b"id: ",
    b"id: a\x00b",
    b"retry: ",
    b"retry: 99999999999999999999999",
    b"retry: 1000",
    b":",
    b": comment",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"\r\r",
    b"\xef\xbb\xbf",
    b"[DONE]",
    b"{\"choices\": [{\"text\": \"hi\"}]}",
    b" ",
    b"x",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\xe2\x82",
];

fn sse_tokens(rng: &mut Rng) -> Vec<u8> {
    let mut d = Vec::new();
    for _ in 0..1 + rng.below(200) {
        if rng.chance(3) {
            d.extend(std::iter::repeat_n(
                b'a',
                *rng.pick(&[1 << 10, 1 << 16, 1 << 20]),
            ));
        } else {
            let token: &&[u8] = rng.pick(SSE_TOKENS);
            d.extend_from_slice(token);
        }
    }
    d
}

fn sse_special(index: u64) -> Input {
    let every_byte = |d: &[u8], note: &str| Input {
        splits: (1..d.len()).collect(),
        data: d.to_vec(),
        stream: None,
        note: note.to_owned(),
    };
    match index {
        0 => Input {
            stream: Some(Stream::Line),
            ..Input::bytes(Vec::new(), "a line that never ends")
        },
        1 => Input {
            stream: Some(Stream::Data),
            ..Input::bytes(Vec::new(), "data lines of an event that never ends")
        },
        2 => every_byte(
            b"\xef\xbb\xbfdata: a\r\n\r\ndata: b\r\r",
            "a BOM and CRs, one byte per read",
        ),
        3 => every_byte(
            b"data: caf\xc3\xa9\n\ndata: \xc3\n\n",
            "a UTF-8 sequence split across reads, then a broken one",
        ),
        4 => every_byte(
            b"retry: 18446744073709551616\nid: a\x00b\nevent: e\ndata\n\n",
            "retry past u64, NUL in id",
        ),
        5 => every_byte(&b"\r".repeat(1000), "1,000 CRs, one per read"),
        6 => Input::bytes(b"data: ".repeat(200_000), "data: 200,000 times on one line"),
        _ => Input::bytes(
            [b"data: ".as_slice(), &vec![b'x'; 4 << 20], b"\n\n"].concat(),
            "one 4 MiB event",
        ),
    }
}

fn pyjson_special(index: u64) -> Input {
    match index {
        0 => Input::bytes(big_object(300_000).into_bytes(), "300,000 distinct keys"),
        1 => Input::bytes(
            deep(100_000, false, true).into_bytes(),
            "100,000 nested arrays",
        ),
        2 => Input::bytes(deep(900, true, true).into_bytes(), "900 nested objects"),
        3 => Input::bytes(deep(901, false, true).into_bytes(), "901 nested arrays"),
        4 => Input::bytes(long_number(100_000).into_bytes(), "a 100,001-digit integer"),
        5 => Input::bytes(
            b"[1e99999, -1e99999, 1e-99999, -0.0, NaN]".to_vec(),
            "exponents past f64",
        ),
        6 => {
            let mut d = b"{".to_vec();
            for i in 0..300_000 {
                d.extend_from_slice(format!("\"a\": {i}, ").as_bytes());
            }
            d.extend_from_slice(b"\"b\": 0}");
            Input::bytes(d, "one key 300,000 times")
        }
        7 => Input::bytes(
            format!("\"{}\"", "\\u00e9\\ud83d\\ude00".repeat(500_000)).into_bytes(),
            "a string of 1,000,000 escapes",
        ),
        _ => Input::bytes(
            format!("[{}0]", "1.5, ".repeat(1_000_000)).into_bytes(),
            "1,000,000 numbers",
        ),
    }
}

// ------------------------------------------------------ in-process worker

/// Resident memory of this process now, in KiB; and the peak since the
/// last [`reset_peak`].
fn own_memory_kib() -> (u64, u64) {
    memory_kib("self").map_or((0, 0), |(hwm, rss)| (rss, hwm))
}

/// Resets this process's peak resident memory (`VmHWM`) to the current;
/// false where the kernel does not allow it (then only the memory still
/// held after an input counts).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Why an in-process input failed without panicking.
enum Failure {
    Wrong(String),
    Memory(String),
}

/// Runs one in-process input.
fn exec(
    target: Target,
    input: &Input,
    growth_limit_kib: u64,
    start_kib: u64,
) -> Result<(), Failure> {
    match target {
        Target::Spec => {
            use servebench_loadgen::{parse_spec, validate_spec, Policy};
            if let Ok(s) = parse_spec(&input.data) {
                let _ = validate_spec(s, &Policy::default());
            }
            Ok(())
        }
        Target::PyJson => {
            let text = String::from_utf8_lossy(&input.data);
            if let Ok(v) = servebench_pyjson::from_str(&text) {
                let written = servebench_pyjson::to_string(&v);
                match servebench_pyjson::from_str(&written) {
                    Ok(again) if servebench_pyjson::to_string(&again) == written => {}
                    Ok(_) => {
                        return Err(Failure::Wrong(
                            "what it writes re-reads to a different value".into(),
                        ))
                    }
                    Err(e) => {
                        return Err(Failure::Wrong(format!(
                            "what it writes does not re-read: {e}"
                        )))
                    }
                }
            }
            Ok(())
        }
        Target::Sse => match input.stream {
            Some(stream) => feed_stream(stream, growth_limit_kib, start_kib),
            None => sse_split_check(&input.data, &input.splits),
        },
        _ => Ok(()),
    }
}

/// The events (or the first error) from feeding `data` in reads split at
/// `splits`; the whole stream at once must give the same.
fn sse_split_check(data: &[u8], splits: &[usize]) -> Result<(), Failure> {
    use servebench_client::{decode_all, Decoder};
    let whole = decode_all(data);
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    let mut at = 0;
    let mut split = Ok(());
    for &end in splits.iter().chain(std::iter::once(&data.len())) {
        let end = end.clamp(at, data.len());
        split = decoder.feed(&data[at..end], &mut events);
        at = end;
        if split.is_err() {
            break;
        }
    }
    let split = split.map(|()| events);
    if whole != split {
        return Err(Failure::Wrong(one_line(
            &format!(
                "split reads decode differently: whole {:?} / split {:?}",
                whole.as_ref().map(Vec::len),
                split.as_ref().map(Vec::len)
            ),
            240,
        )));
    }
    Ok(())
}

/// Feeds an endless stream 1 MiB at a time, up to three times the growth
/// limit; the decoder must refuse it or stay within the limit.
fn feed_stream(stream: Stream, growth_limit_kib: u64, start_kib: u64) -> Result<(), Failure> {
    let mut decoder = servebench_client::Decoder::new();
    let mut events = Vec::new();
    let chunk: Vec<u8> = match stream {
        Stream::Line => vec![b'a'; 1 << 20],
        Stream::Data => {
            let line = [b"data: ".as_slice(), &[b'd'; 1017], b"\n"].concat();
            line.repeat(1024)
        }
    };
    let reads = (3 * growth_limit_kib / 1024).max(1);
    if stream == Stream::Line && decoder.feed(b"data: ", &mut events).is_err() {
        return Ok(());
    }
    for read in 1..=reads {
        if decoder.feed(&chunk, &mut events).is_err() {
            return Ok(());
        }
        let (rss, _) = own_memory_kib();
        let growth = rss.saturating_sub(start_kib);
        if growth > growth_limit_kib {
            return Err(Failure::Memory(format!(
                "the decoder holds {} MiB after {read} MiB without a line end (or an event end) and no error",
                growth / 1024
            )));
        }
    }
    Ok(())
}

static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// The child process: runs inputs of one in-process target from `from`,
/// one result line each on stdout, until the budget is spent (the fixed
/// inputs always run); with `--index`, that one input only.
fn worker(a: &Args, root: &Path, target: Target, from: u64) -> Result<()> {
    let corpus = InCorpus::load(root, &root.join(&a.golden), target)?;
    let specials = inprocess_specials(target, &corpus);
    let out = root.join(&a.out);
    let work = out.join(".work").join(target.name());
    std::fs::create_dir_all(&work)?;
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string();
        }
    }));
    let stop = Instant::now() + Duration::from_secs_f64(a.seconds.max(0.0));
    let growth_limit_kib = a.growth_limit_mib * 1024;
    let mut saved: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut stdout = std::io::stdout().lock();
    let mut index = from;
    loop {
        if a.index.is_none() && index >= specials && Instant::now() >= stop {
            break;
        }
        let input = inprocess_input(target, &corpus, a.seed, index);
        std::fs::write(work.join("current"), &input.data)?;
        std::fs::write(work.join("current.txt"), describe(&input))?;
        let peak_resets = reset_peak();
        let (start_kib, _) = own_memory_kib();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            exec(target, &input, growth_limit_kib, start_kib)
        }));
        let (now, peak) = own_memory_kib();
        let growth = if peak_resets { peak } else { now }.saturating_sub(start_kib);
        let (mut kind, mut message) = match result {
            Ok(Ok(())) => (Kind::Ok, String::new()),
            Ok(Err(Failure::Wrong(m))) => (Kind::Wrong, m),
            Ok(Err(Failure::Memory(m))) => (Kind::Memory, m),
            Err(_) => (
                Kind::Panic,
                LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default(),
            ),
        };
        // What a parser holds grows with its input; the limit is on top of
        // 32 bytes per input byte.
        let allowed = growth_limit_kib + 32 * input.data.len() as u64 / 1024;
        if kind == Kind::Ok && growth > allowed {
            kind = Kind::Memory;
            message = format!(
                "an input of {} KiB added {} MiB (allowed {} MiB)",
                input.data.len() / 1024,
                growth / 1024,
                allowed / 1024
            );
        }
        if kind != Kind::Ok {
            let n = saved.entry(kind).or_default();
            if *n < 5 || a.index.is_some() {
                *n += 1;
                save_inprocess(&work, &out, target, kind, index)?;
            }
        }
        writeln!(
            stdout,
            "R\t{index}\t{}\t{growth}\t{}\t{}",
            kind.name(),
            one_line(&input.note, 200),
            one_line(&message, 400)
        )?;
        stdout.flush()?;
        if a.index.is_some() {
            break;
        }
        index += 1;
    }
    Ok(())
}

fn describe(input: &Input) -> String {
    let mut s = format!("{}\n", input.note);
    if let Some(stream) = input.stream {
        s.push_str(&format!("stream: {stream:?} (generated as it is fed)\n"));
    }
    if !input.splits.is_empty() {
        let splits: Vec<String> = input.splits.iter().map(usize::to_string).collect();
        s.push_str(&format!("reads split at: {}\n", splits.join(" ")));
    }
    s
}

/// Copies the current in-process input to `<out>/<target>/<kind>-<index>/`.
fn save_inprocess(
    work: &Path,
    out: &Path,
    target: Target,
    kind: Kind,
    index: u64,
) -> Result<PathBuf> {
    let dest = out
        .join(target.name())
        .join(format!("{}-{index}", kind.name()));
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest)?;
    std::fs::copy(work.join("current"), dest.join("input"))?;
    std::fs::copy(work.join("current.txt"), dest.join("input.txt"))?;
    Ok(dest)
}

// ---------------------------------------------------------------- driver

#[derive(Debug, Clone)]
struct Finding {
    kind: Kind,
    index: u64,
    note: String,
    message: String,
    repro: String,
}

#[derive(Debug, Default)]
struct Tally {
    inputs: u64,
    adversarial: u64,
    counts: BTreeMap<Kind, u64>,
    peak_kib: u64,
    findings: Vec<Finding>,
}

impl Tally {
    fn count(&self, kind: Kind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    fn failures(&self) -> u64 {
        Kind::FAILURES.iter().map(|&k| self.count(k)).sum()
    }

    fn record(&mut self, special: bool, kind: Kind, peak_kib: u64) {
        self.inputs += 1;
        self.adversarial += u64::from(special);
        *self.counts.entry(kind).or_default() += 1;
        self.peak_kib = self.peak_kib.max(peak_kib);
    }

    /// Keeps the first five findings of each kind.
    fn keep(&self, kind: Kind) -> bool {
        self.findings.iter().filter(|f| f.kind == kind).count() < 5
    }
}

struct Ctx<'a> {
    args: &'a Args,
    root: PathBuf,
    out: PathBuf,
    bin: PathBuf,
    limits: Limits,
}

impl Ctx<'_> {
    fn replay(&self, target: Target, index: u64) -> String {
        format!(
            "cargo xtask fuzz --targets {} --seed {} --index {index}",
            target.name(),
            self.args.seed
        )
    }
}

fn fuzz_tool(ctx: &Ctx, target: Target, budget: Duration) -> Result<Tally> {
    let a = ctx.args;
    let seeds = load_seeds(&ctx.root, &ctx.root.join(&a.golden), target)?;
    let bin = ctx.bin.join(target.binary().unwrap_or_default());
    if !bin.is_file() {
        bail!("{} is missing", bin.display());
    }
    let run = ctx.out.join(".work").join(target.name());
    let specials = tool_specials(target);
    let stop = Instant::now() + budget;
    let mut tally = Tally::default();
    let mut index = a.index.unwrap_or(0);
    loop {
        if a.index.is_none() && index >= specials && Instant::now() >= stop {
            break;
        }
        let case = tool_case(target, &seeds, a.seed, index);
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run)?;
        let ran = run_tool(&bin, &case, &run, &ctx.limits)?;
        tally.record(index < specials, ran.kind, ran.peak_kib);
        if ran.kind != Kind::Ok && (tally.keep(ran.kind) || a.index.is_some()) {
            let dest = ctx
                .out
                .join(target.name())
                .join(format!("{}-{index}", ran.kind.name()));
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::create_dir_all(ctx.out.join(target.name()))?;
            std::fs::rename(&run, &dest)?;
            let replay = ctx.replay(target, index);
            std::fs::write(dest.join("repro.sh"), repro_script(&bin, &case, &replay))?;
            tally.findings.push(Finding {
                kind: ran.kind,
                index,
                note: case.note.clone(),
                message: ran.message.clone(),
                repro: format!("sh {}", dest.join("repro.sh").display()),
            });
        }
        if a.index.is_some() {
            println!(
                "{} input {index} ({}): {} ({}), peak {:.1} MiB",
                target.name(),
                one_line(&case.note, 200),
                ran.kind.name(),
                ran.message,
                ran.peak_kib as f64 / 1024.0
            );
            break;
        }
        index += 1;
    }
    let _ = std::fs::remove_dir_all(&run);
    Ok(tally)
}

/// Runs an in-process target in child processes (restarted after a hang
/// or a crash, from the next input).
fn fuzz_inprocess(ctx: &Ctx, target: Target, budget: Duration) -> Result<Tally> {
    let a = ctx.args;
    let corpus = InCorpus::load(&ctx.root, &ctx.root.join(&a.golden), target)?;
    let specials = inprocess_specials(target, &corpus);
    let work = ctx.out.join(".work").join(target.name());
    std::fs::create_dir_all(&work)?;
    let exe = std::env::current_exe().context("finding xtask's own executable")?;
    let stop = Instant::now() + budget;
    let mut tally = Tally::default();
    let mut next = a.index.unwrap_or(0);
    loop {
        let remaining = stop.saturating_duration_since(Instant::now());
        let mut command = Command::new(&exe);
        command
            .args(["fuzz", "--targets", target.name()])
            .args(["--seed", &a.seed.to_string()])
            .args(["--worker", &next.to_string()])
            .args(["--seconds", &remaining.as_secs_f64().to_string()])
            .args(["--growth-limit-mib", &a.growth_limit_mib.to_string()])
            .arg("--out")
            .arg(&ctx.out)
            .arg("--golden")
            .arg(ctx.root.join(&a.golden));
        if let Some(i) = a.index {
            command.args(["--index", &i.to_string()]);
        }
        let stderr = std::fs::File::create(work.join("worker.stderr"))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("starting the fuzz worker")?;
        let stdout = child.stdout.take().context("the worker's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The input the worker is on: one past the last it reported.
        let mut current = next;
        let mut hung = false;
        loop {
            match rx.recv_timeout(ctx.limits.deadline) {
                Ok(Ok(line)) => {
                    let f: Vec<&str> = line.split('\t').collect();
                    let (Some(index), Some(kind), Some(growth)) = (
                        f.get(1).and_then(|s| s.parse::<u64>().ok()),
                        f.get(2).and_then(|s| Kind::parse(s)),
                        f.get(3).and_then(|s| s.parse::<u64>().ok()),
                    ) else {
                        continue;
                    };
                    tally.record(index < specials, kind, growth);
                    let (note, message) = (f.get(4).unwrap_or(&""), f.get(5).unwrap_or(&""));
                    if kind != Kind::Ok && (tally.keep(kind) || a.index.is_some()) {
                        tally.findings.push(Finding {
                            kind,
                            index,
                            note: (*note).to_owned(),
                            message: (*message).to_owned(),
                            repro: ctx.replay(target, index),
                        });
                    }
                    if a.index.is_some() {
                        println!(
                            "{} input {index} ({note}): {} {message}; added {:.1} MiB",
                            target.name(),
                            kind.name(),
                            growth as f64 / 1024.0
                        );
                    }
                    current = index + 1;
                }
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    hung = true;
                    let _ = child.kill();
                    break;
                }
            }
        }
        let status = child.wait()?;
        if !hung && status.success() {
            break;
        }
        let text = std::fs::read_to_string(work.join("worker.stderr")).unwrap_or_default();
        let kind = classify(status.code(), &text, hung.then_some(Kind::Hang));
        let kind = if kind == Kind::Ok { Kind::Crash } else { kind };
        let message = if hung {
            format!("no answer after {:?}; killed", ctx.limits.deadline)
        } else {
            format!("the worker died ({status}): {}", headline(&text))
        };
        let note = std::fs::read_to_string(work.join("current.txt"))
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        tally.record(current < specials, kind, 0);
        if tally.keep(kind) || a.index.is_some() {
            save_inprocess(&work, &ctx.out, target, kind, current)?;
            tally.findings.push(Finding {
                kind,
                index: current,
                note,
                message,
                repro: ctx.replay(target, current),
            });
        }
        if a.index.is_some() {
            println!("{} input {current}: {}", target.name(), kind.name());
            break;
        }
        next = current + 1;
        if next >= specials && Instant::now() >= stop {
            break;
        }
    }
    Ok(tally)
}

fn selected(a: &Args) -> Result<Vec<Target>> {
    if a.targets.is_empty() {
        return Ok(Target::ALL.to_vec());
    }
    a.targets
        .iter()
        .map(|name| {
            Target::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .with_context(|| {
                    let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
                    format!("unknown target {name:?} (one of {})", names.join(", "))
                })
        })
        .collect()
}

pub fn run(a: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let targets = selected(a)?;
    if let Some(from) = a.worker {
        return worker(a, &root, targets[0], from);
    }
    if a.index.is_some() && targets.len() != 1 {
        bail!("--index replays one input of one target: give one --targets");
    }
    let out = root.join(&a.out);
    let mut tools: Vec<&str> = targets.iter().filter_map(|t| t.binary()).collect();
    tools.dedup();
    let bin = match &a.bin_dir {
        Some(dir) => root.join(dir),
        None if tools.is_empty() => root.join("target/release"),
        None => crate::build_release(&tools)?,
    };
    if a.index.is_none() {
        // A run replaces the findings of the last one.
        for t in &targets {
            let _ = std::fs::remove_dir_all(out.join(t.name()));
        }
    }
    let ctx = Ctx {
        args: a,
        root: root.clone(),
        out: out.clone(),
        bin,
        limits: Limits {
            deadline: Duration::from_secs_f64(a.deadline),
            mem_kib: a.mem_limit_mib * 1024,
            prlimit: Command::new("prlimit")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
        },
    };
    let share = Duration::from_secs_f64(a.seconds.max(0.0) / targets.len() as f64);
    if a.index.is_none() {
        eprintln!(
            "fuzz: seed {}, {:.0} s over {} targets, deadline {} s, tool memory {} MiB{}, in-process growth {} MiB",
            a.seed,
            a.seconds,
            targets.len(),
            a.deadline,
            a.mem_limit_mib,
            if ctx.limits.prlimit { " (address space 4x by prlimit)" } else { "" },
            a.growth_limit_mib
        );
    }
    let mut rows = Vec::new();
    for &t in &targets {
        let started = Instant::now();
        let tally = if t.binary().is_some() {
            fuzz_tool(&ctx, t, share)?
        } else {
            fuzz_inprocess(&ctx, t, share)?
        };
        if a.index.is_none() {
            eprintln!(
                "fuzz: {}: {} inputs in {:.1} s, {} failing",
                t.name(),
                tally.inputs,
                started.elapsed().as_secs_f64(),
                tally.failures()
            );
        }
        rows.push((t, tally));
    }
    let _ = std::fs::remove_dir_all(out.join(".work"));
    let total: u64 = rows.iter().map(|(_, t)| t.failures()).sum();
    if a.index.is_some() {
        if total > 0 {
            bail!("the input fails");
        }
        return Ok(());
    }
    println!("| target | inputs | adversarial | panics | crashes | hangs | over memory | wrong | peak memory (MiB) |");
    println!("|:-------|-------:|------------:|-------:|--------:|------:|------------:|------:|------------------:|");
    for (t, tally) in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1}{} |",
            t.name(),
            tally.inputs,
            tally.adversarial,
            tally.count(Kind::Panic),
            tally.count(Kind::Crash),
            tally.count(Kind::Hang),
            tally.count(Kind::Memory),
            tally.count(Kind::Wrong),
            tally.peak_kib as f64 / 1024.0,
            if t.binary().is_some() { "" } else { " added" }
        );
    }
    println!("(peak memory: a tool run's resident peak; in process, the most one input added)");
    for (t, tally) in &rows {
        for f in &tally.findings {
            println!(
                "{} {} at input {} ({}): {}\n    reproduce: {}",
                t.name(),
                f.kind.name(),
                f.index,
                one_line(&f.note, 160),
                f.message,
                f.repro
            );
        }
    }
    if total > 0 {
        bail!(
            "{total} failing inputs (the first of each kind saved under {})",
            out.display()
        );
    }
    println!("no failures");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_per_input() {
        let draw = |seed, target, index| {
            let mut r = Rng::for_input(seed, target, index);
            [r.next(), r.next()]
        };
        assert_eq!(draw(1, "sse", 7), draw(1, "sse", 7));
        assert_ne!(draw(1, "sse", 7), draw(1, "sse", 8));
        assert_ne!(draw(1, "sse", 7), draw(2, "sse", 7));
        assert_ne!(draw(1, "sse", 7), draw(1, "pyjson", 7));
    }

    #[test]
    fn mutations_are_deterministic_and_bounded() {
        let seed = br#"{"a": 1, "b": [2.5, "x"], "c": {"d": null}}"#;
        for i in 0..100 {
            let run = || mutate(&mut Rng::for_input(9, "t", i), seed, &[b"[1, 2]"]);
            let (a, note) = run();
            assert_eq!((a.clone(), note.clone()), run());
            assert!(a.len() <= MAX_INPUT, "{note}: {} bytes", a.len());
        }
        // Empty input and an empty pool are fine too.
        for i in 0..100 {
            mutate(&mut Rng::for_input(9, "t", i), b"", &[]);
        }
    }

    #[test]
    fn numbers_and_values_are_found() {
        let d = br#"{"isl": 1024, "name": "h200", "x": -2.5e3}"#;
        let starts = number_starts(d);
        let spans: Vec<&[u8]> = starts.iter().map(|&s| &d[s..number_end(d, s)]).collect();
        assert_eq!(spans, [b"1024".as_slice(), b"-2.5e3"]);
        let mut rng = Rng::for_input(1, "t", 0);
        for _ in 0..20 {
            let (a, b) = value_span(&mut rng, d).unwrap();
            assert!(
                [b"1024".as_slice(), b"\"h200\"", b"-2.5e3"].contains(&&d[a..b]),
                "{:?}",
                String::from_utf8_lossy(&d[a..b])
            );
        }
    }

    #[test]
    fn generators() {
        assert_eq!(big_object(2), r#"{"k0": 0, "k1": 1}"#);
        assert_eq!(deep(2, false, true), "[[1]]");
        assert_eq!(deep(2, true, false), r#"{"a": {"a": 1"#);
        assert_eq!(long_number(3), "1000");
        assert!(alias_bomb().ends_with("boom: *a9\n"));
    }

    #[track_caller]
    fn check(code: Option<i32>, stderr: &str, killed: Option<Kind>, expected: Kind) {
        assert_eq!(classify(code, stderr, killed), expected);
    }

    #[test]
    fn outcomes() {
        check(Some(0), "", None, Kind::Ok);
        check(Some(1), "tool: error: bad input\n", None, Kind::Ok);
        check(Some(2), "usage", None, Kind::Ok);
        check(
            Some(101),
            "thread 'main' panicked at src/x.rs:1:2:\nboom\n",
            None,
            Kind::Panic,
        );
        check(Some(1), "thread 'w' panicked at x\n", None, Kind::Panic);
        check(
            None,
            "thread 'main' has overflowed its stack\n",
            None,
            Kind::Crash,
        );
        check(
            None,
            "memory allocation of 8589934592 bytes failed\n",
            None,
            Kind::Memory,
        );
        check(Some(3), "", None, Kind::Crash);
        check(None, "", Some(Kind::Hang), Kind::Hang);
        check(Some(0), "", Some(Kind::Memory), Kind::Memory);
        assert_eq!(
            headline("thread 'main' panicked at src/a.rs:3:9:\nindex out of bounds\nnote: ...\n"),
            "thread 'main' panicked at src/a.rs:3:9: index out of bounds"
        );
        assert_eq!(headline("warning\nerror: x\n\n"), "error: x");
    }

    fn limits(deadline_ms: u64) -> Limits {
        Limits {
            deadline: Duration::from_millis(deadline_ms),
            mem_kib: 512 * 1024,
            prlimit: false,
        }
    }

    #[test]
    fn the_deadline_kills_a_hang_and_a_quick_exit_is_judged_by_its_status() {
        let dir = std::env::temp_dir().join(format!("xtask-fuzz-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let started = Instant::now();
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let ran = supervise(sleep, &dir, &limits(300)).unwrap();
        assert_eq!(ran.kind, Kind::Hang, "{}", ran.message);
        assert!(started.elapsed() < Duration::from_secs(10));
        let mut panics = Command::new("sh");
        panics.args(["-c", "echo 'boom' >&2; exit 101"]);
        let ran = supervise(panics, &dir, &limits(5000)).unwrap();
        assert_eq!(
            (ran.kind, ran.message.as_str()),
            (Kind::Panic, "exit 101: boom")
        );
        let mut fine = Command::new("sh");
        fine.args(["-c", "exit 1"]);
        assert_eq!(supervise(fine, &dir, &limits(5000)).unwrap().kind, Kind::Ok);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn special_files_are_created() {
        let dir = std::env::temp_dir().join(format!("xtask-fuzz-files-{}", std::process::id()));
        let case = Case {
            args: Vec::new(),
            env: Vec::new(),
            files: vec![
                ("r/a.json".into(), Entry::Bytes(b"{}".to_vec())),
                ("r/fifo.json".into(), Entry::Fifo),
                ("r/zero.json".into(), Entry::Symlink("/dev/zero".into())),
                ("r/d.json".into(), Entry::Dir),
                (
                    PathBuf::from(OsString::from_vec(b"r/\xff.json".to_vec())),
                    Entry::Bytes(Vec::new()),
                ),
            ],
            note: String::new(),
        };
        materialize(&case, &dir).unwrap();
        let kinds: Vec<String> = case
            .files
            .iter()
            .map(|(p, _)| {
                let t = dir.join(p).symlink_metadata().unwrap().file_type();
                use std::os::unix::fs::FileTypeExt;
                format!(
                    "{}{}{}{}",
                    t.is_file() as u8,
                    t.is_fifo() as u8,
                    t.is_symlink() as u8,
                    t.is_dir() as u8
                )
            })
            .collect();
        assert_eq!(kinds, ["1000", "0100", "0010", "0001", "1000"]);
        // Materializing again replaces everything.
        materialize(&case, &dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn repro_scripts_quote_every_byte() {
        assert_eq!(sh_quote("it's".as_ref()), b"'it'\\''s'");
        let case = Case {
            args: vec!["a b".into()],
            env: vec![("X".into(), OsString::from_vec(b"\xff".to_vec()))],
            files: Vec::new(),
            note: "n".into(),
        };
        let script = repro_script(Path::new("/bin/tool"), &case, "cargo xtask fuzz --index 3");
        assert!(script.ends_with(b" 'X=\xff' '/bin/tool' 'a b'\n"));
    }

    #[test]
    fn sse_split_invariance_holds_for_the_fixed_inputs() {
        for i in 2..6 {
            let input = sse_special(i);
            assert!(
                sse_split_check(&input.data, &input.splits).is_ok(),
                "{}",
                input.note
            );
        }
    }
}
