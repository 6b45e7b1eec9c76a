//! Reading JSON files and writing outputs without leaving partial files.

use crate::ResultsError;
use servebench_pyjson::Value;
use std::io::Write;
use std::path::Path;

/// `json.load(open(path))`: UTF-8 text, Python `json` grammar.
pub fn read_json(path: &Path) -> Result<Value, ResultsError> {
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ResultsError::BadResult {
        path: path.to_owned(),
        message: format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })?;
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
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
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
