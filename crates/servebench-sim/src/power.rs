//! The simulated GPUs' power draw, written as nvidia-smi would log it
//! (`sim_server --gpu-metrics-csv FILE`, model mode only).
//!
//! Model. Each of the deployment's `tp` GPUs draws
//!
//! ```text
//! P = idle_w + (peak_w - idle_w) × activity
//! ```
//!
//! (`idle_w`, `peak_w` per GPU in `sim.yaml`). `activity` is the engine's
//! activity level averaged over the sample interval: 0 while no step runs,
//! and during a step [`Deployment::step_activity`] — 0.6
//! ([`MEMORY_BOUND_ACTIVITY`](crate::model::MEMORY_BOUND_ACTIVITY)) for a
//! step that only streams weights and KV cache, rising linearly to 1 with the
//! share of the step's time that is compute. So an idle server draws
//! `idle_w`, a low-concurrency decode (memory bound, busy all the time)
//! about idle + 0.6 × (peak − idle), and chunked prefill at full batch the
//! peak. Tensor parallelism splits every step evenly, so all `tp` GPUs draw
//! the same.
//!
//! Output. The format `nvidia-smi --query-gpu=timestamp,index,power.draw,
//! utilization.gpu,power.limit --format=csv -lms 100` writes, which
//! InferenceX's `aggregate_power` detects (edition 2026-08, SPEC-bench §4.2):
//!
//! ```text
//! timestamp, index, power.draw [W], utilization.gpu [%], power.limit [W]
//! 2026/08/21 12:00:05.123, 0, 412.34 W, 60 %, 700.00 W
//! ```
//!
//! Timestamps are local time (the process's `TZ`), millisecond resolution,
//! as nvidia-smi prints them. One sample (one row per GPU) every
//! [`SAMPLE_PERIOD_S`] of *simulated* time, i.e. every `0.1 / speedup`
//! seconds of wall time, from the server's start to its shutdown (a last
//! sample is written then). Timestamps are simulated time too: wall time
//! `w` is written as `origin + (w − origin) × speedup`, where `origin` is
//! `--clock-origin` (unix seconds) or else the server's start. A client that
//! scales its own wall-clock times the same way around the same origin (the
//! sweep does) gets a benchmark window that lines up with the samples.
//!
//! The sampler is its own thread: the engine only updates one
//! mutex-guarded level per step ([`Activity`](crate::engine::Activity)).

use crate::engine::Gauges;
use crate::model::Deployment;
use crate::SimError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds of simulated time between two samples.
pub const SAMPLE_PERIOD_S: f64 = 0.1;

/// The CSV header (nvidia-smi's, for the queried fields).
pub const HEADER: &str = "timestamp, index, power.draw [W], utilization.gpu [%], power.limit [W]";

/// Where the GPU metrics go: an open file (created, truncated) and the
/// clock origin of its timestamps.
#[derive(Debug)]
pub struct GpuMetrics {
    path: PathBuf,
    file: std::fs::File,
    /// Unix seconds; `None`: the server's start.
    clock_origin_unix: Option<f64>,
}

impl GpuMetrics {
    /// Creates (truncates) `path`. `clock_origin_unix`: see the module
    /// documentation.
    pub fn create(path: &Path, clock_origin_unix: Option<f64>) -> Result<GpuMetrics, SimError> {
        if let Some(origin) = clock_origin_unix {
            if !origin.is_finite() {
                return Err(SimError::ClockOrigin(origin));
            }
        }
        let file = std::fs::File::create(path).map_err(|source| SimError::GpuMetrics {
            path: path.to_owned(),
            source,
        })?;
        Ok(GpuMetrics {
            path: path.to_owned(),
            file,
            clock_origin_unix,
        })
    }
}

/// A running sampler; [`Sampler::stop`] writes the last sample and flushes.
#[derive(Debug)]
pub(crate) struct Sampler {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), SimError>>,
}

