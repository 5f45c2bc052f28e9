//! `baton cluster`: the scheduler cluster's members, leader, term and log
//! positions, and adding and removing members.

use baton_proto::*;

use crate::client::{CliError, Client};
use crate::commands::{print_structured, Output};

#[derive(clap::Subcommand, Debug)]
pub enum ClusterCommand {
    /// Show the leader, term, members and each node's log positions.
    Status,
    /// Add a node (started with an empty data directory) as a learner; it
    /// receives the log (or a snapshot) and votes once promoted.
    AddLearner {
        /// The new node's id (unique, from 1).
        id: u64,
        /// The address the new node serves on.
        address: String,
    },
    /// Make learners voters.
    Promote {
        #[arg(required = true)]
        ids: Vec<u64>,
    },
    /// Remove voters or learners from the cluster.
    Remove {
        #[arg(required = true)]
        ids: Vec<u64>,
    },
}

pub async fn run(
    client: &mut Client,
    command: ClusterCommand,
    output: Output,
) -> Result<(), CliError> {
    let members = match command {
        ClusterCommand::Status => return cluster_status(client, output).await,
        ClusterCommand::AddLearner { id, address } => {
            let request = AddLearnerRequest {
                node_id: id,
                address,
            };
            client
                .call(request, |mut a, r| async move { a.add_learner(r).await })
                .await?
        }
        ClusterCommand::Promote { ids } => {
            let request = PromoteRequest { node_ids: ids };
            client
                .call(request, |mut a, r| async move { a.promote(r).await })
                .await?
        }
        ClusterCommand::Remove { ids } => {
            let request = RemoveNodesRequest { node_ids: ids };
            client
                .call(request, |mut a, r| async move { a.remove_nodes(r).await })
                .await?
        }
    };
    match output {
        Output::Json | Output::Yaml => print_structured(
            output,
            &serde_json::Value::Array(
                members
                    .members
                    .iter()
                    .map(
                        |m| serde_json::json!({"id": m.id, "address": m.address, "voter": m.voter}),
                    )
                    .collect(),
            ),
        ),
        Output::Text => {
            for m in &members.members {
                println!(
                    "{:>4}  {:<24} {}",
                    m.id,
                    m.address,
                    if m.voter { "voter" } else { "learner" }
                );
            }
        }
    }
    Ok(())
}

/// The contacted node's status, and each member's as that member answers
/// it (`None`: unreachable).
pub async fn member_statuses(
    client: &mut Client,
) -> Result<
    (
        ClusterStatusResponse,
        Vec<(baton_proto::ClusterMember, Option<ClusterStatusResponse>)>,
    ),
    CliError,
> {
    let first = client
        .call(ClusterStatusRequest {}, |mut a, r| async move {
            a.cluster_status(r).await
        })
        .await?;
    let mut rows = Vec::new();
    for member in &first.members {
        let status =
            match crate::client::Client::connect(&member.address, true, std::time::Duration::ZERO)
                .await
            {
                Ok(mut node) => node
                    .call(ClusterStatusRequest {}, |mut a, r| async move {
                        a.cluster_status(r).await
                    })
                    .await
                    .ok(),
                Err(_) => None,
            };
        rows.push((member.clone(), status));
    }
    Ok((first, rows))
}

/// Asks the contacted node for the members, then each member for its own view.
async fn cluster_status(client: &mut Client, output: Output) -> Result<(), CliError> {
    let (first, rows) = member_statuses(client).await?;
    let leader = rows
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .find(|s| s.role == "Leader")
        .or(Some(&first))
        .map(|s| (s.leader_id, s.leader_address.clone(), s.term))
        .unwrap_or_default();
    match output {
        Output::Json | Output::Yaml => print_structured(
            output,
            &serde_json::json!({
                "leader": if leader.0 == 0 { serde_json::Value::Null } else { serde_json::json!(leader.0) },
                "leader_address": leader.1,
                "term": leader.2,
                "members": rows.iter().map(|(m, s)| serde_json::json!({
                    "id": m.id,
                    "address": m.address,
                    "voter": m.voter,
                    "reachable": s.is_some(),
                    "role": s.as_ref().map(|s| s.role.clone()),
                    "term": s.as_ref().map(|s| s.term),
                    "last_log_index": s.as_ref().map(|s| s.last_log_index),
                    "committed_index": s.as_ref().map(|s| s.committed_index),
                    "applied_index": s.as_ref().map(|s| s.applied_index),
                    "snapshot_index": s.as_ref().map(|s| s.snapshot_index),
                    "heap_bytes": s.as_ref().map(|s| s.heap_bytes),
                })).collect::<Vec<_>>(),
            }),
        ),
        Output::Text => {
            match leader.0 {
                0 => println!("leader   none known"),
                id => println!("leader   {id} at {} (term {})", leader.1, leader.2),
            }
            println!(
                "{:>4}  {:<22} {:<8} {:<10} {:>5} {:>9} {:>9} {:>9} {:>9}",
                "ID",
                "ADDRESS",
                "MEMBER",
                "ROLE",
                "TERM",
                "LAST LOG",
                "COMMITTED",
                "APPLIED",
                "HEAP MiB"
            );
            for (m, s) in &rows {
                let member = if m.voter { "voter" } else { "learner" };
                match s {
                    Some(s) => println!(
                        "{:>4}  {:<22} {:<8} {:<10} {:>5} {:>9} {:>9} {:>9} {:>9.1}",
                        m.id,
                        m.address,
                        member,
                        s.role,
                        s.term,
                        s.last_log_index,
                        s.committed_index,
                        s.applied_index,
                        s.heap_bytes as f64 / (1024.0 * 1024.0)
                    ),
                    None => println!("{:>4}  {:<22} {:<8} unreachable", m.id, m.address, member),
                }
            }
        }
    }
    Ok(())
}
