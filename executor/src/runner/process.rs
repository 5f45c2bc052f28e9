//! The process runner: runs a task's `command` (an argv list, no shell) in
//! its own process group.
//!
//! Data flow of one attempt: a scratch directory under `WORK_DIR/tmp` gets
//! `inputs.json` (`BATON_INPUTS`, name -> JSON value), the path for
//! `outputs.json` (`BATON_OUTPUTS`, written by the task) and an empty
//! `out/` (`BATON_OUTPUT_DIR`, for blob outputs written as files named after
//! the output). stdout and stderr are appended to
//! `WORK_DIR/logs/<execution>/<node>/<attempt>.log`; stderr also passes
//! through the executor so a failure can quote its last lines. When the
//! task's main process ends, timeout fires or the attempt is cancelled, the
//! whole process group is killed (stray background processes included), the
//! outputs are read and typed against the interface, and the scratch
//! directory is removed.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use baton_model::{BlobRef, Interface, Runner, Type, Value, Values};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, Command};

use crate::attempt::{Assignment, Failure, Report};
use crate::blob::{values, BlobError};
use crate::runner::{timed_out_failure, wrong_type_message, Control};
use crate::work_dir::WorkDirs;

/// How much of stderr is kept to quote in a failure message.
const STDERR_TAIL_BYTES: usize = 8 * 1024;
/// How many stderr lines a failure message quotes.
const STDERR_QUOTED_LINES: usize = 10;
/// How long to wait for stderr to close once the process group is dead.
const STDERR_DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Runs a process task; `timeout` is the task's limit, if any.
pub async fn run(
    dirs: &WorkDirs,
    assignment: &Assignment,
    timeout: Option<Duration>,
    control: &Control,
) -> Report {
    let Runner::Process {
        command,
        env,
        working_dir,
    } = &assignment.task.runner
    else {
        return Report::failed(
            Failure::permanent("the process runner got a task of another runner"),
            0,
        );
    };
    let Some(program) = command.first() else {
        return Report::failed(Failure::permanent("the task's command is empty"), 0);
    };
    let scratch = match Scratch::prepare(dirs, assignment).await {
        Ok(scratch) => scratch,
        Err(failure) => return Report::failed(failure, 0),
    };
    let log_path = dirs.log_path(&assignment.key);
    let (stdout_log, stderr_log) = match open_log(&log_path).await {
        Ok(files) => files,
        Err(error) => {
            let message = format!("cannot open the log file `{}`: {error}", log_path.display());
            return Report::failed(Failure::retryable(message), 0);
        }
    };

    let mut process = Command::new(program);
    process
        .args(&command[1..])
        .envs(env)
        .env("BATON_INPUTS", &scratch.inputs)
        .env("BATON_OUTPUTS", &scratch.outputs)
        .env("BATON_OUTPUT_DIR", &scratch.output_dir)
        .env("BATON_EXECUTION_ID", &assignment.key.execution_id)
        .env("BATON_NODE_ID", &assignment.key.node_id)
        .env("BATON_ATTEMPT", assignment.key.attempt.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout_log))
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // If the executor itself dies (SIGKILL, OOM), its tasks must not run on
    // unsupervised: the scheduler re-runs them elsewhere after the lease.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        process.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    if !working_dir.is_empty() {
        if !tokio::fs::metadata(working_dir)
            .await
            .is_ok_and(|m| m.is_dir())
        {
            let message = format!("the working directory `{working_dir}` does not exist");
            return Report::failed(Failure::permanent(message), 0);
        }
        process.current_dir(working_dir);
    }
    let mut child = match process.spawn() {
        Ok(child) => child,
        Err(error) => {
            let message = format!("cannot start `{program}`: {error}");
            return Report::failed(Failure::permanent(message), log_size(&log_path).await);
        }
    };
    let group = GroupGuard::new(control, &child);
    let stderr = child
        .stderr
        .take()
        .map(|stderr| tokio::spawn(pump_stderr(stderr, stderr_log)));
    tracing::debug!(pid = ?child.id(), %program, "process started");

    let ending = wait_for_end(&mut child, timeout, control).await;
    // The attempt is over whichever way it ended: nothing of it may outlive it.
    control.kill_process_group();
    if !matches!(ending, Ending::Exited(_)) {
        let _ = child.wait().await;
    }
    drop(group);
    let stderr_tail = match stderr {
        Some(pump) => match tokio::time::timeout(STDERR_DRAIN_LIMIT, pump).await {
            Ok(Ok(tail)) => tail,
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    let log = log_size(&log_path).await;

    let failure = match ending {
        Ending::Exited(status) if status.success() => {
            return match collect_outputs(dirs, &assignment.task.interface, &scratch).await {
                Ok(outputs) => Report::succeeded(outputs, log),
                Err(failure) => Report::failed(failure, log),
            };
        }
        Ending::Exited(status) => Failure::retryable(exit_message(status, &stderr_tail)),
        Ending::TimedOut(limit) => timed_out_failure(limit),
        Ending::Cancelled => Failure::cancelled(),
        Ending::WaitFailed(error) => {
            Failure::retryable(format!("cannot wait for the process: {error}"))
        }
    };
    Report::failed(failure, log)
}

/// The per-attempt scratch directory; removed when dropped.
struct Scratch {
    _dir: tempfile::TempDir,
    inputs: PathBuf,
    outputs: PathBuf,
    output_dir: PathBuf,
}

impl Scratch {
    /// Makes the scratch directory and writes the inputs JSON: offloaded
    /// inputs read back, blobs as the paths of their verified local copies.
    async fn prepare(dirs: &WorkDirs, assignment: &Assignment) -> Result<Self, Failure> {
        let cannot =
            |e: std::io::Error| Failure::retryable(format!("cannot prepare the attempt: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("attempt-")
            .tempdir_in(dirs.tmp())
            .map_err(cannot)?;
        let scratch = Scratch {
            inputs: dir.path().join("inputs.json"),
            outputs: dir.path().join("outputs.json"),
            output_dir: dir.path().join("out"),
            _dir: dir,
        };
        let interface = &assignment.task.interface;
        let inputs =
            values::inline_offloaded(dirs.blobs(), interface, &assignment.inputs, dirs.tmp())
                .await
                .map_err(|e| match e {
                    values::InputError::Blob(e) => blob_failure(e),
                    other => Failure::permanent(other.to_string()),
                })?;
        let json = values::task_inputs_json(dirs.blobs(), &inputs, scratch._dir.path())
            .await
            .map_err(blob_failure)?;
        let text = serde_json::to_vec(&json).map_err(|e| cannot(e.into()))?;
        tokio::fs::write(&scratch.inputs, text)
            .await
            .map_err(cannot)?;
        tokio::fs::create_dir(&scratch.output_dir)
            .await
            .map_err(cannot)?;
        Ok(scratch)
    }
}

/// A blob that is gone or no longer matches its hash fails the attempt for
/// good (a retry would read the same); an I/O problem may pass.
fn blob_failure(error: BlobError) -> Failure {
    match error {
        BlobError::NotFound { .. } | BlobError::Corrupt { .. } | BlobError::BadStore { .. } => {
            Failure::permanent(error.to_string())
        }
        BlobError::Io { .. } => Failure::retryable(error.to_string()),
    }
}

/// Opens (and empties) the attempt's log: one handle for the child's stdout,
/// one for the stderr pump, both appending so their writes interleave whole.
async fn open_log(path: &Path) -> std::io::Result<(std::fs::File, tokio::fs::File)> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::File::create(path).await?;
    let mut append = tokio::fs::OpenOptions::new();
    append.append(true);
    let stdout = append.open(path).await?.into_std().await;
    Ok((stdout, append.open(path).await?))
}

/// Records the child's process group in the attempt's [`Control`] (so a dying
/// worker can kill it) and kills the group when dropped.
struct GroupGuard<'a> {
    control: &'a Control,
}

impl<'a> GroupGuard<'a> {
    fn new(control: &'a Control, child: &Child) -> Self {
        // With `process_group(0)` the child leads a group whose id is its pid.
        let group = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .unwrap_or(0);
        control.set_process_group(group);
        GroupGuard { control }
    }
}

impl Drop for GroupGuard<'_> {
    fn drop(&mut self) {
        self.control.kill_process_group();
        self.control.set_process_group(0);
    }
}

