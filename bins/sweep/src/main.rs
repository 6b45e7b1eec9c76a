//! `sweep`: the whole InferenceX benchmark on this machine. Expands the
//! master config (the same filters as `generate_sweep_configs`), then per
//! entry starts a server, runs `benchmark_serving` and `process_result`;
//! then `collect_results`, `summarize` and the report. `--emit` prints the
//! GitHub matrix or writes a Slurm job-array script instead. The work is
//! `servebench_sweep::execute`; this file parses flags, reads
//! `INFERENCEX_CONTRACT` (the edition: 2026-08 by default, configs/;
//! 2026-02: configs/2026-02/) and prints.

mod args;

use clap::Parser;
use servebench_cli::error_chain as chain;
use servebench_sweep::{execute, EntryStatus, Outcome};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "Error: {}", chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args = args::Args::parse();
    // The contract edition, read once: it picks the config schema, the
    // default configs and the generator (the library takes it as data).
    let edition = servebench_contract::Edition::from_env()?;
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cmd = args.into_command(edition, std::env::current_dir()?, argv);
    let mut stderr = std::io::stderr();
    let mut stdout = std::io::stdout().lock();
    match execute(&cmd, &mut stderr)? {
        Outcome::GithubMatrix(json) => servebench_cli::print(json.as_bytes())?,
        Outcome::Slurm { script, entries } => {
            writeln!(stdout, "{}", script.display())?;
            writeln!(
                stderr,
                "{entries} entries; submit with: sbatch {}",
                script.display()
            )?;
        }
        Outcome::Entry(record) => {
            writeln!(stderr, "{}: {:?}", record.name, record.status)?;
            if record.status != EntryStatus::Ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Outcome::Sweep(outcome) => {
            stdout.write_all(outcome.summary.as_bytes())?;
            stdout.flush()?;
            let failed = outcome.failed();
            if failed > 0 {
                writeln!(
                    stderr,
                    "{failed} entries failed (see the report and runs/<name>/*.log)"
                )?;
                return Ok(ExitCode::from(u8::try_from(failed).unwrap_or(255)));
            }
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
