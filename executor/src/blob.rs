//! Blob outputs: a file a process task left in its `BATON_OUTPUT_DIR` is
//! copied into the executor's content-addressed blob directory
//! (`WORK_DIR/blobs/<sha256>`) and reported as a [`BlobRef`] with a `file://`
//! uri, its size and its sha256. Blocking I/O: call from a blocking thread.

use std::io::{Read, Write};
use std::path::Path;

use baton_model::BlobRef;
use sha2::{Digest, Sha256};

/// Copies `source` into `blobs_dir` under its sha256 and returns the reference.
pub fn store_file(source: &Path, blobs_dir: &Path) -> std::io::Result<BlobRef> {
    let mut input = std::fs::File::open(source)?;
    let mut staged = tempfile::NamedTempFile::new_in(blobs_dir)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = input.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        staged.write_all(&buffer[..read])?;
        size += read as u64;
    }
    staged.as_file().sync_all()?;
    let sha256 = format!("{:x}", hasher.finalize());
    let target = blobs_dir.join(&sha256);
    if !target.exists() {
        staged.persist(&target).map_err(|e| e.error)?;
    }
    Ok(BlobRef {
        uri: format!("file://{}", target.display()),
        size,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_a_blob_under_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("model.bin");
        std::fs::write(&source, b"hello").unwrap();
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        let blob = store_file(&source, &blobs).unwrap();
        let hello_sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(blob.sha256, hello_sha);
        assert_eq!(blob.size, 5);
        assert_eq!(
            blob.uri,
            format!("file://{}", blobs.join(hello_sha).display())
        );
        assert_eq!(std::fs::read(blobs.join(hello_sha)).unwrap(), b"hello");
        // Storing the same content again is a no-op that returns the same reference.
        assert_eq!(store_file(&source, &blobs).unwrap(), blob);
    }
}
