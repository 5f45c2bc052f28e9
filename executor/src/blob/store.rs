//! The blob store, on the `object_store` crate: a local directory
//! (`file:///srv/baton/blobs`, or a plain path) or an S3-compatible bucket
//! (`s3://BUCKET/PREFIX`, with an endpoint, region and credentials from
//! [`S3Options`]). Content is addressed by its sha256 (`PREFIX/sha256/HEX`),
//! so storing the same bytes twice stores them once, and every copy read
//! back is verified against the hash its reference carries.
//!
//! A blob's uri names its store, so a reference written by one executor is
//! read by any other, and by the CLI, whatever store they write to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_model::BlobRef;
use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::hash::{hash_bytes, hash_file};
use super::S3Options;

/// How long a stored blob counts as fresh: one stored again after this is
/// written again (see [`BlobStore::holds`]).
pub const REFRESH_AFTER: Duration = Duration::from_secs(3_600);

/// What can go wrong with a blob, in words that name the blob or the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("bad blob store `{url}`: {why}")]
    BadStore { url: String, why: String },
    #[error("blob `{uri}` does not exist")]
    NotFound { uri: String },
    #[error(
        "blob `{uri}` no longer matches its reference: expected {expected}, found {found}; \
         it was not used"
    )]
    Corrupt {
        uri: String,
        expected: String,
        found: String,
    },
    #[error("cannot {action} blob `{uri}`: {why}")]
    Io {
        action: &'static str,
        uri: String,
        why: String,
    },
}

/// Where blobs are written, and the means to read any blob uri.
#[derive(Debug)]
pub struct BlobStore {
    /// The store's location as a uri prefix: `file:///abs/dir` or `s3://bucket/prefix`.
    url: String,
    home: Arc<dyn ObjectStore>,
    /// The key prefix inside `home` (empty for a local directory, whose root is the directory).
    prefix: Key,
    s3: S3Options,
    /// S3 clients by bucket, so reads of another bucket reuse connections.
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// A parsed store location.
enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

fn parse_location(url: &str) -> Result<Location, String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("an s3 url names a bucket: s3://BUCKET/PREFIX".into());
        }
        return Ok(Location::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        });
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if url.contains("://") && !url.starts_with("file://") {
        return Err(
            "a blob store is a directory (file:///DIR or a path) or s3://BUCKET/PREFIX".into(),
        );
    }
    if path.is_empty() {
        return Err("the directory is empty".into());
    }
    Ok(Location::Local(PathBuf::from(path)))
}

