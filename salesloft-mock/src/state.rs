//! The running sandbox's state and the controls over it. [`crate::SandboxHandle`] (the library)
//! and `/__admin` (HTTP, for other languages) are two doors to these same calls, so a test in
//! Rust and a test in Python seed and inspect the sandbox alike.

use crate::clock::Clock;
use crate::faults::Fault;
use crate::generic::catalog::{IdForm, catalog};
use crate::generic::seed::SeedRequest;
use crate::request_log::LoggedRequest;
use crate::spec_routes::SpecRoutes;
use crate::store::Store;
use crate::teams::{MAX_TEAMS, NewTeam, TeamStore, Teams};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::sync::{Mutex, MutexGuard};

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    teams: Mutex<Teams>,
    pub clock: Clock,
    pub routes: SpecRoutes,
    /// `Config::body_timeout`, fixed at start: read per request without taking the lock.
    pub body_timeout: std::time::Duration,
    /// Wakes the webhook delivery task when a change queued a delivery.
    pub outbox_ready: tokio::sync::Notify,
}

/// An admin call that cannot be carried out as asked; answered 400 over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AdminError(pub String);

/// The most faults that can be pending at once.
pub const MAX_PENDING_FAULTS: usize = 100_000;
/// The most records one seeding call adds.
pub const MAX_SEEDED_PEOPLE: usize = 1_000_000;

/// A seeding call's count and spread, or why they cannot be used.
fn check_seed(count: usize, spread_micros: i64, now: DateTime<Utc>) -> Result<(), AdminError> {
    if count > MAX_SEEDED_PEOPLE {
        return Err(AdminError(format!(
            "at most {MAX_SEEDED_PEOPLE} records at a time"
        )));
    }
    let oldest = i64::try_from(count.saturating_sub(1))
        .ok()
        .and_then(|steps| steps.checked_mul(spread_micros))
        .filter(|micros| *micros >= 0)
        .and_then(|micros| now.checked_sub_signed(chrono::Duration::microseconds(micros)))
        .filter(|oldest| Clock::in_range(*oldest));
    if oldest.is_none() {
        return Err(AdminError(
            "spread_micros must be at least 0 and keep every timestamp after the year 0".into(),
        ));
    }
    Ok(())
}

