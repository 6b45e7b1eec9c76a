//! Server-metrics scraping (SPEC §5) and its export (SPEC §4.3): Prometheus
//! `/metrics` endpoints polled through the run, `server_metrics_export.json`
//! and `.csv` in aiperf 0.13.0's shapes.
//!
//! This module owns the endpoint list (the inference URL's base + `/metrics`
//! plus `--server-metrics` URLs), the reachability probe, the polling loop,
//! the compact time series and the statistics over the phase windows. It
//! does not own the phases themselves: the scheduler tells it when warm-up
//! and profiling start and end ([`Scraper::mark_phase`]).
//!
//! Plain `http://` only (see the private `http` module); the library never
//! prints, so probe failures and collection problems come back as warning
//! strings.
//!
//! ```no_run
//! # async fn f() -> Result<(), servebench_agentx::AgentxError> {
//! use servebench_agentx::scrape::{endpoints, ScrapeOptions, Scraper};
//! use servebench_agentx::record::Phase;
//! let urls = endpoints("http://127.0.0.1:8000", &[]);
//! let (scraper, warnings) = Scraper::start(ScrapeOptions::new(urls)).await?;
//! scraper.mark_phase(Phase::Profiling, 1, None);
//! let metrics = scraper.stop().await;
//! metrics.write(std::path::Path::new("out"), "id", "0.13.0", &serde_json::json!({}))?;
//! # let _ = warnings; Ok(()) }
//! ```

mod http;
mod prom;
mod stats;
mod store;

use crate::artifacts::local_iso;
use crate::record::Phase;
use crate::AgentxError;
use prom::Kind;
use serde_json::{json, Map, Value as Json};
use stats::Window;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `AIPERF_SERVER_METRICS_COLLECTION_INTERVAL`'s default (seconds).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(333);
/// Reachability probe timeout (aiperf: 10 s).
pub const DEFAULT_REACHABILITY_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest `/metrics` body accepted (a vLLM with many DP ranks writes a
/// few MiB; anything past this is a misconfigured or hostile endpoint).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// `server_metrics_export.json`'s `schema_version` (the sample's; the CSV
/// header says 1.0, as aiperf 0.13.0 writes it).
const JSON_SCHEMA_VERSION: &str = "1.1";

/// How to scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeOptions {
    /// Endpoints, already deduplicated (see [`endpoints`]).
    pub urls: Vec<String>,
    /// Time between scrapes (a scrape that takes longer delays the next).
    pub interval: Duration,
    /// `--slice-duration`: per-slice statistics in the export when set.
    pub slice_duration: Option<Duration>,
    /// Timeout of the probe and of each scrape.
    pub reachability_timeout: Duration,
}

impl ScrapeOptions {
    /// The defaults: 0.333 s interval, no slices, 10 s timeout.
    pub fn new(urls: Vec<String>) -> Self {
        ScrapeOptions {
            urls,
            interval: DEFAULT_INTERVAL,
            slice_duration: None,
            reachability_timeout: DEFAULT_REACHABILITY_TIMEOUT,
        }
    }
}

/// Parses `AIPERF_SERVER_METRICS_COLLECTION_INTERVAL` (seconds, a float);
/// unset or empty → 0.333 s.
pub fn collection_interval(env_value: Option<&str>) -> Result<Duration, AgentxError> {
    let Some(text) = env_value.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_INTERVAL);
    };
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            AgentxError::Options(format!(
                "AIPERF_SERVER_METRICS_COLLECTION_INTERVAL: {text:?} is not a number of seconds in (0, 3600]"
            ))
        })
}

/// The endpoints to scrape: the inference URL's scheme+authority +
/// `/metrics` first, then `extra` (each may be a comma list, as
/// `AIPERF_SERVER_METRICS_URLS` is), in order, without duplicates. A bare
/// `host:port` gets `http://`; a URL without a path gets `/metrics`.
pub fn endpoints(inference_url: &str, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |u: String| {
        if !u.is_empty() && !out.contains(&u) {
            out.push(u);
        }
    };
    let inference_url = inference_url.trim();
    let inference_url = if inference_url.contains("://") {
        inference_url.to_string()
    } else {
        // aiperf accepts `host:port` and means plain HTTP.
        format!("http://{inference_url}")
    };
    if let Some(base) = base_url(&inference_url) {
        push(format!("{base}/metrics"));
    }
    for e in extra {
        for part in e.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let with_scheme = if part.contains("://") {
                part.to_string()
            } else {
                format!("http://{part}")
            };
            let normal = match base_url(&with_scheme) {
                Some(base) if base.len() == with_scheme.trim_end_matches('/').len() => {
                    format!("{base}/metrics")
                }
                _ => with_scheme,
            };
            push(normal);
        }
    }
    out
}

