//! Where the demo connects: the environment and the connection flags resolved once into a
//! client (the built-in sandbox, an API key, or the OAuth app's stored credentials).

use crate::error::DemoError;
use crate::output::{Report, Reporter};
use crate::sandbox_session;
use salesloft_auth::{FileStore, OAuthApp, Session};
use std::path::PathBuf;
use std::sync::Arc;

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

/// Where the credentials in the environment lead.
pub enum Mode {
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

/// The mode the environment asks for: an API key first, then the OAuth app, else the sandbox.
pub fn mode(args: &ConnectionArgs, env: &Env) -> Result<Mode, DemoError> {
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
pub async fn connect(
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
