//! Fair share of a pool across projects, on real processes: two projects
//! flooding one pool hold its workers by their weights; a project's cap on
//! running nodes in a pool holds with workers free, and `get` and `pools`
//! say why its nodes wait; a cap on running executions queues launches
//! (QUEUED, not refused) and starts them as others end; bad settings are
//! refused and change nothing.

use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

/// A sleep task and a workflow of `count` parallel sleeps of `seconds` in
/// pool `shared`, both in `project`.
fn flood(project: &str, name: &str, count: usize, seconds: f64) -> String {
    let nodes: String = (0..count)
        .map(|i| {
            format!("  - {{id: n{i}, task: pause@v1, inputs: {{seconds: {seconds}, x: {i}}}}}\n")
        })
        .collect();
    format!(
        "kind: Task\nname: pause\nversion: v1\nproject: {project}\n\
         interface: {{inputs: {{seconds: float, x: int}}, outputs: {{x: int}}}}\n\
         runner: {{builtin: sleep}}\n---\n\
         kind: Workflow\nname: {name}\nversion: v1\nproject: {project}\npool: shared\nnodes:\n{nodes}"
    )
}

fn shares(cluster: &Cluster) -> Json {
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    pool_status(&pools, "shared")["shares"].clone()
}

/// (running, queued) of `project` in pool `shared`.
fn share_of(shares: &Json, project: &str) -> (u64, u64) {
    shares
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["project"] == project)
        .map_or((0, 0), |s| {
            (
                s["running"].as_u64().unwrap(),
                s["queued"].as_u64().unwrap(),
            )
        })
}

fn start(dir: &std::path::Path) -> (Cluster, Executor) {
    let cluster = Cluster::start(dir, 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let executor = Executor::start_args(
        &cluster.all(),
        "shared-1",
        8,
        &dir.join("shared"),
        &[],
        &["--pool", "shared"],
    );
    (cluster, executor)
}

#[test]
fn two_flooding_projects_share_a_pool_by_weight_and_a_cap_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _executor) = start(dir.path());
    for (project, name) in [("ml", "ml-flood"), ("cv", "cv-flood")] {
        let file = write(
            dir.path(),
            &format!("{name}.yaml"),
            &flood(project, name, 400, 0.1),
        );
        cluster.baton(&["register", &file]).ok();
    }
    cluster
        .baton(&["project", "set", "cv", "--weight", "3"])
        .ok();
    // `ml` floods first and takes every worker; then `cv` floods too.
    let ml = cluster.launch("ml/ml-flood");
    let mut seen = Vec::new();
    let alone = wait_for(Duration::from_secs(10), || {
        let now = shares(&cluster);
        seen.push(now.to_string());
        (share_of(&now, "ml").0 == 8).then_some(())
    });
    assert!(alone.is_some(), "ml alone takes the whole pool: {seen:?}");
    let cv = cluster.launch("cv/cv-flood");
    // Once the running attempts turned over, sample the shares while both
    // still have work queued.
    std::thread::sleep(Duration::from_millis(500));
    let (mut ml_running, mut cv_running, mut samples) = (0, 0, 0);
    for _ in 0..20 {
        let now = shares(&cluster);
        let (ml_now, ml_queued) = share_of(&now, "ml");
        let (cv_now, cv_queued) = share_of(&now, "cv");
        if ml_queued == 0 || cv_queued == 0 {
            break;
        }
        ml_running += ml_now;
        cv_running += cv_now;
        samples += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        samples >= 10,
        "both projects kept work queued: {samples} samples"
    );
    let ml_share = ml_running as f64 / (ml_running + cv_running) as f64;
    let cv_share = 1.0 - ml_share;
    eprintln!("weights 1:3 gave shares {ml_share:.3}:{cv_share:.3} over {samples} samples");
    assert!(
        (ml_share - 0.25).abs() <= 0.25 * 0.2 && (cv_share - 0.75).abs() <= 0.75 * 0.2,
        "weights 1:3 give shares {ml_share:.3}:{cv_share:.3} over {samples} samples"
    );
    let text = cluster.baton(&["pools"]).ok().stdout.clone();
    assert!(
        text.contains("project cv") && text.contains("weight 3"),
        "{text}"
    );
    cluster.baton(&["cancel", &ml]).ok();
    cluster.baton(&["cancel", &cv]).ok();
    cluster.wait_end(&ml, Duration::from_secs(20));
    cluster.wait_end(&cv, Duration::from_secs(20));

    // A cap of 2 running nodes holds with 8 workers free.
    cluster
        .baton(&["project", "set", "ml", "--max-running", "shared=2"])
        .ok();
    let capped = cluster.launch("ml/ml-flood");
    let mut seen = Vec::new();
    for _ in 0..20 {
        let now = shares(&cluster);
        let (running, _) = share_of(&now, "ml");
        assert!(running <= 2, "the cap holds: {now}");
        seen.push(running);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.contains(&2),
        "it runs up to its cap: {seen:?} {} {}",
        cluster.baton(&["pools", "-o", "json"]).ok().stdout,
        cluster.baton(&["get", &capped]).ok().stdout
    );
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    let says = "waiting: project ml is at its cap of 2 running nodes in pool shared";
    let waiting = pool_status(&pools, "shared")["waiting"].to_string();
    assert!(waiting.contains(says), "{pools}");
    let got = cluster.baton(&["get", &capped]).ok().stdout.clone();
    assert!(got.contains(says), "{got}");
    cluster.baton(&["cancel", &capped]).ok();
    cluster.wait_end(&capped, Duration::from_secs(20));
}

