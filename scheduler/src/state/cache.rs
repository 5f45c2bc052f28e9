//! The task cache (docs/spec.md, "Caching"): the outputs of cacheable task
//! instances by key (the task's name, its cache version and the hash of its
//! inputs, blobs by their content hash), replicated like everything else.
//! Entries expire after their task's retention and the cache holds at most
//! [`MAX_ENTRIES`] (the oldest go first), so it stays bounded. For a task
//! with `serialize`, the instance running a key *claims* it, and identical
//! instances that miss meanwhile *wait* for the claim to end.

use std::collections::{BTreeMap, BTreeSet};

use baton_model::{CachePolicy, TaskSpec, Value, Values};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ExecutionId;

/// At most this many entries; a new one pushes the oldest out.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    pub outputs: Values,
    /// When it was stored, and when it stops being reused (Unix ms).
    pub at_ms: u64,
    pub expires_ms: u64,
    /// The instance that produced it, for `get` and `watch`.
    pub execution: ExecutionId,
    pub path: String,
}

/// An instance of a `serialize` task running a key.
pub type Claimant = (ExecutionId, u32);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskCache {
    entries: BTreeMap<String, CacheEntry>,
    /// (stored at, key): the order in which entries leave.
    by_age: BTreeSet<(u64, String)>,
    claims: BTreeMap<String, Claimant>,
    /// Each execution's claimed keys, to release them when its instances end.
    claims_of: BTreeMap<ExecutionId, BTreeSet<String>>,
    /// Key -> instances waiting for its claim to end, in arrival order.
    waiters: BTreeMap<String, Vec<Claimant>>,
}

impl TaskCache {
    /// The entry for `key`, unless it expired by `now_ms`.
    pub fn get(&self, key: &str, now_ms: u64) -> Option<&CacheEntry> {
        self.entries.get(key).filter(|e| e.expires_ms > now_ms)
    }

