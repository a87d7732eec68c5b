//! The accounts service: `/oauth/authorize` and `/oauth/token` as `salesloft-openapi/SERVICE.md` §5
//! describes them.

use crate::error::ApiError;
use crate::params::Params;
use crate::store::{AccessToken, AuthCode, RefreshToken, Store};
use axum::http::StatusCode;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Constant-time comparison of two secrets, so a check does not leak how much of a guess
/// was right.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The parameters this server adds to a redirect URI; a registered URI that carries one of
/// them already is refused, or the client could read the one an attacker put there first.
const REDIRECT_PARAMS: &[&str] = &[
    "code",
    "state",
    "scope",
    "context",
    "error",
    "error_description",
];

fn invalid_request(description: &str) -> ApiError {
    ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// A token request's parameters, JSON or form. RFC 6749 §3.1: a parameter sent twice is an
/// `invalid_request`, as is a body that is neither (never a bare JSON error).
pub fn token_form(content_type: Option<&str>, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let is_json = content_type.is_some_and(|c| c.trim_start().starts_with("application/json"))
        || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let pairs: Vec<(String, Value)> = if is_json {
        let entries: Entries = serde_json::from_slice(body)
            .map_err(|_| invalid_request("The request body must be a JSON object or a form"))?;
        entries.0
    } else {
        let text = std::str::from_utf8(body)
            .map_err(|_| invalid_request("The request body is not UTF-8"))?;
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect()
    };
    let mut form = Map::new();
    for (key, value) in pairs {
        if form.contains_key(&key) {
            return Err(invalid_request(&format!(
                "The parameter {} was sent more than once",
                key.escape_debug()
            )));
        }
        form.insert(key, value);
    }
    Ok(form)
}

/// A JSON object's entries in order, duplicates kept (serde_json's map keeps only the last).
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A random token: 64 hex digits.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where `/oauth/authorize` sends the browser, and the code it carries when approved.
#[derive(Debug)]
pub struct Redirect {
    pub location: String,
    pub code: Option<String>,
}

/// `GET /oauth/authorize`: the URL to redirect the browser to. Errors that make the redirect
/// URI untrustworthy are answered here (400), as a real authorization server does.
pub fn authorize(
    store: &mut Store,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Redirect, ApiError> {
    let client_id = params.get("client_id").unwrap_or_default();
    if client_id != store.config.client_id {
        return Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Unknown client_id",
        ));
    }
    let redirect_uri = params.get("redirect_uri").unwrap_or_default();
    if !store.config.accepts_redirect_uri(redirect_uri) {
        return Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "The redirect uri included is not valid for this application",
        ));
    }
    let mut target = url::Url::parse(redirect_uri).map_err(|_| {
        ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_redirect_uri", "Not a URL")
    })?;
    if target
        .query_pairs()
        .any(|(k, _)| REDIRECT_PARAMS.contains(&k.as_ref()))
    {
        return Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "The redirect uri carries a parameter the authorization server sets",
        ));
    }
    let mut issued = None;
    {
        let mut query = target.query_pairs_mut();
        if params.get("response_type") != Some("code") {
            query.append_pair("error", "unsupported_response_type");
            query.append_pair("error_description", "response_type must be code");
        } else if !store.config.approve {
            query.append_pair("error", "access_denied");
            query.append_pair("error_description", "The resource owner denied the request");
        } else {
            let code = random_token();
            let scope = store.granted_scope.clone();
            // Expired codes never used can only be refused: forgetting them keeps the map to
            // ten minutes of authorizations, however many a local process asks for. Used ones
            // stay, so a replay still revokes what they granted.
            store
                .codes
                .retain(|_, code| code.used || code.expires_at > now);
            store.codes.insert(
                code.clone(),
                AuthCode {
                    client_id: client_id.to_string(),
                    redirect_uri: redirect_uri.to_string(),
                    scope: scope.clone(),
                    expires_at: now + Duration::minutes(10),
                    used: false,
                    family: None,
                    code_challenge: params.get("code_challenge").map(str::to_string),
                },
            );
            query.append_pair("code", &code);
            issued = Some(code.clone());
            query.append_pair("context", &format!("team_{}", store.team_id));
            query.append_pair("scope", &scope);
        }
        if let Some(state) = params.get("state") {
            query.append_pair("state", state);
        }
    }
    Ok(Redirect {
        location: target.into(),
        code: issued,
    })
}

