//! Scheduler nodes in this process, on loopback ports and temporary
//! directories, each with a channel to it.
#![allow(dead_code)] // Each test file uses its own part.

use std::collections::BTreeMap;
use std::time::Duration;

use baton_model::spec::{parse_yaml, SpecDocument};
use baton_proto::v1::admin_client::AdminClient;
use baton_proto::v1::{Identifier, LaunchRequest, ListExecutionsRequest, RegisterRequest};
use baton_scheduler::{SchedulerConfig, SchedulerNode};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};

pub mod executor;

pub struct OneNode {
    pub node: SchedulerNode,
    pub channel: Channel,
    /// Removed when the node is dropped.
    _data_dir: tempfile::TempDir,
}

pub async fn start() -> OneNode {
    start_with(|_| {}).await
}

/// One node, its configuration changed by `configure`.
pub async fn start_with(configure: impl FnOnce(&mut SchedulerConfig)) -> OneNode {
    let data_dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = SchedulerConfig::new(data_dir.path());
    configure(&mut config);
    let node = SchedulerNode::start(config, listener).await.unwrap();
    let channel = Endpoint::from_shared(format!("http://{}", node.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    OneNode {
        node,
        channel,
        _data_dir: data_dir,
    }
}

/// `n` nodes (ids 1..=n) forming one new cluster.
pub async fn start_cluster(n: u64) -> Vec<OneNode> {
    start_cluster_with(n, |_| {}).await
}

/// `n` nodes (ids 1..=n) forming one new cluster, each node's configuration
/// changed by `configure`.
pub async fn start_cluster_with(n: u64, configure: impl Fn(&mut SchedulerConfig)) -> Vec<OneNode> {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let peers: BTreeMap<u64, String> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.local_addr().unwrap().to_string()))
        .collect();
    let mut nodes = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = SchedulerConfig::new(data_dir.path());
        config.node_id = i as u64 + 1;
        config.peers = peers.clone();
        configure(&mut config);
        let node = SchedulerNode::start(config, listener).await.unwrap();
        let channel = Endpoint::from_shared(format!("http://{}", node.local_addr))
            .unwrap()
            .connect_lazy();
        nodes.push(OneNode {
            node,
            channel,
            _data_dir: data_dir,
        });
    }
    nodes
}

/// Registers the tasks and workflows of `specs` (YAML), retrying while the
/// new cluster elects its leader.
pub async fn register(admin: &mut AdminClient<Channel>, specs: &str) {
    let mut request = RegisterRequest::default();
    for document in parse_yaml(specs, "specs").unwrap() {
        match document {
            SpecDocument::Task(t) => request.tasks.push((&t).into()),
            SpecDocument::Workflow(w) => request.workflows.push((&w).into()),
            SpecDocument::LaunchPlan(p) => request.launch_plans.push((&p).into()),
        }
    }
    for _ in 0..100 {
        match admin.register(request.clone()).await {
            Ok(_) => return,
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(status) => panic!("register: {status}"),
        }
    }
    panic!("the node never became leader");
}

/// A launch of `workflow` with its input `x` given as text, under
/// `request_id` (empty: none).
pub fn launch_request(workflow: &str, x: impl ToString, request_id: &str) -> LaunchRequest {
    LaunchRequest {
        workflow: Some(Identifier {
            name: workflow.into(),
            ..Default::default()
        }),
        text_inputs: [("x".to_string(), x.to_string())].into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// `one`: a workflow of one `echo` node (builtin noop) passing `x` on.
pub const ONE_TASK: &str = r#"
kind: Task
name: echo
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: one
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: a, task: echo@v1, inputs: {x: "${inputs.x}"}}
outputs: {x: "${a.x}"}
"#;

/// How many executions the cluster holds (up to 1,000).
pub async fn executions(admin: &mut AdminClient<Channel>) -> usize {
    let request = ListExecutionsRequest { limit: 1000 };
    let response = admin.list_executions(request).await.unwrap();
    response.into_inner().executions.len()
}
