//! Helpers shared by the crate's unit tests: builtin assignments and a fake
//! link that hands everything the pool tells it to the test.

use std::time::Duration;

use baton_model::{Identifier, Interface, Runner, TaskSpec, Value, Variable};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

use crate::attempt::{Assignment, AttemptKey, Report};
use crate::link::LinkMsg;

pub fn variable(name: &str, ty: &str) -> Variable {
    Variable {
        name: name.into(),
        ty: ty.parse().unwrap(),
        default: None,
        description: String::new(),
    }
}

pub fn key(node: &str) -> AttemptKey {
    AttemptKey {
        execution_id: "e1".into(),
        node_id: node.into(),
        attempt: 1,
    }
}

/// An attempt of builtin `builtin` with typed inputs and declared outputs.
pub fn builtin_assignment(
    node: &str,
    builtin: &str,
    inputs: &[(&str, &str, Value)],
    outputs: &[(&str, &str)],
) -> Assignment {
    Assignment {
        key: key(node),
        task: TaskSpec {
            id: Identifier::new("default", "development", builtin, "1"),
            interface: Interface {
                inputs: inputs.iter().map(|(n, t, _)| variable(n, t)).collect(),
                outputs: outputs.iter().map(|(n, t)| variable(n, t)).collect(),
            },
            runner: Runner::Builtin(builtin.into()),
            retries: 0,
            timeout_ms: 0,
            pool: String::new(),
            selector: Default::default(),
            description: String::new(),
            cache: None,
        },
        inputs: inputs
            .iter()
            .map(|(n, _, v)| (n.to_string(), v.clone()))
            .collect(),
        trace_context: Default::default(),
    }
}

/// An attempt of builtin `noop` passing `x` on.
pub fn noop_assignment(node: &str, x: i64) -> Assignment {
    builtin_assignment(
        node,
        "noop",
        &[("x", "int", Value::Int(x))],
        &[("x", "int")],
    )
}

pub fn sleep_assignment(node: &str, seconds: f64) -> Assignment {
    builtin_assignment(
        node,
        "sleep",
        &[("seconds", "float", Value::Float(seconds))],
        &[],
    )
}

/// Stands in for an actor (the link, the pool): forwards every message it
/// gets to the test.
pub struct Forward<M> {
    pub sink: mpsc::UnboundedSender<M>,
}

impl<M: ractor::Message> Actor for Forward<M> {
    type Msg = M;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<M>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<M>,
        message: M,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = self.sink.send(message);
        Ok(())
    }
}

/// What the pool told the link, read by a test.
pub struct LinkInbox {
    pub receiver: mpsc::UnboundedReceiver<LinkMsg>,
    pub capacity: (u32, u32),
    pub started: Vec<AttemptKey>,
    pub drained: bool,
}

impl LinkInbox {
    pub async fn spawn() -> (ActorRef<LinkMsg>, LinkInbox) {
        let (sink, receiver) = mpsc::unbounded_channel();
        let (link, _) = Actor::spawn(None, Forward { sink }, ()).await.unwrap();
        (
            link,
            LinkInbox {
                receiver,
                capacity: (0, 0),
                started: Vec::new(),
                drained: false,
            },
        )
    }

    /// Reads the next message, noting capacity, starts and drain on the way.
    async fn next(&mut self) -> Option<LinkMsg> {
        let message = tokio::time::timeout(Duration::from_secs(5), self.receiver.recv())
            .await
            .expect("the pool went quiet")?;
        match &message {
            LinkMsg::Capacity { slots, free } => self.capacity = (*slots, *free),
            LinkMsg::Started(key) => self.started.push(key.clone()),
            LinkMsg::PoolDrained => self.drained = true,
            _ => {}
        }
        Some(message)
    }

    /// The next result the pool reports.
    pub async fn result(&mut self) -> (AttemptKey, Report) {
        loop {
            if let Some(LinkMsg::Finished { key, report }) = self.next().await {
                return (key, report);
            }
        }
    }

    /// Reads until the pool reports this capacity.
    pub async fn capacity_becomes(&mut self, capacity: (u32, u32)) {
        while self.capacity != capacity {
            let message = self.next().await;
            if let Some(LinkMsg::Finished { key, .. }) = message {
                panic!("unexpected result for {key} while waiting for capacity {capacity:?}");
            }
        }
    }

    /// Reads until the pool reports it drained.
    pub async fn until_drained(&mut self) {
        while !self.drained {
            if let Some(LinkMsg::Finished { key, .. }) = self.next().await {
                panic!("unexpected result for {key} while waiting for the drain");
            }
        }
    }
}
