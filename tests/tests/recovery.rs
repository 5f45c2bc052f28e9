//! `baton recover` reruns only what failed: of a map whose item 2 failed,
//! only item 2 runs again (each run appends its item to a file), the other
//! items show RECOVERED, and the new execution names the one it recovers.
//! `baton relaunch` runs every item again.

use baton_tests::*;
use serde_json::Value as Json;

/// Appends its item to `runs.txt`; item 2 fails unless `fixed` exists.
const ITEM: &str = r#"
import json, os, sys, time
inputs = json.load(open(os.environ["BATON_INPUTS"]))
x = inputs["x"]
with open(sys.argv[1], "a") as f:
    f.write(f"{x}\n")
if x == 2 and not os.path.exists(sys.argv[2]):
    time.sleep(1)  # the other items finish first
    sys.exit("item 2 is broken")
json.dump({"y": x * 10}, open(os.environ["BATON_OUTPUTS"], "w"))
"#;

#[test]
fn recover_reruns_only_the_failed_map_item_and_relaunch_reruns_all() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    let script = write(dir.path(), "item.py", ITEM);
    let runs = dir.path().join("runs.txt");
    let fixed = dir.path().join("fixed");
    let specs = format!(
        r#"kind: Task
name: item
version: v1
interface: {{inputs: {{x: int}}, outputs: {{y: int}}}}
runner: {{process: {{command: [python3, "{script}", "{runs}", "{fixed}"]}}}}
---
kind: Workflow
name: items
version: v1
interface: {{inputs: {{xs: list<int>}}, outputs: {{ys: list<int>}}}}
nodes:
  - id: each
    map: {{task: item@v1, over: x, inputs: {{x: "${{inputs.xs}}"}}}}
outputs: {{ys: "${{each.y}}"}}
"#,
        runs = runs.display(),
        fixed = fixed.display()
    );
    cluster
        .baton(&["register", &write(dir.path(), "items.yaml", &specs)])
        .ok();
    let failed = cluster.baton(&["run", "items", "-i", "xs=[0,1,2,3]", "--wait", "-o", "json"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    let failed_json = failed.json();
    let failed_id = failed_json["id"].as_str().unwrap().to_owned();
    let ran = |text: &str| -> Vec<String> { text.lines().map(str::to_owned).collect() };
    assert!(ran(&std::fs::read_to_string(&runs).unwrap()).contains(&"2".to_owned()));
    // What did not succeed the first time (item 2, and any item stopped
    // when it failed) is what recovery runs.
    let succeeded: Vec<String> = failed_json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["phase"] == "SUCCEEDED" && n["id"].as_str().unwrap().starts_with("each["))
        .map(|n| {
            n["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("each[")
                .trim_end_matches(']')
                .to_owned()
        })
        .collect();
    assert!(!succeeded.is_empty(), "{failed_json}");
    let mut expected: Vec<String> = (0..4)
        .map(|i| i.to_string())
        .filter(|i| !succeeded.contains(i))
        .collect();
    expected.sort();

    std::fs::write(&fixed, "").unwrap();
    std::fs::write(&runs, "").unwrap();
    let recovered = cluster
        .baton(&["recover", &failed_id, "--wait", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        recovered["outputs"]["ys"],
        serde_json::json!([0, 10, 20, 30])
    );
    let mut rerun = ran(&std::fs::read_to_string(&runs).unwrap());
    rerun.sort();
    assert_eq!(rerun, expected, "only what had not succeeded ran");
    assert_eq!(recovered["recovers"], Json::from(failed_id.as_str()));
    let phases: Vec<(String, String)> = recovered["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["phase"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (id, phase) in &phases {
        let item = id.trim_start_matches("each[").trim_end_matches(']');
        match succeeded.iter().any(|s| s == item) {
            true => assert_eq!(phase, "RECOVERED", "{id}: {phases:?}"),
            false => assert_eq!(phase, "SUCCEEDED", "{id}: {phases:?}"),
        }
    }
    let text = cluster
        .baton(&["get", recovered["id"].as_str().unwrap()])
        .ok()
        .stdout
        .clone();
    assert!(text.contains(&format!("recovers   {failed_id}")), "{text}");

    // A relaunch runs everything; recovering a succeeded execution is refused.
    std::fs::write(&runs, "").unwrap();
    let relaunched = cluster
        .baton(&["relaunch", &failed_id, "--wait", "-o", "json"])
        .ok()
        .json();
    assert_eq!(relaunched["relaunches"], Json::from(failed_id.as_str()));
    assert_eq!(ran(&std::fs::read_to_string(&runs).unwrap()).len(), 4);
    let refused = cluster.baton(&["recover", relaunched["id"].as_str().unwrap()]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("succeeded: there is nothing to recover"),
        "{}",
        refused.stderr
    );
    let unknown = cluster.baton(&["recover", "items-999"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("unknown execution `items-999`"),
        "{}",
        unknown.stderr
    );
}
