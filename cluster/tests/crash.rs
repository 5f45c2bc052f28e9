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
        // Continue after what an earlier child wrote.
        node.ensure_linearizable().await.unwrap();
        let start = node.state().read().unwrap().entries.len() as u64;
        for i in start.. {
            node.write(i).await.unwrap();
            println!("acked {i}");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Three children in a row on the same directory, each killed mid-stream: every restart
    // reopens a log whose last append may have been cut short, then appends after it.
    let mut last = None;
    for round in 0..3u64 {
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
        let before = last;
        let mut first = None;
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("acked ") {
                let n = n.parse::<u64>().unwrap();
                first.get_or_insert(n);
                last = Some(n);
                if n >= 300 * (round + 1) {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The child starts after the entries it finds: one it would write again was lost.
        if let (Some(before), Some(first)) = (before, first) {
            assert!(
                first > before,
                "round {round}: {before} was acknowledged, but the restarted node holds only \
                 {first} entries"
            );
        }
    }
    let last = last.expect("the children acknowledged writes");
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
