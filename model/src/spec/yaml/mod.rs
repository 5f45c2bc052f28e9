//! The YAML form of specs: several documents per file, each with `kind:
//! Task` or `kind: Workflow` (docs/spec.md). Every error names the file, the
//! line and column, the document and the field it is about.

pub mod emit;
mod launch_plan;
mod raw;
mod workflow;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use super::locate::Locations;
use super::*;
use crate::value::parse_duration;
use crate::ModelError;
use raw::{RawInterface, RawLaunchPlan, RawRunner, RawTask, RawWorkflow};

/// What is wrong with a document, and where: `at` is the field's path in
/// the document (`nodes[2].inputs.x`), which [`Locations`] turns into a line.
#[derive(Debug)]
pub(super) struct Fault {
    pub at: String,
    pub why: String,
}

impl Fault {
    pub fn new(at: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            why: why.into(),
        }
    }
}

/// Parses every document of a YAML file. `source` names the file in errors.
pub fn parse_yaml(text: &str, source: &str) -> Result<Vec<SpecDocument>, ModelError> {
    Ok(parse_yaml_indexed(text, source)?
        .into_iter()
        .map(|(_, document)| document)
        .collect())
}

/// [`parse_yaml`], each spec with the index (from 0) of the YAML document
/// it came from, as [`Locations`] counts them.
pub fn parse_yaml_indexed(
    text: &str,
    source: &str,
) -> Result<Vec<(usize, SpecDocument)>, ModelError> {
    let mut documents = Vec::new();
    let mut typed = serde_yaml_ng::Deserializer::from_str(text);
    let mut locations: Option<Locations> = None;
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        // The same document again, to be read into its typed form directly
        // (which keeps serde's line numbers for structural errors).
        let again = typed.next();
        let yaml = Yaml::deserialize(document).map_err(|e| {
            let place = e
                .location()
                .map(|l| format!("{source}:{}:{}", l.line(), l.column()))
                .unwrap_or_else(|| format!("{source}: document {number}"));
            ModelError::BadSpec(format!("{place}: malformed YAML: {}", without_location(&e)))
        })?;
        if yaml.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        let kind = yaml
            .get("kind")
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_owned();
        let name = yaml
            .get("name")
            .and_then(Yaml::as_str)
            .unwrap_or("?")
            .to_owned();
        let place = |line: Option<(usize, usize)>| match line {
            Some((line, column)) => format!("{source}:{line}:{column}: document {number}"),
            None => format!("{source}: document {number}"),
        };
        let what = format!("{kind} `{name}`");
        // A structural error (unknown field, wrong shape), with serde's line.
        let structural = |e: serde_yaml_ng::Error| {
            let line = e.location().map(|l| (l.line(), l.column()));
            ModelError::BadSpec(format!(
                "{} ({what}): {}",
                place(line),
                without_location(&e)
            ))
        };
        let mut faulted = |fault: Fault| {
            let locations = locations.get_or_insert_with(|| Locations::of(text));
            let field = if fault.at.is_empty() {
                String::new()
            } else {
                format!(", field `{}`", fault.at)
            };
            ModelError::BadSpec(format!(
                "{} ({what}{field}): {}",
                place(locations.find(index, &fault.at)),
                fault.why
            ))
        };
        let document = match kind.as_str() {
            "Task" => {
                let raw = match again {
                    Some(d) => RawTask::deserialize(d).map_err(structural)?,
                    None => serde_yaml_ng::from_value(yaml).map_err(structural)?,
                };
                SpecDocument::Task(raw.into_spec().map_err(&mut faulted)?)
            }
            "LaunchPlan" => {
                let raw = match again {
                    Some(d) => RawLaunchPlan::deserialize(d).map_err(structural)?,
                    None => serde_yaml_ng::from_value(yaml).map_err(structural)?,
                };
                SpecDocument::LaunchPlan(raw.into_spec().map_err(&mut faulted)?)
            }
            "Workflow" => {
                let raw = match again {
                    Some(d) => RawWorkflow::deserialize(d).map_err(structural)?,
                    None => serde_yaml_ng::from_value(yaml).map_err(structural)?,
                };
                SpecDocument::Workflow(raw.into_spec().map_err(&mut faulted)?)
            }
            "" => {
                return Err(faulted(Fault::new(
                    "",
                    "missing `kind` (Task, Workflow or LaunchPlan)",
                )))
            }
            other => {
                return Err(faulted(Fault::new(
                    "kind",
                    format!("unknown kind `{other}`; expected Task, Workflow or LaunchPlan"),
                )))
            }
        };
        documents.push((index, document));
    }
    Ok(documents)
}

