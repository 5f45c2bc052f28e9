//! Every bad input is refused with a message naming what is wrong, a
//! non-zero exit, and no change to stored state (DESIGN.md §10.5).

use baton_tests::*;

const GOOD: &str = "kind: Task\nname: inc\nversion: v1\ninterface: {inputs: {x: int}, outputs: {x: int}}\nrunner: {builtin: noop}\n";

fn refused(outcome: &Outcome, expected: &[&str]) {
    assert_eq!(outcome.code, 2, "expected a refusal: {outcome:?}");
    for text in expected {
        assert!(
            outcome.stderr.contains(text),
            "`{text}` missing from: {}",
            outcome.stderr
        );
    }
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
}

fn registered_tasks(cluster: &DevCluster) -> Vec<String> {
    let tasks = cluster.baton(&["list", "tasks", "-o", "json"]).ok().json();
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn bad_specs_are_refused_and_register_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let case = |name: &str, text: &str| {
        let file = write(dir.path(), name, &format!("{GOOD}---\n{text}"));
        cluster.baton(&["register", &file])
    };

    let malformed = write(
        dir.path(),
        "malformed.yaml",
        "kind: Task\nname: x\nrunner: {builtin: noop\n",
    );
    refused(
        &cluster.baton(&["register", &malformed]),
        &["malformed.yaml:", "malformed YAML"],
    );

    refused(
        &case(
            "unknown.yaml",
            "kind: Workflow\nname: w\nnodes: [{id: a, task: cube@v1, inputs: {x: 1}}]\n",
        ),
        &[
            "unknown.yaml:9:",
            "document 2 (Workflow `w`, field `nodes[0].task`)",
            "node `a`: unknown task `default/development/cube@v1`",
        ],
    );
    refused(
        &case(
            "mismatch.yaml",
            "kind: Task\nname: half\nversion: v1\ninterface: {inputs: {x: float}, outputs: {y: float}}\nrunner: {builtin: noop}\n---\n\
             kind: Workflow\nname: w\nnodes:\n  - {id: a, task: inc@v1, inputs: {x: 1}}\n  - {id: b, task: half@v1, inputs: {x: \"${a.x}\"}}\n",
        ),
        &[
            "mismatch.yaml:17:",
            "document 3 (Workflow `w`, field `nodes[1].inputs.x`)",
            "node `b` input `x`: type mismatch: expected float, but `${a.x}` is int",
        ],
    );
    refused(
        &case(
            "cycle.yaml",
            "kind: Workflow\nname: w\nnodes:\n  - {id: a, task: inc@v1, inputs: {x: \"${b.x}\"}}\n  - {id: b, task: inc@v1, inputs: {x: \"${a.x}\"}}\n",
        ),
        &["cycle: a -> b -> a"],
    );
    refused(
        &case(
            "duplicate.yaml",
            "kind: Workflow\nname: w\nnodes:\n  - {id: a, task: inc@v1, inputs: {x: 1}}\n  - {id: a, task: inc@v1, inputs: {x: 2}}\n",
        ),
        &["duplicate node id `a`"],
    );
    let missing = dir.path().join("does-not-exist.yaml").display().to_string();
    refused(
        &cluster.baton(&["register", &missing]),
        &["cannot read", "does-not-exist.yaml"],
    );

    assert!(
        registered_tasks(&cluster).is_empty(),
        "a refused request registered something"
    );

    // A registered version never changes.
    let file = write(dir.path(), "good.yaml", GOOD);
    cluster.baton(&["register", &file]).ok();
    let changed = write(
        dir.path(),
        "changed.yaml",
        &GOOD.replace("x: int}", "x: float}"),
    );
    refused(
        &cluster.baton(&["register", &changed]),
        &[
            "changed.yaml:3:",
            "document 1 (Task `inc`, field `version`)",
            "already registered with different content",
        ],
    );
    let again = cluster.baton(&["register", &file]);
    assert!(again.ok().stdout.contains("unchanged"), "{}", again.stdout);
}