/// One power reading per GPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reading {
    pub watts: f64,
    /// Percent, 0..=100.
    pub utilization: f64,
}

/// `P = idle + (peak − idle) × activity` (activity clamped to [0, 1]).
pub(crate) fn reading(d: &Deployment, activity: f64) -> Reading {
    let a = if activity.is_nan() {
        0.0
    } else {
        activity.clamp(0.0, 1.0)
    };
    Reading {
        watts: d.gpu.idle_w + (d.gpu.peak_w - d.gpu.idle_w) * a,
        utilization: a * 100.0,
    }
}

/// nvidia-smi's timestamp, `YYYY/MM/DD HH:MM:SS.mmm`, in local time.
pub(crate) fn nvidia_smi_timestamp(unix_seconds: f64) -> String {
    let micros = (unix_seconds * 1e6).round() as i64;
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => t
            .with_timezone(&chrono::Local)
            .format("%Y/%m/%d %H:%M:%S%.3f")
            .to_string(),
        None => String::new(),
    }
}

/// The rows of one sample: one per GPU.
pub(crate) fn rows(unix_seconds: f64, tp: u32, r: Reading, limit_w: f64) -> String {
    let ts = nvidia_smi_timestamp(unix_seconds);
    (0..tp)
        .map(|i| {
            format!(
                "{ts}, {i}, {:.2} W, {:.0} %, {limit_w:.2} W\n",
                r.watts, r.utilization
            )
        })
        .collect()
}

impl Sampler {
    /// Starts sampling `gauges` for deployment `d` running `speedup` times
    /// faster than simulated time.
    pub(crate) fn start(
        out: GpuMetrics,
        d: Deployment,
        speedup: f64,
        gauges: Arc<Gauges>,
    ) -> Result<Sampler, SimError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let path = out.path.clone();
        let thread = std::thread::Builder::new()
            .name("sim-power".into())
            .spawn(move || sample(out, &d, speedup, &gauges, &stopped))
            .map_err(|source| SimError::GpuMetrics { path, source })?;
        Ok(Sampler { stop, thread })
    }

    /// Writes the last sample, flushes, and returns the first write error.
    pub(crate) fn stop(self) -> Result<(), SimError> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or(Err(SimError::SamplerPanicked))
    }
}

