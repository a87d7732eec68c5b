//! Opening a mirror database: the URL read, the pool made (SQLite tuned for a writer that may
//! be killed), the lock taken, the layout brought up to date.

use super::lock::{Lock, file_lock, pg_lock};
use super::{Backend, Db, Fence, MIRROR_LOCK_KEY};
use crate::Opening;
use crate::error::MirrorError;
use crate::schema::Table;
use sqlx::Executor;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

impl Db {
    /// Opens `url` (`sqlite:PATH`, created when missing, or `postgres://...`), waits for (or,
    /// with `wait` false, refuses) another mirror's lock, and brings the tables up to `tables`.
    /// `on_open` hears who holds the lock before the wait starts, and the progress of a
    /// conversion to a newer layout.
    pub async fn open(
        url: &str,
        tables: &[Table],
        wait: bool,
        on_open: &(dyn Fn(Opening<'_>) + Sync),
    ) -> Result<Self, MirrorError> {
        let on_wait = &|holder: &str| on_open(Opening::Waiting { holder });
        install_default_drivers();
        let unreachable = |e: sqlx::Error| MirrorError::Unreachable {
            url: redact(url),
            source: Box::new(e),
        };
        let (backend, connect) = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err(MirrorError::BadUrl(url.to_string()));
            }
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(MirrorError::BadUrl(url.to_string()));
        };
        let lock = match backend {
            Backend::Sqlite => Some(file_lock(url, wait, on_wait)?),
            Backend::Postgres => None,
        };
        let mut options = AnyPoolOptions::new().max_connections(match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        });
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL: a reader never blocks the mirror; NORMAL: a commit survives a
                    // killed process (only a power loss may drop the last commits).
                    conn.execute("PRAGMA journal_mode=WAL").await?;
                    conn.execute("PRAGMA synchronous=NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout=10000").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&connect).await.map_err(unreachable)?;
        let lock = match lock {
            Some(file) => Lock::File(file),
            None => Lock::Postgres(pg_lock(&pool, MIRROR_LOCK_KEY, wait, on_wait).await?),
        };
        let mut db = Self {
            pool,
            backend,
            _lock: Some(std::sync::Mutex::new(lock)),
            fence: None,
            history: false,
        };
        db.migrate(tables, on_open).await?;
        Ok(db)
    }

    /// Opens team `fence.team`'s schema of the Postgres database at `url` for a fleet's run
    /// (created when missing, with the one-team mirror's tables): no lock is taken, every
    /// write proves the fleet's lease instead.
    pub async fn open_fenced(
        url: &str,
        tables: &[Table],
        fence: Fence,
    ) -> Result<Self, MirrorError> {
        install_default_drivers();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(MirrorError::BadUrl(url.to_string()));
        }
        let unreachable = |e: sqlx::Error| MirrorError::Unreachable {
            url: redact(url),
            source: Box::new(e),
        };
        let schema = team_schema(fence.team);
        let set_path = format!("SET search_path TO \"{schema}\"");
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .after_connect(move |conn, _| {
                let set_path = set_path.clone();
                Box::pin(async move {
                    conn.execute(set_path.as_str()).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(unreachable)?;
        pool.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
            .await
            .map_err(super::database)?;
        let mut db = Self {
            pool,
            backend: Backend::Postgres,
            _lock: None,
            fence: Some(fence),
            history: false,
        };
        db.migrate(tables, &|_| {}).await?;
        Ok(db)
    }
}

/// The schema a fleet mirrors team `team` into.
pub fn team_schema(team: i64) -> String {
    format!("team_{team}")
}

/// A URL with its password hidden, for messages.
pub(super) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
