//! The registry from the command line: `baton versions ID` (newest first,
//! with registration times), `baton describe ID[@V]` (the stored spec, in
//! the YAML form it registers in, its references pinned), and `baton diff
//! ID@V1 ID@V2` (what differs between two versions, field by field).

use baton_model::spec::{launch_plan_document, task_document, workflow_document};
use baton_model::{Identifier, LaunchPlanSpec, TaskSpec, WorkflowSpec};
use baton_proto::{describe_response, DescribeRequest, ListVersionsRequest, VersionInfo};
use serde_json::{json, Value as Json};

use crate::client::{CliError, Client};
use crate::commands::{print_structured, Output};
use crate::render;

fn parse_id(text: &str) -> Result<Identifier, CliError> {
    Identifier::parse(text).map_err(|e| CliError::BadInput(e.to_string()))
}

fn kind_filter(kind: Option<Kind>) -> String {
    match kind {
        Some(Kind::Task) => "task".into(),
        Some(Kind::Workflow) => "workflow".into(),
        Some(Kind::LaunchPlan) => "launch-plan".into(),
        None => String::new(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Task,
    Workflow,
    LaunchPlan,
}

fn registered_at(info: &VersionInfo) -> String {
    match info.registered_at_ms {
        0 => "-".into(),
        ms => render::timestamp(ms),
    }
}

fn info_json(info: &VersionInfo) -> Json {
    json!({
        "kind": info.kind,
        "id": render::id(&info.id),
        "version": info.id.as_ref().map(|i| i.version.clone()).unwrap_or_default(),
        "registered_at": (info.registered_at_ms > 0).then(|| render::timestamp(info.registered_at_ms)),
        "latest": info.latest,
    })
}

pub async fn versions(
    client: &mut Client,
    id: &str,
    kind: Option<Kind>,
    output: Output,
) -> Result<(), CliError> {
    let id = parse_id(id)?;
    let request = ListVersionsRequest {
        id: Some((&id).into()),
        kind: kind_filter(kind),
    };
    let response = client
        .call(request, |mut a, r| async move { a.list_versions(r).await })
        .await?;
    if output != Output::Text {
        let list = response.versions.iter().map(info_json).collect();
        print_structured(output, &Json::Array(list));
        return Ok(());
    }
    let width = response
        .versions
        .iter()
        .map(|v| v.id.as_ref().map_or(0, |i| i.version.len()) + 9)
        .max()
        .unwrap_or(7)
        .max(7);
    println!("{:<width$}  {:<8}  REGISTERED", "VERSION", "KIND");
    for info in &response.versions {
        let mut version = info
            .id
            .as_ref()
            .map(|i| i.version.clone())
            .unwrap_or_default();
        if info.latest {
            version.push_str(" (latest)");
        }
        println!(
            "{version:<width$}  {:<8}  {}",
            info.kind,
            registered_at(info)
        );
    }
    Ok(())
}

/// A registered version, as stored.
struct Described {
    info: VersionInfo,
    spec: Spec,
}

enum Spec {
    Task(TaskSpec),
    Workflow(WorkflowSpec),
    LaunchPlan(LaunchPlanSpec),
}

impl Described {
    /// The spec in the YAML form it registers in.
    fn document(&self) -> serde_yaml_ng::Value {
        match &self.spec {
            Spec::Task(t) => task_document(t),
            Spec::Workflow(w) => workflow_document(w),
            Spec::LaunchPlan(p) => launch_plan_document(p),
        }
    }

    fn id(&self) -> Identifier {
        match &self.spec {
            Spec::Task(t) => t.id.clone(),
            Spec::Workflow(w) => w.id.clone(),
            Spec::LaunchPlan(p) => p.id.clone(),
        }
    }

    /// Every task and workflow a workflow's nodes run, at the version
    /// registration resolved (an omitted version or `@latest` included).
    fn references(&self) -> Vec<(String, String)> {
        let w = match &self.spec {
            Spec::Workflow(w) => w,
            Spec::LaunchPlan(p) => {
                let mut refs = vec![("(plan)".to_owned(), p.workflow.to_string())];
                for (path, o) in &p.overrides {
                    if let Some(target) = o.task.as_ref().or(o.workflow.as_ref()) {
                        refs.push((path.clone(), target.to_string()));
                    }
                }
                return refs;
            }
            Spec::Task(_) => return Vec::new(),
        };
        w.nodes
            .iter()
            .flat_map(|n| {
                n.kind
                    .targets()
                    .into_iter()
                    .map(|t| (n.id.clone(), t.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

async fn fetch(client: &mut Client, id: &str, kind: Option<Kind>) -> Result<Described, CliError> {
    let id = parse_id(id)?;
    let request = DescribeRequest {
        id: Some((&id).into()),
        kind: kind_filter(kind),
    };
    let response = client
        .call(request, |mut a, r| async move { a.describe(r).await })
        .await?;
    let bad =
        |why: String| CliError::Refused(format!("the scheduler's answer is not usable: {why}"));
    let spec = match response.spec {
        Some(describe_response::Spec::Task(t)) => {
            Spec::Task(TaskSpec::try_from(&t).map_err(|e| bad(e.to_string()))?)
        }
        Some(describe_response::Spec::Workflow(w)) => {
            Spec::Workflow(WorkflowSpec::try_from(&w).map_err(|e| bad(e.to_string()))?)
        }
        Some(describe_response::Spec::LaunchPlan(p)) => {
            Spec::LaunchPlan(LaunchPlanSpec::try_from(&p).map_err(|e| bad(e.to_string()))?)
        }
        None => return Err(bad("no spec".into())),
    };
    Ok(Described {
        info: response.version.unwrap_or_default(),
        spec,
    })
}

pub async fn describe(
    client: &mut Client,
    id: &str,
    kind: Option<Kind>,
    output: Output,
) -> Result<(), CliError> {
    let described = fetch(client, id, kind).await?;
    let document = described.document();
    match output {
        // Exactly the spec: `baton describe X -o yaml > x.yaml` registers it again.
        Output::Yaml => print!(
            "{}",
            serde_yaml_ng::to_string(&document).unwrap_or_default()
        ),
        Output::Json => {
            let references: Vec<Json> = described
                .references()
                .into_iter()
                .map(|(node, target)| json!({"node": node, "runs": target}))
                .collect();
            let mut out = info_json(&described.info);
            out["spec"] = serde_json::to_value(&document).unwrap_or(Json::Null);
            out["references"] = Json::Array(references);
            print_structured(output, &out);
        }
        Output::Text => {
            let info = &described.info;
            let latest = if info.latest { ", the latest" } else { "" };
            println!(
                "# {} {}, registered {}{latest}",
                info.kind,
                described.id(),
                registered_at(info)
            );
            for (node, target) in described.references() {
                println!("# node {node} runs {target}");
            }
            print!(
                "{}",
                serde_yaml_ng::to_string(&document).unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// One difference between two documents, at a path (`nodes[select].task`).
#[derive(Debug, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

/// The differences between two documents: mappings field by field, lists
/// of mappings with an `id` (nodes, cases) item by item, anything else whole.
pub fn differences(old: &Json, new: &Json) -> Vec<Change> {
    let mut changes = Vec::new();
    compare("", old, new, &mut changes);
    changes
}

fn keyed(items: &[Json]) -> Option<Vec<(String, &Json)>> {
    items
        .iter()
        .map(|item| Some((item.get("id")?.as_str()?.to_owned(), item)))
        .collect()
}

fn compare(path: &str, old: &Json, new: &Json, changes: &mut Vec<Change>) {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (old, new) {
        (Json::Object(a), Json::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => compare(&at(key), value, other, changes),
                    None => changes.push(Change {
                        path: at(key),
                        old: Some(value.clone()),
                        new: None,
                    }),
                }
            }
            for (key, value) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                changes.push(Change {
                    path: at(key),
                    old: None,
                    new: Some(value.clone()),
                });
            }
        }
        (Json::Array(a), Json::Array(b)) => match (keyed(a), keyed(b)) {
            (Some(a), Some(b)) => {
                for (id, item) in &a {
                    let place = format!("{path}[{id}]");
                    match b.iter().find(|(other, _)| other == id) {
                        Some((_, other)) => compare(&place, item, other, changes),
                        None => changes.push(Change {
                            path: place,
                            old: Some((*item).clone()),
                            new: None,
                        }),
                    }
                }
                for (id, item) in b.iter().filter(|(id, _)| !a.iter().any(|(o, _)| o == id)) {
                    changes.push(Change {
                        path: format!("{path}[{id}]"),
                        old: None,
                        new: Some((*item).clone()),
                    });
                }
            }
            _ if a != b => changes.push(Change {
                path: path.to_owned(),
                old: Some(old.clone()),
                new: Some(new.clone()),
            }),
            _ => {}
        },
        _ if old != new => changes.push(Change {
            path: path.to_owned(),
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
        _ => {}
    }
}

fn short(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn diff(
    client: &mut Client,
    first: &str,
    second: &str,
    kind: Option<Kind>,
    output: Output,
) -> Result<(), CliError> {
    let (a, b) = (parse_id(first)?, parse_id(second)?);
    if a.unversioned() != b.unversioned() {
        return Err(CliError::BadInput(format!(
            "diff compares two versions of one task or workflow; `{}` and `{}` are different ids",
            a.unversioned(),
            b.unversioned()
        )));
    }
    let old = fetch(client, first, kind).await?;
    let new = fetch(client, second, kind).await?;
    if old.info.kind != new.info.kind {
        return Err(CliError::BadInput(format!(
            "`{first}` is a {} and `{second}` a {}: say which with --kind",
            old.info.kind, new.info.kind
        )));
    }
    let as_json = |d: &Described| {
        let mut doc = serde_json::to_value(d.document()).unwrap_or(Json::Null);
        // The versions differ by definition; they head the output.
        if let Some(map) = doc.as_object_mut() {
            map.remove("version");
        }
        doc
    };
    let changes = differences(&as_json(&old), &as_json(&new));
    if output != Output::Text {
        let list: Vec<Json> = changes
            .iter()
            .map(|c| {
                let change = match (&c.old, &c.new) {
                    (None, _) => "added",
                    (_, None) => "removed",
                    _ => "changed",
                };
                json!({"path": c.path, "change": change, "old": c.old, "new": c.new})
            })
            .collect();
        let out =
            json!({"old": old.id().to_string(), "new": new.id().to_string(), "changes": list});
        print_structured(output, &out);
        return Ok(());
    }
    println!("--- {}", old.id());
    println!("+++ {}", new.id());
    if changes.is_empty() {
        println!("(the same content)");
    }
    for change in &changes {
        match (&change.old, &change.new) {
            (None, Some(new)) => println!("+ {}: {}", change.path, short(new)),
            (Some(old), None) => println!("- {}: {}", change.path, short(old)),
            (Some(old), Some(new)) => {
                println!("~ {}: {} -> {}", change.path, short(old), short(new))
            }
            (None, None) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_nodes_by_id_and_fields_by_path() {
        let old = json!({
            "interface": {"inputs": {"k": "int"}},
            "nodes": [
                {"id": "train", "task": "t@v1"},
                {"id": "select", "task": "s@v1", "inputs": {"k": "${inputs.k}"}},
            ],
        });
        let new = json!({
            "interface": {"inputs": {"k": "float", "seed": "int"}},
            "nodes": [
                {"id": "train", "task": "t@v1"},
                {"id": "select", "task": "s@v2", "inputs": {"k": 3}},
                {"id": "label", "task": "l@v1"},
            ],
        });
        let changes = differences(&old, &new);
        let paths: Vec<(&str, bool, bool)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.old.is_some(), c.new.is_some()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("interface.inputs.k", true, true),
                ("interface.inputs.seed", false, true),
                ("nodes[select].inputs.k", true, true),
                ("nodes[select].task", true, true),
                ("nodes[label]", false, true),
            ]
        );
        assert!(differences(&old, &old).is_empty());
    }
}
