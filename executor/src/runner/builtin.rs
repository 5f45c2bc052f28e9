//! Builtin runners: Rust functions compiled into the executor, for tests,
//! demos and benchmarks. `noop` copies each input to the declared output of
//! the same name; `sleep` waits `seconds` (an input) then does what noop
//! does; `echo` writes its inputs as JSON to the task log then does what
//! noop does; `fail` always fails (retryable). Any other name is a
//! non-retryable failure.

use std::time::Duration;

use baton_model::{Value, Values};

use crate::attempt::{Assignment, Failure, Report};
use crate::runner::Control;
use crate::work_dir::WorkDirs;

/// The builtins this executor knows.
pub const BUILTINS: [&str; 4] = ["noop", "echo", "sleep", "fail"];

/// Runs builtin `name` for `assignment`.
pub async fn run(
    name: &str,
    dirs: &WorkDirs,
    assignment: &Assignment,
    control: &Control,
) -> Report {
    let outcome = match name {
        "noop" => copy_inputs(name, assignment),
        "sleep" => sleep(assignment, control).await,
        "echo" => return echo(dirs, assignment).await,
        "fail" => Err(Failure::retryable("builtin fail")),
        #[cfg(test)]
        "panic" => panic!("builtin panic"),
        other => Err(Failure::permanent(format!(
            "unknown builtin `{other}`; this executor has {}",
            BUILTINS.join(", ")
        ))),
    };
    match outcome {
        Ok(outputs) => Report::succeeded(outputs, 0),
        Err(failure) => Report::failed(failure, 0),
    }
}

/// Each declared output takes the input of the same name.
fn copy_inputs(builtin: &str, assignment: &Assignment) -> Result<Values, Failure> {
    assignment
        .task
        .interface
        .outputs
        .iter()
        .map(|output| match assignment.inputs.get(&output.name) {
            Some(value) => Ok((output.name.clone(), value.clone())),
            None => Err(Failure::permanent(format!(
                "builtin {builtin}: output `{}` has no input of the same name to copy",
                output.name
            ))),
        })
        .collect()
}

async fn sleep(assignment: &Assignment, control: &Control) -> Result<Values, Failure> {
    let seconds = match assignment.inputs.get("seconds") {
        Some(Value::Float(seconds)) => *seconds,
        Some(Value::Int(seconds)) => *seconds as f64,
        Some(other) => {
            return Err(Failure::permanent(format!(
                "builtin sleep: input `seconds` should be a float, got {}",
                other.kind_name()
            )))
        }
        None => {
            return Err(Failure::permanent(
                "builtin sleep: missing input `seconds` (float)",
            ))
        }
    };
    let duration = Duration::try_from_secs_f64(seconds).map_err(|_| {
        Failure::permanent(format!(
            "builtin sleep: `seconds` must be a non-negative number, got {seconds}"
        ))
    })?;
    tokio::select! {
        _ = tokio::time::sleep(duration) => copy_inputs("sleep", assignment),
        _ = control.cancelled() => Err(Failure::cancelled()),
    }
}

