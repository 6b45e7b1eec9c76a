//! Dataset and tokenizer files that are not plain files (a FIFO, a symlink
//! to `/dev/zero`, a directory) or are too large. Each load runs on its own
//! thread under a timeout, so a regression (an open that waits for a
//! writer) fails instead of hanging.

use servebench_prompts::{
    sample_custom, sample_sharegpt, sample_sonnet, PyRandom, SonnetOptions, Tokenizer,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

fn tokenizer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/tokenizers/deepseek-r1")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("input-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

/// `f()` on another thread; panics when it takes over 20 s.
fn guarded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} did not return within 20 s"))
}

/// Offline, with the Hugging Face cache at `cache`.
fn env_with_cache(cache: &Path) -> impl Fn(&str) -> Option<String> + Send + 'static {
    let cache = cache.display().to_string();
    move |k: &str| match k {
        "HF_HUB_CACHE" => Some(cache.clone()),
        "HF_HUB_OFFLINE" => Some("1".to_owned()),
        _ => None,
    }
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, impl std::fmt::Display>, message: &str) {
    let err = result.expect_err("must be refused").to_string();
    assert_eq!(err, message);
}

#[test]
fn dataset_files_must_be_regular() {
    let dir = scratch("datasets");
    let none = |_: &str| None;
    let tok = Arc::new(
        Tokenizer::load(tokenizer_dir().to_str().unwrap_or_default(), &none)
            .expect("the shared DeepSeek-R1 tokenizer"),
    );
    let fifo = dir.join("sharegpt.json");
    mkfifo(&fifo);
    let zero = dir.join("sonnet.txt");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let sub = dir.join("custom.jsonl");
    std::fs::create_dir(&sub).unwrap();

    let (t, p) = (tok.clone(), fifo.clone());
    let result = guarded("sharegpt on a fifo", move || {
        sample_sharegpt(&t, &mut PyRandom::new(0), &p, 1, None)
    });
    assert_refused(
        result,
        &format!("{}: not a regular file (fifo)", fifo.display()),
    );
    let (t, p) = (tok.clone(), zero.clone());
    let result = guarded("sonnet on /dev/zero", move || {
        let opts = SonnetOptions {
            input_len: 550,
            output_len: 150,
            prefix_len: 200,
            num_prompts: 1,
            chat_backend: false,
        };
        sample_sonnet(&t, &mut PyRandom::new(0), &p, &opts)
    });
    assert_refused(
        result,
        &format!("{}: not a regular file (character device)", zero.display()),
    );
    let (t, p) = (tok, sub.clone());
    let result = guarded("custom on a directory", move || {
        sample_custom(&t, &mut PyRandom::new(0), &p, 1)
    });
    assert_refused(
        result,
        &format!("{}: not a regular file (directory)", sub.display()),
    );
}

#[test]
fn tokenizer_files_must_be_regular_and_within_their_caps() {
    let dir = scratch("tokenizers");
    // A FIFO named as the tokenizer: refused, not looked up as a model id.
    let fifo = dir.join("tokenizer.json");
    mkfifo(&fifo);
    let (name, env) = (fifo.display().to_string(), env_with_cache(&dir));
    let result = guarded("a fifo tokenizer", move || Tokenizer::load(&name, &env));
    assert_refused(
        result,
        &format!("{}: not a regular file (fifo)", fifo.display()),
    );

    // A directory whose tokenizer.json is /dev/zero.
    let zero_dir = dir.join("zero");
    std::fs::create_dir(&zero_dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_dir.join("tokenizer.json")).unwrap();
    let (name, env) = (zero_dir.display().to_string(), env_with_cache(&dir));
    let result = guarded("a /dev/zero tokenizer", move || {
        Tokenizer::load(&name, &env)
    });
    assert_refused(
        result,
        &format!(
            "{}: not a regular file (character device)",
            zero_dir.join("tokenizer.json").display()
        ),
    );

    // Oversize (sparse) tokenizer.json and tokenizer_config.json.
    let big = dir.join("big");
    std::fs::create_dir(&big).unwrap();
    std::fs::File::create(big.join("tokenizer.json"))
        .unwrap()
        .set_len((512 << 20) + 1)
        .unwrap();
    let (name, env) = (big.display().to_string(), env_with_cache(&dir));
    let result = guarded("an oversize tokenizer", move || {
        Tokenizer::load(&name, &env)
    });
    assert_refused(
        result,
        &format!(
            "{}: larger than 512 MiB, the limit for a tokenizer file",
            big.join("tokenizer.json").display()
        ),
    );
    let big_config = dir.join("big-config");
    std::fs::create_dir(&big_config).unwrap();
    std::fs::copy(
        tokenizer_dir().join("tokenizer.json"),
        big_config.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::File::create(big_config.join("tokenizer_config.json"))
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    let (name, env) = (big_config.display().to_string(), env_with_cache(&dir));
    let result = guarded("an oversize tokenizer config", move || {
        Tokenizer::load(&name, &env)
    });
    assert_refused(
        result,
        &format!(
            "{}: {}: larger than 16 MiB, the limit for a config file",
            big_config.join("tokenizer.json").display(),
            big_config.join("tokenizer_config.json").display()
        ),
    );
}

#[test]
fn a_fifo_refs_main_in_the_cache_falls_back_to_the_snapshots() {
    let cache = scratch("cache");
    let repo = cache.join("models--org--model");
    let snap = repo.join("snapshots/abc123");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    mkfifo(&repo.join("refs/main"));
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(tokenizer_dir().join(f), snap.join(f)).unwrap();
    }
    let env = env_with_cache(&cache);
    let tok = guarded("a cache with a fifo refs/main", move || {
        Tokenizer::load("org/model", &env)
    })
    .expect("the snapshot is found without refs/main");
    assert_eq!(tok.source, snap.join("tokenizer.json"));
}
