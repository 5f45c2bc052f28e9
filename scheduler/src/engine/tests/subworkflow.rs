//! The sub-workflow kind: a frame of its own under the node's path, its
//! outputs from the called workflow's bindings, failures and cancels
//! through every depth, pins inherited, and the registration checks.

use baton_model::Value;

use super::Fixture;
use crate::state::{Command, Effect, ExecutionPhase, NodePhase};

#[test]
fn a_sub_workflow_runs_under_its_node_path_and_feeds_its_outputs_downstream() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    assert_eq!(f.queued(&id), vec!["pre"]);
    f.run_inc(&id, "pre");
    assert_eq!(f.phase(&id, "sub"), NodePhase::Running);
    assert_eq!(f.queued(&id), vec!["sub.first"], "the frame's first node");
    f.run_inc(&id, "sub.first");
    assert_eq!(f.queued(&id), vec!["sub.second"]);
    f.run_inc(&id, "sub.second");
    assert_eq!(f.phase(&id, "sub"), NodePhase::Succeeded);
    assert_eq!(f.queued(&id), vec!["post"]);
    f.run_inc(&id, "post");
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    // 1 + 1 (pre) + 2 (twice) + 1 (post)
    assert_eq!(execution.outputs["total"], Value::Int(5));
    let sub = f.instance(&id, "sub");
    assert_eq!(execution.nodes[sub as usize].outputs["y"], Value::Int(4));
    assert_eq!(execution.frames.len(), 2);
    f.check(&id);
}

#[test]
fn a_failure_inside_fails_the_sub_workflow_node_and_the_execution_naming_the_path() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    f.run_inc(&id, "pre");
    f.fail(&id, "sub.first", false);
    assert_eq!(f.phase(&id, "sub.first"), NodePhase::Failed);
    assert_eq!(f.phase(&id, "sub"), NodePhase::Failed);
    assert_eq!(f.phase(&id, "sub.second"), NodePhase::Skipped);
    assert_eq!(f.phase(&id, "post"), NodePhase::Skipped);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution.error.contains("node `sub.first` failed: boom"),
        "{}",
        execution.error
    );
    f.check(&id);
}

#[test]
fn a_retryable_failure_inside_is_retried_by_the_task_own_policy() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    f.run_inc(&id, "pre");
    f.fail(&id, "sub.first", true);
    assert_eq!(
        f.phase(&id, "sub.first"),
        NodePhase::Queued,
        "inc has one retry"
    );
    f.run_inc(&id, "sub.first");
    f.run_inc(&id, "sub.second");
    f.run_inc(&id, "post");
    assert_eq!(
        f.state.execution(&id).unwrap().phase,
        ExecutionPhase::Succeeded
    );
}

#[test]
fn cancelling_stops_running_attempts_at_every_depth() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    f.run_inc(&id, "pre");
    let attempt = f.assign(&id, "sub.first");
    let inner = f.instance(&id, "sub.first");
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
    assert_eq!(
        cancels,
        vec![(inner, attempt)],
        "only the task attempt runs anywhere"
    );
    assert_eq!(f.phase(&id, "sub"), NodePhase::Cancelled);
    assert_eq!(f.phase(&id, "sub.first"), NodePhase::Cancelled);
    assert_eq!(f.phase(&id, "sub.second"), NodePhase::Cancelled);
    assert_eq!(f.phase(&id, "post"), NodePhase::Cancelled);
    f.check(&id);
}

#[test]
fn a_pinned_sub_workflow_node_pins_what_runs_inside_it_unless_they_pin_their_own() {
    let mut f = Fixture::new(
        r#"
kind: Workflow
name: pinned-inside
version: v1
interface: {inputs: {x: int}, outputs: {y: int}}
nodes:
  - {id: free, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: own, task: inc@v1, inputs: {x: "${free.x}"}, pool: tpu}
outputs: {y: "${own.x}"}
---
kind: Workflow
name: pinned-outside
version: v1
interface: {inputs: {n: int}, outputs: {y: int}}
nodes:
  - {id: sub, workflow: pinned-inside@v1, inputs: {x: "${inputs.n}"}, pool: gpu}
outputs: {y: "${sub.y}"}
"#,
    );
    let id = f.launch("pinned-outside", &[("n", 1)]);
    let pool_of = |f: &Fixture, path: &str| {
        let node = f.instance(&id, path);
        f.state.execution(&id).unwrap().nodes[node as usize]
            .pool
            .to_string()
    };
    assert_eq!(pool_of(&f, "sub.free"), "gpu");
    assert_eq!(pool_of(&f, "sub.own"), "tpu");
}

#[test]
fn a_path_that_names_no_instance_is_refused_with_what_is_wrong() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    let execution = f.state.execution(&id).unwrap();
    let registry = f.state.registry();
    let resolve = |p: &str| crate::engine::path::resolve(&registry, execution, p).unwrap_err();
    assert!(resolve("nope").contains("no node `nope`"));
    assert!(
        resolve("sub.first").contains("has not started"),
        "{}",
        resolve("sub.first")
    );
    assert!(resolve("pre[2]").contains("takes no index"));
    f.run_inc(&id, "pre");
    let execution = f.state.execution(&id).unwrap();
    let registry = f.state.registry();
    let err = crate::engine::path::resolve(&registry, execution, "sub.third").unwrap_err();
    assert!(err.contains("no node `sub.third`"), "{err}");
}

