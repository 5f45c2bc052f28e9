//! `baton bench` end to end, at a size for the default test run: it starts
//! its own cluster of real processes, runs the workloads and prints the JSON
//! object other tools compare (issue 4). The figures themselves are not
//! checked here (a debug build on a shared machine); their presence and
//! sanity are.

use baton_tests::*;

/// `baton bench ARGS... -o json`; the bench starts its own processes, so
/// the scheduler address is unused.
fn bench(args: &[&str]) -> Outcome {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    baton("127.0.0.1:1", &all)
}

fn positive(report: &serde_json::Value, key: &str) -> f64 {
    let value = report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` missing from {report}"));
    assert!(value > 0.0, "`{key}` is {value} in {report}");
    value
}

#[test]
fn bench_measures_what_chatty_tasks_leave_in_the_schedulers() {
    let report = bench(&[
        "--nodes",
        "1",
        "--runs",
        "1",
        "--workload",
        "logs",
        "--log-tasks",
        "20",
    ])
    .ok()
    .json();
    assert_eq!(report["log_tasks"], 20, "{report}");
    assert_eq!(report["log_bytes_printed"], 20 * 100 * 1024, "{report}");
    positive(&report, "log_seconds");
    positive(&report, "log_max_replica_heap_bytes");
    positive(&report, "log_max_replica_data_dir_bytes");
    // The logs are on the executor.
    assert!(
        positive(&report, "log_executor_work_dir_bytes") >= 20.0 * 100.0 * 1024.0,
        "{report}"
    );
}

#[test]
fn bench_runs_every_workload_and_prints_one_json_object() {
    let report = bench(&[
        "--nodes",
        "1",
        "--runs",
        "1",
        "--scale-nodes",
        "2000",
        "--concurrent-executions",
        "20",
        "--launch-batch-size",
        "7",
        "--loop-iterations",
        "20",
        "--map-items",
        "300",
    ])
    .ok()
    .json();
    positive(&report, "w1_tasks_per_s");
    positive(&report, "w2_ms_per_node");
    let p50 = positive(&report, "w3_p50_ms");
    let p99 = positive(&report, "w3_p99_ms");
    assert!(p50 <= p99, "{report}");
    assert!(positive(&report, "w3_launch_ack_p50_ms") < p50, "{report}");
    positive(&report, "peak_rss_bytes");
    positive(&report, "scale_seconds");
    positive(&report, "scheduler_heap_bytes_per_node_large");
    positive(&report, "launch_ack_p99_ms");
    positive(&report, "launch_batch_ack_p99_ms");
    positive(&report, "concurrent_read_p50_ms");
    positive(&report, "concurrent_read_p99_ms");
    assert_eq!(report["concurrent_executions"], 20, "{report}");
    assert_eq!(report["launch_batch_size"], 7, "{report}");
    assert_eq!(report["scale_nodes"], 2000, "{report}");
    assert_eq!(report["runner"], "builtin", "{report}");
    assert_eq!(report["nodes"], 1, "{report}");
    positive(&report, "loop_ms_per_iteration");
    positive(&report, "map_items_per_s");
    assert_eq!(report["loop_iterations"], 20, "{report}");
    assert_eq!(report["map_items"], 300, "{report}");
}

#[test]
fn bench_runs_process_tasks() {
    let report = bench(&[
        "--nodes",
        "1",
        "--runs",
        "1",
        "--workload",
        "w3",
        "--runner",
        "process",
        "--process-threads",
        "1",
    ])
    .ok()
    .json();
    assert_eq!(report["runner"], "process", "{report}");
    assert_eq!(report["process_threads"], 1, "{report}");
    positive(&report, "w3_p50_ms");
    assert!(report.get("w1_tasks_per_s").is_none(), "{report}");
}

#[test]
fn bench_runs_many_active_learning_flavors_at_once() {
    let report = bench(&[
        "--nodes",
        "1",
        "--runs",
        "1",
        "--workload",
        "al",
        "--al-flavors",
        "6",
        "--al-iterations",
        "3",
        "--al-python",
        "1",
    ])
    .ok()
    .json();
    assert_eq!(report["al_flavors"], 6, "{report}");
    assert_eq!(report["al_iterations"], 3, "{report}");
    positive(&report, "al_iterations_per_s");
    positive(&report, "al_launch_ack_p99_ms");
    let p50 = positive(&report, "al_iteration_p50_ms");
    assert!(p50 <= positive(&report, "al_iteration_p99_ms"), "{report}");
    // The real flagship ran: its random flavor's accuracy at 100 labels on
    // seed 7, as tests/tests/active_learning.rs measures it.
    assert_eq!(report["al_python_flavors"], 1, "{report}");
    positive(&report, "al_python_iterations_per_s");
    let accuracy = report["al_python_accuracy"]["al-random"]
        .as_f64()
        .unwrap_or_else(|| panic!("no accuracy in {report}"));
    assert!((accuracy - 0.848).abs() < 0.01, "{report}");
}

#[test]
fn bench_refuses_empty_sizes_and_unknown_choices() {
    for (args, expected) in [
        (vec!["--nodes", "0"], "must be at least 1"),
        (vec!["--runs", "0"], "must be at least 1"),
        (vec!["--concurrent-executions", "0"], "must be at least 1"),
        (vec!["--launch-batch-size", "0"], "must be at least 1"),
        (vec!["--log-tasks", "0"], "must be at least 1"),
        (
            vec!["--loop-iterations", "0"],
            "--loop-iterations must be from 1 to 100,000",
        ),
        (vec!["--map-items", "0"], "--map-items at least 1"),
        (
            vec!["--launch-batch-size", "10001"],
            "--launch-batch-size is 10001; the scheduler takes at most 10000",
        ),
        (vec!["--runner", "docker"], "invalid value 'docker'"),
        (vec!["--workload", "w9"], "invalid value 'w9'"),
        (vec!["--process-threads", "many"], "invalid value 'many'"),
        (vec!["--al-flavors", "0"], "0 is not in 1..=10000"),
        (vec!["--al-python", "5"], "5 is not in 0..=4"),
    ] {
        let outcome = bench(&args);
        assert_eq!(outcome.code, 2, "{args:?}: {outcome:?}");
        assert!(
            outcome.stderr.contains(expected),
            "{args:?}: `{expected}` missing from {}",
            outcome.stderr
        );
    }
}
