//! The database: one code path over SQLite and Postgres (sqlx's `Any` driver), the tables
//! made and extended from the spec (never rebuilt), the lock that keeps two mirrors from
//! interleaving, and the writes: a page's rows and its cursor in one transaction, newest wins.

//!
//! - `connect`: URLs, the pool, and opening (lock, then layout);
//! - `lock`: one writer at a time (a file beside SQLite, an advisory lock key on Postgres);
//! - `fence`: or, for a fleet's run of one team, the team's lease checked in every write;
//! - `layout`: the tables from the spec, made, extended and converted, and the layout version;
//! - `write`: rows as statements and bound values, a page and its cursor in one transaction,
//!   with its child rows.

mod connect;
mod fence;
mod layout;
mod lock;
mod write;

pub use connect::team_schema;
pub use fence::{Fence, LEASES};
pub use layout::{LAYOUT_VERSION, child_columns, own_columns, table_columns, untyped_columns};
pub use lock::MIRROR_LOCK_KEY;
pub use write::{
    Bound, bind_all, row_values, rows_per_statement, select_list, text_of, upsert_rows_sql,
    upsert_sql, utc,
};
pub(crate) use write::{
    id_bound, id_set, insert_sql, lookup, max_parameters, quoted, save_cursor, values_sql,
    write_page,
};

use crate::error::MirrorError;
use sqlx::AnyPool;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A mirror database, locked for this process while it is open, or fenced by a fleet's lease.
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Held, never used: in a mutex so the database can be shared between tasks (a Postgres
    /// connection is not `Sync`). `None` for a fenced run.
    _lock: Option<std::sync::Mutex<lock::Lock>>,
    fence: Option<Fence>,
    /// Whether every version is kept in the history tables (stored in the database).
    pub history: bool,
}

impl Db {
    /// Inside a write transaction: proves the lease when the run is fenced.
    pub(crate) async fn fenced(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), MirrorError> {
        match &self.fence {
            Some(fence) => fence.check(tx).await,
            None => Ok(()),
        }
    }
}

pub(crate) fn database(e: sqlx::Error) -> MirrorError {
    MirrorError::Database(e)
}
