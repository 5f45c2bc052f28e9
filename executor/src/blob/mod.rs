//! Blobs (DESIGN.md §3): the blob store ([`BlobStore`], a local directory or
//! an S3-compatible bucket), the executor's verified cache of what it read
//! from it ([`BlobCache`]), and the rules that move values in and out of it
//! around an attempt ([`values`]).
//!
//! Which store a process writes to, in order: its own `--blob-store`, the
//! store the scheduler advertises, else (executor only) a directory in its
//! work directory. Credentials never travel: each process reads its own
//! (flags, or the standard `AWS_*` variables).

mod cache;
mod hash;
mod store;
pub mod values;

use std::sync::Once;

pub use cache::{is_sha256, BlobCache};
pub use hash::{hash_bytes, hash_file};
pub use store::{BlobError, BlobStore, StoredBlob};

/// The inline limit when neither the scheduler nor a flag sets one: values
/// whose wire size is above it travel through the blob store.
pub const DEFAULT_INLINE_LIMIT: u64 = 64 * 1024;

/// How to reach an S3-compatible endpoint. Empty fields fall back to the
/// standard AWS environment variables, then to the AWS defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct S3Options {
    /// The S3-compatible endpoint (`http://127.0.0.1:9000`, `https://s3.example.com`);
    /// unset: AWS S3 itself.
    #[arg(long = "s3-endpoint", env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint: Option<String>,
    #[arg(long = "s3-region", env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    #[arg(
        long = "s3-access-key-id",
        env = "AWS_ACCESS_KEY_ID",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub access_key_id: Option<String>,
    #[arg(
        long = "s3-secret-access-key",
        env = "AWS_SECRET_ACCESS_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,
    #[arg(
        long = "s3-session-token",
        env = "AWS_SESSION_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub session_token: Option<String>,
}

impl S3Options {
    /// These options, with the endpoint and region the scheduler advertises
    /// where this process sets none.
    pub fn or_advertised(&self, endpoint: &str, region: &str) -> S3Options {
        let given = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        S3Options {
            endpoint: self.endpoint.clone().or_else(|| given(endpoint)),
            region: self.region.clone().or_else(|| given(region)),
            ..self.clone()
        }
    }
}

/// TLS for S3 over https: rustls on ring, installed once per process (the
/// HTTP client is built without a provider of its own, to need no C
/// toolchain).
pub fn install_tls_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Another part of the process may have installed one: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