impl Shared {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self {
            body_timeout: store.config.body_timeout,
            teams: Mutex::new(Teams::new(store)),
            clock,
            routes: SpecRoutes::from_spec(salesloft_openapi::SPEC),
            outbox_ready: tokio::sync::Notify::new(),
        }
    }

    /// Every team; a panic elsewhere while holding the lock must not take the sandbox down.
    pub fn teams(&self) -> MutexGuard<'_, Teams> {
        self.teams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The first team's store (what everything that names no team works with).
    pub fn store(&self) -> TeamStore<'_> {
        TeamStore::first(self.teams())
    }

    /// Team `team`'s store, or why there is none.
    pub fn team(&self, team: i64) -> Result<TeamStore<'_>, AdminError> {
        let teams = self.teams();
        let count = teams.len();
        TeamStore::of(teams, team)
            .ok_or_else(|| AdminError(format!("no team {team}: teams are 1 to {count}")))
    }

    /// Adds `count` teams, each seeded as a new team starts, with the first team's settings,
    /// an API key and an admin user of its own.
    pub fn add_teams(&self, count: usize) -> Result<Vec<NewTeam>, AdminError> {
        let now = self.clock.now();
        let mut teams = self.teams();
        if count > MAX_TEAMS.saturating_sub(teams.len()) {
            return Err(AdminError(format!("at most {MAX_TEAMS} teams")));
        }
        let (config, base_url) = {
            let first = teams.first_mut();
            (first.config.clone(), first.base_url.clone())
        };
        let mut added = Vec::with_capacity(count);
        for _ in 0..count {
            let id = i64::try_from(teams.len()).unwrap_or(i64::MAX) + 1;
            let api_key = format!("ak_{}", crate::oauth::random_token());
            let mut config = config.clone();
            config.api_keys = vec![api_key.clone()];
            let store = crate::rules::team::seeded_team(id, config, base_url.clone(), now);
            let user = store
                .users
                .rows
                .get(&store.admin_user_id())
                .map(crate::generic::table::Record::render)
                .unwrap_or_default();
            let name = store.team["name"].as_str().unwrap_or_default().to_string();
            teams.push(store);
            added.push(NewTeam {
                id,
                name,
                api_key,
                user,
            });
        }
        Ok(added)
    }

    /// Every team's id, name, first API key and admin user id.
    pub fn team_list(&self) -> Vec<Value> {
        self.teams()
            .all()
            .map(|s| {
                serde_json::json!({
                    "id": s.team_id,
                    "name": s.team["name"],
                    "api_key": s.config.api_keys.first(),
                    "user_id": s.admin_user_id(),
                })
            })
            .collect()
    }

    /// Revokes every OAuth token of `team`, as an admin disconnecting the app would; its
    /// API keys keep working.
    pub fn revoke_team(&self, team: i64) -> Result<(), AdminError> {
        let mut store = self.team(team)?;
        for token in store.access_tokens.values_mut() {
            token.revoked = true;
        }
        for token in store.refresh_tokens.values_mut() {
            token.revoked = true;
        }
        Ok(())
    }

    /// The next `count` API responses are spoiled by `fault`.
    pub fn inject(&self, team: i64, fault: Fault, count: usize) -> Result<(), AdminError> {
        if let Fault::Status { status } = fault
            && !(100..=999).contains(&status)
        {
            return Err(AdminError(format!("status {status} is not an HTTP status")));
        }
        let mut store = self.team(team)?;
        if count > MAX_PENDING_FAULTS.saturating_sub(store.faults.len()) {
            return Err(AdminError(format!(
                "at most {MAX_PENDING_FAULTS} faults can be pending"
            )));
        }
        store.faults.extend(std::iter::repeat_n(fault, count));
        Ok(())
    }

    /// The next `count` webhook delivery attempts are spoiled by `fault`.
    pub fn inject_webhook_fault(
        &self,
        team: i64,
        fault: crate::outbox::WebhookFault,
        count: usize,
    ) -> Result<(), AdminError> {
        let mut store = self.team(team)?;
        if count > MAX_PENDING_FAULTS.saturating_sub(store.outbox.pending_faults()) {
            return Err(AdminError(format!(
                "at most {MAX_PENDING_FAULTS} faults can be pending"
            )));
        }
        store.outbox.inject(fault, count);
        Ok(())
    }

    /// Every access token of `team` issued so far expires now (refresh tokens stay valid).
    pub fn expire_tokens(&self, team: i64) -> Result<(), AdminError> {
        let now = self.clock.now();
        for token in self.team(team)?.access_tokens.values_mut() {
            token.expires_at = token.expires_at.min(now);
        }
        Ok(())
    }

    /// Moves the sandbox's clock; refused if it would leave the years a timestamp can show.
    pub fn advance_clock(&self, by: chrono::Duration) -> Result<(), AdminError> {
        self.clock
            .try_advance(by)
            .map_err(|_| AdminError("the clock cannot move that far".into()))
    }

    /// Adds `count` people (`person<n>@sandbox.example`); with `spread_micros`, each has its
    /// own `updated_at`, that far apart, the newest now.
    pub fn seed_people(
        &self,
        team: i64,
        count: usize,
        spread_micros: i64,
    ) -> Result<(), AdminError> {
        check_seed(count, spread_micros, self.clock.now())?;
        crate::rules::people::seed_people(
            &mut *self.team(team)?,
            self.clock.now(),
            count,
            spread_micros,
        );
        Ok(())
    }

    /// Adds `count` records of `resource` (`notes`, `activities/calls`) made from its schema,
    /// `spread_micros` apart in `updated_at` (the newest now); the same `seed` gives the same
    /// records.
    pub fn seed(&self, team: i64, resource: &str, request: SeedRequest) -> Result<(), AdminError> {
        let found = catalog().find(resource).ok_or_else(|| unknown(resource))?;
        let now = self.clock.now();
        check_seed(request.count, request.spread_micros, now)?;
        crate::rules::seed(&mut *self.team(team)?, found, now, request);
        Ok(())
    }

    /// Removes every person.
    pub fn remove_people(&self, team: i64) -> Result<(), AdminError> {
        self.team(team)?.clear_records("people");
        Ok(())
    }

    /// The record of `resource` (`people`, `accounts`, `cadences`, `cadence_memberships`,
    /// `users`) with `id`, as the API shows it.
    pub fn record(&self, team: i64, resource: &str, id: &str) -> Result<Option<Value>, AdminError> {
        let store = self.team(team)?;
        let table = store.table(resource).ok_or_else(|| unknown(resource))?;
        let key = key(resource, id);
        Ok(key
            .and_then(|k| table.rows.get(&k))
            .map(crate::generic::table::Record::render))
    }

    /// Every record of `resource`, by id.
    pub fn records(&self, team: i64, resource: &str) -> Result<Vec<Value>, AdminError> {
        let store = self.team(team)?;
        let table = store.table(resource).ok_or_else(|| unknown(resource))?;
        Ok(table
            .rows
            .values()
            .map(crate::generic::table::Record::render)
            .collect())
    }

    /// Removes every record of `resource`.
    pub fn clear_records(&self, team: i64, resource: &str) -> Result<(), AdminError> {
        let mut store = self.team(team)?;
        store.table(resource).ok_or_else(|| unknown(resource))?;
        store.clear_records(resource);
        Ok(())
    }

    /// Sets `fields` on a record as they are (no validation: for arranging a test), and moves
    /// its `updated_at` to now, as a change on the service would (sending the resource's
    /// `_updated` event where it has one), unless `keep_updated_at` is true. `false` when
    /// there is no such record.
    pub fn patch_record(
        &self,
        team: i64,
        resource: &str,
        id: &str,
        mut fields: Map<String, Value>,
    ) -> Result<bool, AdminError> {
        let keep = match fields.remove("keep_updated_at") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(keep)) => keep,
            Some(_) => return Err(AdminError("keep_updated_at is true or false".into())),
        };
        if fields
            .keys()
            .any(|k| matches!(k.as_str(), "id" | "created_at" | "updated_at"))
        {
            return Err(AdminError(
                "id, created_at and updated_at are the sandbox's".into(),
            ));
        }
        let now = self.clock.now();
        let mut store = self.team(team)?;
        let key = key(resource, id);
        let table = store.table_mut(resource).ok_or_else(|| unknown(resource))?;
        let Some(record) = key.and_then(|k| table.rows.get_mut(&k)) else {
            return Ok(false);
        };
        record.fields.extend(fields);
        if keep {
            return Ok(true);
        }
        record.updated_at = now;
        let shown = record.render();
        let event = catalog()
            .find(resource)
            .and_then(|r| crate::outbox::event_of(&r.singular, "updated"));
        if let Some(event) = event {
            store.outbox.emit(&event, &shown, now);
            drop(store);
            self.outbox_ready.notify_one();
        }
        Ok(true)
    }

    /// Every request received (API and OAuth), oldest first, secrets redacted.
    pub fn requests(&self, team: i64) -> Result<Vec<LoggedRequest>, AdminError> {
        Ok(self.team(team)?.log.entries().cloned().collect())
    }

    pub fn clear_requests(&self, team: i64) -> Result<(), AdminError> {
        self.team(team)?.log.clear();
        Ok(())
    }
}

/// The row a record id names, in the resource's form.
fn key(resource: &str, id: &str) -> Option<i64> {
    let form = catalog()
        .find(resource)
        .map_or(IdForm::Integer, |r| r.id_form);
    crate::generic::key_of(form, id)
}

fn unknown(resource: &str) -> AdminError {
    AdminError(format!(
        "no such resource `{}`: a list resource of the spec, by its path after /v2/ (`people`, `notes`, `activities/calls`, ...)",
        resource.escape_debug()
    ))
}
