//! Retention on real processes (docs/operations.md, "Retention"): finished
//! executions past their retention leave the replicated state on every
//! replica, through snapshots and a SIGKILLed node's restart too, and every
//! read that names one says it expired; a project's own retention outranks
//! the scheduler's `--retention`; bad retentions are refused and change
//! nothing.

use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;

/// A quick task and a one-node workflow `name`, both in `project`.
fn spec(project: &str, name: &str) -> String {
    format!(
        "kind: Task\nname: {name}-step\nversion: v1\nproject: {project}\n\
         interface: {{inputs: {{seconds: float}}, outputs: {{}}}}\n\
         runner: {{builtin: sleep}}\n---\n\
         kind: Workflow\nname: {name}\nversion: v1\nproject: {project}\nnodes:\n\
         \x20 - {{id: step, task: {name}-step@v1, inputs: {{seconds: 0.01}}}}\n"
    )
}

/// `baton get ID` on node `id` alone (`--stale`), refused with "expired".
fn expired_on(cluster: &Cluster, node: u64, execution: &str) -> bool {
    let got = baton(&cluster.addresses[&node], &["--stale", "get", execution]);
    got.code != 0
        && got
            .stderr
            .contains(&format!("execution `{execution}` expired"))
}

#[test]
fn finished_executions_past_retention_leave_every_replica_and_get_says_they_expired() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(
        dir.path(),
        3,
        ClusterOptions {
            // Snapshots every few entries, so a restarted node learns of
            // the expiry from one.
            snapshot_every: 20,
            scheduler_args: vec!["--retention".into(), "3s".into()],
            ..ClusterOptions::default()
        },
    );
    cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "exec-1", 4, &dir.path().join("exec"));
    for (project, name) in [("scratch", "scratch-flow"), ("keep", "keep-flow")] {
        let file = write(dir.path(), &format!("{name}.yaml"), &spec(project, name));
        cluster.baton(&["register", &file]).ok();
    }

    // Bad retentions are refused by name and change nothing.
    assert_refused(
        |a| cluster.baton(a),
        &["project", "set", "keep", "--retention", "0s"],
        "would drop executions as they finish",
    );
    assert_refused(
        |a| cluster.baton(a),
        &["project", "set", "keep", "--retention", "soon"],
        "`soon` is not a retention",
    );
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert_eq!(pools["projects"], serde_json::json!([]), "{pools}");

    // `keep` keeps its executions; `scratch` has the scheduler's 3s.
    let set = cluster.baton(&["project", "set", "keep", "--retention", "forever"]);
    assert!(set.ok().stdout.contains("kept forever"), "{}", set.stdout);
    let keep = cluster.launch("keep/keep-flow");
    let scratch: Vec<String> = (0..8)
        .map(|_| cluster.launch("scratch/scratch-flow"))
        .collect();
    cluster.wait_end(&keep, Duration::from_secs(30));
    for id in &scratch {
        // An execution may already be gone by the time this looks.
        wait_for(Duration::from_secs(30), || {
            let got = cluster.baton(&["get", id, "-o", "json"]);
            let expired = got.code != 0 && got.stderr.contains("expired");
            (expired || got.code == 0 && got.json()["phase"] == "SUCCEEDED").then_some(())
        })
        .unwrap_or_else(|| panic!("{id} did not succeed"));
    }

    // Node 3 is down while they expire, and learns of it when it returns.
    cluster.kill(3);
    for id in &scratch {
        wait_for(Duration::from_secs(30), || {
            expired_on(&cluster, 1, id).then_some(())
        })
        .unwrap_or_else(|| panic!("{id} did not expire on node 1"));
    }
    cluster.restart(3);
    for node in [1, 2, 3] {
        for id in &scratch {
            wait_for(Duration::from_secs(30), || {
                expired_on(&cluster, node, id).then_some(())
            })
            .unwrap_or_else(|| panic!("{id} did not expire on node {node}"));
        }
        let kept = baton(
            &cluster.addresses[&node],
            &["--stale", "get", &keep, "-o", "json"],
        );
        assert_eq!(kept.ok().json()["phase"], "SUCCEEDED", "node {node}");
    }

    // Every read that names an expired execution says so.
    let gone = &scratch[0];
    for args in [
        vec!["get", gone.as_str()],
        vec!["watch", gone.as_str()],
        vec!["logs", gone.as_str(), "step"],
        vec!["recover", gone.as_str()],
        vec!["signal", gone.as_str(), "step", "-i", "x=1"],
    ] {
        assert_refused(
            |a| cluster.baton(a),
            &args,
            &format!("execution `{gone}` expired"),
        );
    }
    assert_eq!(
        cluster.execution_ids(),
        std::slice::from_ref(&keep),
        "only the kept execution is listed"
    );
    assert_refused(
        |a| cluster.baton(a),
        &["get", "scratch-flow-999999"],
        "unknown execution `scratch-flow-999999`",
    );

    // What `pools` shows, and back to the scheduler's retention.
    let pools = cluster.baton(&["pools", "-o", "json"]).ok().json();
    assert_eq!(pools["projects"][0]["retention"], "forever", "{pools}");
    let text = cluster.baton(&["pools"]).ok().stdout.clone();
    assert!(
        text.contains("project keep: finished executions kept forever"),
        "{text}"
    );
    cluster
        .baton(&["project", "set", "keep", "--retention", "default"])
        .ok();
    wait_for(Duration::from_secs(30), || {
        expired_on(&cluster, 1, &keep).then_some(())
    })
    .expect("the kept execution expires under the scheduler's retention");
}

