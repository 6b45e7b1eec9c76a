//! Scale-out: the same sweep spread over machines.
//!
//! * GitHub Actions: the matrix JSON a `strategy.matrix` consumes, exactly
//!   what `generate_sweep_configs` prints for the same selection.
//! * Slurm: a job-array script, one matrix entry per array task, each task
//!   running `cargo xtask sweep ... --entry-index $SLURM_ARRAY_TASK_ID` (the
//!   same binaries, the same per-entry steps); a last step
//!   (`--report-only`) collects, summarizes and writes the report.

use servebench_contract::Edition;
use servebench_matrix::MatrixEntry;

/// `generate_sweep_configs`' stdout for this matrix.
pub(crate) fn github_matrix(matrix: &[MatrixEntry]) -> String {
    format!("{}\n", servebench_matrix::matrix_json(matrix))
}

/// What the Slurm script needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlurmJob {
    pub run_id: String,
    /// The contract edition the matrix was expanded in: every task is run
    /// under the same `INFERENCEX_CONTRACT`, so it expands the same matrix.
    pub edition: Edition,
    /// Number of matrix entries (array tasks `0..entries`).
    pub entries: usize,
    /// The repository the tasks run in (shared between nodes).
    pub repo_dir: String,
    /// The run's output directory (shared between nodes).
    pub out_dir: String,
    /// The sweep's own arguments (selection, server, settings), so every
    /// task expands the same matrix; `--run-id` is added here.
    pub sweep_args: Vec<String>,
}

/// The sweep's own arguments (after the program name) without `--emit` and
/// `--run-id` and their values: what every array task repeats to expand
/// the same matrix ([`Action::Slurm`](crate::Action::Slurm)`::sweep_args`).
pub fn selection_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for arg in args {
        if skip {
            skip = false;
            continue;
        }
        if arg == "--emit" || arg == "--run-id" {
            skip = true;
            continue;
        }
        if arg.starts_with("--emit=") || arg.starts_with("--run-id=") {
            continue;
        }
        out.push(arg);
    }
    out
}

/// Quotes a word for POSIX sh.
pub(crate) fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A Slurm job-array script (`sbatch` it).
pub(crate) fn slurm_script(job: &SlurmJob) -> String {
    let mut args: Vec<String> = job.sweep_args.iter().map(|a| sh_quote(a)).collect();
    args.extend(["--run-id".to_owned(), sh_quote(&job.run_id)]);
    let args = args.join(" ");
    let last = job.entries.saturating_sub(1);
    let repo = sh_quote(&job.repo_dir);
    format!(
        r#"#!/bin/bash
# servebench sweep {run_id}: {n} matrix entries, one per array task.
#
#   sbatch {out}/sweep.sbatch
#
# Every task runs one entry (server, benchmark_serving, process_result) and
# leaves its files under {out}/runs/. When all tasks have ended, collect,
# summarize and write the report (e.g. as a dependent job):
#
#   sbatch --dependency=afterany:<JOBID> --wrap "cd {repo} && INFERENCEX_CONTRACT={edition} cargo xtask sweep {args} --report-only"
#
# Add the #SBATCH lines your cluster needs (partition, GPUs, time). With
# --server-cmd, each task starts the real server on its own node.
#SBATCH --job-name=servebench-{run_id}
#SBATCH --array=0-{last}
#SBATCH --output={out}/slurm-%A_%a.log
set -euo pipefail
export INFERENCEX_CONTRACT={edition}
cd {repo}
${{SERVEBENCH_XTASK:-cargo xtask}} sweep {args} --entry-index "$SLURM_ARRAY_TASK_ID"
"#,
        run_id = job.run_id,
        edition = job.edition,
        n = job.entries,
        out = job.out_dir,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("--max-conc"), "--max-conc");
        assert_eq!(sh_quote("vllm serve {model}"), "'vllm serve {model}'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn selection_args_drop_emit_and_run_id() {
        let args = [
            "--max-conc",
            "4",
            "--emit",
            "slurm",
            "--run-id=r1",
            "--run-id",
            "r2",
        ];
        let kept = selection_args(args.iter().map(|s| (*s).to_owned()));
        assert_eq!(kept, ["--max-conc", "4"]);
    }

    #[test]
    fn slurm_script_runs_one_entry_per_task() {
        let s = slurm_script(&SlurmJob {
            run_id: "r1".into(),
            edition: Edition::E2026_02,
            entries: 3,
            repo_dir: "/src/servebench".into(),
            out_dir: "/src/servebench/results/r1".into(),
            sweep_args: vec![
                "--max-conc".into(),
                "4".into(),
                "--server-cmd".into(),
                "vllm serve {model} --port {port}".into(),
            ],
        });
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains("#SBATCH --array=0-2\n"));
        assert!(s.contains(
            "sweep --max-conc 4 --server-cmd 'vllm serve {model} --port {port}' --run-id r1 --entry-index \"$SLURM_ARRAY_TASK_ID\"\n"
        ));
        assert!(s.contains("--report-only"));
        // Every task expands the matrix in the same edition.
        assert!(s.contains("\nexport INFERENCEX_CONTRACT=2026-02\ncd /src/servebench\n"));
        assert!(s.contains("INFERENCEX_CONTRACT=2026-02 cargo xtask sweep"));
    }
}
