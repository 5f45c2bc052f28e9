//! The active-learning example on its real run (`examples/active-learning`:
//! Python tasks on numpy and scikit-learn's digits): flavors are launch
//! plans that swap the SELECT task; on a fixed seed, margin sampling beats
//! random sampling for the same labels; the history-based strategy gets
//! every earlier iteration's INFER output; a scheduler SIGKILLed
//! mid-loop, restarted, goes on from the iteration it was at to the same
//! result as an uninterrupted run; and the flavor whose LABEL is people at
//! a gate waits, refuses badly typed or badly sized labels, and goes on
//! with the labels the test signals.

use std::path::PathBuf;
use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor};
use baton_tests::*;
use serde_json::Value as Json;

/// PATH with the repository's virtual environment first, as the example's
/// tasks run `python3` with numpy and scikit-learn.
fn venv_path() -> String {
    let bin: PathBuf = repo_root().join(".venv/bin");
    assert!(
        bin.join("python3").exists(),
        "{} is missing: run scripts/setup.sh (it installs numpy and scikit-learn there)",
        bin.display()
    );
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn executors(cluster: &Cluster, dir: &std::path::Path) -> Vec<Executor> {
    let path = venv_path();
    let env = [("PATH", path.as_str())];
    [("default", 2), ("train", 1), ("label", 1)]
        .into_iter()
        .map(|(pool, workers)| {
            Executor::start_args(
                &cluster.all(),
                &format!("al-{pool}"),
                workers,
                &dir.join(pool),
                &env,
                &["--pool", pool],
            )
        })
        .collect()
}

fn curve(execution: &Json) -> Vec<f64> {
    execution["outputs"]["curve"]
        .as_array()
        .unwrap_or_else(|| panic!("no curve in {execution}"))
        .iter()
        .map(|a| a.as_f64().unwrap())
        .collect()
}

/// The node instances of `execution` whose path starts with `prefix`.
fn nodes_under<'a>(execution: &'a Json, prefix: &str) -> Vec<&'a Json> {
    execution["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["id"].as_str().unwrap_or("").starts_with(prefix))
        .collect()
}

fn iterations(execution: &Json) -> usize {
    (0..)
        .take_while(|i| !nodes_under(execution, &format!("iterate[{i}].")).is_empty())
        .count()
}

