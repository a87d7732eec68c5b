//! A `GET` the typed client has no builder for, answered as JSON: the same hooks as every
//! generated operation (the bearer token, pacing against the team's budget, refresh on 401,
//! retries) and the same errors. For code that works over many resources by path, such as a
//! mirror of every list, and wants each record whole, fields the spec does not know included.

use crate::error::{ApiError, RawBody};
use crate::generated::Client;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};

/// The operation name raw requests carry in spans and errors.
pub const OPERATION: &str = "get_json";

/// `GET {base}{path}?{query}` with the client's credentials and policy: the body as JSON, or
/// the service's error.
pub async fn get_json(
    client: &Client,
    path: &str,
    query: &[(String, String)],
) -> Result<serde_json::Value, ApiError> {
    let url = format!("{}{path}", client.baseurl());
    let mut request = client
        .client()
        .get(url)
        .query(query)
        .header(reqwest::header::ACCEPT, "application/json")
        .build()
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let info = OperationInfo {
        operation_id: OPERATION,
    };
    client
        .pre::<crate::types::ErrorBody>(&mut request, &info)
        .await
        .map_err(ApiError::from)?;
    let response = client
        .exec(request, &info)
        .await
        .map_err(|source| ApiError::Connection { source })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|source| ApiError::Connection { source })?;
    if !status.is_success() {
        let error = serde_json::from_slice::<crate::types::ErrorBody>(&body).ok();
        return Err(ApiError::service(status, error.as_ref(), &headers));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::InvalidResponse {
        operation: Some(OPERATION),
        failure: Box::new(crate::decode::DecodeFailure::new(&body, &e)),
        body: RawBody::keep(&body),
    })
}
