//! The loop kind: iterations under `node[i]`, carry, until, max_iterations,
//! the history (inside the body and after the loop), retried iterations,
//! nesting, cancel, and the registration checks.

use baton_model::Value;

use super::Fixture;
use crate::state::{Command, Effect, ExecutionPhase, NodePhase};

/// `counting` adds one to `x` and reports the earlier iterations' `x`;
/// `count` loops it from `start` until `x >= limit`.
const LOOPS: &str = r#"
kind: Workflow
name: counting
version: v1
interface: {inputs: {x: int, limit: int}, outputs: {x: int, past: list<int>}}
nodes:
  - {id: inc, task: inc@v1, inputs: {x: "${inputs.x}"}}
outputs: {x: "${inc.x}", past: "${history.x}"}
---
kind: Workflow
name: count
version: v1
interface: {inputs: {start: int, limit: int}, outputs: {last: int, all: list<int>}}
nodes:
  - id: count
    loop:
      body: counting@v1
      inputs: {x: "${inputs.start}", limit: "${inputs.limit}"}
      carry: {x: x}
      until: "x >= limit"
      max_iterations: 300
outputs: {last: "${count.x}", all: "${count.history.x}"}
"#;

/// Runs every queued `inc` instance, and what they make ready, to the end.
fn drive(f: &mut Fixture, id: &crate::state::ExecutionId) -> usize {
    let mut ran = 0;
    loop {
        let queued = f.queued(id);
        if queued.is_empty() {
            return ran;
        }
        for path in queued {
            f.run_inc(id, &path);
            ran += 1;
        }
    }
}

fn ints(value: &Value) -> Vec<i64> {
    match value {
        Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::Int(n) => *n,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_200_iteration_loop_ends_on_until_with_its_last_value_and_full_history() {
    let mut f = Fixture::new(LOOPS);
    let id = f.launch("count", &[("start", 0), ("limit", 200)]);
    assert_eq!(f.queued(&id), vec!["count[0].inc"]);
    f.run_inc(&id, "count[0].inc");
    assert_eq!(f.queued(&id), vec!["count[1].inc"], "carry: x = 1 goes on");
    f.run_inc(&id, "count[1].inc");
    assert_eq!(drive(&mut f, &id), 198);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(execution.outputs["last"], Value::Int(200));
    assert_eq!(
        ints(&execution.outputs["all"]),
        (1..=200).collect::<Vec<_>>()
    );
    // Inside the body, the history holds the iterations before.
    let last = f.instance(&id, "count");
    assert_eq!(
        ints(&execution.nodes[last as usize].outputs["past"]),
        (1..200).collect::<Vec<_>>()
    );
    assert_eq!(
        f.path(&id, f.instance(&id, "count[57].inc")),
        "count[57].inc"
    );
    assert_eq!(crate::engine::looping::iterations(execution, last), 200);
    f.check(&id);
}

#[test]
fn history_is_stored_once_per_iteration_not_copied() {
    let mut f = Fixture::new(LOOPS);
    let id = f.launch("count", &[("start", 0), ("limit", 50)]);
    drive(&mut f, &id);
    let execution = f.state.execution(&id).unwrap();
    // One stored output set per iteration (its frame's), each of fixed size:
    // x and the `past` list the body bound. Nothing else holds the history.
    let stored: usize = execution
        .frames
        .iter()
        .filter_map(|frame| frame.outputs.as_ref())
        .map(|outputs| outputs.len())
        .sum();
    assert_eq!(stored, 2 * 50);
}

#[test]
fn at_max_iterations_the_loop_succeeds_or_fails_as_on_max_says() {
    let spec = |on_max: &str| {
        format!(
            r#"
kind: Workflow
name: capped-{on_max}
version: v1
interface: {{outputs: {{last: int}}}}
nodes:
  - id: l
    loop: {{body: counting@v1, inputs: {{x: 0, limit: 1000}}, carry: {{x: x}}, until: "x >= limit", max_iterations: 3, on_max: {on_max}}}
outputs: {{last: "${{l.x}}"}}
"#
        )
    };
    let mut f = Fixture::new(&format!("{LOOPS}---{}---{}", spec("succeed"), spec("fail")));
    let ok = f.launch("capped-succeed", &[]);
    assert_eq!(drive(&mut f, &ok), 3);
    let execution = f.state.execution(&ok).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(execution.outputs["last"], Value::Int(3));
    let failed = f.launch("capped-fail", &[]);
    assert_eq!(drive(&mut f, &failed), 3);
    let execution = f.state.execution(&failed).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution
            .error
            .contains("ran its 3 iterations (max_iterations)"),
        "{}",
        execution.error
    );
    f.check(&failed);
}

#[test]
fn a_failed_iteration_runs_again_with_retry_iteration_and_fails_the_loop_without() {
    let retried = r#"
kind: Workflow
name: retried
version: v1
interface: {outputs: {last: int}}
nodes:
  - id: l
    loop: {body: counting@v1, inputs: {x: 0, limit: 3}, carry: {x: x}, until: "x >= limit", max_iterations: 10, retry_iteration: 1}
outputs: {last: "${l.x}"}
"#;
    let mut f = Fixture::new(&format!("{LOOPS}---{retried}"));
    let id = f.launch("retried", &[]);
    f.run_inc(&id, "l[0].inc");
    f.queued(&id);
    // Not retryable: the task's own retries do not apply; the iteration's do.
    f.fail(&id, "l[1].inc", false);
    assert_eq!(f.queued(&id), vec!["l[1].inc"], "iteration 1 runs again");
    assert_eq!(f.phase(&id, "l"), NodePhase::Running);
    f.run_inc(&id, "l[1].inc");
    assert_eq!(drive(&mut f, &id), 1);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(execution.outputs["last"], Value::Int(3));
    // The history counts the iteration once: its successful run.
    let l = f.instance(&id, "l");
    assert_eq!(
        ints(&crate::engine::looping::history_of(execution, l, "x")),
        vec![1, 2, 3]
    );
    f.check(&id);

    // Without retry_iteration, the failure fails the loop and names the path.
    let id = f.launch("count", &[("start", 0), ("limit", 5)]);
    f.run_inc(&id, "count[0].inc");
    f.queued(&id);
    f.fail(&id, "count[1].inc", false);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution.error.contains("node `count[1].inc` failed: boom"),
        "{}",
        execution.error
    );
    assert_eq!(f.phase(&id, "count"), NodePhase::Failed);
    f.check(&id);
}