enum Ending {
    Exited(ExitStatus),
    TimedOut(Duration),
    Cancelled,
    WaitFailed(std::io::Error),
}

async fn wait_for_end(child: &mut Child, timeout: Option<Duration>, control: &Control) -> Ending {
    let deadline = async {
        match timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        status = child.wait() => match status {
            Ok(status) => Ending::Exited(status),
            Err(error) => Ending::WaitFailed(error),
        },
        _ = deadline => Ending::TimedOut(timeout.unwrap_or_default()),
        _ = control.cancelled() => Ending::Cancelled,
    }
}

/// Copies stderr into the log and returns its last [`STDERR_TAIL_BYTES`].
async fn pump_stderr(mut stderr: ChildStderr, mut log: tokio::fs::File) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buffer = vec![0u8; 8 * 1024];
    loop {
        let read = match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if let Err(error) = log.write_all(&buffer[..read]).await {
            tracing::warn!(%error, "cannot write stderr to the task log");
        }
        tail.extend_from_slice(&buffer[..read]);
        if tail.len() > STDERR_TAIL_BYTES {
            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        }
    }
    let _ = log.flush().await;
    tail
}

/// The size of the log in bytes (0 if it cannot be read).
async fn log_size(path: &Path) -> u64 {
    match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata.len(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the task log");
            0
        }
    }
}