#[test]
fn flavors_learn_and_a_killed_scheduler_goes_on_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let _executors = executors(&cluster, dir.path());
    let root = repo_root();
    cluster
        .baton(&[
            "register",
            root.join("examples/active-learning/al.yaml")
                .to_str()
                .unwrap(),
            root.join("examples/active-learning/flavors.yaml")
                .to_str()
                .unwrap(),
        ])
        .ok();

    // Three flavors at once, uninterrupted.
    let random = cluster.launch("al-random");
    let margin = cluster.launch("al-margin");
    let flips = cluster.launch("al-flips");
    let limit = Duration::from_secs(600);
    let [random, margin, flips] = [random, margin, flips].map(|id| {
        let ended = cluster.wait_end(&id, limit);
        assert_eq!(ended["phase"], "SUCCEEDED", "{id}: {}", ended["error"]);
        (id, ended)
    });
    let labels = |e: &Json| e["outputs"]["labels_used"].as_i64().unwrap();
    assert_eq!(labels(&random.1), 100, "the budget is spent: {}", random.1);
    assert_eq!(labels(&margin.1), 100);
    let accuracy = |e: &Json| e["outputs"]["accuracy"].as_f64().unwrap();
    assert!(
        accuracy(&margin.1) > accuracy(&random.1) + 0.02,
        "margin {} against random {} at 100 labels",
        accuracy(&margin.1),
        accuracy(&random.1)
    );
    // Each flavor ran its own strategy, by the plan's override.
    for (id, execution, task) in [
        (&random.0, &random.1, "al-select@random"),
        (&margin.0, &margin.1, "al-select@margin"),
        (&flips.0, &flips.1, "al-select@flips"),
    ] {
        let selects = nodes_under(execution, "iterate[0].select");
        let ran = selects[0]["task"].as_str().unwrap_or("");
        assert!(ran.ends_with(task), "{id} ran {ran}, not {task}");
    }
    // The history-based strategy got every earlier INFER output: the task
    // checks the count against the rounds recorded in the labeled set (it
    // fails otherwise), and says what it received.
    for i in 0..iterations(&flips.1) {
        let log = cluster
            .baton(&["logs", &flips.0, &format!("iterate[{i}].select")])
            .ok()
            .stdout
            .clone();
        let says = format!("received the INFER outputs of {i} earlier iterations");
        assert!(
            log.contains(&says) || i == iterations(&flips.1) - 1,
            "iteration {i}: {log}"
        );
    }

    // `baton compare`: the flavors side by side, outputs and iterations.
    let compared = cluster
        .baton(&["compare", &random.0, &margin.0, &flips.0, "-o", "json"])
        .ok()
        .json();
    let listed = compared["executions"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{compared}");
    assert_eq!(listed[1]["launch_plan"], "default/development/al-margin@v1");
    assert_eq!(listed[1]["outputs"]["curve"], margin.1["outputs"]["curve"]);
    let per_iteration = listed[1]["loops"]["iterate"].as_array().unwrap();
    assert_eq!(per_iteration.len(), iterations(&margin.1));
    assert_eq!(
        per_iteration[3]["evaluate.accuracy"],
        margin.1["outputs"]["curve"][3]
    );
    let text = cluster
        .baton(&["compare", &random.0, &margin.0])
        .ok()
        .stdout
        .clone();
    for says in [
        "al-margin",
        "curve",
        "iterate[i].evaluate.accuracy",
        "iterate[8]",
    ] {
        assert!(text.contains(says), "`{says}` in:\n{text}");
    }
    let unknown = cluster.baton(&["compare", &random.0, "al-loop-999"]);
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("al-loop-999"), "{}", unknown.stderr);

    // The same flavor again, the scheduler SIGKILLed mid-loop.
    let again = cluster.launch("al-margin");
    let at = wait_for(Duration::from_secs(300), || {
        let got = cluster.baton(&["get", &again, "-o", "json"]).ok().json();
        let done = nodes_under(&got, "iterate[3].evaluate")
            .first()
            .is_some_and(|n| n["phase"] == "SUCCEEDED");
        done.then_some(got)
    })
    .expect("the loop reaches iteration 3");
    cluster.kill(1);
    std::thread::sleep(Duration::from_millis(500));
    cluster.restart(1);
    cluster.wait_for_leader(Duration::from_secs(30));
    let ended = cluster.wait_end(&again, limit);
    assert_eq!(ended["phase"], "SUCCEEDED", "{}", ended["error"]);
    assert_eq!(
        curve(&ended),
        curve(&margin.1),
        "the same curve as the uninterrupted run"
    );
    assert_eq!(iterations(&ended), iterations(&margin.1));
    // Nothing that had finished before the kill ran again.
    for node in nodes_under(&at, "iterate[") {
        if node["phase"] == "SUCCEEDED" {
            let path = node["id"].as_str().unwrap();
            let after = nodes_under(&ended, path)
                .into_iter()
                .find(|n| n["id"] == node["id"])
                .unwrap();
            assert_eq!(after["attempt"], node["attempt"], "{path} ran again");
        }
    }
}

/// The gate of `id` that waits now, if one does: (its path, what it shows).
fn waiting_gate(cluster: &Cluster, id: &str) -> Option<(String, Json)> {
    let got = cluster.baton(&["get", id, "-o", "json"]).ok().json();
    nodes_under(&got, "iterate[")
        .into_iter()
        .find(|n| n["phase"] == "RUNNING" && n["gate"].is_object())
        .map(|n| (n["id"].as_str().unwrap().to_owned(), n["gate"].clone()))
}

