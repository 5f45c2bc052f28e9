//! A fault-injecting TCP proxy for cluster tests: put one in front of a node
//! and dial the proxy instead of the node, then [`Proxy::cut`] it to
//! partition the node off (every forwarded connection is closed at once and
//! new ones are refused) and [`Proxy::heal`] it to reconnect.
//!
//! Only std is used: a non-blocking listener polled by one accept thread,
//! and for each forwarded connection one thread per direction.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the accept thread polls its non-blocking listener (and so how
/// long `Drop` may wait for it to notice the stop flag).
const ACCEPT_POLL: Duration = Duration::from_millis(10);

/// The longest a connection attempt to the target may take; on loopback a
/// refusal is immediate, so this only bounds pathological cases.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// State shared by the proxy handle, its accept thread and its connection
/// threads.
struct Shared {
    /// Where accepted connections are forwarded (`host:port`).
    target: String,
    /// Set by `cut`, cleared by `heal`.
    cut: AtomicBool,
    /// Set once, by `Drop`.
    stop: AtomicBool,
    /// Live forwarded connections; guarded so that `cut` and registration
    /// cannot interleave (a connection registered after a cut is closed at
    /// once).
    conns: Mutex<Registry>,
    /// Connection threads, joined on `Drop`.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// id -> clones of (client side, target side).
    live: HashMap<u64, (TcpStream, TcpStream)>,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves the map consistent enough.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn threads(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn closed(&self) -> bool {
        self.cut.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst)
    }

    /// Records a forwarded connection, or, when the proxy is cut or stopping,
    /// closes both sides and returns `None`.
    fn register(&self, client: &TcpStream, server: &TcpStream) -> Option<u64> {
        let mut registry = self.registry();
        if self.closed() {
            drop(registry);
            close(client);
            close(server);
            return None;
        }
        let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) else {
            drop(registry);
            close(client);
            close(server);
            return None;
        };
        let id = registry.next_id;
        registry.next_id += 1;
        registry.live.insert(id, (c, s));
        Some(id)
    }

    fn unregister(&self, id: u64) {
        self.registry().live.remove(&id);
    }

    /// Closes every live forwarded connection, both sides, both directions.
    fn close_all(&self) {
        let live: Vec<_> = self.registry().live.drain().collect();
        for (_, (client, server)) in live {
            close(&client);
            close(&server);
        }
    }
}

/// Shuts a socket down in both directions; errors (a peer already gone) are
/// normal and ignored.
fn close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}

