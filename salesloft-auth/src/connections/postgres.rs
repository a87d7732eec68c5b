//! The connections store in PostgreSQL: one row per team, tokens sealed at rest, and a refresh
//! that happens once however many processes and machines want it.
//!
//! A refresh runs in a transaction holding the team's row lock (`SELECT … FOR UPDATE`, given up
//! after `lock_timeout`). It reads the row again under the lock: a token another process stored
//! meanwhile is used as it is; otherwise it refreshes, and the rotated tokens and a bumped
//! version are written before the commit. A holder that dies releases the lock by rollback: a
//! killed process's socket closes at once; a machine that vanished is found by the server's
//! TCP keepalives, and a session left idle in its transaction is ended by
//! `idle_in_transaction_session_timeout` (longer than a token request may take).

use super::{Attempt, Connection, ConnectionError, ConnectionInfo, ConnectionStore, Status};
use crate::app::OAuthApp;
use crate::credentials::Credentials;
use crate::error::AuthError;
use crate::http::OAuthHttp;
use crate::seal::{SealError, Sealer};
use chrono::Utc;
use salesloft_api::text::printable_bounded;
use salesloft_api::{BoxFuture, Secret};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, Row};
use std::time::Duration;

/// The schema this program writes; a database at a newer one is refused.
const SCHEMA_VERSION: i64 = 3;

/// Each migration, in order: migration `n` takes the schema from `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE salesloft_connections (
    team_id         BIGINT PRIMARY KEY,
    team_name       TEXT NOT NULL,
    tenant          TEXT,
    user_id         BIGINT,
    user_email      TEXT,
    scope           TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    api_base_url    TEXT NOT NULL,
    access_token    TEXT NOT NULL,
    refresh_token   TEXT,
    expires_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL DEFAULT 1,
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    status_reason   TEXT,
    last_refresh_at TIMESTAMPTZ,
    last_error      TEXT,
    connected_at    TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX salesloft_connections_expiring ON salesloft_connections (expires_at)
    WHERE status = 'active';
"#,
    r#"
CREATE TABLE salesloft_connect_attempts (
    state_digest TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    verifier     TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX salesloft_connect_attempts_expiring ON salesloft_connect_attempts (expires_at);
"#,
    r#"
CREATE TABLE salesloft_budgets (
    team_id        BIGINT PRIMARY KEY,
    minute         BIGINT NOT NULL,
    remaining      INTEGER NOT NULL,
    day            DATE NOT NULL,
    requests_today BIGINT NOT NULL DEFAULT 0,
    cost_today     BIGINT NOT NULL DEFAULT 0,
    rejected_today BIGINT NOT NULL DEFAULT 0
);
ALTER TABLE salesloft_connections ADD COLUMN callback_token TEXT;
"#,
];

/// How long a refresh waits for another process's lock on the same team.
const LOCK_TIMEOUT: &str = "15s";
/// How long a session may sit in a transaction doing nothing: more than a token request may
/// take (the OAuth client gives up after 30 s).
const IDLE_IN_TRANSACTION: &str = "60s";

/// How tokens are kept at rest.
#[derive(Debug)]
pub enum Encryption {
    /// Sealed with AES-256-GCM, the team and the token's kind as associated data.
    Sealed(Box<Sealer>),
    /// In the clear: only when asked for explicitly (a local test database, say).
    Plaintext,
}

/// What stands before a token kept in the clear.
const PLAIN: &str = "plain.";

impl Encryption {
    /// The keys of `SALESLOFT_TOKEN_KEY` (and `SALESLOFT_TOKEN_KEY_OLD`); without them, an
    /// error naming the variable unless `allow_plaintext` says tokens may be kept in the clear.
    pub fn from_env(allow_plaintext: bool) -> Result<Self, ConnectionError> {
        match Sealer::from_env() {
            Ok(sealer) => Ok(Encryption::Sealed(Box::new(sealer))),
            Err(SealError::NoKey { .. }) if allow_plaintext => Ok(Encryption::Plaintext),
            Err(e) => Err(ConnectionError::NoKey(e)),
        }
    }

