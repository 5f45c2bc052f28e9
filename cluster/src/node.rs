//! [`ClusterNode`]: the handle on one running Raft node that the rest of Baton uses. It opens the
//! node's storage, starts openraft with the tonic network, and exposes writes, local and
//! linearizable reads, leadership, membership changes, the Raft service to mount, and shutdown,
//! without exposing openraft's types (except the metrics, re-exported as [`Metrics`]).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::RwLock;
use std::time::Duration;

use openraft::error::InitializeError;
use openraft::error::RaftError;
use openraft::raft::responder::OneshotResponder;
use openraft::raft::responder::Responder;
use openraft::BasicNode;
use openraft::ServerState;
use tokio::sync::watch;

use crate::db::Db;
use crate::log_flush::DurableIndex;
use crate::log_store::LogStore;
use crate::log_store::UnsavedCommitted;
use crate::log_store::LOG_DIR_NAME;
use crate::network::NetworkFactory;
use crate::service::RaftService;
use crate::service::RaftServiceServer;
use crate::state_machine::StateMachineStore;
use crate::type_config::Proposal;
use crate::type_config::Raft;
use crate::type_config::TypeConfig;
use crate::ClusterError;
use crate::EffectSink;
use crate::NodeConfig;
use crate::StateMachine;

/// Openraft's view of the node (role, term, leader, log positions, membership), updated live.
pub type Metrics = openraft::RaftMetrics<u64, BasicNode>;

/// A write that Raft has queued (see [`ClusterNode::submit`]) but that may not be committed yet.
pub struct PendingWrite<S: StateMachine> {
    receiver: <OneshotResponder<TypeConfig<S>> as Responder<TypeConfig<S>>>::Receiver,
    appended: Arc<AtomicBool>,
}

impl<S: StateMachine> PendingWrite<S> {
    /// Waits until the write is committed and applied here. Errors mean what they mean for
    /// [`ClusterNode::write`].
    pub async fn committed(self) -> Result<S::Response, ClusterError> {
        match self.receiver.await {
            Ok(Ok(response)) => Ok(response.data.0),
            Ok(Err(e)) => Err(ClusterError::from_write(
                RaftError::APIError(e),
                self.appended.load(Ordering::Acquire),
            )),
            Err(_) => Err(ClusterError::WriteOutcomeUnknown {
                reason: "the Raft node stopped before answering".to_string(),
            }),
        }
    }
}

/// The current leader as known by this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    pub id: u64,
    /// The leader's advertised `host:port`, if it is in the membership this node knows.
    pub addr: Option<String>,
}

/// One node of the replicated state machine `S`.
pub struct ClusterNode<S: StateMachine> {
    node_id: u64,
    advertise_addr: String,
    raft: Raft<S>,
    state: Arc<RwLock<S>>,
    db: Db,
    committed: Arc<AtomicU64>,
    /// How far the log is on disk here: the leader learns of a commit before its own flush ends
    /// ([`crate::log_flush`]), and status reports only what is durable.
    durable: DurableIndex,
    unsaved_committed: UnsavedCommitted,
    snapshot_bytes: Arc<AtomicU64>,
}

/// One node's own view of the cluster, for `baton cluster status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    pub node_id: u64,
    /// Leader, Follower, Candidate, Learner or Shutdown.
    pub role: String,
    pub term: u64,
    pub leader: Option<LeaderInfo>,
    pub last_log_index: u64,
    /// The last committed index this node knows of.
    pub committed_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
    /// The size of the latest snapshot stored on this node.
    pub snapshot_bytes: u64,
    pub purged_index: u64,
    pub voters: BTreeMap<u64, String>,
    pub learners: BTreeMap<u64, String>,
    /// On the leader: the highest index known to be replicated on each node.
    pub matched: BTreeMap<u64, u64>,
}

