//! Me, the team, and the team's users.

use super::{ok, one, resource};
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::store::Store;
use serde_json::json;

/// `GET /v2/me`: the caller.
pub(crate) fn me(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    store
        .users
        .rows
        .get(&call.user_id)
        .ok_or_else(ApiError::not_found)
        .and_then(one)
}

/// `GET /v2/team`.
pub(crate) fn team(store: &Store) -> Result<Reply, ApiError> {
    ok(json!({"data": store.team}))
}

/// Paged as any list with `page`; without it every user, unpaged (as the service answers).
pub(crate) fn list_users(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    let mut reply = crate::generic::list(store, resource("users")?, call, |_| true)?;
    if !call.params.has("page")
        && let Reply::Json(_, body) = &mut reply
        && let Some(metadata) = body["metadata"].as_object_mut()
    {
        // SERVICE.md §2: /v2/users has no paging without a `page` parameter.
        metadata.remove("paging");
    }
    Ok(reply)
}
