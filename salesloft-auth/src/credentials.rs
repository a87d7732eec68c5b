//! What an authorization leaves behind, and what the store keeps.

use chrono::{DateTime, Utc};
use salesloft_api::Secret;

/// Tokens and what they belong to. `Debug` never shows a token.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    pub access_token: Secret,
    /// Absent for the client-credentials grant.
    pub refresh_token: Option<Secret>,
    pub expires_at: DateTime<Utc>,
    pub scope: String,
    /// The app (client id) the tokens were issued to.
    pub client_id: String,
    /// The API the tokens are for.
    pub api_base_url: String,
}

impl Credentials {
    /// Whether the access token expires within `margin` of `now`.
    pub fn expires_within(&self, margin: chrono::Duration, now: DateTime<Utc>) -> bool {
        self.expires_at - now <= margin
    }
}
