//! Micro-benchmarks of the pure core: the workflow compiler on a 10,000-node
//! workflow, and the state machine applying the commands of a 10,000-node
//! fan-out (launch, then an assignment and a completion per node, in batches
//! as the proposer would send them).

use std::sync::Arc;

use baton_model::{Identifier, Value, Values};
use baton_scheduler::compiler::compile;
use baton_scheduler::state::{Command, Response, SchedulerState};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const NODES: usize = 10_000;

fn compile_10k(c: &mut Criterion) {
    let task = Arc::new(baton_benches::pass_task());
    let mut group = c.benchmark_group("compile");
    group.throughput(Throughput::Elements(NODES as u64));
    for (name, spec) in [
        ("fan_out_10k", baton_benches::fan_out(NODES)),
        ("chain_10k", baton_benches::chain(NODES)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| compile(spec.clone(), |_| Some(task.clone()), |_| None).expect("compiles"))
        });
    }
    group.finish();
}

fn registered_state() -> SchedulerState {
    registered_fan(NODES)
}

/// A state with the fan-out of `width` nodes registered as `fan@v1`.
fn registered_fan(width: usize) -> SchedulerState {
    let mut state = SchedulerState::default();
    let register = Command::Register {
        tasks: vec![baton_benches::pass_task()],
        workflows: vec![baton_benches::fan_out(width)],
    };
    let response = state.apply_one(register, &mut Vec::new());
    assert!(matches!(response, Response::Registered(_)), "{response:?}");
    state
}

fn run_fan_out(mut state: SchedulerState) -> SchedulerState {
    let mut effects = Vec::new();
    let launch = Command::Launch {
        workflow: Identifier::new("default", "development", "fan", "v1"),
        inputs: Values::new(),
        pool: String::new(),
        request_id: String::new(),
        now_ms: 1,
    };
    let Response::Launched { execution, .. } = state.apply_one(launch, &mut effects) else {
        panic!("launch")
    };
    for chunk in (0..NODES as u32).collect::<Vec<_>>().chunks(1024) {
        let assigns = chunk
            .iter()
            .map(|&node| Command::Assign {
                execution: execution.clone(),
                node,
                executor: "x".into(),
                now_ms: 2,
            })
            .collect();
        apply_all(&mut state, assigns, &mut effects);
        let completes = chunk
            .iter()
            .map(|&node| Command::Complete {
                execution: execution.clone(),
                node,
                attempt: 1,
                executor: "x".into(),
                outputs: Values::from([("x".to_string(), Value::Int(node as i64))]),
                log_size: 0,
                now_ms: 3,
            })
            .collect();
        apply_all(&mut state, completes, &mut effects);
        effects.clear();
    }
    state
}

fn apply_all(
    state: &mut SchedulerState,
    commands: Vec<Command>,
    effects: &mut Vec<baton_scheduler::state::Effect>,
) {
    for command in commands {
        state.apply_one(command, effects);
    }
}

fn apply_fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("state_machine");
    // Per node: one assignment and one completion.
    group.throughput(Throughput::Elements(2 * NODES as u64));
    group.sample_size(10);
    group.bench_function("fan_out_10k_commands", |b| {
        b.iter_batched(registered_state, run_fan_out, BatchSize::LargeInput)
    });
    group.finish();
}

/// The scale run's burst as one log entry: 1,000 launches of a 10-node
/// fan-out, each queueing its ten nodes.
fn apply_launches(c: &mut Criterion) {
    const LAUNCHES: usize = 1000;
    let mut group = c.benchmark_group("state_machine");
    group.throughput(Throughput::Elements(LAUNCHES as u64));
    group.bench_function("launch_1000_ten_node_fans", |b| {
        b.iter_batched(
            || {
                let launches: Vec<Command> = (0..LAUNCHES)
                    .map(|i| Command::Launch {
                        workflow: Identifier::new("default", "development", "fan", "v1"),
                        inputs: Values::new(),
                        pool: String::new(),
                        request_id: format!("launch-{i}"),
                        now_ms: 1,
                    })
                    .collect();
                (registered_fan(10), launches)
            },
            |(mut state, launches)| {
                let mut effects = Vec::new();
                apply_all(&mut state, launches, &mut effects);
                (state, effects)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The dispatcher's decisions: 10,000 ready nodes placed on 4 executors of
/// 64 slots, each slot freed as soon as it is used (as results come back).
fn dispatch_10k(c: &mut Criterion) {
    use baton_scheduler::dispatch::book::{DispatchBook, Joining};
    use baton_scheduler::state::ExecutionId;
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(NODES as u64));
    // One project (the lane-by-lane path) and two competing projects (each
    // slot by share).
    for projects in [1u32, 2] {
        let name = match projects {
            1 => "place_10k_on_4x64_slots",
            _ => "place_10k_on_4x64_slots_two_projects",
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut book = DispatchBook::new(10_000);
                    let pool: std::sync::Arc<str> = "default".into();
                    for e in 0..4 {
                        let id = format!("x{e}");
                        let joining = Joining {
                            id: &id,
                            pool: "default",
                            labels: Default::default(),
                            version: String::new(),
                            slots: 64,
                            max_slots: 64,
                            connection: e,
                        };
                        book.connect(joining, &[], 0);
                    }
                    let execution = ExecutionId("bench-1".into());
                    let names: Vec<std::sync::Arc<str>> =
                        (0..projects).map(|p| format!("p{p}").into()).collect();
                    for node in 0..NODES as u32 {
                        let project = &names[(node % projects) as usize];
                        book.enqueue((execution.clone(), node), &pool, None, project, 0, 0);
                    }
                    book
                },
                |mut book| {
                    let mut placed = 0;
                    while placed < NODES {
                        let placements = book.plan(1);
                        assert!(!placements.is_empty());
                        placed += placements.len();
                        for placement in placements {
                            book.unplace(&placement);
                        }
                    }
                    book
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    compile_10k,
    apply_fan_out,
    apply_launches,
    dispatch_10k
);
criterion_main!(benches);
