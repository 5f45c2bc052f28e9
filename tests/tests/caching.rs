//! Caching end to end: a second identical launch is served from the cache
//! without running any task (the task counts its runs in a file), `get` and
//! `watch` say CACHED, `--no-cache` runs it again, and a launch plan can
//! turn the cache off for one node.

use baton_tests::*;
use serde_json::Value as Json;

/// Appends a line to `runs.txt` each time it runs: the proof of what ran.
const COUNT: &str = r#"
import json, os, sys
inputs = json.load(open(os.environ["BATON_INPUTS"]))
with open(sys.argv[1], "a") as f:
    f.write("ran\n")
json.dump({"y": inputs["x"] * 10}, open(os.environ["BATON_OUTPUTS"], "w"))
"#;

fn runs(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn a_second_identical_launch_is_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let script = write(dir.path(), "count.py", COUNT);
    let counter = dir.path().join("runs.txt");
    let specs = format!(
        r#"kind: Task
name: featurize
version: v1
interface: {{inputs: {{x: int, note: string}}, outputs: {{y: int}}}}
runner: {{process: {{command: [python3, "{script}", "{counter}"]}}}}
cache: {{version: "1"}}
cache_ignore: [note]
---
kind: Workflow
name: features
version: v1
interface: {{inputs: {{x: int, note: string}}, outputs: {{y: int}}}}
nodes: [{{id: featurize, task: featurize@v1, inputs: {{x: "${{inputs.x}}", note: "${{inputs.note}}"}}}}]
outputs: {{y: "${{featurize.y}}"}}
---
kind: LaunchPlan
name: fresh-features
workflow: features
overrides:
  featurize: {{cache: skip}}
"#,
        counter = counter.display()
    );
    cluster
        .baton(&["register", &write(dir.path(), "cache.yaml", &specs)])
        .ok();

    let first = cluster
        .baton(&[
            "run", "features", "-i", "x=4", "-i", "note=a", "--wait", "-o", "json",
        ])
        .ok()
        .json();
    assert_eq!(first["outputs"]["y"], Json::from(40));
    assert_eq!(runs(&counter), 1);

    // The same x (the note is ignored by the key): nothing runs.
    let second = cluster
        .baton(&[
            "run", "features", "-i", "x=4", "-i", "note=b", "--wait", "-o", "json",
        ])
        .ok()
        .json();
    assert_eq!(second["outputs"]["y"], Json::from(40));
    assert_eq!(runs(&counter), 1, "served from the cache: no task ran");
    assert_eq!(
        second["nodes"][0]["phase"],
        Json::from("CACHED"),
        "{second}"
    );
    let id = second["id"].as_str().unwrap().to_owned();
    let text = cluster.baton(&["get", &id]).ok().stdout.clone();
    assert!(text.contains("CACHED"), "{text}");
    let watched = cluster.baton(&["watch", &id]).ok().stdout.clone();
    assert!(
        watched.contains("CACHED")
            && watched.contains("cached: the result of features-1 node featurize"),
        "{watched}"
    );

    // --no-cache runs it; so does a plan that skips the cache for the node.
    cluster
        .baton(&[
            "run",
            "features",
            "-i",
            "x=4",
            "-i",
            "note=c",
            "--no-cache",
            "--wait",
        ])
        .ok();
    assert_eq!(runs(&counter), 2);
    cluster
        .baton(&[
            "run",
            "fresh-features",
            "-i",
            "x=4",
            "-i",
            "note=d",
            "--wait",
        ])
        .ok();
    assert_eq!(runs(&counter), 3);
    // --overwrite-cache runs it and what it stores serves the next launch.
    cluster
        .baton(&[
            "run",
            "features",
            "-i",
            "x=4",
            "-i",
            "note=e",
            "--overwrite-cache",
            "--wait",
        ])
        .ok();
    assert_eq!(runs(&counter), 4);
    let last = cluster
        .baton(&[
            "run", "features", "-i", "x=4", "-i", "note=f", "--wait", "-o", "json",
        ])
        .ok()
        .json();
    assert_eq!(runs(&counter), 4);
    assert_eq!(last["nodes"][0]["phase"], Json::from("CACHED"));
    // The flags exclude each other.
    let both = cluster.baton(&["run", "features", "--no-cache", "--overwrite-cache"]);
    assert_eq!(both.code, 2, "{both:?}");
}

#[test]
fn a_bad_cache_policy_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let bad = "kind: Task\nname: t\nversion: v1\ninterface: {inputs: {x: int}}\n\
               runner: {builtin: noop}\ncache: {version: \"1\"}\ncache_ignore: [seed]\n";
    let outcome = cluster.baton(&["register", &write(dir.path(), "bad.yaml", bad)]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("field `cache_ignore[0]`): `cache_ignore` names `seed`, which is not an input (inputs: x)"),
        "{}",
        outcome.stderr
    );
    let bad = "kind: Task\nname: t\nversion: v1\nrunner: {builtin: noop}\ncache: {version: \"\"}\n";
    let outcome = cluster.baton(&["register", &write(dir.path(), "empty.yaml", bad)]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("`cache.version` must be a non-empty string"),
        "{}",
        outcome.stderr
    );
}