/// `scheme://authority` of a URL (no trailing slash).
fn base_url(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

/// `127.0.0.1:8000` for `http://127.0.0.1:8000/metrics` (the CSV's
/// `Endpoint` column): scheme and a `/metrics` path dropped.
fn endpoint_display(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.strip_suffix("/metrics").unwrap_or(rest).to_string()
}

/// Phase windows in epoch nanoseconds, as the scheduler reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PhaseTimes {
    warmup: Option<(u64, Option<u64>)>,
    profiling: Option<(u64, Option<u64>)>,
}

/// What one endpoint's scraping produced.
#[derive(Debug, Clone, Default)]
struct EndpointState {
    url: String,
    store: Store,
    total_fetches: u64,
    first_fetch_ns: u64,
    last_fetch_ns: u64,
    latency_sum_ns: u128,
    unique_updates: u64,
    first_update_ns: u64,
    last_update_ns: u64,
    update_intervals_ns: Vec<u64>,
    last_hash: Option<u64>,
    errors: u64,
    last_error: Option<String>,
    malformed_lines: u64,
    /// Timing of every successful scrape (capped at [`MAX_TIMINGS`]).
    timings: Vec<ScrapeTiming>,
}

/// When one scrape was sent and answered (epoch ns); the sample timestamp
/// of the values is `request_sent_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScrapeTiming {
    request_sent_ns: u64,
    first_byte_ns: u64,
    done_ns: u64,
}

/// 3 scrapes a second for 24 hours.
const MAX_TIMINGS: usize = 260_000;

impl EndpointState {
    fn new(url: String) -> Self {
        EndpointState {
            url,
            ..Default::default()
        }
    }

    /// Records one scrape: fetch statistics always, the parsed values when
    /// the body is a valid exposition.
    fn record(&mut self, fetched: http::Fetched) -> Result<(), String> {
        if !(200..300).contains(&fetched.status) {
            return Err(format!("HTTP {}", fetched.status));
        }
        if let Some(ct) = &fetched.content_type {
            if ct.to_ascii_lowercase().contains("json") {
                return Err(format!("content type {ct:?} is not Prometheus text"));
            }
        }
        let text = String::from_utf8_lossy(&fetched.body);
        let exposition = prom::parse(&text, prom::Limits::default()).map_err(|e| e.to_string())?;
        let ts = fetched.request_sent_ns;
        self.total_fetches = self.total_fetches.saturating_add(1);
        if self.first_fetch_ns == 0 {
            self.first_fetch_ns = ts;
        }
        self.last_fetch_ns = ts;
        if self.timings.len() < MAX_TIMINGS {
            self.timings.push(ScrapeTiming {
                request_sent_ns: fetched.request_sent_ns,
                first_byte_ns: fetched.first_byte_ns,
                done_ns: fetched.done_ns,
            });
        }
        self.latency_sum_ns = self.latency_sum_ns.saturating_add(u128::from(
            fetched.done_ns.saturating_sub(fetched.request_sent_ns),
        ));
        let mut h = DefaultHasher::new();
        fetched.body.hash(&mut h);
        let hash = h.finish();
        if self.last_hash != Some(hash) {
            if self.unique_updates > 0 {
                if self.update_intervals_ns.len() < MAX_TIMINGS {
                    self.update_intervals_ns
                        .push(ts.saturating_sub(self.last_update_ns));
                }
            } else {
                self.first_update_ns = ts;
            }
            self.unique_updates = self.unique_updates.saturating_add(1);
            self.last_update_ns = ts;
            self.last_hash = Some(hash);
        }
        self.malformed_lines = self
            .malformed_lines
            .saturating_add(exposition.malformed_lines as u64);
        self.store.add(ts, exposition);
        Ok(())
    }

    async fn scrape(&mut self, timeout: Duration) {
        let result = match http::get(&self.url, timeout, MAX_BODY_BYTES).await {
            Ok(f) => self.record(f),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            self.errors = self.errors.saturating_add(1);
            self.last_error = Some(e);
        }
    }
}

