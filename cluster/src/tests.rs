//! Storage tests: openraft's conformance suite against the redb stores, the postcard round trip of
//! every openraft type this crate encodes, and corruption reporting.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::ops::Bound;

use openraft::error::ClientWriteError;
use openraft::error::Fatal;
use openraft::error::ForwardToLeader;
use openraft::error::InstallSnapshotError;
use openraft::error::RaftError;
use openraft::error::SnapshotMismatch;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::InstallSnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use openraft::storage::RaftLogStorage;
use openraft::storage::RaftStateMachine;
use openraft::testing::StoreBuilder;
use openraft::testing::Suite;
use openraft::BasicNode;
use openraft::CommittedLeaderId;
use openraft::EntryPayload;
use openraft::ErrorSubject;
use openraft::Membership;
use openraft::RaftLogReader;
use openraft::RaftSnapshotBuilder;
use openraft::SnapshotSegmentId;
use serde::Deserialize;
use serde::Serialize;
use tempfile::TempDir;
use tokio::sync::mpsc;

use crate::codec;
use crate::db::Db;
use crate::db::META_COMMITTED;
use crate::db::SNAPSHOT;
use crate::db::SNAPSHOT_CURRENT;
use crate::log_flush::DurableIndex;
use crate::log_flush::LogFlush;
use crate::log_store::read_meta;
use crate::log_store::LogStore;
use crate::log_store::RecentEntries;
use crate::log_store::RECENT_BYTES;
use crate::log_store::RECENT_ENTRIES;
use crate::network::NetworkFactory;
use crate::state_machine::StateMachineStore;
use crate::type_config::Entry;
use crate::type_config::LogId;
use crate::type_config::Proposal;
use crate::type_config::SnapshotMeta;
use crate::type_config::StorageError;
use crate::type_config::StoredMembership;
use crate::type_config::TypeConfig;
use crate::type_config::Vote;
use crate::StateMachine;

/// A trivial state machine: adds numbers; each add's effect is the new total.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Counter {
    total: u64,
    adds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum CounterCommand {
    Add(u64),
    Reset,
}

impl StateMachine for Counter {
    type Command = CounterCommand;
    type Response = u64;
    type Effect = u64;

    fn apply(&mut self, command: CounterCommand, effects: &mut Vec<u64>) -> u64 {
        match command {
            CounterCommand::Add(n) => {
                self.total += n;
                self.adds += 1;
            }
            CounterCommand::Reset => self.total = 0,
        }
        effects.push(self.total);
        self.total
    }
}

fn log_id(term: u64, node_id: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, node_id), index)
}

fn normal(term: u64, index: u64, command: CounterCommand) -> Entry<Counter> {
    Entry {
        log_id: log_id(term, 1, index),
        payload: EntryPayload::Normal(Proposal::new(command)),
    }
}

fn membership(voters: &[u64]) -> Membership<u64, BasicNode> {
    let nodes: BTreeMap<u64, BasicNode> = voters
        .iter()
        .map(|id| (*id, BasicNode::new(format!("127.0.0.1:{}", 7000 + id))))
        .collect();
    Membership::new(
        vec![voters.iter().copied().collect::<BTreeSet<u64>>()],
        nodes,
    )
}

/// Builds a fresh pair of stores in a temporary directory, for the conformance suite.
struct TempStoreBuilder;

impl StoreBuilder<TypeConfig<Counter>, LogStore<Counter>, StateMachineStore<Counter>, TempDir>
    for TempStoreBuilder
{
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<Counter>, StateMachineStore<Counter>), StorageError> {
        let (dir, log_store, state_machine, _effects) = open_stores(None).await;
        Ok((dir, log_store, state_machine))
    }
}

async fn open_stores(
    dir: Option<TempDir>,
) -> (
    TempDir,
    LogStore<Counter>,
    StateMachineStore<Counter>,
    mpsc::UnboundedReceiver<u64>,
) {
    let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let db = Db::open(dir.path()).unwrap();
    let (effects_tx, effects_rx) = mpsc::unbounded_channel();
    let log_store = LogStore::open(1, db.clone(), &dir.path().join("log")).unwrap();
    // The suite and these tests apply entries that are in no log.
    let state_machine =
        StateMachineStore::open(db, Box::new(effects_tx), DurableIndex::everything())
            .await
            .unwrap();
    (dir, log_store, state_machine, effects_rx)
}

