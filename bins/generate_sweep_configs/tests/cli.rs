//! Drives the real `generate_sweep_configs` binary: output layout, exit
//! statuses, and one-line errors for bad flags, files and YAML (edition
//! 2026-02; edition 2026-08 is `tests/edition_2026_08.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    // These cases are edition 2026-02 (configs/2026-02/master.yaml is that schema).
    Command::new(env!("CARGO_BIN_EXE_generate_sweep_configs"))
        .env("INFERENCEX_CONTRACT", "2026-02")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run generate_sweep_configs")
}

fn run(args: &[&str]) -> Output {
    run_in(&repo(), args)
}

const OURS: [&str; 4] = [
    "--config-files",
    "configs/2026-02/master.yaml",
    "--runner-config",
    "configs/2026-02/runners.yaml",
];

fn with_ours<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(OURS).collect()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

#[track_caller]
fn assert_matrix(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8 stdout");
    assert!(
        stdout.starts_with('[') && stdout.ends_with("]\n"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches('\n').count(),
        1,
        "the matrix must be one line"
    );
    stdout
}

#[track_caller]
fn assert_usage_error(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

/// Exit 1, nothing on stdout, exactly one line on stderr holding `needle`.
#[track_caller]
fn assert_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one error line expected: {stderr}"
    );
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

#[test]
fn our_configs_expand_in_every_mode() {
    for node in ["--single-node", "--multi-node"] {
        assert_matrix(&run(&with_ours(&["full-sweep", node, "--run-evals"])));
    }
    for runner in [
        "sim-h100",
        "sim-h200",
        "sim-b200",
        "sim-mi300x",
        "sim-mi355x",
        "h100",
        "h200",
    ] {
        assert_matrix(&run(&with_ours(&[
            "runner-model-sweep",
            "--single-node",
            "--runner-type",
            runner,
        ])));
    }
    for runner in ["gb200", "h200-multinode-slurm", "mi355x-disagg"] {
        assert_matrix(&run(&with_ours(&[
            "runner-model-sweep",
            "--multi-node",
            "--runner-type",
            runner,
        ])));
    }
    let keys = std::fs::read_to_string(repo().join("configs/2026-02/master.yaml"))
        .expect("read master.yaml");
    let keys: Vec<&str> = keys
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && l.ends_with(':'))
        .map(|l| l.trim_end_matches(':'))
        .collect();
    assert!(keys.len() >= 10, "{keys:?}");
    let mut args = vec!["test-config", "--config-keys"];
    args.extend(&keys);
    let out = assert_matrix(&run(&with_ours(&args)));
    for framework in [
        "sim",
        "vllm",
        "sglang",
        "trt",
        "atom",
        "dynamo-trt",
        "dynamo-sglang",
        "sglang-disagg",
    ] {
        assert!(
            out.contains(&format!(r#""framework": "{framework}""#)),
            "no {framework} example"
        );
    }
}

#[test]
fn output_is_python_json_dumps() {
    let out = assert_matrix(&run(&with_ours(&[
        "test-config",
        "--config-keys",
        "moe-fp4-sim-b200-sim",
        "--conc",
        "4",
    ])));
    let first = out.split("}, {").next().unwrap_or_default();
    assert_eq!(
        first,
        r#"[{"image": "servebench/sim_server:latest", "model": "servebench-sim/moe-671b", "model-prefix": "moe", "precision": "fp4", "framework": "sim", "runner": "sim-b200", "isl": 1024, "osl": 1024, "tp": 4, "conc": 4, "max-model-len": 2248, "ep": 4, "dp-attn": false, "spec-decoding": "none", "exp-name": "moe_1k1k", "disagg": false, "run-eval": false"#
    );
}

#[test]
fn empty_matrix_is_exactly_brackets() {
    let out = run(&with_ours(&[
        "full-sweep",
        "--single-node",
        "--model-prefix",
        "nothing-matches",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[]\n");
    let out = run(&with_ours(&["full-sweep", "--multi-node", "--evals-only"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[]\n");
}

#[test]
fn argparse_spellings_are_accepted() {
    let base = assert_matrix(&run(&with_ours(&[
        "full-sweep",
        "--single-node",
        "--model-prefix",
        "dense8b",
        "--max-conc",
        "4",
    ])));
    for variant in [
        vec![
            "full-sweep",
            "--single-node",
            "--model-prefix=dense8b",
            "--max-conc=4",
        ],
        vec![
            "full-sweep",
            "--single-node",
            "--model-p",
            "dense8b",
            "--max-c",
            " 4 ",
        ],
        vec![
            "full-sweep",
            "--single-node",
            "--model-prefix",
            "x",
            "--model-prefix",
            "dense8b",
            "--max-conc",
            "+4",
        ],
        vec![
            "full-sweep",
            "--max-conc",
            "0_4",
            "--model-prefix",
            "dense8b",
            "--single-node",
            "--single-node",
        ],
    ] {
        assert_eq!(
            assert_matrix(&run(&with_ours(&variant))),
            base,
            "{variant:?}"
        );
    }
    let out = run(&with_ours(&[
        "full-sweep",
        "--single-node",
        "--max-conc",
        "-1",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[]\n",
        "negative numbers are values"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        with_ours(&[]),
        with_ours(&["full-sweep"]),
        with_ours(&["full-sweep", "--single-node", "--multi-node"]),
        with_ours(&["full-sweep", "--single-node", "--run-evals", "--evals-only"]),
        with_ours(&["full-sweep", "--single-node", "--seq-lens", "2k2k"]),
        with_ours(&["full-sweep", "--single-node", "--step-size", "2.5"]),
        with_ours(&["full-sweep", "--single-node", "--bogus"]),
        with_ours(&["runner-model-sweep", "--single-node"]),
        with_ours(&["test-config", "--config-keys", "x", "--conc", "abc"]),
        with_ours(&["test-config"]),
        vec!["full-sweep", "--single-node"],
        vec![
            "--config-files",
            "configs/2026-02/master.yaml",
            "full-sweep",
            "--single-node",
        ],
    ] {
        assert_usage_error(&run(&args));
    }
    let help = run(&["full-sweep", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-conc"));
}

#[test]
fn runtime_errors_are_one_line() {
    assert_error(
        &run(&[
            "full-sweep",
            "--single-node",
            "--config-files",
            "nope.yaml",
            "--runner-config",
            "configs/2026-02/runners.yaml",
        ]),
        "Input file 'nope.yaml' does not exist.",
    );
    assert_error(
        &run(&[
            "full-sweep",
            "--single-node",
            "--config-files",
            "configs/2026-02/master.yaml",
        ]),
        "Runner config file '.github/configs/runners.yaml' does not exist.",
    );
    assert_error(
        &run(&[
            "full-sweep",
            "--single-node",
            "--config-files",
            "configs/2026-02/master.yaml",
            "configs/2026-02/master.yaml",
            "--runner-config",
            "configs/2026-02/runners.yaml",
        ]),
        "Duplicate configuration keys found in 'configs/2026-02/master.yaml': dense70b-fp8-sim-h200-sim,",
    );
    assert_error(
        &run(&with_ours(&[
            "full-sweep",
            "--single-node",
            "--runner-type",
            "tpu",
        ])),
        "Invalid runner type(s): {'tpu'}",
    );
    assert_error(
        &run(&with_ours(&[
            "runner-model-sweep",
            "--single-node",
            "--runner-type",
            "tpu",
        ])),
        "Runner 'tpu' does not exist",
    );
    assert_error(
        &run(&with_ours(&["test-config", "--config-keys", "nope"])),
        "Config key(s) not found: nope.",
    );
    assert_error(
        &run(&with_ours(&[
            "full-sweep",
            "--single-node",
            "--step-size",
            "1",
        ])),
        "never ends (the Python original loops forever)",
    );
}

#[test]
fn bad_config_files_name_file_key_and_field() {
    let dir = scratch("bad-configs");
    let master = std::fs::read_to_string(repo().join("configs/2026-02/master.yaml"))
        .expect("read master.yaml");
    std::fs::copy(
        repo().join("configs/2026-02/runners.yaml"),
        dir.join("runners.yaml"),
    )
    .expect("copy runners");
    let cases: &[(&str, String, &str)] = &[
        ("extra.yaml", master.replacen("  framework: vllm\n", "  framework: vllm\n  owner: me\n", 1), "extra.yaml: Master config entry 'llama70b-fp8-h100-vllm' failed validation: owner: Extra inputs are not permitted"),
        ("tp.yaml", master.replacen("{ tp: 4, conc-start: 4, conc-end: 64 }", "{ tp: four, conc-start: 4, conc-end: 64 }", 1), "'dense70b-fp8-sim-h200-sim' failed validation: seq-len-configs.1.search-space.0.tp: Input should be a valid integer, unable to parse string as an integer, got str 'four'"),
        ("conc.yaml", master.replacen("conc-end: 64 }", "conc-end: 64, conc-list: [1] }", 1), "Cannot specify both"),
        ("list.yaml", "- a\n- b\n".to_owned(), "Config file 'list.yaml' must contain a dictionary, got list"),
        ("empty.yaml", String::new(), "must contain a dictionary, got NoneType"),
        ("star.yaml", "a-*-b:\n  image: x\n".to_owned(), "Wildcard '*' is not allowed in master config keys: 'a-*-b'"),
        ("date.yaml", "k: 2026-02-19\n".to_owned(), "timestamp"),
        ("tabs.yaml", "k:\n\t- a\n".to_owned(), "tabs.yaml: invalid YAML"),
    ];
    for (name, text, needle) in cases {
        std::fs::write(dir.join(name), text).expect("write case");
        assert_error(
            &run_in(
                &dir,
                &[
                    "full-sweep",
                    "--single-node",
                    "--config-files",
                    name,
                    "--runner-config",
                    "runners.yaml",
                ],
            ),
            needle,
        );
    }
    for (text, needle) in [
        (
            "h100: h100_0\n",
            "Runner config entry 'h100' must be a list, got str",
        ),
        (
            "h100: [1]\n",
            "Runner config entry 'h100' must contain only strings",
        ),
        (
            "h100: []\n",
            "Runner config entry 'h100' cannot be an empty list",
        ),
        ("[a]\n", "must be a mapping"),
    ] {
        std::fs::write(dir.join("r.yaml"), text).expect("write runners");
        std::fs::write(dir.join("m.yaml"), "{}\n").expect("write master");
        assert_error(
            &run_in(
                &dir,
                &[
                    "test-config",
                    "--config-keys",
                    "x",
                    "--config-files",
                    "m.yaml",
                    "--runner-config",
                    "r.yaml",
                ],
            ),
            needle,
        );
    }
}

#[test]
fn truncated_and_garbage_yaml_never_panics() {
    let dir = scratch("truncated");
    std::fs::copy(
        repo().join("configs/2026-02/runners.yaml"),
        dir.join("runners.yaml"),
    )
    .expect("copy runners");
    let master =
        std::fs::read(repo().join("configs/2026-02/master.yaml")).expect("read master.yaml");
    let mut cuts: Vec<usize> = (1..40).map(|i| master.len() * i / 40).collect();
    cuts.push(master.len() - 1);
    let mut garbage = master.clone();
    for (i, b) in garbage.iter_mut().enumerate() {
        if i % 97 == 13 {
            let junk = b"{[:&*!|>\"'\t\x00\xff";
            *b = junk[i % junk.len()];
        }
    }
    let inputs: Vec<Vec<u8>> = cuts
        .iter()
        .map(|&c| master[..c].to_vec())
        .chain([
            garbage,
            vec![0xff, 0xfe, 0x00],
            b"\x00\x01\x02binary".to_vec(),
        ])
        .collect();
    for (i, bytes) in inputs.iter().enumerate() {
        std::fs::write(dir.join("m.yaml"), bytes).expect("write case");
        let out = run_in(
            &dir,
            &[
                "full-sweep",
                "--single-node",
                "--config-files",
                "m.yaml",
                "--runner-config",
                "runners.yaml",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "case {i}: {stderr}");
        if out.status.success() {
            // A cut at an entry boundary is still a valid (smaller) config.
            assert_matrix(&out);
        } else {
            assert_error(&out, "m.yaml");
        }
    }
}

#[test]
fn reference_configs_expand() {
    let refs = repo().join("../shared/reference/inferencex/configs");
    assert!(
        refs.is_dir(),
        "expected the shared reference configs at {}",
        refs.display()
    );
    let files = [
        refs.join("nvidia-master.yaml"),
        refs.join("amd-master.yaml"),
    ];
    let runners = refs.join("runners.yaml");
    for node in ["--single-node", "--multi-node"] {
        let mut args = vec!["full-sweep", node, "--run-evals", "--config-files"];
        args.extend(files.iter().map(|f| f.to_str().unwrap_or_default()));
        args.extend(["--runner-config", runners.to_str().unwrap_or_default()]);
        let out = assert_matrix(&run(&args));
        assert!(out.len() > 10_000, "{node}: {} bytes", out.len());
    }
}

#[test]
fn a_reader_that_closed_the_pipe_ends_it_quietly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The read end is closed before the tool starts: every write fails
    // with EPIPE, as `generate_sweep_configs … | head -0` would.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_generate_sweep_configs"))
        .env("INFERENCEX_CONTRACT", "2026-02")
        .args(["full-sweep", "--single-node", "--config-files"])
        .arg(root.join("configs/2026-02/master.yaml"))
        .arg("--runner-config")
        .arg(root.join("configs/2026-02/runners.yaml"))
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
