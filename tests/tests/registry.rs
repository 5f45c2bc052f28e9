//! The registry: versions are immutable and listed newest first, `describe`
//! shows a version as stored (references pinned, `@latest` resolved) in a
//! form that registers again, `diff` names what changed, a task is shared
//! by workflows of several projects, and registering new versions while
//! executions of the old ones run changes nothing for them.

use std::path::Path;
use std::time::Duration;

use baton_tests::*;
use serde_json::Value as Json;

/// Task `shared/development/say` at `version`: sleeps `seconds`, then outputs `word`.
fn say_task(dir: &Path, version: &str, word: &str, seconds: f64) -> String {
    let script = write(
        dir,
        &format!("say-{version}.py"),
        &format!(
            "import json, os, time\ntime.sleep({seconds})\n\
             json.dump({{\"word\": \"{word}\"}}, open(os.environ[\"BATON_OUTPUTS\"], \"w\"))\n"
        ),
    );
    format!(
        "kind: Task\nproject: shared\nname: say\nversion: {version}\n\
         interface: {{outputs: {{word: string}}}}\n\
         runner: {{process: {{command: [python3, \"{script}\"]}}}}\n"
    )
}

/// Workflow `PROJECT/development/NAME` (no version: its content hash)
/// running the task named `task`.
fn speak(project: &str, name: &str, task: &str) -> String {
    format!(
        "kind: Workflow\nproject: {project}\nname: {name}\n\
         interface: {{outputs: {{word: string}}}}\n\
         nodes: [{{id: speak, task: \"{task}\"}}]\n\
         outputs: {{word: \"${{speak.word}}\"}}\n"
    )
}

