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

#[tokio::test]
async fn grpc_health_says_serving_once_a_leader_is_known() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton-scheduler"))
        .args([
            "--listen",
            &address,
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut serving = false;
    for _ in 0..100 {
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap();
        if let Ok(channel) = endpoint.connect().await {
            let mut health = HealthClient::new(channel);
            let request = HealthCheckRequest {
                service: "baton.v1.Admin".into(),
            };
            if let Ok(response) = health.check(request).await {
                if response.into_inner().status == ServingStatus::Serving as i32 {
                    serving = true;
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(serving, "the health service never said SERVING");
}

#[test]
fn an_election_timeout_shorter_than_three_heartbeats_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = scheduler(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--heartbeat-interval",
        "500ms",
        "--election-timeout",
        "1s",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--election-timeout") && err.contains("three heartbeat intervals"),
        "{err}"
    );
}