fn invalid_grant(description: &str) -> ApiError {
    ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// `POST /oauth/token` with the client credentials in the body.
pub fn token(
    store: &mut Store,
    body: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    if field("client_id") != store.config.client_id
        || !same_secret(field("client_secret"), &store.config.client_secret)
    {
        return Err(ApiError::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: send client_id and client_secret in the body",
        ));
    }
    match field("grant_type") {
        "authorization_code" => {
            let code = store
                .codes
                .get_mut(field("code"))
                .ok_or_else(|| invalid_grant("Unknown authorization code"))?;
            if code.used {
                // RFC 6749 §10.5: a code used twice was likely stolen; what it granted is revoked.
                let family = code.family;
                revoke_family(store, family);
                return Err(invalid_grant(
                    "The authorization code was already used; the tokens it granted are revoked",
                ));
            }
            if code.expires_at <= now {
                return Err(invalid_grant("The authorization code has expired"));
            }
            code.used = true;
            if code.client_id != field("client_id") || code.redirect_uri != field("redirect_uri") {
                return Err(invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
            if let Some(challenge) = &code.code_challenge {
                let digest = Sha256::digest(field("code_verifier").as_bytes());
                let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
                if &expected != challenge {
                    return Err(invalid_grant("PKCE verification failed"));
                }
            }
            let scope = code.scope.clone();
            store.next_family += 1;
            let family = store.next_family;
            if let Some(code) = store.codes.get_mut(field("code")) {
                code.family = Some(family);
            }
            let user = store.admin_user_id();
            Ok(issue(store, user, &scope, Some(family), now))
        }
        "refresh_token" => {
            let presented = field("refresh_token");
            let grant = store
                .refresh_tokens
                .get(presented)
                .ok_or_else(|| invalid_grant("Unknown refresh token"))?;
            if grant.revoked {
                return Err(invalid_grant(
                    "The refresh token was revoked (refresh tokens rotate: use the newest one)",
                ));
            }
            let (family, user_id, scope) = (grant.family, grant.user_id, grant.scope.clone());
            for earlier in store
                .refresh_tokens
                .values_mut()
                .filter(|r| r.family == family)
            {
                earlier.revoked = true;
            }
            Ok(issue(store, user_id, &scope, Some(family), now))
        }
        "client_credentials" => {
            let scope = store.granted_scope.clone();
            let user = store.admin_user_id();
            Ok(issue(store, user, &scope, None, now))
        }
        "" => Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is missing",
        )),
        _ => Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        )),
    }
}

/// Revokes every token of an authorization.
fn revoke_family(store: &mut Store, family: Option<u64>) {
    let Some(family) = family else { return };
    for token in store.refresh_tokens.values_mut() {
        if token.family == family {
            token.revoked = true;
        }
    }
    for token in store.access_tokens.values_mut() {
        if token.family == Some(family) {
            token.revoked = true;
        }
    }
}

/// A new access token, and a refresh token in `family` when there is one.
fn issue(
    store: &mut Store,
    user_id: i64,
    scope: &str,
    family: Option<u64>,
    now: DateTime<Utc>,
) -> Value {
    let ttl = store.config.token_ttl_seconds;
    let access = random_token();
    store.access_tokens.insert(
        access.clone(),
        AccessToken {
            user_id,
            expires_at: now + Duration::seconds(ttl),
            revoked: false,
            scope: scope.to_string(),
            family,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": ttl,
        "scope": scope,
        "created_at": now.timestamp(),
    });
    if let Some(family) = family {
        let refresh = random_token();
        store.refresh_tokens.insert(
            refresh.clone(),
            RefreshToken {
                family,
                user_id,
                scope: scope.to_string(),
                revoked: false,
            },
        );
        body["refresh_token"] = json!(refresh);
    }
    body
}
