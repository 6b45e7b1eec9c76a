//! `aggregate_power_multinode`: the srt-slurm DCGM power package v1 (§5).

use crate::bench::{self, Benchmark};
use crate::integrate;
use crate::py::{self, path_str, repr, str_repr};
use crate::{AggState, Evaluation, PowerError, INTEGRATION_METHOD};
use servebench_pyjson::{eq, parse_float, parse_int, Dict, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_GAP: f64 = 3.0;
const ROLES: [&str; 3] = ["prefill", "decode", "agg"];
const HEADER: [&str; 7] = [
    "schema_version",
    "timestamp_unix",
    "scrape_seq",
    "hostname",
    "gpu_index",
    "gpu_uuid",
    "power_w",
];
const ALL_KEYS: [&str; 13] = [
    "avg_power_w",
    "avg_total_gpu_power_w",
    "total_gpu_energy_j",
    "joules_per_successful_query",
    "joules_per_input_token",
    "joules_per_output_token",
    "joules_per_total_token",
    "prefill_gpu_energy_j",
    "decode_gpu_energy_j",
    "prefill_avg_power_w",
    "decode_avg_power_w",
    "prefill_joules_per_input_token",
    "decode_joules_per_output_token",
];

/// What `aggregate_power_multinode` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multinode {
    /// The package directory (`--power-dir`).
    pub power_dir: PathBuf,
    /// Where window `result_path`s resolve (`--logs-root`).
    pub logs_root: PathBuf,
    /// The bench result (`--bench-result`).
    pub bench_result: PathBuf,
    /// The agg file (`--agg-result`).
    pub agg_result: PathBuf,
    /// `--prefill-gpus`.
    pub prefill_gpus: i128,
    /// `--decode-gpus`.
    pub decode_gpus: i128,
    /// `--expected-producer-sha` (`None` or empty: no pin).
    pub expected_producer_sha: Option<String>,
    /// `--validation-result`; `None`: next to the bench result.
    pub validation_result: Option<PathBuf>,
}

type Key = (String, i128);

struct Assignment {
    role: String,
    het_group: Option<i128>,
}

struct ExpectedDevice {
    key: Key,
    assignments: Vec<Assignment>,
}

#[derive(Clone)]
struct Row {
    t: f64,
    seq: i128,
    host: String,
    gpu: i128,
    uuid: String,
    power: f64,
}

struct Observed {
    key: Key,
    uuids: Vec<String>,
    first: f64,
    last: f64,
    times: Vec<f64>,
}

#[derive(Clone)]
struct Window {
    relative: String,
    btype: String,
    concurrency: i128,
    result_path: String,
    status: String,
    start: f64,
    end: Option<f64>,
    duration: Option<f64>,
}

/// Python's `repr` of an exception with one message.
fn exc_repr(class: &str, msg: &str) -> String {
    format!("{class}({})", str_repr(msg))
}

fn whole(v: Option<&Value>, label: &str, min: i128, key: &str) -> Result<i128, String> {
    let v = v.ok_or_else(|| format!("KeyError({})", str_repr(key)))?;
    match v {
        Value::Int(i) if *i >= min => Ok(*i),
        other => Err(exc_repr(
            "ValueError",
            &format!("{label} is not an integer >= {min}: {}", repr(other)),
        )),
    }
}

/// `entry["key"]` on a JSON value.
fn index<'a>(v: &'a Value, key: &str) -> Result<Option<&'a Value>, String> {
    match v {
        Value::Dict(d) => Ok(d.get(key)),
        Value::List(_) => Err(exc_repr(
            "TypeError",
            "list indices must be integers or slices, not str",
        )),
        Value::Str(_) => Err(exc_repr(
            "TypeError",
            "string indices must be integers, not 'str'",
        )),
        other => Err(exc_repr(
            "TypeError",
            &format!("'{}' object is not subscriptable", other.type_name()),
        )),
    }
}

fn getattr_err(v: &Value) -> String {
    exc_repr(
        "AttributeError",
        &format!("'{}' object has no attribute 'get'", v.type_name()),
    )
}

fn required<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    index(v, key)?.ok_or_else(|| format!("KeyError({})", str_repr(key)))
}

fn text(v: &Value, label: &str) -> Result<String, String> {
    match v {
        Value::Str(s) if !s.is_empty() => Ok(s.clone()),
        other => Err(exc_repr(
            "ValueError",
            &format!("{label} is not a non-empty string: {}", repr(other)),
        )),
    }
}

fn list_or_empty<'a>(m: &'a Dict, key: &str) -> Result<&'a [Value], String> {
    match m.get(key) {
        None => Ok(&[]),
        Some(v) if !v.is_truthy() => Ok(&[]),
        Some(Value::List(l)) => Ok(l),
        Some(other) => Err(exc_repr(
            "TypeError",
            &format!("{key} is not a list: {}", repr(other)),
        )),
    }
}

fn parse_devices(m: &Dict) -> Result<Vec<ExpectedDevice>, String> {
    let mut out = Vec::new();
    for entry in list_or_empty(m, "expected_devices")? {
        let Value::Dict(e) = entry else {
            return Err(getattr_err(entry));
        };
        let raw = match e.get("assignments") {
            Some(v) if v.is_truthy() => v,
            _ => &Value::List(Vec::new()),
        };
        let items = match raw {
            Value::List(l) if !l.is_empty() => l,
            other => {
                return Err(exc_repr(
                    "ValueError",
                    &format!("assignments is not a non-empty list: {}", repr(other)),
                ))
            }
        };
        let mut assignments = Vec::new();
        for a in items {
            let role_v = required(a, "worker_role")?;
            let role = match role_v {
                Value::Str(s) if ROLES.contains(&s.as_str()) => s.clone(),
                other => {
                    return Err(exc_repr(
                        "ValueError",
                        &format!(
                            "worker_role is not one of ('prefill', 'decode', 'agg'): {}",
                            repr(other)
                        ),
                    ))
                }
            };
            whole(
                Some(required(a, "worker_index")?),
                "worker_index",
                0,
                "worker_index",
            )?;
            whole(
                Some(required(a, "worker_process")?),
                "worker_process",
                0,
                "worker_process",
            )?;
            let het = match index(a, "het_group")? {
                None | Some(Value::Null) => None,
                Some(v) => Some(whole(Some(v), "het_group", 0, "het_group")?),
            };
            assignments.push(Assignment {
                role,
                het_group: het,
            });
        }
        let host = text(required(entry, "hostname")?, "hostname")?;
        let gpu = whole(
            Some(required(entry, "gpu_index")?),
            "gpu_index",
            0,
            "gpu_index",
        )?;
        out.push(ExpectedDevice {
            key: (host, gpu),
            assignments,
        });
    }
    Ok(out)
}