impl BlobStore {
    /// Opens the store at `url`, creating a local directory if needed.
    pub fn open(url: &str, s3: &S3Options) -> Result<BlobStore, BlobError> {
        let bad = |why: String| BlobError::BadStore {
            url: url.to_owned(),
            why,
        };
        match parse_location(url).map_err(bad)? {
            Location::Local(dir) => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| bad(format!("cannot create `{}`: {e}", dir.display())))?;
                let dir = dir
                    .canonicalize()
                    .map_err(|e| bad(format!("cannot open `{}`: {e}", dir.display())))?;
                let home = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(describe(&e)))?
                    .with_automatic_cleanup(true);
                Ok(BlobStore {
                    url: format!("file://{}", dir.display()),
                    home: Arc::new(home),
                    prefix: Key::default(),
                    s3: s3.clone(),
                    buckets: Mutex::default(),
                })
            }
            Location::S3 { bucket, prefix } => {
                let home = s3_client(&bucket, s3).map_err(bad)?;
                let url = match prefix.is_empty() {
                    true => format!("s3://{bucket}"),
                    false => format!("s3://{bucket}/{prefix}"),
                };
                Ok(BlobStore {
                    url,
                    home: home.clone(),
                    prefix: Key::from(prefix.as_str()),
                    s3: s3.clone(),
                    buckets: Mutex::new(HashMap::from([(bucket, home)])),
                })
            }
        }
    }

    /// A store that only reads blob uris (`baton blob get`): it has no home
    /// to write to.
    pub fn for_reading(s3: &S3Options) -> BlobStore {
        BlobStore {
            url: String::new(),
            home: Arc::new(LocalFileSystem::new()),
            prefix: Key::default(),
            s3: s3.clone(),
            buckets: Mutex::default(),
        }
    }

    /// The store's location, as blob uris begin.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key_of(&self, sha256: &str) -> Key {
        self.prefix.clone().join("sha256").join(sha256)
    }

    fn uri_of(&self, sha256: &str) -> String {
        format!("{}/sha256/{sha256}", self.url)
    }

    /// Stores a file's content (once: an object of that hash already there
    /// is kept) and returns its reference.
    pub async fn put_file(&self, file: &Path) -> Result<BlobRef, BlobError> {
        let shown = file.display().to_string();
        let path = file.to_path_buf();
        let (sha256, size) = tokio::task::spawn_blocking(move || hash_file(&path))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|e| BlobError::Io {
                action: "read",
                uri: shown.clone(),
                why: e.to_string(),
            })?;
        let blob = BlobRef {
            uri: self.uri_of(&sha256),
            size,
            sha256,
        };
        if self.holds(&blob).await? {
            return Ok(blob);
        }
        let failed = |why: String| BlobError::Io {
            action: "store",
            uri: blob.uri.clone(),
            why,
        };
        let mut input = tokio::fs::File::open(file)
            .await
            .map_err(|e| failed(format!("cannot open `{shown}`: {e}")))?;
        let mut writer =
            object_store::buffered::BufWriter::new(self.home.clone(), self.key_of(&blob.sha256));
        let mut buffer = vec![0u8; 1024 * 1024];
        loop {
            use tokio::io::AsyncReadExt;
            let read = input
                .read(&mut buffer)
                .await
                .map_err(|e| failed(format!("cannot read `{shown}`: {e}")))?;
            if read == 0 {
                break;
            }
            writer
                .put(Bytes::copy_from_slice(&buffer[..read]))
                .await
                .map_err(|e| failed(describe(&e)))?;
        }
        writer
            .shutdown()
            .await
            .map_err(|e| failed(describe_io(&e)))?;
        crate::metrics::METRICS.blob_bytes("written", blob.size);
        Ok(blob)
    }

    /// Stores `bytes` (once) and returns their reference.
    pub async fn put_bytes(&self, bytes: Vec<u8>) -> Result<BlobRef, BlobError> {
        let sha256 = hash_bytes(&bytes);
        let blob = BlobRef {
            uri: self.uri_of(&sha256),
            size: bytes.len() as u64,
            sha256,
        };
        if self.holds(&blob).await? {
            return Ok(blob);
        }
        self.home
            .put(&self.key_of(&blob.sha256), bytes.into())
            .await
            .map_err(|e| BlobError::Io {
                action: "store",
                uri: blob.uri.clone(),
                why: describe(&e),
            })?;
        crate::metrics::METRICS.blob_bytes("written", blob.size);
        Ok(blob)
    }

    /// Whether the store already holds `blob` whole, written within the
    /// last [`REFRESH_AFTER`]. An older copy is written again, so that its
    /// time says it is in use: `baton blob sweep` spares only blobs younger
    /// than its `--older-than` among those nothing refers to yet.
    async fn holds(&self, blob: &BlobRef) -> Result<bool, BlobError> {
        match self.home.head(&self.key_of(&blob.sha256)).await {
            Ok(meta) => {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let age_ms = now_ms - meta.last_modified.timestamp_millis();
                Ok(meta.size == blob.size && age_ms < REFRESH_AFTER.as_millis() as i64)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(BlobError::Io {
                action: "look up",
                uri: blob.uri.clone(),
                why: describe(&e),
            }),
        }
    }

    /// The store and key a uri names.
    fn locate(&self, uri: &str) -> Result<(Arc<dyn ObjectStore>, Key), BlobError> {
        let bad = |why: String| BlobError::Io {
            action: "read",
            uri: uri.to_owned(),
            why,
        };
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, key) = rest
                .split_once('/')
                .ok_or_else(|| bad("an s3 uri is s3://BUCKET/KEY".into()))?;
            let mut buckets = self.buckets.lock().expect("bucket clients");
            let store = match buckets.get(bucket) {
                Some(store) => store.clone(),
                None => {
                    let store = s3_client(bucket, &self.s3).map_err(bad)?;
                    buckets.insert(bucket.to_owned(), store.clone());
                    store
                }
            };
            return Ok((store, Key::from(key)));
        }
        let Some(path) = uri.strip_prefix("file://") else {
            return Err(bad("a blob uri begins with file:// or s3://".into()));
        };
        let key = Key::from_absolute_path(path).map_err(|e| bad(e.to_string()))?;
        Ok((Arc::new(LocalFileSystem::new()), key))
    }

    /// Reads `blob` into `dest` (through a temporary file beside it, renamed
    /// into place only once verified against the reference's hash and size).
    pub async fn download(&self, blob: &BlobRef, dest: &Path) -> Result<(), BlobError> {
        let (store, key) = self.locate(&blob.uri)?;
        let failed = |why: String| BlobError::Io {
            action: "read",
            uri: blob.uri.clone(),
            why,
        };
        let found = match store.get(&key).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::NotFound {
                    uri: blob.uri.clone(),
                })
            }
            Err(e) => return Err(failed(describe(&e))),
        };
        let dir = dest.parent().unwrap_or(Path::new("."));
        let staged = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| failed(format!("cannot write into `{}`: {e}", dir.display())))?;
        let mut out = tokio::fs::File::from_std(
            staged
                .reopen()
                .map_err(|e| failed(format!("cannot write into `{}`: {e}", dir.display())))?,
        );
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = found.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failed(describe(&e)))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk)
                .await
                .map_err(|e| failed(format!("cannot write `{}`: {e}", dest.display())))?;
        }
        out.sync_all()
            .await
            .map_err(|e| failed(format!("cannot write `{}`: {e}", dest.display())))?;
        let found = format!("{:x}", hasher.finalize());
        if !blob.sha256.is_empty() && !found.eq_ignore_ascii_case(&blob.sha256) {
            return Err(BlobError::Corrupt {
                uri: blob.uri.clone(),
                expected: format!("sha256 {}", blob.sha256),
                found: format!("sha256 {found}"),
            });
        }
        if blob.size > 0 && size != blob.size {
            return Err(BlobError::Corrupt {
                uri: blob.uri.clone(),
                expected: format!("{} bytes", blob.size),
                found: format!("{size} bytes"),
            });
        }
        staged
            .persist(dest)
            .map_err(|e| failed(format!("cannot write `{}`: {}", dest.display(), e.error)))?;
        crate::metrics::METRICS.blob_bytes("read", size);
        Ok(())
    }
}

