//! Which launches start at once: a project's cap on running executions
//! (`baton project set P --max-executions N`). A launch over the cap is
//! accepted, acknowledged and kept `Queued`, in launch order; whenever one
//! of the project's running executions ends, or the cap rises, the oldest
//! held ones start. Nothing is refused for being over a cap.
//!
//! The count of each project's running executions is kept as executions
//! start and end, so that a launch costs no scan: an execution ends when
//! its history's final event is added (`Effect::Event { finished }`), and
//! it counted if it ever started (a held execution has no frame yet).

use super::*;
use crate::engine::{Registry, Run};

impl SchedulerState {
    /// The cap a new execution of `project` must wait for, if it must:
    /// the cap is reached, or earlier launches are already waiting.
    pub(super) fn must_wait(&self, project: &str) -> Option<u32> {
        let cap = self.projects.get(project)?.max_executions?;
        let running = self.running_executions.get(project).copied().unwrap_or(0);
        let others_wait = self
            .held_launches
            .get(project)
            .is_some_and(|q| !q.is_empty());
        (running >= cap || others_wait).then_some(cap)
    }

    /// Why a held execution waits, for `baton get`.
    pub fn waiting_reason(&self, execution: &Execution) -> Option<String> {
        if execution.phase != ExecutionPhase::Queued {
            return None;
        }
        let project = &execution.workflow.project;
        let cap = self.projects.get(project).and_then(|p| p.max_executions);
        let ahead = self
            .held_launches
            .get(project)
            .and_then(|q| q.iter().position(|id| *id == execution.id))
            .unwrap_or(0);
        Some(match cap {
            Some(cap) => format!(
                "waiting: project {project} is at its cap of {cap} running executions ({ahead} queued ahead)"
            ),
            None => format!("waiting to start: project {project} has no cap any more"),
        })
    }

    pub(super) fn started(&mut self, project: &str) {
        match self.running_executions.get_mut(project) {
            Some(n) => *n += 1,
            None => {
                self.running_executions.insert(project.to_owned(), 1);
            }
        }
    }

    /// Holds a new execution back: `Queued`, nothing laid out.
    pub(super) fn hold(
        &mut self,
        execution: &mut Execution,
        cap: u32,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) {
        let project = execution.workflow.project.clone();
        execution.phase = ExecutionPhase::Queued;
        let event = execution.record(
            now_ms,
            EventSubject::Execution(ExecutionPhase::Queued),
            format!("queued: project {project} is at its cap of {cap} running executions"),
        );
        effects.push(Effect::Event {
            execution: execution.id.clone(),
            event,
            finished: false,
        });
        self.held_launches
            .entry(project)
            .or_default()
            .push_back(execution.id.clone());
    }

    /// After a command: each execution whose history it finished no longer
    /// counts toward its project's cap, and may let a held one start (which
    /// may finish at once too: the loop reads the effects it adds).
    pub(super) fn count_ended(&mut self, from: usize, effects: &mut Vec<Effect>) {
        let mut at = from;
        while at < effects.len() {
            if let Effect::Event {
                execution,
                event,
                finished: true,
            } = &effects[at]
            {
                let (id, now_ms) = (execution.clone(), event.time_ms);
                let project = self
                    .executions
                    .get(&id)
                    .filter(|e| !e.frames.is_empty())
                    .map(|e| e.workflow.project.clone());
                if let Some(project) = project {
                    if let Some(n) = self.running_executions.get_mut(&project) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.running_executions.remove(&project);
                        }
                    }
                    self.admit(&project, now_ms, effects);
                }
            }
            at += 1;
        }
    }

    /// Starts `project`'s held launches, oldest first, while its cap allows.
    pub(super) fn admit(&mut self, project: &str, now_ms: u64, effects: &mut Vec<Effect>) {
        loop {
            let cap = self.projects.get(project).and_then(|p| p.max_executions);
            let running = self.running_executions.get(project).copied().unwrap_or(0);
            if cap.is_some_and(|cap| running >= cap) {
                return;
            }
            let Some(queue) = self.held_launches.get_mut(project) else {
                return;
            };
            let Some(id) = queue.pop_front() else {
                self.held_launches.remove(project);
                return;
            };
            if queue.is_empty() {
                self.held_launches.remove(project);
            }
            self.start_held(&id, now_ms, effects);
        }
    }

    fn start_held(&mut self, id: &ExecutionId, now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(workflow) = self
            .executions
            .get(id)
            .and_then(|e| self.workflow(&e.workflow))
            .cloned()
        else {
            return;
        };
        let project = workflow.spec.id.project.clone();
        self.started(&project);
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let Some(execution) = self.executions.get_mut(id) else {
            return;
        };
        execution.phase = ExecutionPhase::Running;
        let mut run = Run::new(registry, execution, now_ms, effects);
        run.start(&workflow);
        let requests = std::mem::take(&mut run.cache_requests);
        self.settle_cache(id, requests, now_ms, effects);
    }

    /// Cancels an execution still held: it leaves the queue, never having
    /// started.
    pub(super) fn cancel_held(&mut self, id: &ExecutionId, now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(execution) = self.executions.get_mut(id) else {
            return;
        };
        let project = execution.workflow.project.clone();
        execution.phase = ExecutionPhase::Cancelled;
        execution.finished_at_ms = now_ms;
        let event = execution.record(
            now_ms,
            EventSubject::Execution(ExecutionPhase::Cancelled),
            "cancelled before it started".into(),
        );
        effects.push(Effect::Event {
            execution: id.clone(),
            event,
            finished: true,
        });
        if let Some(queue) = self.held_launches.get_mut(&project) {
            queue.retain(|held| held != id);
            if queue.is_empty() {
                self.held_launches.remove(&project);
            }
        }
    }
}
