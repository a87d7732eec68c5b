//! All the sandbox's state, behind one lock: records, OAuth grants, rate-limit budgets,
//! pending faults and the request log.

use crate::config::Config;
use crate::faults::Fault;
use crate::generic::table::{EMPTY, Table, timestamp};
use crate::outbox::Outbox;
use crate::request_log::{LoggedRequest, RequestLog};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};

pub const TEAM_ID: i64 = 1;
pub const USER_ID: i64 = 1;

#[derive(Debug)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    /// The authorization its first use started, revoked if the code comes again.
    pub family: Option<u64>,
    pub code_challenge: Option<String>,
}

#[derive(Debug)]
pub struct AccessToken {
    pub user_id: i64,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    /// Space-separated scopes, like `people:read people:write`.
    pub scope: String,
    /// The authorization it belongs to (none for client credentials).
    pub family: Option<u64>,
}

#[derive(Debug)]
pub struct RefreshToken {
    /// Tokens of one authorization share a family: a refresh revokes every earlier member.
    pub family: u64,
    pub user_id: i64,
    pub scope: String,
    pub revoked: bool,
}

/// Everything the sandbox knows. Only the crate reaches into it: tests and other languages
/// seed and inspect it through the calls of `Shared` (in `state`, above): the handle and `/__admin`.
#[derive(Debug)]
pub struct Store {
    pub(crate) config: Config,
    pub(crate) base_url: String,
    pub(crate) users: Table,
    pub(crate) team: Value,
    pub(crate) people: Table,
    pub(crate) accounts: Table,
    pub(crate) cadences: Table,
    pub(crate) memberships: Table,
    /// The tables of every other list resource of the spec, by name (`notes`,
    /// `activities/calls`), made on first write.
    pub(crate) tables: HashMap<String, Table>,
    /// The records uploaded to bulk jobs, each with its job, status and result (`bulk`).
    pub(crate) bulk_data: Table,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) refresh_tokens: HashMap<String, RefreshToken>,
    pub(crate) next_family: u64,
    /// Cost spent per team in the current minute: (minute number, spent).
    pub(crate) budgets: HashMap<i64, (i64, u32)>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) latency: std::time::Duration,
    pub(crate) log: RequestLog,
    /// The scopes the next authorizations grant (tests narrow it to provoke 403s).
    pub(crate) granted_scope: String,
    /// Webhook subscriptions and the deliveries on their way.
    pub(crate) outbox: Outbox,
}