async fn echo(dirs: &WorkDirs, assignment: &Assignment) -> Report {
    let inputs: serde_json::Map<String, serde_json::Value> = assignment
        .inputs
        .iter()
        .map(|(name, value)| (name.clone(), value.to_json()))
        .collect();
    let log = format!("{}\n", serde_json::Value::Object(inputs));
    let path = dirs.log_path(&assignment.key);
    let written = async {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&path, &log).await
    };
    if let Err(error) = written.await {
        tracing::warn!(path = %path.display(), %error, "cannot write the echo log file");
    }
    match copy_inputs("echo", assignment) {
        Ok(outputs) => Report::succeeded(outputs, log.len() as u64),
        Err(failure) => Report::failed(failure, log.len() as u64),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::attempt::Outcome;
    use crate::test_support::builtin_assignment;

    fn assignment(
        builtin: &str,
        inputs: &[(&str, &str, Value)],
        outputs: &[(&str, &str)],
    ) -> Assignment {
        builtin_assignment("n1", builtin, inputs, outputs)
    }

    async fn run_it(assignment: Assignment, control: Control) -> (Report, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let dirs = Arc::new(WorkDirs::create(dir.path()).unwrap());
        (crate::runner::run(dirs, assignment, control).await, dir)
    }

    #[tokio::test]
    async fn noop_copies_each_input_to_the_output_of_the_same_name() {
        let a = assignment(
            "noop",
            &[
                ("x", "int", Value::Int(7)),
                ("unused", "bool", Value::Bool(true)),
            ],
            &[("x", "int")],
        );
        let (report, _dir) = run_it(a, Control::new()).await;
        assert_eq!(
            report.outcome,
            Outcome::Succeeded(Values::from([("x".into(), Value::Int(7))]))
        );
    }

    #[tokio::test]
    async fn noop_refuses_an_output_with_no_input_of_the_same_name() {
        let a = assignment("noop", &[], &[("y", "int")]);
        let (report, _dir) = run_it(a, Control::new()).await;
        let failure = report.failure().unwrap();
        assert!(!failure.retryable);
        assert!(
            failure.message.contains("output `y` has no input"),
            "{}",
            failure.message
        );
    }

    #[tokio::test]
    async fn sleep_waits_then_copies_inputs() {
        let a = assignment(
            "sleep",
            &[("seconds", "float", Value::Float(0.2))],
            &[("seconds", "float")],
        );
        let started = Instant::now();
        let (report, _dir) = run_it(a, Control::new()).await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(
            report.outcome,
            Outcome::Succeeded(Values::from([("seconds".into(), Value::Float(0.2))]))
        );
    }

    #[tokio::test]
    async fn sleep_stops_when_cancelled() {
        let a = assignment("sleep", &[("seconds", "float", Value::Float(30.0))], &[]);
        let control = Control::new();
        let canceller = control.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            canceller.cancel();
        });
        let started = Instant::now();
        let (report, _dir) = run_it(a, control).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(report.failure(), Some(&Failure::cancelled()));
    }

    #[tokio::test]
    async fn sleep_past_the_timeout_is_a_retryable_timed_out_failure() {
        let mut a = assignment("sleep", &[("seconds", "float", Value::Float(30.0))], &[]);
        a.task.timeout_ms = 100;
        let (report, _dir) = run_it(a, Control::new()).await;
        let failure = report.failure().unwrap();
        assert!(failure.retryable && failure.timed_out, "{failure:?}");
    }

    #[tokio::test]
    async fn echo_writes_its_inputs_as_json_to_the_log() {
        let a = assignment(
            "echo",
            &[("msg", "string", Value::String("hi".into()))],
            &[("msg", "string")],
        );
        let key = a.key.clone();
        let dir = tempfile::tempdir().unwrap();
        let dirs = Arc::new(WorkDirs::create(dir.path()).unwrap());
        let report = crate::runner::run(dirs.clone(), a, Control::new()).await;
        let logged = std::fs::read_to_string(dirs.log_path(&key)).unwrap();
        assert_eq!(logged, "{\"msg\":\"hi\"}\n");
        assert_eq!(report.log_size, logged.len() as u64);
        assert_eq!(
            report.outcome,
            Outcome::Succeeded(Values::from([("msg".into(), Value::String("hi".into()))]))
        );
    }

    #[tokio::test]
    async fn fail_is_a_retryable_failure() {
        let (report, _dir) = run_it(assignment("fail", &[], &[]), Control::new()).await;
        assert_eq!(report.failure(), Some(&Failure::retryable("builtin fail")));
    }

    #[tokio::test]
    async fn an_unknown_builtin_is_a_permanent_failure_naming_it() {
        let (report, _dir) = run_it(assignment("teleport", &[], &[]), Control::new()).await;
        let failure = report.failure().unwrap();
        assert!(!failure.retryable);
        assert!(
            failure.message.contains("unknown builtin `teleport`"),
            "{}",
            failure.message
        );
    }
}
