//! Values given by name, as text or as uploaded files, read as the types
//! declared for them: a launch's inputs and a gate's signal arrive so.

use std::collections::HashMap;

use baton_model::{Value, Values, Variable};
use baton_proto::FileInput;

use crate::error::{Problem, ProblemCode};

/// Reads `text` and `files` into `values` as the types `vars` declare
/// (`what` names one in messages, `field` its place: `inputs`). A name
/// `vars` does not declare goes in as its text (or the file's path), for
/// the caller's check to refuse with the names it takes.
pub(super) fn read_values(
    vars: &[Variable],
    what: &str,
    field: &str,
    values: &mut Values,
    text: HashMap<String, String>,
    files: HashMap<String, FileInput>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (name, text) in text {
        match vars.iter().find(|v| v.name == name) {
            Some(var) => match Value::parse_text(&var.ty, &text) {
                Ok(v) => {
                    values.insert(name, v);
                }
                Err(e) => {
                    let code = if e.path.is_empty() {
                        ProblemCode::Invalid
                    } else {
                        ProblemCode::TypeMismatch
                    };
                    let message = format!("{what} `{name}{}` ({}): {}", e.path, var.ty, e.why);
                    problems.push(
                        Problem::new(code, message)
                            .field(format!("{field}.{name}"))
                            .path(e.path),
                    );
                }
            },
            None => {
                // Refused by the caller, with the names it takes.
                values.insert(name, Value::String(text));
            }
        }
    }
    for (name, file) in files {
        let Some(var) = vars.iter().find(|v| v.name == name) else {
            // Refused by the caller, with the names it takes.
            values.insert(name, Value::String(file.path));
            continue;
        };
        let blob = file.blob.as_ref().map(|b| baton_model::BlobRef {
            uri: b.uri.clone(),
            size: b.size,
            sha256: b.sha256.clone(),
        });
        let Some(blob) = blob else {
            let message = format!("{what} `{name}`: the file `{}` was not uploaded", file.path);
            problems
                .push(Problem::new(ProblemCode::Invalid, message).field(format!("{field}.{name}")));
            continue;
        };
        let value = match (is_blob(&var.ty), file.text) {
            (true, _) => Value::Blob(blob),
            (false, Some(text)) => match Value::parse_text(&var.ty, &text) {
                Ok(v) => v,
                Err(e) => {
                    let message = format!(
                        "{what} `{name}{}` ({}), read from `{}`: {}",
                        e.path, var.ty, file.path, e.why
                    );
                    problems.push(
                        Problem::new(ProblemCode::TypeMismatch, message)
                            .field(format!("{field}.{name}"))
                            .path(e.path),
                    );
                    continue;
                }
            },
            // Too large to send as text: the file is the value's JSON form,
            // read when a task needs it. Text itself has no JSON form here.
            (false, None) if is_text(&var.ty) => {
                let message = format!(
                        "{what} `{name}` ({}): `{}` ({} bytes) could not travel as text: it is above the inline limit or not UTF-8; such a file goes in a blob {what}",
                        var.ty, file.path, blob.size
                    );
                problems.push(
                    Problem::new(ProblemCode::Invalid, message).field(format!("{field}.{name}")),
                );
                continue;
            }
            (false, None) => Value::Offloaded(blob),
        };
        values.insert(name, value);
    }
    problems
}

/// Whether `ty` is text read as itself (`string`, `bytes`), not as JSON.
fn is_text(ty: &baton_model::Type) -> bool {
    match ty {
        baton_model::Type::String | baton_model::Type::Bytes => true,
        baton_model::Type::Optional(inner) => is_text(inner),
        _ => false,
    }
}

/// Whether a value of `ty` is a blob (or an optional one): a file input is then the file itself.
fn is_blob(ty: &baton_model::Type) -> bool {
    match ty {
        baton_model::Type::Blob => true,
        baton_model::Type::Optional(inner) => is_blob(inner),
        _ => false,
    }
}
