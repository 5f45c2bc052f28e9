//! OpenTelemetry traces on real processes (docs/operations.md, "Traces"),
//! sent to a real OTLP receiver this test starts: a launch on three
//! scheduler nodes is one trace from the client's `launch` span (itself a
//! child of the caller's `TRACEPARENT`) through the leader's `launch`,
//! `node` and `dispatch` spans (exported over gRPC) to the executor's
//! `attempt` spans (exported over HTTP), each attempt the child of the
//! dispatch span of the same attempt, across the gRPC hop. The leader that
//! takes over an execution continues its trace; `OTEL_SERVICE_NAME` names
//! the service. A bad endpoint is refused by name.

use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::otlp::{OtlpReceiver, ReceivedSpan};
use baton_tests::*;

/// The caller's span, as a script that traces its own work would pass it.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn one<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect();
    assert_eq!(found.len(), 1, "one {service} `{name}` span: {found:#?}");
    found[0]
}

fn named<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect()
}

/// Three scheduler nodes that export their spans to `endpoint` by
/// `protocol`, in batches every 100 ms rather than every 5 s.
fn traced_cluster(dir: &std::path::Path, endpoint: &str, protocol: &str) -> Cluster {
    Cluster::start(
        dir,
        3,
        ClusterOptions {
            scheduler_args: vec![
                "--otlp-endpoint".into(),
                endpoint.into(),
                "--otlp-protocol".into(),
                protocol.into(),
            ],
            scheduler_env: vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())],
            ..ClusterOptions::default()
        },
    )
}

/// An executor `exec-1` of `cluster` that exports its spans to `endpoint`
/// by `protocol` through the standard variables (and `more` of them).
fn traced_executor(
    cluster: &Cluster,
    dir: &std::path::Path,
    endpoint: &str,
    protocol: &str,
    more: &[(&str, &str)],
) -> Executor {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    env.extend_from_slice(more);
    Executor::start_with(&cluster.all(), "exec-1", 2, &dir.join("exec"), &env)
}

#[test]
fn a_launch_on_three_nodes_is_one_trace_from_the_client_to_the_executor() {
    let receiver = OtlpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let cluster = traced_cluster(dir.path(), &receiver.grpc, "grpc");
    cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = traced_executor(&cluster, dir.path(), &receiver.http, "http/protobuf", &[]);
    cluster.baton(&["register", "examples/diamond.yaml"]).ok();

    let client_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc.clone()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("TRACEPARENT", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")),
    ];
    let launched = baton_env(
        &cluster.all(),
        &client_env,
        &["run", "diamond", "-i", "n=2"],
    );
    let execution = launched.ok().stdout.trim().to_owned();
    let got = cluster.wait_end(&execution, Duration::from_secs(60));
    assert_eq!(got["phase"], "SUCCEEDED", "{got}");
    assert_eq!(
        got["trace_id"], CALLER_TRACE,
        "`get` names the trace: {got}"
    );

    // Four nodes (a, b, c, d), one attempt each.
    let spans = receiver.wait(Duration::from_secs(30), |spans| {
        named(spans, "baton-executor", "attempt").len() >= 4
            && named(spans, "baton-scheduler", "dispatch").len() >= 4
            && named(spans, "baton-scheduler", "node").len() >= 4
            && !named(spans, "baton-scheduler", "launch").is_empty()
            && !named(spans, "baton", "launch").is_empty()
    });
    let in_trace: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == CALLER_TRACE)
        .collect();
    assert_eq!(
        in_trace.len(),
        spans.len(),
        "every span is in the caller's trace: {spans:#?}"
    );

    let client = one(&spans, "baton", "launch");
    assert_eq!(client.parent_span_id, CALLER_SPAN, "{client:?}");
    assert_eq!(client.attribute("execution"), execution);
    let leader = one(&spans, "baton-scheduler", "launch");
    assert_eq!(leader.parent_span_id, client.span_id, "{leader:?}");
    assert_eq!(leader.attribute("execution"), execution);

    let nodes = named(&spans, "baton-scheduler", "node");
    let mut paths: Vec<&str> = nodes.iter().map(|n| n.attribute("node")).collect();
    paths.sort();
    assert_eq!(paths, ["a", "b", "c", "d"], "{nodes:#?}");
    for node in &nodes {
        assert_eq!(node.parent_span_id, leader.span_id, "{node:?}");
        assert_eq!(node.attribute("outcome"), "succeeded", "{node:?}");
    }
    for attempt in named(&spans, "baton-executor", "attempt") {
        // Recorded by another process, from the context the assignment carried.
        let dispatch = spans
            .iter()
            .find(|s| s.span_id == attempt.parent_span_id)
            .unwrap_or_else(|| panic!("the parent of {attempt:?} was received"));
        assert_eq!(
            (dispatch.service.as_str(), dispatch.name.as_str()),
            ("baton-scheduler", "dispatch"),
            "{attempt:?}"
        );
        assert_eq!(dispatch.attribute("node"), attempt.attribute("node"));
        assert_eq!(dispatch.attribute("attempt"), attempt.attribute("attempt"));
        assert_eq!(dispatch.attribute("executor"), "exec-1");
        assert_eq!(dispatch.attribute("outcome"), "succeeded");
        assert_eq!(attempt.attribute("outcome"), "succeeded");
        assert_eq!(attempt.attribute("execution"), execution);
        let node = nodes
            .iter()
            .find(|n| n.span_id == dispatch.parent_span_id)
            .expect("a dispatch span's parent is its node's span");
        assert_eq!(node.attribute("node"), dispatch.attribute("node"));
    }
}

