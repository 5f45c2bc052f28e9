//! Loop nodes end to end: the Collatz example under `baton dev`, `baton dev`
//! killed with SIGKILL mid-loop and restarted, and a three-node cluster whose
//! leader is killed mid-loop; nothing that succeeded runs again, nothing is
//! lost.

use std::collections::BTreeMap;
use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

fn node<'a>(execution: &'a Json, path: &str) -> &'a Json {
    execution["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == path))
        .unwrap_or_else(|| panic!("no node {path} in {execution}"))
}

#[test]
fn the_collatz_example_loops_until_one_with_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    cluster.baton(&["register", "examples/loop.yaml"]).ok();
    let run = cluster.baton(&["run", "collatz", "-i", "n=6", "--wait", "-o", "json"]);
    let execution = run.ok().json();
    assert_eq!(execution["phase"], "SUCCEEDED", "{execution}");
    assert_eq!(
        execution["outputs"]["steps"],
        serde_json::json!([3, 10, 5, 16, 8, 4, 2, 1])
    );
    assert_eq!(execution["outputs"]["last"], 1);
    assert_eq!(node(&execution, "seq")["iterations"], 8);
    assert_eq!(node(&execution, "seq[7].step")["outputs"]["x"], 1);
    let id = execution["id"].as_str().unwrap();
    let logs = cluster
        .baton(&["logs", id, "seq[3].step"])
        .ok()
        .stdout
        .clone();
    assert!(logs.contains("5 -> 16"), "{logs}");
    let text = cluster.baton(&["get", id]).ok().stdout.clone();
    assert!(text.contains("8 of at most 1000 iterations"), "{text}");
    assert!(text.contains("\n    seq[0].step "), "{text}");
    let missing = cluster.baton(&["logs", id, "seq.step"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("is a loop; name an iteration"),
        "{}",
        missing.stderr
    );
}

/// Records `NODE_PATH ATTEMPT` in the marker, sleeps `seconds` when `x` is
/// `slow_at`, and passes `x + 1` on.
const RECORD: &str = r#"
import json, os, sys, time
marker, slow_at, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
inputs = json.load(open(os.environ["BATON_INPUTS"]))
with open(marker, "a") as f:
    f.write(f"{os.environ['BATON_NODE_ID']} {os.environ['BATON_ATTEMPT']}\n")
if inputs["x"] == slow_at:
    time.sleep(seconds)
json.dump({"x": inputs["x"] + 1}, open(os.environ["BATON_OUTPUTS"], "w"))
"#;

