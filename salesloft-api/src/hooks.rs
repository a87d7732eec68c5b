//! The hook stack of the generated client: every request of every operation passes here.
//!
//! `pre` puts the bearer token on the request (marked sensitive, so it never shows in Debug
//! output); `exec` hands it to [`crate::transport`], which paces, sends, refreshes and retries.

use crate::generated::Client;
use crate::state::ClientState;
use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use reqwest::{Request, Response};

impl ClientHooks<ClientState> for Client {
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
        // Boxed: the transport's future holds the request for resending, and the generated
        // code would otherwise move it several times per request (its size: see the test in
        // `transport.rs`).
        Box::pin(crate::transport::execute(
            self.client(),
            self.inner(),
            request,
            info.operation_id,
        ))
        .await
    }
}
