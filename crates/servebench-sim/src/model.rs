//! The performance model behind the simulated GPU.
//!
//! One scheduler step runs a batch of tokens through the model: every
//! running sequence past its prefill decodes one token, and the rest of the
//! step's token budget (`max_num_batched_tokens`) goes to prompt chunks
//! (chunked prefill), oldest request first. A step takes
//!
//! ```text
//! t = max(compute, memory)
//! compute = 2 · active_params · tokens            / (tp · peak_flops[precision] · compute_efficiency)
//! memory  = (weight_bytes + Σ context_i · kv_bytes_per_token) / (tp · bandwidth · memory_efficiency)
//! ```
//!
//! where weights are `params · bytes_per_param` (bf16 2, fp8 1, fp4 0.5) and
//! the KV term covers the context of every sequence in the step. Tensor
//! parallelism splits both. A request is admitted only when the KV cache
//! (GPU memory × `gpu_memory_utilization` × tp, minus the weights) can hold
//! its prompt plus all its output tokens; otherwise it waits.

use crate::SimError;
use servebench_pyjson::Value;
use std::path::PathBuf;

/// Numbers per GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    /// Peak dense TFLOP/s by precision.
    pub tflops_bf16: f64,
    pub tflops_fp8: f64,
    pub tflops_fp4: f64,
    pub memory_tbs: f64,
    pub memory_gb: f64,
    pub compute_efficiency: f64,
    pub memory_efficiency: f64,
    /// Board power with nothing running, watts (module `power`).
    pub idle_w: f64,
    /// Board power limit (TDP), watts: the draw at full activity.
    pub peak_w: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub params_b: f64,
    pub active_params_b: f64,
    pub kv_bytes_per_token: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Bf16,
    Fp8,
    Fp4,
}

impl Precision {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bf16" | "fp16" => Some(Precision::Bf16),
            "fp8" => Some(Precision::Fp8),
            "fp4" => Some(Precision::Fp4),
            _ => None,
        }
    }

    fn bytes_per_param(self) -> f64 {
        match self {
            Precision::Bf16 => 2.0,
            Precision::Fp8 => 1.0,
            Precision::Fp4 => 0.5,
        }
    }
}

/// A GPU, a model, a precision and a parallelism: one simulated server.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub gpu: Gpu,
    pub model: Model,
    pub precision: Precision,
    pub tp: u32,
    pub max_num_batched_tokens: usize,
    pub max_num_seqs: usize,
    pub gpu_memory_utilization: f64,
}

impl Deployment {
    fn flops(&self) -> f64 {
        let peak = match self.precision {
            Precision::Bf16 => self.gpu.tflops_bf16,
            Precision::Fp8 => self.gpu.tflops_fp8,
            Precision::Fp4 => self.gpu.tflops_fp4,
        };
        f64::from(self.tp) * peak * 1e12 * self.gpu.compute_efficiency
    }

    fn bandwidth(&self) -> f64 {
        f64::from(self.tp) * self.gpu.memory_tbs * 1e12 * self.gpu.memory_efficiency
    }

    pub fn weight_bytes(&self) -> f64 {
        self.model.params_b * 1e9 * self.precision.bytes_per_param()
    }

    /// Seconds for a step computing `tokens` tokens while reading the KV
    /// cache of `context_tokens` tokens in total.
    pub fn step_seconds(&self, tokens: usize, context_tokens: usize) -> f64 {
        let compute = 2.0 * self.model.active_params_b * 1e9 * tokens as f64 / self.flops();
        let memory = (self.weight_bytes() + context_tokens as f64 * self.model.kv_bytes_per_token)
            / self.bandwidth();
        compute.max(memory)
    }

    /// How hard a step of `tokens` tokens over `context_tokens` of context
    /// drives the GPUs, in [`MEMORY_BOUND_ACTIVITY`, 1]: a step only
    /// streaming memory counts [`MEMORY_BOUND_ACTIVITY`], a step whose
    /// compute time fills it counts 1, in between linearly in the share
    /// `compute / t` of the step's time the tensor cores are busy.
    pub fn step_activity(&self, tokens: usize, context_tokens: usize) -> f64 {
        let t = self.step_seconds(tokens, context_tokens);
        if t.is_nan() || t <= 0.0 {
            return MEMORY_BOUND_ACTIVITY;
        }
        let compute = 2.0 * self.model.active_params_b * 1e9 * tokens as f64 / self.flops();
        let share = (compute / t).clamp(0.0, 1.0);
        MEMORY_BOUND_ACTIVITY + (1.0 - MEMORY_BOUND_ACTIVITY) * share
    }

    /// Tokens the KV cache holds.
    pub fn kv_capacity_tokens(&self) -> usize {
        let usable = f64::from(self.tp) * self.gpu.memory_gb * 1e9 * self.gpu_memory_utilization
            - self.weight_bytes();
        (usable / self.model.kv_bytes_per_token).max(0.0) as usize
    }
}

