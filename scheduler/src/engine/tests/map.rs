//! The map kind: an item per element under `node[i]`, outputs gathered in
//! order, concurrency, failure policies, a map of sub-workflows, state that
//! grows by the items' own states only, and the registration checks.

use baton_model::{Identifier, Value, Values};

use super::Fixture;
use crate::state::{Command, ExecutionId, ExecutionPhase, NodePhase, Response};

/// `each` runs `inc` over `xs`; `each-twice` runs the `twice` workflow over
/// them, two at a time; `lenient` tolerates a quarter of its items failing.
const MAPS: &str = r#"
kind: Task
name: scale
version: v1
interface: {inputs: {x: int, by: string}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: each
version: v1
interface: {inputs: {xs: list<int>}, outputs: {ys: list<int>}}
nodes:
  - id: m
    map: {task: inc@v1, over: x, inputs: {x: "${inputs.xs}"}, concurrency: 2}
outputs: {ys: "${m.x}"}
---
kind: Workflow
name: each-twice
version: v1
interface: {inputs: {xs: list<int>}, outputs: {ys: list<int>}}
nodes:
  - id: m
    map: {workflow: twice@v1, over: x, inputs: {x: "${inputs.xs}"}}
outputs: {ys: "${m.y}"}
---
kind: Workflow
name: lenient
version: v1
interface: {inputs: {xs: list<int>}, outputs: {ys: "list<optional<int>>"}}
nodes:
  - id: m
    map: {task: inc@v1, over: x, inputs: {x: "${inputs.xs}"}, tolerate: "25%"}
outputs: {ys: "${m.x}"}
---
kind: Workflow
name: shared
version: v1
interface: {inputs: {xs: list<int>, label: string}, outputs: {ys: list<int>}}
nodes:
  - id: m
    map: {task: scale@v1, over: x, inputs: {x: "${inputs.xs}", by: "${inputs.label}"}}
outputs: {ys: "${m.x}"}
"#;

fn launch(f: &mut Fixture, workflow: &str, xs: Vec<i64>) -> ExecutionId {
    let now_ms = f.now;
    let mut inputs = Values::from([(
        "xs".to_string(),
        Value::List(xs.into_iter().map(Value::Int).collect()),
    )]);
    if workflow == "shared" {
        inputs.insert("label".into(), Value::String("x".repeat(10_000)));
    }
    match f.apply(Command::Launch {
        workflow: Identifier::parse(workflow).unwrap(),
        inputs,
        pool: String::new(),
        request_id: String::new(),
        now_ms,
    }) {
        Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    }
}

fn ints(value: &Value) -> Vec<Option<i64>> {
    match value {
        Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::Int(n) => Some(*n),
                Value::None => None,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn items_run_at_most_concurrency_at_once_and_outputs_gather_in_order() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "each", vec![10, 20, 30, 40, 50]);
    assert_eq!(f.queued(&id), vec!["m[0]", "m[1]"], "concurrency 2");
    f.run_inc(&id, "m[1]");
    assert_eq!(
        f.queued(&id),
        vec!["m[2]"],
        "a slot freed, the next item starts"
    );
    for item in ["m[0]", "m[2]", "m[3]", "m[4]"] {
        f.queued(&id);
        f.run_inc(&id, item);
    }
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(
        ints(&execution.outputs["ys"]),
        vec![Some(11), Some(21), Some(31), Some(41), Some(51)]
    );
    f.check(&id);
}

#[test]
fn a_map_of_sub_workflows_runs_each_under_its_item() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "each-twice", vec![1, 2]);
    assert_eq!(f.queued(&id), vec!["m[0].first", "m[1].first"]);
    for path in ["m[0].first", "m[1].first", "m[0].second", "m[1].second"] {
        f.run_inc(&id, path);
    }
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(ints(&execution.outputs["ys"]), vec![Some(3), Some(4)]);
    f.check(&id);
}

