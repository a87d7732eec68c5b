//! What `ClientHooks::exec` does with every request: pace it against the rate limit, send it,
//! and carry out what [`crate::RetryPolicy::decide`] says of the outcome (401 → refresh once, 429 →
//! wait for the next minute, 500/502/503/504 and broken connections → backoff).
//!
//! The whole answer is read here, inside the retry loop, up to the client's largest answer: a
//! connection that breaks mid-body, or a 2xx JSON body that does not parse (cut short,
//! garbage), is a failed attempt like one that never connected (sent again if the request may
//! be); the generated code then decodes the buffered body.

use crate::error::AnswerTooLarge;
use crate::ratelimit::{RateLimitInfo, request_cost};
use crate::retry::{Action, Outcome, RetryPolicy, Tries};
use crate::state::ClientState;
use crate::token::{AfterUnauthorized, TokenError};
use reqwest::header::RETRY_AFTER;
use reqwest::{Request, Response, StatusCode};
use std::time::Duration;
use tracing::Instrument;

/// Sends `request` per the client's policy, inside a span for the operation. Not an `async fn`:
/// the span wraps the policy's future directly, so the future is no bigger than that one.
pub fn execute<'a>(
    http: &'a reqwest::Client,
    state: &'a ClientState,
    request: Request,
    operation: &'static str,
) -> impl Future<Output = reqwest::Result<Response>> + Send + 'a {
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
    send_with_policy(http, state, request, span.clone()).instrument(span)
}

/// What the loop does next with one attempt's outcome.
enum Next {
    /// Hand it to the caller.
    Done(reqwest::Result<Response>),
    /// A 401 to answer with a refresh.
    Unauthorized(Response),
    /// Send again after the wait the action calls for.
    Again(Action, Option<Duration>),
}

/// The retry loop. A plain `fn` returning an `async move` block, not an `async fn`: an `async
/// fn` keeps a second copy of its arguments (the whole request) in its future. The
/// future is kept small on purpose (one per request in flight, moved into a box once): the
/// waits and the rare 401 work live in boxes of their own.
#[allow(clippy::manual_async_fn)] // on purpose: see above
fn send_with_policy<'a>(
    http: &'a reqwest::Client,
    state: &'a ClientState,
    mut template: Request,
    span: tracing::Span,
) -> impl Future<Output = reqwest::Result<Response>> + Send + 'a {
    async move {
        let policy = &state.policy;
        let clock = state.clock.as_ref();
        let cost = request_cost(template.url());
        let retryable = policy.may_retry(template.method());
        let mut tries = Tries::default();
        loop {
            tries.attempt += 1;
            span.record("attempt", tries.attempt);
            if let Some(wait) = state.pacer.reserve(cost, clock) {
                Box::pin(state.pacer.acquire_after(wait, cost, clock)).await;
            }
            if let Some(shared) = &state.shared_budget {
                Box::pin(take_shared(shared.as_ref(), cost, clock)).await;
            }
            // Without a copy (a streaming body) there is no second attempt.
            let Some(request) = copy_to_send(&template) else {
                return http.execute(template).await;
            };
            let outcome = send_once(http, request, state.max_answer).await;
            let wait = match observe(state, &span, outcome, retryable, &mut tries) {
                Next::Done(result) => return result,
                Next::Unauthorized(response) => {
                    match Box::pin(after_401(state, &mut template, response)).await {
                        Ok(()) => None,
                        Err(result) => return result,
                    }
                }
                Next::Again(Action::Backoff, _) => Some(policy.backoff(tries.failures)),
                // A 429 without Retry-After: the pacer now knows the budget is spent and waits
                // for the next minute itself.
                Next::Again(_, retry_after) => retry_after,
            };
            if let Some(wait) = wait {
                clock.sleep(wait).await;
            }
        }
    }
}

/// Takes `cost` from the team's shared budget, waiting while it is spent.
async fn take_shared(
    shared: &dyn crate::ratelimit::SharedBudget,
    cost: u32,
    clock: &dyn crate::clock::Clock,
) {
    while let Some(wait) = shared.take(cost).await {
        tracing::debug!(
            wait_ms = wait.as_millis() as u64,
            "the team's shared budget is spent: waiting"
        );
        clock.sleep(wait).await;
    }
}

/// A copy of `template` to send, the template kept for a resend. reqwest's `try_clone` sets
/// the copy's timeout (kept in the request's extensions, its only content in reqwest 0.13)
/// before copying the extensions over it, so it builds and drops an extensions map every
/// time, timeout or not: two allocations and a hash table, a third of what copying a GET
/// costs. A request without a body is copied field by field instead, its timeout only if it
/// has one. Bodies are reqwest's to copy.
fn copy_to_send(template: &Request) -> Option<Request> {
    if template.body().is_some() {
        return template.try_clone();
    }
    let mut copy = Request::new(template.method().clone(), template.url().clone());
    *copy.headers_mut() = template.headers().clone();
    *copy.version_mut() = template.version();
    if let Some(timeout) = template.timeout() {
        *copy.timeout_mut() = Some(*timeout);
    }
    Some(copy)
}

