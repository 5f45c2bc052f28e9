//! The condition language: what parses, what checks, what it evaluates to,
//! and the error (with its column) for each kind of mistake.

use std::collections::BTreeMap;

use super::*;
use crate::value::{Value, Values};

/// Variables of one scope: name and type.
type Vars = Vec<(&'static str, Type)>;

/// The body's outputs and the loop's inputs of the tests' conditions.
fn types() -> (Vars, Vars) {
    let report = Type::Struct(BTreeMap::from([
        ("metrics".to_string(), Type::Map(Box::new(Type::Float))),
        ("tags".to_string(), Type::List(Box::new(Type::String))),
    ]));
    (
        vec![
            ("accuracy", Type::Float),
            ("labels_used", Type::Int),
            ("labeled_next", Type::List(Box::new(Type::Int))),
            ("report", report),
            ("note", Type::Optional(Box::new(Type::String))),
            ("done", Type::Bool),
        ],
        vec![("budget", Type::Int), ("labels_used", Type::Int)],
    )
}

fn checked(text: &str) -> Result<Condition, ConditionError> {
    let (outputs, inputs) = types();
    let scopes = [
        Scope {
            name: "outputs",
            offers: "the body offers",
            vars: outputs.iter().map(|(n, t)| (*n, t)).collect(),
        },
        Scope {
            name: "inputs",
            offers: "the loop takes",
            vars: inputs.iter().map(|(n, t)| (*n, t)).collect(),
        },
    ];
    check(text, &scopes)
}

fn error(text: &str) -> String {
    checked(text).unwrap_err().to_string()
}

fn values() -> (Values, Values) {
    let outputs = Values::from([
        ("accuracy".to_string(), Value::Float(0.91)),
        ("labels_used".to_string(), Value::Int(40)),
        (
            "labeled_next".to_string(),
            Value::List(vec![Value::Int(3), Value::Int(5)]),
        ),
        (
            "report".to_string(),
            Value::Map(BTreeMap::from([
                (
                    "metrics".to_string(),
                    Value::Map(BTreeMap::from([("f1".to_string(), Value::Float(0.85))])),
                ),
                (
                    "tags".to_string(),
                    Value::List(vec![Value::String("ok".into())]),
                ),
            ])),
        ),
        ("note".to_string(), Value::None),
        ("done".to_string(), Value::Bool(false)),
    ]);
    let inputs = Values::from([
        ("budget".to_string(), Value::Int(50)),
        ("labels_used".to_string(), Value::Int(0)),
    ]);
    (outputs, inputs)
}

fn eval(text: &str) -> bool {
    let (outputs, inputs) = values();
    checked(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .evaluate(&[&outputs, &inputs])
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn evaluates_comparisons_logic_fields_indexes_and_len() {
    assert!(!eval("accuracy >= 0.95 or outputs.labels_used >= budget"));
    assert!(eval("accuracy >= 0.9 and not done"));
    assert!(eval("outputs.labels_used > inputs.labels_used"));
    assert!(eval(
        "report.metrics[\"f1\"] > 0.8 and report.tags[0] == 'ok'"
    ));
    assert!(eval("len(labeled_next) == 2 and labeled_next[1] == 5"));
    assert!(eval("note == null"));
    assert!(!eval("note == \"x\""));
    assert!(eval("(done or accuracy < 1) and budget == 50"));
    assert!(eval("not (done or accuracy > 1)"));
    assert!(eval("budget == 50.0"), "an int compares with a float");
    assert!(eval("-1 < accuracy"));
}

#[test]
fn precedence_is_or_then_and_then_not_then_comparison() {
    // true or (false and false)
    assert!(eval("accuracy > 0 or done and done"));
    // (not done) and true
    assert!(eval("not done and accuracy > 0"));
}

#[test]
fn an_unknown_name_lists_what_each_scope_offers() {
    let err = error("acuracy >= 0.95");
    assert_eq!(
        err,
        "at column 1: unknown name `acuracy`; the body offers accuracy, labels_used, labeled_next, report, note, done; the loop takes budget, labels_used"
    );
    let err = error("inputs.accuracy > 1");
    assert!(
        err.contains("`inputs` has no `accuracy`; the loop takes budget, labels_used"),
        "{err}"
    );
}

#[test]
fn a_bare_name_reads_the_first_scope_that_has_it() {
    // outputs.labels_used is 40, inputs.labels_used 0.
    assert!(eval("labels_used == 40"));
    assert!(eval("inputs.labels_used == 0"));
}

#[test]
fn syntax_errors_name_the_column_and_what_was_expected() {
    let err = error("accuracy >= ");
    assert!(err.starts_with("at column 13: expected a value"), "{err}");
    let err = error("accuracy >= 0.9 budget");
    assert!(
        err.starts_with("at column 17: unexpected `budget`"),
        "{err}"
    );
    let err = error("(accuracy > 1");
    assert!(err.contains("expected `)`"), "{err}");
    let err = error("report.");
    assert!(err.contains("expected a field name after `.`"), "{err}");
    let err = error("labeled_next[0");
    assert!(err.contains("expected `]`"), "{err}");
    let err = error("note == \"open");
    assert!(err.contains("a closing `\"`"), "{err}");
    assert!(error("").contains("empty"));
    let err = error("and done");
    assert!(err.starts_with("at column 1: expected a value"), "{err}");
}

#[test]
fn type_errors_name_the_column_and_both_types() {
    assert!(error("accuracy").contains("the condition is float, not bool"));
    assert!(
        error("accuracy == \"high\"").contains("at column 10: cannot compare float with string")
    );
    assert!(error("done and accuracy").contains("at column 10: `and` takes bools, not float"));
    assert!(error("not accuracy").contains("`not` takes bools, not float"));
    assert!(error("len(accuracy) > 1")
        .contains("len() takes a list, a map, a string or bytes, not float"));
    assert!(error("labeled_next[\"a\"] > 1").contains("a list is indexed by an int, not string"));
    assert!(error("report.metrics.f1 > 1").contains("index a map by its key: `[\"f1\"]`"));
    assert!(error("report.size > 1").contains("has no field `size`; its fields are metrics, tags"));
    assert!(error("accuracy.x > 1").contains("`.x` reads a field, but the value is float"));
    assert!(error("note > \"a\"").contains("may be null"));
    assert!(error("accuracy == null").contains("only an optional value compares with null"));
    assert!(error("done < true").contains("does not order bool values"));
    assert!(error("outputs > 1").contains("`outputs` is a scope"));
}

#[test]
fn a_checked_condition_survives_serialization() {
    let condition = checked("report.tags[0] == 'ok' or len(labeled_next) > 3").unwrap();
    let bytes = postcard::to_allocvec(&condition).unwrap();
    let back: Condition = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, condition);
}

#[test]
fn a_missing_index_is_an_evaluation_error() {
    let (outputs, inputs) = values();
    let condition = checked("labeled_next[7] == 1").unwrap();
    let err = condition.evaluate(&[&outputs, &inputs]).unwrap_err();
    assert!(
        err.contains("index 7 is out of range for a list of 2"),
        "{err}"
    );
}

#[test]
fn a_value_in_the_blob_store_is_an_evaluation_error_naming_it() {
    let (mut outputs, inputs) = values();
    let blob = crate::value::BlobRef {
        uri: "s3://b/sha256/ab".into(),
        size: 90_000,
        sha256: "ab".into(),
    };
    outputs.insert("labeled_next".into(), Value::Offloaded(blob));
    let condition = checked("len(labeled_next) > 1").unwrap();
    let err = condition.evaluate(&[&outputs, &inputs]).unwrap_err();
    assert_eq!(
        err,
        "`labeled_next` is in the blob store (90000 bytes, above the inline limit); a condition reads inline values only"
    );
}
