//! The executor against fake schedulers: tonic servers on loopback that
//! implement the generated `Executor` service and let each test script the
//! scheduler's side of the stream (register, assign, cancel, ack, drop the
//! stream, answer `NotLeader`).

use std::collections::BTreeMap;
use std::time::Duration;

use baton_executor::{start, ExecutorConfig, ExecutorHandle};
use baton_proto::executor_message::Kind as FromExecutor;
use baton_proto::executor_server::{Executor, ExecutorServer};
use baton_proto::scheduler_message::{Kind as ToExecutor, Registered};
use baton_proto::{
    attempt_result, runner, Assign, AttemptRef, AttemptResult, ExecutorMessage, Identifier,
    Interface, NotLeader, RegisterExecutor, ResultAck, Runner, SchedulerMessage, TaskSpec,
    Variable,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// What a fake scheduler saw, in order.
enum Event {
    /// A session opened; answer the executor through `reply`.
    Opened {
        session: u64,
        reply: mpsc::Sender<Result<SchedulerMessage, Status>>,
    },
    Message {
        session: u64,
        message: FromExecutor,
    },
    Closed {
        session: u64,
    },
}

#[derive(Clone)]
enum Role {
    Leader,
    /// Answers every session with `NotLeader{leader}` and closes it.
    Follower {
        leader: String,
    },
}

struct FakeService {
    role: Role,
    events: mpsc::UnboundedSender<Event>,
    sessions: std::sync::atomic::AtomicU64,
}

#[tonic::async_trait]
impl Executor for FakeService {
    type SessionStream = ReceiverStream<Result<SchedulerMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<ExecutorMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let session = self
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let mut inbound = request.into_inner();
        let (reply, replies) = mpsc::channel(64);
        match &self.role {
            Role::Leader => {
                let _ = self.events.send(Event::Opened { session, reply });
            }
            Role::Follower { leader } => {
                let not_leader = ToExecutor::NotLeader(NotLeader {
                    leader_address: leader.clone(),
                });
                let _ = reply
                    .send(Ok(SchedulerMessage {
                        kind: Some(not_leader),
                    }))
                    .await;
            }
        }
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                if let Some(message) = message.kind {
                    let _ = events.send(Event::Message { session, message });
                }
            }
            let _ = events.send(Event::Closed { session });
        });
        Ok(Response::new(ReceiverStream::new(replies)))
    }
}

struct FakeScheduler {
    address: String,
    events: mpsc::UnboundedReceiver<Event>,
}

/// The scheduler's end of one session.
struct Session {
    id: u64,
    reply: mpsc::Sender<Result<SchedulerMessage, Status>>,
}

impl Session {
    async fn send(&self, message: ToExecutor) {
        self.reply
            .send(Ok(SchedulerMessage {
                kind: Some(message),
            }))
            .await
            .expect("the session is gone");
    }
}

const WAIT: Duration = Duration::from_secs(5);