/// An S3 client for `bucket`: endpoint, region and credentials from
/// `options`, then from the standard AWS environment variables.
fn s3_client(bucket: &str, options: &S3Options) -> Result<Arc<dyn ObjectStore>, String> {
    super::install_tls_provider();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        // A request that cannot succeed says so within seconds, not minutes.
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        })
        .with_client_options(ClientOptions::new().with_connect_timeout(Duration::from_secs(5)));
    if let Some(endpoint) = &options.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            // Self-hosted S3 (MinIO, Ceph, s3s) addresses buckets by path.
            .with_virtual_hosted_style_request(false);
    }
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &options.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &options.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = &options.session_token {
        builder = builder.with_token(token);
    }
    builder
        .build()
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|e| describe(&e))
}

/// An object_store error in words, without the crate's own prefix.
fn describe(error: &object_store::Error) -> String {
    let text = error.to_string();
    // "Generic S3 error: ..." / "Generic LocalFileSystem error: ...".
    match text.strip_prefix("Generic ") {
        Some(rest) => rest
            .split_once(" error: ")
            .map(|(_, why)| why.to_owned())
            .unwrap_or(text),
        None => text,
    }
}

fn describe_io(error: &std::io::Error) -> String {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<object_store::Error>())
    {
        Some(inner) => describe(inner),
        None => error.to_string(),
    }
}

mod listing;
pub use listing::StoredBlob;

#[cfg(test)]
mod tests;