/// Probes `url` once; on success the answer is the baseline scrape.
async fn probe(url: String, timeout: Duration) -> Result<EndpointState, String> {
    let mut state = EndpointState::new(url);
    let fetched = http::get(&state.url, timeout, MAX_BODY_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    state.record(fetched)?;
    Ok(state)
}

/// A running scraper: one task per reachable endpoint.
#[derive(Debug)]
pub struct Scraper {
    configured: Vec<String>,
    phases: Arc<Mutex<PhaseTimes>>,
    stop_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<EndpointState>>,
    slice_duration: Option<Duration>,
    warnings: Vec<String>,
}

impl Scraper {
    /// Probes every endpoint (concurrently, each within
    /// `reachability_timeout`; for a failing `.../metrics` also
    /// `<base>/prometheus/metrics`, TRT-LLM's path), keeps the probe's answer
    /// as the baseline scrape and starts polling the endpoints that answered
    /// with Prometheus text. Unreachable or non-Prometheus endpoints are
    /// disabled with one warning each (returned); none reachable is not an
    /// error (the run goes on without server metrics).
    pub async fn start(opts: ScrapeOptions) -> Result<(Scraper, Vec<String>), AgentxError> {
        if opts.interval.is_zero() {
            return Err(AgentxError::Options(
                "server metrics interval must be positive".into(),
            ));
        }
        let timeout = opts.reachability_timeout;
        let probes: Vec<_> = opts
            .urls
            .iter()
            .map(|u| {
                let url = u.clone();
                tokio::spawn(async move {
                    let first = probe(url.clone(), timeout).await;
                    match first {
                        Ok(s) => Ok(s),
                        Err(e) => match url.strip_suffix("/metrics") {
                            Some(base) if !base.ends_with("/prometheus") => {
                                probe(format!("{base}/prometheus/metrics"), timeout)
                                    .await
                                    .map_err(|_| e)
                            }
                            _ => Err(e),
                        },
                    }
                })
            })
            .collect();
        let mut warnings = Vec::new();
        let mut states = Vec::new();
        for (url, p) in opts.urls.iter().zip(probes) {
            match p.await {
                Ok(Ok(state)) => states.push(state),
                Ok(Err(e)) => warnings.push(format!("server metrics endpoint {url} disabled: {e}")),
                Err(e) => warnings.push(format!(
                    "server metrics endpoint {url} disabled: probe task failed: {e}"
                )),
            }
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks = states
            .into_iter()
            .map(|state| tokio::spawn(poll(state, opts.interval, timeout, stop_rx.clone())))
            .collect();
        let scraper = Scraper {
            configured: opts.urls.clone(),
            phases: Arc::new(Mutex::new(PhaseTimes::default())),
            stop_tx,
            tasks,
            slice_duration: opts.slice_duration,
            warnings: Vec::new(),
        };
        Ok((scraper, warnings))
    }

    /// Records a phase window (epoch ns); call again with the end when known.
    pub fn mark_phase(&self, phase: Phase, start_ns: u64, end_ns: Option<u64>) {
        let mut guard = self.phases.lock().unwrap_or_else(|p| p.into_inner());
        let slot = match phase {
            Phase::Warmup => &mut guard.warmup,
            Phase::Profiling => &mut guard.profiling,
        };
        *slot = Some((start_ns, end_ns));
    }

    /// Stops polling; each endpoint takes one final scrape.
    pub async fn stop(self) -> ServerMetrics {
        let _ = self.stop_tx.send(true);
        let mut endpoints = Vec::new();
        let mut warnings = self.warnings;
        for t in self.tasks {
            match t.await {
                Ok(state) => endpoints.push(state),
                Err(e) => warnings.push(format!("server metrics task failed: {e}")),
            }
        }
        for e in &endpoints {
            if e.errors > 0 {
                warnings.push(format!(
                    "server metrics endpoint {}: {} failed scrapes (last: {})",
                    e.url,
                    e.errors,
                    e.last_error.as_deref().unwrap_or("?")
                ));
            }
            if e.malformed_lines > 0 {
                warnings.push(format!(
                    "server metrics endpoint {}: {} malformed exposition lines skipped",
                    e.url, e.malformed_lines
                ));
            }
            if e.store.dropped > 0 {
                warnings.push(format!(
                    "server metrics endpoint {}: {} samples not stored (series or memory cap)",
                    e.url, e.store.dropped
                ));
            }
        }
        let phases = *self.phases.lock().unwrap_or_else(|p| p.into_inner());
        ServerMetrics {
            configured: self.configured,
            successful: endpoints.iter().map(|e| e.url.clone()).collect(),
            endpoints,
            phases,
            slice_duration: self.slice_duration,
            warnings,
        }
    }
}

async fn poll(
    mut state: EndpointState,
    interval: Duration,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> EndpointState {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => state.scrape(timeout).await,
            changed = stop.changed() => {
                // A dropped sender also means stop.
                let _ = changed;
                break;
            }
        }
        if *stop.borrow() {
            break;
        }
    }
    state.scrape(timeout).await;
    state
}

/// Everything scraped in a run, ready to export.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    configured: Vec<String>,
    successful: Vec<String>,
    endpoints: Vec<EndpointState>,
    phases: PhaseTimes,
    slice_duration: Option<Duration>,
    warnings: Vec<String>,
}