#[test]
fn a_task_failing_once_inside_an_iteration_is_retried_and_the_loop_goes_on() {
    let mut f = Fixture::new(LOOPS);
    let id = f.launch("count", &[("start", 0), ("limit", 3)]);
    f.run_inc(&id, "count[0].inc");
    f.queued(&id);
    f.fail(&id, "count[1].inc", true);
    assert_eq!(
        f.queued(&id),
        vec!["count[1].inc"],
        "inc has one retry of its own"
    );
    f.run_inc(&id, "count[1].inc");
    drive(&mut f, &id);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(
        execution.frames.len(),
        4,
        "no iteration ran twice: frame 0 and three iterations"
    );
}

#[test]
fn loops_nest_and_are_addressed_by_path() {
    let nested = r#"
kind: Workflow
name: inner-loop
version: v1
interface: {inputs: {x: int, limit: int}, outputs: {x: int}}
nodes:
  - id: inner
    loop: {body: counting@v1, inputs: {x: "${inputs.x}", limit: 2}, carry: {x: x}, until: "len(past) >= 1", max_iterations: 5}
outputs: {x: "${inner.x}"}
---
kind: Workflow
name: outer-loop
version: v1
interface: {outputs: {x: int, all: list<int>}}
nodes:
  - id: outer
    loop: {body: inner-loop@v1, inputs: {x: 0, limit: 6}, carry: {x: x}, until: "x >= limit", max_iterations: 10}
outputs: {x: "${outer.x}", all: "${outer.history.x}"}
"#;
    let mut f = Fixture::new(&format!("{LOOPS}---{nested}"));
    let id = f.launch("outer-loop", &[]);
    assert_eq!(f.queued(&id), vec!["outer[0].inner[0].inc"]);
    f.run_inc(&id, "outer[0].inner[0].inc");
    assert_eq!(f.queued(&id), vec!["outer[0].inner[1].inc"]);
    f.run_inc(&id, "outer[0].inner[1].inc");
    // The inner loop ends after two iterations (x = 2); the outer goes on.
    assert_eq!(f.queued(&id), vec!["outer[1].inner[0].inc"]);
    f.run_inc(&id, "outer[1].inner[0].inc");
    drive(&mut f, &id);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(execution.outputs["x"], Value::Int(6));
    assert_eq!(ints(&execution.outputs["all"]), vec![2, 4, 6]);
    f.check(&id);
}

