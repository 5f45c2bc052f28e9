//! Pools as independent engines, on real processes: pinning by pool, label
//! selector and project default; a pool without executors keeps its queue
//! and says why; `baton pool scale` resizes live executors mid-run and
//! loses nothing; the autoscaler grows a pool under a burst and shrinks it
//! after; `baton executor drain` with a deadline hands back what still
//! runs; and the bad requests of each command are refused.

use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

const TASKS: &str = r#"
kind: Task
name: pause
version: v1
project: ml
interface: {inputs: {seconds: float, x: int}, outputs: {x: int}}
runner: {builtin: sleep}
---
kind: Task
name: train
version: v1
project: ml
interface: {inputs: {seconds: float, x: int}, outputs: {x: int}}
runner: {builtin: sleep}
selector: {gpu: a100}
"#;

fn register(cluster: &Cluster, dir: &std::path::Path, name: &str, text: &str) {
    cluster.baton(&["register", &write(dir, name, text)]).ok();
}

/// An executor of `pool` with `workers` workers and no labels.
fn in_pool(all: &str, id: &str, workers: u32, dir: &std::path::Path, pool: &str) -> Executor {
    Executor::start_args(all, id, workers, dir, &[], &["--pool", pool])
}

fn node<'a>(execution: &'a Json, id: &str) -> &'a Json {
    execution["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {execution}"))
}

/// `COUNT` independent sleep tasks of `seconds` each.
fn many(name: &str, count: usize, seconds: f64, pool: &str) -> String {
    let nodes: Vec<String> = (0..count)
        .map(|i| {
            format!("  - {{id: n{i}, task: pause@v1, inputs: {{seconds: {seconds}, x: {i}}}}}")
        })
        .collect();
    format!(
        "kind: Workflow\nname: {name}\nversion: v1\nproject: ml\npool: {pool}\nnodes:\n{}\n",
        nodes.join("\n")
    )
}