#[test]
fn dev_killed_mid_loop_resumes_at_its_iteration_and_reruns_no_succeeded_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cluster = DevCluster::start(&data);
    let script = write(dir.path(), "record.py", RECORD);
    let marker = dir.path().join("runs.txt").display().to_string();
    let yaml = format!(
        "kind: Task\nname: step\nversion: v1\ninterface: {{inputs: {{x: int}}, outputs: {{x: int}}}}\n\
         runner: {{process: {{command: [python3, \"{script}\", \"{marker}\", \"3\", \"4\"]}}}}\n---\n\
         kind: Workflow\nname: body\nversion: v1\ninterface: {{inputs: {{x: int}}, outputs: {{x: int}}}}\n\
         nodes: [{{id: s, task: step@v1, inputs: {{x: \"${{inputs.x}}\"}}}}]\noutputs: {{x: \"${{s.x}}\"}}\n---\n\
         kind: Workflow\nname: count\nversion: v1\ninterface: {{outputs: {{all: list<int>}}}}\nnodes:\n\
           - id: l\n  loop: {{body: body@v1, inputs: {{x: 0}}, carry: {{x: x}}, until: \"x >= 6\", max_iterations: 20}}\n\
         outputs: {{all: \"${{l.history.x}}\"}}\n"
    );
    let file = write(dir.path(), "count.yaml", &yaml);
    cluster.baton(&["register", &file]).ok();
    let id = cluster
        .baton(&["run", "count"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // Iteration 3 (x = 3) sleeps: kill the whole process while it runs.
    let started = wait_for(Duration::from_secs(30), || {
        let runs = std::fs::read_to_string(&marker).ok()?;
        runs.lines().any(|l| l.starts_with("l[3].s ")).then_some(())
    });
    assert!(started.is_some(), "iteration 3 never started");
    cluster.kill();

    let cluster = DevCluster::start(&data);
    let done = wait_for(Duration::from_secs(60), || {
        let execution = cluster.baton(&["get", &id, "-o", "json"]).json();
        (execution["phase"] != "RUNNING").then_some(execution)
    })
    .unwrap_or_else(|| panic!("not finished after the restart; log:\n{}", cluster.log()));
    assert_eq!(done["phase"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["outputs"]["all"],
        serde_json::json!([1, 2, 3, 4, 5, 6])
    );
    let runs = std::fs::read_to_string(&marker).unwrap();
    let count = |path: &str| {
        runs.lines()
            .filter(|l| l.split_whitespace().next() == Some(path))
            .count()
    };
    for i in [0, 1, 2, 4, 5] {
        assert_eq!(
            count(&format!("l[{i}].s")),
            1,
            "iteration {i} ran once:\n{runs}"
        );
    }
    assert!(count("l[3].s") >= 1, "{runs}");
}

#[test]
fn leader_killed_mid_loop_loses_nothing_and_records_each_iteration_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 3, ClusterOptions::default());
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "exec-1", 4, &dir.path().join("exec-1"));
    let yaml = "kind: Task\nname: nap\nversion: v1\ninterface: {inputs: {seconds: float, x: int}, outputs: {x: int}}\nrunner: {builtin: sleep}\n---\n\
        kind: Workflow\nname: napping\nversion: v1\ninterface: {inputs: {x: int}, outputs: {x: int, seen: list<int>}}\n\
        nodes: [{id: n, task: nap@v1, inputs: {seconds: 0.05, x: \"${inputs.x}\"}}]\noutputs: {x: \"${n.x}\", seen: \"${history.x}\"}\n---\n\
        kind: Workflow\nname: long-loop\nversion: v1\ninterface: {outputs: {all: list<int>}}\nnodes:\n\
          - id: l\n  loop: {body: napping@v1, inputs: {x: 7}, until: \"len(seen) >= 39\", max_iterations: 100}\n\
        outputs: {all: \"${l.history.x}\"}\n";
    let file = write(dir.path(), "loop.yaml", yaml);
    cluster.baton(&["register", &file]).ok();
    let id = cluster
        .baton(&["run", "long-loop"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    wait_for(Duration::from_secs(30), || {
        let execution = cluster.baton(&["get", &id, "-o", "json"]).json();
        let iterations = execution["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["id"] == "l")?["iterations"]
            .as_u64()?;
        (iterations >= 10).then_some(())
    })
    .expect("the loop makes progress");
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20));
    assert_ne!(new_leader, leader);

    let done = wait_for(Duration::from_secs(120), || {
        let out = cluster.baton(&["get", &id, "-o", "json"]);
        let e = (out.code == 0).then(|| out.json())?;
        (e["phase"] != "RUNNING").then_some(e)
    })
    .expect("the loop finishes under the new leader");
    assert_eq!(done["phase"], "SUCCEEDED", "{}", done["error"]);
    assert_eq!(done["outputs"]["all"], serde_json::json!(vec![7; 40]));
    // Each iteration's node succeeded exactly once in the history.
    let out = cluster
        .baton(&["watch", &id, "-o", "json"])
        .ok()
        .stdout
        .clone();
    let mut successes: BTreeMap<String, usize> = BTreeMap::new();
    for line in out.lines() {
        let event: Json = serde_json::from_str(line).unwrap();
        if event["phase"] == "SUCCEEDED" && !event["node"].is_null() {
            *successes
                .entry(event["node"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    for i in 0..40 {
        assert_eq!(
            successes.get(&format!("l[{i}].n")),
            Some(&1),
            "{successes:?}"
        );
    }
    assert_eq!(successes.get("l"), Some(&1));
}