/// Takes about 8 s, nearly all of it fixed sleeps inside openraft's suite.
#[test]
fn redb_storage_passes_openraft_conformance_suite() {
    Suite::test_all(TempStoreBuilder).unwrap();
}

fn roundtrip<T: Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    codec::decode(&codec::encode(value).unwrap()).unwrap()
}

#[test]
fn openraft_log_types_roundtrip_through_postcard() {
    let entries = vec![
        normal(3, 7, CounterCommand::Add(42)),
        Entry::<Counter> {
            log_id: log_id(3, 1, 8),
            payload: EntryPayload::Membership(membership(&[1, 2, 3])),
        },
        Entry::<Counter> {
            log_id: log_id(4, 2, 9),
            payload: EntryPayload::Blank,
        },
        normal(4, 10, CounterCommand::Reset),
    ];
    let decoded: Vec<Entry<Counter>> = roundtrip(&entries);
    assert_eq!(decoded.len(), entries.len());
    for (got, want) in decoded.iter().zip(&entries) {
        assert_eq!(got.log_id, want.log_id);
        match (&got.payload, &want.payload) {
            (EntryPayload::Normal(a), EntryPayload::Normal(b)) => assert_eq!(a.command, b.command),
            (EntryPayload::Membership(a), EntryPayload::Membership(b)) => assert_eq!(a, b),
            (EntryPayload::Blank, EntryPayload::Blank) => {}
            (got, want) => panic!("payload {got:?} decoded, {want:?} encoded"),
        }
    }

    let vote = Vote::new(5, 2);
    assert_eq!(roundtrip(&vote), vote);
    let committed_vote = Vote::new_committed(6, 3);
    assert_eq!(roundtrip(&committed_vote), committed_vote);
    let id = log_id(9, 3, 1234);
    assert_eq!(roundtrip(&id), id);
    assert_eq!(roundtrip(&Some(id)), Some(id));
    assert_eq!(roundtrip(&None::<LogId>), None);
    let stored = StoredMembership::new(Some(id), membership(&[1, 2]));
    assert_eq!(roundtrip(&stored), stored);
    let joint = Membership::new(
        vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([3, 4])],
        membership(&[1, 2, 3, 4])
            .nodes()
            .map(|(k, v)| (*k, v.clone()))
            .collect::<BTreeMap<_, _>>(),
    );
    assert_eq!(roundtrip(&joint), joint);
    let meta = SnapshotMeta {
        last_log_id: Some(id),
        last_membership: stored,
        snapshot_id: "9-3-1234-1".to_string(),
    };
    assert_eq!(roundtrip(&meta), meta);
}

