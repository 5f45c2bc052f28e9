//! How executions, events, tasks and workflows look on a terminal and in
//! `-o json`.

use std::collections::HashMap;

use baton_model::{Identifier, Value};
use baton_proto::{Execution, ExecutionEvent, ExecutionPhase, NodePhase};
use serde_json::{json, Value as Json};

pub fn execution_phase(phase: i32) -> &'static str {
    match ExecutionPhase::try_from(phase).unwrap_or(ExecutionPhase::Unspecified) {
        ExecutionPhase::ExecutionRunning => "RUNNING",
        ExecutionPhase::ExecutionSucceeded => "SUCCEEDED",
        ExecutionPhase::ExecutionFailed => "FAILED",
        ExecutionPhase::ExecutionCancelled => "CANCELLED",
        ExecutionPhase::ExecutionQueued => "QUEUED",
        ExecutionPhase::Unspecified => "UNKNOWN",
    }
}

pub fn node_phase(phase: i32) -> &'static str {
    match NodePhase::try_from(phase).unwrap_or(NodePhase::Unspecified) {
        NodePhase::NodePending => "PENDING",
        NodePhase::NodeQueued => "QUEUED",
        NodePhase::NodeRunning => "RUNNING",
        NodePhase::NodeSucceeded => "SUCCEEDED",
        NodePhase::NodeFailed => "FAILED",
        NodePhase::NodeSkipped => "SKIPPED",
        NodePhase::NodeCancelled => "CANCELLED",
        NodePhase::Unspecified => "UNKNOWN",
    }
}

/// Unix milliseconds as an RFC 3339 time, to the second.
pub fn timestamp(ms: u64) -> String {
    let seconds = (ms / 1000) as i64 * 1_000_000_000;
    baton_model::value::format_datetime(seconds)
}

/// A node's phase as shown: CACHED for a success served from the cache.
pub fn status_phase(n: &baton_proto::NodeStatus) -> &'static str {
    if n.recovered {
        "RECOVERED"
    } else if n.cached {
        "CACHED"
    } else {
        node_phase(n.phase)
    }
}

pub fn id(id: &Option<baton_proto::Identifier>) -> String {
    id.as_ref()
        .map(|i| Identifier::from(i).to_string())
        .unwrap_or_default()
}

fn values_json(values: &HashMap<String, baton_proto::Value>) -> Json {
    let mut sorted: Vec<_> = values.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    Json::Object(
        sorted
            .into_iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::try_from(v)
                        .map(|v| v.to_json())
                        .unwrap_or(Json::Null),
                )
            })
            .collect(),
    )
}

fn time(ms: u64) -> Json {
    if ms == 0 {
        return Json::Null;
    }
    Json::String(baton_model::value::format_datetime(ms as i64 * 1_000_000))
}

pub fn execution_json(e: &Execution) -> Json {
    json!({
        "id": e.id,
        "workflow": id(&e.workflow),
        "phase": execution_phase(e.phase),
        "inputs": values_json(&e.inputs),
        "outputs": values_json(&e.outputs),
        "error": e.error,
        "waiting": (!e.waiting.is_empty()).then_some(&e.waiting),
        "pool": e.pool,
        "launch_plan": e.launch_plan.as_ref().map(|p| Identifier::from(p).to_string()),
        "recovers": (!e.origin.is_empty() && !e.relaunch).then(|| e.origin.clone()),
        "relaunches": (!e.origin.is_empty() && e.relaunch).then(|| e.origin.clone()),
        "labels": e.labels,
        "overrides": overrides_json(&e.overrides),
        "trace_id": (!e.trace_id.is_empty()).then_some(&e.trace_id),
        "created_at": time(e.created_at_ms),
        "finished_at": time(e.finished_at_ms),
        "nodes": e.nodes.iter().map(|n| json!({
            "id": n.id,
            "depth": n.depth,
            "task": id(&n.task),
            "workflow": id(&n.workflow),
            "iterations": n.iterations,
            "max_iterations": n.max_iterations,
            "items": n.items,
            "items_succeeded": n.items_succeeded,
            "items_running": n.items_running,
            "items_failed": n.items_failed,
            "phase": status_phase(n),
            "cached": n.cached,
            "recovered": n.recovered,
            "attempt": n.attempt,
            "executor": n.executor,
            "pool": n.pool,
            "selector": (!n.selector.is_empty()).then_some(&n.selector),
            "waiting": (!n.waiting.is_empty()).then_some(&n.waiting),
            "gate": n.gate.as_ref().map(gate_json),
            "error": n.error,
            "outputs": values_json(&n.outputs),
            "started_at": time(n.started_at_ms),
            "finished_at": time(n.finished_at_ms),
        })).collect::<Vec<_>>(),
    })
}

