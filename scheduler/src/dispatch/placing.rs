//! Placing queued nodes on executors with free slots: each placement's
//! `Assign` is sent while its log entry is in flight (see
//! [`Dispatcher::place`]), and a launch's first nodes are placed with the
//! launch itself ([`Dispatcher::start_launch`]).

use super::results::WithProvisional;
use super::*;

impl Dispatcher {
    /// Hands ready nodes to executors. The assignment is sent at once,
    /// before it is committed (dispatch pipelined with commit), under the
    /// attempt number the state machine will give it: the current one plus
    /// one, since only this leader assigns. It is proposed with the next
    /// results, or alone after [`DispatcherConfig::linger`] ([`Self::propose_round`]);
    /// either way ahead of its own result, and the proposer keeps order, so
    /// the result lands behind its assignment in the log. If the assignment
    /// does not commit as sent, the attempt is cancelled on its executor.
    /// Safety does not rest on the prediction: a result counts only for the
    /// node's current attempt, on the executor it was assigned to.
    pub(super) fn place(&mut self) {
        let placements = self.book.plan(now_ms());
        if placements.is_empty() {
            return;
        }
        let state = self.state.clone();
        let state = state.read().unwrap_or_else(|e| e.into_inner());
        for placement in placements {
            if self.book.owned.contains_key(&placement.key) {
                // Already running here under an attempt in flight.
                self.book.unplace(&placement);
                continue;
            }
            let queued = state
                .execution(&placement.key.0)
                .and_then(|e| e.nodes.get(placement.key.1 as usize))
                .is_some_and(|n| n.phase == NodePhase::Queued);
            let Some(mut assign) = self.assignment(&state, &placement.key) else {
                // No longer queued (or gone): give the slot back.
                self.book.unplace(&placement);
                continue;
            };
            if baton_telemetry::enabled() {
                self.trace_dispatch(&state, &placement, &mut assign);
            }
            // Kept as sent: cancelling it must name it as the executor knows
            // it, even once the launch that made it is forgotten.
            let sent = assign.attempt.clone().unwrap_or_default();
            let attempt = sent.attempt;
            if !queued {
                self.early.insert(placement.key.clone());
                if let Some(launching) = self.launching.get_mut(&placement.key.0) {
                    launching.placed = true;
                }
            }
            self.book.assigned(
                placement.key.clone(),
                placement.lane,
                attempt,
                &placement.executor,
                now_ms(),
            );
            self.send_to(&placement.executor, ToExecutor::Assign(assign));
            self.pending.push(Pending::Assign(placement, sent));
            self.assigns_due
                .get_or_insert_with(|| Instant::now() + self.linger);
        }
    }

    /// Starts the dispatch span of an assignment about to be sent, in its
    /// execution's trace, and puts its context in the assignment.
    fn trace_dispatch(
        &mut self,
        state: &SchedulerState,
        placement: &Placement,
        assign: &mut baton_proto::Assign,
    ) {
        let key = &placement.key;
        let parent = match state.execution(&key.0) {
            Some(execution) => execution.trace,
            None => self.launching.get(&key.0).and_then(|l| l.trace),
        };
        let (Some(parent), Some(attempt)) = (parent, &assign.attempt) else {
            return;
        };
        assign.trace_context = self.spans.dispatched(
            &parent,
            key,
            &attempt.node_id,
            attempt.attempt,
            &placement.executor,
        );
    }

