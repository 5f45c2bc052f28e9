//! Acknowledged writes survive SIGKILL: a child process (this test binary,
//! re-executed) writes to a single-node cluster and reports each
//! acknowledged write; the parent kills it mid-stream with SIGKILL, reopens
//! the data directory and checks that every acknowledged write is there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use baton_cluster::{ClusterNode, NodeConfig, StateMachine};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Log {
    entries: Vec<u64>,
}

impl StateMachine for Log {
    type Command = u64;
    type Response = u64;
    type Effect = ();

    fn apply(&mut self, command: u64, _: &mut Vec<()>) -> u64 {
        self.entries.push(command);
        self.entries.len() as u64
    }
}

const CHILD: &str = "BATON_CRASH_TEST_CHILD_DIR";

async fn open(dir: &str) -> ClusterNode<Log> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut config = NodeConfig::new(1, addr, dir);
    config.election_timeout_min = Duration::from_millis(200);
    config.election_timeout_max = Duration::from_millis(400);
    config.snapshot_every_logs = 50;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let node = ClusterNode::<Log>::open(config, tx).await.unwrap();
    std::mem::forget(_rx);
    node.initialize_single().await.unwrap();
    node.wait_for_leader(Duration::from_secs(10)).await.unwrap();
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD) {
        let node = open(&dir).await;
        for i in 0.. {
            node.write(i).await.unwrap();
            println!("acked {i}");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_sigkill",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut last = None;
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("acked ") {
            last = Some(n.parse::<u64>().unwrap());
            if last >= Some(300) {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last = last.expect("the child acknowledged writes");
    let node = open(dir.path().to_str().unwrap()).await;
    node.ensure_linearizable().await.unwrap();
    let state = node.state().read().unwrap().clone();
    let expected: Vec<u64> = (0..=last).collect();
    assert!(
        state.entries.len() as u64 > last && state.entries[..=last as usize] == expected[..],
        "acknowledged {last}, found {} entries: {:?}",
        state.entries.len(),
        state.entries.iter().rev().take(5).collect::<Vec<_>>()
    );
}
