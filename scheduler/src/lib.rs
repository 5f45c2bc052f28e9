//! Baton's control plane (DESIGN.md §1, §4, §5): the pure replicated state
//! machine, the workflow compiler and type checker, the leader's dispatcher,
//! and the Admin and Executor gRPC services of a scheduler node.

pub mod admin;
pub mod compiler;
pub mod convert;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod event_feed;
pub mod executor_links;
pub mod executor_service;
pub mod launch_numbers;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod proposer;
pub mod state;

pub use error::{ErrorCode, SchedulerError};
pub use node::{SchedulerConfig, SchedulerNode};
