//! The active-learning workload (`--workload al`, not part of `all`): many
//! flavors of one loop at once, as a team running them for many customers
//! would. The loop is the flagship's shape on builtin noop tasks: an
//! iteration of TRAIN → INFER → SELECT (which reads the loop's history of
//! INFER outputs) → LABEL → EVALUATE, 20 iterations, and each flavor a
//! launch plan that swaps SELECT for one of five versions. Every flavor is
//! launched at once over LaunchAndWatch; reported: iterations per second
//! over the whole burst, the launch acknowledgement p50/p99, and the p50/p99
//! of an iteration's latency (the time between one iteration's EVALUATE and
//! the next's, by the leader's clock). Then, unless `--al-python 0`, a few
//! flavors of the real flagship (examples/active-learning, Python on numpy
//! and scikit-learn) at once on pools `train` and `label` of their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use baton_proto::*;
use futures::StreamExt;

use super::{median, milliseconds, percentile, sibling_binary, BenchOptions, Processes};
use crate::client::{CliError, Client};

/// SELECT versions the noop flavors swap in, one per flavor in turn.
const SELECT_VERSIONS: usize = 5;

/// The real flagship's flavors run at once, in this order.
const PYTHON_FLAVORS: [&str; 4] = [
    "al-random",
    "al-least-confidence",
    "al-margin",
    "al-entropy",
];

/// The noop loop, its SELECT versions and one launch plan per flavor.
fn noop_specs(flavors: usize, iterations: u32) -> String {
    let mut text = String::new();
    let task = |name: &str, version: &str, inputs: &str, outputs: &str| {
        format!(
            "kind: Task\nname: {name}\nversion: {version}\ninterface: {{inputs: {{{inputs}}}, outputs: {{{outputs}}}}}\nrunner: {{builtin: noop}}\n---\n"
        )
    };
    text += &task("alb-train", "v1", "labeled: int, seed: int", "labeled: int");
    text += &task("alb-infer", "v1", "labeled: int", "labeled: int");
    for v in 0..SELECT_VERSIONS {
        text += &task(
            "alb-select",
            &format!("s{v}"),
            "labeled: int, past: list<int>, batch: int",
            "batch: int",
        );
    }
    text += &task(
        "alb-label",
        "v1",
        "labeled: int, batch: int",
        "labeled: int",
    );
    text += &task("alb-evaluate", "v1", "labeled: int", "labeled: int");
    text += r#"kind: Workflow
name: alb-iteration
version: v1
interface: {inputs: {labeled: int, batch: int, seed: int}, outputs: {probs: int, labeled_next: int}}
nodes:
  - {id: train, task: alb-train@v1, inputs: {labeled: "${inputs.labeled}", seed: "${inputs.seed}"}}
  - {id: infer, task: alb-infer@v1, inputs: {labeled: "${train.labeled}"}}
  - {id: select, task: alb-select@s0, inputs: {labeled: "${infer.labeled}", past: "${history.probs}", batch: "${inputs.batch}"}}
  - {id: label, task: alb-label@v1, inputs: {labeled: "${inputs.labeled}", batch: "${select.batch}"}}
  - {id: evaluate, task: alb-evaluate@v1, inputs: {labeled: "${label.labeled}"}}
outputs: {probs: "${infer.labeled}", labeled_next: "${evaluate.labeled}"}
---
"#;
    text += &format!(
        r#"kind: Workflow
name: alb-loop
version: v1
interface: {{inputs: {{batch: int, seed: int}}, outputs: {{last: int}}}}
nodes:
  - id: iterate
    loop:
      body: alb-iteration@v1
      inputs: {{labeled: 0, batch: "${{inputs.batch}}", seed: "${{inputs.seed}}"}}
      carry: {{labeled: labeled_next}}
      until: "labeled_next < 0"
      max_iterations: {iterations}
outputs: {{last: "${{iterate.labeled_next}}"}}
"#
    );
    for f in 0..flavors {
        text += &format!(
            "---\nkind: LaunchPlan\nname: alb-f{f}\nversion: v1\nworkflow: alb-loop@v1\ninputs: {{batch: {}, seed: {f}}}\noverrides:\n  iterate.select: {{task: alb-select@s{}}}\n",
            f % 10 + 1,
            f % SELECT_VERSIONS
        );
    }
    text
}

/// One flavor's run as its event stream showed it.
struct FlavorRun {
    ack_ms: f64,
    /// Each iteration's latency: from the loop's start (iteration 0) or
    /// the previous iteration's EVALUATE to this one's, by event times.
    iterations_ms: Vec<f64>,
    execution: String,
}