/// serde_yaml's message without the ` at line L column C` it appends: the
/// place is already said at the front.
fn without_location(error: &serde_yaml_ng::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) if error.location().is_some() => text[..cut].to_owned(),
        _ => text,
    }
}

/// What a YAML value is, for a message: never serde's own debug form.
pub(super) fn describe(yaml: &Yaml) -> String {
    match yaml {
        Yaml::Null => "nothing (null)".into(),
        Yaml::Bool(b) => format!("the bool {b}"),
        Yaml::Number(n) => format!("the number {n}"),
        Yaml::String(s) => format!("the string {s:?}"),
        Yaml::Sequence(_) => "a list".into(),
        Yaml::Mapping(_) => "a mapping".into(),
        Yaml::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn yaml_to_json(yaml: &Yaml) -> Result<serde_json::Value, String> {
    serde_json::to_value(yaml).map_err(|_| {
        format!(
            "{} cannot be a value (YAML tags and non-string keys have no typed form)",
            describe(yaml)
        )
    })
}

/// A `timeout` in milliseconds (`30s`, `1m 30s`, or a number of seconds).
fn timeout_ms(yaml: Option<Yaml>, at: &str) -> Result<Option<u64>, Fault> {
    Ok(match yaml {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) => {
            Some((parse_duration(&s).map_err(|e| Fault::new(at, e))? / 1_000_000).max(0) as u64)
        }
        Some(Yaml::Number(n)) => Some((n.as_f64().unwrap_or(0.0) * 1000.0) as u64),
        Some(other) => {
            return Err(Fault::new(
                at,
                format!(
                    "`timeout` must be a duration such as 30s, got {}",
                    describe(&other)
                ),
            ))
        }
    })
}

fn version_text(version: Option<Yaml>) -> Result<String, Fault> {
    Ok(match version {
        None | Some(Yaml::Null) => String::new(),
        Some(Yaml::String(s)) => s,
        Some(Yaml::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(Fault::new(
                "version",
                format!("`version` must be a string, got {}", describe(&other)),
            ))
        }
    })
}

/// A selector as written: every key and value a label an executor could
/// have (`--labels KEY=VALUE`), so that a typo is refused at registration,
/// not left to wait forever for an executor.
pub(super) fn check_selector(
    selector: BTreeMap<String, String>,
    at: &str,
) -> Result<crate::spec::Selector, Fault> {
    for (key, value) in &selector {
        let bad = |part: &str, text: &str| {
            Fault::new(
                format!("{at}.{key}"),
                format!(
                    "{at}: label {part} `{text}` must be non-empty letters, digits, `-`, `_`, `.` or `/`"
                ),
            )
        };
        let ok = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        };
        if !ok(key) {
            return Err(bad("key", key));
        }
        if !ok(value) {
            return Err(bad("value", value));
        }
    }
    Ok(selector)
}

fn make_id(
    project: &str,
    domain: &str,
    name: &str,
    version: Option<Yaml>,
) -> Result<Identifier, Fault> {
    let id = Identifier::new(project, domain, name, &version_text(version)?).with_global_defaults();
    id.validate()
        .map_err(|e| Fault::new("name", e.to_string()))?;
    Ok(id)
}

