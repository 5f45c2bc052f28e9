//! Connecting to a scheduler, and what the CLI says when a request fails.

use std::time::Duration;

use baton_proto::admin_client::AdminClient;
use tonic::transport::{Channel, Endpoint};

/// Why a command did not do what was asked; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input is bad (a spec, a value, an argument): nothing was sent or changed.
    #[error("{0}")]
    BadInput(String),
    /// The scheduler refused the request: nothing was changed.
    #[error("{0}")]
    Refused(String),
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
            CliError::BadInput(_) | CliError::Refused(_) | CliError::Unreachable { .. } => 2,
        }
    }

    pub fn from_status(address: &str, status: tonic::Status) -> CliError {
        use tonic::Code;
        match status.code() {
            Code::Unavailable
                if status.message().contains("error trying to connect")
                    || status.message().contains("transport") =>
            {
                CliError::Unreachable {
                    address: address.to_owned(),
                    why: status.message().to_owned(),
                }
            }
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition => CliError::Refused(status.message().to_owned()),
            _ => CliError::Refused(format!("{} ({:?})", status.message(), status.code())),
        }
    }
}

pub struct Client {
    pub address: String,
    pub admin: AdminClient<Channel>,
}

impl Client {
    pub async fn connect(address: &str) -> Result<Client, CliError> {
        let unreachable = |why: String| CliError::Unreachable {
            address: address.to_owned(),
            why,
        };
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
            unreachable(why)
        })?;
        let admin = AdminClient::new(channel).max_decoding_message_size(256 << 20);
        Ok(Client {
            address: address.to_owned(),
            admin,
        })
    }

    pub fn status(&self, status: tonic::Status) -> CliError {
        CliError::from_status(&self.address, status)
    }
}
