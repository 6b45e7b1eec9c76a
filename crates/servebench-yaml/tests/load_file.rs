//! `load_file`: the messages a tool prints for a bad `--sim-config`,
//! `--startup-spec` or master config.

use servebench_yaml::{load_file, YamlError};
use std::path::PathBuf;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("servebench-yaml-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn files_load_and_errors_name_the_file() {
    let dir = scratch("errors");
    let ok = dir.join("ok.yaml");
    std::fs::write(&ok, "a: [1, yes]\n").unwrap();
    assert_eq!(
        servebench_pyjson::to_string(&load_file(&ok).unwrap()),
        r#"{"a": [1, true]}"#
    );

    let missing = dir.join("missing.yaml");
    let err = load_file(&missing).unwrap_err();
    assert!(matches!(&err, YamlError::NotFound(p) if *p == missing));
    assert_eq!(
        err.to_string(),
        format!("Input file '{}' does not exist.", missing.display())
    );

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "k: [1, 2\n").unwrap();
    let err = load_file(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: invalid YAML: ", bad.display())),
        "{err}"
    );

    let latin1 = dir.join("latin1.yaml");
    std::fs::write(&latin1, b"k: caf\xe9\n").unwrap();
    assert_eq!(
        load_file(&latin1).unwrap_err().to_string(),
        format!(
            "{}: invalid YAML: not valid UTF-8 (byte 6)",
            latin1.display()
        )
    );

    let err = load_file(&dir).unwrap_err();
    assert!(matches!(err, YamlError::Input(_)));
    assert_eq!(
        err.to_string(),
        format!("{}: not a regular file (directory)", dir.display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
