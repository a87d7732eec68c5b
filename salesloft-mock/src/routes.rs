//! Who answers which API call, in one table.
//!
//! A call is answered by the entry of [`ROUTES`] its method and path match: the resources with
//! rules of their own (`rules`). A call no entry matches goes to `generic`, the rule every list
//! resource of the spec follows; a declared route that is no list resource's is answered from
//! the document (`spec_routes`); anything else is 404. No two entries match one call (a test
//! checks), so a route put in two places is a failure, not a silent shadow.

use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::rules::{
    accounts, bulk, cadences, calendar_events, get, id, memberships, one, people, upserts, users,
    webhook_subscriptions,
};
use crate::store::Store;
use axum::http::Method;

/// A path segment that matches any one segment; the handler gets it as an argument.
const ID: &str = "{id}";

/// What answers a call: the store, the call, and the path's `{id}` segments in order.
pub type Answer = fn(&mut Store, &Call, &[&str]) -> Result<Reply, ApiError>;

/// One route of the table.
pub struct Route {
    pub method: Method,
    /// Segments after `/v2/`; `ID` (`"{id}"`) matches any one.
    pub path: &'static [&'static str],
    /// The module that owns the route's rules, for readers and for the test's message.
    pub owner: &'static str,
    pub answer: Answer,
}

impl Route {
    /// The `{id}` segments of `segments` when this route matches `method` and them.
    fn matches<'a>(&self, method: &Method, segments: &[&'a str]) -> Option<Vec<&'a str>> {
        if self.method != *method || self.path.len() != segments.len() {
            return None;
        }
        let mut ids = Vec::new();
        for (pattern, segment) in self.path.iter().zip(segments) {
            if *pattern == ID {
                ids.push(*segment);
            } else if pattern != segment {
                return None;
            }
        }
        Some(ids)
    }
}

