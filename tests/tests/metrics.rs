//! `/metrics` of three scheduler nodes and an executor, scraped and read
//! with a Prometheus text-format parser: the Raft figures say who leads,
//! and proposals, assignments, executions and the executor's attempts move
//! as a workflow runs. A metrics address that cannot be bound stops the
//! process with a clear error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use baton_tests::cluster::{free_port, Cluster, ClusterOptions, Executor};
use baton_tests::*;
use prometheus_parse::{Sample, Scrape, Value};

/// `GET /metrics` of `address`, parsed.
fn scrape(address: &str) -> Scrape {
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("{address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("the Prometheus text format")
}

/// The sample names `address` declares (`# TYPE` lines), as queries name
/// them: a counter's with `_total`, a histogram's with `_bucket`.
fn declared(address: &str) -> std::collections::BTreeSet<String> {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for line in response.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            names.insert(match kind {
                "counter" => format!("{name}_total"),
                "histogram" => format!("{name}_bucket"),
                _ => name.to_owned(),
            });
        }
    }
    names
}

/// The value of `name` with these labels (all of them), if scraped.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s: &&Sample| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

fn has(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, labels).unwrap_or_else(|| {
        let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
        panic!("no {name} {labels:?} among {names:?}")
    })
}

const FAN: &str = r#"
kind: Task
name: m-noop
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: m-fan
version: v1
interface: {outputs: {x: int}}
nodes:
"#;

#[test]
fn metrics_of_schedulers_and_executor_parse_and_move_as_work_runs() {
    let dir = tempfile::tempdir().unwrap();
    let options = ClusterOptions {
        metrics: true,
        ..Default::default()
    };
    let cluster = Cluster::start(dir.path(), 3, options);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let executor_metrics = format!("127.0.0.1:{}", free_port());
    let _executor = Executor::start_args(
        &cluster.all(),
        "m1",
        2,
        &dir.path().join("work"),
        &[],
        &["--metrics-listen", &executor_metrics],
    );
    let mut specs = FAN.to_owned();
    for i in 0..50 {
        specs += &format!("  - {{id: n{i}, task: m-noop@v1, inputs: {{x: {i}}}}}\n");
    }
    specs += "outputs: {x: \"${n0.x}\"}\n";
    let file = write(dir.path(), "fan.yaml", &specs);
    cluster.baton(&["register", &file]).ok();

    // Who leads, from every node.
    for (id, address) in &cluster.metrics {
        let scraped = scrape(address);
        let leads = has(&scraped, "baton_raft_leader", &[]);
        assert_eq!(leads, f64::from(u8::from(*id == leader)), "node {id}");
        assert_eq!(has(&scraped, "baton_raft_leader_id", &[]), leader as f64);
        assert!(has(&scraped, "baton_raft_term", &[]) >= 1.0);
        assert!(has(&scraped, "baton_raft_applied_index", &[]) >= 1.0);
    }
    let before = scrape(&cluster.metrics[&leader]);
    let proposals_before = has(&before, "baton_proposals_total", &[]);
    assert_eq!(
        has(&before, "baton_executions", &[("phase", "succeeded")]),
        0.0
    );

    let run = cluster.baton(&["run", "m-fan", "--wait", "-o", "json"]);
    assert_eq!(run.ok().json()["phase"], "SUCCEEDED");
    let after = wait_for(Duration::from_secs(10), || {
        // The dispatcher's figures are published every 250 ms.
        let scraped = scrape(&cluster.metrics[&leader]);
        (value(
            &scraped,
            "baton_dispatch_assignments_total",
            &[("pool", "default")],
        )
        .is_some_and(|n| n >= 50.0))
        .then_some(scraped)
    })
    .expect("the leader's assignments reach 50");
    assert!(has(&after, "baton_proposals_total", &[]) > proposals_before);
    assert!(has(&after, "baton_proposed_commands_total", &[]) >= 50.0);
    assert!(
        has(&after, "baton_proposal_seconds", &[]) >= 1.0,
        "a histogram's count"
    );
    assert_eq!(
        has(&after, "baton_executions", &[("phase", "succeeded")]),
        1.0
    );
    assert!(
        has(
            &after,
            "baton_dispatch_completions_total",
            &[("pool", "default")]
        ) >= 50.0
    );
    assert_eq!(
        has(&after, "baton_pool_executors", &[("pool", "default")]),
        1.0
    );
    assert_eq!(
        has(&after, "baton_pool_workers", &[("pool", "default")]),
        2.0
    );
    assert_eq!(
        has(&after, "baton_dispatch_queue_depth", &[("pool", "default")]),
        0.0
    );
    has(
        &after,
        "baton_dispatch_queue_wait_p99_seconds",
        &[("pool", "default")],
    );
    // A follower applied the same: its state says so too.
    let follower = cluster.metrics.keys().find(|id| **id != leader).unwrap();
    let on_follower = wait_for(Duration::from_secs(10), || {
        let scraped = scrape(&cluster.metrics[follower]);
        (value(&scraped, "baton_executions", &[("phase", "succeeded")]) == Some(1.0))
            .then_some(scraped)
    })
    .expect("the follower applies the execution's end");
    assert!(value(
        &on_follower,
        "baton_dispatch_queue_depth",
        &[("pool", "default")]
    )
    .is_none());

    let executor = scrape(&executor_metrics);
    assert_eq!(has(&executor, "baton_executor_workers", &[]), 2.0);
    assert_eq!(has(&executor, "baton_executor_workers_busy", &[]), 0.0);
    assert!(
        has(
            &executor,
            "baton_executor_attempts_total",
            &[("outcome", "succeeded")]
        ) >= 50.0
    );
    assert!(has(&executor, "baton_executor_attempt_seconds", &[]) >= 50.0);

    // Every metric the shipped Grafana dashboard queries is one they serve.
    let mut served = declared(&cluster.metrics[&leader]);
    served.extend(declared(&executor_metrics));
    let dashboard =
        std::fs::read_to_string(repo_root().join("docs/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                // A series per pool appears with the pool's first decision.
                if word.starts_with("baton_") && word != "baton_autoscaler_decisions_total" {
                    queried += 1;
                    assert!(
                        served.contains(word),
                        "the dashboard queries {word}, not among {served:?}"
                    );
                }
            }
        }
    }
    assert!(queried >= 14, "{queried}");
}

#[test]
fn a_metrics_address_that_cannot_be_bound_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let work = dir.path().join("work");
    let scheduler: [&std::ffi::OsStr; 6] = [
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--metrics-listen".as_ref(),
        "nowhere:-1".as_ref(),
    ];
    let executor: [&std::ffi::OsStr; 6] = [
        "--scheduler".as_ref(),
        "127.0.0.1:9".as_ref(),
        "--work-dir".as_ref(),
        work.as_os_str(),
        "--metrics-listen".as_ref(),
        "nowhere:-1".as_ref(),
    ];
    for (binary, args) in [("baton-scheduler", scheduler), ("baton-executor", executor)] {
        let outcome = run_with_timeout(
            std::process::Command::new(bin(binary)).args(args),
            Duration::from_secs(20),
        );
        assert_ne!(outcome.code, 0, "{binary}");
        assert!(
            outcome
                .stderr
                .contains("cannot listen on --metrics-listen nowhere:-1"),
            "{binary}: {}",
            outcome.stderr
        );
    }
}
