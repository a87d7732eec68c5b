//! Token sources that keep a client authorized.
//!
//! [`OAuthTokens`] refreshes proactively (when the access token expires within a margin) and
//! reactively (on a 401), one refresh at a time however many requests are waiting. Across
//! processes sharing a store, the refresh happens under the store's lock and starts by reading
//! the store again: a process that finds a newer token there uses it instead of refreshing
//! (refresh tokens rotate, so a second refresh with the old one would be `invalid_grant`). The
//! rotated refresh token is saved before the new access token is used.

use crate::app::OAuthApp;
use crate::credentials::Credentials;
use crate::error::AuthError;
use crate::http::OAuthHttp;
use crate::oauth;
use crate::store::{CredentialStore, StoreError};
use chrono::Utc;
use salesloft_api::{AfterUnauthorized, BoxFuture, Secret, TokenError, TokenSource};
use std::sync::Arc;

/// Refresh when the access token expires within this margin.
pub const DEFAULT_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

fn token_error(error: AuthError) -> TokenError {
    TokenError::new(error.to_string())
}

/// The access token of `credentials` if it is good for longer than `margin`: the one rule both
/// token sources use, with and without waiting.
fn fresh_token(credentials: &Credentials, margin: chrono::Duration) -> Option<Secret> {
    let fresh = !credentials.expires_within(margin, Utc::now());
    fresh.then(|| credentials.access_token.clone())
}

/// Authorization-code credentials, refreshed as needed and persisted in a store.
#[derive(Debug)]
pub struct OAuthTokens {
    app: OAuthApp,
    http: OAuthHttp,
    store: Arc<dyn CredentialStore>,
    current: tokio::sync::Mutex<Credentials>,
    margin: chrono::Duration,
}

impl OAuthTokens {
    pub fn new(
        app: OAuthApp,
        store: Arc<dyn CredentialStore>,
        credentials: Credentials,
    ) -> Result<Self, AuthError> {
        let http = OAuthHttp::new()?;
        Ok(Self {
            app,
            http,
            store,
            current: tokio::sync::Mutex::new(credentials),
            margin: DEFAULT_MARGIN,
        })
    }

    pub fn with_margin(mut self, margin: chrono::Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The credentials in use now.
    pub async fn credentials(&self) -> Credentials {
        self.current.lock().await.clone()
    }

    /// Replaces `current` with fresh credentials: the store's, if another process refreshed
    /// already, or a refresh of our own. `rejected` is an access token the service refused.
    async fn refresh(
        &self,
        current: &Credentials,
        rejected: Option<&Secret>,
    ) -> Result<Credentials, AuthError> {
        let store = self.store.clone();
        // Taking a file lock blocks: off the async threads. A failed task is a store error.
        let guard = tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|e| StoreError::Io {
                path: self.store.describe().into(),
                source: std::io::Error::other(e),
            })??;
        let stored = self.store.load()?;
        let now = Utc::now();
        if let Some(stored) = &stored {
            let newer = stored.access_token != current.access_token
                && Some(&stored.access_token) != rejected;
            if newer && !stored.expires_within(self.margin, now) {
                tracing::debug!("using credentials another process refreshed");
                return Ok(stored.clone());
            }
        }
        // The store's refresh token is the newest one (another process may have rotated it).
        let latest = stored.as_ref().unwrap_or(current);
        let refresh_token = latest
            .refresh_token
            .clone()
            .or_else(|| current.refresh_token.clone())
            .ok_or(AuthError::InvalidGrant)?;
        let fresh = oauth::refresh(&self.app, &self.http, &refresh_token).await?;
        self.store.save(&fresh)?;
        drop(guard);
        tracing::debug!(expires_at = %fresh.expires_at, "refreshed the access token");
        Ok(fresh)
    }
}