/// The activity of a step that only streams weights and KV cache (no
/// compute to speak of): HBM traffic at full bandwidth draws a bit over
/// half of a GPU's dynamic power; tensor-core work the rest.
pub const MEMORY_BOUND_ACTIVITY: f64 = 0.6;

/// Reads the GPU and model named `gpu` and `model` from a `sim.yaml` document.
pub(crate) fn deployment(
    doc: &Value,
    gpu: &str,
    model: &str,
    precision: Precision,
    tp: u32,
) -> Result<Deployment, String> {
    let section = |name: &str| {
        doc.as_dict()
            .and_then(|d| d.get(name))
            .and_then(Value::as_dict)
            .ok_or(format!("missing '{name}' section"))
    };
    let num = |d: &servebench_pyjson::Dict, key: &str, at: &str| -> Result<f64, String> {
        match d.get(key) {
            Some(Value::Int(i)) => Ok(*i as f64),
            Some(Value::Float(f)) if f.is_finite() && *f >= 0.0 => Ok(*f),
            _ => Err(format!("{at}.{key}: expected a non-negative number")),
        }
    };
    let gpus = section("gpus")?;
    let g = gpus.get(gpu).and_then(Value::as_dict).ok_or_else(|| {
        format!(
            "unknown GPU '{gpu}' (known: {})",
            gpus.keys().collect::<Vec<_>>().join(", ")
        )
    })?;
    let at = format!("gpus.{gpu}");
    let tf = g
        .get("tflops")
        .and_then(Value::as_dict)
        .ok_or(format!("{at}.tflops: expected a mapping"))?;
    let models = section("models")?;
    let m = models.get(model).and_then(Value::as_dict).ok_or_else(|| {
        format!(
            "unknown model '{model}' (known: {})",
            models.keys().collect::<Vec<_>>().join(", ")
        )
    })?;
    let mat = format!("models.{model}");
    let engine = section("engine")?;
    if tp == 0 {
        return Err("tensor parallelism must be at least 1".into());
    }
    let d = Deployment {
        gpu: Gpu {
            tflops_bf16: num(tf, "bf16", &at)?,
            tflops_fp8: num(tf, "fp8", &at)?,
            tflops_fp4: num(tf, "fp4", &at)?,
            memory_tbs: num(g, "memory_tbs", &at)?,
            memory_gb: num(g, "memory_gb", &at)?,
            compute_efficiency: num(g, "compute_efficiency", &at)?,
            memory_efficiency: num(g, "memory_efficiency", &at)?,
            idle_w: num(g, "idle_w", &at)?,
            peak_w: num(g, "peak_w", &at)?,
        },
        model: Model {
            params_b: num(m, "params_b", &mat)?,
            active_params_b: num(m, "active_params_b", &mat)?,
            kv_bytes_per_token: num(m, "kv_bytes_per_token", &mat)?,
        },
        precision,
        tp,
        max_num_batched_tokens: num(engine, "max_num_batched_tokens", "engine")? as usize,
        max_num_seqs: num(engine, "max_num_seqs", "engine")? as usize,
        gpu_memory_utilization: num(engine, "gpu_memory_utilization", "engine")?,
    };
    if d.gpu.peak_w < d.gpu.idle_w {
        return Err(format!(
            "{at}: peak_w ({}) is below idle_w ({})",
            d.gpu.peak_w, d.gpu.idle_w
        ));
    }
    Ok(d)
}

/// Model mode as `sim_server` asks for it: the `--sim-config` file, the
/// GPU and model named in it, and how to run them.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMode {
    /// The YAML file with `gpus:`, `models:` and `engine:`.
    pub sim_config: PathBuf,
    pub gpu: String,
    pub model: String,
    /// As given (`bf16`, `fp16`, `fp8`, `fp4`); parsed by [`Precision::parse`].
    pub precision: String,
    pub tp: u32,
    /// How many times faster than real time the simulated clock runs.
    pub speedup: f64,
}

