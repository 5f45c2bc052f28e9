//! The replicated scheduler under faults: real `baton-scheduler` and
//! `baton-executor` processes on loopback, killed with SIGKILL or cut off by
//! fault-injecting proxies.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

/// `nap` sleeps `seconds` then passes `x` on; `small` is two quick nodes.
fn specs(dir: &std::path::Path, big_nodes: usize, nap: f64) -> String {
    let mut yaml = String::from(
        "kind: Task\nname: nap\nversion: v1\ninterface: {inputs: {seconds: float, x: int}, outputs: {x: int}}\nrunner: {builtin: sleep}\n---\n\
         kind: Workflow\nname: small\nversion: v1\ninterface: {outputs: {x: int}}\nnodes:\n\
           - {id: a, task: nap@v1, inputs: {seconds: 0.01, x: 1}}\n\
           - {id: b, task: nap@v1, inputs: {seconds: 0.01, x: \"${a.x}\"}}\n\
         outputs: {x: \"${b.x}\"}\n---\n\
         kind: Workflow\nname: big\nversion: v1\nnodes:\n",
    );
    for i in 0..big_nodes {
        yaml.push_str(&format!(
            "  - {{id: n{i}, task: nap@v1, inputs: {{seconds: {nap}, x: {i}}}}}\n"
        ));
    }
    write(dir, "specs.yaml", &yaml)
}

fn execution(cluster: &Cluster, id: &str) -> Json {
    cluster.baton(&["get", id, "-o", "json"]).ok().json()
}

fn wait_finished(cluster: &Cluster, id: &str, limit: Duration) -> Json {
    wait_for(limit, || {
        let out = cluster.baton(&["get", id, "-o", "json"]);
        let e = (out.code == 0).then(|| out.json())?;
        (e["phase"] != "RUNNING").then_some(e)
    })
    .unwrap_or_else(|| panic!("{id} did not finish within {limit:?}"))
}

