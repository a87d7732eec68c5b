//! Me, the team, and the team's users.

use super::{ok, one, resource};
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::store::Store;
use salesloft_openapi::schema::ListPaging;
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

/// Paged as any list with `page`; without it every user of the team in one answer, without
/// `paging` (as the service answers: a reader that asks no page gets them all).
pub(crate) fn list_users(store: &Store, call: &Call) -> Result<Reply, ApiError> {
    let users = resource("users")?;
    if call.params.has("page") {
        return crate::generic::list(store, users, call, |_| true);
    }
    let whole = crate::generic::catalog::Resource {
        paging: ListPaging::Whole,
        ..users.clone()
    };
    crate::generic::list(store, &whole, call, |_| true)
}
