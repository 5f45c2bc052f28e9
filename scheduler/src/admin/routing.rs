//! Where a request is served (here on the leader, or forwarded to it once),
//! and what the Admin service's methods share: launching here, streaming an
//! execution's events, reading the state, and turning the state machine's
//! responses into answers.

use super::*;

/// Metadata marking a request a follower forwarded (never forwarded twice).
pub(super) const FORWARDED: &str = "baton-forwarded";
/// Metadata asking for a read from this node's own state (`stale`).
pub(super) const READ_MODE: &str = "baton-read";
/// Metadata naming the leader's address on a refusal by a non-leader.
pub const LEADER_HINT: &str = "baton-leader";

/// Where a request is served.
pub(super) enum Route {
    /// Here, on the leader (or a stale read on any node).
    Local,
    /// Forwarded to the leader through this client.
    Leader(AdminClient<Channel>),
}

pub(super) fn forwarded<T>(inner: T) -> Request<T> {
    let mut request = Request::new(inner);
    request
        .metadata_mut()
        .insert(FORWARDED, MetadataValue::from_static("1"));
    request
}

impl AdminService {
    /// Decides where a request is served: here on the leader, or forwarded
    /// to the leader. A request already forwarded once is refused with the
    /// leader's address instead (the client retries there).
    pub(super) async fn route(&self, metadata: &MetadataMap) -> std::result::Result<Route, Status> {
        // Writes are checked against the leader's state (a launch's workflow, a cancel's
        // execution): it must hold everything committed before this node led.
        if self.cluster.is_leader() {
            if self
                .cluster
                .wait_until_leading_with_current_state(Duration::from_secs(5))
                .await
            {
                return Ok(Route::Local);
            }
            if self.cluster.is_leader() {
                return Err(Status::unavailable(
                    "this node was just elected and has not yet applied what was committed before; retry",
                ));
            }
        }
        // Dial the leader the way Raft traffic does (through a configured
        // route if there is one), so forwarding sees the same network.
        let leader = self
            .cluster
            .current_leader()
            .and_then(|l| self.routes.get(&l.id).cloned().or(l.addr));
        let Some(leader) = leader.filter(|_| !metadata.contains_key(FORWARDED)) else {
            return Err(self.not_leader());
        };
        let channel = {
            let mut channels = self
                .leader_channels
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match channels.get(&leader) {
                Some(channel) => channel.clone(),
                None => {
                    let endpoint = Endpoint::from_shared(format!("http://{leader}"))
                        .map_err(|e| {
                            Status::internal(format!("bad leader address `{leader}`: {e}"))
                        })?
                        .connect_timeout(Duration::from_secs(2))
                        .tcp_nodelay(true);
                    let channel = endpoint.connect_lazy();
                    channels.insert(leader.clone(), channel.clone());
                    channel
                }
            }
        };
        Ok(Route::Leader(
            AdminClient::new(channel).max_decoding_message_size(256 << 20),
        ))
    }

