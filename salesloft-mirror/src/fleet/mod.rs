//! Many teams mirrored by workers on any number of machines that share one PostgreSQL database
//! and coordinate only through it (feature `fleet`).
//!
//! Each active connection of the connections store (`salesloft_auth::connections`) is a team
//! to mirror, into a schema of its own (`team_<id>`) with the one-team mirror's tables. A worker
//! claims a due team ([`lease`]: `FOR UPDATE SKIP LOCKED`, a lease with an expiry and a fence
//! token), renews the lease while the run lasts, and runs the one-team mirror run on it, every
//! page commit proving the lease ([`crate::db::Fence`]); a killed worker's teams are taken
//! over when their leases run out. A team whose connection needs connecting again is not
//! claimed; [`status`] reports it.
//!
//! ```no_run
//! # async fn f(app: salesloft_auth::OAuthApp) -> Result<(), salesloft_mirror::fleet::FleetError> {
//! use salesloft_auth::connections::Encryption;
//! use salesloft_mirror::fleet::{Fleet, FleetOptions};
//! let fleet = Fleet::connect(
//!     "postgres://localhost/app",
//!     Encryption::from_env(false)?,
//!     app,
//!     FleetOptions::default(),
//! )
//! .await?;
//! fleet.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod hooks;
pub mod lease;
mod metrics;
mod status;

pub use hooks::{callback_url, subscribed_at, unsubscribe};
pub use lease::{Claim, FLEET_SCHEMA_VERSION, RunOutcome};
pub use status::{TeamStatus, status};

use crate::db::Fence;
use crate::schema::Table;
use crate::{Mirror, MirrorError};
use salesloft_api::text::printable_bounded;
use salesloft_auth::OAuthApp;
use salesloft_auth::connections::{Encryption, PgConnections};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What can stop a fleet worker, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("the fleet shares a PostgreSQL database: give a postgres:// URL (got {0})")]
    NotPostgres(String),
    #[error("the fleet's database failed: {0}; check that it is reachable and is PostgreSQL")]
    Database(String),
    #[error(
        "the fleet's tables are at schema version {found}, newer than this program's {supported}: upgrade this worker (every worker of a fleet runs one version)"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error(transparent)]
    Connections(#[from] salesloft_auth::connections::ConnectionError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(transparent)]
    Auth(#[from] salesloft_auth::AuthError),
}

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// Teams mirrored at once by this worker (and one more, taken over from a worker that
    /// died, so that a run cut short goes on without waiting for a slot).
    pub concurrency: usize,
    /// How long after a run a team is due again.
    pub interval: Duration,
    /// How long a claim holds without renewal: a killed worker's teams wait this long before
    /// another worker takes them over.
    pub lease: Duration,
    /// How often an idle worker looks for due teams.
    pub poll: Duration,
    /// Stop once no team is due (every team mirrored since it became due, by this worker or
    /// another), instead of serving forever.
    pub once: bool,
    /// The share (0 to 1) of each team's budget this fleet uses.
    pub budget_share: f64,
    /// Where SalesLoft reaches this fleet's receiver ([`Fleet::router`]'s `/hooks`, as
    /// `https://fleet.example.com/hooks`): each team is subscribed at `<hooks_url>/<team>` when
    /// first mirrored. `None`: no subscriptions, polling alone.
    pub hooks_url: Option<String>,
    /// A delivery makes its team due within this (a burst of deliveries is one run).
    pub after_webhook: Duration,
    /// How often a team's incremental resources are read whole, to find records deleted
    /// without a delivery that reached the fleet (a run reads only what changed).
    pub reconcile_every: Duration,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            interval: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            once: false,
            budget_share: 1.0,
            hooks_url: None,
            after_webhook: Duration::from_secs(60),
            reconcile_every: Duration::from_secs(24 * 3600),
        }
    }
}

/// What a worker did until it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FleetReport {
    pub runs: u64,
    pub good_runs: u64,
    pub takeovers: u64,
    pub requests: u64,
}