/// A type as written: its text form (`list<{x: float}>`), or a mapping of
/// field names to types, nested to any depth (`{lo: float, hi: float}`).
fn type_of(yaml: &Yaml, at: &str) -> Result<Type, Fault> {
    match yaml {
        Yaml::String(text) => text
            .parse::<Type>()
            .map_err(|e| Fault::new(at, e.to_string())),
        Yaml::Mapping(fields) => {
            let mut out = BTreeMap::new();
            for (key, ty) in fields {
                let Some(name) = key.as_str() else {
                    return Err(Fault::new(
                        at,
                        format!("a struct's field names are strings, got {}", describe(key)),
                    ));
                };
                let field_at = format!("{at}.{name}");
                let well_formed = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !well_formed {
                    return Err(Fault::new(
                        field_at,
                        format!("field name `{name}`: use letters, digits, `_` and `-`"),
                    ));
                }
                out.insert(name.to_owned(), type_of(ty, &field_at)?);
            }
            Ok(Type::Struct(out))
        }
        other => Err(Fault::new(
            at,
            format!(
                "expected a type (`int`, `list<float>`, or a mapping of fields such as {{lo: float, hi: float}}), got {}",
                describe(other)
            ),
        )),
    }
}

/// One interface variable at `at` (`interface.inputs.x`): a type, or the
/// long form `{type: T, default: V, description: TEXT}`. A mapping is the
/// long form exactly when it has a `type` key.
fn variable(name: &str, yaml: &Yaml, at: &str, what: &str) -> Result<Variable, Fault> {
    let long = yaml.as_mapping().filter(|m| m.contains_key("type"));
    let (ty_yaml, default, description, ty_at) = match long {
        Some(entries) => {
            for key in entries.keys() {
                if !matches!(key.as_str(), Some("type" | "default" | "description")) {
                    return Err(Fault::new(
                        at,
                        format!(
                            "{what} `{name}`: unknown key `{}` in the long form {{type, default, description}} (a struct type with a field named `type` is written as text: \"{{type: string}}\")",
                            key.as_str().map(str::to_owned).unwrap_or_else(|| describe(key))
                        ),
                    ));
                }
            }
            let description = match entries.get("description") {
                None | Some(Yaml::Null) => String::new(),
                Some(Yaml::String(text)) => text.clone(),
                Some(other) => {
                    return Err(Fault::new(
                        format!("{at}.description"),
                        format!(
                            "{what} `{name}`: a description is text, got {}",
                            describe(other)
                        ),
                    ))
                }
            };
            (
                &entries["type"],
                entries.get("default"),
                description,
                format!("{at}.type"),
            )
        }
        None => (yaml, None, String::new(), at.to_owned()),
    };
    let ty = type_of(ty_yaml, &ty_at)
        .map_err(|f| Fault::new(f.at, format!("{what} `{name}`: {}", f.why)))?;
    let default = default
        .map(|d| yaml_to_json(d).and_then(|json| Ok(Value::from_json(&ty, &json)?)))
        .transpose()
        .map_err(|e| {
            Fault::new(
                format!("{at}.default"),
                format!("{what} `{name}`: bad default: {e}"),
            )
        })?;
    Ok(Variable {
        name: name.to_owned(),
        ty,
        default,
        description,
    })
}

fn variables(vars: &BTreeMap<String, Yaml>, at: &str, what: &str) -> Result<Vec<Variable>, Fault> {
    vars.iter()
        .map(|(name, yaml)| variable(name, yaml, &format!("{at}.{name}"), what))
        .collect()
}

impl RawInterface {
    fn into_interface(self, at: &str) -> Result<Interface, Fault> {
        Ok(Interface {
            inputs: variables(&self.inputs, &format!("{at}.inputs"), "input")?,
            outputs: variables(&self.outputs, &format!("{at}.outputs"), "output")?,
        })
    }
}