impl Store {
    pub fn new(config: Config, base_url: String, now: DateTime<Utc>) -> Self {
        let mut store = Self {
            base_url,
            users: Table::default(),
            team: Value::Null,
            people: Table::default(),
            accounts: Table::default(),
            cadences: Table::default(),
            memberships: Table::default(),
            tables: HashMap::new(),
            bulk_data: Table::default(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            next_family: 0,
            budgets: HashMap::new(),
            faults: VecDeque::new(),
            latency: std::time::Duration::ZERO,
            log: RequestLog::new(config_log_limits(&config)),
            granted_scope: crate::config::SCOPE.to_string(),
            outbox: Outbox::default(),
            config,
        };
        store.seed(now);
        store
    }

    /// The authorizing user, a team, three cadences (one a team cadence), accounts and people.
    fn seed(&mut self, now: DateTime<Utc>) {
        let created = now - Duration::days(30);
        let base = self.base_url.clone();
        let team = json!({"_href": format!("{base}/v2/team"), "id": TEAM_ID});
        let fields = |v: Value| v.as_object().cloned().expect("seed fields are objects");
        self.users.insert(
            created,
            fields(json!({
                "guid": "6a8f3bd6-sand-box0-user-000000000001", "name": "Sandy Sandbox",
                "first_name": "Sandy", "last_name": "Sandbox", "email": "sandy@example.com",
                "job_role": "Sales", "active": true, "time_zone": "US/Eastern", "team": team,
                "role": {"id": "Admin"}, "slack_username": null, "twitter_handle": null,
            })),
        );
        self.team = json!({
            "id": TEAM_ID, "name": "Sandbox Team", "license_limit": 10, "plan": "sandbox",
            "time_zone": "US/Eastern", "created_at": timestamp(created), "updated_at": timestamp(created),
        });
        let owner = json!({"_href": format!("{base}/v2/users/{USER_ID}"), "id": USER_ID});
        for (name, team_cadence) in [
            ("Sandbox Outreach", true),
            ("Warm Follow-up", false),
            ("Nurture", false),
        ] {
            self.cadences.insert(
                created,
                crate::rules::cadences::cadence_fields(name, team_cadence, &owner),
            );
        }
        for (name, domain) in [
            ("Example Corp", "example.com"),
            ("Acme Rockets", "acme.test"),
            ("Globex", "globex.test"),
        ] {
            self.accounts.insert(
                created,
                crate::rules::accounts::account_fields(name, domain, &owner),
            );
        }
        for (first, last, email, account) in [
            ("Grace", "Hopper", "grace@acme.test", 2),
            ("Alan", "Turing", "alan@globex.test", 3),
            ("Ada", "Lovelace", "ada@example.com", 1),
        ] {
            let account = self.accounts.embedded(&base, "accounts", account);
            let f = crate::rules::people::person_fields(first, last, email, account, &owner);
            self.people.insert(created, f);
        }
    }

    pub fn user_embedded(&self, user_id: i64) -> Value {
        self.users.embedded(&self.base_url, "users", user_id)
    }

    pub fn log_request(&mut self, entry: LoggedRequest) {
        self.log.push(entry);
    }

    /// The table of an API resource, by its path name.
    pub fn table(&self, resource: &str) -> Option<&Table> {
        Some(match resource {
            "users" => &self.users,
            "people" => &self.people,
            "accounts" => &self.accounts,
            "cadences" => &self.cadences,
            "cadence_memberships" => &self.memberships,
            "webhook_subscriptions" => &self.outbox.subscriptions,
            other => {
                return self
                    .tables
                    .get(other)
                    .or_else(|| known(other).then_some(&EMPTY));
            }
        })
    }

    pub fn table_mut(&mut self, resource: &str) -> Option<&mut Table> {
        Some(match resource {
            "users" => &mut self.users,
            "people" => &mut self.people,
            "accounts" => &mut self.accounts,
            "cadences" => &mut self.cadences,
            "cadence_memberships" => &mut self.memberships,
            "webhook_subscriptions" => &mut self.outbox.subscriptions,
            other if known(other) => self.tables.entry(other.to_string()).or_default(),
            _ => return None,
        })
    }

    pub fn clear_records(&mut self, resource: &str) {
        if let Some(table) = self.table_mut(resource) {
            table.rows.clear();
        }
        if resource == "bulk_jobs" {
            // The jobs' uploaded records go with them.
            self.bulk_data.rows.clear();
        }
    }

    /// Adds `count` people (`person<n>@sandbox.example`), `spread_micros` apart in
    /// `updated_at`, the newest at `now`. The caller has checked that the times are in range.
    pub fn seed_people(&mut self, now: DateTime<Utc>, count: usize, spread_micros: i64) {
        let owner = self.user_embedded(USER_ID);
        let start = self.people.rows.len();
        for (i, n) in (start..start + count).enumerate() {
            let email = format!("person{n}@sandbox.example");
            let fields = crate::rules::people::person_fields(
                "Person",
                &n.to_string(),
                &email,
                Value::Null,
                &owner,
            );
            let steps = (count - 1 - i) as i64;
            let at = now - Duration::microseconds(spread_micros.saturating_mul(steps));
            self.people.insert(at, fields);
        }
    }
}

/// Whether `resource` is a list resource of the spec.
fn known(resource: &str) -> bool {
    crate::generic::catalog::catalog().find(resource).is_some()
}

fn config_log_limits(config: &Config) -> crate::request_log::Limits {
    crate::request_log::Limits {
        entries: config.request_log_capacity,
        bytes: config.request_log_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_renders_as_id_fields_and_timestamps() {
        let store = Store::new(crate::Config::default(), "http://x".into(), Utc::now());
        let person = store.people.rows.values().next().unwrap();
        let mut expected = person.fields.clone();
        expected.insert("id".into(), json!(person.id));
        expected.insert("created_at".into(), json!(timestamp(person.created_at)));
        expected.insert("updated_at".into(), json!(timestamp(person.updated_at)));
        assert_eq!(person.render(), Value::Object(expected));
    }
}
