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

    let listed = cluster.execution_ids();
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged launch {id} is lost");
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
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
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
    // The lease, plus a margin for the lease check period and a loaded 2-core machine.
    assert!(
        reassigned <= Duration::from_millis(2000 + 3000),
        "reassigned after {reassigned:?}; lease is 2s"
    );
    let done = wait_finished(&cluster, &id, Duration::from_secs(20));
    assert_eq!(done["phase"], "SUCCEEDED");
    assert_eq!(done["nodes"][0]["attempt"], 2);
}

/// The execution ids node `id` holds in its own state.
fn executions_on(cluster: &Cluster, id: u64) -> Option<Vec<String>> {
    let out = baton(
        &cluster.addresses[&id],
        &[
            "list",
            "executions",
            "--stale",
            "--limit",
            "1000",
            "-o",
            "json",
        ],
    );
    let list = (out.code == 0).then(|| out.json())?;
    let mut ids: Vec<String> = list
        .as_array()?
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    Some(ids)
}

#[test]
fn a_cut_off_leader_accepts_no_writes_and_serves_no_linearizable_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(
        dir.path(),
        3,
        ClusterOptions {
            proxies: true,
            ..ClusterOptions::default()
        },
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    cluster
        .baton(&["register", &specs(dir.path(), 1, 0.01)])
        .ok();
    let before = cluster
        .baton(&["run", "small"])
        .ok()
        .stdout
        .trim()
        .to_owned();

    cluster.partition(leader);
    let cut_off = cluster.addresses[&leader].clone();
    let write = baton(&cut_off, &["run", "small", "--wait-leader", "1s"]);
    assert_eq!(
        write.code, 2,
        "a cut-off leader acknowledged a write: {write:?}"
    );
    let read = baton(&cut_off, &["get", &before, "--wait-leader", "1s"]);
    assert_eq!(
        read.code, 2,
        "a cut-off leader served a linearizable read: {read:?}"
    );
    let stale = baton(&cut_off, &["get", &before, "--stale", "-o", "json"]);
    assert_eq!(
        stale.ok().json()["id"],
        before.as_str(),
        "a stale read is served from the node's own state"
    );

    // The majority elects a leader of its own and takes writes.
    let majority: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let majority_addresses = majority
        .iter()
        .map(|id| cluster.addresses[id].clone())
        .collect::<Vec<_>>()
        .join(",");
    let during = baton(
        &majority_addresses,
        &["run", "small", "--wait-leader", "30s"],
    )
    .ok()
    .stdout
    .trim()
    .to_owned();

    // Healed: one history, on every node.
    cluster.heal();
    let converged = wait_for(Duration::from_secs(30), || {
        let lists: Vec<Vec<String>> = (1..=3)
            .map(|id| executions_on(&cluster, id))
            .collect::<Option<_>>()?;
        (lists.iter().all(|l| *l == lists[0])).then(|| lists[0].clone())
    })
    .unwrap_or_else(|| panic!("the nodes did not converge:\n{}", cluster.logs()));
    assert_eq!(
        converged,
        {
            let mut v = vec![before.clone(), during.clone()];
            v.sort();
            v
        },
        "only acknowledged launches exist"
    );
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20));
    assert!(
        majority.contains(&new_leader),
        "the old leader must have stepped down"
    );
}

/// A small deterministic random number generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn randomized_launches_cancels_and_reads_under_node_kills_lose_nothing() {
    let seed: u64 = std::env::var("BATON_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261124);
    let seconds: u64 = std::env::var("BATON_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    eprintln!("chaos seed {seed}, {seconds}s (BATON_CHAOS_SEED, BATON_CHAOS_SECONDS)");
    let mut rng = Rng(seed.max(1));
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 3, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "exec-1", 4, &dir.path().join("exec-1"));
    cluster
        .baton(&["register", &specs(dir.path(), 3, 0.05)])
        .ok();

    let mut acknowledged: Vec<String> = Vec::new();
    let mut cancelled: Vec<String> = Vec::new();
    let mut down: Option<u64> = None;
    let mut kills = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        match rng.below(10) {
            0..=4 => {
                let workflow = if rng.below(4) == 0 { "big" } else { "small" };
                let out = cluster.baton(&["run", workflow, "--wait-leader", "30s"]);
                assert_eq!(
                    out.code, 0,
                    "a launch failed while a quorum was up: {out:?}"
                );
                acknowledged.push(out.stdout.trim().to_owned());
            }
            5 if !acknowledged.is_empty() => {
                let id = acknowledged[rng.below(acknowledged.len() as u64) as usize].clone();
                let out = cluster.baton(&["cancel", &id, "--wait-leader", "30s"]);
                assert_eq!(out.code, 0, "cancel failed: {out:?}");
                cancelled.push(id);
            }
            6 | 7 if !acknowledged.is_empty() => {
                let id = acknowledged[rng.below(acknowledged.len() as u64) as usize].clone();
                let out = cluster.baton(&["get", &id, "--wait-leader", "30s", "-o", "json"]);
                assert_eq!(
                    out.code, 0,
                    "an acknowledged launch cannot be read: {out:?}"
                );
            }
            _ => match down.take() {
                Some(id) => cluster.restart(id),
                None => {
                    let id = 1 + rng.below(3);
                    cluster.kill(id);
                    down = Some(id);
                    kills += 1;
                }
            },
        }
    }
    if let Some(id) = down {
        cluster.restart(id);
    }
    eprintln!(
        "{} launches, {} cancels, {kills} kills",
        acknowledged.len(),
        cancelled.len()
    );
    assert!(kills >= 2, "the run should kill nodes repeatedly");

    for id in &acknowledged {
        let done = wait_finished(&cluster, id, Duration::from_secs(120));
        let phase = done["phase"].as_str().unwrap();
        assert!(
            phase == "SUCCEEDED" || (phase == "CANCELLED" && cancelled.contains(id)),
            "{id} ended {phase}: {}",
            done["error"]
        );
        let counts = successes_per_node(&cluster, id);
        assert!(
            counts.values().all(|&n| n == 1),
            "{id}: a node's success was recorded twice: {counts:?}"
        );
    }
    let listed = cluster
        .baton(&["list", "executions", "--limit", "10000", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        acknowledged.len(),
        "every acknowledged launch exists, nothing else"
    );
}

