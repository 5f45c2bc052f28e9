//! `baton demo`: the active-learning flagship (`examples/active-learning`)
//! on an embedded cluster. Two flavors of one loop workflow, random and
//! margin sampling (two launch plans), run side by side, TRAIN on pool
//! `train` and LABEL on pool `label`; each iteration is shown as it ends,
//! then both learning curves as a table and a chart, and the commands to
//! do the same by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_proto::*;
use serde_json::json;

use crate::client::{CliError, Client};
use crate::commands::{self, Output};
use crate::embedded::{self, EmbeddedOptions};

/// The flavors the demo runs: (launch plan, strategy shown).
const FLAVORS: [(&str, &str); 2] = [("al-random", "random"), ("al-margin", "margin")];

/// One flavor's learning curve: (labels trained on, test accuracy) per iteration.
type Curve = Vec<(i64, f64)>;

pub async fn demo(workers: u32, output: Output) -> Result<(), CliError> {
    let python = find_python()?;
    let dir = tempfile::Builder::new()
        .prefix("baton-demo-")
        .tempdir()
        .map_err(|e| CliError::Refused(format!("cannot create a temporary directory: {e}")))?;
    let specs = embedded::write_examples(dir.path())
        .map_err(|e| CliError::Refused(format!("cannot write the examples: {e}")))?;
    if let Some(bin) = python {
        // The executors' task processes inherit this PATH; nothing else
        // runs yet, so no thread reads the environment meanwhile.
        let path = std::env::var("PATH").unwrap_or_default();
        std::env::set_var("PATH", format!("{}:{path}", bin.display()));
    }
    // Process tasks name their scripts relative to the working directory.
    std::env::set_current_dir(dir.path())
        .map_err(|e| CliError::Refused(format!("cannot enter {}: {e}", dir.path().display())))?;
    eprintln!(
        "baton demo: a one-node scheduler and three executor pools (default: {workers} workers, train: 1, label: 1) in {}",
        dir.path().display()
    );
    let embedded = embedded::start(EmbeddedOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        workers,
        lease: Duration::from_secs(10),
        pool: "default".into(),
        more_pools: vec![("train".into(), 1), ("label".into(), 1)],
    })
    .await
    .map_err(|e| CliError::Refused(format!("cannot start the embedded cluster: {e:#}")))?;
    let result = run(&embedded.address, &specs, output).await;
    embedded.stop().await;
    result
}

/// Where a python3 with numpy and scikit-learn is: `None` if the one on
/// PATH has them, else the `bin` of a `.venv` above the working directory
/// or this executable (scripts/setup.sh makes one at the repository root).
pub(crate) fn find_python() -> Result<Option<PathBuf>, CliError> {
    let has_packages = |python: &Path| {
        std::process::Command::new(python)
            .args(["-c", "import numpy, sklearn"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_packages(Path::new("python3")) {
        return Ok(None);
    }
    let starts = [
        std::env::current_dir().ok(),
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf)),
    ];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let bin = dir.join(".venv/bin");
            if has_packages(&bin.join("python3")) {
                return Ok(Some(bin));
            }
        }
    }
    Err(CliError::Refused(
        "baton demo runs the active-learning example, whose tasks need python3 with numpy and scikit-learn: \
         run ./scripts/setup.sh (it installs them into .venv at the repository root), then run the demo from \
         the repository (./scripts/demo), or put such a python3 first in PATH"
            .into(),
    ))
}