#[test]
fn pins_selectors_and_project_defaults_place_work_and_an_empty_pool_waits() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let all = cluster.all();
    let at = |name: &str| dir.path().join(name);
    let _cpu = in_pool(&all, "cpu-1", 2, &at("cpu"), "cpu");
    let _a100 = Executor::start_args(
        &all,
        "gpu-a100",
        2,
        &at("a100"),
        &[],
        &["--pool", "gpu", "--labels", "gpu=a100,zone=b"],
    );
    let _t4 = Executor::start_args(
        &all,
        "gpu-t4",
        2,
        &at("t4"),
        &[],
        &["--pool", "gpu", "--labels", "gpu=t4"],
    );
    register(&cluster, dir.path(), "tasks.yaml", TASKS);
    let nodes: String = (0..6)
        .map(|i| format!("  - {{id: g{i}, task: pause@v1, inputs: {{seconds: 0.05, x: {i}}}}}\n"))
        .collect();
    let workflow = format!(
        "kind: Workflow\nname: pinned\nversion: v1\nproject: ml\npool: gpu\nnodes:\n{nodes}\
         \x20 - {{id: own, task: pause@v1, inputs: {{seconds: 0.05, x: 9}}, pool: cpu}}\n\
         \x20 - {{id: fit, task: train@v1, inputs: {{seconds: 0.05, x: 10}}}}\n\
         \x20 - {{id: planned, task: pause@v1, inputs: {{seconds: 0.05, x: 11}}}}\n\
         ---\nkind: LaunchPlan\nname: pinned-plan\nproject: ml\nworkflow: pinned@v1\n\
         overrides: {{planned: {{pool: cpu}}}}\n"
    );
    register(&cluster, dir.path(), "pinned.yaml", &workflow);
    for launch in [
        vec!["run", "ml/pinned", "--wait"],
        vec!["run", "ml/pinned-plan", "--wait"],
    ] {
        cluster.baton(&launch).ok();
    }
    let listed = cluster
        .baton(&["list", "executions", "-o", "json"])
        .ok()
        .json();
    for execution in listed.as_array().unwrap() {
        let id = execution["id"].as_str().unwrap();
        let got = cluster.baton(&["get", id, "-o", "json"]).ok().json();
        let planned = got["launch_plan"].is_string();
        for n in got["nodes"].as_array().unwrap() {
            let name = n["id"].as_str().unwrap();
            let ran_on = n["executor"].as_str().unwrap();
            match name {
                "own" => assert_eq!(ran_on, "cpu-1", "a node's own pool: {got}"),
                "planned" if planned => assert_eq!(ran_on, "cpu-1", "the plan's override: {got}"),
                "fit" => {
                    assert_eq!(ran_on, "gpu-a100", "only the matching executor: {got}");
                    assert_eq!(n["selector"], "gpu=a100");
                }
                _ => assert!(
                    ran_on.starts_with("gpu-"),
                    "pinned to gpu, never cpu: {got}"
                ),
            }
        }
    }

    // A project default pool nobody serves: the run queues and says why,
    // then drains once an executor joins.
    cluster
        .baton(&["project", "set", "ml", "--default-pool", "ml-pool"])
        .ok();
    register(
        &cluster,
        dir.path(),
        "free.yaml",
        &many("free", 3, 0.05, "").replace("pool: \n", ""),
    );
    let id = cluster.launch("ml/free");
    let waiting = wait_for(Duration::from_secs(10), || {
        let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
        (node(&got, "n0")["waiting"] == "waiting for an executor in pool ml-pool").then_some(got)
    });
    assert!(waiting.is_some(), "get says why it waits");
    let text = cluster.baton(&["get", &id]).ok().stdout.clone();
    assert!(
        text.contains("waiting for an executor in pool ml-pool"),
        "{text}"
    );
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert_eq!(pool_status(&pools, "ml-pool")["queue_depth"], 3, "{pools}");
    assert_eq!(pools["projects"][0]["default_pool"], "ml-pool", "{pools}");
    let _late = in_pool(&all, "ml-1", 2, &at("ml"), "ml-pool");
    let ended = cluster.wait_end(&id, Duration::from_secs(30));
    assert_eq!(ended["phase"], "SUCCEEDED", "{ended}");
    assert_eq!(node(&ended, "n0")["executor"], "ml-1");

    // A selector no executor matches: it waits, naming the labels.
    let lonely = "kind: Task\nname: lonely\nversion: v1\nproject: ml\n\
                  interface: {inputs: {x: int}, outputs: {x: int}}\n\
                  runner: {builtin: noop}\npool: gpu\nselector: {gpu: h100}\n---\n\
                  kind: Workflow\nname: h100\nversion: v1\nproject: ml\n\
                  nodes: [{id: only, task: lonely@v1, inputs: {x: 1}}]\n";
    register(&cluster, dir.path(), "h100.yaml", lonely);
    let id = cluster.launch("ml/h100");
    let why = wait_for(Duration::from_secs(10), || {
        let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
        let why = node(&got, "only")["waiting"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        (!why.is_empty()).then_some(why)
    });
    assert_eq!(
        why.as_deref(),
        Some("waiting for an executor in pool gpu matching gpu=h100")
    );
    let executors = cluster.baton(&["executors", "-o", "json"]).ok().json();
    let a100 = executors
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "gpu-a100")
        .unwrap();
    assert_eq!(a100["labels"]["gpu"], "a100", "{executors}");
    assert_eq!(a100["pool"], "gpu");
    assert!(!a100["version"].as_str().unwrap().is_empty());
}

