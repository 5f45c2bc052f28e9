//! [`NodeConfig`]: a node's identity, data directory and Raft tunables, and their translation into
//! openraft's `Config`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use openraft::SnapshotPolicy;

use crate::ClusterError;

/// Configuration of one cluster node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id, unique in the cluster and stable across restarts.
    pub node_id: u64,
    /// The `host:port` other nodes reach this node's Raft service at.
    pub advertise_addr: String,
    /// Where the Raft log (`DATA_DIR/log/`), vote and snapshots (`DATA_DIR/raft.redb`) live.
    pub data_dir: PathBuf,
    /// How often the leader sends heartbeats.
    pub heartbeat_interval: Duration,
    /// A follower that hears no leader for a random time in
    /// `[election_timeout_min, election_timeout_max)` starts an election.
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot (and allow log compaction) every this many applied log entries.
    pub snapshot_every_logs: u64,
    /// How many log entries already in a snapshot are kept, so that a lagging follower can catch
    /// up from the log instead of receiving a whole snapshot.
    pub max_in_snapshot_log_to_keep: u64,
    /// Upper bound on how long sending one snapshot chunk to a follower may take.
    pub install_snapshot_timeout: Duration,
    /// Largest number of log entries sent in one AppendEntries RPC.
    pub max_payload_entries: u64,
    /// Addresses to dial some peers at instead of the address they advertise in the membership
    /// (e.g. through a proxy, a NAT or a test's fault injector).
    pub routes: BTreeMap<u64, String>,
}

impl NodeConfig {
    /// A configuration with the default tunables: heartbeat 100 ms, election timeout 1–2 s (Raft
    /// on durable disks, LAN), a snapshot every 10,000 entries keeping the last 1,000 entries.
    pub fn new(
        node_id: u64,
        advertise_addr: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> Self {
        NodeConfig {
            node_id,
            advertise_addr: advertise_addr.into(),
            data_dir: data_dir.into(),
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(1000),
            election_timeout_max: Duration::from_millis(2000),
            snapshot_every_logs: 10_000,
            max_in_snapshot_log_to_keep: 1_000,
            install_snapshot_timeout: Duration::from_secs(10),
            max_payload_entries: 300,
            routes: BTreeMap::new(),
        }
    }

    /// Translates into openraft's configuration and validates it.
    pub(crate) fn to_raft_config(&self) -> Result<openraft::Config, ClusterError> {
        if self.advertise_addr.is_empty() {
            return Err(ClusterError::Config {
                reason: "advertise_addr is empty".to_string(),
            });
        }
        if self.snapshot_every_logs == 0 {
            return Err(ClusterError::Config {
                reason: "snapshot_every_logs must be at least 1".to_string(),
            });
        }
        let config = openraft::Config {
            cluster_name: "baton".to_string(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout_min),
            election_timeout_max: millis(self.election_timeout_max),
            install_snapshot_timeout: millis(self.install_snapshot_timeout),
            max_payload_entries: self.max_payload_entries,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every_logs),
            max_in_snapshot_log_to_keep: self.max_in_snapshot_log_to_keep,
            ..openraft::Config::default()
        };
        config.validate().map_err(|e| ClusterError::Config {
            reason: e.to_string(),
        })
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let config = NodeConfig::new(1, "127.0.0.1:7000", "/tmp/x");
        let raft = config.to_raft_config().unwrap();
        assert_eq!(raft.heartbeat_interval, 100);
        assert!(raft.election_timeout_min > raft.heartbeat_interval);
    }

    #[test]
    fn election_timeout_below_heartbeat_is_refused() {
        let mut config = NodeConfig::new(1, "127.0.0.1:7000", "/tmp/x");
        config.election_timeout_min = Duration::from_millis(50);
        config.election_timeout_max = Duration::from_millis(60);
        let err = config.to_raft_config().unwrap_err();
        assert!(matches!(err, ClusterError::Config { .. }), "{err}");
    }
}
