//! Node paths: how the API, the CLI and events name one node instance.
//!
//! A path is the chain of node ids from the launched workflow down to the
//! instance, joined by `.`: `train` for a node of the launched workflow,
//! `prep.clean` for node `clean` of the workflow that node `prep` runs.
//! A segment may carry an index, `al[3]`, for the iterations of a loop and
//! the items of a map. Node ids may not contain `.`, `[` or `]` (the
//! compiler refuses them), so a path reads back unambiguously.

use std::fmt;

use baton_model::NodeKind;

use super::Registry;
use crate::state::Execution;

/// One step of a path: a node id, with an iteration or item index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub node: String,
    pub index: Option<u32>,
}

/// A parsed node path, e.g. `al[3].select`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePath(pub Vec<Segment>);

impl NodePath {
    /// Reads a path; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<NodePath, String> {
        if text.is_empty() {
            return Err("the node path is empty".into());
        }
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (node, index) = match part.split_once('[') {
                None => (part, None),
                Some((node, rest)) => {
                    let digits = rest.strip_suffix(']').ok_or_else(|| {
                        format!("node path `{text}`: `{part}` has `[` without a closing `]`")
                    })?;
                    let index = digits
                        .parse::<u32>()
                        .map_err(|_| format!("node path `{text}`: `[{digits}]` is not an index"))?;
                    (node, Some(index))
                }
            };
            if node.is_empty() || node.contains(']') {
                return Err(format!(
                    "node path `{text}`: expected node ids joined by `.` (`sub.node`, `loop[3].node`)"
                ));
            }
            segments.push(Segment {
                node: node.to_owned(),
                index,
            });
        }
        Ok(NodePath(segments))
    }
}

impl fmt::Display for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&segment.node)?;
            if let Some(index) = segment.index {
                write!(f, "[{index}]")?;
            }
        }
        Ok(())
    }
}

/// The path of instance `node` of `execution`; `#N` when the instance is
/// unknown.
pub fn path_of(registry: &Registry<'_>, execution: &Execution, node: u32) -> String {
    let Some(located) = registry.locate(execution, node) else {
        return format!("#{node}");
    };
    let id = &located.node().id;
    let Some(frame) = execution.frames.get(located.frame as usize) else {
        return id.clone();
    };
    match frame.owner {
        None => id.clone(),
        Some(owner) => {
            let mut path = path_of(registry, execution, owner);
            if let Some(item) = located.item {
                // A map's item: the map's path and the item's index.
                path.push_str(&format!("[{item}]"));
                return path;
            }
            if is_loop(registry, execution, owner) {
                path.push_str(&format!("[{}]", frame.index));
            }
            path.push('.');
            path.push_str(id);
            path
        }
    }
}

/// An instance's path without loop iteration and map item indices
/// (`iterate.select` for `iterate[3].select`, `score` for `score[17]`): the
/// path a launch plan's node overrides name.
pub fn static_path(registry: &Registry<'_>, execution: &Execution, node: u32) -> String {
    let path = path_of(registry, execution, node);
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The launch plan's override of instance `node`, if its plan has one for
/// the instance's path.
pub fn override_of<'e>(
    registry: &Registry<'_>,
    execution: &'e Execution,
    node: u32,
) -> Option<&'e baton_model::NodeOverride> {
    let plan = execution.plan.as_ref()?;
    if plan.overrides.is_empty() {
        return None;
    }
    plan.overrides.get(&static_path(registry, execution, node))
}

/// For a map instance: `Some` of its items' first instance and count once
/// it has started; `None` for any other instance.
fn map_items(
    registry: &Registry<'_>,
    execution: &Execution,
    node: u32,
) -> Option<Option<(u32, u32)>> {
    let located = registry.locate(execution, node)?;
    if !matches!(located.node().kind, NodeKind::Map(_)) {
        return None;
    }
    Some(execution.frame_run_by(node).and_then(|frame| {
        let entry = &execution.frames[frame as usize];
        Some((entry.first, entry.items?))
    }))
}

fn is_loop(registry: &Registry<'_>, execution: &Execution, node: u32) -> bool {
    registry
        .locate(execution, node)
        .is_some_and(|l| matches!(l.node().kind, NodeKind::Loop(_)))
}