#[test]
fn openraft_rpc_messages_roundtrip_through_postcard() {
    let append = AppendEntriesRequest::<TypeConfig<Counter>> {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(log_id(2, 1, 4)),
        entries: vec![
            normal(2, 5, CounterCommand::Add(1)),
            normal(2, 6, CounterCommand::Add(2)),
        ],
        leader_commit: Some(log_id(2, 1, 5)),
    };
    let decoded: AppendEntriesRequest<TypeConfig<Counter>> = roundtrip(&append);
    assert_eq!(decoded.vote, append.vote);
    assert_eq!(decoded.prev_log_id, append.prev_log_id);
    assert_eq!(decoded.leader_commit, append.leader_commit);
    assert_eq!(decoded.entries.len(), 2);

    let responses: Vec<Result<AppendEntriesResponse<u64>, RaftError<u64>>> = vec![
        Ok(AppendEntriesResponse::Success),
        Ok(AppendEntriesResponse::PartialSuccess(Some(log_id(2, 1, 5)))),
        Ok(AppendEntriesResponse::Conflict),
        Ok(AppendEntriesResponse::HigherVote(Vote::new(3, 2))),
        Err(RaftError::Fatal(Fatal::Stopped)),
    ];
    assert_eq!(roundtrip(&responses), responses);

    let vote_request = VoteRequest::new(Vote::new(3, 2), Some(log_id(2, 1, 6)));
    assert_eq!(roundtrip(&vote_request), vote_request);
    let vote_response: Result<VoteResponse<u64>, RaftError<u64>> = Ok(VoteResponse {
        vote: Vote::new(3, 2),
        vote_granted: true,
        last_log_id: Some(log_id(2, 1, 6)),
    });
    assert_eq!(roundtrip(&vote_response), vote_response);

    let snapshot_request = InstallSnapshotRequest::<TypeConfig<Counter>> {
        vote: Vote::new_committed(2, 1),
        meta: SnapshotMeta {
            last_log_id: Some(log_id(2, 1, 6)),
            last_membership: StoredMembership::new(Some(log_id(1, 1, 1)), membership(&[1, 2, 3])),
            snapshot_id: "s1".to_string(),
        },
        offset: 0,
        data: vec![1, 2, 3, 4],
        done: true,
    };
    let decoded: InstallSnapshotRequest<TypeConfig<Counter>> = roundtrip(&snapshot_request);
    assert_eq!(decoded.meta, snapshot_request.meta);
    assert_eq!(decoded.data, snapshot_request.data);
    assert!(decoded.done);
    let snapshot_responses: Vec<
        Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>,
    > = vec![
        Ok(InstallSnapshotResponse {
            vote: Vote::new(2, 1),
        }),
        Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(
            SnapshotMismatch {
                expect: SnapshotSegmentId {
                    id: "a".to_string(),
                    offset: 0,
                },
                got: SnapshotSegmentId {
                    id: "b".to_string(),
                    offset: 10,
                },
            },
        ))),
    ];
    assert_eq!(roundtrip(&snapshot_responses), snapshot_responses);

    let write_error: RaftError<u64, ClientWriteError<u64, BasicNode>> =
        RaftError::APIError(ClientWriteError::ForwardToLeader(ForwardToLeader {
            leader_id: Some(2),
            leader_node: Some(BasicNode::new("127.0.0.1:7002")),
        }));
    assert_eq!(roundtrip(&write_error), write_error);
}

