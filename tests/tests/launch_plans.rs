//! Launch plans: a flavor of a workflow is a plan with default and fixed
//! inputs, labels and node overrides, not a copied workflow. The override
//! runs the other task (inside a sub-workflow too) and `get` says so; fixed
//! inputs cannot be set; bad plans are refused at registration by field.

use std::path::Path;

use baton_tests::*;
use serde_json::Value as Json;

/// A select task version that reports its own strategy.
fn select(dir: &Path, strategy: &str, extra_input: bool) -> String {
    let script = write(
        dir,
        &format!("select-{strategy}.py"),
        &format!(
            "import json, os\ninputs = json.load(open(os.environ[\"BATON_INPUTS\"]))\n\
             json.dump({{\"picked\": \"{strategy}:\" + str(inputs[\"k\"])}}, open(os.environ[\"BATON_OUTPUTS\"], \"w\"))\n"
        ),
    );
    let inputs = if extra_input {
        "{k: int, seed: int}"
    } else {
        "{k: int}"
    };
    format!(
        "kind: Task\nname: select\nversion: {strategy}\n\
         interface: {{inputs: {inputs}, outputs: {{picked: string}}}}\n\
         runner: {{process: {{command: [python3, \"{script}\"]}}}}\n"
    )
}

const WORKFLOWS: &str = r#"kind: Workflow
name: round
version: v1
interface: {inputs: {k: int}, outputs: {picked: string}}
nodes: [{id: select, task: select@random, inputs: {k: "${inputs.k}"}}]
outputs: {picked: "${select.picked}"}
---
kind: Workflow
name: al
version: v1
interface:
  inputs: {k: {type: int, default: 1}, budget: int}
  outputs: {top: string, inner: string, budget: int}
nodes:
  - {id: top, task: select@random, inputs: {k: "${inputs.k}"}}
  - {id: inner, workflow: round@v1, inputs: {k: "${inputs.k}"}}
  - {id: spend, task: echo@v1, inputs: {budget: "${inputs.budget}"}}
outputs: {top: "${top.picked}", inner: "${inner.picked}", budget: "${spend.budget}"}
---
kind: Task
name: echo
version: v1
interface: {inputs: {budget: int}, outputs: {budget: int}}
runner: {builtin: echo}
"#;

const PLAN: &str = r#"kind: LaunchPlan
name: margin-flavor
workflow: al
description: the margin strategy in the inner round
inputs: {k: 5}
fixed: {budget: 100}
labels: {strategy: margin}
overrides:
  inner.select: {task: select@margin}
  top: {retries: 2, timeout: 30s}
"#;

