//! Pool tests against a fake link: queueing, cancel, live resize, drain and
//! supervision of crashing workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::attempt::Outcome;
use crate::test_support::{builtin_assignment, key, noop_assignment, sleep_assignment, LinkInbox};

struct Fixture {
    _dir: tempfile::TempDir,
    pool: ActorRef<PoolMsg>,
    inbox: LinkInbox,
}

async fn pool_with(workers: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let dirs = Arc::new(WorkDirs::create(dir.path()).unwrap());
    let (link, inbox) = LinkInbox::spawn().await;
    let (pool, _) = Actor::spawn(None, Pool { link, dirs }, PoolArgs { workers })
        .await
        .unwrap();
    let mut fixture = Fixture {
        _dir: dir,
        pool,
        inbox,
    };
    fixture.inbox.capacity_becomes((workers, workers)).await;
    fixture
}

impl Fixture {
    fn assign(&self, assignment: Assignment) {
        self.pool
            .send_message(PoolMsg::Assign(Box::new(assignment)))
            .unwrap();
    }
}

fn noop(node: &str) -> Assignment {
    noop_assignment(node, 1)
}

#[tokio::test]
async fn assignments_beyond_the_idle_workers_wait_in_the_queue_and_all_run() {
    let mut f = pool_with(1).await;
    f.assign(sleep_assignment("a", 0.1));
    f.assign(noop("b"));
    f.assign(noop("c"));
    let mut done = Vec::new();
    for _ in 0..3 {
        let (key, report) = f.inbox.result().await;
        assert!(
            matches!(report.outcome, Outcome::Succeeded(_)),
            "{key}: {report:?}"
        );
        done.push(key.node_id);
    }
    assert_eq!(done, ["a", "b", "c"]);
    f.inbox.capacity_becomes((1, 1)).await;
}

#[tokio::test]
async fn cancel_reaches_the_worker_running_the_attempt_and_empties_the_queue() {
    let mut f = pool_with(1).await;
    f.assign(sleep_assignment("running", 30.0));
    f.assign(sleep_assignment("queued", 30.0));
    let started = Instant::now();
    f.pool.send_message(PoolMsg::Cancel(key("queued"))).unwrap();
    f.pool
        .send_message(PoolMsg::Cancel(key("running")))
        .unwrap();
    for _ in 0..2 {
        let (key, report) = f.inbox.result().await;
        assert_eq!(report.failure(), Some(&Failure::cancelled()), "{key}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    f.inbox.capacity_becomes((1, 1)).await;
}

#[tokio::test]
async fn a_worker_that_panics_mid_attempt_is_reported_crashed_and_replaced() {
    let mut f = pool_with(1).await;
    f.assign(builtin_assignment("boom", "panic", &[], &[]));
    let (key, report) = f.inbox.result().await;
    assert_eq!(key.node_id, "boom");
    let failure = report.failure().unwrap();
    assert!(failure.retryable, "{failure:?}");
    assert!(
        failure.message.starts_with("worker crashed: "),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("builtin panic"),
        "{}",
        failure.message
    );
    // The replacement takes the next attempt.
    f.assign(noop("after"));
    let (key, report) = f.inbox.result().await;
    assert_eq!(key.node_id, "after");
    assert!(
        matches!(report.outcome, Outcome::Succeeded(_)),
        "{report:?}"
    );
    f.inbox.capacity_becomes((1, 1)).await;
}

#[tokio::test]
async fn shrinking_lets_a_busy_worker_finish_its_attempt_and_growing_adds_workers() {
    let mut f = pool_with(2).await;
    f.assign(sleep_assignment("long", 0.3));
    f.inbox.capacity_becomes((2, 1)).await;
    f.pool.send_message(PoolMsg::Resize(0)).unwrap();
    f.inbox.capacity_becomes((0, 0)).await;
    let (key, report) = f.inbox.result().await;
    assert_eq!(key.node_id, "long");
    assert!(
        matches!(report.outcome, Outcome::Succeeded(_)),
        "{report:?}"
    );
    f.pool.send_message(PoolMsg::Resize(3)).unwrap();
    f.inbox.capacity_becomes((3, 3)).await;
    f.assign(noop("after"));
    let (key, _) = f.inbox.result().await;
    assert_eq!(key.node_id, "after");
}

#[tokio::test]
async fn queued_work_waits_for_a_pool_grown_from_zero() {
    let mut f = pool_with(0).await;
    f.assign(noop("waiting"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    f.pool.send_message(PoolMsg::Resize(1)).unwrap();
    let (key, report) = f.inbox.result().await;
    assert_eq!(key.node_id, "waiting");
    assert!(
        matches!(report.outcome, Outcome::Succeeded(_)),
        "{report:?}"
    );
}

#[tokio::test]
async fn drain_refuses_new_work_finishes_running_work_then_stops() {
    let mut f = pool_with(2).await;
    f.assign(sleep_assignment("running", 0.3));
    f.pool.send_message(PoolMsg::Drain).unwrap();
    f.assign(noop("late"));
    let (key, report) = f.inbox.result().await;
    assert_eq!(key.node_id, "late");
    let failure = report.failure().unwrap();
    assert!(
        failure.retryable && failure.message.contains("draining"),
        "{failure:?}"
    );
    let (key, report) = f.inbox.result().await;
    assert_eq!(key.node_id, "running");
    assert!(
        matches!(report.outcome, Outcome::Succeeded(_)),
        "{report:?}"
    );
    f.inbox.until_drained().await;
    f.pool
        .wait(Some(Duration::from_secs(5)))
        .await
        .expect("the drained pool should stop");
}
