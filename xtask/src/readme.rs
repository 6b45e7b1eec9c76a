//! `cargo xtask readme`: runs the README's shell examples as written, in
//! order, in one bash session, against the simulator they start
//! themselves, so that no example rots.
//!
//! Every fenced block marked `sh` is an example. In a block whose lines
//! start with `$ `, those lines (and their `\` continuations) are the
//! commands and the rest is output; any other block is a script as a
//! whole. A block right after `<!-- readme-check: skip REASON -->` is not
//! run (a command that is this check's own caller, a workflow's template
//! with its variables); after `<!-- readme-check: output -->` each output
//! line shown must also appear in what the commands print (for blocks
//! whose output is exact, such as seeded prompts).
//!
//! The session runs in `target/readme-check/servebench`, a scratch
//! directory holding links to the repository's `configs`, `datasets`,
//! `fixtures` and `deploy`, with `../shared` beside it as in a checkout,
//! and with the tools of `--bin-dir` first on `PATH`. A backgrounded
//! command with `--port N` is waited for until the port answers. The
//! session has a time limit; at its end every process it started (its
//! process group) is stopped.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the tools are (default: target/release, built first)
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The Markdown file whose examples to run
    #[arg(long, default_value = "README.md")]
    readme: PathBuf,
    /// Time limit for the whole session, in seconds
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// One fenced `sh` block.
#[derive(Debug, PartialEq)]
pub(crate) struct Block {
    /// 1-based line of the opening fence.
    pub line: usize,
    pub skip: Option<String>,
    pub check_output: bool,
    pub commands: Vec<Cmd>,
}

/// One command (continuations joined) and the output shown after it.
#[derive(Debug, PartialEq)]
pub(crate) struct Cmd {
    pub line: usize,
    pub text: String,
    pub expected: Vec<String>,
}

const MARK_SKIP: &str = "<!-- readme-check: skip";
const MARK_OUTPUT: &str = "<!-- readme-check: output -->";

/// The `sh` blocks of a Markdown text.
pub(crate) fn blocks(markdown: &str) -> Result<Vec<Block>> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let open = lines[i].trim_start();
        let indent = lines[i].len() - open.len();
        let Some(lang) = open.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            body.push(lines[i].get(indent..).unwrap_or(lines[i].trim_start()));
            i += 1;
        }
        if i == lines.len() {
            bail!("line {}: code block never closed", start + 1);
        }
        i += 1;
        if lang.trim() != "sh" {
            continue;
        }
        let marker = lines[..start]
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let skip = marker
            .strip_prefix(MARK_SKIP)
            .and_then(|r| r.strip_suffix("-->"))
            .map(|r| r.trim().to_owned());
        if marker.starts_with(MARK_SKIP) && skip.as_deref().is_none_or(str::is_empty) {
            bail!("line {}: a skipped example must say why", start);
        }
        out.push(Block {
            line: start + 1,
            skip,
            check_output: marker == MARK_OUTPUT,
            commands: commands(&body, start + 2),
        });
    }
    Ok(out)
}

/// The commands of a block whose first body line is `first_line`.
fn commands(body: &[&str], first_line: usize) -> Vec<Cmd> {
    let prompted = body.iter().any(|l| l.starts_with("$ "));
    if !prompted {
        let text = body.join("\n");
        return if text.trim().is_empty() {
            Vec::new()
        } else {
            vec![Cmd {
                line: first_line,
                text,
                expected: Vec::new(),
            }]
        };
    }
    let mut out: Vec<Cmd> = Vec::new();
    let mut continued = false;
    for (n, l) in body.iter().enumerate() {
        if continued {
            if let Some(c) = out.last_mut() {
                c.text.push('\n');
                c.text.push_str(l);
            }
            continued = l.ends_with('\\');
        } else if let Some(cmd) = l.strip_prefix("$ ") {
            out.push(Cmd {
                line: first_line + n,
                text: cmd.to_owned(),
                expected: Vec::new(),
            });
            continued = cmd.ends_with('\\');
        } else if let Some(c) = out.last_mut() {
            c.expected.push((*l).to_owned());
        }
    }
    out
}

