//! One session with one scheduler address, as a tokio task: dial (with a
//! connect timeout), open the `Session` stream with the registration already
//! queued as its first message, hand the link the outbound sender, then
//! forward every inbound message to the link until the stream ends. Every
//! report to the link carries the session number.

use std::time::Duration;

use baton_proto::executor_client::ExecutorClient;
use baton_proto::{ExecutorMessage, SchedulerMessage};
use ractor::ActorRef;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Endpoint;

use crate::error::ExecutorError;
use crate::link::LinkMsg;

/// One session: dial, open the stream, then forward what the scheduler
/// sends until the stream ends. Reports to the link tagged with `session`.
pub async fn run_session(
    address: String,
    register: ExecutorMessage,
    session: u64,
    link: ActorRef<LinkMsg>,
    connect_timeout: Duration,
) {
    let (outbound, mut inbound) = match open_session(&address, register, connect_timeout).await {
        Ok(opened) => opened,
        Err(error) => {
            let _ = link.send_message(LinkMsg::ConnectFailed { session, error });
            return;
        }
    };
    if link
        .send_message(LinkMsg::Connected { session, outbound })
        .is_err()
    {
        return;
    }
    let error = loop {
        match inbound.message().await {
            Ok(Some(message)) => {
                if link
                    .send_message(LinkMsg::Inbound {
                        session,
                        message: Box::new(message),
                    })
                    .is_err()
                {
                    return;
                }
            }
            Ok(None) => break None,
            Err(status) => break Some(describe_status(&status)),
        }
    };
    let _ = link.send_message(LinkMsg::Closed { session, error });
}

async fn open_session(
    address: &str,
    register: ExecutorMessage,
    connect_timeout: Duration,
) -> Result<
    (
        mpsc::UnboundedSender<ExecutorMessage>,
        tonic::Streaming<SchedulerMessage>,
    ),
    ExecutorError,
> {
    let failed = |reason: String| ExecutorError::Connect {
        address: address.to_owned(),
        reason,
    };
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| failed(describe_error(&e)))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| failed(describe_error(&e)))?;
    let (outbound, requests) = mpsc::unbounded_channel();
    outbound
        .send(register)
        .map_err(|_| failed("cannot queue the registration".into()))?;
    let mut client = ExecutorClient::new(channel);
    let opening = client.session(UnboundedReceiverStream::new(requests));
    let response = tokio::time::timeout(connect_timeout * 2, opening)
        .await
        .map_err(|_| failed("the scheduler did not answer the session in time".into()))?
        .map_err(|status| failed(describe_status(&status)))?;
    Ok((outbound, response.into_inner()))
}

/// An error and its sources on one line ("transport error: tcp connect
/// error: Connection refused (os error 111)").
fn describe_error(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn describe_status(status: &tonic::Status) -> String {
    if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        format!("{:?}: {}", status.code(), status.message())
    }
}
