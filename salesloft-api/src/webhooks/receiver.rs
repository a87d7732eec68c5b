//! A ready webhook receiver: an axum router that verifies each delivery, reads it and hands it
//! to your async handler (feature `webhook-receiver`).
//!
//! At-least-once: the receiver answers 2xx only once the handler accepted the event, so a
//! handler that fails (or panics) gets a 500 and SalesLoft sends the delivery again (three more
//! times, 15 s apart). A handler can therefore see an event twice; with [`Receiver::dedup`] a
//! delivery of an event already handled is acknowledged without calling it again.
//!
//! Answers: 200 handled (or handled before); 401 a signature that fails (the handler is never
//! called); 400 missing or odd headers, or a body that is not one JSON record; 409 the same
//! event is being handled by another delivery right now (sent again later); 413 a body over
//! the limit (1 MiB by default); 500 the handler failed.

use super::{Dedup, Delivery, Seen, WebhookError};
use crate::Secret;
use crate::serve::Limits;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The default largest body accepted.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

type Handler = dyn Fn(Delivery) -> BoxFuture<'static, Result<(), String>> + Send + Sync;

/// The receiver's settings and handler; [`Receiver::into_router`] makes the axum router.
pub struct Receiver {
    callback_token: Secret,
    handler: Arc<Handler>,
    body_limit: usize,
    dedup: Option<Dedup>,
}

impl Receiver {
    /// Verifies with `callback_token` (the one given to the subscriptions) and hands each
    /// delivery to `handler`; an `Err` makes SalesLoft send the delivery again.
    pub fn new<F, Fut, E>(callback_token: impl Into<Secret>, handler: F) -> Self
    where
        F: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let handler = Arc::new(handler);
        Self {
            callback_token: callback_token.into(),
            handler: Arc::new(move |delivery| {
                let handler = handler.clone();
                async move { handler(delivery).await.map_err(|e| e.to_string()) }.boxed()
            }),
            body_limit: DEFAULT_BODY_LIMIT,
            dedup: None,
        }
    }

    /// The largest body accepted (413 above it).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Handle each event once, remembering the last `capacity` events handled.
    pub fn dedup(mut self, capacity: usize) -> Self {
        self.dedup = Some(Dedup::new(capacity));
        self
    }

    /// A router answering POST `/`; mount it where the callback URL points
    /// (`Router::new().nest("/salesloft", receiver.into_router())`) and serve it with
    /// [`crate::serve::serve`].
    pub fn into_router(self) -> Router {
        Router::new()
            .route("/", post(receive))
            .with_state(Arc::new(self))
    }

    /// Answers deliveries at `/` on `listener` until dropped, holding against slow and idle
    /// clients with the default [`Limits`].
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        crate::serve::serve(listener, self.into_router(), Limits::default()).await
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    let refused = |error: WebhookError| {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, error.to_string())
    };
    let too_large = WebhookError::BodyTooLarge {
        limit: receiver.body_limit,
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > receiver.body_limit) {
        return refused(too_large);
    }
    let Ok(bytes) = axum::body::to_bytes(body, receiver.body_limit).await else {
        return refused(too_large);
    };
    let delivery = match super::verify(receiver.callback_token.expose(), &headers, &bytes) {
        Ok(delivery) => delivery,
        Err(error) => return refused(error),
    };
    let claim = match receiver.dedup.as_ref().map(|d| d.claim(&delivery.key)) {
        Some(Seen::AlreadyHandled) => return (StatusCode::OK, "already handled".into()),
        Some(Seen::BeingHandled) => {
            return (
                StatusCode::CONFLICT,
                "the same event is being handled".into(),
            );
        }
        Some(Seen::New(claim)) => Some(claim),
        None => None,
    };
    match AssertUnwindSafe((receiver.handler)(delivery))
        .catch_unwind()
        .await
    {
        Ok(Ok(())) => {
            if let Some(claim) = claim {
                claim.handled();
            }
            (StatusCode::OK, "handled".into())
        }
        Ok(Err(_)) | Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the handler did not accept the event; send it again".into(),
        ),
    }
}