/// A TCP proxy on 127.0.0.1 that forwards to one target and can be cut
/// (partitioned) and healed. Dropping it stops it and closes every
/// connection.
pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (an ephemeral port, bound with port 0) and
    /// forwards every accepted connection to `target` (host:port), bytes
    /// both ways, until cut.
    ///
    /// Panics if the listener cannot be set up (a test harness failure).
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy listener");
        listener
            .set_nonblocking(true)
            .expect("make proxy listener non-blocking");
        let address = listener.local_addr().expect("proxy listener address");
        let shared = Arc::new(Shared {
            target: target.to_string(),
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Registry::default()),
            threads: Mutex::new(Vec::new()),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("proxy-accept-{}", address.port()))
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn proxy accept thread")
        };
        Proxy {
            address,
            shared,
            accept: Some(accept),
        }
    }

    /// The address clients dial (127.0.0.1:PORT).
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Cuts: closes every open forwarded connection (both sides,
    /// immediately) and, while cut, accepts new connections but closes them
    /// at once without connecting to the target.
    pub fn cut(&self) {
        {
            // Set the flag under the registry lock so that no connection can
            // register between the flag and the sweep below.
            let _registry = self.shared.registry();
            self.shared.cut.store(true, Ordering::SeqCst);
        }
        self.shared.close_all();
    }

    /// Heals: new connections are forwarded again.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Whether the proxy is currently cut.
    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        {
            let _registry = self.shared.registry();
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        // Stop accepting first, so no new connection thread appears.
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        self.shared.close_all();
        // Every connection's sockets are shut down, so its threads end
        // promptly (a thread still connecting registers nothing and ends
        // within CONNECT_TIMEOUT).
        let threads: Vec<_> = self.shared.threads().drain(..).collect();
        for handle in threads {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                if shared.closed() {
                    close(&client);
                    continue;
                }
                let conn_shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name("proxy-conn".to_string())
                    .spawn(move || forward(client, conn_shared));
                let mut threads = shared.threads();
                threads.retain(|h| !h.is_finished());
                if let Ok(handle) = spawned {
                    threads.push(handle);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // WouldBlock (nothing pending) or a transient failure such as
            // running out of descriptors: wait and poll again.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Connects to the target with a bounded timeout, trying each resolved
/// address.
fn connect(target: &str) -> Option<TcpStream> {
    let addrs = target.to_socket_addrs().ok()?;
    addrs
        .into_iter()
        .find_map(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).ok())
}

/// Forwards one accepted connection until either side closes or the proxy
/// cuts it.
fn forward(client: TcpStream, shared: Arc<Shared>) {
    // Accepted sockets do not inherit the listener's non-blocking mode on
    // Linux, but other platforms differ; be explicit.
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    let Some(server) = connect(&shared.target) else {
        // The target refused (or is unreachable): close the client side.
        close(&client);
        return;
    };
    let _ = server.set_nodelay(true);
    let Some(id) = shared.register(&client, &server) else {
        return;
    };
    let upstream = match (client.try_clone(), server.try_clone()) {
        (Ok(c), Ok(s)) => thread::Builder::new()
            .name("proxy-copy".to_string())
            .spawn(move || copy(c, s))
            .ok(),
        _ => None,
    };
    match upstream {
        Some(upstream) => {
            copy(server, client);
            let _ = upstream.join();
        }
        None => {
            close(&client);
            close(&server);
        }
    }
    shared.unregister(id);
}

/// Copies bytes from `from` to `to` until `from` reaches end of stream
/// (which is passed on as a half-close) or either side fails (which closes
/// both sockets, so the opposite direction ends too).
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                let _ = from.shutdown(Shutdown::Read);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    close(&from);
    close(&to);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A tiny echo server on 127.0.0.1:0; its accept thread lives as long
    /// as the test process, each connection's thread until its peer closes.
    fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        address
    }

    fn dial(proxy: &Proxy) -> TcpStream {
        let stream = TcpStream::connect(proxy.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        stream
    }

    fn round_trip(stream: &mut TcpStream, message: &[u8]) {
        stream.write_all(message).unwrap();
        let mut got = vec![0u8; message.len()];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, message);
    }

    /// Reads once and asserts the connection is closed: end of stream or
    /// an error other than the read timeout.
    fn assert_closed(stream: &mut TcpStream) {
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("expected a closed connection, read {n} bytes"),
            Err(e) => assert!(
                !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "expected a closed connection, the read timed out"
            ),
        }
    }

    #[test]
    fn forwards_bytes_both_ways() {
        let proxy = Proxy::start(&echo_server());
        assert!(proxy.address().starts_with("127.0.0.1:"));
        assert!(!proxy.is_cut());
        let mut stream = dial(&proxy);
        round_trip(&mut stream, b"hello");
        round_trip(&mut stream, b"world");

        // A larger transfer in both directions at once.
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut writer = stream.try_clone().unwrap();
        let sent = payload.clone();
        let handle = thread::spawn(move || writer.write_all(&sent).unwrap());
        let mut got = vec![0u8; payload.len()];
        stream.read_exact(&mut got).unwrap();
        handle.join().unwrap();
        assert!(got == payload);

        // A second, concurrent connection works too.
        let mut other = dial(&proxy);
        round_trip(&mut other, b"second");
        round_trip(&mut stream, b"first");
    }

    #[test]
    fn cut_closes_open_and_new_connections() {
        let proxy = Proxy::start(&echo_server());
        let mut idle = dial(&proxy);
        round_trip(&mut idle, b"before");

        let started = Instant::now();
        proxy.cut();
        assert!(proxy.is_cut());
        assert_closed(&mut idle);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "cut took {:?}",
            started.elapsed()
        );

        let mut fresh = dial(&proxy);
        let started = Instant::now();
        // A write may or may not fail depending on timing; the read must
        // see the connection closed.
        let _ = fresh.write_all(b"anyone?");
        assert_closed(&mut fresh);
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn heal_forwards_new_connections_again() {
        let proxy = Proxy::start(&echo_server());
        proxy.cut();
        let mut refused = dial(&proxy);
        assert_closed(&mut refused);

        proxy.heal();
        assert!(!proxy.is_cut());
        let mut stream = dial(&proxy);
        round_trip(&mut stream, b"healed");

        // Cut and heal again: the old connection stays closed, a new one
        // works.
        proxy.cut();
        assert_closed(&mut stream);
        proxy.heal();
        let mut again = dial(&proxy);
        round_trip(&mut again, b"again");
    }

    #[test]
    fn refused_target_closes_the_client() {
        let target = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let proxy = Proxy::start(&target);
        let mut stream = dial(&proxy);
        assert_closed(&mut stream);
    }

    #[test]
    fn drop_returns_promptly_with_a_connection_open() {
        let proxy = Proxy::start(&echo_server());
        let mut stream = dial(&proxy);
        round_trip(&mut stream, b"open");

        let started = Instant::now();
        drop(proxy);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "drop took {:?}",
            started.elapsed()
        );
        assert_closed(&mut stream);
    }
}
