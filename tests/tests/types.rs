//! Typed values of every kind through a real workflow: given on the command
//! line, through a process task (JSON files) and a builtin task (in
//! memory), out as the workflow's outputs, unchanged; and each kind of
//! value that does not fit its type refused at launch, naming the path
//! inside the value.

use baton_tests::*;

/// Every kind of type but `blob`, each as an input and an output.
const TYPES: &[(&str, &str)] = &[
    ("b", "bool"),
    ("i", "int"),
    ("f", "float"),
    ("s", "string"),
    ("by", "bytes"),
    ("dt", "datetime"),
    ("du", "duration"),
    ("l", "list<int>"),
    ("m", "map<float>"),
    ("o", "optional<string>"),
    ("none", "optional<int>"),
    ("st", "{lo: float, hi: float, tags: list<string>}"),
    ("deep", "list<{margin: float, label: optional<int>}>"),
    ("mm", "map<list<{x: int}>>"),
];

/// Copies its inputs to its outputs through the JSON files.
const COPY: &str = r#"
import json, os
json.dump(json.load(open(os.environ["BATON_INPUTS"])), open(os.environ["BATON_OUTPUTS"], "w"))
"#;

fn specs(script: &str) -> String {
    let vars: String = TYPES
        .iter()
        .map(|(name, ty)| format!("    {name}: \"{ty}\"\n"))
        .collect();
    let binds = |from: &str, indent: &str| -> String {
        TYPES
            .iter()
            .map(|(name, _)| format!("{indent}{name}: \"${{{from}.{name}}}\"\n"))
            .collect()
    };
    let interface = format!("interface:\n  inputs:\n{vars}  outputs:\n{vars}");
    [
        "kind: Task\nname: copy\nversion: v1\n".to_owned(),
        interface.clone(),
        format!("runner: {{process: {{command: [python3, \"{script}\"]}}}}\n---\n"),
        "kind: Task\nname: same\nversion: v1\n".to_owned(),
        interface.clone(),
        "runner: {builtin: noop}\n---\n".to_owned(),
        "kind: Workflow\nname: kinds\nversion: v1\n".to_owned(),
        interface,
        "nodes:\n  - id: process\n    task: copy@v1\n    inputs:\n".to_owned(),
        binds("inputs", "      "),
        "  - id: builtin\n    task: same@v1\n    inputs:\n".to_owned(),
        binds("process", "      "),
        "outputs:\n".to_owned(),
        binds("builtin", "  "),
    ]
    .concat()
}

const INPUTS: &[&str] = &[
    "b=true",
    "i=-42",
    "f=2.5",
    "s=hello, world",
    "by=bytes",
    "dt=2026-12-02T10:30:00Z",
    "du=1m 30s",
    "l=[1, 2, 3]",
    "m={\"a\": 0.5, \"b\": 2}",
    "o=present",
    "st={\"lo\": 0.1, \"hi\": 0.9, \"tags\": [\"x\", \"y\"]}",
    "deep=[{\"margin\": 0.25, \"label\": 1}, {\"margin\": 0.75, \"label\": null}]",
    "mm={\"k\": [{\"x\": 1}, {\"x\": 2}]}",
];

#[test]
fn every_kind_of_value_goes_through_process_and_builtin_tasks_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let script = write(dir.path(), "copy.py", COPY);
    let file = write(dir.path(), "kinds.yaml", &specs(&script));
    cluster.baton(&["register", &file]).ok();

    let mut args = vec!["run", "kinds", "--wait", "-o", "json"];
    for input in INPUTS {
        args.extend(["-i", input]);
    }
    let done = cluster.baton(&args).ok().json();
    assert_eq!(done["phase"], "SUCCEEDED", "{done}");
    // What went in came out, every kind of it (`none` left out: null).
    assert_eq!(done["outputs"], done["inputs"], "{done}");
    let out = &done["outputs"];
    assert_eq!(out["i"], -42);
    assert_eq!(out["f"], 2.5);
    assert_eq!(out["none"], serde_json::Value::Null);
    assert_eq!(out["st"]["tags"], serde_json::json!(["x", "y"]));
    assert_eq!(out["deep"][1]["label"], serde_json::Value::Null);
    assert_eq!(out["mm"]["k"][1]["x"], 2);
    assert_eq!(out["m"]["b"], 2.0);
}

#[test]
fn a_value_that_does_not_fit_its_type_is_refused_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let script = write(dir.path(), "copy.py", COPY);
    let file = write(dir.path(), "kinds.yaml", &specs(&script));
    cluster.baton(&["register", &file]).ok();
    let run_with = |name: &str, value: &str| {
        let replaced = format!("{name}={value}");
        let mut args = vec!["run", "kinds"];
        for input in INPUTS {
            let input = if input.starts_with(&format!("{name}=")) {
                replaced.as_str()
            } else {
                input
            };
            args.extend(["-i", input]);
        }
        cluster.baton(&args)
    };
    for (name, value, expected) in [
        // A struct missing a field, carrying an unknown one, and a list
        // with an element of the wrong type.
        (
            "st",
            r#"{"lo": 0.1, "tags": []}"#,
            "input `st.hi` ({hi: float, lo: float, tags: list<string>}): missing field of type float",
        ),
        (
            "st",
            r#"{"lo": 0.1, "hi": 0.2, "tags": [], "mid": 1}"#,
            "input `st` ({hi: float, lo: float, tags: list<string>}): unknown field `mid`",
        ),
        (
            "deep",
            r#"[{"margin": 0.25, "label": 1}, {"margin": "high"}]"#,
            "input `deep[1].margin` (list<{label: optional<int>, margin: float}>): expected float, got a string",
        ),
        ("l", "[1, \"two\"]", "input `l[1]` (list<int>): expected int, got a string"),
        ("i", "forty-two", "input `i` (int): `forty-two` is not a valid int"),
    ] {
        let refused = run_with(name, value);
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(refused.stderr.contains(expected), "`{expected}` missing from: {}", refused.stderr);
    }
    let listed = cluster
        .baton(&["list", "executions", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(0),
        "a refused launch launched: {listed}"
    );
}
