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

#[test]
fn a_config_file_sets_what_a_flag_sets_and_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = write(
        dir.path(),
        "scheduler.toml",
        "# a scheduler node\nlisten = \"127.0.0.1:7999\"\nlease = \"4s\"\nsnapshot_every = 500\n",
    );
    let shown = run_with_timeout(
        Command::new(bin("baton-scheduler")).args([
            "--config",
            &scheduler,
            "--lease",
            "6s",
            "--print-config",
        ]),
        Duration::from_secs(20),
    );
    assert_eq!(shown.code, 0, "{shown:?}");
    for says in [
        "listen = \"127.0.0.1:7999\"  # file",
        "snapshot_every = \"500\"  # file",
        "lease = \"6s\"  # flag",
        "linger = \"2ms\"  # default",
    ] {
        assert!(
            shown.stdout.contains(says),
            "`{says}` in:\n{}",
            shown.stdout
        );
    }
    let bad = write(
        dir.path(),
        "bad.toml",
        "listen = \"127.0.0.1:7999\"\ndata_directory = \"/tmp/x\"\n",
    );
    let refused = run_with_timeout(
        Command::new(bin("baton-scheduler")).args(["--config", &bad, "--print-config"]),
        Duration::from_secs(20),
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(
            "bad.toml line 2: unknown key `data_directory`; baton-scheduler takes: node_id, listen"
        ),
        "{}",
        refused.stderr
    );

    let executor = write(
        dir.path(),
        "executor.toml",
        "pool = \"gpu\"\nlabels = [\"gpu=a100\", \"zone=b\"]\nworkers = \"eight\"\n",
    );
    let refused = run_with_timeout(
        Command::new(bin("baton-executor")).args(["--config", &executor, "--print-config"]),
        Duration::from_secs(20),
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("executor.toml line 3: `workers` = \"eight\": invalid value 'eight'"),
        "{}",
        refused.stderr
    );
    std::fs::write(
        &executor,
        "pool = \"gpu\"\nlabels = [\"gpu=a100\", \"zone=b\"]\nworkers = 8\n",
    )
    .unwrap();
    let shown = run_with_timeout(
        Command::new(bin("baton-executor"))
            .args(["--config", &executor, "--print-config"])
            .env("BATON_SCHEDULER", "127.0.0.1:7998"),
        Duration::from_secs(20),
    );
    assert_eq!(shown.code, 0, "{shown:?}");
    for says in [
        "pool = \"gpu\"  # file",
        "labels = [\"gpu=a100\", \"zone=b\"]  # file",
        "workers = \"8\"  # file",
        "scheduler = \"127.0.0.1:7998\"  # environment",
    ] {
        assert!(
            shown.stdout.contains(says),
            "`{says}` in:\n{}",
            shown.stdout
        );
    }

    // The client: its default file under XDG_CONFIG_HOME names the scheduler
    // and the output format; a flag still wins.
    let cluster = DevCluster::start(&dir.path().join("data"));
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("baton")).unwrap();
    std::fs::write(
        home.join("baton/config.toml"),
        format!("scheduler = \"{}\"\noutput = \"json\"\n", cluster.address),
    )
    .unwrap();
    let client = |args: &[&str]| {
        run_with_timeout(
            Command::new(bin("baton"))
                .args(args)
                .env("XDG_CONFIG_HOME", &home)
                .env_remove("BATON_SCHEDULER"),
            Duration::from_secs(20),
        )
    };
    let json = client(&["version"]);
    assert_eq!(json.code, 0, "{json:?}");
    assert!(
        json.stdout.trim_start().starts_with('{'),
        "json from the file: {}",
        json.stdout
    );
    let text = client(&["version", "-o", "text"]);
    assert!(
        text.stdout.starts_with("client     baton"),
        "the flag wins: {}",
        text.stdout
    );
    std::fs::write(home.join("baton/config.toml"), "schedular = \"x\"\n").unwrap();
    let refused = client(&["version"]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("config.toml line 1: unknown key `schedular`; baton takes: scheduler, stale, wait_leader, output"), "{}", refused.stderr);
}

