//! Reading inputs and writing outputs safely; owns nothing else.
//!
//! Every file a servebench tool reads because a user named it or a
//! directory walk found it (configs, results, datasets, tokenizers) goes
//! through [`read`] or [`read_text`], which
//!
//! * open the path (following symlinks) without blocking: `O_NONBLOCK`, so
//!   a FIFO with no writer does not hang the open, and `O_NOCTTY`;
//! * check the *opened* handle (`fstat`, no stat-then-open race) and refuse
//!   anything that is not a regular file: FIFO, socket, character or block
//!   device (a symlink to `/dev/zero`), directory;
//! * read at most [`Limit::max_bytes`] + 1 bytes, so a file that is too
//!   large (or grows while read) is refused instead of filling memory.
//!
//! Errors say which file and why: `results/x.json: not a regular file
//! (fifo)`, `big.yaml: larger than 16 MiB, the limit for a config file`.
//!
//! ```
//! use servebench_files::{read_text, Limit};
//! let dir = std::env::temp_dir().join(format!("servebench-files-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("a.yaml");
//! std::fs::write(&path, "key: 1\n").unwrap();
//! assert_eq!(read_text(&path, Limit::CONFIG).unwrap(), "key: 1\n");
//! let err = read_text(&dir, Limit::CONFIG).unwrap_err();
//! assert!(err.to_string().ends_with(": not a regular file (directory)"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! Every file a servebench tool writes as a finished output (a saved
//! benchmark result, an aggregate, a downloaded tokenizer, a load
//! generator's result document) goes through [`write_atomic`]: a temporary
//! file in the target's directory, `fsync`, a rename into place, then a
//! best-effort `fsync` of the directory. A reader sees the old file or the
//! whole new one, never a part; a failure removes the temporary file and
//! says which output it was: `results/r.json: No space left on device (os
//! error 28)`. Streams that grow while a tool runs (logs, the simulator's
//! ground truth) are not outputs in this sense and are appended to directly.
//!
//! ```
//! use servebench_files::write_atomic;
//! let dir = std::env::temp_dir().join(format!("servebench-files-doc-out-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("agg.json");
//! write_atomic(&path, b"{}").unwrap();
//! write_atomic(&path, b"{\"a\": 1}").unwrap();
//! assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\": 1}");
//! assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod output;

pub use output::{write_atomic, OutputError};

use std::fmt;
use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// The most bytes one kind of input may have, and the kind's name for the
/// message. The constants are the caps the tools use; each says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_bytes: u64,
    /// What the file is, after "the limit for": `a config file`.
    pub what: &'static str,
}

impl Limit {
    /// YAML configs: master and runner configs, the simulator's
    /// `--sim-config`, the load generator's `--startup-spec`, and a
    /// tokenizer's `tokenizer_config.json`. The largest real one (the
    /// InferenceX NVIDIA master config) is about 220 KiB.
    pub const CONFIG: Limit = Limit {
        max_bytes: 16 * MIB,
        what: "a config file",
    };

    /// JSON results: the file `process_result` reads, every `*.json` that
    /// `collect_results` and `summarize` find, and the `benchmark_serving
    /// metrics --input` case file. A saved result without the detailed
    /// lists is a few KiB; with `--save-detailed` it grows by about 30 bytes
    /// per output token, so this admits some 15 million of them.
    pub const RESULT: Limit = Limit {
        max_bytes: 512 * MIB,
        what: "a result file",
    };

    /// Prompt datasets (`--dataset-path`: ShareGPT JSON, sonnet text, custom
    /// JSONL). The usual ShareGPT file
    /// (`ShareGPT_V3_unfiltered_cleaned_split.json`) is about 670 MB; this
    /// is three times that.
    pub const DATASET: Limit = Limit {
        max_bytes: 2048 * MIB,
        what: "a dataset",
    };

    /// A `tokenizer.json` (the largest common ones are some 35 MB); the same
    /// cap as a download from the Hugging Face Hub.
    pub const TOKENIZER: Limit = Limit {
        max_bytes: 512 * MIB,
        what: "a tokenizer file",
    };
}

impl fmt::Display for Limit {
    /// `16 MiB`, or the byte count where it is not whole mebibytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.max_bytes >= MIB && self.max_bytes.is_multiple_of(MIB) {
            write!(f, "{} MiB", self.max_bytes / MIB)
        } else {
            write!(f, "{} bytes", self.max_bytes)
        }
    }
}

/// A refused or unreadable input: the path as given, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct InputError {
    pub path: PathBuf,
    pub kind: InputErrorKind,
}

/// Why an input was refused (the message without the path, for callers
/// whose own error already names the file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputErrorKind {
    /// Opening or reading failed (missing, permission denied, ...).
    #[error("{0}")]
    Io(std::io::Error),
    /// Not a regular file after following symlinks: `fifo`, `socket`,
    /// `character device`, `block device`, `directory`.
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    /// More bytes than the limit allows.
    #[error("larger than {limit}, the limit for {}", limit.what)]
    TooLarge { limit: Limit },
    /// [`read_text`] only: the bytes are not UTF-8 (offset of the first bad
    /// byte).
    #[error("not valid UTF-8 (byte {0})")]
    NotUtf8(usize),
}

impl InputError {
    fn new(path: &Path, kind: InputErrorKind) -> Self {
        InputError {
            path: path.to_owned(),
            kind,
        }
    }

    /// The file does not exist (callers word that case themselves).
    pub fn is_not_found(&self) -> bool {
        matches!(&self.kind, InputErrorKind::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The kind of a non-regular file, for the message.
fn kind_name(t: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "fifo";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
    }
    if t.is_dir() {
        "directory"
    } else {
        "unknown type"
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Without O_NONBLOCK, opening a FIFO for reading waits for a writer
        // forever. Reads of a regular file ignore the flag.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// The bytes of the regular file at `path` (symlinks followed), at most
/// `limit.max_bytes` of them; anything else is an [`InputError`] naming
/// the path. Never blocks on a FIFO and never reads a device.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, InputError> {
    let io = |e| InputError::new(path, InputErrorKind::Io(e));
    let file = open(path).map_err(|e| {
        // A socket cannot be opened at all (ENXIO); say what it is rather
        // than "no such device or address". The stat is only for wording.
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => InputError::new(
                path,
                InputErrorKind::NotRegular(kind_name(meta.file_type())),
            ),
            _ => io(e),
        }
    })?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(InputError::new(
            path,
            InputErrorKind::NotRegular(kind_name(meta.file_type())),
        ));
    }
    let too_large = || InputError::new(path, InputErrorKind::TooLarge { limit });
    if meta.len() > limit.max_bytes {
        return Err(too_large());
    }
    // Sized from the (already capped) length; a file that grows meanwhile
    // is still stopped at one byte past the cap.
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(meta.len()).unwrap_or(0))
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::OutOfMemory, e)))?;
    (&file)
        .take(limit.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit.max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`], then UTF-8 (no BOM handling: the bytes are the text).
pub fn read_text(path: &Path, limit: Limit) -> Result<String, InputError> {
    String::from_utf8(read(path, limit)?)
        .map_err(|e| InputError::new(path, InputErrorKind::NotUtf8(e.utf8_error().valid_up_to())))
}
