//! A token source for one team's connection: what a client of the generated API needs to act
//! for that team. The token in hand is used while fresh; otherwise the store is read (another
//! process or the background refresher may have renewed it), and only then refreshed under the
//! row's lock.

use super::{ConnectionError, PgConnections};
use crate::app::OAuthApp;
use crate::http::OAuthHttp;
use chrono::{DateTime, Utc};
use salesloft_api::{AfterUnauthorized, BoxFuture, Secret, TokenError, TokenSource};

/// Refresh when the access token expires within this margin, unless told otherwise.
pub const DEFAULT_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug)]
struct InHand {
    token: Secret,
    expires_at: DateTime<Utc>,
    /// Renewed when it expires within this.
    margin: chrono::Duration,
}

/// Tokens of team `team` from a [`PgConnections`] store.
#[derive(Debug)]
pub struct ConnectionTokens {
    store: PgConnections,
    team: i64,
    app: OAuthApp,
    http: OAuthHttp,
    margin: chrono::Duration,
    current: tokio::sync::Mutex<Option<InHand>>,
}

fn token_error(error: ConnectionError) -> TokenError {
    TokenError::new(error.to_string())
}

impl ConnectionTokens {
    pub fn new(
        store: PgConnections,
        team: i64,
        app: OAuthApp,
    ) -> Result<Self, crate::error::AuthError> {
        Ok(Self {
            store,
            team,
            app,
            http: OAuthHttp::new()?,
            margin: DEFAULT_MARGIN,
            current: tokio::sync::Mutex::new(None),
        })
    }

    /// Refresh when the access token expires within `margin`.
    pub fn with_margin(mut self, margin: chrono::Duration) -> Self {
        self.margin = margin;
        self
    }

    pub fn team(&self) -> i64 {
        self.team
    }

    fn fresh(&self, held: &InHand) -> bool {
        held.expires_at - Utc::now() > held.margin
    }

    /// The margin for the connection's tokens: the configured one, or half the token's life
    /// when that is shorter, so a short-lived token is used for half its life instead of
    /// being refreshed on every request.
    fn margin_for(&self, connection: &super::Connection) -> chrono::Duration {
        let obtained = connection
            .last_refresh_at
            .unwrap_or(connection.connected_at);
        let life = connection.credentials.expires_at - obtained;
        if life > chrono::Duration::zero() {
            self.margin.min(life / 2)
        } else {
            self.margin
        }
    }

    /// A fresh token: the store's when it holds one, else a refresh (once across processes).
    async fn renew(&self, rejected: Option<&Secret>) -> Result<InHand, ConnectionError> {
        let mut margin = self.margin;
        if let Some(stored) = self.store.get(self.team).await? {
            margin = self.margin_for(&stored);
            let credentials = &stored.credentials;
            let usable = matches!(stored.status, super::Status::Active)
                && !credentials.expires_within(margin, Utc::now())
                && Some(&credentials.access_token) != rejected;
            if usable {
                return Ok(InHand {
                    token: credentials.access_token.clone(),
                    expires_at: credentials.expires_at,
                    margin,
                });
            }
        }
        let connection = self
            .store
            .refresh(self.team, &self.app, &self.http, rejected, margin)
            .await?;
        Ok(InHand {
            token: connection.credentials.access_token.clone(),
            expires_at: connection.credentials.expires_at,
            margin: self.margin_for(&connection),
        })
    }
}

impl TokenSource for ConnectionTokens {
    fn token(&self) -> BoxFuture<'_, Result<Secret, TokenError>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if let Some(held) = current.as_ref().filter(|h| self.fresh(h)) {
                return Ok(held.token.clone());
            }
            let renewed = self.renew(None).await.map_err(token_error)?;
            let token = renewed.token.clone();
            *current = Some(renewed);
            Ok(token)
        })
    }

    fn ready_token(&self) -> Option<Secret> {
        let current = self.current.try_lock().ok()?;
        let held = current.as_ref()?;
        self.fresh(held).then(|| held.token.clone())
    }

    fn unauthorized<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<AfterUnauthorized, TokenError>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if current.as_ref().is_some_and(|h| h.token != *rejected) {
                // Another request renewed it while this one was on the wire.
                return Ok(AfterUnauthorized::Retry);
            }
            let renewed = self.renew(Some(rejected)).await.map_err(token_error)?;
            *current = Some(renewed);
            Ok(AfterUnauthorized::Retry)
        })
    }
}
