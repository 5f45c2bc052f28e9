//! A drain fails nothing: an executor told to stop (SIGTERM) in the middle
//! of a run takes nothing new, finishes what it runs, hands back what
//! reached it unstarted (without using a retry: the tasks have `retries:
//! 0`) and exits 0; the other executor runs the rest. With a pool
//! prefetch, what waits on the draining executor runs there too.

use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

#[test]
fn sigterm_to_an_executor_mid_run_fails_nothing() {
    sigterm_mid_run(0);
}

#[test]
fn sigterm_to_an_executor_with_prefetched_work_fails_nothing() {
    sigterm_mid_run(3);
}

/// Runs 30 sleeps on two executors of two workers each, with `prefetch`
/// assignments allowed to wait on each, and SIGTERMs one of them mid-run.
fn sigterm_mid_run(prefetch: u32) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    if prefetch > 0 {
        let n = prefetch.to_string();
        let set = cluster.baton(&["pool", "prefetch", "default", &n]);
        assert!(
            set.ok().stdout.contains("up to 3 assignments"),
            "{}",
            set.stdout
        );
        for (args, says) in [
            (vec!["pool", "prefetch", "default", "65"], "at most 64"),
            (vec!["pool", "prefetch", "a b", "1"], "bad pool name"),
            (vec!["pool", "prefetch", "default", "many"], "invalid value"),
        ] {
            assert_refused(|a| cluster.baton(a), &args, says);
        }
    }
    let mut draining = Executor::start(&cluster.all(), "drains", 2, &dir.path().join("a"));
    let _stays = Executor::start(&cluster.all(), "stays", 2, &dir.path().join("b"));
    let nodes: Vec<String> = (0..30)
        // Short and long tasks mixed, so that a slot frees on the draining
        // executor while its other attempt still runs.
        .map(|i| {
            let seconds = if i % 2 == 0 { 0.2 } else { 1.0 };
            format!("  - {{id: n{i}, task: pause@v1, inputs: {{seconds: {seconds}, x: {i}}}}}")
        })
        .collect();
    let specs = format!(
        "kind: Task\nname: pause\nversion: v1\n\
         interface: {{inputs: {{seconds: float, x: int}}, outputs: {{x: int}}}}\n\
         runner: {{builtin: sleep}}\n---\n\
         kind: Workflow\nname: many\nversion: v1\nnodes:\n{}\n",
        nodes.join("\n")
    );
    cluster
        .baton(&["register", &write(dir.path(), "many.yaml", &specs)])
        .ok();
    let id = cluster
        .baton(&["run", "many"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // Both executors are busy with it by now.
    std::thread::sleep(Duration::from_millis(700));
    if prefetch > 0 {
        let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
        let default = &pools["pools"][0];
        assert_eq!(default["prefetch"], prefetch, "{pools}");
        let waiting: u64 = default["executors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["prefetched"].as_u64().unwrap())
            .sum();
        assert!(waiting > 0, "assignments wait on the executors: {pools}");
    }
    let code = draining.terminate(Duration::from_secs(30));
    assert_eq!(
        code,
        Some(0),
        "the drained executor exits 0; its log:\n{}",
        draining.log()
    );
    let ended = wait_for(Duration::from_secs(60), || {
        let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
        (got["phase"] != "RUNNING").then_some(got)
    })
    .expect("the execution ends");
    assert_eq!(ended["phase"], Json::from("SUCCEEDED"), "{ended}");
    let ran_on_drained = ended["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["executor"] == "drains")
        .count();
    assert!(
        ran_on_drained > 0,
        "the drained executor ran part of it: {ended}"
    );
    assert!(draining.log().contains("draining"), "{}", draining.log());
}
