//! `baton run --batch FILE`: launches read one JSON object per line, sent
//! as one request, and a refusal named by the line it is about.

use std::io::Write;

use baton_model::Identifier;
use baton_proto::*;
use baton_scheduler::admin::MAX_BATCH_LAUNCHES;

use crate::client::{CliError, Client};
use crate::commands::{new_request_id, print_structured, Output};
use crate::render;

/// A batch read from a file, with where each launch came from.
pub struct Batch {
    pub request: LaunchBatchRequest,
    /// `FILE:LINE` of each launch, in order.
    pub origins: Vec<String>,
}

/// Reads a batch of launches, one JSON object per line (blank lines and
/// lines starting with `#` are skipped); nothing is sent if any line is bad.
pub fn read_batch(file: &std::path::Path) -> Result<Batch, CliError> {
    let name = file.display().to_string();
    let text = if name == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| CliError::BadInput(format!("cannot read {name}: {e}")))?;
    let request_id = new_request_id();
    let mut launches = Vec::new();
    let mut origins = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{name}:{}", number + 1);
        let launch =
            parse_batch_line(line).map_err(|why| CliError::BadInput(format!("{at}: {why}")))?;
        launches.push(LaunchRequest {
            // Unique per line, so a retried batch launches nothing twice.
            request_id: format!("{request_id}-{}", number + 1),
            ..launch
        });
        origins.push(at);
    }
    if launches.is_empty() {
        return Err(CliError::BadInput(format!("{name} holds no launches")));
    }
    if launches.len() > MAX_BATCH_LAUNCHES {
        return Err(CliError::BadInput(format!(
            "{name} holds {} launches; at most {MAX_BATCH_LAUNCHES} go in one batch",
            launches.len()
        )));
    }
    Ok(Batch {
        request: LaunchBatchRequest { launches },
        origins,
    })
}

/// The scheduler names a refused launch by its index in the batch (in the
/// problems of the refusal); name its line instead, which the user can open.
fn at_origin(error: CliError, origins: &[String]) -> CliError {
    let CliError::Rejected { message, problems } = error else {
        return error;
    };
    let placed: Option<Vec<String>> = problems
        .iter()
        .map(|p| {
            let origin = (p.item == "launch")
                .then(|| origins.get(p.index as usize))
                .flatten()?;
            Some(format!("{origin}: {}", p.message))
        })
        .collect();
    match placed {
        Some(lines) if !lines.is_empty() => CliError::Rejected {
            message: lines.join("\n"),
            problems,
        },
        _ => CliError::Rejected { message, problems },
    }
}

/// One line of a batch: `{"workflow": ..., "inputs": {...}, "pool": ...}`.
fn parse_batch_line(line: &str) -> Result<LaunchRequest, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let serde_json::Value::Object(fields) = value else {
        return Err("not a JSON object".into());
    };
    let mut launch = LaunchRequest::default();
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("workflow", serde_json::Value::String(name)) => {
                let id = Identifier::parse(&name).map_err(|e| e.to_string())?;
                launch.workflow = Some((&id).into());
            }
            ("pool", serde_json::Value::String(pool)) => launch.pool = pool,
            ("inputs", serde_json::Value::Object(inputs)) => {
                // As text, parsed against the declared types by the
                // scheduler: a string as it is, anything else as JSON.
                for (name, value) in inputs {
                    let text = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    launch.text_inputs.insert(name, text);
                }
            }
            ("workflow" | "pool", _) => return Err(format!("`{key}` must be a string")),
            ("inputs", _) => return Err("`inputs` must be an object of NAME: VALUE".into()),
            _ => {
                return Err(format!(
                    "unknown field `{key}`; a launch has workflow, inputs and pool"
                ))
            }
        }
    }
    if launch.workflow.is_none() {
        return Err("no `workflow` named".into());
    }
    Ok(launch)
}

pub async fn run_batch(client: &mut Client, batch: Batch, output: Output) -> Result<(), CliError> {
    let response = client
        .call(
            batch.request,
            |mut a, r| async move { a.launch_batch(r).await },
        )
        .await
        .map_err(|e| at_origin(e, &batch.origins))?;
    match output {
        Output::Json | Output::Yaml => print_structured(
            output,
            &serde_json::Value::Array(
                response
                    .launched
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "execution": l.execution_id,
                            "workflow": render::id(&l.workflow),
                        })
                    })
                    .collect(),
            ),
        ),
        Output::Text => {
            let mut out = std::io::stdout().lock();
            for launched in &response.launched {
                writeln!(out, "{}", launched.execution_id)
                    .map_err(|e| CliError::Refused(format!("cannot write the output: {e}")))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(message: &str, placed: &[(&str, u32)]) -> CliError {
        CliError::Rejected {
            message: message.into(),
            problems: placed
                .iter()
                .map(|(item, index)| Problem {
                    item: (*item).into(),
                    index: *index,
                    ..Problem::new(ProblemCode::UnknownName, "unknown input `m`")
                })
                .collect(),
        }
    }

    #[test]
    fn a_refused_launch_is_named_by_its_line() {
        let origins = vec!["sweep.jsonl:2".to_string(), "sweep.jsonl:5".to_string()];
        let named = at_origin(
            rejected("launch #2: unknown input `m`", &[("launch", 1)]),
            &origins,
        );
        assert_eq!(named.to_string(), "sweep.jsonl:5: unknown input `m`");
    }

    #[test]
    fn refusals_that_name_no_launch_of_the_batch_are_kept() {
        let origins = vec!["sweep.jsonl:2".to_string()];
        for (message, placed) in [
            ("launch #3: out of range", &[("launch", 2)][..]),
            ("about a workflow", &[("workflow", 0)][..]),
            ("about nothing in particular", &[][..]),
        ] {
            assert_eq!(
                at_origin(rejected(message, placed), &origins).to_string(),
                message
            );
        }
        let not_refused = CliError::BadInput("launch #1: bad".into());
        assert_eq!(
            at_origin(not_refused, &origins).to_string(),
            "launch #1: bad"
        );
    }
}
