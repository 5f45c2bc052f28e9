//! The gate kind: it waits, a signal of its type continues it, a bad one is
//! refused and changes nothing, the timeout continues or fails it, and a
//! recovery does not ask again.

use std::collections::BTreeMap;

use baton_model::Value;

use super::Fixture;
use crate::state::{Command, Effect, ExecutionId, ExecutionPhase, NodePhase, Response};

/// `approve` waits at `ask` for `x` (and an optional `note`) between two
/// `inc`s; `approve-or-default` continues with x = 100 after 10 s;
/// `approve-or-fail` fails after 10 s.
const GATES: &str = r#"
kind: Workflow
name: approve
version: v1
interface: {inputs: {n: int}, outputs: {x: int, note: string}}
nodes:
  - {id: pre, task: inc@v1, inputs: {x: "${inputs.n}"}}
  - id: ask
    gate:
      inputs: {x: "${pre.x}"}
      signal: {x: int, note: {type: string, default: none}}
  - {id: post, task: inc@v1, inputs: {x: "${ask.x}"}}
outputs: {x: "${post.x}", note: "${ask.note}"}
---
kind: Workflow
name: approve-or-default
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
nodes:
  - {id: pre, task: inc@v1, inputs: {x: "${inputs.n}"}}
  - id: ask
    gate:
      inputs: {x: "${pre.x}"}
      signal: {x: int}
      timeout: 10s
      on_timeout: {signal: {x: 100}}
  - {id: post, task: inc@v1, inputs: {x: "${ask.x}"}}
outputs: {x: "${post.x}"}
---
kind: Workflow
name: approve-or-fail
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
nodes:
  - {id: pre, task: inc@v1, inputs: {x: "${inputs.n}"}}
  - id: ask
    gate:
      inputs: {x: "${pre.x}"}
      signal: {x: int}
      timeout: 10s
  - {id: post, task: inc@v1, inputs: {x: "${ask.x}"}}
outputs: {x: "${post.x}"}
---
kind: Workflow
name: approve-higher
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
nodes:
  - {id: pre, task: inc@v1, inputs: {x: "${inputs.n}"}}
  - id: ask
    gate:
      inputs: {x: "${pre.x}"}
      signal: {x: int}
      check: "x > inputs.x"
  - {id: post, task: inc@v1, inputs: {x: "${ask.x}"}}
outputs: {x: "${post.x}"}
"#;

fn signal(f: &mut Fixture, id: &ExecutionId, path: &str, values: &[(&str, Value)]) -> Response {
    let node = f.instance(id, path);
    let now_ms = f.now;
    f.apply(Command::Signal {
        execution: id.clone(),
        node,
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        now_ms,
    })
}

fn timed_out(f: &mut Fixture, id: &ExecutionId, now_ms: u64) -> Response {
    let node = f.instance(id, "ask");
    let attempt = f.state.execution(id).unwrap().nodes[node as usize].attempt;
    f.apply(Command::GateTimedOut {
        execution: id.clone(),
        node,
        attempt,
        now_ms,
    })
}

/// The deadline of every gate that started waiting since the last call.
fn deadlines(f: &mut Fixture) -> Vec<u64> {
    f.effects
        .drain(..)
        .filter_map(|e| match e {
            Effect::GateWaiting { deadline_ms, .. } => Some(deadline_ms),
            _ => None,
        })
        .collect()
}