fn member(status: &Json, id: u64) -> Json {
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or(Json::Null)
}

#[test]
fn a_node_is_added_promoted_and_the_old_leader_removed_on_a_running_cluster() {
    let dir = tempfile::tempdir().unwrap();
    // Snapshots every 20 entries: the log a new node needs is compacted
    // away, so it must receive a snapshot.
    let options = ClusterOptions {
        snapshot_every: 20,
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start(dir.path(), 3, options);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    cluster
        .baton(&["register", &specs(dir.path(), 1, 0.01)])
        .ok();
    let launched = cluster
        .baton(&["run", "small"])
        .ok()
        .stdout
        .trim()
        .to_owned();

    let status = cluster
        .baton(&["cluster", "status", "-o", "json"])
        .ok()
        .json();
    assert_eq!(status["leader"], leader);
    assert!(status["term"].as_u64().unwrap() >= 1);
    assert_eq!(status["members"].as_array().unwrap().len(), 3);
    let text = cluster.baton(&["cluster", "status"]).ok().stdout.clone();
    assert!(
        text.contains("COMMITTED") && text.contains("APPLIED") && text.contains("Leader"),
        "{text}"
    );

    for _ in 0..40 {
        cluster.baton(&["run", "small"]).ok();
    }
    let compacted = wait_for(Duration::from_secs(10), || {
        let status = cluster.status_of(leader)?;
        (member(&status, leader)["snapshot_index"].as_u64()? > 20).then_some(())
    });
    assert!(compacted.is_some(), "the leader took no snapshot");

    cluster.start_joining(4);
    let address = cluster.addresses[&4].clone();
    let added = cluster
        .baton(&["cluster", "add-learner", "4", &address, "-o", "json"])
        .ok()
        .json();
    assert!(
        added
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == 4 && m["voter"] == false),
        "{added}"
    );
    cluster.baton(&["cluster", "promote", "4"]).ok();
    let caught_up = wait_for(Duration::from_secs(20), || {
        let status = cluster.baton(&["cluster", "status", "-o", "json"]).json();
        let new = member(&status, 4);
        let old = member(&status, leader);
        (new["voter"] == true
            && new["applied_index"].as_u64()? >= old["committed_index"].as_u64()?)
        .then_some(())
    });
    assert!(
        caught_up.is_some(),
        "node 4 did not become an up-to-date voter:\n{}",
        cluster.logs()
    );
    let on_new = baton(&address, &["get", &launched, "--stale", "-o", "json"]);
    assert_eq!(
        on_new.ok().json()["id"],
        launched.as_str(),
        "the new node holds the replicated state"
    );
    let snapshot = cluster
        .status_of(4)
        .map(|s| member(&s, 4)["snapshot_index"].clone());
    assert!(
        snapshot.as_ref().and_then(Json::as_u64).unwrap_or(0) > 0,
        "node 4 holds no snapshot ({snapshot:?}): it should have caught up from one"
    );

    // Decommission the old leader; the other three carry on.
    cluster
        .baton(&["cluster", "remove", &leader.to_string()])
        .ok();
    let others: String = cluster
        .addresses
        .iter()
        .filter(|(id, _)| **id != leader)
        .map(|(_, a)| a.clone())
        .collect::<Vec<_>>()
        .join(",");
    let gone = wait_for(Duration::from_secs(20), || {
        let status = baton(&others, &["cluster", "status", "-o", "json"]).json();
        let members = status["members"].as_array()?.clone();
        (members.len() == 3
            && members.iter().all(|m| m["id"] != leader)
            && status["leader"] != leader)
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "the old leader is still a member:\n{}",
        cluster.logs()
    );
    cluster.kill(leader);
    let after = baton(&others, &["run", "small", "--wait-leader", "30s"]);
    after.ok();
}

#[test]
fn a_late_result_from_a_lost_attempt_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let yaml = "kind: Task\nname: long\nversion: v1\ninterface: {inputs: {seconds: float}, outputs: {seconds: float}}\nrunner: {builtin: sleep}\n---\n\
                kind: Workflow\nname: one\nversion: v1\nnodes: [{id: only, task: long@v1, inputs: {seconds: 3}}]\n";
    cluster
        .baton(&["register", &write(dir.path(), "one.yaml", yaml)])
        .ok();
    // Executor a reaches the scheduler only through a proxy the test can cut.
    let proxy = proxy::Proxy::start(&cluster.all());
    let a = Executor::start(&proxy.address(), "exec-a", 1, &dir.path().join("a"));
    let id = cluster.baton(&["run", "one"]).ok().stdout.trim().to_owned();
    wait_for(Duration::from_secs(10), || {
        (execution(&cluster, &id)["nodes"][0]["phase"] == "RUNNING").then_some(())
    })
    .expect("the node starts on a");
    proxy.cut();
    let _b = Executor::start(&cluster.all(), "exec-b", 1, &dir.path().join("b"));
    wait_for(Duration::from_secs(10), || {
        let node = execution(&cluster, &id)["nodes"][0].clone();
        (node["attempt"] == 2 && node["executor"] == "exec-b").then_some(())
    })
    .expect("the lost attempt runs again on b");
    // a finishes attempt 1 while cut off, then delivers its result late.
    std::thread::sleep(Duration::from_millis(2500));
    proxy.heal();
    let done = wait_finished(&cluster, &id, Duration::from_secs(20));
    assert_eq!(done["phase"], "SUCCEEDED");
    assert_eq!(
        done["nodes"][0]["attempt"], 2,
        "the recorded result is attempt 2's"
    );
    assert_eq!(done["nodes"][0]["executor"], "exec-b");
    let counts = successes_per_node(&cluster, &id);
    assert_eq!(counts.get("only"), Some(&1), "{counts:?}");
    // a reconnected holding attempt 1's unacknowledged result and re-sent it.
    let delivered = wait_for(Duration::from_secs(10), || {
        a.log().contains("unacknowledged=1").then_some(())
    });
    assert!(
        delivered.is_some(),
        "a never re-sent its late result:\n{}",
        a.log()
    );
}

