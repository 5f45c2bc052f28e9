//! Blobs from the command line: `baton run -i NAME=@FILE` uploads the file
//! to the cluster's blob store, `baton blob put FILE` stores one and prints
//! its reference, `baton blob get URI PATH` downloads one, verified against
//! the hash its uri names.
//!
//! The store is `--blob-store` (or BATON_BLOB_STORE) if given, else the one
//! the scheduler advertises; credentials are this process's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use baton_executor::blob::{BlobStore, S3Options};
use baton_model::BlobRef;
use baton_proto::{ClusterStatusRequest, FileInput};

use crate::client::{CliError, Client};

/// Where the CLI reads and writes blobs.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct BlobOptions {
    /// The blob store for uploads (`file:///DIR`, a path, `s3://BUCKET/PREFIX`).
    /// Default: the one the scheduler advertises.
    #[arg(long, env = "BATON_BLOB_STORE", value_name = "URL")]
    pub blob_store: Option<String>,
    #[command(flatten)]
    pub s3: S3Options,
}

/// The store to upload to, and the inline limit of the cluster.
pub async fn open_store(
    client: &mut Client,
    options: &BlobOptions,
) -> Result<(BlobStore, u64), CliError> {
    let status = client
        .call(ClusterStatusRequest {}, |mut a, r| async move {
            a.cluster_status(r).await
        })
        .await?;
    let advertised = status.blob_store.unwrap_or_default();
    let limit = match advertised.inline_limit {
        0 => baton_executor::blob::DEFAULT_INLINE_LIMIT,
        n => n,
    };
    let s3 = options
        .s3
        .or_advertised(&advertised.s3_endpoint, &advertised.s3_region);
    let url = match &options.blob_store {
        Some(url) => url.clone(),
        None if advertised.url.is_empty() => {
            return Err(CliError::BadInput(
                "the scheduler advertises no blob store: pass --blob-store".into(),
            ))
        }
        None => advertised.url,
    };
    let store = BlobStore::open(&url, &s3).map_err(|e| CliError::BadInput(e.to_string()))?;
    Ok((store, limit))
}

/// The `-i NAME=@FILE` inputs, each file checked and uploaded; the other
/// inputs are left as text.
pub async fn upload_file_inputs(
    client: &mut Client,
    options: &BlobOptions,
    inputs: &HashMap<String, String>,
) -> Result<HashMap<String, FileInput>, CliError> {
    let files: Vec<(&String, PathBuf)> = inputs
        .iter()
        // `@@text` is the literal text `@text`, not a file.
        .filter(|(_, value)| !value.starts_with("@@"))
        .filter_map(|(name, value)| value.strip_prefix('@').map(|p| (name, PathBuf::from(p))))
        .collect();
    if files.is_empty() {
        return Ok(HashMap::new());
    }
    // Every file is checked before anything is uploaded.
    for (name, path) in &files {
        check_file(name, path)?;
    }
    let (store, limit) = open_store(client, options).await?;
    let mut uploaded = HashMap::new();
    for (name, path) in files {
        let blob = store
            .put_file(&path)
            .await
            .map_err(|e| CliError::Refused(format!("input `{name}`: {e}")))?;
        // A small file also travels as text, so the scheduler checks it at launch.
        let text = if blob.size <= limit {
            std::fs::read(&path)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
        } else {
            None
        };
        eprintln!(
            "uploaded {} ({} bytes) to {}",
            path.display(),
            blob.size,
            blob.uri
        );
        uploaded.insert(
            name.clone(),
            FileInput {
                blob: Some(wire(&blob)),
                text,
                path: path.display().to_string(),
            },
        );
    }
    Ok(uploaded)
}

fn check_file(name: &str, path: &Path) -> Result<(), CliError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(CliError::BadInput(format!(
            "input `{name}`: `{}` is not a file",
            path.display()
        ))),
        Err(e) => Err(CliError::BadInput(format!(
            "input `{name}`: cannot read `{}`: {}",
            path.display(),
            io_words(&e)
        ))),
    }
}

fn io_words(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

fn wire(blob: &BlobRef) -> baton_proto::BlobRef {
    baton_proto::BlobRef {
        uri: blob.uri.clone(),
        size: blob.size,
        sha256: blob.sha256.clone(),
    }
}

/// `baton blob put FILE`: stores the file and prints its reference.
pub async fn put(client: &mut Client, options: &BlobOptions, file: &Path) -> Result<(), CliError> {
    check_file("FILE", file)?;
    let (store, _) = open_store(client, options).await?;
    let blob = store
        .put_file(file)
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    crate::commands::print_json(&serde_json::json!({
        "uri": blob.uri, "size": blob.size, "sha256": blob.sha256,
    }));
    Ok(())
}

/// `baton blob get URI PATH`: downloads a blob, verified against the hash
/// its uri names (content-addressed uris end in `/sha256/HEX`).
pub async fn get(options: &BlobOptions, uri: &str, path: &Path) -> Result<(), CliError> {
    if !(uri.starts_with("s3://") || uri.starts_with("file://")) {
        return Err(CliError::BadInput(format!(
            "`{uri}` is not a blob uri: it begins with s3:// or file://"
        )));
    }
    let sha256 = uri
        .rsplit_once("/sha256/")
        .map(|(_, hex)| hex.to_owned())
        .unwrap_or_default();
    let blob = BlobRef {
        uri: uri.to_owned(),
        size: 0,
        sha256,
    };
    let store = BlobStore::for_reading(&options.s3);
    store
        .download(&blob, path)
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    eprintln!("wrote {} ({size} bytes)", path.display());
    Ok(())
}
