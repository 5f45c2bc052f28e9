//! Real multi-node clusters: `baton-scheduler` and `baton-executor`
//! processes on loopback, each node's peer traffic optionally routed through
//! fault-injecting [`Proxy`]s so a test can cut a node off (a partition).
//! Processes are killed with SIGKILL, never asked to stop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::proxy::Proxy;
use crate::{baton, bin, repo_root, wait_for, Outcome};

/// A port free right now on 127.0.0.1 (bound to port 0, then released), for
/// nodes that must know each other's addresses before they start.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process whose stderr is collected; killed on drop.
struct Process {
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Process {
    /// Spawns `command` and waits until its stderr shows `ready`.
    fn spawn(mut command: Command, ready: &'static str, what: &str) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(ready) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let process = Process {
            child: Some(child),
            log,
        };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!("{what} did not become ready; its log:\n{}", process.log());
        }
        process
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit;
    /// its exit code (None: killed by a signal, or did not exit in time,
    /// and then it is killed).
    fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_ref()?;
        // SAFETY: kill only sends a signal to the child this struct owns.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        self.wait_exit(limit)
    }

    /// Waits up to `limit` for the process to exit by itself; its exit code
    /// (None: killed by a signal, or did not exit in time, and then it is
    /// killed).
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct ClusterOptions {
    /// How long a silent executor keeps its attempts.
    pub lease: &'static str,
    /// Route every node's peer traffic through proxies (for partitions).
    pub proxies: bool,
    /// Log entries between snapshots.
    pub snapshot_every: u64,
    /// More flags for every scheduler node (e.g. its blob store).
    pub scheduler_args: Vec<String>,
    /// Environment variables for every scheduler node.
    pub scheduler_env: Vec<(String, String)>,
    /// Serve each node's Prometheus metrics on a port of its own
    /// ([`Cluster::metrics`]).
    pub metrics: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            lease: "2s",
            proxies: false,
            snapshot_every: 10_000,
            scheduler_args: Vec::new(),
            scheduler_env: Vec::new(),
            metrics: false,
        }
    }
}

/// A scheduler cluster of real `baton-scheduler` processes.
pub struct Cluster {
    pub dir: PathBuf,
    /// Node id -> the address it listens on (and advertises).
    pub addresses: BTreeMap<u64, String>,
    nodes: BTreeMap<u64, Process>,
    options: ClusterOptions,
    /// (from, to) -> the proxy `from` dials `to` through.
    proxies: BTreeMap<(u64, u64), Proxy>,
    /// Nodes started with `--join` (added to the running cluster later).
    joined: std::collections::BTreeSet<u64>,
    /// Node id -> where it serves its metrics (with `ClusterOptions::metrics`).
    pub metrics: BTreeMap<u64, String>,
}

impl Cluster {
    /// Launches `workflow` (`baton run`); its execution id.
    pub fn launch(&self, workflow: &str) -> String {
        self.baton(&["run", workflow]).ok().stdout.trim().to_owned()
    }

    /// The ids of the executions `baton list executions` shows (up to 1,000).
    pub fn execution_ids(&self) -> Vec<String> {
        let listed = self
            .baton(&["list", "executions", "--limit", "1000", "-o", "json"])
            .ok()
            .json();
        listed
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits for execution `id` to leave RUNNING (and QUEUED); its `get -o json`.
    pub fn wait_end(&self, id: &str, limit: Duration) -> serde_json::Value {
        wait_for(limit, || {
            let got = self.baton(&["get", id, "-o", "json"]).ok().json();
            (got["phase"] != "RUNNING" && got["phase"] != "QUEUED").then_some(got)
        })
        .unwrap_or_else(|| panic!("{id} did not end in {limit:?}"))
    }

    /// Starts `n` nodes (ids 1..=n) that form a new cluster.
    pub fn start(dir: &Path, n: u64, options: ClusterOptions) -> Cluster {
        let addresses: BTreeMap<u64, String> = (1..=n)
            .map(|id| (id, format!("127.0.0.1:{}", free_port())))
            .collect();
        let mut proxies = BTreeMap::new();
        if options.proxies {
            for from in 1..=n {
                for to in (1..=n).filter(|to| *to != from) {
                    proxies.insert((from, to), Proxy::start(&addresses[&to]));
                }
            }
        }
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            addresses,
            nodes: BTreeMap::new(),
            options,
            proxies,
            joined: Default::default(),
            metrics: Default::default(),
        };
        if cluster.options.metrics {
            for id in cluster.addresses.keys() {
                let address = format!("127.0.0.1:{}", free_port());
                cluster.metrics.insert(*id, address);
            }
        }
        let ids: Vec<u64> = cluster.addresses.keys().copied().collect();
        // Start them concurrently: each waits for a quorum to be useful.
        let started: Vec<(u64, Process)> = std::thread::scope(|scope| {
            let cluster = &cluster;
            let handles: Vec<_> = ids
                .iter()
                .map(|&id| (id, scope.spawn(move || cluster.spawn_node(id))))
                .collect();
            handles
                .into_iter()
                .map(|(id, h)| (id, h.join().expect("node start")))
                .collect()
        });
        cluster.nodes.extend(started);
        cluster
    }

