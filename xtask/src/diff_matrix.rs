//! `cargo xtask diff-matrix`: differential testing of `generate_sweep_configs`
//! (edition 2026-08) against the Python original at `843c6254f`.
//!
//! Every case is a random but plausible input: master configs that are
//! mutations of the real reference entries or small synthetic ones (both
//! scenario types, single- and multi-node, ranges and conc-lists, optional
//! fields, some invalid values), a runner file (mostly the real one,
//! sometimes damaged), and a random command line for `full-sweep` or
//! `test-config`. Both programs run in the case's directory; the exit status
//! class (0, 1, 2, other) must agree and, when both succeed, stdout must be
//! the same bytes. Each differing case is kept under
//! `target/diff-matrix/<n>/` with a `repro.sh`.
//!
//! The Python runs in one long-lived interpreter that imports the original
//! script once and calls its `main()` per case with `sys.argv` set (startup
//! and imports would otherwise dominate); a difference is confirmed by a
//! fresh `python3 generate_sweep_configs.py ...` before it is counted.
//! `--fresh-python` runs every case that way.

use anyhow::{bail, Context, Result};
use servebench_pyjson::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The Python original: an InferenceX checkout at 843c6254f (holding
    /// utils/matrix_logic/generate_sweep_configs.py) or that script itself.
    /// Needs PyYAML and pydantic in the interpreter of --python.
    #[arg(long)]
    python_original: PathBuf,
    /// The Python interpreter for the original
    #[arg(long, default_value = "python3")]
    python: String,
    /// Number of random cases
    #[arg(long, default_value_t = 1000)]
    cases: u64,
    /// Seed of every random choice (case n of a seed is always the same case)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only this case number (of --seed), e.g. to reproduce one
    #[arg(long)]
    only: Option<u64>,
    /// Directory holding the real nvidia-master.yaml, amd-master.yaml,
    /// runners.yaml of edition 2026-08 (relative to the workspace root)
    #[arg(long, default_value = "../shared/reference/2026-08/configs")]
    configs: PathBuf,
    /// Start a fresh Python process for every case (exact, slower)
    #[arg(long)]
    fresh_python: bool,
}

