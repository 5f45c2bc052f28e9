//! The Admin gRPC service: register, launch, read, watch and cancel.
//!
//! Writes go through the [`Proposer`]; bad requests are refused before
//! anything is proposed where the leader's state can tell (a launch's
//! inputs), and otherwise by the state machine, which changes nothing for a
//! rejected command. Reads are served from the leader's state after a
//! linearizable read barrier.

use std::pin::Pin;
use std::sync::Arc;

use baton_cluster::ClusterNode;
use baton_model::value::values_from_proto;
use baton_model::{Identifier, TaskSpec, Value, WorkflowSpec};
use baton_proto::admin_server::Admin;
use baton_proto::*;
use futures::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::convert::{event_to_proto, execution_to_proto};
use crate::dispatch::now_ms;
use crate::error::{ErrorCode, SchedulerError};
use crate::proposer::Proposer;
use crate::state::{self, Command, ExecutionId, SchedulerState};

/// An event of an execution, as broadcast to watchers on this node.
#[derive(Clone, Debug)]
pub struct EventNotice {
    pub execution: ExecutionId,
    pub event: state::Event,
    pub finished: bool,
}

pub struct AdminService {
    pub cluster: Arc<ClusterNode<SchedulerState>>,
    pub proposer: Proposer,
    pub events: broadcast::Sender<Arc<EventNotice>>,
}

type Result<T> = std::result::Result<Response<T>, Status>;

impl AdminService {
    /// Refuses with the leader's address when this node is not the leader;
    /// otherwise waits until its state reflects every committed write.
    async fn linearizable(&self) -> std::result::Result<(), Status> {
        self.ensure_leader()?;
        self.cluster.ensure_linearizable().await.map_err(|e| {
            Status::unavailable(format!(
                "cannot confirm leadership for a linearizable read: {e}"
            ))
        })
    }

    fn ensure_leader(&self) -> std::result::Result<(), Status> {
        if self.cluster.is_leader() {
            return Ok(());
        }
        let leader = self.cluster.current_leader().and_then(|l| l.addr);
        Err(SchedulerError::new(
            ErrorCode::NotLeader,
            match leader {
                Some(addr) => format!("not the leader; the leader is at {addr}"),
                None => "not the leader, and no leader is known yet".into(),
            },
        )
        .into())
    }