/// What one attempt came to.
enum Attempt {
    /// An answer, its whole body read.
    Answered(Response),
    /// A 2xx answer whose JSON body does not parse: kept, to hand on if no attempt is left.
    Broken(Response),
    /// No answer.
    Failed(reqwest::Error),
    /// An answer larger than the client reads: not read further, not asked again.
    TooLarge(reqwest::Error),
}

/// Reads the answer's rate-limit figures into the pacer and the span, and carries out the
/// retry rule's decision on the bookkeeping side.
fn observe(
    state: &ClientState,
    span: &tracing::Span,
    outcome: Attempt,
    retryable: bool,
    tries: &mut Tries,
) -> Next {
    let policy = &state.policy;
    let (response, broken) = match outcome {
        Attempt::Answered(response) => (response, false),
        Attempt::Broken(response) => (response, true),
        Attempt::TooLarge(e) => return Next::Done(Err(e)),
        Attempt::Failed(e) => {
            let failed = Outcome::SendFailed {
                transient: is_transient(&e),
            };
            let action = policy.decide(failed, retryable, tries);
            tries.record(action);
            if action == Action::Return {
                if tries.attempt > 1 {
                    tracing::warn!(attempts = tries.attempt, error = %e, "gave up: no answer");
                }
                return Next::Done(Err(e));
            }
            tracing::debug!(error = %e, "transient failure");
            return Next::Again(action, None);
        }
    };
    let status = response.status();
    let info = RateLimitInfo::from_headers(response.headers());
    let spent = status == StatusCode::TOO_MANY_REQUESTS;
    state
        .pacer
        .observe(response.headers(), info, spent, state.clock.as_ref());
    if let Some(shared) = &state.shared_budget {
        shared.observed(info.remaining, spent);
    }
    span.record("status", status.as_u16());
    if let Some(cost) = info.cost {
        span.record("cost", cost);
    }
    if let Some(remaining) = info.remaining {
        span.record("remaining", remaining);
    }
    let action = if broken {
        tracing::debug!("an answer whose body is not JSON");
        policy.decide(Outcome::BrokenBody, retryable, tries)
    } else {
        let page = RetryPolicy::page_asked(response.url());
        let resendable = retryable && !RetryPolicy::is_deterministic_server_error(status, page);
        policy.decide(Outcome::Answered(status), resendable, tries)
    };
    tries.record(action);
    let failing = broken || RetryPolicy::is_retryable_status(status);
    if action == Action::Return && failing && tries.attempt > 1 {
        tracing::warn!(
            attempts = tries.attempt,
            status = status.as_u16(),
            broken,
            "gave up"
        );
    }
    match action {
        Action::Return => Next::Done(Ok(response)),
        Action::Refresh => Next::Unauthorized(response),
        Action::WaitForBudget => Next::Again(action, retry_after(&response)),
        Action::Backoff => Next::Again(action, None),
    }
}

/// A 401: `Ok` when the token source has a new token, now set on `template`, so the request is
/// worth sending again; else the answer for the caller.
async fn after_401(
    state: &ClientState,
    template: &mut Request,
    response: Response,
) -> Result<(), reqwest::Result<Response>> {
    match refresh(state, template).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Ok(response)),
        Err(e) => Err(explain_401(response, &e).await),
    }
}

/// One attempt: sends, then reads the whole body, up to `max_answer` bytes, so that a body that
/// breaks is a failure of this attempt: a connection dropped mid-body, or a 2xx JSON body that
/// does not parse. The answer keeps its status, headers (moved, not copied) and URL (for error
/// messages). A body that comes in one chunk, as small JSON answers do, is kept as it came.
fn send_once(
    http: &reqwest::Client,
    request: Request,
    max_answer: usize,
) -> impl Future<Output = Attempt> + Send {
    use reqwest::ResponseBuilderExt;
    // Sent here, so that the future keeps reqwest's small handle, not the request.
    let sent = http.execute(request);
    async move {
        let mut response = match sent.await {
            Ok(response) => response,
            Err(e) => return Attempt::Failed(e),
        };
        let mut body = Chunks::default();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > max_answer => {
                    let too_large = AnswerTooLarge { limit: max_answer };
                    // Boxed: the rare path does not grow every request's future. Nothing past
                    // the limit is read, whatever happens.
                    match Box::pin(too_large.into_reqwest()).await {
                        Some(e) => return Attempt::TooLarge(e),
                        None => break,
                    }
                }
                Ok(Some(chunk)) => body.push(chunk),
                Ok(None) => break,
                Err(e) => return Attempt::Failed(e),
            }
        }
        let carrier = http::Response::builder()
            .url(response.url().clone())
            .body(());
        let mut buffered = carrier.unwrap_or_default().map(|()| body.into_bytes());
        *buffered.status_mut() = response.status();
        *buffered.version_mut() = response.version();
        *buffered.headers_mut() = std::mem::take(response.headers_mut());
        let broken = is_broken_json(&buffered);
        let response = Response::from(buffered);
        if broken {
            Attempt::Broken(response)
        } else {
            Attempt::Answered(response)
        }
    }
}

