//! One API call as the handlers see it, and what they answer.

use crate::params::Params;
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// One API call, parsed.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: &'a Method,
    /// The path after `/v2/`, without `.json`, split on `/`.
    pub segments: Vec<&'a str>,
    pub params: &'a Params,
    pub body: &'a Map<String, Value>,
    pub user_id: i64,
    pub now: DateTime<Utc>,
}

#[derive(Debug, PartialEq)]
pub enum Reply {
    Json(StatusCode, Value),
    /// A body already serialized (one record, written straight from the store).
    Bytes(StatusCode, Vec<u8>),
    NoContent,
}

/// A JSON body on the wire, with its content type.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