fn rejected(response: Response) -> String {
    match response {
        Response::Rejected(e) => e.to_string(),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_gate_waits_and_a_signal_of_its_type_continues_it() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve", &[("n", 1)]);
    f.run_inc(&id, "pre");
    assert_eq!(f.phase(&id, "ask"), NodePhase::Running);
    let node = f.instance(&id, "ask");
    let execution = f.state.execution(&id).unwrap();
    assert!(execution.nodes[node as usize].executor.is_empty());
    // It shows what it was given, and without a timeout watches no deadline.
    let shown = f.state.node_inputs(execution, node).unwrap();
    assert_eq!(shown.get("x"), Some(&Value::Int(2)));
    assert!(deadlines(&mut f).is_empty());
    assert!(f.queued(&id).is_empty(), "nothing runs past the gate");
    f.check(&id);

    assert_eq!(
        signal(&mut f, &id, "ask", &[("x", Value::Int(5))]),
        Response::Done
    );
    let execution = f.state.execution(&id).unwrap();
    let ask = &execution.nodes[node as usize];
    assert_eq!(ask.phase, NodePhase::Succeeded);
    assert_eq!(ask.outputs.get("x"), Some(&Value::Int(5)));
    assert_eq!(
        ask.outputs.get("note"),
        Some(&Value::String("none".into())),
        "a field left out takes its default"
    );
    assert_eq!(f.queued(&id), vec!["post"]);
    f.run_inc(&id, "post");
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(execution.outputs.get("x"), Some(&Value::Int(6)));
    f.check(&id);

    let again = rejected(signal(&mut f, &id, "ask", &[("x", Value::Int(7))]));
    assert!(again.contains("not waiting for a signal"), "{again}");
}

#[test]
fn a_bad_signal_is_refused_by_name_and_changes_nothing() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve", &[("n", 1)]);
    f.run_inc(&id, "pre");
    let before = f.state.execution(&id).unwrap().clone();
    let cases: [(&[(&str, Value)], &str); 4] = [
        (
            &[("x", Value::String("five".into()))],
            "signal field `x` (int): expected int, got a string",
        ),
        (
            &[("x", Value::Int(1)), ("y", Value::Int(2))],
            "the signal has no field `y`; it carries note (string), x (int)",
        ),
        (
            &[("note", Value::String("hi".into()))],
            "the signal lacks field `x` (int)",
        ),
        (
            &[("x", Value::List(vec![Value::Int(1)]))],
            "expected int, got a list",
        ),
    ];
    for (values, says) in cases {
        let why = rejected(signal(&mut f, &id, "ask", values));
        assert!(why.contains(says), "{why}\nshould say: {says}");
        assert!(why.contains("gate `ask`"), "{why}");
    }
    let after = f.state.execution(&id).unwrap();
    assert_eq!(
        after.nodes, before.nodes,
        "a refused signal changes nothing"
    );
    assert_eq!(after.events.len(), before.events.len());

    // A task node takes no signal; a gate that has not started does not wait.
    let why = rejected(signal(&mut f, &id, "post", &[("x", Value::Int(1))]));
    assert!(
        why.contains("node `post`") && why.contains("is not a gate"),
        "{why}"
    );
    let early = f.launch("approve", &[("n", 1)]);
    let why = rejected(signal(&mut f, &early, "ask", &[("x", Value::Int(1))]));
    assert!(why.contains("has not started waiting"), "{why}");
}

#[test]
fn a_signal_must_meet_the_gates_check() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve-higher", &[("n", 1)]);
    f.run_inc(&id, "pre");
    let why = rejected(signal(&mut f, &id, "ask", &[("x", Value::Int(2))]));
    assert!(
        why.contains("the signal does not meet the gate's check `x > inputs.x`"),
        "{why}"
    );
    assert_eq!(f.phase(&id, "ask"), NodePhase::Running);
    assert_eq!(
        signal(&mut f, &id, "ask", &[("x", Value::Int(3))]),
        Response::Done
    );
    let why = f.refused(
        r#"
kind: Workflow
name: bad-check
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
nodes:
  - id: ask
    gate: {inputs: {n: "${inputs.n}"}, signal: {x: int}, check: "len(nope) > 0"}
outputs: {x: "${ask.x}"}
"#,
    );
    assert!(why.contains("node `ask` gate.check"), "{why}");
    assert!(why.contains("nope"), "{why}");
}

#[test]
fn at_its_deadline_a_gate_continues_with_its_on_timeout_signal() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve-or-default", &[("n", 1)]);
    f.effects.clear();
    f.run_inc(&id, "pre");
    let deadline = deadlines(&mut f);
    let node = f.instance(&id, "ask");
    let started = f.state.execution(&id).unwrap().nodes[node as usize].started_at_ms;
    assert_eq!(deadline, vec![started + 10_000]);
    // The leader's clock may be behind the deadline it was told of: ignored.
    assert!(matches!(
        timed_out(&mut f, &id, deadline[0] - 1),
        Response::Ignored(_)
    ));
    assert_eq!(f.phase(&id, "ask"), NodePhase::Running);
    assert_eq!(timed_out(&mut f, &id, deadline[0]), Response::Done);
    let ask = &f.state.execution(&id).unwrap().nodes[node as usize];
    assert_eq!(ask.phase, NodePhase::Succeeded);
    assert_eq!(ask.outputs.get("x"), Some(&Value::Int(100)));
    let events = &f.state.execution(&id).unwrap().events;
    assert!(events
        .iter()
        .any(|e| e.message.contains("timed out after 10s: continued")));
    f.queued(&id);
    f.run_inc(&id, "post");
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.outputs.get("x"), Some(&Value::Int(101)));
    // A late timeout of the same gate changes nothing.
    assert!(matches!(
        timed_out(&mut f, &id, deadline[0] + 5),
        Response::Ignored(_)
    ));
    f.check(&id);
}

