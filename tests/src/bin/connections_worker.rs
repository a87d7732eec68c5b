//! A process sharing a connections store in PostgreSQL with others, for the multi-process
//! tests (as machines of one product would). The key comes from `SALESLOFT_TOKEN_KEY`.
//!
//! `connections_worker <db url> <sandbox base URL> refresh-rejected <team> <start unix ms>`:
//! reads the team's token, waits for the start time, then asks for a refresh because that
//! token was refused; prints `version=<n> token=<fingerprint>`.
//! `connections_worker <db url> <sandbox base URL> hold-lock <team>`: takes the team's row lock
//! and prints `locked`, then holds it until killed.

use salesloft_auth::OAuthApp;
use salesloft_auth::connections::{Encryption, PgConnections};
use salesloft_auth::http::OAuthHttp;
use sha2::Digest;
use std::time::Duration;

/// A token's fingerprint, to compare tokens across processes without printing them.
fn fingerprint(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, base, mode, team, rest @ ..] = args.as_slice() else {
        eprintln!(
            "usage: connections_worker <db> <base url> <refresh-rejected|hold-lock> <team> ..."
        );
        std::process::exit(2);
    };
    let team: i64 = team.parse().expect("a team id");
    match mode.as_str() {
        "refresh-rejected" => {
            let encryption = Encryption::from_env(false).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(3)
            });
            let store = PgConnections::connect(db, encryption, 2).await.unwrap();
            let app = OAuthApp::new("sandbox-client-id", "sandbox-client-secret")
                .with_accounts_base_url(base)
                .with_api_base_url(base);
            let rejected = store
                .get(team)
                .await
                .unwrap()
                .unwrap()
                .credentials
                .access_token;
            let start: u128 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            tokio::time::sleep(Duration::from_millis(start.saturating_sub(now) as u64)).await;
            let http = OAuthHttp::new().unwrap();
            let margin = chrono::Duration::seconds(1);
            match store
                .refresh(team, &app, &http, Some(&rejected), margin)
                .await
            {
                Ok(connection) => println!(
                    "version={} token={}",
                    connection.version,
                    fingerprint(connection.credentials.access_token.expose())
                ),
                Err(e) => {
                    println!("error={e}");
                    std::process::exit(1);
                }
            }
        }
        "hold-lock" => {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(db).await.unwrap();
            let mut tx = connection.begin().await.unwrap();
            sqlx::query("SELECT team_id FROM salesloft_connections WHERE team_id = $1 FOR UPDATE")
                .bind(team)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            println!("locked");
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
