//! The gate node kind: waits for a typed signal from outside (a person
//! labeling, an approval), or for its timeout.
//!
//! Type rule ([`callee`]): the gate's inputs take their types from what
//! they bind (they are what the gate shows whoever signals it); its outputs
//! are its signal's fields; an `on_timeout` signal gives a value of the
//! declared type to every field without a default; `check` is a bool
//! condition over the signal's fields and the gate's inputs.
//! Run rule: when its upstream nodes have succeeded, the instance is
//! Running with no executor, its deadline (if it has a timeout) kept in
//! `not_before_ms`, and [`Effect::GateWaiting`] tells the leader to watch
//! the deadline. A signal ([`signalled`], checked by [`check_signal`] on
//! and [`check_meets`] on the leader before it is proposed and again when
//! applied) succeeds it
//! with the signal's fields as outputs. The leader proposes the timeout
//! once the deadline has passed ([`timed_out`]): the gate then succeeds
//! with its `on_timeout` signal, or fails. A cancel ends a waiting gate
//! like any running instance. A recovery reuses the outputs a gate got in
//! the execution it recovers.

use baton_model::condition::{self, Condition, Scope};
use baton_model::{Binding, GateSpec, Interface, NodeKind, NodeSpec, Type, Value, Values};
use serde::{Deserialize, Serialize};

use super::{Callee, Run};
use crate::compiler::Control;
use crate::error::{Problem, ProblemCode};
use crate::state::{Effect, Execution, NodePhase};

/// The longest a gate may wait for its signal.
pub const MAX_TIMEOUT_MS: u64 = 366 * 24 * 3600 * 1000;

/// `24h`, `1h 30m`: a timeout as the spec writes it.
fn duration_text(ms: u64) -> String {
    let nanos = ms.saturating_mul(1_000_000).min(i64::MAX as u64) as i64;
    baton_model::value::format_duration(nanos)
}

/// What a gate calls: nothing registered (errors about a callee's inputs
/// name it by kind only).
pub(super) static NO_ID: std::sync::OnceLock<baton_model::Identifier> = std::sync::OnceLock::new();

/// What the compiler makes of a gate node.
#[derive(Clone, Debug)]
pub struct GateCallee {
    pub spec: GateSpec,
    pub compiled: CompiledGate,
}

/// The run-time part of a gate node, checked at registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledGate {
    /// Inputs as bound (their types inferred), outputs the signal's fields.
    pub interface: Interface,
    /// Over scopes `signal` (its fields) and `inputs` (the gate's).
    pub check: Option<Condition>,
}

/// The gate's callee before its inputs' types are known: what nodes that
/// read the gate see (its signal's fields). [`callee`] completes it.
pub fn outputs_only(spec: &GateSpec) -> Callee {
    Callee::Gate(Box::new(GateCallee {
        spec: spec.clone(),
        compiled: CompiledGate {
            interface: Interface {
                inputs: Vec::new(),
                outputs: spec.signal.clone(),
            },
            check: None,
        },
    }))
}

