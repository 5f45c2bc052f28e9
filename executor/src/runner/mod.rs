//! Runners: how one attempt turns its inputs into outputs. [`run`] picks the
//! runner the task names (`process` or `builtin`), applies the task's
//! timeout, and checks the outputs against the task's interface before
//! anything is reported. A [`Control`] is shared between the worker that
//! owns the attempt and the running attempt: the worker cancels through it,
//! and kills the attempt's process group through it when it dies.

pub mod builtin;
pub mod process;

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use baton_model::{Interface, Runner, Type, Value, ValueError, Values};
use tokio::sync::watch;
use tracing::Instrument;

use crate::attempt::{Assignment, Failure, Outcome, Report};
use crate::work_dir::WorkDirs;

/// The runner kinds this executor offers, as announced at registration.
pub const RUNNER_KINDS: [&str; 2] = ["process", "builtin"];

/// The link between a running attempt and the worker that owns it.
#[derive(Clone, Debug)]
pub struct Control {
    inner: Arc<ControlInner>,
}

#[derive(Debug)]
struct ControlInner {
    cancelled: watch::Sender<bool>,
    /// The process group of a running process task; 0 when there is none.
    process_group: AtomicI32,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            inner: Arc::new(ControlInner {
                cancelled: watch::Sender::new(false),
                process_group: AtomicI32::new(0),
            }),
        }
    }
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the attempt to stop; it reports a non-retryable "cancelled".
    pub fn cancel(&self) {
        self.inner.cancelled.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.inner.cancelled.borrow()
    }

    /// Completes once [`Control::cancel`] has been called.
    pub async fn cancelled(&self) {
        let mut receiver = self.inner.cancelled.subscribe();
        // The sender lives in `self`, so this only ends when cancelled.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }

    /// Kills the attempt's whole process group now, if it has one
    /// (synchronous: safe to call from `Drop` and from a dying actor).
    pub fn kill_process_group(&self) {
        let group = self.inner.process_group.load(Ordering::SeqCst);
        if group > 0 {
            // SAFETY: killpg only sends a signal; `group` is a process group
            // this executor created and has not yet released (see
            // `set_process_group`), so it cannot name an unrelated group.
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
    }

    /// Records the process group of the running task (0: none any more).
    pub(crate) fn set_process_group(&self, group: i32) {
        self.inner.process_group.store(group, Ordering::SeqCst);
    }
}

/// Runs one attempt to its end and returns what to report: inside an
/// `attempt` span, the child of the scheduler's dispatch span, when this
/// executor exports traces and the scheduler sent its context.
pub async fn run(dirs: Arc<WorkDirs>, assignment: Assignment, control: Control) -> Report {
    if !baton_telemetry::enabled() || assignment.trace_context.is_empty() {
        return run_attempt(dirs, assignment, control).await;
    }
    let span = tracing::info_span!(
        target: baton_telemetry::TARGET,
        "attempt",
        otel.kind = "server",
        execution = %assignment.key.execution_id,
        node = %assignment.key.node_id,
        attempt = assignment.key.attempt,
        task = %assignment.task.id,
        outcome = tracing::field::Empty,
    );
    baton_telemetry::context::adopt_from(&span, &assignment.trace_context);
    let report = run_attempt(dirs, assignment, control)
        .instrument(span.clone())
        .await;
    span.record(
        "outcome",
        match &report.outcome {
            Outcome::Succeeded(_) => "succeeded",
            Outcome::Failed(_) => "failed",
        },
    );
    report
}

async fn run_attempt(dirs: Arc<WorkDirs>, assignment: Assignment, control: Control) -> Report {
    // Before any input is fetched: the cleanup keeps what it touches.
    let _running = dirs.attempt_started(&assignment.key);
    let timeout =
        (assignment.task.timeout_ms > 0).then(|| Duration::from_millis(assignment.task.timeout_ms));
    let report = match &assignment.task.runner {
        Runner::Process { .. } => process::run(&dirs, &assignment, timeout, &control).await,
        Runner::Builtin(name) => {
            let running = builtin::run(name, &dirs, &assignment, &control);
            match timeout {
                None => running.await,
                Some(limit) => tokio::time::timeout(limit, running)
                    .await
                    .unwrap_or_else(|_| Report::failed(timed_out_failure(limit), 0)),
            }
        }
    };
    match report.outcome {
        Outcome::Succeeded(outputs) => match check_outputs(&assignment.task.interface, outputs) {
            Ok(outputs) => match crate::blob::values::offload_large(dirs.blobs(), outputs).await {
                Ok(outputs) => Report::succeeded(outputs, report.log_size),
                Err(why) => Report::failed(Failure::retryable(why), report.log_size),
            },
            Err(failure) => Report::failed(failure, report.log_size),
        },
        Outcome::Failed(_) => report,
    }
}

/// The failure of an attempt that ran past `limit`.
pub fn timed_out_failure(limit: Duration) -> Failure {
    Failure::timed_out(format!(
        "timed out after {}",
        humantime::format_duration(limit)
    ))
}

/// Checks `outputs` against the declared outputs: every declared output must
/// be present (an `optional<T>` one may be left out: it is then none) and of
/// its declared type. Undeclared outputs are dropped.
pub fn check_outputs(interface: &Interface, mut outputs: Values) -> Result<Values, Failure> {
    let mut checked = Values::new();
    for declared in &interface.outputs {
        let value = match outputs.remove(&declared.name) {
            Some(value) => value,
            None if declared.ty.is_optional() => Value::None,
            None => {
                return Err(Failure::permanent(format!(
                    "output `{}` of type {} is missing",
                    declared.name, declared.ty
                )))
            }
        };
        if let Err(why) = value.check(&declared.ty) {
            return Err(Failure::permanent(wrong_type_message(
                &declared.name,
                &declared.ty,
                &why,
            )));
        }
        checked.insert(declared.name.clone(), value);
    }
    if !outputs.is_empty() {
        let undeclared: Vec<&String> = outputs.keys().collect();
        tracing::debug!(?undeclared, "dropping outputs the task does not declare");
    }
    Ok(checked)
}

/// "output `x` should be int: expected int, got a string", or with the
/// path inside the value: "output `scores[3].margin` should be float: ...".
pub fn wrong_type_message(name: &str, ty: &Type, why: &ValueError) -> String {
    if why.path.is_empty() {
        format!("output `{name}` should be {ty}: {}", why.why)
    } else {
        format!(
            "output `{name}{}`: {} (`{name}` is {ty})",
            why.path, why.why
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_model::Variable;

    fn interface(outputs: &[(&str, &str)]) -> Interface {
        Interface {
            inputs: vec![],
            outputs: outputs
                .iter()
                .map(|(name, ty)| Variable {
                    name: (*name).into(),
                    ty: ty.parse().unwrap(),
                    default: None,
                    description: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn output_check_refuses_a_wrong_type_naming_output_type_and_value() {
        let outputs = Values::from([("n".to_string(), Value::String("x".into()))]);
        let failure = check_outputs(&interface(&[("n", "int")]), outputs).unwrap_err();
        assert!(!failure.retryable);
        assert_eq!(
            failure.message,
            "output `n` should be int: expected int, got a string"
        );
    }

    #[test]
    fn output_check_refuses_a_missing_output_but_fills_a_missing_optional_one() {
        let failure = check_outputs(&interface(&[("n", "int")]), Values::new()).unwrap_err();
        assert_eq!(failure.message, "output `n` of type int is missing");
        let ok = check_outputs(&interface(&[("n", "optional<int>")]), Values::new()).unwrap();
        assert_eq!(ok["n"], Value::None);
    }

    #[test]
    fn output_check_drops_undeclared_outputs() {
        let outputs = Values::from([
            ("n".to_string(), Value::Int(1)),
            ("extra".to_string(), Value::Int(2)),
        ]);
        let ok = check_outputs(&interface(&[("n", "int")]), outputs).unwrap();
        assert_eq!(ok, Values::from([("n".to_string(), Value::Int(1))]));
    }

    #[tokio::test]
    async fn cancel_wakes_a_waiting_attempt() {
        let control = Control::new();
        let waiter = tokio::spawn({
            let control = control.clone();
            async move { control.cancelled().await }
        });
        assert!(!control.is_cancelled());
        control.cancel();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(control.is_cancelled());
    }
}
