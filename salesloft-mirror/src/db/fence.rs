//! The fence of a fleet's run: every write transaction of a team's run proves, inside the
//! transaction, that its worker still holds the team's lease. The lease row is read `FOR
//! SHARE`, so a takeover (an `UPDATE` of that row) waits for the page being written to commit,
//! and a worker whose lease was taken over (the fence token moved on) or ran out writes nothing.

use super::database;
use crate::error::MirrorError;

/// The lease table of the fleet (schema-qualified: a team's connection has the team's schema
/// first on its search path).
pub const LEASES: &str = "salesloft_fleet.teams";

/// A worker's claim on a team: the lease's owner and the token the claim set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub team: i64,
    pub owner: String,
    pub token: i64,
}

impl Fence {
    /// Fails with [`MirrorError::LeaseLost`] unless the lease is still this worker's.
    pub(crate) async fn check(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), MirrorError> {
        let sql = format!(
            "SELECT 1 FROM {LEASES} WHERE team_id = $1 AND owner = $2 AND fence = $3 \
             AND lease_expires_at > clock_timestamp() FOR SHARE"
        );
        let held = sqlx::query(&sql)
            .bind(self.team)
            .bind(self.owner.clone())
            .bind(self.token)
            .fetch_optional(&mut **tx)
            .await
            .map_err(database)?;
        match held {
            Some(_) => Ok(()),
            None => Err(MirrorError::LeaseLost { team: self.team }),
        }
    }
}
