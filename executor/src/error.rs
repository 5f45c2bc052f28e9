//! The executor's one error type. Task failures are not errors of the
//! executor: they travel as [`crate::attempt::Failure`] inside a report. These
//! are the executor's own problems (configuration, its work directory, the
//! scheduler connection, its actors).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("bad executor configuration: {0}")]
    Config(String),
    #[error("cannot prepare the work directory `{path}`: {source}")]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach scheduler `{address}`: {reason}")]
    Connect { address: String, reason: String },
    #[error("cannot start the {actor} actor: {reason}")]
    Spawn { actor: &'static str, reason: String },
    #[error("the executor stopped unexpectedly: {0}")]
    Crashed(String),
}