/// The depth of instance `node`: 0 for the launched workflow's own nodes.
pub fn depth_of(execution: &Execution, node: u32) -> u32 {
    let mut depth = 0;
    let mut at = node;
    while let Some(owner) = execution
        .frames
        .get(execution.frame_of(at) as usize)
        .and_then(|f| f.owner)
    {
        depth += 1;
        at = owner;
    }
    depth
}

/// The instance a path names, or why there is none.
pub fn resolve(registry: &Registry<'_>, execution: &Execution, text: &str) -> Result<u32, String> {
    // A launch held at its project's cap has laid nothing out yet.
    if execution.frames.is_empty() {
        return Err(format!(
            "execution `{}` has not started: no node of it exists yet",
            execution.id
        ));
    }
    // A node of the launched workflow: the common case, with no parsing.
    if !text.contains(['.', '[']) {
        let workflow = registry
            .frame_workflow(execution, 0)
            .ok_or_else(|| format!("the workflow of `{}` is missing", execution.id))?;
        return workflow
            .node_index(text)
            .ok_or_else(|| format!("execution `{}` has no node `{text}`", execution.id));
    }
    let path = NodePath::parse(text)?;
    let mut frame = 0;
    let mut instance = 0;
    let mut index = None;
    for (depth, segment) in path.0.iter().enumerate() {
        if depth > 0 {
            let above = NodePath(path.0[..depth].to_vec());
            frame = match index {
                // The latest run of that iteration (a retried one has several).
                Some(i) => execution
                    .frames
                    .iter()
                    .rposition(|f| f.owner == Some(instance) && f.index == i)
                    .map(|f| f as u32)
                    .ok_or_else(|| format!("node path `{text}`: `{above}` has not started yet"))?,
                None if map_items(registry, execution, instance).is_some() => {
                    return Err(format!(
                        "node path `{text}`: `{above}` is a map; name an item: `{above}[N]`"
                    ))
                }
                None if is_loop(registry, execution, instance) => {
                    return Err(format!(
                    "node path `{text}`: `{above}` is a loop; name an iteration: `{above}[N].{}`",
                    segment.node
                ))
                }
                None => execution.frame_run_by(instance).ok_or_else(|| {
                    format!("node path `{text}`: `{above}` has not started a workflow yet")
                })?,
            };
        }
        let workflow = registry
            .frame_workflow(execution, frame)
            .ok_or_else(|| format!("the workflow of `{}` is missing", execution.id))?;
        let local = workflow.node_index(&segment.node).ok_or_else(|| {
            format!(
                "execution `{}` has no node `{}` (in `{text}`)",
                execution.id,
                NodePath(path.0[..=depth].to_vec())
            )
        })?;
        let first = execution.frames.get(frame as usize).map_or(0, |f| f.first);
        instance = first + local;
        index = segment.index;
        if let Some(i) = index {
            if let Some(items) = map_items(registry, execution, instance) {
                // A map's item is the instance the index names.
                let (first, count) = items.ok_or_else(|| {
                    format!(
                        "node path `{text}`: map `{}` has not started yet",
                        segment.node
                    )
                })?;
                if i >= count {
                    return Err(format!(
                        "node path `{text}`: map `{}` has {count} items; `[{i}]` is not one",
                        segment.node
                    ));
                }
                instance = first + i;
                index = None;
            } else if !is_loop(registry, execution, instance) {
                return Err(format!(
                    "node path `{text}`: `{}` is not a loop or a map; it takes no index",
                    segment.node
                ));
            }
        }
    }
    if let Some(i) = index {
        return Err(format!(
            "node path `{text}`: `[{i}]` names an iteration, not a node; name one of its nodes: `{text}.NODE`"
        ));
    }
    Ok(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_back_as_written() {
        for text in [
            "train",
            "prep.clean",
            "al[3].select",
            "score[17]",
            "a.b[0].c",
        ] {
            assert_eq!(NodePath::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_bad_path_says_what_is_wrong() {
        assert!(NodePath::parse("").unwrap_err().contains("empty"));
        assert!(NodePath::parse("a..b")
            .unwrap_err()
            .contains("joined by `.`"));
        assert!(NodePath::parse("al[3").unwrap_err().contains("closing"));
        assert!(NodePath::parse("al[x]")
            .unwrap_err()
            .contains("not an index"));
    }
}