/// What a gate instance shows and what its signal carries.
fn gate_json(g: &baton_proto::GateStatus) -> Json {
    json!({
        "inputs": values_json(&g.inputs),
        "signal": g.signal.iter().map(|v| (v.name.clone(), Json::from(v.r#type.clone()))).collect::<serde_json::Map<_, _>>(),
        "deadline": time(g.deadline_ms),
        "timeout": (g.timeout_ms > 0).then(|| baton_model::value::format_duration(g.timeout_ms.saturating_mul(1_000_000).min(i64::MAX as u64) as i64)),
        "on_timeout": (g.timeout_ms > 0).then_some(if g.continue_on_timeout { "continue" } else { "fail" }),
    })
}

/// A launch plan's node overrides: path -> what it changes.
fn overrides_json(overrides: &HashMap<String, baton_proto::NodeOverride>) -> Json {
    let mut sorted: Vec<_> = overrides.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    Json::Object(
        sorted
            .into_iter()
            .map(|(path, o)| (path.clone(), json!(override_words(o))))
            .collect(),
    )
}

/// `task ml/development/select@margin, retries 3, pool gpu`.
pub fn override_words(o: &baton_proto::NodeOverride) -> String {
    let mut parts = Vec::new();
    if let Some(task) = &o.task {
        parts.push(format!("task {}", Identifier::from(task)));
    }
    if let Some(workflow) = &o.workflow {
        parts.push(format!("workflow {}", Identifier::from(workflow)));
    }
    if let Some(retries) = o.retries {
        parts.push(format!("retries {retries}"));
    }
    if let Some(ms) = o.timeout_ms {
        parts.push(format!(
            "timeout {}",
            baton_model::value::format_duration(ms as i64 * 1_000_000)
        ));
    }
    if let Some(pool) = &o.pool {
        parts.push(format!("pool {pool}"));
    }
    parts.join(", ")
}

/// `name = value` lines, sorted by name.
pub fn values_text(values: &HashMap<String, baton_proto::Value>, indent: &str) -> String {
    let mut sorted: Vec<_> = values.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (name, value) in sorted {
        let shown = Value::try_from(value)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| "?".into());
        out.push_str(&format!("{indent}{name} = {shown}\n"));
    }
    out
}

pub fn execution_text(e: &Execution) -> String {
    let mut out = String::new();
    out.push_str(&format!("execution  {}\n", e.id));
    out.push_str(&format!("workflow   {}\n", id(&e.workflow)));
    if !e.origin.is_empty() {
        let how = if e.relaunch { "relaunches" } else { "recovers" };
        out.push_str(&format!("{how:<10} {}\n", e.origin));
    }
    if e.launch_plan.is_some() {
        out.push_str(&format!("plan       {}\n", id(&e.launch_plan)));
        let mut labels: Vec<_> = e.labels.iter().collect();
        labels.sort();
        if !labels.is_empty() {
            let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("labels     {}\n", text.join(",")));
        }
        let mut overrides: Vec<_> = e.overrides.iter().collect();
        overrides.sort_by(|a, b| a.0.cmp(b.0));
        for (path, o) in overrides {
            out.push_str(&format!("override   {path}: {}\n", override_words(o)));
        }
    }
    out.push_str(&format!("phase      {}\n", execution_phase(e.phase)));
    if !e.trace_id.is_empty() {
        out.push_str(&format!("trace      {}\n", e.trace_id));
    }
    if !e.waiting.is_empty() {
        out.push_str(&format!("           {}\n", e.waiting));
    }
    if let Some(Json::String(t)) = Some(time(e.created_at_ms)) {
        out.push_str(&format!("created    {t}\n"));
    }
    if e.finished_at_ms > 0 {
        let took = e.finished_at_ms.saturating_sub(e.created_at_ms);
        out.push_str(&format!("took       {:.3}s\n", took as f64 / 1000.0));
    }
    if !e.error.is_empty() {
        out.push_str(&format!("error      {}\n", e.error));
    }
    if !e.inputs.is_empty() {
        out.push_str("inputs\n");
        out.push_str(&values_text(&e.inputs, "  "));
    }
    if !e.outputs.is_empty() {
        out.push_str("outputs\n");
        out.push_str(&values_text(&e.outputs, "  "));
    }
    if !e.nodes.is_empty() {
        let shown =
            |n: &baton_proto::NodeStatus| format!("{}{}", "  ".repeat(n.depth as usize), n.id);
        let width = e
            .nodes
            .iter()
            .map(|n| shown(n).len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "nodes\n  {:<width$}  {:<9}  {:>7}  {:>9}  EXECUTOR\n",
            "NODE", "PHASE", "ATTEMPT", "SECONDS"
        ));
        for n in &e.nodes {
            let secs = if n.finished_at_ms > 0 && n.started_at_ms > 0 {
                format!(
                    "{:.3}",
                    n.finished_at_ms.saturating_sub(n.started_at_ms) as f64 / 1000.0
                )
            } else {
                "-".into()
            };
            out.push_str(&format!(
                "  {:<width$}  {:<9}  {:>7}  {:>9}  {}\n",
                shown(n),
                status_phase(n),
                n.attempt,
                secs,
                if n.max_iterations > 0 {
                    format!(
                        "{} of at most {} iterations",
                        n.iterations, n.max_iterations
                    )
                } else if n.items > 0 {
                    format!(
                        "{}/{} items done, {} running, {} failed",
                        n.items_succeeded, n.items, n.items_running, n.items_failed
                    )
                } else {
                    n.executor.clone()
                }
            ));
            if !n.error.is_empty() {
                out.push_str(&format!("  {:<width$}  error: {}\n", "", n.error));
            }
            if !n.waiting.is_empty() {
                out.push_str(&format!("  {:<width$}  {}\n", "", n.waiting));
            }
            if let Some(gate) = n.gate.as_ref().filter(|_| !n.waiting.is_empty()) {
                let indent = format!("  {:<width$}  shows ", "");
                out.push_str(&values_text(&gate.inputs, &indent));
                if gate.deadline_ms > 0 {
                    let then = match gate.continue_on_timeout {
                        true => "continues with its on_timeout signal",
                        false => "fails",
                    };
                    out.push_str(&format!(
                        "  {:<width$}  at {} it {then}\n",
                        "",
                        timestamp(gate.deadline_ms)
                    ));
                }
            }
        }
    }
    out
}

