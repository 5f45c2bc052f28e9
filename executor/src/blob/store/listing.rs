//! What a store holds, and removing from it: for `baton blob sweep`,
//! which removes the blobs nothing refers to any more.

use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::{describe, BlobError, BlobStore};

/// A blob the store holds, as its listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub uri: String,
    pub size: u64,
    /// When it was written (Unix ms).
    pub modified_ms: u64,
}

impl BlobStore {
    /// Every content-addressed blob under the store's `sha256/`; other
    /// objects under its prefix are not Baton's and are left out.
    pub async fn list(&self) -> Result<Vec<StoredBlob>, BlobError> {
        let under = self.prefix.clone().join("sha256");
        let mut listing = self.home.list(Some(&under));
        let mut blobs = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| BlobError::Io {
                action: "list",
                uri: format!("{}/sha256/", self.url),
                why: describe(&e),
            })?;
            let Some(sha256) = meta.location.filename() else {
                continue;
            };
            if !crate::blob::is_sha256(sha256) {
                continue;
            }
            blobs.push(StoredBlob {
                uri: self.uri_of(sha256),
                sha256: sha256.to_ascii_lowercase(),
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis().max(0) as u64,
            });
        }
        Ok(blobs)
    }

    /// Removes blob `sha256` from the store; one already gone is no error.
    pub async fn delete(&self, sha256: &str) -> Result<(), BlobError> {
        match self.home.delete(&self.key_of(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::Io {
                action: "remove",
                uri: self.uri_of(sha256),
                why: describe(&e),
            }),
        }
    }
}
