//! Caching: a second identical instance is served from the cache without
//! running (CACHED), ignored inputs and task versions leave the key alone,
//! a new cache version does not, `--no-cache` and `--overwrite-cache` do
//! what they say, entries expire, and identical misses of a `serialize`
//! task run once while the others wait.

use baton_model::{CacheMode, Identifier, Value, Values};

use super::Fixture;
use crate::state::{Command, ExecutionId, ExecutionPhase, NodePhase, Response};

const CACHED: &str = r#"
kind: Task
name: slow-inc
version: v1
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
runner: {builtin: noop}
cache: {version: "1", retention: 1h}
cache_ignore: [seed]
---
kind: Task
name: slow-inc
version: v2
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
runner: {builtin: echo}
cache: {version: "1", retention: 1h}
cache_ignore: [seed]
---
kind: Task
name: slow-inc
version: v3
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
runner: {builtin: echo}
cache: {version: "2", retention: 1h}
---
kind: Task
name: once-inc
version: v1
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
runner: {builtin: noop}
cache: {version: "1", serialize: true}
---
kind: Workflow
name: step
version: v1
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
nodes:
  - {id: inc, task: slow-inc@v1, inputs: {x: "${inputs.x}", seed: "${inputs.seed}"}}
  - {id: after, task: inc@v1, inputs: {x: "${inc.x}"}}
outputs: {x: "${after.x}"}
---
kind: Workflow
name: step2
version: v1
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
nodes: [{id: inc, task: slow-inc@v2, inputs: {x: "${inputs.x}", seed: "${inputs.seed}"}}]
outputs: {x: "${inc.x}"}
---
kind: Workflow
name: step3
version: v1
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
nodes: [{id: inc, task: slow-inc@v3, inputs: {x: "${inputs.x}", seed: "${inputs.seed}"}}]
outputs: {x: "${inc.x}"}
---
kind: Workflow
name: once
version: v1
interface: {inputs: {x: int, seed: int}, outputs: {x: int}}
nodes: [{id: inc, task: once-inc@v1, inputs: {x: "${inputs.x}", seed: "${inputs.seed}"}}]
outputs: {x: "${inc.x}"}
"#;

fn launch(f: &mut Fixture, workflow: &str, x: i64, seed: i64, cache: CacheMode) -> ExecutionId {
    let now_ms = f.now;
    let inputs = Values::from([
        ("x".to_string(), Value::Int(x)),
        ("seed".to_string(), Value::Int(seed)),
    ]);
    match f.apply(Command::LaunchWith {
        workflow: Identifier::parse(workflow).unwrap(),
        plan: None,
        inputs,
        pool: String::new(),
        request_id: String::new(),
        cache,
        now_ms,
    }) {
        Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    }
}

fn cached(f: &Fixture, id: &ExecutionId, path: &str) -> bool {
    let node = f.instance(id, path);
    f.state.execution(id).unwrap().nodes[node as usize].cached
}

#[test]
fn an_identical_second_instance_is_served_from_the_cache_without_running() {
    let mut f = Fixture::new(CACHED);
    let first = launch(&mut f, "step", 1, 7, CacheMode::Use);
    assert_eq!(f.queued(&first), vec!["inc"]);
    f.run_inc(&first, "inc");
    f.queued(&first);
    f.run_inc(&first, "after");
    assert_eq!(f.state.cache.len(), 1);
    // Another seed (ignored), the same x: served from the cache; `after`
    // (not cacheable) runs.
    let second = launch(&mut f, "step", 1, 99, CacheMode::Use);
    assert_eq!(f.queued(&second), vec!["after"], "inc ran nowhere");
    assert!(cached(&f, &second, "inc"));
    assert_eq!(f.phase(&second, "inc"), NodePhase::Succeeded);
    let execution = f.state.execution(&second).unwrap();
    let event = execution
        .events
        .iter()
        .find(|e| e.message.starts_with("cached: the result of"))
        .expect("the cached event");
    assert!(
        event.message.contains(&first.to_string()),
        "{}",
        event.message
    );
    f.run_inc(&second, "after");
    let execution = f.state.execution(&second).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(execution.outputs["x"], Value::Int(3));
    f.check(&second);
    // A new task version with the same cache version reuses the result; a
    // new cache version does not; another x does not.
    let v2 = launch(&mut f, "step2", 1, 0, CacheMode::Use);
    assert!(f.queued(&v2).is_empty());
    assert!(cached(&f, &v2, "inc"));
    let v3 = launch(&mut f, "step3", 1, 0, CacheMode::Use);
    assert_eq!(f.queued(&v3), vec!["inc"]);
    let other = launch(&mut f, "step", 2, 7, CacheMode::Use);
    assert_eq!(f.queued(&other), vec!["inc"]);
}

