//! Helpers shared by the cross-crate tests and benchmarks.

use salesloft_api::{BoxFuture, Client, ClientBuilder, RetryPolicy};
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use std::sync::Arc;
use std::time::Duration;

/// The client's clock made of the sandbox's: a wait moves the sandbox's time forward at once,
/// so minutes of rate-limit pacing take no real time and both sides agree on the minute.
#[derive(Clone, Debug)]
pub struct SandboxClock(pub salesloft_mock::Clock);

impl salesloft_api::Clock for SandboxClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0
            .advance(chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::zero()));
        Box::pin(async {})
    }
}

/// The default retry policy with a 1 ms base delay: backoff takes no time in tests.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

/// A sandbox with `config`, and an API-key client for it on the sandbox's simulated clock.
pub async fn sandbox_and_client(config: Config, retry: RetryPolicy) -> (SandboxHandle, Client) {
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let client = api_key_client(&sandbox, retry);
    (sandbox, client)
}

pub fn api_key_client(sandbox: &SandboxHandle, retry: RetryPolicy) -> Client {
    ClientBuilder::new(Arc::new(salesloft_api::ApiKey::new(sandbox.api_key())))
        .base_url(sandbox.api_base_url())
        .retry_policy(retry)
        .clock(Arc::new(SandboxClock(sandbox.clock().clone())))
        .build()
        .expect("the client builds")
}

/// Replaces the sandbox's people with `count` fresh ones, all updated at one instant.
pub fn only_people(sandbox: &SandboxHandle, count: usize) {
    sandbox.remove_people();
    sandbox.seed_people(count).unwrap();
}

/// The registered app of a sandbox, pointed at it.
pub fn sandbox_app(sandbox: &SandboxHandle) -> salesloft_auth::OAuthApp {
    let config = sandbox.config();
    salesloft_auth::OAuthApp::new(config.client_id, config.client_secret)
        .with_accounts_base_url(sandbox.accounts_base_url())
        .with_api_base_url(sandbox.api_base_url())
}

/// Plays the browser: opens the authorize URL at the sandbox (which approves at once) and
/// follows its redirect to the callback server, optionally rewriting that URL first.
pub async fn follow_authorization(
    authorize_url: String,
    http: reqwest::Client,
    rewrite: fn(String) -> String,
) {
    let response = http
        .get(&authorize_url)
        .send()
        .await
        .expect("the sandbox answers");
    let location = response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_string();
    let _ = http.get(rewrite(location)).send().await;
}

/// A reqwest client that follows no redirect and, given a PEM certificate, trusts only it.
pub fn browser(extra_root: Option<&str>) -> reqwest::Client {
    salesloft_api::install_tls_provider();
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = extra_root {
        builder = builder.tls_certs_only([
            reqwest::Certificate::from_pem(pem.as_bytes()).expect("a PEM certificate")
        ]);
    }
    builder.build().expect("a browser")
}

/// Logs in to the sandbox through a loopback callback server, storing the credentials.
pub async fn login_to_sandbox(
    sandbox: &SandboxHandle,
    store: &dyn salesloft_auth::CredentialStore,
) -> Result<salesloft_auth::Credentials, salesloft_auth::AuthError> {
    let options = salesloft_auth::LoginOptions {
        open_browser: false,
        ..salesloft_auth::LoginOptions::loopback()
    };
    salesloft_auth::login(&sandbox_app(sandbox), store, &options, |url| {
        tokio::spawn(follow_authorization(url.to_string(), browser(None), |l| l));
    })
    .await
}
