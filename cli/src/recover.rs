//! `baton recover EXEC` and `baton relaunch EXEC`: a new execution of an
//! ended one's workflow version, inputs, launch plan and cache mode, linked
//! to it. Recovery reuses the outputs of every task instance that succeeded
//! (map items and loop iterations included) and runs only the rest; a
//! relaunch runs everything again.

use baton_proto::RecoverRequest;

use crate::client::{CliError, Client};
use crate::commands::{finish, follow, new_request_id, print_structured, Output};
use crate::render;

pub async fn recover(
    client: &mut Client,
    execution: &str,
    relaunch: bool,
    wait: bool,
    output: Output,
) -> Result<(), CliError> {
    let request = RecoverRequest {
        execution_id: execution.to_owned(),
        relaunch,
        request_id: new_request_id(),
    };
    let launched = client
        .call(request, |mut a, r| async move { a.recover(r).await })
        .await?;
    if !wait {
        match output {
            Output::Text => println!("{}", launched.execution_id),
            _ => print_structured(
                output,
                &serde_json::json!({
                    "execution": launched.execution_id,
                    "workflow": render::id(&launched.workflow),
                    "from": execution,
                }),
            ),
        }
        return Ok(());
    }
    let what = if relaunch { "relaunched" } else { "recovering" };
    eprintln!("{what} {execution} as {}", launched.execution_id);
    let ended = follow(client, &launched.execution_id).await?;
    finish(&ended, output)
}