    /// The Assign message for a queued node, under its next attempt number.
    pub(super) fn assignment(
        &mut self,
        state: &SchedulerState,
        key: &NodeKey,
    ) -> Option<baton_proto::Assign> {
        let Some(execution) = state.execution(&key.0) else {
            return self.launching_assignment(state, key);
        };
        let registry = state.registry();
        // Queued, or made ready by results not yet committed (`start_downstream`).
        let view = WithProvisional {
            execution,
            provisional: &self.provisional,
        };
        if !readiness::task_ready(&registry, &view, key.1) {
            return None;
        }
        let inputs = registry.instance_inputs(execution, key.1, &|up| view.outputs(up))?;
        let spec = registry.task_of(execution, key.1)?;
        let attempt = execution.nodes[key.1 as usize].attempt + 1;
        let path = state.node_path(execution, key.1);
        if execution.plan.as_ref().is_some_and(|p| !p.tasks.is_empty()) {
            // A launch plan may have changed this node's task, retries or
            // timeout under the same task id: send the spec itself, uncached.
            return Some(baton_proto::Assign {
                attempt: Some(AttemptRef {
                    execution_id: key.0.to_string(),
                    node_id: path,
                    attempt,
                }),
                task: Some(baton_proto::TaskSpec::from(spec.as_ref())),
                inputs: values_to_proto(&inputs),
                trace_context: Default::default(),
            });
        }
        let task = spec.id.clone();
        self.assign_message(state, &task, path, key, attempt, &inputs)
    }

    /// The Assign message for a first node of a launch not yet applied
    /// (`start_launch`): its first attempt.
    pub(super) fn launching_assignment(
        &mut self,
        state: &SchedulerState,
        key: &NodeKey,
    ) -> Option<baton_proto::Assign> {
        let launching = self.launching.get(&key.0)?;
        let workflow = launching.workflow.clone();
        let compiled = workflow.nodes.get(key.1 as usize)?;
        if !compiled.upstream.is_empty() {
            return None;
        }
        let task = compiled.task()?.clone();
        let inputs = state.registry().bind_inputs(
            &workflow,
            key.1,
            &crate::engine::LaunchEnv(&launching.inputs),
        )?;
        self.assign_message(state, &task, compiled.id.clone(), key, 1, &inputs)
    }

    pub(super) fn assign_message(
        &mut self,
        state: &SchedulerState,
        task_id: &Identifier,
        path: String,
        key: &NodeKey,
        attempt: u32,
        inputs: &Values,
    ) -> Option<baton_proto::Assign> {
        let task = match self.task_protos.get(task_id) {
            Some(task) => task.clone(),
            None => {
                let spec = state.tasks.get(task_id)?;
                let proto = Arc::new(baton_proto::TaskSpec::from(spec.as_ref()));
                self.task_protos.insert(task_id.clone(), proto.clone());
                proto
            }
        };
        Some(baton_proto::Assign {
            attempt: Some(AttemptRef {
                execution_id: key.0.to_string(),
                node_id: path,
                attempt,
            }),
            task: Some((*task).clone()),
            inputs: values_to_proto(inputs),
            trace_context: Default::default(),
        })
    }