#[test]
fn a_workflow_that_includes_itself_is_refused_naming_the_chain() {
    let mut f = Fixture::new("");
    let err = f.refused(
        r#"
kind: Workflow
name: ping
version: v1
interface: {inputs: {x: int}}
nodes: [{id: p, workflow: pong@v1, inputs: {x: "${inputs.x}"}}]
---
kind: Workflow
name: pong
version: v1
interface: {inputs: {x: int}}
nodes: [{id: q, workflow: ping@v1, inputs: {x: "${inputs.x}"}}]
"#,
    );
    assert!(
        err.contains("includes itself: default/development/ping@v1 -> default/development/pong@v1 -> default/development/ping@v1"),
        "{err}"
    );
    let err = f.refused(
        r#"
kind: Workflow
name: selfish
version: v1
nodes: [{id: me, workflow: selfish@v1}]
"#,
    );
    assert!(
        err.contains("`default/development/selfish@v1` includes itself"),
        "{err}"
    );
}

#[test]
fn sub_workflow_interfaces_are_type_checked_like_a_task() {
    let mut f = Fixture::new(
        r#"
kind: Task
name: half
version: v1
interface: {inputs: {x: float}, outputs: {y: float}}
runner: {builtin: noop}
"#,
    );
    let err = f.refused(
        r#"
kind: Workflow
name: bad-sub
version: v1
nodes:
  - {id: sub, workflow: twice@v1, inputs: {x: 1, z: 2}}
  - {id: h, task: half@v1, inputs: {x: "${sub.y}"}}
  - {id: k, task: inc@v1, inputs: {x: "${sub.nope}"}}
  - {id: u, workflow: missing@v1}
"#,
    );
    assert!(
        err.contains("node `sub`: workflow `default/development/twice@v1` has no input `z`"),
        "{err}"
    );
    assert!(
        err.contains("node `h` input `x`: type mismatch: expected float, but `${sub.y}` is int"),
        "{err}"
    );
    assert!(
        err.contains("missing output `nope` of node `sub` (workflow"),
        "{err}"
    );
    assert!(
        err.contains("node `u`: unknown workflow `default/development/missing@v1`"),
        "{err}"
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    let mut f = Fixture::new("");
    let mut text = String::from(
        "kind: Workflow\nname: level0\nversion: v1\ninterface: {inputs: {x: int}, outputs: {y: int}}\nnodes: [{id: n, task: inc@v1, inputs: {x: \"${inputs.x}\"}}]\noutputs: {y: \"${n.x}\"}\n",
    );
    for level in 1..=crate::compiler::MAX_NESTING {
        text.push_str(&format!(
            "---\nkind: Workflow\nname: level{level}\nversion: v1\ninterface: {{inputs: {{x: int}}, outputs: {{y: int}}}}\nnodes: [{{id: n, workflow: level{}@v1, inputs: {{x: \"${{inputs.x}}\"}}}}]\noutputs: {{y: \"${{n.y}}\"}}\n",
            level - 1
        ));
    }
    let response = f.apply(crate::state::register_command(&text));
    assert!(
        matches!(response, crate::state::Response::Registered(_)),
        "{response:?}"
    );
    let err = f.refused(&format!(
        "kind: Workflow\nname: too-deep\nversion: v1\nnodes: [{{id: n, workflow: level{}@v1, inputs: {{x: 1}}}}]\n",
        crate::compiler::MAX_NESTING
    ));
    assert!(err.contains("node `n`: workflow"), "{err}");
    assert!(err.contains("the limit is 8"), "{err}");
}

#[test]
fn a_running_sub_workflow_instance_takes_no_attempt_results() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    f.run_inc(&id, "pre");
    let sub = f.instance(&id, "sub");
    let now_ms = f.now;
    // No executor runs it, so no lease of it can be lost, nor can it be completed.
    let lost = f.apply(Command::LeaseLost {
        execution: id.clone(),
        node: sub,
        attempt: 1,
        now_ms,
    });
    assert!(
        matches!(lost, crate::state::Response::Ignored(_)),
        "{lost:?}"
    );
    let completed = f.apply(Command::Complete {
        execution: id.clone(),
        node: sub,
        attempt: 1,
        executor: String::new(),
        outputs: Default::default(),
        log_size: 0,
        now_ms,
    });
    assert!(
        matches!(completed, crate::state::Response::Ignored(_)),
        "{completed:?}"
    );
    assert_eq!(f.phase(&id, "sub"), NodePhase::Running);
    f.check(&id);
}

#[test]
fn a_launch_plan_swaps_the_workflow_a_sub_workflow_node_runs() {
    // `thrice` has `twice`'s interface: the plan runs it at `outer.sub`.
    let mut f = Fixture::new(
        r#"
kind: Workflow
name: thrice
version: v1
interface: {inputs: {x: int}, outputs: {y: int}}
nodes:
  - {id: a, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: b, task: inc@v1, inputs: {x: "${a.x}"}}
  - {id: c, task: inc@v1, inputs: {x: "${b.x}"}}
outputs: {y: "${c.x}"}
---
kind: LaunchPlan
name: outer-thrice
version: v1
workflow: outer@v1
overrides:
  sub: {workflow: thrice@v1}
"#,
    );
    let now_ms = f.now;
    let id = match f.apply(crate::state::Command::LaunchWith {
        workflow: baton_model::Identifier::default(),
        plan: Some(baton_model::Identifier::parse("outer-thrice@v1").unwrap()),
        inputs: baton_model::Values::from([("n".to_string(), baton_model::Value::Int(0))]),
        pool: String::new(),
        request_id: String::new(),
        cache: Default::default(),
        now_ms,
    }) {
        crate::state::Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    };
    for path in ["pre", "sub.a", "sub.b", "sub.c", "post"] {
        f.run_inc(&id, path);
        f.check(&id);
    }
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, crate::state::ExecutionPhase::Succeeded);
    assert_eq!(
        execution.outputs.get("total"),
        Some(&baton_model::Value::Int(5))
    );
}
