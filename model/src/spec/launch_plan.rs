//! Launch plans (docs/spec.md, "Launch plans"): a named, versioned launch of
//! one workflow version, with default inputs (a launch may change them),
//! fixed inputs (it may not), a pool, labels, and node overrides that swap a
//! node's task or sub-workflow for another of the same interface or change
//! its retries, timeout or pool. A flavor of a pipeline is a plan, not a
//! copy of the workflow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::content_version;
use crate::{CacheMode, Identifier, ModelError, Value};

/// What a launch plan changes about one node, named by its path in the
/// workflow without indices (`iterate.select`: node `select` of the body of
/// loop node `iterate`, in every iteration).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeOverride {
    /// Another task, of the same interface, for a task node (or a map's or
    /// a branch case's task).
    pub task: Option<Identifier>,
    /// Another workflow, of the same interface, for a sub-workflow node.
    pub workflow: Option<Identifier>,
    pub retries: Option<u32>,
    pub timeout_ms: Option<u64>,
    /// The pool the node runs in, over every other pin.
    pub pool: Option<String>,
    /// Whether the node reads and writes the cache, over the launch's mode.
    pub cache: Option<CacheMode>,
}

impl NodeOverride {
    /// The reference it swaps in, if any.
    pub fn target_mut(&mut self) -> Option<&mut Identifier> {
        self.task.as_mut().or(self.workflow.as_mut())
    }

    /// Whether it changes the task an instance runs (not only where).
    pub fn changes_task(&self) -> bool {
        self.task.is_some() || self.retries.is_some() || self.timeout_ms.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchPlanSpec {
    pub id: Identifier,
    /// The workflow version it launches (pinned at registration).
    pub workflow: Identifier,
    /// Defaults for inputs: a launch may give others.
    pub inputs: BTreeMap<String, Value>,
    /// Inputs no launch may set.
    pub fixed: BTreeMap<String, Value>,
    pub pool: String,
    pub labels: BTreeMap<String, String>,
    /// Node path (`iterate.select`) -> what changes.
    pub overrides: BTreeMap<String, NodeOverride>,
    pub description: String,
}

impl LaunchPlanSpec {
    /// Fills defaults: project and domain, and the references' from the
    /// plan's own. An omitted version stays empty until the references are
    /// pinned ([`LaunchPlanSpec::pin_references`]).
    pub fn normalized(mut self) -> Self {
        self.id = self.id.with_global_defaults();
        let (project, domain) = (self.id.project.clone(), self.id.domain.clone());
        self.workflow = std::mem::take(&mut self.workflow).with_defaults(&project, &domain);
        for o in self.overrides.values_mut() {
            if let Some(target) = o.target_mut() {
                *target = std::mem::take(target).with_defaults(&project, &domain);
            }
        }
        self
    }

    /// Pins the workflow and every swapped-in task or workflow without a
    /// version (or `@latest`) to what `latest(is_task, id)` answers, then
    /// gives an unversioned plan its content hash as version.
    pub fn pin_references(&mut self, latest: impl Fn(bool, &Identifier) -> Option<String>) {
        let pin = |is_task: bool, target: &mut Identifier| {
            if target.version == "latest" {
                target.version.clear();
            }
            if target.version.is_empty() {
                if let Some(version) = latest(is_task, target) {
                    target.version = version;
                }
            }
        };
        pin(false, &mut self.workflow);
        for o in self.overrides.values_mut() {
            if let Some(task) = o.task.as_mut() {
                pin(true, task);
            }
            if let Some(workflow) = o.workflow.as_mut() {
                pin(false, workflow);
            }
        }
        if self.id.version.is_empty() {
            self.id.version = content_version(&*self);
        }
    }
}

// ---------------------------------------------------------------- wire form

fn values_to_proto(
    values: &BTreeMap<String, Value>,
) -> std::collections::HashMap<String, baton_proto::Value> {
    values.iter().map(|(k, v)| (k.clone(), v.into())).collect()
}

fn values_from_proto(
    values: &std::collections::HashMap<String, baton_proto::Value>,
) -> Result<BTreeMap<String, Value>, ModelError> {
    values
        .iter()
        .map(|(k, v)| Ok((k.clone(), Value::try_from(v)?)))
        .collect()
}

impl From<&NodeOverride> for baton_proto::NodeOverride {
    fn from(o: &NodeOverride) -> Self {
        baton_proto::NodeOverride {
            task: o.task.as_ref().map(Into::into),
            workflow: o.workflow.as_ref().map(Into::into),
            retries: o.retries,
            timeout_ms: o.timeout_ms,
            pool: o.pool.clone(),
            cache: o.cache.map(|m| baton_proto::CacheMode::from(m) as i32),
        }
    }
}

impl From<&baton_proto::NodeOverride> for NodeOverride {
    fn from(o: &baton_proto::NodeOverride) -> Self {
        NodeOverride {
            task: o.task.as_ref().map(Into::into),
            workflow: o.workflow.as_ref().map(Into::into),
            retries: o.retries,
            timeout_ms: o.timeout_ms,
            pool: o.pool.clone(),
            cache: o
                .cache
                .and_then(|m| baton_proto::CacheMode::try_from(m).ok())
                .map(CacheMode::from),
        }
    }
}

impl From<&LaunchPlanSpec> for baton_proto::LaunchPlanSpec {
    fn from(p: &LaunchPlanSpec) -> Self {
        baton_proto::LaunchPlanSpec {
            id: Some((&p.id).into()),
            workflow: Some((&p.workflow).into()),
            inputs: values_to_proto(&p.inputs),
            fixed: values_to_proto(&p.fixed),
            pool: p.pool.clone(),
            labels: p.labels.clone().into_iter().collect(),
            overrides: p
                .overrides
                .iter()
                .map(|(k, o)| (k.clone(), o.into()))
                .collect(),
            description: p.description.clone(),
        }
    }
}

impl TryFrom<&baton_proto::LaunchPlanSpec> for LaunchPlanSpec {
    type Error = ModelError;

    fn try_from(p: &baton_proto::LaunchPlanSpec) -> Result<Self, ModelError> {
        Ok(LaunchPlanSpec {
            id: p.id.as_ref().map(Into::into).unwrap_or_default(),
            workflow: p.workflow.as_ref().map(Into::into).unwrap_or_default(),
            inputs: values_from_proto(&p.inputs)?,
            fixed: values_from_proto(&p.fixed)?,
            pool: p.pool.clone(),
            labels: p.labels.clone().into_iter().collect(),
            overrides: p
                .overrides
                .iter()
                .map(|(k, o)| (k.clone(), o.into()))
                .collect(),
            description: p.description.clone(),
        })
    }
}
