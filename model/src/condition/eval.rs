//! Evaluates a checked condition over the values of its scopes. The checker
//! has typed every operation, so what can still go wrong is the data: an
//! index out of range, a missing map key, a variable not bound.

use std::cmp::Ordering;

use crate::value::{Value, Values};

use super::{CompareOp, Condition, Expr, Literal};

impl Condition {
    /// The condition's value, reading variables of scope `n` from
    /// `scopes[n]` (in the order the condition was checked with).
    pub fn evaluate(&self, scopes: &[&Values]) -> Result<bool, String> {
        match value(&self.expr, scopes)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("`{}` gave {other}, not a bool", self.text)),
        }
    }
}

fn value(expr: &Expr, scopes: &[&Values]) -> Result<Value, String> {
    Ok(match expr {
        Expr::Literal(literal) => match literal {
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(n) => Value::Int(*n),
            Literal::Float(x) => Value::Float(*x),
            Literal::String(s) => Value::String(s.clone()),
            Literal::Null => Value::None,
        },
        Expr::Var { scope, name } => scopes
            .get(*scope as usize)
            .and_then(|values| values.get(name))
            .cloned()
            .ok_or_else(|| format!("`{name}` has no value"))
            .and_then(|v| match v {
                Value::Offloaded(blob) => Err(format!(
                    "`{name}` is in the blob store ({} bytes, above the inline limit); \
                     a condition reads inline values only",
                    blob.size
                )),
                v => Ok(v),
            })?,
        Expr::Name { name, .. } => return Err(format!("`{name}` was not checked")),
        Expr::Field { of, field, .. } => match value(of, scopes)? {
            Value::Map(mut entries) => match entries.remove(field) {
                Some(v) => v,
                // An optional struct field left out.
                None => Value::None,
            },
            other => return Err(format!("`.{field}` of {other}")),
        },
        Expr::Index { of, index, .. } => match (value(of, scopes)?, value(index, scopes)?) {
            (Value::List(items), Value::Int(i)) => {
                let len = items.len();
                usize::try_from(i)
                    .ok()
                    .and_then(|i| items.into_iter().nth(i))
                    .ok_or_else(|| format!("index {i} is out of range for a list of {len}"))?
            }
            (Value::Map(mut entries), Value::String(key)) => entries
                .remove(&key)
                .ok_or_else(|| format!("the map has no key {key:?}"))?,
            (of, index) => return Err(format!("cannot index {of} by {index}")),
        },
        Expr::Len { of, .. } => {
            let n = match value(of, scopes)? {
                Value::List(items) => items.len(),
                Value::Map(entries) => entries.len(),
                Value::String(s) => s.chars().count(),
                Value::Bytes(b) => b.len(),
                other => return Err(format!("len() of {other}")),
            };
            Value::Int(n as i64)
        }
        Expr::Not { of, .. } => Value::Bool(!boolean(of, scopes)?),
        Expr::And(left, right) => Value::Bool(boolean(left, scopes)? && boolean(right, scopes)?),
        Expr::Or(left, right) => Value::Bool(boolean(left, scopes)? || boolean(right, scopes)?),
        Expr::Compare {
            op, left, right, ..
        } => {
            let left = value(left, scopes)?;
            let right = value(right, scopes)?;
            Value::Bool(compare(*op, &left, &right)?)
        }
    })
}

fn boolean(expr: &Expr, scopes: &[&Values]) -> Result<bool, String> {
    match value(expr, scopes)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("{other} is not a bool")),
    }
}

fn compare(op: CompareOp, left: &Value, right: &Value) -> Result<bool, String> {
    let ordering = match (left, right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Datetime(a), Value::Datetime(b)) | (Value::Duration(a), Value::Duration(b)) => {
            Some(a.cmp(b))
        }
        _ => None,
    };
    Ok(match op {
        CompareOp::Eq => ordering.map_or_else(|| left == right, |o| o == Ordering::Equal),
        CompareOp::Ne => ordering.map_or_else(|| left != right, |o| o != Ordering::Equal),
        _ => {
            // NaN orders with nothing: every ordering comparison is false.
            let Some(o) = ordering else {
                if matches!((left, right), (Value::Float(_), _) | (_, Value::Float(_))) {
                    return Ok(false);
                }
                return Err(format!("cannot order {left} and {right}"));
            };
            match op {
                CompareOp::Lt => o == Ordering::Less,
                CompareOp::Le => o != Ordering::Greater,
                CompareOp::Gt => o == Ordering::Greater,
                CompareOp::Ge => o != Ordering::Less,
                CompareOp::Eq | CompareOp::Ne => unreachable!(),
            }
        }
    })
}
