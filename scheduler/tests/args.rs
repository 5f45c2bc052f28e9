//! The `baton-scheduler` binary refuses bad flags with a clear message.

use std::process::Command;

fn scheduler(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baton-scheduler"))
        .args(args)
        .output()
        .expect("run baton-scheduler")
}

#[test]
fn peers_without_this_node_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = scheduler(&[
        "--node-id",
        "4",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--peers",
        "1=127.0.0.1:1,2=127.0.0.1:2",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not include this node's id 4"));
}

#[test]
fn malformed_peers_are_refused() {
    let out = scheduler(&["--listen", "127.0.0.1:0", "--peers", "one=127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("bad node id in --peers entry `one=127.0.0.1:1`"));
}

#[test]
fn help_explains_the_flags() {
    let out = scheduler(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--node-id", "--listen", "--data-dir", "--peers", "--lease"] {
        assert!(text.contains(flag), "{flag} missing:\n{text}");
    }
}