/// One family of the export, over one window.
#[derive(Debug)]
struct FamilyOut {
    kind: Kind,
    help: String,
    series: Vec<(String, prom::Labels, Map<String, Json>)>,
}

impl ServerMetrics {
    /// Endpoints that answered the probe (the JSON's `endpoints_successful`).
    pub fn endpoints_successful(&self) -> &[String] {
        &self.successful
    }

    /// Collection problems seen during the run (failed scrapes, caps).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Writes `server_metrics_export.json` and `.csv` into `dir`
    /// (atomically). Writes nothing and returns `false` when no endpoint
    /// answered, as aiperf does.
    pub fn write(
        &self,
        dir: &Path,
        benchmark_id: &str,
        aiperf_version: &str,
        input_config: &Json,
    ) -> Result<bool, AgentxError> {
        if self.endpoints.is_empty() {
            return Ok(false);
        }
        let doc = self.export_json(benchmark_id, aiperf_version, input_config);
        let mut text = serde_json::to_string_pretty(&doc).map_err(|e| AgentxError::Write {
            path: dir.join("server_metrics_export.json"),
            message: e.to_string(),
        })?;
        text.push('\n');
        servebench_files::write_atomic(&dir.join("server_metrics_export.json"), text.as_bytes())?;
        let csv = self.export_csv(benchmark_id, aiperf_version);
        servebench_files::write_atomic(&dir.join("server_metrics_export.csv"), csv.as_bytes())?;
        Ok(true)
    }

    fn profiling_window(&self, e: &EndpointState) -> Window {
        match self.phases.profiling {
            Some((start, end)) => Window {
                start,
                end: end.unwrap_or(0).max(e.last_fetch_ns),
            },
            None => Window {
                start: e.first_fetch_ns,
                end: e.last_fetch_ns,
            },
        }
    }

    fn warmup_window(&self, e: &EndpointState) -> Option<Window> {
        let (start, end) = self.phases.warmup?;
        let end = end
            .or_else(|| self.phases.profiling.map(|p| p.0))
            .unwrap_or(e.last_fetch_ns);
        Some(Window { start, end })
    }

    fn slice_ns(&self) -> Option<u64> {
        self.slice_duration
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .filter(|&n| n > 0)
    }

    /// Families (sorted by name) over the window each endpoint gets.
    fn families(
        &self,
        window: impl Fn(&EndpointState) -> Option<Window>,
    ) -> BTreeMap<String, FamilyOut> {
        let mut out: BTreeMap<String, FamilyOut> = BTreeMap::new();
        let slice = self.slice_ns();
        for e in &self.endpoints {
            let Some(w) = window(e) else { continue };
            for s in &e.store.series {
                let Some(meta) = e.store.families.get(s.family) else {
                    continue;
                };
                let obj = match meta.kind {
                    Kind::Gauge | Kind::Unknown => stats::gauge(s, w, slice),
                    Kind::Counter => stats::counter(s, w, slice),
                    Kind::Histogram => stats::histogram(s, w, slice),
                };
                let Some(obj) = obj else { continue };
                let fam = out.entry(meta.name.clone()).or_insert_with(|| FamilyOut {
                    kind: meta.kind,
                    help: meta.help.clone(),
                    series: Vec::new(),
                });
                if fam.kind == meta.kind {
                    fam.series.push((e.url.clone(), s.labels.clone(), obj));
                }
            }
        }
        out
    }

    fn metrics_json(families: &BTreeMap<String, FamilyOut>) -> Json {
        let mut metrics = Map::new();
        for (name, fam) in families {
            let mut f = Map::new();
            f.insert("type".into(), json!(fam.kind.as_str()));
            f.insert("description".into(), json!(fam.help));
            if let Some(unit) = infer_unit(name) {
                f.insert("unit".into(), json!(unit));
            }
            let series: Vec<Json> = fam
                .series
                .iter()
                .map(|(url, labels, obj)| {
                    let mut s = Map::new();
                    s.insert("endpoint_url".into(), json!(url));
                    let l: Map<String, Json> =
                        labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                    s.insert("labels".into(), Json::Object(l));
                    for (k, v) in obj {
                        s.insert(k.clone(), v.clone());
                    }
                    Json::Object(s)
                })
                .collect();
            f.insert("series".into(), Json::Array(series));
            metrics.insert(name.clone(), Json::Object(f));
        }
        Json::Object(metrics)
    }