/// "process exited with code 3; stderr ends with: ..." and the like.
fn exit_message(status: ExitStatus, stderr_tail: &[u8]) -> String {
    let mut message = match (status.code(), status.signal()) {
        (Some(code), _) => format!("process exited with code {code}"),
        (None, Some(signal)) => format!("process was killed by signal {signal}"),
        (None, None) => format!("process ended with {status}"),
    };
    let stderr = String::from_utf8_lossy(stderr_tail);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    if !lines.is_empty() {
        let quoted = &lines[lines.len().saturating_sub(STDERR_QUOTED_LINES)..];
        message.push_str("; stderr ends with:\n");
        message.push_str(&quoted.join("\n"));
    }
    message
}

/// Reads the declared outputs: from the outputs JSON, typed by their declared
/// type, or (for a blob missing there) from a file in the output directory.
async fn collect_outputs(
    dirs: &WorkDirs,
    interface: &Interface,
    scratch: &Scratch,
) -> Result<Values, Failure> {
    let written = match tokio::fs::read(&scratch.outputs).await {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
            Failure::permanent(format!(
                "the outputs file (BATON_OUTPUTS) is not valid JSON: {e}"
            ))
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            serde_json::Value::Object(Default::default())
        }
        Err(error) => {
            return Err(Failure::retryable(format!(
                "cannot read the outputs file: {error}"
            )))
        }
    };
    let serde_json::Value::Object(mut written) = written else {
        return Err(Failure::permanent(
            "the outputs file (BATON_OUTPUTS) must hold a JSON object of output name to value",
        ));
    };
    let mut outputs = Values::new();
    for declared in &interface.outputs {
        let value = match written.remove(&declared.name) {
            Some(json) => Value::from_json(&declared.ty, &json).map_err(|why| {
                Failure::permanent(wrong_type_message(&declared.name, &declared.ty, &why))
            })?,
            // A blob may be left as a file named after the output.
            None if is_blob(&declared.ty)
                && is_plain_file_name(&declared.name)
                && tokio::fs::try_exists(scratch.output_dir.join(&declared.name))
                    .await
                    .unwrap_or(false) =>
            {
                Value::Blob(BlobRef {
                    uri: declared.name.clone(),
                    size: 0,
                    sha256: String::new(),
                })
            }
            None => continue, // a missing output is refused by the interface check
        };
        let value =
            values::store_returned_files(dirs.blobs(), &declared.name, value, &scratch.output_dir)
                .await?;
        outputs.insert(declared.name.clone(), value);
    }
    Ok(outputs)
}

fn is_blob(ty: &Type) -> bool {
    match ty {
        Type::Blob => true,
        Type::Optional(inner) => is_blob(inner),
        _ => false,
    }
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

#[cfg(test)]
mod tests;
