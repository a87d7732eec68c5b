//! Error answers with the bodies the real service sends (SERVICE.md §4).

use axum::http::StatusCode;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }

    pub fn bad_request(message: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            json!({"error": message, "status": 400}),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            json!({"error": "No Bearer Token attached to request, or the token is expired or revoked"}),
        )
    }

    pub fn forbidden(message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, json!({"error": message}))
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, json!({"error": "Not Found"}))
    }

    /// 422 with the `errors` map: `{"errors": {"field": ["message"]}}`.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": {field: [message]}}),
        )
    }

    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "API rate limit exceeded"}),
        )
    }

    /// A server error, as injected by a fault.
    pub fn server_error(status: StatusCode) -> Self {
        let message = status.canonical_reason().unwrap_or("Server Error");
        Self::new(status, json!({"error": message, "status": status.as_u16()}))
    }

    /// An OAuth error (`invalid_grant`, `invalid_client`, ...).
    pub fn oauth(status: StatusCode, error: &str, description: &str) -> Self {
        Self::new(
            status,
            json!({"error": error, "error_description": description}),
        )
    }
}
