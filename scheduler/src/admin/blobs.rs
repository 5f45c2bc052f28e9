//! `ListBlobReferences`: what the state refers to, for `baton blob sweep`.

use baton_proto::{BlobRef, ListBlobReferencesResponse};

use crate::state::SchedulerState;

pub fn references(state: &SchedulerState) -> ListBlobReferencesResponse {
    let refs = state.blob_refs();
    ListBlobReferencesResponse {
        sha256: refs.sha256.into_iter().collect(),
        offloaded: refs
            .offloaded
            .into_iter()
            .map(|(uri, size, sha256)| BlobRef { uri, size, sha256 })
            .collect(),
    }
}
