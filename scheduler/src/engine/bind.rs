//! Binding evaluation: what a node input or a workflow output reads in a
//! frame ([`Env`]): the frame's inputs, its nodes' outputs (a loop's
//! history and a map's gathered outputs, read as views), the history of
//! the loop the frame is an iteration of, and a map item's element.

use baton_model::{Value, Values};

use super::{looping, map};
use crate::compiler::CompiledBinding;
use crate::state::Execution;

/// What a binding reads.
pub trait Env {
    /// An input of the frame.
    fn input(&self, name: &str) -> Option<&Value>;
    /// Output `name` of node `local` of the frame (for a loop node,
    /// `history.X` too).
    fn output(&self, local: u32, name: &str) -> Option<Value>;
    /// Output `name` of the frame's workflow in every earlier iteration of
    /// the loop the frame is an iteration of.
    fn history(&self, name: &str) -> Value;
    /// In a map's items frame: this item's element of list input `name`.
    fn item(&self, name: &str) -> Option<Value>;
}

/// A frame of an execution, with the outputs of its instances read through
/// `outputs_of` (by instance).
pub struct FrameEnv<'v, F> {
    pub execution: &'v Execution,
    pub frame: u32,
    pub first: u32,
    /// The item, when the frame is a map's.
    pub item: Option<u32>,
    pub outputs_of: F,
}

impl<'v, F: Fn(u32) -> Option<&'v Values>> Env for FrameEnv<'v, F> {
    fn input(&self, name: &str) -> Option<&Value> {
        self.execution.frame_inputs(self.frame).get(name)
    }

    fn output(&self, local: u32, name: &str) -> Option<Value> {
        let instance = self.first + local;
        if let Some(value) = (self.outputs_of)(instance).and_then(|o| o.get(name)) {
            return Some(value.clone());
        }
        // What is not stored but read as a view: a loop's history, a map's
        // gathered outputs.
        if let Some(output) = name.strip_prefix("history.") {
            return Some(looping::history_of(self.execution, instance, output));
        }
        map::gathered(self.execution, instance, name)
    }

    fn history(&self, name: &str) -> Value {
        looping::history_before(self.execution, self.frame, name)
    }

    fn item(&self, name: &str) -> Option<Value> {
        match self.input(name)? {
            Value::List(items) => items.get(self.item? as usize).cloned(),
            _ => None,
        }
    }
}

/// A launch not yet applied: its inputs only.
pub struct LaunchEnv<'v>(pub &'v Values);

impl Env for LaunchEnv<'_> {
    fn input(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn output(&self, _: u32, _: &str) -> Option<Value> {
        None
    }

    fn history(&self, _: &str) -> Value {
        Value::List(Vec::new())
    }

    fn item(&self, _: &str) -> Option<Value> {
        None
    }
}

/// Evaluates a binding in `env`.
pub fn evaluate(binding: &CompiledBinding, env: &impl Env) -> Option<Value> {
    Some(match binding {
        CompiledBinding::Input(name) => env.input(name)?.clone(),
        CompiledBinding::History(name) => env.history(name),
        CompiledBinding::Item(name) => env.item(name)?,
        CompiledBinding::Output { node, output } => env.output(*node, output)?,
        CompiledBinding::Constant(v) => v.clone(),
        CompiledBinding::List(items) => Value::List(
            items
                .iter()
                .map(|b| evaluate(b, env))
                .collect::<Option<_>>()?,
        ),
        CompiledBinding::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, b)| evaluate(b, env).map(|v| (k.clone(), v)))
                .collect::<Option<_>>()?,
        ),
    })
}