/// Checks gate node `node`, pushing every problem; `type_of` gives the type
/// of what an input binds.
pub fn callee(
    node: &NodeSpec,
    spec: &GateSpec,
    type_of: &dyn Fn(&Binding) -> Result<Type, String>,
    problems: &mut Vec<Problem>,
) -> Option<Callee> {
    let problem = |code, field: String, message: String| {
        Problem::new(code, message).node(&node.id).field(field)
    };
    let inputs = super::callee::typed_inputs(node, "gate", type_of, problems);
    let interface = Interface {
        inputs,
        outputs: spec.signal.clone(),
    };
    if let Err(why) = crate::compiler::check_names(&interface) {
        problems.push(problem(
            ProblemCode::Invalid,
            "gate".into(),
            format!(
                "node `{}` gate: {}",
                node.id,
                why.replace("output", "signal field")
            ),
        ));
    }
    if spec.signal.is_empty() {
        problems.push(problem(
            ProblemCode::Missing,
            "gate.signal".into(),
            format!("node `{}`: a gate needs at least one signal field", node.id),
        ));
    }
    let scopes = [
        Scope::of("signal", "the signal carries", &interface.outputs),
        Scope::of("inputs", "the gate takes", &interface.inputs),
    ];
    let check = match spec.check.trim() {
        "" => None,
        text => match condition::check(text, &scopes) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(problem(
                    ProblemCode::Invalid,
                    "gate.check".into(),
                    format!("node `{}` gate.check: {:?}: {e}", node.id, spec.check),
                ));
                None
            }
        },
    };
    if spec.timeout_ms > MAX_TIMEOUT_MS {
        problems.push(problem(
            ProblemCode::Invalid,
            "gate.timeout".into(),
            format!(
                "node `{}`: gate.timeout {} is above the limit of {}",
                node.id,
                duration_text(spec.timeout_ms),
                duration_text(MAX_TIMEOUT_MS)
            ),
        ));
    }
    if let Some(values) = &spec.on_timeout {
        if spec.timeout_ms == 0 {
            problems.push(problem(
                ProblemCode::Invalid,
                "gate.on_timeout".into(),
                format!(
                    "node `{}`: gate.on_timeout needs a `timeout`: without one the gate waits until signalled",
                    node.id
                ),
            ));
        }
        if let Err(e) = check_signal(spec, values) {
            problems.push(problem(
                ProblemCode::TypeMismatch,
                "gate.on_timeout.signal".into(),
                format!("node `{}` gate.on_timeout: {}", node.id, e.message),
            ));
        }
    }
    Some(Callee::Gate(Box::new(GateCallee {
        spec: spec.clone(),
        compiled: CompiledGate { interface, check },
    })))
}

/// Why a signal does not fit a gate's signal declaration.
#[derive(Debug)]
pub struct SignalMismatch {
    /// A field of the wrong type (else an unknown or a missing field).
    pub mistyped: bool,
    pub message: String,
}

/// The signal `values` as the gate's outputs: every field one the gate's
/// signal declares, of its type; fields left out take their defaults.
/// The error names the field and what is wrong with it.
pub fn check_signal(
    spec: &GateSpec,
    values: &std::collections::BTreeMap<String, Value>,
) -> Result<Values, SignalMismatch> {
    let refused = |mistyped: bool, message: String| SignalMismatch { mistyped, message };
    let fields = || describe_signal(spec);
    if let Some(unknown) = values
        .keys()
        .find(|k| spec.signal.iter().all(|v| &v.name != *k))
    {
        return Err(refused(
            false,
            format!(
                "the signal has no field `{unknown}`; it carries {}",
                fields()
            ),
        ));
    }
    let mut outputs = Values::new();
    for var in &spec.signal {
        let value = match values.get(&var.name) {
            Some(value) => {
                value.check(&var.ty).map_err(|e| {
                    refused(
                        true,
                        format!(
                            "signal field `{}{}` ({}): {}",
                            var.name, e.path, var.ty, e.why
                        ),
                    )
                })?;
                value.clone()
            }
            None => match &var.default {
                Some(default) => default.clone(),
                None if var.ty.is_optional() => Value::None,
                None => {
                    return Err(refused(
                        false,
                        format!(
                            "the signal lacks field `{}` ({}); it carries {}",
                            var.name,
                            var.ty,
                            fields()
                        ),
                    ))
                }
            },
        };
        outputs.insert(var.name.clone(), value);
    }
    Ok(outputs)
}

/// Whether a signal whose fields give `outputs` meets the gate's `check`
/// over them and the gate's `inputs`; the error quotes the check.
pub fn check_meets(
    compiled: &CompiledGate,
    outputs: &Values,
    inputs: &Values,
) -> Result<(), String> {
    let Some(check) = &compiled.check else {
        return Ok(());
    };
    match check.evaluate(&[outputs, inputs]) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "the signal does not meet the gate's check `{}`",
            check.text
        )),
        Err(why) => Err(format!(
            "the gate's check `{}` could not be evaluated: {why}",
            check.text
        )),
    }
}

