//! The walking skeleton end to end: `baton dev` as a real process, driven by
//! the real `baton` CLI over gRPC on loopback.

use std::time::Duration;

use baton_tests::*;
use serde_json::Value as Json;

fn register(cluster: &DevCluster, dir: &std::path::Path, name: &str, yaml: &str) {
    let file = write(dir, name, yaml);
    cluster.baton(&["register", &file]).ok();
}

fn node<'a>(execution: &'a Json, id: &str) -> &'a Json {
    execution["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == id))
        .unwrap_or_else(|| panic!("no node {id} in {execution}"))
}

#[test]
fn diamond_of_python_tasks_computes_its_total() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    cluster.baton(&["register", "examples/diamond.yaml"]).ok();
    let run = cluster.baton(&["run", "diamond", "-i", "n=3", "--wait", "-o", "json"]);
    let execution = run.ok().json();
    assert_eq!(execution["phase"], "SUCCEEDED");
    // a = 3² = 9; b = c = 9² = 81; d = 81 + 81.
    assert_eq!(execution["outputs"]["total"], 162);
    assert_eq!(node(&execution, "a")["outputs"]["y"], 9);
    let logs = cluster.baton(&["logs", execution["id"].as_str().unwrap(), "d"]);
    assert!(
        logs.ok().stdout.contains("81 + 81 = 162"),
        "{}",
        logs.stdout
    );
    // The text form prints the outputs too.
    let text = cluster.baton(&["run", "diamond", "-i", "n=2", "--wait"]);
    assert_eq!(text.ok().stdout.trim(), "total = 32");
}

#[test]
fn a_batch_launches_each_execution_with_its_own_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    register(
        &cluster,
        dir.path(),
        "wf.yaml",
        "kind: Task\nname: pass\nversion: v1\ninterface: {inputs: {x: int, tags: list<string>}, outputs: {x: int}}\nrunner: {builtin: noop}\n---\n\
         kind: Workflow\nname: sweep\nversion: v1\ninterface: {inputs: {n: int, tags: {type: list<string>, default: []}}, outputs: {x: int}}\n\
         nodes: [{id: a, task: pass@v1, inputs: {x: \"${inputs.n}\", tags: \"${inputs.tags}\"}}]\noutputs: {x: \"${a.x}\"}\n",
    );
    let file = write(
        dir.path(),
        "sweep.jsonl",
        "# one launch per line\n\
         {\"workflow\": \"sweep@v1\", \"inputs\": {\"n\": 1}}\n\
         {\"workflow\": \"sweep\", \"inputs\": {\"n\": \"2\", \"tags\": [\"b\"]}}\n\
         \n\
         {\"workflow\": \"sweep\", \"inputs\": {\"n\": 3}, \"pool\": \"default\"}\n",
    );
    let launched = cluster.baton(&["run-batch", &file]).ok().stdout.clone();
    let ids: Vec<&str> = launched.lines().collect();
    assert_eq!(ids.len(), 3, "{launched}");
    for (id, n) in ids.iter().zip(1..) {
        cluster.baton(&["watch", id]).ok();
        let execution = cluster.baton(&["get", id, "-o", "json"]).ok().json();
        assert_eq!(execution["phase"], "SUCCEEDED", "{execution}");
        assert_eq!(execution["inputs"]["n"], n, "{execution}");
        assert_eq!(execution["outputs"]["x"], n, "{execution}");
    }
}