const fn route(
    method: Method,
    path: &'static [&'static str],
    owner: &'static str,
    answer: Answer,
) -> Route {
    Route {
        method,
        path,
        owner,
        answer,
    }
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// The resources with rules of their own, grouped by owner.
pub static ROUTES: &[Route] = &[
    // The caller, the team, the team's users (unpaged without `page`).
    route(GET, &["me"], "users", |s, c, _| users::me(s, c)),
    route(GET, &["team"], "users", |s, _, _| users::team(s)),
    route(GET, &["users"], "users", |s, c, _| users::list_users(s, c)),
    route(GET, &["users", ID], "users", |s, _, i| {
        get(&s.users, id(i[0])?)
    }),
    // People: unique emails, a reachable person, an account link, memberships kept on delete.
    route(GET, &["people"], "people", |s, c, _| {
        people::list_people(s, c)
    }),
    route(POST, &["people"], "people", |s, c, _| {
        people::create_person(s, c)
    }),
    route(GET, &["people", ID], "people", |s, _, i| {
        get(&s.people, id(i[0])?)
    }),
    route(PUT, &["people", ID], "people", |s, c, i| {
        people::update_person(s, c, id(i[0])?)
    }),
    route(DELETE, &["people", ID], "people", |s, c, i| {
        people::delete_person(s, id(i[0])?, c.now)
    }),
    // Accounts: unique domains compared as host names, people unlinked on delete.
    route(GET, &["accounts"], "accounts", |s, c, _| {
        accounts::list_accounts(s, c)
    }),
    route(POST, &["accounts"], "accounts", |s, c, _| {
        accounts::create_account(s, c)
    }),
    route(GET, &["accounts", ID], "accounts", |s, _, i| {
        get(&s.accounts, id(i[0])?)
    }),
    route(PUT, &["accounts", ID], "accounts", |s, c, i| {
        accounts::update_account(s, c, id(i[0])?)
    }),
    route(DELETE, &["accounts", ID], "accounts", |s, c, i| {
        accounts::delete_account(s, id(i[0])?, c.now)
    }),
    // Upserts of people and accounts, by the rules above; of calendar events by `i_cal_uid`.
    route(POST, &["person_upserts"], "upserts", |s, c, _| {
        upserts::upsert_person(s, c)
    }),
    route(POST, &["account_upserts"], "upserts", |s, c, _| {
        upserts::upsert_account(s, c)
    }),
    route(
        POST,
        &["calendar", "events", "upsert"],
        "calendar_events",
        |s, c, _| calendar_events::upsert_calendar_event(s, c),
    ),
    // Cadences: one by id, exports and imports (the list is generic).
    route(GET, &["cadences", ID], "cadences", |s, _, i| {
        get(&s.cadences, id(i[0])?)
    }),
    route(GET, &["cadence_exports", ID], "cadences", |s, _, i| {
        cadences::export_cadence(s, id(i[0])?)
    }),
    route(POST, &["cadence_imports"], "cadences", |s, c, _| {
        cadences::import_cadence(s, c)
    }),
    // Memberships: once on a cadence at a time; a delete takes the person off.
    route(POST, &["cadence_memberships"], "memberships", |s, c, _| {
        memberships::create_membership(s, c)
    }),
    route(
        GET,
        &["cadence_memberships", ID],
        "memberships",
        |s, _, i| {
            s.memberships
                .rows
                .get(&id(i[0])?)
                .ok_or_else(ApiError::not_found)
                .and_then(one)
        },
    ),
    route(
        DELETE,
        &["cadence_memberships", ID],
        "memberships",
        |s, _, i| memberships::delete_membership(s, id(i[0])?),
    ),
    // Bulk jobs: created open, uploaded to, run when ready; reads run the ready jobs first.
    route(GET, &["bulk_jobs"], "bulk", |s, c, _| bulk::read_jobs(s, c)),
    route(POST, &["bulk_jobs"], "bulk", |s, c, _| bulk::create(s, c)),
    route(GET, &["bulk_jobs", ID], "bulk", |s, c, _| {
        bulk::read_jobs(s, c)
    }),
    route(PUT, &["bulk_jobs", ID], "bulk", |s, c, i| {
        bulk::update(s, c, i[0])
    }),
    route(POST, &["bulk_jobs", ID, "job_data"], "bulk", |s, c, i| {
        bulk::upload(s, c, i[0])
    }),
    route(GET, &["bulk_jobs", ID, "job_data"], "bulk", |s, c, i| {
        bulk::list_data(s, c, i[0], false)
    }),
    route(GET, &["bulk_jobs", ID, "results"], "bulk", |s, c, i| {
        bulk::list_data(s, c, i[0], true)
    }),
    // Webhook subscriptions: their own table beside the outbox, not paged.
    route(
        GET,
        &["webhook_subscriptions"],
        "webhook_subscriptions",
        |s, c, _| webhook_subscriptions::list(s, c),
    ),
    route(
        POST,
        &["webhook_subscriptions"],
        "webhook_subscriptions",
        |s, c, _| webhook_subscriptions::create(s, c),
    ),
    route(
        GET,
        &["webhook_subscriptions", ID],
        "webhook_subscriptions",
        |s, _, i| webhook_subscriptions::get(s, i[0]),
    ),
    route(
        PUT,
        &["webhook_subscriptions", ID],
        "webhook_subscriptions",
        |s, c, i| webhook_subscriptions::update(s, c, i[0]),
    ),
    route(
        DELETE,
        &["webhook_subscriptions", ID],
        "webhook_subscriptions",
        |s, _, i| webhook_subscriptions::delete(s, i[0]),
    ),
];

/// The table's answer to `call`, or `None` when no entry matches.
pub fn answer(store: &mut Store, call: &Call) -> Option<Result<Reply, ApiError>> {
    ROUTES.iter().find_map(|route| {
        let ids = route.matches(call.method, &call.segments)?;
        Some((route.answer)(store, call, &ids))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether some path matches both patterns (`{id}` matches any one segment).
    fn overlap(a: &[&str], b: &[&str]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || *x == ID || *y == ID)
    }

    #[test]
    fn no_two_routes_answer_one_call() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    a.method != b.method || !overlap(a.path, b.path),
                    "{} /v2/{} is answered by both `{}` and `{}`",
                    a.method,
                    a.path.join("/"),
                    a.owner,
                    b.owner
                );
            }
        }
    }

    #[test]
    fn a_route_matches_its_own_method_and_shape_only() {
        let person = &ROUTES
            .iter()
            .find(|r| r.method == PUT && r.path == ["people", ID])
            .expect("PUT people/{id} is in the table");
        assert_eq!(person.matches(&PUT, &["people", "7"]), Some(vec!["7"]));
        assert_eq!(person.matches(&GET, &["people", "7"]), None);
        assert_eq!(person.matches(&PUT, &["people"]), None);
        assert_eq!(person.matches(&PUT, &["accounts", "7"]), None);
    }

    #[test]
    fn every_route_is_one_the_document_declares() {
        let doc: serde_json::Value =
            serde_json::from_str(salesloft_openapi::SPEC).expect("the spec is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for route in ROUTES {
            let declared = paths.iter().any(|(path, item)| {
                let segments: Vec<&str> = path
                    .trim_start_matches("/v2/")
                    .trim_end_matches(".json")
                    .split('/')
                    .map(|s| if s.starts_with('{') { ID } else { s })
                    .collect();
                segments == route.path && item.get(route.method.as_str().to_lowercase()).is_some()
            });
            assert!(
                declared,
                "{} /v2/{} (`{}`) is not in the document",
                route.method,
                route.path.join("/"),
                route.owner
            );
        }
    }
}
