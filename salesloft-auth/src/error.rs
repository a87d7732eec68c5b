//! What can go wrong while authorizing or refreshing, each saying what to do next. Text that
//! came from the network (a callback's `error_description`, the token endpoint's answer) is
//! stored already passed through `salesloft_api::text::printable`, so printing an error never
//! sends a control character to a terminal.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no SalesLoft credentials are stored at {0}: run the authorization first")]
    NotAuthorized(String),
    #[error(
        "the stored credentials belong to another app or base URL ({0}): authorize this app again"
    )]
    OtherApp(String),
    #[error("the authorization was denied in SalesLoft ({0}); sign in again and approve the app")]
    Denied(String),
    #[error(
        "the callback's state did not match this login: the response was not for this request, so no code was exchanged; start the login again"
    )]
    StateMismatch,
    #[error("the callback carried no authorization code; start the login again")]
    MissingCode,
    #[error(
        "no callback arrived within {0} seconds; start the login again and finish it in the browser"
    )]
    Timeout(u64),
    #[error("SalesLoft refused the refresh token (invalid_grant): authorize again")]
    InvalidGrant,
    #[error(
        "SalesLoft refused the authorization code ({0}): it was already used, has expired or was not issued to this app; start the login again"
    )]
    CodeRefused(String),
    #[error("SalesLoft's token endpoint answered {error}: {description}")]
    OAuth { error: String, description: String },
    #[error(
        "could not reach SalesLoft's accounts service: {0}; check the network and the accounts base URL"
    )]
    Http(String),
    #[error("the local callback server failed: {0}")]
    Callback(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid configuration: {0}")]
    Config(String),
}
