//! The replay's account of itself (issue 17, item 5): did it send requests
//! when the schedule said (dispatch lateness), did it honour the recorded
//! think times, did it keep the asked number of trees busy (lane
//! occupancy), and did the server see the prefix reuse the traces promise
//! (achieved `vllm:prefix_cache_hits / queries` against the theoretical
//! hit rate from hash ids). Printed on stderr by the binary and written to
//! [`AUDIT_FILE`] in the artifact directory.

use crate::record::Phase;
use crate::replay::ReplayOutcome;
use crate::AgentxError;
use serde_json::json;
use std::path::Path;

/// The side file in `--output-artifact-dir`.
pub const AUDIT_FILE: &str = "replay_audit.json";
/// p99 dispatch lateness above which the client, not the trace, decided
/// when requests started.
pub const LATE_P99_MS: f64 = 5.0;

/// Percentiles of a sample, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Spread {
    fn of(seconds: &[f64]) -> Spread {
        let ms: Vec<f64> = seconds
            .iter()
            .map(|s| s * 1000.0)
            .filter(|v| v.is_finite())
            .collect();
        // numpy's linear percentile, 0 for an empty sample.
        let pick = |p: f64| servebench_metrics::percentile(&servebench_metrics::or_zero(&ms), p);
        Spread {
            count: ms.len(),
            p50_ms: pick(50.0),
            p99_ms: pick(99.0),
            max_ms: ms.iter().copied().reduce(f64::max).unwrap_or(0.0),
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({"count": self.count, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms})
    }
}

/// The audit of one replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// Sent minus scheduled, every dispatch (warm-up and profiling).
    pub lateness: Spread,
    /// The same, profiling only.
    pub lateness_profiling: Spread,
    /// The dispatcher's share (scheduled to decided), profiling only; the
    /// rest of the lateness is the request task getting a thread.
    pub issue_lateness_profiling: Spread,
    /// Profiling lateness of timer-driven sends and of reactions (sends
    /// due before the completion that allowed them was taken in).
    pub lateness_timer: Spread,
    pub lateness_reaction: Spread,
    /// Think times with a same-stream predecessor: how many, the mean
    /// recorded gap, the mean gap the schedule asked for (after idle caps
    /// and joins), the mean actual gap, and actual minus scheduled.
    pub think_count: usize,
    pub think_recorded_mean_s: f64,
    pub think_scheduled_mean_s: f64,
    pub think_actual_mean_s: f64,
    pub think_error: Spread,
    /// Lanes asked for and the time-weighted mean of lanes holding a tree
    /// over the profiling window.
    pub concurrency: usize,
    pub mean_busy_lanes: f64,
    /// Theoretical prefix-cache hit rate of the profiled requests (hash-id
    /// blocks seen before in the trace / blocks), percent.
    pub theoretical_hit_pct: Option<f64>,
    /// The server's `vllm:prefix_cache_hits / queries` over the profiling
    /// window, percent, when scraped.
    pub achieved_hit_pct: Option<f64>,
    pub global_idle_jumps: u64,
    pub global_idle_skipped_s: f64,
    pub tree_idle_jumps: u64,
    pub tree_idle_skipped_s: f64,
    pub recycles: u64,
    pub primers: u64,
    pub advances: u64,
    /// Whether the schedule was kept, and why.
    pub verdict: String,
}

/// Sums the profiling-window totals of the server's prefix-cache counters
/// in a `server_metrics_export.json` document: `(hits, queries)`.
pub fn server_prefix_counts(export: &serde_json::Value) -> Option<(f64, f64)> {
    let total = |name: &str| -> Option<f64> {
        let series = export
            .get("metrics")?
            .get(name)?
            .get("series")?
            .as_array()?;
        Some(
            series
                .iter()
                .filter_map(|s| s.get("stats")?.get("total")?.as_f64())
                .sum(),
        )
    };
    Some((
        total("vllm:prefix_cache_hits")?,
        total("vllm:prefix_cache_queries")?,
    ))
}

