use super::*;

fn local_store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(
        &format!("file://{}", dir.path().join("store").display()),
        &S3Options::default(),
    )
    .unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_file_is_stored_once_under_its_hash_and_read_back_verified() {
    let (dir, store) = local_store();
    let source = dir.path().join("model.bin");
    std::fs::write(&source, b"hello").unwrap();
    let blob = store.put_file(&source).await.unwrap();
    let hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_eq!(blob.sha256, hello);
    assert_eq!(blob.size, 5);
    let stored = dir.path().join("store").canonicalize().unwrap();
    assert_eq!(
        blob.uri,
        format!("file://{}/sha256/{hello}", stored.display())
    );
    // The same content again is the same reference, and bytes hash alike.
    assert_eq!(store.put_file(&source).await.unwrap(), blob);
    assert_eq!(store.put_bytes(b"hello".to_vec()).await.unwrap(), blob);
    let copy = dir.path().join("copy");
    store.download(&blob, &copy).await.unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), b"hello");
}

#[tokio::test]
async fn a_missing_or_changed_blob_is_refused_and_nothing_is_written() {
    let (dir, store) = local_store();
    let blob = store.put_bytes(b"labels".to_vec()).await.unwrap();
    let copy = dir.path().join("copy");
    // Changed behind the store's back: the copy is refused, not used.
    let path = blob.uri.strip_prefix("file://").unwrap().to_owned();
    std::fs::write(&path, b"LABELS").unwrap();
    let error = store.download(&blob, &copy).await.unwrap_err();
    assert!(matches!(error, BlobError::Corrupt { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("no longer matches its reference"),
        "{error}"
    );
    assert!(!copy.exists());
    std::fs::remove_file(&path).unwrap();
    let error = store.download(&blob, &copy).await.unwrap_err();
    assert_eq!(
        error,
        BlobError::NotFound {
            uri: blob.uri.clone()
        }
    );
    assert_eq!(
        error.to_string(),
        format!("blob `{}` does not exist", blob.uri)
    );
}

#[test]
fn a_store_url_that_is_neither_a_directory_nor_s3_is_refused_by_name() {
    let error = BlobStore::open("gs://bucket/x", &S3Options::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "bad blob store `gs://bucket/x`: a blob store is a directory (file:///DIR or a path) or s3://BUCKET/PREFIX"
    );
    let error = BlobStore::open("s3:///x", &S3Options::default()).unwrap_err();
    assert!(error.to_string().contains("names a bucket"), "{error}");
}

#[test]
fn an_s3_store_names_its_objects_by_bucket_prefix_and_hash() {
    let options = S3Options {
        endpoint: Some("http://127.0.0.1:1".into()),
        region: Some("us-east-1".into()),
        access_key_id: Some("k".into()),
        secret_access_key: Some("s".into()),
        session_token: None,
    };
    let store = BlobStore::open("s3://bucket/team/a/", &options).unwrap();
    assert_eq!(store.url(), "s3://bucket/team/a");
    assert_eq!(store.uri_of("ab"), "s3://bucket/team/a/sha256/ab");
    assert_eq!(store.key_of("ab").as_ref(), "team/a/sha256/ab");
}
