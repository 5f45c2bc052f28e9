//! Type-checks a parsed condition against the scopes it may read, resolving
//! each name to its scope, and refuses (naming the column) whatever could
//! not be evaluated: an unknown or ambiguous name, a field or index of the
//! wrong type, a comparison of unlike types, a non-bool operand of
//! `and`/`or`/`not`, or a result that is not a bool.

use crate::types::Type;

use super::{parse, At, CompareOp, Condition, ConditionError, Expr, Literal, Typed};

/// Variables a condition may read: a loop's body outputs, its inputs, a
/// branch's inputs...
pub struct Scope<'a> {
    /// The scope's own name, which picks a variable from it alone
    /// (`inputs.budget`).
    pub name: &'a str,
    /// How errors introduce its variables: "the body offers".
    pub offers: &'a str,
    pub vars: Vec<(&'a str, &'a Type)>,
}

impl<'a> Scope<'a> {
    /// A scope of `variables` (an interface's inputs or outputs).
    pub fn of(name: &'a str, offers: &'a str, variables: &'a [crate::spec::Variable]) -> Self {
        Scope {
            name,
            offers,
            vars: variables.iter().map(|v| (v.name.as_str(), &v.ty)).collect(),
        }
    }
}

/// Parses and checks `text` over `scopes`: a bare name is the variable of
/// the first scope that has one by that name (a scope's name picks from it
/// alone: `inputs.x`), and the value must be a bool.
pub fn check(text: &str, scopes: &[Scope<'_>]) -> Result<Condition, ConditionError> {
    let expr = parse(text)?;
    let checker = Checker { scopes };
    let (expr, ty) = checker.expr(expr)?;
    if ty != Typed::Of(Type::Bool) {
        return Err(ConditionError::new(
            0,
            format!("the condition is {ty}, not bool (compare it: `... == ...`, `... > ...`)"),
        ));
    }
    Ok(Condition {
        text: text.to_owned(),
        expr,
    })
}

struct Checker<'s, 'a> {
    scopes: &'s [Scope<'a>],
}

