//! The errors a user of the demo meets, each one line saying what happened and what to do.

use salesloft_api::ApiError;
use salesloft_auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "SALESLOFT_APP_ID is set but SALESLOFT_APP_SECRET is not (or the other way round): set both to use your SalesLoft app, or neither to use the local sandbox"
    )]
    HalfSetCredentials,
    #[error(
        "no stored SalesLoft credentials for this app: run `cargo run -p demo -- authorize` first"
    )]
    NotAuthorized,
    #[error(
        "`authorize` needs a SalesLoft app: set SALESLOFT_APP_ID and SALESLOFT_APP_SECRET (the sandbox needs no authorization)"
    )]
    AuthorizeWithoutApp,
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("{0}")]
    Flow(String),
    /// The user's input (a file, an option) cannot be used as given.
    #[error("{0}")]
    Input(String),
    #[error(
        "webhooks need a public HTTPS URL that reaches the receiver on {0}: pass --public-url https://... (a tunnel or a public host)"
    )]
    NoPublicUrl(std::net::SocketAddr),
    #[error("{0}")]
    Mirror(#[from] salesloft_mirror::MirrorError),
    /// Resources whose read failed after the client's retries (`resource: why` each).
    #[error(
        "{} of the resources could not be read to the end ({}): what was read is kept; run the mirror again to go on from there",
        .0.len(),
        .0.join("; ")
    )]
    MirrorIncomplete(Vec<String>),
    #[error("{0}")]
    Connections(#[from] salesloft_auth::connections::ConnectionError),
    #[error(
        "`connect` needs a SalesLoft app: set SALESLOFT_APP_ID and SALESLOFT_APP_SECRET (and register the redirect URI it prints)"
    )]
    ConnectWithoutApp,
    #[error(
        "`fleet` needs the SalesLoft app the teams connected (to refresh their tokens): set SALESLOFT_APP_ID and SALESLOFT_APP_SECRET"
    )]
    FleetWithoutApp,
    #[error("{0}")]
    Fleet(#[from] salesloft_mirror::fleet::FleetError),
    #[error("the local sandbox could not start: {0}")]
    Sandbox(std::io::Error),
}

impl From<salesloft_api::Error<salesloft_api::types::ErrorBody>> for DemoError {
    fn from(error: salesloft_api::Error<salesloft_api::types::ErrorBody>) -> Self {
        Self::Api(ApiError::from(error))
    }
}

impl DemoError {
    /// The message printed to the user, on one line, with no control character left (parts
    /// of it may come from the network: SalesLoft's messages, a callback's parameters).
    pub fn one_line(&self) -> String {
        salesloft_api::text::printable(&self.to_string().replace('\n', " "))
    }
}