#[test]
fn cancelling_a_loop_mid_iteration_stops_it_at_every_depth() {
    let mut f = Fixture::new(LOOPS);
    let id = f.launch("count", &[("start", 0), ("limit", 10)]);
    f.run_inc(&id, "count[0].inc");
    f.queued(&id);
    let attempt = f.assign(&id, "count[1].inc");
    let running = f.instance(&id, "count[1].inc");
    f.effects.clear();
    let now_ms = f.now;
    f.apply(Command::Cancel {
        execution: id.clone(),
        now_ms,
    });
    let cancels: Vec<_> = f
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::CancelAttempt { node, attempt, .. } => Some((*node, *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, vec![(running, attempt)]);
    assert_eq!(f.phase(&id, "count"), NodePhase::Cancelled);
    assert_eq!(f.phase(&id, "count[1].inc"), NodePhase::Cancelled);
    assert_eq!(f.phase(&id, "count[0].inc"), NodePhase::Succeeded);
    f.check(&id);
}

#[test]
fn a_loop_path_must_name_an_iteration() {
    let mut f = Fixture::new(LOOPS);
    let id = f.launch("count", &[("start", 0), ("limit", 10)]);
    let execution = f.state.execution(&id).unwrap();
    let registry = f.state.registry();
    let resolve = |p: &str| crate::engine::path::resolve(&registry, execution, p).unwrap_err();
    assert!(resolve("count.inc").contains("is a loop; name an iteration: `count[N].inc`"));
    assert!(resolve("count[4].inc").contains("`count[4]` has not started yet"));
    assert!(resolve("count[0]").contains("names an iteration, not a node"));
}

fn refused(more: &str) -> String {
    let mut f = Fixture::new(LOOPS);
    f.refused(more)
}

fn loop_node(fields: &str) -> String {
    format!(
        "kind: Workflow\nname: bad\nversion: v1\nnodes:\n  - id: al\n    loop: {{body: counting@v1, inputs: {{x: 0, limit: 3}}, {fields}}}\n"
    )
}

#[test]
fn a_carry_must_name_a_body_output_of_the_input_type() {
    let err = refused(&loop_node(
        "carry: {x: nope}, until: \"x > 1\", max_iterations: 3",
    ));
    assert!(
        err.contains("node `al` loop.carry `x: nope`: the body `default/development/counting@v1` has no output `nope`; it offers past, x"),
        "{err}"
    );
    let err = refused(&loop_node(
        "carry: {x: past}, until: \"x > 1\", max_iterations: 3",
    ));
    assert!(
        err.contains("node `al` loop.carry `x: past`: type mismatch: input `x` is int, but output `past` is list<int>"),
        "{err}"
    );
    let err = refused(&loop_node(
        "carry: {y: x}, until: \"x > 1\", max_iterations: 3",
    ));
    assert!(err.contains("has no input `y`; it takes limit, x"), "{err}");
}

#[test]
fn an_until_must_parse_name_known_outputs_and_be_a_bool() {
    let err = refused(&loop_node("until: \"x >=\", max_iterations: 3"));
    assert!(
        err.contains("node `al`, until: \"x >=\": at column 5: expected a value"),
        "{err}"
    );
    let err = refused(&loop_node("until: \"acuracy >= 0.95\", max_iterations: 3"));
    assert!(
        err.contains("node `al`, until: \"acuracy >= 0.95\": at column 1: unknown name `acuracy`; the body offers past, x; the loop takes limit, x"),
        "{err}"
    );
    let err = refused(&loop_node("until: \"len(past)\", max_iterations: 3"));
    assert!(err.contains("the condition is int, not bool"), "{err}");
}

#[test]
fn a_loop_without_max_iterations_is_refused() {
    let err = refused(&loop_node("until: \"outputs.x > 1\""));
    assert!(
        err.contains("node `al`: loop.max_iterations is required"),
        "{err}"
    );
}

#[test]
fn history_names_only_the_workflow_own_outputs() {
    let err = refused(
        "kind: Workflow\nname: h\nversion: v1\ninterface: {outputs: {x: int}}\nnodes:\n  - {id: a, task: inc@v1, inputs: {x: \"${history.y}\"}}\noutputs: {x: \"${a.x}\"}\n",
    );
    assert!(
        err.contains("node `a` input `x`: `${history.y}` names no output of this workflow; a loop body's history holds its own outputs; it offers x"),
        "{err}"
    );
    let err = refused(
        "kind: Workflow\nname: h\nversion: v1\ninterface: {outputs: {x: int}}\nnodes:\n  - {id: a, task: inc@v1, inputs: {x: \"${history.x}\"}}\noutputs: {x: \"${a.x}\"}\n",
    );
    assert!(
        err.contains("expected int, but `${history.x}` is list<int>"),
        "{err}"
    );
}

#[test]
fn interface_names_must_be_identifiers() {
    let err = refused(
        "kind: Task\nname: dotted\nversion: v1\ninterface: {outputs: {history.x: int}}\nrunner: {builtin: noop}\n",
    );
    assert!(
        err.contains("task `default/development/dotted@v1`: output `history.x` is not a name"),
        "{err}"
    );
    let err = refused(
        "kind: Workflow\nname: dashed\nversion: v1\ninterface: {inputs: {top-k: int}}\nnodes: [{id: a, task: inc@v1, inputs: {x: 1}}]\n",
    );
    assert!(err.contains("input `top-k` is not a name"), "{err}");
}

#[test]
fn a_retried_iteration_s_attempts_are_above_the_abandoned_ones() {
    let pair = r#"
kind: Task
name: two
version: v1
interface: {inputs: {a: int, b: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: pair
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: p, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: q, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: r, task: two@v1, inputs: {a: "${p.x}", b: "${q.x}"}}
outputs: {x: "${r.x}"}
---
kind: Workflow
name: pairs
version: v1
interface: {outputs: {x: int}}
nodes:
  - id: l
    loop: {body: pair@v1, inputs: {x: 0}, until: "x >= 0", max_iterations: 3, retry_iteration: 1}
outputs: {x: "${l.x}"}
"#;
    let mut f = Fixture::new(&format!("{LOOPS}---{pair}"));
    let id = f.launch("pairs", &[]);
    f.queued(&id);
    let old_q = f.instance(&id, "l[0].q");
    let old_attempt = f.assign(&id, "l[0].q");
    f.fail(&id, "l[0].p", false);
    // The iteration runs again: the new q takes the old q's path.
    let new_q = f.instance(&id, "l[0].q");
    assert_ne!(new_q, old_q);
    let new_attempt = f.assign(&id, "l[0].q");
    assert!(new_attempt > old_attempt, "{new_attempt} > {old_attempt}");
    // The abandoned attempt's late result names the path and its attempt:
    // it does not count for the new one.
    let now_ms = f.now;
    let late = f.apply(Command::Complete {
        execution: id.clone(),
        node: new_q,
        attempt: old_attempt,
        executor: "x".into(),
        outputs: baton_model::Values::from([("x".to_string(), Value::Int(1))]),
        log_size: 0,
        now_ms,
    });
    assert!(
        matches!(late, crate::state::Response::Ignored(_)),
        "{late:?}"
    );
    assert_eq!(f.phase(&id, "l[0].q"), NodePhase::Running);
    f.check(&id);
}

#[test]
fn a_map_inside_a_retried_iteration_is_abandoned_cleanly() {
    let body = r#"
kind: Workflow
name: mapping-body
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - id: m
    map: {task: inc@v1, over: x, inputs: {x: [1, 2, 3]}, concurrency: 1}
  - {id: after, task: inc@v1, inputs: {x: "${inputs.x}"}}
outputs: {x: "${after.x}"}
---
kind: Workflow
name: mapping-loop
version: v1
interface: {outputs: {x: int}}
nodes:
  - id: l
    loop: {body: mapping-body@v1, inputs: {x: 0}, until: "x >= 0", max_iterations: 2, retry_iteration: 1}
outputs: {x: "${l.x}"}
"#;
    let mut f = Fixture::new(&format!("{LOOPS}---{body}"));
    let id = f.launch("mapping-loop", &[]);
    f.queued(&id);
    f.fail(&id, "l[0].m[0]", false);
    assert_eq!(f.phase(&id, "l"), NodePhase::Running, "retried");
    f.check(&id);
    for path in ["l[0].m[0]", "l[0].after", "l[0].m[1]", "l[0].m[2]"] {
        f.run_inc(&id, path);
    }
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    f.check(&id);
}