    /// Like [`Self::route`] for a read: a stale read is served here, a
    /// linearizable one on the leader after a read barrier.
    pub(super) async fn route_read(
        &self,
        metadata: &MetadataMap,
    ) -> std::result::Result<Route, Status> {
        if metadata.get(READ_MODE).is_some_and(|v| v == "stale") {
            return Ok(Route::Local);
        }
        let route = self.route(metadata).await?;
        if matches!(route, Route::Local) {
            // A leader cut off from its quorum must not answer: the barrier
            // fails, or times out.
            let barrier =
                tokio::time::timeout(Duration::from_secs(3), self.cluster.ensure_linearizable());
            match barrier.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(Status::unavailable(format!(
                        "cannot confirm leadership for a linearizable read: {e}"
                    )))
                }
                Err(_) => {
                    return Err(Status::unavailable(
                        "cannot confirm leadership for a linearizable read: no quorum answered within 3s",
                    ))
                }
            }
        }
        Ok(route)
    }

    pub(super) fn not_leader(&self) -> Status {
        let leader = self.cluster.current_leader().and_then(|l| l.addr);
        let mut status: Status = SchedulerError::new(
            ErrorCode::NotLeader,
            match &leader {
                Some(addr) => format!("not the leader; the leader is at {addr}"),
                None => "not the leader, and no leader is known yet".into(),
            },
        )
        .into();
        if let Some(value) = leader.and_then(|addr| MetadataValue::try_from(addr).ok()) {
            status.metadata_mut().insert(LEADER_HINT, value);
        }
        status
    }

    /// Gives a launch a number reserved for this leader (reserving a block
    /// first when this term has none left), so that its execution id is
    /// known before it commits. Fails as a write does when the reservation
    /// cannot be committed (this node no longer leads, no quorum).
    pub(super) async fn number_launch(
        &self,
        launch: Command,
        workflow: Arc<CompiledWorkflow>,
    ) -> std::result::Result<NumberedLaunch, SchedulerError> {
        let term = self.cluster.metrics().borrow().current_term;
        let number = match self.launch_numbers.take(term) {
            Some(number) => number,
            None => {
                let _one_at_a_time = self.launch_numbers.reserving.lock().await;
                match self.launch_numbers.take(term) {
                    Some(number) => number,
                    None => {
                        let reserve = Command::ReserveLaunches {
                            count: launch_numbers::BLOCK,
                        };
                        match self.proposer.propose(reserve).await? {
                            state::Response::Reserved { first, last } => {
                                self.launch_numbers.reserved(term, first + 1, last);
                                first
                            }
                            other => {
                                return Err(SchedulerError::internal(format!(
                                    "reserving launch numbers: unexpected response {other:?}"
                                )))
                            }
                        }
                    }
                }
            }
        };
        let Command::Launch {
            inputs,
            pool,
            request_id,
            now_ms,
            ..
        } = launch
        else {
            return Err(SchedulerError::internal("only a launch is numbered"));
        };
        Ok(NumberedLaunch {
            id: state::execution_id(&workflow.spec.id.name, number),
            inputs: inputs.clone(),
            pool: pool.clone(),
            // The exact version checked here: what runs before the commit
            // is what the launch records.
            command: Command::LaunchNumbered {
                number,
                workflow: workflow.spec.id.clone(),
                inputs,
                pool,
                request_id,
                now_ms,
            },
            workflow,
            trace: None,
        })
    }

    /// Launches on this node, the leader.
    pub(super) async fn launch_here(
        &self,
        request: LaunchRequest,
    ) -> std::result::Result<LaunchResponse, Status> {
        // Ends when this returns: from the request to the commit.
        let traced = traces::LaunchSpan::for_request(&request);
        let (command, workflow) = match self.read(|state| launch::prepare(state, request))? {
            PreparedLaunch::Known(known) => return Ok(known),
            PreparedLaunch::New(command, workflow) => (command, workflow),
        };
        let mark = |command| match &traced {
            Some(traced) => traced.mark(command),
            None => command,
        };
        // A launch with a plan or a cache mode goes straight to the log:
        // the early start of first nodes knows only plain launches.
        let response = if matches!(command, Command::LaunchWith { .. }) {
            self.proposer.propose(mark(command)).await?
        } else {
            // Through the dispatcher, which starts the first nodes at once and
            // proposes the launch with their assignments and, for short tasks,
            // their results: one commit for the launch and its first work.
            // Unless many launches are coming in at once (`MAX_EARLY`).
            match self.launch_numbers.start_early() {
                Some(_early) => {
                    let mut numbered = self.number_launch(command, workflow).await?;
                    if let Some(traced) = &traced {
                        numbered.trace = Some(traced.parent);
                        numbered.command = traced.mark(numbered.command);
                    }
                    self.dispatcher.launch(numbered).await?
                }
                None => self.proposer.propose(mark(command)).await?,
            }
        };
        let answer = launched(rejected(response)?)?;
        if let Some(traced) = &traced {
            traced.launched(&answer.execution_id);
        }
        Ok(answer)
    }

    /// Streams an execution this node holds: its history, then its events
    /// as this node applies them, until it ends.
    ///
    /// The response's own task polls the stream, so an applied event wakes it
    /// straight from the broadcast; no forwarding task sits in between.
    pub(super) fn stream_events(
        &self,
        id: ExecutionId,
    ) -> std::result::Result<EventStream, Status> {
        // Subscribe before reading the history, so no event falls in between.
        let live = self.events.subscribe();
        let missing = self
            .read(|state| (state.execution(&id).is_none()).then(|| state.missing_execution(&id)));
        if let Some(missing) = missing {
            return Err(Status::not_found(missing));
        }
        Ok(Box::pin(EventFeed::start(self.cluster.state(), id, live)))
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&SchedulerState) -> T) -> T {
        let state = self.cluster.state();
        let guard = state.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

pub(super) fn rejected(response: state::Response) -> std::result::Result<state::Response, Status> {
    match response {
        state::Response::Rejected(e) => Err(e.into()),
        other => Ok(other),
    }
}

/// The answer to a launch the state machine applied.
pub(super) fn launched(response: state::Response) -> std::result::Result<LaunchResponse, Status> {
    match response {
        state::Response::Launched {
            execution,
            workflow,
        } => Ok(LaunchResponse {
            execution_id: execution.to_string(),
            workflow: Some((&workflow).into()),
        }),
        other => Err(Status::internal(format!("unexpected response {other:?}"))),
    }
}