    /// The `server_metrics_export.json` document.
    pub fn export_json(
        &self,
        benchmark_id: &str,
        aiperf_version: &str,
        input_config: &Json,
    ) -> Json {
        let mut endpoint_info = Map::new();
        for e in &self.endpoints {
            let duration_s = if e.unique_updates > 0 {
                e.last_update_ns.saturating_sub(e.first_update_ns) as f64 / 1e9
            } else {
                0.0
            };
            let avg_interval_ms = if e.unique_updates > 1 {
                duration_s * 1000.0 / (e.unique_updates - 1) as f64
            } else {
                0.0
            };
            let median_ms = if e.update_intervals_ns.is_empty() {
                Json::Null
            } else {
                let v: Vec<f64> = e.update_intervals_ns.iter().map(|&x| x as f64).collect();
                json!(stats::percentile(&v, 50.0) / 1e6)
            };
            let avg_latency_ms = if e.total_fetches > 0 {
                e.latency_sum_ns as f64 / e.total_fetches as f64 / 1e6
            } else {
                0.0
            };
            endpoint_info.insert(
                e.url.clone(),
                json!({
                    "total_fetches": e.total_fetches,
                    "first_fetch_ns": e.first_fetch_ns,
                    "last_fetch_ns": e.last_fetch_ns,
                    "avg_fetch_latency_ms": avg_latency_ms,
                    "unique_updates": e.unique_updates,
                    "first_update_ns": e.first_update_ns,
                    "last_update_ns": e.last_update_ns,
                    "duration_seconds": duration_s,
                    "avg_update_interval_ms": avg_interval_ms,
                    "median_update_interval_ms": median_ms,
                }),
            );
        }
        let last_fetch = self
            .endpoints
            .iter()
            .map(|e| e.last_fetch_ns)
            .max()
            .unwrap_or(0);
        let first_fetch = self
            .endpoints
            .iter()
            .map(|e| e.first_fetch_ns)
            .min()
            .unwrap_or(0);
        let (p_start, p_end) = match self.phases.profiling {
            Some((s, e)) => (s, e.unwrap_or(last_fetch)),
            None => (first_fetch, last_fetch),
        };
        let mut ranges = Map::new();
        ranges.insert(
            "profiling".into(),
            json!({"start_ns": p_start, "end_ns": p_end}),
        );
        if let Some((s, e)) = self.phases.warmup {
            let e = e.unwrap_or(p_start);
            ranges.insert("warmup".into(), json!({"start_ns": s, "end_ns": e}));
        }
        let mut doc = Map::new();
        doc.insert("schema_version".into(), json!(JSON_SCHEMA_VERSION));
        doc.insert("aiperf_version".into(), json!(aiperf_version));
        doc.insert("benchmark_id".into(), json!(benchmark_id));
        doc.insert(
            "summary".into(),
            json!({
                "endpoints_configured": self.configured,
                "endpoints_successful": self.successful,
                "start_time": local_iso(p_start),
                "end_time": local_iso(p_end),
                "endpoint_info": endpoint_info,
                "phase_time_ranges": ranges,
            }),
        );
        doc.insert("metrics_phase".into(), json!("profiling"));
        let profiling = self.families(|e| Some(self.profiling_window(e)));
        doc.insert("metrics".into(), Self::metrics_json(&profiling));
        if self.phases.warmup.is_some() {
            let warm = self.families(|e| self.warmup_window(e));
            doc.insert("warmup_metrics".into(), Self::metrics_json(&warm));
        }
        doc.insert("input_config".into(), input_config.clone());
        Json::Object(doc)
    }

    /// The `server_metrics_export.csv` text: sections gauge, counter,
    /// histogram, unknown (gauge columns) and info (`*_info` gauges,
    /// one row per label), separated by blank lines; labels as columns.
    pub fn export_csv(&self, benchmark_id: &str, aiperf_version: &str) -> String {
        let families = self.families(|e| Some(self.profiling_window(e)));
        let mut out = format!(
            "# AIPerf Server Metrics Export (CSV)\n# aiperf_version: {aiperf_version}\n\
             # schema_version: 1.0\n# benchmark_id: {benchmark_id}\n\
             # Note: Same benchmark_id and version appear in JSON and Parquet exports\n#\n"
        );
        let mut sections: Vec<String> = Vec::new();
        for kind in [Kind::Gauge, Kind::Counter, Kind::Histogram, Kind::Unknown] {
            let rows: Vec<CsvRow<'_>> = families
                .iter()
                .filter(|(name, f)| {
                    f.kind == kind && !(kind == Kind::Gauge && name.ends_with("_info"))
                })
                .flat_map(|(name, f)| {
                    f.series.iter().map(move |(url, labels, obj)| CsvRow {
                        name,
                        help: &f.help,
                        url,
                        labels,
                        obj,
                    })
                })
                .collect();
            if !rows.is_empty() {
                sections.push(csv_section(kind, rows));
            }
        }
        let mut info = String::new();
        for (name, f) in families
            .iter()
            .filter(|(n, f)| f.kind == Kind::Gauge && n.ends_with("_info"))
        {
            for (url, labels, _) in &f.series {
                for (k, v) in labels {
                    info.push_str(&csv_line(&[&endpoint_display(url), name, k, v, &f.help]));
                }
            }
        }
        if !info.is_empty() {
            sections.push(format!(
                "{}{info}",
                csv_line(&["Endpoint", "Metric", "Key", "Value", "Description"])
            ));
        }
        out.push_str(&sections.join("\n"));
        out
    }
}