impl FakeScheduler {
    async fn start(role: Role) -> FakeScheduler {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (events, receiver) = mpsc::unbounded_channel();
        let service = FakeService {
            role,
            events,
            sessions: Default::default(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(ExecutorServer::new(service))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        FakeScheduler {
            address,
            events: receiver,
        }
    }

    async fn next(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("the executor went quiet")
            .expect("the fake scheduler stopped")
    }

    /// Waits for the next session and its registration, and registers it.
    async fn accept(&mut self) -> (Session, RegisterExecutor) {
        let session = loop {
            if let Event::Opened { session, reply } = self.next().await {
                break Session { id: session, reply };
            }
        };
        let register = match self.next_message(session.id).await {
            FromExecutor::Register(register) => register,
            _ => panic!("the first message of a session must be the registration"),
        };
        session
            .send(ToExecutor::Registered(Registered {
                protocol_version: 1,
                lease_ms: 10_000,
                blob_store: None,
            }))
            .await;
        (session, register)
    }

    /// The next message of `session` (messages of other sessions are skipped).
    async fn next_message(&mut self, session: u64) -> FromExecutor {
        loop {
            match self.next().await {
                Event::Message {
                    session: s,
                    message,
                } if s == session => return message,
                Event::Closed { session: s } if s == session => panic!("session {session} closed"),
                _ => {}
            }
        }
    }

    /// The next result of `session`, skipping heartbeats and starts.
    async fn next_result(&mut self, session: u64) -> AttemptResult {
        loop {
            if let FromExecutor::Result(result) = self.next_message(session).await {
                return result;
            }
        }
    }

    /// Waits for the next heartbeat of `session`; panics on a result before it.
    async fn heartbeat_before_any_result(&mut self, session: u64) -> u32 {
        loop {
            match self.next_message(session).await {
                FromExecutor::Heartbeat(heartbeat) => return heartbeat.free_slots,
                FromExecutor::Result(result) => panic!("unexpected result {:?}", result.attempt),
                _ => {}
            }
        }
    }
}

fn config(schedulers: Vec<String>, work_dir: &std::path::Path) -> ExecutorConfig {
    ExecutorConfig {
        executor_id: "test-executor".into(),
        pool: "cpu".into(),
        labels: BTreeMap::from([("zone".to_string(), "test".to_string())]),
        workers: 2,
        schedulers,
        work_dir: work_dir.to_path_buf(),
        heartbeat_interval: Duration::from_millis(100),
        ..ExecutorConfig::default()
    }
}

fn attempt(node: &str) -> AttemptRef {
    AttemptRef {
        execution_id: "exec-1".into(),
        node_id: node.into(),
        attempt: 1,
    }
}

fn variable(name: &str, ty: &str) -> Variable {
    Variable {
        name: name.into(),
        r#type: ty.into(),
        default: None,
        description: String::new(),
    }
}

fn int(value: i64) -> baton_proto::Value {
    baton_proto::Value {
        kind: Some(baton_proto::value::Kind::IntValue(value)),
    }
}

fn float(value: f64) -> baton_proto::Value {
    baton_proto::Value {
        kind: Some(baton_proto::value::Kind::FloatValue(value)),
    }
}

fn builtin_task(name: &str, inputs: &[(&str, &str)], outputs: &[(&str, &str)]) -> TaskSpec {
    TaskSpec {
        id: Some(Identifier {
            project: "default".into(),
            domain: "development".into(),
            name: name.into(),
            version: "1".into(),
        }),
        interface: Some(Interface {
            inputs: inputs.iter().map(|(n, t)| variable(n, t)).collect(),
            outputs: outputs.iter().map(|(n, t)| variable(n, t)).collect(),
        }),
        runner: Some(Runner {
            kind: Some(runner::Kind::Builtin(name.into())),
        }),
        ..Default::default()
    }
}

/// `noop` on node `node`: input x (int) copied to output x.
fn noop(node: &str, x: i64) -> ToExecutor {
    ToExecutor::Assign(Assign {
        attempt: Some(attempt(node)),
        task: Some(builtin_task("noop", &[("x", "int")], &[("x", "int")])),
        inputs: [("x".to_string(), int(x))].into(),
        trace_context: Default::default(),
    })
}

fn sleep(node: &str, seconds: f64) -> ToExecutor {
    ToExecutor::Assign(Assign {
        attempt: Some(attempt(node)),
        task: Some(builtin_task("sleep", &[("seconds", "float")], &[])),
        inputs: [("seconds".to_string(), float(seconds))].into(),
        trace_context: Default::default(),
    })
}

fn ack(nodes: &[&str]) -> ToExecutor {
    ToExecutor::Ack(ResultAck {
        attempts: nodes.iter().map(|n| attempt(n)).collect(),
    })
}

fn succeeded(result: &AttemptResult) -> &baton_proto::Outputs {
    match &result.outcome {
        Some(attempt_result::Outcome::Succeeded(outputs)) => outputs,
        other => panic!("expected success, got {other:?}"),
    }
}

fn failed(result: &AttemptResult) -> &baton_proto::AttemptFailure {
    match &result.outcome {
        Some(attempt_result::Outcome::Failed(failure)) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

async fn stop(executor: ExecutorHandle) {
    tokio::time::timeout(WAIT, executor.shutdown())
        .await
        .expect("the executor did not stop");
}

#[tokio::test]
async fn executor_registers_runs_assignments_reports_results_and_obeys_cancel_and_drain() {
    let dir = tempfile::tempdir().unwrap();
    let mut scheduler = FakeScheduler::start(Role::Leader).await;
    let executor = start(config(vec![scheduler.address.clone()], dir.path()))
        .await
        .unwrap();

    let (session, register) = scheduler.accept().await;
    assert_eq!(register.executor_id, "test-executor");
    assert_eq!(register.pool, "cpu");
    assert_eq!(
        register.labels.get("zone").map(String::as_str),
        Some("test")
    );
    assert_eq!(register.slots, 2);
    assert_eq!(register.runners, ["process", "builtin"]);
    assert_eq!(register.protocol_version, baton_proto::PROTOCOL_VERSION);
    assert!(register.running.is_empty());
    assert_eq!(scheduler.heartbeat_before_any_result(session.id).await, 2);

    session.send(sleep("sleeper", 30.0)).await;
    session.send(noop("copier", 5)).await;
    let result = scheduler.next_result(session.id).await;
    assert_eq!(result.attempt, Some(attempt("copier")));
    assert_eq!(succeeded(&result).values.get("x"), Some(&int(5)));
    session.send(ack(&["copier"])).await;

    session.send(ToExecutor::Cancel(attempt("sleeper"))).await;
    let result = scheduler.next_result(session.id).await;
    assert_eq!(result.attempt, Some(attempt("sleeper")));
    let failure = failed(&result);
    assert_eq!(failure.message, "cancelled");
    assert!(!failure.retryable);
    session.send(ack(&["sleeper"])).await;

    // A drain from the scheduler: the executor stops taking work and exits.
    session.send(ToExecutor::Drain(baton_proto::Drain {})).await;
    tokio::time::timeout(WAIT, executor.wait())
        .await
        .expect("the drained executor did not exit")
        .unwrap();
}

#[tokio::test]
async fn a_follower_sends_the_executor_to_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = FakeScheduler::start(Role::Leader).await;
    let mut follower = FakeScheduler::start(Role::Follower {
        leader: leader.address.clone(),
    })
    .await;
    let executor = start(config(vec![follower.address.clone()], dir.path()))
        .await
        .unwrap();

    match follower.next().await {
        Event::Message {
            message: FromExecutor::Register(register),
            ..
        } => {
            assert_eq!(register.executor_id, "test-executor")
        }
        _ => panic!("the follower should first see a registration"),
    }
    let (session, register) = leader.accept().await;
    assert_eq!(register.executor_id, "test-executor");
    session.send(noop("n1", 7)).await;
    let result = leader.next_result(session.id).await;
    assert_eq!(succeeded(&result).values.get("x"), Some(&int(7)));
    stop(executor).await;
}

#[tokio::test]
async fn results_not_acknowledged_before_a_dropped_stream_are_resent_after_reconnecting() {
    let dir = tempfile::tempdir().unwrap();
    let mut scheduler = FakeScheduler::start(Role::Leader).await;
    let executor = start(config(vec![scheduler.address.clone()], dir.path()))
        .await
        .unwrap();

    let (first, _) = scheduler.accept().await;
    session_runs(&first, &mut scheduler).await;
    // The stream drops with `done` unacknowledged and `sleeper` still running.
    drop(first);

    let (second, register) = scheduler.accept().await;
    assert_eq!(
        register.running,
        [attempt("sleeper")],
        "the registration names what still runs"
    );
    let resent = scheduler.next_result(second.id).await;
    assert_eq!(resent.attempt, Some(attempt("done")));
    assert_eq!(succeeded(&resent).values.get("x"), Some(&int(1)));
    second.send(ack(&["done"])).await;
    // Once acknowledged, a result is not sent again after the next reconnect.
    scheduler.heartbeat_before_any_result(second.id).await;
    drop(second);
    let (third, _) = scheduler.accept().await;
    scheduler.heartbeat_before_any_result(third.id).await;
    stop(executor).await;
}

/// Assigns `sleeper` (long) and `done` (noop) and waits for `done`'s result.
async fn session_runs(session: &Session, scheduler: &mut FakeScheduler) {
    session.send(sleep("sleeper", 30.0)).await;
    session.send(noop("done", 1)).await;
    let result = scheduler.next_result(session.id).await;
    assert_eq!(result.attempt, Some(attempt("done")));
}

#[tokio::test]
async fn an_unreachable_scheduler_is_retried_until_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, close it, start the executor against it, then serve on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let executor = start(config(vec![address.to_string()], dir.path()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;

    let listener = TcpListener::bind(address).await.unwrap();
    let (events, receiver) = mpsc::unbounded_channel();
    let service = FakeService {
        role: Role::Leader,
        events,
        sessions: Default::default(),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ExecutorServer::new(service))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let mut scheduler = FakeScheduler {
        address: address.to_string(),
        events: receiver,
    };
    let (_session, register) = scheduler.accept().await;
    assert_eq!(register.executor_id, "test-executor");
    stop(executor).await;
}

#[tokio::test]
async fn draining_finishes_running_work_and_delivers_its_result_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let mut scheduler = FakeScheduler::start(Role::Leader).await;
    let executor = start(config(vec![scheduler.address.clone()], dir.path()))
        .await
        .unwrap();
    let (session, _) = scheduler.accept().await;
    session.send(sleep("last", 0.3)).await;
    loop {
        if let FromExecutor::Started(started) = scheduler.next_message(session.id).await {
            assert_eq!(started, attempt("last"));
            break;
        }
    }
    let control = executor.control();
    let exited = tokio::spawn(executor.drain());
    control.drain(); // a second request is harmless
                     // Draining announces no free slots, and the running attempt still reports.
    let (mut announced, mut result) = (false, None);
    while !announced || result.is_none() {
        match scheduler.next_message(session.id).await {
            FromExecutor::Heartbeat(heartbeat) => announced |= heartbeat.free_slots == 0,
            FromExecutor::Result(finished) => result = Some(finished),
            _ => {}
        }
    }
    let result = result.unwrap();
    assert_eq!(result.attempt, Some(attempt("last")));
    succeeded(&result);
    assert!(
        !exited.is_finished(),
        "the executor must wait for the acknowledgement"
    );
    session.send(ack(&["last"])).await;
    tokio::time::timeout(WAIT, exited)
        .await
        .expect("the drained executor did not exit")
        .unwrap();
}

#[tokio::test]
async fn resizing_the_pool_is_announced_to_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let mut scheduler = FakeScheduler::start(Role::Leader).await;
    let executor = start(config(vec![scheduler.address.clone()], dir.path()))
        .await
        .unwrap();
    let (session, _) = scheduler.accept().await;
    executor.resize(5);
    loop {
        if let FromExecutor::Heartbeat(heartbeat) = scheduler.next_message(session.id).await {
            if heartbeat.free_slots == 5 {
                break;
            }
        }
    }
    // A new session registers with the new number of slots.
    drop(session);
    let (_session, register) = scheduler.accept().await;
    assert_eq!(register.slots, 5);
    stop(executor).await;
}

#[tokio::test]
async fn shutdown_kills_the_process_groups_of_running_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let mut scheduler = FakeScheduler::start(Role::Leader).await;
    let executor = start(config(
        vec![scheduler.address.clone()],
        &dir.path().join("work"),
    ))
    .await
    .unwrap();
    let (session, _) = scheduler.accept().await;
    let task = TaskSpec {
        id: Some(Identifier {
            name: "forever".into(),
            ..Default::default()
        }),
        interface: Some(Interface::default()),
        runner: Some(Runner {
            kind: Some(runner::Kind::Process(baton_proto::ProcessRunner {
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    r#"sleep 1000 & echo $! > "$PIDFILE"; wait"#.into(),
                ],
                env: [("PIDFILE".to_string(), pid_file.display().to_string())].into(),
                working_dir: String::new(),
            })),
        }),
        ..Default::default()
    };
    session
        .send(ToExecutor::Assign(Assign {
            attempt: Some(attempt("forever")),
            task: Some(task),
            inputs: Default::default(),
            trace_context: Default::default(),
        }))
        .await;
    let pid = wait_for_pid(&pid_file).await;
    assert!(alive(pid));
    stop(executor).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attempt's grandchild outlived the executor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_pid(path: &std::path::Path) -> i32 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task never wrote its pid"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` runs (a zombie left to a non-reaping init counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}