/// `al-people`: each iteration's LABEL waits at a gate; the test plays the
/// person, drawing the picked points with `al.py show` and signalling the
/// labels it reveals. The last iteration picks nothing and asks nobody.
#[test]
fn the_people_flavor_waits_at_its_gate_for_labels() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 1, ClusterOptions::default());
    cluster.wait_for_leader(Duration::from_secs(20));
    let _executors = executors(&cluster, dir.path());
    let root = repo_root();
    let example = |file: &str| root.join("examples/active-learning").join(file);
    cluster
        .baton(&[
            "register",
            example("al.yaml").to_str().unwrap(),
            example("flavors.yaml").to_str().unwrap(),
        ])
        .ok();
    let id = cluster.launch("al-people");
    let python = root.join(".venv/bin/python3");
    let mut asked = 0;
    loop {
        let gate = wait_for(Duration::from_secs(120), || {
            if let Some(gate) = waiting_gate(&cluster, &id) {
                return Some(Some(gate));
            }
            let got = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
            (got["phase"] != "RUNNING").then_some(None)
        })
        .expect("a gate waits or the loop ends");
        let Some((path, shown)) = gate else { break };
        assert_eq!(path, format!("iterate[{asked}].label.ask.people.wait"));
        let picked: Vec<i64> = shown["inputs"]["picked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(picked.len(), 5, "a batch of 5: {shown}");
        if asked == 0 {
            // Refused, naming what is wrong, and nothing changes.
            let before = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
            for (labels, says) in [
                (
                    "[1,2,3,4,\"five\"]",
                    "signal field `labels[4]` (list<int>): expected int, got a string",
                ),
                (
                    "[1,2]",
                    "does not meet the gate's check `len(labels) == len(picked)`",
                ),
            ] {
                let refused =
                    cluster.baton(&["signal", &id, "wait", "-i", &format!("labels={labels}")]);
                assert_ne!(refused.code, 0);
                assert!(
                    refused.stderr.contains(says),
                    "{}\nshould say: {says}",
                    refused.stderr
                );
            }
            let after = cluster.baton(&["get", &id, "-o", "json"]).ok().json();
            assert_eq!(
                after["nodes"], before["nodes"],
                "refused signals changed nothing"
            );
        }
        // The person's view: the dataset the gate shows, the points drawn.
        let dataset = dir.path().join("dataset.npz");
        let uri = shown["inputs"]["dataset"]["uri"].as_str().unwrap();
        cluster
            .baton(&["blob", "get", uri, dataset.to_str().unwrap()])
            .ok();
        let mut show = std::process::Command::new(&python);
        show.arg(example("al.py")).arg("show").arg(&dataset);
        show.args(picked.iter().map(|j| j.to_string()))
            .arg("--reveal");
        let drawn = run_with_timeout(&mut show, Duration::from_secs(60));
        let drawn = drawn.ok().stdout.clone();
        assert!(drawn.contains(&format!("point {}:", picked[0])), "{drawn}");
        let labels = drawn.lines().last().unwrap().to_owned();
        let signalled = cluster.baton(&["signal", &id, "wait", "-i", &format!("labels={labels}")]);
        assert!(
            signalled.ok().stdout.contains("signalled"),
            "{}",
            signalled.stdout
        );
        asked += 1;
    }
    let ended = cluster.wait_end(&id, Duration::from_secs(60));
    assert_eq!(ended["phase"], "SUCCEEDED", "{}", ended["error"]);
    assert_eq!(
        asked, 4,
        "20 labels to start, 4 batches of 5 to the budget of 40"
    );
    assert_eq!(
        ended["outputs"]["labels"],
        serde_json::json!([20, 25, 30, 35, 40])
    );
    // The last iteration picked nothing: nobody was asked.
    let last = nodes_under(&ended, "iterate[4].label.ask.");
    let phase = |path: &str| {
        last.iter()
            .find(|n| n["id"] == path)
            .map(|n| n["phase"].clone())
            .unwrap_or_default()
    };
    assert_eq!(phase("iterate[4].label.ask.nobody"), "SUCCEEDED");
    assert_eq!(phase("iterate[4].label.ask.people"), "SKIPPED");
    let curve = curve(&ended);
    assert!(curve[4] > curve[0], "people's labels taught it: {curve:?}");
}
