//! The CLI the way operators expect it: `baton version` names the client's
//! and every node's version and protocol (and still the client's when no
//! scheduler answers), and `baton completions bash` is a script bash loads.

use std::process::Command;
use std::time::Duration;

use baton_tests::*;

#[test]
fn version_names_the_client_every_scheduler_node_and_executor() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let version = env!("CARGO_PKG_VERSION");
    let text = cluster.baton(&["version"]).ok().stdout.clone();
    assert!(
        text.contains(&format!("client     baton {version}, protocol 1")),
        "{text}"
    );
    assert!(
        text.contains(&format!(": baton-scheduler {version}, protocol 1")),
        "{text}"
    );
    let executor = wait_for(Duration::from_secs(10), || {
        let json = cluster.baton(&["version", "-o", "json"]).ok().json();
        (!json["executors"].as_array()?.is_empty()).then_some(json)
    })
    .expect("the dev executor is listed");
    assert_eq!(executor["client"]["protocol_version"], 1);
    assert_eq!(executor["schedulers"][0]["reachable"], true);
    assert_eq!(executor["schedulers"][0]["version"], version);
    assert_eq!(executor["executors"][0]["version"], version);

    // No scheduler: the client's version, then the error, exit 2.
    let unreachable = baton("127.0.0.1:9", &["version", "--wait-leader", "0s"]);
    assert_eq!(unreachable.code, 2, "{unreachable:?}");
    assert!(
        unreachable
            .stdout
            .contains(&format!("client     baton {version}")),
        "{unreachable:?}"
    );
    assert!(
        unreachable.stderr.contains("127.0.0.1:9"),
        "{unreachable:?}"
    );
}

#[test]
fn completions_are_scripts_the_shells_load() {
    let dir = tempfile::tempdir().unwrap();
    let script = baton("127.0.0.1:9", &["completions", "bash"]);
    let file = write(dir.path(), "baton.bash", &script.ok().stdout);
    let loaded = run_with_timeout(
        Command::new("bash")
            .arg("-c")
            .arg(format!("source {file} && complete -p baton")),
        Duration::from_secs(20),
    );
    assert_eq!(loaded.code, 0, "{loaded:?}");
    assert!(loaded.stdout.contains("baton"), "{loaded:?}");
    for shell in ["zsh", "fish"] {
        let script = baton("127.0.0.1:9", &["completions", shell]);
        assert!(
            script.ok().stdout.contains("signal"),
            "{shell}: every command is in it"
        );
    }
    let bad = baton("127.0.0.1:9", &["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("invalid value 'tcsh'"),
        "{}",
        bad.stderr
    );
}
