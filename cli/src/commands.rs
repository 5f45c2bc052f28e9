//! The client commands: register, run, get, watch, list, cancel, logs.

use std::collections::HashMap;
use std::io::Write;

use baton_model::Identifier;
use baton_proto::*;
use futures::StreamExt;

use crate::client::{retryable, CliError, Client};
use crate::render;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Prints `value` as JSON, or as YAML for `-o yaml`.
pub fn print_structured(output: Output, value: &serde_json::Value) {
    match output {
        Output::Yaml => print!("{}", serde_yaml_ng::to_string(value).unwrap_or_default()),
        _ => print_json(value),
    }
}

/// Parses `-i NAME=VALUE` arguments.
pub fn parse_inputs(inputs: &[String]) -> Result<HashMap<String, String>, CliError> {
    let mut out = HashMap::new();
    for input in inputs {
        let Some((name, value)) = input.split_once('=') else {
            return Err(CliError::BadInput(format!(
                "bad input `{input}`: expected NAME=VALUE"
            )));
        };
        if name.is_empty() {
            return Err(CliError::BadInput(format!(
                "bad input `{input}`: the name is empty"
            )));
        }
        if out.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(CliError::BadInput(format!("input `{name}` is given twice")));
        }
    }
    Ok(out)
}

/// A launch request id unique to this invocation, so that retrying the
/// launch (e.g. across a leader change) never launches twice.
pub fn new_request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("{}-{}-{nanos:x}", host.trim(), std::process::id())
}

pub async fn launch(
    client: &mut Client,
    workflow: &str,
    inputs: &[String],
    pool: Option<String>,
    plan: bool,
    cache: baton_proto::CacheMode,
    blobs: &crate::blobs::BlobOptions,
) -> Result<LaunchResponse, CliError> {
    let workflow = Identifier::parse(workflow).map_err(|e| CliError::BadInput(e.to_string()))?;
    let mut text_inputs = parse_inputs(inputs)?;
    let file_inputs = crate::blobs::upload_file_inputs(client, blobs, &text_inputs).await?;
    text_inputs.retain(|name, _| !file_inputs.contains_key(name));
    // `@@text` is the literal text `@text`.
    for value in text_inputs.values_mut() {
        if let Some(literal) = value.strip_prefix("@@") {
            *value = format!("@{literal}");
        }
    }
    let (workflow, launch_plan) = match plan {
        true => (None, Some((&workflow).into())),
        false => (Some((&workflow).into()), None),
    };
    let (span, trace_context) = crate::traces::launch_span();
    let request = LaunchRequest {
        workflow,
        inputs: HashMap::new(),
        text_inputs,
        pool: pool.unwrap_or_default(),
        request_id: new_request_id(),
        file_inputs,
        launch_plan,
        cache: cache as i32,
        trace_context,
    };
    let launched = client
        .call(request, |mut a, r| async move { a.launch(r).await })
        .await?;
    span.record("execution", launched.execution_id.as_str());
    Ok(launched)
}

pub struct RunOptions {
    pub cache: baton_proto::CacheMode,
    pub pool: Option<String>,
    pub wait: bool,
    /// The id names a launch plan (needed only when a workflow has its name too).
    pub plan: bool,
    pub blobs: crate::blobs::BlobOptions,
}

pub async fn run(
    client: &mut Client,
    workflow: &str,
    inputs: &[String],
    options: RunOptions,
    output: Output,
) -> Result<(), CliError> {
    let RunOptions {
        cache,
        pool,
        wait,
        plan,
        blobs,
    } = options;
    let launched = launch(client, workflow, inputs, pool, plan, cache, &blobs).await?;
    if !wait {
        match output {
            Output::Json | Output::Yaml => print_structured(
                output,
                &serde_json::json!({
                    "execution": launched.execution_id,
                    "workflow": render::id(&launched.workflow),
                }),
            ),
            Output::Text => println!("{}", launched.execution_id),
        }
        return Ok(());
    }
    eprintln!(
        "launched {} ({})",
        launched.execution_id,
        render::id(&launched.workflow)
    );
    let execution = follow(client, &launched.execution_id).await?;
    finish(&execution, output)
}

/// Prints a finished execution's outputs; an execution that did not succeed is an error.
pub fn finish(execution: &Execution, output: Output) -> Result<(), CliError> {
    match output {
        Output::Json | Output::Yaml => print_structured(output, &render::execution_json(execution)),
        Output::Text => print!("{}", render::values_text(&execution.outputs, "")),
    }
    succeeded(execution)
}

/// An execution that did not succeed is an error naming its phase and cause.
pub fn succeeded(execution: &Execution) -> Result<(), CliError> {
    if execution.phase == ExecutionPhase::ExecutionSucceeded as i32 {
        Ok(())
    } else {
        Err(CliError::ExecutionFailed(format!(
            "execution {} {}: {}",
            execution.id,
            render::execution_phase(execution.phase).to_lowercase(),
            execution.error
        )))
    }
}

