//! `profile_export_aiperf.csv`: the aggregate as aiperf 0.13.0 lays it out
//! (not read by InferenceX). A first table of distribution metrics
//! (`Metric,avg,min,max,sum,p1,...,p99,std`), a blank line, then a
//! `Metric,Value` table of scalars; rows sorted by display name, numbers
//! with two decimals, missing statistics empty.

use serde_json::{Map, Value};

/// aiperf's display header of a metric (without the unit).
fn header(name: &str) -> String {
    let known = match name {
        "request_latency" => "Request Latency",
        "time_to_first_token" => "Time to First Token",
        "time_to_second_token" => "Time to Second Token",
        "time_to_first_output_token" => "Time to First Output Token",
        "inter_token_latency" => "Inter Token Latency",
        "full_response_inter_token_latency" => "Full Response Inter Token Latency",
        "inter_chunk_latency" => "Inter Chunk Latency",
        "output_token_throughput_per_user" => "Output Token Throughput Per User",
        "output_sequence_length" => "Output Sequence Length",
        "input_sequence_length" => "Input Sequence Length",
        "output_token_count" => "Output Token Count",
        "usage_total_tokens" => "Usage Total Tokens",
        "usage_prompt_tokens" => "Usage Prompt Tokens",
        "usage_completion_tokens" => "Usage Completion Tokens",
        "http_req_duration" => "HTTP Duration (excl. conn)",
        "http_req_receiving" => "HTTP Receiving",
        "http_req_waiting" => "HTTP Waiting (TTFB)",
        "http_req_data_received" => "HTTP Data Received",
        "http_req_data_sent" => "HTTP Data Sent",
        "e2e_output_token_throughput" => "E2E Output Token Throughput",
        "prefill_throughput_per_user" => "Prefill Throughput Per User",
        "decode_duration" => "Decode Duration",
        "osl_mismatch_diff_pct" => "OSL Mismatch Diff %",
        "credit_to_start_latency" => "Credit-to-Start Latency",
        "effective_latency" => "Effective Latency (CO-aware)",
        "request_throughput" => "Request Throughput",
        "request_count" => "Request Count",
        "error_request_count" => "Error Request Count",
        "output_token_throughput" => "Output Token Throughput",
        "total_output_tokens" => "Total Output Tokens",
        "benchmark_duration" => "Benchmark Duration",
        "total_isl" => "Total Input Sequence Length",
        "total_osl" => "Total Output Sequence Length",
        "osl_mismatch_count" => "OSL Mismatch Count",
        "total_usage_total_tokens" => "Total Usage Total Tokens",
        "total_usage_prompt_tokens" => "Total Usage Prompt Tokens",
        "total_usage_completion_tokens" => "Total Usage Completion Tokens",
        "completed_request_count" => "Completed Requests (Success + Error)",
        "request_error_rate" => "Request Error Rate",
        "input_token_throughput" => "Input Token Throughput",
        "total_token_throughput" => "Total Token Throughput",
        "theoretical_prefix_cache_hit" => "Theoretical Prefix Cache Hit",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    // Unknown names: words capitalised, as aiperf's defaults read.
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Header (unit)`; counts of requests or chunks carry no unit.
fn display(name: &str, unit: &str) -> String {
    let h = header(name);
    if unit.is_empty() || unit == "requests" || unit == "count" {
        h
    } else {
        format!("{h} ({unit})")
    }
}

fn cell(block: &Map<String, Value>, key: &str) -> String {
    block
        .get(key)
        .and_then(Value::as_f64)
        .map(|v| format!("{v:.2}"))
        .unwrap_or_default()
}

/// A name containing a comma or quote is quoted, as Python's csv module does.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The CSV text of an aggregate object.
pub(super) fn render(agg: &Value) -> String {
    let mut dist: Vec<(String, &Map<String, Value>)> = Vec::new();
    let mut scalars: Vec<(String, &Map<String, Value>)> = Vec::new();
    if let Some(obj) = agg.as_object() {
        for (name, v) in obj {
            let Some(block) = v.as_object() else {
                continue;
            };
            let Some(unit) = block.get("unit").and_then(Value::as_str) else {
                continue;
            };
            let label = display(name, unit);
            if block.contains_key("p50") {
                dist.push((label, block));
            } else if block.contains_key("avg") {
                scalars.push((label, block));
            }
        }
    }
    dist.sort_by(|a, b| a.0.cmp(&b.0));
    scalars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from("Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std\n");
    for (label, block) in &dist {
        let cells: Vec<String> = [
            "avg", "min", "max", "sum", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95",
            "p99", "std",
        ]
        .iter()
        .map(|k| cell(block, k))
        .collect();
        out.push_str(&field(label));
        out.push(',');
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.push_str("\nMetric,Value\n");
    for (label, block) in &scalars {
        out.push_str(&field(label));
        out.push(',');
        out.push_str(&cell(block, "avg"));
        out.push('\n');
    }
    out
}
