//! `cargo xtask bench-json`: `json.loads`-compatible parsing of large
//! objects (issue 12, item 11: objects used to parse in quadratic time), and
//! writing them back as `json.dumps` does.
//!
//! Writes objects of 40k, 80k, 160k and 1M keys, a ~100 MB object of result
//! records and a list of many small objects (the small-dict path) under
//! `target/bench-json/`, then times the release build of
//! `servebench-pyjson`'s `parse_file` example on each, Python's `json.loads`
//! on the same text when the interpreter runs, and optionally a `parse_file`
//! built from another revision as a baseline. Only the parse and the write
//! (to a string) are timed, not reading the file; the best of `--runs` is
//! reported.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// Timed parses per file and tool; the best is reported
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// The Python interpreter to compare with (its column is skipped when it
    /// does not start)
    #[arg(long, default_value = "python3")]
    python: String,
    /// A `parse_file` binary built from another revision (e.g. before the
    /// fix), timed once per file as a baseline column
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Files with an object of more keys than this are not given to the
    /// baseline (the quadratic parser needs minutes for 160k keys)
    #[arg(long, default_value_t = 160_000)]
    baseline_max_keys: usize,
}

/// One generated document.
struct Case {
    name: &'static str,
    /// Top-level keys (objects) or items (the list).
    len: usize,
    /// Keys of its largest object, what decides the quadratic parser's time.
    largest_object: usize,
    text: String,
}

/// Prints the time and the top-level length; the read is not timed and the
/// previous value is freed outside the timed part, as in `parse_file`.
const PYTHON_TIMER: &str = "\
import json, sys, time
text = open(sys.argv[1], encoding='utf-8').read()
best = best_write = float('inf')
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    o = json.loads(text)
    best = min(best, time.perf_counter() - t)
    t = time.perf_counter()
    s = json.dumps(o)
    best_write = min(best_write, time.perf_counter() - t)
    n = len(o)
    del o, s
print(n, best, best_write)
";

pub fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "servebench-pyjson"])
        .args(["--example", "parse_file"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building servebench-pyjson's parse_file example failed");
    }
    let ours = root.join("target/release/examples/parse_file");
    let python = Command::new(&args.python)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        println!("{} does not start: no Python column", args.python);
    }
    let dir = root.join("target/bench-json");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut table = vec![[
        "object".to_owned(),
        "keys".to_owned(),
        "bytes".to_owned(),
        "servebench (s)".to_owned(),
        "python (s)".to_owned(),
        "baseline (s)".to_owned(),
        "write: servebench (s)".to_owned(),
        "python (s)".to_owned(),
        "baseline (s)".to_owned(),
    ]];
    for case in cases() {
        let path = dir.join(format!("{}.json", case.name));
        std::fs::write(&path, &case.text).with_context(|| format!("writing {}", path.display()))?;
        let bytes = case.text.len();
        let expected = case.len;
        drop(case.text);
        let runs = args.runs.max(1).to_string();
        let seconds = |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{s:.3}"));
        let ours_s = time(Command::new(&ours).arg(&path).arg(&runs), expected)?;
        let python_s = if python {
            let mut cmd = Command::new(&args.python);
            cmd.args(["-c", PYTHON_TIMER]).arg(&path).arg(&runs);
            Some(time(&mut cmd, expected)?)
        } else {
            None
        };
        let baseline_s = match &args.baseline {
            Some(bin) if case.largest_object <= args.baseline_max_keys => {
                Some(time(Command::new(bin).arg(&path).arg("1"), expected)?)
            }
            _ => None,
        };
        let row = [
            case.name.to_owned(),
            expected.to_string(),
            bytes.to_string(),
            seconds(Some(ours_s.0)),
            seconds(python_s.map(|t| t.0)),
            seconds(baseline_s.map(|t| t.0)),
            seconds(ours_s.1),
            seconds(python_s.and_then(|t| t.1)),
            seconds(baseline_s.and_then(|t| t.1)),
        ];
        println!("{}", row.join("  "));
        table.push(row);
    }
    println!();
    print_table(&table);
    Ok(())
}

