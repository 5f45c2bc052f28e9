//! The `baton` binary's usage surface: help that explains, and usage errors
//! that exit non-zero without contacting anything.

use std::process::Command;

fn baton(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .output()
        .expect("run baton")
}

#[test]
fn help_lists_every_command() {
    let out = baton(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "dev",
        "demo",
        "compare",
        "register",
        "run",
        "get",
        "watch",
        "list",
        "cancel",
        "signal",
        "version",
        "completions",
        "man",
        "logs",
        "Exit codes",
    ] {
        assert!(
            text.contains(command),
            "`{command}` missing from --help:\n{text}"
        );
    }
}

#[test]
fn usage_errors_exit_two_and_name_the_problem() {
    let out = baton(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WORKFLOW"));
    let out = baton(&["compare"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("EXECUTION"));
    let out = baton(&["signal", "al-loop-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NODE"));
    // No signal field: refused before any connection (nothing listens on port 9).
    let out = baton(&["--scheduler", "127.0.0.1:9", "signal", "al-loop-1", "wait"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signal fields"));
    let out = baton(&["list", "cats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cats"));
}

#[test]
fn a_register_of_a_malformed_file_is_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "kind: Task\nname: [unclosed\n").unwrap();
    // No scheduler listens on port 9: the spec is refused before connecting.
    let out = baton(&[
        "--scheduler",
        "127.0.0.1:9",
        "register",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:") && err.contains("malformed YAML"),
        "{err}"
    );
}