    /// Takes a launch in: queues its first nodes, so that they are placed in
    /// this very round, and the launch itself to be proposed ahead of their
    /// assignments (with their results, if they come back within
    /// [`DispatcherConfig::linger`]).
    ///
    /// Why this is safe: the launch enters `pending` before any of its
    /// nodes' assignments, and `pending` and the proposer keep order, so an
    /// assignment lands behind its launch in the log. If the launch does not
    /// commit as proposed, its assignments name an execution that does not
    /// exist, are refused, and their attempts are cancelled (`on_assigned`).
    /// The launch's number was reserved in the log for this leader and term
    /// alone (`launch_numbers`), so no other launch ever takes its id: a
    /// late result for a lost launch names no execution.
    pub(super) fn start_launch(&mut self, launch: NumberedLaunch, reply: LaunchReply, now: u64) {
        let NumberedLaunch {
            id,
            workflow,
            inputs,
            pool,
            command,
            trace,
        } = launch;
        let request_id = match command.untraced() {
            Command::LaunchNumbered { request_id, .. } => request_id.clone(),
            _ => String::new(),
        };
        if !request_id.is_empty() && self.launch_requests.contains(&request_id) {
            // A retry of a launch not settled yet: it will be answered with
            // that launch's execution when applied, and starts nothing.
            self.pending.push(Pending::Launch { id, command, reply });
            self.pending_launches += 1;
            return;
        }
        let state = self.state.clone();
        let state = state.read().unwrap_or_else(|e| e.into_inner());
        let tasks = &state.tasks;
        let pools = workflow.node_pools(|task| tasks.get(task).map(|t| &**t));
        let launch_pool: Option<Arc<str>> = (!pool.is_empty()).then(|| pool.as_str().into());
        let fallback: Arc<str> = state
            .project_pool(&workflow.spec.id.project)
            .unwrap_or(pool::DEFAULT_POOL)
            .into();
        let project: Arc<str> = workflow.spec.id.project.as_str().into();
        // A project with a cap on running executions may hold the launch
        // back: nothing starts before the state says it runs.
        let may_hold = state
            .projects
            .get(&*project)
            .is_some_and(|p| p.max_executions.is_some());
        let pins = pool::LaunchPins {
            above: None,
            launch: launch_pool.as_ref(),
            fallback: &fallback,
        };
        for (i, node) in workflow.nodes.iter().enumerate() {
            // A first sub-workflow node starts its frame when the launch is
            // applied; only tasks start before.
            let cacheable = node
                .task()
                .and_then(|t| tasks.get(t))
                .is_some_and(|t| t.cache.is_some());
            if node.upstream.is_empty() && node.task().is_some() && !cacheable && !may_hold {
                let placed = pool::settle(&pools[i], &pins);
                self.book.enqueue(
                    (id.clone(), i as u32),
                    &placed.pool,
                    placed.selector,
                    &project,
                    0,
                    now,
                );
            }
        }
        drop(state);
        if !request_id.is_empty() {
            self.launch_requests.insert(request_id.clone());
        }
        self.launching.insert(
            id.clone(),
            Launching {
                workflow,
                inputs,
                request_id,
                placed: false,
                trace,
            },
        );
        self.pending.push(Pending::Launch { id, command, reply });
        self.pending_launches += 1;
    }

    pub(super) fn on_assigned(
        &mut self,
        outcomes: Vec<((Placement, AttemptRef), Option<Response>)>,
    ) {
        for ((placement, sent_ref), response) in outcomes {
            let Placement { key, executor, .. } = placement;
            let sent = sent_ref.attempt;
            match response {
                Some(Response::Assigned { attempt }) if attempt == sent => {}
                other => {
                    self.early.remove(&key);
                    // Not recorded as sent: stop the attempt where it runs.
                    debug!(execution = %key.0, node = key.1, sent, ?other, "assignment not committed as sent; cancelling it");
                    self.book.settle(&key, sent, &executor);
                    if !self.spans.is_empty() {
                        self.spans.settled(&key, sent, "not assigned");
                        let state = self.state.clone();
                        let state = state.read().unwrap_or_else(|e| e.into_inner());
                        if state.execution(&key.0).is_none() {
                            // A launch that did not commit: its spans end.
                            self.spans.forget(&key.0);
                        }
                    }
                    self.send_to(&executor, ToExecutor::Cancel(sent_ref));
                    if other.is_none() {
                        // The proposal failed: the node is still queued; queue it again.
                        let state = self.state.clone();
                        let state = state.read().unwrap_or_else(|e| e.into_inner());
                        if let Some(node) = state
                            .execution(&key.0)
                            .and_then(|e| e.nodes.get(key.1 as usize))
                        {
                            if node.phase == NodePhase::Queued {
                                let project = state
                                    .execution(&key.0)
                                    .map(|e| e.project.clone())
                                    .unwrap_or_else(|| "".into());
                                self.book.enqueue(
                                    key.clone(),
                                    &node.pool,
                                    node.selector.clone(),
                                    &project,
                                    0,
                                    now_ms(),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
