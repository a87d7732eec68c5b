//! A typed client for the SalesLoft REST API v2.
//!
//! The client is generated at build time from the normalized spec (`salesloft-openapi`) by
//! progenitor; every operation is a builder method on [`Client`], for example
//! `client.list_people().email_addresses(vec![email]).send().await`. The hand-written part is
//! small: the hooks every request passes through (bearer token, 401 refresh, rate-limit
//! pacing, retries as [`RetryPolicy`] says), the [`TokenSource`] seam that supplies bearer
//! tokens, one [`ApiError`], a page stream ([`pagination`]) and incremental sync ([`sync`]).
//! The free-form list filters (custom fields, user relationships) are typed by [`filters`].

// docs.rs: feature badges on what needs a feature (`webhook-receiver`).
#![cfg_attr(docsrs, feature(doc_cfg))]

// The generated code names `::salesloft_api::Id` (it is also generated in other crates).
extern crate self as salesloft_api;

pub mod bulk;
pub mod clock;
pub mod decode;
pub mod enroll;
pub mod error;
pub mod filters;
pub mod id;
pub mod pagination;
pub mod ratelimit;
pub mod retry;
pub mod secret;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod serve;
pub mod sync;
pub mod token;
pub mod webhooks;

// Plumbing: public because the generated code and the sibling crates (salesloft-auth,
// salesloft-mirror, the CLI) call it, not part of what a user of the client is meant to
// reach for, so kept off the documented surface.
#[doc(hidden)]
pub mod generated;
#[doc(hidden)]
pub mod hooks;
#[doc(hidden)]
pub mod raw;
#[doc(hidden)]
pub mod state;
#[doc(hidden)]
pub mod text;
#[doc(hidden)]
pub mod transport;

pub use clock::{Clock, SystemClock};
pub use error::ApiError;
pub use filters::{CustomFieldsFilter, UserRelationshipsFilter};
pub use generated::{Client, ClientInfo, Error, ResponseValue, builder, types};
pub use id::Id;
pub use ratelimit::RateLimitInfo;
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use token::{AfterUnauthorized, ApiKey, BoxFuture, TokenError, TokenSource};

use std::sync::Arc;
use std::time::Duration;

/// SalesLoft's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.salesloft.com";

/// Installs the `ring` TLS provider for rustls once per process (we build reqwest without
/// aws-lc, which would be half of a clean build). Safe to call any number of times.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The `reqwest::Client` our constructors use: rustls on ring, no redirects followed (the API
/// never redirects; following one could send the bearer token elsewhere), timeouts set.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("salesloft-rs/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Client {
    /// A client for `base_url` (for example [`DEFAULT_BASE_URL`]) that takes its bearer tokens
    /// from `tokens`, with the default retry policy and timeout.
    pub fn with_token_source(
        base_url: &str,
        tokens: Arc<dyn TokenSource>,
    ) -> Result<Self, ApiError> {
        ClientBuilder::new(tokens).base_url(base_url).build()
    }

    /// A client that authenticates with a SalesLoft API key.
    pub fn with_api_key(base_url: &str, key: impl Into<Secret>) -> Result<Self, ApiError> {
        Self::with_token_source(base_url, Arc::new(ApiKey::new(key)))
    }
}

/// Every knob of a client, with defaults that are right for the real service.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    base_url: String,
    timeout: Duration,
    /// A `reqwest::Client` of the caller's, used as it is (its pool, proxy and timeouts).
    http: Option<reqwest::Client>,
    /// Token source, retry policy and clock, with their defaults (`state::ClientState::new`).
    state: state::ClientState,
}

impl ClientBuilder {
    pub fn new(tokens: Arc<dyn TokenSource>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            timeout: Duration::from_secs(60),
            http: None,
            state: state::ClientState::new(tokens),
        }
    }

    /// The API's base URL (default: [`DEFAULT_BASE_URL`]).
    pub fn base_url(mut self, base_url: &str) -> Self {
        self.base_url = base_url.trim_end_matches('/').to_string();
        self
    }

    /// When failed requests are sent again; [`RetryPolicy::none`] turns retries off.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.state = self.state.with_policy(retry);
        self
    }

    /// How long one attempt may take, connecting and reading the whole body included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends through `http` instead of a client of our own, sharing its connection pool (and
    /// its settings: [`ClientBuilder::timeout`] is then not used). Build it with redirects
    /// off, as [`http_client`] does: a redirect followed would carry the bearer token along.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Uses only `share` (0 to 1, default 1) of the team's 600-a-minute budget, leaving the
    /// rest to the team's other integrations. Shared by every clone of the client.
    pub fn budget_share(self, share: f64) -> Self {
        self.state.pacer.set_share(share);
        self
    }

    /// Draws every request from `budget` too: the team's budget shared with other processes
    /// and machines calling for the same team (the fleet's budget row in PostgreSQL, say).
    pub fn shared_budget(mut self, budget: Arc<dyn ratelimit::SharedBudget>) -> Self {
        self.state = self.state.with_shared_budget(budget);
        self
    }

    /// The largest answer body read (default [`error::MAX_ANSWER`]); a larger one is not read
    /// further and is [`ApiError::AnswerTooLarge`], so a server that never stops sending
    /// cannot fill the memory.
    pub fn max_answer_bytes(mut self, bytes: usize) -> Self {
        self.state = self.state.with_max_answer(bytes);
        self
    }

    /// The clock used for rate-limit waits and backoff (a simulation can replace it).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.state = self.state.with_clock(clock);
        self
    }

    pub fn build(self) -> Result<Client, ApiError> {
        let http = match self.http {
            Some(http) => http,
            None => http_client(self.timeout)
                .map_err(|e| ApiError::InvalidRequest(format!("HTTP client: {e}")))?,
        };
        Ok(Client::new_with_client(&self.base_url, http, self.state))
    }
}
