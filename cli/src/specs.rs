//! `baton register FILE...`: spec files read and sent as one request, and a
//! refusal shown at the file, line and field each problem is about (the
//! scheduler names the task or workflow by its index in the request, the
//! node and the field; this module knows which document each came from).

use std::path::PathBuf;
use std::sync::Arc;

use baton_model::spec::{parse_yaml_indexed, Locations, SpecDocument};
use baton_proto::{Problem, RegisterRequest};

use crate::client::{CliError, Client};
use crate::render;

/// Where one task or workflow of a request was written.
struct Source {
    file: String,
    locations: Arc<Locations>,
    /// Its YAML document, from 0.
    document: usize,
    /// `Task `name`` or `Workflow `name``.
    what: String,
    /// A workflow's node ids, in order.
    nodes: Vec<String>,
}

/// Spec files read into one request, with where each item came from.
pub struct Specs {
    pub request: RegisterRequest,
    tasks: Vec<Source>,
    workflows: Vec<Source>,
    launch_plans: Vec<Source>,
}

/// Reads and parses spec files; nothing is sent if any of them is bad.
pub fn read_specs(files: &[PathBuf]) -> Result<Specs, CliError> {
    let mut specs = Specs {
        request: RegisterRequest::default(),
        tasks: Vec::new(),
        workflows: Vec::new(),
        launch_plans: Vec::new(),
    };
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::BadInput(format!("cannot read {}: {e}", file.display())))?;
        let name = file.display().to_string();
        let documents =
            parse_yaml_indexed(&text, &name).map_err(|e| CliError::BadInput(e.to_string()))?;
        let locations = Arc::new(Locations::of(&text));
        for (document, spec) in documents {
            let source = |what: String, nodes: Vec<String>| Source {
                file: name.clone(),
                locations: locations.clone(),
                document,
                what,
                nodes,
            };
            match spec {
                SpecDocument::Task(t) => {
                    specs
                        .tasks
                        .push(source(format!("Task `{}`", t.id.name), Vec::new()));
                    specs.request.tasks.push((&t).into());
                }
                SpecDocument::Workflow(w) => {
                    let nodes = w.nodes.iter().map(|n| n.id.clone()).collect();
                    specs
                        .workflows
                        .push(source(format!("Workflow `{}`", w.id.name), nodes));
                    specs.request.workflows.push((&w).into());
                }
                SpecDocument::LaunchPlan(p) => {
                    specs
                        .launch_plans
                        .push(source(format!("LaunchPlan `{}`", p.id.name), Vec::new()));
                    specs.request.launch_plans.push((&p).into());
                }
            }
        }
    }
    if specs.request.tasks.is_empty()
        && specs.request.workflows.is_empty()
        && specs.request.launch_plans.is_empty()
    {
        return Err(CliError::BadInput(
            "the files hold no Task, Workflow or LaunchPlan documents".into(),
        ));
    }
    Ok(specs)
}

pub async fn register(client: &mut Client, specs: Specs, quiet: bool) -> Result<(), CliError> {
    let Specs {
        request,
        tasks,
        workflows,
        launch_plans,
    } = specs;
    let response = client
        .call(request, |mut a, r| async move { a.register(r).await })
        .await
        .map_err(|e| at_sources(e, &[&tasks, &workflows, &launch_plans]))?;
    if !quiet {
        for item in response.registered {
            let what = if item.created {
                "registered"
            } else {
                "unchanged "
            };
            println!("{what} {:<8} {}", item.kind, render::id(&item.id));
        }
    }
    Ok(())
}

/// Each problem of a refused registration at its file and line.
/// `sources`: the request's tasks, workflows and launch plans.
fn at_sources(error: CliError, sources: &[&Vec<Source>; 3]) -> CliError {
    let [tasks, workflows, launch_plans] = sources;
    let CliError::Rejected { message, problems } = error else {
        return error;
    };
    let placed: Vec<String> = problems
        .iter()
        .map(|p| {
            let source = match p.item.as_str() {
                "task" => tasks.get(p.index as usize),
                "workflow" => workflows.get(p.index as usize),
                "launch_plan" => launch_plans.get(p.index as usize),
                _ => None,
            };
            match source {
                Some(source) => source.place(p),
                None => p.message.clone(),
            }
        })
        .collect();
    let message = if placed.is_empty() {
        message
    } else {
        placed.join("\n")
    };
    CliError::Rejected { message, problems }
}

