//! `baton version`: this client's version and protocol, then every
//! scheduler node's (each asked directly) and every connected executor's,
//! so a mixed-version cluster in the middle of an upgrade shows itself.

use baton_proto::PROTOCOL_VERSION;

use crate::client::{CliError, Client};
use crate::commands::print_structured;
use crate::commands::Output;

/// One scheduler node as it answered (or did not).
struct Node {
    id: u64,
    address: String,
    version: Option<(String, u32)>,
}

pub async fn version(
    addresses: &str,
    stale: bool,
    patience: std::time::Duration,
    output: Output,
) -> Result<(), CliError> {
    let client_version = env!("CARGO_PKG_VERSION");
    let connected = Client::connect(addresses, stale, patience).await;
    let mut client = match connected {
        Ok(client) => client,
        Err(e) => {
            // The client's own version is worth printing even so.
            if output == Output::Text {
                println!("client     baton {client_version}, protocol {PROTOCOL_VERSION}");
            }
            return Err(e);
        }
    };
    let (_, members) = crate::cluster::member_statuses(&mut client).await?;
    let nodes: Vec<Node> = members
        .into_iter()
        .map(|(member, answered)| Node {
            id: member.id,
            address: member.address,
            version: answered.map(|s| (s.version, s.protocol_version)),
        })
        .collect();
    let pools = crate::pools::list_pools(&mut client).await.ok();
    let executors: Vec<(String, String, String)> = pools
        .iter()
        .flat_map(|p| &p.pools)
        .flat_map(|p| &p.executors)
        .filter(|e| e.connected)
        .map(|e| (e.id.clone(), e.pool.clone(), e.version.clone()))
        .collect();
    match output {
        Output::Json | Output::Yaml => print_structured(
            output,
            &serde_json::json!({
                "client": {"version": client_version, "protocol_version": PROTOCOL_VERSION},
                "schedulers": nodes.iter().map(|n| serde_json::json!({
                    "id": n.id,
                    "address": n.address,
                    "reachable": n.version.is_some(),
                    "version": n.version.as_ref().map(|v| v.0.clone()),
                    "protocol_version": n.version.as_ref().map(|v| v.1),
                })).collect::<Vec<_>>(),
                "executors": executors.iter().map(|(id, pool, version)| serde_json::json!({
                    "id": id, "pool": pool, "version": version,
                })).collect::<Vec<_>>(),
            }),
        ),
        Output::Text => {
            println!("client     baton {client_version}, protocol {PROTOCOL_VERSION}");
            for node in &nodes {
                match &node.version {
                    Some((version, protocol)) => println!(
                        "scheduler  node {} at {}: baton-scheduler {version}, protocol {protocol}",
                        node.id, node.address
                    ),
                    None => println!(
                        "scheduler  node {} at {}: unreachable",
                        node.id, node.address
                    ),
                }
            }
            for (id, pool, version) in &executors {
                println!("executor   {id} (pool {pool}): baton-executor {version}");
            }
        }
    }
    Ok(())
}
