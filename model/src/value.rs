//! Typed values (literals): checking them against a [`Type`], reading them
//! from text, JSON and YAML constants, and converting to and from the wire.
//!
//! JSON is the exchange format with process tasks (`BATON_INPUTS`,
//! `BATON_OUTPUTS`) and the CLI's `-o json`: every value maps to JSON
//! unambiguously once its type is known (bytes as base64-free hex is avoided:
//! bytes are a JSON array of numbers; datetimes are RFC 3339 strings;
//! durations are strings such as `1.5s`; blobs are `{uri, size, sha256}`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::types::Type;
use crate::ModelError;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    pub uri: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    /// Nanoseconds since the Unix epoch, UTC.
    Datetime(i64),
    /// Nanoseconds.
    Duration(i64),
    Blob(BlobRef),
    List(Vec<Value>),
    /// A `map<T>` or a struct.
    Map(BTreeMap<String, Value>),
    /// The absent value of an `optional<T>`.
    None,
    /// A value of any type too large to travel inline: its JSON form in the
    /// blob store. Only its reference enters the Raft log; the executor
    /// stores it and reads it back, checked against the declared type.
    Offloaded(BlobRef),
}

/// Named values: the inputs or outputs of a task, workflow or execution.
/// Name -> value: inputs and outputs of nodes and executions.
pub type Values = crate::SortedMap<Value>;

/// Where a value differs from its type: the path inside it (`[2].x`, empty
/// for the value itself) and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    pub path: String,
    pub why: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "at {}: {}", self.path, self.why)
        }
    }
}

/// For messages that are text: the path and what is wrong, in words.
impl From<ValueError> for String {
    fn from(e: ValueError) -> String {
        e.to_string()
    }
}

impl Value {
    /// Checks that this value is of type `ty`; the error names the path inside
    /// the value (`[2].x`) where it differs.
    pub fn check(&self, ty: &Type) -> Result<(), ValueError> {
        self.check_at(ty, &mut String::new())
    }

