//! `GET /metrics`: the fleet in the OpenMetrics text format Prometheus scrapes (encoded by
//! `prometheus-client`). Per team, read from the shared database at each scrape, so every
//! worker answers the same fleet-wide figures: requests, cost and 429s today, lag, rows,
//! lease takeovers, deliveries, whether the connection needs connecting again. Per worker,
//! counted in this process: runs, takeovers, deliveries written and refused.

use super::{Fleet, TeamStatus};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Team = Vec<(&'static str, String)>;

pub(super) async fn metrics(State(fleet): State<Fleet>) -> Response {
    match super::status::status_of(&fleet.pool).await {
        Ok(teams) => (
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            render(&teams, &fleet),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "the fleet's figures could not be read");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// One family per figure, one series per team (labelled by team id alone: names come from
/// SalesLoft and are not labels).
fn render(teams: &[TeamStatus], fleet: &Fleet) -> String {
    let mut registry = Registry::with_prefix("salesloft_fleet");
    let mut gauge = |name: &str, help: &str, value: &dyn Fn(&TeamStatus) -> i64| {
        let family = Family::<Team, Gauge>::default();
        for team in teams {
            family.get_or_create(&label(team)).set(value(team));
        }
        registry.register(name, help, family);
    };
    gauge(
        "requests_today",
        "Requests for the team today (UTC), by every process sharing its budget",
        &|t| t.requests_today,
    );
    gauge("cost_today", "Their cost against the team's budget", &|t| {
        t.cost_today
    });
    gauge(
        "rate_limited_today",
        "429s the service answered for the team today",
        &|t| t.rate_limited_today,
    );
    gauge("rows", "Rows mirrored by the team's last good run", &|t| {
        t.rows
    });
    gauge(
        "needs_reauth",
        "1 when the team's connection must be connected again",
        &|t| i64::from(t.connection == "needs_reauth"),
    );
    let lag = Family::<Team, Gauge<f64, AtomicU64>>::default();
    for team in teams {
        // A team never mirrored has no lag yet: no sample.
        if let Some(seconds) = team.lag_s {
            lag.get_or_create(&label(team)).set(seconds);
        }
    }
    registry.register(
        "lag_seconds",
        "Seconds since the team's last good run began",
        lag,
    );
    let mut counter = |name: &str, help: &str, value: &dyn Fn(&TeamStatus) -> i64| {
        let family = Family::<Team, Counter>::default();
        for team in teams {
            family
                .get_or_create(&label(team))
                .inc_by(value(team).max(0) as u64);
        }
        registry.register(name, help, family);
    };
    counter(
        "lease_takeovers",
        "Times the team's lease ran out and another worker took it over",
        &|t| t.takeovers,
    );
    counter("runs", "Runs of the team, by every worker", &|t| t.runs);
    counter(
        "deliveries",
        "Webhook deliveries written for the team, by every worker",
        &|t| t.deliveries,
    );
    let worker = registry.sub_registry_with_prefix("worker");
    let counters = &fleet.counters;
    for (name, help, value) in [
        ("runs", "Runs of this worker", &counters.runs),
        (
            "good_runs",
            "Runs of this worker that read every resource",
            &counters.good_runs,
        ),
        (
            "takeovers",
            "Teams this worker took over",
            &counters.takeovers,
        ),
        (
            "deliveries_applied",
            "Webhook deliveries this worker wrote",
            &counters.deliveries_applied,
        ),
        (
            "deliveries_refused",
            "Webhook deliveries this worker refused (unknown team, wrong signature, not JSON)",
            &counters.deliveries_refused,
        ),
    ] {
        let counter = Counter::<u64>::default();
        counter.inc_by(value.load(Ordering::Relaxed));
        worker.register(name, help, counter);
    }
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

fn label(team: &TeamStatus) -> Team {
    vec![("team", team.team_id.to_string())]
}
