//! `connect`: the "Connect SalesLoft" flow on its own, for many teams: `/connect?tenant=X`
//! and the callback, connections stored in PostgreSQL, and the background refresher renewing
//! tokens before they expire, until Ctrl-C.

use crate::cmd::connections::StoreArgs;
use crate::error::DemoError;
use crate::output::Reporter;
use axum::Router;
use axum::extract::RawQuery;
use axum::response::Html;
use axum::routing::get;
use salesloft_auth::OAuthApp;
use salesloft_auth::connections::connect::ConnectFlow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// `connect`'s flags.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where the server listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The callback's public URL, registered with the app (default:
    /// http://<listen>/auth/salesloft/callback).
    #[arg(long)]
    pub redirect_uri: Option<String>,
    /// Where a browser goes once its team is connected (`team` and `tenant` are added);
    /// default: this server's own page.
    #[arg(long)]
    pub success_url: Option<String>,
}

pub async fn run(args: &ConnectArgs, app: &OAuthApp, out: &Reporter) -> Result<(), DemoError> {
    let store = args.store.open(true).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| DemoError::Input(format!("cannot listen on {}: {e}", args.listen)))?;
    let base = format!("http://{}", listener.local_addr().unwrap_or(args.listen));
    let redirect_uri = args
        .redirect_uri
        .clone()
        .unwrap_or_else(|| format!("{base}/auth/salesloft/callback"));
    let success = args
        .success_url
        .clone()
        .unwrap_or_else(|| format!("{base}/connected"));
    let app = app.clone().with_redirect_uri(&redirect_uri);
    let flow = ConnectFlow::new(app.clone(), Arc::new(store.clone()), &success)?;
    let router = Router::new()
        .route("/connected", get(connected))
        .merge(flow.router()?);
    out.note(&format!(
        "Serving {base}/connect?tenant=<your customer> (register {redirect_uri} with the app). Ctrl-C stops."
    ));
    let refresher = tokio::spawn(refresh_forever(store, app));
    let served = salesloft_api::serve::serve(listener, router, Default::default());
    tokio::select! {
        _ = served => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    refresher.abort();
    Ok(())
}

/// Renews tokens about to expire, so request paths rarely refresh inline; refreshers on
/// several machines share the work (each connection is claimed with SKIP LOCKED).
async fn refresh_forever(store: salesloft_auth::connections::PgConnections, app: OAuthApp) {
    let Ok(http) = salesloft_auth::http::OAuthHttp::new() else {
        return;
    };
    loop {
        match store
            .refresh_due(&app, &http, chrono::Duration::minutes(10), 100)
            .await
        {
            Ok(report) if report != Default::default() => eprintln!(
                "Renewed {} connection(s); {} need connecting again; {} failed.",
                report.refreshed, report.needs_reauth, report.failed
            ),
            Ok(_) => {}
            Err(e) => eprintln!(
                "The background refresher failed: {}",
                crate::output::printable(&e.to_string())
            ),
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// The default success page.
async fn connected(RawQuery(query): RawQuery) -> Html<String> {
    let team = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "team")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    Html(match team {
        Some(team) => format!(
            "<!doctype html><meta charset=\"utf-8\"><title>Connected</title>\
             <h1>SalesLoft connected</h1><p>Team {team} is connected.</p>"
        ),
        None => "<!doctype html><meta charset=\"utf-8\"><title>Connected</title>\
                 <h1>SalesLoft connected</h1>"
            .to_string(),
    })
}
