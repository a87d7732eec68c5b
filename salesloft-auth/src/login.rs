//! The authorization-code login: callback server, consent page, state check, code exchange
//! (with PKCE), stored credentials.

use crate::app::OAuthApp;
use crate::callback::{CallbackKind, CallbackServer};
use crate::credentials::Credentials;
use crate::error::AuthError;
use crate::http::OAuthHttp;
use crate::oauth;
use crate::store::CredentialStore;
use std::time::Duration;

/// How [`login`] talks to the user.
#[derive(Clone, Debug)]
pub struct LoginOptions {
    pub callback: CallbackKind,
    /// Give up waiting for the browser after this long.
    pub timeout: Duration,
    /// Try to open the authorize URL in a browser (it is always printed).
    pub open_browser: bool,
    /// Serve a "Sign in with SalesLoft" page at the server's `/` (and print that address).
    pub sign_in_page: bool,
}

impl LoginOptions {
    /// HTTPS on `localhost:8443` with the certificate kept in the configuration directory.
    pub fn https_default() -> Result<Self, AuthError> {
        Ok(Self {
            callback: CallbackKind::Https {
                port: crate::callback::DEFAULT_HTTPS_PORT,
                cert_dir: crate::store::config_dir()?,
            },
            timeout: Duration::from_secs(300),
            open_browser: true,
            sign_in_page: false,
        })
    }

    /// A plain loopback server on a free port (the app must accept loopback redirect URIs).
    pub fn loopback() -> Self {
        Self {
            callback: CallbackKind::Loopback { port: 0 },
            timeout: Duration::from_secs(300),
            open_browser: true,
            sign_in_page: false,
        }
    }
}

/// The authorization-code flow: starts the callback server, sends the user to SalesLoft,
/// checks the `state` that comes back, exchanges the code (with PKCE) and stores the result.
/// `on_url` is told the address to open (print it; it is also opened in a browser if asked).
pub async fn login(
    app: &OAuthApp,
    store: &dyn CredentialStore,
    options: &LoginOptions,
    on_url: impl FnOnce(&str),
) -> Result<Credentials, AuthError> {
    // Fail before the browser dance if the store cannot be written later.
    store.load()?;
    let server = CallbackServer::bind(options.callback.clone()).await?;
    let app = app.clone().with_redirect_uri(server.redirect_uri());
    let request = oauth::authorization_request(&app)?;
    let shown = if options.sign_in_page {
        server
            .redirect_uri()
            .replace(crate::callback::CALLBACK_PATH, "/")
    } else {
        request.url.clone()
    };
    on_url(&shown);
    if options.open_browser {
        open_in_browser(&shown);
    }
    let sign_in = options.sign_in_page.then_some(request.url.as_str());
    let http = OAuthHttp::new()?;
    let exchange = |code: salesloft_api::Secret| async move {
        let credentials = oauth::exchange_code(&app, &http, &code, &request.pkce_verifier).await?;
        store.save(&credentials)?;
        Ok(credentials)
    };
    server
        .wait(&request.state, sign_in, options.timeout, exchange)
        .await
}

/// Best effort: a desktop's URL opener, if there is one.
fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
