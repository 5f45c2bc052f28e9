//! The book's decisions, driven directly: placement by lane and label,
//! slots, drains, leases and stale attempts.

use super::*;

fn key(e: &str, n: u32) -> NodeKey {
    (ExecutionId(e.into()), n)
}

fn joining<'a>(id: &'a str, pool: &'a str, slots: u32, connection: u64) -> Joining<'a> {
    labelled(id, pool, slots, connection, &[])
}

fn labelled<'a>(
    id: &'a str,
    pool: &'a str,
    slots: u32,
    connection: u64,
    labels: &[(&str, &str)],
) -> Joining<'a> {
    Joining {
        id,
        pool,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        version: "test".into(),
        slots,
        max_slots: slots,
        connection,
    }
}

#[test]
fn a_selector_places_only_on_executors_with_its_labels() {
    let mut book = DispatchBook::new(1000);
    book.connect(labelled("a100", "gpu", 4, 1, &[("gpu", "a100")]), &[], 0);
    book.connect(labelled("t4", "gpu", 4, 1, &[("gpu", "t4")]), &[], 0);
    let a100: Selector = [("gpu".to_string(), "a100".to_string())].into();
    for n in 0..3 {
        book.enqueue(
            key("e", n),
            &"gpu".into(),
            Some(Arc::new(a100.clone())),
            &"ml".into(),
            0,
            0,
        );
    }
    book.enqueue(key("e", 9), &"gpu".into(), None, &"ml".into(), 0, 0);
    let placed = book.plan(0);
    assert_eq!(placed.len(), 4);
    for p in &placed {
        if p.key.1 < 3 {
            assert_eq!(p.executor, "a100", "{p:?}");
        }
    }
    // A selector nobody matches keeps its queue, and says so.
    let h100: Selector = [("gpu".to_string(), "h100".to_string())].into();
    book.enqueue(
        key("e", 5),
        &"gpu".into(),
        Some(Arc::new(h100)),
        &"ml".into(),
        0,
        0,
    );
    assert!(book.plan(0).is_empty());
    let depths: Vec<LaneDepth> = book
        .lane_depths()
        .into_iter()
        .filter(|d| d.depth > 0)
        .collect();
    assert_eq!(depths.len(), 1);
    assert_eq!((depths[0].depth, depths[0].matching), (1, 0));
}

#[test]
fn a_heartbeat_with_more_workers_opens_more_slots() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x", "p", 1, 1), &[], 0);
    for n in 0..4 {
        book.enqueue(key("e", n), &"p".into(), None, &"ml".into(), 0, 0);
    }
    assert_eq!(book.plan(0).len(), 1);
    book.heartbeat("x", false, 3, 1);
    assert_eq!(book.plan(1).len(), 2);
    book.heartbeat("x", false, 0, 2);
    assert_eq!(
        book.executors["x"].slots, 3,
        "0: an executor that does not say"
    );
}

#[test]
fn an_ordered_drain_closes_an_executor_before_it_says_so() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x", "p", 2, 1), &[], 0);
    book.executors.get_mut("x").unwrap().drain_ordered = true;
    book.enqueue(key("e", 0), &"p".into(), None, &"ml".into(), 0, 0);
    book.heartbeat("x", false, 2, 1);
    assert!(book.plan(1).is_empty());
    book.connect(joining("x", "p", 2, 2), &[], 2);
    assert!(book.plan(2).is_empty(), "a reconnect keeps the order");
}

#[test]
fn a_draining_executor_gets_nothing_new() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("a", "cpu", 4, 1), &[], 0);
    book.connect(joining("b", "cpu", 1, 1), &[], 0);
    book.heartbeat("a", true, 0, 1);
    for n in 0..3 {
        book.enqueue(key("e", n), &"cpu".into(), None, &"ml".into(), 0, 0);
    }
    let placed = book.plan(1);
    assert_eq!(placed.len(), 1, "only b's one slot");
    assert_eq!(placed[0].executor, "b");
    // A heartbeat that says it is not draining (any more) opens it again.
    book.heartbeat("a", false, 0, 2);
    assert_eq!(book.plan(2).len(), 2);
}

#[test]
fn prefetch_hands_an_executor_that_many_beyond_its_workers() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x", "p", 2, 1), &[], 0);
    book.executors.get_mut("x").unwrap().prefetch = 3;
    for n in 0..8 {
        book.enqueue(key("e", n), &"p".into(), None, &"ml".into(), 0, 0);
    }
    assert_eq!(book.plan(0).len(), 5, "2 workers and 3 waiting");
    let x = &book.executors["x"];
    assert_eq!((x.running(), x.prefetched()), (2, 3));
    assert_eq!(
        book.load("p", 0, 60_000).busy,
        2,
        "waiting ones are not busy"
    );
    // A reconnect keeps the pool's prefetch until the settings are applied.
    book.connect(joining("x", "p", 2, 2), &[], 1);
    assert_eq!(book.executors["x"].prefetch, 3);
    // A draining executor gets nothing, prefetch or not.
    book.heartbeat("x", true, 2, 2);
    assert!(book.plan(2).is_empty());
}