#[test]
fn no_cache_runs_without_reading_or_writing_and_overwrite_replaces() {
    let mut f = Fixture::new(CACHED);
    let skipped = launch(&mut f, "step2", 1, 0, CacheMode::Skip);
    assert_eq!(f.queued(&skipped), vec!["inc"]);
    f.run_inc(&skipped, "inc");
    assert!(f.state.cache.is_empty(), "--no-cache writes nothing");
    let first = launch(&mut f, "step2", 1, 0, CacheMode::Use);
    f.queued(&first);
    f.run_inc(&first, "inc");
    let overwrite = launch(&mut f, "step2", 1, 0, CacheMode::Overwrite);
    assert_eq!(
        f.queued(&overwrite),
        vec!["inc"],
        "--overwrite-cache runs it"
    );
    f.run_inc(&overwrite, "inc");
    let next = launch(&mut f, "step2", 1, 0, CacheMode::Use);
    assert!(f.queued(&next).is_empty());
    let execution = f.state.execution(&next).unwrap();
    let event = execution
        .events
        .iter()
        .find(|e| e.message.starts_with("cached:"))
        .unwrap();
    assert!(
        event.message.contains(&overwrite.to_string()),
        "{}",
        event.message
    );
}

#[test]
fn an_entry_past_its_retention_is_not_reused() {
    let mut f = Fixture::new(CACHED);
    let first = launch(&mut f, "step2", 1, 0, CacheMode::Use);
    f.queued(&first);
    f.run_inc(&first, "inc");
    f.now += 3_600_000; // the task's retention: one hour
    let later = launch(&mut f, "step2", 1, 0, CacheMode::Use);
    assert_eq!(f.queued(&later), vec!["inc"]);
}

#[test]
fn identical_misses_of_a_serialized_task_run_once() {
    let mut f = Fixture::new(CACHED);
    let a = launch(&mut f, "once", 1, 0, CacheMode::Use);
    assert_eq!(f.queued(&a), vec!["inc"]);
    let b = launch(&mut f, "once", 1, 0, CacheMode::Use);
    let c = launch(&mut f, "once", 1, 0, CacheMode::Use);
    assert!(f.queued(&b).is_empty(), "b waits for a");
    assert_eq!(f.phase(&b, "inc"), NodePhase::Pending);
    assert_eq!(f.phase(&c, "inc"), NodePhase::Pending);
    // a fails for good: b runs it now, c waits for b.
    f.fail(&a, "inc", false);
    assert_eq!(f.state.execution(&a).unwrap().phase, ExecutionPhase::Failed);
    assert_eq!(f.queued(&b), vec!["inc"]);
    assert_eq!(f.phase(&c, "inc"), NodePhase::Pending);
    f.run_inc(&b, "inc");
    // c is served b's result.
    assert!(cached(&f, &c, "inc"));
    let execution = f.state.execution(&c).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(execution.outputs["x"], Value::Int(2));
    f.check(&b);
    f.check(&c);
}

#[test]
fn a_long_run_of_hits_is_settled_in_a_loop_not_by_nesting() {
    let spec = r#"
kind: Workflow
name: many
version: v1
interface: {inputs: {xs: list<int>}, outputs: {ys: list<int>}}
nodes:
  - id: m
    map: {task: slow-inc@v1, over: x, inputs: {x: "${inputs.xs}", seed: 0}, concurrency: 1}
outputs: {ys: "${m.x}"}
"#;
    let mut f = Fixture::new(&format!("{CACHED}---{spec}"));
    let warm = launch(&mut f, "step2", 1, 0, CacheMode::Use);
    f.queued(&warm);
    f.run_inc(&warm, "inc");
    // Identical items, one at a time, each a hit that starts the next:
    // 20,000 of them within the one launch command.
    let now_ms = f.now;
    let xs = Value::List(vec![Value::Int(1); 20_000]);
    let id = match f.apply(Command::Launch {
        workflow: Identifier::parse("many").unwrap(),
        inputs: Values::from([("xs".to_string(), xs)]),
        pool: String::new(),
        request_id: String::new(),
        now_ms,
    }) {
        Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    };
    assert!(f.queued(&id).is_empty(), "nothing ran");
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert!(cached(&f, &id, "m[0]") && cached(&f, &id, "m[19999]"));
    assert_eq!(
        execution.outputs["ys"],
        Value::List(vec![Value::Int(2); 20_000])
    );
}

#[test]
fn an_overwriting_launch_does_not_wait_for_an_identical_run() {
    let mut f = Fixture::new(CACHED);
    let a = launch(&mut f, "once", 1, 0, CacheMode::Use);
    assert_eq!(f.queued(&a), vec!["inc"]);
    let b = launch(&mut f, "once", 1, 0, CacheMode::Overwrite);
    assert_eq!(f.queued(&b), vec!["inc"], "overwrite runs regardless");
}
