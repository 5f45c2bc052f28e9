//! The workers sweep (`--workload workers`, not part of `all`): the
//! throughput of one pool against its worker count. For each count the pool
//! is resized live (`baton pool scale default --workers N`, as an operator
//! would), then W1's 10,000 noop tasks and a workflow of 10 ms sleeps (100
//! per worker, so every count runs about a second of sleeping per worker)
//! run on it.

use std::time::{Duration, Instant};

use baton_proto::*;

use super::specs::workflow_of;
use super::{launch_and_wait, median, BenchOptions};
use crate::client::{CliError, Client};

/// The worker counts of the sweep.
pub const COUNTS: [u32; 5] = [1, 2, 4, 8, 16];

/// How long the sleep task sleeps.
const SLEEP_SECONDS: f64 = 0.01;

/// Sleep tasks per worker in the sleep workflow of each count.
const SLEEPS_PER_WORKER: usize = 100;

fn sleep_task() -> TaskSpec {
    TaskSpec {
        id: Some(Identifier {
            name: "bench-sleep".into(),
            version: "v1".into(),
            ..Default::default()
        }),
        interface: Some(Interface {
            inputs: vec![Variable {
                name: "seconds".into(),
                r#type: "float".into(),
                default: None,
                description: String::new(),
            }],
            outputs: Vec::new(),
        }),
        runner: Some(Runner {
            kind: Some(runner::Kind::Builtin("sleep".into())),
        }),
        ..Default::default()
    }
}

fn sleep_workflow(workers: u32) -> WorkflowSpec {
    let mut spec = workflow_of(
        &format!("bench-sleep-{workers}"),
        "bench-sleep",
        SLEEPS_PER_WORKER * workers as usize,
    );
    let seconds = Binding {
        kind: Some(binding::Kind::Constant(Value {
            kind: Some(value::Kind::FloatValue(SLEEP_SECONDS)),
        })),
    };
    for node in &mut spec.nodes {
        node.inputs = [("seconds".to_string(), seconds.clone())].into();
    }
    spec
}

/// Resizes the default pool to `workers` and waits until its executor
/// reports that many.
async fn scale_to(client: &mut Client, workers: u32) -> Result<(), CliError> {
    let request = ScalePoolRequest {
        pool: "default".into(),
        workers,
        ..Default::default()
    };
    client
        .call(request, |mut a, r| async move { a.scale_pool(r).await })
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pools = client
            .call(ListPoolsRequest {}, |mut a, r| async move {
                a.list_pools(r).await
            })
            .await?;
        let live = pools
            .pools
            .iter()
            .find(|p| p.name == "default")
            .map_or(0, |p| p.workers);
        if live == workers {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::Refused(format!(
                "the default pool did not reach {workers} workers within 30s (it has {live})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn workers(
    client: &mut Client,
    options: &BenchOptions,
    mut next_id: impl FnMut() -> String,
    result: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), CliError> {
    let register = RegisterRequest {
        tasks: vec![sleep_task()],
        workflows: COUNTS.iter().map(|&n| sleep_workflow(n)).collect(),
        launch_plans: Vec::new(),
    };
    client
        .call(register, |mut a, r| async move { a.register(r).await })
        .await?;
    for workers in COUNTS {
        scale_to(client, workers).await?;
        let mut noop = Vec::new();
        let mut sleep = Vec::new();
        let sleeps = SLEEPS_PER_WORKER * workers as usize;
        for _ in 0..options.runs {
            let elapsed = launch_and_wait(client, "bench-w1", next_id()).await?.total;
            noop.push(options.w1_tasks as f64 / elapsed.as_secs_f64());
            let workflow = format!("bench-sleep-{workers}");
            let elapsed = launch_and_wait(client, &workflow, next_id()).await?.total;
            sleep.push(sleeps as f64 / elapsed.as_secs_f64());
        }
        result.insert(
            format!("workers_{workers}_noop_tasks_per_s"),
            median(noop).round().into(),
        );
        // The ideal is workers / 10 ms: each worker sleeping back to back.
        result.insert(
            format!("workers_{workers}_sleep10ms_tasks_per_s"),
            median(sleep).round().into(),
        );
    }
    // Back to each executor's own --workers for any workload after this one.
    let reset = ScalePoolRequest {
        pool: "default".into(),
        reset: true,
        ..Default::default()
    };
    client
        .call(reset, |mut a, r| async move { a.scale_pool(r).await })
        .await?;
    Ok(())
}