#[test]
fn places_only_on_free_slots_of_the_right_pool() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x1", "cpu", 2, 1), &[], 0);
    book.connect(joining("g1", "gpu", 8, 2), &[], 0);
    for n in 0..5 {
        book.enqueue(key("e", n), &"cpu".into(), None, &"ml".into(), 0, 0);
    }
    let placed = book.plan(0);
    assert_eq!(placed.len(), 2);
    assert!(placed.iter().all(|p| p.executor == "x1"));
    assert_eq!(book.queue_depth("cpu"), 3);
    book.release("x1");
    assert_eq!(book.plan(0).len(), 1);
}

#[test]
fn a_pool_without_executors_keeps_its_queue() {
    let mut book = DispatchBook::new(1000);
    book.enqueue(key("e", 0), &"nobody".into(), None, &"ml".into(), 0, 0);
    assert!(book.plan(0).is_empty());
    assert_eq!(book.queue_depth("nobody"), 1);
}

#[test]
fn delayed_retries_wait_for_their_time() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x", "p", 4, 1), &[], 0);
    book.enqueue(key("e", 0), &"p".into(), None, &"ml".into(), 500, 0);
    assert!(book.plan(100).is_empty());
    assert_eq!(book.next_wakeup_ms(), Some(500));
    assert_eq!(book.plan(500).len(), 1);
}

#[test]
fn enqueue_is_idempotent() {
    let mut book = DispatchBook::new(1000);
    book.enqueue(key("e", 0), &"p".into(), None, &"ml".into(), 0, 0);
    book.enqueue(key("e", 0), &"p".into(), None, &"ml".into(), 0, 0);
    assert_eq!(book.queue_depth("p"), 1);
}

#[test]
fn silent_executor_loses_its_attempts_after_the_lease() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x", "p", 4, 1), &[], 0);
    book.assigned(key("e", 0), 0, 1, "x", 0);
    assert!(book.expire(900).is_empty());
    book.seen("x", 900);
    assert!(book.expire(1800).is_empty());
    let lost = book.expire(2000);
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].0, key("e", 0));
}

#[test]
fn adopted_attempts_confirmed_by_reconnect_survive() {
    let mut book = DispatchBook::new(1000);
    book.adopt(key("e", 0), 0, 3, "x", 0);
    book.adopt(key("e", 1), 0, 1, "x", 0);
    let stale = book.connect(
        joining("x", "p", 4, 1),
        &[(key("e", 0), 3), (key("e", 2), 1)],
        100,
    );
    assert_eq!(
        stale,
        vec![(key("e", 2), 1)],
        "an attempt we do not know is stale"
    );
    let lost = book.expire(1050);
    assert_eq!(
        lost.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        vec![key("e", 1)]
    );
    assert!(book.owned.contains_key(&key("e", 0)));
}

#[test]
fn an_attempt_reported_by_another_executor_than_its_own_is_stale() {
    let mut book = DispatchBook::new(1000);
    book.adopt(key("e", 0), 0, 1, "x", 0);
    let stale = book.connect(joining("y", "p", 4, 1), &[(key("e", 0), 1)], 10);
    assert_eq!(stale, vec![(key("e", 0), 1)]);
    assert_eq!(book.owned[&key("e", 0)].executor, "x");
    assert_eq!(book.executors["y"].busy, 0);
}

#[test]
fn only_the_owning_executor_settles_an_attempt_and_frees_its_slot() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x", "p", 1, 1), &[], 0);
    book.enqueue(key("e", 0), &"p".into(), None, &"ml".into(), 0, 0);
    let placed = book.plan(0);
    book.assigned(placed[0].key.clone(), placed[0].lane, 1, "x", 0);
    assert!(
        !book.settle(&key("e", 0), 1, "y"),
        "another executor's copy"
    );
    assert!(!book.settle(&key("e", 0), 2, "x"), "another attempt");
    assert_eq!(book.executors["x"].busy, 1);
    assert!(book.settle(&key("e", 0), 1, "x"));
    assert_eq!(book.executors["x"].busy, 0);
    assert!(!book.settle(&key("e", 0), 1, "x"), "settled once");
}

#[test]
fn stale_disconnect_of_an_old_stream_is_ignored() {
    let mut book = DispatchBook::new(1000);
    book.connect(joining("x", "p", 1, 1), &[], 0);
    book.connect(joining("x", "p", 1, 2), &[], 10);
    book.disconnect("x", 1, 20);
    assert!(book.executors["x"].connected);
}