#[test]
fn bad_launches_and_reads_are_refused_and_launch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let file = write(
        dir.path(),
        "wf.yaml",
        &format!("{GOOD}---\nkind: Workflow\nname: w\nversion: v1\ninterface: {{inputs: {{n: int}}}}\nnodes: [{{id: a, task: inc@v1, inputs: {{x: \"${{inputs.n}}\"}}}}]\n"),
    );
    cluster.baton(&["register", &file]).ok();

    refused(
        &cluster.baton(&["run", "w"]),
        &["missing required input `n` (int)"],
    );
    refused(
        &cluster.baton(&["run", "w", "-i", "n=abc"]),
        &["input `n` (int)", "`abc` is not a valid int"],
    );
    refused(
        &cluster.baton(&["run", "w", "-i", "n=1", "-i", "m=2"]),
        &["unknown input `m`", "n (int)"],
    );
    refused(
        &cluster.baton(&["run", "w", "-i", "n"]),
        &["bad input `n`: expected NAME=VALUE"],
    );
    refused(
        &cluster.baton(&["run", "nope", "-i", "n=1"]),
        &["unknown workflow `default/development/nope`"],
    );
    // A batch is all or nothing: the good launches before a bad one are not launched.
    let batch = |name: &str, lines: &str| {
        let file = write(dir.path(), name, lines);
        cluster.baton(&["run-batch", &file])
    };
    refused(
        &batch(
            "bad-value.jsonl",
            "# the scheduler refuses the third line (launch #2)\n{\"workflow\": \"w\", \"inputs\": {\"n\": 1}}\n{\"workflow\": \"w\", \"inputs\": {\"n\": \"abc\"}}\n",
        ),
        &["bad-value.jsonl:3: input `n` (int)", "`abc` is not a valid int"],
    );
    refused(
        &batch(
            "unknown-workflow.jsonl",
            "{\"workflow\": \"w\", \"inputs\": {\"n\": 1}}\n{\"workflow\": \"nope\"}\n",
        ),
        &["unknown-workflow.jsonl:2: unknown workflow `default/development/nope`"],
    );
    refused(
        &batch(
            "not-json.jsonl",
            "{\"workflow\": \"w\", \"inputs\": {\"n\": 1}}\n\nw -i n=2\n",
        ),
        &["not-json.jsonl:3: not a JSON object"],
    );
    refused(
        &batch(
            "unknown-field.jsonl",
            "{\"workflow\": \"w\", \"flavour\": 2}\n",
        ),
        &["unknown-field.jsonl:1: unknown field `flavour`"],
    );
    refused(
        &batch("no-workflow.jsonl", "{\"inputs\": {\"n\": 1}}\n"),
        &["no-workflow.jsonl:1: no `workflow` named"],
    );
    refused(
        &batch("empty.jsonl", "# nothing here\n\n"),
        &["empty.jsonl holds no launches"],
    );
    refused(
        &batch("workflow-type.jsonl", "{\"workflow\": 3}\n"),
        &["workflow-type.jsonl:1: `workflow` must be a string"],
    );
    refused(
        &batch(
            "inputs-type.jsonl",
            "{\"workflow\": \"w\", \"inputs\": [1]}\n",
        ),
        &["inputs-type.jsonl:1: `inputs` must be an object of NAME: VALUE"],
    );
    refused(
        &batch(
            "unknown-input.jsonl",
            "{\"workflow\": \"w\", \"inputs\": {\"n\": 1, \"m\": 2}}\n",
        ),
        &["unknown-input.jsonl:1: unknown input `m`", "n (int)"],
    );
    refused(
        &batch("missing-input.jsonl", "{\"workflow\": \"w\"}\n"),
        &["missing-input.jsonl:1: missing required input `n` (int)"],
    );
    refused(
        &batch(
            "too-many.jsonl",
            &"{\"workflow\": \"w\", \"inputs\": {\"n\": 1}}\n".repeat(10_001),
        ),
        &["too-many.jsonl holds 10001 launches; at most 10000 go in one batch"],
    );
    refused(
        &cluster.baton(&["get", "nope-1"]),
        &["unknown execution `nope-1`"],
    );
    refused(
        &cluster.baton(&["watch", "nope-1"]),
        &["unknown execution `nope-1`"],
    );
    refused(
        &cluster.baton(&["cancel", "nope-1"]),
        &["unknown execution `nope-1`"],
    );

    let executions = cluster
        .baton(&["list", "executions", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        executions.as_array().unwrap().len(),
        0,
        "a refused launch created an execution"
    );
}

#[test]
fn an_unreachable_scheduler_gets_a_clear_message() {
    // Bind and drop a listener: nothing serves on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let outcome = baton(&format!("127.0.0.1:{port}"), &["list", "executions"]);
    refused(
        &outcome,
        &[
            &format!("cannot reach the scheduler at 127.0.0.1:{port}"),
            "BATON_SCHEDULER",
        ],
    );
}