/// The compiled part of gate instance `node`, if it is a gate instance.
pub fn compiled_of<'a>(
    registry: &super::Registry<'a>,
    execution: &Execution,
    node: u32,
) -> Option<&'a CompiledGate> {
    match registry.locate(execution, node)?.node().control.as_deref() {
        Some(Control::Gate(gate)) => Some(gate),
        _ => None,
    }
}

/// The gate spec of instance `node`, if it is a gate instance.
pub fn spec_of<'a>(
    registry: &super::Registry<'a>,
    execution: &Execution,
    node: u32,
) -> Option<&'a GateSpec> {
    match &registry.locate(execution, node)?.node().kind {
        NodeKind::Gate(spec) => Some(spec),
        _ => None,
    }
}

/// "labels (list<int>), note (optional<string>)": what a signal carries.
pub fn describe_signal(spec: &GateSpec) -> String {
    spec.signal
        .iter()
        .map(|v| format!("{} ({})", v.name, v.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The gate instance starts waiting.
pub(super) fn start(run: &mut Run<'_>, node: u32, spec: &GateSpec) {
    let Some(located) = run.registry.locate(run.execution, node) else {
        return;
    };
    if !matches!(located.node().control.as_deref(), Some(Control::Gate(_))) {
        return;
    }
    // A recovery reuses what the recovered execution's gate got.
    if run.reuse_recovered(node) {
        return;
    }
    // Its inputs are read when it is shown; a binding that cannot be read
    // fails it now, as it would any node.
    if super::bound_inputs(run, node).is_none() {
        return;
    }
    let mut message = format!("waiting for a signal: {}", describe_signal(spec));
    if spec.timeout_ms > 0 {
        let after = duration_text(spec.timeout_ms);
        let then = match spec.on_timeout {
            Some(_) => "continues with its on_timeout signal",
            None => "fails",
        };
        message.push_str(&format!("; after {after} it {then}"));
    }
    let attempt = run.start_control(node, message);
    if spec.timeout_ms > 0 {
        let deadline_ms = run.now_ms.saturating_add(spec.timeout_ms);
        run.execution.nodes[node as usize].not_before_ms = deadline_ms;
        run.effects.push(Effect::GateWaiting {
            execution: run.execution.id.clone(),
            node,
            attempt,
            deadline_ms,
        });
    }
}

/// Whether instance `node` is a gate waiting for its signal.
pub fn waiting(registry: &super::Registry<'_>, execution: &Execution, node: u32) -> bool {
    execution.nodes.get(node as usize).is_some_and(|s| {
        s.phase == NodePhase::Running && s.executor.is_empty() && !execution.phase.is_terminal()
    }) && spec_of(registry, execution, node).is_some()
}

impl Run<'_> {
    /// Gate instance `node` received a signal, already checked: it
    /// succeeds with `outputs`.
    pub fn signalled(&mut self, node: u32, outputs: Values) {
        let attempt = self.execution.nodes[node as usize].attempt;
        self.node_succeeded_with(node, attempt, outputs, "signalled".into());
    }

    /// The deadline of gate instance `node` (under `attempt`) has passed
    /// without a signal. `false` if it no longer waits under that attempt
    /// or its deadline is still ahead.
    pub fn gate_timed_out(&mut self, node: u32, attempt: u32) -> bool {
        let Some(spec) = spec_of(&self.registry, self.execution, node) else {
            return false;
        };
        let state = &self.execution.nodes[node as usize];
        if !waiting(&self.registry, self.execution, node)
            || state.attempt != attempt
            || state.not_before_ms == 0
            || self.now_ms < state.not_before_ms
        {
            return false;
        }
        let after = duration_text(spec.timeout_ms);
        match &spec.on_timeout {
            Some(values) => match check_signal(spec, values) {
                Ok(outputs) => {
                    let message =
                        format!("timed out after {after}: continued with its on_timeout signal");
                    self.node_succeeded_with(node, attempt, outputs, message);
                }
                Err(e) => self.node_failed(node, attempt, e.message),
            },
            None => {
                let why = format!("timed out after {after} without a signal");
                self.node_failed(node, attempt, why);
            }
        }
        true
    }
}
