//! Blobs and large values travel through the blob store, never the Raft
//! log: a 10 MiB blob output and a list above the inline limit flow from one
//! process task to the next through the local store and through a real
//! S3-compatible server; `baton run -i NAME=@FILE` uploads inputs, `baton
//! blob get` downloads; a blob that is gone or changed fails its task and is
//! never read.

use std::path::Path;
use std::time::Duration;

use baton_tests::cluster::{Cluster, ClusterOptions, Executor, S3Server};
use baton_tests::*;
use serde_json::Value as Json;

/// Writes 10 MiB of seeded random bytes as the blob output `data` and a
/// list of 20,000 floats (well above the 64 KiB inline limit) as `scores`.
const MAKE: &str = r#"
import hashlib, json, os, random
data = random.Random(7).randbytes(10 * 1024 * 1024)
open(os.path.join(os.environ["BATON_OUTPUT_DIR"], "data"), "wb").write(data)
scores = [i / 8.0 for i in range(20000)]
json.dump({"made": hashlib.sha256(data).hexdigest(), "scores": scores},
          open(os.environ["BATON_OUTPUTS"], "w"))
"#;

/// Reads its blob input from the local path in its inputs and its list in
/// full, and reports what it found.
const CHECK: &str = r#"
import hashlib, json, os
inputs = json.load(open(os.environ["BATON_INPUTS"]))
path = inputs["data"]
assert os.path.isabs(path) and os.path.isfile(path), path
data = open(path, "rb").read()
json.dump({"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
           "count": len(inputs["scores"]), "total": sum(inputs["scores"])},
          open(os.environ["BATON_OUTPUTS"], "w"))
"#;

fn specs(dir: &Path) -> String {
    let make = write(dir, "make.py", MAKE);
    let check = write(dir, "check.py", CHECK);
    let text = format!(
        r#"kind: Task
name: make
version: v1
interface:
  outputs: {{data: blob, made: string, scores: list<float>}}
runner: {{process: {{command: [python3, "{make}"]}}}}
---
kind: Task
name: check
version: v1
interface:
  inputs: {{data: blob, scores: list<float>}}
  outputs: {{size: int, sha256: string, count: int, total: float}}
runner: {{process: {{command: [python3, "{check}"]}}}}
---
kind: Workflow
name: pass-blob
version: v1
interface:
  outputs: {{data: blob, made: string, size: int, sha256: string, count: int, total: float}}
nodes:
  - {{id: make, task: make@v1}}
  - id: check
    task: check@v1
    inputs: {{data: "${{make.data}}", scores: "${{make.scores}}"}}
outputs:
  data: "${{make.data}}"
  made: "${{make.made}}"
  size: "${{check.size}}"
  sha256: "${{check.sha256}}"
  count: "${{check.count}}"
  total: "${{check.total}}"
---
kind: Workflow
name: weigh
version: v1
interface:
  inputs: {{data: blob, scores: list<float>}}
  outputs: {{size: int, sha256: string, count: int, total: float}}
nodes:
  - id: check
    task: check@v1
    inputs: {{data: "${{inputs.data}}", scores: "${{inputs.scores}}"}}
outputs: {{size: "${{check.size}}", sha256: "${{check.sha256}}", count: "${{check.count}}", total: "${{check.total}}"}}
---
kind: Task
name: keep
version: v1
interface: {{inputs: {{note: string}}, outputs: {{note: string}}}}
runner: {{builtin: noop}}
---
kind: Workflow
name: note
version: v1
interface: {{inputs: {{note: string}}, outputs: {{note: string}}}}
nodes: [{{id: keep, task: keep@v1, inputs: {{note: "${{inputs.note}}"}}}}]
outputs: {{note: "${{keep.note}}"}}
"#
    );
    write(dir, "blobs.yaml", &text)
}

const TEN_MIB: i64 = 10 * 1024 * 1024;

/// Runs `pass-blob` and checks what flowed; returns the blob's uri.
fn passes_a_ten_mib_blob(
    baton: &dyn Fn(&[&str]) -> Outcome,
    log_bytes: &dyn Fn() -> u64,
) -> String {
    let before = log_bytes();
    let run = baton(&["run", "pass-blob", "--wait", "-o", "json"]);
    let outputs = run.ok().json()["outputs"].clone();
    let grown = log_bytes() - before;
    assert_eq!(outputs["size"], Json::from(TEN_MIB), "{outputs}");
    assert_eq!(outputs["sha256"], outputs["made"], "{outputs}");
    assert_eq!(outputs["count"], Json::from(20000), "{outputs}");
    let total: f64 = (0..20000).map(|i| i as f64 / 8.0).sum();
    assert_eq!(outputs["total"].as_f64(), Some(total), "{outputs}");
    let blob = &outputs["data"];
    assert_eq!(blob["size"], Json::from(TEN_MIB), "{blob}");
    assert_eq!(blob["sha256"], outputs["made"], "{blob}");
    eprintln!("the Raft log grew by {grown} bytes for the execution");
    // The whole execution (launch, two assignments, two results) took less
    // than 4 KiB of log: the blob and the list went by reference.
    assert!(grown < 4096, "the Raft log grew by {grown} bytes");
    blob["uri"].as_str().expect("a blob uri").to_owned()
}

