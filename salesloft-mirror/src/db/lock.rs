//! One writer at a time: a file lock beside a SQLite database (its holder's pid written in
//! it), an advisory lock on Postgres held by a connection of its own. A lock is a key, so a
//! mirror of another scope takes a key of its own and never waits for this one.

use super::database;
use crate::error::MirrorError;
use sqlx::{AnyPool, Row};
use std::path::PathBuf;

/// The advisory lock key of a one-team mirror on Postgres: "SLMIRROR" as bytes. A lock is a
/// key, so a mirror of another scope (another team's schema) takes a key of its own.
pub const MIRROR_LOCK_KEY: i64 = 0x534c_4d49_5252_4f52;

/// Who holds the lock: the file lock beside a SQLite database, or a Postgres connection
/// holding the advisory lock (released when it closes).
pub(super) enum Lock {
    File(#[allow(dead_code)] std::fs::File),
    Postgres(#[allow(dead_code)] sqlx::pool::PoolConnection<sqlx::Any>),
}

fn lock_path(url: &str) -> PathBuf {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    PathBuf::from(format!("{path}.lock"))
}

/// The file lock beside a SQLite database; its holder writes its pid in it.
pub(super) fn file_lock(
    url: &str,
    wait: bool,
    on_wait: &dyn Fn(&str),
) -> Result<std::fs::File, MirrorError> {
    use std::io::{Read, Seek, Write};
    let path = lock_path(url);
    let io = |e: std::io::Error| MirrorError::Unreachable {
        url: url.to_string(),
        source: Box::new(LockFileError {
            path: path.clone(),
            source: e,
        }),
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    if file.try_lock().is_err() {
        // The lock file is anyone's to write: only a pid is read from it, at most 32 bytes.
        let mut written = String::new();
        let _ = (&mut file).take(32).read_to_string(&mut written);
        let holder = match written.trim().parse::<u32>() {
            Ok(pid) => format!("process {pid}"),
            Err(_) => "another process".to_string(),
        };
        if !wait {
            return Err(MirrorError::Locked(holder));
        }
        on_wait(&holder);
        file.lock().map_err(io)?;
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(file)
}

/// The advisory lock `key` on a connection held for as long as the mirror is open.
pub(super) async fn pg_lock(
    pool: &AnyPool,
    key: i64,
    wait: bool,
    on_wait: &dyn Fn(&str),
) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, MirrorError> {
    let mut conn = pool.acquire().await.map_err(database)?;
    let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await
        .map_err(database)?
        .try_get(0)
        .map_err(database)?;
    if got {
        return Ok(conn);
    }
    let holder = pg_lock_holder(&mut conn, key)
        .await
        .map_or("another mirror".to_string(), |pid| {
            format!("PostgreSQL backend {pid} (another mirror)")
        });
    if !wait {
        return Err(MirrorError::Locked(holder));
    }
    on_wait(&holder);
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .map_err(database)?;
    Ok(conn)
}

/// The backend holding advisory lock `key`, and no other: `pg_locks` shows a one-`bigint` key
/// as its high half in `classid`, its low half in `objid`, and `objsubid` 1.
async fn pg_lock_holder(conn: &mut sqlx::AnyConnection, key: i64) -> Option<i64> {
    let sql = "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
               AND objsubid = 1 AND classid::bigint = $1 AND objid::bigint = $2 \
               AND pid <> pg_backend_pid() LIMIT 1";
    let high = (key as u64 >> 32) as i64;
    let low = (key as u64 & 0xffff_ffff) as i64;
    sqlx::query(sql)
        .bind(high)
        .bind(low)
        .fetch_optional(&mut *conn)
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get::<i64, _>(0).ok())
}

/// An I/O error on the lock file, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
struct LockFileError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}