    fn spawn_node(&self, id: u64) -> Process {
        let peers: Vec<String> = self
            .addresses
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect();
        let mut command = Command::new(bin("baton-scheduler"));
        command
            .arg("--node-id")
            .arg(id.to_string())
            .arg("--listen")
            .arg(&self.addresses[&id])
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{id}")))
            .args(if self.joined.contains(&id) {
                vec!["--join".to_owned()]
            } else {
                vec!["--peers".to_owned(), peers.join(",")]
            })
            .arg("--lease")
            .arg(self.options.lease)
            .arg("--snapshot-every")
            .arg(self.options.snapshot_every.to_string())
            .args(&self.options.scheduler_args)
            .args(
                self.metrics
                    .get(&id)
                    .map(|address| vec!["--metrics-listen".to_owned(), address.clone()])
                    .unwrap_or_default(),
            )
            .env("RUST_LOG", "info,openraft=warn")
            .envs(self.options.scheduler_env.iter().map(|(k, v)| (k, v)));
        let routes: Vec<String> = self
            .proxies
            .iter()
            .filter(|((from, _), _)| *from == id)
            .map(|((_, to), proxy)| format!("{to}={}", proxy.address()))
            .collect();
        if !routes.is_empty() {
            command.arg("--route").arg(routes.join(","));
        }
        Process::spawn(
            command,
            "scheduler node serving",
            &format!("scheduler node {id}"),
        )
    }

    /// Starts a new node `id` that waits to be added (`--join`).
    pub fn start_joining(&mut self, id: u64) {
        self.addresses
            .insert(id, format!("127.0.0.1:{}", free_port()));
        self.joined.insert(id);
        let node = self.spawn_node(id);
        self.nodes.insert(id, node);
    }

    /// All addresses, comma-separated (what clients and executors are given).
    pub fn all(&self) -> String {
        self.addresses
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `baton ARGS` against the whole cluster.
    pub fn baton(&self, args: &[&str]) -> Outcome {
        baton(&self.all(), args)
    }

    /// SIGKILLs node `id`.
    pub fn kill(&mut self, id: u64) {
        if let Some(node) = self.nodes.get_mut(&id) {
            node.kill();
        }
    }

    /// Starts node `id` again on its data directory.
    pub fn restart(&mut self, id: u64) {
        let before = self.log(id);
        let node = self.spawn_node(id);
        {
            let mut log = node.log.lock().unwrap_or_else(|e| e.into_inner());
            *log = format!("{before}---- restarted\n{log}");
        }
        self.nodes.insert(id, node);
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(Process::running)
    }

    /// Every node's log, for a failing test's message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|(id, node)| format!("---- node {id}\n{}", node.log()))
            .collect()
    }

    pub fn log(&self, id: u64) -> String {
        self.nodes.get(&id).map(Process::log).unwrap_or_default()
    }

    /// What node `id` says about the cluster (`baton cluster status` asked of it alone).
    pub fn status_of(&self, id: u64) -> Option<serde_json::Value> {
        let out = baton(
            &self.addresses[&id],
            &["cluster", "status", "-o", "json", "--wait-leader", "0s"],
        );
        (out.code == 0).then(|| out.json())
    }