#[test]
fn pool_scale_resizes_live_executors_mid_run_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let all = cluster.all();
    let _a = in_pool(&all, "cpu-a", 1, &dir.path().join("a"), "cpu");
    let _b = in_pool(&all, "cpu-b", 1, &dir.path().join("b"), "cpu");
    register(&cluster, dir.path(), "tasks.yaml", TASKS);
    register(
        &cluster,
        dir.path(),
        "wide.yaml",
        &many("wide", 2000, 0.01, "cpu"),
    );
    let id = cluster.launch("ml/wide");
    let workers = |cluster: &Cluster| {
        let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
        pool_status(&pools, "cpu")["workers"].as_u64().unwrap()
    };
    assert_eq!(workers(&cluster), 2);
    cluster
        .baton(&["pool", "scale", "cpu", "--workers", "8"])
        .ok();
    let grown = wait_for(Duration::from_secs(10), || {
        (workers(&cluster) == 8).then_some(())
    });
    assert!(grown.is_some(), "the live worker count follows the scale");
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert_eq!(
        pool_status(&pools, "cpu")["desired"],
        "8 workers",
        "{pools}"
    );
    // Busy: more than the two first workers run at once.
    let busy = wait_for(Duration::from_secs(10), || {
        let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
        (pool_status(&pools, "cpu")["busy"].as_u64().unwrap() > 2).then_some(())
    });
    assert!(busy.is_some(), "scale-up takes work at once");
    cluster
        .baton(&["pool", "scale", "cpu", "--per-executor", "1"])
        .ok();
    let shrunk = wait_for(Duration::from_secs(10), || {
        (workers(&cluster) == 2).then_some(())
    });
    assert!(shrunk.is_some(), "scale-down retires workers");
    let ended = cluster.wait_end(&id, Duration::from_secs(120));
    assert_eq!(ended["phase"], "SUCCEEDED", "{}", ended["error"]);
    let nodes = ended["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2000);
    assert!(
        nodes.iter().all(|n| n["attempt"] == 1),
        "nothing lost or run twice"
    );

    // Bad requests are refused, naming what is wrong, and change nothing.
    for (args, says) in [
        (
            vec!["pool", "scale", "cpu"],
            "--workers N, --per-executor N or --reset",
        ),
        (vec!["pool", "scale", "cpu", "--workers", "0"], "0 workers"),
        (
            vec!["pool", "scale", "bad pool", "--workers", "2"],
            "bad pool name",
        ),
        (vec!["executor", "drain", "nobody"], "no executor `nobody`"),
        (vec!["project", "set", "ml"], "--default-pool"),
        (
            vec!["project", "set", "ml", "--default-pool", "a b"],
            "bad pool name",
        ),
    ] {
        assert_refused(|a| cluster.baton(a), &args, says);
    }
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert_eq!(
        pool_status(&pools, "cpu")["desired"],
        "1 per executor",
        "{pools}"
    );
    assert!(pools["projects"].as_array().unwrap().is_empty(), "{pools}");
}

#[test]
fn a_drain_with_a_deadline_hands_back_what_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let all = cluster.all();
    let mut slow = in_pool(&all, "slow", 2, &dir.path().join("a"), "cpu");
    register(&cluster, dir.path(), "tasks.yaml", TASKS);
    // Two long tasks, retries 0: handed back, they use no retry.
    register(
        &cluster,
        dir.path(),
        "long.yaml",
        &many("long", 2, 30.0, "cpu"),
    );
    let id = cluster.launch("ml/long");
    let running = wait_for(Duration::from_secs(10), || {
        let executors = cluster.baton(&["executors", "-o", "json"]).ok().json();
        let running = executors[0]["running"].as_array().map_or(0, |r| r.len());
        (running == 2).then_some(executors)
    })
    .expect("both run on the one executor");
    assert_eq!(running[0]["id"], "slow");
    cluster
        .baton(&["executor", "drain", "slow", "--deadline", "1s"])
        .ok();
    let listed = cluster.baton(&["executor", "list"]).ok().stdout.clone();
    assert!(listed.contains("draining"), "{listed}");
    let _fresh = in_pool(&all, "fresh", 2, &dir.path().join("b"), "cpu");
    // Past the deadline both are handed back, the drained executor exits 0,
    // and they run again on the other one.
    assert_eq!(
        slow.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        slow.log()
    );
    let moved = wait_for(Duration::from_secs(20), || {
        let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
        let nodes = got["nodes"].as_array().unwrap().clone();
        nodes
            .iter()
            .all(|n| n["executor"] == "fresh" && n["phase"] == "RUNNING")
            .then_some(got)
    })
    .expect("the handed-back attempts run on the other executor");
    assert_eq!(
        moved["phase"], "RUNNING",
        "no failure, no retry used: {moved}"
    );
    cluster.baton(&["cancel", &id]).ok();
}

