//! OAuth 2.0 for SalesLoft, around the generated client of `salesloft-api`.
//!
//! ```no_run
//! # async fn f() -> Result<(), salesloft_auth::AuthError> {
//! use salesloft_auth::{FileStore, OAuthApp, Session};
//! use std::sync::Arc;
//! let app = OAuthApp::new("client id", "client secret");
//! let store = Arc::new(FileStore::default_location()?);
//! let client = Session::from_store(app, store).await?.client()?;
//! let me = client.get_me().send().await;
//! # Ok(()) }
//! ```
//!
//! - [`login()`]: the authorization-code flow with `state` and PKCE, through a local callback
//!   server ([`callback`]), storing the credentials.
//! - [`Session`]: stored credentials that refresh themselves ([`tokens`]), client
//!   credentials, or an API key, behind `salesloft_api::TokenSource`.
//! - [`store`]: the credentials file (0600, atomic writes, locked refresh).
//! - [`connections`]: many teams' authorizations, one per team; in PostgreSQL (feature
//!   `postgres`), refreshed once across processes, tokens sealed.
//! - [`seal`]: tokens sealed at rest (AES-256-GCM, a key from the environment, key rotation),
//!   for stores that keep many teams' tokens in a shared database.

pub mod app;
pub mod callback;
pub mod connections;
pub mod credentials;
pub mod error;
pub mod http;
pub mod login;
pub mod oauth;
pub mod seal;
pub mod session;
pub mod store;
pub mod tokens;

pub use app::{DEFAULT_ACCOUNTS_BASE_URL, DEFAULT_REDIRECT_URI, OAuthApp};
pub use callback::{CallbackKind, CallbackServer};
pub use credentials::Credentials;
pub use error::AuthError;
pub use login::{LoginOptions, login};
pub use session::Session;
pub use store::{CredentialStore, FileStore, MemoryStore, StoreError};
pub use tokens::{ClientCredentialsTokens, OAuthTokens};
