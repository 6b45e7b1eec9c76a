//! Reading JSON files and writing outputs without leaving partial files.

use crate::ResultsError;
use servebench_files::Limit;
use servebench_pyjson::Value;
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

/// Writes `text` to `path` with [`servebench_files::write_atomic`] (a
/// temporary file in the same directory, fsync, rename), so readers never
/// see half a file.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ResultsError> {
    servebench_files::write_atomic(path, text.as_bytes()).map_err(|e| match e {
        servebench_files::FilesError::Write { path, source } => ResultsError::Io { path, source },
        other => ResultsError::Input(other),
    })
}
