//! The hook stack of the generated client: every request of every operation passes here.
//!
//! `pre` puts the bearer token on the request (marked sensitive, so reqwest never shows it);
//! `exec` sends it and, on a 401, asks the `TokenSource` once and resends once.

use crate::generated::Client;
use crate::secret::Secret;
use crate::token::{AfterUnauthorized, TokenSource};
use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Request, Response, StatusCode};
use std::sync::Arc;

/// What every generated `Client` carries for its hooks: where tokens come from.
#[derive(Clone, Debug)]
pub struct Inner {
    pub(crate) tokens: Arc<dyn TokenSource>,
}

impl Inner {
    pub fn new(tokens: Arc<dyn TokenSource>) -> Self {
        Self { tokens }
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
        set_bearer(request, &token).map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    async fn exec(&self, request: Request, _info: &OperationInfo) -> reqwest::Result<Response> {
        let retry = request.try_clone();
        let response = self.client().execute(request).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(mut retry) = retry else {
            return Ok(response);
        };
        let Some(rejected) = bearer_of(&retry) else {
            return Ok(response);
        };
        let tokens = &self.inner().tokens;
        // A failing token source leaves the 401 as the answer; its error is not lost: the
        // next `pre` asks again and reports it.
        if tokens.unauthorized(&rejected).await.ok() != Some(AfterUnauthorized::Retry) {
            return Ok(response);
        }
        let Ok(token) = tokens.token().await else {
            return Ok(response);
        };
        if set_bearer(&mut retry, &token).is_err() {
            return Ok(response);
        }
        self.client().execute(retry).await
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
fn bearer_of(request: &Request) -> Option<Secret> {
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