fn parse_windows(m: &Dict) -> Result<Vec<(String, i128)>, String> {
    let mut out = Vec::new();
    for entry in list_or_empty(m, "expected_windows")? {
        let t = text(required(entry, "benchmark_type")?, "benchmark_type")?;
        let c = whole(
            Some(required(entry, "concurrency")?),
            "concurrency",
            1,
            "concurrency",
        )?;
        out.push((t, c));
    }
    Ok(out)
}

fn is_finite(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Int(_)) => true,
        Some(Value::Float(f)) => f.is_finite(),
        _ => false,
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v {
        Some(Value::Int(i)) => Some(*i as f64),
        Some(Value::Float(f)) => Some(*f),
        _ => None,
    }
}

fn opt_repr(v: Option<&Value>) -> String {
    v.map_or("None".to_owned(), repr)
}

fn wire_contract(m: &Dict) -> Vec<String> {
    let mut f = Vec::new();
    let expect: [(&str, Value); 6] = [
        ("schema_version", Value::Int(1)),
        ("producer", Value::from("srt-slurm.dcgm-power")),
        ("source_metric", Value::from("DCGM_FI_DEV_POWER_USAGE")),
        ("unit", Value::from("W")),
        (
            "power_scope",
            Value::from("gpu_device_board_as_reported_by_dcgm"),
        ),
        ("timestamp_source", Value::from("head_node_unix_clock")),
    ];
    for (k, want) in expect {
        if !m.get(k).is_some_and(|v| eq(v, &want)) {
            f.push(format!(
                "{k} is {}, expected {}",
                opt_repr(m.get(k)),
                repr(&want)
            ));
        }
    }
    if !m
        .get("status")
        .is_some_and(|v| eq(v, &Value::from("complete")))
    {
        f.push(format!(
            "status is {}, expected 'complete'",
            opt_repr(m.get("status"))
        ));
    }
    if !is_finite(m.get("started_at_unix")) {
        f.push("started_at_unix is not a finite number".into());
    }
    if !is_finite(m.get("stopped_at_unix")) {
        f.push("stopped_at_unix is not finite in a terminal manifest".into());
    }
    for k in ["sample_interval_seconds", "request_timeout_seconds"] {
        if !(is_finite(m.get(k)) && num(m.get(k)).is_some_and(|x| x > 0.0)) {
            f.push(format!("{k} is not finite and positive"));
        }
    }
    for k in ["scrape_count", "sample_row_count"] {
        if !matches!(m.get(k), Some(Value::Int(i)) if *i >= 0) {
            f.push(format!("{k} is not a non-negative integer"));
        }
    }
    let required = m.get("required");
    if !matches!(required, Some(Value::Bool(_))) {
        f.push(format!(
            "required is {}, expected a boolean",
            opt_repr(required)
        ));
    }
    match m.get("reason_codes") {
        Some(Value::List(l)) if l.iter().all(|v| matches!(v, Value::Str(_))) => {
            let mut blocking = vec![
                "exporter_exited",
                "collector_exception",
                "collector_interrupted",
                "collector_join_timeout",
                "benchmark_child_reap_timeout",
            ];
            if matches!(required, Some(Value::Bool(true))) {
                blocking.extend([
                    "exporter_startup_timeout",
                    "exporter_launch_failed",
                    "endpoint_resolution_failed",
                ]);
            }
            let bad: BTreeSet<&str> = l
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| blocking.contains(s))
                .collect();
            if !bad.is_empty() {
                f.push(format!(
                    "complete manifest carries lifecycle-failure reasons: {}",
                    bad.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        _ => f.push("reason_codes is not a list of strings".into()),
    }
    match m.get("dcgm_exporter") {
        Some(Value::Dict(e)) => {
            if !e
                .get("container_image_resolved")
                .is_some_and(Value::is_truthy)
            {
                f.push("dcgm_exporter.container_image_resolved is empty".into());
            }
        }
        _ => f.push("dcgm_exporter is not an object".into()),
    }
    f
}

fn parse_row(raw: &[String]) -> Option<Row> {
    if raw.len() != 7 {
        return None;
    }
    let schema = parse_int(&raw[0])?;
    let t = parse_float(&raw[1])?;
    let seq = parse_int(&raw[2])?;
    let gpu = parse_int(&raw[4])?;
    let power = parse_float(&raw[6])?;
    if schema != 1 || raw[3].is_empty() || raw[5].is_empty() {
        return None;
    }
    if !t.is_finite() || !power.is_finite() || power < 0.0 || seq < 0 || gpu < 0 {
        return None;
    }
    Some(Row {
        t,
        seq,
        host: raw[3].clone(),
        gpu,
        uuid: raw[5].clone(),
        power,
    })
}

fn push_unique(v: &mut Vec<String>, r: &str) {
    if !v.iter().any(|x| x == r) {
        v.push(r.to_owned());
    }
}

fn read_samples(path: &Path) -> (Vec<Row>, Vec<String>) {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return (Vec::new(), vec!["samples_csv_missing".into()]);
    }
    let mut reasons = Vec::new();
    let mut rows = Vec::new();
    let text = servebench_files::read(path, crate::TELEMETRY_LIMIT)
        .map_err(|_| ())
        .and_then(|b| String::from_utf8(b).map_err(|_| ()));
    match text {
        Err(()) => reasons.push("samples_csv_malformed".to_owned()),
        Ok(text) => {
            let records = crate::csv::read(&text, false);
            let mut it = records.rows.into_iter();
            match it.next() {
                Some(h) if h == HEADER => {}
                None if records.error.is_some() => {}
                _ => return (Vec::new(), vec!["samples_csv_header_mismatch".into()]),
            }
            for raw in it {
                match parse_row(&raw) {
                    Some(r) => rows.push(r),
                    None => push_unique(&mut reasons, "samples_csv_malformed"),
                }
            }
            if records.error.is_some() {
                push_unique(&mut reasons, "samples_csv_malformed");
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut unique = Vec::new();
    for r in rows {
        if !seen.insert((r.seq, r.host.clone(), r.gpu)) {
            push_unique(&mut reasons, "duplicate_sample_row");
            continue;
        }
        unique.push(r);
    }
    let mut per: BTreeMap<Key, Vec<&Row>> = BTreeMap::new();
    for r in &unique {
        per.entry((r.host.clone(), r.gpu)).or_default().push(r);
    }
    for rows in per.values_mut() {
        rows.sort_by_key(|r| r.seq);
        if rows.windows(2).any(|w| w[1].t <= w[0].t) {
            push_unique(&mut reasons, "timestamp_non_monotonic");
            break;
        }
    }
    (unique, reasons)
}

fn observed_devices(rows: &[Row]) -> Vec<Observed> {
    let mut per: BTreeMap<Key, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        per.entry((r.host.clone(), r.gpu)).or_default().push(r);
    }
    per.into_iter()
        .map(|(key, mut rs)| {
            rs.sort_by_key(|r| r.seq);
            let mut uuids: Vec<String> = Vec::new();
            for r in &rs {
                if !uuids.contains(&r.uuid) {
                    uuids.push(r.uuid.clone());
                }
            }
            let mut times: Vec<f64> = rs.iter().map(|r| r.t).collect();
            let first = times
                .iter()
                .copied()
                .fold(f64::INFINITY, |a, b| if b < a { b } else { a });
            let last = times
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, |a, b| if b > a { b } else { a });
            times.sort_by(f64::total_cmp);
            Observed {
                key,
                uuids,
                first,
                last,
                times,
            }
        })
        .collect()
}

fn observed_value(o: &Observed) -> Value {
    let mut d = Dict::new();
    d.insert("hostname", Value::from(o.key.0.as_str()));
    d.insert("gpu_index", Value::Int(o.key.1));
    d.insert(
        "gpu_uuids",
        Value::List(o.uuids.iter().map(|u| Value::from(u.as_str())).collect()),
    );
    d.insert("first_sample_time_unix", Value::Float(o.first));
    d.insert("last_sample_time_unix", Value::Float(o.last));
    Value::Dict(d)
}

fn resolve_roles(devs: &[ExpectedDevice]) -> (BTreeMap<Key, String>, Vec<String>) {
    let mut roles = BTreeMap::new();
    for d in devs {
        let distinct: BTreeSet<&str> = d.assignments.iter().map(|a| a.role.as_str()).collect();
        if distinct.len() != 1 {
            return (BTreeMap::new(), vec!["conflicting_worker_roles".into()]);
        }
        roles.insert(
            d.key.clone(),
            distinct.into_iter().next().unwrap_or_default().to_owned(),
        );
    }
    (roles, Vec::new())
}

#[allow(clippy::type_complexity)]
fn resolve_groups(devs: &[ExpectedDevice]) -> (BTreeMap<String, Option<i128>>, Vec<String>) {
    let mut groups: BTreeMap<String, Option<i128>> = BTreeMap::new();
    for d in devs {
        let distinct: BTreeSet<Option<i128>> = d.assignments.iter().map(|a| a.het_group).collect();
        if distinct.len() != 1 {
            return (BTreeMap::new(), vec!["conflicting_het_groups".into()]);
        }
        let g = distinct.into_iter().next().flatten();
        if groups.get(&d.key.0).is_some_and(|x| *x != g) {
            return (BTreeMap::new(), vec!["conflicting_het_groups".into()]);
        }
        groups.insert(d.key.0.clone(), g);
    }
    (groups, Vec::new())
}

fn validate_devices(
    expected: &[ExpectedDevice],
    observed: &[Observed],
) -> (Vec<String>, BTreeMap<Key, String>) {
    let mut reasons = Vec::new();
    let ek: BTreeSet<&Key> = expected.iter().map(|d| &d.key).collect();
    let ok: BTreeSet<&Key> = observed.iter().map(|d| &d.key).collect();
    if ek.is_empty() || ek.iter().any(|k| !ok.contains(k)) {
        reasons.push("expected_device_missing".to_owned());
    }
    if ok.iter().any(|k| !ek.contains(k)) {
        reasons.push("unexpected_device".to_owned());
    }
    if observed.iter().any(|d| d.uuids.len() != 1) {
        reasons.push("gpu_uuid_changed".to_owned());
    } else {
        let set: BTreeSet<&String> = observed.iter().map(|d| &d.uuids[0]).collect();
        if set.len() != observed.len() {
            reasons.push("gpu_uuid_changed".to_owned());
        }
    }
    let (roles, rc) = resolve_roles(expected);
    let (_, gc) = resolve_groups(expected);
    let mut out = Vec::new();
    for r in reasons.into_iter().chain(rc).chain(gc) {
        push_unique(&mut out, &r);
    }
    (out, roles)
}

fn list_str(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| str_repr(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn role_topology(
    devs: &[ExpectedDevice],
    roles: &BTreeMap<Key, String>,
    expected: &BTreeMap<String, i128>,
) -> Vec<String> {
    let mut f = Vec::new();
    let mut counts: BTreeMap<&str, i128> = BTreeMap::new();
    for r in roles.values() {
        *counts.entry(r).or_default() += 1;
    }
    let found: Vec<String> = counts.keys().map(|s| s.to_string()).collect();
    let want: Vec<String> = expected.keys().cloned().collect();
    if found != want {
        f.push(format!(
            "expected roles {}, found {}",
            list_str(&want),
            list_str(&found)
        ));
    }
    for (role, n) in expected {
        let got = counts.get(role.as_str()).copied().unwrap_or(0);
        if got != *n {
            f.push(format!("expected {n} {role} GPUs, found {got}"));
        }
    }
    let (groups, gc) = resolve_groups(devs);
    if !gc.is_empty() {
        f.extend(gc.iter().map(|r| format!("{r} (topology)")));
        return f;
    }
    let mut per_role: BTreeMap<&str, Vec<Option<i128>>> = BTreeMap::new();
    for d in devs {
        if let Some(role) = roles.get(&d.key) {
            let g = groups.get(&d.key.0).copied().flatten();
            let e = per_role.entry(role).or_default();
            if !e.contains(&g) {
                e.push(g);
            }
        }
    }
    let non_het = groups.values().all(Option::is_none);
    let mut assigned = Vec::new();
    for (role, gs) in &per_role {
        if gs.len() != 1 {
            let mut names: Vec<String> = gs
                .iter()
                .map(|g| g.map_or("None".to_owned(), |x| x.to_string()))
                .collect();
            names.sort();
            f.push(format!(
                "role {role} spans het groups [{}], expected exactly one",
                names.join(", ")
            ));
            continue;
        }
        match gs[0] {
            None => {
                if !non_het {
                    f.push(format!(
                        "role {role} has het group None while other devices report real het groups"
                    ));
                }
            }
            Some(g) => assigned.push(g),
        }
    }
    let set: BTreeSet<i128> = assigned.iter().copied().collect();
    if set.len() != assigned.len() {
        f.push("roles share a het group".into());
    }
    f
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes =
        servebench_files::read(path, servebench_files::Limit::RESULT).map_err(|e| e.to_string())?;
    let text = py::decode_utf8(bytes)?;
    servebench_pyjson::from_str(&text).map_err(|e| py::json_error(&text, &e))
}

/// `os.path.realpath` (non-strict): symlinks of the existing prefix
/// resolved, the rest appended lexically.
fn realpath(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            std::path::Component::RootDir | std::path::Component::Prefix(_) => {}
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => {
                out.push(n);
                if let Ok(r) = std::fs::canonicalize(&out) {
                    out = r;
                }
            }
        }
    }
    out
}

fn stays_below(root: &Path, rel: &str) -> bool {
    realpath(&root.join(rel)).starts_with(realpath(root))
}

fn safe_relative(v: &str) -> bool {
    if v.is_empty() || v.starts_with('/') || v.starts_with('~') {
        return false;
    }
    let parts: Vec<&str> = v
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    !parts.is_empty() && !parts.contains(&"..")
}

fn parse_window(
    path: &Path,
    relative: &str,
    root: &Path,
    stem: &str,
) -> Result<Window, &'static str> {
    const MALFORMED: &str = "measurement_window_malformed";
    const PATH_INVALID: &str = "measurement_window_result_path_invalid";
    let Ok(Value::Dict(p)) = read_json(path) else {
        return Err(MALFORMED);
    };
    let status = p.get("status").and_then(Value::as_str).unwrap_or("");
    let ok = p
        .get("schema_version")
        .is_some_and(|v| eq(v, &Value::Int(1)))
        && p.get("clock_source")
            .is_some_and(|v| eq(v, &Value::from("head_node_unix_clock")))
        && ["running", "completed", "failed", "interrupted"].contains(&status)
        && matches!(p.get("benchmark_type"), Some(Value::Str(_)))
        && matches!(p.get("concurrency"), Some(Value::Int(_) | Value::Bool(_)))
        && is_finite(p.get("benchmark_start_time_unix"));
    if !ok {
        return Err(MALFORMED);
    }
    let Some(Value::Str(rp)) = p.get("result_path") else {
        return Err(PATH_INVALID);
    };
    if !safe_relative(rp) {
        return Err(PATH_INVALID);
    }
    let rp_name = py::name(Path::new(rp));
    if !stays_below(root, rp) || py::stem_of(&rp_name) != stem {
        return Err(PATH_INVALID);
    }
    let end = p.get("benchmark_end_time_unix");
    let duration = p.get("duration");
    let reason = p.get("reason");
    let is_none = |v: Option<&Value>| matches!(v, None | Some(Value::Null));
    let nonempty = |v: Option<&Value>| matches!(v, Some(Value::Str(s)) if !s.is_empty());
    let inv = match status {
        "running" => is_none(end) && is_none(duration) && is_none(reason),
        "interrupted" => is_none(end) && is_none(duration) && nonempty(reason),
        _ => {
            is_finite(end)
                && is_finite(duration)
                && num(duration).is_some_and(|d| d > 0.0)
                && if status == "completed" {
                    is_none(reason)
                } else {
                    nonempty(reason)
                }
        }
    };
    if !inv {
        return Err(MALFORMED);
    }
    let concurrency = match p.get("concurrency") {
        Some(Value::Int(i)) => *i,
        Some(Value::Bool(b)) => i128::from(*b),
        _ => 0,
    };
    Ok(Window {
        relative: relative.to_owned(),
        btype: p
            .get("benchmark_type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        concurrency,
        result_path: rp.clone(),
        status: status.to_owned(),
        start: num(p.get("benchmark_start_time_unix")).unwrap_or(f64::NAN),
        end: num(end),
        duration: num(duration),
    })
}

fn artifact_error(path: &str, reason: &str) -> Value {
    let mut d = Dict::new();
    d.insert("path", Value::from(path));
    d.insert("reason_codes", Value::List(vec![Value::from(reason)]));
    Value::Dict(d)
}

#[allow(clippy::type_complexity)]
fn scan_windows(
    dir: &Path,
    root: &Path,
    errors: &mut Vec<Value>,
) -> (BTreeMap<(String, i128), Window>, BTreeSet<(String, i128)>) {
    let mut parsed: BTreeMap<(String, i128), Window> = BTreeMap::new();
    let mut dups = BTreeSet::new();
    if !std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return (parsed, dups);
    }
    if !stays_below(dir.parent().unwrap_or(Path::new(".")), "windows") {
        errors.push(artifact_error(
            "windows",
            "measurement_window_artifact_path_invalid",
        ));
        return (parsed, dups);
    }
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    for (name, path) in entries {
        let relative = format!("windows/{name}");
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link || !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            errors.push(artifact_error(
                &relative,
                "measurement_window_artifact_path_invalid",
            ));
            continue;
        }
        let stem = py::stem_of(&name).to_owned();
        match parse_window(&path, &relative, root, &stem) {
            Err(r) => errors.push(artifact_error(&relative, r)),
            Ok(w) => {
                let key = (w.btype.clone(), w.concurrency);
                if let Some(prev) = parsed.get(&key) {
                    dups.insert(key);
                    errors.push(artifact_error(
                        &prev.relative,
                        "measurement_window_duplicate",
                    ));
                    errors.push(artifact_error(&relative, "measurement_window_duplicate"));
                    continue;
                }
                parsed.insert(key, w);
            }
        }
    }
    for k in &dups {
        parsed.remove(k);
    }
    (parsed, dups)
}

fn check_window_result(w: &Window, root: &Path) -> Option<&'static str> {
    let file = root.join(&w.result_path);
    if !std::fs::metadata(&file).is_ok_and(|m| m.is_file()) {
        return Some("measurement_window_result_missing");
    }
    let Ok(result) = read_json(&file) else {
        return Some("measurement_window_result_missing");
    };
    let Value::Dict(r) = result else {
        return Some("measurement_window_result_mismatch");
    };
    let same = |k: &str, v: Option<f64>| {
        let want = v.map_or(Value::Null, Value::Float);
        eq(r.get(k).unwrap_or(&Value::Null), &want)
    };
    if !same("benchmark_start_time_unix", Some(w.start))
        || !same("benchmark_end_time_unix", w.end)
        || !same("duration", w.duration)
    {
        return Some("measurement_window_result_mismatch");
    }
    let (end, duration) = (w.end.unwrap_or(f64::NAN), w.duration.unwrap_or(f64::NAN));
    let wall = end - w.start;
    if (wall - duration).abs() > (0.5f64).max(0.01 * duration) {
        return Some("measurement_window_clock_mismatch");
    }
    None
}

