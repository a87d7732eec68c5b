#![recursion_limit = "256"]
//! A local SalesLoft sandbox: the OAuth endpoints and the v2 API as the real service behaves
//! (as `salesloft-openapi/SERVICE.md` records it), with in-memory state, rate limits and
//! injectable faults.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config::default()).await?;
//! println!("API at {}, accounts at {}", sandbox.api_base_url(), sandbox.accounts_base_url());
//! # Ok(()) }
//! ```
//!
//! The rooms, each importing only from the rows above it:
//! 1. `config`, `clock`, `error`, `params`, `request_log`, `call` (one API call and its reply),
//!    `body_types` (a write's body checked against its request schema), and from `generic`:
//!    `table` (a record and a table of them), `catalog` (the list resources of the spec, their
//!    fields and filters), `listing` (paging and sorting);
//! 2. `outbox` (webhook subscriptions and deliveries waiting: data beside the store);
//! 3. `store` (one team's state), `teams` (every team, and whose each credential is), then
//!    `ratelimit`, `oauth`, `faults` (what an injected fault does to an answer);
//! 4. the answers: `generic` (the rule every list resource follows, and `generic::seed`:
//!    records made from a resource's schema), `rules` (a file per resource with rules of its
//!    own: fields, checks, seed hooks), `spec_routes` (the document's answer for what holds no
//!    state), and `routes` (who answers which call, one table);
//! 5. `state` (the shared store and its controls), then `webhooks` (which change sends which
//!    event, and the delivery task);
//! 6. `admin`, then `server` on top (the request pipeline: auth, budget, faults, dispatch).

mod admin;
pub mod body_types;
pub mod call;
pub mod clock;
pub mod config;
pub mod error;
pub mod faults;
pub mod generic;
pub mod oauth;
pub mod outbox;
pub mod params;
pub mod ratelimit;
pub mod request_log;
pub mod routes;
pub mod rules;
pub mod server;
pub mod spec_routes;
pub mod state;
pub mod store;
pub mod teams;
pub mod webhooks;

pub use clock::Clock;
pub use config::{Config, DEFAULT_REDIRECT_URI};
pub use faults::Fault;
pub use request_log::{AuthKind, LoggedRequest};
pub use state::AdminError;
pub use teams::NewTeam;

use serde_json::{Map, Value};
use state::Shared;
use std::sync::Arc;
use std::time::Duration;

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Starts a sandbox on 127.0.0.1 (the configured port, or a free one) in the current
    /// tokio runtime. It stops when the returned handle is dropped.
    pub async fn start(config: Config) -> std::io::Result<SandboxHandle> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let address = listener.local_addr()?;
        let base_url = format!("http://{address}");
        let clock = Clock::default();
        let store = rules::team::seeded_store(config, base_url.clone(), clock.now());
        let shared = Arc::new(Shared::new(store, clock));
        let task = tokio::spawn(server::serve(listener, shared.clone()));
        let deliveries = tokio::spawn(webhooks::deliver(shared.clone()));
        Ok(SandboxHandle {
            base_url,
            shared,
            _tasks: Arc::new(Tasks { task, deliveries }),
        })
    }
}

/// A running sandbox: its addresses and the same controls `/__admin` offers over HTTP. Clones
/// control the same sandbox; it stops when the last one is dropped.
#[derive(Clone)]
pub struct SandboxHandle {
    base_url: String,
    shared: Arc<Shared>,
    _tasks: Arc<Tasks>,
}

/// The server and delivery tasks, stopped with the last handle.
struct Tasks {
    task: tokio::task::JoinHandle<()>,
    deliveries: tokio::task::JoinHandle<()>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.task.abort();
        self.deliveries.abort();
    }
}

