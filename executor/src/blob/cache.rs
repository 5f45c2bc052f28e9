//! The executor's blob cache (`WORK_DIR/blob-cache/<sha256>`): every blob a
//! task reads is downloaded once per executor, verified against its hash,
//! and handed to process tasks as a local file. Concurrent attempts that need
//! the same blob wait for one download. It also holds the store this
//! executor writes to, which the scheduler's advertisement may replace, and
//! the inline limit above which outputs are offloaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use baton_model::BlobRef;

use super::{BlobError, BlobStore};

#[derive(Debug)]
pub struct BlobCache {
    dir: PathBuf,
    store: RwLock<Arc<BlobStore>>,
    inline_limit: AtomicU64,
    /// One lock per blob being downloaded (by sha256).
    downloads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Held to hand out a cached copy, and exclusively by the work
    /// directory's cleanup to remove one: a copy handed out was touched
    /// first, so the cleanup sees it in use.
    handing_out: RwLock<()>,
}

impl BlobCache {
    pub fn new(dir: PathBuf, store: BlobStore, inline_limit: u64) -> BlobCache {
        BlobCache {
            dir,
            store: RwLock::new(Arc::new(store)),
            inline_limit: AtomicU64::new(inline_limit),
            downloads: Mutex::default(),
            handing_out: RwLock::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store outputs go to.
    pub fn store(&self) -> Arc<BlobStore> {
        self.store.read().expect("blob store").clone()
    }

    /// Switches to `store` and `inline_limit` (as the scheduler advertises them).
    pub fn replace(&self, store: BlobStore, inline_limit: u64) {
        *self.store.write().expect("blob store") = Arc::new(store);
        self.inline_limit.store(inline_limit, Ordering::Relaxed);
    }

    pub fn replace_limit(&self, inline_limit: u64) {
        self.inline_limit.store(inline_limit, Ordering::Relaxed);
    }

    pub fn inline_limit(&self) -> u64 {
        self.inline_limit.load(Ordering::Relaxed)
    }

    /// A local, verified copy of `blob`. A reference without a hash cannot be
    /// verified or cached: it is read afresh each time, into `scratch`.
    pub async fn local_path(&self, blob: &BlobRef, scratch: &Path) -> Result<PathBuf, BlobError> {
        if !is_sha256(&blob.sha256) {
            let name = format!("unverified-{}", super::hash_bytes(blob.uri.as_bytes()));
            let path = scratch.join(name);
            self.store().download(blob, &path).await?;
            return Ok(path);
        }
        let sha256 = blob.sha256.to_ascii_lowercase();
        let path = self.dir.join(&sha256);
        {
            let _handing_out = self.handing_out.read().unwrap_or_else(|e| e.into_inner());
            if touch(&path) {
                return Ok(path);
            }
        }
        let lock = self
            .downloads
            .lock()
            .expect("downloads")
            .entry(blob.sha256.clone())
            .or_default()
            .clone();
        let _downloading = lock.lock().await;
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            self.store().download(blob, &path).await?;
            // Tasks read the cached copy itself: none may change it.
            use std::os::unix::fs::PermissionsExt;
            let _ = tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).await;
        }
        self.downloads
            .lock()
            .expect("downloads")
            .remove(&blob.sha256);
        Ok(path)
    }

    /// Runs `f` while no cached copy is being handed out (the cleanup's
    /// removal of one).
    pub fn while_none_handed_out<T>(&self, f: impl FnOnce() -> T) -> T {
        let _removing = self.handing_out.write().unwrap_or_else(|e| e.into_inner());
        f()
    }

    /// The bytes of `blob` (an offloaded value's JSON), through the cache.
    pub async fn read(&self, blob: &BlobRef, scratch: &Path) -> Result<Vec<u8>, BlobError> {
        let path = self.local_path(blob, scratch).await?;
        tokio::fs::read(&path).await.map_err(|e| BlobError::Io {
            action: "read",
            uri: blob.uri.clone(),
            why: e.to_string(),
        })
    }
}

/// Marks a cached copy as just used, for the work directory's cleanup
/// (which keeps what running attempts use); whether it exists.
fn touch(path: &Path) -> bool {
    std::fs::File::open(path)
        .map(|file| {
            let _ = file.set_modified(std::time::SystemTime::now());
        })
        .is_ok()
}

/// Whether `text` is a sha256 as blob references carry it (64 hex digits).
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}
