//! `cargo run -p demo`: the SalesLoft person-plus-cadence flow, against the built-in sandbox
//! by default, or a real SalesLoft account when credentials are given.

pub mod enroll;
pub mod error;
pub mod flow;
pub mod output;
pub mod sandbox;
pub mod webhooks;

use clap::{Parser, Subcommand};
use error::DemoError;
use flow::FlowOptions;
use output::{Report, Reporter};
use salesloft_auth::{CallbackKind, FileStore, LoginOptions, OAuthApp, Session};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    about = "The SalesLoft person-plus-cadence flow",
    long_about = "Runs the person-plus-cadence flow.\n\nNo credentials: the built-in local sandbox.\n\
                  SALESLOFT_APP_ID + SALESLOFT_APP_SECRET: your SalesLoft app (run `authorize` once, then `run`).\n\
                  SALESLOFT_API_KEY: an API key, no OAuth."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Remove what the run created (membership, person, and the account if it was new).
    #[arg(long, global = true)]
    pub cleanup: bool,
    /// Print one JSON document instead of the steps.
    #[arg(long, global = true)]
    pub json: bool,
    /// The API's base URL (another SalesLoft environment, or a salesloft-mock started by hand).
    #[arg(long, env = "SALESLOFT_API_BASE_URL", global = true)]
    pub api_base_url: Option<String>,
    /// The accounts (OAuth) service's base URL.
    #[arg(long, env = "SALESLOFT_ACCOUNTS_BASE_URL", global = true)]
    pub accounts_base_url: Option<String>,
    /// The web app's base URL, for the links printed at the end.
    #[arg(
        long,
        env = "SALESLOFT_APP_URL",
        default_value = "https://app.salesloft.com",
        global = true
    )]
    pub app_base_url: String,
    /// Where the credentials are stored (default: the configuration directory).
    #[arg(long, env = "SALESLOFT_CREDENTIALS", global = true)]
    pub credentials: Option<PathBuf>,
    /// Fail at once on rate limits, server errors and broken connections instead of waiting
    /// and retrying.
    #[arg(long, global = true)]
    pub no_retry: bool,
    /// Port of the local HTTPS server that `authorize` runs.
    #[arg(long, default_value_t = 8443, global = true)]
    pub port: u16,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Sign in with your SalesLoft app through https://localhost:8443 and store the credentials.
    Authorize,
    /// Run the flow with the stored credentials (the default).
    Run,
    /// Subscribe a local receiver to webhooks and print each verified event until Ctrl-C, then
    /// unsubscribe. SalesLoft must reach the receiver from the internet: give its public URL.
    Webhooks(WebhooksOptions),
    /// Put a list of people (a CSV file) on a cadence: companies by domain, people upserted by
    /// email, memberships for those not on it yet; paced, resumable, never duplicated.
    Enroll(enroll::EnrollArgs),
}

#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct WebhooksOptions {
    /// The public HTTPS URL that reaches `--listen` (a tunnel or a public host).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Where the receiver listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The event types (default: every documented one).
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
}

/// The credentials found in the environment.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub app_id: Option<String>,
    pub app_secret: Option<String>,
    pub api_key: Option<String>,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            app_id: var("SALESLOFT_APP_ID"),
            app_secret: var("SALESLOFT_APP_SECRET"),
            api_key: var("SALESLOFT_API_KEY"),
        }
    }
}

pub const SANDBOX_NOTE: &str = "Using the local SalesLoft sandbox (no credentials set). For a real account: set \
SALESLOFT_APP_ID and SALESLOFT_APP_SECRET and run `cargo run -p demo -- authorize`, or set SALESLOFT_API_KEY.";

/// Runs the demo; the process exit code.
pub async fn main_with(cli: Cli, env: Env) -> i32 {
    let out = Reporter::new(cli.json);
    let mut report = Report::default();
    match execute(&cli, &env, &out, &mut report).await {
        Ok(()) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            }
            0
        }
        Err(e) => {
            eprintln!("error: {}", e.one_line());
            1
        }
    }
}

fn flow_options(cli: &Cli) -> FlowOptions {
    FlowOptions {
        app_base_url: cli.app_base_url.trim_end_matches('/').to_string(),
        cleanup: cli.cleanup,
        unix_time: chrono::Utc::now().timestamp(),
    }
}

fn client(cli: &Cli, session: &Session) -> Result<salesloft_api::Client, DemoError> {
    let retry = if cli.no_retry {
        salesloft_api::RetryPolicy::none()
    } else {
        salesloft_api::RetryPolicy::default()
    };
    let mut builder = session.client_builder().retry_policy(retry);
    if let Some(Command::Enroll(args)) = &cli.command {
        builder = builder.budget_share(args.budget_share);
    }
    Ok(builder.build()?)
}

/// The commands that work the same in every mode: `webhooks` and `enroll`; `None` for the
/// flow, which each mode runs its own way.
async fn common_command(
    cli: &Cli,
    client: &salesloft_api::Client,
    local_sandbox: bool,
    out: &Reporter,
) -> Option<Result<(), DemoError>> {
    match &cli.command {
        Some(Command::Webhooks(options)) => {
            Some(watch_webhooks(client, options, local_sandbox, out).await)
        }
        Some(Command::Enroll(args)) => {
            let target = salesloft_api::ClientInfo::baseurl(client).to_string();
            Some(enroll::run(client, args, &target, local_sandbox, cli.json, out).await)
        }
        _ => None,
    }
}

