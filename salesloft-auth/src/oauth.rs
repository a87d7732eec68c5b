//! The token endpoint and the authorize URL, through the `oauth2` crate: client id and secret
//! in the request body (as SalesLoft expects), PKCE S256, and SalesLoft's token responses
//! turned into [`Credentials`].

use crate::app::OAuthApp;
use crate::credentials::Credentials;
use crate::error::AuthError;
use crate::http::OAuthHttp;
use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    TokenResponse, TokenUrl,
};
use salesloft_api::Secret;
use salesloft_api::text::printable_bounded;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// An authorize URL and the secrets that must come back with (state) or follow (verifier) it.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: String,
    pub state: Secret,
    pub pkce_verifier: Secret,
}

fn client(app: &OAuthApp) -> Result<Client, AuthError> {
    let bad = |what: &str, e: url::ParseError| AuthError::Config(format!("{what}: {e}"));
    Ok(BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_client_secret(ClientSecret::new(app.client_secret.expose().to_string()))
        .set_auth_uri(AuthUrl::new(app.authorize_url()).map_err(|e| bad("authorize URL", e))?)
        .set_token_uri(TokenUrl::new(app.token_url()).map_err(|e| bad("token URL", e))?)
        .set_redirect_uri(
            RedirectUrl::new(app.redirect_uri.clone()).map_err(|e| bad("redirect URI", e))?,
        )
        .set_auth_type(AuthType::RequestBody))
}

/// The URL to send the user to, with a random `state` and a PKCE S256 challenge.
pub fn authorization_request(app: &OAuthApp) -> Result<AuthorizationRequest, AuthError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client(app)?
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    Ok(AuthorizationRequest {
        url: url.to_string(),
        state: Secret::new(state.secret().clone()),
        pkce_verifier: Secret::new(verifier.secret().clone()),
    })
}

fn credentials(
    app: &OAuthApp,
    response: &BasicTokenResponse,
    now: DateTime<Utc>,
    previous_refresh: Option<&Secret>,
) -> Credentials {
    let expires_in = response.expires_in().map_or(7200, |d| d.as_secs() as i64);
    let scope = response
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Credentials {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone()))
            .or_else(|| previous_refresh.cloned()),
        expires_at: now + chrono::Duration::seconds(expires_in),
        scope,
        client_id: app.client_id.clone(),
        api_base_url: app.api_base_url.clone(),
    }
}

fn token_error<E: std::error::Error>(
    error: RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> AuthError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            if *response.error() == BasicErrorResponseType::InvalidGrant {
                return AuthError::InvalidGrant;
            }
            AuthError::OAuth {
                // The server's words outlive its answer in the error: bounded, printable.
                error: printable_bounded(response.error().as_ref(), 128),
                description: printable_bounded(
                    response.error_description().map_or("", String::as_str),
                    512,
                ),
            }
        }
        RequestTokenError::Request(e) => AuthError::Http(e.to_string()),
        RequestTokenError::Parse(e, _) => {
            AuthError::Http(format!("unreadable token response: {e}"))
        }
        RequestTokenError::Other(e) => AuthError::Http(e),
    }
}

/// Exchanges an authorization code (with its PKCE verifier).
pub async fn exchange_code(
    app: &OAuthApp,
    http: &OAuthHttp,
    code: &Secret,
    verifier: &Secret,
) -> Result<Credentials, AuthError> {
    let now = Utc::now();
    let response = client(app)?
        .exchange_code(AuthorizationCode::new(code.expose().to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_string()))
        .request_async(http)
        .await
        .map_err(|e| match token_error(e) {
            // The grant refused here is the code, not a refresh token.
            AuthError::InvalidGrant => AuthError::CodeRefused("invalid_grant".into()),
            other => other,
        })?;
    Ok(credentials(app, &response, now, None))
}

/// Uses a refresh token. SalesLoft rotates them: the answer's refresh token replaces it.
pub async fn refresh(
    app: &OAuthApp,
    http: &OAuthHttp,
    refresh_token: &Secret,
) -> Result<Credentials, AuthError> {
    let now = Utc::now();
    let token = RefreshToken::new(refresh_token.expose().to_string());
    let response = client(app)?
        .exchange_refresh_token(&token)
        .request_async(http)
        .await
        .map_err(token_error)?;
    Ok(credentials(app, &response, now, Some(refresh_token)))
}

/// The client-credentials grant (admin-enabled private apps; no refresh token).
pub async fn client_credentials(
    app: &OAuthApp,
    http: &OAuthHttp,
) -> Result<Credentials, AuthError> {
    let now = Utc::now();
    let response = client(app)?
        .exchange_client_credentials()
        .request_async(http)
        .await
        .map_err(token_error)?;
    Ok(credentials(app, &response, now, None))
}
