//! A one-node scheduler in this process, on a loopback port and a
//! temporary directory, with a channel to it.

use baton_scheduler::{SchedulerConfig, SchedulerNode};
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};

pub struct OneNode {
    pub node: SchedulerNode,
    pub channel: Channel,
    /// Removed when the node is dropped.
    _data_dir: tempfile::TempDir,
}

pub async fn start() -> OneNode {
    let data_dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = SchedulerNode::start(SchedulerConfig::new(data_dir.path()), listener)
        .await
        .unwrap();
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
