//! One team's state: records, OAuth grants, its rate-limit budget, pending faults, webhook
//! outbox and request log. Every team's store sits behind one lock (`teams`).

use crate::config::Config;
use crate::faults::Fault;
use crate::generic::table::{EMPTY, Table};
use crate::outbox::Outbox;
use crate::request_log::{LoggedRequest, RequestLog};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// The first team: the one every call without `?team=` (and every existing test) works with.
pub const TEAM_ID: i64 = 1;
/// The first team's admin user.
pub const USER_ID: i64 = 1;

/// Record ids are unique across teams, as on the service: team `n`'s records take their ids
/// from the `n`th block of this many (the first team's start at 1, as they always have).
pub const IDS_PER_TEAM: i64 = 1_000_000_000;

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
    /// The team this store is (`/v2/team`'s id).
    pub(crate) team_id: i64,
    /// The id just before this team's first record (see [`IDS_PER_TEAM`]).
    pub(crate) id_base: i64,
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
    /// The team's cost spent in the current minute: (minute number, spent).
    pub(crate) budget: (i64, u32),
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) latency: std::time::Duration,
    pub(crate) log: RequestLog,
    /// The scopes the next authorizations grant (tests narrow it to provoke 403s).
    pub(crate) granted_scope: String,
    /// Webhook subscriptions and the deliveries on their way.
    pub(crate) outbox: Outbox,
}

impl Store {
    /// The first team's store.
    pub fn new(config: Config, base_url: String) -> Self {
        Self::for_team(TEAM_ID, config, base_url)
    }

    /// An empty store of team `team_id` (1, 2, ...), its ids in the team's block.
    pub fn for_team(team_id: i64, config: Config, base_url: String) -> Self {
        let id_base = (team_id - 1).saturating_mul(IDS_PER_TEAM);
        let table = || Table::starting_after(id_base);
        Self {
            team_id,
            id_base,
            base_url,
            users: table(),
            team: Value::Null,
            people: table(),
            accounts: table(),
            cadences: table(),
            memberships: table(),
            tables: HashMap::new(),
            bulk_data: table(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            next_family: 0,
            budget: (0, 0),
            faults: VecDeque::new(),
            latency: std::time::Duration::ZERO,
            log: RequestLog::new(config_log_limits(&config)),
            granted_scope: crate::config::SCOPE.to_string(),
            outbox: Outbox::starting_after(id_base),
            config,
        }
    }

    /// The team's first user, who authorizes and owns what the sandbox seeds.
    pub fn admin_user_id(&self) -> i64 {
        self.id_base + 1
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
            other if known(other) => {
                let base = self.id_base;
                self.tables
                    .entry(other.to_string())
                    .or_insert_with(|| Table::starting_after(base))
            }
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
