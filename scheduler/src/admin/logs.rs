//! Reading a node attempt's log: where it is (recorded in the state), then
//! the bytes, from the executor that ran it over its stream (logs never
//! enter the replicated state).

use baton_proto::{AttemptRef, GetNodeLogsRequest, GetNodeLogsResponse};
use tonic::Status;

use super::AdminService;
use crate::state::{self, ExecutionId};

impl AdminService {
    /// `GetNodeLogs` on the leader, which holds the executors' streams.
    pub(super) async fn node_logs(
        &self,
        request: GetNodeLogsRequest,
    ) -> Result<GetNodeLogsResponse, Status> {
        let id = ExecutionId(request.execution_id.as_str().into());
        let place = self.read(|state| {
            let execution = state
                .execution(&id)
                .ok_or_else(|| Status::not_found(state.missing_execution(&id)))?;
            let registry = state.registry();
            let node = crate::engine::path::resolve(&registry, execution, &request.node_id)
                .map_err(Status::not_found)?;
            // The path the attempt was assigned under names its log file.
            let path = crate::engine::path::path_of(&registry, execution, node);
            log_place(&execution.nodes[node as usize], request.attempt)
                .map(|place| (place, path))
                .map_err(|why| Status::not_found(format!("node `{}`: {why}", request.node_id)))
        })?;
        let (place, path) = place;
        let mut response = GetNodeLogsResponse {
            attempt: place.attempt,
            running: place.running,
            executor: place.executor.clone(),
            ..Default::default()
        };
        if place.executor.is_empty() {
            return Ok(response); // never ran on an executor
        }
        let attempt = AttemptRef {
            execution_id: request.execution_id.clone(),
            node_id: path,
            attempt: place.attempt,
        };
        let chunk = self
            .links
            .read_log(&place.executor, attempt, request.offset, request.limit)
            .await
            .map_err(|why| {
                Status::unavailable(format!(
                    "the log of node `{}` attempt {}: {why}",
                    request.node_id, place.attempt
                ))
            })?;
        response.data = chunk.data;
        response.size = chunk.size;
        Ok(response)
    }
}

/// Where an attempt's log is.
struct LogPlace {
    attempt: u32,
    executor: String,
    running: bool,
}

/// Where the log of `attempt` of an instance is (0: the latest attempt):
/// on the executor that ran it, recorded with its result, or on the
/// current attempt's executor while it runs.
fn log_place(node: &state::NodeState, attempt: u32) -> std::result::Result<LogPlace, String> {
    let attempt = if attempt == 0 { node.attempt } else { attempt };
    if attempt == 0 {
        return Ok(LogPlace {
            attempt,
            executor: String::new(),
            running: false,
        });
    }
    let current = attempt == node.attempt;
    let running = current && node.phase == state::NodePhase::Running;
    if let Some(log) = node.logs.iter().rev().find(|l| l.attempt == attempt) {
        return Ok(LogPlace {
            attempt,
            executor: log.executor.clone(),
            running,
        });
    }
    if current {
        // Running, or ended without a log (nothing written).
        return Ok(LogPlace {
            attempt,
            executor: node.executor.clone(),
            running,
        });
    }
    if attempt > node.attempt {
        return Err(format!(
            "attempt {attempt} never ran; the latest is {}",
            node.attempt
        ));
    }
    Err(format!(
        "the log of attempt {attempt} is no longer tracked (the latest attempts' are)"
    ))
}
