//! `baton blob sweep`: removes from the cluster's blob store the blobs
//! nothing in the replicated state refers to any more (no execution, cache
//! entry, task, workflow or launch plan), once older than `--older-than`.
//!
//! The grace covers what is about to be referred to: a file a client
//! uploaded for a launch not yet made, an output an attempt wrote and has
//! not yet reported. The references are read twice, before choosing and
//! right before removing, so a launch committed meanwhile keeps its blobs.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_executor::blob::{BlobStore, StoredBlob};
use baton_model::BlobRef;
use baton_proto::{ListBlobReferencesRequest, ListBlobReferencesResponse};

use crate::blobs::{open_store, BlobOptions};
use crate::client::{CliError, Client};
use crate::commands::{print_structured, Output};

/// What the state refers to, with the blobs named inside offloaded values.
async fn references(client: &mut Client, store: &BlobStore) -> Result<BTreeSet<String>, CliError> {
    let listed: ListBlobReferencesResponse = client
        .call(ListBlobReferencesRequest {}, |mut a, r| async move {
            a.list_blob_references(r).await
        })
        .await?;
    let mut refs: BTreeSet<String> = listed.sha256.into_iter().collect();
    let scratch = tempfile::tempdir()
        .map_err(|e| CliError::Refused(format!("cannot create a temporary directory: {e}")))?;
    for offloaded in listed.offloaded {
        let blob = BlobRef {
            uri: offloaded.uri,
            size: offloaded.size,
            sha256: offloaded.sha256,
        };
        let path = scratch.path().join(&blob.sha256);
        store.download(&blob, &path).await.map_err(|e| {
            CliError::Refused(format!(
                "cannot read an offloaded value to see what it refers to, so nothing was removed: {e}"
            ))
        })?;
        let json = std::fs::read(&path)
            .ok()
            .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
            .ok_or_else(|| {
                CliError::Refused(format!(
                    "the offloaded value `{}` is not JSON, so what it refers to is unknown; nothing was removed",
                    blob.uri
                ))
            })?;
        named_in(&json, &mut refs);
    }
    Ok(refs)
}

/// Every `"sha256": HEX` inside a value's JSON.
fn named_in(json: &serde_json::Value, refs: &mut BTreeSet<String>) {
    match json {
        serde_json::Value::Object(fields) => {
            if let Some(serde_json::Value::String(sha)) = fields.get("sha256") {
                if baton_executor::blob::is_sha256(sha) {
                    refs.insert(sha.to_ascii_lowercase());
                }
            }
            fields.values().for_each(|v| named_in(v, refs));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| named_in(v, refs)),
        _ => {}
    }
}

pub async fn sweep(
    client: &mut Client,
    options: &BlobOptions,
    older_than: Duration,
    dry_run: bool,
    output: Output,
) -> Result<(), CliError> {
    let (store, _) = open_store(client, options).await?;
    // The listing first: a blob written after it is not looked at.
    let stored = store
        .list()
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    let refs = references(client, &store).await?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let cutoff = now_ms.saturating_sub(older_than.as_millis() as u64);
    let (referred, unreferred): (Vec<&StoredBlob>, Vec<&StoredBlob>) =
        stored.iter().partition(|b| refs.contains(&b.sha256));
    let (recent, mut garbage): (Vec<&StoredBlob>, Vec<&StoredBlob>) =
        unreferred.into_iter().partition(|b| b.modified_ms > cutoff);
    if !dry_run && !garbage.is_empty() {
        // Again right before removing: what a launch named meanwhile stays.
        let again = references(client, &store).await?;
        garbage.retain(|b| !again.contains(&b.sha256));
        for blob in &garbage {
            store
                .delete(&blob.sha256)
                .await
                .map_err(|e| CliError::Refused(e.to_string()))?;
        }
    }
    let bytes = |blobs: &[&StoredBlob]| blobs.iter().map(|b| b.size).sum::<u64>();
    match output {
        Output::Text => {
            let verb = if dry_run { "would remove" } else { "removed" };
            for blob in &garbage {
                println!("{verb} {} ({} bytes)", blob.uri, blob.size);
            }
            println!(
                "{} blobs in {}: {} referred to ({} bytes) kept; {} unreferred but newer than {} ({} bytes) kept; {} {verb} ({} bytes)",
                stored.len(),
                store.url(),
                referred.len(),
                bytes(&referred),
                recent.len(),
                baton_model::value::format_duration(older_than.as_nanos() as i64),
                bytes(&recent),
                garbage.len(),
                bytes(&garbage),
            );
        }
        _ => print_structured(
            output,
            &serde_json::json!({
                "store": store.url(),
                "dry_run": dry_run,
                "blobs": stored.len(),
                "referred": referred.len(),
                "referred_bytes": bytes(&referred),
                "recent": recent.len(),
                "recent_bytes": bytes(&recent),
                "removed": garbage.iter().map(|b| &b.uri).collect::<Vec<_>>(),
                "removed_bytes": bytes(&garbage),
            }),
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_found_anywhere_in_an_offloaded_value() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let json = serde_json::json!([{"uri": "x", "sha256": a}, {"m": {"sha256": b}}, {"sha256": "short"}]);
        let mut refs = BTreeSet::new();
        named_in(&json, &mut refs);
        assert_eq!(refs, BTreeSet::from([a, "b".repeat(64)]));
    }
}