fn bracketing(times: &[f64], start: f64, end: f64) -> Option<Vec<f64>> {
    let before = times.iter().copied().rfind(|t| *t <= start)?;
    let after = times.iter().copied().find(|t| *t >= end)?;
    let mut seq = vec![before];
    seq.extend(times.iter().copied().filter(|t| start < *t && *t < end));
    seq.push(after);
    Some(seq)
}

fn coverage(
    start: f64,
    end: f64,
    expected: &BTreeSet<Key>,
    observed: &[Observed],
) -> (Dict, Vec<String>) {
    let mut gaps = Dict::new();
    let mut reasons = Vec::new();
    for key in expected {
        let Some(d) = observed.iter().find(|o| &o.key == key) else {
            reasons.push("measurement_window_not_bracketed".to_owned());
            continue;
        };
        if d.uuids.len() != 1 {
            reasons.push("gpu_uuid_changed".to_owned());
            continue;
        }
        let Some(seq) = bracketing(&d.times, start, end) else {
            reasons.push("measurement_window_not_bracketed".to_owned());
            continue;
        };
        let gap = integrate::max_gap(&seq);
        gaps.insert(format!("{}/{}", d.key.0, d.uuids[0]), Value::Float(gap));
        if gap > MAX_GAP {
            reasons.push("sample_gap_exceeded".to_owned());
        }
    }
    (gaps, reasons)
}

fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Dict(d) => {
                let mut items: Vec<(&str, &Value)> = d.iter().collect();
                items.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = Dict::new();
                for (k, v) in items {
                    out.insert(k, sort(v));
                }
                Value::Dict(out)
            }
            Value::List(l) => Value::List(l.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    servebench_pyjson::to_string(&sort(v))
}

#[derive(Default)]
struct Audit {
    power_valid: bool,
    reasons: Vec<String>,
    failures: Vec<String>,
    stored: Option<bool>,
    recomputed: Option<bool>,
    commit: Option<String>,
    exporter_sha: Option<String>,
    window: Option<Value>,
    energies: Vec<(String, f64)>,
    roles: Vec<(String, String)>,
    gaps: Vec<(String, f64)>,
    observed: usize,
    expected: usize,
    metrics: Vec<(String, f64)>,
}

impl Audit {
    fn add(&mut self, reason: &str, detail: &str) {
        push_unique(&mut self.reasons, reason);
        if !detail.is_empty() {
            self.failures.push(detail.to_owned());
        }
    }
}

fn opt_str_repr(v: &Option<String>) -> String {
    v.as_ref().map_or("None".to_owned(), |s| str_repr(s))
}

fn opt_bool_repr(v: Option<bool>) -> &'static str {
    match v {
        None => "None",
        Some(true) => "True",
        Some(false) => "False",
    }
}

