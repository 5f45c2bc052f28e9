//! Where instances run: pin precedence with a project's default pool, and
//! selectors merged across task, workflow, enclosing node and node.

use super::*;
use crate::engine::pool::describe;

const PLACED: &str = r#"
kind: Task
name: on-gpu
version: v1
project: ml
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
pool: gpu
selector: {gpu: a100}
---
kind: Task
name: anywhere
version: v1
project: ml
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: inner
version: v1
project: ml
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: t, task: anywhere@v1, inputs: {x: "${inputs.x}"}, selector: {disk: ssd}}
outputs: {x: "${t.x}"}
---
kind: Workflow
name: placed
version: v1
project: ml
interface: {inputs: {x: int}, outputs: {x: int}}
selector: {zone: b}
nodes:
  - {id: train, task: on-gpu@v1, inputs: {x: "${inputs.x}"}}
  - {id: free, task: anywhere@v1, inputs: {x: "${inputs.x}"}}
  - {id: sub, workflow: inner@v1, inputs: {x: "${inputs.x}"}, pool: cpu, selector: {zone: c}}
outputs: {x: "${train.x}"}
"#;

fn placement(f: &Fixture, id: &ExecutionId, path: &str) -> (String, String) {
    let node = f.instance(id, path);
    let state = &f.state.execution(id).unwrap().nodes[node as usize];
    (
        state.pool.to_string(),
        state.selector.as_deref().map(describe).unwrap_or_default(),
    )
}

fn pair(pool: &str, selector: &str) -> (String, String) {
    (pool.to_owned(), selector.to_owned())
}

#[test]
fn a_task_pool_and_merged_selectors_place_each_instance() {
    let mut f = Fixture::new(PLACED);
    let id = f.launch("ml/placed@v1", &[("x", 1)]);
    assert_eq!(placement(&f, &id, "train"), pair("gpu", "gpu=a100,zone=b"));
    assert_eq!(placement(&f, &id, "free"), pair("default", "zone=b"));
    // The sub-workflow node pins its pool and selector inside it; the inner
    // node's own selector adds to them.
    assert_eq!(placement(&f, &id, "sub.t"), pair("cpu", "disk=ssd,zone=c"));
}

#[test]
fn a_project_default_pool_places_what_nothing_else_pins() {
    let mut f = Fixture::new(PLACED);
    let response = f.apply(Command::SetProject {
        project: "ml".into(),
        default_pool: Some("ml-pool".into()),
        now_ms: 0,
    });
    assert_eq!(response, Response::Done);
    let id = f.launch("ml/placed@v1", &[("x", 1)]);
    assert_eq!(placement(&f, &id, "free").0, "ml-pool");
    assert_eq!(
        placement(&f, &id, "train").0,
        "gpu",
        "the task's pool comes first"
    );
    // Another project keeps `default`.
    let other = f.launch("outer@v1", &[("n", 1)]);
    assert_eq!(placement(&f, &other, "pre").0, "default");
    // The queued effect carries the selector to the dispatcher.
    let selectors: Vec<Option<String>> = f
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::NodeQueued {
                execution,
                selector,
                ..
            } if *execution == id => Some(selector.as_deref().map(describe)),
            _ => None,
        })
        .collect();
    assert!(
        selectors.contains(&Some("gpu=a100,zone=b".into())),
        "{selectors:?}"
    );
}

#[test]
fn a_launch_pool_outranks_workflow_task_and_project() {
    let mut f = Fixture::new(PLACED);
    f.apply(Command::SetProject {
        project: "ml".into(),
        default_pool: Some("ml-pool".into()),
        now_ms: 0,
    });
    let response = f.apply(Command::Launch {
        workflow: Identifier::parse("ml/placed@v1").unwrap(),
        inputs: [("x".to_string(), Value::Int(1))].into(),
        pool: "big".into(),
        request_id: String::new(),
        now_ms: 5,
    });
    let Response::Launched { execution: id, .. } = response else {
        panic!("{response:?}")
    };
    assert_eq!(placement(&f, &id, "train"), pair("big", "gpu=a100,zone=b"));
    assert_eq!(placement(&f, &id, "free").0, "big");
    assert_eq!(
        placement(&f, &id, "sub.t").0,
        "cpu",
        "a node's own pin is above the launch"
    );
}

#[test]
fn bad_pool_and_project_names_are_refused_and_change_nothing() {
    let mut f = Fixture::new("");
    for command in [
        Command::SetProject {
            project: "ml".into(),
            default_pool: Some("gpu pool".into()),
            now_ms: 0,
        },
        Command::SetProject {
            project: "".into(),
            default_pool: Some("gpu".into()),
            now_ms: 0,
        },
        Command::ScalePool {
            pool: "gpu".into(),
            scale: Some(crate::state::pools::Scale::Total(0)),
            now_ms: 0,
        },
    ] {
        let response = f.apply(command);
        assert!(matches!(response, Response::Rejected(_)), "{response:?}");
    }
    assert!(f.state.projects.is_empty());
    assert!(f.state.pools.is_empty());
}