    /// The outputs of every entry, expired or not.
    pub fn outputs(&self) -> impl Iterator<Item = &Values> {
        self.entries.values().map(|e| &e.outputs)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stores (or replaces) `key`'s entry; drops expired entries from the
    /// oldest on, and the oldest beyond [`MAX_ENTRIES`].
    pub fn put(&mut self, key: String, entry: CacheEntry) {
        let now = entry.at_ms;
        if let Some(old) = self.entries.remove(&key) {
            self.by_age.remove(&(old.at_ms, key.clone()));
        }
        self.by_age.insert((entry.at_ms, key.clone()));
        self.entries.insert(key, entry);
        while let Some((at, oldest)) = self.by_age.first().cloned() {
            let expired = self
                .entries
                .get(&oldest)
                .is_some_and(|e| e.expires_ms <= now);
            if !expired && self.entries.len() <= MAX_ENTRIES {
                break;
            }
            self.by_age.remove(&(at, oldest.clone()));
            self.entries.remove(&oldest);
        }
    }

    /// Who runs `key` now, if anyone.
    pub fn claimant(&self, key: &str) -> Option<&Claimant> {
        self.claims.get(key)
    }

    pub fn claim(&mut self, key: String, by: Claimant) {
        self.claims_of
            .entry(by.0.clone())
            .or_default()
            .insert(key.clone());
        self.claims.insert(key, by);
    }

    pub fn wait(&mut self, key: String, who: Claimant) {
        self.waiters.entry(key).or_default().push(who);
    }

    /// The keys `execution`'s instances claim, with the claiming instance.
    pub fn claims_of(&self, execution: &ExecutionId) -> Vec<(String, u32)> {
        self.claims_of
            .get(execution)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| self.claims.get(k).map(|(_, node)| (k.clone(), *node)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends `key`'s claim; returns who waited for it.
    pub fn release(&mut self, key: &str) -> Vec<Claimant> {
        if let Some((execution, _)) = self.claims.remove(key) {
            if let Some(keys) = self.claims_of.get_mut(&execution) {
                keys.remove(key);
                if keys.is_empty() {
                    self.claims_of.remove(&execution);
                }
            }
        }
        self.waiters.remove(key).unwrap_or_default()
    }
}

/// The cache key of a task instance with `inputs`: the task's name (not its
/// version: a new task version with the same cache version reuses results),
/// the cache version, the interface, and every input but the ignored ones,
/// blobs and offloaded values by their content hash.
pub fn cache_key(task: &TaskSpec, policy: &CachePolicy, inputs: &Values) -> String {
    let mut hasher = Sha256::new();
    let name = task.id.unversioned().to_string();
    for part in [name.as_str(), policy.version.as_str()] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let interface = serde_json::to_vec(&task.interface).unwrap_or_default();
    hasher.update(&interface);
    for (name, value) in inputs.iter() {
        if policy.ignore.iter().any(|i| i == name) {
            continue;
        }
        let canonical = serde_json::to_vec(&key_form(value)).unwrap_or_default();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((canonical.len() as u64).to_le_bytes());
        hasher.update(&canonical);
    }
    format!("{:x}", hasher.finalize())
}

/// A value as the key sees it: a blob (or an offloaded value) is its content.
fn key_form(value: &Value) -> serde_json::Value {
    match value {
        Value::Blob(b) => serde_json::json!({"blob": b.sha256}),
        Value::Offloaded(b) => serde_json::json!({"offloaded": b.sha256}),
        Value::List(items) => serde_json::Value::Array(items.iter().map(key_form).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), key_form(v)))
                .collect(),
        ),
        other => serde_json::json!({"v": other.to_json(), "k": other.kind_name()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_model::{BlobRef, Identifier, Interface, Runner};

    fn task(version: &str) -> TaskSpec {
        TaskSpec {
            id: Identifier::parse(&format!("t@{version}"))
                .unwrap()
                .with_global_defaults(),
            interface: Interface::default(),
            runner: Runner::Builtin("noop".into()),
            retries: 0,
            timeout_ms: 0,
            pool: String::new(),
            selector: Default::default(),
            description: String::new(),
            cache: None,
        }
    }

    fn policy(version: &str, ignore: &[&str]) -> CachePolicy {
        CachePolicy {
            version: version.into(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            serialize: false,
            retention_ms: 1000,
        }
    }

    fn blob(uri: &str, sha: &str) -> Value {
        Value::Blob(BlobRef {
            uri: uri.into(),
            size: 3,
            sha256: sha.into(),
        })
    }

    #[test]
    fn the_key_follows_name_cache_version_and_inputs_but_not_ignored_ones_or_blob_uris() {
        let inputs = |x: i64, seed: i64, data: Value| {
            Values::from([
                ("x".to_string(), Value::Int(x)),
                ("seed".to_string(), Value::Int(seed)),
                ("data".to_string(), data),
            ])
        };
        let p = policy("1", &["seed"]);
        let base = cache_key(
            &task("v1"),
            &p,
            &inputs(1, 7, blob("file:///a/sha256/aa", "aa")),
        );
        // The same content at another uri, another seed, another task version: the same key.
        assert_eq!(
            base,
            cache_key(
                &task("v2"),
                &p,
                &inputs(1, 8, blob("s3://b/sha256/aa", "aa"))
            )
        );
        // Another input, blob content or cache version: another key.
        assert_ne!(
            base,
            cache_key(
                &task("v1"),
                &p,
                &inputs(2, 7, blob("file:///a/sha256/aa", "aa"))
            )
        );
        assert_ne!(
            base,
            cache_key(
                &task("v1"),
                &p,
                &inputs(1, 7, blob("file:///a/sha256/bb", "bb"))
            )
        );
        assert_ne!(
            base,
            cache_key(
                &task("v1"),
                &policy("2", &["seed"]),
                &inputs(1, 7, blob("file:///a/sha256/aa", "aa"))
            )
        );
        // An int is not the float of the same value.
        let int = Values::from([("x".to_string(), Value::Int(1))]);
        let float = Values::from([("x".to_string(), Value::Float(1.0))]);
        assert_ne!(
            cache_key(&task("v1"), &p, &int),
            cache_key(&task("v1"), &p, &float)
        );
    }

    fn entry(at_ms: u64, expires_ms: u64) -> CacheEntry {
        CacheEntry {
            outputs: Values::new(),
            at_ms,
            expires_ms,
            execution: ExecutionId("e-1".into()),
            path: "n".into(),
        }
    }

    #[test]
    fn entries_expire_and_the_oldest_leave_first() {
        let mut cache = TaskCache::default();
        cache.put("a".into(), entry(10, 100));
        cache.put("b".into(), entry(20, 1000));
        assert!(cache.get("a", 50).is_some());
        assert!(
            cache.get("a", 100).is_none(),
            "expired entries are not reused"
        );
        // A later put sweeps what expired before it.
        cache.put("c".into(), entry(200, 1000));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("b", 200).is_some());
    }

    #[test]
    fn a_claim_ends_with_its_waiters_handed_back() {
        let mut cache = TaskCache::default();
        let e1 = ExecutionId("e-1".into());
        let e2 = ExecutionId("e-2".into());
        cache.claim("k".into(), (e1.clone(), 3));
        cache.wait("k".into(), (e2.clone(), 4));
        assert_eq!(cache.claims_of(&e1), vec![("k".to_string(), 3)]);
        assert_eq!(cache.release("k"), vec![(e2, 4)]);
        assert!(cache.claimant("k").is_none());
        assert!(cache.claims_of(&e1).is_empty());
    }
}