impl ModelMode {
    /// Checks the speed-up and precision, reads the config with the one YAML
    /// loader (regular files only, up to the config cap), and checks that
    /// the weights leave room for a KV cache. Returns the deployment and the
    /// speed-up, as [`SimOptions::deployment`](crate::SimOptions::deployment)
    /// takes them.
    pub fn load(&self) -> Result<(Deployment, f64), SimError> {
        if !(self.speedup.is_finite() && self.speedup > 0.0) {
            return Err(SimError::Speedup(self.speedup));
        }
        let precision = Precision::parse(&self.precision)
            .ok_or_else(|| SimError::Precision(self.precision.clone()))?;
        let doc = servebench_yaml::load_file(&self.sim_config)?;
        let d =
            deployment(&doc, &self.gpu, &self.model, precision, self.tp).map_err(|message| {
                SimError::SimConfig {
                    path: self.sim_config.clone(),
                    message,
                }
            })?;
        if d.kv_capacity_tokens() == 0 {
            return Err(SimError::DoesNotFit {
                model: self.model.clone(),
                precision: self.precision.clone(),
                tp: self.tp,
                gpu: self.gpu.clone(),
            });
        }
        Ok((d, self.speedup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn h100_8b(tp: u32) -> Deployment {
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
    fn decode_is_memory_bound_and_prefill_compute_bound() {
        let d = h100_8b(1);
        // One decode token: reading 16 GB of weights at 2.68 TB/s.
        let decode = d.step_seconds(1, 1024);
        let want = (16e9 + 1024.0 * 131_072.0) / (3.35e12 * 0.8);
        assert!((decode - want).abs() < 1e-12, "{decode} vs {want}");
        // 8192 prompt tokens: 2 · 8e9 · 8192 FLOPs at 544 TFLOP/s.
        let prefill = d.step_seconds(8192, 0);
        let want = 2.0 * 8e9 * 8192.0 / (989e12 * 0.55);
        assert!((prefill - want).abs() < 1e-12);
        // Tensor parallelism divides both.
        assert!((h100_8b(2).step_seconds(1, 1024) - decode / 2.0).abs() < 1e-12);
    }

    #[test]
    fn step_activity_runs_from_memory_bound_to_compute_bound() {
        let d = h100_8b(1);
        // One decode token: almost all memory time.
        let decode = d.step_activity(1, 1024);
        assert!((decode - MEMORY_BOUND_ACTIVITY).abs() < 0.01, "{decode}");
        // A full prefill chunk is compute bound: activity 1.
        assert!((d.step_activity(8192, 0) - 1.0).abs() < 1e-12);
        // In between it grows with the compute share.
        let mid = d.step_activity(256, 256 * 1024);
        assert!(mid > decode && mid < 1.0, "{mid}");
    }

    #[test]
    fn peak_below_idle_is_refused() {
        let text = "gpus:\n  g: { tflops: { bf16: 1, fp8: 1, fp4: 1 }, memory_tbs: 1, memory_gb: 80, compute_efficiency: 1, memory_efficiency: 1, idle_w: 500, peak_w: 400 }\nmodels:\n  m: { params_b: 1, active_params_b: 1, kv_bytes_per_token: 1 }\nengine: { max_num_batched_tokens: 1, max_num_seqs: 1, gpu_memory_utilization: 0.9 }\n";
        let doc = servebench_yaml::parse(text).unwrap();
        let err = deployment(&doc, "g", "m", Precision::Bf16, 1).unwrap_err();
        assert_eq!(err, "gpus.g: peak_w (400) is below idle_w (500)");
        let ok = text.replace("idle_w: 500", "idle_w: 40");
        let doc = servebench_yaml::parse(&ok).unwrap();
        let d = deployment(&doc, "g", "m", Precision::Bf16, 1).unwrap();
        assert_eq!((d.gpu.idle_w, d.gpu.peak_w), (40.0, 400.0));
    }

    #[test]
    fn kv_capacity() {
        let d = h100_8b(1);
        let want = ((80e9 * 0.9 - 16e9) / 131_072.0) as usize;
        assert_eq!(d.kv_capacity_tokens(), want);
    }

    #[test]
    fn reads_our_config() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/sim.yaml"
        ))
        .unwrap();
        let doc = servebench_yaml::parse(&text).unwrap();
        let d = deployment(&doc, "h200", "moe-671b", Precision::Fp8, 8).unwrap();
        assert_eq!(
            (d.tp, d.max_num_batched_tokens, d.model.active_params_b),
            (8, 8192, 37.0)
        );
        assert!(deployment(&doc, "tpu", "moe-671b", Precision::Fp8, 8)
            .unwrap_err()
            .contains("unknown GPU 'tpu'"));
    }

    #[track_caller]
    fn check_load(edit: impl FnOnce(&mut ModelMode), expected: &str) {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/sim.yaml");
        let mut mode = ModelMode {
            sim_config: config,
            gpu: "h100".into(),
            model: "dense-8b".into(),
            precision: "bf16".into(),
            tp: 1,
            speedup: 1.0,
        };
        edit(&mut mode);
        let got = match mode.load() {
            Ok((d, speedup)) => format!("ok {} {speedup}", d.tp),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            got,
            expected.replace("CONFIG", &mode.sim_config.display().to_string())
        );
    }

    /// The messages `sim_server` prints, in the order it checks.
    #[test]
    fn model_mode_loads_or_names_the_flag() {
        check_load(|_| {}, "ok 1 1");
        check_load(
            |m| m.speedup = 0.0,
            "--speedup must be a positive number, got 0",
        );
        check_load(
            |m| m.speedup = f64::NAN,
            "--speedup must be a positive number, got NaN",
        );
        check_load(
            |m| m.precision = "int4".into(),
            "--precision int4 is not one of bf16, fp8, fp4",
        );
        check_load(
            |m| m.sim_config = PathBuf::from("/nonexistent/sim.yaml"),
            "Input file '/nonexistent/sim.yaml' does not exist.",
        );
        check_load(
            |m| m.model = "nope".into(),
            "CONFIG: unknown model 'nope' (known: dense-8b, dense-70b, moe-671b)",
        );
        check_load(
            |m| m.model = "moe-671b".into(),
            "moe-671b at bf16 does not fit on 1 x h100: raise --tp",
        );
    }
}
