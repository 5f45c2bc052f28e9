//! The type checker of bindings: what a node input or a workflow output
//! binds must be of the type expected there ([`Checker`]); what a branch's
//! inputs bind gives them their types ([`Inference`]). Each problem names
//! the place (node, input, field) and both types.

use std::collections::{BTreeMap, HashMap};

use baton_model::{Binding, NodeKind, Type, Value, WorkflowSpec};

use super::CompiledBinding;
use crate::engine::Callee;
use crate::error::{Problem, ProblemCode};

/// Where a binding is checked: a node's input or a workflow's output, and
/// the path inside the value; shown as `node `a` input `x`[2].y`.
#[derive(Clone, Debug)]
pub(super) struct Place {
    node: String,
    field: String,
    label: String,
    path: String,
}

impl Place {
    pub(super) fn input(node: &str, input: &str) -> Self {
        Place {
            node: node.to_owned(),
            field: format!("inputs.{input}"),
            label: format!("node `{node}` input `{input}`"),
            path: String::new(),
        }
    }

    pub(super) fn output(name: &str) -> Self {
        Place {
            node: String::new(),
            field: format!("outputs.{name}"),
            label: format!("workflow output `{name}`"),
            path: String::new(),
        }
    }

    fn at(&self, step: String) -> Self {
        Place {
            path: format!("{}{step}", self.path),
            ..self.clone()
        }
    }

    fn problem(&self, code: ProblemCode, message: String) -> Problem {
        Problem::new(code, message)
            .node(&self.node)
            .field(&self.field)
            .path(&self.path)
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.label, self.path)
    }
}

pub(super) struct Checker<'a> {
    pub(super) index: &'a HashMap<&'a str, u32>,
    pub(super) callees: &'a [Option<Callee>],
    pub(super) spec: &'a WorkflowSpec,
    pub(super) workflow_inputs: HashMap<&'a str, &'a Type>,
}

impl Checker<'_> {
    /// Type-checks `binding` where a value of `expected` is needed; records
    /// problems and returns the compiled binding when it is sound.
    pub(super) fn check(
        &self,
        binding: &Binding,
        expected: &Type,
        place: &Place,
        problems: &mut Vec<Problem>,
    ) -> Option<CompiledBinding> {
        let mismatch = |problems: &mut Vec<Problem>, source: &str, found: &Type| {
            problems.push(place.problem(
                ProblemCode::TypeMismatch,
                format!("{place}: type mismatch: expected {expected}, but {source} is {found}"),
            ));
        };
        match binding {
            Binding::History(name) => match self.spec.interface.output(name) {
                None => {
                    problems.push(place.problem(ProblemCode::NotFound, format!(
                        "{place}: `${{history.{name}}}` names no output of this workflow; a loop body's history holds its own outputs{}",
                        describe_outputs(&self.spec.interface)
                    )));
                    None
                }
                Some(var) => {
                    let list = Type::List(Box::new(var.ty.clone()));
                    if expected.accepts(&list) {
                        Some(CompiledBinding::History(name.clone()))
                    } else {
                        mismatch(problems, &format!("`${{history.{name}}}`"), &list);
                        None
                    }
                }
            },
            Binding::Input(name) => match self.workflow_inputs.get(name.as_str()) {
                None => {
                    problems.push(place.problem(
                        ProblemCode::NotFound,
                        format!("{place}: `${{inputs.{name}}}` is not a workflow input"),
                    ));
                    None
                }
                Some(ty) if !expected.accepts(ty) => {
                    mismatch(problems, &format!("`${{inputs.{name}}}`"), ty);
                    None
                }
                Some(_) => Some(CompiledBinding::Input(name.clone())),
            },
            Binding::Output { node, output } => {
                let Some(&j) = self.index.get(node.as_str()) else {
                    problems.push(place.problem(
                        ProblemCode::NotFound,
                        format!("{place}: `${{{node}.{output}}}` refers to missing node `{node}`"),
                    ));
                    return None;
                };
                let callee = self.callees[j as usize].as_ref()?;
                match callee.interface().output(output) {
                    None => {
                        problems.push(place.problem(ProblemCode::NotFound, format!(
                            "{place}: `${{{node}.{output}}}` refers to missing output `{output}` of node `{node}` ({} `{}`)",
                            callee.kind_name(),
                            callee.id()
                        )));
                        None
                    }
                    Some(var) if !expected.accepts(&var.ty) => {
                        mismatch(problems, &format!("`${{{node}.{output}}}`"), &var.ty);
                        None
                    }
                    Some(_) => Some(CompiledBinding::Output {
                        node: j,
                        output: output.clone(),
                    }),
                }
            }
            Binding::Constant(value) => match value.coerce(expected) {
                Ok(v) => Some(CompiledBinding::Constant(v)),
                Err(why) => {
                    problems.push(place.problem(
                        ProblemCode::TypeMismatch,
                        format!("{place}: constant {value}: {why}"),
                    ));
                    None
                }
            },
            Binding::List(items) => {
                let inner = match expected {
                    Type::List(inner) => inner,
                    Type::Optional(opt) => match opt.as_ref() {
                        Type::List(inner) => inner,
                        _ => {
                            problems.push(place.problem(
                                ProblemCode::TypeMismatch,
                                format!("{place}: a list is bound where {expected} is expected"),
                            ));
                            return None;
                        }
                    },
                    _ => {
                        problems.push(place.problem(
                            ProblemCode::TypeMismatch,
                            format!("{place}: a list is bound where {expected} is expected"),
                        ));
                        return None;
                    }
                };
                let compiled: Vec<_> = items
                    .iter()
                    .enumerate()
                    .map(|(i, b)| self.check(b, inner, &place.at(format!("[{i}]")), problems))
                    .collect();
                compiled
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(CompiledBinding::List)
            }
            Binding::Map(entries) => {
                let target = match expected {
                    Type::Optional(inner) => inner.as_ref(),
                    other => other,
                };
                let mut out = BTreeMap::new();
                let mut ok = true;
                match target {
                    Type::Map(inner) => {
                        for (k, b) in entries {
                            match self.check(b, inner, &place.at(format!("[{k:?}]")), problems) {
                                Some(c) => {
                                    out.insert(k.clone(), c);
                                }
                                None => ok = false,
                            }
                        }
                    }
                    Type::Struct(fields) => {
                        for k in entries.keys().filter(|k| !fields.contains_key(*k)) {
                            problems.push(place.at(format!(".{k}")).problem(
                                ProblemCode::UnknownName,
                                format!("{place}: unknown field `{k}` for {target}"),
                            ));
                            ok = false;
                        }
                        for (name, ty) in fields {
                            match entries.get(name) {
                                Some(b) => {
                                    match self.check(b, ty, &place.at(format!(".{name}")), problems)
                                    {
                                        Some(c) => {
                                            out.insert(name.clone(), c);
                                        }
                                        None => ok = false,
                                    }
                                }
                                None if ty.is_optional() => {}
                                None => {
                                    problems.push(place.at(format!(".{name}")).problem(
                                        ProblemCode::Missing,
                                        format!("{place}: missing field `{name}` ({ty})"),
                                    ));
                                    ok = false;
                                }
                            }
                        }
                    }
                    _ => {
                        problems.push(place.problem(
                            ProblemCode::TypeMismatch,
                            format!("{place}: a mapping is bound where {expected} is expected"),
                        ));
                        return None;
                    }
                }
                ok.then_some(CompiledBinding::Map(out))
            }
        }
    }
}

