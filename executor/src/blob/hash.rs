//! Content hashes: the sha256 and size of a file or of bytes, which name a
//! blob in the store and verify every copy read back from it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// A file's content hash (hex sha256) and its size. Blocking: call from a
/// blocking thread for large files.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut input = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = input.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((format!("{:x}", hasher.finalize()), size))
}

/// The hex sha256 of `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn a_file_and_the_same_bytes_hash_alike() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hello");
        std::fs::write(&file, b"hello").unwrap();
        assert_eq!(hash_file(&file).unwrap(), (HELLO_SHA.to_owned(), 5));
        assert_eq!(hash_bytes(b"hello"), HELLO_SHA);
    }
}
