//! Where finished runs' result documents go: a directory, written
//! atomically (a temporary file renamed into place), so a reader never sees
//! half a result.

use std::path::{Path, PathBuf};

/// A result store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    Dir(PathBuf),
}

impl Store {
    /// Stores `bytes` as `name` (a generated file name); returns where.
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<String, String> {
        match self {
            Store::Dir(dir) => {
                let dir = dir.clone();
                let name = name.to_owned();
                tokio::task::spawn_blocking(move || write_atomic(&dir, &name, &bytes))
                    .await
                    .map_err(|e| format!("writing the result: {e}"))?
            }
        }
    }
}

/// Writes `dir/name` through a temporary file in the same directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming {} to {}: {e}", tmp.display(), path.display())
    })?;
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("loadgen-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = write_atomic(&dir, "r1.json", b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r1.json")]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
