//! Reading JSON files and writing outputs without leaving partial files.

use crate::ResultsError;
use servebench_files::Limit;
use servebench_pyjson::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

/// `json.load(open(path))`: UTF-8 text, Python `json` grammar. Only a
/// regular file of at most [`Limit::RESULT`] bytes is read (a FIFO, device
/// or directory is refused at once, naming the file), where Python would
/// block on a FIFO or read `/dev/zero` until memory runs out.
pub fn read_json(path: &Path) -> Result<Value, ResultsError> {
    let text = servebench_files::read_text(path, Limit::RESULT)?;
    servebench_pyjson::from_str(&text).map_err(|source| ResultsError::Json {
        path: path.to_owned(),
        source,
    })
}

/// Writes `text` to `path` through a temporary file in the same directory
/// and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ResultsError> {
    let io_err = |source| ResultsError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // `.NAME.PID.tmp`, keeping NAME's bytes (it may not be UTF-8).
    let mut tmp_name = OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}