/// The type of what a binding reads, for a node whose inputs declare none
/// (a branch's).
pub(super) struct Inference<'a> {
    pub(super) index: &'a HashMap<&'a str, u32>,
    pub(super) callees: &'a [Option<Callee>],
    pub(super) spec: &'a WorkflowSpec,
}

impl Inference<'_> {
    pub(super) fn type_of(&self, binding: &Binding) -> Result<Type, String> {
        match binding {
            Binding::Input(name) => self
                .spec
                .interface
                .input(name)
                .map(|v| v.ty.clone())
                .ok_or_else(|| format!("`${{inputs.{name}}}` is not a workflow input")),
            Binding::History(name) => self
                .spec
                .interface
                .output(name)
                .map(|v| Type::List(Box::new(v.ty.clone())))
                .ok_or_else(|| format!("`${{history.{name}}}` names no output of this workflow")),
            Binding::Output { node, output } => {
                let j = *self
                    .index
                    .get(node.as_str())
                    .ok_or_else(|| format!("`${{{node}.{output}}}` refers to missing node `{node}`"))?;
                let declared = match &self.spec.nodes[j as usize].kind {
                    NodeKind::Branch(branch) => branch.outputs.iter().find(|v| v.name == *output),
                    _ => self.callees[j as usize]
                        .as_ref()
                        .and_then(|c| c.interface().output(output)),
                };
                declared
                    .map(|v| v.ty.clone())
                    .ok_or_else(|| format!("`${{{node}.{output}}}` refers to missing output `{output}` of node `{node}`"))
            }
            Binding::Constant(value) => match value {
                Value::Bool(_) => Ok(Type::Bool),
                Value::Int(_) => Ok(Type::Int),
                Value::Float(_) => Ok(Type::Float),
                Value::String(_) => Ok(Type::String),
                other => Err(format!(
                    "the constant {other} has no type of its own; bind a branch input to a reference, or to a bool, int, float or string"
                )),
            },
            Binding::List(_) | Binding::Map(_) => Err(
                "a branch input takes a reference or a constant, not a list or mapping of bindings".into(),
            ),
        }
    }
}

/// Input and output names are identifiers (`[A-Za-z_][A-Za-z0-9_]*`), so
/// that bindings (`${node.output}`, `${loop.history.output}`) and
/// conditions read them unambiguously.
pub fn check_names(interface: &baton_model::Interface) -> Result<(), String> {
    let valid = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    for (what, vars) in [("input", &interface.inputs), ("output", &interface.outputs)] {
        if let Some(bad) = vars.iter().find(|v| !valid(&v.name)) {
            return Err(format!(
                "{what} `{}` is not a name: use letters, digits and `_`, starting with a letter or `_`",
                bad.name
            ));
        }
    }
    Ok(())
}

/// ": it offers a, b" for an error about a workflow's outputs.
fn describe_outputs(interface: &baton_model::Interface) -> String {
    if interface.outputs.is_empty() {
        return ", and this one has none".into();
    }
    format!(
        "; it offers {}",
        interface
            .outputs
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
