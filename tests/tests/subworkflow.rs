//! Sub-workflow nodes end to end: `baton dev` as a real process, the tree
//! that `get` shows, `logs` by path, and a SIGKILL in the middle of a
//! sub-workflow that resumes inside it without re-running what succeeded.

use std::time::Duration;

use baton_tests::*;
use serde_json::Value as Json;

/// Records `NODE_PATH ATTEMPT PID` in the marker file, sleeps, adds one to `n`.
const RECORD: &str = r#"
import json, os, sys, time
marker, seconds = sys.argv[1], float(sys.argv[2])
with open(marker, "a") as f:
    f.write(f"{os.environ['BATON_NODE_ID']} {os.environ['BATON_ATTEMPT']} {os.getpid()}\n")
print(f"running {os.environ['BATON_NODE_ID']}")
time.sleep(seconds)
inputs = json.load(open(os.environ["BATON_INPUTS"]))
json.dump({"n": inputs["n"] + 1}, open(os.environ["BATON_OUTPUTS"], "w"))
"#;

/// `outer`: `pre`, then `sub` running `inner` (`quick`, then `slow`), then `post`.
fn specs(script: &str, marker: &str) -> String {
    let task = |name: &str, secs: &str| {
        format!(
            "kind: Task\nname: {name}\nversion: v1\ninterface: {{inputs: {{n: int}}, outputs: {{n: int}}}}\n\
             runner: {{process: {{command: [python3, \"{script}\", \"{marker}\", \"{secs}\"]}}}}\n---\n"
        )
    };
    format!(
        "{}{}kind: Workflow\nname: inner\nversion: v1\ninterface: {{inputs: {{n: int}}, outputs: {{n: int}}}}\nnodes:\n\
           - {{id: quick, task: quick@v1, inputs: {{n: \"${{inputs.n}}\"}}}}\n\
           - {{id: slow, task: slow@v1, inputs: {{n: \"${{quick.n}}\"}}}}\n\
         outputs: {{n: \"${{slow.n}}\"}}\n---\n\
         kind: Workflow\nname: outer\nversion: v1\ninterface: {{inputs: {{n: int}}, outputs: {{n: int}}}}\nnodes:\n\
           - {{id: pre, task: quick@v1, inputs: {{n: \"${{inputs.n}}\"}}}}\n\
           - {{id: sub, workflow: inner@v1, inputs: {{n: \"${{pre.n}}\"}}}}\n\
           - {{id: post, task: quick@v1, inputs: {{n: \"${{sub.n}}\"}}}}\n\
         outputs: {{n: \"${{post.n}}\"}}\n",
        task("quick", "0"),
        task("slow", "4")
    )
}

fn node<'a>(execution: &'a Json, path: &str) -> &'a Json {
    execution["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == path))
        .unwrap_or_else(|| panic!("no node {path} in {execution}"))
}

#[test]
fn dev_killed_inside_a_sub_workflow_resumes_there_without_rerunning_what_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cluster = DevCluster::start(&data);
    let script = write(dir.path(), "record.py", RECORD);
    let marker = dir.path().join("runs.txt").display().to_string();
    let file = write(dir.path(), "outer.yaml", &specs(&script, &marker));
    cluster.baton(&["register", &file]).ok();
    let id = cluster
        .baton(&["run", "outer", "-i", "n=10"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // Wait until sub.slow runs, then kill the whole cluster.
    let started = wait_for(Duration::from_secs(30), || {
        let runs = std::fs::read_to_string(&marker).ok()?;
        runs.lines()
            .any(|l| l.starts_with("sub.slow "))
            .then_some(())
    });
    assert!(started.is_some(), "sub.slow never started");
    let execution = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
    assert_eq!(node(&execution, "sub")["phase"], "RUNNING");
    assert_eq!(node(&execution, "sub.quick")["phase"], "SUCCEEDED");
    assert_eq!(node(&execution, "sub.quick")["depth"], 1);
    cluster.kill();

    let cluster = DevCluster::start(&data);
    let done = wait_for(Duration::from_secs(60), || {
        let execution = cluster.baton(&["get", &id, "-o", "json"]).json();
        (execution["phase"] != "RUNNING").then_some(execution)
    })
    .unwrap_or_else(|| panic!("not finished after the restart; log:\n{}", cluster.log()));
    assert_eq!(done["phase"], "SUCCEEDED", "{done}");
    // pre, sub.quick, sub.slow and post each add one.
    assert_eq!(done["outputs"]["n"], 14);
    let runs = std::fs::read_to_string(&marker).unwrap();
    let count = |path: &str| {
        runs.lines()
            .filter(|l| l.split_whitespace().next() == Some(path))
            .count()
    };
    assert_eq!(count("pre"), 1, "pre succeeded before the kill:\n{runs}");
    assert_eq!(
        count("sub.quick"),
        1,
        "sub.quick succeeded before the kill:\n{runs}"
    );
    assert!(count("sub.slow") >= 1, "{runs}");
    assert_eq!(count("post"), 1, "{runs}");

    // The tree: each sub-workflow node followed by its nodes, indented.
    let text = cluster.baton(&["get", &id]).ok().stdout.clone();
    let order: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("nodes"))
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        order,
        ["pre", "sub", "sub.quick", "sub.slow", "post"],
        "{text}"
    );
    assert!(
        text.contains("\n    sub.quick "),
        "indented by depth:\n{text}"
    );
    let top = cluster
        .baton(&["get", &id, "--depth", "0", "-o", "json"])
        .ok()
        .json();
    assert_eq!(top["nodes"].as_array().unwrap().len(), 3, "{top}");
    // Logs by path.
    let logs = cluster
        .baton(&["logs", &id, "sub.quick"])
        .ok()
        .stdout
        .clone();
    assert!(logs.contains("running sub.quick"), "{logs}");
    let missing = cluster.baton(&["logs", &id, "sub.nope"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no node `sub.nope`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn the_nested_example_runs_diamond_twice_as_sub_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    cluster
        .baton(&["register", "examples/diamond.yaml", "examples/nested.yaml"])
        .ok();
    let run = cluster.baton(&["run", "two-diamonds", "-i", "n=2", "--wait", "-o", "json"]);
    let execution = run.ok().json();
    assert_eq!(execution["phase"], "SUCCEEDED", "{execution}");
    // diamond(2) = 32, diamond(3) = 162.
    assert_eq!(execution["outputs"]["total"], 194);
    assert_eq!(node(&execution, "left")["outputs"]["total"], 32);
    assert_eq!(node(&execution, "right.d")["outputs"]["sum"], 162);
    assert_eq!(
        node(&execution, "right")["workflow"],
        "default/development/diamond@v1"
    );
    let id = execution["id"].as_str().unwrap();
    let logs = cluster.baton(&["logs", id, "left.d"]).ok().stdout.clone();
    assert!(logs.contains("16 + 16 = 32"), "{logs}");
}
