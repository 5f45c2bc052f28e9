//! `baton-test-otlp`: the trace tests' OTLP receiver as a process of its
//! own, to measure Baton with traces on (docs/performance.md, "Traces"):
//! prints its gRPC and HTTP URLs, then, every second, how many spans it
//! has received, until it is killed.

use std::time::Duration;

fn main() {
    let receiver = baton_tests::otlp::OtlpReceiver::start();
    println!("grpc {}", receiver.grpc);
    println!("http {}", receiver.http);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        eprintln!("spans {}", receiver.count());
    }
}
