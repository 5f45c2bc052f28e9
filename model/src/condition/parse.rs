//! Reads a condition's text into an [`Expr`] (with winnow): recursive
//! descent, one function per precedence level, each error naming the column
//! and what was expected there.

use winnow::ascii::{digit1, multispace0};
use winnow::combinator::{alt, cut_err, delimited, opt, preceded};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Location, Stream};
use winnow::token::{one_of, take_till, take_while};

use super::{At, CompareOp, ConditionError, Expr, Literal};

type Input<'a> = LocatingSlice<&'a str>;

const KEYWORDS: &[&str] = &["and", "or", "not", "true", "false", "null", "len"];

/// Parses a condition. The error names the column and what was expected.
pub fn parse(text: &str) -> Result<Expr, ConditionError> {
    if text.trim().is_empty() {
        return Err(ConditionError::new(0, "the condition is empty"));
    }
    let mut input = LocatingSlice::new(text);
    let result = (|i: &mut Input<'_>| -> ModalResult<Expr> {
        let expr = or_expr(i)?;
        multispace0.parse_next(i)?;
        Ok(expr)
    })
    .parse_next(&mut input);
    let at = input.current_token_start() as At;
    match result {
        Ok(expr) if input.is_empty() => Ok(expr),
        Ok(_) => {
            let rest: String = text[at as usize..].chars().take(12).collect();
            Err(ConditionError::new(
                at,
                format!(
                    "unexpected `{rest}`; expected an operator (`and`, `or`, `==`, `<`, ...) or the end"
                ),
            ))
        }
        Err(ErrMode::Backtrack(e) | ErrMode::Cut(e)) => {
            let expected = describe(&e);
            let rest = text[at as usize..].trim_start();
            let at = (text.len() - rest.len()) as At;
            let found = match rest.chars().next() {
                Some(_) => format!("`{}`", rest.chars().take(12).collect::<String>()),
                None => "the end".to_string(),
            };
            Err(ConditionError::new(
                at,
                format!("{expected}, found {found}"),
            ))
        }
        Err(ErrMode::Incomplete(_)) => Err(ConditionError::new(at, "the condition is cut short")),
    }
}

/// "expected X or Y" from a winnow error's contexts.
fn describe(error: &ContextError) -> String {
    let expected: Vec<String> = error
        .context()
        .filter_map(|c| match c {
            StrContext::Expected(value) => Some(value.to_string()),
            _ => None,
        })
        .collect();
    if expected.is_empty() {
        "expected a value (a name, a number, a string, `true`, `false`, `null`, `len(...)` or `(...)`)".into()
    } else {
        format!("expected {}", expected.join(" or "))
    }
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn at(i: &Input<'_>) -> At {
    i.current_token_start() as At
}

fn ws(i: &mut Input<'_>) -> ModalResult<()> {
    multispace0.void().parse_next(i)
}

/// A word: a name or a keyword.
fn word<'a>(i: &mut Input<'a>) -> ModalResult<&'a str> {
    (
        one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., |c: char| c.is_ascii_alphanumeric() || c == '_'),
    )
        .take()
        .parse_next(i)
}

/// Keyword `kw` (a whole word), after optional whitespace.
fn keyword<'a>(kw: &'static str) -> impl FnMut(&mut Input<'a>) -> ModalResult<()> {
    move |i: &mut Input<'a>| {
        let start = i.checkpoint();
        ws(i)?;
        match word.parse_next(i) {
            Ok(w) if w == kw => Ok(()),
            _ => {
                i.reset(&start);
                Err(ErrMode::Backtrack(ContextError::new()))
            }
        }
    }
}

fn or_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    let mut left = and_expr(i)?;
    while opt(keyword("or")).parse_next(i)?.is_some() {
        let right = cut_err(and_expr).parse_next(i)?;
        left = Expr::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn and_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    let mut left = not_expr(i)?;
    while opt(keyword("and")).parse_next(i)?.is_some() {
        let right = cut_err(not_expr).parse_next(i)?;
        left = Expr::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn not_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    ws(i)?;
    let start = at(i);
    if opt(keyword("not")).parse_next(i)?.is_some() {
        let of = cut_err(not_expr).parse_next(i)?;
        return Ok(Expr::Not {
            of: Box::new(of),
            at: start,
        });
    }
    compare_expr(i)
}

fn compare_op(i: &mut Input<'_>) -> ModalResult<CompareOp> {
    alt((
        "==".value(CompareOp::Eq),
        "!=".value(CompareOp::Ne),
        "<=".value(CompareOp::Le),
        ">=".value(CompareOp::Ge),
        "<".value(CompareOp::Lt),
        ">".value(CompareOp::Gt),
    ))
    .parse_next(i)
}

fn compare_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    let left = postfix(i)?;
    ws(i)?;
    let op_at = at(i);
    let Some(op) = opt(compare_op).parse_next(i)? else {
        return Ok(left);
    };
    let right = cut_err(postfix).parse_next(i)?;
    Ok(Expr::Compare {
        op,
        left: Box::new(left),
        right: Box::new(right),
        at: op_at,
    })
}

