//! Many teams in one sandbox, as on the service: whose token, whose data, whose budget. Each
//! team is a [`Store`] of its own (records, tokens, API keys, budget, outbox, request log);
//! one index says which team every code, token and key acts for, so a credential reaches its
//! own team's store and no other.

use crate::store::Store;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;

/// Every team the sandbox serves, and the team each credential acts for.
#[derive(Debug)]
pub struct Teams {
    /// Team `n` is at `n - 1`; teams are only ever added.
    stores: Vec<Store>,
    /// Every authorization code, access token, refresh token and API key, by its team.
    credentials: HashMap<String, i64>,
}

/// The most teams one sandbox serves.
pub const MAX_TEAMS: usize = 100_000;

impl Teams {
    pub(crate) fn new(first: Store) -> Self {
        let mut teams = Self {
            stores: Vec::new(),
            credentials: HashMap::new(),
        };
        teams.push(first);
        teams
    }

    /// Adds the next team (its id is the count of teams before it, plus one).
    pub(crate) fn push(&mut self, store: Store) {
        for key in &store.config.api_keys {
            self.credentials.insert(key.clone(), store.team_id);
        }
        self.stores.push(store);
    }

    fn index(&self, team: i64) -> Option<usize> {
        let index = usize::try_from(team.checked_sub(1)?).ok()?;
        (index < self.stores.len()).then_some(index)
    }

    pub fn get(&self, team: i64) -> Option<&Store> {
        self.index(team).map(|i| &self.stores[i])
    }

    pub fn get_mut(&mut self, team: i64) -> Option<&mut Store> {
        self.index(team).map(|i| &mut self.stores[i])
    }

    /// The first team: what answers whatever names no team.
    pub fn first_mut(&mut self) -> &mut Store {
        &mut self.stores[0]
    }

    /// Team `team`'s store, or the first team's when there is no such team.
    pub fn team_or_first(&mut self, team: i64) -> &mut Store {
        let index = self.index(team).unwrap_or(0);
        &mut self.stores[index]
    }

    pub fn all(&self) -> impl Iterator<Item = &Store> {
        self.stores.iter()
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Store> {
        self.stores.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.stores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    /// The team a code, token or API key acts for.
    pub fn team_of(&self, credential: &str) -> Option<i64> {
        self.credentials.get(credential).copied()
    }

    /// Notes that `credential` (just issued) acts for `team`.
    pub fn remember(&mut self, credential: &str, team: i64) {
        self.credentials.insert(credential.to_string(), team);
    }
}

/// One team's store, behind the lock over every team.
pub struct TeamStore<'a> {
    teams: MutexGuard<'a, Teams>,
    index: usize,
}

impl<'a> TeamStore<'a> {
    /// The first team's store.
    pub fn first(teams: MutexGuard<'a, Teams>) -> Self {
        Self { teams, index: 0 }
    }

    /// Team `team`'s store, if there is such a team.
    pub fn of(teams: MutexGuard<'a, Teams>, team: i64) -> Option<Self> {
        let index = teams.index(team)?;
        Some(Self { teams, index })
    }
}

impl Deref for TeamStore<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.teams.stores[self.index]
    }
}

impl DerefMut for TeamStore<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.teams.stores[self.index]
    }
}

/// A team `POST /__admin/teams` added: what a test needs to act as it.
#[derive(Clone, Debug, Serialize)]
pub struct NewTeam {
    pub id: i64,
    pub name: String,
    /// An API key that acts as the team's admin user.
    pub api_key: String,
    /// The admin user, as `/v2/users/{id}` shows it.
    pub user: Value,
}