/// Launches plan `plan` (pinned to `pool` when not empty) and follows it to
/// its end; `last_node` is the body node whose success ends an iteration.
async fn run_flavor(
    mut admin: admin_client::AdminClient<tonic::transport::Channel>,
    plan: String,
    pool: String,
    request_id: String,
    last_node: &'static str,
) -> Result<FlavorRun, CliError> {
    let start = Instant::now();
    let request = LaunchRequest {
        launch_plan: Some(Identifier {
            name: plan.clone(),
            ..Default::default()
        }),
        pool,
        request_id,
        ..Default::default()
    };
    let mut stream = admin
        .launch_and_watch(request)
        .await
        .map_err(|s| CliError::Refused(format!("launching {plan}: {}", s.message())))?
        .into_inner();
    let mut ack_ms = None;
    let mut phase = 0;
    let mut execution = String::new();
    let mut loop_started = None;
    let mut ends: Vec<u64> = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.map_err(|s| CliError::Refused(format!("{plan}: {}", s.message())))?;
        ack_ms.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1000.0);
        execution.clone_from(&event.execution_id);
        if event.node_id.is_empty() {
            phase = event.execution_phase;
            continue;
        }
        let succeeded = event.node_phase == NodePhase::NodeSucceeded as i32;
        if event.node_id == "iterate" && event.node_phase == NodePhase::NodeRunning as i32 {
            loop_started = Some(event.time_ms);
        } else if succeeded
            && event.node_id.starts_with("iterate[")
            && event.node_id.ends_with(last_node)
        {
            ends.push(event.time_ms);
        }
    }
    if phase != ExecutionPhase::ExecutionSucceeded as i32 {
        let request = GetExecutionRequest {
            execution_id: execution.clone(),
        };
        let why = match admin.get_execution(request).await {
            Ok(got) => got.into_inner().error,
            Err(status) => status.message().to_owned(),
        };
        return Err(CliError::ExecutionFailed(format!(
            "benchmark execution {execution} ({plan}) did not succeed: {why}"
        )));
    }
    let mut previous = loop_started.unwrap_or_else(|| ends.first().copied().unwrap_or(0));
    let iterations_ms = ends
        .into_iter()
        .map(|end| {
            let took = end.saturating_sub(previous) as f64;
            previous = end;
            took
        })
        .collect();
    Ok(FlavorRun {
        ack_ms: ack_ms.unwrap_or(0.0),
        iterations_ms,
        execution,
    })
}

/// What a burst of flavors measured.
struct Burst {
    iterations_per_s: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    iteration_p50_ms: f64,
    iteration_p99_ms: f64,
    executions: Vec<String>,
}

