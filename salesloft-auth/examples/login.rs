//! The OAuth login once, then a stored session that refreshes itself: run it twice and the
//! second run signs in from the store without a browser.
//!
//! With your app: `SALESLOFT_APP_ID=... SALESLOFT_APP_SECRET=... cargo run -p salesloft-auth
//! --example login` (register `http://127.0.0.1:<port>/auth/salesloft/callback`-style loopback
//! redirects, or use the HTTPS callback of `LoginOptions::default()`). Without them: a local
//! sandbox, whose authorize page approves at once; this example then plays the browser.

use salesloft_auth::{FileStore, LoginOptions, OAuthApp, Session};
use std::sync::Arc;
use std::time::Duration;

async fn run(store_path: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    salesloft_api::install_tls_provider();
    let (app, sandbox) = match (
        std::env::var("SALESLOFT_APP_ID"),
        std::env::var("SALESLOFT_APP_SECRET"),
    ) {
        (Ok(id), Ok(secret)) => (OAuthApp::new(id, secret.as_str()), None),
        _ => {
            let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config::default()).await?;
            let config = sandbox.config();
            let app = OAuthApp::new(config.client_id, config.client_secret.as_str())
                .with_accounts_base_url(sandbox.accounts_base_url())
                .with_api_base_url(sandbox.api_base_url());
            (app, Some(sandbox))
        }
    };
    let store = Arc::new(FileStore::new(store_path));
    if Session::from_store(app.clone(), store.clone())
        .await
        .is_err()
    {
        let options = LoginOptions {
            open_browser: sandbox.is_none(),
            timeout: Duration::from_secs(300),
            ..LoginOptions::loopback()
        };
        let on_sandbox = sandbox.is_some();
        salesloft_auth::login(&app, store.as_ref(), &options, move |url| {
            println!("Open {url} and sign in with SalesLoft.");
            if on_sandbox {
                tokio::spawn(play_the_browser(url.to_string()));
            }
        })
        .await?;
    }
    let session = Session::from_store(app, store).await?;
    let me = session.client()?.get_me().call().await?.into_inner().data;
    Ok(me.email.unwrap_or_default())
}

/// What a browser does on the sandbox: open the authorize URL (approved at once) and follow
/// its redirect to the login's callback server.
async fn play_the_browser(url: String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let Ok(answer) = http.get(&url).send().await else {
        return;
    };
    if let Some(location) = answer
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
    {
        let _ = http.get(location).send().await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("salesloft-login-example.json");
    println!("signed in as {}", run(&path).await?);
    Ok(())
}

#[cfg(test)]
#[tokio::test]
async fn runs_against_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let email = run(&dir.path().join("credentials.json")).await.unwrap();
    assert_eq!(email, "sandy@example.com");
}
