//! The library on small packages built here: valid single-node telemetry,
//! the reasons of a broken one, and the agg patch.

use servebench_power::{run_single_node, SingleNode};
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("servebench-power-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const BENCH: &str = r#"{"duration": 10.0, "benchmark_start_time_unix": 1000.0,
 "benchmark_end_time_unix": 1010.0, "completed": 10, "total_input_tokens": 100,
 "total_output_tokens": 50}"#;

fn csv(rows: impl Iterator<Item = (i32, u32, f64)>) -> String {
    let mut s = String::from("timestamp,gpu,socket_power,power_management\n");
    for (t, g, p) in rows {
        s.push_str(&format!("{t},{g},{p},ENABLED\n"));
    }
    s
}

#[test]
fn valid_telemetry_patches_the_agg_file() {
    let d = dir("valid");
    let rows = (998..=1012).flat_map(|t| (0..2).map(move |g| (t, g, 100.0 + g as f64)));
    std::fs::write(d.join("m.csv"), csv(rows)).unwrap();
    std::fs::write(d.join("bench.json"), BENCH).unwrap();
    std::fs::write(d.join("agg.json"), r#"{"hw": "x", "avg_power_w": 1}"#).unwrap();
    let req = SingleNode {
        csv: d.join("m.csv"),
        bench_result: d.join("bench.json"),
        agg_result: d.join("agg.json"),
        expected_num_gpus: 2,
        validation_result: None,
    };
    let report = run_single_node(&req).unwrap();
    assert!(report.power_valid, "{:?}", report.reasons);
    assert_eq!(report.exit_status(true), 0);
    let line = report.stdout_line.unwrap();
    assert!(
        line.starts_with("[aggregate_power] avg_power_w=100.50 avg_total_gpu_power_w=201.00 total_gpu_energy_j=2010.00 (n=2) -> "),
        "{line}"
    );
    let agg = std::fs::read_to_string(d.join("agg.json")).unwrap();
    assert!(agg.starts_with("{\n  \"hw\": \"x\",\n  \"power_metric_schema_version\": 2,\n  \"power_valid\": 1,\n  \"avg_power_w\": 100.5,"), "{agg}");
    assert!(d.join("power_validation_bench.json").is_file());
}

#[test]
fn reasons_come_in_order_and_require_power_fails() {
    let d = dir("invalid");
    // Starts after the window start; GPU 1 has a 5 s hole.
    let rows = (1001..=1012)
        .flat_map(|t| (0..2).map(move |g| (t, g, 100.0)))
        .filter(|(t, g, _)| !(*g == 1 && (1004..1009).contains(t)));
    std::fs::write(d.join("m.csv"), csv(rows)).unwrap();
    std::fs::write(
        d.join("bench.json"),
        BENCH.replace("\"completed\": 10", "\"completed\": 10.0"),
    )
    .unwrap();
    let req = SingleNode {
        csv: d.join("m.csv"),
        bench_result: d.join("bench.json"),
        agg_result: d.join("missing.json"),
        expected_num_gpus: 3,
        validation_result: Some(d.join("out/v.json")),
    };
    let report = run_single_node(&req).unwrap();
    assert_eq!(
        report.reasons,
        [
            "invalid_successful_query_count",
            "expected_gpu_count_mismatch",
            "benchmark_window_not_bracketed",
            "aggregate_result_missing"
        ]
    );
    assert_eq!(report.exit_status(true), 1);
    assert_eq!(report.exit_status(false), 0);
    assert!(d.join("out/v.json").is_file());
}