impl Source {
    /// `file:line:col: document N (Workflow `w`, field `nodes[2].inputs.x`): message`.
    fn place(&self, problem: &Problem) -> String {
        let path = self.path_of(problem);
        let at = match self.locations.find(self.document, &path) {
            Some((line, column)) => format!("{}:{line}:{column}", self.file),
            None => self.file.clone(),
        };
        let field = if path.is_empty() {
            String::new()
        } else {
            format!(", field `{path}`")
        };
        format!(
            "{at}: document {} ({}{field}): {}",
            self.document + 1,
            self.what,
            problem.message
        )
    }

    /// The problem's place as a path in the YAML document: the node's entry
    /// and the field, trying where each kind of node writes its inputs.
    fn path_of(&self, problem: &Problem) -> String {
        let mut base = String::new();
        if !problem.node.is_empty() {
            if let Some(i) = self.nodes.iter().position(|n| *n == problem.node) {
                base = format!("nodes[{i}]");
            }
        }
        if problem.field.is_empty() {
            return base;
        }
        let join = |prefix: &str| match (base.is_empty(), prefix.is_empty()) {
            (true, _) => format!("{}{}", problem.field, problem.path),
            (false, true) => format!("{base}.{}{}", problem.field, problem.path),
            (false, false) => format!("{base}.{prefix}.{}{}", problem.field, problem.path),
        };
        let candidates = ["", "map", "branch", "loop"].map(join);
        candidates
            .iter()
            .find(|path| {
                // The field itself (a value path may not be written out).
                let field = path.strip_suffix(problem.path.as_str()).unwrap_or(path);
                self.locations.contains(self.document, field)
            })
            .cloned()
            .unwrap_or_else(|| candidates[0].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_proto::ProblemCode;

    const FILE: &str = "\
kind: Task
name: t
runner: {builtin: noop}
---
kind: Workflow
name: w
nodes:
  - id: a
    task: t
  - id: m
    map:
      task: t
      over: xs
      inputs:
        xs: [1, 2]
outputs:
  y: \"${a.z}\"
";

    fn sources() -> (Vec<Source>, Vec<Source>) {
        let locations = Arc::new(Locations::of(FILE));
        let source = |document, what: &str, nodes: &[&str]| Source {
            file: "f.yaml".into(),
            locations: locations.clone(),
            document,
            what: what.into(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        };
        (
            vec![source(0, "Task `t`", &[])],
            vec![source(1, "Workflow `w`", &["a", "m"])],
        )
    }

    fn placed(problem: Problem) -> String {
        let (tasks, workflows) = sources();
        let error = CliError::Rejected {
            message: problem.message.clone(),
            problems: vec![problem],
        };
        at_sources(error, &[&tasks, &workflows, &Vec::new()]).to_string()
    }

    fn problem(item: &str, index: u32, node: &str, field: &str, path: &str) -> Problem {
        Problem {
            item: item.into(),
            index,
            node: node.into(),
            field: field.into(),
            path: path.into(),
            ..Problem::new(ProblemCode::TypeMismatch, "the message")
        }
    }

    #[test]
    fn a_problem_is_shown_at_the_line_of_its_field() {
        assert_eq!(
            placed(problem("workflow", 0, "a", "task", "")),
            "f.yaml:9:5: document 2 (Workflow `w`, field `nodes[0].task`): the message"
        );
        // A map's inputs are written inside the map.
        assert_eq!(
            placed(problem("workflow", 0, "m", "inputs.xs", "[1]")),
            "f.yaml:15:17: document 2 (Workflow `w`, field `nodes[1].map.inputs.xs[1]`): the message"
        );
        assert_eq!(
            placed(problem("workflow", 0, "", "outputs.y", "")),
            "f.yaml:17:3: document 2 (Workflow `w`, field `outputs.y`): the message"
        );
        assert_eq!(
            placed(problem("task", 0, "", "runner.builtin", "")),
            "f.yaml:3:10: document 1 (Task `t`, field `runner.builtin`): the message"
        );
    }

    #[test]
    fn a_problem_about_nothing_sent_keeps_its_message() {
        assert_eq!(
            placed(problem("workflow", 7, "a", "task", "")),
            "the message"
        );
        assert_eq!(placed(problem("", 0, "", "", "")), "the message");
    }
}
