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
use reqwest::header::{AUTHORIZATION, HeaderValue, InvalidHeaderValue};
use reqwest::{Request, Response};
use std::sync::{Arc, Mutex};

/// What every generated `Client` carries for its hooks. Clones share the rate-limit budget.
#[derive(Clone, Debug)]
pub struct Inner {
    pub(crate) tokens: Arc<dyn TokenSource>,
    pub(crate) policy: RetryPolicy,
    pub(crate) pacer: Arc<Pacer>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) bearer: Arc<BearerHeader>,
}

impl Inner {
    pub fn new(tokens: Arc<dyn TokenSource>) -> Self {
        Self {
            tokens,
            policy: RetryPolicy::default(),
            pacer: Arc::default(),
            clock: Arc::new(SystemClock),
            bearer: Arc::default(),
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
        let tokens = &self.inner().tokens;
        let token = match tokens.ready_token() {
            Some(token) => token,
            None => tokens
                .token()
                .await
                .map_err(|e| Error::Custom(e.to_string()))?,
        };
        self.inner()
            .bearer
            .set(request, &token)
            .map_err(|_| Error::InvalidRequest("the token is not a valid header value".into()))
    }

    async fn exec(&self, request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        // Boxed: the transport's future holds the request for resending (about 660 bytes in
        // all), and the generated code would otherwise move it several times per request.
        Box::pin(crate::transport::execute(
            self.client(),
            self.inner(),
            request,
            info.operation_id,
        ))
        .await
    }
}

/// The `Authorization: Bearer <token>` header of the current token, marked sensitive. It is
/// built once per token and shared by every request after (a clone is a reference count), as
/// is the token itself.
#[derive(Debug, Default)]
pub(crate) struct BearerHeader {
    last: Mutex<Option<(Secret, HeaderValue)>>,
}

impl BearerHeader {
    /// Puts the header for `token` on `request`.
    pub(crate) fn set(
        &self,
        request: &mut Request,
        token: &Secret,
    ) -> Result<(), InvalidHeaderValue> {
        let value = self.value(token)?;
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }

    fn value(&self, token: &Secret) -> Result<HeaderValue, InvalidHeaderValue> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // The same token is the same `Arc`, which `==` checks before comparing the text.
        if let Some((cached, value)) = last.as_ref()
            && cached == token
        {
            return Ok(value.clone());
        }
        let bytes = bytes::Bytes::from(format!("Bearer {}", token.expose()));
        let mut value = HeaderValue::from_maybe_shared(bytes)?;
        value.set_sensitive(true);
        *last = Some((token.clone(), value.clone()));
        Ok(value)
    }
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
        let bearer = BearerHeader::default();
        bearer.set(&mut request, &Secret::new("ak_secret")).unwrap();
        let value = &request.headers()[AUTHORIZATION];
        assert!(value.is_sensitive());
        assert!(
            !format!("{value:?}").contains("ak_secret"),
            "reqwest hides sensitive headers in Debug"
        );
        assert_eq!(bearer_of(&request).unwrap().expose(), "ak_secret");
    }

    #[test]
    fn a_new_token_gets_a_new_header() {
        let bearer = BearerHeader::default();
        let mut request = Request::new(
            reqwest::Method::GET,
            "http://127.0.0.1/v2/me.json".parse().unwrap(),
        );
        bearer.set(&mut request, &Secret::new("at_1")).unwrap();
        bearer.set(&mut request, &Secret::new("at_1")).unwrap();
        assert_eq!(bearer_of(&request).unwrap().expose(), "at_1");
        bearer.set(&mut request, &Secret::new("at_2")).unwrap();
        assert_eq!(bearer_of(&request).unwrap().expose(), "at_2");
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        assert!(
            bearer
                .set(&mut request, &Secret::new("bad\ntoken"))
                .is_err(),
            "a token that is no header value is refused"
        );
    }
}