fn sample(
    out: GpuMetrics,
    d: &Deployment,
    speedup: f64,
    gauges: &Gauges,
    stopped: &mpsc::Receiver<()>,
) -> Result<(), SimError> {
    let GpuMetrics {
        path,
        file,
        clock_origin_unix,
    } = out;
    let failed = |source| SimError::GpuMetrics {
        path: path.clone(),
        source,
    };
    let start = Instant::now();
    let wall_start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |t| t.as_secs_f64());
    let origin = clock_origin_unix.unwrap_or(wall_start);
    let simulated =
        |at: Instant| origin + (wall_start + (at - start).as_secs_f64() - origin) * speedup;
    let integral = |at: Instant| gauges.activity.lock().map_or(0.0, |a| a.integral_at(at));
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "{HEADER}").map_err(failed)?;
    let level = gauges.activity.lock().map_or(0.0, |a| a.level());
    let first = rows(simulated(start), d.tp, reading(d, level), d.gpu.peak_w);
    w.write_all(first.as_bytes()).map_err(failed)?;
    let period = Duration::from_secs_f64(SAMPLE_PERIOD_S / speedup);
    let (mut last, mut last_integral) = (start, integral(start));
    let mut deadline = start;
    loop {
        deadline += period;
        let now = Instant::now();
        if deadline + period < now {
            deadline = now; // fell behind: resynchronise instead of bursting
        }
        let stop = match stopped.recv_timeout(deadline.saturating_duration_since(now)) {
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        let now = Instant::now();
        let total = integral(now);
        let span = (now - last).as_secs_f64();
        let activity = if span > 0.0 {
            (total - last_integral) / span
        } else {
            gauges.activity.lock().map_or(0.0, |a| a.level())
        };
        let text = rows(simulated(now), d.tp, reading(d, activity), d.gpu.peak_w);
        w.write_all(text.as_bytes()).map_err(failed)?;
        (last, last_integral) = (now, total);
        if stop {
            return w.flush().map_err(failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Gpu, Model, Precision};

    fn h100(tp: u32) -> Deployment {
        Deployment {
            gpu: Gpu {
                tflops_bf16: 989.0,
                tflops_fp8: 1979.0,
                tflops_fp4: 1979.0,
                memory_tbs: 3.35,
                memory_gb: 80.0,
                compute_efficiency: 0.55,
                memory_efficiency: 0.8,
                idle_w: 80.0,
                peak_w: 700.0,
            },
            model: Model {
                params_b: 8.0,
                active_params_b: 8.0,
                kv_bytes_per_token: 131_072.0,
            },
            precision: Precision::Bf16,
            tp,
            max_num_batched_tokens: 8192,
            max_num_seqs: 256,
            gpu_memory_utilization: 0.9,
        }
    }

    #[test]
    fn power_is_idle_plus_activity_times_the_dynamic_range() {
        let d = h100(1);
        assert_eq!(reading(&d, 0.0).watts, 80.0);
        assert_eq!(reading(&d, 1.0).watts, 700.0);
        assert_eq!(reading(&d, 0.5).watts, 390.0);
        assert_eq!(reading(&d, 2.0).watts, 700.0);
        assert_eq!(reading(&d, f64::NAN).watts, 80.0);
        assert_eq!(reading(&d, 0.25).utilization, 25.0);
    }

    #[test]
    fn rows_are_nvidia_smi_csv() {
        // 2026-08-21 12:00:05.123 UTC, written in the process's local
        // time; the test compares against chrono's own local rendering.
        let t = 1_787_313_605.123;
        let ts = nvidia_smi_timestamp(t);
        assert_eq!(ts.len(), "2026/08/21 12:00:05.123".len(), "{ts}");
        assert!(ts.ends_with(":05.123"), "{ts}");
        let text = rows(t, 2, reading(&h100(2), 0.5), 700.0);
        assert_eq!(
            text,
            format!("{ts}, 0, 390.00 W, 50 %, 700.00 W\n{ts}, 1, 390.00 W, 50 %, 700.00 W\n")
        );
    }

    #[test]
    fn sampler_writes_a_header_and_bracketing_samples_for_every_gpu() {
        let dir = std::env::temp_dir().join(format!("sim-power-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gpu_metrics.csv");
        let origin = 1_787_313_600.0;
        let out = GpuMetrics::create(&path, Some(origin)).unwrap();
        let gauges = Arc::new(Gauges::default());
        let speedup = 10.0;
        let s = Sampler::start(out, h100(4), speedup, Arc::clone(&gauges)).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        gauges.activity.lock().unwrap().set(Instant::now(), 1.0);
        std::thread::sleep(Duration::from_millis(60));
        s.stop().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(HEADER));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(", ").collect()).collect();
        assert!(rows.len() >= 4 * 5, "{text}");
        assert!(rows.chunks(4).all(|c| c
            .iter()
            .enumerate()
            .all(|(i, r)| r[1] == i.to_string() && r[0] == c[0][0])));
        // Idle first, full power last.
        assert_eq!(rows[0][2], "80.00 W");
        assert_eq!(rows[rows.len() - 1][2], "700.00 W");
        assert!(rows.iter().all(|r| r[4] == "700.00 W"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_path_or_origin_is_an_error() {
        let err = GpuMetrics::create(Path::new("/nonexistent/dir/x.csv"), None).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/dir/x.csv: "),
            "{err}"
        );
        let err = GpuMetrics::create(Path::new("x.csv"), Some(f64::NAN)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--clock-origin must be a finite number of unix seconds, got NaN"
        );
    }
}
