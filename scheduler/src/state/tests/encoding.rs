//! The state and the log entries through postcard, and the invariants
//! under any order of commands.

use super::*;

#[test]
fn state_survives_postcard_roundtrip() {
    let mut h = Harness::new();
    let id = h.launch(4);
    let a = h.assign(&id, 0);
    h.complete(&id, 0, a);
    let bytes = postcard_roundtrip(&h.state);
    assert_eq!(bytes.executions[&id], h.state.executions[&id]);
    assert_eq!(
        bytes
            .workflow(&Identifier::parse("diamond").unwrap().with_global_defaults())
            .unwrap()
            .node_index("d"),
        Some(3)
    );
}

#[test]
fn a_shared_entry_is_encoded_like_the_commands_it_holds() {
    // Log entries written before commands were shared must still decode.
    let commands = vec![
        register_command(SPECS),
        Command::Cancel {
            execution: ExecutionId("diamond-1".into()),
            now_ms: 7,
        },
    ];
    let plain = postcard::to_stdvec(&commands).unwrap();
    let shared: Commands = Arc::new(commands);
    assert_eq!(postcard::to_stdvec(&shared).unwrap(), plain);
    let decoded: Commands = postcard::from_bytes(&plain).unwrap();
    assert_eq!(decoded.len(), 2);
    assert_eq!(postcard::to_stdvec(&decoded).unwrap(), plain);
}

#[derive(Clone, Debug)]
enum Op {
    Assign(u32),
    Complete(u32),
    Fail(u32, bool),
    Lose(u32),
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..4).prop_map(Op::Assign),
        4 => (0u32..4).prop_map(Op::Complete),
        1 => ((0u32..4), any::<bool>()).prop_map(|(n, r)| Op::Fail(n, r)),
        1 => (0u32..4).prop_map(Op::Lose),
        1 => Just(Op::Cancel),
    ]
}

proptest! {
    /// Whatever order commands arrive in, no node runs before its upstream
    /// nodes succeeded, and each node's success is recorded at most once.
    #[test]
    fn invariants_hold_under_any_command_order(ops in prop::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        let id = h.launch(1);
        for op in ops {
            let attempt = |h: &Harness, n: u32| h.state.execution(&id).unwrap().nodes[n as usize].attempt;
            match op {
                Op::Assign(n) => {
                    let now_ms = h.now;
                    if let Response::Assigned { .. } = h.apply(Command::Assign { execution: id.clone(), node: n, executor: "x".into(), now_ms }) {
                        let execution = h.state.execution(&id).unwrap();
                        let workflow = h.state.workflow_of(execution).unwrap();
                        for &up in &workflow.nodes[n as usize].upstream {
                            prop_assert_eq!(execution.nodes[up as usize].phase, NodePhase::Succeeded);
                        }
                    }
                }
                Op::Complete(n) => {
                    let a = attempt(&h, n);
                    if h.phase(&id, n) == NodePhase::Running { h.complete(&id, n, a); }
                    else { h.complete(&id, n, a.max(1)); }
                }
                Op::Fail(n, retryable) => { let a = attempt(&h, n); h.fail(&id, n, a, retryable); }
                Op::Lose(n) => {
                    let now_ms = h.now;
                    let a = attempt(&h, n);
                    h.apply(Command::LeaseLost { execution: id.clone(), node: n, attempt: a, now_ms });
                }
                Op::Cancel => { let now_ms = h.now; h.apply(Command::Cancel { execution: id.clone(), now_ms }); }
            }
        }
        let execution = h.state.execution(&id).unwrap();
        for node in 0..4u32 {
            let successes = execution.events.iter().filter(|e| matches!(e.subject, EventSubject::Node { node: n, phase: NodePhase::Succeeded, .. } if n == node)).count();
            prop_assert!(successes <= 1);
        }
        let unfinished = execution.nodes.iter().filter(|n| !n.phase.is_terminal()).count() as u32;
        prop_assert_eq!(execution.phase.is_terminal(), unfinished == 0);
        let problems = crate::engine::invariant::violations(&h.state.registry(), execution);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
