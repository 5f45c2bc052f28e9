//! Node logs stay on the executor that ran the attempt: `baton logs` reads
//! them from there in chunks (`--follow` while the attempt runs), and not a
//! byte of them reaches the scheduler's replicated state or its log.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use baton_tests::*;

/// Prints `first <MARKER>`, 300 KiB of `x` lines, sleeps, then `last <MARKER>`. The
/// marker is put together as it runs: it is in no spec, only in the log.
const CHATTY: &str = r#"
import json, os, sys, time
seconds = float(sys.argv[1])
marker = "-".join(["only", "in", "the", "log"])
print("first " + marker, flush=True)
for i in range(3000):
    print("x" * 99)
sys.stdout.flush()
time.sleep(seconds)
print("last " + marker, flush=True)
json.dump({}, open(os.environ["BATON_OUTPUTS"], "w"))
"#;

const MARKER: &str = "only-in-the-log";

fn specs(script: &str, seconds: &str) -> String {
    format!(
        "kind: Task\nname: chatty\nversion: v1\n\
         runner: {{process: {{command: [python3, \"{script}\", \"{seconds}\"]}}}}\n---\n\
         kind: Workflow\nname: talk\nversion: v1\nnodes: [{{id: say, task: chatty@v1}}]\n"
    )
}

/// Whether any file under `dir` holds `needle`.
fn holds(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            holds(&path, needle)
        } else {
            std::fs::read(&path)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}

#[test]
fn logs_are_read_from_the_executor_and_never_enter_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cluster = DevCluster::start(&data);
    let script = write(dir.path(), "chatty.py", CHATTY);
    let file = write(dir.path(), "talk.yaml", &specs(&script, "0"));
    cluster.baton(&["register", &file]).ok();
    let done = cluster
        .baton(&["run", "talk", "--wait", "-o", "json"])
        .ok()
        .json();
    let id = done["id"].as_str().unwrap().to_owned();

    // The whole log, read in chunks: 300 KiB is more than one read.
    let logs = cluster.baton(&["logs", &id, "say"]).ok().stdout.clone();
    assert!(
        logs.starts_with(&format!("first {MARKER}\n")),
        "{}",
        &logs[..80]
    );
    assert!(
        logs.ends_with(&format!("last {MARKER}\n")),
        "{}",
        &logs[logs.len() - 80..]
    );
    assert_eq!(logs.lines().filter(|l| l.starts_with("xxx")).count(), 3000);
    assert!(logs.len() > 300_000);
    let json = cluster
        .baton(&["logs", &id, "say", "-o", "json"])
        .ok()
        .json();
    assert_eq!(json["attempt"], 1);
    assert_eq!(json["running"], false);
    assert_eq!(json["log"].as_str().unwrap().len(), logs.len());

    // Not a byte of it in the scheduler's log segments or snapshots; it is
    // in the executor's work directory.
    assert!(
        !holds(&data.join("scheduler"), MARKER.as_bytes()),
        "the log reached the scheduler's state"
    );
    assert!(holds(&data.join("executor"), MARKER.as_bytes()));

    // An attempt that never was is refused, naming it.
    let missing = cluster.baton(&["logs", &id, "say", "--attempt", "7"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("attempt 7 never ran"),
        "{}",
        missing.stderr
    );
}

#[test]
fn follow_prints_a_running_attempts_log_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let script = write(dir.path(), "chatty.py", CHATTY);
    let file = write(dir.path(), "talk.yaml", &specs(&script, "3"));
    cluster.baton(&["register", &file]).ok();
    let id = cluster
        .baton(&["run", "talk"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // Wait until the attempt runs and has written its first line.
    let running = wait_for(Duration::from_secs(30), || {
        let out = cluster.baton(&["logs", &id, "say", "-o", "json"]);
        let json = (out.code == 0).then(|| out.json())?;
        (json["running"] == true && json["log"].as_str()?.contains(MARKER)).then_some(())
    });
    assert!(
        running.is_some(),
        "the attempt never ran; log:\n{}",
        cluster.log()
    );
    let mut follow = Command::new(bin("baton"));
    follow
        .args([
            "--scheduler",
            &cluster.address,
            "logs",
            &id,
            "say",
            "--follow",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let outcome = run_with_timeout(&mut follow, Duration::from_secs(30));
    assert_eq!(outcome.code, 0, "{outcome:?}");
    // Everything, the line written after `--follow` started included, once.
    assert!(
        outcome.stdout.starts_with("first "),
        "{}",
        &outcome.stdout[..80]
    );
    assert!(
        outcome.stdout.ends_with(&format!("last {MARKER}\n")),
        "{:?}",
        &outcome.stdout[outcome.stdout.len() - 80..]
    );
    assert_eq!(outcome.stdout.matches("first ").count(), 1);
    assert_eq!(
        outcome
            .stdout
            .lines()
            .filter(|l| l.starts_with("xxx"))
            .count(),
        3000
    );
}