fn validate(
    req: &Multinode,
    bench: Option<&Value>,
    benchmark: Option<&Benchmark>,
) -> Result<Audit, PowerError> {
    let mut a = Audit::default();
    let pin = req.expected_producer_sha.clone().filter(|s| !s.is_empty());
    let dir = &req.power_dir;
    if !std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        a.add(
            "power_artifacts_missing",
            &format!("power dir missing: {}", path_str(dir)),
        );
        return Ok(a);
    }
    let manifest_path = dir.join("manifest.json");
    if !std::fs::metadata(&manifest_path).is_ok_and(|m| m.is_file()) {
        a.add(
            "manifest_missing",
            &format!("manifest missing: {}", path_str(&manifest_path)),
        );
        return Ok(a);
    }
    let m = match read_json(&manifest_path) {
        Err(e) => {
            a.add("manifest_malformed", &format!("manifest unreadable: {e}"));
            return Ok(a);
        }
        Ok(Value::Dict(m)) => m,
        Ok(_) => {
            a.add("manifest_malformed", "manifest is not an object");
            return Ok(a);
        }
    };
    a.stored = match m.get("publication_valid") {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    };
    a.commit = m
        .get("producer_git_commit")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(Value::Dict(e)) = m.get("dcgm_exporter") {
        a.exporter_sha = e
            .get("container_image_sha256")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    match &pin {
        None => a.add(
            "producer_pin_missing",
            "no expected producer SHA configured",
        ),
        Some(p) if a.commit.as_deref() != Some(p.as_str()) => {
            let d = format!(
                "producer_git_commit {} != expected {}",
                opt_str_repr(&a.commit),
                str_repr(p)
            );
            a.add("producer_commit_mismatch", &d);
        }
        Some(_) => {}
    }
    let mut failures = wire_contract(&m);
    let (devs, windows) = match parse_devices(&m).and_then(|d| Ok((d, parse_windows(&m)?))) {
        Ok(x) => x,
        Err(e) => {
            a.add("manifest_malformed", &format!("manifest malformed: {e}"));
            a.recomputed = Some(false);
            return Ok(a);
        }
    };
    let (rows, sample_reasons) = read_samples(&dir.join("samples.csv"));
    failures.extend(sample_reasons.iter().map(|r| format!("{r} in samples.csv")));
    let observed = observed_devices(&rows);
    let (dev_reasons, roles) = validate_devices(&devs, &observed);
    failures.extend(
        dev_reasons
            .iter()
            .map(|r| format!("{r} (device identity/topology)")),
    );

    let mut errors: Vec<Value> = Vec::new();
    let (parsed, dups) = scan_windows(&dir.join("windows"), &req.logs_root, &mut errors);
    let expected_keys: BTreeSet<(String, i128)> = windows.iter().cloned().collect();
    for (k, w) in &parsed {
        if !expected_keys.contains(k) {
            errors.push(artifact_error(&w.relative, "measurement_window_unexpected"));
        }
    }
    let device_keys: BTreeSet<Key> = devs.iter().map(|d| d.key.clone()).collect();
    let mut validations = Vec::new();
    for (btype, conc) in &windows {
        let mut row = Dict::new();
        row.insert("benchmark_type", Value::from(btype.as_str()));
        row.insert("concurrency", Value::Int(*conc));
        let Some(w) = parsed.get(&(btype.clone(), *conc)) else {
            let r = if dups.contains(&(btype.clone(), *conc)) {
                "measurement_window_duplicate"
            } else {
                "measurement_window_missing"
            };
            row.insert("window_file", Value::Null);
            row.insert("power_coverage_valid", Value::Bool(false));
            row.insert("reason_codes", Value::List(vec![Value::from(r)]));
            row.insert(
                "per_device_max_sample_gap_seconds",
                Value::Dict(Dict::new()),
            );
            validations.push(Value::Dict(row));
            continue;
        };
        let mut reasons: Vec<String> = Vec::new();
        if w.status != "completed" {
            reasons.push("measurement_window_incomplete".into());
        } else if let Some(r) = check_window_result(w, &req.logs_root) {
            reasons.push(r.into());
        }
        let mut gaps = Dict::new();
        if reasons.is_empty() {
            let (g, cr) = coverage(w.start, w.end.unwrap_or(f64::NAN), &device_keys, &observed);
            if cr.is_empty() {
                gaps = g;
            }
            reasons.extend(cr);
        }
        let mut deduped = Vec::new();
        for r in &reasons {
            push_unique(&mut deduped, r);
        }
        row.insert("window_file", Value::from(w.relative.as_str()));
        row.insert("power_coverage_valid", Value::Bool(reasons.is_empty()));
        row.insert(
            "reason_codes",
            Value::List(deduped.iter().map(|r| Value::from(r.as_str())).collect()),
        );
        row.insert("per_device_max_sample_gap_seconds", Value::Dict(gaps));
        validations.push(Value::Dict(row));
    }
    if windows.is_empty() {
        failures.push("no expected measurement window".into());
    }
    for v in &validations {
        let d = v.as_dict();
        let bt = d
            .and_then(|d| d.get("benchmark_type"))
            .map(servebench_pyjson::to_str)
            .unwrap_or_default();
        let c = d
            .and_then(|d| d.get("concurrency"))
            .map(servebench_pyjson::to_str)
            .unwrap_or_default();
        if let Some(Value::List(rs)) = d.and_then(|d| d.get("reason_codes")) {
            for r in rs {
                failures.push(format!(
                    "{} (window {bt}/{c})",
                    servebench_pyjson::to_str(r)
                ));
            }
        }
    }
    for e in &errors {
        let d = e.as_dict();
        let p = d
            .and_then(|d| d.get("path"))
            .map(servebench_pyjson::to_str)
            .unwrap_or_default();
        if let Some(Value::List(rs)) = d.and_then(|d| d.get("reason_codes")) {
            for r in rs {
                failures.push(format!("{} ({p})", servebench_pyjson::to_str(r)));
            }
        }
    }
    // Stored evidence.
    let stored_rows = m.get("sample_row_count");
    if !stored_rows.is_some_and(|v| eq(v, &Value::Int(rows.len() as i128))) {
        failures.push(format!(
            "sample_row_count is {}, disk has {} rows",
            opt_repr(stored_rows),
            rows.len()
        ));
    }
    if let Some(max_seq) = rows.iter().map(|r| r.seq).max() {
        let least = max_seq + 1;
        let sc = m.get("scrape_count");
        if !matches!(sc, Some(Value::Int(i)) if *i >= least) {
            failures.push(format!(
                "scrape_count is {}, disk needs at least {least}",
                opt_repr(sc)
            ));
        }
    }
    if observed.is_empty() {
        failures.push("observed_devices is empty".into());
    }
    let obs_value = Value::List(observed.iter().map(observed_value).collect());
    if !m.get("observed_devices").is_some_and(|v| eq(v, &obs_value)) {
        failures
            .push("observed_devices does not match the devices derived from samples.csv".into());
    }
    if !m
        .get("window_validations")
        .is_some_and(|v| eq(v, &Value::List(validations.clone())))
    {
        failures.push("window_validations does not match the recomputed window audit".into());
    }
    if !m
        .get("artifact_errors")
        .is_some_and(|v| eq(v, &Value::List(errors.clone())))
    {
        failures.push("artifact_errors does not match the recomputed artifact scan".into());
    }
    let dk: Vec<&Key> = devs.iter().map(|d| &d.key).collect();
    if dk.iter().collect::<BTreeSet<_>>().len() != dk.len() {
        failures.push("expected_devices contains duplicate keys".into());
    }
    if expected_keys.len() != windows.len() {
        failures.push("expected_windows contains duplicate keys".into());
    }

    a.recomputed = Some(failures.is_empty());
    let recompute_invalid = !failures.is_empty();
    a.failures.extend(failures);
    if recompute_invalid {
        push_unique(&mut a.reasons, "package_recompute_invalid");
    }
    if a.stored != Some(true) || a.stored != a.recomputed {
        if a.stored != a.recomputed {
            let d = format!(
                "stored publication_valid={}, recomputed={}",
                opt_bool_repr(a.stored),
                opt_bool_repr(a.recomputed)
            );
            a.add("producer_verdict_mismatch", &d);
        } else {
            a.add(
                "package_recompute_invalid",
                "stored and recomputed both invalid",
            );
        }
    }
    let mut expected_roles = BTreeMap::new();
    if req.prefill_gpus > 0 {
        expected_roles.insert("prefill".to_owned(), req.prefill_gpus);
    }
    if req.decode_gpus > 0 {
        expected_roles.insert("decode".to_owned(), req.decode_gpus);
    }
    if expected_roles.is_empty() {
        a.add(
            "topology_env_mismatch",
            "PREFILL_GPUS/DECODE_GPUS are both zero",
        );
    } else if !roles.is_empty() {
        for f in role_topology(&devs, &roles, &expected_roles) {
            a.add("topology_env_mismatch", &f);
        }
    }
    a.expected = devs.len();
    a.observed = observed.len();
    let label = |k: &Key| -> String {
        match observed.iter().find(|o| &o.key == k) {
            Some(o) if o.uuids.len() == 1 => format!("{}/{}", k.0, o.uuids[0]),
            _ => format!("{}/{}", k.0, k.1),
        }
    };
    a.roles = roles.iter().map(|(k, r)| (label(k), r.clone())).collect();

    // Bind this result to its window.
    let window = select_window(&mut a, &parsed, req, bench, benchmark);
    let (Some(w), Some(b)) = (window, benchmark) else {
        return Ok(a);
    };
    if !a.reasons.is_empty() {
        return Ok(a);
    }
    let end = w.end.unwrap_or(f64::NAN);
    let mut role_energy = (0.0, 0.0);
    for d in &devs {
        let mut samples: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.host == d.key.0 && r.gpu == d.key.1)
            .map(|r| (r.t, r.power))
            .collect();
        samples.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
        let l = label(&d.key);
        let e = integrate::integrate(&samples, w.start, end)
            .ok_or(PowerError::Internal("timestamp is not bracketed".into()))?;
        a.energies.push((l.clone(), e));
        match roles.get(&d.key).map(String::as_str) {
            Some("prefill") => role_energy.0 += e,
            Some("decode") => role_energy.1 += e,
            _ => {}
        }
        let times = observed
            .iter()
            .find(|o| o.key == d.key)
            .map_or(&[][..], |o| o.times.as_slice());
        let gap = bracketing(times, w.start, end).map_or(0.0, |s| integrate::max_gap(&s));
        a.gaps.push((l, gap));
    }
    // A repeated key keeps its first position and its last value.
    dedupe_last(&mut a.energies);
    dedupe_last(&mut a.gaps);
    let duration = end - w.start;
    let total = a.energies.iter().fold(0.0, |x, (_, e)| x + e);
    let tokens = (b.input_tokens + b.output_tokens) as f64;
    let mut metrics = vec![
        (
            "avg_power_w".to_owned(),
            total / duration / devs.len() as f64,
        ),
        ("avg_total_gpu_power_w".to_owned(), total / duration),
        ("total_gpu_energy_j".to_owned(), total),
        (
            "joules_per_successful_query".to_owned(),
            total / b.completed as f64,
        ),
        (
            "joules_per_input_token".to_owned(),
            total / b.input_tokens as f64,
        ),
        (
            "joules_per_output_token".to_owned(),
            total / b.output_tokens as f64,
        ),
        ("joules_per_total_token".to_owned(), total / tokens),
    ];
    if req.prefill_gpus > 0 {
        metrics.push(("prefill_gpu_energy_j".into(), role_energy.0));
        metrics.push((
            "prefill_avg_power_w".into(),
            role_energy.0 / duration / req.prefill_gpus as f64,
        ));
        metrics.push((
            "prefill_joules_per_input_token".into(),
            role_energy.0 / b.input_tokens as f64,
        ));
    }
    if req.decode_gpus > 0 {
        metrics.push(("decode_gpu_energy_j".into(), role_energy.1));
        metrics.push((
            "decode_avg_power_w".into(),
            role_energy.1 / duration / req.decode_gpus as f64,
        ));
        metrics.push((
            "decode_joules_per_output_token".into(),
            role_energy.1 / b.output_tokens as f64,
        ));
    }
    let mut bad: Vec<&str> = metrics
        .iter()
        .filter(|(_, v)| !v.is_finite())
        .map(|(k, _)| k.as_str())
        .collect();
    if !bad.is_empty() {
        bad.sort();
        let d = format!("non-finite: {}", bad.join(", "));
        a.add("non_finite_power_metric", &d);
        return Ok(a);
    }
    a.metrics = metrics;
    a.power_valid = true;
    Ok(a)
}

