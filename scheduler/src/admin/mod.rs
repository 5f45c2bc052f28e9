//! The Admin gRPC service: register, launch, read, watch and cancel.
//!
//! Writes go through the [`Proposer`]; bad requests are refused before
//! anything is proposed where the leader's state can tell (a launch's
//! inputs), and otherwise by the state machine, which changes nothing for a
//! rejected command. Reads are served from the leader's state after a
//! linearizable read barrier (a watch of an execution the leader holds
//! starts without one: its history is committed).

mod batch;
mod blobs;
mod launch;
mod logs;
mod pools;
mod registry;
mod routing;
mod signal;
mod traces;
mod typed;

use std::pin::Pin;
use std::sync::Arc;

use baton_cluster::ClusterNode;
use baton_model::{TaskSpec, WorkflowSpec};
use baton_proto::admin_server::Admin;
use baton_proto::*;
use futures::Stream;
use launch::PreparedLaunch;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

use baton_proto::admin_client::AdminClient;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use crate::compiler::CompiledWorkflow;
use crate::convert::execution_to_proto;
use crate::dispatch::{now_ms, DispatcherHandle, NumberedLaunch};
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};
use crate::event_feed::{EventFeed, EventNotice};
use crate::executor_links::ExecutorLinks;
use crate::launch_numbers::{self, LaunchNumbers};
use crate::proposer::Proposer;
use crate::state::{self, Command, ExecutionId, SchedulerState};
pub use batch::MAX_BATCH_LAUNCHES;
use batch::{check_batch, in_batch, refused_midway};
pub use routing::LEADER_HINT;
use routing::{forwarded, launched, rejected, Route};

pub struct AdminService {
    pub cluster: Arc<ClusterNode<SchedulerState>>,
    pub proposer: Proposer,
    pub events: broadcast::Sender<Arc<EventNotice>>,
    /// Channels to the leaders this follower forwarded to, by address.
    pub leader_channels: Mutex<HashMap<String, Channel>>,
    /// Addresses to dial some nodes at instead of their advertised ones.
    pub routes: std::collections::BTreeMap<u64, String>,
    /// Proposes single launches, together with their first nodes' work.
    pub dispatcher: DispatcherHandle,
    /// Launch numbers this node reserved while leading.
    pub launch_numbers: Arc<LaunchNumbers>,
    /// The executors' streams, to read logs from where they are.
    pub links: Arc<ExecutorLinks>,
    /// The blob store clients are told to upload to.
    pub blob_store: baton_proto::BlobStoreSettings,
    /// The leader dispatcher's pools and executors (empty elsewhere).
    pub dispatch_view: crate::dispatch::SharedView,
}

type Result<T> = std::result::Result<Response<T>, Status>;

