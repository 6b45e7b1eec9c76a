//! Writing output files so that a reader never sees half of one.

use crate::FilesError;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` so that `path` holds either its old content or
/// all of `bytes`, never a part:
///
/// 1. create `.NAME.PID.tmp` in `path`'s directory (the same file system, so
///    the rename cannot turn into a copy; NAME keeps its raw bytes, it need
///    not be UTF-8);
/// 2. write all of `bytes` and `fsync` the file;
/// 3. rename it onto `path` (replacing an existing file);
/// 4. `fsync` the directory so the rename itself is durable (best effort:
///    some file systems refuse to sync a directory; that is not an error).
///
/// On any failure the temporary file is removed and an existing `path` is
/// left as it was. The directory must exist; callers that want it created
/// do so first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FilesError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name(path));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    match result {
        Ok(()) => {
            sync_dir(dir);
            Ok(())
        }
        Err(source) => {
            let _ = std::fs::remove_file(&tmp);
            Err(FilesError::Write {
                path: path.to_owned(),
                source,
            })
        }
    }
}

/// `.NAME.PID.tmp`, keeping NAME's bytes.
fn temp_name(path: &Path) -> OsString {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    name
}

/// Best effort: a directory can be opened and synced on Unix; elsewhere
/// (or where the file system refuses) the rename is still atomic, only its
/// durability across a power loss is not promised.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh, empty directory for one test.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "servebench-files-out-{test}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_leaves_no_temporary_file() {
        let dir = scratch("new");
        let path = dir.join("r1.json");
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert_eq!(names(&dir), vec![OsString::from("r1.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replaces_an_existing_file() {
        let dir = scratch("replace");
        let path = dir.join("agg.json");
        std::fs::write(&path, "old, and longer than the new text").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(&dir), vec![OsString::from("agg.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_temporary_name_is_hidden_and_per_process() {
        assert_eq!(
            temp_name(Path::new("out.json")),
            OsString::from(format!(".out.json.{}.tmp", std::process::id()))
        );
    }

    #[test]
    fn a_failed_rename_keeps_the_old_target_and_removes_the_temporary_file() {
        // The target is a non-empty directory: the temporary file is
        // written, the rename onto the directory fails.
        let dir = scratch("fail");
        let target = dir.join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("kept"), "old").unwrap();
        let err = write_atomic(&target, b"new").unwrap_err();
        assert_eq!(err.path(), target);
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", target.display())),
            "{err}"
        );
        assert_eq!(std::fs::read(target.join("kept")).unwrap(), b"old");
        assert_eq!(names(&dir), vec![OsString::from("out")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_names_the_target() {
        let dir = scratch("missing");
        let path = dir.join("no/such/dir/x.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        let FilesError::Write { source, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(err.to_string(), format!("{}: {}", path.display(), source));
        assert!(names(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn raw_names_keep_their_bytes() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let dir = scratch("raw");
        let name = std::ffi::OsStr::from_bytes(b"r\xff.json");
        let path = dir.join(name);
        let mut expected = b".r\xff.json.".to_vec();
        expected.extend_from_slice(format!("{}.tmp", std::process::id()).as_bytes());
        assert_eq!(temp_name(&path).into_vec(), expected);
        write_atomic(&path, b"raw").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"raw");
        assert_eq!(names(&dir), vec![name.to_owned()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
