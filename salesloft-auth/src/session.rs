//! The one obvious way to an authorized client, from stored credentials, client credentials
//! or an API key. [`crate::login()`] gets the stored credentials there first.

use crate::app::OAuthApp;
use crate::error::AuthError;
use crate::store::CredentialStore;
use crate::tokens::{ClientCredentialsTokens, OAuthTokens};
use salesloft_api::{ApiKey, Client, ClientBuilder, Secret, TokenSource};
use std::sync::Arc;

/// Credentials that keep themselves fresh, ready to make clients.
#[derive(Clone, Debug)]
pub struct Session {
    api_base_url: String,
    tokens: Arc<dyn TokenSource>,
}

impl Session {
    /// The stored authorization of `app`; it refreshes itself and writes back to `store`.
    pub async fn from_store(
        app: OAuthApp,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Self, AuthError> {
        let credentials = store
            .load()?
            .ok_or_else(|| AuthError::NotAuthorized(store.describe()))?;
        if credentials.client_id != app.client_id || credentials.api_base_url != app.api_base_url {
            return Err(AuthError::OtherApp(format!(
                "client {}, {}",
                credentials.client_id, credentials.api_base_url
            )));
        }
        let api_base_url = app.api_base_url.clone();
        let tokens = OAuthTokens::new(app, store, credentials)?;
        Ok(Self {
            api_base_url,
            tokens: Arc::new(tokens),
        })
    }

    /// Any token source (for example an [`OAuthTokens`] built by hand).
    pub fn from_token_source(api_base_url: &str, tokens: Arc<dyn TokenSource>) -> Self {
        Self {
            api_base_url: api_base_url.to_string(),
            tokens,
        }
    }

    /// The client-credentials grant of an admin-enabled private app.
    pub fn client_credentials(app: OAuthApp) -> Result<Self, AuthError> {
        let api_base_url = app.api_base_url.clone();
        Ok(Self {
            api_base_url,
            tokens: Arc::new(ClientCredentialsTokens::new(app)?),
        })
    }

    /// An API key: no OAuth at all.
    pub fn api_key(api_base_url: &str, key: impl Into<Secret>) -> Self {
        Self {
            api_base_url: api_base_url.to_string(),
            tokens: Arc::new(ApiKey::new(key)),
        }
    }

    /// A builder for a client on this session, to set retries, timeouts and so on.
    pub fn client_builder(&self) -> ClientBuilder {
        ClientBuilder::new(self.tokens.clone()).base_url(&self.api_base_url)
    }

    /// A client with the default transport policy.
    pub fn client(&self) -> Result<Client, AuthError> {
        self.client_builder()
            .build()
            .map_err(|e| AuthError::Config(e.to_string()))
    }
}
