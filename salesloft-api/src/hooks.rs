//! The hook stack of the generated client: every request of every operation passes here.
//!
//! `pre` puts the bearer token on the request (marked sensitive, so it never shows in Debug
//! output); `exec` hands it to [`crate::transport`], which paces, sends, refreshes and retries.

use crate::clock::{Clock, SystemClock};
use crate::generated::Client;
use crate::ratelimit::Pacer;
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::token::TokenSource;
use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Request, Response};
use std::sync::Arc;

/// What every generated `Client` carries for its hooks. Clones share the rate-limit budget.
#[derive(Clone, Debug)]
pub struct Inner {
    pub(crate) tokens: Arc<dyn TokenSource>,
    pub(crate) policy: RetryPolicy,
    pub(crate) pacer: Arc<Pacer>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Inner {
    pub fn new(tokens: Arc<dyn TokenSource>) -> Self {
        Self {
            tokens,
            policy: RetryPolicy::default(),
            pacer: Arc::default(),
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl ClientHooks<Inner> for Client {
    async fn pre<E>(&self, request: &mut Request, _info: &OperationInfo) -> Result<(), Error<E>> {
        let token = self
            .inner()
            .tokens
            .token()
            .await
            .map_err(|e| Error::Custom(e.to_string()))?;
        set_bearer(request, &token)
            .map_err(|_| Error::InvalidRequest("the token is not a valid header value".into()))
    }

    async fn exec(&self, request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        crate::transport::execute(self.client(), self.inner(), request, info.operation_id).await
    }
}

/// Sets `Authorization: Bearer <token>`, marked sensitive.
pub(crate) fn set_bearer(
    request: &mut Request,
    token: &Secret,
) -> Result<(), reqwest::header::InvalidHeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))?;
    value.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

/// The bearer token a request carries.
pub(crate) fn bearer_of(request: &Request) -> Option<Secret> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_header_is_marked_sensitive() {
        let mut request = Request::new(
            reqwest::Method::GET,
            "http://127.0.0.1/v2/me.json".parse().unwrap(),
        );
        set_bearer(&mut request, &Secret::new("ak_secret")).unwrap();
        let value = &request.headers()[AUTHORIZATION];
        assert!(value.is_sensitive());
        assert!(
            !format!("{value:?}").contains("ak_secret"),
            "reqwest hides sensitive headers in Debug"
        );
        assert_eq!(bearer_of(&request).unwrap().expose(), "ak_secret");
    }
}
