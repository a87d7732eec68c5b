//! What `ClientHooks::exec` does with every request: pace it against the rate limit, send it,
//! and decide from the answer whether to send it again (401 → refresh once, 429 → wait for the
//! next minute, 502/503/504 and broken connections → backoff, per the [`RetryPolicy`]).
//!
//! The response body is read here, so a connection that breaks mid-body is retried like one
//! that never connected; the generated code then decodes the buffered body.

use crate::hooks::{Inner, bearer_of};
use crate::ratelimit::{RateLimitInfo, request_cost};
use crate::retry::RetryPolicy;
use crate::token::{AfterUnauthorized, TokenError};
use reqwest::header::RETRY_AFTER;
use reqwest::{Request, Response, StatusCode};
use std::time::Duration;
use tracing::Instrument;

/// Why the loop goes round again.
enum Again {
    Refreshed,
    RateLimited(Option<Duration>),
    Failed,
}

pub async fn execute(
    http: &reqwest::Client,
    inner: &Inner,
    request: Request,
    operation: &'static str,
) -> reqwest::Result<Response> {
    let span = tracing::info_span!(
        "salesloft",
        operation,
        method = %request.method(),
        attempt = tracing::field::Empty,
        status = tracing::field::Empty,
        cost = tracing::field::Empty,
        remaining = tracing::field::Empty,
    );
    // A disabled span (no subscriber) clones for nothing; recording on it is a no-op.
    send_with_policy(http, inner, request, span.clone())
        .instrument(span)
        .await
}

async fn send_with_policy(
    http: &reqwest::Client,
    inner: &Inner,
    mut template: Request,
    span: tracing::Span,
) -> reqwest::Result<Response> {
    let policy = &inner.policy;
    let clock = inner.clock.as_ref();
    let cost = request_cost(template.url());
    let retryable = policy.may_retry(template.method());
    let (mut attempt, mut failures, mut rate_limited, mut refreshed) = (0u32, 0u32, 0u32, false);
    loop {
        attempt += 1;
        span.record("attempt", attempt);
        inner.pacer.acquire(cost, clock).await;
        // Without a clone (a streaming body) there is no second attempt.
        let Some(request) = template.try_clone() else {
            return http.execute(template).await;
        };
        let outcome = match http.execute(request).await {
            Ok(response) => buffer(response).await,
            Err(e) => Err(e),
        };
        let again = match outcome {
            Ok(response) => {
                let status = response.status();
                let info = RateLimitInfo::from_headers(response.headers());
                let spent = status == StatusCode::TOO_MANY_REQUESTS;
                inner.pacer.observe(response.headers(), info, spent, clock);
                span.record("status", status.as_u16());
                if let Some(cost) = info.cost {
                    span.record("cost", cost);
                }
                if let Some(remaining) = info.remaining {
                    span.record("remaining", remaining);
                }
                match status {
                    StatusCode::UNAUTHORIZED if !refreshed => {
                        match refresh(inner, &mut template).await {
                            Ok(true) => {
                                refreshed = true;
                                Again::Refreshed
                            }
                            Ok(false) => return Ok(response),
                            Err(e) => return explain_401(response, &e).await,
                        }
                    }
                    StatusCode::TOO_MANY_REQUESTS if rate_limited < policy.rate_limit_attempts => {
                        rate_limited += 1;
                        Again::RateLimited(retry_after(&response))
                    }
                    s if RetryPolicy::is_retryable_status(s)
                        && retryable
                        && failures + 1 < policy.max_attempts =>
                    {
                        failures += 1;
                        Again::Failed
                    }
                    _ => return Ok(response),
                }
            }
            Err(e) if retryable && is_transient(&e) && failures + 1 < policy.max_attempts => {
                tracing::debug!(error = %e, "transient failure");
                failures += 1;
                Again::Failed
            }
            Err(e) => return Err(e),
        };
        match again {
            Again::Refreshed => {}
            // The pacer now knows the budget is spent and waits for the next minute itself.
            Again::RateLimited(None) => {}
            Again::RateLimited(Some(wait)) => clock.sleep(wait).await,
            Again::Failed => clock.sleep(policy.backoff(failures)).await,
        }
    }
}

/// Reads the whole body, so that a body cut short is an error of this attempt. The answer
/// keeps its status, headers (moved, not copied) and URL (for error messages).
async fn buffer(mut response: Response) -> reqwest::Result<Response> {
    use reqwest::ResponseBuilderExt;
    let (status, version) = (response.status(), response.version());
    let headers = std::mem::take(response.headers_mut());
    let url = response.url().clone();
    let body = response.bytes().await?;
    let carrier = http::Response::builder().url(url).body(());
    let mut buffered = carrier.unwrap_or_default().map(|()| body);
    *buffered.status_mut() = status;
    *buffered.version_mut() = version;
    *buffered.headers_mut() = headers;
    Ok(Response::from(buffered))
}

fn is_transient(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout() || error.is_body() || error.is_request()
}

fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// Tells the token source about the 401; true when it has a new token, now set on `template`.
async fn refresh(inner: &Inner, template: &mut Request) -> Result<bool, TokenError> {
    let Some(rejected) = bearer_of(template) else {
        return Ok(false);
    };
    if inner.tokens.unauthorized(&rejected).await? == AfterUnauthorized::GiveUp {
        return Ok(false);
    }
    let token = inner.tokens.token().await?;
    Ok(inner.bearer.set(template, &token).is_ok())
}

/// The 401 stands because no new token could be had: its `error` says why (for example
/// `invalid_grant`: authorize again), after SalesLoft's own message.
async fn explain_401(response: Response, error: &TokenError) -> reqwest::Result<Response> {
    tracing::warn!(error = %error, "refreshing after a 401 failed");
    let headers = response.headers().clone();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let said = body
        .get("error")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("Unauthorized");
    let explained =
        serde_json::json!({"error": format!("{said}; refreshing the token failed: {error}")});
    let mut rebuilt = http::Response::new(bytes::Bytes::from(explained.to_string()));
    *rebuilt.status_mut() = StatusCode::UNAUTHORIZED;
    *rebuilt.headers_mut() = headers;
    rebuilt
        .headers_mut()
        .remove(reqwest::header::CONTENT_LENGTH);
    Ok(Response::from(rebuilt))
}
