//! The soak workload (`--workload soak --minutes N`, not part of `all`):
//! launches without pause for N minutes under a short retention
//! (`--soak-retention`, set as the benchmark project's own), and samples
//! every scheduler's resident size, heap and latest snapshot, and the
//! executions the state holds. Under a retention all of them should stay
//! flat once the first executions expire; the report gives each figure's
//! mean over the second quarter of the run and over the last, and the
//! change between them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_proto::*;
use serde_json::json;

use super::specs::workflow;
use super::{launch_and_wait, memory_of, node_statuses, BenchOptions, Processes};
use crate::client::{CliError, Client};

/// Nodes of each soak execution: a chain, so each has a history of events.
const SOAK_NODES: usize = 10;
/// Launches in flight at once.
const LAUNCHERS: usize = 8;

/// One figure of a sample.
type Figure = fn(&Sample) -> u64;

/// One look at the cluster.
struct Sample {
    at_s: f64,
    launched: u64,
    held: usize,
    /// Per scheduler node: resident bytes, heap bytes, snapshot bytes.
    nodes: Vec<(u64, u64, u64)>,
}

pub(super) async fn soak(
    client: &mut Client,
    processes: &Processes,
    addresses: &str,
    options: &BenchOptions,
    result: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), CliError> {
    let register = RegisterRequest {
        workflows: vec![workflow("bench-soak", SOAK_NODES, true)],
        ..Default::default()
    };
    client
        .call(register, |mut a, r| async move { a.register(r).await })
        .await?;
    let retention_ms = options.soak_retention.as_millis() as u64;
    let project = SetProjectRequest {
        project: "default".into(),
        set_retention: true,
        retention_ms,
        ..Default::default()
    };
    client
        .call(project, |mut a, r| async move { a.set_project(r).await })
        .await?;

    let length = Duration::from_secs(options.soak_minutes * 60);
    let gap = (length / 24).max(Duration::from_secs(5));
    let start = Instant::now();
    let launched = Arc::new(AtomicU64::new(0));
    let mut launchers = Vec::new();
    for launcher in 0..LAUNCHERS {
        let mut client = Client::connect(addresses, false, Duration::from_secs(30)).await?;
        let launched = launched.clone();
        launchers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < length {
                n += 1;
                let id = format!("soak-{}-{launcher}-{n}", std::process::id());
                launch_and_wait(&mut client, "bench-soak", id).await?;
                launched.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, CliError>(())
        }));
    }
    let schedulers: Vec<u32> = processes.children[..options.nodes as usize]
        .iter()
        .map(|c| c.id())
        .collect();
    let mut samples = Vec::new();
    loop {
        let next = gap * (samples.len() as u32 + 1);
        let wait = next.saturating_sub(start.elapsed());
        tokio::time::sleep(wait.min(length.saturating_sub(start.elapsed()))).await;
        let sample = sample(client, addresses, &schedulers, start, &launched).await?;
        eprintln!(
            "soak {:>5.0}s: {} launched, {} held; resident {} MiB, snapshot {} KiB (largest node)",
            sample.at_s,
            sample.launched,
            sample.held,
            sample.nodes.iter().map(|n| n.0).max().unwrap_or(0) >> 20,
            sample.nodes.iter().map(|n| n.2).max().unwrap_or(0) >> 10,
        );
        samples.push(sample);
        if start.elapsed() >= length {
            break;
        }
    }
    for launcher in launchers {
        launcher
            .await
            .map_err(|e| CliError::Refused(format!("a soak launcher failed: {e}")))??;
    }
    report(&samples, options, retention_ms, result);
    Ok(())
}

async fn sample(
    client: &mut Client,
    addresses: &str,
    schedulers: &[u32],
    start: Instant,
    launched: &AtomicU64,
) -> Result<Sample, CliError> {
    let listed = client
        .call(
            ListExecutionsRequest { limit: 1_000_000 },
            |mut a, r| async move { a.list_executions(r).await },
        )
        .await?;
    let nodes = node_statuses(addresses)
        .await?
        .iter()
        .zip(schedulers)
        .map(|(status, pid)| {
            (
                memory_of(*pid, "VmRSS"),
                status.heap_bytes,
                status.snapshot_bytes,
            )
        })
        .collect();
    Ok(Sample {
        at_s: start.elapsed().as_secs_f64(),
        launched: launched.load(Ordering::Relaxed),
        held: listed.executions.len(),
        nodes,
    })
}

/// The samples, and each figure's mean over the second quarter of the run
/// (after the warm-up: the first executions have expired by then) and over
/// the last quarter, with the change between them. One sample swings with
/// how many executions wait for the next sweep; a quarter's mean does not.
fn report(
    samples: &[Sample],
    options: &BenchOptions,
    retention_ms: u64,
    result: &mut serde_json::Map<String, serde_json::Value>,
) {
    let quarter = (samples.len() / 4).max(1);
    let after_warmup = &samples[quarter.min(samples.len() - 1)..(2 * quarter).min(samples.len())];
    let at_end = &samples[samples.len() - quarter..];
    let mean = |window: &[Sample], figure: Figure| {
        window.iter().map(figure).sum::<u64>() / window.len().max(1) as u64
    };
    let change = |from: u64, to: u64| {
        if from == 0 {
            serde_json::Value::Null
        } else {
            json!(((to as f64 / from as f64 - 1.0) * 1000.0).round() / 10.0)
        }
    };
    let last = &samples[samples.len() - 1];
    let seconds = last.at_s.max(f64::MIN_POSITIVE);
    result.insert("soak_minutes".into(), options.soak_minutes.into());
    result.insert("soak_retention_ms".into(), retention_ms.into());
    result.insert("soak_launched".into(), last.launched.into());
    result.insert(
        "soak_launches_per_s".into(),
        ((last.launched as f64 / seconds * 10.0).round() / 10.0).into(),
    );
    // Each sample's largest node.
    let figures: [(&str, Figure); 4] = [
        ("rss_bytes", |s| {
            s.nodes.iter().map(|n| n.0).max().unwrap_or(0)
        }),
        ("heap_bytes", |s| {
            s.nodes.iter().map(|n| n.1).max().unwrap_or(0)
        }),
        ("snapshot_bytes", |s| {
            s.nodes.iter().map(|n| n.2).max().unwrap_or(0)
        }),
        ("held", |s| s.held as u64),
    ];
    for (name, figure) in figures {
        let (from, to) = (mean(after_warmup, figure), mean(at_end, figure));
        result.insert(format!("soak_{name}_after_warmup"), from.into());
        result.insert(format!("soak_{name}_at_end"), to.into());
        result.insert(format!("soak_{name}_change_percent"), change(from, to));
    }
    result.insert(
        "soak_samples".into(),
        samples
            .iter()
            .map(|s| {
                json!({
                    "at_s": (s.at_s * 10.0).round() / 10.0,
                    "launched": s.launched,
                    "held": s.held,
                    "rss_bytes": s.nodes.iter().map(|n| n.0).collect::<Vec<_>>(),
                    "heap_bytes": s.nodes.iter().map(|n| n.1).collect::<Vec<_>>(),
                    "snapshot_bytes": s.nodes.iter().map(|n| n.2).collect::<Vec<_>>(),
                })
            })
            .collect::<Vec<_>>()
            .into(),
    );
}