fn dedupe_last(items: &mut Vec<(String, f64)>) {
    let mut out: Vec<(String, f64)> = Vec::new();
    for (k, v) in items.drain(..) {
        match out.iter_mut().find(|(x, _)| *x == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    *items = out;
}

fn select_window(
    a: &mut Audit,
    parsed: &BTreeMap<(String, i128), Window>,
    req: &Multinode,
    bench: Option<&Value>,
    benchmark: Option<&Benchmark>,
) -> Option<Window> {
    let processed = match bench {
        None => {
            let d = format!("unreadable result: {}", path_str(&req.bench_result));
            a.add("invalid_benchmark_result", &d);
            return None;
        }
        Some(Value::Dict(d)) => d,
        Some(_) => {
            a.add(
                "invalid_benchmark_result",
                "processed result is not an object",
            );
            return None;
        }
    };
    let conc = processed.get("max_concurrency");
    let matches: Vec<&Window> = parsed
        .values()
        .filter(|w| {
            w.status == "completed" && conc.is_some_and(|c| eq(c, &Value::Int(w.concurrency)))
        })
        .collect();
    if matches.len() != 1 {
        let d = format!(
            "found {} completed windows for concurrency {}",
            matches.len(),
            opt_repr(conc)
        );
        a.add("window_for_result_missing", &d);
        return None;
    }
    let w = matches[0].clone();
    let original_path = req.logs_root.join(&w.result_path);
    let Ok(original) = read_json(&original_path) else {
        let d = format!("original result unreadable: {}", path_str(&original_path));
        a.add("measurement_window_result_missing", &d);
        return None;
    };
    if canonical(&original) != canonical(&Value::Dict(processed.clone())) {
        let d = format!(
            "workspace copy {} differs from original {}",
            py::name(&req.bench_result),
            w.result_path
        );
        a.add("result_content_mismatch", &d);
        return None;
    }
    if let Some(b) = benchmark {
        if Some(b.start) != Some(w.start) || Some(b.end) != w.end {
            a.add(
                "measurement_window_result_mismatch",
                "benchmark window fields do not match the selected window file",
            );
            return None;
        }
    }
    let mut d = Dict::new();
    d.insert("window_file", Value::from(w.relative.as_str()));
    d.insert("result_path", Value::from(w.result_path.as_str()));
    d.insert("benchmark_type", Value::from(w.btype.as_str()));
    d.insert("concurrency", Value::Int(w.concurrency));
    d.insert("start_time_unix", Value::Float(w.start));
    d.insert("end_time_unix", w.end.map_or(Value::Null, Value::Float));
    d.insert("duration", w.duration.map_or(Value::Null, Value::Float));
    a.window = Some(Value::Dict(d));
    Some(w)
}

fn float_map(items: &[(String, f64)], null_non_finite: bool) -> Value {
    let mut d = Dict::new();
    for (k, v) in items {
        let v = if null_non_finite && !v.is_finite() {
            Value::Null
        } else {
            Value::Float(*v)
        };
        d.insert(k.as_str(), v);
    }
    Value::Dict(d)
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::from(s.as_str()))
}

fn opt_bool(v: Option<bool>) -> Value {
    v.map_or(Value::Null, Value::Bool)
}

/// Runs the multinode validation and integration.
pub fn evaluate_multinode(
    req: &Multinode,
    bench: Option<&Value>,
    agg: AggState,
) -> Result<Evaluation, PowerError> {
    let validation = match &req.validation_result {
        Some(p) => p.clone(),
        None => bench::default_sidecar(&req.bench_result).ok_or_else(|| {
            PowerError::Internal(format!("{} has an empty name", path_str(&req.bench_result)))
        })?,
    };
    let bench_dict = match bench {
        None => None,
        Some(Value::Dict(d)) => Some(d),
        Some(other) => return Err(PowerError::BenchNotObject(other.type_name())),
    };
    let (benchmark, bench_reasons) = bench::load(bench_dict);
    let effective = if bench_reasons.is_empty() {
        benchmark.as_ref()
    } else {
        None
    };
    let mut a = validate(req, bench, effective)?;
    for r in &bench_reasons {
        a.add(r, "");
    }
    if benchmark.is_none() || !a.reasons.is_empty() {
        a.power_valid = false;
        a.metrics.clear();
    }
    let mut ev = Evaluation {
        tool: "aggregate_power_multinode",
        power_valid: a.power_valid,
        reasons: a.reasons.clone(),
        failures: Some(a.failures.clone()),
        metrics: a.metrics.clone(),
        agg_path: req.agg_result.clone(),
        sidecar_path: validation,
        patched_agg: None,
        stderr: Vec::new(),
        sidecar: Dict::new(),
        observed: a.expected,
        metric_keys: ALL_KEYS.to_vec(),
    };
    ev.apply_agg(agg)?;
    let mut d = Dict::new();
    d.insert("schema_version", Value::Int(1));
    d.insert("power_valid", Value::Bool(ev.power_valid));
    d.insert("reasons", Value::Null);
    d.insert("failures", Value::Null);
    d.insert("telemetry_source", bench::path_value(&req.power_dir));
    d.insert("benchmark_result", bench::path_value(&req.bench_result));
    d.insert("benchmark_window", bench::window_value(benchmark.as_ref()));
    d.insert("selected_window", a.window.clone().unwrap_or(Value::Null));
    d.insert("integration_method", Value::from(INTEGRATION_METHOD));
    let mut p = Dict::new();
    p.insert("producer_git_commit", opt_str(&a.commit));
    p.insert(
        "expected_producer_git_commit",
        opt_str(&req.expected_producer_sha.clone().filter(|s| !s.is_empty())),
    );
    p.insert("exporter_image_sha256", opt_str(&a.exporter_sha));
    p.insert("stored_publication_valid", opt_bool(a.stored));
    p.insert("recomputed_publication_valid", opt_bool(a.recomputed));
    d.insert("producer", Value::Dict(p));
    d.insert("expected_gpu_count", Value::Int(a.expected as i128));
    d.insert("observed_gpu_count", Value::Int(a.observed as i128));
    let mut roles = Dict::new();
    for (k, r) in &a.roles {
        roles.insert(k.as_str(), Value::from(r.as_str()));
    }
    d.insert("per_gpu_role", Value::Dict(roles));
    d.insert("per_gpu_max_sample_gap_s", float_map(&a.gaps, false));
    d.insert("per_gpu_energy_j", float_map(&a.energies, true));
    d.insert("metrics", Value::Null);
    ev.sidecar = d;
    ev.rebuild_sidecar();
    Ok(ev)
}

/// The stdout line of a valid measurement.
pub(crate) fn success_line(ev: &Evaluation) -> String {
    let m = |k: &str| ev.metrics.iter().find(|(x, _)| x == k).map_or(0.0, |x| x.1);
    let f = |x: f64| servebench_pyjson::fixed(x, 2);
    format!(
        "[aggregate_power_multinode] avg_power_w={} total_gpu_energy_j={} prefill_gpu_energy_j={} decode_gpu_energy_j={} (n={}) -> {}",
        f(m("avg_power_w")),
        f(m("total_gpu_energy_j")),
        f(m("prefill_gpu_energy_j")),
        f(m("decode_gpu_energy_j")),
        ev.observed,
        path_str(&ev.agg_path)
    )
}
