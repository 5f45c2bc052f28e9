//! Process runner tests: real child processes (sh and python3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_model::{Identifier, Interface, TaskSpec, Variable};

use super::*;
use crate::attempt::{AttemptKey, Outcome};

fn variable(name: &str, ty: &str) -> Variable {
    Variable {
        name: name.into(),
        ty: ty.parse().unwrap(),
        default: None,
        description: String::new(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    dirs: Arc<WorkDirs>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dirs = Arc::new(WorkDirs::create(&dir.path().join("work")).unwrap());
        Fixture { _dir: dir, dirs }
    }

    fn scratch_dirs_left(&self) -> usize {
        std::fs::read_dir(self.dirs.tmp()).unwrap().count()
    }
}

fn task(
    command: &[&str],
    env: &[(&str, &str)],
    inputs: &[(&str, &str)],
    outputs: &[(&str, &str)],
) -> TaskSpec {
    TaskSpec {
        id: Identifier::new("default", "development", "t", "1"),
        interface: Interface {
            inputs: inputs.iter().map(|(n, t)| variable(n, t)).collect(),
            outputs: outputs.iter().map(|(n, t)| variable(n, t)).collect(),
        },
        runner: Runner::Process {
            command: command.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            working_dir: String::new(),
        },
        retries: 0,
        timeout_ms: 0,
        pool: String::new(),
        selector: Default::default(),
        description: String::new(),
        cache: None,
    }
}

fn assignment(task: TaskSpec, inputs: &[(&str, Value)]) -> Assignment {
    Assignment {
        key: AttemptKey {
            execution_id: "exec-1".into(),
            node_id: "node-a".into(),
            attempt: 2,
        },
        task,
        inputs: inputs
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect(),
        trace_context: Default::default(),
    }
}

async fn run_it(fixture: &Fixture, assignment: Assignment, control: Control) -> Report {
    crate::runner::run(fixture.dirs.clone(), assignment, control).await
}

fn alive(pid: i32) -> bool {
    // A zombie (reparented to an init that does not reap) counts as dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

async fn assert_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} outlived its attempt"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_pid(path: &std::path::Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no pid written to {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const DOUBLE_PY: &str = r##"
import json, os, sys
inputs = json.load(open(os.environ["BATON_INPUTS"]))
print("doubling", inputs["x"])
print("a warning", file=sys.stderr)
with open(os.path.join(os.environ["BATON_OUTPUT_DIR"], "model"), "wb") as f:
    f.write(b"weights")
json.dump({"y": inputs["x"] * 2,
           "who": os.environ["BATON_EXECUTION_ID"] + "/" + os.environ["BATON_NODE_ID"] + "#" + os.environ["BATON_ATTEMPT"],
           "greeting": os.environ["GREETING"]},
          open(os.environ["BATON_OUTPUTS"], "w"))
"##;

#[tokio::test]
async fn process_task_reads_inputs_and_reports_typed_outputs_and_blob_files() {
    let fixture = Fixture::new();
    let spec = task(
        &["python3", "-c", DOUBLE_PY],
        &[("GREETING", "hi")],
        &[("x", "int")],
        &[
            ("y", "int"),
            ("who", "string"),
            ("greeting", "string"),
            ("model", "blob"),
        ],
    );
    let a = assignment(spec, &[("x", Value::Int(21))]);
    let key = a.key.clone();
    let report = run_it(&fixture, a, Control::new()).await;
    let Outcome::Succeeded(outputs) = &report.outcome else {
        panic!("{report:?}")
    };
    assert_eq!(outputs["y"], Value::Int(42));
    assert_eq!(outputs["who"], Value::String("exec-1/node-a#2".into()));
    assert_eq!(outputs["greeting"], Value::String("hi".into()));
    let Value::Blob(blob) = &outputs["model"] else {
        panic!("{outputs:?}")
    };
    assert_eq!(blob.size, 7);
    let stored = fixture.dirs.root().join("blobs/sha256").join(&blob.sha256);
    assert_eq!(blob.uri, format!("file://{}", stored.display()));
    assert_eq!(std::fs::read(stored).unwrap(), b"weights");
    let logged = std::fs::read_to_string(fixture.dirs.log_path(&key)).unwrap();
    assert!(
        logged.contains("doubling 21") && logged.contains("a warning"),
        "{logged}"
    );
    assert_eq!(report.log_size, logged.len() as u64);
    assert_eq!(
        fixture.scratch_dirs_left(),
        0,
        "the scratch directory was not removed"
    );
}

#[tokio::test]
async fn non_zero_exit_is_a_retryable_failure_quoting_stderr() {
    let fixture = Fixture::new();
    let spec = task(
        &["sh", "-c", "echo step one; echo 'it broke' >&2; exit 3"],
        &[],
        &[],
        &[],
    );
    let assigned = assignment(spec, &[]);
    let key = assigned.key.clone();
    let report = run_it(&fixture, assigned, Control::new()).await;
    let failure = report.failure().unwrap();
    assert!(failure.retryable && !failure.timed_out, "{failure:?}");
    assert!(
        failure.message.starts_with("process exited with code 3"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("it broke"), "{}", failure.message);
    let logged = std::fs::read_to_string(fixture.dirs.log_path(&key)).unwrap();
    assert!(logged.contains("step one"), "{logged}");
    assert_eq!(fixture.scratch_dirs_left(), 0);
}

#[tokio::test]
async fn an_output_of_the_wrong_type_is_refused() {
    let fixture = Fixture::new();
    let spec = task(
        &["sh", "-c", r#"echo '{"y": "four"}' > "$BATON_OUTPUTS""#],
        &[],
        &[],
        &[("y", "int")],
    );
    let report = run_it(&fixture, assignment(spec, &[]), Control::new()).await;
    let failure = report.failure().unwrap();
    assert!(!failure.retryable, "{failure:?}");
    assert_eq!(
        failure.message,
        "output `y` should be int: expected int, got a string"
    );
}

#[tokio::test]
async fn a_missing_output_is_refused() {
    let fixture = Fixture::new();
    let spec = task(
        &["sh", "-c", r#"echo '{"x": 1}' > "$BATON_OUTPUTS""#],
        &[],
        &[],
        &[("x", "int"), ("y", "float")],
    );
    let report = run_it(&fixture, assignment(spec, &[]), Control::new()).await;
    let failure = report.failure().unwrap();
    assert!(!failure.retryable, "{failure:?}");
    assert_eq!(failure.message, "output `y` of type float is missing");
}

#[tokio::test]
async fn a_command_that_cannot_start_is_a_permanent_failure_naming_it() {
    let fixture = Fixture::new();
    let spec = task(&["/nonexistent/baton-test-binary"], &[], &[], &[]);
    let report = run_it(&fixture, assignment(spec, &[]), Control::new()).await;
    let failure = report.failure().unwrap();
    assert!(!failure.retryable);
    assert!(
        failure
            .message
            .contains("cannot start `/nonexistent/baton-test-binary`"),
        "{}",
        failure.message
    );
}

/// A task whose shell starts a background grandchild that would sleep for
/// ever, writes the grandchild's pid to `$PIDFILE`, then waits on it.
fn task_with_grandchild(pid_file: &std::path::Path) -> TaskSpec {
    task(
        &["sh", "-c", r#"sleep 1000 & echo $! > "$PIDFILE"; wait"#],
        &[("PIDFILE", pid_file.to_str().unwrap())],
        &[],
        &[],
    )
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let fixture = Fixture::new();
    let pid_file = fixture.dirs.root().join("grandchild.pid");
    let mut spec = task_with_grandchild(&pid_file);
    spec.timeout_ms = 500;
    let started = Instant::now();
    let report = run_it(&fixture, assignment(spec, &[]), Control::new()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let failure = report.failure().unwrap();
    assert!(failure.retryable && failure.timed_out, "{failure:?}");
    assert!(
        failure.message.contains("timed out after 500ms"),
        "{}",
        failure.message
    );
    assert_gone(read_pid(&pid_file).await).await;
    assert_eq!(fixture.scratch_dirs_left(), 0);
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let fixture = Fixture::new();
    let pid_file = fixture.dirs.root().join("grandchild.pid");
    let control = Control::new();
    let canceller = control.clone();
    let watched = pid_file.clone();
    let cancelling = tokio::spawn(async move {
        let grandchild = read_pid(&watched).await;
        let alive_before_cancel = alive(grandchild);
        canceller.cancel();
        alive_before_cancel
    });
    let report = run_it(
        &fixture,
        assignment(task_with_grandchild(&pid_file), &[]),
        control,
    )
    .await;
    assert_eq!(report.failure(), Some(&Failure::cancelled()));
    assert!(
        cancelling.await.unwrap(),
        "the grandchild should have run until cancelled"
    );
    assert_gone(read_pid(&pid_file).await).await;
}

#[tokio::test]
async fn stray_background_processes_do_not_outlive_a_successful_attempt() {
    let fixture = Fixture::new();
    let pid_file = fixture.dirs.root().join("stray.pid");
    let spec = task(
        &["sh", "-c", r#"sleep 1000 & echo $! > "$PIDFILE"; exit 0"#],
        &[("PIDFILE", pid_file.to_str().unwrap())],
        &[],
        &[],
    );
    let started = Instant::now();
    let report = run_it(&fixture, assignment(spec, &[]), Control::new()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.outcome, Outcome::Succeeded(Values::new()));
    assert_gone(read_pid(&pid_file).await).await;
}

#[tokio::test]
async fn runs_in_the_task_working_dir_and_refuses_a_missing_one() {
    let fixture = Fixture::new();
    let place = tempfile::tempdir().unwrap();
    let place_path = place.path().canonicalize().unwrap();
    let mut spec = task(
        &[
            "sh",
            "-c",
            r#"printf '{"here": "%s"}' "$(pwd -P)" > "$BATON_OUTPUTS""#,
        ],
        &[],
        &[],
        &[("here", "string")],
    );
    let Runner::Process { working_dir, .. } = &mut spec.runner else {
        unreachable!()
    };
    *working_dir = place_path.display().to_string();
    let report = run_it(&fixture, assignment(spec.clone(), &[]), Control::new()).await;
    let here = Value::String(place_path.display().to_string());
    assert_eq!(
        report.outcome,
        Outcome::Succeeded(Values::from([("here".into(), here)]))
    );

    let Runner::Process { working_dir, .. } = &mut spec.runner else {
        unreachable!()
    };
    *working_dir = "/nonexistent/baton-dir".into();
    let report = run_it(&fixture, assignment(spec, &[]), Control::new()).await;
    let failure = report.failure().unwrap();
    assert!(!failure.retryable);
    assert_eq!(
        failure.message,
        "the working directory `/nonexistent/baton-dir` does not exist"
    );
}