impl Checker<'_, '_> {
    fn expr(&self, expr: Expr) -> Result<(Expr, Typed), ConditionError> {
        Ok(match expr {
            Expr::Literal(literal) => {
                let ty = match &literal {
                    Literal::Bool(_) => Typed::Of(Type::Bool),
                    Literal::Int(_) => Typed::Of(Type::Int),
                    Literal::Float(_) => Typed::Of(Type::Float),
                    Literal::String(_) => Typed::Of(Type::String),
                    Literal::Null => Typed::Null,
                };
                (Expr::Literal(literal), ty)
            }
            Expr::Name { name, at } => self.name(&name, at)?,
            Expr::Field { of, field, at } => {
                // `inputs.budget`: a scope's own name picks from it alone.
                if let Expr::Name { name, .. } = of.as_ref() {
                    if let Some(scope) = self.scopes.iter().position(|s| s.name == name) {
                        return self.scoped(scope, &field, at);
                    }
                }
                let (of, ty) = self.expr(*of)?;
                let field_ty = match &ty {
                    Typed::Of(Type::Struct(fields)) => match fields.get(&field) {
                        Some(t) => t.clone(),
                        None => {
                            return Err(ConditionError::new(
                                at,
                                format!(
                                    "{ty} has no field `{field}`; its fields are {}",
                                    fields.keys().cloned().collect::<Vec<_>>().join(", ")
                                ),
                            ))
                        }
                    },
                    Typed::Of(Type::Map(_)) => {
                        return Err(ConditionError::new(
                            at,
                            format!("`.{field}` reads a struct field; index a map by its key: `[\"{field}\"]`"),
                        ))
                    }
                    other => {
                        return Err(ConditionError::new(
                            at,
                            format!("`.{field}` reads a field, but the value is {other}"),
                        ))
                    }
                };
                (
                    Expr::Field {
                        of: Box::new(of),
                        field,
                        at,
                    },
                    Typed::Of(field_ty),
                )
            }
            Expr::Index { of, index, at } => {
                let (of, ty) = self.expr(*of)?;
                let (index, index_ty) = self.expr(*index)?;
                let element = match (&ty, &index_ty) {
                    (Typed::Of(Type::List(inner)), Typed::Of(Type::Int)) => inner.as_ref().clone(),
                    (Typed::Of(Type::Map(inner)), Typed::Of(Type::String)) => {
                        inner.as_ref().clone()
                    }
                    (Typed::Of(Type::List(_)), other) => {
                        return Err(ConditionError::new(
                            at,
                            format!("a list is indexed by an int, not {other}"),
                        ))
                    }
                    (Typed::Of(Type::Map(_)), other) => {
                        return Err(ConditionError::new(
                            at,
                            format!("a map is indexed by a string, not {other}"),
                        ))
                    }
                    (other, _) => {
                        return Err(ConditionError::new(
                            at,
                            format!("`[...]` indexes a list or a map, but the value is {other}"),
                        ))
                    }
                };
                (
                    Expr::Index {
                        of: Box::new(of),
                        index: Box::new(index),
                        at,
                    },
                    Typed::Of(element),
                )
            }
            Expr::Len { of, at } => {
                let (of, ty) = self.expr(*of)?;
                match &ty {
                    Typed::Of(Type::List(_) | Type::Map(_) | Type::String | Type::Bytes) => {}
                    other => {
                        return Err(ConditionError::new(
                            at,
                            format!("len() takes a list, a map, a string or bytes, not {other}"),
                        ))
                    }
                }
                (
                    Expr::Len {
                        of: Box::new(of),
                        at,
                    },
                    Typed::Of(Type::Int),
                )
            }
            Expr::Not { of, at } => {
                let (of, ty) = self.expr(*of)?;
                self.boolean(&ty, "not", at)?;
                (
                    Expr::Not {
                        of: Box::new(of),
                        at,
                    },
                    ty,
                )
            }
            Expr::And(left, right) => {
                let (left, right) = self.both_bool(*left, *right, "and")?;
                (Expr::And(left, right), Typed::Of(Type::Bool))
            }
            Expr::Or(left, right) => {
                let (left, right) = self.both_bool(*left, *right, "or")?;
                (Expr::Or(left, right), Typed::Of(Type::Bool))
            }
            Expr::Compare {
                op,
                left,
                right,
                at,
            } => {
                let (left, left_ty) = self.expr(*left)?;
                let (right, right_ty) = self.expr(*right)?;
                comparable(op, &left_ty, &right_ty).map_err(|why| ConditionError::new(at, why))?;
                (
                    Expr::Compare {
                        op,
                        left: Box::new(left),
                        right: Box::new(right),
                        at,
                    },
                    Typed::Of(Type::Bool),
                )
            }
            Expr::Var { .. } => unreachable!("a parsed expression has no resolved variables"),
        })
    }

    /// A bare name: a variable of exactly one scope.
    fn name(&self, name: &str, at: At) -> Result<(Expr, Typed), ConditionError> {
        if let Some(scope) = self.scopes.iter().find(|s| s.name == name) {
            return Err(ConditionError::new(
                at,
                format!(
                    "`{name}` is a scope; name one of its variables: `{name}.NAME`, where {} {}",
                    scope.offers,
                    names(scope)
                ),
            ));
        }
        // The first scope that has it: a loop's body outputs before its
        // inputs, so `x >= limit` reads the last iteration's `x`.
        match (0..self.scopes.len()).find(|&s| self.scopes[s].vars.iter().any(|(n, _)| *n == name))
        {
            Some(scope) => self.scoped(scope, name, at),
            None => Err(ConditionError::new(
                at,
                format!("unknown name `{name}`; {}", self.offers()),
            )),
        }
    }

