//! The logs workload (`--workload logs`, not part of `all`): many process
//! tasks that each print a lot, then how much of it reached the schedulers.
//! Logs stay on the executor, so every replica's heap and data directory
//! (Raft log segments and snapshots) should hold next to nothing of it.

use std::path::Path;

use baton_proto::*;

use super::specs::workflow_of;
use super::{launch_and_wait, milliseconds, node_statuses, BenchOptions};
use crate::client::{CliError, Client};

/// Bytes each task prints.
pub const BYTES_PER_TASK: usize = 100 * 1024;

fn chatty_task() -> TaskSpec {
    TaskSpec {
        id: Some(Identifier {
            name: "bench-chatty".into(),
            version: "v1".into(),
            ..Default::default()
        }),
        interface: Some(Interface::default()),
        runner: Some(Runner {
            kind: Some(runner::Kind::Process(ProcessRunner {
                command: [
                    "sh",
                    "-c",
                    &format!(
                        r#"head -c {BYTES_PER_TASK} /dev/zero | tr '\0' x; echo '{{}}' > "$BATON_OUTPUTS""#
                    ),
                ]
                .map(String::from)
                .to_vec(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    }
}

/// Total size of the files under `dir`.
fn size_of_dir(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => size_of_dir(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

pub(super) async fn logs(
    client: &mut Client,
    dir: &Path,
    addresses: &str,
    options: &BenchOptions,
    result: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), CliError> {
    let register = RegisterRequest {
        tasks: vec![chatty_task()],
        workflows: vec![workflow_of("bench-logs", "bench-chatty", options.log_tasks)],
        launch_plans: Vec::new(),
    };
    client
        .call(register, |mut a, r| async move { a.register(r).await })
        .await?;
    let elapsed = launch_and_wait(client, "bench-logs", "logs".into())
        .await?
        .total;
    // Each node's own view of its heap.
    let heaps: Vec<u64> = node_statuses(addresses)
        .await?
        .iter()
        .map(|s| s.heap_bytes)
        .collect();
    let data_dirs: Vec<u64> = (1..=options.nodes)
        .map(|i| size_of_dir(&dir.join(format!("node-{i}"))))
        .collect();
    let printed = (options.log_tasks * BYTES_PER_TASK) as u64;
    result.insert("log_tasks".into(), options.log_tasks.into());
    result.insert("log_bytes_printed".into(), printed.into());
    result.insert("log_seconds".into(), milliseconds(elapsed.as_secs_f64()));
    result.insert(
        "log_executor_work_dir_bytes".into(),
        size_of_dir(&dir.join("executor")).into(),
    );
    result.insert(
        "log_max_replica_heap_bytes".into(),
        heaps.iter().copied().max().unwrap_or(0).into(),
    );
    result.insert(
        "log_max_replica_data_dir_bytes".into(),
        data_dirs.iter().copied().max().unwrap_or(0).into(),
    );
    Ok(())
}