    fn seal(&self, secret: &Secret, context: &str) -> String {
        match self {
            Encryption::Sealed(sealer) => sealer.seal(secret, context),
            Encryption::Plaintext => format!("{PLAIN}{}", secret.expose()),
        }
    }

    fn open(&self, stored: &str, context: &str) -> Result<Secret, SealError> {
        match (self, stored.strip_prefix(PLAIN)) {
            (Encryption::Plaintext, Some(plain)) => Ok(Secret::new(plain)),
            (Encryption::Plaintext, None) => Err(SealError::NoKey {
                var: crate::seal::KEY_VAR,
            }),
            // A sealed store does not take a token planted in the clear; `rekey` seals them.
            (Encryption::Sealed(_), Some(_)) => Err(SealError::Malformed),
            (Encryption::Sealed(sealer), None) => sealer.open(stored, context),
        }
    }
}

/// 32 random bytes, URL-safe base64: a webhook callback token.
fn random_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn context(team: i64, kind: &str) -> String {
    format!("salesloft-connection:{team}:{kind}")
}

fn database(error: sqlx::Error) -> ConnectionError {
    ConnectionError::Database(printable_bounded(&error.to_string(), 512))
}

/// The outcome of one pass of the background refresher.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshReport {
    pub refreshed: usize,
    pub needs_reauth: usize,
    pub failed: usize,
}

/// The connections of every team, in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgConnections {
    pool: PgPool,
    encryption: std::sync::Arc<Encryption>,
}

const COLUMNS: &str = "team_id, team_name, tenant, user_id, user_email, scope, client_id, \
     api_base_url, access_token, refresh_token, expires_at, version, status, status_reason, \
     last_refresh_at, last_error, connected_at";

