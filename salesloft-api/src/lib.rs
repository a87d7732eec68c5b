//! A typed client for the SalesLoft REST API v2.
//!
//! The client is generated at build time from the normalized spec (`salesloft-openapi`) by
//! progenitor; every operation is a builder method on [`Client`], for example
//! `client.list_people().email_addresses(vec![email]).send().await`. The hand-written part is
//! small: the hooks every request passes through ([`hooks`]), the [`TokenSource`] seam that
//! supplies bearer tokens, and the constructors below.

pub mod generated;
pub mod hooks;
pub mod secret;
pub mod token;

pub use generated::{Client, ClientInfo, Error, ResponseValue, types};
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
    /// from `tokens`.
    pub fn with_token_source(
        base_url: &str,
        tokens: Arc<dyn TokenSource>,
    ) -> reqwest::Result<Self> {
        let http = http_client(Duration::from_secs(60))?;
        Ok(Self::new_with_client(
            base_url.trim_end_matches('/'),
            http,
            hooks::Inner::new(tokens),
        ))
    }

    /// A client that authenticates with a SalesLoft API key.
    pub fn with_api_key(base_url: &str, key: impl Into<Secret>) -> reqwest::Result<Self> {
        Self::with_token_source(base_url, Arc::new(ApiKey::new(key)))
    }
}
