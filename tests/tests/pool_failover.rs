//! Pools through failures, on real processes: the scheduler leader killed
//! (SIGKILL) while a pool is scaled and an executor draining, and a
//! rolling restart of every executor of a pool during a 2,000-node run.

use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

const SPECS: &str = r#"
kind: Task
name: pause
version: v1
interface: {inputs: {seconds: float, x: int}, outputs: {x: int}}
runner: {builtin: sleep}
---
kind: Workflow
name: long
version: v1
pool: cpu
nodes: [{id: only, task: pause@v1, inputs: {seconds: 60, x: 1}}]
---
kind: Workflow
name: short
version: v1
pool: cpu
nodes: [{id: only, task: pause@v1, inputs: {seconds: 0.01, x: 1}}]
"#;

fn executors(cluster: &Cluster) -> Vec<Json> {
    let listed = cluster.baton(&["executors", "-o", "json"]).ok().json();
    listed.as_array().cloned().unwrap_or_default()
}

fn executor(cluster: &Cluster, id: &str) -> Option<Json> {
    executors(cluster)
        .into_iter()
        .find(|e| e["id"] == id && e["connected"] == true)
}

#[test]
fn a_new_leader_keeps_the_desired_size_and_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    // A lease long enough for the executors to find the new leader before
    // the long task's attempt counts as lost.
    let options = ClusterOptions {
        lease: "60s",
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start(dir.path(), 3, options);
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let all = cluster.all();
    let cpu = ["--pool", "cpu"];
    let mut pool: std::collections::BTreeMap<String, Executor> = ["cpu-a", "cpu-b"]
        .into_iter()
        .map(|id| {
            let executor = Executor::start_args(&all, id, 1, &dir.path().join(id), &[], &cpu);
            (id.to_owned(), executor)
        })
        .collect();
    cluster
        .baton(&["register", &write(dir.path(), "specs.yaml", SPECS)])
        .ok();
    let long = cluster
        .baton(&["run", "long"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let runs_on = wait_for(Duration::from_secs(20), || {
        let got = cluster.baton(&["get", &long, "-o", "json"]).ok().json();
        let on = got["nodes"][0]["executor"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        (!on.is_empty()).then_some(on)
    })
    .expect("the long task starts");
    let other = if runs_on == "cpu-a" { "cpu-b" } else { "cpu-a" };
    cluster
        .baton(&["pool", "scale", "cpu", "--workers", "5"])
        .ok();
    cluster.baton(&["executor", "drain", &runs_on]).ok();

    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    // The executors find the new leader; it sends the size and the drain again.
    let settled = wait_for(Duration::from_secs(45), || {
        let open = executor(&cluster, other)?;
        let drained = executor(&cluster, &runs_on)?;
        (open["workers"] == 5 && drained["draining"] == true).then_some(())
    });
    assert!(
        settled.is_some(),
        "the new leader keeps the size (all of it on the executor that takes work) and the drain: {:?}\n{}",
        executors(&cluster),
        pool[&runs_on].log()
    );
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert_eq!(pools["pools"][0]["desired"], "5 workers", "{pools}");
    // The drained executor gets nothing new; its running task goes on.
    for _ in 0..3 {
        let got = cluster
            .baton(&["run", "short", "--wait", "-o", "json"])
            .ok()
            .json();
        assert_eq!(got["nodes"][0]["executor"], other, "{got}");
    }
    let got = cluster.baton(&["get", &long, "-o", "json"]).ok().json();
    assert_eq!(got["nodes"][0]["phase"], "RUNNING", "{got}");
    assert_eq!(got["nodes"][0]["attempt"], 1, "{got}");

    // A restarted executor (same id, its own --workers 1) is resized again.
    pool.get_mut(other).unwrap().kill();
    let restarted = Executor::start_args(&all, other, 1, &dir.path().join("again"), &[], &cpu);
    pool.insert(other.to_owned(), restarted);
    let resized = wait_for(Duration::from_secs(20), || {
        (executor(&cluster, other)?["workers"] == 5).then_some(())
    });
    assert!(resized.is_some(), "{:?}", executors(&cluster));
    cluster.baton(&["cancel", &long]).ok();
}

#[test]
fn a_rolling_restart_of_a_pool_mid_run_loses_and_reruns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let all = cluster.all();
    let cpu = ["--pool", "cpu"];
    let mut pool: Vec<Executor> = (0..3)
        .map(|i| {
            let id = format!("old-{i}");
            Executor::start_args(&all, &id, 2, &dir.path().join(&id), &[], &cpu)
        })
        .collect();
    let nodes: Vec<String> = (0..2000)
        .map(|i| format!("  - {{id: n{i}, task: pause@v1, inputs: {{seconds: 0.005, x: {i}}}}}"))
        .collect();
    let wide = format!(
        "{SPECS}---\nkind: Workflow\nname: wide\nversion: v1\npool: cpu\nnodes:\n{}\n",
        nodes.join("\n")
    );
    cluster
        .baton(&["register", &write(dir.path(), "wide.yaml", &wide)])
        .ok();
    let id = cluster
        .baton(&["run", "wide"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let mut replaced = Vec::new();
    for (i, slot) in pool.iter_mut().enumerate() {
        std::thread::sleep(Duration::from_millis(400));
        let new_id = format!("new-{i}");
        let fresh = Executor::start_args(&all, &new_id, 2, &dir.path().join(&new_id), &[], &cpu);
        let mut old = std::mem::replace(slot, fresh);
        let code = old.terminate(Duration::from_secs(30));
        assert_eq!(code, Some(0), "old-{i} drains and exits 0: {}", old.log());
        replaced.push(old);
    }
    let ended = wait_for(Duration::from_secs(120), || {
        let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
        (got["phase"] != "RUNNING").then_some(got)
    })
    .expect("the run ends");
    assert_eq!(ended["phase"], "SUCCEEDED", "{}", ended["error"]);
    // Every node succeeded exactly once: no executor reported a second
    // success of any node (a finished node never runs again).
    let mut succeeded = 0;
    for executor in replaced.iter().chain(pool.iter()) {
        succeeded += executor.log().matches("attempt succeeded").count();
    }
    assert_eq!(succeeded, 2000, "one success per node, none run twice");
    let old_ran = ended["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["executor"].as_str().unwrap().starts_with("old-"))
        .count();
    assert!(old_ran > 0, "the restart happened mid-run");
}
