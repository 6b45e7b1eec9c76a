//! The server an entry is benchmarked against: the embedded simulator
//! (one per entry, parameters from the entry), a command the user gives
//! (`--server-cmd`, e.g. `vllm serve {model} --port {port} -tp {tp}`), or a
//! server that is already running (`--base-url`).
//!
//! Started servers run in their own process group, with their output in a
//! log file; stopping one sends SIGTERM to the group (a shell command's
//! children included), then SIGKILL after a grace period.

use crate::plan::Job;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server each entry gets.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerSpec {
    /// Start one for each entry.
    Start(Launch),
    /// A server that is already running; nothing is started or stopped.
    External(String),
}

/// How to start an entry's server.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    /// `sim_server` in model mode: GPU from the runner type (`sim-h100` →
    /// `h100`), model from the last part of the model id, the entry's
    /// precision and tp.
    Sim {
        binary: PathBuf,
        sim_config: PathBuf,
        /// The simulated clock runs this many times faster.
        speedup: f64,
        /// Token text and prompt counts from this tokenizer.
        tokenizer: Option<PathBuf>,
    },
    /// A shell command with `{port}`, `{model}`, `{tp}`, `{ep}`, `{conc}`,
    /// `{isl}`, `{osl}`, `{max_model_len}`, `{precision}` placeholders;
    /// it also gets the job's environment and `PORT`.
    Shell(String),
}

/// What the simulator simulates for an entry that is not a [`Job`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimTarget<'a> {
    pub runner_type: &'a str,
    pub model: &'a str,
    pub precision: &'a str,
    pub tp: i64,
}

/// A started server serving one entry.
#[derive(Debug)]
pub(crate) struct Server {
    child: Option<Child>,
    pub base_url: String,
}

/// The simulator's `--gpu` for a runner type: `sim-h100` and `h100` → `h100`;
/// a suffix after the GPU name (`h200-multinode-slurm`) is not one.
/// An agentic runner label (`cluster:sim-h100`) names the same GPU.
pub(crate) fn sim_gpu(runner_type: &str) -> &str {
    let t = runner_type.strip_prefix("cluster:").unwrap_or(runner_type);
    t.strip_prefix("sim-").unwrap_or(t)
}

/// The simulator's `--sim-model`: the last `/`-part of the model id.
pub(crate) fn sim_model(model: &str) -> &str {
    model.rsplit('/').next().unwrap_or(model)
}

/// A free port on 127.0.0.1 (the OS picks; the listener is dropped so the
/// server can bind it).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Fills the `{name}` placeholders of a server command.
pub(crate) fn fill_command(template: &str, job: &Job, port: u16) -> String {
    [
        ("{port}", port.to_string()),
        ("{model}", job.entry.model.clone()),
        ("{tp}", job.entry.tp.to_string()),
        ("{ep}", job.entry.ep.to_string()),
        ("{conc}", job.entry.conc.to_string()),
        ("{isl}", job.entry.isl.to_string()),
        ("{osl}", job.entry.osl.to_string()),
        ("{max_model_len}", job.entry.max_model_len.to_string()),
        ("{precision}", job.entry.precision.clone()),
    ]
    .iter()
    .fold(template.to_owned(), |cmd, (k, v)| cmd.replace(k, v))
}

