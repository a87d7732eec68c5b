#![recursion_limit = "256"]
//! A local SalesLoft sandbox: the OAuth endpoints and the v2 API as the real service behaves
//! (see `shared/salesloft/FACTS.md`), with in-memory state, rate limits and injectable faults.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config::default()).await?;
//! println!("API at {}, accounts at {}", sandbox.api_base_url(), sandbox.accounts_base_url());
//! # Ok(()) }
//! ```

mod admin;
pub mod clock;
pub mod config;
pub mod errors;
pub mod listing;
pub mod oauth;
pub mod params;
pub mod ratelimit;
pub mod resources;
pub mod server;
pub mod spec_routes;
pub mod store;

pub use clock::Clock;
pub use config::{Config, DEFAULT_REDIRECT_URI};
pub use store::{AuthKind, Fault, LoggedRequest, Store};

use server::Shared;
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
        let shared = Arc::new(Shared {
            store: std::sync::Mutex::new(Store::new(config, base_url.clone(), clock.now())),
            clock,
            routes: spec_routes::SpecRoutes::from_spec(salesloft_openapi::SPEC),
        });
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            // An accept error ends the server; the handle's users see connection errors.
            let _ = axum::serve(listener, app).await;
        });
        Ok(SandboxHandle {
            base_url,
            shared,
            task,
        })
    }
}

/// A running sandbox: its addresses, its admin calls, and a look into its state.
pub struct SandboxHandle {
    base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
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

    /// The next `count` API responses are spoiled by `fault`.
    pub fn inject(&self, fault: Fault, count: usize) {
        inject(&self.shared, fault, count);
    }

    /// Delay every API response by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.store().latency = latency;
    }

    /// Every access token issued so far expires now (refresh tokens stay valid).
    pub fn expire_all_tokens(&self) {
        expire_tokens(&self.shared);
    }

    /// Whether `/oauth/authorize` approves (true) or denies with `access_denied`.
    pub fn set_approve(&self, approve: bool) {
        self.shared.store().config.approve = approve;
    }

    pub fn set_rate_limit(&self, per_minute: u32) {
        self.shared.store().config.rate_limit_per_minute = per_minute;
    }

    /// The scopes the next authorizations grant.
    pub fn set_granted_scope(&self, scope: &str) {
        self.shared.store().granted_scope = scope.to_string();
    }

    /// Every request received (API and OAuth), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.store().log.iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.shared.store().log.clear();
    }

    /// Adds `count` people (`person<n>@sandbox.example`), all updated now.
    pub fn seed_people(&self, count: usize) {
        seed_people_spread(&self.shared, count, 0);
    }

    /// Reads the state, for assertions.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.shared.store())
    }
}

pub(crate) fn inject(shared: &Shared, fault: Fault, count: usize) {
    shared
        .store()
        .faults
        .extend(std::iter::repeat_n(fault, count));
}

pub(crate) fn expire_tokens(shared: &Shared) {
    let now = shared.clock.now();
    for token in shared.store().access_tokens.values_mut() {
        token.expires_at = token.expires_at.min(now);
    }
}

/// Adds `count` people; with `spread_micros`, each has its own `updated_at`, that far apart,
/// the newest now.
pub(crate) fn seed_people_spread(shared: &Shared, count: usize, spread_micros: i64) {
    let now = shared.clock.now();
    let mut store = shared.store();
    let owner = store.user_embedded(store::USER_ID);
    let start = store.people.rows.len();
    for (i, n) in (start..start + count).enumerate() {
        let email = format!("person{n}@sandbox.example");
        let fields = store::person_fields(
            "Person",
            &n.to_string(),
            &email,
            serde_json::Value::Null,
            &owner,
        );
        let at = now - chrono::Duration::microseconds(spread_micros * (count - 1 - i) as i64);
        store.people.insert(at, fields);
    }
}
