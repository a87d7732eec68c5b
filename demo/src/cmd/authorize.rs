//! `authorize`: sign in with the SalesLoft app once and store the credentials.

use crate::error::DemoError;
use crate::output::Reporter;
use salesloft_auth::{CallbackKind, FileStore, LoginOptions, OAuthApp};
use std::time::Duration;

/// `authorize`'s flags.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeArgs {
    /// Port of the local HTTPS server that receives SalesLoft's callback.
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
}

/// `authorize`: serves https://localhost:<port> with a "Sign in with SalesLoft" link and the
/// callback, and stores the credentials.
pub async fn run(
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
