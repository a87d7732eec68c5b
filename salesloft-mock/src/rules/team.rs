//! A team as it starts: the authorizing user, the team, three cadences (one a team cadence),
//! three accounts and three people. The first team is "Sandbox Team" of Sandy Sandbox; the
//! ones `POST /__admin/teams` adds are numbered, each with an admin of its own.

use super::accounts::account_fields;
use super::cadences::cadence_fields;
use super::people::person_fields;
use crate::config::Config;
use crate::generic::table::timestamp;
use crate::store::{Store, TEAM_ID};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// A store holding the first team as it starts.
pub fn seeded_store(config: Config, base_url: String, now: DateTime<Utc>) -> Store {
    seeded_team(TEAM_ID, config, base_url, now)
}

/// A store holding team `team_id` as it starts.
pub fn seeded_team(team_id: i64, config: Config, base_url: String, now: DateTime<Utc>) -> Store {
    let mut store = Store::for_team(team_id, config, base_url);
    seed_team(&mut store, now);
    store
}

/// The admin's name, email and the team's name.
fn names(team_id: i64) -> (String, String, String, String) {
    if team_id == TEAM_ID {
        return (
            "Sandy".into(),
            "Sandbox".into(),
            "sandy@example.com".into(),
            "Sandbox Team".into(),
        );
    }
    (
        "Admin".into(),
        format!("Team{team_id}"),
        format!("admin@team{team_id}.sandbox.example"),
        format!("Sandbox Team {team_id}"),
    )
}

/// The authorizing user, a team, three cadences (one a team cadence), accounts and people.
pub fn seed_team(store: &mut Store, now: DateTime<Utc>) {
    let created = now - Duration::days(30);
    let base = store.base_url.clone();
    let (team_id, user_id, id_base) = (store.team_id, store.admin_user_id(), store.id_base);
    let (first, last, email, team_name) = names(team_id);
    let team = json!({"_href": format!("{base}/v2/team"), "id": team_id});
    let fields = |v: Value| v.as_object().cloned().expect("seed fields are objects");
    store.users.insert(
        created,
        fields(json!({
            "guid": format!("6a8f3bd6-sand-box0-user-{user_id:012}"), "name": format!("{first} {last}"),
            "first_name": first, "last_name": last, "email": email,
            "job_role": "Sales", "active": true, "time_zone": "US/Eastern", "team": team,
            "role": {"id": "Admin"}, "slack_username": null, "twitter_handle": null,
        })),
    );
    store.team = json!({
        "id": team_id, "name": team_name, "license_limit": 10, "plan": "sandbox",
        "time_zone": "US/Eastern", "created_at": timestamp(created), "updated_at": timestamp(created),
    });
    let owner = json!({"_href": format!("{base}/v2/users/{user_id}"), "id": user_id});
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
        let account = store
            .accounts
            .embedded(&base, "accounts", id_base + account);
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
