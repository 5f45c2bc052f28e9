//! The client commands: register, run, get, watch, list, cancel, logs.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use baton_model::spec::{parse_yaml, SpecDocument};
use baton_model::Identifier;
use baton_proto::*;
use futures::StreamExt;

use crate::client::{CliError, Client};
use crate::render;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Reads and parses spec files; nothing is sent if any of them is bad.
pub fn read_specs(files: &[PathBuf]) -> Result<RegisterRequest, CliError> {
    let mut request = RegisterRequest::default();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::BadInput(format!("cannot read {}: {e}", file.display())))?;
        let documents = parse_yaml(&text, &file.display().to_string())
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        for document in documents {
            match document {
                SpecDocument::Task(t) => request.tasks.push((&t).into()),
                SpecDocument::Workflow(w) => request.workflows.push((&w).into()),
            }
        }
    }
    if request.tasks.is_empty() && request.workflows.is_empty() {
        return Err(CliError::BadInput(
            "the files hold no Task or Workflow documents".into(),
        ));
    }
    Ok(request)
}

pub async fn register(
    client: &mut Client,
    request: RegisterRequest,
    quiet: bool,
) -> Result<(), CliError> {
    let response = client
        .admin
        .register(request)
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    if !quiet {
        for item in response.registered {
            let what = if item.created {
                "registered"
            } else {
                "unchanged "
            };
            println!("{what} {:<8} {}", item.kind, render::id(&item.id));
        }
    }
    Ok(())
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

pub async fn launch(
    client: &mut Client,
    workflow: &str,
    inputs: &[String],
    pool: Option<String>,
) -> Result<LaunchResponse, CliError> {
    let workflow = Identifier::parse(workflow).map_err(|e| CliError::BadInput(e.to_string()))?;
    let request = LaunchRequest {
        workflow: Some((&workflow).into()),
        inputs: HashMap::new(),
        text_inputs: parse_inputs(inputs)?,
        pool: pool.unwrap_or_default(),
    };
    Ok(client
        .admin
        .launch(request)
        .await
        .map_err(|s| client.status(s))?
        .into_inner())
}

pub async fn run(
    client: &mut Client,
    workflow: &str,
    inputs: &[String],
    pool: Option<String>,
    wait: bool,
    output: Output,
) -> Result<(), CliError> {
    let launched = launch(client, workflow, inputs, pool).await?;
    if !wait {
        match output {
            Output::Json => print_json(&serde_json::json!({
                "execution": launched.execution_id,
                "workflow": render::id(&launched.workflow),
            })),
            Output::Text => println!("{}", launched.execution_id),
        }
        return Ok(());
    }
    eprintln!(
        "launched {} ({})",
        launched.execution_id,
        render::id(&launched.workflow)
    );
    let execution = follow(client, &launched.execution_id, Progress::Bar).await?;
    finish(&execution, output)
}

/// Prints a finished execution's outputs; an execution that did not succeed is an error.
pub fn finish(execution: &Execution, output: Output) -> Result<(), CliError> {
    match output {
        Output::Json => print_json(&render::execution_json(execution)),
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

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar on stderr (drawn only on a terminal).
    Bar,
    /// One line per event on stderr.
    Lines,
}

/// Watches an execution to its end, showing progress; returns it finished.
pub async fn follow(
    client: &mut Client,
    execution_id: &str,
    progress: Progress,
) -> Result<Execution, CliError> {
    let request = GetExecutionRequest {
        execution_id: execution_id.to_owned(),
    };
    let initial = client
        .admin
        .get_execution(request.clone())
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    let bar = indicatif::ProgressBar::new(initial.nodes.len() as u64);
    if progress == Progress::Bar {
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut stream = client
        .admin
        .watch(WatchRequest {
            execution_id: execution_id.to_owned(),
        })
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    while let Some(event) = stream.next().await {
        let event = event.map_err(|s| client.status(s))?;
        match progress {
            Progress::Lines => eprintln!("{}", render::event_text(&event, initial.created_at_ms)),
            Progress::Bar => {
                if event.node_phase == NodePhase::NodeSucceeded as i32 {
                    bar.inc(1);
                }
                if !event.node_id.is_empty() {
                    bar.set_message(format!(
                        "{} {}",
                        event.node_id,
                        render::node_phase(event.node_phase).to_lowercase()
                    ));
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(client
        .admin
        .get_execution(request)
        .await
        .map_err(|s| client.status(s))?
        .into_inner())
}

pub async fn get(client: &mut Client, execution_id: &str, output: Output) -> Result<(), CliError> {
    let request = GetExecutionRequest {
        execution_id: execution_id.to_owned(),
    };
    let execution = client
        .admin
        .get_execution(request)
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    match output {
        Output::Json => print_json(&render::execution_json(&execution)),
        Output::Text => print!("{}", render::execution_text(&execution)),
    }
    Ok(())
}

pub async fn watch(
    client: &mut Client,
    execution_id: &str,
    output: Output,
) -> Result<(), CliError> {
    let request = GetExecutionRequest {
        execution_id: execution_id.to_owned(),
    };
    let initial = client
        .admin
        .get_execution(request.clone())
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    let mut stream = client
        .admin
        .watch(WatchRequest {
            execution_id: execution_id.to_owned(),
        })
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        let event = event.map_err(|s| client.status(s))?;
        let line = match output {
            Output::Json => serde_json::to_string(&render::event_json(&event)).unwrap_or_default(),
            Output::Text => render::event_text(&event, initial.created_at_ms),
        };
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
    let execution = client
        .admin
        .get_execution(request)
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
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
                .admin
                .list_executions(ListExecutionsRequest { limit })
                .await
                .map_err(|s| client.status(s))?
                .into_inner();
            match output {
                Output::Json => print_json(&serde_json::Value::Array(
                    response
                        .executions
                        .iter()
                        .map(render::execution_json)
                        .collect(),
                )),
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
                .admin
                .list_tasks(ListTasksRequest {})
                .await
                .map_err(|s| client.status(s))?
                .into_inner();
            match output {
                Output::Json => print_json(&serde_json::Value::Array(
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
                )),
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
                .admin
                .list_workflows(ListWorkflowsRequest {})
                .await
                .map_err(|s| client.status(s))?
                .into_inner();
            match output {
                Output::Json => print_json(&serde_json::Value::Array(
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
                )),
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
        .admin
        .cancel(CancelRequest {
            execution_id: execution_id.to_owned(),
        })
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    let phase = render::execution_phase(response.phase);
    if phase == "CANCELLED" {
        println!("{execution_id} cancelled");
    } else {
        println!("{execution_id} had already finished: {phase}");
    }
    Ok(())
}

pub async fn logs(
    client: &mut Client,
    execution_id: &str,
    node: &str,
    attempt: u32,
    output: Output,
) -> Result<(), CliError> {
    let response = client
        .admin
        .get_node_logs(GetNodeLogsRequest {
            execution_id: execution_id.to_owned(),
            node_id: node.to_owned(),
            attempt,
        })
        .await
        .map_err(|s| client.status(s))?
        .into_inner();
    match output {
        Output::Json => {
            print_json(&serde_json::json!({"attempt": response.attempt, "log": response.log}))
        }
        Output::Text => print!("{}", response.log),
    }
    Ok(())
}
