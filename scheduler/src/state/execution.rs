//! Executions and their nodes as the replicated state holds them, with the
//! phase enums whose transitions the state machine performs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use baton_model::{Identifier, Values};
use serde::{Deserialize, Serialize};

/// The id of one execution, unique in the cluster: `{workflow name}-{seq}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExecutionId(pub Arc<str>);

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionPhase {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Launched and waiting for its project's cap on running executions.
    Queued,
}

impl ExecutionPhase {
    pub fn is_terminal(self) -> bool {
        !matches!(self, ExecutionPhase::Running | ExecutionPhase::Queued)
    }

    pub fn to_proto(self) -> baton_proto::ExecutionPhase {
        match self {
            ExecutionPhase::Running => baton_proto::ExecutionPhase::ExecutionRunning,
            ExecutionPhase::Succeeded => baton_proto::ExecutionPhase::ExecutionSucceeded,
            ExecutionPhase::Failed => baton_proto::ExecutionPhase::ExecutionFailed,
            ExecutionPhase::Cancelled => baton_proto::ExecutionPhase::ExecutionCancelled,
            ExecutionPhase::Queued => baton_proto::ExecutionPhase::ExecutionQueued,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodePhase {
    /// Waiting for upstream nodes.
    Pending,
    /// Ready; waiting for an executor (and for its retry backoff).
    Queued,
    /// Assigned to an executor under the current attempt.
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl NodePhase {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NodePhase::Succeeded | NodePhase::Failed | NodePhase::Skipped | NodePhase::Cancelled
        )
    }

    pub fn to_proto(self) -> baton_proto::NodePhase {
        match self {
            NodePhase::Pending => baton_proto::NodePhase::NodePending,
            NodePhase::Queued => baton_proto::NodePhase::NodeQueued,
            NodePhase::Running => baton_proto::NodePhase::NodeRunning,
            NodePhase::Succeeded => baton_proto::NodePhase::NodeSucceeded,
            NodePhase::Failed => baton_proto::NodePhase::NodeFailed,
            NodePhase::Skipped => baton_proto::NodePhase::NodeSkipped,
            NodePhase::Cancelled => baton_proto::NodePhase::NodeCancelled,
        }
    }
}

/// Where the captured log of one attempt is: on the executor that ran it
/// (logs never enter the replicated state; `GetNodeLogs` reads them there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptLog {
    pub attempt: u32,
    pub executor: String,
    /// Its size when the attempt ended; 0 for an attempt lost with its executor.
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub phase: NodePhase,
    /// The current attempt; 0 before the first assignment.
    pub attempt: u32,
    /// Failed attempts charged to the task's `retries`.
    pub retries_used: u32,
    /// Attempts lost with their executor (not charged to `retries`).
    pub lost_attempts: u32,
    /// Upstream nodes not yet succeeded: a count the engine keeps, so that
    /// a result need not re-read every upstream node of each downstream one
    /// (its invariant check recounts it).
    pub waiting_on: u32,
    /// Where the node runs (pin precedence: see `engine::pool`), settled
    /// when laid out; shared with its other nodes.
    pub pool: Arc<str>,
    /// The labels its executor must have; `None`: any of the pool's.
    pub selector: Option<Arc<baton_model::Selector>>,
    pub executor: String,
    /// Earliest time (ms) a queued retry may be dispatched.
    pub not_before_ms: u64,
    pub outputs: Values,
    pub error: String,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    pub logs: Vec<AttemptLog>,
    /// Succeeded with a cached result, without running.
    pub cached: bool,
    /// Succeeded with the result of the execution this one recovers.
    pub recovered: bool,
}

/// What an event is about: the execution or one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventSubject {
    Execution(ExecutionPhase),
    Node {
        node: u32,
        phase: NodePhase,
        attempt: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the execution's history, from 1.
    pub seq: u64,
    pub time_ms: u64,
    pub subject: EventSubject,
    pub message: String,
}

/// One run of a workflow inside an execution: the launched workflow itself
/// (frame 0), or the workflow a sub-workflow node runs. A frame's nodes are
/// the instances `first..first + n` of [`Execution::nodes`], in the order
/// of its compiled workflow; frames are appended as they start, so `first`
/// grows with the frame's index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// The exact workflow version the frame runs.
    pub workflow: Identifier,
    /// The instance whose run this frame is; `None` for frame 0.
    pub owner: Option<u32>,
    /// The iteration a loop's frame runs (0 for other frames). A retried
    /// iteration has a frame per attempt, under the same index.
    pub index: u32,
    /// The frame's first instance.
    pub first: u32,
    /// The frame's inputs; frame 0's are [`Execution::inputs`] (not copied).
    pub inputs: Values,
    /// The frame's nodes not yet in a terminal phase.
    pub unfinished: u32,
    /// A loop iteration's outputs, once it has succeeded: stored once, and
    /// read by the loop's history (a view over its iterations' frames).
    pub outputs: Option<Values>,
    /// A map's items frame: how many items it holds (one instance each, all
    /// of its workflow's one node); `None` for other frames.
    pub items: Option<u32>,
    /// A map's items started so far (they start in order).
    pub started: u32,
    /// A map's items failed so far.
    pub failed: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    /// The exact workflow version that runs.
    pub workflow: Identifier,
    /// Its workflow's project, shared with its queued nodes: the fair share
    /// and caps of a pool count per project.
    pub project: Arc<str>,
    pub inputs: Values,
    /// The launch's pool pin; empty when not pinned.
    pub pool: String,
    pub phase: ExecutionPhase,
    /// Every node instance of the run, frame by frame: the launched
    /// workflow's own nodes first, each at its index in the compiled
    /// workflow. Commands and events name an instance by its index here.
    pub nodes: Vec<NodeState>,
    /// The runs of workflows inside this one, frame 0 being the launched
    /// workflow's.
    pub frames: Vec<Frame>,
    /// The attempt number new instances start from: above every attempt of
    /// a retried loop iteration's abandoned instances, whose paths the new
    /// ones take, so that a late result of an abandoned attempt can never
    /// pass for a new one.
    pub attempt_floor: u32,
    pub outputs: Values,
    pub error: String,
    pub created_at_ms: u64,
    pub finished_at_ms: u64,
    pub events: Vec<Event>,
    /// What a launch plan set: `None` for a launch of a workflow.
    pub plan: Option<Box<PlanApplied>>,
    /// Whether the launch reads and writes the task cache.
    pub cache: baton_model::CacheMode,
    /// The execution this one recovers or relaunches, if any.
    pub origin: Option<Box<Origin>>,
    /// The span its trace continues from (the leader's `launch` span),
    /// when the leader that launched it exported traces.
    pub trace: Option<baton_telemetry::TraceParent>,
}