#[test]
fn a_ten_mib_blob_and_a_large_list_flow_through_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cluster = DevCluster::start(&data);
    cluster.baton(&["register", &specs(dir.path())]).ok();
    let scheduler_dir = data.join("scheduler");
    let uri = passes_a_ten_mib_blob(&|args| cluster.baton(args), &|| {
        raft_log_bytes(&scheduler_dir)
    });
    // The store is a directory inside the data directory, by content hash.
    let stored = scheduler_dir.join("blobs").canonicalize().unwrap();
    assert!(
        uri.starts_with(&format!("file://{}/sha256/", stored.display())),
        "{uri}"
    );
    let copy = dir.path().join("copy.bin");
    cluster
        .baton(&["blob", "get", &uri, copy.to_str().unwrap()])
        .ok();
    assert_eq!(
        std::fs::metadata(&copy).unwrap().len(),
        TEN_MIB as u64,
        "blob get wrote the whole blob"
    );

    // Inputs from files: a blob input is the file; a list input is the
    // file's JSON, inline when small and by reference when large.
    let file = dir.path().join("input.bin");
    std::fs::write(&file, b"twelve bytes").unwrap();
    let small = write(dir.path(), "small.json", "[1.5, 2.5]");
    let large_list: Vec<String> = (0..20000).map(|i| format!("{i}.25")).collect();
    let large = write(
        dir.path(),
        "large.json",
        &format!("[{}]", large_list.join(",")),
    );
    for (scores, count, total) in [
        (&small, 2, 4.0),
        (
            &large,
            20000,
            (0..20000).map(|i| i as f64 + 0.25).sum::<f64>(),
        ),
    ] {
        let data_input = format!("data=@{}", file.display());
        let scores_input = format!("scores=@{scores}");
        let run = cluster.baton(&[
            "run",
            "weigh",
            "-i",
            &data_input,
            "-i",
            &scores_input,
            "--wait",
            "-o",
            "json",
        ]);
        let outputs = run.ok().json()["outputs"].clone();
        assert_eq!(outputs["size"], Json::from(12), "{outputs}");
        assert_eq!(outputs["count"], Json::from(count), "{outputs}");
        assert_eq!(outputs["total"].as_f64(), Some(total), "{outputs}");
    }
}

