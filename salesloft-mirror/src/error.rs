//! What can stop a mirror, each one line saying what to do.

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("`{0}` is not a database URL: give sqlite:PATH or postgres://USER@HOST/DB")]
    BadUrl(String),
    /// `url` has its password hidden; `source` is the driver's or the file system's error.
    #[error("the database {url} cannot be opened: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "this database was written by a newer salesloft-mirror (layout {found}; this one knows {known}): upgrade the program, or mirror into another database"
    )]
    FromTheFuture { found: i64, known: i64 },
    #[error("another mirror is writing this database ({0}): wait for it, or stop it")]
    Locked(String),
    #[error(
        "no such resource `{0}`: see the list with --help (names like notes, activities/calls)"
    )]
    UnknownResource(String),
    #[error("the database refused a write: {0}")]
    Database(#[source] sqlx::Error),
    #[error("{0}")]
    Api(#[from] salesloft_api::ApiError),
    #[error("{0}")]
    Webhook(String),
    /// A fleet worker's lease on the team ran out or was taken over: nothing more is written.
    #[error(
        "this worker no longer holds team {team}'s lease (it ran out or another worker took the team over): nothing more was written"
    )]
    LeaseLost { team: i64 },
}