#[derive(Debug)]
struct CsvRow<'a> {
    name: &'a str,
    help: &'a str,
    url: &'a str,
    labels: &'a prom::Labels,
    obj: &'a Map<String, Json>,
}

const GAUGE_KEYS: [&str; 13] = [
    "avg", "min", "max", "std", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99",
];
const COUNTER_KEYS: [&str; 6] = [
    "total", "rate", "rate_avg", "rate_min", "rate_max", "rate_std",
];
const HISTOGRAM_KEYS: [&str; 14] = [
    "count",
    "count_rate",
    "sum",
    "sum_rate",
    "avg",
    "p1_estimate",
    "p5_estimate",
    "p10_estimate",
    "p25_estimate",
    "p50_estimate",
    "p75_estimate",
    "p90_estimate",
    "p95_estimate",
    "p99_estimate",
];

fn csv_section(kind: Kind, mut rows: Vec<CsvRow<'_>>) -> String {
    let keys: &[&str] = match kind {
        Kind::Counter => &COUNTER_KEYS,
        Kind::Histogram => &HISTOGRAM_KEYS,
        Kind::Gauge | Kind::Unknown => &GAUGE_KEYS,
    };
    let mut label_cols: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.labels.iter().map(|(k, _)| k.as_str()))
        .collect();
    label_cols.sort_unstable();
    label_cols.dedup();
    let label_of = |r: &CsvRow<'_>, col: &str| {
        r.labels
            .iter()
            .find(|(k, _)| k == col)
            .map(|(_, v)| v.clone())
    };
    // Rows with the same label columns present sit together (fewer columns
    // first), then by name, endpoint and label values.
    rows.sort_by_cached_key(|r| {
        let presence: Vec<bool> = label_cols
            .iter()
            .map(|c| label_of(r, c).is_some())
            .collect();
        let values: Vec<String> = label_cols
            .iter()
            .map(|c| label_of(r, c).unwrap_or_default())
            .collect();
        (presence, r.name.to_string(), r.url.to_string(), values)
    });
    let mut header: Vec<&str> = vec!["Endpoint", "Type", "Metric", "Unit"];
    header.extend_from_slice(keys);
    header.extend(label_cols.iter().copied());
    header.push("Description");
    if kind == Kind::Histogram {
        header.push("buckets");
    }
    let mut out = csv_line(&header);
    for r in &rows {
        let stats = r.obj.get("stats").and_then(Json::as_object);
        let mut cells: Vec<String> = vec![
            endpoint_display(r.url),
            kind.as_str().to_string(),
            r.name.to_string(),
            infer_unit(r.name).unwrap_or_default().to_string(),
        ];
        for k in keys {
            cells.push(
                stats
                    .and_then(|s| s.get(*k))
                    .map(csv_number)
                    .unwrap_or_default(),
            );
        }
        for c in &label_cols {
            cells.push(label_of(r, c).unwrap_or_default());
        }
        cells.push(r.help.to_string());
        if kind == Kind::Histogram {
            let buckets = r
                .obj
                .get("buckets")
                .and_then(Json::as_object)
                .map(|b| {
                    b.iter()
                        .map(|(le, v)| format!("{le}={}", csv_number(v)))
                        .collect::<Vec<_>>()
                        .join(";")
                })
                .unwrap_or_default();
            cells.push(buckets);
        }
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        out.push_str(&csv_line(&refs));
    }
    out
}