/// Two steps in a chain, the first long enough to kill the leader under.
const CHAIN: &str = "kind: Task\nname: nap\nversion: v1\n\
    interface: {inputs: {seconds: float}, outputs: {seconds: float}}\n\
    runner: {builtin: sleep}\n---\n\
    kind: Task\nname: pass\nversion: v1\n\
    interface: {inputs: {x: float}, outputs: {x: float}}\n\
    runner: {builtin: noop}\n---\n\
    kind: Workflow\nname: chain\nversion: v1\nnodes:\n\
    \x20 - {id: first, task: nap@v1, inputs: {seconds: 3.0}}\n\
    \x20 - {id: second, task: pass@v1, inputs: {x: \"${first.seconds}\"}}\n";

#[test]
fn the_next_leader_continues_the_trace_of_an_execution_it_did_not_launch() {
    let receiver = OtlpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = traced_cluster(dir.path(), &receiver.http, "http");
    let first_leader = cluster.wait_for_leader(Duration::from_secs(20));
    // The standard variable names the service.
    let service = [("OTEL_SERVICE_NAME", "gpu-executors")];
    let _executor = traced_executor(&cluster, dir.path(), &receiver.grpc, "grpc", &service);
    let file = write(dir.path(), "chain.yaml", CHAIN);
    cluster.baton(&["register", &file]).ok();
    // No client context: the leader's launch span is the trace's root.
    let execution = cluster.launch("chain");
    let spans = receiver.wait(Duration::from_secs(20), |spans| {
        !named(spans, "baton-scheduler", "launch").is_empty()
    });
    let launch = one(&spans, "baton-scheduler", "launch").clone();
    assert_eq!(launch.parent_span_id, "", "a root: {launch:?}");
    // While `first` runs, the leader that launched it dies.
    cluster.kill(first_leader);
    let got = cluster.wait_end(&execution, Duration::from_secs(60));
    assert_eq!(got["phase"], "SUCCEEDED", "{got}");

    // Each process sends its spans in its own batches: wait for both.
    let spans = receiver.wait(Duration::from_secs(30), |spans| {
        ["attempt", "node"].iter().all(|name| {
            spans
                .iter()
                .any(|s| s.name == *name && s.attribute("node") == "second")
        })
    });
    let second = spans
        .iter()
        .find(|s| s.name == "node" && s.attribute("node") == "second")
        .expect("the next leader's span of `second`");
    assert_eq!(second.trace_id, launch.trace_id, "{second:?}");
    assert_eq!(second.parent_span_id, launch.span_id, "{second:?}");
    let attempt = spans
        .iter()
        .find(|s| s.name == "attempt" && s.attribute("node") == "second")
        .unwrap();
    assert_eq!(attempt.trace_id, launch.trace_id, "{attempt:?}");
    assert_eq!(attempt.service, "gpu-executors", "{attempt:?}");
}

#[test]
fn a_bad_otlp_endpoint_or_protocol_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (flags, says) in [
        (
            vec!["--otlp-endpoint", "collector:4317"],
            "has no scheme: give the collector's URL, e.g. http://collector:4317",
        ),
        (
            vec![
                "--otlp-endpoint",
                "https://127.0.0.1:1",
                "--otlp-protocol",
                "grpc",
            ],
            "over gRPC needs TLS",
        ),
        (
            vec![
                "--otlp-endpoint",
                "http://127.0.0.1:1",
                "--otlp-protocol",
                "http/json",
            ],
            "protocol `http/json` (--otlp-protocol / OTEL_EXPORTER_OTLP_PROTOCOL) is not",
        ),
    ] {
        let outcome = run_with_timeout(
            std::process::Command::new(bin("baton-scheduler"))
                .args(["--data-dir", data, "--listen", "127.0.0.1:0"])
                .args(&flags),
            Duration::from_secs(20),
        );
        assert_ne!(outcome.code, 0, "{flags:?}");
        assert!(
            outcome.stderr.contains(says),
            "{flags:?}: {}",
            outcome.stderr
        );
        let outcome = run_with_timeout(
            std::process::Command::new(bin("baton-executor"))
                .args(["--work-dir", data])
                .args(&flags),
            Duration::from_secs(20),
        );
        assert_ne!(outcome.code, 0, "{flags:?}");
        assert!(
            outcome.stderr.contains(says),
            "{flags:?}: {}",
            outcome.stderr
        );
    }
    assert!(!dir.path().join("data").exists(), "nothing was written");
}
