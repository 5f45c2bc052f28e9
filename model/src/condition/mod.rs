//! The condition language of `loop.until` and `branch` cases: a small, typed
//! expression language, parsed and type-checked when a workflow is
//! registered and evaluated by the engine over typed values.
//!
//! ```text
//! accuracy >= 0.95 or labels_used >= inputs.budget
//! not done and len(history.scores) < 10
//! report.metrics["f1"] > 0.8 and report.tags[0] == "ok"
//! ```
//!
//! Literals (`1`, `-2.5`, `"text"`, `'text'`, `true`, `false`, `null`),
//! names, field access (`a.b`), indexing (`xs[0]`, `m["key"]`), `len(x)` of a
//! list, map, string or bytes, the comparisons `== != < <= > >=`, and `and`,
//! `or`, `not` (in rising order of precedence: `or`, `and`, `not`, a
//! comparison), with parentheses. A name is a variable of the first of the
//! scopes the expression is checked in that has it (a loop's body outputs,
//! then its inputs); a scope's own name (`inputs.budget`) picks a variable
//! from that scope only. [`parse`] reads the text ([`parse`]'s errors name the column);
//! [`check`] resolves every name and types every operation, refusing what
//! could not be evaluated; [`Condition::evaluate`] runs it.

mod check;
mod eval;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::Type;

pub use check::{check, Scope};
pub use parse::parse;

/// A position in the condition's text: a byte offset.
pub type At = u32;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// The absent value of an `optional<T>`.
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// An expression; `Name`s appear only before [`check`], `Var`s only after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Literal(Literal),
    /// A name as written.
    Name {
        name: String,
        at: At,
    },
    /// A variable resolved by [`check`]: scope number and name.
    Var {
        scope: u32,
        name: String,
    },
    Field {
        of: Box<Expr>,
        field: String,
        at: At,
    },
    Index {
        of: Box<Expr>,
        index: Box<Expr>,
        at: At,
    },
    Len {
        of: Box<Expr>,
        at: At,
    },
    Not {
        of: Box<Expr>,
        at: At,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        op: CompareOp,
        left: Box<Expr>,
        right: Box<Expr>,
        at: At,
    },
}

/// A checked condition: its text as written and its resolved expression,
/// whose value is a bool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub text: String,
    pub expr: Expr,
}

/// What is wrong with a condition, and where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ConditionError {
    /// Byte offset in the text.
    pub at: At,
    pub message: String,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.at + 1, self.message)
    }
}

impl ConditionError {
    fn new(at: At, message: impl Into<String>) -> Self {
        ConditionError {
            at,
            message: message.into(),
        }
    }
}

/// The type of a checked expression: a declared type, or `null`, which only
/// compares with optionals.
#[derive(Clone, Debug, PartialEq)]
enum Typed {
    Of(Type),
    Null,
}

impl fmt::Display for Typed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Typed::Of(ty) => write!(f, "{ty}"),
            Typed::Null => f.write_str("null"),
        }
    }
}