impl Server {
    /// Starts the entry's server (its output goes to `log`) and waits until
    /// `GET /health` answers 200, at most `timeout`. On failure the error
    /// carries the end of the server's log. `gpu_metrics`: the simulator
    /// writes its power log to this file, its timestamps in simulated time
    /// around this clock origin (unix seconds); other servers ignore it.
    pub(crate) fn start(
        launch: &Launch,
        job: &Job,
        env: &[(&'static str, String)],
        log: &Path,
        timeout: Duration,
        gpu_metrics: Option<(&Path, f64)>,
    ) -> Result<Server, String> {
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let mut cmd = match launch {
            Launch::Sim {
                binary,
                sim_config,
                speedup,
                tokenizer,
            } => {
                let mut c = Command::new(binary);
                c.args(["--port", &port.to_string(), "--model", &job.entry.model])
                    .args(["--gpu", sim_gpu(&job.runner_type)])
                    .args(["--sim-model", sim_model(&job.entry.model)])
                    .args(["--precision", &job.entry.precision])
                    .args(["--tp", &job.entry.tp.to_string()])
                    .args(["--speedup", &servebench_pyjson::float_repr(*speedup)])
                    .arg("--sim-config")
                    .arg(sim_config);
                if let Some(t) = tokenizer {
                    c.arg("--tokenizer").arg(t);
                }
                if let Some((csv, origin)) = gpu_metrics {
                    c.arg("--gpu-metrics-csv")
                        .arg(csv)
                        .args(["--clock-origin", &servebench_pyjson::float_repr(origin)]);
                }
                c
            }
            Launch::Shell(template) => {
                let mut c = Command::new("sh");
                c.args(["-c", &fill_command(template, job, port)]);
                c
            }
        };
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        Server::spawn(cmd, port, log, timeout)
    }

    /// The simulator in model mode for an agentic-coding entry (module
    /// `agentic`): `sim` names the GPU (runner type), model, precision and
    /// tp; `speedup` is the simulated clock's (the replay's idle gaps are
    /// wall time, so the sweep runs these at 1).
    pub(crate) fn start_sim(
        launch: &Launch,
        sim: &SimTarget<'_>,
        env: &[(&'static str, String)],
        log: &Path,
        timeout: Duration,
    ) -> Result<Server, String> {
        let Launch::Sim {
            binary,
            sim_config,
            speedup,
            tokenizer,
        } = launch
        else {
            return Err("only the simulator can be started for an agentic-coding entry".into());
        };
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let mut c = Command::new(binary);
        c.args(["--port", &port.to_string(), "--model", sim.model])
            .args(["--gpu", sim_gpu(sim.runner_type)])
            .args(["--sim-model", sim_model(sim.model)])
            .args(["--precision", sim.precision])
            .args(["--tp", &sim.tp.to_string()])
            .args(["--speedup", &servebench_pyjson::float_repr(*speedup)])
            .arg("--sim-config")
            .arg(sim_config);
        if let Some(t) = tokenizer {
            c.arg("--tokenizer").arg(t);
        }
        c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        Server::spawn(c, port, log, timeout)
    }

    /// Starts `cmd` (the server, to listen on `port`) with its output in
    /// `log`, in its own process group, and waits for `/health`.
    fn spawn(mut cmd: Command, port: u16, log: &Path, timeout: Duration) -> Result<Server, String> {
        let out = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("opening {}: {e}", log.display()))?;
        cmd.env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let mut server = Server {
            child: Some(child),
            base_url: format!("http://127.0.0.1:{port}"),
        };
        if let Err(e) = server.wait_healthy(port, timeout) {
            server.stop();
            return Err(format!("{e}{}", log_tail(log)));
        }
        Ok(server)
    }

    fn wait_healthy(&mut self, port: u16, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "the server exited ({status}) before it was healthy"
                    ));
                }
            }
            if health_ok(port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the server did not answer GET /health with 200 within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM to the server's process group, SIGKILL after 10 s.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !matches!(child.try_wait(), Ok(Some(_))) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `GET /health` on 127.0.0.1:`port` answers 200.
fn health_ok(port: u16) -> bool {
    let Ok(mut addrs) = ("127.0.0.1", port).to_socket_addrs() else {
        return false;
    };
    let Some(addr) = addrs.next() else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// The last lines of a log, for error messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(8)..];
    if tail.is_empty() {
        format!(" (the log {} is empty)", log.display())
    } else {
        format!("; end of {}:\n    {}", log.display(), tail.join("\n    "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_parameters_come_from_the_entry() {
        assert_eq!(sim_gpu("sim-h100"), "h100");
        assert_eq!(sim_gpu("mi355x"), "mi355x");
        assert_eq!(sim_gpu("cluster:sim-h100"), "h100");
        assert_eq!(sim_model("servebench-sim/dense-8b"), "dense-8b");
        assert_eq!(sim_model("dense-8b"), "dense-8b");
    }
}