impl PgConnections {
    /// Connects (at most `max_connections` at once), brings the tables to this program's
    /// schema, and refuses a database already at a newer one.
    pub async fn connect(
        url: &str,
        encryption: Encryption,
        max_connections: u32,
    ) -> Result<Self, ConnectionError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConnectionError::Database(
                "the connections store is PostgreSQL: give a postgres:// URL".into(),
            ));
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection
                        .execute(
                            "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; \
                             SET tcp_keepalives_count = 3;",
                        )
                        .await?;
                    connection
                        .execute(
                            format!(
                                "SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}'"
                            )
                            .as_str(),
                        )
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(database)?;
        let store = Self {
            pool,
            encryption: std::sync::Arc::new(encryption),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema, under an advisory lock so that processes starting together migrate once.
    async fn migrate(&self) -> Result<(), ConnectionError> {
        let mut tx = self.pool.begin().await.map_err(database)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('salesloft_connections_schema'))")
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS salesloft_connections_schema (version BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM salesloft_connections_schema")
                .fetch_one(&mut *tx)
                .await
                .map_err(database)?;
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(ConnectionError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute(*migration).await.map_err(database)?;
            sqlx::query("INSERT INTO salesloft_connections_schema (version) VALUES ($1)")
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        }
        tx.commit().await.map_err(database)
    }

    fn read(&self, row: &PgRow) -> Result<Connection, ConnectionError> {
        let get = |e: sqlx::Error| database(e);
        let team_id: i64 = row.try_get("team_id").map_err(get)?;
        let open = |kind: &str, stored: &str| {
            self.encryption
                .open(stored, &context(team_id, kind))
                .map_err(|source| ConnectionError::Seal {
                    team: team_id,
                    source,
                })
        };
        let access: String = row.try_get("access_token").map_err(get)?;
        let refresh: Option<String> = row.try_get("refresh_token").map_err(get)?;
        let status: String = row.try_get("status").map_err(get)?;
        let reason: Option<String> = row.try_get("status_reason").map_err(get)?;
        Ok(Connection {
            team_id,
            team_name: row.try_get("team_name").map_err(get)?,
            tenant: row.try_get("tenant").map_err(get)?,
            user_id: row.try_get("user_id").map_err(get)?,
            user_email: row.try_get("user_email").map_err(get)?,
            credentials: Credentials {
                access_token: open("access", &access)?,
                refresh_token: refresh.map(|r| open("refresh", &r)).transpose()?,
                expires_at: row.try_get("expires_at").map_err(get)?,
                scope: row.try_get("scope").map_err(get)?,
                client_id: row.try_get("client_id").map_err(get)?,
                api_base_url: row.try_get("api_base_url").map_err(get)?,
            },
            version: row.try_get("version").map_err(get)?,
            status: Status::from_stored(&status, reason),
            last_refresh_at: row.try_get("last_refresh_at").map_err(get)?,
            last_error: row.try_get("last_error").map_err(get)?,
            connected_at: row.try_get("connected_at").map_err(get)?,
        })
    }

    /// A team's access and refresh tokens as they are kept at rest.
    fn seal_tokens(
        &self,
        team: i64,
        access: &Secret,
        refresh: Option<&Secret>,
    ) -> (String, Option<String>) {
        (
            self.encryption.seal(access, &context(team, "access")),
            refresh.map(|r| self.encryption.seal(r, &context(team, "refresh"))),
        )
    }

    /// Stores a team's new authorization: a team connected again gets the new tokens, a bumped
    /// version, and `active` (clearing `needs_reauth`).
    pub async fn save(&self, connection: &Connection) -> Result<Connection, ConnectionError> {
        let team = connection.team_id;
        let credentials = &connection.credentials;
        let (access, refresh) = self.seal_tokens(
            team,
            &credentials.access_token,
            credentials.refresh_token.as_ref(),
        );
        let row = sqlx::query(&format!(
            "INSERT INTO salesloft_connections ({COLUMNS}, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, 'active', NULL, NULL, NULL, now(), now()) \
             ON CONFLICT (team_id) DO UPDATE SET team_name = EXCLUDED.team_name, \
               tenant = COALESCE(EXCLUDED.tenant, salesloft_connections.tenant), \
               user_id = EXCLUDED.user_id, user_email = EXCLUDED.user_email, \
               scope = EXCLUDED.scope, client_id = EXCLUDED.client_id, \
               api_base_url = EXCLUDED.api_base_url, access_token = EXCLUDED.access_token, \
               refresh_token = EXCLUDED.refresh_token, expires_at = EXCLUDED.expires_at, \
               version = salesloft_connections.version + 1, status = 'active', \
               status_reason = NULL, last_error = NULL, updated_at = now() \
             RETURNING {COLUMNS}"
        ))
        .bind(team)
        .bind(&connection.team_name)
        .bind(&connection.tenant)
        .bind(connection.user_id)
        .bind(&connection.user_email)
        .bind(&credentials.scope)
        .bind(&credentials.client_id)
        .bind(&credentials.api_base_url)
        .bind(access)
        .bind(refresh)
        .bind(credentials.expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(database)?;
        self.read(&row)
    }

    /// A client acting for `team`, as every process of a product should make one: its tokens
    /// from this store (refreshed once across processes) and every request drawn from the
    /// team's shared budget, of which `share` (0 to 1) is used. Set anything else on the
    /// builder before `build`.
    pub async fn client_builder(
        &self,
        team: i64,
        app: &crate::OAuthApp,
        share: f64,
    ) -> Result<salesloft_api::ClientBuilder, ConnectionError> {
        let connection = self
            .get(team)
            .await?
            .ok_or(ConnectionError::NotConnected { team })?;
        let tokens = super::ConnectionTokens::new(self.clone(), team, app.clone())
            .map_err(|source| ConnectionError::Refresh { team, source })?;
        Ok(
            salesloft_api::ClientBuilder::new(std::sync::Arc::new(tokens))
                .base_url(&connection.credentials.api_base_url)
                .budget_share(share)
                .shared_budget(std::sync::Arc::new(self.budget(team).with_share(share))),
        )
    }

    /// Team `team`'s budget, shared by every process using this database: give it to the
    /// team's client (`ClientBuilder::shared_budget`), or make the client with
    /// [`PgConnections::client_builder`].
    pub fn budget(&self, team: i64) -> super::PgTeamBudget {
        super::PgTeamBudget::new(self.pool.clone(), team)
    }

    /// The token SalesLoft signs the team's webhook deliveries with: made (random, sealed like
    /// the tokens) the first time it is asked for, kept while the connection lasts (connecting
    /// again keeps it, so subscriptions stay valid). `None` when the team has no connection.
    pub async fn callback_token(&self, team: i64) -> Result<Option<Secret>, ConnectionError> {
        let fresh = Secret::new(random_token());
        let sealed = self.encryption.seal(&fresh, &context(team, "callback"));
        // Set only where none is yet: two processes asking at once agree on the first one.
        let stored: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE salesloft_connections SET callback_token = COALESCE(callback_token, $2) \
             WHERE team_id = $1 RETURNING callback_token",
        )
        .bind(team)
        .bind(sealed)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        self.open_callback(team, stored.flatten())
    }

    /// Proves the configured keys are the ones the stored tokens were sealed with: `Ok` when a
    /// token of the first few connections opens (or there is no connection yet), else the
    /// first one's error, which says which variables to set. A worker started with the wrong
    /// key stops here instead of failing every team's run.
    pub async fn check_key(&self) -> Result<(), ConnectionError> {
        let rows = sqlx::query(
            "SELECT team_id, access_token FROM salesloft_connections ORDER BY team_id LIMIT 5",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        let mut first_error = None;
        for row in &rows {
            let team: i64 = row.try_get("team_id").map_err(database)?;
            let sealed: String = row.try_get("access_token").map_err(database)?;
            match self.encryption.open(&sealed, &context(team, "access")) {
                Ok(_) => return Ok(()),
                Err(source) => {
                    first_error.get_or_insert(ConnectionError::Seal { team, source });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The token the team's deliveries are signed with, as stored: `None` when the team has
    /// no connection or no token was made yet (then it has no subscriptions of ours).
    pub async fn stored_callback_token(
        &self,
        team: i64,
    ) -> Result<Option<Secret>, ConnectionError> {
        let stored: Option<Option<String>> = sqlx::query_scalar(
            "SELECT callback_token FROM salesloft_connections WHERE team_id = $1",
        )
        .bind(team)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        self.open_callback(team, stored.flatten())
    }

    fn open_callback(
        &self,
        team: i64,
        stored: Option<String>,
    ) -> Result<Option<Secret>, ConnectionError> {
        stored
            .map(|sealed| self.encryption.open(&sealed, &context(team, "callback")))
            .transpose()
            .map_err(|source| ConnectionError::Seal { team, source })
    }

    /// The team's connection, if it has one.
    pub async fn get(&self, team: i64) -> Result<Option<Connection>, ConnectionError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM salesloft_connections WHERE team_id = $1"
        ))
        .bind(team)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        row.map(|row| self.read(&row)).transpose()
    }

    /// Every connection, by team, without opening a token (listing needs no key).
    pub async fn list(&self) -> Result<Vec<ConnectionInfo>, ConnectionError> {
        let rows = sqlx::query(
            "SELECT team_id, team_name, tenant, user_id, user_email, scope, expires_at, version, \
             status, status_reason, last_refresh_at, last_error, connected_at \
             FROM salesloft_connections ORDER BY team_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        rows.iter().map(|row| info(row).map_err(database)).collect()
    }

    /// Deletes the team's connection; `false` when there was none.
    pub async fn remove(&self, team: i64) -> Result<bool, ConnectionError> {
        let done = sqlx::query("DELETE FROM salesloft_connections WHERE team_id = $1")
            .bind(team)
            .execute(&self.pool)
            .await
            .map_err(database)?;
        Ok(done.rows_affected() > 0)
    }

    /// Fresh tokens for `team`: the stored ones if they are good for longer than `margin` and
    /// are not `rejected` (an access token the service refused), else a refresh, once across
    /// every process sharing the database.
    pub async fn refresh(
        &self,
        team: i64,
        app: &OAuthApp,
        http: &OAuthHttp,
        rejected: Option<&Secret>,
        margin: chrono::Duration,
    ) -> Result<Connection, ConnectionError> {
        let mut tx = self.pool.begin().await.map_err(database)?;
        sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM salesloft_connections WHERE team_id = $1 FOR UPDATE"
        ))
        .bind(team)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| match lock_timed_out(&e) {
            true => ConnectionError::Busy { team },
            false => database(e),
        })?
        .ok_or(ConnectionError::NotConnected { team })?;
        let locked = self.read(&row)?;
        usable(&locked)?;
        let credentials = &locked.credentials;
        let fresh = !credentials.expires_within(margin, Utc::now())
            && Some(&credentials.access_token) != rejected;
        if fresh {
            // Another process refreshed while this one waited for the lock.
            tx.commit().await.map_err(database)?;
            return Ok(locked);
        }
        self.refresh_locked(tx, locked, app, http).await
    }

    /// Refreshes the connection whose row `tx` holds locked, and commits.
    async fn refresh_locked(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        locked: Connection,
        app: &OAuthApp,
        http: &OAuthHttp,
    ) -> Result<Connection, ConnectionError> {
        let team = locked.team_id;
        tracing::debug!(team, "refreshing a connection under its row lock");
        let Some(refresh_token) = locked.credentials.refresh_token.clone() else {
            return Err(self
                .needs_reauth(tx, &locked, "the connection has no refresh token")
                .await);
        };
        match crate::oauth::refresh(app, http, &refresh_token).await {
            Ok(fresh) => {
                let (access, refresh) =
                    self.seal_tokens(team, &fresh.access_token, fresh.refresh_token.as_ref());
                let row = sqlx::query(&format!(
                    "UPDATE salesloft_connections SET access_token = $2, refresh_token = $3, \
                     expires_at = $4, scope = CASE WHEN $5 = '' THEN scope ELSE $5 END, \
                     version = version + 1, last_refresh_at = now(), last_error = NULL, \
                     updated_at = now() WHERE team_id = $1 RETURNING {COLUMNS}"
                ))
                .bind(team)
                .bind(access)
                .bind(refresh)
                .bind(fresh.expires_at)
                .bind(&fresh.scope)
                .fetch_one(&mut *tx)
                .await
                .map_err(database)?;
                let stored = self.read(&row)?;
                tx.commit().await.map_err(database)?;
                tracing::debug!(team, version = stored.version, "refreshed a connection");
                Ok(stored)
            }
            Err(AuthError::InvalidGrant) => {
                // The lock rules out a race with another refresher; a token written without
                // the lock (a team connected again just now) is checked for before marking.
                drop(tx);
                if let Some(now) = self.get(team).await?
                    && now.version != locked.version
                {
                    usable(&now)?;
                    return Ok(now);
                }
                let tx = self.pool.begin().await.map_err(database)?;
                Err(self
                    .needs_reauth(
                        tx,
                        &locked,
                        "SalesLoft refused the refresh token (invalid_grant)",
                    )
                    .await)
            }
            Err(source) => {
                let message = printable_bounded(&source.to_string(), 512);
                let _ = sqlx::query(
                    "UPDATE salesloft_connections SET last_error = $2, updated_at = now() \
                     WHERE team_id = $1",
                )
                .bind(team)
                .bind(message)
                .execute(&mut *tx)
                .await;
                let _ = tx.commit().await;
                Err(ConnectionError::Refresh { team, source })
            }
        }
    }

    /// Marks the connection `needs_reauth` (once: only the version that failed), and answers
    /// the error a caller gets.
    async fn needs_reauth(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        failed: &Connection,
        reason: &str,
    ) -> ConnectionError {
        let marked = sqlx::query(
            "UPDATE salesloft_connections SET status = 'needs_reauth', status_reason = $3, \
             last_error = $3, updated_at = now() WHERE team_id = $1 AND version = $2 \
             AND status = 'active'",
        )
        .bind(failed.team_id)
        .bind(failed.version)
        .bind(reason)
        .execute(&mut *tx)
        .await;
        if let Err(e) = marked {
            return database(e);
        }
        if let Err(e) = tx.commit().await {
            return database(e);
        }
        tracing::warn!(
            team = failed.team_id,
            "a SalesLoft connection needs to be connected again"
        );
        ConnectionError::NeedsReauth {
            team: failed.team_id,
            reason: reason.to_string(),
        }
    }

    /// One pass of the background refresher: every active connection expiring within `within`
    /// is refreshed, each claimed with `SKIP LOCKED` so that refreshers on several machines
    /// share the work and never wait for one another. At most `most` connections a pass.
    pub async fn refresh_due(
        &self,
        app: &OAuthApp,
        http: &OAuthHttp,
        within: chrono::Duration,
        most: usize,
    ) -> Result<RefreshReport, ConnectionError> {
        let mut report = RefreshReport::default();
        // The database's clock, not this machine's: every machine compares with the same one.
        // A token in the first half of its life is never renewed, even when the window is
        // longer than tokens live: refreshers on several machines renew each once.
        let window = within.num_milliseconds() as f64 / 1000.0;
        for _ in 0..most {
            let mut tx = self.pool.begin().await.map_err(database)?;
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM salesloft_connections \
                 WHERE status = 'active' AND expires_at < clock_timestamp() + make_interval(secs => $1) \
                 AND (last_refresh_at IS NULL \
                      OR clock_timestamp() > last_refresh_at + (expires_at - last_refresh_at) / 2) \
                 ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED"
            ))
            .bind(window)
            .fetch_optional(&mut *tx)
            .await
            .map_err(database)?;
            let Some(row) = row else { break };
            let claimed = match self.read(&row) {
                Ok(claimed) => claimed,
                Err(e) => {
                    // A row this key cannot open: counted, left for someone with the key.
                    tracing::warn!(error = %e, "a connection could not be read");
                    report.failed += 1;
                    continue;
                }
            };
            match self.refresh_locked(tx, claimed, app, http).await {
                Ok(_) => report.refreshed += 1,
                Err(ConnectionError::NeedsReauth { .. }) => report.needs_reauth += 1,
                Err(_) => report.failed += 1,
            }
        }
        Ok(report)
    }

    /// Seals every token again with the current key (tokens sealed with the old key, or kept
    /// in the clear); answers how many connections were rewritten. Each row is rewritten under
    /// its lock with its version kept, so a refresh running meanwhile is not undone.
    pub async fn rekey(&self) -> Result<usize, ConnectionError> {
        let Encryption::Sealed(sealer) = &*self.encryption else {
            return Err(ConnectionError::NoKey(SealError::NoKey {
                var: crate::seal::KEY_VAR,
            }));
        };
        let teams: Vec<i64> =
            sqlx::query_scalar("SELECT team_id FROM salesloft_connections ORDER BY team_id")
                .fetch_all(&self.pool)
                .await
                .map_err(database)?;
        let mut rewritten = 0;
        for team in teams {
            let mut tx = self.pool.begin().await.map_err(database)?;
            let row = sqlx::query(
                "SELECT access_token, refresh_token, callback_token FROM salesloft_connections \
                 WHERE team_id = $1 FOR UPDATE",
            )
            .bind(team)
            .fetch_optional(&mut *tx)
            .await
            .map_err(database)?;
            let Some(row) = row else { continue };
            let access: String = row.try_get("access_token").map_err(database)?;
            let refresh: Option<String> = row.try_get("refresh_token").map_err(database)?;
            let callback: Option<String> = row.try_get("callback_token").map_err(database)?;
            let stale =
                |stored: &str| stored.starts_with(PLAIN) || sealer.sealed_with_old_key(stored);
            if !stale(&access)
                && !refresh.as_deref().is_some_and(stale)
                && !callback.as_deref().is_some_and(stale)
            {
                continue;
            }
            let again = |stored: &str, kind: &str| -> Result<String, ConnectionError> {
                let ctx = context(team, kind);
                let secret = match stored.strip_prefix(PLAIN) {
                    Some(plain) => Secret::new(plain),
                    None => sealer
                        .open(stored, &ctx)
                        .map_err(|source| ConnectionError::Seal { team, source })?,
                };
                Ok(sealer.seal(&secret, &ctx))
            };
            let access = again(&access, "access")?;
            let refresh = refresh.map(|r| again(&r, "refresh")).transpose()?;
            let callback = callback.map(|c| again(&c, "callback")).transpose()?;
            sqlx::query(
                "UPDATE salesloft_connections SET access_token = $2, refresh_token = $3, \
                 callback_token = $4 WHERE team_id = $1",
            )
            .bind(team)
            .bind(access)
            .bind(refresh)
            .bind(callback)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
            tx.commit().await.map_err(database)?;
            rewritten += 1;
        }
        Ok(rewritten)
    }
}

