//! Times [`servebench_pyjson::from_str`] and [`servebench_pyjson::to_string`]
//! on one file: the timer behind `cargo xtask bench-json`, which builds it in
//! release. Reading the file is not timed, nor is freeing the value, so the
//! figures compare with Python's `json.loads` and `json.dumps` on the same
//! text.
//!
//! Usage: `parse_file <path> [runs]`; prints the document's top-level length
//! (keys or items), the best parse time and the best write time of `runs`
//! in seconds.

use std::io::Write;
use std::time::Instant;

use servebench_pyjson::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: parse_file <path> [runs]")?;
    let runs: u32 = args.next().map_or(Ok(1), |r| r.parse())?;
    let text = std::fs::read_to_string(&path)?;
    let mut best = f64::INFINITY;
    let mut best_write = f64::INFINITY;
    let mut len = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let value = servebench_pyjson::from_str(&text)?;
        best = best.min(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let written = servebench_pyjson::to_string(&value);
        best_write = best_write.min(start.elapsed().as_secs_f64());
        drop(written);
        len = match &value {
            Value::Dict(d) => d.len(),
            Value::List(l) => l.len(),
            _ => 1,
        };
        drop(value);
    }
    writeln!(std::io::stdout(), "{len} {best} {best_write}")?;
    Ok(())
}