/// A primary value followed by any number of `.field` and `[index]`.
fn postfix(i: &mut Input<'_>) -> ModalResult<Expr> {
    let mut expr = primary(i)?;
    loop {
        let start = i.checkpoint();
        ws(i)?;
        let op_at = at(i);
        if opt('.').parse_next(i)?.is_some() {
            let field = cut_err(word.context(expected("a field name after `.`"))).parse_next(i)?;
            expr = Expr::Field {
                of: Box::new(expr),
                field: field.to_owned(),
                at: op_at,
            };
        } else if opt('[').parse_next(i)?.is_some() {
            let index = cut_err(or_expr).parse_next(i)?;
            ws(i)?;
            cut_err(']'.context(expected("`]`"))).parse_next(i)?;
            expr = Expr::Index {
                of: Box::new(expr),
                index: Box::new(index),
                at: op_at,
            };
        } else {
            i.reset(&start);
            return Ok(expr);
        }
    }
}

fn primary(i: &mut Input<'_>) -> ModalResult<Expr> {
    ws(i)?;
    let start = at(i);
    alt((
        delimited(
            '(',
            cut_err(or_expr),
            cut_err(preceded(ws, ')').context(expected("`)`"))),
        ),
        number,
        string.map(|s| Expr::Literal(Literal::String(s.to_owned()))),
        move |i: &mut Input<'_>| name_or_keyword(i, start),
    ))
    .parse_next(i)
}

fn name_or_keyword(i: &mut Input<'_>, start: At) -> ModalResult<Expr> {
    let before = i.checkpoint();
    let name = word.parse_next(i)?;
    Ok(match name {
        "true" => Expr::Literal(Literal::Bool(true)),
        "false" => Expr::Literal(Literal::Bool(false)),
        "null" => Expr::Literal(Literal::Null),
        "len" => {
            ws(i)?;
            cut_err('('.context(expected("`(` after `len`"))).parse_next(i)?;
            let of = cut_err(or_expr).parse_next(i)?;
            ws(i)?;
            cut_err(')'.context(expected("`)`"))).parse_next(i)?;
            Expr::Len {
                of: Box::new(of),
                at: start,
            }
        }
        word if KEYWORDS.contains(&word) => {
            // `and`, `or`, `not` where a value belongs: the error is here.
            i.reset(&before);
            return Err(ErrMode::Cut(ContextError::new()));
        }
        word => Expr::Name {
            name: word.to_owned(),
            at: start,
        },
    })
}

/// `12`, `-3`, `0.5`, `-1.25`: an int unless it has a fraction.
fn number(i: &mut Input<'_>) -> ModalResult<Expr> {
    let text = (opt('-'), digit1, opt(('.', digit1)))
        .take()
        .parse_next(i)?;
    let literal = if text.contains('.') {
        Literal::Float(
            text.parse()
                .map_err(|_| ErrMode::Cut(ContextError::new()))?,
        )
    } else {
        match text.parse() {
            Ok(n) => Literal::Int(n),
            Err(_) => {
                let mut e = ContextError::new();
                e.push(expected("an integer within 64 bits"));
                return Err(ErrMode::Cut(e));
            }
        }
    };
    Ok(Expr::Literal(literal))
}

/// `"text"` or `'text'`, with no escapes.
fn string<'a>(i: &mut Input<'a>) -> ModalResult<&'a str> {
    alt((
        delimited(
            '"',
            take_till(0.., '"'),
            cut_err('"'.context(expected("a closing `\"`"))),
        ),
        delimited(
            '\'',
            take_till(0.., '\''),
            cut_err('\''.context(expected("a closing `'`"))),
        ),
    ))
    .parse_next(i)
}