#[test]
fn bad_blob_inputs_are_refused_or_fail_the_task_and_nothing_wrong_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DevCluster::start(&dir.path().join("data"));
    cluster.baton(&["register", &specs(dir.path())]).ok();
    let executions = || {
        cluster
            .baton(&["list", "executions", "-o", "json"])
            .ok()
            .json()
            .as_array()
            .map_or(0, Vec::len)
    };

    // A file that does not exist: refused before anything is sent.
    let refused = cluster.baton(&[
        "run",
        "weigh",
        "-i",
        "data=@/no/such/file",
        "-i",
        "scores=[]",
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("input `data`: cannot read `/no/such/file`: no such file"),
        "{}",
        refused.stderr
    );
    // A small file of the wrong type: refused at launch, naming the path inside it.
    let file = write(dir.path(), "input.bin", "some bytes");
    let bad = write(dir.path(), "bad.json", "[1.0, \"two\"]");
    let data_input = format!("data=@{file}");
    let refused = cluster.baton(&[
        "run",
        "weigh",
        "-i",
        &data_input,
        "-i",
        &format!("scores=@{bad}"),
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!(
            "input `scores[1]` (list<float>), read from `{bad}`: expected float, got a string"
        )),
        "{}",
        refused.stderr
    );
    // A text input read from a file: itself when small; refused when too
    // large to travel as text (it has no JSON form to offload).
    let small_note = write(dir.path(), "note.txt", "a short note");
    let run = cluster.baton(&[
        "run",
        "note",
        "-i",
        &format!("note=@{small_note}"),
        "--wait",
        "-o",
        "json",
    ]);
    assert_eq!(
        run.ok().json()["outputs"]["note"],
        Json::from("a short note")
    );
    // `@@` is the literal `@`.
    let run = cluster.baton(&["run", "note", "-i", "note=@@home", "--wait", "-o", "json"]);
    assert_eq!(run.ok().json()["outputs"]["note"], Json::from("@home"));
    let big_note = write(dir.path(), "big.txt", &"x".repeat(100 * 1024));
    let refused = cluster.baton(&["run", "note", "-i", &format!("note=@{big_note}")]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!(
            "input `note` (string): `{big_note}` (102400 bytes) could not travel as text: it is above the inline limit or not UTF-8; such a file goes in a blob input"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(executions(), 2, "a refused launch stores nothing");

    // A blob uri that does not exist: the task fails, naming it.
    let zeros = "0".repeat(64);
    let gone = format!(
        r#"data={{"uri": "file:///no/such/store/sha256/{zeros}", "size": 3, "sha256": "{zeros}"}}"#
    );
    let run = cluster.baton(&[
        "run",
        "weigh",
        "-i",
        &gone,
        "-i",
        "scores=[]",
        "--wait",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "blob `file:///no/such/store/sha256/{zeros}` does not exist"
        )),
        "{}",
        run.stderr
    );

    // A blob whose content changed after it was stored: never read.
    let original = write(dir.path(), "labels.bin", "the original labels");
    let put = cluster.baton(&["blob", "put", &original]);
    let reference = put.ok().json();
    let stored = reference["uri"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap()
        .to_owned();
    std::fs::write(&stored, "tampered labels!!!!").unwrap();
    let input = format!("data={reference}");
    let run = cluster.baton(&["run", "weigh", "-i", &input, "-i", "scores=[]", "--wait"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no longer matches its reference"),
        "{}",
        run.stderr
    );
    // `blob get` refuses it too, and writes nothing.
    let copy = dir.path().join("copy.bin");
    let get = cluster.baton(&[
        "blob",
        "get",
        reference["uri"].as_str().unwrap(),
        copy.to_str().unwrap(),
    ]);
    assert_eq!(get.code, 2, "{get:?}");
    assert!(
        get.stderr.contains("no longer matches its reference"),
        "{}",
        get.stderr
    );
    assert!(!copy.exists());
}

#[test]
fn a_ten_mib_blob_flows_through_a_real_s3_compatible_server() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3"), &["baton"]);
    let env = s3.env();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = Cluster::start(
        dir.path(),
        1,
        ClusterOptions {
            scheduler_args: vec![
                "--blob-store".into(),
                "s3://baton/runs".into(),
                "--s3-endpoint".into(),
                s3.endpoint.clone(),
                "--s3-region".into(),
                "us-east-1".into(),
            ],
            ..ClusterOptions::default()
        },
    );
    cluster.wait_for_leader(Duration::from_secs(20));
    // The executor and the CLI have only their credentials: the store, the
    // endpoint and the region come from the scheduler.
    let credentials: Vec<(&str, &str)> = env_refs
        .iter()
        .copied()
        .filter(|(k, _)| k.starts_with("AWS_ACCESS") || k.starts_with("AWS_SECRET"))
        .collect();
    let _executor = Executor::start_with(
        &cluster.all(),
        "s3-executor",
        2,
        &dir.path().join("work"),
        &credentials,
    );
    let cli_env: Vec<(&str, String)> = credentials
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    let baton = |args: &[&str]| baton_env(&cluster.all(), &cli_env, args);
    baton(&["register", &specs(dir.path())]).ok();
    let node_dir = dir.path().join("node-1");
    let uri = passes_a_ten_mib_blob(&baton, &|| raft_log_bytes(&node_dir));
    let sha = uri.rsplit('/').next().unwrap().to_owned();
    assert_eq!(uri, format!("s3://baton/runs/sha256/{sha}"));
    // The object is on the S3 server's disk, whole.
    let object = s3.root.join("baton/runs/sha256").join(&sha);
    assert_eq!(std::fs::metadata(&object).unwrap().len(), TEN_MIB as u64);
    let copy = dir.path().join("copy.bin");
    baton(&["blob", "get", &uri, copy.to_str().unwrap()]).ok();
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&object).unwrap()
    );
    // An input file is uploaded to the same store.
    let file = write(dir.path(), "input.bin", "twelve bytes");
    let run = baton(&[
        "run",
        "weigh",
        "-i",
        &format!("data=@{file}"),
        "-i",
        "scores=[1]",
        "--wait",
        "-o",
        "json",
    ]);
    assert_eq!(run.ok().json()["outputs"]["size"], Json::from(12));
    assert!(
        run.stderr.contains("to s3://baton/runs/sha256/"),
        "{}",
        run.stderr
    );
}