#[test]
fn list_watch_prints_again_until_interrupted_and_shows_new_executions() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    cluster.baton(&["register", "examples/diamond.yaml"]).ok();
    let mut watching = Command::new(bin("baton"))
        .args([
            "--scheduler",
            &cluster.address,
            "list",
            "executions",
            "--watch",
            "300ms",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watching.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut seen = sink.lock().unwrap();
            seen.push_str(&line);
            seen.push('\n');
        }
    });
    let printed = |says: &str| {
        wait_for(Duration::from_secs(20), || {
            let seen = seen.lock().unwrap().clone();
            seen.contains(says).then_some(seen)
        })
    };
    printed("(every 300ms; Ctrl-C to stop)").expect("a second print");
    let id = cluster
        .baton(&["run", "diamond", "-i", "n=2"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let seen = printed(&id).unwrap_or_else(|| panic!("{id} never listed"));
    let _ = watching.kill();
    let _ = watching.wait();
    assert!(seen.matches("--- ").count() >= 2, "{seen}");
}

#[test]
fn man_pages_are_written_for_baton_and_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let written = baton("127.0.0.1:9", &["man", pages.to_str().unwrap()]);
    written.ok();
    for page in ["baton.1", "baton-run.1", "baton-signal.1", "baton-pools.1"] {
        let text =
            std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is a man page");
    }
    let signal = std::fs::read_to_string(pages.join("baton-signal.1")).unwrap();
    assert!(signal.contains("gate"), "the command's help is in its page");
}

/// `-o yaml` on every read says what `-o json` says; `watch` writes one
/// YAML document per event.
#[test]
fn every_read_answers_in_yaml_what_it_answers_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    cluster.baton(&["register", "examples/loop.yaml"]).ok();
    let run = cluster.baton(&["run", "collatz", "-i", "n=6", "--wait", "-o", "json"]);
    let id = run.ok().json()["id"].as_str().unwrap().to_owned();
    let reads: Vec<Vec<&str>> = vec![
        vec!["get", &id],
        vec!["compare", &id, &id],
        vec!["logs", &id, "seq[0].step"],
        vec!["list", "executions"],
        vec!["list", "tasks"],
        vec!["list", "workflows"],
        vec!["versions", "collatz"],
        vec!["describe", "collatz"],
        vec!["pools"],
        vec!["pools", "--events"],
        vec!["executors"],
        vec!["cluster", "status"],
    ];
    for read in reads {
        let json = cluster
            .baton(&[read.as_slice(), &["-o", "json"]].concat())
            .ok()
            .json();
        let yaml = cluster.baton(&[read.as_slice(), &["-o", "yaml"]].concat());
        let parsed: serde_json::Value = serde_yaml_ng::from_str(&yaml.ok().stdout)
            .unwrap_or_else(|e| panic!("{read:?} -o yaml is not YAML ({e}):\n{}", yaml.stdout));
        // JSON is YAML too: block style shows it is YAML proper.
        let flow = yaml.stdout.trim_start().starts_with(['{', '[']);
        assert!(
            !flow || parsed == serde_json::json!([]),
            "{read:?} printed JSON:\n{}",
            yaml.stdout
        );
        if read[0] == "describe" {
            // YAML is exactly the spec, to register again; JSON wraps it.
            assert_eq!(parsed, json["spec"], "{read:?}");
        } else if read[0] == "cluster" || read[0] == "pools" || read[0] == "executors" {
            // Live figures (heap, last seen) move between two calls.
            assert_eq!(keys(&parsed), keys(&json), "{read:?}");
        } else {
            assert_eq!(parsed, json, "{read:?}");
        }
    }
    let watched = cluster
        .baton(&["watch", &id, "-o", "yaml"])
        .ok()
        .stdout
        .clone();
    let events: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&watched)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let lines = cluster
        .baton(&["watch", &id, "-o", "json"])
        .ok()
        .stdout
        .clone();
    let json_events: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events, json_events);
}

/// The top-level keys of an object, or of an array's first object.
fn keys(value: &serde_json::Value) -> Vec<String> {
    let object = match value {
        serde_json::Value::Array(items) => items.first().and_then(|i| i.as_object()),
        other => other.as_object(),
    };
    object
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}