#[test]
fn a_cap_on_running_executions_queues_launches_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _executor) = start(dir.path());
    let file = write(dir.path(), "short.yaml", &flood("ml", "short", 2, 0.5));
    cluster.baton(&["register", &file]).ok();

    // Bad settings are refused, naming what is wrong, and change nothing.
    for (args, says) in [
        (
            vec!["project", "set", "ml"],
            "nothing to set for project `ml`",
        ),
        (
            vec!["project", "set", "ml", "--weight", "0"],
            "--weight must be between 1 and 1000",
        ),
        (
            vec!["project", "set", "ml", "--max-running", "shared=0"],
            "remove the cap with shared=none",
        ),
        (
            vec!["project", "set", "ml", "--max-running", "shared"],
            "is not POOL=N",
        ),
        (
            vec!["project", "set", "ml", "--max-executions", "many"],
            "is not a count",
        ),
        (
            vec!["project", "set", "ml", "--max-running", "a b=2"],
            "bad pool name `a b`",
        ),
    ] {
        assert_refused(|a| cluster.baton(a), &args, says);
    }
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert!(pools["projects"].as_array().unwrap().is_empty(), "{pools}");

    cluster
        .baton(&["project", "set", "ml", "--max-executions", "1"])
        .ok();
    let first = cluster.launch("ml/short");
    let second = cluster.launch("ml/short");
    let held = cluster.baton(&["get", &second, "-o", "json"]).ok().json();
    assert_eq!(held["phase"], "QUEUED", "over the cap: accepted and queued");
    assert_eq!(
        held["waiting"],
        "waiting: project ml is at its cap of 1 running executions (0 queued ahead)"
    );
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    let project = &pools["projects"][0];
    assert_eq!(
        (
            &project["running_executions"],
            &project["queued_executions"]
        ),
        (&Json::from(1), &Json::from(1)),
        "{pools}"
    );
    let first_done = cluster.wait_end(&first, Duration::from_secs(20));
    let second_done = cluster.wait_end(&second, Duration::from_secs(20));
    assert_eq!(first_done["phase"], "SUCCEEDED");
    assert_eq!(second_done["phase"], "SUCCEEDED");
    let events = cluster.baton(&["watch", &second]).ok().stdout.clone();
    assert!(
        events.contains("queued: project ml is at its cap"),
        "{events}"
    );

    // Removing the cap: launches start at once.
    cluster
        .baton(&["project", "set", "ml", "--max-executions", "none"])
        .ok();
    let third = cluster.launch("ml/short");
    let got = cluster.baton(&["get", &third, "-o", "json"]).ok().json();
    assert_eq!(got["phase"], "RUNNING");
}