#[test]
fn by_default_a_failed_item_fails_the_map_at_once() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "each", vec![1, 2, 3]);
    f.queued(&id);
    f.assign(&id, "m[0]");
    f.fail(&id, "m[1]", false);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution.error.contains("node `m[1]` failed: boom"),
        "{}",
        execution.error
    );
    assert_eq!(
        f.phase(&id, "m[0]"),
        NodePhase::Cancelled,
        "running items are cancelled"
    );
    assert_eq!(f.phase(&id, "m[2]"), NodePhase::Skipped);
    f.check(&id);
}

#[test]
fn a_tolerant_map_goes_on_and_gives_null_for_failed_items() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "lenient", vec![1, 2, 3, 4, 5, 6, 7, 8]);
    f.queued(&id);
    // 25% of 8: two failures are tolerated, a third is not.
    f.fail(&id, "m[2]", false);
    f.fail(&id, "m[5]", false);
    for item in [0, 1, 3, 4, 6, 7] {
        f.run_inc(&id, &format!("m[{item}]"));
    }
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(
        ints(&execution.outputs["ys"]),
        vec![
            Some(2),
            Some(3),
            None,
            Some(5),
            Some(6),
            None,
            Some(8),
            Some(9)
        ]
    );
    f.check(&id);
    let id = launch(&mut f, "lenient", vec![1, 2, 3, 4]);
    f.queued(&id);
    f.fail(&id, "m[0]", false);
    f.fail(&id, "m[1]", false);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Failed,
        "one of four is tolerated, two are not"
    );
}

#[test]
fn a_map_over_an_empty_list_succeeds_with_empty_lists() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "each", vec![]);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(execution.outputs["ys"], Value::List(Vec::new()));
    f.check(&id);
}

#[test]
fn ten_thousand_items_grow_the_state_by_their_own_states_only() {
    // The shared input is a 10 kB string: were it (or the list) copied per
    // item, each item would cost over 10 kB.
    let size = |items: usize| {
        let mut f = Fixture::new(MAPS);
        let id = launch(&mut f, "shared", (0..items as i64).collect());
        let execution = f.state.execution(&id).unwrap();
        assert_eq!(execution.nodes.len(), 1 + items);
        postcard::to_allocvec(execution).unwrap().len()
    };
    let (small, large) = (size(1_000), size(10_000));
    let per_item = (large - small) / 9_000;
    assert!(per_item < 200, "{per_item} bytes per item");
}

#[test]
fn a_map_path_names_an_item_that_exists() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "each", vec![1, 2]);
    let execution = f.state.execution(&id).unwrap();
    let registry = f.state.registry();
    let err = crate::engine::path::resolve(&registry, execution, "m[5]").unwrap_err();
    assert!(
        err.contains("map `m` has 2 items; `[5]` is not one"),
        "{err}"
    );
    assert_eq!(f.path(&id, f.instance(&id, "m[1]")), "m[1]");
}

#[test]
fn a_map_must_be_over_a_list_of_an_input_the_task_takes() {
    let mut f = Fixture::new(MAPS);
    let err = f.refused(
        "kind: Workflow\nname: bad\nversion: v1\ninterface: {inputs: {n: int}}\nnodes:\n  - id: m\n    map: {task: inc@v1, over: x, inputs: {x: \"${inputs.n}\"}}\n",
    );
    assert!(
        err.contains(
            "node `m` input `x`: type mismatch: expected list<int>, but `${inputs.n}` is int"
        ),
        "{err}"
    );
    let err = f.refused(
        "kind: Workflow\nname: bad\nversion: v1\ninterface: {inputs: {n: list<int>}}\nnodes:\n  - id: m\n    map: {task: inc@v1, over: y, inputs: {x: \"${inputs.n}\"}}\n",
    );
    assert!(
        err.contains(
            "node `m` map.over `y`: task `default/development/inc@v1` has no input `y`; it takes x"
        ),
        "{err}"
    );
}