/// Where a recovered or relaunched execution comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub from: ExecutionId,
    /// `baton relaunch`: everything runs again.
    pub relaunch: bool,
    /// Path of each task instance that succeeded in `from` (`al[3].select`)
    /// -> its outputs, reused when the same instance becomes ready here.
    /// Emptied as it is used.
    pub reuse: BTreeMap<String, Values>,
}

/// What a launch plan changed about an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanApplied {
    pub plan: Identifier,
    pub labels: BTreeMap<String, String>,
    /// Node path (without indices) -> the override, as the plan gives it.
    pub overrides: BTreeMap<String, baton_model::NodeOverride>,
    /// Node path -> the task its instances run (swapped, with retries and
    /// timeout applied): the one place the engine reads a task from.
    pub tasks: BTreeMap<String, Arc<baton_model::TaskSpec>>,
}

impl Execution {
    /// The frame instance `node` belongs to.
    pub fn frame_of(&self, node: u32) -> u32 {
        // Frames start in increasing order; frame 0 starts at 0.
        (self.frames.partition_point(|f| f.first <= node).max(1) - 1) as u32
    }

    /// One past a frame's last instance: the next frame's first (frames
    /// are laid out one after the other), or the end of the instances.
    pub fn frame_end(&self, frame: u32) -> u32 {
        self.frames
            .get(frame as usize + 1)
            .map_or(self.nodes.len() as u32, |next| next.first)
    }

    /// A frame's inputs.
    pub fn frame_inputs(&self, frame: u32) -> &Values {
        match frame {
            0 => &self.inputs,
            _ => &self.frames[frame as usize].inputs,
        }
    }

    /// The frame that instance `owner` runs, if it runs one.
    pub fn frame_run_by(&self, owner: u32) -> Option<u32> {
        // Frames start after their owner, in order.
        let from = self.frame_of(owner) as usize + 1;
        self.frames[from.min(self.frames.len())..]
            .iter()
            .position(|f| f.owner == Some(owner))
            .map(|i| (from + i) as u32)
    }

    /// For each frame, whether a later run of the same loop iteration
    /// replaced it (an iteration that failed and ran again), or it sits
    /// inside one that was.
    pub fn replaced_frames(&self) -> Vec<bool> {
        let mut latest = std::collections::HashMap::new();
        for (i, frame) in self.frames.iter().enumerate() {
            if let Some(owner) = frame.owner {
                latest.insert((owner, frame.index), i);
            }
        }
        let mut replaced = vec![false; self.frames.len()];
        for (i, frame) in self.frames.iter().enumerate() {
            if let Some(owner) = frame.owner {
                let enclosing = self.frame_of(owner) as usize;
                replaced[i] = latest.get(&(owner, frame.index)) != Some(&i)
                    || replaced.get(enclosing).copied().unwrap_or(false);
            }
        }
        replaced
    }

    pub(crate) fn record(&mut self, time_ms: u64, subject: EventSubject, message: String) -> Event {
        let event = Event {
            seq: self.events.len() as u64 + 1,
            time_ms,
            subject,
            message,
        };
        self.events.push(event.clone());
        event
    }
}