/// Launches every plan at once and follows each to its end.
async fn burst(
    client: &Client,
    plans: &[String],
    pool: &str,
    last_node: &'static str,
    next_id: &mut impl FnMut() -> String,
) -> Result<Burst, CliError> {
    let start = Instant::now();
    let runs: Vec<_> = plans
        .iter()
        .map(|plan| {
            tokio::spawn(run_flavor(
                client.admin(),
                plan.clone(),
                pool.to_owned(),
                next_id(),
                last_node,
            ))
        })
        .collect();
    let mut flavors = Vec::with_capacity(runs.len());
    for run in runs {
        let run = run
            .await
            .map_err(|e| CliError::Refused(format!("a flavor's task ended: {e}")))??;
        flavors.push(run);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut acks: Vec<f64> = flavors.iter().map(|f| f.ack_ms).collect();
    let mut iterations: Vec<f64> = flavors
        .iter()
        .flat_map(|f| f.iterations_ms.iter().copied())
        .collect();
    acks.sort_by(f64::total_cmp);
    iterations.sort_by(f64::total_cmp);
    if iterations.is_empty() {
        return Err(CliError::Refused(
            "the flavors' event streams showed no iteration".into(),
        ));
    }
    Ok(Burst {
        iterations_per_s: iterations.len() as f64 / elapsed,
        ack_p50_ms: percentile(&acks, 50.0),
        ack_p99_ms: percentile(&acks, 99.0),
        iteration_p50_ms: percentile(&iterations, 50.0),
        iteration_p99_ms: percentile(&iterations, 99.0),
        executions: flavors.into_iter().map(|f| f.execution).collect(),
    })
}

fn register_text(text: &str, dir: &Path, name: &str) -> Result<crate::specs::Specs, CliError> {
    let path = dir.join(name);
    std::fs::write(&path, text)
        .map_err(|e| CliError::Refused(format!("cannot write {}: {e}", path.display())))?;
    crate::specs::read_specs(&[path])
}

pub(super) async fn al(
    client: &mut Client,
    processes: &mut Processes,
    dir: &Path,
    addresses: &str,
    options: &BenchOptions,
    next_id: &mut impl FnMut() -> String,
    result: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), CliError> {
    let flavors = options.al_flavors;
    let specs = register_text(
        &noop_specs(flavors, options.al_iterations),
        dir,
        "al-noop.yaml",
    )?;
    crate::specs::register(client, specs, true).await?;
    let plans: Vec<String> = (0..flavors).map(|f| format!("alb-f{f}")).collect();
    let mut runs = Vec::new();
    for _ in 0..options.runs {
        runs.push(burst(client, &plans, "", "evaluate", next_id).await?);
    }
    let pick = |f: fn(&Burst) -> f64| median(runs.iter().map(f).collect());
    result.insert("al_flavors".into(), flavors.into());
    result.insert("al_iterations".into(), options.al_iterations.into());
    result.insert(
        "al_iterations_per_s".into(),
        pick(|b| b.iterations_per_s).round().into(),
    );
    result.insert(
        "al_launch_ack_p50_ms".into(),
        milliseconds(pick(|b| b.ack_p50_ms)),
    );
    result.insert(
        "al_launch_ack_p99_ms".into(),
        milliseconds(pick(|b| b.ack_p99_ms)),
    );
    result.insert(
        "al_iteration_p50_ms".into(),
        milliseconds(pick(|b| b.iteration_p50_ms)),
    );
    result.insert(
        "al_iteration_p99_ms".into(),
        milliseconds(pick(|b| b.iteration_p99_ms)),
    );
    if options.al_python > 0 {
        python(client, processes, dir, addresses, options, next_id, result).await?;
    }
    Ok(())
}

/// The real flagship: `options.al_python` of its flavors at once, on
/// executors of pools `al-python` (the unpinned nodes: the launch's pool),
/// `train` and `label`, started in a directory holding the examples.
async fn python(
    client: &mut Client,
    processes: &mut Processes,
    dir: &Path,
    addresses: &str,
    options: &BenchOptions,
    next_id: &mut impl FnMut() -> String,
    result: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), CliError> {
    let python_bin = crate::demo::find_python()?;
    let work = dir.join("al-python");
    let specs = crate::embedded::write_examples(&work)
        .map_err(|e| CliError::Refused(format!("cannot write the examples: {e}")))?;
    let path = match &python_bin {
        Some(bin) => format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        None => std::env::var("PATH").unwrap_or_default(),
    };
    let executor = sibling_binary("baton-executor")?;
    for (pool, workers) in [("al-python", 2), ("train", 1), ("label", 1)] {
        let log = std::fs::File::create(dir.join(format!("executor-{pool}.log")))
            .map_err(|e| CliError::Refused(format!("cannot create a log file: {e}")))?;
        let child = Command::new(&executor)
            .args(["--scheduler", addresses, "--pool", pool])
            .args(["--id", &format!("bench-{pool}")])
            .args(["--workers", &workers.to_string()])
            .arg("--work-dir")
            .arg(work.join(format!("executor-{pool}")))
            .current_dir(&work)
            .env("PATH", &path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| CliError::Refused(format!("cannot start an executor: {e}")))?;
        processes.children.push(child);
    }
    let specs: Vec<PathBuf> = specs;
    crate::specs::register(client, crate::specs::read_specs(&specs)?, true).await?;
    let count = options.al_python.min(PYTHON_FLAVORS.len());
    let plans: Vec<String> = PYTHON_FLAVORS[..count]
        .iter()
        .map(|p| p.to_string())
        .collect();
    let run = burst(client, &plans, "al-python", "evaluate", next_id).await?;
    let mut accuracy = serde_json::Map::new();
    for (plan, id) in plans.iter().zip(&run.executions) {
        let execution = crate::commands::fetch_execution(client, id).await?;
        let value = execution
            .outputs
            .get("accuracy")
            .and_then(|v| baton_model::Value::try_from(v).ok())
            .map(|v| v.to_json())
            .unwrap_or_default();
        accuracy.insert(plan.clone(), value);
    }
    result.insert("al_python_flavors".into(), count.into());
    result.insert(
        "al_python_iterations_per_s".into(),
        ((run.iterations_per_s * 1000.0).round() / 1000.0).into(),
    );
    result.insert(
        "al_python_launch_ack_p99_ms".into(),
        milliseconds(run.ack_p99_ms),
    );
    result.insert(
        "al_python_iteration_p50_ms".into(),
        milliseconds(run.iteration_p50_ms),
    );
    result.insert(
        "al_python_iteration_p99_ms".into(),
        milliseconds(run.iteration_p99_ms),
    );
    result.insert("al_python_accuracy".into(), accuracy.into());
    Ok(())
}
