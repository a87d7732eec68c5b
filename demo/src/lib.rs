//! `cargo run -p demo`: the SalesLoft person-plus-cadence flow, against the built-in sandbox
//! by default, or a real SalesLoft account when credentials are given.

pub mod enroll;
pub mod error;
pub mod flow;
pub mod mirror;
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
    name = "salesloft",
    about = "The SalesLoft person-plus-cadence flow",
    long_about = "Runs the person-plus-cadence flow.\n\nNo credentials: the built-in local sandbox.\n\
                  SALESLOFT_APP_ID + SALESLOFT_APP_SECRET: your SalesLoft app (run `authorize` once, then `run`).\n\
                  SALESLOFT_API_KEY: an API key, no OAuth.",
    // `demo --cleanup` runs the flow; a subcommand takes its own flags after its name.
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The flow's flags, when no subcommand is named (`run` is the default).
    #[command(flatten)]
    pub flow: FlowArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// How to reach SalesLoft: every command connects, so these go with any of them.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ConnectionArgs {
    /// Print one JSON document instead of the steps.
    #[arg(long, global = true)]
    pub json: bool,
    /// The API's base URL (another SalesLoft environment, or a salesloft-mock started by hand).
    #[arg(long, env = "SALESLOFT_API_BASE_URL", global = true)]
    pub api_base_url: Option<String>,
    /// The accounts (OAuth) service's base URL.
    #[arg(long, env = "SALESLOFT_ACCOUNTS_BASE_URL", global = true)]
    pub accounts_base_url: Option<String>,
    /// Where the credentials are stored (default: the configuration directory).
    #[arg(long, env = "SALESLOFT_CREDENTIALS", global = true)]
    pub credentials: Option<PathBuf>,
    /// Fail at once on rate limits, server errors and broken connections instead of waiting
    /// and retrying.
    #[arg(long, global = true)]
    pub no_retry: bool,
}

/// The person-plus-cadence flow's flags.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowArgs {
    /// Remove what the run created (membership, person, and the account if it was new).
    #[arg(long)]
    pub cleanup: bool,
    /// The web app's base URL, for the links printed at the end.
    #[arg(
        long,
        env = "SALESLOFT_APP_URL",
        default_value = "https://app.salesloft.com"
    )]
    pub app_base_url: String,
}

/// `authorize`'s flags.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeArgs {
    /// Port of the local HTTPS server that receives SalesLoft's callback.
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Sign in with your SalesLoft app through https://localhost:8443 and store the credentials.
    Authorize(AuthorizeArgs),
    /// Run the flow with the stored credentials (the default).
    Run(FlowArgs),
    /// Subscribe a local receiver to webhooks and print each verified event until Ctrl-C, then
    /// unsubscribe. SalesLoft must reach the receiver from the internet: give its public URL.
    Webhooks(WebhooksOptions),
    /// Put a list of people (a CSV file) on a cadence: companies by domain, people upserted by
    /// email, memberships for those not on it yet; paced, resumable, never duplicated.
    Enroll(enroll::EnrollArgs),
    /// Mirror the team's data into a database (SQLite by default, or Postgres): every list
    /// resource, incremental where the API allows, crash-safe; --follow keeps it fresh.
    Mirror(mirror::MirrorArgs),
}

