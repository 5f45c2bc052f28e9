use super::*;
use crate::blob::{BlobStore, S3Options};
use baton_model::Variable;

fn cache(limit: u64) -> (tempfile::TempDir, BlobCache) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(
        &dir.path().join("store").display().to_string(),
        &S3Options::default(),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("cache")).unwrap();
    let cache = BlobCache::new(dir.path().join("cache"), store, limit);
    (dir, cache)
}

fn interface(inputs: &[(&str, &str)]) -> Interface {
    Interface {
        inputs: inputs
            .iter()
            .map(|(name, ty)| Variable {
                name: (*name).into(),
                ty: ty.parse().unwrap(),
                default: None,
                description: String::new(),
            })
            .collect(),
        outputs: vec![],
    }
}

fn scores(n: usize) -> Value {
    Value::List(
        (0..n)
            .map(|i| {
                Value::Map(
                    [("margin".to_string(), Value::Float(i as f64 / 10.0))]
                        .into_iter()
                        .collect(),
                )
            })
            .collect(),
    )
}

#[tokio::test]
async fn a_large_output_is_offloaded_and_read_back_typed_a_small_one_stays_inline() {
    let (dir, cache) = cache(1024);
    let outputs = Values::from([
        ("big".to_string(), scores(200)),
        ("small".to_string(), Value::Int(3)),
    ]);
    let offloaded = offload_large(&cache, outputs).await.unwrap();
    let Value::Offloaded(blob) = &offloaded["big"] else {
        panic!("{offloaded:?}")
    };
    assert!(blob.size > 1024, "{blob:?}");
    assert_eq!(offloaded["small"], Value::Int(3));
    // Read back as the input of the next task, typed by its interface, also
    // when the reference sits inside a list.
    let inputs = Values::from([
        ("scores".to_string(), offloaded["big"].clone()),
        (
            "all".to_string(),
            Value::List(vec![offloaded["big"].clone()]),
        ),
    ]);
    let interface = interface(&[
        ("scores", "list<{margin: float}>"),
        ("all", "list<list<{margin: float}>>"),
    ]);
    let inlined = inline_offloaded(&cache, &interface, &inputs, dir.path())
        .await
        .unwrap();
    assert_eq!(inlined["scores"], scores(200));
    assert_eq!(inlined["all"], Value::List(vec![scores(200)]));
    // Read through the cache: a second read needs no store.
    assert!(cache.dir().join(&blob.sha256).exists());
}

#[tokio::test]
async fn an_offloaded_value_of_another_type_is_refused_naming_input_and_path() {
    let (dir, cache) = cache(16);
    let outputs = Values::from([("big".to_string(), scores(10))]);
    let offloaded = offload_large(&cache, outputs).await.unwrap();
    let inputs = Values::from([("scores".to_string(), offloaded["big"].clone())]);
    let error = inline_offloaded(
        &cache,
        &interface(&[("scores", "list<{margin: int}>")]),
        &inputs,
        dir.path(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "input `scores` read from the blob store: at [0].margin: expected int, got 0.0"
    );
}

#[tokio::test]
async fn blob_inputs_become_verified_local_paths_and_returned_files_are_stored() {
    let (dir, cache) = cache(1024);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("model"), b"weights").unwrap();
    let returned = Value::Blob(BlobRef {
        uri: "model".into(),
        size: 0,
        sha256: String::new(),
    });
    let stored = store_returned_files(&cache, "model", returned, &out)
        .await
        .unwrap();
    let Value::Blob(blob) = &stored else {
        panic!("{stored:?}")
    };
    assert_eq!((blob.size, blob.sha256.len()), (7, 64));
    let inputs = Values::from([("model".to_string(), stored.clone())]);
    let json = task_inputs_json(&cache, &inputs, dir.path()).await.unwrap();
    let path = json["model"].as_str().unwrap();
    assert_eq!(path, cache.dir().join(&blob.sha256).display().to_string());
    assert_eq!(std::fs::read(path).unwrap(), b"weights");
    // Tasks read the cached copy itself, which none may change.
    assert!(std::fs::metadata(path).unwrap().permissions().readonly());

    let missing = Value::Blob(BlobRef {
        uri: "/nowhere/model".into(),
        size: 0,
        sha256: String::new(),
    });
    let error = store_returned_files(&cache, "model", missing, &out)
        .await
        .unwrap_err();
    assert_eq!(
        error.message,
        "blob output `model` names the file `/nowhere/model`, which does not exist"
    );
    assert!(!error.retryable);
}
