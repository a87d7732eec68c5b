//! Faults a test injects (`/__admin/faults`): what a pending fault does to the next API answer.
//! A status fault answers before any work; a body fault lets the work happen and spoils the
//! answer's body (cut short, not JSON, or the connection dropped half way through it).

use crate::call::json_response;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

/// What a pending fault does to the next API response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// Answer with this status (500, 502, 503, 429, ...) and the service's body, before doing anything.
    Status { status: u16 },
    /// Do the work, then close the connection in the middle of the response body.
    DropConnection,
    /// Do the work, then send a JSON body cut short.
    TruncatedBody,
    /// Do the work, then send a body that is not JSON.
    MalformedBody,
}

/// The error a status fault answers with: the service's body for that status.
pub(crate) fn status_error(status: u16) -> ApiError {
    match StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR) {
        StatusCode::TOO_MANY_REQUESTS => ApiError::rate_limited(),
        status => ApiError::server_error(status),
    }
}

/// The response body, spoiled as the pending fault says.
pub(crate) fn spoil(status: StatusCode, bytes: Vec<u8>, fault: Option<Fault>) -> Response {
    match fault {
        Some(Fault::TruncatedBody) => {
            let half = bytes.len() / 2;
            json_response(status, bytes[..half].to_vec())
        }
        Some(Fault::MalformedBody) => {
            json_response(status, b"{\"data\": {\"id\": 1,, <html>".to_vec())
        }
        Some(Fault::DropConnection) => {
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault: connection dropped",
                )),
            ];
            let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        Some(Fault::Status { .. }) | None => json_response(status, bytes),
    }
}
