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

#![warn(unreachable_pub)]

mod output;

pub use output::write_atomic;

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

/// A refused or unreadable input, or an output that could not be written:
/// the path as given, and why. Displays as `PATH: REASON`.
///
/// The reason of a refused input is part of the message and is not
/// repeated as [`source`](std::error::Error::source); an output's I/O
/// error is both (as before the types were merged).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// Opening or reading an input failed (missing, permission denied, ...).
    #[error("{}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// An input is not a regular file after following symlinks: `fifo`,
    /// `socket`, `character device`, `block device`, `directory`.
    #[error("{}: not a regular file ({kind})", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    /// An input has more bytes than the limit allows.
    #[error("{}: larger than {limit}, the limit for {}", path.display(), limit.what)]
    TooLarge { path: PathBuf, limit: Limit },
    /// [`read_text`] only: the bytes are not UTF-8 (offset of the first bad
    /// byte).
    #[error("{}: not valid UTF-8 (byte {offset})", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    /// [`write_atomic`] could not write the output (`path` is the target,
    /// not the temporary file).
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FilesError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FilesError::Read { path, .. }
            | FilesError::NotRegular { path, .. }
            | FilesError::TooLarge { path, .. }
            | FilesError::NotUtf8 { path, .. }
            | FilesError::Write { path, .. } => path,
        }
    }

    /// Why, without the path (for callers whose own error already names
    /// the file): the message after `PATH: `.
    pub fn reason(&self) -> String {
        match self {
            FilesError::Read { error, .. } => error.to_string(),
            FilesError::NotRegular { kind, .. } => format!("not a regular file ({kind})"),
            FilesError::TooLarge { limit, .. } => {
                format!("larger than {limit}, the limit for {}", limit.what)
            }
            FilesError::NotUtf8 { offset, .. } => format!("not valid UTF-8 (byte {offset})"),
            FilesError::Write { source, .. } => source.to_string(),
        }
    }

    /// The I/O error, for callers whose own error keeps one: the error
    /// itself for [`Read`](Self::Read) and [`Write`](Self::Write), an error
    /// with the [`reason`](Self::reason) as its text otherwise.
    pub fn into_io_error(self) -> std::io::Error {
        match self {
            FilesError::Read { error, .. } => error,
            FilesError::Write { source, .. } => source,
            other => std::io::Error::other(other.reason()),
        }
    }

    /// An input does not exist (callers word that case themselves).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FilesError::Read { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
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
/// `limit.max_bytes` of them; anything else is a [`FilesError`] naming
/// the path. Never blocks on a FIFO and never reads a device.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, FilesError> {
    let io = |error| FilesError::Read {
        path: path.to_owned(),
        error,
    };
    let not_regular = |t| FilesError::NotRegular {
        path: path.to_owned(),
        kind: kind_name(t),
    };
    let file = open(path).map_err(|e| {
        // A socket cannot be opened at all (ENXIO); say what it is rather
        // than "no such device or address". The stat is only for wording.
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => not_regular(meta.file_type()),
            _ => io(e),
        }
    })?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let too_large = || FilesError::TooLarge {
        path: path.to_owned(),
        limit,
    };
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
pub fn read_text(path: &Path, limit: Limit) -> Result<String, FilesError> {
    String::from_utf8(read(path, limit)?).map_err(|e| FilesError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}
