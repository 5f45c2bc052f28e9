//! Baton's data model (DESIGN.md §3): identifiers, the strict type system,
//! typed values, and task and workflow specs with their YAML form. Pure data
//! and pure functions, shared by the scheduler, the executors and the CLI.

pub mod condition;
pub mod id;
pub mod sorted_map;
pub mod spec;
pub mod types;
pub mod value;

pub use id::Identifier;
pub use sorted_map::SortedMap;
pub use spec::Bindings;
pub use spec::{
    Binding, BranchSpec, CacheMode, CachePolicy, CaseSpec, GateSpec, Interface, LaunchPlanSpec,
    LoopSpec, MapSpec, NodeKind, NodeOverride, NodeSpec, Reference, Runner, Selector, SpecDocument,
    TaskSpec, Tolerance, Variable, WorkflowSpec,
};
pub use types::Type;
pub use value::{BlobRef, Value, ValueError, Values};

/// Errors in model data; messages are lowercase and name what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("bad identifier `{text}`: {why}")]
    BadIdentifier { text: String, why: String },
    #[error("bad type `{text}`: {why}")]
    BadType { text: String, why: String },
    #[error("a value has no kind set")]
    EmptyValue,
    #[error("bad value for `{name}`: {why}")]
    BadValue { name: String, why: String },
    #[error("{0}")]
    BadSpec(String),
}
