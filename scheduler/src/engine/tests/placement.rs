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
fn a_launch_pool_holds_for_frames_laid_out_by_later_commands() {
    // `outer`'s sub-workflow starts when `pre` completes: another command
    // than the launch lays its frame out, and the launch's pin still holds.
    let mut f = Fixture::new("");
    let response = f.apply(Command::Launch {
        workflow: Identifier::parse("outer@v1").unwrap(),
        inputs: [("n".to_string(), Value::Int(1))].into(),
        pool: "big".into(),
        request_id: String::new(),
        now_ms: 5,
    });
    let Response::Launched { execution: id, .. } = response else {
        panic!("{response:?}")
    };
    f.run_inc(&id, "pre");
    assert_eq!(placement(&f, &id, "sub.first").0, "big");
    f.run_inc(&id, "sub.first");
    f.run_inc(&id, "sub.second");
    assert_eq!(placement(&f, &id, "post").0, "big");
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
        Command::PrefetchPool {
            pool: "gpu".into(),
            prefetch: crate::state::pools::MAX_PREFETCH + 1,
            now_ms: 0,
        },
        Command::PrefetchPool {
            pool: "bad pool".into(),
            prefetch: 1,
            now_ms: 0,
        },
    ] {
        let response = f.apply(command);
        assert!(matches!(response, Response::Rejected(_)), "{response:?}");
    }
    assert!(f.state.projects.is_empty());
    assert!(f.state.pools.is_empty());
}

#[test]
fn a_pool_prefetch_is_replicated_and_listed_as_an_event() {
    let mut f = Fixture::new(PLACED);
    let prefetch = |n| Command::PrefetchPool {
        pool: "cpu".into(),
        prefetch: n,
        now_ms: 5,
    };
    assert_eq!(f.apply(prefetch(4)), Response::Done);
    let settings = &f.state.pools["cpu"];
    assert_eq!(settings.prefetch, 4);
    assert!(
        settings.events[0].reason.contains("up to 4"),
        "{settings:?}"
    );
    let bytes = postcard::to_stdvec(&f.state.pools).unwrap();
    let back: std::collections::BTreeMap<String, crate::state::pools::PoolSettings> =
        postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back["cpu"].prefetch, 4, "a snapshot keeps it");
    assert_eq!(f.apply(prefetch(0)), Response::Done);
    assert_eq!(f.state.pools["cpu"].prefetch, 0);
    assert_eq!(f.state.pools["cpu"].events.len(), 2);
}

#[test]
fn a_cap_on_running_executions_queues_launches_and_starts_them_in_order() {
    use crate::state::pools::ProjectChange;
    use crate::state::ExecutionPhase;
    let mut f = Fixture::new(PLACED);
    let cap = |max: Option<u32>| Command::ConfigureProject {
        project: "ml".into(),
        change: ProjectChange {
            max_executions: Some(max),
            ..Default::default()
        },
        now_ms: 0,
    };
    assert_eq!(f.apply(cap(Some(1))), Response::Done);
    let first = f.launch("ml/placed@v1", &[("x", 1)]);
    let second = f.launch("ml/placed@v1", &[("x", 2)]);
    let third = f.launch("ml/placed@v1", &[("x", 3)]);
    let phase = |f: &Fixture, id: &ExecutionId| f.state.execution(id).unwrap().phase;
    assert_eq!(phase(&f, &first), ExecutionPhase::Running);
    assert_eq!(
        phase(&f, &second),
        ExecutionPhase::Queued,
        "over the cap: queued, not refused"
    );
    assert_eq!(phase(&f, &third), ExecutionPhase::Queued);
    let why = |f: &Fixture, id: &ExecutionId| {
        f.state
            .waiting_reason(f.state.execution(id).unwrap())
            .unwrap_or_default()
    };
    assert_eq!(
        why(&f, &third),
        "waiting: project ml is at its cap of 1 running executions (1 queued ahead)"
    );
    assert!(
        f.state.execution(&second).unwrap().nodes.is_empty(),
        "nothing of a held launch is laid out"
    );
    // A held launch can be cancelled; it never started.
    let now_ms = f.now;
    f.apply(Command::Cancel {
        execution: third.clone(),
        now_ms,
    });
    assert_eq!(phase(&f, &third), ExecutionPhase::Cancelled);
    f.effects.clear();
    // The first ends: the second starts, and its first nodes queue.
    for path in ["train", "free", "sub.t"] {
        f.run_inc(&first, path);
    }
    assert_eq!(phase(&f, &first), ExecutionPhase::Succeeded);
    assert_eq!(phase(&f, &second), ExecutionPhase::Running);
    assert!(!f.queued(&second).is_empty());
    assert_eq!(f.state.running_executions.get("ml"), Some(&1));
    assert!(f.state.held_launches.is_empty());
    // Without the cap, launches start at once again.
    assert_eq!(f.apply(cap(None)), Response::Done);
    let fourth = f.launch("ml/placed@v1", &[("x", 4)]);
    assert_eq!(phase(&f, &fourth), ExecutionPhase::Running);
    assert_eq!(f.state.running_executions.get("ml"), Some(&2));
}

#[test]
fn raising_the_cap_starts_held_launches() {
    use crate::state::pools::ProjectChange;
    use crate::state::ExecutionPhase;
    let mut f = Fixture::new(PLACED);
    let cap = |max: u32| Command::ConfigureProject {
        project: "ml".into(),
        change: ProjectChange {
            max_executions: Some(Some(max)),
            ..Default::default()
        },
        now_ms: 0,
    };
    f.apply(cap(1));
    let ids: Vec<ExecutionId> = (0..4)
        .map(|x| f.launch("ml/placed@v1", &[("x", x)]))
        .collect();
    f.apply(cap(3));
    let phases: Vec<ExecutionPhase> = ids
        .iter()
        .map(|id| f.state.execution(id).unwrap().phase)
        .collect();
    use ExecutionPhase::*;
    assert_eq!(phases, vec![Running, Running, Running, Queued]);
}

#[test]
fn bad_project_weights_and_caps_are_refused_and_change_nothing() {
    use crate::state::pools::ProjectChange;
    let mut f = Fixture::new("");
    for change in [
        ProjectChange {
            weight: Some(0),
            ..Default::default()
        },
        ProjectChange {
            weight: Some(5_000),
            ..Default::default()
        },
        ProjectChange {
            max_running: vec![("gpu".into(), Some(0))],
            ..Default::default()
        },
        ProjectChange {
            max_running: vec![("bad pool".into(), Some(2))],
            ..Default::default()
        },
        ProjectChange {
            weight: Some(2),
            max_executions: Some(Some(0)),
            ..Default::default()
        },
    ] {
        let response = f.apply(Command::ConfigureProject {
            project: "ml".into(),
            change,
            now_ms: 0,
        });
        assert!(matches!(response, Response::Rejected(_)), "{response:?}");
    }
    assert!(f.state.projects.is_empty(), "all or nothing");
}