/// An execution's events, as Watch and LaunchAndWatch stream them.
type EventStream = Pin<Box<dyn Stream<Item = std::result::Result<ExecutionEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Admin for AdminService {
    async fn register(&self, request: Request<RegisterRequest>) -> Result<RegisterResponse> {
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.register(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner);
        let request = request.into_inner();
        let mut problems = Vec::new();
        let invalid = |item: &str, index: usize, e: baton_model::ModelError| {
            Problem::new(ProblemCode::Invalid, e.to_string()).item(item, index)
        };
        let tasks: Vec<TaskSpec> = request
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                TaskSpec::try_from(t)
                    .map_err(|e| problems.push(invalid("task", i, e)))
                    .ok()
            })
            .collect();
        let workflows: Vec<WorkflowSpec> = request
            .workflows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                WorkflowSpec::try_from(w)
                    .map_err(|e| problems.push(invalid("workflow", i, e)))
                    .ok()
            })
            .collect();
        let launch_plans: Vec<baton_model::LaunchPlanSpec> = request
            .launch_plans
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                baton_model::LaunchPlanSpec::try_from(p)
                    .map_err(|e| problems.push(invalid("launch_plan", i, e)))
                    .ok()
            })
            .collect();
        if !problems.is_empty() {
            return Err(SchedulerError::refused(ErrorCode::InvalidArgument, problems).into());
        }
        if tasks.is_empty() && workflows.is_empty() && launch_plans.is_empty() {
            return Err(Status::invalid_argument("nothing to register"));
        }
        // The wire form is not needed any more: free it before the (large,
        // for a big workflow) command waits in the log.
        drop(request);
        let response = self
            .proposer
            .propose(Command::RegisterAt {
                tasks,
                workflows,
                launch_plans,
                now_ms: now_ms(),
            })
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
        let (metadata, extensions, mut inner) = request.into_parts();
        traces::take_metadata_context(&metadata, &mut inner);
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.launch(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner).into_inner();
        Ok(Response::new(self.launch_here(request).await?))
    }

    async fn launch_and_watch(
        &self,
        request: Request<LaunchRequest>,
    ) -> Result<Self::LaunchAndWatchStream> {
        let (metadata, extensions, mut inner) = request.into_parts();
        traces::take_metadata_context(&metadata, &mut inner);
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            let stream = leader
                .launch_and_watch(forwarded(inner))
                .await?
                .into_inner();
            return Ok(Response::new(Box::pin(stream)));
        }
        let request = Request::from_parts(metadata, extensions, inner).into_inner();
        let launched = self.launch_here(request).await?;
        // Applied here before the launch was answered: its history is here.
        let stream = self.stream_events(ExecutionId(launched.execution_id.into()))?;
        Ok(Response::new(stream))
    }

    async fn launch_batch(
        &self,
        request: Request<LaunchBatchRequest>,
    ) -> Result<LaunchBatchResponse> {
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.launch_batch(forwarded(inner)).await;
        }
        let launches = Request::from_parts(metadata, extensions, inner)
            .into_inner()
            .launches;
        check_batch(&launches)?;
        // Every launch is checked before any is proposed: one bad launch
        // refuses the whole batch.
        let mut answers: Vec<Option<LaunchResponse>> = Vec::with_capacity(launches.len());
        let mut commands = Vec::with_capacity(launches.len());
        // One `launch` span per launch, when traces are exported: they end
        // with the batch's commit.
        let mut spans = Vec::new();
        self.read(|state| -> std::result::Result<(), Status> {
            for (i, launch) in launches.into_iter().enumerate() {
                let traced = traces::LaunchSpan::for_request(&launch);
                match launch::prepare(state, launch).map_err(|s| in_batch(i, &s))? {
                    PreparedLaunch::Known(known) => answers.push(Some(known)),
                    PreparedLaunch::New(command, _) => {
                        answers.push(None);
                        commands.push(match &traced {
                            Some(traced) => traced.mark(command),
                            None => command,
                        });
                        spans.extend(traced);
                    }
                }
            }
            Ok(())
        })?;
        // One enqueue goes into one log entry, so the batch commits (or is
        // lost before it is acknowledged) as a whole.
        let mut responses = self.proposer.propose_many(commands).await?.into_iter();
        let mut out = Vec::with_capacity(answers.len());
        let mut refused = None;
        for (i, answer) in answers.into_iter().enumerate() {
            let answer = match answer {
                Some(known) => known,
                None => {
                    let response = responses.next().ok_or_else(|| {
                        Status::internal("the state machine returned too few responses")
                    })?;
                    // Checked just before, so only a change of state in
                    // between could refuse it. The others in the entry
                    // were applied regardless: all must be reported.
                    match rejected(response).and_then(launched) {
                        Ok(answer) => answer,
                        Err(status) => {
                            refused.get_or_insert((i, status));
                            continue;
                        }
                    }
                }
            };
            out.push(answer);
        }
        match refused {
            Some((i, status)) => Err(refused_midway(i, &status, &out)),
            None => Ok(Response::new(LaunchBatchResponse { launched: out })),
        }
    }

    async fn get_execution(&self, request: Request<GetExecutionRequest>) -> Result<Execution> {
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.get_execution(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner);
        let id = ExecutionId(request.into_inner().execution_id.into());
        self.read(|state| {
            let execution = state
                .execution(&id)
                .ok_or_else(|| Status::not_found(state.missing_execution(&id)))?;
            let mut proto = execution_to_proto(state, execution, true);
            let view = self.dispatch_view.read().unwrap_or_else(|e| e.into_inner());
            pools::explain_waits(&mut proto, &view);
            Ok(Response::new(proto))
        })
    }

    async fn list_executions(
        &self,
        request: Request<ListExecutionsRequest>,
    ) -> Result<ListExecutionsResponse> {
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.list_executions(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner);
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

    async fn list_tasks(&self, request: Request<ListTasksRequest>) -> Result<ListTasksResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.list_tasks(forwarded(inner)).await;
        }
        self.read(|state| {
            Ok(Response::new(ListTasksResponse {
                tasks: state.tasks.values().map(|t| t.as_ref().into()).collect(),
            }))
        })
    }

    async fn list_workflows(
        &self,
        request: Request<ListWorkflowsRequest>,
    ) -> Result<ListWorkflowsResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.list_workflows(forwarded(inner)).await;
        }
        self.read(|state| {
            Ok(Response::new(ListWorkflowsResponse {
                workflows: state.workflows.values().map(|w| (&w.spec).into()).collect(),
            }))
        })
    }

    type WatchStream = EventStream;
    type LaunchAndWatchStream = EventStream;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Self::WatchStream> {
        let (metadata, extensions, inner) = request.into_parts();
        // A leader that holds the execution streams it without a read barrier: every event in
        // its state is committed, so the history it sends is true, and the barrier (a heartbeat
        // round to a quorum) would only delay the first event. Only a miss takes the barrier,
        // so that "unknown execution" is never a stale answer.
        let held_here = self.cluster.is_leader()
            && self.read(|state| {
                state
                    .execution(&ExecutionId(inner.execution_id.as_str().into()))
                    .is_some()
            });
        let route = if held_here {
            Route::Local
        } else {
            self.route_read(&metadata).await?
        };
        if let Route::Leader(mut leader) = route {
            let stream = leader.watch(forwarded(inner)).await?.into_inner();
            return Ok(Response::new(Box::pin(stream)));
        }
        let request = Request::from_parts(metadata, extensions, inner);
        let id = ExecutionId(request.into_inner().execution_id.into());
        Ok(Response::new(self.stream_events(id)?))
    }

    async fn cancel(&self, request: Request<CancelRequest>) -> Result<CancelResponse> {
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.cancel(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner);
        let id = ExecutionId(request.into_inner().execution_id.into());
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

    async fn signal(&self, request: Request<SignalRequest>) -> Result<SignalResponse> {
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.signal(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner).into_inner();
        let (command, node) = self.read(|state| signal::prepare(state, request))?;
        match rejected(self.proposer.propose(command).await?)? {
            state::Response::Done => Ok(Response::new(SignalResponse { node })),
            other => Err(Status::internal(format!("unexpected response {other:?}"))),
        }
    }

    async fn list_blob_references(
        &self,
        request: Request<ListBlobReferencesRequest>,
    ) -> Result<ListBlobReferencesResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.list_blob_references(forwarded(inner)).await;
        }
        Ok(Response::new(self.read(blobs::references)))
    }

    async fn recover(&self, request: Request<RecoverRequest>) -> Result<LaunchResponse> {
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.recover(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner).into_inner();
        if request.execution_id.is_empty() {
            return Err(Status::invalid_argument("no execution named"));
        }
        let traced = traces::LaunchSpan::start(&request.execution_id, &HashMap::new());
        let mut command = Command::Recover {
            from: ExecutionId(request.execution_id.as_str().into()),
            relaunch: request.relaunch,
            request_id: request.request_id,
            now_ms: now_ms(),
        };
        if let Some(traced) = &traced {
            command = traced.mark(command);
        }
        let response = self.proposer.propose(command).await?;
        let answer = launched(rejected(response)?)?;
        if let Some(traced) = &traced {
            traced.launched(&answer.execution_id);
        }
        Ok(Response::new(answer))
    }

    async fn list_versions(
        &self,
        request: Request<ListVersionsRequest>,
    ) -> Result<ListVersionsResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.list_versions(forwarded(inner)).await;
        }
        self.read(|state| Ok(Response::new(registry::list_versions(state, &inner)?)))
    }

    async fn describe(&self, request: Request<DescribeRequest>) -> Result<DescribeResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.describe(forwarded(inner)).await;
        }
        self.read(|state| Ok(Response::new(registry::describe(state, &inner)?)))
    }

    async fn get_node_logs(
        &self,
        request: Request<GetNodeLogsRequest>,
    ) -> Result<GetNodeLogsResponse> {
        // Only the leader has the executors' streams.
        let (metadata, extensions, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.get_node_logs(forwarded(inner)).await;
        }
        let request = Request::from_parts(metadata, extensions, inner).into_inner();
        Ok(Response::new(self.node_logs(request).await?))
    }

    async fn cluster_status(
        &self,
        _: Request<ClusterStatusRequest>,
    ) -> Result<ClusterStatusResponse> {
        let status = self.cluster.status();
        Ok(Response::new(ClusterStatusResponse {
            node_id: status.node_id,
            role: status.role,
            term: status.term,
            leader_id: status.leader.as_ref().map_or(0, |l| l.id),
            leader_address: status.leader.and_then(|l| l.addr).unwrap_or_default(),
            last_log_index: status.last_log_index,
            committed_index: status.committed_index,
            applied_index: status.applied_index,
            snapshot_index: status.snapshot_index,
            snapshot_bytes: status.snapshot_bytes,
            purged_index: status.purged_index,
            members: members(&status.voters, &status.learners),
            matched: status.matched.into_iter().collect(),
            heap_bytes: crate::memory::heap_in_use(),
            blob_store: Some(self.blob_store.clone()),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol_version: baton_proto::PROTOCOL_VERSION,
        }))
    }

    async fn add_learner(&self, request: Request<AddLearnerRequest>) -> Result<MembershipResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.add_learner(forwarded(inner)).await;
        }
        if inner.node_id == 0 || inner.address.is_empty() {
            return Err(Status::invalid_argument(
                "a learner needs a node id (from 1) and an address",
            ));
        }
        let status = self.cluster.status();
        if status.voters.contains_key(&inner.node_id) {
            return Err(Status::already_exists(format!(
                "node {} is already a voter",
                inner.node_id
            )));
        }
        self.cluster
            .add_learner(inner.node_id, inner.address)
            .await
            .map_err(Status::from)?;
        Ok(Response::new(self.membership()))
    }

    async fn promote(&self, request: Request<PromoteRequest>) -> Result<MembershipResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.promote(forwarded(inner)).await;
        }
        let status = self.cluster.status();
        let mut voters: std::collections::BTreeSet<u64> = status.voters.keys().copied().collect();
        for id in &inner.node_ids {
            if !status.learners.contains_key(id) && !status.voters.contains_key(id) {
                return Err(Status::not_found(format!(
                    "node {id} is not a member; add it first with `baton cluster add-learner {id} HOST:PORT`"
                )));
            }
            voters.insert(*id);
        }
        self.cluster
            .change_membership(voters)
            .await
            .map_err(Status::from)?;
        Ok(Response::new(self.membership()))
    }

    async fn remove_nodes(
        &self,
        request: Request<RemoveNodesRequest>,
    ) -> Result<MembershipResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.remove_nodes(forwarded(inner)).await;
        }
        let status = self.cluster.status();
        for id in &inner.node_ids {
            if !status.learners.contains_key(id) && !status.voters.contains_key(id) {
                return Err(Status::not_found(format!("node {id} is not a member")));
            }
        }
        self.cluster
            .remove_nodes(inner.node_ids.into_iter().collect())
            .await
            .map_err(Status::from)?;
        Ok(Response::new(self.membership()))
    }

    async fn list_pools(&self, request: Request<ListPoolsRequest>) -> Result<ListPoolsResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route_read(&metadata).await? {
            return leader.list_pools(forwarded(inner)).await;
        }
        let view = self
            .dispatch_view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(Response::new(self.read(|state| pools::list(state, &view))))
    }

    async fn scale_pool(&self, request: Request<ScalePoolRequest>) -> Result<ScalePoolResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.scale_pool(forwarded(inner)).await;
        }
        let command = pools::scale_command(inner)?;
        rejected(self.proposer.propose(command).await?)?;
        Ok(Response::new(ScalePoolResponse {}))
    }

    async fn autoscale_pool(
        &self,
        request: Request<AutoscalePoolRequest>,
    ) -> Result<AutoscalePoolResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.autoscale_pool(forwarded(inner)).await;
        }
        let command = pools::autoscale_command(inner)?;
        rejected(self.proposer.propose(command).await?)?;
        Ok(Response::new(AutoscalePoolResponse {}))
    }

    async fn prefetch_pool(
        &self,
        request: Request<PrefetchPoolRequest>,
    ) -> Result<PrefetchPoolResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.prefetch_pool(forwarded(inner)).await;
        }
        let command = pools::prefetch_command(inner)?;
        rejected(self.proposer.propose(command).await?)?;
        Ok(Response::new(PrefetchPoolResponse {}))
    }

    async fn set_project(&self, request: Request<SetProjectRequest>) -> Result<SetProjectResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.set_project(forwarded(inner)).await;
        }
        let commands = pools::project_commands(inner)?;
        for response in self.proposer.propose_many(commands).await? {
            rejected(response)?;
        }
        Ok(Response::new(SetProjectResponse {}))
    }

    async fn drain_executor(
        &self,
        request: Request<DrainExecutorRequest>,
    ) -> Result<DrainExecutorResponse> {
        let (metadata, _, inner) = request.into_parts();
        if let Route::Leader(mut leader) = self.route(&metadata).await? {
            return leader.drain_executor(forwarded(inner)).await;
        }
        let command = {
            let view = self.dispatch_view.read().unwrap_or_else(|e| e.into_inner());
            pools::drain_command(inner, &view)?
        };
        rejected(self.proposer.propose(command).await?)?;
        Ok(Response::new(DrainExecutorResponse {}))
    }
}

fn members(
    voters: &std::collections::BTreeMap<u64, String>,
    learners: &std::collections::BTreeMap<u64, String>,
) -> Vec<ClusterMember> {
    voters
        .iter()
        .map(|(id, address)| ClusterMember {
            id: *id,
            address: address.clone(),
            voter: true,
        })
        .chain(learners.iter().map(|(id, address)| ClusterMember {
            id: *id,
            address: address.clone(),
            voter: false,
        }))
        .collect()
}

impl AdminService {
    fn membership(&self) -> MembershipResponse {
        let status = self.cluster.status();
        MembershipResponse {
            members: members(&status.voters, &status.learners),
        }
    }
}