#[test]
fn the_autoscaler_grows_a_pool_under_a_burst_and_shrinks_it_after() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let all = cluster.all();
    let _burst = Executor::start_args(
        &all,
        "burst-1",
        1,
        &dir.path().join("burst"),
        &[],
        &["--pool", "burst", "--max-workers", "8"],
    );
    register(&cluster, dir.path(), "tasks.yaml", TASKS);
    register(
        &cluster,
        dir.path(),
        "burst.yaml",
        &many("burst", 80, 0.3, "burst"),
    );
    let events = |cluster: &Cluster| {
        let got = cluster
            .baton(&["pools", "--events", "-o", "json"])
            .ok()
            .json();
        got.as_array().unwrap().clone()
    };
    let workers = |cluster: &Cluster| {
        let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
        pool_status(&pools, "burst")["workers"].as_u64().unwrap()
    };
    wait_for(Duration::from_secs(10), || {
        (workers(&cluster) == 1).then_some(())
    })
    .expect("the executor joins");

    // Policies that could not hold are refused and change nothing.
    let policy = |min: &str, max: &str| {
        vec![
            "pool",
            "autoscale",
            "burst",
            "--min",
            min,
            "--max",
            max,
            "--target-wait",
            "200ms",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<String>>()
    };
    for (args, says) in [
        (policy("0", "4"), "--min must be at least 1"),
        (policy("4", "2"), "--max 2 is below --min 4"),
        (policy("1", "4")[..7].to_vec(), "--target-wait <DURATION>"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_refused(|a| cluster.baton(a), &args, says);
    }
    assert!(events(&cluster).is_empty(), "nothing changed");

    let mut on = policy("1", "6");
    on.extend(["--cooldown".to_owned(), "2s".to_owned()]);
    let on: Vec<&str> = on.iter().map(String::as_str).collect();
    cluster.baton(&on).ok();
    let refused = cluster.baton(&["pool", "scale", "burst", "--workers", "3"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("is autoscaled (autoscale 1..6, wait 200ms)"),
        "{}",
        refused.stderr
    );

    // A burst: 80 tasks of 0.3 s on one worker would wait up to 24 s.
    let id = cluster.launch("ml/burst");
    let grown = wait_for(Duration::from_secs(20), || {
        (workers(&cluster) >= 4).then_some(())
    });
    assert!(grown.is_some(), "the pool grows: {:?}", events(&cluster));
    let ended = cluster.wait_end(&id, Duration::from_secs(60));
    assert_eq!(ended["phase"], "SUCCEEDED", "{}", ended["error"]);
    let nodes = ended["nodes"].as_array().unwrap();
    assert!(
        nodes.iter().all(|n| n["attempt"] == 1),
        "nothing lost or run twice"
    );
    // Idle after the burst: back to --min once the cooldown is over.
    let shrunk = wait_for(Duration::from_secs(20), || {
        (workers(&cluster) == 1).then_some(())
    });
    assert!(shrunk.is_some(), "the pool shrinks: {:?}", events(&cluster));

    let listed = events(&cluster);
    let by = |who: &str, says: &str| {
        listed
            .iter()
            .any(|e| e["by"] == who && e["reason"].as_str().unwrap().contains(says))
    };
    assert!(
        by("operator", "autoscale 1..6, wait 200ms on"),
        "{listed:?}"
    );
    assert!(by("autoscaler", "above the 200ms target"), "{listed:?}");
    assert!(by("autoscaler", "under-used for 2s"), "{listed:?}");
    assert_eq!(listed.last().unwrap()["to"], "1 worker", "{listed:?}");
    let text = cluster.baton(&["pools", "--events"]).ok().stdout.clone();
    assert!(
        text.contains("autoscaler") && text.contains("-> 1 worker:"),
        "{text}"
    );

    // Off: the pool keeps its size, and can be scaled by hand again.
    cluster.baton(&["pool", "autoscale", "burst", "--off"]).ok();
    cluster
        .baton(&["pool", "scale", "burst", "--workers", "2"])
        .ok();
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert_eq!(
        pool_status(&pools, "burst")["desired"],
        "2 workers",
        "{pools}"
    );
    assert!(
        pool_status(&pools, "burst")["autoscale"].is_null(),
        "{pools}"
    );
}