impl Cli {
    /// The command to run: the one named, or the flow with the top-level flags.
    pub fn command(&self) -> Command {
        self.command
            .clone()
            .unwrap_or_else(|| Command::Run(self.flow.clone()))
    }
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
    let json = cli.connection.json;
    let out = Reporter::new(json);
    let mut report = Report::default();
    match execute(&cli, &env, &out, &mut report).await {
        Ok(()) => {
            if json {
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

/// Where the credentials in the environment lead.
enum Mode {
    Sandbox,
    ApiKey(String),
    OAuth(OAuthApp, FileStore),
}

/// A connected client, and what must live as long as it: the sandbox it talks to, if it is
/// the built-in one, and the sandbox session's scratch folder.
pub struct Connection {
    pub client: salesloft_api::Client,
    pub sandbox: Option<salesloft_mock::SandboxHandle>,
    _scratch: Option<tempfile::TempDir>,
}

/// The whole run: resolves the connection once, then runs the one command.
pub async fn execute(
    cli: &Cli,
    env: &Env,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let command = cli.command();
    let mode = mode(&cli.connection, env)?;
    if let Command::Authorize(args) = &command {
        let Mode::OAuth(app, store) = &mode else {
            return Err(DemoError::AuthorizeWithoutApp);
        };
        report.mode = "authorize".into();
        return authorize(args, app, store, out).await;
    }
    let budget_share = match &command {
        Command::Enroll(args) => args.budget_share,
        Command::Mirror(args) => args.budget_share,
        _ => 1.0,
    };
    let connection = connect(mode, &cli.connection, budget_share, out, report).await?;
    let client = &connection.client;
    let local_sandbox = connection.sandbox.is_some();
    match &command {
        Command::Run(flow) => run_flow(&connection, flow, out, report).await,
        Command::Webhooks(options) => watch_webhooks(client, options, local_sandbox, out).await,
        Command::Enroll(args) => {
            let target = salesloft_api::ClientInfo::baseurl(client).to_string();
            let json = cli.connection.json;
            enroll::run(client, args, &target, local_sandbox, json, out).await
        }
        Command::Mirror(args) => mirror::run(&connection, args, cli.connection.json, out).await,
        Command::Authorize(_) => Err(DemoError::AuthorizeWithoutApp),
    }
}

/// The mode the environment asks for: an API key first, then the OAuth app, else the sandbox.
fn mode(args: &ConnectionArgs, env: &Env) -> Result<Mode, DemoError> {
    if let Some(key) = &env.api_key {
        return Ok(Mode::ApiKey(key.clone()));
    }
    match (&env.app_id, &env.app_secret) {
        (Some(id), Some(secret)) => {
            let mut app =
                OAuthApp::new(id.clone(), secret.as_str()).with_api_base_url(&api_base(args));
            if let Some(accounts) = &args.accounts_base_url {
                app = app.with_accounts_base_url(accounts);
            }
            let store = match &args.credentials {
                Some(path) => FileStore::new(path),
                None => FileStore::default_location().map_err(salesloft_auth::AuthError::from)?,
            };
            Ok(Mode::OAuth(app, store))
        }
        (Some(_), None) | (None, Some(_)) => Err(DemoError::HalfSetCredentials),
        (None, None) => Ok(Mode::Sandbox),
    }
}

fn api_base(args: &ConnectionArgs) -> String {
    args.api_base_url
        .clone()
        .unwrap_or_else(|| salesloft_api::DEFAULT_BASE_URL.to_string())
}

/// A client for the mode (starting the built-in sandbox when there are no credentials).
async fn connect(
    mode: Mode,
    args: &ConnectionArgs,
    budget_share: f64,
    out: &Reporter,
    report: &mut Report,
) -> Result<Connection, DemoError> {
    let (session, sandbox, scratch) = match mode {
        Mode::ApiKey(key) => {
            report.mode = "api_key".into();
            let api_base = api_base(args);
            out.note(&format!(
                "Using the API key from SALESLOFT_API_KEY with {api_base}"
            ));
            (Session::api_key(&api_base, key.as_str()), None, None)
        }
        Mode::OAuth(app, store) => {
            report.mode = "oauth".into();
            let session = match Session::from_store(app, Arc::new(store)).await {
                Err(salesloft_auth::AuthError::NotAuthorized(_)) => {
                    return Err(DemoError::NotAuthorized);
                }
                other => other?,
            };
            (session, None, None)
        }
        Mode::Sandbox => {
            report.mode = "sandbox".into();
            if args.json {
                eprintln!("{SANDBOX_NOTE}");
            }
            out.note(SANDBOX_NOTE);
            let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config::default())
                .await
                .map_err(DemoError::Sandbox)?;
            let (session, scratch) = sandbox_session(&sandbox, out).await?;
            (session, Some(sandbox), Some(scratch))
        }
    };
    let retry = if args.no_retry {
        salesloft_api::RetryPolicy::none()
    } else {
        salesloft_api::RetryPolicy::default()
    };
    let client = session
        .client_builder()
        .retry_policy(retry)
        .budget_share(budget_share)
        .build()?;
    Ok(Connection {
        client,
        sandbox,
        _scratch: scratch,
    })
}

/// The person-plus-cadence flow; on the built-in sandbox, with a local webhook receiver whose
/// events are printed under the steps that caused them.
async fn run_flow(
    connection: &Connection,
    flow: &FlowArgs,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let client = &connection.client;
    let options = FlowOptions {
        app_base_url: flow.app_base_url.trim_end_matches('/').to_string(),
        cleanup: flow.cleanup,
        unix_time: chrono::Utc::now().timestamp(),
    };
    if connection.sandbox.is_none() {
        return flow::run(client, &options, out, report, None).await;
    }
    let token = webhooks::new_token();
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let mut feed = webhooks::EventFeed::start(local, None, &token).await?;
    let count = feed
        .subscribe(client, &token, webhooks::FLOW_EVENTS)
        .await?;
    out.note(&format!(
        "Subscribed a local webhook receiver ({}) to {count} event types: {}.",
        feed.callback_url,
        webhooks::FLOW_EVENTS.join(", ")
    ));
    flow::run(client, &options, out, report, Some(&mut feed)).await?;
    let removed = feed.unsubscribe(client).await?;
    out.note(&format!("Removed the {removed} webhook subscriptions."));
    Ok(())
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
    args: &AuthorizeArgs,
    app: &OAuthApp,
    store: &FileStore,
    out: &Reporter,
) -> Result<(), DemoError> {
    let cert_dir = salesloft_auth::store::config_dir().map_err(salesloft_auth::AuthError::from)?;
    let options = LoginOptions {
        callback: CallbackKind::Https {
            port: args.port,
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
