//! A harness for tests that run Baton's real binaries: `baton dev` clusters
//! on ephemeral loopback ports in temporary directories, and `baton` client
//! commands against them. Every process started is killed when its handle
//! drops.

pub mod cluster;
pub mod otlp;
pub mod proxy;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The directory the workspace's binaries are built into (next to this
/// test executable's `deps/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    dir
}

/// A workspace binary; panics with a hint when it has not been built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace` (which builds every binary)",
        path.display()
    );
    path
}

/// The repository root (process tasks in examples/ name their scripts relative to it).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `baton ARGS...` against `scheduler`, with a time limit.
pub fn baton(scheduler: &str, args: &[&str]) -> Outcome {
    run_with_timeout(
        Command::new(bin("baton"))
            .arg("--scheduler")
            .arg(scheduler)
            .args(args)
            .current_dir(repo_root()),
        Duration::from_secs(120),
    )
}

/// [`baton`] with these environment variables set.
pub fn baton_env(scheduler: &str, env: &[(&str, String)], args: &[&str]) -> Outcome {
    run_with_timeout(
        Command::new(bin("baton"))
            .arg("--scheduler")
            .arg(scheduler)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(repo_root()),
        Duration::from_secs(120),
    )
}

/// The bytes in use in a scheduler's Raft log (`DATA_DIR/log/*.log`):
/// segments are allocated ahead with zeros, so what counts is each
/// segment's length up to its last byte that is not zero.
pub fn raft_log_bytes(data_dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(data_dir.join("log")) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            bytes
                .iter()
                .rposition(|b| *b != 0)
                .map_or(0, |i| i as u64 + 1)
        })
        .sum()
}

pub fn run_with_timeout(command: &mut Command, limit: Duration) -> Outcome {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command timed out after {limit:?}: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A `baton dev` process on an ephemeral loopback port.
pub struct DevCluster {
    child: Option<Child>,
    pub address: String,
    pub data_dir: PathBuf,
    log: Arc<Mutex<String>>,
}

impl DevCluster {
    /// Starts `baton dev` with its state in `data_dir`, a short lease and
    /// no example registration.
    pub fn start(data_dir: &Path) -> DevCluster {
        Self::start_with(data_dir, &["--lease", "2s"])
    }

    pub fn start_with(data_dir: &Path, extra: &[&str]) -> DevCluster {
        let mut child = Command::new(bin("baton"))
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--examples",
                "/nonexistent",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .current_dir(repo_root())
            .env("RUST_LOG", "warn,baton_scheduler=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton dev");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("scheduler at ").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(
                            rest.split_whitespace()
                                .next()
                                .unwrap_or_default()
                                .to_owned(),
                        );
                    }
                }
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut cluster = DevCluster {
            child: Some(child),
            address: String::new(),
            data_dir: data_dir.to_path_buf(),
            log,
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => cluster.address = address,
            Err(_) => panic!("baton dev did not start; its log:\n{}", cluster.log()),
        }
        cluster
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn baton(&self, args: &[&str]) -> Outcome {
        baton(&self.address, args)
    }

    /// Kills the process with SIGKILL: no clean shutdown of anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `args` through `run` (a cluster's `baton`) and asserts it is refused:
/// a non-zero exit whose error says `says`. The answer, for more checks.
pub fn assert_refused(run: impl Fn(&[&str]) -> Outcome, args: &[&str], says: &str) -> Outcome {
    let outcome = run(args);
    assert_ne!(outcome.code, 0, "{args:?} is refused");
    assert!(
        outcome.stderr.contains(says),
        "{args:?}: {}\nshould say: {says}",
        outcome.stderr
    );
    outcome
}

/// The pool `name` of a `baton pools -o json` answer.
pub fn pool_status<'a>(pools: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    pools["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no pool {name} in {pools}"))
}

pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Whether a process with this pid is alive (and not a zombie we reaped).
pub fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    if !alive {
        return false;
    }
    // A zombie (exited, not yet reaped by its parent) counts as dead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Writes a file and returns its path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}