/// Streams an execution's events to `on_event` until it ends, resuming
/// without repeats when the stream breaks (e.g. across a leader change).
pub async fn stream_events(
    client: &mut Client,
    execution_id: &str,
    mut on_event: impl FnMut(&ExecutionEvent),
) -> Result<(), CliError> {
    let mut seen = 0u64;
    loop {
        let request = WatchRequest {
            execution_id: execution_id.to_owned(),
        };
        let mut stream = client
            .call(request, |mut a, r| async move { a.watch(r).await })
            .await?;
        loop {
            match stream.next().await {
                Some(Ok(event)) => {
                    if event.seq > seen {
                        seen = event.seq;
                        on_event(&event);
                    }
                }
                None => return Ok(()),
                Some(Err(status)) if retryable(&status) => break,
                Some(Err(status)) => return Err(client.error(status)),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        client.reconnect(None).await;
    }
}

/// One execution as the scheduler has it now.
pub async fn fetch_execution(
    client: &mut Client,
    execution_id: &str,
) -> Result<Execution, CliError> {
    let request = GetExecutionRequest {
        execution_id: execution_id.to_owned(),
    };
    client
        .call(request, |mut a, r| async move { a.get_execution(r).await })
        .await
}

/// Watches an execution to its end, with a progress bar on stderr (drawn
/// only on a terminal); returns it finished.
pub async fn follow(client: &mut Client, execution_id: &str) -> Result<Execution, CliError> {
    let initial = fetch_execution(client, execution_id).await?;
    // The launched workflow's own nodes: instances inside sub-workflows,
    // loops, branches and maps are made as it runs.
    let top = initial.nodes.iter().filter(|n| n.depth == 0).count();
    let bar = indicatif::ProgressBar::new(top as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    stream_events(client, execution_id, |event| {
        let top_level = !event.node_id.contains(['.', '[']);
        if event.node_phase == NodePhase::NodeSucceeded as i32 && top_level {
            bar.inc(1);
        }
        if !event.node_id.is_empty() {
            bar.set_message(format!(
                "{} {}",
                event.node_id,
                render::node_phase(event.node_phase).to_lowercase()
            ));
        }
    })
    .await?;
    bar.finish_and_clear();
    fetch_execution(client, execution_id).await
}

pub async fn get(
    client: &mut Client,
    execution_id: &str,
    depth: Option<u32>,
    output: Output,
) -> Result<(), CliError> {
    let mut execution = fetch_execution(client, execution_id).await?;
    if let Some(depth) = depth {
        execution.nodes.retain(|n| n.depth <= depth);
    }
    match output {
        Output::Json | Output::Yaml => {
            print_structured(output, &render::execution_json(&execution))
        }
        Output::Text => print!("{}", render::execution_text(&execution)),
    }
    Ok(())
}

pub async fn watch(
    client: &mut Client,
    execution_id: &str,
    output: Output,
) -> Result<(), CliError> {
    let initial = fetch_execution(client, execution_id).await?;
    let mut stdout = std::io::stdout();
    stream_events(client, execution_id, |event| {
        let line = match output {
            // One event per line: JSON lines; YAML, one document per event.
            Output::Json => serde_json::to_string(&render::event_json(event)).unwrap_or_default(),
            Output::Yaml => format!(
                "---\n{}",
                serde_yaml_ng::to_string(&render::event_json(event)).unwrap_or_default()
            )
            .trim_end()
            .to_owned(),
            Output::Text => render::event_text(event, initial.created_at_ms),
        };
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    })
    .await?;
    let execution = fetch_execution(client, execution_id).await?;
    if output == Output::Text {
        print!("{}", render::values_text(&execution.outputs, "  "));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListKind {
    Executions,
    Tasks,
    Workflows,
}

pub async fn list(
    client: &mut Client,
    kind: ListKind,
    limit: u32,
    output: Output,
) -> Result<(), CliError> {
    match kind {
        ListKind::Executions => {
            let response = client
                .call(ListExecutionsRequest { limit }, |mut a, r| async move {
                    a.list_executions(r).await
                })
                .await?;
            match output {
                Output::Json | Output::Yaml => print_structured(
                    output,
                    &serde_json::Value::Array(
                        response
                            .executions
                            .iter()
                            .map(render::execution_json)
                            .collect(),
                    ),
                ),
                Output::Text => {
                    println!(
                        "{:<28} {:<10} {:<24} WORKFLOW",
                        "EXECUTION", "PHASE", "CREATED"
                    );
                    for e in &response.executions {
                        let created =
                            baton_model::value::format_datetime(e.created_at_ms as i64 * 1_000_000);
                        let created = created.get(..19).unwrap_or(&created).replace('T', " ");
                        println!(
                            "{:<28} {:<10} {:<24} {}",
                            e.id,
                            render::execution_phase(e.phase),
                            created,
                            render::id(&e.workflow)
                        );
                    }
                }
            }
        }
        ListKind::Tasks => {
            let response = client
                .call(ListTasksRequest {}, |mut a, r| async move {
                    a.list_tasks(r).await
                })
                .await?;
            match output {
                Output::Json | Output::Yaml => print_structured(
                    output,
                    &serde_json::Value::Array(
                        response
                            .tasks
                            .iter()
                            .map(|t| {
                                serde_json::json!({
                                    "id": render::id(&t.id),
                                    "interface": render::interface_json(&t.interface),
                                    "retries": t.retries,
                                    "timeout_ms": t.timeout_ms,
                                    "pool": t.pool,
                                    "description": t.description,
                                })
                            })
                            .collect(),
                    ),
                ),
                Output::Text => {
                    for t in &response.tasks {
                        println!(
                            "{:<48} {}",
                            render::id(&t.id),
                            render::interface_text(&t.interface)
                        );
                    }
                }
            }
        }
        ListKind::Workflows => {
            let response = client
                .call(ListWorkflowsRequest {}, |mut a, r| async move {
                    a.list_workflows(r).await
                })
                .await?;
            match output {
                Output::Json | Output::Yaml => print_structured(
                    output,
                    &serde_json::Value::Array(
                        response
                            .workflows
                            .iter()
                            .map(|w| {
                                serde_json::json!({
                                    "id": render::id(&w.id),
                                    "interface": render::interface_json(&w.interface),
                                    "nodes": w.nodes.len(),
                                    "description": w.description,
                                })
                            })
                            .collect(),
                    ),
                ),
                Output::Text => {
                    for w in &response.workflows {
                        println!(
                            "{:<48} {:>5} nodes  {}",
                            render::id(&w.id),
                            w.nodes.len(),
                            render::interface_text(&w.interface)
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

pub async fn cancel(client: &mut Client, execution_id: &str) -> Result<(), CliError> {
    let response = client
        .call(
            CancelRequest {
                execution_id: execution_id.to_owned(),
            },
            |mut a, r| async move { a.cancel(r).await },
        )
        .await?;
    let phase = render::execution_phase(response.phase);
    if phase == "CANCELLED" {
        println!("{execution_id} cancelled");
    } else {
        println!("{execution_id} had already finished: {phase}");
    }
    Ok(())
}

/// A signal's fields given as `-i`, checked before anything is contacted.
pub fn check_signal_fields(inputs: &[String]) -> Result<(), CliError> {
    if inputs.is_empty() {
        return Err(CliError::BadInput(
            "no signal fields: give each as -i NAME=VALUE (`baton get` shows what the gate waits for)".into(),
        ));
    }
    parse_inputs(inputs).map(|_| ())
}

/// `baton signal`: the fields travel as a launch's inputs do (typed by the
/// scheduler, files uploaded first).
pub async fn signal(
    client: &mut Client,
    execution_id: &str,
    node: &str,
    inputs: &[String],
    blobs: &crate::blobs::BlobOptions,
) -> Result<(), CliError> {
    check_signal_fields(inputs)?;
    let mut text_values = parse_inputs(inputs)?;
    let file_values = crate::blobs::upload_file_inputs(client, blobs, &text_values).await?;
    text_values.retain(|name, _| !file_values.contains_key(name));
    for value in text_values.values_mut() {
        if let Some(literal) = value.strip_prefix("@@") {
            *value = format!("@{literal}");
        }
    }
    let request = baton_proto::SignalRequest {
        execution_id: execution_id.to_owned(),
        node: node.to_owned(),
        values: HashMap::new(),
        text_values,
        file_values,
    };
    let response = client
        .call(request, |mut a, r| async move { a.signal(r).await })
        .await?;
    println!("{execution_id}: gate {} signalled", response.node);
    Ok(())
}

/// How often `baton logs --follow` asks for what a running attempt wrote.
const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Prints an attempt's log, read in chunks from the executor that ran it;
/// with `follow`, goes on printing what a running attempt writes until it
/// ends.
pub async fn logs(
    client: &mut Client,
    execution_id: &str,
    node: &str,
    attempt: u32,
    follow: bool,
    output: Output,
) -> Result<(), CliError> {
    let mut offset = 0u64;
    let mut attempt = attempt;
    let mut text = Vec::new();
    let mut out = std::io::stdout().lock();
    let response = loop {
        let response = client
            .call(
                GetNodeLogsRequest {
                    execution_id: execution_id.to_owned(),
                    node_id: node.to_owned(),
                    attempt,
                    offset,
                    limit: 0,
                },
                |mut a, r| async move { a.get_node_logs(r).await },
            )
            .await?;
        // Later reads are of this attempt, even once another one starts.
        attempt = response.attempt;
        offset += response.data.len() as u64;
        match output {
            Output::Json | Output::Yaml => text.extend_from_slice(&response.data),
            Output::Text => {
                out.write_all(&response.data)
                    .and_then(|()| out.flush())
                    .map_err(|e| CliError::Refused(format!("cannot write the output: {e}")))?;
            }
        }
        if offset < response.size && !response.data.is_empty() {
            continue; // more is there already
        }
        if follow && response.running {
            tokio::time::sleep(FOLLOW_INTERVAL).await;
            continue;
        }
        break response;
    };
    if output != Output::Text {
        print_structured(
            output,
            &serde_json::json!({
                "attempt": response.attempt,
                "executor": response.executor,
                "running": response.running,
                "log": String::from_utf8_lossy(&text),
            }),
        );
    }
    Ok(())
}