/// A connection that may be used: refused with what to do when it needs connecting again or
/// was removed.
fn usable(connection: &Connection) -> Result<(), ConnectionError> {
    let team = connection.team_id;
    match &connection.status {
        Status::Active => Ok(()),
        Status::NeedsReauth(reason) => Err(ConnectionError::NeedsReauth {
            team,
            reason: reason.clone(),
        }),
        Status::Revoked => Err(ConnectionError::Revoked { team }),
    }
}

/// `55P03 lock_not_available`: `lock_timeout` ran out.
fn lock_timed_out(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55P03")
}

/// A listed row: everything but its tokens.
fn info(row: &PgRow) -> Result<ConnectionInfo, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let reason: Option<String> = row.try_get("status_reason")?;
    Ok(ConnectionInfo {
        team_id: row.try_get("team_id")?,
        team_name: row.try_get("team_name")?,
        tenant: row.try_get("tenant")?,
        user_id: row.try_get("user_id")?,
        user_email: row.try_get("user_email")?,
        scope: row.try_get("scope")?,
        expires_at: row.try_get("expires_at")?,
        version: row.try_get("version")?,
        status: Status::from_stored(&status, reason),
        last_refresh_at: row.try_get("last_refresh_at")?,
        last_error: row.try_get("last_error")?,
        connected_at: row.try_get("connected_at")?,
    })
}

