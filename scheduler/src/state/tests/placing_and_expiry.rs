//! Which pool a node runs in, and which finished executions expire.

use super::*;

const POOL_SPECS: &str = r#"
kind: Task
name: on-gpu
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
pool: gpu
---
kind: Task
name: anywhere
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: pools
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
nodes:
  - {id: own, task: anywhere@v1, inputs: {x: "${inputs.n}"}, pool: big}
  - {id: task, task: on-gpu@v1, inputs: {x: "${own.x}"}}
  - {id: plain, task: anywhere@v1, inputs: {x: "${own.x}"}}
outputs: {x: "${plain.x}"}
---
kind: Workflow
name: pinned
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
pool: cpu
nodes:
  - {id: task, task: on-gpu@v1, inputs: {x: "${inputs.n}"}}
outputs: {x: "${task.x}"}
"#;

/// Launches `workflow` pinned to `pool` ("" for none) and returns each
/// node's pool, as queued once the first node has completed.
fn queued_pools(workflow: &str, pool: &str) -> Vec<String> {
    let mut h = Harness::new();
    assert!(matches!(
        h.apply(register_command(POOL_SPECS)),
        Response::Registered(_)
    ));
    let now_ms = h.now;
    let id = match h.apply(Command::Launch {
        workflow: Identifier::parse(workflow).unwrap(),
        inputs: Values::from([("n".to_string(), Value::Int(2))]),
        pool: pool.into(),
        request_id: String::new(),
        now_ms,
    }) {
        Response::Launched { execution, .. } => execution,
        other => panic!("launch failed: {other:?}"),
    };
    let mut pools = BTreeMap::new();
    let mut take = |effects: &mut Vec<Effect>| {
        for effect in effects.drain(..) {
            if let Effect::NodeQueued { node, pool, .. } = effect {
                pools.insert(node, pool.to_string());
            }
        }
    };
    take(&mut h.effects);
    let attempt = h.assign(&id, 0);
    let r = h.complete(&id, 0, attempt);
    assert!(matches!(r, Response::Done), "{r:?}");
    take(&mut h.effects);
    pools.into_values().collect()
}

#[test]
fn a_node_runs_in_the_first_pool_pinned_by_node_launch_workflow_task() {
    // Node pin, task pool, default.
    assert_eq!(queued_pools("pools", ""), ["big", "gpu", "default"]);
    // A launch pin beats the task's pool, not the node's own.
    assert_eq!(
        queued_pools("pools", "tenant-a"),
        ["big", "tenant-a", "tenant-a"]
    );
    // A workflow pin beats the task's pool; a launch pin beats the workflow's.
    assert_eq!(queued_pools("pinned", ""), ["cpu"]);
    assert_eq!(queued_pools("pinned", "tenant-a"), ["tenant-a"]);
}

#[test]
fn expire_drops_finished_executions_only_and_remembers_them() {
    let mut h = Harness::new();
    let now_ms = h.now;
    let launched = h.apply(Command::Launch {
        workflow: Identifier::parse("diamond").unwrap(),
        inputs: Values::from([("n".to_string(), Value::Int(1))]),
        pool: String::new(),
        request_id: "req-1".into(),
        now_ms,
    });
    let Response::Launched {
        execution: done, ..
    } = launched
    else {
        panic!("{launched:?}");
    };
    let running = h.launch(2);
    h.apply(Command::Cancel {
        execution: done.clone(),
        now_ms,
    });
    let before = postcard_roundtrip(&h.state).executions.len();
    assert_eq!(before, 2);
    let expired = h.apply(Command::Expire {
        executions: vec![done.clone(), running.clone(), ExecutionId("nope-9".into())],
        now_ms,
    });
    assert_eq!(expired, Response::Done);
    assert!(h.state.execution(&done).is_none());
    assert!(h.state.execution(&running).is_some(), "a running one stays");
    assert_eq!(h.state.execution_order, std::slice::from_ref(&running));
    assert!(
        h.state.launch_requests.is_empty(),
        "its request id goes too"
    );
    assert!(h.state.missing_execution(&done).contains("expired"));
    assert!(h
        .state
        .missing_execution(&ExecutionId("nope-9".into()))
        .starts_with("unknown"));
    // Nothing left to expire: nothing changes.
    assert!(matches!(
        h.apply(Command::Expire {
            executions: vec![done.clone(), running],
            now_ms
        }),
        Response::Ignored(_)
    ));
    // What is expired survives a snapshot.
    let restored = postcard_roundtrip(&h.state);
    assert!(restored.missing_execution(&done).contains("expired"));
    match h.apply(Command::Recover {
        from: done,
        relaunch: false,
        request_id: String::new(),
        now_ms,
    }) {
        Response::Rejected(e) => assert!(e.message.contains("expired"), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn due_for_expiry_follows_each_projects_retention() {
    use retention::Retention;
    let mut h = Harness::new();
    let id = h.launch(1);
    let now_ms = h.now;
    h.apply(Command::Cancel {
        execution: id.clone(),
        now_ms,
    });
    let finished = h.state.execution(&id).unwrap().finished_at_ms;
    let hour = Retention::For { ms: 3_600_000 };
    assert!(h
        .state
        .due_for_expiry(finished + 3_599_999, hour, 10)
        .is_empty());
    assert_eq!(
        h.state.due_for_expiry(finished + 3_600_000, hour, 10),
        std::slice::from_ref(&id)
    );
    assert!(h
        .state
        .due_for_expiry(u64::MAX, Retention::Forever, 10)
        .is_empty());
    let project = h.state.execution(&id).unwrap().project.to_string();
    let set = h.apply(Command::SetRetention {
        project: project.clone(),
        retention: Some(Retention::Forever),
        now_ms,
    });
    assert_eq!(set, Response::Done);
    assert!(h.effects.contains(&Effect::RetentionChanged));
    assert!(
        h.state.due_for_expiry(u64::MAX, hour, 10).is_empty(),
        "the project's own comes first"
    );
    let refused = h.apply(Command::SetRetention {
        project,
        retention: Some(Retention::For { ms: 0 }),
        now_ms,
    });
    assert!(matches!(refused, Response::Rejected(_)), "{refused:?}");
}