/// Runs a timer (`parse_file` or [`PYTHON_TIMER`]) and returns its parse
/// and write seconds (none from a timer of an older revision that only
/// parses), after checking it saw the expected top-level length.
fn time(cmd: &mut Command, expected: usize) -> Result<(f64, Option<f64>)> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut fields = stdout.split_whitespace();
    let (Some(len), Some(seconds)) = (fields.next(), fields.next()) else {
        bail!("{cmd:?} printed {stdout:?}, not `<length> <seconds>`");
    };
    let len: usize = len.parse().with_context(|| format!("length {len:?}"))?;
    if len != expected {
        bail!("{cmd:?} read {len} top-level entries, not {expected}");
    }
    let parse = seconds
        .parse()
        .with_context(|| format!("seconds {seconds:?}"))?;
    let write = match fields.next() {
        Some(w) => Some(w.parse().with_context(|| format!("seconds {w:?}"))?),
        None => None,
    };
    Ok((parse, write))
}

/// The documents, in table order. (`write!` into a `String` cannot fail,
/// hence the ignored results.)
fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [40_000, 80_000, 160_000, 1_000_000]
        .into_iter()
        .map(|keys| Case {
            name: match keys {
                40_000 => "object-40k",
                80_000 => "object-80k",
                160_000 => "object-160k",
                _ => "object-1m",
            },
            len: keys,
            largest_object: keys,
            text: object(keys, |out, i| {
                let _ = write!(out, "{i}");
            }),
        })
        .collect();
    // Result records, as a tool might key them by request, up to ~100 MB.
    let record = |out: &mut String, i: usize| {
        let _ = write!(
            out,
            "{{\"ttft_ms\": {}.25, \"output_tokens\": {}, \"itl_ms\": [8.5, 9.25, {}.75], \"ok\": true}}",
            i % 1000,
            i % 4096,
            i % 10
        );
    };
    let (text, keys) = object_of_size(100_000_000, record);
    cases.push(Case {
        name: "records-100mb",
        len: keys,
        largest_object: keys,
        text,
    });
    // Many 8-key objects: the dicts that stay below the index threshold.
    let items = 200_000;
    let mut text = String::from("[");
    for i in 0..items {
        if i > 0 {
            text.push_str(", ");
        }
        text.push('{');
        for k in 0..8 {
            if k > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "\"field{k}\": {}", i + k);
        }
        text.push('}');
    }
    text.push(']');
    cases.push(Case {
        name: "list-200k-of-8-keys",
        len: items,
        largest_object: 8,
        text,
    });
    cases
}

/// `{"key-0": v0, "key-1": v1, ...}` with `n` distinct keys.
fn object(n: usize, value: impl Fn(&mut String, usize)) -> String {
    let mut out = String::from("{");
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"key-{i}\": ");
        value(&mut out, i);
    }
    out.push('}');
    out
}

/// Like [`object`], with as many keys as it takes to pass `bytes`; returns
/// the text and its key count.
fn object_of_size(bytes: usize, value: impl Fn(&mut String, usize)) -> (String, usize) {
    let mut out = String::from("{");
    let mut n = 0;
    while out.len() < bytes {
        if n > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"key-{n}\": ");
        value(&mut out, n);
        n += 1;
    }
    out.push('}');
    (out, n)
}

/// A Markdown table, columns padded to their widest cell.
fn print_table(rows: &[[String; 9]]) {
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c == 0 {
                    format!(" {cell:<w$} ")
                } else {
                    format!(" {cell:>w$} ")
                }
            })
            .collect();
        println!("|{}|", cells.join("|"));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
            println!("|{}|", rule.join("|"));
        }
    }
}
