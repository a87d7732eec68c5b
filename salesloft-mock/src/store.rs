//! All the sandbox's state, behind one lock: records, OAuth grants, rate-limit budgets,
//! pending faults and the request log.

use crate::config::Config;
use crate::outbox::Outbox;
use crate::request_log::{LoggedRequest, RequestLog};
use crate::table::{EMPTY, Table, timestamp};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
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

/// What a pending fault does to the next API response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// Answer with this status (500, 502, 503, 429, ...) and the service's body, before doing anything.
    Status { status: u16 },
    /// Do the work, then close the connection in the middle of the response body.
    DropConnection,
    /// Do the work, then send a JSON body cut short.
    TruncatedBody,
    /// Do the work, then send a body that is not JSON.
    MalformedBody,
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
            self.cadences
                .insert(created, cadence_fields(name, team_cadence, &owner));
        }
        for (name, domain) in [
            ("Example Corp", "example.com"),
            ("Acme Rockets", "acme.test"),
            ("Globex", "globex.test"),
        ] {
            self.accounts
                .insert(created, account_fields(name, domain, &owner));
        }
        for (first, last, email, account) in [
            ("Grace", "Hopper", "grace@acme.test", 2),
            ("Alan", "Turing", "alan@globex.test", 3),
            ("Ada", "Lovelace", "ada@example.com", 1),
        ] {
            let account = self.accounts.embedded(&base, "accounts", account);
            let f = person_fields(first, last, email, account, &owner);
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
            let fields = person_fields("Person", &n.to_string(), &email, Value::Null, &owner);
            let steps = (count - 1 - i) as i64;
            let at = now - Duration::microseconds(spread_micros.saturating_mul(steps));
            self.people.insert(at, fields);
        }
    }
}

/// Whether `resource` is a list resource of the spec.
fn known(resource: &str) -> bool {
    crate::catalog::catalog().find(resource).is_some()
}

fn config_log_limits(config: &Config) -> crate::request_log::Limits {
    crate::request_log::Limits {
        entries: config.request_log_capacity,
        bytes: config.request_log_bytes,
    }
}

/// The fields of a new cadence with SalesLoft's defaults.
pub fn cadence_fields(name: &str, team_cadence: bool, owner: &Value) -> Map<String, Value> {
    let v = json!({
        "name": name, "team_cadence": team_cadence, "shared": team_cadence, "archived_at": null,
        "remove_bounces_enabled": true, "remove_replies_enabled": true, "opt_out_link_included": true,
        "draft": false, "cadence_framework_id": null, "cadence_function": "outbound",
        "external_identifier": null, "tags": [], "creator": owner, "owner": owner,
        "bounced_stage": null, "replied_stage": null, "added_stage": null, "finished_stage": null,
        "counts": {"cadence_people": 0, "people_acted_on_count": 0, "target_daily_people": 0},
    });
    v.as_object().cloned().expect("object")
}

/// The fields of a new account with SalesLoft's defaults.
pub fn account_fields(name: &str, domain: &str, owner: &Value) -> Map<String, Value> {
    let v = json!({
        "name": name, "domain": domain, "conversational_name": name, "description": null,
        "phone": null, "website": format!("https://{domain}"), "linkedin_url": null, "twitter_handle": null,
        "street": null, "city": null, "state": null, "postal_code": null, "country": null, "locale": null,
        "industry": null, "company_type": null, "founded": null, "revenue_range": null, "size": null,
        "crm_id": null, "crm_url": null, "crm_object_type": "account", "owner_crm_id": null,
        "last_contacted_at": null, "last_contacted_type": null, "do_not_contact": false,
        "archived_at": null, "custom_fields": {}, "tags": [], "user_relationships": [],
        "counts": {"people": 0}, "owner": owner, "creator": owner, "last_contacted_by": null,
        "last_contacted_person": null, "company_stage": null, "account_tier": null,
    });
    v.as_object().cloned().expect("object")
}

/// The fields of a new person with SalesLoft's defaults.
pub fn person_fields(
    first: &str,
    last: &str,
    email: &str,
    account: Value,
    owner: &Value,
) -> Map<String, Value> {
    let v = json!({
        "first_name": first, "last_name": last, "display_name": format!("{first} {last}"),
        "email_address": email, "secondary_email_address": null, "personal_email_address": null,
        "phone": null, "phone_extension": null, "mobile_phone": null, "home_phone": null,
        "linkedin_url": null, "title": null, "city": null, "state": null, "country": null,
        "work_city": null, "work_state": null, "work_country": null, "crm_url": null, "crm_id": null,
        "crm_object_type": null, "owner_crm_id": null, "person_company_name": null,
        "person_company_website": null, "person_company_industry": null, "do_not_contact": false,
        "bouncing": false, "locale": null, "personal_website": null, "twitter_handle": null,
        "last_contacted_at": null, "last_contacted_type": null, "last_replied_at": null,
        "last_contacted_by": null, "job_seniority": null, "tags": [], "contact_restrictions": [],
        "custom_fields": {}, "eu_resident": false, "success_count": 0, "account": account,
        "owner": owner, "created_by_user": owner, "import": null, "person_stage": null,
        "most_recent_cadence": null, "last_completed_step_cadence": null, "last_completed_step": null,
        "counts": {"emails_sent": 0, "emails_viewed": 0, "emails_clicked": 0, "emails_replied_to": 0,
                   "emails_bounced": 0, "calls": 0},
        "account_crm_id": null, "cadences": [],
    });
    v.as_object().cloned().expect("object")
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
