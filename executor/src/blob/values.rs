//! Values around an attempt and the blob store. Before a process task runs,
//! offloaded inputs are read back (and typed), and blob inputs become local,
//! verified files whose paths the task reads in its inputs JSON. After it
//! ran, blobs it returned as files are stored; after any task, an output
//! above the inline limit is offloaded, so only its reference travels on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use baton_model::{BlobRef, Interface, Type, Value, ValueError, Values};
use serde_json::Value as Json;

use super::{BlobCache, BlobError};
use crate::attempt::Failure;

/// Where an offloaded input could not be used.
#[derive(Debug)]
pub enum InputError {
    Blob(BlobError),
    /// The stored JSON is not a value of the input's type.
    Type {
        name: String,
        error: ValueError,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Blob(e) => write!(f, "{e}"),
            InputError::Type { name, error } => {
                write!(f, "input `{name}` read from the blob store: {error}")
            }
        }
    }
}

/// `inputs` with every offloaded value read back from the store and typed
/// by the input's declared type.
pub async fn inline_offloaded(
    cache: &BlobCache,
    interface: &Interface,
    inputs: &Values,
    scratch: &Path,
) -> Result<Values, InputError> {
    if !inputs.values().any(Value::holds_offloaded) {
        return Ok(inputs.clone());
    }
    let mut refs = Vec::new();
    for value in inputs.values() {
        collect(value, &mut refs, &|v| match v {
            Value::Offloaded(b) => Some(b),
            _ => None,
        });
    }
    let mut fetched: HashMap<String, Json> = HashMap::new();
    for blob in refs {
        if fetched.contains_key(&blob.uri) {
            continue;
        }
        let bytes = cache.read(blob, scratch).await.map_err(InputError::Blob)?;
        let json = serde_json::from_slice(&bytes).map_err(|e| {
            InputError::Blob(BlobError::Io {
                action: "read the value in",
                uri: blob.uri.clone(),
                why: format!("it is not JSON (line {}, column {})", e.line(), e.column()),
            })
        })?;
        fetched.insert(blob.uri.clone(), json);
    }
    let mut inlined = Values::new();
    for (name, value) in inputs.iter() {
        let declared = interface.inputs.iter().find(|v| &v.name == name);
        let value = match declared {
            Some(var) => {
                inline(value.clone(), &var.ty, &fetched).map_err(|error| InputError::Type {
                    name: name.clone(),
                    error,
                })?
            }
            None => value.clone(),
        };
        inlined.insert(name.clone(), value);
    }
    Ok(inlined)
}

/// `value` (of type `ty`) with its offloaded parts replaced by what was read.
fn inline(value: Value, ty: &Type, fetched: &HashMap<String, Json>) -> Result<Value, ValueError> {
    Ok(match (value, ty) {
        (Value::Offloaded(blob), ty) => match fetched.get(&blob.uri) {
            Some(json) => Value::from_json(ty, json)?,
            None => Value::Offloaded(blob),
        },
        (Value::None, _) => Value::None,
        (value, Type::Optional(inner)) => inline(value, inner, fetched)?,
        (Value::List(items), Type::List(inner)) => Value::List(
            items
                .into_iter()
                .map(|item| inline(item, inner, fetched))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Map(entries), Type::Map(inner)) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| inline(v, inner, fetched).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Map(entries), Type::Struct(fields)) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| match fields.get(&k) {
                    Some(field_ty) => inline(v, field_ty, fetched).map(|v| (k, v)),
                    None => Ok((k, v)),
                })
                .collect::<Result<_, _>>()?,
        ),
        (value, _) => value,
    })
}

/// The inputs JSON a process task reads: every blob a local, verified file
/// whose path stands where the blob is.
pub async fn task_inputs_json(
    cache: &BlobCache,
    inputs: &Values,
    scratch: &Path,
) -> Result<Json, BlobError> {
    let mut refs = Vec::new();
    for value in inputs.values() {
        collect(value, &mut refs, &|v| match v {
            Value::Blob(b) => Some(b),
            _ => None,
        });
    }
    let mut paths: HashMap<String, PathBuf> = HashMap::new();
    for blob in refs {
        if !paths.contains_key(&blob.uri) {
            let path = cache.local_path(blob, scratch).await?;
            paths.insert(blob.uri.clone(), path);
        }
    }
    Ok(Json::Object(
        inputs
            .iter()
            .map(|(name, value)| (name.clone(), with_paths(value, &paths)))
            .collect(),
    ))
}