#[test]
fn a_bad_retention_flag_stops_the_scheduler_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (value, says) in [
        ("0s", "would drop executions as they finish"),
        ("weekly", "`weekly` is not a retention"),
    ] {
        let outcome = run_with_timeout(
            std::process::Command::new(bin("baton-scheduler"))
                .args(["--listen", "127.0.0.1:0", "--data-dir"])
                .arg(dir.path())
                .args(["--retention", value]),
            Duration::from_secs(20),
        );
        assert_ne!(outcome.code, 0, "--retention {value} is refused");
        assert!(outcome.stderr.contains(says), "{value}: {}", outcome.stderr);
    }
}

/// A process task that prints a line and sleeps `seconds`, and a one-node
/// workflow `name` of it.
fn chatty(name: &str, seconds: f64) -> String {
    format!(
        "kind: Task\nname: {name}-step\nversion: v1\n\
         interface: {{inputs: {{}}, outputs: {{}}}}\n\
         runner: {{process: {{command: [sh, -c, 'echo hello; sleep {seconds}; echo {{}} > \"$BATON_OUTPUTS\"']}}}}\n---\n\
         kind: Workflow\nname: {name}\nversion: v1\nnodes:\n\
         \x20 - {{id: step, task: {name}-step@v1}}\n"
    )
}

#[test]
fn an_executor_removes_finished_attempts_logs_after_keep_work_and_keeps_running_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let work = dir.path().join("exec");
    let _executor = Executor::start_args(
        &cluster.all(),
        "exec-1",
        2,
        &work,
        &[],
        &["--keep-work", "1s"],
    );
    for (name, seconds) in [("quick", 0.0), ("slow", 5.0)] {
        let file = write(dir.path(), &format!("{name}.yaml"), &chatty(name, seconds));
        cluster.baton(&["register", &file]).ok();
    }
    let slow = cluster.launch("slow");
    let quick = cluster.launch("quick");
    cluster.wait_end(&quick, Duration::from_secs(30));
    let logs = work.join("logs");
    let quick_logs = logs.join(&quick);
    let slow_logs = logs.join(&slow);
    assert!(
        cluster
            .baton(&["logs", &quick, "step"])
            .ok()
            .stdout
            .contains("hello"),
        "the log is there at first"
    );
    // The quick execution's logs go once untouched for a second; the slow
    // one still runs, and its log, older than a second, stays.
    wait_for(Duration::from_secs(15), || {
        (!quick_logs.exists()).then_some(())
    })
    .unwrap_or_else(|| panic!("{} was not removed", quick_logs.display()));
    let got = cluster.baton(&["get", &slow, "-o", "json"]).ok().json();
    assert_eq!(got["phase"], "RUNNING", "{got}");
    assert!(slow_logs.exists(), "a running attempt's log is kept");
    cluster.wait_end(&slow, Duration::from_secs(30));
    wait_for(Duration::from_secs(15), || {
        (!slow_logs.exists()).then_some(())
    })
    .unwrap_or_else(|| panic!("{} was not removed once it ended", slow_logs.display()));
}