#[tokio::test]
async fn a_corrupt_log_record_is_a_storage_error_naming_the_entry() {
    let (dir, mut log_store, _sm, _effects) = open_stores(None).await;
    let entries = vec![
        normal(1, 1, CounterCommand::Add(1)),
        normal(1, 2, CounterCommand::Add(2)),
    ];
    log_store.append_entries(entries, false).unwrap();
    assert_eq!(log_store.try_get_log_entries(1..3).await.unwrap().len(), 2);
    // Read what is on disk, not the decoded copies of the last appended entries.
    log_store.forget_recent();

    // Flip a bit in the body of the stored record of index 2, the segment's second frame
    // (frames are `[length: u32][index: u64][record]`; a record's header is 5 bytes).
    let segment = dir.path().join("log").join(format!("{:020}.log", 1));
    let mut bytes = std::fs::read(&segment).unwrap();
    let first_record_len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    bytes[12 + first_record_len + 12 + 6] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();

    let message = log_store
        .try_get_log_entries(1..3)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("index 2") && message.contains("checksum"),
        "{message}"
    );
    let message = log_store.get_log_state().await.unwrap_err().to_string();
    assert!(message.contains("index 2"), "{message}");
    // The intact entry is still readable.
    assert_eq!(log_store.try_get_log_entries(1..2).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_corrupt_snapshot_fails_open_with_a_message() {
    let (dir, log_store, mut sm, _effects) = open_stores(None).await;
    sm.apply(vec![normal(1, 1, CounterCommand::Add(5))])
        .await
        .unwrap();
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let txn = log_store.db().database().begin_write().unwrap();
    {
        let mut table = txn.open_table(SNAPSHOT).unwrap();
        table
            .insert(SNAPSHOT_CURRENT, [1u8, 0, 0, 0, 0, 9].as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
    drop((log_store, sm));

    let db = Db::open(dir.path()).unwrap();
    let (effects_tx, _effects_rx) = mpsc::unbounded_channel();
    let durable = DurableIndex::everything();
    let Err(err) = StateMachineStore::<Counter>::open(db, Box::new(effects_tx), durable).await
    else {
        panic!("a corrupt snapshot was loaded");
    };
    let message = err.to_string();
    assert!(message.contains("snapshot is corrupt"), "{message}");
}

#[tokio::test]
async fn state_machine_reloads_its_latest_snapshot_on_open() {
    let (dir, log_store, mut sm, mut effects) = open_stores(None).await;
    let replies = sm
        .apply(vec![
            Entry::<Counter> {
                log_id: log_id(1, 1, 1),
                payload: EntryPayload::Membership(membership(&[1])),
            },
            normal(1, 2, CounterCommand::Add(5)),
            Entry::<Counter> {
                log_id: log_id(1, 1, 3),
                payload: EntryPayload::Blank,
            },
            normal(1, 4, CounterCommand::Add(6)),
        ])
        .await
        .unwrap();
    assert_eq!(
        replies.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![0, 5, 0, 11]
    );
    assert_eq!(effects.recv().await, Some(5));
    assert_eq!(effects.recv().await, Some(11));
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 1, 4)));
    drop((log_store, sm));

    let (_dir, _log_store, mut reopened, _effects) = open_stores(Some(dir)).await;
    let (last_applied, last_membership) = reopened.applied_state().await.unwrap();
    assert_eq!(last_applied, Some(log_id(1, 1, 4)));
    assert_eq!(last_membership.log_id(), &Some(log_id(1, 1, 1)));
    assert_eq!(
        *reopened.state().read().unwrap(),
        Counter { total: 11, adds: 2 }
    );
    let current = reopened.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);
    let data: Counter = codec::decode(current.snapshot.get_ref()).unwrap();
    assert_eq!(data.total, 11);
}

#[tokio::test]
async fn the_committed_id_is_written_at_shutdown_not_at_every_commit() {
    let (dir, mut log_store, sm, _effects) = open_stores(None).await;
    log_store
        .append_entries(vec![normal(1, 1, CounterCommand::Add(1))], false)
        .unwrap();
    let unsaved = log_store.unsaved_committed();
    log_store
        .save_committed(Some(log_id(1, 1, 1)))
        .await
        .unwrap();
    // Reported, but not written in a transaction of its own.
    assert_eq!(read_committed_from_disk(&log_store).await, None);

    log_store
        .save_committed(Some(log_id(1, 1, 2)))
        .await
        .unwrap();
    // An older report does not replace a newer one.
    log_store
        .save_committed(Some(log_id(1, 1, 1)))
        .await
        .unwrap();
    // What the node does at shutdown.
    unsaved.save(log_store.db()).unwrap();
    assert_eq!(unsaved.take(), None, "a written id stays pending");
    drop((log_store, sm));
    let (_dir, mut reopened, _sm, _effects) = open_stores(Some(dir)).await;
    assert_eq!(
        reopened.read_committed().await.unwrap(),
        Some(log_id(1, 1, 2))
    );
}

/// The committed id as a fresh handle on the same database reads it.
async fn read_committed_from_disk(log_store: &LogStore<Counter>) -> Option<LogId> {
    let database = log_store.db().database();
    read_meta::<Option<LogId>>(database, META_COMMITTED, ErrorSubject::Store)
        .unwrap()
        .flatten()
}