#[test]
fn a_map_over_ten_thousand_items_completes_with_every_output_in_order() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "lenient", (0..10_000).collect());
    let queued = f.queued(&id);
    assert_eq!(
        queued.len(),
        10_000,
        "no concurrency limit: every item is queued"
    );
    for path in &queued {
        f.run_inc(&id, path);
    }
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    let ys = ints(&execution.outputs["ys"]);
    assert_eq!(ys.len(), 10_000);
    assert!(ys.iter().enumerate().all(|(i, y)| *y == Some(i as i64 + 1)));
    let problems = crate::engine::invariant::violations(&f.state.registry(), execution);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Items that end the moment they start (a workflow whose one node maps
/// over an empty list), one at a time, upstream of a join.
const INSTANT: &str = r#"
kind: Workflow
name: instant
version: v1
interface: {inputs: {x: int, none: list<int>}, outputs: {x: int}}
nodes:
  - id: inner
    map: {task: inc@v1, over: x, inputs: {x: "${inputs.none}"}}
outputs: {x: "${inputs.x}"}
---
kind: Task
name: join
version: v1
interface: {inputs: {a: list<int>, b: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: instants
version: v1
interface: {inputs: {xs: list<int>}, outputs: {x: int}}
nodes:
  - id: m
    map: {workflow: instant@v1, over: x, inputs: {x: "${inputs.xs}", none: []}, concurrency: 1}
  - {id: slow, task: inc@v1, inputs: {x: 1}}
  - {id: j, task: join@v1, inputs: {a: "${m.x}", b: "${slow.x}"}}
outputs: {x: "${j.x}"}
"#;

#[test]
fn items_that_end_as_they_start_end_the_map_once() {
    let mut f = Fixture::new(&format!("{MAPS}---{INSTANT}"));
    let id = launch(&mut f, "instants", vec![1, 2, 3]);
    // The map ended at once, and only once: the join still waits for `slow`.
    assert_eq!(f.phase(&id, "m"), NodePhase::Succeeded);
    assert_eq!(f.queued(&id), vec!["slow"]);
    assert_eq!(f.phase(&id, "j"), NodePhase::Pending);
    let execution = f.state.execution(&id).unwrap();
    let m = f.instance(&id, "m");
    let successes = execution
        .events
        .iter()
        .filter(|e| {
            matches!(e.subject, crate::state::EventSubject::Node { node, phase: NodePhase::Succeeded, .. } if node == m)
        })
        .count();
    assert_eq!(successes, 1);
    f.check(&id);
}

#[test]
fn a_path_into_a_map_must_name_an_item() {
    let mut f = Fixture::new(MAPS);
    let id = launch(&mut f, "each-twice", vec![]);
    let execution = f.state.execution(&id).unwrap();
    let registry = f.state.registry();
    let err = crate::engine::path::resolve(&registry, execution, "m.m").unwrap_err();
    assert!(err.contains("`m` is a map; name an item: `m[N]`"), "{err}");
}

#[test]
fn a_registered_workflow_named_like_a_map_s_items_changes_nothing() {
    let mut f = Fixture::new(&format!(
        "{MAPS}---\nkind: Workflow\nname: each.m\nversion: v1\nnodes: [{{id: z, task: inc@v1, inputs: {{x: 1}}}}]\n"
    ));
    let id = launch(&mut f, "each", vec![5]);
    assert_eq!(f.queued(&id), vec!["m[0]"]);
    f.run_inc(&id, "m[0]");
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(ints(&execution.outputs["ys"]), vec![Some(6)]);
}

#[test]
fn a_map_over_a_list_in_the_blob_store_fails_naming_it() {
    let mut f = Fixture::new(MAPS);
    let now_ms = f.now;
    let offloaded = Value::Offloaded(baton_model::BlobRef {
        uri: "file:///store/sha256/ab".into(),
        size: 200_000,
        sha256: "ab".into(),
    });
    let id = match f.apply(Command::Launch {
        workflow: Identifier::parse("each").unwrap(),
        inputs: Values::from([("xs".to_string(), offloaded)]),
        pool: String::new(),
        request_id: String::new(),
        now_ms,
    }) {
        Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    };
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution.error.contains(
            "cannot map over `x`: the list is in the blob store (200000 bytes, above the inline limit)"
        ),
        "{}",
        execution.error
    );
    assert_eq!(f.phase(&id, "m"), NodePhase::Failed);
}