impl Audit {
    /// `server_prefix`: `(hits, queries)` of the server's prefix cache over
    /// the profiling window, if scraped (see [`server_prefix_counts`]).
    pub fn compute(outcome: &ReplayOutcome, server_prefix: Option<(f64, f64)>) -> Audit {
        let all: Vec<f64> = outcome.samples.iter().map(|s| s.lateness_s).collect();
        let prof: Vec<f64> = outcome
            .samples
            .iter()
            .filter(|s| s.phase == Phase::Profiling)
            .map(|s| s.lateness_s)
            .collect();
        let issue: Vec<f64> = outcome
            .samples
            .iter()
            .filter(|s| s.phase == Phase::Profiling)
            .map(|s| s.issue_lateness_s)
            .collect();
        let split = |reaction: bool| -> Vec<f64> {
            outcome
                .samples
                .iter()
                .filter(|s| s.phase == Phase::Profiling && s.reaction == reaction)
                .map(|s| s.lateness_s)
                .collect()
        };
        let gaps: Vec<(f64, f64, f64)> = outcome
            .samples
            .iter()
            .filter(|s| s.phase == Phase::Profiling)
            .filter_map(|s| s.gap)
            .collect();
        let mean = |f: &dyn Fn(&(f64, f64, f64)) -> f64| {
            if gaps.is_empty() {
                0.0
            } else {
                gaps.iter().map(f).sum::<f64>() / gaps.len() as f64
            }
        };
        let errors: Vec<f64> = gaps.iter().map(|g| g.2 - g.1).collect();
        let window = match (outcome.profiling_start_ns, outcome.profiling_end_ns) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => 0.0,
        };
        let mean_busy_lanes = if window > 0.0 {
            outcome.stats.busy_lane_s / window
        } else {
            0.0
        };
        let (mut hits, mut blocks) = (0u64, 0u64);
        for r in outcome
            .records
            .iter()
            .filter(|r| r.phase == Phase::Profiling)
        {
            if let Some(h) = r.prior_hit_blocks {
                hits = hits.saturating_add(h);
                blocks = blocks.saturating_add(r.hash_ids.len() as u64);
            }
        }
        let theoretical_hit_pct = (blocks > 0).then(|| hits as f64 * 100.0 / blocks as f64);
        let achieved_hit_pct = server_prefix
            .filter(|(_, q)| *q > 0.0)
            .map(|(h, q)| h * 100.0 / q);
        let lateness = Spread::of(&all);
        let lateness_profiling = Spread::of(&prof);
        let occupancy = if outcome.concurrency > 0 {
            mean_busy_lanes / outcome.concurrency as f64
        } else {
            0.0
        };
        let verdict = if lateness.p99_ms > LATE_P99_MS {
            format!(
                "LATE: p99 dispatch lateness {:.2} ms > {LATE_P99_MS} ms: the client delayed requests",
                lateness.p99_ms
            )
        } else if window > 0.0 && occupancy < 0.9 {
            format!(
                "UNDER-OCCUPIED: {:.1} of {} lanes busy on average ({:.0}%): trees ran out or drained slowly",
                mean_busy_lanes,
                outcome.concurrency,
                occupancy * 100.0
            )
        } else {
            format!(
                "OK: p99 dispatch lateness {:.2} ms <= {LATE_P99_MS} ms, {:.0}% lane occupancy",
                lateness.p99_ms,
                occupancy * 100.0
            )
        };
        Audit {
            lateness,
            lateness_profiling,
            issue_lateness_profiling: Spread::of(&issue),
            lateness_timer: Spread::of(&split(false)),
            lateness_reaction: Spread::of(&split(true)),
            think_count: gaps.len(),
            think_recorded_mean_s: mean(&|g| g.0),
            think_scheduled_mean_s: mean(&|g| g.1),
            think_actual_mean_s: mean(&|g| g.2),
            think_error: Spread::of(&errors),
            concurrency: outcome.concurrency,
            mean_busy_lanes,
            theoretical_hit_pct,
            achieved_hit_pct,
            global_idle_jumps: outcome.stats.global_idle_jumps,
            global_idle_skipped_s: outcome.stats.global_idle_skipped_s,
            tree_idle_jumps: outcome.stats.tree_idle_jumps,
            tree_idle_skipped_s: outcome.stats.tree_idle_skipped_s,
            recycles: outcome.stats.recycles,
            primers: outcome.stats.primers,
            advances: outcome.stats.advances,
            verdict,
        }
    }

    /// Human-readable lines (the binary prints them on stderr).
    pub fn lines(&self) -> Vec<String> {
        let pct = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1}%"));
        vec![
            format!(
                "Replay audit: dispatch lateness p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} requests (profiling p50 {:.3} ms, p99 {:.3} ms; the dispatcher's part p99 {:.3} ms)",
                self.lateness.p50_ms,
                self.lateness.p99_ms,
                self.lateness.max_ms,
                self.lateness.count,
                self.lateness_profiling.p50_ms,
                self.lateness_profiling.p99_ms,
                self.issue_lateness_profiling.p99_ms
            ),
            format!(
                "  profiling sends on a timer: p50 {:.3} ms, p99 {:.3} ms ({}); reacting to a completion: p50 {:.3} ms, p99 {:.3} ms ({})",
                self.lateness_timer.p50_ms,
                self.lateness_timer.p99_ms,
                self.lateness_timer.count,
                self.lateness_reaction.p50_ms,
                self.lateness_reaction.p99_ms,
                self.lateness_reaction.count
            ),
            format!(
                "  think times: {} gaps, recorded mean {:.3} s, scheduled mean {:.3} s, actual mean {:.3} s (actual - scheduled p99 {:.3} ms)",
                self.think_count,
                self.think_recorded_mean_s,
                self.think_scheduled_mean_s,
                self.think_actual_mean_s,
                self.think_error.p99_ms
            ),
            format!(
                "  lanes: {:.2} of {} busy on average; {} recycles; {} primers + {} advances in warm-up",
                self.mean_busy_lanes, self.concurrency, self.recycles, self.primers, self.advances
            ),
            format!(
                "  idle caps: {} global jumps ({:.1} s skipped), {} per-tree jumps ({:.1} s skipped)",
                self.global_idle_jumps,
                self.global_idle_skipped_s,
                self.tree_idle_jumps,
                self.tree_idle_skipped_s
            ),
            format!(
                "  prefix reuse: theoretical {}, achieved (server) {}",
                pct(self.theoretical_hit_pct),
                pct(self.achieved_hit_pct)
            ),
            format!("  verdict: {}", self.verdict),
        ]
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "dispatch_lateness": self.lateness.json(),
            "dispatch_lateness_profiling": self.lateness_profiling.json(),
            "dispatcher_lateness_profiling": self.issue_lateness_profiling.json(),
            "dispatch_lateness_timer": self.lateness_timer.json(),
            "dispatch_lateness_reaction": self.lateness_reaction.json(),
            "think_times": {
                "count": self.think_count,
                "recorded_mean_s": self.think_recorded_mean_s,
                "scheduled_mean_s": self.think_scheduled_mean_s,
                "actual_mean_s": self.think_actual_mean_s,
                "actual_minus_scheduled": self.think_error.json(),
            },
            "occupancy": {
                "concurrency": self.concurrency,
                "mean_busy_lanes": self.mean_busy_lanes,
                "ratio": if self.concurrency > 0 { self.mean_busy_lanes / self.concurrency as f64 } else { 0.0 },
            },
            "prefix_reuse": {
                "theoretical_hit_pct": self.theoretical_hit_pct,
                "achieved_hit_pct": self.achieved_hit_pct,
            },
            "idle_caps": {
                "global_jumps": self.global_idle_jumps,
                "global_skipped_s": self.global_idle_skipped_s,
                "tree_jumps": self.tree_idle_jumps,
                "tree_skipped_s": self.tree_idle_skipped_s,
            },
            "recycles": self.recycles,
            "warmup": {"primers": self.primers, "advances": self.advances},
            "verdict": self.verdict,
        })
    }

    /// Writes [`AUDIT_FILE`] into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), AgentxError> {
        let path = dir.join(AUDIT_FILE);
        let text = serde_json::to_vec_pretty(&self.to_json()).map_err(|e| AgentxError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
        servebench_files::write_atomic(&path, &text)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{DispatchSample, ReplayStats};

    #[test]
    fn spread_and_counts() {
        let s = Spread::of(&[0.001, 0.002, 0.003]);
        assert_eq!(s.count, 3);
        assert!((s.p50_ms - 2.0).abs() < 1e-9);
        assert!((s.max_ms - 3.0).abs() < 1e-9);
        let export = json!({"metrics": {
            "vllm:prefix_cache_hits": {"series": [{"stats": {"total": 30.0}}, {"stats": {"total": 10.0}}]},
            "vllm:prefix_cache_queries": {"series": [{"stats": {"total": 100.0}}]},
        }});
        assert_eq!(server_prefix_counts(&export), Some((40.0, 100.0)));
        assert_eq!(server_prefix_counts(&json!({})), None);
    }

    #[test]
    fn verdicts() {
        let mut outcome = ReplayOutcome {
            records: Vec::new(),
            cancelled: false,
            failure: None,
            warmup_start_ns: 0,
            warmup_end_ns: Some(0),
            profiling_start_ns: Some(0),
            profiling_end_ns: Some(10_000_000_000),
            stats: ReplayStats {
                busy_lane_s: 20.0,
                ..ReplayStats::default()
            },
            samples: vec![
                DispatchSample {
                    phase: Phase::Profiling,
                    lateness_s: 0.0002,
                    issue_lateness_s: 0.0001,
                    reaction: false,
                    gap: Some((1.0, 1.0, 1.0003)),
                };
                10
            ],
            concurrency: 2,
        };
        let a = Audit::compute(&outcome, Some((1.0, 4.0)));
        assert!(a.verdict.starts_with("OK"), "{}", a.verdict);
        assert_eq!(a.mean_busy_lanes, 2.0);
        assert_eq!(a.achieved_hit_pct, Some(25.0));
        assert!((a.think_error.p50_ms - 0.3).abs() < 1e-6);
        assert_eq!(a.lines().len(), 7);
        assert_eq!((a.lateness_timer.count, a.lateness_reaction.count), (10, 0));
        outcome.samples[0].lateness_s = 0.5;
        let a = Audit::compute(&outcome, None);
        assert!(a.verdict.starts_with("LATE"), "{}", a.verdict);
        outcome.samples[0].lateness_s = 0.0;
        outcome.stats.busy_lane_s = 5.0;
        let a = Audit::compute(&outcome, None);
        assert!(a.verdict.starts_with("UNDER"), "{}", a.verdict);
    }
}
