//! Gate nodes end to end on three scheduler nodes: a gate waits and shows
//! what it was given, a wrongly typed, incomplete or misdirected signal is
//! refused by name and changes nothing, a signal (one field from a file)
//! continues the execution, and a gate's timeout fires on the leader that
//! took over after the one that saw the gate start was SIGKILLed.

use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

const SPECS: &str = r#"
kind: Task
name: pass
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Task
name: keep
version: v1
interface: {inputs: {labels: list<int>, ok: bool}, outputs: {labels: list<int>, ok: bool}}
runner: {builtin: noop}
---
kind: Workflow
name: review
version: v1
interface: {inputs: {n: int}, outputs: {labels: list<int>, ok: bool}}
nodes:
  - {id: pre, task: pass@v1, inputs: {x: "${inputs.n}"}}
  - id: ask
    gate:
      inputs: {x: "${pre.x}"}
      signal: {labels: list<int>, ok: bool}
  - {id: post, task: keep@v1, inputs: {labels: "${ask.labels}", ok: "${ask.ok}"}}
outputs: {labels: "${post.labels}", ok: "${post.ok}"}
---
kind: Workflow
name: review-or-default
version: v1
interface: {inputs: {n: int}, outputs: {labels: list<int>, ok: bool}}
nodes:
  - {id: pre, task: pass@v1, inputs: {x: "${inputs.n}"}}
  - id: ask
    gate:
      inputs: {x: "${pre.x}"}
      signal: {labels: list<int>, ok: bool}
      timeout: 4s
      on_timeout: {signal: {labels: [], ok: false}}
  - {id: post, task: keep@v1, inputs: {labels: "${ask.labels}", ok: "${ask.ok}"}}
outputs: {labels: "${post.labels}", ok: "${post.ok}"}
"#;

fn node<'a>(execution: &'a Json, path: &str) -> &'a Json {
    execution["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == path))
        .unwrap_or_else(|| panic!("no node {path} in {execution}"))
}

/// Waits until gate `ask` of `id` waits; the execution then.
fn waiting(cluster: &Cluster, id: &str) -> Json {
    wait_for(Duration::from_secs(20), || {
        let got = cluster.baton(&["get", id, "-o", "json"]).ok().json();
        (node(&got, "ask")["phase"] == "RUNNING").then_some(got)
    })
    .unwrap_or_else(|| panic!("gate of {id} never waited"))
}