#[tokio::test]
async fn the_last_appended_entries_are_read_from_memory_until_truncated_or_purged() {
    let (dir, mut log_store, _sm, _effects) = open_stores(None).await;
    log_store
        .append_entries(
            (1..=3)
                .map(|i| normal(1, i, CounterCommand::Add(i)))
                .collect(),
            false,
        )
        .unwrap();
    // Spoil every record on disk: what is still read comes from memory.
    let segment = dir.path().join("log").join(format!("{:020}.log", 1));
    let mut bytes = std::fs::read(&segment).unwrap();
    let first_record_len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    bytes[12 + 6] ^= 0x01;
    bytes[12 + first_record_len + 12 + 6] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    let read = log_store.try_get_log_entries(1..=3).await.unwrap();
    let indexes: Vec<u64> = read.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, vec![1, 2, 3]);
    assert_eq!(log_store.try_get_log_entries(2..).await.unwrap().len(), 2);

    // Truncated entries are gone from memory as from disk.
    log_store.truncate(log_id(1, 1, 3)).await.unwrap();
    assert_eq!(log_store.try_get_log_entries(3..).await.unwrap().len(), 0);
    // Purged ones too; the rest still come from memory.
    log_store.purge(log_id(1, 1, 1)).await.unwrap();
    assert_eq!(log_store.try_get_log_entries(1..2).await.unwrap().len(), 0);
    assert_eq!(log_store.try_get_log_entries(2..3).await.unwrap().len(), 1);
    // Without the copies in memory, entry 2 is read from the spoiled file.
    log_store.forget_recent();
    let message = log_store
        .try_get_log_entries(2..3)
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("index 2"), "{message}");
}

#[test]
fn recent_entries_keep_a_run_without_gaps_within_their_limits() {
    let mut recent = RecentEntries::<Counter>::default();
    let entry = |i: u64| (normal(1, i, CounterCommand::Add(i)), 10);
    recent.push((1..=3).map(entry));
    let all = (Bound::Included(1), Bound::Unbounded);
    assert_eq!(recent.get(all).map(|v| v.len()), Some(3));
    // Before the first kept one: not kept, read the file.
    assert!(recent
        .get((Bound::Included(0), Bound::Included(2)))
        .is_none());
    assert!(recent.get((Bound::Unbounded, Bound::Included(2))).is_none());
    // A gap replaces what was kept.
    recent.push([entry(7)]);
    assert!(recent.get(all).is_none());
    assert_eq!(
        recent
            .get((Bound::Included(7), Bound::Unbounded))
            .map(|v| v.len()),
        Some(1)
    );
    // The oldest go beyond the count limit.
    recent.push((8..8 + RECENT_ENTRIES as u64).map(entry));
    assert!(recent.get((Bound::Included(7), Bound::Unbounded)).is_none());
    assert_eq!(
        recent
            .get((Bound::Included(8), Bound::Unbounded))
            .map(|v| v.len()),
        Some(RECENT_ENTRIES)
    );
    // And beyond the byte limit: an entry larger than it is not kept, nor anything before it.
    recent.push([(
        normal(1, 8 + RECENT_ENTRIES as u64, CounterCommand::Add(0)),
        RECENT_BYTES + 1,
    )]);
    assert!(recent.get((Bound::Included(8), Bound::Unbounded)).is_none());
}

#[tokio::test]
async fn only_the_leaders_own_entries_are_flushed_beside_replication() {
    let (_dir, mut log_store, _sm, _effects) = open_stores(None).await;
    let entries = |term| vec![normal(term, 1, CounterCommand::Add(1))];
    assert!(!log_store.own_term(&entries(1)), "no vote yet");
    // This node (1) leads term 2: its entries of term 2 are its own, not those of term 1.
    log_store
        .save_vote(&Vote::new_committed(2, 1))
        .await
        .unwrap();
    assert!(log_store.own_term(&entries(2)));
    assert!(!log_store.own_term(&entries(1)));
    let mut mixed = entries(1);
    mixed.extend(entries(2));
    assert!(!log_store.own_term(&mixed));
    // A candidate's vote for itself, not yet granted by a quorum.
    log_store.save_vote(&Vote::new(3, 1)).await.unwrap();
    assert!(!log_store.own_term(&entries(3)));
    // Following node 2 in term 4: the entries are node 2's.
    log_store
        .save_vote(&Vote::new_committed(4, 2))
        .await
        .unwrap();
    let from_leader = vec![Entry::<Counter> {
        log_id: log_id(4, 2, 1),
        payload: EntryPayload::Blank,
    }];
    assert!(!log_store.own_term(&from_leader));
}