/// aiperf's CSV numbers: integers as is, floats with 4 decimals.
fn csv_number(v: &Json) -> String {
    match v {
        Json::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Json::Number(n) => n.as_f64().map(|f| format!("{f:.4}")).unwrap_or_default(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// One CSV line, Python `csv.writer` quoting (minimal) and `\n` endings
/// (as the sample file has them).
fn csv_line(cells: &[&str]) -> String {
    let mut line = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                (*c).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// The unit aiperf infers from a family name's suffix (longest first), or
/// from `num_requests_` anywhere in it.
fn infer_unit(name: &str) -> Option<&'static str> {
    const SUFFIXES: [(&str, &str); 27] = [
        ("_error_count_total", "errors"),
        ("_requests_total", "requests"),
        ("_seconds_total", "seconds"),
        ("_tokens_total", "tokens"),
        ("_blocks_total", "blocks"),
        ("_errors_total", "errors"),
        ("_bytes_total", "bytes"),
        ("_milliseconds", "milliseconds"),
        ("_nanoseconds", "nanoseconds"),
        ("_error_count", "errors"),
        ("_block_count", "blocks"),
        ("request_success", "requests"),
        ("_gigabytes", "gigabytes"),
        ("_megabytes", "megabytes"),
        ("_kilobytes", "kilobytes"),
        ("_ms_total", "milliseconds"),
        ("_ns_total", "nanoseconds"),
        ("_requests", "requests"),
        ("_seconds", "seconds"),
        ("_percent", "percent"),
        ("_celsius", "celsius"),
        ("_tokens", "tokens"),
        ("_errors", "errors"),
        ("_blocks", "blocks"),
        ("_joules", "joules"),
        ("_watts", "watts"),
        ("_bytes", "bytes"),
    ];
    const SHORT: [(&str, &str); 8] = [
        ("_total", "count"),
        ("_count", "count"),
        ("_ratio", "ratio"),
        ("_gb_s", "GB/s"),
        ("_perc", "percent"),
        ("_reqs", "requests"),
        ("_ms", "milliseconds"),
        ("_ns", "nanoseconds"),
    ];
    let lower = name.to_ascii_lowercase();
    let mut all: Vec<(&str, &str)> = SUFFIXES.iter().chain(SHORT.iter()).copied().collect();
    all.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    if let Some((_, unit)) = all.into_iter().find(|(s, _)| lower.ends_with(s)) {
        return Some(unit);
    }
    lower.contains("num_requests_").then_some("requests")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_discovery_dedupes() {
        let got = endpoints(
            "http://127.0.0.1:8000/v1/chat/completions",
            &[
                "http://127.0.0.1:8000/metrics, 10.0.0.2:9000".to_string(),
                "http://h:1/custom".to_string(),
            ],
        );
        assert_eq!(
            got,
            vec![
                "http://127.0.0.1:8000/metrics",
                "http://10.0.0.2:9000/metrics",
                "http://h:1/custom"
            ]
        );
        assert_eq!(endpoints("http://x:1", &[]), vec!["http://x:1/metrics"]);
        assert_eq!(
            endpoints("localhost:8000", &[]),
            vec!["http://localhost:8000/metrics"]
        );
        assert_eq!(endpoints("", &[]), Vec::<String>::new());
    }

    #[test]
    fn units_follow_the_sample() {
        for (name, unit) in [
            ("vllm:generation_tokens", Some("tokens")),
            ("vllm:request_success", Some("requests")),
            ("vllm:gpu_cache_usage_perc", Some("percent")),
            ("vllm:num_requests_running", Some("requests")),
            ("vllm:time_to_first_token_seconds", Some("seconds")),
            ("servebench_sim_faults", None),
            ("vllm:prefix_cache_queries", None),
        ] {
            assert_eq!(infer_unit(name), unit, "{name}");
        }
    }

    #[test]
    fn interval_from_env() {
        assert_eq!(collection_interval(None).unwrap(), DEFAULT_INTERVAL);
        assert_eq!(
            collection_interval(Some("0.5")).unwrap(),
            Duration::from_millis(500)
        );
        assert!(collection_interval(Some("-1")).is_err());
        assert!(collection_interval(Some("abc")).is_err());
    }

    #[test]
    fn python_isoformat_of_local_time() {
        let with_micros = local_iso(1_795_975_279_099_952_754);
        assert_eq!(
            with_micros.len(),
            "2026-11-29T18:01:19.099952".len(),
            "{with_micros}"
        );
        assert!(with_micros.ends_with(".099953"), "{with_micros}");
        let whole = local_iso(1_795_975_278_999_999_501);
        assert_eq!(whole.len(), "2026-11-29T18:01:19".len(), "{whole}");
    }

    /// One endpoint scraped at 1 s, 2 s and 3 s.
    fn scraped(bodies: [&str; 3]) -> ServerMetrics {
        let mut e = EndpointState::new("http://h:1/metrics".into());
        for (i, body) in bodies.iter().enumerate() {
            let t = (i as u64 + 1) * 1_000_000_000;
            e.record(http::Fetched {
                status: 200,
                content_type: Some("text/plain".into()),
                body: body.as_bytes().to_vec(),
                request_sent_ns: t,
                first_byte_ns: t + 1000,
                done_ns: t + 2000,
            })
            .unwrap();
        }
        ServerMetrics {
            configured: vec![e.url.clone()],
            successful: vec![e.url.clone()],
            endpoints: vec![e],
            phases: PhaseTimes {
                warmup: None,
                profiling: Some((1_500_000_000, None)),
            },
            slice_duration: None,
            warnings: vec![],
        }
    }

    #[test]
    fn csv_sections_in_order_with_unknown_and_info() {
        let body = |k: u32| {
            format!(
                "# TYPE a_gauge gauge\na_gauge {k}\n# TYPE c_total counter\nc_total{{x=\"1\"}} {k}\n\
                 # TYPE h histogram\nh_bucket{{le=\"1\"}} {k}\nh_bucket{{le=\"+Inf\"}} {k}\nh_sum {k}\nh_count {k}\n\
                 untyped_thing{{y=\"2\"}} 7\n# TYPE srv_info gauge\nsrv_info{{version=\"9\",git=\"abc\"}} 1\n"
            )
        };
        let (b1, b2, b3) = (body(1), body(2), body(4));
        let m = scraped([&b1, &b2, &b3]);
        let csv = m.export_csv("id", "0.13.0");
        let sections: Vec<&str> = csv.split("\n\n").collect();
        assert_eq!(sections.len(), 5, "{csv}");
        assert!(sections[0].contains("\nEndpoint,Type,Metric,Unit,avg,"));
        assert!(
            sections[0].contains("\nh:1,gauge,a_gauge,,3.0000,2.0000,4.0000,"),
            "{csv}"
        );
        assert!(sections[1].starts_with("Endpoint,Type,Metric,Unit,total,rate,rate_avg,rate_min,rate_max,rate_std,x,Description\n"));
        // The reference is the scrape before the window (1 s): 4 - 1 over 2 s.
        assert!(
            sections[1].ends_with("\nh:1,counter,c,,3.0000,1.5000,,,,,1,"),
            "{csv}"
        );
        assert!(
            sections[2].contains("h:1,histogram,h,,3,1.5000,3.0000,1.5000,1.0000,"),
            "{csv}"
        );
        assert!(sections[2].ends_with(",1=3;+Inf=3"), "{csv}");
        assert!(sections[3].starts_with("Endpoint,Type,Metric,Unit,avg,"));
        assert!(
            sections[3].contains("h:1,unknown,untyped_thing,,7.0000,"),
            "{csv}"
        );
        assert_eq!(
            sections[4],
            "Endpoint,Metric,Key,Value,Description\nh:1,srv_info,git,abc,\nh:1,srv_info,version,9,\n"
        );
        let doc = m.export_json("id", "0.13.0", &Json::Null);
        assert_eq!(doc["metrics"]["untyped_thing"]["type"], "unknown");
        assert_eq!(
            doc["metrics"]["c"]["series"][0]["stats"],
            json!({"total": 3.0, "rate": 1.5})
        );
        assert!(doc.get("warmup_metrics").is_none());
        let info = &doc["summary"]["endpoint_info"]["http://h:1/metrics"];
        assert_eq!(info["total_fetches"], 3);
        assert_eq!(info["unique_updates"], 3);
        assert_eq!(info["avg_fetch_latency_ms"], 0.002);
        assert_eq!(info["median_update_interval_ms"], 1000.0);
    }

    #[test]
    fn json_endpoint_is_refused() {
        let mut e = EndpointState::new("http://h:1/metrics".into());
        let err = e
            .record(http::Fetched {
                status: 200,
                content_type: Some("application/json".into()),
                body: b"{}".to_vec(),
                request_sent_ns: 1,
                first_byte_ns: 2,
                done_ns: 3,
            })
            .unwrap_err();
        assert!(err.contains("json"), "{err}");
        assert_eq!(e.total_fetches, 0);
    }

    #[test]
    fn csv_quoting_and_numbers() {
        assert_eq!(csv_line(&["a", "b,c", "d\"e"]), "a,\"b,c\",\"d\"\"e\"\n");
        assert_eq!(csv_number(&json!(2972)), "2972");
        assert_eq!(csv_number(&json!(134.22987309319967)), "134.2299");
        assert_eq!(csv_number(&json!(0.0)), "0.0000");
        assert_eq!(
            endpoint_display("http://127.0.0.1:18431/metrics"),
            "127.0.0.1:18431"
        );
    }
}
