//! The registered SalesLoft app and the hosts it talks to.

use salesloft_api::Secret;

pub const DEFAULT_ACCOUNTS_BASE_URL: &str = "https://accounts.salesloft.com";
/// The redirect URI SalesLoft apps register for a local callback server.
pub const DEFAULT_REDIRECT_URI: &str = "https://localhost:8443/auth/salesloft/callback";

/// A SalesLoft OAuth app: its credentials and every endpoint, all configurable (SalesLoft's
/// environments use different hosts).
#[derive(Clone, Debug)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    pub accounts_base_url: String,
    pub api_base_url: String,
}

impl OAuthApp {
    /// An app on SalesLoft's production hosts with the default redirect URI.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uri: DEFAULT_REDIRECT_URI.into(),
            accounts_base_url: DEFAULT_ACCOUNTS_BASE_URL.into(),
            api_base_url: salesloft_api::DEFAULT_BASE_URL.into(),
        }
    }

    pub fn with_accounts_base_url(mut self, url: &str) -> Self {
        self.accounts_base_url = url.trim_end_matches('/').into();
        self
    }

    pub fn with_api_base_url(mut self, url: &str) -> Self {
        self.api_base_url = url.trim_end_matches('/').into();
        self
    }

    pub fn with_redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uri = uri.into();
        self
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/oauth/authorize", self.accounts_base_url)
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.accounts_base_url)
    }
}