impl TokenSource for OAuthTokens {
    fn token(&self) -> BoxFuture<'_, Result<Secret, TokenError>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if let Some(token) = fresh_token(&current, self.margin) {
                return Ok(token);
            }
            *current = self.refresh(&current, None).await.map_err(token_error)?;
            Ok(current.access_token.clone())
        })
    }

    fn ready_token(&self) -> Option<Secret> {
        // A refresh in progress holds the lock: then the caller waits in `token`.
        fresh_token(&*self.current.try_lock().ok()?, self.margin)
    }

    fn unauthorized<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<AfterUnauthorized, TokenError>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if current.access_token != *rejected {
                // Another request refreshed while this one was on the wire.
                return Ok(AfterUnauthorized::Retry);
            }
            *current = self
                .refresh(&current, Some(rejected))
                .await
                .map_err(token_error)?;
            Ok(AfterUnauthorized::Retry)
        })
    }
}

/// The client-credentials grant: a new token whenever the last one expires (there is no
/// refresh token).
#[derive(Debug)]
pub struct ClientCredentialsTokens {
    app: OAuthApp,
    http: OAuthHttp,
    current: tokio::sync::Mutex<Option<Credentials>>,
    margin: chrono::Duration,
}

impl ClientCredentialsTokens {
    pub fn new(app: OAuthApp) -> Result<Self, AuthError> {
        let http = OAuthHttp::new()?;
        Ok(Self {
            app,
            http,
            current: tokio::sync::Mutex::new(None),
            margin: DEFAULT_MARGIN,
        })
    }
}

impl TokenSource for ClientCredentialsTokens {
    fn token(&self) -> BoxFuture<'_, Result<Secret, TokenError>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if let Some(token) = current.as_ref().and_then(|c| fresh_token(c, self.margin)) {
                return Ok(token);
            }
            let fetched = oauth::client_credentials(&self.app, &self.http)
                .await
                .map_err(token_error)?;
            let token = fetched.access_token.clone();
            *current = Some(fetched);
            Ok(token)
        })
    }

    fn ready_token(&self) -> Option<Secret> {
        fresh_token(self.current.try_lock().ok()?.as_ref()?, self.margin)
    }

    fn unauthorized<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<AfterUnauthorized, TokenError>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if current
                .as_ref()
                .is_some_and(|c| c.access_token == *rejected)
            {
                *current = None;
            }
            Ok(AfterUnauthorized::Retry)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn credentials(expires_in: chrono::Duration) -> Credentials {
        Credentials {
            access_token: Secret::new("at_1"),
            refresh_token: Some(Secret::new("rt_1")),
            expires_at: Utc::now() + expires_in,
            scope: "all".into(),
            client_id: "id".into(),
            api_base_url: "http://127.0.0.1:1".into(),
        }
    }

    fn tokens(expires_in: chrono::Duration) -> OAuthTokens {
        let app = OAuthApp::new("id", "secret");
        OAuthTokens::new(
            app,
            Arc::new(MemoryStore::default()),
            credentials(expires_in),
        )
        .expect("token source")
    }

    #[tokio::test]
    async fn a_token_is_ready_only_while_fresh_and_nobody_refreshes_it() {
        let fresh = tokens(chrono::Duration::hours(1));
        assert_eq!(fresh.ready_token().expect("ready").expose(), "at_1");
        let refreshing = fresh.current.lock().await;
        assert!(fresh.ready_token().is_none(), "a refresh holds the lock");
        drop(refreshing);
        assert!(fresh.ready_token().is_some());

        let expiring = tokens(chrono::Duration::minutes(1));
        assert!(
            expiring.ready_token().is_none(),
            "within the margin the caller goes to token(), which refreshes"
        );

        let granted = ClientCredentialsTokens::new(OAuthApp::new("id", "secret")).unwrap();
        assert!(granted.ready_token().is_none(), "nothing fetched yet");
        *granted.current.lock().await = Some(credentials(chrono::Duration::hours(1)));
        assert_eq!(granted.ready_token().expect("ready").expose(), "at_1");
    }
}