#[tokio::test]
async fn the_durable_index_covers_own_appends_once_flushed_and_the_rest_at_once() {
    let (_dir, log_store, _sm, _effects) = open_stores(None).await;
    let durable = log_store.durable_index();
    log_store
        .append_entries(
            (1..=3)
                .map(|i| normal(1, i, CounterCommand::Add(i)))
                .collect(),
            true,
        )
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), durable.wait_for(3))
        .await
        .expect("the flush thread reached index 3")
        .unwrap();
    log_store
        .append_entries(vec![normal(2, 4, CounterCommand::Add(4))], false)
        .unwrap();
    assert_eq!(
        durable.current().index,
        4,
        "a follower's append is durable on return"
    );
}

#[tokio::test]
async fn entries_are_applied_only_once_durable_here() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let (effects_tx, _effects_rx) = mpsc::unbounded_channel();
    let flush = LogFlush::start(0).unwrap();
    let mut sm =
        StateMachineStore::<Counter>::open(db, Box::new(effects_tx), flush.durable_index())
            .await
            .unwrap();
    let state = sm.state();
    let apply = tokio::spawn(async move {
        sm.apply(vec![normal(1, 1, CounterCommand::Add(5))])
            .await
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!apply.is_finished(), "applied before the entry was durable");
    assert_eq!(state.read().unwrap().total, 0);
    flush.durable_in_line(1);
    tokio::time::timeout(std::time::Duration::from_secs(5), apply)
        .await
        .expect("applied once durable")
        .unwrap();
    assert_eq!(state.read().unwrap().total, 5);
}

#[tokio::test]
async fn followers_are_told_of_a_commit_only_once_it_is_durable_here() {
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};

    let flush = LogFlush::start(0).unwrap();
    let mut factory = NetworkFactory::new(1, BTreeMap::new(), flush.durable_index());
    // Nothing listens on port 1: once sent, the request fails at once.
    let mut peer = <NetworkFactory as RaftNetworkFactory<TypeConfig<Counter>>>::new_client(
        &mut factory,
        2,
        &BasicNode::new("127.0.0.1:1"),
    )
    .await;
    let request = |committed| AppendEntriesRequest::<TypeConfig<Counter>> {
        vote: Vote::new_committed(1, 1),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: Some(log_id(1, 1, committed)),
    };
    let option = RPCOption::new(std::time::Duration::from_secs(5));
    let send = tokio::spawn(async move {
        let sent = peer.append_entries(request(5), option.clone()).await;
        (peer, sent)
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!send.is_finished(), "sent a commit index not durable here");
    flush.durable_in_line(5);
    let (mut peer, sent) = tokio::time::timeout(std::time::Duration::from_secs(5), send)
        .await
        .expect("sent once durable")
        .unwrap();
    assert!(sent.is_err(), "nothing listens on port 1");
    // What is durable goes at once.
    let option = RPCOption::new(std::time::Duration::from_secs(5));
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        peer.append_entries(request(4), option),
    )
    .await
    .expect("a durable commit index is not held back")
    .unwrap_err();
}

#[tokio::test]
async fn a_leader_restarted_in_its_term_stands_for_election_again() {
    let (dir, mut log_store, sm, _effects) = open_stores(None).await;
    log_store
        .save_vote(&Vote::new_committed(2, 1))
        .await
        .unwrap();
    drop((log_store, sm));
    let (dir, mut reopened, sm, _effects) = open_stores(Some(dir)).await;
    // Its last appends may be lost: leading on in term 2 could reuse their log ids.
    assert_eq!(reopened.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
    assert!(!reopened.own_term(&[normal(2, 1, CounterCommand::Add(1))]));
    // Another leader's committed vote is read back as it was.
    reopened
        .save_vote(&Vote::new_committed(3, 2))
        .await
        .unwrap();
    drop((reopened, sm));
    let (_dir, mut reopened, _sm, _effects) = open_stores(Some(dir)).await;
    assert_eq!(
        reopened.read_vote().await.unwrap(),
        Some(Vote::new_committed(3, 2))
    );
}