fn versions(cluster: &DevCluster, id: &str) -> Vec<Json> {
    cluster
        .baton(&["versions", id, "-o", "json"])
        .ok()
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn versions_describe_and_diff_show_the_registry_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let first = write(
        dir.path(),
        "first.yaml",
        &format!(
            "{}---\n{}",
            say_task(dir.path(), "v1", "one", 0.0),
            speak("alpha", "greet", "shared/development/say")
        ),
    );
    cluster.baton(&["register", &first]).ok();
    std::thread::sleep(Duration::from_millis(1100)); // registration times a second apart
    let second = write(
        dir.path(),
        "second.yaml",
        &format!(
            "{}---\n{}",
            say_task(dir.path(), "v2", "two", 0.0),
            speak("alpha", "greet", "shared/development/say")
        ),
    );
    cluster.baton(&["register", &second]).ok();

    // The same unversioned workflow after a new task version is a new
    // version on it; both are listed, newest first.
    let listed = versions(&cluster, "alpha/development/greet");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["latest"], Json::Bool(true));
    assert_eq!(listed[1]["latest"], Json::Bool(false));
    assert!(
        listed[0]["registered_at"].as_str() > listed[1]["registered_at"].as_str(),
        "{listed:?}"
    );
    let newer = listed[0]["version"].as_str().unwrap().to_owned();
    let older = listed[1]["version"].as_str().unwrap().to_owned();
    let text = cluster
        .baton(&["versions", "alpha/development/greet"])
        .ok()
        .stdout
        .clone();
    assert!(text.contains(&format!("{newer} (latest)")), "{text}");

    // describe: the stored spec, its reference pinned to what was resolved.
    let described = cluster
        .baton(&[
            "describe",
            &format!("alpha/development/greet@{older}"),
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(
        described["references"][0]["runs"],
        Json::from("shared/development/say@v1")
    );
    assert_eq!(
        described["spec"]["nodes"][0]["task"],
        Json::from("shared/development/say@v1")
    );
    let text = cluster
        .baton(&["describe", "alpha/development/greet"])
        .ok()
        .stdout
        .clone();
    assert!(
        text.contains("node speak runs shared/development/say@v2"),
        "{text}"
    );
    assert!(text.contains(", the latest"), "{text}");
    // `-o yaml` is the spec itself: registering it again changes nothing.
    let yaml = cluster
        .baton(&[
            "describe",
            &format!("alpha/development/greet@{older}"),
            "-o",
            "yaml",
        ])
        .ok()
        .stdout
        .clone();
    let again = write(dir.path(), "again.yaml", &yaml);
    let registered = cluster.baton(&["register", &again]).ok().stdout.clone();
    assert!(registered.contains("unchanged"), "{registered}");
    assert_eq!(versions(&cluster, "alpha/development/greet").len(), 2);

    // diff: the node's task changed, nothing else.
    let diff = cluster
        .baton(&[
            "diff",
            &format!("alpha/development/greet@{older}"),
            &format!("alpha/development/greet@{newer}"),
            "-o",
            "json",
        ])
        .ok()
        .json();
    let changes = diff["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{diff}");
    assert_eq!(changes[0]["path"], Json::from("nodes[speak].task"));
    assert_eq!(changes[0]["old"], Json::from("shared/development/say@v1"));
    assert_eq!(changes[0]["new"], Json::from("shared/development/say@v2"));
    let text = cluster
        .baton(&[
            "diff",
            "shared/development/say@v1",
            "shared/development/say@v2",
        ])
        .ok()
        .stdout
        .clone();
    assert!(text.contains("~ runner.process.command"), "{text}");

    // Bad input: two different ids, an unknown version.
    let refused = cluster.baton(&[
        "diff",
        "shared/development/say@v1",
        &format!("alpha/development/greet@{newer}"),
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("`shared/development/say` and `alpha/development/greet` are different ids"),
        "{}",
        refused.stderr
    );
    let unknown = cluster.baton(&["describe", "shared/development/say@v9"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("no task, workflow or launch plan `shared/development/say@v9` is registered"),
        "{}",
        unknown.stderr
    );
    let unknown = cluster.baton(&["versions", "nothing-here"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
}

#[test]
fn a_task_shared_by_three_workflows_of_two_projects_and_versions_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    // v1 takes two seconds: long enough to register v2 while it runs.
    let first = write(
        dir.path(),
        "first.yaml",
        &[
            say_task(dir.path(), "v1", "one", 2.0),
            speak("alpha", "greet", "shared/development/say@latest"),
            speak("alpha", "shout", "shared/development/say@v1"),
            speak("beta", "greet", "shared/development/say"),
        ]
        .join("---\n"),
    );
    cluster.baton(&["register", &first]).ok();
    for (project, name) in [("alpha", "greet"), ("alpha", "shout"), ("beta", "greet")] {
        let id = format!("{project}/development/{name}");
        let described = cluster.baton(&["describe", &id, "-o", "json"]).ok().json();
        // `@latest` and an omitted version are resolved and recorded.
        assert_eq!(
            described["references"][0]["runs"],
            Json::from("shared/development/say@v1"),
            "{id}: {described}"
        );
    }
    let old_run = cluster
        .baton(&["run", "beta/development/greet"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // While it runs: a new task version, and the beta workflow again on it.
    let second = write(
        dir.path(),
        "second.yaml",
        &[
            say_task(dir.path(), "v2", "two", 0.0),
            speak("beta", "greet", "shared/development/say"),
        ]
        .join("---\n"),
    );
    cluster.baton(&["register", &second]).ok();
    let new_run = cluster
        .baton(&["run", "beta/development/greet"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // The two versions run side by side, each with its own task version.
    let wait = |id: &str| {
        wait_for(Duration::from_secs(60), || {
            let got = cluster.baton(&["get", id, "-o", "json"]).ok().json();
            (got["phase"] != "RUNNING").then_some(got)
        })
        .expect("the execution ends")
    };
    let old = wait(&old_run);
    let new = wait(&new_run);
    assert_eq!(old["phase"], Json::from("SUCCEEDED"), "{old}");
    assert_eq!(old["outputs"]["word"], Json::from("one"), "{old}");
    assert_eq!(new["outputs"]["word"], Json::from("two"), "{new}");
    assert_ne!(old["workflow"], new["workflow"]);
    // The pinned workflow of the other project still runs v1.
    let shout = cluster
        .baton(&["run", "alpha/development/shout", "--wait", "-o", "json"])
        .ok()
        .json();
    assert_eq!(shout["outputs"]["word"], Json::from("one"), "{shout}");
}
