//! Connecting to a scheduler cluster, following its leader, and what the CLI
//! says when a request fails.
//!
//! Any node answers (a follower forwards to the leader); when a node cannot
//! (it is cut off, or an election is under way) the client retries, on the
//! leader it was told of or on the next address, with backoff, for up to
//! `--wait-leader`. Every retried request is safe to repeat: reads,
//! registrations (the same content is a no-op), cancels, and launches
//! (which carry a request id).

use std::future::Future;
use std::time::{Duration, Instant};

use baton_proto::admin_client::AdminClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// A safety net for one request: the scheduler itself gives up on a write
/// after 5 s and on a linearizable read after 3 s without a quorum.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Metadata naming the leader on a refusal by a non-leader (see the scheduler's admin service).
const LEADER_HINT: &str = "baton-leader";

/// Why a command did not do what was asked; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input is bad (a spec, a value, an argument): nothing was sent or changed.
    #[error("{0}")]
    BadInput(String),
    /// The request could not be made, or was refused: nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The scheduler refused the request for these problems (their codes
    /// and places, from the status details): nothing was changed.
    #[error("{message}")]
    Rejected {
        message: String,
        problems: Vec<baton_proto::Problem>,
    },
    #[error("cannot reach the scheduler at {address}: {why}\nis `baton dev` or `baton-scheduler` running there? set --scheduler or BATON_SCHEDULER")]
    Unreachable { address: String, why: String },
    /// The execution ran and did not succeed.
    #[error("{0}")]
    ExecutionFailed(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::ExecutionFailed(_) => 1,
            CliError::BadInput(_)
            | CliError::Refused(_)
            | CliError::Rejected { .. }
            | CliError::Unreachable { .. } => 2,
        }
    }
}

pub struct Client {
    /// Every address given; the first is tried first.
    addresses: Vec<String>,
    /// The address of the current connection.
    pub address: String,
    admin: AdminClient<Channel>,
    /// Read from the contacted node's own state (`--stale`).
    stale: bool,
    /// How long to keep retrying while no leader answers.
    patience: Duration,
}

async fn connect_one(address: &str) -> Result<AdminClient<Channel>, CliError> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| CliError::BadInput(format!("bad scheduler address `{address}`: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.map_err(|e| {
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why = s.to_string();
            source = s.source();
        }
        CliError::Unreachable {
            address: address.to_owned(),
            why,
        }
    })?;
    Ok(AdminClient::new(channel).max_decoding_message_size(256 << 20))
}

impl Client {
    /// Connects to the first reachable of `addresses` (comma-separated).
    pub async fn connect(
        addresses: &str,
        stale: bool,
        patience: Duration,
    ) -> Result<Client, CliError> {
        let addresses: Vec<String> = addresses
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if addresses.is_empty() {
            return Err(CliError::BadInput(
                "no scheduler address given (--scheduler HOST:PORT,...)".into(),
            ));
        }
        let mut last_error = None;
        for address in &addresses {
            match connect_one(address).await {
                Ok(admin) => {
                    return Ok(Client {
                        address: address.clone(),
                        admin,
                        addresses,
                        stale,
                        patience,
                    });
                }
                Err(e @ CliError::BadInput(_)) => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        Err(match last_error {
            Some(CliError::Unreachable { why, .. }) if addresses.len() > 1 => {
                CliError::Unreachable {
                    address: addresses.join(", "),
                    why,
                }
            }
            Some(e) => e,
            None => CliError::BadInput("no scheduler address given".into()),
        })
    }

    /// The raw Admin client of the current connection (no retries), for
    /// callers that issue many requests at once.
    pub fn admin(&self) -> AdminClient<Channel> {
        self.admin.clone()
    }

    /// Wraps a request, marking it stale when asked.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if self.stale {
            request
                .metadata_mut()
                .insert("baton-read", MetadataValue::from_static("stale"));
        }
        request
    }

    /// Calls `f` with the request for `message` until it succeeds, fails for good, or no leader answers in
    /// time. `f` must be safe to repeat.
    pub async fn call<M, T, F, Fut>(&mut self, message: M, mut f: F) -> Result<T, CliError>
    where
        M: Clone,
        F: FnMut(AdminClient<Channel>, Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.patience;
        let mut delay = Duration::from_millis(50);
        loop {
            let attempt = f(self.admin.clone(), self.request(message.clone()));
            let status = match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => Status::unavailable(format!(
                    "{} did not answer within {REQUEST_TIMEOUT:?}",
                    self.address
                )),
            };
            if !retryable(&status) || Instant::now() >= deadline {
                return Err(self.error(status));
            }
            let hint = status
                .metadata()
                .get(LEADER_HINT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
            self.reconnect(hint).await;
        }
    }

    /// Moves to the leader it was told of, or to the next address.
    pub async fn reconnect(&mut self, hint: Option<String>) {
        let next = match hint {
            Some(leader) if leader != self.address => leader,
            _ => {
                let at = self
                    .addresses
                    .iter()
                    .position(|a| *a == self.address)
                    .map_or(0, |i| i + 1);
                self.addresses[at % self.addresses.len()].clone()
            }
        };
        if let Ok(admin) = connect_one(&next).await {
            self.admin = admin;
            self.address = next;
        }
    }

    pub fn error(&self, status: Status) -> CliError {
        match status.code() {
            Code::Unavailable if is_transport_error(&status) => CliError::Unreachable {
                address: self.address.clone(),
                why: status.message().to_owned(),
            },
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition => {
                let problems = baton_proto::refusal::problems(&status);
                if problems.is_empty() {
                    CliError::Refused(status.message().to_owned())
                } else {
                    CliError::Rejected {
                        message: status.message().to_owned(),
                        problems,
                    }
                }
            }
            _ => CliError::Refused(format!("{} ({:?})", status.message(), status.code())),
        }
    }
}

fn is_transport_error(status: &Status) -> bool {
    let message = status.message();
    message.contains("error trying to connect")
        || message.contains("transport")
        || message.contains("connection")
}

/// Worth retrying elsewhere: no leader answered (not the leader, no quorum,
/// an election, a node gone).
pub fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled
    )
}