fn attempt_context(key: &str) -> String {
    format!("salesloft-connect-attempt:{key}")
}

impl ConnectionStore for PgConnections {
    fn save<'a>(
        &'a self,
        connection: &'a Connection,
    ) -> BoxFuture<'a, Result<Connection, ConnectionError>> {
        Box::pin(PgConnections::save(self, connection))
    }

    fn get(&self, team: i64) -> BoxFuture<'_, Result<Option<Connection>, ConnectionError>> {
        Box::pin(PgConnections::get(self, team))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ConnectionInfo>, ConnectionError>> {
        Box::pin(PgConnections::list(self))
    }

    fn remove(&self, team: i64) -> BoxFuture<'_, Result<bool, ConnectionError>> {
        Box::pin(PgConnections::remove(self, team))
    }

    fn put_attempt<'a>(
        &'a self,
        key: &'a str,
        attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<(), ConnectionError>> {
        Box::pin(async move {
            // Attempts nobody finished go as new ones come: the table holds what is pending.
            sqlx::query("DELETE FROM salesloft_connect_attempts WHERE expires_at < now()")
                .execute(&self.pool)
                .await
                .map_err(database)?;
            let verifier = self
                .encryption
                .seal(&attempt.verifier, &attempt_context(key));
            sqlx::query(
                "INSERT INTO salesloft_connect_attempts (state_digest, tenant, verifier, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(key)
            .bind(&attempt.tenant)
            .bind(verifier)
            .bind(attempt.expires_at)
            .execute(&self.pool)
            .await
            .map_err(database)?;
            Ok(())
        })
    }

    fn take_attempt<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Attempt>, ConnectionError>> {
        Box::pin(async move {
            // DELETE … RETURNING: of two callbacks with one state, on any machines, one wins.
            let row = sqlx::query(
                "DELETE FROM salesloft_connect_attempts WHERE state_digest = $1 \
                 RETURNING tenant, verifier, expires_at",
            )
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
            let Some(row) = row else { return Ok(None) };
            let sealed: String = row.try_get("verifier").map_err(database)?;
            let verifier = self
                .encryption
                .open(&sealed, &attempt_context(key))
                .map_err(|e| ConnectionError::Database(format!("a connect attempt: {e}")))?;
            Ok(Some(Attempt {
                tenant: row.try_get("tenant").map_err(database)?,
                verifier,
                expires_at: row.try_get("expires_at").map_err(database)?,
            }))
        })
    }
}
