//! The sandbox's team as it starts: the authorizing user, the team, three cadences (one a
//! team cadence), three accounts and three people.

use super::accounts::account_fields;
use super::cadences::cadence_fields;
use super::people::person_fields;
use crate::config::Config;
use crate::generic::table::timestamp;
use crate::store::{Store, TEAM_ID, USER_ID};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// A store holding the team as it starts.
pub fn seeded_store(config: Config, base_url: String, now: DateTime<Utc>) -> Store {
    let mut store = Store::new(config, base_url);
    seed_team(&mut store, now);
    store
}

/// The authorizing user, a team, three cadences (one a team cadence), accounts and people.
pub fn seed_team(store: &mut Store, now: DateTime<Utc>) {
    let created = now - Duration::days(30);
    let base = store.base_url.clone();
    let team = json!({"_href": format!("{base}/v2/team"), "id": TEAM_ID});
    let fields = |v: Value| v.as_object().cloned().expect("seed fields are objects");
    store.users.insert(
        created,
        fields(json!({
            "guid": "6a8f3bd6-sand-box0-user-000000000001", "name": "Sandy Sandbox",
            "first_name": "Sandy", "last_name": "Sandbox", "email": "sandy@example.com",
            "job_role": "Sales", "active": true, "time_zone": "US/Eastern", "team": team,
            "role": {"id": "Admin"}, "slack_username": null, "twitter_handle": null,
        })),
    );
    store.team = json!({
        "id": TEAM_ID, "name": "Sandbox Team", "license_limit": 10, "plan": "sandbox",
        "time_zone": "US/Eastern", "created_at": timestamp(created), "updated_at": timestamp(created),
    });
    let owner = json!({"_href": format!("{base}/v2/users/{USER_ID}"), "id": USER_ID});
    for (name, team_cadence) in [
        ("Sandbox Outreach", true),
        ("Warm Follow-up", false),
        ("Nurture", false),
    ] {
        store
            .cadences
            .insert(created, cadence_fields(name, team_cadence, &owner));
    }
    for (name, domain) in [
        ("Example Corp", "example.com"),
        ("Acme Rockets", "acme.test"),
        ("Globex", "globex.test"),
    ] {
        store
            .accounts
            .insert(created, account_fields(name, domain, &owner));
    }
    for (first, last, email, account) in [
        ("Grace", "Hopper", "grace@acme.test", 2),
        ("Alan", "Turing", "alan@globex.test", 3),
        ("Ada", "Lovelace", "ada@example.com", 1),
    ] {
        let account = store.accounts.embedded(&base, "accounts", account);
        let f = person_fields(first, last, email, account, &owner);
        store.people.insert(created, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_renders_as_id_fields_and_timestamps() {
        let store = seeded_store(Config::default(), "http://x".into(), Utc::now());
        let person = store.people.rows.values().next().unwrap();
        let mut expected = person.fields.clone();
        expected.insert("id".into(), json!(person.id));
        expected.insert("created_at".into(), json!(timestamp(person.created_at)));
        expected.insert("updated_at".into(), json!(timestamp(person.updated_at)));
        assert_eq!(person.render(), Value::Object(expected));
    }
}
