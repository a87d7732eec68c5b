//! Connections kept in this process: for tests, and for a product that runs one server.
//! Nothing survives the process; tokens are never written anywhere.

use super::{Attempt, Connection, ConnectionError, ConnectionInfo, ConnectionStore, Status};
use chrono::Utc;
use salesloft_api::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// How many connect attempts may wait at once; the oldest are dropped past it, so a flood of
/// `/connect` requests cannot fill the memory.
const MAX_ATTEMPTS: usize = 10_000;

#[derive(Debug, Default)]
pub struct MemoryConnections {
    connections: Mutex<BTreeMap<i64, Connection>>,
    attempts: Mutex<HashMap<String, Attempt>>,
}

impl MemoryConnections {
    pub fn new() -> Self {
        Self::default()
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Connection>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Attempt>> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConnectionStore for MemoryConnections {
    fn save<'a>(
        &'a self,
        connection: &'a Connection,
    ) -> BoxFuture<'a, Result<Connection, ConnectionError>> {
        Box::pin(async move {
            let mut connections = self.connections();
            let previous = connections.get(&connection.team_id);
            let stored = Connection {
                version: previous.map_or(1, |p| p.version + 1),
                status: Status::Active,
                last_error: None,
                tenant: connection
                    .tenant
                    .clone()
                    .or_else(|| previous.and_then(|p| p.tenant.clone())),
                connected_at: previous.map_or_else(Utc::now, |p| p.connected_at),
                ..connection.clone()
            };
            connections.insert(connection.team_id, stored.clone());
            Ok(stored)
        })
    }

    fn get(&self, team: i64) -> BoxFuture<'_, Result<Option<Connection>, ConnectionError>> {
        Box::pin(async move { Ok(self.connections().get(&team).cloned()) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ConnectionInfo>, ConnectionError>> {
        Box::pin(async move { Ok(self.connections().values().map(Into::into).collect()) })
    }

    fn remove(&self, team: i64) -> BoxFuture<'_, Result<bool, ConnectionError>> {
        Box::pin(async move { Ok(self.connections().remove(&team).is_some()) })
    }

    fn put_attempt<'a>(
        &'a self,
        key: &'a str,
        attempt: &'a Attempt,
    ) -> BoxFuture<'a, Result<(), ConnectionError>> {
        Box::pin(async move {
            let mut attempts = self.attempts();
            let now = Utc::now();
            attempts.retain(|_, a| a.expires_at > now);
            if attempts.len() >= MAX_ATTEMPTS
                && let Some(oldest) = attempts
                    .iter()
                    .min_by_key(|(_, a)| a.expires_at)
                    .map(|(k, _)| k.clone())
            {
                attempts.remove(&oldest);
            }
            attempts.insert(key.to_string(), attempt.clone());
            Ok(())
        })
    }

    fn take_attempt<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Attempt>, ConnectionError>> {
        Box::pin(async move { Ok(self.attempts().remove(key)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;
    use salesloft_api::Secret;

    fn connection(team: i64, tenant: Option<&str>) -> Connection {
        Connection {
            team_id: team,
            team_name: format!("Team {team}"),
            tenant: tenant.map(str::to_string),
            user_id: None,
            user_email: None,
            credentials: Credentials {
                access_token: Secret::new("a"),
                refresh_token: Some(Secret::new("r")),
                expires_at: Utc::now(),
                scope: String::new(),
                client_id: "c".into(),
                api_base_url: "http://127.0.0.1:1".into(),
            },
            version: 0,
            status: Status::NeedsReauth("old".into()),
            last_refresh_at: None,
            last_error: Some("old".into()),
            connected_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn connecting_again_bumps_the_version_and_clears_the_mark() {
        let store = MemoryConnections::new();
        let first = store.save(&connection(7, Some("acme"))).await.unwrap();
        assert_eq!((first.version, first.status.name()), (1, "active"));
        let again = store.save(&connection(7, None)).await.unwrap();
        assert_eq!(again.version, 2);
        assert_eq!(again.tenant.as_deref(), Some("acme"));
        assert_eq!(again.last_error, None);
        assert_eq!(store.list().await.unwrap().len(), 1);
        assert!(store.remove(7).await.unwrap());
        assert!(!store.remove(7).await.unwrap());
    }

    #[tokio::test]
    async fn an_attempt_is_taken_once() {
        let store = MemoryConnections::new();
        let attempt = Attempt {
            tenant: "acme".into(),
            verifier: Secret::new("v"),
            expires_at: Utc::now() + chrono::Duration::minutes(1),
        };
        store.put_attempt("k", &attempt).await.unwrap();
        assert!(store.take_attempt("k").await.unwrap().is_some());
        assert!(store.take_attempt("k").await.unwrap().is_none());
    }
}
