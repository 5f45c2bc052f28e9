//! Bad launches and registrations are refused and change nothing;
//! registered versions never change.

use super::*;

#[test]
fn bad_launches_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    let before = h.state.executions.len();
    let cases = [
        (
            "nosuch",
            Values::from([("n".to_string(), Value::Int(1))]),
            "unknown workflow",
        ),
        ("diamond", Values::new(), "missing required input `n` (int)"),
        (
            "diamond",
            Values::from([("n".to_string(), Value::String("x".into()))]),
            "input `n` (int): expected int",
        ),
        (
            "diamond",
            Values::from([
                ("n".to_string(), Value::Int(1)),
                ("m".to_string(), Value::Int(1)),
            ]),
            "unknown input `m`",
        ),
    ];
    for (workflow, inputs, expected) in cases {
        let now_ms = h.now;
        let workflow = Identifier::parse(workflow).unwrap();
        match h.apply(Command::Launch {
            workflow,
            inputs,
            pool: String::new(),
            request_id: String::new(),
            now_ms,
        }) {
            Response::Rejected(e) => {
                assert!(e.message.contains(expected), "{} vs {expected}", e.message)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(h.state.executions.len(), before);
    assert_eq!(h.state.launches, 0);
}

#[test]
fn registered_versions_never_change() {
    let mut h = Harness::new();
    assert!(
        matches!(h.apply(register_command(SPECS)), Response::Registered(items) if items.iter().all(|(_, _, created)| !created))
    );
    let changed = SPECS.replacen("retries: 2", "retries: 3", 1);
    match h.apply(register_command(&changed)) {
        Response::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::AlreadyExists);
            assert!(
                e.message
                    .contains("task `default/development/square@v1` is already registered"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.state
            .tasks
            .values()
            .find(|t| t.id.name == "square")
            .unwrap()
            .retries,
        2
    );
}

#[test]
fn a_request_with_one_bad_workflow_registers_nothing() {
    let mut state = SchedulerState::default();
    let text = format!(
        "{SPECS}---\nkind: Workflow\nname: broken\nnodes: [{{id: a, task: nothing@v9, inputs: {{}}}}]\n"
    );
    match state.apply_one(register_command(&text), &mut Vec::new()) {
        Response::Rejected(e) => assert!(
            e.message
                .contains("unknown task `default/development/nothing@v9`"),
            "{}",
            e.message
        ),
        other => panic!("{other:?}"),
    }
    assert!(state.tasks.is_empty() && state.workflows.is_empty());
}

#[test]
fn unknown_builtins_are_refused() {
    let mut state = SchedulerState::default();
    let text = "kind: Task\nname: t\nrunner: {builtin: teleport}\n";
    match state.apply_one(register_command(text), &mut Vec::new()) {
        Response::Rejected(e) => assert!(
            e.message.contains("unknown builtin `teleport`"),
            "{}",
            e.message
        ),
        other => panic!("{other:?}"),
    }
}