/// A 2xx answer that says it is JSON and is not: a body cut short, or garbage. Parsed without
/// building anything (`IgnoredAny`); an empty body is left to the decoder (a 204 has none).
fn is_broken_json(answer: &http::Response<bytes::Bytes>) -> bool {
    let says_json = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let body = answer.body();
    answer.status().is_success()
        && says_json
        && !body.is_empty()
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
}

/// A body as it comes in: one chunk is kept as it came, more are copied into one buffer.
#[derive(Default)]
struct Chunks {
    first: bytes::Bytes,
    rest: Option<bytes::BytesMut>,
}

impl Chunks {
    fn push(&mut self, chunk: bytes::Bytes) {
        match &mut self.rest {
            Some(all) => all.extend_from_slice(&chunk),
            None if self.first.is_empty() => self.first = chunk,
            None => {
                let mut all = bytes::BytesMut::from(&self.first[..]);
                all.extend_from_slice(&chunk);
                self.rest = Some(all);
            }
        }
    }

    fn len(&self) -> usize {
        self.rest.as_ref().map_or(self.first.len(), |all| all.len())
    }

    fn into_bytes(self) -> bytes::Bytes {
        self.rest.map_or(self.first, bytes::BytesMut::freeze)
    }
}

/// A failure worth another attempt: the connection, a timeout, or the body breaking on the way
/// (reqwest calls a body stream that fails while read a decode error).
fn is_transient(error: &reqwest::Error) -> bool {
    error.is_connect()
        || error.is_timeout()
        || error.is_body()
        || error.is_request()
        || error.is_decode()
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
/// When the token sent has been replaced meanwhile (another request refreshed it), the current
/// one is sent without troubling the source.
async fn refresh(state: &ClientState, template: &mut Request) -> Result<bool, TokenError> {
    if let Some(rejected) = state.bearer.token_sent(template)
        && state.tokens.unauthorized(&rejected).await? == AfterUnauthorized::GiveUp
    {
        return Ok(false);
    }
    let token = state.tokens.token().await?;
    Ok(state.bearer.set(template, &token).is_ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request in flight holds this future, moved once into a box: a regression here
    /// (a new local kept across an `.await`, an `async fn` copying its arguments) costs every
    /// request memory traffic. It was 2,824 bytes before it was made small on purpose (an
    /// `async fn` loop holding the request twice), 664 after.
    #[test]
    fn the_transport_future_stays_small() {
        let http = crate::http_client(Duration::from_secs(1)).unwrap();
        let state = ClientState::new(std::sync::Arc::new(crate::ApiKey::new("k")));
        let request = Request::new(reqwest::Method::GET, "http://127.0.0.1/".parse().unwrap());
        let future = execute(&http, &state, request, "get_me");
        let size = std::mem::size_of_val(&future);
        assert!(size <= 768, "the transport future grew to {size} bytes");
    }

    #[test]
    fn a_copy_to_send_is_the_request_field_for_field() {
        let mut template = Request::new(
            reqwest::Method::DELETE,
            "http://127.0.0.1/v2/people/1.json?x=1".parse().unwrap(),
        );
        template
            .headers_mut()
            .insert("api-version", "v2".parse().unwrap());
        *template.version_mut() = reqwest::Version::HTTP_11;
        *template.timeout_mut() = Some(Duration::from_secs(7));
        let copy = copy_to_send(&template).expect("no body: always copied");
        assert_eq!(copy.method(), template.method());
        assert_eq!(copy.url(), template.url());
        assert_eq!(copy.headers(), template.headers());
        assert_eq!(copy.version(), template.version());
        assert_eq!(copy.timeout(), Some(&Duration::from_secs(7)));
        assert!(copy.body().is_none());
        let untimed = Request::new(reqwest::Method::GET, "http://127.0.0.1/".parse().unwrap());
        assert_eq!(copy_to_send(&untimed).unwrap().timeout(), None);

        let mut post = Request::new(reqwest::Method::POST, "http://127.0.0.1/".parse().unwrap());
        *post.body_mut() = Some(reqwest::Body::from("{}"));
        let copy = copy_to_send(&post).expect("a buffered body is copied");
        assert_eq!(
            copy.body().and_then(reqwest::Body::as_bytes),
            Some(&b"{}"[..])
        );
    }

    #[test]
    fn chunks_are_joined_in_order() {
        let mut one = Chunks::default();
        one.push(bytes::Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(one.into_bytes(), &b"{\"a\":1}"[..]);
        let mut three = Chunks::default();
        for part in [&b"{\"a\""[..], b":", b"1}"] {
            three.push(bytes::Bytes::copy_from_slice(part));
        }
        assert_eq!(three.into_bytes(), &b"{\"a\":1}"[..]);
        assert!(Chunks::default().into_bytes().is_empty());
    }
}