/// Each node of a chain starts on its upstream's result before that result
/// is committed. With the leader killed in the middle of a chain, every node
/// is still recorded once, after its upstream's success in the history, and
/// the chain's output is the value passed all the way down.
#[test]
fn leader_killed_mid_chain_records_each_node_once_after_its_upstream() {
    const LENGTH: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 3, ClusterOptions::default());
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "exec-1", 2, &dir.path().join("exec-1"));
    let mut yaml = String::from(
        "kind: Task\nname: nap\nversion: v1\ninterface: {inputs: {seconds: float, x: int}, outputs: {x: int}}\nrunner: {builtin: sleep}\n---\n\
         kind: Workflow\nname: chain\nversion: v1\ninterface: {inputs: {x: int}, outputs: {x: int}}\nnodes:\n  \
         - {id: n0, task: nap@v1, inputs: {seconds: 0.005, x: \"${inputs.x}\"}}\n",
    );
    for i in 1..LENGTH {
        yaml.push_str(&format!(
            "  - {{id: n{i}, task: nap@v1, inputs: {{seconds: 0.005, x: \"${{n{}.x}}\"}}}}\n",
            i - 1
        ));
    }
    yaml.push_str(&format!("outputs: {{x: \"${{n{}.x}}\"}}\n", LENGTH - 1));
    cluster
        .baton(&["register", &write(dir.path(), "chain.yaml", &yaml)])
        .ok();
    let id = cluster
        .baton(&["run", "chain", "-i", "x=41"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    wait_for(Duration::from_secs(30), || {
        (succeeded_nodes(&execution(&cluster, &id)) >= 50).then_some(())
    })
    .expect("the chain makes progress");
    cluster.kill(leader);
    assert_ne!(cluster.wait_for_leader(Duration::from_secs(20)), leader);

    let done = wait_finished(&cluster, &id, Duration::from_secs(120));
    assert_eq!(done["phase"], "SUCCEEDED", "{}", done["error"]);
    assert_eq!(done["outputs"]["x"], 41);
    let history = cluster
        .baton(&["watch", &id, "-o", "json"])
        .ok()
        .stdout
        .clone();
    let mut succeeded = BTreeMap::new();
    for (at, line) in history.lines().enumerate() {
        let event: Json = serde_json::from_str(line).unwrap();
        let Some(node) = event["node"].as_str() else {
            continue;
        };
        let index: usize = node[1..].parse().unwrap();
        if event["phase"] == "RUNNING" && index > 0 {
            assert!(
                succeeded.contains_key(&(index - 1)),
                "{node} started before n{} succeeded:\n{history}",
                index - 1
            );
        }
        if event["phase"] == "SUCCEEDED" {
            assert!(
                succeeded.insert(index, at).is_none(),
                "{node} succeeded twice"
            );
        }
    }
    assert_eq!(succeeded.len(), LENGTH);
}