/// Installs the `ring` TLS provider for rustls once per process (webhook deliveries may go to
/// HTTPS callback URLs). Safe to call any number of times.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl SandboxHandle {
    /// Base URL of the v2 API (`/v2/...`).
    pub fn api_base_url(&self) -> &str {
        &self.base_url
    }

    /// Base URL of the accounts service (`/oauth/authorize`, `/oauth/token`): the same server.
    pub fn accounts_base_url(&self) -> &str {
        &self.base_url
    }

    pub fn config(&self) -> Config {
        self.shared.store().config.clone()
    }

    /// The first API key the sandbox accepts.
    pub fn api_key(&self) -> String {
        self.shared
            .store()
            .config
            .api_keys
            .first()
            .cloned()
            .unwrap_or_default()
    }

    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Adds `count` teams (`POST /__admin/teams`), each with an API key and an admin user.
    pub fn add_teams(&self, count: usize) -> Result<Vec<NewTeam>, AdminError> {
        self.shared.add_teams(count)
    }

    /// Team `id`'s controls: the same calls as on this handle, which acts on the first team.
    pub fn team(&self, id: i64) -> Option<TeamHandle<'_>> {
        self.shared.team(id).ok()?;
        Some(TeamHandle {
            shared: &self.shared,
            team: id,
        })
    }

    fn first(&self) -> TeamHandle<'_> {
        TeamHandle {
            shared: &self.shared,
            team: store::TEAM_ID,
        }
    }

    /// The names of the list resources (`notes`, `activities/calls`, ...), each seedable.
    pub fn resources(&self) -> Vec<String> {
        generic::catalog::catalog()
            .resources
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    /// The next `count` API responses are spoiled by `fault` (`/__admin/faults`).
    pub fn inject(&self, fault: Fault, count: usize) -> Result<(), AdminError> {
        self.first().inject(fault, count)
    }

    /// Delay every API response by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.first().set_latency(latency);
    }

    /// How long a bulk job executes once marked ready, on the sandbox's clock (0, the
    /// default: it is done by the next time anyone looks).
    pub fn set_bulk_job_seconds(&self, seconds: i64) {
        self.first().set_bulk_job_seconds(seconds);
    }

    /// Every access token issued so far expires now (refresh tokens stay valid).
    pub fn expire_all_tokens(&self) {
        self.first().expire_all_tokens();
    }

    /// Whether `/oauth/authorize` approves (true) or denies with `access_denied`.
    pub fn set_approve(&self, approve: bool) {
        self.first().set_approve(approve);
    }

    pub fn set_rate_limit(&self, per_minute: u32) {
        self.first().set_rate_limit(per_minute);
    }

    /// The scopes the next authorizations grant.
    pub fn set_granted_scope(&self, scope: &str) {
        self.first().set_granted_scope(scope);
    }

    /// Every request received (API and OAuth), oldest first, secrets redacted.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.first().requests()
    }

    pub fn clear_requests(&self) {
        self.first().clear_requests();
    }

    /// Adds `count` people (`person<n>@sandbox.example`), all updated now.
    pub fn seed_people(&self, count: usize) -> Result<(), AdminError> {
        self.first().seed_people(count)
    }

    /// Adds `count` records of `resource` made from its schema (`POST /__admin/seed/{resource}`):
    /// `resource` is the list's path after `/v2/` (`notes`, `activities/calls`), `updated_at`
    /// `spread_micros` apart (the newest now), the same `seed` giving the same records.
    pub fn seed(
        &self,
        resource: &str,
        count: usize,
        spread_micros: i64,
        seed: u64,
    ) -> Result<(), AdminError> {
        self.first().seed(resource, count, spread_micros, seed)
    }

    /// Removes every person (`/__admin/seed_people` with `replace`).
    pub fn remove_people(&self) {
        self.first().remove_people();
    }

    /// One record as the API shows it (`GET /__admin/records/{resource}/{id}`); `resource` is
    /// a list resource's path after `/v2/` (`people`, `notes`, `activities/calls`).
    pub fn record(&self, resource: &str, id: impl ToString) -> Option<Value> {
        self.first().record(resource, id)
    }

    /// Every record of `resource` (`GET /__admin/records/{resource}`).
    pub fn records(&self, resource: &str) -> Vec<Value> {
        self.first().records(resource)
    }

    /// Removes every record of `resource` (`DELETE /__admin/records/{resource}`).
    pub fn clear_records(&self, resource: &str) -> Result<(), AdminError> {
        self.first().clear_records(resource)
    }

    /// Every webhook delivery attempt so far (`GET /__admin/webhook_deliveries`).
    pub fn webhook_deliveries(&self) -> Vec<webhooks::DeliveryAttempt> {
        self.first().webhook_deliveries()
    }

    /// Deliveries still to be attempted (waiting for their retry time, or being sent).
    pub fn webhooks_pending(&self) -> usize {
        self.first().webhooks_pending()
    }

    /// The next `count` delivery attempts are spoiled by `fault` (`/__admin/webhook_faults`).
    pub fn inject_webhook_fault(
        &self,
        fault: webhooks::WebhookFault,
        count: usize,
    ) -> Result<(), AdminError> {
        self.first().inject_webhook_fault(fault, count)
    }

    /// Sets fields on a record as given and moves its `updated_at` to now, unless `fields`
    /// has `"keep_updated_at": true` (`PATCH /__admin/records/{resource}/{id}`); false when
    /// it does not exist.
    pub fn patch_record(
        &self,
        resource: &str,
        id: impl ToString,
        fields: Map<String, Value>,
    ) -> Result<bool, AdminError> {
        self.first().patch_record(resource, id, fields)
    }
}