/// The long-lived interpreter: imports the original once, then runs one
/// request per stdin line (`{"cwd", "args"}`), answering one JSON line
/// (`{"code", "stdout", "stderr"}`) with the script's exit status as the
/// interpreter would have reported it.
const DRIVER: &str = r#"import contextlib, importlib.util, io, json, os, sys, traceback
script = sys.argv[1]
spec = importlib.util.spec_from_file_location("gsc_original", script)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
answer = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    os.chdir(req["cwd"])
    sys.argv = [script] + req["args"]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            mod.main()
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    answer.write(json.dumps({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\n")
    answer.flush()
"#;

// ---------------------------------------------------------------------------
// Randomness

struct Rng(u64);

impl Rng {
    fn for_case(seed: u64, index: u64) -> Rng {
        let mut rng = Rng(seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(index.wrapping_mul(0xBF58_476D_1CE4_E5B9))
            ^ 0x94D0_49BB_1331_11EB);
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

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

    fn pick_str(&mut self, items: &[&str]) -> String {
        (*self.pick(items)).to_owned()
    }
}

// ---------------------------------------------------------------------------
// A YAML tree whose scalars are written verbatim, so that a case can hold
// `tp: "4"`, `dp-attn: yes` or `8.0` exactly as a person might type them.

#[derive(Clone, Debug)]
enum Y {
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    /// A scalar (or a flow collection) as YAML text.
    Raw(String),
}

fn raw(s: &str) -> Y {
    Y::Raw(s.to_owned())
}

fn int(i: i64) -> Y {
    Y::Raw(i.to_string())
}

fn s(text: &str) -> Y {
    Y::Raw(quote(text, false))
}

fn map(entries: Vec<(&str, Y)>) -> Y {
    Y::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

impl Y {
    fn get(&self, key: &str) -> Option<&Y> {
        match self {
            Y::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn set(&mut self, key: &str, value: Y) {
        if let Y::Map(entries) = self {
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key.to_owned(), value)),
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if let Y::Map(entries) = self {
            entries.retain(|(k, _)| k != key);
        }
    }

    fn raw_text(&self) -> Option<&str> {
        match self {
            Y::Raw(t) => Some(t),
            _ => None,
        }
    }
}

/// `from_value` for the parsed reference files.
fn from_value(v: &Value) -> Y {
    match v {
        Value::Null => raw("null"),
        Value::Bool(b) => raw(if *b { "true" } else { "false" }),
        Value::Int(i) => Y::Raw(i.to_string()),
        Value::Float(f) => Y::Raw(format!("{f:?}")),
        Value::Str(t) => Y::Raw(quote(t, false)),
        Value::List(items) => Y::Seq(items.iter().map(from_value).collect()),
        Value::Dict(d) => Y::Map(
            d.iter()
                .map(|(k, v)| (k.to_owned(), from_value(v)))
                .collect(),
        ),
    }
}

const YAML11_WORDS: &[&str] = &[
    "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL",
];

/// A string as a YAML scalar: plain when that surely reads back as the same
/// string, double-quoted (JSON escapes are valid YAML escapes) otherwise.
fn quote(text: &str, flow: bool) -> String {
    let plain = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-+".contains(c) || (c == ':' && !flow))
        && !text.ends_with(':')
        && !YAML11_WORDS.contains(&text);
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
    }
}

fn key_text(k: &str) -> String {
    quote(k, true)
}

/// Block style, with flow style for some small mappings (as the reference
/// configs write search-space entries).
fn emit(y: &Y, rng: &mut Rng) -> String {
    let mut out = String::new();
    emit_block(y, 0, rng, &mut out);
    out
}

fn is_inline(y: &Y) -> bool {
    match y {
        Y::Raw(_) => true,
        Y::Map(e) => e.is_empty(),
        Y::Seq(e) => e.is_empty(),
    }
}

fn inline(y: &Y) -> String {
    match y {
        Y::Raw(t) => t.clone(),
        Y::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", key_text(k), inline(v)))
                .collect();
            if parts.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        Y::Seq(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// Whether a subtree can be written in flow style: its strings were quoted
/// for block context, so only those without `:` qualify.
fn flow_safe(y: &Y) -> bool {
    match y {
        Y::Raw(t) => !t.contains(':') || t.starts_with('"'),
        Y::Map(e) => e.iter().all(|(_, v)| flow_safe(v)),
        Y::Seq(e) => e.iter().all(flow_safe),
    }
}

fn emit_block(y: &Y, indent: usize, rng: &mut Rng, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Raw(_) => {
            out.push_str(&pad);
            out.push_str(&inline(y));
            out.push('\n');
        }
        Y::Map(entries) if entries.is_empty() => {
            out.push_str(&pad);
            out.push_str("{}\n");
        }
        Y::Seq(items) if items.is_empty() => {
            out.push_str(&pad);
            out.push_str("[]\n");
        }
        Y::Map(entries) => {
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(&key_text(k));
                out.push(':');
                if is_inline(v) || (flow_safe(v) && rng.chance(15)) {
                    out.push(' ');
                    out.push_str(&inline(v));
                    out.push('\n');
                } else {
                    out.push('\n');
                    emit_block(v, indent + 2, rng, out);
                }
            }
        }
        Y::Seq(items) => {
            for item in items {
                if is_inline(item)
                    || (matches!(item, Y::Map(_)) && flow_safe(item) && rng.chance(50))
                {
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inline(item));
                    out.push('\n');
                } else {
                    let mut inner = String::new();
                    emit_block(item, indent + 2, rng, &mut inner);
                    // "- " takes the place of the first line's indentation.
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[indent + 2..]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The reference data

struct Reference {
    /// Real master config entries, nvidia then amd, in file order.
    entries: Vec<(String, Y)>,
    runners: Y,
    nvidia: PathBuf,
    amd: PathBuf,
    runners_path: PathBuf,
    labels: Vec<String>,
    /// Labels with hardware metadata (the `cluster:` ones).
    cluster_labels: Vec<String>,
    nodes: Vec<String>,
}

fn load_reference(dir: &Path) -> Result<Reference> {
    let nvidia = dir.join("nvidia-master.yaml");
    let amd = dir.join("amd-master.yaml");
    let runners_path = dir.join("runners.yaml");
    let mut entries = Vec::new();
    for path in [&nvidia, &amd] {
        let v = servebench_yaml::load_file(path).with_context(|| format!("{}", path.display()))?;
        let Value::Dict(d) = v else {
            bail!("{}: not a mapping", path.display());
        };
        for (k, v) in d.iter() {
            entries.push((k.to_owned(), from_value(v)));
        }
    }
    let runners_value = servebench_yaml::load_file(&runners_path)
        .with_context(|| format!("{}", runners_path.display()))?;
    let mut labels = Vec::new();
    let mut nodes = Vec::new();
    let mut cluster_labels = Vec::new();
    if let Some(Value::Dict(l)) = runners_value.as_dict().and_then(|d| d.get("labels")) {
        for (label, list) in l.iter() {
            labels.push(label.to_owned());
            for node in list.as_list().unwrap_or_default() {
                if let Some(n) = node.as_str() {
                    nodes.push(n.to_owned());
                }
            }
        }
    }
    if let Some(Value::Dict(h)) = runners_value.as_dict().and_then(|d| d.get("hardware")) {
        cluster_labels = h.keys().map(str::to_owned).collect();
    }
    if entries.is_empty() || labels.is_empty() {
        bail!("{}: no reference entries or labels", dir.display());
    }
    Ok(Reference {
        entries,
        runners: from_value(&runners_value),
        nvidia,
        amd,
        runners_path,
        labels,
        cluster_labels,
        nodes,
    })
}

// ---------------------------------------------------------------------------
// Synthetic configs

const PREFIXES: &[&str] = &["dsr1", "gptoss", "qwen3.5", "kimik2.5", "m", "dsr1-x"];
const PRECISIONS: &[&str] = &["fp4", "fp8", "bf16"];
const FRAMEWORKS: &[&str] = &["sglang", "vllm", "trt", "dynamo-sglang", "atom"];
const CONCS: &[i64] = &[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512];

fn conc_spec(rng: &mut Rng, entry: &mut Vec<(String, Y)>) {
    if rng.chance(50) {
        let a = *rng.pick(CONCS);
        let b = *rng.pick(CONCS);
        let (lo, hi) = if rng.chance(90) {
            (a.min(b), a.max(b))
        } else {
            (a, b)
        };
        entry.push(("conc-start".into(), int(lo)));
        entry.push(("conc-end".into(), int(hi)));
    } else {
        let n = 1 + rng.below(6);
        let mut list: Vec<i64> = (0..n).map(|_| *rng.pick(CONCS)).collect();
        if rng.chance(60) {
            list.sort_unstable();
            list.dedup();
        }
        entry.push((
            "conc-list".into(),
            Y::Seq(list.into_iter().map(int).collect()),
        ));
    }
}

fn router(rng: &mut Rng) -> Y {
    map(vec![
        (
            "name",
            s(&rng.pick_str(&["sglang-router", "dynamo-router", "vllm-router"])),
        ),
        (
            "version",
            s(&rng.pick_str(&["0.3.2", "1.0", "0.8.1.post1", "abc123"])),
        ),
    ])
}

fn worker(rng: &mut Rng, hardware: Option<&str>, parallel: bool) -> Y {
    let mut w = vec![
        ("num-worker".to_owned(), int(*rng.pick(&[1, 1, 2, 3, 4]))),
        ("tp".to_owned(), int(*rng.pick(&[1, 2, 4, 8]))),
        ("ep".to_owned(), int(*rng.pick(&[1, 1, 2, 4, 8, 16]))),
        (
            "dp-attn".to_owned(),
            raw(if rng.chance(50) { "true" } else { "false" }),
        ),
    ];
    if parallel {
        for k in ["pp", "dcp-size", "pcp-size"] {
            if rng.chance(15) {
                w.push((k.to_owned(), int(*rng.pick(&[1, 1, 2]))));
            }
        }
    }
    if let Some(h) = hardware {
        w.push(("hardware".into(), s(h)));
    }
    if rng.chance(40) {
        let n = rng.below(3);
        w.push((
            "additional-settings".into(),
            Y::Seq(
                (0..n)
                    .map(|i| s(&format!("KEY{i}=v{}", rng.below(9))))
                    .collect(),
            ),
        ));
    }
    rng_shuffle_map(rng, Y::Map(w))
}

fn rng_shuffle_map(rng: &mut Rng, y: Y) -> Y {
    match y {
        Y::Map(mut e) if rng.chance(20) && e.len() > 1 => {
            let i = rng.below(e.len());
            let j = rng.below(e.len());
            e.swap(i, j);
            Y::Map(e)
        }
        other => other,
    }
}

fn single_fixed_entry(rng: &mut Rng) -> Y {
    let mut e: Vec<(String, Y)> = vec![("tp".into(), int(*rng.pick(&[1, 2, 4, 8])))];
    if rng.chance(60) {
        e.push(("ep".into(), int(*rng.pick(&[1, 2, 4, 8]))));
    }
    if rng.chance(40) {
        e.push((
            "dp-attn".into(),
            raw(if rng.chance(50) { "true" } else { "false" }),
        ));
    }
    if rng.chance(35) {
        e.push((
            "spec-decoding".into(),
            s(&rng.pick_str(&["mtp", "draft_model", "none"])),
        ));
    }
    for k in ["pp", "dcp-size", "pcp-size"] {
        if rng.chance(12) {
            e.push((k.into(), int(*rng.pick(&[1, 2, 4]))));
        }
    }
    if rng.chance(10) {
        e.push(("router".into(), router(rng)));
    }
    conc_spec(rng, &mut e);
    rng_shuffle_map(rng, Y::Map(e))
}

fn multi_fixed_entry(rng: &mut Rng, p2p: bool) -> Y {
    let hw = if rng.chance(20) {
        Some(rng.pick_str(&["gb200", "gb300", "b200"]))
    } else {
        None
    };
    let mut e: Vec<(String, Y)> = Vec::new();
    if rng.chance(50) {
        e.push((
            "spec-decoding".into(),
            s(&rng.pick_str(&["mtp", "none", "draft_model"])),
        ));
    }
    e.push(("prefill".into(), worker(rng, hw.as_deref(), true)));
    e.push(("decode".into(), worker(rng, hw.as_deref(), true)));
    if rng.chance(10) {
        e.push(("router".into(), router(rng)));
    }
    if p2p {
        e.push((
            "kv-p2p-transfer".into(),
            s(&rng.pick_str(&["nixl", "mooncake"])),
        ));
    }
    conc_spec(rng, &mut e);
    rng_shuffle_map(rng, Y::Map(e))
}

fn agentic_entry(rng: &mut Rng, multinode: bool, dram_ok: bool, p2p: bool) -> Y {
    let mut e: Vec<(String, Y)> = Vec::new();
    let offload = if dram_ok && rng.chance(50) {
        "dram"
    } else {
        "none"
    };
    if multinode {
        let hw = if rng.chance(20) { Some("gb200") } else { None };
        e.push(("prefill".into(), worker(rng, hw, false)));
        e.push(("decode".into(), worker(rng, hw, false)));
        if rng.chance(70) {
            e.push(("kv-offloading".into(), s(offload)));
        }
        if p2p || rng.chance(5) {
            e.push(("kv-p2p-transfer".into(), s("nixl")));
        }
    } else {
        e.push(("tp".into(), int(*rng.pick(&[1, 2, 4, 8]))));
        if rng.chance(50) {
            e.push(("ep".into(), int(*rng.pick(&[1, 2, 4, 8]))));
        }
        if rng.chance(30) {
            e.push((
                "dp-attn".into(),
                raw(if rng.chance(50) { "true" } else { "false" }),
            ));
        }
        for k in ["pp", "dcp-size", "pcp-size"] {
            if rng.chance(12) {
                e.push((k.into(), int(*rng.pick(&[1, 2]))));
            }
        }
        e.push(("kv-offloading".into(), s(offload)));
    }
    if rng.chance(40) {
        e.push((
            "spec-decoding".into(),
            s(&rng.pick_str(&["mtp", "none", "draft_model"])),
        ));
    }
    if e.iter()
        .any(|(k, v)| k == "kv-offloading" && v.raw_text() == Some("dram"))
    {
        let mut b = vec![(
            "name".to_owned(),
            s(&rng.pick_str(&["hicache", "vllm-simple", "mooncake", "lmcache"])),
        )];
        if rng.chance(40) {
            b.push(("version".into(), s(&rng.pick_str(&["0.3", "1.2.0", "abc"]))));
        }
        e.push(("kv-offload-backend".into(), Y::Map(b)));
    }
    if rng.chance(10) {
        e.push(("router".into(), router(rng)));
    }
    conc_spec(rng, &mut e);
    rng_shuffle_map(rng, Y::Map(e))
}

fn synthetic_entry(rng: &mut Rng, reference: &Reference, n: usize) -> (String, Y) {
    let multinode = rng.chance(35);
    let agentic = rng.chance(35);
    let fixed = !agentic || rng.chance(40);
    let prefix = rng.pick_str(PREFIXES);
    let precision = rng.pick_str(PRECISIONS);
    let framework = rng.pick_str(FRAMEWORKS);
    let runner = if agentic && !reference.cluster_labels.is_empty() && rng.chance(92) {
        rng.pick(&reference.cluster_labels).clone()
    } else if multinode && rng.chance(60) {
        let multi: Vec<&String> = reference
            .labels
            .iter()
            .filter(|l| l.contains("multinode"))
            .collect();
        if multi.is_empty() {
            rng.pick(&reference.labels).clone()
        } else {
            (*rng.pick(&multi)).clone()
        }
    } else {
        rng.pick(&reference.labels).clone()
    };
    let key = format!(
        "{prefix}-{precision}-{}-{framework}-s{n}",
        runner.replace(':', "-")
    );
    let mut top: Vec<(String, Y)> = vec![
        (
            "image".into(),
            s(&format!("org/{framework}:v0.{}", rng.below(20))),
        ),
        ("model".into(), s(&format!("org/{prefix}-model"))),
        ("model-prefix".into(), s(&prefix)),
        ("runner".into(), s(&runner)),
        ("precision".into(), s(&precision)),
        ("framework".into(), s(&framework)),
        (
            "multinode".into(),
            raw(if multinode { "true" } else { "false" }),
        ),
    ];
    let disagg = multinode && rng.chance(60);
    if multinode && (disagg || rng.chance(30)) {
        top.push(("disagg".into(), raw(if disagg { "true" } else { "false" })));
    } else if !multinode && rng.chance(10) {
        top.push(("disagg".into(), raw("false")));
    }
    let top_p2p = multinode && disagg && rng.chance(60);
    if top_p2p || (multinode && rng.chance(10)) {
        top.push(("kv-p2p-transfer".into(), s("nixl")));
    }
    let top_router = rng.chance(10);
    if top_router {
        top.push(("router".into(), router(rng)));
    }
    let mut scenarios: Vec<(String, Y)> = Vec::new();
    if fixed {
        let items = 1 + rng.below(2);
        let mut list = Vec::new();
        for _ in 0..items {
            let (isl, osl) = *rng.pick(&[
                (1024, 1024),
                (8192, 1024),
                (8192, 1024),
                (1024, 8192),
                (2048, 128),
            ]);
            let entries = 1 + rng.below(4);
            let space: Vec<Y> = (0..entries)
                .map(|_| {
                    let mn = if rng.chance(96) {
                        multinode
                    } else {
                        !multinode
                    };
                    if mn {
                        multi_fixed_entry(rng, disagg && !top_p2p)
                    } else {
                        single_fixed_entry(rng)
                    }
                })
                .collect();
            list.push(map(vec![
                ("isl", int(isl)),
                ("osl", int(osl)),
                ("search-space", Y::Seq(space)),
            ]));
        }
        scenarios.push(("fixed-seq-len".into(), Y::Seq(list)));
    }
    if agentic {
        let mut item: Vec<(String, Y)> = Vec::new();
        let dram_ok = rng.chance(80);
        if dram_ok || rng.chance(10) {
            item.push((
                "dram-utilization".into(),
                Y::Raw(rng.pick_str(&["0.8", "0.95", "0.5", "1", "0.333", "0.1", "1.0"])),
            ));
        }
        let entries = 1 + rng.below(3);
        let space: Vec<Y> = (0..entries)
            .map(|_| {
                let mn = if rng.chance(94) {
                    multinode
                } else {
                    !multinode
                };
                agentic_entry(rng, mn, dram_ok, disagg && !top_p2p)
            })
            .collect();
        item.push(("search-space".into(), Y::Seq(space)));
        scenarios.push(("agentic-coding".into(), Y::Seq(vec![Y::Map(item)])));
    }
    if rng.chance(50) {
        scenarios.reverse();
    }
    let mut scenarios = Y::Map(scenarios);
    tidy(rng, &mut scenarios, top_router);
    top.push(("scenarios".into(), scenarios));
    (key, Y::Map(top))
}

/// Mostly-valid synthetic entries: `dcp-size` dividing `tp`, no entry-level
/// `router` beside a top-level one (each kept wrong once in a while).
fn tidy(rng: &mut Rng, y: &mut Y, top_router: bool) {
    match y {
        Y::Map(entries) => {
            let tp = entries
                .iter()
                .find(|(k, _)| k == "tp")
                .and_then(|(_, v)| v.raw_text()?.parse::<i64>().ok());
            let keep = rng.chance(5);
            if top_router && !keep {
                entries.retain(|(k, _)| k != "router");
            }
            for (k, v) in entries.iter_mut() {
                if k == "dcp-size" && !keep {
                    let dcp = v.raw_text().and_then(|t| t.parse::<i64>().ok());
                    if let (Some(tp), Some(dcp)) = (tp, dcp) {
                        if dcp != 0 && tp % dcp != 0 {
                            *v = int(1);
                        }
                    }
                }
                tidy(rng, v, top_router);
            }
        }
        Y::Seq(items) => {
            for item in items {
                tidy(rng, item, top_router);
            }
        }
        Y::Raw(_) => {}
    }
}

// ---------------------------------------------------------------------------
// Mutations

/// Alternative values for a key, as YAML text; some valid, some not.
fn alternatives(key: &str) -> &'static [&'static str] {
    match key {
        "tp" => &[
            "1", "2", "3", "4", "8", "16", "0", "\"4\"", "8.0", "true", "null", "-2",
        ],
        "ep" => &["1", "2", "4", "8", "null", "0", "-1", "\"2\"", "2.0"],
        "pp" | "dcp-size" | "pcp-size" => &[
            "1", "2", "4", "0", "\"2\"", "2.0", "true", "null", "-1", "3",
        ],
        "conc-start" | "conc-end" => &[
            "1", "2", "4", "16", "64", "0", "-4", "\"8\"", "null", "1000", "8.0", "3",
        ],
        "conc-list" => &[
            "[1, 4, 16]",
            "[]",
            "[0, 4]",
            "[64, 16, 16, 1]",
            "null",
            "[8.0, 16]",
            "[\"32\"]",
            "[16]",
            "[1, 2, 4, 8, 16, 32, 64, 128, 256]",
            "[-1]",
            "[3, 17, 33]",
        ],
        "isl" | "osl" => &["1024", "8192", "2048", "\"1024\"", "1024.0", "0", "128"],
        "spec-decoding" => &["mtp", "draft_model", "none", "eagle", "null", "\"\""],
        "dp-attn" => &[
            "true", "false", "yes", "\"true\"", "1", "2", "null", "off", "\"no\"",
        ],
        "kv-offloading" => &["none", "dram", "ssd", "null", "\"\""],
        "dram-utilization" => &[
            "0.5",
            "0.8",
            "1",
            "1.0",
            "0",
            "1.5",
            "\"0.9\"",
            "0.333333",
            "null",
            "0.1",
            "0.7",
            "0.30000000000000004",
            "0.9999999999999999",
            "0.123456789012345",
            "1e-3",
            "true",
        ],
        "multinode" => &["true", "false", "yes", "1", "null", "\"false\"", "0"],
        "disagg" => &["true", "false", "null", "\"true\"", "1"],
        "num-worker" => &["1", "2", "0", "\"1\"", "4", "1.0"],
        "hardware" => &["gb200", "\"\"", "null", "b300", "5"],
        "additional-settings" => &["[\"A=1\"]", "[]", "null", "[1]", "\"A=1\""],
        "kv-p2p-transfer" => &["nixl", "\"\"", "null", "mooncake", "1"],
        "model-prefix" => &["other", "\"\"", "1", "dsr1", "gptoss"],
        "image" | "model" => &["img/x:1", "null", "5", "\"\"", "\"caf\\u00e9:1\""],
        "precision" => &["fp4", "fp8", "bf16", "int4", "4"],
        "framework" => &["sglang", "vllm", "trt", "atom", "null"],
        "router" | "kv-offload-backend" => &[
            "{ name: r, version: \"1.0\" }",
            "{ name: r, version: \"image:abc\" }",
            "{ name: \"\", version: \"1\" }",
            "{ name: r }",
            "null",
            "{ name: r, version: null }",
            "{ name: r, version: \"\" }",
            "{ name: r, version: 1.0 }",
            "{ name: r, extra: 1 }",
            "r",
        ],
        "scenarios" => &["null", "{}", "[]"],
        "fixed-seq-len" | "agentic-coding" => &["null", "[]"],
        "search-space" => &["[]", "null"],
        "runner" => &[
            "nope",
            "h200",
            "\"cluster:b200-dgxc\"",
            "\"cluster:nope\"",
            "mi355x",
            "b200-multinode",
        ],
        _ => &["null", "1", "\"x\"", "[]", "{}"],
    }
}

const EXTRA_KEYS: &[&str] = &[
    "batch-size",
    "foo",
    "seq-len-configs",
    "max-num-tokens",
    "pp",
    "dcp-size",
    "pcp-size",
    "router",
    "kv-p2p-transfer",
    "hardware",
    "eval-conc",
];

/// Collects paths (as index lists) to every mapping in the tree.
fn map_paths(y: &Y, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    match y {
        Y::Map(entries) => {
            out.push(path.clone());
            for (i, (_, v)) in entries.iter().enumerate() {
                path.push(i);
                map_paths(v, path, out);
                path.pop();
            }
        }
        Y::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(i);
                map_paths(v, path, out);
                path.pop();
            }
        }
        Y::Raw(_) => {}
    }
}

fn node_at<'a>(y: &'a mut Y, path: &[usize]) -> Option<&'a mut Y> {
    let Some((first, rest)) = path.split_first() else {
        return Some(y);
    };
    let child = match y {
        Y::Map(entries) => entries.get_mut(*first).map(|(_, v)| v),
        Y::Seq(items) => items.get_mut(*first),
        Y::Raw(_) => None,
    }?;
    node_at(child, rest)
}

/// One random mutation somewhere in an entry; returns what it did.
fn mutate(rng: &mut Rng, entry: &mut Y) -> String {
    let mut paths = Vec::new();
    map_paths(entry, &mut Vec::new(), &mut paths);
    let path = rng.pick(&paths).clone();
    let Some(Y::Map(entries)) = node_at(entry, &path) else {
        return "none".into();
    };
    if entries.is_empty() {
        entries.push(("foo".into(), raw("1")));
        return "added foo".into();
    }
    let i = rng.below(entries.len());
    match rng.below(10) {
        0 => {
            let (k, _) = entries.remove(i);
            format!("removed {k}")
        }
        1 => {
            let k = rng.pick_str(EXTRA_KEYS);
            let v = rng.pick_str(alternatives(&k));
            entries.push((k.clone(), Y::Raw(v.clone())));
            format!("added {k}: {v}")
        }
        2 => {
            // A list value: drop, repeat or empty it.
            let (k, v) = &mut entries[i];
            if let Y::Seq(items) = v {
                match rng.below(3) {
                    0 if !items.is_empty() => {
                        let j = rng.below(items.len());
                        items.remove(j);
                    }
                    1 if !items.is_empty() => {
                        let j = rng.below(items.len());
                        let copy = items[j].clone();
                        items.push(copy);
                    }
                    _ => items.clear(),
                }
                format!("changed list {k}")
            } else {
                let alt = rng.pick_str(alternatives(k));
                *v = Y::Raw(alt.clone());
                format!("{k} = {alt}")
            }
        }
        _ => {
            let (k, v) = &mut entries[i];
            let alt = rng.pick_str(alternatives(k));
            *v = Y::Raw(alt.clone());
            format!("{k} = {alt}")
        }
    }
}

/// Mutations of the runner file.
fn mutate_runners(rng: &mut Rng, runners: &mut Y, reference: &Reference) -> String {
    match rng.below(8) {
        0 => {
            if let Some(Y::Map(h)) = runners.get("hardware").cloned() {
                if !h.is_empty() {
                    let mut h = h;
                    let i = rng.below(h.len());
                    let (k, _) = h.remove(i);
                    runners.set("hardware", Y::Map(h));
                    return format!("runners: removed hardware {k}");
                }
            }
            "runners: unchanged".into()
        }
        1 | 2 => {
            if let Some(Y::Map(mut h)) = runners.get("hardware").cloned() {
                if !h.is_empty() {
                    let i = rng.below(h.len());
                    let field = rng.pick_str(&["available-cpu-dram-mib", "gpus-per-node"]);
                    let alt = rng.pick_str(&[
                        "4", "0", "3", "16", "\"8\"", "4000000", "1000", "-1", "null", "8.0", "2",
                    ]);
                    h[i].1.set(&field, Y::Raw(alt.clone()));
                    let what = format!("runners: {} {field} = {alt}", h[i].0);
                    runners.set("hardware", Y::Map(h));
                    return what;
                }
            }
            "runners: unchanged".into()
        }
        3 => {
            if let Some(Y::Map(mut l)) = runners.get("labels").cloned() {
                if !l.is_empty() {
                    let i = rng.below(l.len());
                    let alt = rng.pick_str(&["[]", "[1]", "null", "x", "[\"only-node_0\"]"]);
                    l[i].1 = Y::Raw(alt.clone());
                    let what = format!("runners: label {} = {alt}", l[i].0);
                    runners.set("labels", Y::Map(l));
                    return what;
                }
            }
            "runners: unchanged".into()
        }
        4 => {
            runners.remove("labels");
            "runners: no labels".into()
        }
        5 => {
            // The 2026-02 flat layout.
            if let Some(l) = runners.get("labels").cloned() {
                *runners = l;
            }
            "runners: flat 2026-02 layout".into()
        }
        6 => {
            runners.set("extra", raw("1"));
            "runners: unknown top-level key".into()
        }
        _ => {
            if let Some(Y::Map(mut l)) = runners.get("labels").cloned() {
                let node = rng.pick(&reference.nodes).clone();
                l.push(("new-label".into(), Y::Seq(vec![s(&node)])));
                runners.set("labels", Y::Map(l));
            }
            "runners: added new-label".into()
        }
    }
}

// ---------------------------------------------------------------------------
// Cases

struct Case {
    /// Files written into the case directory.
    files: Vec<(String, String)>,
    args: Vec<String>,
    notes: Vec<String>,
}

/// What a case's flags can refer to.
#[derive(Default)]
struct Facts {
    keys: Vec<String>,
    prefixes: Vec<String>,
    precisions: Vec<String>,
    frameworks: Vec<String>,
    runners: Vec<String>,
}

fn facts(entries: &[(String, Y)]) -> Facts {
    let mut f = Facts::default();
    let field = |y: &Y, k: &str| {
        y.get(k)
            .and_then(Y::raw_text)
            .map(|t| t.trim_matches('"').to_owned())
    };
    for (k, y) in entries {
        f.keys.push(k.clone());
        if let Some(v) = field(y, "model-prefix") {
            f.prefixes.push(v);
        }
        if let Some(v) = field(y, "precision") {
            f.precisions.push(v);
        }
        if let Some(v) = field(y, "framework") {
            f.frameworks.push(v);
        }
        if let Some(v) = field(y, "runner") {
            f.runners.push(v);
        }
    }
    f
}

fn some_of(rng: &mut Rng, pool: &[String], extra: &[&str]) -> Vec<String> {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| {
            if !pool.is_empty() && rng.chance(85) {
                rng.pick(pool).clone()
            } else {
                rng.pick_str(extra)
            }
        })
        .collect()
}

fn int_text(rng: &mut Rng, values: &[&str]) -> String {
    rng.pick_str(values)
}

fn make_case(rng: &mut Rng, reference: &Reference) -> Case {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut args: Vec<String> = Vec::new();

    // Master configs.
    let kind = rng.below(100);
    let (config_args, entries): (Vec<String>, Vec<(String, Y)>) = if kind < 12 {
        notes.push("configs: the real files".into());
        let mut paths = vec![
            reference.nvidia.display().to_string(),
            reference.amd.display().to_string(),
        ];
        if rng.chance(30) {
            paths.reverse();
        }
        (paths, reference.entries.clone())
    } else {
        let mut entries: Vec<(String, Y)> = Vec::new();
        if kind < 55 {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let (k, y) = rng.pick(&reference.entries).clone();
                if !entries.iter().any(|(e, _)| *e == k) {
                    entries.push((k, y));
                }
            }
            notes.push(format!("configs: {} real entries", entries.len()));
        } else {
            let n = 1 + rng.below(4);
            for i in 0..n {
                entries.push(synthetic_entry(rng, reference, i));
            }
            notes.push(format!("configs: {} synthetic entries", entries.len()));
        }
        let mutations = match rng.below(10) {
            0..=5 => 0,
            6..=7 => 1,
            8 => 2,
            _ => 3,
        };
        for _ in 0..mutations {
            let i = rng.below(entries.len());
            let what = mutate(rng, &mut entries[i].1);
            notes.push(format!("mutation of {}: {what}", entries[i].0));
        }
        // One or two files; sometimes a key in both (a duplicate).
        let split = if entries.len() > 1 && rng.chance(40) {
            1 + rng.below(entries.len() - 1)
        } else {
            entries.len()
        };
        let mut paths = Vec::new();
        for (name, part) in [
            ("a-master.yaml", &entries[..split]),
            ("b-master.yaml", &entries[split..]),
        ] {
            if part.is_empty() {
                continue;
            }
            let mut part = part.to_vec();
            if name == "b-master.yaml" && rng.chance(5) {
                part.push(entries[0].clone());
                notes.push("duplicate key across files".into());
            }
            files.push((name.to_owned(), emit(&Y::Map(part), rng)));
            paths.push(name.to_owned());
        }
        if rng.chance(2) {
            paths.push("missing.yaml".into());
            notes.push("a missing config file".into());
        }
        (paths, entries)
    };
    let f = facts(&entries);

    // Runner file.
    let runner_args: Vec<String> = match rng.below(100) {
        0..=79 => vec![
            "--runner-config".into(),
            reference.runners_path.display().to_string(),
        ],
        80..=89 => {
            let mut r = reference.runners.clone();
            let what = mutate_runners(rng, &mut r, reference);
            notes.push(what);
            files.push(("runners.yaml".into(), emit(&r, rng)));
            vec!["--runner-config".into(), "runners.yaml".into()]
        }
        90..=95 => {
            // The default, configs/runners.yaml in the working directory.
            files.push(("configs/runners.yaml".into(), emit(&reference.runners, rng)));
            notes.push("runner file: the default path".into());
            Vec::new()
        }
        _ => {
            notes.push("runner file: missing".into());
            if rng.chance(50) {
                Vec::new()
            } else {
                vec!["--runner-config".into(), "nope.yaml".into()]
            }
        }
    };

    let full = rng.chance(60);
    if rng.chance(1) {
        args.push("runner-model-sweep".into());
    } else {
        args.push(if full { "full-sweep" } else { "test-config" }.into());
    }
    let mut opts: Vec<Vec<String>> = Vec::new();
    let mut config_opt = vec!["--config-files".to_owned()];
    config_opt.extend(config_args);
    opts.push(config_opt);
    if !runner_args.is_empty() {
        opts.push(runner_args);
    }
    // Evals.
    match rng.below(40) {
        0..=14 => {}
        15..=21 => opts.push(vec!["--no-evals".into()]),
        22..=28 => opts.push(vec!["--evals-only".into()]),
        29..=34 => opts.push(vec!["--all-evals".into()]),
        35..=37 => {
            opts.push(vec!["--evals-only".into()]);
            opts.push(vec!["--all-evals".into()]);
        }
        38 => {
            opts.push(vec!["--no-evals".into()]);
            opts.push(vec!["--all-evals".into()]);
        }
        _ => {
            opts.push(vec!["--no-evals".into()]);
            opts.push(vec!["--evals-only".into()]);
        }
    }
    if rng.chance(20) {
        let mut pool: Vec<String> = Vec::new();
        for n in 0..3 {
            if !reference.nodes.is_empty() {
                let node = rng.pick(&reference.nodes).clone();
                // A substring of a real node name.
                let len = node.len();
                let a = rng.below(len);
                let b = a + 1 + rng.below(len - a);
                pool.push(node.get(a..b).unwrap_or(&node).to_owned());
                if n == 0 {
                    pool.push(node);
                }
            }
        }
        let filter = if rng.chance(80) && !pool.is_empty() {
            rng.pick(&pool).clone()
        } else {
            rng.pick_str(&[
                "cw",
                "dgxc",
                "_0",
                "amd",
                "nope",
                "multinode",
                "cluster",
                "",
            ])
        };
        opts.push(vec!["--runner-node-filter".into(), filter]);
    }
    if rng.chance(25) {
        let mut o = vec!["--scenario-type".to_owned()];
        match rng.below(20) {
            0..=7 => o.push("fixed-seq-len".into()),
            8..=15 => o.push("agentic-coding".into()),
            16..=18 => {
                o.push("agentic-coding".into());
                o.push("fixed-seq-len".into());
            }
            _ => o.push("agentic".into()),
        }
        opts.push(o);
    }
    if rng.chance(20) {
        let mut o = vec!["--seq-lens".to_owned()];
        let n = 1 + rng.below(2);
        for _ in 0..n {
            let bad = rng.chance(5);
            o.push(if bad {
                "1k8k".to_owned()
            } else {
                rng.pick_str(&["1k1k", "8k1k"])
            });
        }
        opts.push(o);
    }
    let ints = [
        "1", "2", "4", "8", "16", "32", "64", "100", "256", "0", "-1", "3",
    ];
    if full {
        if rng.chance(20) {
            let mut o = vec!["--model-prefix".to_owned()];
            o.extend(some_of(
                rng,
                &f.prefixes,
                &["ds", "gpt", "q", "x", "dsr1-fp4"],
            ));
            opts.push(o);
        }
        if rng.chance(15) {
            let mut o = vec!["--precision".to_owned()];
            o.extend(some_of(rng, &f.precisions, &["fp4", "fp8", "int8"]));
            opts.push(o);
        }
        if rng.chance(15) {
            let mut o = vec!["--framework".to_owned()];
            o.extend(some_of(rng, &f.frameworks, &["sglang", "vllm", "nope"]));
            opts.push(o);
        }
        if rng.chance(15) {
            let mut o = vec!["--runner-type".to_owned()];
            let mut pool = f.runners.clone();
            pool.extend(reference.labels.iter().take(3).cloned());
            o.extend(some_of(rng, &pool, &["nope", "h200"]));
            opts.push(o);
        }
        if rng.chance(25) {
            opts.push(vec![
                "--step-size".into(),
                int_text(
                    rng,
                    &[
                        "2", "3", "4", "8", "1", "2", "3", "4", "2", "3", "0", "-2", "2", "3",
                    ],
                ),
            ]);
        }
        let min = rng.chance(25).then(|| int_text(rng, &ints));
        let mut max = rng.chance(25).then(|| int_text(rng, &ints));
        // Mostly min <= max (min > max is a usage error).
        if let (Some(lo), Some(hi)) = (&min, &max) {
            let (lo, hi) = (
                lo.parse::<i64>().unwrap_or(0),
                hi.parse::<i64>().unwrap_or(0),
            );
            if lo > hi && rng.chance(80) {
                max = Some(lo.to_string());
            }
        }
        if let Some(m) = min {
            opts.push(vec!["--min-conc".into(), m]);
        }
        if let Some(m) = max {
            opts.push(vec!["--max-conc".into(), m]);
        }
        if rng.chance(15) {
            opts.push(vec![
                "--max-tp".into(),
                int_text(rng, &["1", "2", "4", "8", "0", "-1"]),
            ]);
        }
        if rng.chance(15) {
            opts.push(vec![
                "--max-ep".into(),
                int_text(rng, &["1", "2", "4", "8", "0", "-1"]),
            ]);
        }
        match rng.below(10) {
            0..=3 => {}
            4..=5 => opts.push(vec!["--single-node".into()]),
            6..=7 => opts.push(vec!["--multi-node".into()]),
            _ => {
                opts.push(vec!["--single-node".into()]);
                opts.push(vec!["--multi-node".into()]);
            }
        }
    } else {
        let mut o = vec!["--config-keys".to_owned()];
        let n = 1 + rng.below(3);
        for _ in 0..n {
            let key = if f.keys.is_empty() {
                "x".to_owned()
            } else {
                rng.pick(&f.keys).clone()
            };
            let value = match rng.below(12) {
                0 => {
                    // A glob from a key's beginning.
                    let cut = key.len().min(1 + rng.below(key.len().max(1)));
                    format!("{}*", key.get(..cut).unwrap_or(&key))
                }
                1 => {
                    let cut = rng.below(key.len().max(1));
                    format!("*{}", key.get(cut..).unwrap_or(&key))
                }
                2 => key.replacen(|c: char| c.is_ascii_digit(), "?", 1),
                3 => rng.pick_str(&[
                    "[d]*",
                    "*-mtp",
                    "*agentic*",
                    "*",
                    "nope*",
                    "[!d]*",
                    "dsr1-fp?-*",
                ]),
                4 if rng.chance(30) => "nope-key".to_owned(),
                _ => key,
            };
            o.push(value);
        }
        opts.push(o);
        if rng.chance(25) {
            let mut o = vec!["--conc".to_owned()];
            let n = 1 + rng.below(4);
            for _ in 0..n {
                o.push(int_text(
                    rng,
                    &["1", "4", "8", "16", "32", "64", "128", "256", "5", "0"],
                ));
            }
            opts.push(o);
        }
    }
    // Option order does not matter to argparse; shuffle some.
    if rng.chance(50) {
        for i in (1..opts.len()).rev() {
            let j = rng.below(i + 1);
            opts.swap(i, j);
        }
    }
    // A misplaced option (usage error), once in a while.
    if rng.chance(2) {
        if full {
            opts.push(vec!["--conc".into(), "4".into()]);
        } else {
            opts.push(vec!["--step-size".into(), "2".into()]);
        }
        notes.push("an option of the other subcommand".into());
    }
    for o in opts {
        args.extend(o);
    }
    Case { files, args, notes }
}

// ---------------------------------------------------------------------------
// Running

struct Ran {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn class(code: Option<i32>) -> &'static str {
    match code {
        Some(0) => "0",
        Some(1) => "1",
        Some(2) => "2",
        _ => "other",
    }
}

struct Driver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Driver {
    fn start(python: &str, driver: &Path, script: &Path) -> Result<Driver> {
        let mut child = Command::new(python)
            .arg(driver)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {python} {}", driver.display()))?;
        let stdin = child.stdin.take().context("driver stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("driver stdout")?);
        Ok(Driver {
            child,
            stdin,
            stdout,
        })
    }

    fn run(&mut self, cwd: &Path, args: &[String]) -> Result<Ran> {
        let request = serde_json::json!({ "cwd": cwd, "args": args });
        writeln!(self.stdin, "{request}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the Python driver exited");
        }
        let answer: serde_json::Value = serde_json::from_str(&line)?;
        let text = |k: &str| {
            answer
                .get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .as_bytes()
                .to_vec()
        };
        Ok(Ran {
            code: answer
                .get("code")
                .and_then(serde_json::Value::as_i64)
                .and_then(|c| i32::try_from(c).ok()),
            stdout: text("stdout"),
            stderr: text("stderr"),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_process(mut command: Command) -> Result<Ran> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    Ok(Ran {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

fn write_files(dir: &Path, case: &Case) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (name, text) in &case.files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}

fn sh_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

struct Setup<'a> {
    args: &'a Args,
    ours: PathBuf,
    script: PathBuf,
}

impl Setup<'_> {
    fn ours(&self, dir: &Path, case: &Case) -> Result<Ran> {
        let mut command = Command::new(&self.ours);
        command
            .args(&case.args)
            .current_dir(dir)
            .env("INFERENCEX_CONTRACT", "2026-08");
        run_process(command)
    }

    fn python_fresh(&self, dir: &Path, case: &Case) -> Result<Ran> {
        let mut command = Command::new(&self.args.python);
        command.arg(&self.script).args(&case.args).current_dir(dir);
        run_process(command)
    }

    fn save(&self, out: &Path, n: u64, case: &Case, py: &Ran, ours: &Ran) -> Result<()> {
        let dir = out.join(n.to_string());
        write_files(&dir, case)?;
        let args: Vec<String> = case.args.iter().map(|a| sh_quote(a)).collect();
        let args = args.join(" ");
        let repro = format!(
            "#!/bin/sh\n# diff-matrix case {n} (seed {seed}): {notes}\n\
             # cargo xtask diff-matrix --python-original {orig} --seed {seed} --only {n}\n\
             cd \"$(dirname \"$0\")\"\n\
             echo '--- python'; {py} {script} {args}; echo \"exit $?\"\n\
             echo '--- servebench'; INFERENCEX_CONTRACT=2026-08 {ours} {args}; echo \"exit $?\"\n",
            seed = self.args.seed,
            notes = case.notes.join("; "),
            orig = sh_quote(&self.args.python_original.display().to_string()),
            py = sh_quote(&self.args.python),
            script = sh_quote(&self.script.display().to_string()),
            ours = sh_quote(&self.ours.display().to_string()),
        );
        std::fs::write(dir.join("repro.sh"), repro)?;
        for (name, ran) in [("python", py), ("ours", ours)] {
            std::fs::write(dir.join(format!("{name}.stdout")), &ran.stdout)?;
            std::fs::write(dir.join(format!("{name}.stderr")), &ran.stderr)?;
            std::fs::write(
                dir.join(format!("{name}.exit")),
                format!("{:?}\n", ran.code),
            )?;
        }
        Ok(())
    }
}

/// The exception line of a Python traceback, cut to its gist: `KeyError`,
/// `ValueError: Master config entry`...
fn failure_kind(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines
        .iter()
        .rposition(|l| l.starts_with(|c: char| c.is_ascii_uppercase()) && l.contains("Error"))
    else {
        return "(no exception line)".to_owned();
    };
    let line = lines[at];
    if line.contains("failed validation") {
        // The pydantic report: the first issue's message.
        if let Some(message) = lines[at..].iter().find(|l| l.starts_with("  ")) {
            let gist: String = message.trim().chars().take(70).collect();
            return format!("validation: {gist}");
        }
    }
    let gist: String = line
        .split(['\'', '('])
        .next()
        .unwrap_or(line)
        .chars()
        .take(60)
        .collect();
    gist.trim_end().to_owned()
}

fn find_script(original: &Path) -> Result<PathBuf> {
    let candidates = [
        original.to_path_buf(),
        original.join("generate_sweep_configs.py"),
        original.join("utils/matrix_logic/generate_sweep_configs.py"),
    ];
    for c in candidates {
        if c.is_file() {
            return Ok(std::fs::canonicalize(&c)?);
        }
    }
    bail!(
        "{}: no utils/matrix_logic/generate_sweep_configs.py there",
        original.display()
    )
}

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let script = find_script(&args.python_original)?;
    let reference = load_reference(&root.join(&args.configs))?;
    let bin = crate::build_release(&["generate_sweep_configs"])?;
    let out = root.join("target/diff-matrix");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    let work = out.join("work");
    std::fs::create_dir_all(&work)?;
    let driver_path = out.join("driver.py");
    std::fs::write(&driver_path, DRIVER)?;
    let setup = Setup {
        args,
        ours: bin.join("generate_sweep_configs"),
        script,
    };
    let mut driver = if args.fresh_python {
        None
    } else {
        Some(Driver::start(&args.python, &driver_path, &setup.script)?)
    };

    let started = Instant::now();
    let mut agree: BTreeMap<String, u64> = BTreeMap::new();
    let mut differ: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut unconfirmed = 0u64;
    // Why the agreeing failures failed (the original's exception), to see
    // what the random inputs exercise.
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let range: Vec<u64> = match args.only {
        Some(n) => vec![n],
        None => (0..args.cases).collect(),
    };
    let total = range.len();
    for (done, n) in range.into_iter().enumerate() {
        let mut rng = Rng::for_case(args.seed, n);
        let case = make_case(&mut rng, &reference);
        write_files(&work, &case)?;
        let ours = setup.ours(&work, &case)?;
        let mut py = match driver.as_mut() {
            Some(d) => d.run(&work, &case.args)?,
            None => setup.python_fresh(&work, &case)?,
        };
        let same = |py: &Ran| {
            class(py.code) == class(ours.code) && (py.code != Some(0) || py.stdout == ours.stdout)
        };
        if !same(&py) && driver.is_some() {
            // Confirm with a fresh interpreter before counting.
            let fresh = setup.python_fresh(&work, &case)?;
            if same(&fresh) {
                unconfirmed += 1;
            }
            py = fresh;
        }
        if same(&py) {
            *agree
                .entry(format!("both exit {}", class(py.code)))
                .or_default() += 1;
            if py.code == Some(1) {
                *failures.entry(failure_kind(&py.stderr)).or_default() += 1;
            }
        } else {
            let kind = if class(py.code) == class(ours.code) {
                "stdout".to_owned()
            } else {
                format!(
                    "exit status: python {} / servebench {}",
                    class(py.code),
                    class(ours.code)
                )
            };
            setup.save(&out, n, &case, &py, &ours)?;
            println!("case {n}: {kind} ({})", case.notes.join("; "));
            differ.entry(kind).or_default().push(n);
        }
        if (done + 1) % 250 == 0 {
            println!(
                "{} of {total} cases, {} differing, {:.0} s",
                done + 1,
                differ.values().map(Vec::len).sum::<usize>(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    let agreeing: u64 = agree.values().sum();
    let differing: usize = differ.values().map(Vec::len).sum();
    println!();
    println!(
        "diff-matrix: {total} cases (seed {}), {agreeing} agreeing, {differing} differing, {:.0} s",
        args.seed,
        started.elapsed().as_secs_f64()
    );
    for (kind, count) in &agree {
        println!("  agree, {kind}: {count}");
    }
    let mut reasons: Vec<(&String, &u64)> = failures.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, count) in reasons.iter().take(10) {
        println!("    exit 1 from {reason}: {count}");
    }
    for (kind, cases) in &differ {
        let list: Vec<String> = cases.iter().take(20).map(u64::to_string).collect();
        println!(
            "  differ, {kind}: {} (cases {}{})",
            cases.len(),
            list.join(", "),
            if cases.len() > 20 { ", ..." } else { "" }
        );
    }
    if unconfirmed > 0 {
        println!("  (a difference of the long-lived interpreter not confirmed by a fresh one: {unconfirmed})");
    }
    if differing > 0 {
        println!("differing cases are under {}", out.display());
        bail!("{differing} of {total} cases differ");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_yaml11_words_strings() {
        assert_eq!(quote("yes", false), "\"yes\"");
        assert_eq!(quote("cluster:b200", false), "cluster:b200");
        assert_eq!(quote("cluster:b200", true), "\"cluster:b200\"");
        assert_eq!(quote("0.8.1", false), "\"0.8.1\"");
        assert_eq!(quote("dsr1", false), "dsr1");
    }

    #[test]
    fn emitted_yaml_reads_back() {
        let mut rng = Rng::for_case(7, 3);
        let y = map(vec![
            (
                "a",
                Y::Seq(vec![map(vec![("tp", int(4)), ("x", s("cluster:a"))])]),
            ),
            ("b", map(vec![("c", Y::Seq(vec![]))])),
        ]);
        let text = emit(&y, &mut rng);
        let v = servebench_yaml::parse(&text).expect("valid YAML");
        let a = v
            .as_dict()
            .and_then(|d| d.get("a"))
            .and_then(Value::as_list);
        assert_eq!(a.map(<[Value]>::len), Some(1));
    }
}
