//! Idempotent and numbered launches.

use super::*;

#[test]
fn a_launch_retried_with_its_request_id_creates_one_execution() {
    let mut h = Harness::new();
    let launch = |h: &mut Harness| {
        let now_ms = h.now;
        h.apply(Command::Launch {
            workflow: Identifier::parse("diamond").unwrap(),
            inputs: Values::from([("n".to_string(), Value::Int(1))]),
            pool: String::new(),
            request_id: "req-1".into(),
            now_ms,
        })
    };
    let first = launch(&mut h);
    let again = launch(&mut h);
    assert_eq!(first, again);
    assert_eq!(h.state.executions.len(), 1);
}

#[test]
fn numbered_launches_take_only_reserved_numbers_and_each_once() {
    let mut h = Harness::new();
    let plain = h.launch(1);
    assert_eq!(plain.to_string(), "diamond-1");
    h.queued();
    let (first, last) = match h.apply(Command::ReserveLaunches { count: 10 }) {
        Response::Reserved { first, last } => (first, last),
        other => panic!("{other:?}"),
    };
    assert_eq!((first, last), (2, 11));
    match h.launch_numbered(5, "") {
        Response::Launched { execution, .. } => assert_eq!(execution.to_string(), "diamond-5"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.queued(),
        [0],
        "its first node is queued as for any launch"
    );
    // Taken, or never reserved: refused, nothing changes.
    for number in [5, 12] {
        let before = h.state.executions.len();
        match h.launch_numbered(number, "") {
            Response::Rejected(e) => assert!(
                e.message.contains(&format!("launch number {number}")),
                "{}",
                e.message
            ),
            other => panic!("{number}: {other:?}"),
        }
        assert_eq!(h.state.executions.len(), before);
    }
    assert_eq!(
        h.state.launches, 11,
        "a numbered launch takes no new number"
    );
    // A launch numbered when applied goes past every reservation.
    assert_eq!(h.launch(3).to_string(), "diamond-12");
}

#[test]
fn a_numbered_launch_retried_with_its_request_id_creates_nothing() {
    let mut h = Harness::new();
    h.apply(Command::ReserveLaunches { count: 4 });
    let first = match h.launch_numbered(1, "req-7") {
        Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    };
    h.queued();
    match h.launch_numbered(2, "req-7") {
        Response::Launched { execution, .. } => assert_eq!(execution, first),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state.executions.len(), 1);
    assert!(h.queued().is_empty(), "the retry queued nothing");
}
