//! A process sharing a connections store in PostgreSQL with others, for the multi-process
//! tests (as machines of one product would). The key comes from `SALESLOFT_TOKEN_KEY`.
//!
//! `connections_worker <db url> <sandbox base URL> refresh-rejected <team> <start unix ms>`:
//! reads the team's token, waits for the start time, then asks for a refresh because that
//! token was refused; prints `version=<n> token=<fingerprint>`.
//! `connections_worker <db url> <sandbox base URL> hold-lock <team>`: takes the team's row lock
//! and prints `locked`, then holds it until killed.
//! `connections_worker <db url> <sandbox base URL> load <teams> <seconds> <margin ms>`: what a
//! product's server does (`cargo xtask bench tokens`): calls `/v2/me` for random teams 1 to
//! `<teams>` through `ConnectionTokens`, and runs the background refresher, for `<seconds>`.
//! Prints `stats requests=<n>` twice a second, `fail team=<t> reason=<why>` for each failed
//! request, and `wait_ms=<ms>` each time a request waited for the store's token. With
//! `STALL_ON_LOCK_AFTER_MS=<ms>`, the first refresh lock taken after that time freezes the
//! process (a hung machine): it prints `holding team=<t>` and waits to be killed.

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
        "load" => load(db, base, team, rest).await,
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

/// The `load` mode: see the file's documentation.
async fn load(db: &str, base: &str, teams: i64, rest: &[String]) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let seconds: u64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(60);
    let margin_ms: i64 = rest.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let margin = chrono::Duration::milliseconds(margin_ms);
    if let Some(after) = std::env::var("STALL_ON_LOCK_AFTER_MS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        stall::install(Duration::from_millis(after));
    }
    let encryption = Encryption::from_env(false).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(3)
    });
    let store = PgConnections::connect(db, encryption, 4).await.unwrap();
    let app = OAuthApp::new("sandbox-client-id", "sandbox-client-secret")
        .with_accounts_base_url(base)
        .with_api_base_url(base);
    let clients: Vec<_> = (1..=teams)
        .map(|team| {
            let tokens = Arc::new(
                salesloft_auth::connections::ConnectionTokens::new(
                    store.clone(),
                    team,
                    app.clone(),
                )
                .unwrap()
                .with_margin(margin),
            );
            let client = salesloft_api::Client::with_token_source(base, tokens.clone()).unwrap();
            (tokens, client)
        })
        .collect();
    let clients = Arc::new(clients);
    let requests = Arc::new(AtomicU64::new(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);

    let refresher = {
        let (store, app) = (store.clone(), app.clone());
        tokio::spawn(async move {
            let http = OAuthHttp::new().unwrap();
            loop {
                let _ = store.refresh_due(&app, &http, margin, 100).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let reporter = {
        let requests = requests.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                println!("stats requests={}", requests.load(Ordering::Relaxed));
            }
        })
    };
    let mut callers = Vec::new();
    for caller in 0..2u64 {
        let (clients, requests) = (clients.clone(), requests.clone());
        callers.push(tokio::spawn(async move {
            let mut random = u64::from(std::process::id()) * 7919 + caller * 104_729 + 1;
            while tokio::time::Instant::now() < deadline {
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                let index = (random % clients.len() as u64) as usize;
                let (tokens, client) = &clients[index];
                let team = index as i64 + 1;
                let started = std::time::Instant::now();
                let waited = salesloft_api::TokenSource::ready_token(tokens.as_ref()).is_none();
                let answer = client.get_me().send().await;
                if waited {
                    println!("wait_ms={:.1}", started.elapsed().as_secs_f64() * 1000.0);
                }
                requests.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = answer {
                    let message = salesloft_api::ApiError::from(e).to_string();
                    let reason = if message.contains("connected again") {
                        "needs_reauth".to_string()
                    } else {
                        salesloft_api::text::printable_bounded(&message, 200).replace(' ', "_")
                    };
                    println!("fail team={team} reason={reason}");
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    for caller in callers {
        let _ = caller.await;
    }
    refresher.abort();
    reporter.abort();
    println!("stats requests={}", requests.load(Ordering::Relaxed));
    println!("done");
}

/// Freezing the process while it holds a refresh lock, from the library's own trace event.
mod stall {
    use std::time::{Duration, Instant};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    struct Stall {
        armed_at: Instant,
    }

    #[derive(Default)]
    struct Fields {
        message: String,
        team: Option<i64>,
    }

    impl Visit for Fields {
        fn record_i64(&mut self, field: &Field, value: i64) {
            if field.name() == "team" {
                self.team = Some(value);
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.message = format!("{value:?}");
            }
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Stall {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if Instant::now() < self.armed_at {
                return;
            }
            let mut fields = Fields::default();
            event.record(&mut fields);
            if fields.message.contains("under its row lock") {
                use std::io::Write;
                println!("holding team={}", fields.team.unwrap_or(0));
                let _ = std::io::stdout().flush();
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
        }
    }

    pub fn install(after: Duration) {
        let subscriber = tracing_subscriber::registry().with(Stall {
            armed_at: Instant::now() + after,
        });
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
}
