//! `salesloft_api::serve` against clients that hold connections open: headers that never
//! finish, idle keep-alives, bodies that stall, and more connections than the cap, over real
//! sockets.
#![cfg(feature = "server")]

use axum::Router;
use axum::routing::post;
use salesloft_api::serve::{Limits, serve};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const SLOW: Duration = Duration::from_millis(300);
/// Far longer than `SLOW`: what a closed connection is given to show it is closed.
const PATIENCE: Duration = Duration::from_secs(5);

const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi";

/// Serves a router whose POST `/` answers "ok" once `gate` gives it a permit.
async fn start(limits: Limits, gate: Arc<Semaphore>) -> SocketAddr {
    let router = Router::new().route(
        "/",
        post(move |body: axum::body::Bytes| {
            let gate = gate.clone();
            async move {
                let _permit = gate.acquire().await.unwrap();
                format!("ok {}", body.len())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, limits));
    address
}

fn open_gate() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(Semaphore::MAX_PERMITS))
}

/// A client that sent half of its headers and waits.
async fn half_headers(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    stream
}

/// Everything the server sends until it closes the connection; `None` if it is still open
/// after `PATIENCE`.
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
    match read {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&answer).into_owned()),
        // A reset is a close too.
        Ok(Err(_)) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

/// Sends one whole request and reads its status line.
async fn ask(stream: &mut TcpStream) -> String {
    stream.write_all(REQUEST).await.unwrap();
    let mut buffer = [0u8; 1024];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

fn limits(header: Duration, body: Duration, cap: Option<usize>) -> Limits {
    Limits {
        header_timeout: header,
        body_timeout: body,
        max_connections: cap,
    }
}

#[tokio::test]
async fn clients_that_never_finish_their_headers_are_closed() {
    let address = start(limits(SLOW, PATIENCE, None), open_gate()).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(half_headers(address).await);
    }
    for client in &mut clients {
        assert!(
            until_closed(client).await.is_some(),
            "a slow client kept its connection"
        );
    }
    let mut fresh = TcpStream::connect(address).await.unwrap();
    assert!(ask(&mut fresh).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_kept_alive_connection_that_asks_nothing_more_is_closed() {
    let address = start(limits(SLOW, PATIENCE, None), open_gate()).await;
    let mut client = TcpStream::connect(address).await.unwrap();
    let answer = ask(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");
    assert_eq!(until_closed(&mut client).await.as_deref(), Some(""));
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_408_and_its_connection_closed() {
    let address = start(limits(PATIENCE, SLOW, None), open_gate()).await;
    let mut client = TcpStream::connect(address).await.unwrap();
    client
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nten bytes.")
        .await
        .unwrap();
    let answer = until_closed(&mut client).await.expect("closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        !answer.contains("ok "),
        "the handler's answer was sent: {answer}"
    );
}

#[tokio::test]
async fn at_the_cap_a_new_client_takes_the_place_of_the_oldest_idle_one() {
    // Headers may take long here: only the cap closes the slow clients.
    let address = start(limits(PATIENCE * 4, PATIENCE, Some(8)), open_gate()).await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        slow.push(half_headers(address).await);
    }
    // Each newcomer is answered, and each evicts one slow client, oldest first.
    let mut newcomers = Vec::new();
    for _ in 0..3 {
        let mut newcomer = TcpStream::connect(address).await.unwrap();
        assert!(ask(&mut newcomer).await.starts_with("HTTP/1.1 200"));
        newcomers.push(newcomer);
    }
    for (i, client) in slow.iter_mut().enumerate().take(3) {
        assert_eq!(
            until_closed(client).await.as_deref(),
            Some(""),
            "slow client {i}"
        );
    }
    // The younger slow clients stay (they are the oldest now, and next to go).
    let mut buffer = [0u8; 1];
    let still_open = tokio::time::timeout(Duration::from_millis(200), slow[7].read(&mut buffer));
    assert!(
        still_open.await.is_err(),
        "the youngest slow client was closed"
    );
}

#[tokio::test]
async fn when_every_connection_is_busy_the_newcomer_is_shed_and_no_request_is_cut() {
    let gate = Arc::new(Semaphore::new(0));
    let address = start(limits(PATIENCE, PATIENCE, Some(2)), gate.clone()).await;
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(REQUEST).await.unwrap();
        busy.push(client);
    }
    // Both requests reach the handler (and wait at the gate) before the third client comes.
    tokio::time::sleep(SLOW).await;
    let mut shed = TcpStream::connect(address).await.unwrap();
    let _ = shed.write_all(REQUEST).await;
    assert_eq!(until_closed(&mut shed).await.as_deref(), Some(""));
    gate.add_permits(2);
    for client in &mut busy {
        let mut buffer = [0u8; 1024];
        let n = client.read(&mut buffer).await.unwrap();
        let answer = String::from_utf8_lossy(&buffer[..n]);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok 2"), "{answer}");
    }
}

#[tokio::test]
async fn dropping_the_server_closes_its_connections() {
    let router = Router::new().route("/", post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, router, Limits::default()));
    let mut client = TcpStream::connect(address).await.unwrap();
    assert!(ask(&mut client).await.starts_with("HTTP/1.1 200"));
    server.abort();
    assert_eq!(until_closed(&mut client).await.as_deref(), Some(""));
}

#[test]
fn the_descriptor_soft_limit_is_raised_to_the_hard_one() {
    use rlimit::Resource;
    let (_, hard) = Resource::NOFILE.get().unwrap();
    // Lowered first (a half is still plenty for the tests beside this one), so that the
    // raise has something to do.
    Resource::NOFILE.set(hard / 2, hard).unwrap();
    let soft = salesloft_api::serve::raise_descriptor_limit().expect("a limit on unix");
    let (now_soft, now_hard) = Resource::NOFILE.get().unwrap();
    assert_eq!((soft, now_hard), (now_soft, hard));
    assert_eq!(now_soft, hard.min(1 << 20));
}