/// A backgrounded command's `--port N`, to wait for.
fn background_port(cmd: &str) -> Option<u16> {
    let backgrounded = cmd
        .split("&&")
        .any(|part| part.trim_end().ends_with('&') || part.contains("& "));
    if !backgrounded {
        return None;
    }
    let mut words = cmd.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--port" {
            return words.next().and_then(|p| p.parse().ok());
        }
        if let Some(p) = w.strip_prefix("--port=") {
            return p.parse().ok();
        }
    }
    None
}

/// The bash script for the blocks; a command's output goes to
/// `out/<line>.txt` when it is to be compared, and the line of the command
/// about to start to the file `progress` (an output of its own might not end
/// its last line).
fn script(blocks: &[Block], progress: &Path) -> String {
    let progress = progress.display().to_string().replace('\'', "'\\''");
    let mut s = String::from(
        "set -e\n\
         trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n\
         wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo \"nothing listens on port $1\" >&2; return 1; }\n",
    );
    for b in blocks.iter().filter(|b| b.skip.is_none()) {
        for c in &b.commands {
            let _ = writeln!(s, "echo 'README.md:{}' > '{progress}'", c.line);
            if b.check_output && !c.expected.is_empty() {
                let _ = writeln!(s, "{{\n{}\n}} > out/{}.txt 2>&1", c.text, c.line);
            } else {
                let _ = writeln!(s, "{}", c.text);
            }
            if let Some(port) = background_port(&c.text) {
                let _ = writeln!(s, "wait_port {port}");
            }
        }
    }
    let _ = writeln!(s, "echo done > '{progress}'");
    s
}

/// The check as CI runs it: README.md, the tools of `bin_dir`.
pub(crate) fn check(bin_dir: &Path) -> Result<()> {
    run(&Args {
        bin_dir: Some(bin_dir.to_path_buf()),
        readme: PathBuf::from("README.md"),
        timeout: 300,
    })
}

