//! The node's one redb database, `DATA_DIR/raft.redb`, shared by the log store and the
//! state-machine store, and the tables in it:
//!
//! - `meta`: `vote`, `committed`, `last_purged` -> encoded value;
//! - `snapshot`: `current` -> the encoded stored snapshot (see `state_machine`).
//!
//! The log's entries are not here but in segment files (`log_file`): a redb commit rewrites
//! several B-tree pages and its fsync cost three times that of one appended page.
//!
//! Every database call blocks (a write transaction fsyncs on commit). Async callers run them
//! through [`Db::run`], on tokio's blocking pool (`Db::open` and `Db::flush` are called there
//! too); code already on a blocking thread uses [`Db::run_inline`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use redb::Database;
use redb::DatabaseError;
use redb::TableDefinition;

use crate::ClusterError;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

pub(crate) const META_VOTE: &str = "vote";
pub(crate) const META_COMMITTED: &str = "committed";
pub(crate) const META_LAST_PURGED: &str = "last_purged";
pub(crate) const SNAPSHOT_CURRENT: &str = "current";

pub(crate) const DB_FILE_NAME: &str = "raft.redb";

/// A cheaply cloneable handle on the database.
#[derive(Clone)]
pub(crate) struct Db {
    database: Arc<Database>,
}

impl Db {
    /// Opens (or creates) `data_dir/raft.redb` and makes sure every table exists, so that read
    /// transactions never meet a missing table.
    pub(crate) fn open(data_dir: &Path) -> Result<Db, ClusterError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            ClusterError::storage(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE_NAME);
        let database = create_waiting_for_release(&path)?;
        let txn = database.begin_write().map_err(|e| {
            ClusterError::storage(format!("cannot write database {}: {e}", path.display()))
        })?;
        txn.open_table(META)
            .map_err(|e| ClusterError::storage(format!("cannot open table meta: {e}")))?;
        txn.open_table(SNAPSHOT)
            .map_err(|e| ClusterError::storage(format!("cannot open table snapshot: {e}")))?;
        txn.commit().map_err(|e| {
            ClusterError::storage(format!("cannot commit to database {}: {e}", path.display()))
        })?;
        Ok(Db {
            database: Arc::new(database),
        })
    }

    #[cfg(test)]
    pub(crate) fn database(&self) -> &Database {
        &self.database
    }

    /// Runs a blocking database operation on tokio's blocking pool.
    pub(crate) async fn run<T, E, F>(&self, operation: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static + From<BlockingTaskFailed>,
        F: FnOnce(&Database) -> Result<T, E> + Send + 'static,
    {
        let db = self.database.clone();
        match tokio::task::spawn_blocking(move || operation(&db)).await {
            Ok(result) => result,
            Err(join_error) => Err(E::from(BlockingTaskFailed(join_error.to_string()))),
        }
    }

    /// Runs a database operation on the calling thread, for callers already on a blocking one.
    pub(crate) fn run_inline<T, E, F>(&self, operation: F) -> Result<T, E>
    where
        F: FnOnce(&Database) -> Result<T, E>,
    {
        operation(&self.database)
    }

    /// Makes every earlier commit durable, including those committed with `Durability::None`.
    pub(crate) fn flush(&self) -> Result<(), ClusterError> {
        let txn = self
            .database
            .begin_write()
            .map_err(|e| ClusterError::storage(format!("cannot flush: {e}")))?;
        txn.commit()
            .map_err(|e| ClusterError::storage(format!("cannot flush: {e}")))
    }
}

/// Opens the database file. A node shut down in this same process may still be releasing its
/// handle (background tasks end asynchronously), so an "already open" database is retried for a
/// short while before it is reported.
fn create_waiting_for_release(path: &Path) -> Result<Database, ClusterError> {
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match Database::builder().set_cache_size(CACHE_BYTES).create(path) {
            Ok(database) => return Ok(database),
            Err(DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(ClusterError::storage(format!(
                    "cannot open database {}: {e}",
                    path.display()
                )));
            }
        }
    }
}

const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// redb's page cache (its default is 1 GiB). The log is written once and
/// read back soon after (replication, apply), and the state lives in memory
/// anyway, so a large cache only holds old log pages: with the default, a
/// scheduler's heap grew with the length of its log until the next snapshot.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A database task panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("database task failed: {0}")]
pub(crate) struct BlockingTaskFailed(pub(crate) String);

impl From<BlockingTaskFailed> for openraft::StorageError<u64> {
    fn from(e: BlockingTaskFailed) -> Self {
        openraft::StorageIOError::new(
            openraft::ErrorSubject::Store,
            openraft::ErrorVerb::Write,
            openraft::AnyError::error(e),
        )
        .into()
    }
}