impl<S: StateMachine> ClusterNode<S> {
    /// Opens the node's data directory (creating it if needed), loads the latest snapshot and
    /// starts Raft. A node whose directory holds a log rejoins its cluster as it was; a fresh node
    /// waits to be initialized ([`Self::initialize`]) or to be contacted by a leader.
    ///
    /// The effects produced by applying committed commands are handed to `effects`.
    pub async fn open(
        config: NodeConfig,
        effects: impl EffectSink<S::Effect>,
    ) -> Result<Self, ClusterError> {
        let raft_config = Arc::new(config.to_raft_config()?);
        let data_dir = config.data_dir.clone();
        let node_id = config.node_id;
        let (db, log_store) = tokio::task::spawn_blocking(move || {
            let db = Db::open(&data_dir)?;
            let log_store = LogStore::<S>::open(node_id, db.clone(), &data_dir.join(LOG_DIR_NAME))?;
            Ok::<_, ClusterError>((db, log_store))
        })
        .await
        .map_err(|e| ClusterError::storage(format!("opening the database failed: {e}")))??;
        let committed = log_store.committed_index();
        let unsaved_committed = log_store.unsaved_committed();
        let durable = log_store.durable_index();
        let state_machine =
            StateMachineStore::<S>::open(db.clone(), Box::new(effects), log_store.durable_index())
                .await?;
        let state = state_machine.state();
        let snapshot_bytes = state_machine.snapshot_bytes();
        let network = NetworkFactory::new(
            config.node_id,
            config.routes.clone(),
            log_store.durable_index(),
        );
        let raft = Raft::<S>::new(
            config.node_id,
            raft_config,
            network,
            log_store,
            state_machine,
        )
        .await?;
        // A leader restarts as a candidate (see `LogStore::read_vote`); the only voter of its
        // cluster need not wait out an election timeout for a vote nobody else casts.
        let only_voter = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .eq([config.node_id]);
        if only_voter {
            raft.trigger()
                .elect()
                .await
                .map_err(|e| ClusterError::storage(format!("cannot start an election: {e}")))?;
        }
        tracing::info!(
            node_id = config.node_id,
            addr = %config.advertise_addr,
            data_dir = %config.data_dir.display(),
            "raft node opened"
        );
        Ok(ClusterNode {
            node_id: config.node_id,
            advertise_addr: config.advertise_addr,
            raft,
            state,
            db,
            committed,
            durable,
            unsaved_committed,
            snapshot_bytes,
        })
    }

    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    pub fn advertise_addr(&self) -> &str {
        &self.advertise_addr
    }

