//! `baton-test-s3 ROOT ACCESS_KEY SECRET_KEY`: a real S3-compatible server
//! (s3s-fs, objects as files under ROOT) on an ephemeral loopback port, for
//! the blob store's S3 tests. Prints `listening on http://127.0.0.1:PORT`
//! once it accepts connections, and serves until it is killed.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use s3s_fs::FileSystem;
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, access_key, secret_key] = args.as_slice() else {
        eprintln!("usage: baton-test-s3 ROOT ACCESS_KEY SECRET_KEY");
        std::process::exit(2);
    };
    let fs = FileSystem::new(root).unwrap_or_else(|e| {
        eprintln!("cannot serve {root}: {e:?}");
        std::process::exit(1);
    });
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(
        access_key.clone(),
        secret_key.clone(),
    ));
    let service = builder.build();
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    eprintln!(
        "listening on http://{}",
        listener.local_addr().expect("address")
    );
    let server = ConnBuilder::new(TokioExecutor::new());
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let connection = server
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
