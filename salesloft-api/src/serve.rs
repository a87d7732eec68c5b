//! Serving a router to the internet: the one way every server of the toolkit listens (the
//! webhook receiver's `Receiver::serve`, the mirror's `--follow` receiver, the login's
//! callback). Feature `server` (on with `webhook-receiver`).
//!
//! `axum::serve` as it comes waits forever for a client's headers and accepts connections
//! until the process runs out of file descriptors, after which it answers no one. [`serve`]
//! holds against slow and idle clients:
//!
//! - **Headers** must arrive within [`Limits::header_timeout`], and a kept-alive connection
//!   that sends no next request within it is closed.
//! - **Bodies** must arrive whole within [`Limits::body_timeout`] of their headers; a late one
//!   is answered 408 and its connection closed, and the router's answer is not sent.
//! - **Connections** are capped ([`Limits::max_connections`], by default three quarters of the
//!   descriptor limit). At the cap a new connection takes the place of the oldest one that
//!   has no request in progress (a client still trickling its headers, or an idle
//!   keep-alive); when every connection is in the middle of a request the new one is closed.
//!   So clients that open connections and never finish them cannot keep a real sender out:
//!   a delivery is in progress from its headers on, and is never the one closed.
//! - **The descriptor soft limit** is raised to the hard one when serving starts
//!   ([`raise_descriptor_limit`]).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use axum::serve::Listener;
use hyper::body::Incoming;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How long clients may take, and how many may be connected at once.
#[derive(Clone, Debug)]
pub struct Limits {
    /// For a request's headers, and for the next request on a kept-alive connection.
    pub header_timeout: Duration,
    /// For a request's whole body, from the end of its headers.
    pub body_timeout: Duration,
    /// Open connections at most; `None`: three quarters of the descriptor soft limit (after
    /// raising it), leaving the rest to the program's files, databases and outgoing calls.
    pub max_connections: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: None,
        }
    }
}

/// Raises the soft limit on open file descriptors to the hard one and returns the soft limit
/// now in force (`None` where the platform has no such limit or it cannot be read).
pub fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let (_, hard) = rlimit::Resource::NOFILE.get().ok()?;
        // An unlimited hard limit is refused by Linux above `nr_open`; ask for its default.
        match rlimit::increase_nofile_limit(hard.min(1 << 20)) {
            Ok(soft) => Some(soft),
            Err(_) => rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft),
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap `limits` asks for, or the default from the descriptor limit.
fn connection_cap(limits: &Limits) -> usize {
    let from_descriptors = raise_descriptor_limit()
        .map(|soft| usize::try_from(soft - soft / 4).unwrap_or(usize::MAX))
        .unwrap_or(1024);
    limits.max_connections.unwrap_or(from_descriptors).max(1)
}

/// Serves `router` on `listener` within `limits`, each connection on a task of its own.
/// Runs until dropped (or its task aborted); dropping it closes every connection it opened.
pub async fn serve<L>(mut listener: L, router: Router, limits: Limits)
where
    L: Listener,
{
    let cap = connection_cap(&limits);
    let open = Arc::new(Mutex::new(Open::default()));
    let mut connections = JoinSet::new();
    loop {
        // The listener waits out its own accept errors (descriptors running out, say).
        let (io, _) = listener.accept().await;
        while connections.try_join_next().is_some() {}
        let Some(connection) = Open::admit(&open, cap) else {
            drop(io); // every connection is busy with a request: shed this one
            continue;
        };
        let service = ConnectionService {
            router: router.clone(),
            busy: connection.busy.clone(),
            body_timeout: limits.body_timeout,
        };
        let header_timeout = limits.header_timeout;
        let open = open.clone();
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout);
            let served = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
            tokio::select! {
                _ = served => {}
                _ = connection.evicted.notified() => {}
            }
            open.lock()
                .unwrap_or_else(|e| e.into_inner())
                .close(connection.id);
        });
    }
}

/// The connections open now, oldest first.
#[derive(Default)]
struct Open {
    next_id: u64,
    by_id: BTreeMap<u64, Connection>,
}

#[derive(Clone)]
struct Connection {
    id: u64,
    /// A request is between its headers and its answer.
    busy: Arc<AtomicBool>,
    evicted: Arc<Notify>,
}

impl Open {
    /// A place for a new connection: a free one, or the oldest not busy with a request (which
    /// is closed); `None` when every open connection is busy.
    fn admit(open: &Mutex<Open>, cap: usize) -> Option<Connection> {
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        if open.by_id.len() >= cap {
            let idle = open
                .by_id
                .values()
                .find(|c| !c.busy.load(Ordering::Acquire))?
                .clone();
            idle.evicted.notify_one();
            open.close(idle.id);
        }
        let connection = Connection {
            id: open.next_id,
            busy: Arc::new(AtomicBool::new(false)),
            evicted: Arc::new(Notify::new()),
        };
        open.next_id += 1;
        open.by_id.insert(connection.id, connection.clone());
        Some(connection)
    }

    fn close(&mut self, id: u64) {
        self.by_id.remove(&id);
    }
}

/// One connection's requests: marked busy while answered, bodies given a deadline.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    busy: Arc<AtomicBool>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Self::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = Busy::mark(&self.busy);
        let late = Arc::new(AtomicBool::new(false));
        let deadline = Box::pin(tokio::time::sleep(self.body_timeout));
        let request = request.map(|incoming| {
            Body::new(DeadlineBody {
                incoming,
                deadline,
                late: late.clone(),
            })
        });
        let router = hyper_util::service::TowerToHyperService::new(self.router.clone());
        Box::pin(async move {
            let _busy = busy;
            let response = hyper::service::Service::call(&router, request).await;
            if late.load(Ordering::Acquire) {
                return Ok(body_too_slow());
            }
            response
        })
    }
}

/// The answer to a body that did not arrive in time; the connection is not kept.
fn body_too_slow() -> Response<Body> {
    let mut response = Response::new(Body::from("the request body did not arrive in time"));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Marks a connection busy until dropped.
struct Busy(Arc<AtomicBool>);

impl Busy {
    fn mark(flag: &Arc<AtomicBool>) -> Self {
        flag.store(true, Ordering::Release);
        Self(flag.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A request body that fails once its deadline passes, and says so in `late`.
struct DeadlineBody {
    incoming: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTooSlow;

impl http_body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.incoming).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTooSlow.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}