    /// The leader, as agreed by the running nodes, waiting up to `limit`.
    pub fn wait_for_leader(&self, limit: Duration) -> u64 {
        wait_for(limit, || {
            let running: Vec<u64> = self
                .addresses
                .keys()
                .copied()
                .filter(|id| self.is_running(*id))
                .collect();
            let leader = running.iter().find_map(|id| {
                let status = self.status_of(*id)?;
                let me = status["members"]
                    .as_array()?
                    .iter()
                    .find(|m| m["id"] == *id)?
                    .clone();
                (me["role"] == "Leader").then_some(*id)
            })?;
            Some(leader)
        })
        .unwrap_or_else(|| panic!("no leader within {limit:?}"))
    }

    /// Cuts node `id` off from every other node, both ways.
    pub fn partition(&self, id: u64) {
        for ((from, to), proxy) in &self.proxies {
            if *from == id || *to == id {
                proxy.cut();
            }
        }
    }

    pub fn heal(&self) {
        for proxy in self.proxies.values() {
            proxy.heal();
        }
    }
}

/// A `baton-executor` process.
pub struct Executor {
    process: Process,
    pub id: String,
}

impl Executor {
    pub fn start(schedulers: &str, id: &str, workers: u32, work_dir: &Path) -> Executor {
        Self::start_with(schedulers, id, workers, work_dir, &[])
    }

    /// [`Executor::start`] with these environment variables set.
    pub fn start_with(
        schedulers: &str,
        id: &str,
        workers: u32,
        work_dir: &Path,
        env: &[(&str, &str)],
    ) -> Executor {
        Self::start_args(schedulers, id, workers, work_dir, env, &[])
    }

    /// [`Executor::start_with`] with more flags (`--pool gpu --labels gpu=a100`).
    pub fn start_args(
        schedulers: &str,
        id: &str,
        workers: u32,
        work_dir: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Executor {
        let mut command = Command::new(bin("baton-executor"));
        command.envs(env.iter().copied());
        command.args(args);
        command
            .arg("--scheduler")
            .arg(schedulers)
            .arg("--id")
            .arg(id)
            .arg("--workers")
            .arg(workers.to_string())
            .arg("--work-dir")
            .arg(work_dir)
            .arg("--heartbeat-interval")
            .arg("300ms")
            .current_dir(repo_root())
            .env("RUST_LOG", "info");
        let process = Process::spawn(command, "executor started", &format!("executor {id}"));
        Executor {
            process,
            id: id.to_owned(),
        }
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM (a drain), then its exit code once it exited.
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        self.process.terminate(limit)
    }

    /// Waits for it to exit by itself (after a drain); its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        self.process.wait_exit(limit)
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A real S3-compatible server (`baton-test-s3`, s3s-fs) on an ephemeral
/// loopback port, its buckets directories under `root`.
pub struct S3Server {
    process: Process,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub root: PathBuf,
}

impl S3Server {
    pub const ACCESS_KEY: &'static str = "baton-test";
    pub const SECRET_KEY: &'static str = "baton-test-secret";

    /// Starts the server with the buckets `buckets` (empty directories).
    pub fn start(root: &Path, buckets: &[&str]) -> S3Server {
        for bucket in buckets {
            std::fs::create_dir_all(root.join(bucket)).expect("bucket directory");
        }
        let mut command = Command::new(bin("baton-test-s3"));
        command
            .arg(root)
            .arg(Self::ACCESS_KEY)
            .arg(Self::SECRET_KEY);
        let process = Process::spawn(command, "listening on", "the S3 server");
        // The ready line reaches the log just after the ready signal.
        let endpoint = crate::wait_for(Duration::from_secs(5), || {
            let log = process.log();
            let rest = log.split("listening on ").nth(1)?;
            rest.contains('\n')
                .then(|| rest.split_whitespace().next().map(str::to_owned))
                .flatten()
        })
        .expect("the S3 server's address");
        S3Server {
            process,
            endpoint,
            root: root.to_path_buf(),
        }
    }

    /// The environment a client of this server needs (credentials and region).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", Self::ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", Self::SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }
}