pub fn event_json(e: &ExecutionEvent) -> Json {
    json!({
        "seq": e.seq,
        "time": time(e.time_ms),
        "execution": e.execution_id,
        "node": if e.node_id.is_empty() { Json::Null } else { Json::String(e.node_id.clone()) },
        "phase": if e.node_id.is_empty() { execution_phase(e.execution_phase) } else { node_phase(e.node_phase) },
        "attempt": e.attempt,
        "message": e.message,
    })
}

/// One line per event, with the time since `start_ms`.
pub fn event_text(e: &ExecutionEvent, start_ms: u64) -> String {
    let elapsed = e.time_ms.saturating_sub(start_ms) as f64 / 1000.0;
    let (subject, phase) = if e.node_id.is_empty() {
        (
            format!("execution {}", e.execution_id),
            execution_phase(e.execution_phase),
        )
    } else {
        // Only a cached result succeeds a node without an attempt.
        let cached = e.node_phase == NodePhase::NodeSucceeded as i32 && e.attempt == 0;
        let phase = if cached {
            "CACHED"
        } else {
            node_phase(e.node_phase)
        };
        (e.node_id.clone(), phase)
    };
    let mut line = format!("[{elapsed:>8.3}s] {subject:<20} {phase:<9}");
    if e.attempt > 0 && !e.node_id.is_empty() {
        line.push_str(&format!(" attempt {}", e.attempt));
    }
    if !e.message.is_empty() {
        line.push_str(&format!("  {}", e.message));
    }
    line
}

pub fn interface_text(i: &Option<baton_proto::Interface>) -> String {
    let Some(i) = i else { return "() -> ()".into() };
    let side = |vars: &[baton_proto::Variable]| {
        vars.iter()
            .map(|v| format!("{}: {}", v.name, v.r#type))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", side(&i.inputs), side(&i.outputs))
}

pub fn interface_json(i: &Option<baton_proto::Interface>) -> Json {
    let Some(i) = i else {
        return json!({"inputs": {}, "outputs": {}});
    };
    let side = |vars: &[baton_proto::Variable]| {
        Json::Object(
            vars.iter()
                .map(|v| (v.name.clone(), Json::String(v.r#type.clone())))
                .collect(),
        )
    };
    json!({"inputs": side(&i.inputs), "outputs": side(&i.outputs)})
}