/// The whole run: picks the mode from the environment, authorizes, runs the flow.
pub async fn execute(
    cli: &Cli,
    env: &Env,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let api_base = cli
        .api_base_url
        .clone()
        .unwrap_or_else(|| salesloft_api::DEFAULT_BASE_URL.to_string());
    if let Some(key) = &env.api_key {
        report.mode = "api_key".into();
        out.note(&format!(
            "Using the API key from SALESLOFT_API_KEY with {api_base}"
        ));
        let client = client(cli, &Session::api_key(&api_base, key.as_str()))?;
        if let Some(done) = common_command(cli, &client, false, out).await {
            return done;
        }
        return flow::run(&client, &flow_options(cli), out, report, None).await;
    }
    match (&env.app_id, &env.app_secret) {
        (Some(id), Some(secret)) => {
            let mut app = OAuthApp::new(id.clone(), secret.as_str()).with_api_base_url(&api_base);
            if let Some(accounts) = &cli.accounts_base_url {
                app = app.with_accounts_base_url(accounts);
            }
            let store = match &cli.credentials {
                Some(path) => FileStore::new(path),
                None => FileStore::default_location().map_err(salesloft_auth::AuthError::from)?,
            };
            if cli.command == Some(Command::Authorize) {
                report.mode = "authorize".into();
                return authorize(cli, &app, &store, out).await;
            }
            report.mode = "oauth".into();
            let session = match Session::from_store(app, Arc::new(store)).await {
                Err(salesloft_auth::AuthError::NotAuthorized(_)) => {
                    return Err(DemoError::NotAuthorized);
                }
                other => other?,
            };
            if let Some(done) = common_command(cli, &client(cli, &session)?, false, out).await {
                return done;
            }
            flow::run(
                &client(cli, &session)?,
                &flow_options(cli),
                out,
                report,
                None,
            )
            .await
        }
        (Some(_), None) | (None, Some(_)) => Err(DemoError::HalfSetCredentials),
        (None, None) if cli.command == Some(Command::Authorize) => {
            Err(DemoError::AuthorizeWithoutApp)
        }
        (None, None) => {
            report.mode = "sandbox".into();
            if cli.json {
                eprintln!("{SANDBOX_NOTE}");
            }
            out.note(SANDBOX_NOTE);
            let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config::default())
                .await
                .map_err(DemoError::Sandbox)?;
            let (session, _store_dir) = sandbox_session(&sandbox, out).await?;
            let client = client(cli, &session)?;
            if let Some(done) = common_command(cli, &client, true, out).await {
                return done;
            }
            let token = webhooks::new_token();
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let mut feed = webhooks::EventFeed::start(local, None, &token).await?;
            let count = feed
                .subscribe(&client, &token, webhooks::FLOW_EVENTS)
                .await?;
            out.note(&format!(
                "Subscribed a local webhook receiver ({}) to {count} event types: {}.",
                feed.callback_url,
                webhooks::FLOW_EVENTS.join(", ")
            ));
            flow::run(&client, &flow_options(cli), out, report, Some(&mut feed)).await?;
            let removed = feed.unsubscribe(&client).await?;
            out.note(&format!("Removed the {removed} webhook subscriptions."));
            Ok(())
        }
    }
}

/// `webhooks`: subscribes a receiver on `--listen` at `--public-url` and prints each verified
/// event until Ctrl-C, then unsubscribes. A local sandbox reaches the receiver directly.
async fn watch_webhooks(
    client: &salesloft_api::Client,
    options: &WebhooksOptions,
    local_sandbox: bool,
    out: &Reporter,
) -> Result<(), DemoError> {
    if options.public_url.is_none() && !local_sandbox {
        return Err(DemoError::NoPublicUrl(options.listen));
    }
    let events: Vec<&str> = if options.events.is_empty() {
        salesloft_api::webhooks::EVENT_TYPES.to_vec()
    } else {
        options.events.iter().map(String::as_str).collect()
    };
    let token = webhooks::new_token();
    let mut feed =
        webhooks::EventFeed::start(options.listen, options.public_url.as_deref(), &token).await?;
    let count = feed.subscribe(client, &token, &events).await?;
    out.note(&format!(
        "Listening on {} for {count} event types at {}; Ctrl-C stops and unsubscribes.",
        options.listen, feed.callback_url
    ));
    loop {
        tokio::select! {
            event = feed.next(out) => if event.is_none() { break },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let removed = feed.unsubscribe(client).await?;
    out.note(&format!("Removed the {removed} webhook subscriptions."));
    Ok(())
}

/// The demo's session on a sandbox: [`sandbox::session`].
pub use sandbox::session as sandbox_session;

/// `authorize`: serves https://localhost:<port> with a "Sign in with SalesLoft" link and the
/// callback, and stores the credentials.
async fn authorize(
    cli: &Cli,
    app: &OAuthApp,
    store: &FileStore,
    out: &Reporter,
) -> Result<(), DemoError> {
    let cert_dir = salesloft_auth::store::config_dir().map_err(salesloft_auth::AuthError::from)?;
    let options = LoginOptions {
        callback: CallbackKind::Https {
            port: cli.port,
            cert_dir,
        },
        timeout: Duration::from_secs(600),
        open_browser: true,
        sign_in_page: true,
    };
    salesloft_auth::login(app, store, &options, |url| {
        out.note(&format!("Open {url} and sign in with SalesLoft (accept the self-signed certificate for localhost)."));
        out.note(&format!("Register this redirect URI with your app: {}", app.redirect_uri));
    })
    .await?;
    out.note(&format!(
        "Authorized. Credentials stored in {}; they refresh themselves. Now run `cargo run -p demo -- run`.",
        store.path().display()
    ));
    Ok(())
}