    fn scoped(&self, scope: usize, name: &str, at: At) -> Result<(Expr, Typed), ConditionError> {
        let entry = &self.scopes[scope];
        match entry.vars.iter().find(|(n, _)| *n == name) {
            Some((_, ty)) => Ok((
                Expr::Var {
                    scope: scope as u32,
                    name: name.to_owned(),
                },
                Typed::Of((*ty).clone()),
            )),
            None => Err(ConditionError::new(
                at,
                format!(
                    "`{}` has no `{name}`; {} {}",
                    entry.name,
                    entry.offers,
                    names(entry)
                ),
            )),
        }
    }

    /// "the body offers a, b; the loop takes c" for an unknown name.
    fn offers(&self) -> String {
        self.scopes
            .iter()
            .map(|s| format!("{} {}", s.offers, names(s)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn boolean(&self, ty: &Typed, operator: &str, at: At) -> Result<(), ConditionError> {
        if *ty == Typed::Of(Type::Bool) {
            return Ok(());
        }
        Err(ConditionError::new(
            at,
            format!("`{operator}` takes bools, not {ty}"),
        ))
    }

    fn both_bool(
        &self,
        left: Expr,
        right: Expr,
        operator: &str,
    ) -> Result<(Box<Expr>, Box<Expr>), ConditionError> {
        let left_at = start_of(&left);
        let right_at = start_of(&right);
        let (left, left_ty) = self.expr(left)?;
        let (right, right_ty) = self.expr(right)?;
        self.boolean(&left_ty, operator, left_at)?;
        self.boolean(&right_ty, operator, right_at)?;
        Ok((Box::new(left), Box::new(right)))
    }
}

fn names(scope: &Scope<'_>) -> String {
    if scope.vars.is_empty() {
        return "nothing".into();
    }
    scope
        .vars
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where an expression starts, for errors about it as an operand.
fn start_of(expr: &Expr) -> At {
    match expr {
        Expr::Name { at, .. } | Expr::Len { at, .. } | Expr::Not { at, .. } => *at,
        Expr::Field { of, .. } | Expr::Index { of, .. } => start_of(of),
        Expr::And(left, _) | Expr::Or(left, _) => start_of(left),
        Expr::Compare { left, .. } => start_of(left),
        Expr::Literal(_) | Expr::Var { .. } => 0,
    }
}

/// Whether `op` may compare values of these types.
fn comparable(op: CompareOp, left: &Typed, right: &Typed) -> Result<(), String> {
    let equality = matches!(op, CompareOp::Eq | CompareOp::Ne);
    let numeric = |t: &Typed| matches!(t, Typed::Of(Type::Int | Type::Float));
    match (left, right) {
        _ if numeric(left) && numeric(right) => Ok(()),
        (Typed::Null, Typed::Of(Type::Optional(_))) | (Typed::Of(Type::Optional(_)), Typed::Null)
            if equality =>
        {
            Ok(())
        }
        (Typed::Null, _) | (_, Typed::Null) => Err(format!(
            "only an optional value compares with null (`== null`, `!= null`); this is {left} {} {right}",
            op.symbol()
        )),
        (Typed::Of(Type::Optional(inner)), other) | (other, Typed::Of(Type::Optional(inner)))
            if equality =>
        {
            match other {
                Typed::Of(t) if t == inner.as_ref() || (numeric(other) && matches!(inner.as_ref(), Type::Int | Type::Float)) => Ok(()),
                _ => Err(format!("cannot compare {left} with {right}")),
            }
        }
        (Typed::Of(Type::Optional(_)), _) | (_, Typed::Of(Type::Optional(_))) => Err(format!(
            "`{}` orders only values that are present; {left} {} {right} may be null (test `!= null` in a branch before it)",
            op.symbol(),
            op.symbol()
        )),
        (Typed::Of(a), Typed::Of(b)) if a == b => {
            if equality
                || matches!(a, Type::String | Type::Datetime | Type::Duration)
            {
                Ok(())
            } else {
                Err(format!("`{}` does not order {a} values; only `==` and `!=` compare them", op.symbol()))
            }
        }
        _ => Err(format!("cannot compare {left} with {right}")),
    }
}