/// One team's controls (`?team=ID` on `/__admin`); from [`SandboxHandle::team`].
#[derive(Clone, Copy)]
pub struct TeamHandle<'a> {
    shared: &'a Shared,
    team: i64,
}

impl TeamHandle<'_> {
    /// The team's id (`/v2/team`).
    pub fn id(&self) -> i64 {
        self.team
    }

    /// The team's store: the team exists (teams are never removed).
    fn store(&self) -> teams::TeamStore<'_> {
        self.shared
            .team(self.team)
            .unwrap_or_else(|_| self.shared.store())
    }

    /// An API key that acts as the team's admin user.
    pub fn api_key(&self) -> String {
        self.store()
            .config
            .api_keys
            .first()
            .cloned()
            .unwrap_or_default()
    }

    /// Revokes every OAuth token of the team (`POST /__admin/teams/{id}/revoke`).
    pub fn revoke(&self) {
        let _ = self.shared.revoke_team(self.team);
    }

    /// The next `count` API responses to this team are spoiled by `fault`.
    pub fn inject(&self, fault: Fault, count: usize) -> Result<(), AdminError> {
        self.shared.inject(self.team, fault, count)
    }

    /// Delay every API response to this team by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.store().latency = latency;
    }

    /// How long the team's bulk jobs execute once marked ready, on the sandbox's clock.
    pub fn set_bulk_job_seconds(&self, seconds: i64) {
        self.store().config.bulk_job_seconds = seconds.max(0);
    }

    /// Every access token of the team issued so far expires now (refresh tokens stay valid).
    pub fn expire_all_tokens(&self) {
        let _ = self.shared.expire_tokens(self.team);
    }

    /// Whether `/oauth/authorize?team=` approves (true) or denies with `access_denied`.
    pub fn set_approve(&self, approve: bool) {
        self.store().config.approve = approve;
    }

    pub fn set_rate_limit(&self, per_minute: u32) {
        self.store().config.rate_limit_per_minute = per_minute;
    }

    /// The scopes the team's next authorizations grant.
    pub fn set_granted_scope(&self, scope: &str) {
        self.store().granted_scope = scope.to_string();
    }

    /// Every request the team received, oldest first, secrets redacted.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.requests(self.team).unwrap_or_default()
    }

    pub fn clear_requests(&self) {
        let _ = self.shared.clear_requests(self.team);
    }

    /// Adds `count` people (`person<n>@sandbox.example`), all updated now.
    pub fn seed_people(&self, count: usize) -> Result<(), AdminError> {
        self.shared.seed_people(self.team, count, 0)
    }

    /// Adds `count` records of `resource` made from its schema, `updated_at` `spread_micros`
    /// apart (the newest now), the same `seed` giving the same records.
    pub fn seed(
        &self,
        resource: &str,
        count: usize,
        spread_micros: i64,
        seed: u64,
    ) -> Result<(), AdminError> {
        let request = generic::seed::SeedRequest {
            count,
            spread_micros,
            seed,
        };
        self.shared.seed(self.team, resource, request)
    }

    /// Removes every person.
    pub fn remove_people(&self) {
        let _ = self.shared.remove_people(self.team);
    }

    /// One record as the API shows it.
    pub fn record(&self, resource: &str, id: impl ToString) -> Option<Value> {
        self.shared
            .record(self.team, resource, &id.to_string())
            .ok()
            .flatten()
    }

    /// Every record of `resource`.
    pub fn records(&self, resource: &str) -> Vec<Value> {
        self.shared.records(self.team, resource).unwrap_or_default()
    }

    /// Removes every record of `resource`.
    pub fn clear_records(&self, resource: &str) -> Result<(), AdminError> {
        self.shared.clear_records(self.team, resource)
    }

    /// Every webhook delivery attempt of the team so far.
    pub fn webhook_deliveries(&self) -> Vec<webhooks::DeliveryAttempt> {
        self.store().outbox.log()
    }

    /// The team's deliveries still to be attempted.
    pub fn webhooks_pending(&self) -> usize {
        self.store().outbox.pending()
    }

    /// The team's next `count` delivery attempts are spoiled by `fault`.
    pub fn inject_webhook_fault(
        &self,
        fault: webhooks::WebhookFault,
        count: usize,
    ) -> Result<(), AdminError> {
        self.shared.inject_webhook_fault(self.team, fault, count)
    }

    /// Sets fields on a record as given and moves its `updated_at` to now, unless `fields`
    /// has `"keep_updated_at": true`; false when it does not exist.
    pub fn patch_record(
        &self,
        resource: &str,
        id: impl ToString,
        fields: Map<String, Value>,
    ) -> Result<bool, AdminError> {
        self.shared
            .patch_record(self.team, resource, &id.to_string(), fields)
    }
}