fn succeeded_nodes(execution: &Json) -> usize {
    execution["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["phase"] == "SUCCEEDED")
        .count()
}

/// Counts recorded successes per node in an execution's history.
fn successes_per_node(cluster: &Cluster, id: &str) -> BTreeMap<String, usize> {
    let out = cluster
        .baton(&["watch", id, "-o", "json"])
        .ok()
        .stdout
        .clone();
    let mut counts = BTreeMap::new();
    for line in out.lines() {
        let event: Json = serde_json::from_str(line).unwrap();
        if event["phase"] == "SUCCEEDED" && !event["node"].is_null() {
            *counts
                .entry(event["node"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn leader_killed_mid_workflow_loses_nothing_and_records_each_node_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 3, ClusterOptions::default());
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "exec-1", 8, &dir.path().join("exec-1"));
    cluster
        .baton(&["register", &specs(dir.path(), 2000, 0.02)])
        .ok();
    let big = cluster.baton(&["run", "big"]).ok().stdout.trim().to_owned();
    wait_for(Duration::from_secs(30), || {
        (succeeded_nodes(&execution(&cluster, &big)) >= 100).then_some(())
    })
    .expect("the big workflow makes progress");

    // 50 launches from 10 clients while the leader is killed under them.
    let all = cluster.all();
    let launches = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..10)
            .map(|_| {
                let all = all.clone();
                scope.spawn(move || {
                    (0..5)
                        .map(|_| {
                            let out = baton(&all, &["run", "small", "--wait-leader", "30s"]);
                            std::thread::sleep(Duration::from_millis(50));
                            out
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(400));
        cluster.kill(leader);
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20));
    assert_ne!(new_leader, leader);

    let acknowledged: Vec<String> = launches
        .iter()
        .filter(|o| o.code == 0)
        .map(|o| o.stdout.trim().to_owned())
        .collect();
    assert_eq!(
        acknowledged.len(),
        50,
        "every launch is acknowledged once a leader answers: {launches:?}"
    );

    let done = wait_finished(&cluster, &big, Duration::from_secs(120));
    assert_eq!(done["phase"], "SUCCEEDED", "{}", done["error"]);
    let counts = successes_per_node(&cluster, &big);
    assert_eq!(counts.len(), 2000);
    assert!(
        counts.values().all(|&n| n == 1),
        "a node's success was recorded twice"
    );

    let listed = cluster
        .baton(&["list", "executions", "--limit", "100", "-o", "json"])
        .ok()
        .json();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(
            listed.contains(&id.as_str()),
            "acknowledged launch {id} is lost"
        );
        let small = wait_finished(&cluster, id, Duration::from_secs(60));
        assert_eq!(small["phase"], "SUCCEEDED", "{id}: {}", small["error"]);
    }
}

#[test]
fn follower_and_whole_cluster_restarts_keep_all_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 3, ClusterOptions::default());
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "exec-1", 4, &dir.path().join("exec-1"));
    cluster
        .baton(&["register", &specs(dir.path(), 40, 0.25)])
        .ok();
    let first = cluster.baton(&["run", "big"]).ok().stdout.trim().to_owned();

    // A follower killed and restarted catches up.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.kill(follower);
    let second = cluster
        .baton(&["run", "small"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    cluster.restart(follower);
    let caught_up = wait_for(Duration::from_secs(30), || {
        let leader_status = cluster.status_of(leader)?;
        let node = |status: &Json, id: u64| {
            status["members"]
                .as_array()?
                .iter()
                .find(|m| m["id"] == id)
                .cloned()
        };
        let leader_applied = node(&leader_status, leader)?["applied_index"].as_u64()?;
        let follower_applied =
            node(&cluster.status_of(follower)?, follower)?["applied_index"].as_u64()?;
        (follower_applied >= leader_applied).then_some(())
    });
    assert!(
        caught_up.is_some(),
        "the restarted follower did not catch up:\n{}",
        cluster.log(follower)
    );
    let stale = baton(
        &cluster.addresses[&follower],
        &["get", &second, "--stale", "-o", "json"],
    );
    assert_eq!(
        stale.ok().json()["id"],
        second.as_str(),
        "the follower's own state has the launch"
    );

    // The whole cluster killed at once, then restarted from its data directories.
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.restart(id);
    }
    cluster.wait_for_leader(Duration::from_secs(30));
    for id in [&first, &second] {
        let done = wait_finished(&cluster, id, Duration::from_secs(90));
        assert_eq!(
            done["phase"],
            "SUCCEEDED",
            "{id}: {}\n{}\n{}",
            done["error"],
            cluster.logs(),
            _executor.log()
        );
    }
    let counts = successes_per_node(&cluster, &first);
    assert!(
        counts.len() == 40 && counts.values().all(|&n| n == 1),
        "{counts:?}"
    );
}

#[test]
fn an_executor_killed_mid_task_has_its_node_run_again_within_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(
        dir.path(),
        1,
        ClusterOptions {
            lease: "2s",
            proxies: false,
        },
    );
    cluster.wait_for_leader(Duration::from_secs(20));
    let yaml = "kind: Task\nname: long\nversion: v1\ninterface: {inputs: {seconds: float}, outputs: {seconds: float}}\nrunner: {builtin: sleep}\n---\n\
                kind: Workflow\nname: one\nversion: v1\nnodes: [{id: only, task: long@v1, inputs: {seconds: 3}}]\n";
    let specs = write(dir.path(), "one.yaml", yaml);
    cluster.baton(&["register", &specs]).ok();
    let mut first = Executor::start(&cluster.all(), "exec-a", 1, &dir.path().join("a"));
    let id = cluster.baton(&["run", "one"]).ok().stdout.trim().to_owned();
    wait_for(Duration::from_secs(10), || {
        let e = execution(&cluster, &id);
        (e["nodes"][0]["phase"] == "RUNNING").then_some(())
    })
    .expect("the node starts");
    let _second = Executor::start(&cluster.all(), "exec-b", 1, &dir.path().join("b"));
    first.kill();
    let killed = Instant::now();
    let reassigned = wait_for(Duration::from_secs(10), || {
        let node = execution(&cluster, &id)["nodes"][0].clone();
        (node["attempt"] == 2 && node["executor"] == "exec-b").then(|| killed.elapsed())
    })
    .expect("the node runs again on the other executor");
    assert!(
        reassigned <= Duration::from_millis(2000 + 1500),
        "reassigned after {reassigned:?}; lease is 2s"
    );
    let done = wait_finished(&cluster, &id, Duration::from_secs(20));
    assert_eq!(done["phase"], "SUCCEEDED");
    assert_eq!(done["nodes"][0]["attempt"], 2);
}