impl RawTask {
    fn into_spec(self) -> Result<TaskSpec, Fault> {
        let id = make_id(&self.project, &self.domain, &self.name, self.version)?;
        let timeout_ms = timeout_ms(self.timeout, "timeout")?.unwrap_or(0);
        let cache = match self.cache {
            None if !self.cache_ignore.is_empty() => {
                return Err(Fault::new(
                    "cache_ignore",
                    "`cache_ignore` needs a `cache: {version: ...}`",
                ))
            }
            None => None,
            Some(raw) => {
                let version = match raw.version {
                    Yaml::String(s) if !s.trim().is_empty() => s,
                    Yaml::Number(n) => n.to_string(),
                    other => {
                        return Err(Fault::new(
                            "cache.version",
                            format!(
                                "`cache.version` must be a non-empty string such as \"1\", got {}",
                                describe(&other)
                            ),
                        ))
                    }
                };
                for (i, name) in self.cache_ignore.iter().enumerate() {
                    if !self.interface.inputs.contains_key(name) {
                        let known: Vec<&str> =
                            self.interface.inputs.keys().map(String::as_str).collect();
                        return Err(Fault::new(
                            format!("cache_ignore[{i}]"),
                            format!(
                                "`cache_ignore` names `{name}`, which is not an input (inputs: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
                let retention_ms = self::timeout_ms(raw.retention, "cache.retention")?
                    .unwrap_or(DEFAULT_CACHE_RETENTION_MS);
                Some(CachePolicy {
                    version,
                    ignore: self.cache_ignore.clone(),
                    serialize: raw.serialize,
                    retention_ms,
                })
            }
        };
        let runner =
            match self.runner {
                RawRunner {
                    process: Some(p),
                    builtin: None,
                } => {
                    if p.command.is_empty() {
                        return Err(Fault::new(
                            "runner.process.command",
                            "runner.process.command is empty",
                        ));
                    }
                    Runner::Process {
                        command: p.command,
                        env: p.env,
                        working_dir: p.working_dir,
                    }
                }
                RawRunner {
                    process: None,
                    builtin: Some(name),
                } => Runner::Builtin(name),
                _ => return Err(Fault::new(
                    "runner",
                    "`runner` needs exactly one of `process: {command: [...]}` or `builtin: NAME`",
                )),
            };
        Ok(TaskSpec {
            id,
            interface: self.interface.into_interface("interface")?,
            runner,
            retries: self.retries,
            timeout_ms,
            pool: self.pool,
            selector: check_selector(self.selector, "selector")?,
            description: self.description,
            cache,
        })
    }
}

/// Reads a binding from YAML: `${inputs.NAME}`, `${NODE.OUTPUT}`, a list or
/// mapping of bindings, or a constant.
pub fn parse_binding(yaml: &Yaml) -> Result<Binding, String> {
    Ok(match yaml {
        Yaml::String(s) => parse_binding_text(s)?,
        Yaml::Sequence(items) => {
            Binding::List(items.iter().map(parse_binding).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(entries) => Binding::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k
                        .as_str()
                        .ok_or_else(|| format!("map keys must be strings, got {}", describe(k)))?;
                    Ok((key.to_owned(), parse_binding(v)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => Binding::Constant(Value::from_untyped_json(&yaml_to_json(other)?)),
    })
}

fn parse_binding_text(text: &str) -> Result<Binding, String> {
    let Some(inner) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
        if text.contains("${") {
            return Err(format!(
                "`{text}`: a reference must be the whole value (`${{inputs.NAME}}` or `${{NODE.OUTPUT}}`); string interpolation is not supported"
            ));
        }
        return Ok(Binding::Constant(Value::String(text.to_owned())));
    };
    let expected = || {
        format!(
            "`{text}`: expected `${{inputs.NAME}}`, `${{NODE.OUTPUT}}`, `${{history.OUTPUT}}` or `${{LOOP.history.OUTPUT}}`"
        )
    };
    let parts: Vec<&str> = inner.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(expected());
    }
    Ok(match parts.as_slice() {
        ["inputs", name] => Binding::Input((*name).to_owned()),
        ["history", name] => Binding::History((*name).to_owned()),
        [node, output] => Binding::Output {
            node: (*node).to_owned(),
            output: (*output).to_owned(),
        },
        // Every iteration's output of a loop node, as a list.
        [node, "history", output] => Binding::Output {
            node: (*node).to_owned(),
            output: format!("history.{output}"),
        },
        _ => return Err(expected()),
    })
}

/// Bindings at `at` (`nodes[2].inputs`), each named in its error.
fn bindings<C: FromIterator<(String, Binding)>>(
    raw: &BTreeMap<String, Yaml>,
    at: &str,
    what: impl Fn(&str) -> String,
) -> Result<C, Fault> {
    raw.iter()
        .map(|(name, yaml)| {
            parse_binding(yaml)
                .map(|b| (name.clone(), b))
                .map_err(|e| Fault::new(format!("{at}.{name}"), format!("{}: {e}", what(name))))
        })
        .collect()
}
