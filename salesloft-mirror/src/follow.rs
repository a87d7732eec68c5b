//! Following the team between runs: a webhook receiver that writes each verified delivery
//! with [`Mirror::apply`] (in a transaction, newest wins, deletions kept). The body is read
//! as JSON after its signature holds, so every field the service sent reaches the row.
//! SalesLoft retries a delivery that got no 2xx: a write that failed answers 500.

use crate::Mirror;
use crate::schema::Table;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use salesloft_api::serve::Limits;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A running receiver.
pub struct Follow {
    /// Where SalesLoft sends deliveries.
    pub callback_url: String,
    /// Deliveries written so far.
    pub applied: Arc<AtomicU64>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Shared {
    mirror: Arc<Mirror>,
    token: Arc<str>,
    applied: Arc<AtomicU64>,
}

/// The events the service sends for `tables`: their created, updated, deleted (and
/// completed, booked) events that exist.
pub fn events(tables: &[Table]) -> Vec<&'static str> {
    salesloft_api::webhooks::EVENT_TYPES
        .iter()
        .copied()
        .filter(|event| {
            tables.iter().any(|t| {
                event
                    .strip_prefix(t.singular.as_str())
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|action| crate::EVENT_ACTIONS.contains(&action))
            })
        })
        .collect()
}

/// Serves the receiver on `listen` (port 0: any free one); SalesLoft reaches it at
/// `public_url`, by default the local address itself (which only a local sandbox reaches).
pub async fn start(
    mirror: Arc<Mirror>,
    listen: SocketAddr,
    public_url: Option<&str>,
    token: &str,
) -> std::io::Result<Follow> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let applied = Arc::new(AtomicU64::new(0));
    let shared = Shared {
        mirror,
        token: token.into(),
        applied: applied.clone(),
    };
    let app = Router::new().route("/", post(deliver)).with_state(shared);
    let server = tokio::spawn(salesloft_api::serve::serve(
        listener,
        app,
        Limits::default(),
    ));
    Ok(Follow {
        callback_url: public_url.map_or_else(|| format!("http://{address}/"), str::to_string),
        applied,
        server,
    })
}

async fn deliver(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let event_type = match salesloft_api::webhooks::verify_signature(&shared.token, &headers, &body)
    {
        Ok(event_type) => event_type,
        Err(e) => return StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    match shared.mirror.apply(event_type, &record).await {
        Ok(_) => {
            shared.applied.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Seconds between polls of `incremental` resources so that polling takes at most a tenth
/// of `share` of the team's 600-a-minute budget (one page-1 request per resource a poll),
/// and never more often than every 15 s.
pub fn poll_interval(incremental: usize, share: f64) -> u64 {
    let per_minute = 600.0 * share.clamp(0.01, 1.0) * 0.1;
    ((incremental as f64 * 60.0 / per_minute).ceil() as u64).max(15)
}
