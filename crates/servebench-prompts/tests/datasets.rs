//! Datasets and tokenizer loading, with the real DeepSeek-R1 tokenizer from
//! the shared reference data and our own small fixtures.

use servebench_prompts::{
    length_statistics, sample_custom, sample_random, sample_random_direct, sample_sharegpt,
    sample_sonnet, Padding, PromptsError, PyRandom, RandomOptions, RandomState, SonnetOptions,
    Tokenizer,
};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tokenizer_dir() -> PathBuf {
    repo().join("../shared/reference/tokenizers/deepseek-r1")
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn deepseek() -> Tokenizer {
    Tokenizer::load(tokenizer_dir().to_str().unwrap_or_default(), &no_env)
        .expect("the shared DeepSeek-R1 tokenizer")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn loads_from_file_directory_and_cache_layout() {
    let tok = deepseek();
    assert_eq!(
        tok.vocab_size(),
        128_000,
        "base vocabulary, without added tokens"
    );
    let from_file = Tokenizer::load(
        tokenizer_dir()
            .join("tokenizer.json")
            .to_str()
            .unwrap_or_default(),
        &no_env,
    )
    .unwrap();
    assert_eq!(
        from_file.encode("hello world").unwrap(),
        tok.encode("hello world").unwrap()
    );
    // models--ORG--NAME/snapshots/REV/ with refs/main naming the revision.
    let cache = scratch("hub-cache");
    let snap = cache.join("models--deepseek-ai--DeepSeek-R1/snapshots/abc123");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(cache.join("models--deepseek-ai--DeepSeek-R1/refs")).unwrap();
    std::fs::write(
        cache.join("models--deepseek-ai--DeepSeek-R1/refs/main"),
        "abc123\n",
    )
    .unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(tokenizer_dir().join(f), snap.join(f)).unwrap();
    }
    let cache_str = cache.display().to_string();
    let env = move |k: &str| (k == "HF_HUB_CACHE").then(|| cache_str.clone());
    let cached = Tokenizer::load("deepseek-ai/DeepSeek-R1", &env).unwrap();
    assert_eq!(cached.chat_prompt("a").unwrap(), "<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}><\u{ff5c}User\u{ff5c}>a<\u{ff5c}Assistant\u{ff5c}>");
}

#[test]
fn missing_and_corrupt_tokenizers_are_clear_errors() {
    // Offline: no download is attempted (tests never reach the internet).
    let offline = |k: &str| (k == "HF_HUB_OFFLINE").then(|| "1".to_owned());
    let err = Tokenizer::load("org/not-downloaded", &offline).unwrap_err();
    assert!(
        matches!(err, PromptsError::TokenizerNotFound { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("org/not-downloaded"));
    let dir = scratch("bad-tokenizer");
    let err = Tokenizer::load(dir.to_str().unwrap_or_default(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no tokenizer.json"), "{err}");
    std::fs::write(dir.join("tokenizer.json"), "{\"version\": ").unwrap();
    let err = Tokenizer::load(dir.to_str().unwrap_or_default(), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
}

#[test]
fn random_prompts_hit_their_target_lengths() {
    let tok = deepseek();
    let mut rng = RandomState::new(0);
    let opts = RandomOptions {
        input_len: 200,
        output_len: 50,
        prefix_len: 10,
        num_prompts: 8,
        range_ratio: 0.5,
        use_chat_template: false,
        dsv4: false,
        padding: Padding::Global,
    };
    let requests = sample_random(&tok, &mut rng, &opts).unwrap();
    assert_eq!(requests.len(), 8);
    for r in &requests {
        assert!((110..=210).contains(&r.target_len), "{}", r.target_len);
        assert!((25..=50).contains(&r.output_len));
        assert_eq!(tok.encode(&r.prompt).unwrap().len(), r.prompt_len);
    }
    let stats = length_statistics(&requests).unwrap();
    assert!(stats.starts_with("-------------------  Input/Output Length Statistics  -------------------\n input_lens : min="), "{stats}");
    assert!(
        stats.ends_with(
            "------------------------------------------------------------------------ \n\n"
        ),
        "{stats:?}"
    );
    assert!(length_statistics(&[]).is_err());
    let bad = RandomOptions {
        range_ratio: 1.5,
        ..opts
    };
    assert!(sample_random(&tok, &mut RandomState::new(0), &bad)
        .unwrap_err()
        .to_string()
        .contains("range"));
}

#[test]
fn sharegpt_filters_and_shuffles_with_python_random() {
    let tok = deepseek();
    let path = repo().join("fixtures/datasets/sharegpt_small.json");
    let all = sample_sharegpt(&tok, &mut PyRandom::new(0), &path, 10, None).unwrap();
    // c2 ("hi") is too short, c3 has a single turn.
    assert_eq!(all.len(), 3);
    assert!(all
        .iter()
        .all(|r| !r.prompt.starts_with("hi") && !r.prompt.starts_with("Write a haiku")));
    let two = sample_sharegpt(&tok, &mut PyRandom::new(0), &path, 2, Some(100)).unwrap();
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|r| r.output_len == 100));
    assert_eq!(two[0].prompt, all[0].prompt, "same seed, same order");
    assert!(sample_sharegpt(&tok, &mut PyRandom::new(0), &path, 2, Some(3)).is_err());
}

#[test]
fn sonnet_builds_chat_prompts_of_about_the_asked_length() {
    let tok = deepseek();
    let path = repo().join("fixtures/datasets/sonnet_small.txt");
    let opts = SonnetOptions {
        input_len: 120,
        output_len: 50,
        prefix_len: 40,
        num_prompts: 3,
        chat_backend: false,
    };
    let requests = sample_sonnet(&tok, &mut PyRandom::new(0), &path, &opts).unwrap();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert!(
            r.prompt
                .contains("Pick as many lines as you can from these poem lines:\nThe kernels wake"),
            "fixed prefix lines first"
        );
        assert!(r.prompt.ends_with("<\u{ff5c}Assistant\u{ff5c}>"));
        assert!((90..=150).contains(&r.prompt_len), "{}", r.prompt_len);
    }
    let raw = sample_sonnet(
        &tok,
        &mut PyRandom::new(0),
        &path,
        &SonnetOptions {
            chat_backend: true,
            ..opts
        },
    )
    .unwrap();
    assert!(
        raw[0].prompt.starts_with("Pick as many lines"),
        "openai-chat sends the unformatted prompt"
    );
    let too_long = SonnetOptions {
        input_len: 5000,
        ..opts
    };
    assert!(sample_sonnet(&tok, &mut PyRandom::new(0), &path, &too_long)
        .unwrap_err()
        .to_string()
        .contains("lines"));
}

#[test]
fn custom_jsonl_errors_name_file_and_line() {
    let tok = deepseek();
    let good = repo().join("fixtures/datasets/custom_small.jsonl");
    let requests = sample_custom(&tok, &mut PyRandom::new(1), &good, 4).unwrap();
    assert_eq!(requests.len(), 4);
    assert!(sample_custom(&tok, &mut PyRandom::new(1), &good, 5)
        .unwrap_err()
        .to_string()
        .contains("4 prompts in the file"));
    let dir = scratch("custom-bad");
    for (text, needle) in [
        (
            "{\"prompt\": \"a\", \"output_tokens\": 5}\n{\"prompt\": \"b\"",
            "line 2: invalid JSON",
        ),
        (
            "{\"prompt\": \"a\", \"output_tokens\": 0}\n",
            "line 1: \"output_tokens\" must be a positive integer",
        ),
        ("[1]\n", "line 1: expected a JSON object"),
        (
            "{\"output_tokens\": 3}\n",
            "line 1: missing string \"prompt\"",
        ),
    ] {
        let path = dir.join("bad.jsonl");
        std::fs::write(&path, text).unwrap();
        let err = sample_custom(&tok, &mut PyRandom::new(1), &path, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.jsonl") && err.contains(needle), "{err}");
    }
    let path = dir.join("convs.json");
    std::fs::write(
        &path,
        "[{\"conversations\": [{\"value\": 1}, {\"value\": \"x\"}]}]",
    )
    .unwrap();
    let err = sample_sharegpt(&tok, &mut PyRandom::new(1), &path, 1, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("convs.json") && err.contains("entry 0, turn 0"),
        "{err}"
    );
}

/// The incremental, parallel path must give exactly what the original
/// algorithm (`sample_direct`) gives, draws and all.
#[test]
fn incremental_sampling_equals_the_direct_algorithm() {
    let tok = deepseek();
    let cases = [
        (2048, 0.8, 24, false, 0u32),
        (1500, 0.0, 16, false, 7),
        (300, 0.5, 40, false, 42),
        (4096, 1.0, 6, false, 3),
        (700, 0.8, 8, true, 11),
        (5, 1.0, 30, false, 5),
    ];
    let paddings = [
        Padding::Global,
        Padding::Local { workers: 1 },
        Padding::Local { workers: 3 },
    ];
    for ((input_len, range_ratio, num_prompts, use_chat_template, seed), padding) in cases
        .into_iter()
        .flat_map(|c| paddings.into_iter().map(move |p| (c, p)))
    {
        let opts = RandomOptions {
            input_len,
            output_len: 64,
            prefix_len: 0,
            num_prompts,
            range_ratio,
            use_chat_template,
            dsv4: false,
            padding,
        };
        let mut fast_rng = RandomState::new(seed);
        let mut slow_rng = RandomState::new(seed);
        let fast = sample_random(&tok, &mut fast_rng, &opts).unwrap();
        let slow = sample_random_direct(&tok, &mut slow_rng, &opts).unwrap();
        assert_eq!(
            fast, slow,
            "input_len {input_len}, ratio {range_ratio}, seed {seed}"
        );
        // The streams continue identically (arrival gaps come next).
        assert_eq!(fast_rng.next_u32(), slow_rng.next_u32());
    }
}