fn with_paths(value: &Value, paths: &HashMap<String, PathBuf>) -> Json {
    match value {
        Value::Blob(b) => match paths.get(&b.uri) {
            Some(path) => Json::String(path.display().to_string()),
            None => value.to_json(),
        },
        Value::List(items) => Json::Array(items.iter().map(|v| with_paths(v, paths)).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), with_paths(v, paths)))
                .collect(),
        ),
        other => other.to_json(),
    }
}

/// `value` with every blob a process task returned as a local file (an
/// absolute path, a `file://` uri without a hash, or a path relative to its
/// output directory) stored in the blob store and replaced by its reference.
pub async fn store_returned_files(
    cache: &BlobCache,
    name: &str,
    value: Value,
    output_dir: &Path,
) -> Result<Value, Failure> {
    let mut refs = Vec::new();
    collect(&value, &mut refs, &|v| match v {
        Value::Blob(b) if b.sha256.is_empty() && !b.uri.starts_with("s3://") => Some(b),
        _ => None,
    });
    if refs.is_empty() {
        return Ok(value);
    }
    let store = cache.store();
    let mut stored: HashMap<String, BlobRef> = HashMap::new();
    for blob in refs {
        if stored.contains_key(&blob.uri) {
            continue;
        }
        let path = blob.uri.strip_prefix("file://").unwrap_or(&blob.uri);
        let file = output_dir.join(path); // an absolute path replaces the base
        if !tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file()) {
            return Err(Failure::permanent(format!(
                "blob output `{name}` names the file `{}`, which does not exist",
                file.display()
            )));
        }
        // The store being unreachable may pass: the attempt may run again.
        let reference = store
            .put_file(&file)
            .await
            .map_err(|e| Failure::retryable(format!("cannot store blob output `{name}`: {e}")))?;
        stored.insert(blob.uri.clone(), reference);
    }
    Ok(replace_blobs(value, &stored))
}

fn replace_blobs(value: Value, stored: &HashMap<String, BlobRef>) -> Value {
    match value {
        Value::Blob(b) => Value::Blob(stored.get(&b.uri).cloned().unwrap_or(b)),
        Value::List(items) => Value::List(
            items
                .into_iter()
                .map(|v| replace_blobs(v, stored))
                .collect(),
        ),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, replace_blobs(v, stored)))
                .collect(),
        ),
        other => other,
    }
}

/// `outputs` with every value above the inline limit stored as JSON and
/// replaced by its reference ([`Value::Offloaded`]).
pub async fn offload_large(cache: &BlobCache, outputs: Values) -> Result<Values, String> {
    let limit = cache.inline_limit() as usize;
    if outputs.values().all(|v| v.approx_size() <= limit) {
        return Ok(outputs);
    }
    let store = cache.store();
    let mut offloaded = Values::new();
    for (name, value) in outputs.into_iter() {
        let large = value.approx_size() > limit
            && !matches!(value, Value::Blob(_) | Value::Offloaded(_))
            && !value.holds_offloaded();
        let value = if large {
            let json = serde_json::to_vec(&value.to_json())
                .map_err(|e| format!("cannot encode output `{name}`: {e}"))?;
            let blob = store
                .put_bytes(json)
                .await
                .map_err(|e| format!("cannot offload output `{name}`: {e}"))?;
            Value::Offloaded(blob)
        } else {
            value
        };
        offloaded.insert(name, value);
    }
    Ok(offloaded)
}

/// Every reference in `value` that `pick` selects.
fn collect<'a>(
    value: &'a Value,
    out: &mut Vec<&'a BlobRef>,
    pick: &dyn Fn(&Value) -> Option<&BlobRef>,
) {
    if let Some(found) = pick(value) {
        out.push(found);
        return;
    }
    match value {
        Value::List(items) => items.iter().for_each(|v| collect(v, out, pick)),
        Value::Map(entries) => entries.values().for_each(|v| collect(v, out, pick)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
