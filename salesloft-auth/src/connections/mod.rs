//! Connections: many teams' authorizations, one per SalesLoft team, as a product that lets its
//! customers connect SalesLoft keeps them.
//!
//! - [`Connection`]: a team's tokens and what is known of the authorization (who connected it,
//!   its scope, a version bumped by every change of tokens, its [`Status`]).
//! - `PgConnections` (feature `postgres`): the store, in PostgreSQL, tokens sealed at rest,
//!   refreshed once across processes and machines under the row's lock.
//! - `ConnectionTokens` (feature `postgres`): a `salesloft_api::TokenSource` for one team,
//!   so a client of the generated API acts for that team.

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod tokens;

#[cfg(feature = "postgres")]
pub use postgres::{ConnectionInfo, Encryption, PgConnections, RefreshReport};
#[cfg(feature = "postgres")]
pub use tokens::ConnectionTokens;

use crate::credentials::Credentials;
use chrono::{DateTime, Utc};

/// Where an authorization stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Status {
    /// Its tokens work (or will, once refreshed).
    Active,
    /// SalesLoft refused its refresh token: someone of the team must connect again. The reason
    /// is SalesLoft's, made printable.
    NeedsReauth(String),
    /// Removed by the product; kept only until deleted.
    Revoked,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::NeedsReauth(_) => "needs_reauth",
            Status::Revoked => "revoked",
        }
    }
}

/// One team's authorization. `Debug` never shows a token (they are `Secret`s).
#[derive(Clone, Debug)]
pub struct Connection {
    /// The SalesLoft team (`/v2/team`'s id): the connection's key.
    pub team_id: i64,
    pub team_name: String,
    /// The product's tenant that connected it, when the connect flow knew one.
    pub tenant: Option<String>,
    /// The user who approved it (`/v2/me`).
    pub user_id: Option<i64>,
    pub user_email: Option<String>,
    pub credentials: Credentials,
    /// Bumped by every change of tokens: a reader that saw version `n` and finds `n + 1` knows
    /// another process refreshed.
    pub version: i64,
    pub status: Status,
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// The last refresh's failure, printable and bounded, if it failed.
    pub last_error: Option<String>,
    pub connected_at: DateTime<Utc>,
}

/// What can go wrong with a connection, each saying what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no SalesLoft connection for team {team}: connect the team first")]
    NotConnected { team: i64 },
    #[error(
        "the SalesLoft connection of team {team} needs to be connected again ({reason}): ask someone of that team to connect SalesLoft again"
    )]
    NeedsReauth { team: i64, reason: String },
    #[error("the SalesLoft connection of team {team} was removed: connect the team again")]
    Revoked { team: i64 },
    #[error(
        "another process has held team {team}'s refresh lock for too long; it is retried on the next request"
    )]
    Busy { team: i64 },
    #[error("refreshing team {team}'s token failed: {source}")]
    Refresh {
        team: i64,
        #[source]
        source: crate::error::AuthError,
    },
    #[error(
        "a token of team {team} does not open with the configured keys ({source}): set SALESLOFT_TOKEN_KEY (and SALESLOFT_TOKEN_KEY_OLD while rotating) to the keys that sealed them"
    )]
    Seal {
        team: i64,
        #[source]
        source: crate::seal::SealError,
    },
    #[error(transparent)]
    NoKey(crate::seal::SealError),
    #[error("the connections database failed: {0}; check that it is reachable and is PostgreSQL")]
    Database(String),
    #[error(
        "the connections tables are at schema version {found}, newer than this program's {supported}: upgrade the program"
    )]
    NewerSchema { found: i64, supported: i64 },
}
