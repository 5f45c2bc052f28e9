//! Recovery and relaunch: a recovered execution reuses the outputs of
//! every task instance that succeeded in the one it recovers (inside
//! sub-workflows and loop iterations too) and runs only the rest; a
//! relaunch runs everything; a running or succeeded execution is not
//! recovered.

use super::Fixture;
use crate::state::{Command, ExecutionId, ExecutionPhase, Response};
use baton_model::Value;

const LOOP: &str = r#"
kind: Workflow
name: counting
version: v1
interface: {inputs: {x: int, limit: int}, outputs: {x: int}}
nodes: [{id: inc, task: inc@v1, inputs: {x: "${inputs.x}"}}]
outputs: {x: "${inc.x}"}
---
kind: Workflow
name: count
version: v1
interface: {inputs: {start: int, limit: int}, outputs: {last: int}}
nodes:
  - id: count
    loop:
      body: counting@v1
      inputs: {x: "${inputs.start}", limit: "${inputs.limit}"}
      carry: {x: x}
      until: "x >= limit"
      max_iterations: 50
outputs: {last: "${count.x}"}
"#;

fn recover(f: &mut Fixture, from: &ExecutionId, relaunch: bool) -> Result<ExecutionId, String> {
    let now_ms = f.now;
    match f.apply(Command::Recover {
        from: from.clone(),
        relaunch,
        request_id: String::new(),
        now_ms,
    }) {
        Response::Launched { execution, .. } => Ok(execution),
        Response::Rejected(e) => Err(e.to_string()),
        other => panic!("{other:?}"),
    }
}

fn recovered(f: &Fixture, id: &ExecutionId, path: &str) -> bool {
    let node = f.instance(id, path);
    f.state.execution(id).unwrap().nodes[node as usize].recovered
}

#[test]
fn recovery_runs_only_what_did_not_succeed_inside_a_sub_workflow() {
    let mut f = Fixture::new("");
    let failed = f.launch("outer", &[("n", 1)]);
    f.queued(&failed);
    f.run_inc(&failed, "pre");
    f.run_inc(&failed, "sub.first");
    f.fail(&failed, "sub.second", false);
    f.queued(&failed);
    assert_eq!(
        f.state.execution(&failed).unwrap().phase,
        ExecutionPhase::Failed
    );

    let again = recover(&mut f, &failed, false).unwrap();
    assert_eq!(
        f.queued(&again),
        vec!["sub.second"],
        "only what failed runs"
    );
    assert!(recovered(&f, &again, "pre") && recovered(&f, &again, "sub.first"));
    f.run_inc(&again, "sub.second");
    f.queued(&again);
    f.run_inc(&again, "post");
    let execution = f.state.execution(&again).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(execution.outputs["total"], Value::Int(5));
    let origin = execution.origin.as_ref().unwrap();
    assert_eq!((&origin.from, origin.relaunch), (&failed, false));
    f.check(&again);

    // A relaunch runs everything again.
    let relaunched = recover(&mut f, &failed, true).unwrap();
    assert_eq!(f.queued(&relaunched), vec!["pre"]);
    assert!(!recovered(&f, &relaunched, "pre"));
}

#[test]
fn recovery_reruns_nothing_of_a_succeeded_loop_iteration() {
    let mut f = Fixture::new(LOOP);
    let failed = f.launch("count", &[("start", 0), ("limit", 5)]);
    for i in 0..3 {
        let queued = f.queued(&failed);
        assert_eq!(queued, vec![format!("count[{i}].inc")]);
        f.run_inc(&failed, &queued[0]);
    }
    f.queued(&failed);
    f.fail(&failed, "count[3].inc", false);
    assert_eq!(
        f.state.execution(&failed).unwrap().phase,
        ExecutionPhase::Failed
    );

    let again = recover(&mut f, &failed, false).unwrap();
    assert_eq!(f.queued(&again), vec!["count[3].inc"]);
    for i in 0..3 {
        assert!(
            recovered(&f, &again, &format!("count[{i}].inc")),
            "iteration {i}"
        );
    }
    f.run_inc(&again, "count[3].inc");
    assert_eq!(f.queued(&again), vec!["count[4].inc"]);
    f.run_inc(&again, "count[4].inc");
    let execution = f.state.execution(&again).unwrap();
    assert_eq!(
        execution.phase,
        ExecutionPhase::Succeeded,
        "{}",
        execution.error
    );
    assert_eq!(execution.outputs["last"], Value::Int(5));
    f.check(&again);
}

#[test]
fn only_an_ended_execution_that_did_not_succeed_is_recovered() {
    let mut f = Fixture::new("");
    let running = f.launch("outer", &[("n", 1)]);
    let error = recover(&mut f, &running, false).unwrap_err();
    assert!(error.contains("is still running"), "{error}");
    let unknown = recover(&mut f, &ExecutionId("nothing-1".into()), false).unwrap_err();
    assert!(
        unknown.contains("unknown execution `nothing-1`"),
        "{unknown}"
    );
    f.queued(&running);
    for path in ["pre", "sub.first", "sub.second", "post"] {
        f.run_inc(&running, path);
    }
    let error = recover(&mut f, &running, false).unwrap_err();
    assert!(
        error.contains("succeeded: there is nothing to recover"),
        "{error}"
    );
    // A relaunch of a succeeded one is fine.
    assert!(recover(&mut f, &running, true).is_ok());
}

#[test]
fn recovery_reuses_a_retried_iterations_last_run_only() {
    // `retried`'s iteration runs `a` then `b`; a failed iteration runs once
    // more. Its first run's `a` (an output of 100) is replaced by the
    // second's (2): a recovery reuses the second.
    let mut f = Fixture::new(
        r#"
kind: Workflow
name: two-steps
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: a, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: b, task: inc@v1, inputs: {x: "${a.x}"}}
outputs: {x: "${b.x}"}
---
kind: Workflow
name: retried
version: v1
interface: {inputs: {start: int}, outputs: {x: int}}
nodes:
  - id: l
    loop: {body: two-steps@v1, inputs: {x: "${inputs.start}"}, carry: {x: x}, until: "x > 0", max_iterations: 5, retry_iteration: 1}
outputs: {x: "${l.x}"}
"#,
    );
    let failed = f.launch("retried", &[("start", 1)]);
    let attempt = f.assign(&failed, "l[0].a");
    let node = f.instance(&failed, "l[0].a");
    let now_ms = f.now;
    f.apply(Command::Complete {
        execution: failed.clone(),
        node,
        attempt,
        executor: "x".into(),
        outputs: baton_model::Values::from([("x".to_string(), Value::Int(100))]),
        log_size: 0,
        now_ms,
    });
    f.fail(&failed, "l[0].b", false);
    // The iteration's second run.
    f.run_inc(&failed, "l[0].a");
    f.fail(&failed, "l[0].b", false);
    assert_eq!(
        f.state.execution(&failed).unwrap().phase,
        ExecutionPhase::Failed
    );
    let again = recover(&mut f, &failed, false).unwrap();
    assert!(recovered(&f, &again, "l[0].a"));
    let node = f.instance(&again, "l[0].a");
    assert_eq!(
        f.state.execution(&again).unwrap().nodes[node as usize]
            .outputs
            .get("x"),
        Some(&Value::Int(2)),
        "the last run's output, not the replaced run's"
    );
    f.check(&again);
}