#[test]
fn a_plan_runs_its_overrides_with_its_inputs_and_get_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let specs = [
        select(dir.path(), "random", false),
        select(dir.path(), "margin", false),
        WORKFLOWS.to_owned(),
        PLAN.to_owned(),
    ]
    .join("---\n");
    let file = write(dir.path(), "al.yaml", &specs);
    let registered = cluster.baton(&["register", &file]).ok().stdout.clone();
    assert!(registered.contains("launch-plan"), "{registered}");

    let run = cluster
        .baton(&["run", "margin-flavor", "--wait", "-o", "json"])
        .ok()
        .json();
    // The override ran the other task inside the sub-workflow; the plan's
    // default and fixed inputs reached the nodes.
    assert_eq!(run["outputs"]["inner"], Json::from("margin:5"), "{run}");
    assert_eq!(run["outputs"]["top"], Json::from("random:5"), "{run}");
    assert_eq!(run["outputs"]["budget"], Json::from(100), "{run}");
    let plan = run["launch_plan"].as_str().unwrap().to_owned();
    assert!(
        plan.starts_with("default/development/margin-flavor@"),
        "{run}"
    );
    assert_eq!(run["labels"]["strategy"], Json::from("margin"));
    assert_eq!(
        run["overrides"]["inner.select"],
        Json::from("task default/development/select@margin")
    );
    assert_eq!(
        run["overrides"]["top"],
        Json::from("retries 2, timeout 30s")
    );
    let nodes = run["nodes"].as_array().unwrap();
    let inner_select = nodes
        .iter()
        .find(|n| n["id"] == "inner.select")
        .unwrap_or_else(|| panic!("{run}"));
    assert_eq!(
        inner_select["task"],
        Json::from("default/development/select@margin")
    );
    let execution = run["id"].as_str().unwrap().to_owned();
    let text = cluster.baton(&["get", &execution]).ok().stdout.clone();
    assert!(text.contains(&format!("plan       {plan}")), "{text}");
    assert!(
        text.contains("override   inner.select: task default/development/select@margin"),
        "{text}"
    );

    // A launch may change a default, never a fixed input.
    let run = cluster
        .baton(&["run", "margin-flavor", "-i", "k=7", "--wait", "-o", "json"])
        .ok()
        .json();
    assert_eq!(run["outputs"]["inner"], Json::from("margin:7"), "{run}");
    let before = cluster
        .baton(&["list", "executions", "-o", "json"])
        .ok()
        .json();
    let refused = cluster.baton(&["run", "margin-flavor", "-i", "budget=5"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("input `budget` is fixed by launch plan `default/development/margin-flavor@"),
        "{}",
        refused.stderr
    );
    let after = cluster
        .baton(&["list", "executions", "-o", "json"])
        .ok()
        .json();
    assert_eq!(before, after, "a refused launch stores nothing");
    // The workflow itself still runs its own task.
    let plain = cluster
        .baton(&["run", "al", "-i", "budget=1", "--wait", "-o", "json"])
        .ok()
        .json();
    assert_eq!(plain["outputs"]["inner"], Json::from("random:1"), "{plain}");

    // The plan is versioned and described like any registered spec.
    let yaml = cluster
        .baton(&["describe", "margin-flavor", "-o", "yaml"])
        .ok()
        .stdout
        .clone();
    assert!(
        yaml.contains("workflow: default/development/al@v1"),
        "{yaml}"
    );
    let again = write(dir.path(), "again.yaml", &yaml);
    let registered = cluster.baton(&["register", &again]).ok().stdout.clone();
    assert!(registered.contains("unchanged"), "{registered}");
}

#[test]
fn bad_launch_plans_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let base = [
        select(dir.path(), "random", false),
        select(dir.path(), "seeded", true),
        WORKFLOWS.to_owned(),
    ]
    .join("---\n");
    cluster
        .baton(&["register", &write(dir.path(), "base.yaml", &base)])
        .ok();
    let refused = |name: &str, plan: &str, expected: &str| {
        let file = write(dir.path(), name, plan);
        let outcome = cluster.baton(&["register", &file]);
        assert_eq!(outcome.code, 2, "{name}: {outcome:?}");
        assert!(
            outcome.stderr.contains(expected),
            "{name}: {}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.contains(&format!("{name}:")),
            "{name} names the file: {}",
            outcome.stderr
        );
    };
    refused(
        "interface.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v1\noverrides:\n  inner.select: {task: select@seeded}\n",
        "override `inner.select`: task `default/development/select@seeded` has another interface than `default/development/select@random`, which the node runs: input `seed` (int) is extra",
    );
    refused(
        "missing-workflow.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v9\n",
        "workflow `default/development/al@v9` is not registered",
    );
    refused(
        "no-node.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v1\noverrides:\n  inner.choose: {task: select@random}\n",
        "workflow `default/development/round@v1` has no node `choose` (its nodes: select)",
    );
    refused(
        "unknown-input.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v1\nfixed: {budjet: 3}\n",
        "input `budjet`: workflow `default/development/al@v1` has no such input",
    );
    refused(
        "wrong-type.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v1\ninputs: {k: many}\n",
        "input `k` (int)",
    );
    refused(
        "task-on-workflow.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v1\noverrides:\n  inner: {task: select@random}\n",
        "`inner` is a sub-workflow node: an override of it may change workflow and pool",
    );
    refused(
        "under-swap.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v1\noverrides:\n  inner: {workflow: round@v1}\n  inner.select: {task: select@random}\n",
        "`inner.select` is inside `inner`, whose workflow this plan swaps",
    );
    refused(
        "both.yaml",
        "kind: LaunchPlan\nname: p\nworkflow: al@v1\ninputs: {k: 1}\nfixed: {k: 2}\n",
        "input `k` is both a default (`inputs`) and `fixed`",
    );
    let plans = cluster.baton(&["versions", "p"]);
    assert_eq!(plans.code, 2, "nothing was registered: {plans:?}");
}
