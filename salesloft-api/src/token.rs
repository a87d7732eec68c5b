//! Where bearer tokens come from: the seam between the client and any kind of credentials.
//!
//! `salesloft-api` knows nothing of OAuth. It asks a [`TokenSource`] for a token before each
//! request and tells it when the service answered 401; `salesloft-auth` implements OAuth
//! sources, and [`ApiKey`] is the simplest one.

use crate::secret::Secret;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so that `TokenSource` can be used as `dyn TokenSource`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why no token could be had. The message says what to do next.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    message: String,
}

impl TokenError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Answer to a 401: whether the request is worth sending again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterUnauthorized {
    /// A new token is available (refreshed, or another task refreshed meanwhile): resend once.
    Retry,
    /// Nothing changed (an API key, say): the 401 stands.
    GiveUp,
}

/// A source of bearer tokens. Implementations must be cheap to call concurrently: every request
/// calls [`TokenSource::token`].
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The bearer token for the next request (refreshing first if it is about to expire).
    fn token(&self) -> BoxFuture<'_, Result<Secret, TokenError>>;

    /// The token for the next request if it is at hand now (held, fresh, nobody refreshing
    /// it); `None` sends the caller to [`TokenSource::token`]. Every request asks this first,
    /// so that the common case costs no boxed future.
    fn ready_token(&self) -> Option<Secret> {
        None
    }

    /// The service answered 401 to a request sent with `rejected`.
    fn unauthorized<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<AfterUnauthorized, TokenError>>;
}

/// A SalesLoft API key (`ak_...` or `v2_ak_...`), sent as a bearer token. It acts as the user
/// who made it and never changes, so a 401 is final.
#[derive(Clone, Debug)]
pub struct ApiKey(Secret);

impl ApiKey {
    pub fn new(key: impl Into<Secret>) -> Self {
        Self(key.into())
    }
}

impl TokenSource for ApiKey {
    fn token(&self) -> BoxFuture<'_, Result<Secret, TokenError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }

    fn ready_token(&self) -> Option<Secret> {
        Some(self.0.clone())
    }

    fn unauthorized<'a>(
        &'a self,
        _: &'a Secret,
    ) -> BoxFuture<'a, Result<AfterUnauthorized, TokenError>> {
        Box::pin(async { Ok(AfterUnauthorized::GiveUp) })
    }
}