#[test]
fn a_gate_waits_refuses_a_bad_signal_and_continues_on_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 3, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "e1", 2, &dir.path().join("work"));
    let specs = write(dir.path(), "gates.yaml", SPECS);
    cluster.baton(&["register", &specs]).ok();

    let id = cluster
        .baton(&["run", "review", "-i", "n=41"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let execution = waiting(&cluster, &id);
    let gate = &node(&execution, "ask")["gate"];
    assert_eq!(
        gate["inputs"]["x"], 41,
        "the gate shows what it was given: {gate}"
    );
    assert_eq!(gate["signal"]["labels"], "list<int>");
    assert_eq!(node(&execution, "post")["phase"], "PENDING");
    let text = cluster.baton(&["get", &id]).ok().stdout.clone();
    assert!(
        text.contains(&format!(
            "waiting for a signal: baton signal {id} ask -i labels=LIST<INT> -i ok=BOOL"
        )),
        "{text}"
    );
    assert!(text.contains("shows x = 41"), "{text}");

    // Each bad signal is refused, says what is wrong, and changes nothing.
    let before = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
    let bad: [(&[&str], &str); 5] = [
        (
            &["-i", "labels=[1,2]", "-i", "ok=maybe"],
            "signal field `ok` (bool)",
        ),
        (
            &["-i", "labels=[1,\"two\"]", "-i", "ok=true"],
            "signal field `labels[1]` (list<int>)",
        ),
        (&["-i", "labels=[1]"], "the signal lacks field `ok` (bool)"),
        (
            &["-i", "labels=[1]", "-i", "ok=true", "-i", "extra=1"],
            "the signal has no field `extra`",
        ),
        (&[], "no signal fields"),
    ];
    for (fields, says) in bad {
        let mut args = vec!["signal", id.as_str(), "ask"];
        args.extend_from_slice(fields);
        let refused = assert_refused(|a| cluster.baton(a), &args, says);
        assert!(!refused.stderr.contains("serde"), "{}", refused.stderr);
    }
    let refused = cluster.baton(&["signal", &id, "pre", "-i", "x=1"]);
    assert!(
        refused.stderr.contains("node `pre`") && refused.stderr.contains("is not a gate"),
        "{}",
        refused.stderr
    );
    let refused = cluster.baton(&["signal", &id, "nowhere", "-i", "x=1"]);
    assert!(
        refused.stderr.contains("has no node `nowhere`")
            && refused.stderr.contains("gates waiting now: ask"),
        "{}",
        refused.stderr
    );
    let refused = cluster.baton(&["signal", "review-999", "ask", "-i", "ok=true"]);
    assert!(
        refused.stderr.contains("unknown execution `review-999`"),
        "{}",
        refused.stderr
    );
    let after = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
    assert_eq!(
        after["nodes"], before["nodes"],
        "refused signals changed nothing"
    );

    // A good signal, one field from a file, continues the execution.
    let labels = write(dir.path(), "labels.json", "[3, 1, 4]");
    let signalled = cluster.baton(&[
        "signal",
        &id,
        "ask",
        "-i",
        &format!("labels=@{labels}"),
        "-i",
        "ok=true",
    ]);
    assert!(
        signalled.ok().stdout.contains("gate ask signalled"),
        "{}",
        signalled.stdout
    );
    let ended = cluster.wait_end(&id, Duration::from_secs(20));
    assert_eq!(ended["phase"], "SUCCEEDED", "{ended}");
    assert_eq!(ended["outputs"]["labels"], serde_json::json!([3, 1, 4]));
    assert_eq!(ended["outputs"]["ok"], true);
    let again = cluster.baton(&["signal", &id, "ask", "-i", "labels=[]", "-i", "ok=true"]);
    assert!(
        again
            .stderr
            .contains("has ended (succeeded): no gate of it waits"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_gate_times_out_on_the_leader_that_took_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 3, ClusterOptions::default());
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "e1", 2, &dir.path().join("work"));
    let specs = write(dir.path(), "gates.yaml", SPECS);
    cluster.baton(&["register", &specs]).ok();
    let id = cluster
        .baton(&["run", "review-or-default", "-i", "n=1"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let execution = waiting(&cluster, &id);
    let deadline = node(&execution, "ask")["gate"]["deadline"].clone();
    assert!(deadline.is_string(), "a deadline is shown: {execution}");
    // The leader that watches the deadline dies; the next one must fire it.
    cluster.kill(leader);
    let next = cluster.wait_for_leader(Duration::from_secs(20));
    assert_ne!(next, leader);
    let ended = cluster.wait_end(&id, Duration::from_secs(30));
    assert_eq!(ended["phase"], "SUCCEEDED", "{ended}");
    assert_eq!(
        ended["outputs"]["ok"], false,
        "continued with its on_timeout signal"
    );
    assert_eq!(ended["outputs"]["labels"], serde_json::json!([]));
    let events = cluster.baton(&["watch", &id]).ok().stdout.clone();
    assert!(
        events.contains("timed out after 4s: continued with its on_timeout signal"),
        "{events}"
    );
}

#[test]
fn the_approval_example_waits_for_a_checked_signal() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    cluster.baton(&["register", "examples/approval.yaml"]).ok();
    let id = cluster
        .baton(&["run", "release", "-i", "version=1.4.2"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    wait_for(Duration::from_secs(20), || {
        let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
        (node(&got, "approve")["phase"] == "RUNNING").then_some(())
    })
    .expect("the gate waits");
    let missing = cluster.baton(&["signal", &id, "approve", "-i", "approved=true"]);
    assert!(
        missing
            .stderr
            .contains("the signal lacks field `by` (string)"),
        "{}",
        missing.stderr
    );
    let empty = cluster.baton(&["signal", &id, "approve", "-i", "approved=true", "-i", "by="]);
    assert!(
        empty
            .stderr
            .contains("does not meet the gate's check `by != \"\"`"),
        "{}",
        empty.stderr
    );
    cluster
        .baton(&[
            "signal",
            &id,
            "approve",
            "-i",
            "approved=true",
            "-i",
            "by=ana",
        ])
        .ok();
    let run = cluster.baton(&["get", &id, "-o", "json"]);
    let ended = wait_for(Duration::from_secs(20), || {
        let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
        (got["phase"] != "RUNNING").then_some(got)
    })
    .unwrap_or_else(|| panic!("{}", run.stdout));
    assert_eq!(ended["phase"], "SUCCEEDED", "{ended}");
    assert_eq!(ended["outputs"]["approved"], true);
    assert_eq!(ended["outputs"]["by"], "ana");
}