#[test]
fn at_its_deadline_a_gate_without_a_default_fails_the_execution() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve-or-fail", &[("n", 1)]);
    f.effects.clear();
    f.run_inc(&id, "pre");
    let deadline = deadlines(&mut f)[0];
    assert_eq!(timed_out(&mut f, &id, deadline + 1), Response::Done);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution
            .error
            .contains("timed out after 10s without a signal"),
        "{}",
        execution.error
    );
    assert_eq!(f.phase(&id, "post"), NodePhase::Skipped);
    f.check(&id);
}

#[test]
fn a_signal_before_the_deadline_wins_and_the_timeout_is_ignored() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve-or-fail", &[("n", 1)]);
    f.effects.clear();
    f.run_inc(&id, "pre");
    let deadline = deadlines(&mut f)[0];
    assert_eq!(
        signal(&mut f, &id, "ask", &[("x", Value::Int(3))]),
        Response::Done
    );
    assert!(matches!(
        timed_out(&mut f, &id, deadline),
        Response::Ignored(_)
    ));
    assert_eq!(f.phase(&id, "ask"), NodePhase::Succeeded);
}

#[test]
fn a_signal_at_or_past_the_deadline_is_refused() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve-or-fail", &[("n", 1)]);
    f.effects.clear();
    f.run_inc(&id, "pre");
    let deadline = deadlines(&mut f)[0];
    let node = f.instance(&id, "ask");
    let response = f.apply(Command::Signal {
        execution: id.clone(),
        node,
        values: BTreeMap::from([("x".to_string(), Value::Int(3))]),
        now_ms: deadline,
    });
    let why = rejected(response);
    assert!(why.contains("timed out at"), "{why}");
    assert_eq!(
        f.phase(&id, "ask"),
        NodePhase::Running,
        "the timeout decides"
    );
}

#[test]
fn a_cancel_ends_a_waiting_gate() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve", &[("n", 1)]);
    f.run_inc(&id, "pre");
    let now_ms = f.now;
    f.apply(Command::Cancel {
        execution: id.clone(),
        now_ms,
    });
    assert_eq!(f.phase(&id, "ask"), NodePhase::Cancelled);
    let why = rejected(signal(&mut f, &id, "ask", &[("x", Value::Int(1))]));
    assert!(why.contains("the execution has ended"), "{why}");
    f.check(&id);
}

#[test]
fn a_recovery_reuses_what_a_gate_was_signalled() {
    let mut f = Fixture::new(GATES);
    let id = f.launch("approve", &[("n", 1)]);
    f.run_inc(&id, "pre");
    signal(&mut f, &id, "ask", &[("x", Value::Int(5))]);
    f.fail(&id, "post", false);
    assert_eq!(
        f.state.execution(&id).unwrap().phase,
        ExecutionPhase::Failed
    );
    let now_ms = f.now;
    let again = match f.apply(Command::Recover {
        from: id.clone(),
        relaunch: false,
        request_id: String::new(),
        now_ms,
    }) {
        Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    };
    let node = f.instance(&again, "ask");
    let ask = &f.state.execution(&again).unwrap().nodes[node as usize];
    assert_eq!(ask.phase, NodePhase::Succeeded, "nobody is asked again");
    assert!(ask.recovered);
    assert_eq!(ask.outputs.get("x"), Some(&Value::Int(5)));
    assert_eq!(f.phase(&again, "post"), NodePhase::Queued);
    f.check(&again);
}

#[test]
fn a_gate_is_checked_at_registration() {
    let mut f = Fixture::new("");
    let why = f.refused(
        r#"
kind: Workflow
name: bad-gate
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
nodes:
  - id: ask
    gate:
      inputs: {x: "${nowhere.x}"}
      signal: {x: int}
  - {id: post, task: inc@v1, inputs: {x: "${ask.y}"}}
outputs: {x: "${post.x}"}
"#,
    );
    assert!(why.contains("node `ask` gate input `x`"), "{why}");
    assert!(why.contains("missing node `nowhere`"), "{why}");
    assert!(why.contains("missing output `y` of node `ask`"), "{why}");
    let why = f.refused(
        r#"
kind: Workflow
name: mistyped
version: v1
interface: {inputs: {n: int}, outputs: {x: string}}
nodes:
  - id: ask
    gate: {inputs: {n: "${inputs.n}"}, signal: {x: int}}
outputs: {x: "${ask.x}"}
"#,
    );
    assert!(why.contains("int") && why.contains("string"), "{why}");
}