    /// Initializes a **new** cluster with `members` (node id -> `host:port`), which must include
    /// this node. Returns `false` and changes nothing when this node's store already holds Raft
    /// state (a restarted node, or one that was already contacted by a leader): restarting a node
    /// never re-initializes it.
    pub async fn initialize(&self, members: BTreeMap<u64, String>) -> Result<bool, ClusterError> {
        if self.raft.is_initialized().await? {
            tracing::info!(
                node_id = self.node_id,
                "raft state present; not initializing"
            );
            return Ok(false);
        }
        if !members.contains_key(&self.node_id) {
            return Err(ClusterError::Initialize {
                reason: format!(
                    "members {:?} do not include this node {}",
                    members.keys(),
                    self.node_id
                ),
            });
        }
        let nodes: BTreeMap<u64, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        tracing::info!(node_id = self.node_id, members = ?nodes.keys(), "initializing new cluster");
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(true),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(false),
            Err(e) => Err(ClusterError::from_initialize(e)),
        }
    }

    /// Initializes a new single-node cluster made of this node, unless the store already holds
    /// Raft state (see [`Self::initialize`]).
    pub async fn initialize_single(&self) -> Result<bool, ClusterError> {
        self.initialize(BTreeMap::from([(
            self.node_id,
            self.advertise_addr.clone(),
        )]))
        .await
    }

    /// Proposes `command` as one log entry and waits until it is committed and applied here.
    ///
    /// Errors: [`ClusterError::NotLeader`] means the command was certainly not applied;
    /// any other error means it may have been applied (re-read the state, never retry blindly).
    pub async fn write(&self, command: S::Command) -> Result<S::Response, ClusterError> {
        self.submit(command).await?.committed().await
    }

    /// Hands `command` to Raft and returns as soon as Raft has queued it, without waiting for the
    /// commit. Commands submitted one after another (each `submit` awaited before the next) enter
    /// the log in that order, so a caller may keep several in flight and still rely on their
    /// order: if an earlier one is lost to a leadership change, so is every later one of the
    /// same term. [`PendingWrite::committed`] waits for the outcome.
    pub async fn submit(&self, command: S::Command) -> Result<PendingWrite<S>, ClusterError> {
        let appended = Arc::new(AtomicBool::new(false));
        let proposal = Proposal {
            command,
            appended: Some(appended.clone()),
        };
        match self.raft.client_write_ff(proposal).await {
            Ok(receiver) => Ok(PendingWrite { receiver, appended }),
            Err(fatal) => Err(ClusterError::from_write(RaftError::Fatal(fatal), false)),
        }
    }

    /// The local state machine, for local (possibly stale) reads. Hold the lock briefly: `apply`
    /// takes the write lock.
    pub fn state(&self) -> Arc<RwLock<S>> {
        self.state.clone()
    }

    /// Read barrier: returns once this node has confirmed it is the leader with a quorum and has
    /// applied everything committed before the call. A read of [`Self::state`] after it is
    /// linearizable. Fails with [`ClusterError::NotLeader`] on a follower.
    pub async fn ensure_linearizable(&self) -> Result<(), ClusterError> {
        self.raft
            .ensure_linearizable()
            .await
            .map_err(ClusterError::from_read_barrier)?;
        Ok(())
    }

    /// Starts an election from this node now, as if it had heard no leader for its election
    /// timeout. The current leader steps down once it sees the new term; the election that
    /// follows may elect any node, this one or the old leader too. Tests use it for a leader
    /// change at a chosen moment.
    pub async fn elect(&self) -> Result<(), ClusterError> {
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| ClusterError::storage(format!("cannot start an election: {e}")))
    }

    /// True when this node currently believes it is the leader.
    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.node_id)
    }

    /// Waits, for at most `timeout`, until this node leads and its state holds every entry
    /// committed before it did: it has applied an entry of its own term (its first entry, which
    /// commits all earlier ones). A node elected right after a restart learns what was committed
    /// only then, so a write checked against its state before that could be refused wrongly (an
    /// "unknown workflow" that was registered). Returns whether it got there.
    pub async fn wait_until_leading_with_current_state(&self, timeout: Duration) -> bool {
        let mut metrics = self.raft.metrics();
        let current = |m: &Metrics| {
            m.state == ServerState::Leader
                && m.current_leader == Some(self.node_id)
                && m.last_applied
                    .is_some_and(|applied| applied.leader_id.term == m.current_term)
        };
        let wait = async {
            match metrics
                .wait_for(|m| {
                    current(m)
                        || m.state != ServerState::Leader
                        || m.current_leader != Some(self.node_id)
                })
                .await
            {
                Ok(m) => current(&m),
                Err(_) => false,
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    /// The leader as currently known by this node.
    pub fn current_leader(&self) -> Option<LeaderInfo> {
        leader_of(&self.raft.metrics().borrow())
    }

    /// Waits until this node knows a leader, for at most `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<LeaderInfo, ClusterError> {
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                if let Some(leader) = leader_of(&metrics.borrow_and_update()) {
                    return Ok(leader);
                }
                if metrics.changed().await.is_err() {
                    return Err(ClusterError::Stopped {
                        reason: "metrics channel closed".to_string(),
                    });
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| ClusterError::Timeout {
                what: format!("a leader ({timeout:?})"),
            })?
    }

    /// Live Raft metrics; `changed()` wakes on every change (e.g. when this node becomes leader).
    pub fn metrics(&self) -> watch::Receiver<Metrics> {
        self.raft.metrics()
    }

    /// This node's view of the cluster: role, term, leader, log positions and members.
    pub fn status(&self) -> RaftStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voter_ids: BTreeSet<u64> = membership.voter_ids().collect();
        let mut voters = BTreeMap::new();
        let mut learners = BTreeMap::new();
        for (id, node) in membership.nodes() {
            if voter_ids.contains(id) {
                voters.insert(*id, node.addr.clone());
            } else {
                learners.insert(*id, node.addr.clone());
            }
        }
        let matched = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, log)| (*id, log.map_or(0, |l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        RaftStatus {
            node_id: self.node_id,
            role: format!("{:?}", m.state),
            term: m.current_term,
            leader: leader_of(&m),
            last_log_index: m.last_log_index.unwrap_or(0),
            committed_index: self
                .committed
                .load(Ordering::Relaxed)
                .min(self.durable.index()),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            snapshot_bytes: self.snapshot_bytes.load(Ordering::Relaxed),
            purged_index: m.purged.map_or(0, |l| l.index),
            voters,
            learners,
            matched,
        }
    }

    /// Removes nodes (voters or learners) from the cluster. Must be called on the leader.
    pub async fn remove_nodes(&self, ids: BTreeSet<u64>) -> Result<(), ClusterError> {
        tracing::info!(nodes = ?ids, "removing nodes");
        let membership = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        let voters: BTreeSet<u64> = membership
            .voter_ids()
            .filter(|id| !ids.contains(id))
            .collect();
        if voters.is_empty() {
            return Err(ClusterError::MembershipChange {
                reason: "cannot remove every voter".into(),
            });
        }
        let learners: BTreeSet<u64> = membership
            .learner_ids()
            .filter(|id| ids.contains(id))
            .collect();
        if voters.len() != membership.voter_ids().count() {
            self.raft
                .change_membership(voters, false)
                .await
                .map_err(ClusterError::from_membership_change)?;
        }
        if !learners.is_empty() {
            self.raft
                .change_membership(openraft::ChangeMembers::RemoveNodes(learners), false)
                .await
                .map_err(ClusterError::from_membership_change)?;
        }
        Ok(())
    }

    /// The tonic service to mount on this node's gRPC server so that peers reach its Raft.
    pub fn raft_service(&self) -> RaftServiceServer<S> {
        RaftService::new(self.raft.clone()).into_server()
    }

    /// Adds node `id` at `addr` as a learner and waits until it has caught up with the log.
    /// Must be called on the leader.
    pub async fn add_learner(&self, id: u64, addr: impl Into<String>) -> Result<(), ClusterError> {
        let addr = addr.into();
        tracing::info!(learner = id, %addr, "adding learner");
        self.raft
            .add_learner(id, BasicNode::new(addr), true)
            .await
            .map_err(ClusterError::from_membership_change)?;
        Ok(())
    }

    /// Replaces the voters with `voters` (each must already be a voter or a learner); nodes
    /// dropped from the voters are removed. Must be called on the leader.
    pub async fn change_membership(&self, voters: BTreeSet<u64>) -> Result<(), ClusterError> {
        tracing::info!(voters = ?voters, "changing membership");
        self.raft
            .change_membership(voters, false)
            .await
            .map_err(ClusterError::from_membership_change)?;
        Ok(())
    }

    /// Stops Raft (it stops answering peers) and makes every stored write durable. The database
    /// is closed once this handle is dropped; the node can then be opened again on the same
    /// directory.
    pub async fn shutdown(&self) -> Result<(), ClusterError> {
        tracing::info!(node_id = self.node_id, "shutting down raft node");
        self.raft
            .shutdown()
            .await
            .map_err(|e| ClusterError::Stopped {
                reason: format!("raft task failed: {e}"),
            })?;
        let db = self.db.clone();
        let unsaved_committed = self.unsaved_committed.clone();
        tokio::task::spawn_blocking(move || {
            unsaved_committed.save(&db)?;
            db.flush()
        })
        .await
        .map_err(|e| ClusterError::storage(format!("flushing the database failed: {e}")))?
    }
}

fn leader_of(metrics: &Metrics) -> Option<LeaderInfo> {
    let id = metrics.current_leader?;
    let addr = metrics
        .membership_config
        .membership()
        .get_node(&id)
        .map(|node| node.addr.clone());
    Some(LeaderInfo { id, addr })
}
