//! A hand-driven executor on the Executor API, for tests that decide when
//! and what each attempt reports.

use std::time::Duration;

use baton_proto::executor_client::ExecutorClient;
use baton_proto::v1::admin_client::AdminClient;
use baton_proto::v1::ClusterStatusRequest;
use baton_proto::{
    attempt_result, executor_message, scheduler_message, value, AttemptRef, AttemptResult,
    ExecutorMessage, Outputs, RegisterExecutor, SchedulerMessage, Value, PROTOCOL_VERSION,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

pub struct FakeExecutor {
    outbound: mpsc::UnboundedSender<ExecutorMessage>,
    inbound: Streaming<SchedulerMessage>,
}

impl FakeExecutor {
    pub async fn connect(channel: Channel) -> FakeExecutor {
        let (outbound, requests) = mpsc::unbounded_channel();
        outbound
            .send(ExecutorMessage {
                kind: Some(executor_message::Kind::Register(RegisterExecutor {
                    executor_id: "fake".into(),
                    pool: "default".into(),
                    slots: 8,
                    runners: vec!["builtin".into()],
                    protocol_version: PROTOCOL_VERSION,
                    ..Default::default()
                })),
            })
            .unwrap();
        let mut client = ExecutorClient::new(channel);
        let inbound = client
            .session(UnboundedReceiverStream::new(requests))
            .await
            .unwrap()
            .into_inner();
        let mut executor = FakeExecutor { outbound, inbound };
        match executor.next().await {
            scheduler_message::Kind::Registered(_) => executor,
            other => panic!("expected Registered, got {other:?}"),
        }
    }

    pub async fn next(&mut self) -> scheduler_message::Kind {
        let message = tokio::time::timeout(Duration::from_secs(10), self.inbound.message())
            .await
            .expect("the scheduler sent nothing for 10 s")
            .unwrap()
            .expect("the stream ended");
        message.kind.unwrap()
    }

    /// The next message that is not an acknowledgement, and the attempts
    /// acknowledged before it.
    pub async fn next_assign(&mut self) -> (baton_proto::Assign, Vec<AttemptRef>) {
        let mut acked = Vec::new();
        loop {
            match self.next().await {
                scheduler_message::Kind::Assign(assign) => return (assign, acked),
                scheduler_message::Kind::Ack(ack) => acked.extend(ack.attempts),
                other => panic!("expected an Assign, got {other:?}"),
            }
        }
    }

    pub fn report(&self, attempt: AttemptRef, outcome: attempt_result::Outcome) {
        self.outbound
            .send(ExecutorMessage {
                kind: Some(executor_message::Kind::Result(AttemptResult {
                    attempt: Some(attempt),
                    outcome: Some(outcome),
                    log_size: 0,
                })),
            })
            .unwrap();
    }

    pub fn succeed(&self, attempt: AttemptRef, outputs: &[(&str, i64)]) {
        let values = outputs
            .iter()
            .map(|(name, x)| (name.to_string(), int(*x)))
            .collect();
        self.report(
            attempt,
            attempt_result::Outcome::Succeeded(Outputs { values }),
        );
    }
}

pub fn int(x: i64) -> Value {
    Value {
        kind: Some(value::Kind::IntValue(x)),
    }
}

pub fn input(assign: &baton_proto::Assign, name: &str) -> i64 {
    match assign.inputs[name].kind {
        Some(value::Kind::IntValue(x)) => x,
        ref other => panic!("input {name} is {other:?}"),
    }
}

pub fn node_of(assign: &baton_proto::Assign) -> String {
    assign.attempt.as_ref().unwrap().node_id.clone()
}

/// The leader of `nodes`, once one is elected (its index).
pub async fn leader(nodes: &[super::OneNode]) -> usize {
    for _ in 0..200 {
        for (i, one) in nodes.iter().enumerate() {
            let mut admin = AdminClient::new(one.channel.clone());
            if let Ok(status) = admin.cluster_status(ClusterStatusRequest::default()).await {
                if status.into_inner().role == "Leader" {
                    return i;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no leader elected");
}