/// A task and a workflow `name` in `project` that take a blob.
fn holds_a_blob(project: &str, name: &str) -> String {
    format!(
        "kind: Task\nname: {name}-hold\nversion: v1\nproject: {project}\n\
         interface: {{inputs: {{data: blob}}, outputs: {{}}}}\n\
         runner: {{builtin: noop}}\n---\n\
         kind: Workflow\nname: {name}\nversion: v1\nproject: {project}\n\
         interface: {{inputs: {{data: blob}}}}\n\
         nodes: [{{id: hold, task: {name}-hold@v1, inputs: {{data: \"${{inputs.data}}\"}}}}]\n"
    )
}

/// The sha256 of a file's blob, as the store names it.
fn sha256_of(dir: &std::path::Path, name: &str, cluster: &Cluster) -> String {
    let put = cluster.baton(&["blob", "put", &dir.join(name).display().to_string()]);
    put.ok().json()["sha256"].as_str().unwrap().to_owned()
}

#[test]
fn the_blob_sweep_removes_only_what_nothing_refers_to_once_old_enough() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let _executor = Executor::start(&cluster.all(), "exec-1", 2, &dir.path().join("exec"));
    for (project, name) in [("keep", "kept"), ("scratch", "dropped")] {
        let file = write(
            dir.path(),
            &format!("{name}.yaml"),
            &holds_a_blob(project, name),
        );
        cluster.baton(&["register", &file]).ok();
    }
    cluster
        .baton(&["project", "set", "scratch", "--retention", "1s"])
        .ok();
    for (file, text) in [
        ("a.bin", "kept by an execution"),
        ("b.bin", "never used"),
        ("c.bin", "used by an expired execution"),
    ] {
        write(dir.path(), file, text);
    }
    let kept = cluster
        .baton(&[
            "run",
            "keep/kept",
            "-i",
            &format!("data=@{}/a.bin", dir.path().display()),
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let dropped = cluster
        .baton(&[
            "run",
            "scratch/dropped",
            "-i",
            &format!("data=@{}/c.bin", dir.path().display()),
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    cluster.wait_end(&kept, Duration::from_secs(30));
    let (a, b, c) = (
        sha256_of(dir.path(), "a.bin", &cluster),
        sha256_of(dir.path(), "b.bin", &cluster),
        sha256_of(dir.path(), "c.bin", &cluster),
    );
    wait_for(Duration::from_secs(30), || {
        let got = cluster.baton(&["get", &dropped]);
        (got.code != 0 && got.stderr.contains("expired")).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the scratch execution expires: {:?} {}",
            cluster.baton(&["get", &dropped]),
            cluster.baton(&["pools"]).stdout
        )
    });
    let stored = |sha: &str| dir.path().join("node-1/blobs/sha256").join(sha).exists();
    assert!(stored(&a) && stored(&b) && stored(&c));

    // Too young: nothing goes.
    let young = cluster
        .baton(&["blob", "sweep", "--older-than", "1h", "-o", "json"])
        .ok()
        .json();
    assert_eq!(young["removed"], serde_json::json!([]), "{young}");
    assert_eq!(
        (young["referred"].as_u64(), young["recent"].as_u64()),
        (Some(1), Some(2)),
        "{young}"
    );
    // A dry run names what would go and removes nothing.
    let dry = cluster
        .baton(&[
            "blob",
            "sweep",
            "--older-than",
            "0s",
            "--dry-run",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let named: Vec<&str> = dry["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert_eq!(named.len(), 2, "{dry}");
    assert!(
        named.iter().any(|u| u.ends_with(&b)) && named.iter().any(|u| u.ends_with(&c)),
        "{dry}"
    );
    assert!(stored(&b) && stored(&c));
    let swept = cluster
        .baton(&["blob", "sweep", "--older-than", "0s"])
        .ok()
        .stdout
        .clone();
    assert!(
        swept.contains("1 referred to") && swept.contains("2 removed"),
        "{swept}"
    );
    assert!(stored(&a) && !stored(&b) && !stored(&c));
    // What is referred to still reads back.
    let uri = format!(
        "file://{}/node-1/blobs/sha256/{a}",
        dir.path().canonicalize().unwrap().display()
    );
    let back = dir.path().join("back.bin");
    cluster
        .baton(&["blob", "get", &uri, &back.display().to_string()])
        .ok();
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        "kept by an execution"
    );
    assert_refused(
        |a| cluster.baton(a),
        &["blob", "sweep", "--older-than", "soon"],
        "`soon` is not a duration",
    );
    assert_refused(
        |a| cluster.baton(a),
        &["blob", "sweep", "--older-than=-5"],
        "`-5` is negative",
    );
}
