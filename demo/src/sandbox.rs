//! Signing in to a sandbox, the one way the demo and the tests share: the real
//! authorization-code flow (loopback callback server, state check, PKCE, code exchange) with
//! this module playing the browser.

use crate::error::DemoError;
use crate::output::Reporter;
use salesloft_auth::Session;
use salesloft_auth::{AuthError, CredentialStore, Credentials, FileStore, LoginOptions, OAuthApp};
use salesloft_mock::SandboxHandle;
use std::sync::Arc;
use std::time::Duration;

/// The registered app of a sandbox, pointed at it.
pub fn app(sandbox: &SandboxHandle) -> OAuthApp {
    let config = sandbox.config();
    OAuthApp::new(config.client_id, config.client_secret)
        .with_accounts_base_url(sandbox.accounts_base_url())
        .with_api_base_url(sandbox.api_base_url())
}

/// A reqwest client that follows no redirect and, given a PEM certificate, trusts only it.
pub fn browser(extra_root: Option<&str>) -> reqwest::Client {
    salesloft_api::install_tls_provider();
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = extra_root
        && let Ok(certificate) = reqwest::Certificate::from_pem(pem.as_bytes())
    {
        builder = builder.tls_certs_only([certificate]);
    }
    builder.build().unwrap_or_default()
}

/// Plays the browser: opens the authorize URL at the sandbox (which approves at once) and
/// follows its redirect to the callback server, optionally rewriting that URL first.
pub async fn follow_authorization(
    authorize_url: String,
    http: reqwest::Client,
    rewrite: fn(String) -> String,
) {
    let Ok(response) = http.get(&authorize_url).send().await else {
        return;
    };
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok());
    if let Some(location) = location {
        let _ = http.get(rewrite(location.to_string())).send().await;
    }
}

/// Logs in to the sandbox through a loopback callback server, storing the credentials.
pub async fn login(
    sandbox: &SandboxHandle,
    store: &dyn CredentialStore,
) -> Result<Credentials, AuthError> {
    let options = LoginOptions {
        open_browser: false,
        timeout: Duration::from_secs(30),
        ..LoginOptions::loopback()
    };
    salesloft_auth::login(&app(sandbox), store, &options, |url| {
        tokio::spawn(follow_authorization(url.to_string(), browser(None), |l| l));
    })
    .await
}

/// A session on the sandbox, authorized by [`login`] into a temporary store. The store's
/// directory comes back too: keep it while the session is in use (the session may refresh
/// into it); it is removed when dropped.
pub async fn session(
    sandbox: &SandboxHandle,
    out: &Reporter,
) -> Result<(Session, tempfile::TempDir), DemoError> {
    let dir = tempfile::tempdir().map_err(DemoError::Sandbox)?;
    let store = Arc::new(FileStore::new(dir.path().join("credentials.json")));
    login(sandbox, store.as_ref()).await?;
    out.note("Authorized with the sandbox: OAuth code flow through a local callback server (state checked, PKCE), credentials in a temporary store.");
    let session = Session::from_store(app(sandbox), store).await?;
    Ok((session, dir))
}