/// What this worker counted since it started (the fleet's figures are in the database).
#[derive(Debug, Default)]
struct Counters {
    runs: AtomicU64,
    good_runs: AtomicU64,
    takeovers: AtomicU64,
    deliveries_applied: AtomicU64,
    deliveries_refused: AtomicU64,
}

/// A fleet worker.
#[derive(Clone, Debug)]
pub struct Fleet {
    url: String,
    pool: PgPool,
    /// Webhook deliveries, each transaction scoped to its team's schema.
    deliveries: AnyPool,
    connections: PgConnections,
    app: OAuthApp,
    owner: String,
    options: FleetOptions,
    tables: Arc<Vec<Table>>,
    counters: Arc<Counters>,
}

fn database(error: sqlx::Error) -> FleetError {
    FleetError::Database(printable_bounded(&error.to_string(), 512))
}

/// This worker's name in the leases: machine, process, and a random part (a process started
/// again is another owner).
fn owner_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| printable_bounded(h.trim(), 64))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

impl Fleet {
    /// Connects to the shared database (the connections store and the fleet's tables, both
    /// brought to this program's schema; a newer one is refused), and refuses keys that open
    /// none of the stored tokens.
    pub async fn connect(
        url: &str,
        encryption: Encryption,
        app: OAuthApp,
        options: FleetOptions,
    ) -> Result<Self, FleetError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(FleetError::NotPostgres(printable_bounded(url, 100)));
        }
        let connections = PgConnections::connect(url, encryption, 2).await?;
        connections.check_key().await?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(database)?;
        lease::migrate(&pool).await?;
        sqlx::any::install_default_drivers();
        let deliveries = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy(url)
            .map_err(database)?;
        Ok(Self {
            url: url.to_string(),
            pool,
            deliveries,
            connections,
            app,
            owner: owner_name(),
            options: FleetOptions {
                concurrency: options.concurrency.max(1),
                ..options
            },
            tables: Arc::new(crate::schema::tables(salesloft_openapi::SPEC)),
            counters: Arc::default(),
        })
    }

    /// This worker's name in the leases.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims and mirrors due teams, `concurrency` at a time, until `stop` completes (or, with
    /// `once`, until no team is due). Runs under way when it stops are abandoned: their pages
    /// are committed, and their leases run out for another worker to go on.
    pub async fn run(
        &self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<FleetReport, FleetError> {
        let mut running = tokio::task::JoinSet::new();
        let mut report = FleetReport::default();
        tokio::pin!(stop);
        loop {
            lease::enlist(&self.pool).await?;
            // A run cut short by another worker's death goes on at once: with every slot
            // busy, one more slot is for it.
            while running.len() <= self.options.concurrency {
                let Some(claim) = lease::claim_where(
                    &self.pool,
                    &self.owner,
                    self.options.lease,
                    self.options.reconcile_every,
                    running.len() == self.options.concurrency,
                )
                .await?
                else {
                    break;
                };
                if let Some(previous) = &claim.taken_from {
                    report.takeovers += 1;
                    self.counters.takeovers.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(team = claim.fence.team, previous = %previous, "took a team over");
                }
                let worker = self.clone();
                running.spawn(async move { worker.run_team(claim).await });
            }
            // Teams held by another worker are due until its run ends, or until its lease
            // runs out and this worker takes them over.
            if self.options.once && running.is_empty() && lease::due(&self.pool).await? == 0 {
                break;
            }
            tokio::select! {
                _ = &mut stop => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(outcome) = done {
                        report.runs += 1;
                        report.good_runs += u64::from(outcome.ok);
                        report.requests += outcome.requests;
                        self.counters.runs.fetch_add(1, Ordering::Relaxed);
                        self.counters.good_runs.fetch_add(u64::from(outcome.ok), Ordering::Relaxed);
                    }
                }
                _ = tokio::time::sleep(self.options.poll) => {}
            }
        }
        running.abort_all();
        Ok(report)
    }

    /// One team's run under its lease: renewed meanwhile, released with the outcome.
    async fn run_team(&self, claim: Claim) -> RunOutcome {
        let fence = claim.fence;
        let started = Instant::now();
        let renewer = {
            let (pool, fence, lease) = (self.pool.clone(), fence.clone(), self.options.lease);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if !matches!(lease::renew(&pool, &fence, lease).await, Ok(true)) {
                        break;
                    }
                }
            })
        };
        let result = self.mirror_team(&fence, claim.reconcile).await;
        renewer.abort();
        let mut outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => RunOutcome {
                error: Some(printable_bounded(&error.to_string(), 1000)),
                ..RunOutcome::default()
            },
        };
        outcome.seconds = started.elapsed().as_secs_f64();
        if let Some(error) = &outcome.error {
            tracing::warn!(team = fence.team, error = %error, "a team's run did not finish");
        }
        let _ = lease::release(&self.pool, &fence, &outcome, self.options.interval).await;
        outcome
    }

    async fn mirror_team(&self, fence: &Fence, reconcile: bool) -> Result<RunOutcome, FleetError> {
        let team = fence.team;
        // Every request draws from the team's budget row, shared with every process calling
        // for the team (another worker's run, the product's own requests).
        let client = self
            .connections
            .client_builder(team, &self.app, self.options.budget_share)
            .await?
            .build()
            .map_err(MirrorError::Api)?;
        let mirror = Mirror::open_fenced(&self.url, fence.clone()).await?;
        let tables = mirror.tables().to_vec();
        if let Some(base) = &self.options.hooks_url {
            // The tables exist: deliveries can be written from now on. Without subscriptions
            // the team is still mirrored by polling; the next run tries again.
            if let Err(error) = hooks::subscribe(self, &client, team, base, &tables).await {
                tracing::warn!(team, error = %error, "the team's webhooks could not be subscribed");
            }
        }
        let mut reports = mirror.run(&client, &tables, &mut |_| {}).await?;
        let read_all = reports.iter().all(|r| r.failed.is_none());
        let reconciled = reconcile && read_all;
        if reconciled {
            reports.extend(mirror.reconcile(&client, &tables, &mut |_| {}).await?);
        }
        let failed: Vec<String> = reports
            .iter()
            .filter_map(|r| {
                r.failed
                    .as_ref()
                    .map(|why| format!("{}: {why}", r.resource))
            })
            .collect();
        Ok(RunOutcome {
            ok: failed.is_empty(),
            seconds: 0.0,
            requests: reports.iter().map(|r| r.requests).sum(),
            cost: reports.iter().map(|r| r.cost).sum(),
            rows: reports.iter().map(|r| r.rows).sum(),
            error: (!failed.is_empty()).then(|| failed.join("; ")),
            reconciled,
        })
    }

    /// Makes `team` due at once (a webhook said something changed).
    pub async fn due_now(&self, team: i64) -> Result<(), FleetError> {
        lease::due_now(&self.pool, team).await
    }

    /// The fleet's shared pool (the fleet's and the connections' tables).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The worker's HTTP routes: `POST /hooks/{team}` (every team's webhook deliveries; give
    /// its public address as [`FleetOptions::hooks_url`]) and `GET /metrics` (Prometheus).
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/hooks/{team}", axum::routing::post(hooks::deliver))
            .route("/metrics", axum::routing::get(metrics::metrics))
            .with_state(self.clone())
    }

    /// Serves [`Fleet::router`] on `listener` until dropped, with the limits every server of
    /// the toolkit has against slow and greedy clients.
    pub async fn serve(&self, listener: tokio::net::TcpListener) {
        salesloft_api::serve::serve(
            listener,
            self.router(),
            salesloft_api::serve::Limits::default(),
        )
        .await
    }
}
