//! `baton compare EXEC...`: several executions side by side, so that the
//! flavors of one pipeline are compared without a notebook: their plans,
//! labels and phases; their outputs (a list output, such as a learning
//! curve, one row per index); and, for each loop node of the launched
//! workflow, the scalar outputs of the nodes inside it, one row per
//! iteration.

use std::collections::{BTreeMap, BTreeSet};

use baton_model::Value;
use baton_proto::Execution;
use serde_json::{json, Value as Json};

use crate::client::{CliError, Client};
use crate::commands::{self, print_structured, Output};
use crate::render;

pub async fn compare(client: &mut Client, ids: &[String], output: Output) -> Result<(), CliError> {
    let mut executions = Vec::with_capacity(ids.len());
    for id in ids {
        executions.push(commands::fetch_execution(client, id).await?);
    }
    let views: Vec<View> = executions.iter().map(View::of).collect();
    match output {
        Output::Json | Output::Yaml => {
            let list: Vec<Json> = views.iter().map(View::json).collect();
            print_structured(output, &json!({ "executions": list }));
        }
        Output::Text => print!("{}", text(&views)),
    }
    Ok(())
}

/// What `compare` shows of one execution.
struct View {
    id: String,
    plan: String,
    labels: String,
    phase: &'static str,
    outputs: BTreeMap<String, Json>,
    /// Loop node -> per iteration, `node.output` -> value (scalars and
    /// everything else alike; the text shows the scalars).
    loops: BTreeMap<String, Vec<BTreeMap<String, Json>>>,
}

fn json_of(value: &baton_proto::Value) -> Json {
    Value::try_from(value).map_or(Json::Null, |v| v.to_json())
}

impl View {
    fn of(e: &Execution) -> View {
        let mut loops: BTreeMap<String, Vec<BTreeMap<String, Json>>> = BTreeMap::new();
        for node in e
            .nodes
            .iter()
            .filter(|n| n.depth == 0 && n.max_iterations > 0)
        {
            let iterations = (0..node.iterations)
                .map(|i| {
                    let prefix = format!("{}[{i}].", node.id);
                    e.nodes
                        .iter()
                        .filter_map(|n| Some((n.id.strip_prefix(&prefix)?, n)))
                        // Only the body's own nodes, not deeper ones.
                        .filter(|(rest, _)| !rest.contains(['.', '[']))
                        .flat_map(|(rest, n)| {
                            n.outputs
                                .iter()
                                .map(move |(name, v)| (format!("{rest}.{name}"), json_of(v)))
                        })
                        .collect()
                })
                .collect();
            loops.insert(node.id.clone(), iterations);
        }
        let mut labels: Vec<String> = e.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        View {
            id: e.id.clone(),
            plan: render::id(&e.launch_plan),
            labels: labels.join(","),
            phase: render::execution_phase(e.phase),
            outputs: e
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect(),
            loops,
        }
    }

    fn json(&self) -> Json {
        json!({
            "id": self.id,
            "launch_plan": (!self.plan.is_empty()).then_some(&self.plan),
            "labels": self.labels,
            "phase": self.phase,
            "outputs": self.outputs,
            "loops": self.loops,
        })
    }
}

/// A scalar as a table cell; `None` for what a table cannot show.
fn cell(value: &Json) -> Option<String> {
    match value {
        Json::Number(n) if n.is_f64() => n.as_f64().map(|f| format!("{f:.4}")),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::String(s) if s.chars().count() <= 24 => Some(s.clone()),
        _ => None,
    }
}

/// Rows of cells under a header of the executions' ids.
fn table(title: &str, views: &[View], rows: Vec<(String, Vec<String>)>) -> String {
    let first = rows
        .iter()
        .map(|r| r.0.len())
        .chain([title.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = views
        .iter()
        .enumerate()
        .map(|(i, v)| {
            rows.iter()
                .map(|r| r.1[i].len())
                .chain([v.id.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = format!("{title:<first$}");
    for (v, w) in views.iter().zip(&widths) {
        text += &format!("  {:>w$}", v.id);
    }
    text.push('\n');
    for (name, cells) in rows {
        text += &format!("{name:<first$}");
        for (c, w) in cells.iter().zip(&widths) {
            text += &format!("  {c:>w$}");
        }
        text.push('\n');
    }
    text
}

fn text(views: &[View]) -> String {
    let dash = || "-".to_string();
    let mut out = table(
        "",
        views,
        vec![
            (
                "plan".into(),
                views.iter().map(|v| or_dash(&v.plan)).collect(),
            ),
            (
                "labels".into(),
                views.iter().map(|v| or_dash(&v.labels)).collect(),
            ),
            (
                "phase".into(),
                views.iter().map(|v| v.phase.to_lowercase()).collect(),
            ),
        ],
    );
    // Scalar outputs in one table; each list output in its own, by index.
    let names: BTreeSet<&String> = views.iter().flat_map(|v| v.outputs.keys()).collect();
    let mut scalars = Vec::new();
    let mut lists = Vec::new();
    for name in names {
        let values: Vec<Option<&Json>> = views.iter().map(|v| v.outputs.get(name)).collect();
        if values.iter().flatten().all(|v| v.is_array()) {
            lists.push((name, values));
        } else {
            let cells = values
                .iter()
                .map(|v| v.and_then(cell).unwrap_or_else(dash))
                .collect();
            scalars.push((name.clone(), cells));
        }
    }
    if !scalars.is_empty() {
        out += &format!("\n{}", table("output", views, scalars));
    }
    for (name, values) in lists {
        let length = values
            .iter()
            .flatten()
            .filter_map(|v| v.as_array())
            .map(Vec::len)
            .max();
        let rows = (0..length.unwrap_or(0))
            .map(|i| {
                let cells = values
                    .iter()
                    .map(|v| v.and_then(|v| v.get(i)).and_then(cell).unwrap_or_else(dash))
                    .collect();
                (format!("[{i}]"), cells)
            })
            .collect();
        out += &format!("\n{}", table(name, views, rows));
    }
    // Per loop node: each scalar output of the nodes in its body, by iteration.
    let loop_names: BTreeSet<&String> = views.iter().flat_map(|v| v.loops.keys()).collect();
    for name in loop_names {
        let keys: BTreeSet<&String> = views
            .iter()
            .filter_map(|v| v.loops.get(name))
            .flatten()
            .flat_map(|iteration| iteration.iter())
            .filter(|(_, value)| cell(value).is_some())
            .map(|(k, _)| k)
            .collect();
        let iterations = views
            .iter()
            .filter_map(|v| v.loops.get(name).map(Vec::len))
            .max()
            .unwrap_or(0);
        for key in keys {
            let rows = (0..iterations)
                .map(|i| {
                    let cells = views
                        .iter()
                        .map(|v| {
                            v.loops
                                .get(name)
                                .and_then(|its| its.get(i))
                                .and_then(|it| it.get(key))
                                .and_then(cell)
                                .unwrap_or_else(dash)
                        })
                        .collect();
                    (format!("{name}[{i}]"), cells)
                })
                .collect();
            out += &format!("\n{}", table(&format!("{name}[i].{key}"), views, rows));
        }
    }
    out
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_owned()
    }
}