pub fn run(a: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let readme = root.join(&a.readme);
    let text = std::fs::read_to_string(&readme)
        .with_context(|| format!("reading {}", readme.display()))?;
    let blocks = blocks(&text).with_context(|| readme.display().to_string())?;
    let bin_dir = match &a.bin_dir {
        Some(d) => d
            .canonicalize()
            .with_context(|| format!("--bin-dir {}", d.display()))?,
        None => crate::build_release_workspace()?,
    };
    let base = root.join("target/readme-check");
    let work = scratch(&root, &base)?;
    let run_count: usize = blocks
        .iter()
        .filter(|b| b.skip.is_none())
        .map(|b| b.commands.len())
        .sum();
    for b in blocks.iter().filter(|b| b.skip.is_some()) {
        eprintln!(
            "readme: skipping the example at line {}: {}",
            b.line,
            b.skip.as_deref().unwrap_or("")
        );
    }
    eprintln!(
        "readme: running {run_count} commands of {} examples in {}",
        blocks.iter().filter(|b| b.skip.is_none()).count(),
        work.display()
    );
    let script_path = base.join("script.sh");
    let progress = base.join("progress");
    let _ = std::fs::remove_file(&progress);
    std::fs::write(&script_path, script(&blocks, &progress))
        .with_context(|| format!("writing {}", script_path.display()))?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(bin_dir.clone()).chain(std::env::split_paths(&path)))
            .context("PATH")?;
    let log_path = base.join("session.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new("bash")
            .arg(&script_path)
            .current_dir(&work)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("session log")?)
            .stderr(log)
            // Its own process group: everything the examples start in the
            // background is stopped with it, and nothing else.
            .process_group(0)
            .spawn()
            .context("starting bash")?
    };
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    let status = loop {
        if let Some(s) = child.try_wait().context("waiting for bash")? {
            break Some(s);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The group's leader may be gone; its background children are not.
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let last = std::fs::read_to_string(&progress)
        .map(|p| p.trim().to_owned())
        .unwrap_or_else(|_| "the start".to_owned());
    let tail = tail(&log, 40);
    match status {
        None => bail!(
            "the examples did not finish within {} s; the last one started: {last}\n{tail}",
            a.timeout
        ),
        Some(s) if !s.success() || last != "done" => {
            bail!("the example at {last} failed ({s})\n{tail}")
        }
        Some(_) => {}
    }
    let mut missing = Vec::new();
    for b in blocks.iter().filter(|b| b.skip.is_none() && b.check_output) {
        for c in b.commands.iter().filter(|c| !c.expected.is_empty()) {
            let got = std::fs::read_to_string(work.join(format!("out/{}.txt", c.line)))
                .unwrap_or_default();
            for want in &c.expected {
                if !got.lines().any(|l| l.trim_end() == want.trim_end()) {
                    missing.push(format!(
                        "README.md:{}: the output lacks {want:?}; it was:\n{got}",
                        c.line
                    ));
                }
            }
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    eprintln!("readme: all {run_count} commands ran as written");
    Ok(())
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `base/servebench` as a checkout would look to the examples, made afresh.
fn scratch(root: &Path, base: &Path) -> Result<PathBuf> {
    let work = base.join("servebench");
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(work.join("out"))
        .with_context(|| format!("creating {}", work.display()))?;
    for dir in ["configs", "datasets", "fixtures", "deploy"] {
        let from = root.join(dir);
        if from.exists() {
            std::os::unix::fs::symlink(&from, work.join(dir))
                .with_context(|| format!("linking {}", from.display()))?;
        }
    }
    let shared = base.join("shared");
    let real_shared = root.join("../shared");
    if !shared.exists() {
        std::os::unix::fs::symlink(&real_shared, &shared)
            .with_context(|| format!("linking {}", real_shared.display()))?;
    }
    Ok(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompted_blocks_split_commands_continuations_and_output() {
        let md = "text\n<!-- readme-check: output -->\n```sh\n$ a --x \\\n    --y\nout 1\n$ b\nout 2\n```\n";
        let b = blocks(md).unwrap();
        assert_eq!(b.len(), 1);
        assert!(b[0].check_output);
        assert_eq!(b[0].commands[0].text, "a --x \\\n    --y");
        assert_eq!(b[0].commands[0].line, 4);
        assert_eq!(b[0].commands[0].expected, ["out 1"]);
        assert_eq!(b[0].commands[1].text, "b");
        assert_eq!(b[0].commands[1].line, 7);
    }

    #[test]
    fn plain_blocks_are_one_script_and_other_languages_are_ignored() {
        let md = "```yaml\nx: 1\n```\n\n  ```sh\n  a\n  # note\n  b\n  ```\n";
        let b = blocks(md).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].commands[0].text, "a\n# note\nb");
        assert!(!b[0].check_output);
    }

    #[test]
    fn a_skip_needs_a_reason() {
        let ok = blocks("<!-- readme-check: skip the caller -->\n```sh\nx\n```\n").unwrap();
        assert_eq!(ok[0].skip.as_deref(), Some("the caller"));
        assert!(blocks("<!-- readme-check: skip -->\n```sh\nx\n```\n").is_err());
        assert!(blocks("```sh\nx\n").is_err());
    }

    #[test]
    fn background_servers_are_waited_for() {
        assert_eq!(background_port("sim_server --port 8000 &"), Some(8000));
        assert_eq!(
            background_port("sim_server --port 8001 & sim=$!"),
            Some(8001)
        );
        assert_eq!(background_port("sim_server --port 8000"), None);
        assert_eq!(background_port("a && b --port 3"), None);
    }
}