#[test]
fn fan_out_of_a_thousand_builtin_nodes_completes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let mut yaml = String::from(
        "kind: Task\nname: pass\nversion: v1\ninterface: {inputs: {x: int}, outputs: {x: int}}\nrunner: {builtin: noop}\n---\n\
         kind: Workflow\nname: fan\nversion: v1\ninterface: {outputs: {all: list<int>}}\nnodes:\n",
    );
    for i in 0..1000 {
        yaml.push_str(&format!(
            "  - {{id: n{i}, task: pass@v1, inputs: {{x: {i}}}}}\n"
        ));
    }
    yaml.push_str("outputs:\n  all: [");
    yaml.push_str(
        &(0..1000)
            .map(|i| format!("\"${{n{i}.x}}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    yaml.push_str("]\n");
    register(&cluster, dir.path(), "fan.yaml", &yaml);
    let execution = cluster
        .baton(&["run", "fan", "--wait", "-o", "json"])
        .ok()
        .json();
    let all: Vec<i64> = execution["outputs"]["all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(all, (0..1000).collect::<Vec<i64>>());
    assert!(execution["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["phase"] == "SUCCEEDED" && n["attempt"] == 1));
}

const FLAKY: &str = r#"
import json, os, sys
counter, failures = sys.argv[1], int(sys.argv[2])
n = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(n + 1))
if n < failures:
    print(f"attempt {n + 1} failing on purpose", file=sys.stderr)
    sys.exit(3)
json.dump({"ok": True}, open(os.environ["BATON_OUTPUTS"], "w"))
"#;

fn flaky_spec(script: &str, counter: &str, name: &str, retries: u32) -> String {
    format!(
        "kind: Task\nname: {name}\nversion: v1\ninterface: {{outputs: {{ok: bool}}}}\n\
         runner: {{process: {{command: [python3, \"{script}\", \"{counter}\", \"2\"]}}}}\nretries: {retries}\n---\n\
         kind: Workflow\nname: {name}-wf\nversion: v1\ninterface: {{outputs: {{ok: bool}}}}\n\
         nodes: [{{id: flaky, task: {name}@v1}}]\noutputs: {{ok: \"${{flaky.ok}}\"}}\n"
    )
}

#[test]
fn a_task_failing_twice_succeeds_with_two_retries_and_fails_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let script = write(dir.path(), "flaky.py", FLAKY);

    let counter = dir.path().join("two.count").display().to_string();
    register(
        &cluster,
        dir.path(),
        "two.yaml",
        &flaky_spec(&script, &counter, "flaky-two", 2),
    );
    let execution = cluster
        .baton(&["run", "flaky-two-wf", "--wait", "-o", "json"])
        .ok()
        .json();
    assert_eq!(execution["outputs"]["ok"], true);
    assert_eq!(node(&execution, "flaky")["attempt"], 3);
    let first = cluster.baton(&[
        "logs",
        execution["id"].as_str().unwrap(),
        "flaky",
        "--attempt",
        "1",
    ]);
    assert!(
        first.ok().stdout.contains("attempt 1 failing on purpose"),
        "{}",
        first.stdout
    );

    let counter = dir.path().join("one.count").display().to_string();
    register(
        &cluster,
        dir.path(),
        "one.yaml",
        &flaky_spec(&script, &counter, "flaky-one", 1),
    );
    let run = cluster.baton(&["run", "flaky-one-wf", "--wait", "-o", "json"]);
    assert_eq!(run.code, 1, "a failed execution exits 1: {run:?}");
    let execution = run.json();
    assert_eq!(execution["phase"], "FAILED");
    assert_eq!(node(&execution, "flaky")["attempt"], 2);
    assert!(
        execution["error"].as_str().unwrap().contains("exit"),
        "{execution}"
    );
}

#[test]
fn a_timeout_kills_the_tasks_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let pid_file = dir.path().join("grandchild.pid").display().to_string();
    let yaml = format!(
        "kind: Task\nname: hang\nversion: v1\n\
         runner: {{process: {{command: [sh, -c, \"sleep 1000 & echo $! > {pid_file}; sleep 1000\"]}}}}\ntimeout: 1s\n---\n\
         kind: Workflow\nname: hang-wf\nversion: v1\nnodes: [{{id: hang, task: hang@v1}}]\n"
    );
    register(&cluster, dir.path(), "hang.yaml", &yaml);
    let run = cluster.baton(&["run", "hang-wf", "--wait", "-o", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let execution = run.json();
    assert!(
        execution["error"].as_str().unwrap().contains("timed out"),
        "{execution}"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = wait_for(Duration::from_secs(5), || {
        (!process_alive(pid)).then_some(())
    });
    assert!(
        gone.is_some(),
        "the background grandchild {pid} outlived the timeout"
    );
}

#[test]
fn cancel_stops_running_tasks_and_marks_the_rest_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let pids = dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let pids = pids.display().to_string();
    let yaml = format!(
        "kind: Task\nname: long\nversion: v1\ninterface: {{inputs: {{tag: string}}, outputs: {{tag: string}}}}\n\
         runner: {{process: {{command: [sh, -c, \"echo $$ > {pids}/$BATON_NODE_ID; exec sleep 1000\"]}}}}\n---\n\
         kind: Workflow\nname: long-wf\nversion: v1\nnodes:\n\
           - {{id: left, task: long@v1, inputs: {{tag: l}}}}\n\
           - {{id: right, task: long@v1, inputs: {{tag: r}}}}\n\
           - {{id: after, task: long@v1, inputs: {{tag: \"${{left.tag}}\"}}}}\n"
    );
    register(&cluster, dir.path(), "long.yaml", &yaml);
    let id = cluster
        .baton(&["run", "long-wf"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let read_pid = |node: &str| {
        std::fs::read_to_string(format!("{pids}/{node}"))
            .ok()?
            .trim()
            .parse::<i32>()
            .ok()
    };
    let running = wait_for(Duration::from_secs(20), || {
        Some((read_pid("left")?, read_pid("right")?))
    });
    let (left, right) = running.expect("both tasks started");
    cluster.baton(&["cancel", &id]).ok();
    for pid in [left, right] {
        let gone = wait_for(Duration::from_secs(5), || {
            (!process_alive(pid)).then_some(())
        });
        assert!(gone.is_some(), "task process {pid} still runs after cancel");
    }
    let execution = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
    assert_eq!(execution["phase"], "CANCELLED");
    for n in ["left", "right", "after"] {
        assert_eq!(node(&execution, n)["phase"], "CANCELLED", "{execution}");
    }
    assert_eq!(
        node(&execution, "after")["attempt"],
        0,
        "a node that never ran stays unattempted"
    );
}

const RECORD: &str = r#"
import json, os, sys, time
marker, seconds = sys.argv[1], float(sys.argv[2])
with open(marker, "a") as f:
    f.write(f"{os.environ['BATON_NODE_ID']} {os.environ['BATON_ATTEMPT']} {os.getpid()}\n")
time.sleep(seconds)
inputs = json.load(open(os.environ["BATON_INPUTS"]))
json.dump({"n": inputs["n"] + 1}, open(os.environ["BATON_OUTPUTS"], "w"))
"#;

#[test]
fn dev_killed_mid_execution_finishes_after_restart_without_rerunning_succeeded_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cluster = DevCluster::start(&data);
    let script = write(dir.path(), "record.py", RECORD);
    let marker = dir.path().join("runs.txt").display().to_string();
    let task = |name: &str, secs: &str| {
        format!(
            "kind: Task\nname: {name}\nversion: v1\ninterface: {{inputs: {{n: int}}, outputs: {{n: int}}}}\n\
             runner: {{process: {{command: [python3, \"{script}\", \"{marker}\", \"{secs}\"]}}}}\n---\n"
        )
    };
    let yaml = format!(
        "{}{}kind: Workflow\nname: chain\nversion: v1\ninterface: {{inputs: {{n: int}}, outputs: {{n: int}}}}\nnodes:\n\
           - {{id: a, task: quick@v1, inputs: {{n: \"${{inputs.n}}\"}}}}\n\
           - {{id: b, task: slow@v1, inputs: {{n: \"${{a.n}}\"}}}}\n\
           - {{id: c, task: quick@v1, inputs: {{n: \"${{b.n}}\"}}}}\n\
         outputs: {{n: \"${{c.n}}\"}}\n",
        task("quick", "0"),
        task("slow", "4")
    );
    register(&cluster, dir.path(), "chain.yaml", &yaml);
    let id = cluster
        .baton(&["run", "chain", "-i", "n=10"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // Wait until b's process runs (it records its pid first thing), then kill.
    let b_pid: Option<i32> = wait_for(Duration::from_secs(30), || {
        let runs = std::fs::read_to_string(&marker).ok()?;
        runs.lines()
            .find(|l| l.starts_with("b "))?
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()
    });
    let b_pid = b_pid.expect("b never started");
    let execution = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
    assert_eq!(node(&execution, "a")["phase"], "SUCCEEDED");
    cluster.kill();
    // The task the killed executor ran dies with it rather than run on unsupervised.
    let gone = wait_for(Duration::from_secs(5), || {
        (!process_alive(b_pid)).then_some(())
    });
    assert!(gone.is_some(), "task process {b_pid} outlived its executor");

    let cluster = DevCluster::start(&data);
    let done = wait_for(Duration::from_secs(60), || {
        let execution = cluster.baton(&["get", &id, "-o", "json"]).json();
        (execution["phase"] != "RUNNING").then_some(execution)
    })
    .unwrap_or_else(|| {
        panic!(
            "the execution did not finish after the restart; log:\n{}",
            cluster.log()
        )
    });
    assert_eq!(done["phase"], "SUCCEEDED", "{done}");
    assert_eq!(done["outputs"]["n"], 13);
    let runs = std::fs::read_to_string(&marker).unwrap();
    let count = |node: &str| {
        runs.lines()
            .filter(|l| l.split_whitespace().next() == Some(node))
            .count()
    };
    assert_eq!(
        count("a"),
        1,
        "a succeeded before the kill and must not run again:\n{runs}"
    );
    assert_eq!(count("c"), 1, "{runs}");
    assert!(count("b") >= 1, "{runs}");
}

#[test]
fn baton_demo_runs_the_active_learning_example() {
    // From the repository, as ./scripts/demo runs it: the demo finds the
    // repository's .venv (numpy, scikit-learn) above its working directory.
    // It writes nothing there (its cluster and examples are in a temporary
    // directory).
    let run = run_with_timeout(
        std::process::Command::new(bin("baton"))
            .arg("demo")
            .current_dir(repo_root()),
        Duration::from_secs(300),
    );
    run.ok();
    // Both learning curves, as a table and a chart, to the 100-label budget.
    let table = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("labels"))
        .unwrap_or_else(|| panic!("no curve table: {}", run.stdout));
    assert!(
        table.contains("random") && table.contains("margin"),
        "{table}"
    );
    let last = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("100 "))
        .unwrap_or_else(|| panic!("no row at 100 labels: {}", run.stdout));
    let accuracies: Vec<f64> = last
        .split_whitespace()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    assert!(
        accuracies[1] > accuracies[0],
        "margin beats random at 100 labels: {last}"
    );
    assert!(
        run.stdout.contains("test accuracy against labels used"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("baton run al-margin"), "{}", run.stdout);
    assert!(
        run.stderr.contains("margin     iteration  3"),
        "each iteration is shown as it ends: {}",
        run.stderr
    );
}
