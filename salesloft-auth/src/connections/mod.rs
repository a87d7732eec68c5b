//! Connections: many teams' authorizations, one per SalesLoft team, as a product that lets its
//! customers connect SalesLoft keeps them.
//!
//! - [`Connection`]: a team's tokens and what is known of the authorization (who connected it,
//!   its scope, a version bumped by every change of tokens, its [`Status`]).
//! - [`ConnectionStore`]: what keeps them, keyed by team, async: `PgConnections` (feature
//!   `postgres`) in PostgreSQL, tokens sealed at rest, refreshed once across processes and
//!   machines under the row's lock; [`MemoryConnections`] in this process (tests, one server).
//! - `connect` (feature `connect`): the "Connect SalesLoft" flow a product mounts.
//! - `PgTeamBudget` (feature `postgres`): one budget per team across processes and machines.
//! - `ConnectionTokens` (feature `postgres`): a `salesloft_api::TokenSource` for one team,
//!   so a client of the generated API acts for that team.

#[cfg(feature = "postgres")]
mod budget;
#[cfg(feature = "connect")]
pub mod connect;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod tokens;

#[cfg(feature = "postgres")]
pub use budget::{PgTeamBudget, TODAY};
pub use memory::MemoryConnections;
#[cfg(feature = "postgres")]
pub use postgres::{Encryption, PgConnections, RefreshReport};
#[cfg(feature = "postgres")]
pub use tokens::ConnectionTokens;

use crate::credentials::Credentials;
use chrono::{DateTime, Utc};
use salesloft_api::{BoxFuture, Secret};

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

    /// The status as stored: its name and, for `needs_reauth`, the reason.
    pub fn from_stored(name: &str, reason: Option<String>) -> Self {
        match name {
            "needs_reauth" => Status::NeedsReauth(reason.unwrap_or_default()),
            "revoked" => Status::Revoked,
            _ => Status::Active,
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

/// A connection as listed: everything but its tokens.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ConnectionInfo {
    pub team_id: i64,
    pub team_name: String,
    pub tenant: Option<String>,
    pub user_id: Option<i64>,
    pub user_email: Option<String>,
    pub scope: String,
    pub expires_at: DateTime<Utc>,
    pub version: i64,
    #[serde(flatten)]
    pub status: Status,
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub connected_at: DateTime<Utc>,
}

impl From<&Connection> for ConnectionInfo {
    fn from(c: &Connection) -> Self {
        Self {
            team_id: c.team_id,
            team_name: c.team_name.clone(),
            tenant: c.tenant.clone(),
            user_id: c.user_id,
            user_email: c.user_email.clone(),
            scope: c.credentials.scope.clone(),
            expires_at: c.credentials.expires_at,
            version: c.version,
            status: c.status.clone(),
            last_refresh_at: c.last_refresh_at,
            last_error: c.last_error.clone(),
            connected_at: c.connected_at,
        }
    }
}

/// A connect flow under way: what its `state` stands for until SalesLoft sends the browser
/// back. Kept in the store, so the callback may land on another server than `/connect` did.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The product's tenant that asked to connect.
    pub tenant: String,
    /// The PKCE verifier that goes with the authorization code.
    pub verifier: Secret,
    pub expires_at: DateTime<Utc>,
}

/// Where connections are kept, keyed by SalesLoft team. Async, so that a store may be a
/// database shared by many processes.
pub trait ConnectionStore: Send + Sync + std::fmt::Debug {
    /// Stores a team's new authorization: a team connected again gets the new tokens, a bumped
    /// version, and `active` (clearing `needs_reauth`). Answers the connection as stored.
    fn save<'a>(
        &'a self,
        connection: &'a Connection,
    ) -> BoxFuture<'a, Result<Connection, ConnectionError>>;
    /// The team's connection, if it has one.
    fn get(&self, team: i64) -> BoxFuture<'_, Result<Option<Connection>, ConnectionError>>;
    /// Every connection, by team, without its tokens.
    fn list(&self) -> BoxFuture<'_, Result<Vec<ConnectionInfo>, ConnectionError>>;
    /// Deletes the team's connection; `false` when there was none.
    fn remove(&self, team: i64) -> BoxFuture<'_, Result<bool, ConnectionError>>;
    /// Keeps a connect attempt under `key` (a digest of its `state`, never the state itself).
    fn put_attempt<'a>(
        &'a self,
        key: &'a str,
        attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<(), ConnectionError>>;
    /// Takes the attempt under `key` away: a state is used once, across every process.
    fn take_attempt<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Attempt>, ConnectionError>>;
}