    fn read<T>(&self, f: impl FnOnce(&SchedulerState) -> T) -> T {
        let state = self.cluster.state();
        let guard = state.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

fn rejected(response: state::Response) -> std::result::Result<state::Response, Status> {
    match response {
        state::Response::Rejected(e) => Err(e.into()),
        other => Ok(other),
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn register(&self, request: Request<RegisterRequest>) -> Result<RegisterResponse> {
        self.ensure_leader()?;
        let request = request.into_inner();
        let mut problems = Vec::new();
        let tasks: Vec<TaskSpec> = request
            .tasks
            .iter()
            .filter_map(|t| {
                TaskSpec::try_from(t)
                    .map_err(|e| problems.push(e.to_string()))
                    .ok()
            })
            .collect();
        let workflows: Vec<WorkflowSpec> = request
            .workflows
            .iter()
            .filter_map(|w| {
                WorkflowSpec::try_from(w)
                    .map_err(|e| problems.push(e.to_string()))
                    .ok()
            })
            .collect();
        if !problems.is_empty() {
            return Err(Status::invalid_argument(problems.join("\n")));
        }
        if tasks.is_empty() && workflows.is_empty() {
            return Err(Status::invalid_argument("nothing to register"));
        }
        let response = self
            .proposer
            .propose(Command::Register { tasks, workflows })
            .await?;
        match rejected(response)? {
            state::Response::Registered(items) => Ok(Response::new(RegisterResponse {
                registered: items
                    .into_iter()
                    .map(|(kind, id, created)| Registered {
                        kind,
                        id: Some((&id).into()),
                        created,
                    })
                    .collect(),
            })),
            other => Err(Status::internal(format!("unexpected response {other:?}"))),
        }
    }

    async fn launch(&self, request: Request<LaunchRequest>) -> Result<LaunchResponse> {
        self.ensure_leader()?;
        let request = request.into_inner();
        let workflow: Identifier = request
            .workflow
            .as_ref()
            .map(Into::into)
            .unwrap_or_default();
        if workflow.name.is_empty() {
            return Err(Status::invalid_argument("no workflow named"));
        }
        let workflow = workflow.with_global_defaults();
        let mut inputs = values_from_proto(&request.inputs)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Parse text inputs against the declared types and check everything
        // on the current state, so a bad launch never reaches the log.
        self.read(|state| -> std::result::Result<(), Status> {
            let compiled = state.workflow(&workflow).ok_or_else(|| {
                SchedulerError::not_found(format!("unknown workflow `{workflow}`"))
            })?;
            let mut problems = Vec::new();
            for (name, text) in &request.text_inputs {
                match compiled.spec.interface.input(name) {
                    Some(var) => match Value::parse_text(&var.ty, text) {
                        Ok(v) => {
                            inputs.insert(name.clone(), v);
                        }
                        Err(why) => problems.push(format!("input `{name}` ({}): {why}", var.ty)),
                    },
                    None => {
                        // Reported by check_launch with the list of inputs.
                        inputs.insert(name.clone(), Value::String(text.clone()));
                    }
                }
            }
            if !problems.is_empty() {
                return Err(Status::invalid_argument(problems.join("; ")));
            }
            state.check_launch(&workflow, inputs.clone())?;
            Ok(())
        })?;
        let response = self
            .proposer
            .propose(Command::Launch {
                workflow,
                inputs,
                pool: request.pool,
                now_ms: now_ms(),
            })
            .await?;
        match rejected(response)? {
            state::Response::Launched {
                execution,
                workflow,
            } => Ok(Response::new(LaunchResponse {
                execution_id: execution.0,
                workflow: Some((&workflow).into()),
            })),
            other => Err(Status::internal(format!("unexpected response {other:?}"))),
        }
    }

    async fn get_execution(&self, request: Request<GetExecutionRequest>) -> Result<Execution> {
        self.linearizable().await?;
        let id = ExecutionId(request.into_inner().execution_id);
        self.read(|state| {
            let execution = state
                .execution(&id)
                .ok_or_else(|| Status::not_found(format!("unknown execution `{id}`")))?;
            Ok(Response::new(execution_to_proto(state, execution, true)))
        })
    }

    async fn list_executions(
        &self,
        request: Request<ListExecutionsRequest>,
    ) -> Result<ListExecutionsResponse> {
        self.linearizable().await?;
        let limit = match request.into_inner().limit {
            0 => 50,
            n => n as usize,
        };
        self.read(|state| {
            let executions = state
                .execution_order
                .iter()
                .rev()
                .take(limit)
                .filter_map(|id| state.execution(id))
                .map(|e| execution_to_proto(state, e, false))
                .collect();
            Ok(Response::new(ListExecutionsResponse { executions }))
        })
    }

    async fn list_tasks(&self, _: Request<ListTasksRequest>) -> Result<ListTasksResponse> {
        self.linearizable().await?;
        self.read(|state| {
            Ok(Response::new(ListTasksResponse {
                tasks: state.tasks.values().map(|t| t.as_ref().into()).collect(),
            }))
        })
    }

    async fn list_workflows(
        &self,
        _: Request<ListWorkflowsRequest>,
    ) -> Result<ListWorkflowsResponse> {
        self.linearizable().await?;
        self.read(|state| {
            Ok(Response::new(ListWorkflowsResponse {
                workflows: state.workflows.values().map(|w| (&w.spec).into()).collect(),
            }))
        })
    }

    type WatchStream =
        Pin<Box<dyn Stream<Item = std::result::Result<ExecutionEvent, Status>> + Send>>;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Self::WatchStream> {
        self.linearizable().await?;
        let id = ExecutionId(request.into_inner().execution_id);
        // Subscribe before reading the history, so no event falls in between.
        let mut live = self.events.subscribe();
        let exists = self.read(|state| state.execution(&id).is_some());
        if !exists {
            return Err(Status::not_found(format!("unknown execution `{id}`")));
        }
        let (tx, rx) = mpsc::channel(1024);
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let mut sent = 0u64;
            // Sends the history after `sent`; returns whether the execution has finished.
            let catch_up = |sent: &mut u64| -> (Vec<ExecutionEvent>, bool) {
                let state = cluster.state();
                let state = state.read().unwrap_or_else(|e| e.into_inner());
                let Some(execution) = state.execution(&id) else {
                    return (Vec::new(), true);
                };
                let workflow = state.workflow_of(execution).map(|w| w.as_ref());
                let events: Vec<ExecutionEvent> = execution
                    .events
                    .iter()
                    .skip(*sent as usize)
                    .map(|e| event_to_proto(workflow, &id.0, e))
                    .collect();
                *sent = execution.events.len() as u64;
                (events, execution.phase.is_terminal())
            };
            let (events, mut finished) = catch_up(&mut sent);
            for event in events {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            while !finished {
                match live.recv().await {
                    Ok(notice) if notice.execution == id && notice.event.seq > sent => {
                        sent = notice.event.seq;
                        finished = notice.finished;
                        let event = {
                            let state = cluster.state();
                            let state = state.read().unwrap_or_else(|e| e.into_inner());
                            let workflow = state
                                .execution(&id)
                                .and_then(|e| state.workflow_of(e))
                                .cloned();
                            event_to_proto(workflow.as_deref(), &id.0, &notice.event)
                        };
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (events, done) = catch_up(&mut sent);
                        finished = done;
                        for event in events {
                            if tx.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        let _ = tx
                            .send(Err(Status::unavailable("the scheduler is shutting down")))
                            .await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn cancel(&self, request: Request<CancelRequest>) -> Result<CancelResponse> {
        self.ensure_leader()?;
        let id = ExecutionId(request.into_inner().execution_id);
        let response = self
            .proposer
            .propose(Command::Cancel {
                execution: id,
                now_ms: now_ms(),
            })
            .await?;
        match rejected(response)? {
            state::Response::Cancelled(phase) => Ok(Response::new(CancelResponse {
                phase: phase.to_proto() as i32,
            })),
            other => Err(Status::internal(format!("unexpected response {other:?}"))),
        }
    }

    async fn get_node_logs(
        &self,
        request: Request<GetNodeLogsRequest>,
    ) -> Result<GetNodeLogsResponse> {
        self.linearizable().await?;
        let request = request.into_inner();
        let id = ExecutionId(request.execution_id);
        self.read(|state| {
            let execution = state
                .execution(&id)
                .ok_or_else(|| Status::not_found(format!("unknown execution `{id}`")))?;
            let workflow = state
                .workflow_of(execution)
                .ok_or_else(|| Status::internal(format!("the workflow of `{id}` is missing")))?;
            let node = workflow.node_index(&request.node_id).ok_or_else(|| {
                Status::not_found(format!(
                    "execution `{id}` has no node `{}`",
                    request.node_id
                ))
            })?;
            let logs = &execution.nodes[node as usize].logs;
            let log = if request.attempt == 0 {
                logs.last()
            } else {
                logs.iter().find(|l| l.attempt == request.attempt)
            };
            Ok(Response::new(match log {
                Some(log) => GetNodeLogsResponse {
                    attempt: log.attempt,
                    log: log.text.clone(),
                },
                None => GetNodeLogsResponse {
                    attempt: request.attempt,
                    log: String::new(),
                },
            }))
        })
    }
}