async fn run(address: &str, specs: &[PathBuf], output: Output) -> Result<(), CliError> {
    let mut client = Client::connect(address, false, Duration::from_secs(15)).await?;
    let request = crate::specs::read_specs(specs)?;
    crate::specs::register(&mut client, request, true).await?;
    let mut ids = Vec::new();
    for (plan, _) in FLAVORS {
        let launched = commands::launch(
            &mut client,
            plan,
            &[],
            None,
            true,
            CacheMode::CacheUse,
            &Default::default(),
        )
        .await?;
        eprintln!("launched {plan} as {}", launched.execution_id);
        ids.push(launched.execution_id);
    }
    eprintln!("each flavor: TRAIN (pool train) -> INFER -> SELECT -> LABEL (pool label) -> EVALUATE, until 100 labels");
    let mut curves: Vec<Curve> = vec![Vec::new(); FLAVORS.len()];
    let executions = loop {
        let mut finished = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let execution = commands::fetch_execution(&mut client, id).await?;
            let curve = curve_of(&execution);
            for (labels, accuracy) in &curve[curves[i].len()..] {
                let iteration = curves[i].len();
                eprintln!(
                    "  {:<10} iteration {iteration:>2}: {labels:>3} labels, test accuracy {accuracy:.3}",
                    FLAVORS[i].1
                );
                curves[i].push((*labels, *accuracy));
            }
            finished.push(execution);
        }
        let running = finished.iter().any(|e| {
            e.phase == ExecutionPhase::ExecutionRunning as i32
                || e.phase == ExecutionPhase::ExecutionQueued as i32
        });
        if !running {
            break finished;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for execution in &executions {
        commands::succeeded(execution)?;
    }
    match output {
        Output::Json | Output::Yaml => {
            let flavors: Vec<serde_json::Value> = executions
                .iter()
                .zip(&curves)
                .zip(FLAVORS)
                .map(|((e, curve), (plan, strategy))| {
                    json!({
                        "plan": plan,
                        "strategy": strategy,
                        "execution": e.id,
                        "curve": curve.iter().map(|(l, a)| json!({"labels": l, "accuracy": a})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            commands::print_structured(output, &json!({ "flavors": flavors }));
        }
        Output::Text => {
            println!();
            print!("{}", curve_table(&curves));
            println!();
            print!("{}", curve_chart(&curves));
            println!();
            println!("{}", by_hand(&executions));
        }
    }
    Ok(())
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value?.kind.as_ref()? {
        value::Kind::FloatValue(f) => Some(*f),
        value::Kind::IntValue(i) => Some(*i as f64),
        _ => None,
    }
}

/// The iterations whose TRAIN and EVALUATE have succeeded, in order.
fn curve_of(execution: &Execution) -> Curve {
    let by_path: BTreeMap<&str, &NodeStatus> =
        execution.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut curve = Vec::new();
    for i in 0.. {
        let output = |node: &str, name: &str| {
            by_path
                .get(format!("iterate[{i}].{node}").as_str())
                .filter(|n| n.phase == NodePhase::NodeSucceeded as i32)
                .and_then(|n| number(n.outputs.get(name)))
        };
        match (
            output("train", "labels_used"),
            output("evaluate", "accuracy"),
        ) {
            (Some(labels), Some(accuracy)) => curve.push((labels as i64, accuracy)),
            _ => break,
        }
    }
    curve
}

/// Labels used against each flavor's accuracy.
fn curve_table(curves: &[Curve]) -> String {
    let mut text = format!("{:>7}", "labels");
    for (_, strategy) in FLAVORS {
        text += &format!("  {strategy:>8}");
    }
    text.push('\n');
    let mut rows: BTreeMap<i64, Vec<Option<f64>>> = BTreeMap::new();
    for (i, curve) in curves.iter().enumerate() {
        for (labels, accuracy) in curve {
            rows.entry(*labels)
                .or_insert_with(|| vec![None; curves.len()])[i] = Some(*accuracy);
        }
    }
    for (labels, accuracies) in rows {
        text += &format!("{labels:>7}");
        for accuracy in accuracies {
            match accuracy {
                Some(a) => text += &format!("  {a:>8.3}"),
                None => text += &format!("  {:>8}", "-"),
            }
        }
        text.push('\n');
    }
    text
}

/// The curves as a chart: accuracy up, labels across; each flavor's
/// points marked by the first letter of its strategy (`*` where both are).
fn curve_chart(curves: &[Curve]) -> String {
    const ROWS: usize = 12;
    const COLUMN: usize = 4;
    let points: Vec<(i64, f64)> = curves.iter().flatten().copied().collect();
    if points.is_empty() {
        return String::new();
    }
    let low = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let high = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let (low, high) = ((low * 20.0).floor() / 20.0, (high * 20.0).ceil() / 20.0);
    let span = (high - low).max(0.05);
    let mut labels: Vec<i64> = points.iter().map(|p| p.0).collect();
    labels.sort_unstable();
    labels.dedup();
    let mut grid = vec![vec![' '; labels.len() * COLUMN]; ROWS];
    for (i, curve) in curves.iter().enumerate() {
        let mark = FLAVORS[i].1.chars().next().unwrap_or('?');
        for (l, accuracy) in curve {
            let x = labels.iter().position(|v| v == l).unwrap_or(0) * COLUMN + COLUMN / 2;
            let y = (((accuracy - low) / span) * (ROWS - 1) as f64).round() as usize;
            let cell = &mut grid[ROWS - 1 - y.min(ROWS - 1)][x];
            *cell = if *cell == ' ' || *cell == mark {
                mark
            } else {
                '*'
            };
        }
    }
    let mut text = String::from("test accuracy against labels used\n");
    for (r, row) in grid.iter().enumerate() {
        let value = high - span * r as f64 / (ROWS - 1) as f64;
        let axis = if r % 3 == 0 {
            format!("{value:>6.2} |")
        } else {
            format!("{:>6} |", "")
        };
        text += &format!("{axis}{}\n", row.iter().collect::<String>().trim_end());
    }
    text += &format!("{:>6} +{}\n", "", "-".repeat(labels.len() * COLUMN));
    text += &format!("{:>8}", "");
    for l in &labels {
        text += &format!("{l:<COLUMN$}");
    }
    text.push('\n');
    let legend: Vec<String> = FLAVORS
        .iter()
        .map(|(_, s)| format!("{} = {s}", s.chars().next().unwrap_or('?')))
        .collect();
    text += &format!("{:>8}{} (labels)\n", "", legend.join(", "));
    text
}

fn by_hand(executions: &[Execution]) -> String {
    let ids: Vec<&str> = executions.iter().map(|e| e.id.as_str()).collect();
    format!(
        "The demo's cluster is gone with it. To run the flavors by hand, from the repository:
  ./scripts/setup.sh && export PATH=$PWD/.venv/bin:$PATH
  baton dev --examples none &                  # a scheduler and a `default` pool on 127.0.0.1:7070
  baton-executor --pool train --id train-1 &   # the pools TRAIN and LABEL are pinned to
  baton-executor --pool label --id label-1 &
  baton register examples/active-learning/al.yaml examples/active-learning/flavors.yaml
  baton run al-margin --wait                   # one flavor; al-random, al-entropy, al-flips, ...
  baton get al-loop-1                          # every iteration's nodes ({} and {} here)
  baton recover al-loop-1                      # after a failure: re-runs only what did not succeed
See examples/active-learning/README.md.",
        ids.first().copied().unwrap_or("-"),
        ids.get(1).copied().unwrap_or("-"),
    )
}