    fn check_at(&self, ty: &Type, path: &mut String) -> Result<(), ValueError> {
        let fail = |path: &str, why: String| {
            Err(ValueError {
                path: path.to_owned(),
                why,
            })
        };
        let ok = match (ty, self) {
            // Checked against the type when it was stored and when it is read.
            (_, Value::Offloaded(_)) => true,
            (Type::Optional(_), Value::None) => true,
            (Type::Optional(inner), v) => return v.check_at(inner, path),
            (Type::Bool, Value::Bool(_))
            | (Type::Int, Value::Int(_))
            | (Type::Float, Value::Float(_))
            | (Type::String, Value::String(_))
            | (Type::Bytes, Value::Bytes(_))
            | (Type::Datetime, Value::Datetime(_))
            | (Type::Duration, Value::Duration(_))
            | (Type::Blob, Value::Blob(_)) => true,
            (Type::List(inner), Value::List(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    item.check_at(inner, path)?;
                    path.truncate(len);
                }
                true
            }
            (Type::Map(inner), Value::Map(entries)) => {
                for (key, item) in entries {
                    let len = path.len();
                    path.push_str(&format!("[{key:?}]"));
                    item.check_at(inner, path)?;
                    path.truncate(len);
                }
                true
            }
            (Type::Struct(fields), Value::Map(entries)) => {
                if let Some(extra) = entries.keys().find(|k| !fields.contains_key(*k)) {
                    return fail(path, format!("unknown field `{extra}` for {ty}"));
                }
                for (name, field_ty) in fields {
                    let len = path.len();
                    path.push('.');
                    path.push_str(name);
                    match entries.get(name) {
                        Some(item) => item.check_at(field_ty, path)?,
                        None if field_ty.is_optional() => {}
                        None => return fail(path, format!("missing field of type {field_ty}")),
                    }
                    path.truncate(len);
                }
                true
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            fail(path, format!("expected {ty}, got {}", self.kind_name()))
        }
    }

    /// A short name of what this value is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Datetime(_) => "a datetime",
            Value::Duration(_) => "a duration",
            Value::Blob(_) => "a blob",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
            Value::None => "none",
            Value::Offloaded(_) => "a value in the blob store",
        }
    }

    /// Converts an untyped constant (from YAML or JSON, where `3` could be an
    /// int or a float and a string could be a datetime) into a value of `ty`.
    pub fn from_json(ty: &Type, json: &Json) -> Result<Value, ValueError> {
        Value::from_json_at(ty, json).map_err(|(path, why)| ValueError { path, why })
    }

    /// [`Value::from_json`], the error's path built from the inside out.
    fn from_json_at(ty: &Type, json: &Json) -> Result<Value, (String, String)> {
        let mismatch = || {
            (
                String::new(),
                format!("expected {ty}, got {}", json_kind(json)),
            )
        };
        let here = |why: String| (String::new(), why);
        let inside =
            |step: String| move |(path, why): (String, String)| (format!("{step}{path}"), why);
        Ok(match (ty, json) {
            (Type::Optional(_), Json::Null) => Value::None,
            (Type::Optional(inner), j) => Value::from_json_at(inner, j)?,
            (Type::Bool, Json::Bool(b)) => Value::Bool(*b),
            (Type::Int, Json::Number(n)) => Value::Int(
                n.as_i64()
                    .ok_or_else(|| here(format!("expected int, got {n}")))?,
            ),
            (Type::Float, Json::Number(n)) => Value::Float(
                n.as_f64()
                    .ok_or_else(|| here(format!("expected float, got {n}")))?,
            ),
            (Type::String, Json::String(s)) => Value::String(s.clone()),
            (Type::Bytes, Json::Array(items)) => Value::Bytes(
                items
                    .iter()
                    .map(|i| i.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| {
                        here("expected bytes as a list of numbers 0..=255".to_owned())
                    })?,
            ),
            (Type::Bytes, Json::String(s)) => Value::Bytes(s.as_bytes().to_vec()),
            (Type::Datetime, Json::String(s)) => Value::Datetime(parse_datetime(s).map_err(here)?),
            (Type::Duration, Json::String(s)) => Value::Duration(parse_duration(s).map_err(here)?),
            (Type::Duration, Json::Number(n)) => Value::Duration(
                n.as_f64()
                    .map(|secs| (secs * 1e9) as i64)
                    .ok_or_else(mismatch)?,
            ),
            (Type::Blob, Json::Object(o)) => Value::Blob(BlobRef {
                uri: o
                    .get("uri")
                    .and_then(Json::as_str)
                    .ok_or_else(|| here("a blob needs a string `uri`".to_owned()))?
                    .to_owned(),
                size: o.get("size").and_then(Json::as_u64).unwrap_or(0),
                sha256: o
                    .get("sha256")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_owned(),
            }),
            (Type::Blob, Json::String(uri)) => Value::Blob(BlobRef {
                uri: uri.clone(),
                size: 0,
                sha256: String::new(),
            }),
            (Type::List(inner), Json::Array(items)) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Value::from_json_at(inner, item).map_err(inside(format!("[{i}]")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (Type::Map(inner), Json::Object(entries)) => Value::Map(
                entries
                    .iter()
                    .map(|(k, item)| {
                        Value::from_json_at(inner, item)
                            .map(|v| (k.clone(), v))
                            .map_err(inside(format!("[{k:?}]")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (Type::Struct(fields), Json::Object(entries)) => {
                if let Some(extra) = entries.keys().find(|k| !fields.contains_key(*k)) {
                    return Err(here(format!("unknown field `{extra}` for {ty}")));
                }
                let mut out = BTreeMap::new();
                for (name, field_ty) in fields {
                    match entries.get(name) {
                        Some(item) => {
                            let v = Value::from_json_at(field_ty, item)
                                .map_err(inside(format!(".{name}")))?;
                            out.insert(name.clone(), v);
                        }
                        None if field_ty.is_optional() => {
                            out.insert(name.clone(), Value::None);
                        }
                        None => {
                            return Err((
                                format!(".{name}"),
                                format!("missing field of type {field_ty}"),
                            ))
                        }
                    }
                }
                Value::Map(out)
            }
            _ => return Err(mismatch()),
        })
    }

    /// Reads a value of `ty` from text, as typed on a command line: scalars
    /// as themselves (`3`, `1.5`, `true`, `hello`, `2026-01-01T00:00:00Z`,
    /// `90s`), containers and structs as JSON. The error names the path
    /// inside the value where it differs from its type.
    pub fn parse_text(ty: &Type, text: &str) -> Result<Value, ValueError> {
        let here = |why: String| ValueError {
            path: String::new(),
            why,
        };
        let inner = match ty {
            Type::Optional(inner) => {
                if text == "null" || text.is_empty() {
                    return Ok(Value::None);
                }
                inner.as_ref()
            }
            other => other,
        };
        let parsed = match inner {
            Type::String => return Ok(Value::String(text.to_owned())),
            Type::Bytes => return Ok(Value::Bytes(text.as_bytes().to_vec())),
            Type::Datetime => return parse_datetime(text).map(Value::Datetime).map_err(here),
            Type::Duration => return parse_duration(text).map(Value::Duration).map_err(here),
            // A uri, or a reference as JSON (`{"uri": ..., "sha256": ...}`).
            Type::Blob if !text.trim_start().starts_with('{') => {
                return Value::from_json(inner, &Json::String(text.to_owned()))
            }
            Type::Bool | Type::Int | Type::Float => serde_json::from_str::<Json>(text)
                .map_err(|_| here(format!("`{text}` is not a valid {inner}")))?,
            _ => serde_json::from_str::<Json>(text).map_err(|e| {
                here(format!(
                    "{inner} is written as JSON, and this is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?,
        };
        Value::from_json(inner, &parsed).map_err(|e| match (inner, e.path.is_empty()) {
            (Type::Bool | Type::Int | Type::Float, true) => {
                here(format!("`{text}` is not a valid {inner}: {}", e.why))
            }
            _ => e,
        })
    }

    /// The JSON form of this value (see the module documentation).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::String(s) => Json::String(s.clone()),
            Value::Bytes(b) => Json::Array(b.iter().map(|x| Json::from(*x)).collect()),
            Value::Datetime(nanos) => Json::String(format_datetime(*nanos)),
            Value::Duration(nanos) => Json::String(format_duration(*nanos)),
            Value::Blob(b) => serde_json::json!({"uri": b.uri, "size": b.size, "sha256": b.sha256}),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::None => Json::Null,
            Value::Offloaded(b) => serde_json::json!({
                "offloaded": {"uri": b.uri, "size": b.size, "sha256": b.sha256}
            }),
        }
    }

    /// About how many bytes this value takes on the wire: what the inline
    /// limit is compared with. Cheap (no encoding), and exact enough for a
    /// limit of kilobytes.
    pub fn approx_size(&self) -> usize {
        match self {
            Value::Bool(_) | Value::None => 2,
            Value::Int(_) | Value::Float(_) | Value::Datetime(_) | Value::Duration(_) => 10,
            Value::String(s) => s.len() + 3,
            Value::Bytes(b) => b.len() + 3,
            Value::Blob(b) | Value::Offloaded(b) => b.uri.len() + b.sha256.len() + 16,
            Value::List(items) => items.iter().map(|v| v.approx_size() + 2).sum::<usize>() + 3,
            Value::Map(entries) => {
                entries
                    .iter()
                    .map(|(k, v)| k.len() + v.approx_size() + 6)
                    .sum::<usize>()
                    + 3
            }
        }
    }

    /// Whether an offloaded value is anywhere inside this value.
    pub fn holds_offloaded(&self) -> bool {
        match self {
            Value::Offloaded(_) => true,
            Value::List(items) => items.iter().any(Value::holds_offloaded),
            Value::Map(entries) => entries.values().any(Value::holds_offloaded),
            _ => false,
        }
    }

    /// Reads a value from its JSON form when no type is known (constants in
    /// specs): numbers with a fraction are floats, other numbers ints.
    /// [`Value::coerce`] later fits it to the declared type.
    pub fn from_untyped_json(json: &Json) -> Value {
        match json {
            Json::Null => Value::None,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::String(s.clone()),
            Json::Array(items) => Value::List(items.iter().map(Value::from_untyped_json).collect()),
            Json::Object(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_untyped_json(v)))
                    .collect(),
            ),
        }
    }

    /// Fits an untyped constant to `ty` (an int constant where a float is
    /// expected, a string where a datetime is): what a spec author means.
    pub fn coerce(&self, ty: &Type) -> Result<Value, String> {
        if self.check(ty).is_ok() {
            return Ok(self.clone());
        }
        Ok(Value::from_json(ty, &self.to_json())?)
    }
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(n) if n.is_i64() || n.is_u64() => "an int",
        Json::Number(_) => "a float",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a map",
    }
}

pub fn parse_datetime(text: &str) -> Result<i64, String> {
    let time = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("`{text}` is not an RFC 3339 datetime: {e}"))?;
    let nanos = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i64,
        Err(before) => -(before.duration().as_nanos() as i64),
    };
    Ok(nanos)
}

pub fn format_datetime(nanos: i64) -> String {
    let time = if nanos >= 0 {
        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
    };
    humantime::format_rfc3339_nanos(time).to_string()
}

/// Parses `1.5s`, `250ms`, `2m 30s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.trim().parse::<f64>() {
        if secs.is_finite() {
            return Ok((secs * 1e9) as i64);
        }
    }
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration (such as 30s, 1m 30s, 250ms): {e}"))?;
    i64::try_from(duration.as_nanos())
        .map_err(|_| format!("`{text}` is too long: a duration is at most about 292 years"))
}

pub fn format_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    format!(
        "{sign}{}",
        humantime::format_duration(Duration::from_nanos(nanos.unsigned_abs()))
    )
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(s),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

// ---------------------------------------------------------------- wire form

impl From<&Value> for baton_proto::Value {
    fn from(value: &Value) -> Self {
        use baton_proto::value::Kind;
        let kind = match value {
            Value::Bool(b) => Kind::BoolValue(*b),
            Value::Int(i) => Kind::IntValue(*i),
            Value::Float(x) => Kind::FloatValue(*x),
            Value::String(s) => Kind::StringValue(s.clone()),
            Value::Bytes(b) => Kind::BytesValue(b.clone()),
            Value::Datetime(n) => Kind::DatetimeNanos(*n),
            Value::Duration(n) => Kind::DurationNanos(*n),
            Value::Blob(b) => Kind::Blob(baton_proto::BlobRef {
                uri: b.uri.clone(),
                size: b.size,
                sha256: b.sha256.clone(),
            }),
            Value::List(items) => Kind::List(baton_proto::ValueList {
                items: items.iter().map(Into::into).collect(),
            }),
            Value::Map(entries) => Kind::Map(baton_proto::ValueMap {
                entries: entries.iter().map(|(k, v)| (k.clone(), v.into())).collect(),
            }),
            Value::None => Kind::None(baton_proto::Empty {}),
            Value::Offloaded(b) => Kind::Offloaded(baton_proto::BlobRef {
                uri: b.uri.clone(),
                size: b.size,
                sha256: b.sha256.clone(),
            }),
        };
        baton_proto::Value { kind: Some(kind) }
    }
}

impl TryFrom<&baton_proto::Value> for Value {
    type Error = ModelError;

    fn try_from(value: &baton_proto::Value) -> Result<Self, ModelError> {
        use baton_proto::value::Kind;
        let kind = value.kind.as_ref().ok_or(ModelError::EmptyValue)?;
        Ok(match kind {
            Kind::BoolValue(b) => Value::Bool(*b),
            Kind::IntValue(i) => Value::Int(*i),
            Kind::FloatValue(x) => Value::Float(*x),
            Kind::StringValue(s) => Value::String(s.clone()),
            Kind::BytesValue(b) => Value::Bytes(b.clone()),
            Kind::DatetimeNanos(n) => Value::Datetime(*n),
            Kind::DurationNanos(n) => Value::Duration(*n),
            Kind::Blob(b) => Value::Blob(BlobRef {
                uri: b.uri.clone(),
                size: b.size,
                sha256: b.sha256.clone(),
            }),
            Kind::List(list) => Value::List(
                list.items
                    .iter()
                    .map(Value::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Map(map) => Value::Map(
                map.entries
                    .iter()
                    .map(|(k, v)| Value::try_from(v).map(|v| (k.clone(), v)))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::None(_) => Value::None,
            Kind::Offloaded(b) => Value::Offloaded(BlobRef {
                uri: b.uri.clone(),
                size: b.size,
                sha256: b.sha256.clone(),
            }),
        })
    }
}

/// Converts named values to the wire.
pub fn values_to_proto(values: &Values) -> std::collections::HashMap<String, baton_proto::Value> {
    values.iter().map(|(k, v)| (k.clone(), v.into())).collect()
}

/// Converts named values from the wire.
pub fn values_from_proto(
    values: &std::collections::HashMap<String, baton_proto::Value>,
) -> Result<Values, ModelError> {
    values
        .iter()
        .map(|(k, v)| {
            Value::try_from(v)
                .map(|v| (k.clone(), v))
                .map_err(|_| ModelError::BadValue {
                    name: k.clone(),
                    why: "the value has no kind set".into(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Type {
        s.parse().unwrap()
    }

    #[test]
    fn parses_text_by_type() {
        assert_eq!(Value::parse_text(&t("int"), "42").unwrap(), Value::Int(42));
        assert_eq!(
            Value::parse_text(&t("float"), "1.5").unwrap(),
            Value::Float(1.5)
        );
        assert_eq!(
            Value::parse_text(&t("float"), "2").unwrap(),
            Value::Float(2.0)
        );
        assert_eq!(
            Value::parse_text(&t("string"), "hi").unwrap(),
            Value::String("hi".into())
        );
        assert_eq!(
            Value::parse_text(&t("duration"), "1m 30s").unwrap(),
            Value::Duration(90_000_000_000)
        );
        assert_eq!(
            Value::parse_text(&t("list<int>"), "[1,2]").unwrap(),
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(
            Value::parse_text(&t("optional<int>"), "null").unwrap(),
            Value::None
        );
        let dt = Value::parse_text(&t("datetime"), "2026-01-02T03:04:05Z").unwrap();
        assert_eq!(
            dt.to_json(),
            Json::String("2026-01-02T03:04:05.000000000Z".into())
        );
    }

    #[test]
    fn refuses_text_that_does_not_parse_as_its_type() {
        let err = Value::parse_text(&t("int"), "abc").unwrap_err().to_string();
        assert_eq!(err, "`abc` is not a valid int");
        let err = Value::parse_text(&t("int"), "1.5").unwrap_err().to_string();
        assert!(err.contains("expected int"), "{err}");
        let err = Value::parse_text(&t("list<int>"), "[1,\"x\"]").unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.why.as_str()),
            ("[1]", "expected int, got a string")
        );
        let err = Value::parse_text(&t("list<int>"), "[1,")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("list<int> is written as JSON, and this is not JSON (line 1"),
            "{err}"
        );
        assert!(Value::parse_text(&t("duration"), "soon").is_err());
        // Struct values: a missing field, an unknown one, deep inside a list.
        let ty = t("list<{margin: float, label: int}>");
        let missing = Value::parse_text(&ty, r#"[{"margin": 0.5, "label": 1}, {"margin": 0.5}]"#)
            .unwrap_err();
        assert_eq!(
            (missing.path.as_str(), missing.why.as_str()),
            ("[1].label", "missing field of type int")
        );
        let unknown =
            Value::parse_text(&ty, r#"[{"margin": 0.5, "label": 1, "seen": true}]"#).unwrap_err();
        assert_eq!(unknown.path, "[0]");
        assert!(
            unknown.why.starts_with("unknown field `seen`"),
            "{}",
            unknown.why
        );
        let wrong = Value::parse_text(&ty, r#"[{"margin": "high", "label": 1}]"#).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "at [0].margin: expected float, got a string"
        );
    }

    #[test]
    fn check_names_the_path() {
        let v = Value::List(vec![Value::Int(1), Value::String("x".into())]);
        assert_eq!(
            v.check(&t("list<int>")).unwrap_err().to_string(),
            "at [1]: expected int, got a string"
        );
        let s = Value::Map([("a".to_string(), Value::Int(1))].into());
        assert!(s.check(&t("{a: int, b: optional<int>}")).is_ok());
        let missing = s.check(&t("{a: int, b: int}")).unwrap_err();
        assert_eq!(
            (missing.path.as_str(), missing.why.as_str()),
            (".b", "missing field of type int")
        );
        let nested = Value::List(vec![Value::Map(
            [("margin".to_string(), Value::String("x".into()))].into(),
        )]);
        let err = nested.check(&t("list<{margin: float}>")).unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.why.as_str()),
            ("[0].margin", "expected float, got a string")
        );
    }

    #[test]
    fn coerces_constants() {
        assert_eq!(
            Value::Int(2).coerce(&t("float")).unwrap(),
            Value::Float(2.0)
        );
        assert!(Value::String("x".into()).coerce(&t("int")).is_err());
    }

    #[test]
    fn wire_and_postcard_roundtrip() {
        let v = Value::Map(
            [
                (
                    "l".to_string(),
                    Value::List(vec![Value::Float(1.5), Value::None]),
                ),
                ("d".to_string(), Value::Duration(5)),
            ]
            .into(),
        );
        let wire: baton_proto::Value = (&v).into();
        assert_eq!(Value::try_from(&wire).unwrap(), v);
        let bytes = postcard::to_stdvec(&v).unwrap();
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), v);
    }
}
