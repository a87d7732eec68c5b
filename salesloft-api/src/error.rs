//! The one error type users meet: status, SalesLoft's message, whether trying again may help,
//! the rate-limit figures, and what to do next. Never a token.

use crate::decode::DecodeFailure;
use crate::ratelimit::RateLimitInfo;
use crate::types::ErrorBody;
use reqwest::StatusCode;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// SalesLoft answered with an error status.
    #[error("SalesLoft answered {status}: {message}. {hint}")]
    Service {
        status: StatusCode,
        /// SalesLoft's `error`, or its `errors` map written out.
        message: String,
        /// The `errors` map of a 422: messages by field.
        field_errors: BTreeMap<String, Vec<String>>,
        rate_limit: RateLimitInfo,
        hint: &'static str,
    },
    /// No answer: connection refused or dropped, timeout, TLS.
    #[error(
        "could not reach SalesLoft ({}); check the network and the base URL, then try again",
        chain(source)
    )]
    Connection {
        #[source]
        source: reqwest::Error,
    },
    /// An answer that could not be read as what the operation returns: where and why
    /// ([`DecodeFailure`]), and the body as it came ([`ApiError::raw_body`]), never printed.
    #[error("{}", invalid_response(*.operation, .failure))]
    InvalidResponse {
        /// The operation (`list_people`), when the call was made through `call()`.
        operation: Option<&'static str>,
        failure: Box<DecodeFailure>,
        body: RawBody,
    },
    /// An answer larger than the client reads ([`crate::ClientBuilder::max_answer_bytes`]):
    /// it was not read further, nor asked again (it would be as large the next time).
    #[error(
        "SalesLoft's answer is larger than the {limit} bytes the client reads; ask for fewer records a page (per_page), or raise the client's max_answer_bytes"
    )]
    AnswerTooLarge { limit: usize },
    /// A list walked by `id[gt]` answered a record at or before the id asked after: it did not
    /// move past what was read, and reading on would loop.
    #[error(
        "SalesLoft answered id {id} when asked for ids after {after}: the list does not move forward; stopped rather than read it again"
    )]
    PageRepeated { after: i64, id: i64 },
    /// No token could be had (refresh failed, no credentials): the message says what to do.
    #[error("{0}")]
    Credentials(String),
    /// The request could not be built from the arguments given.
    #[error("the request could not be built: {0}")]
    InvalidRequest(String),
}

fn hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Check the request's parameters",
        401 => "The credentials were refused: authorize again, or check the API key",
        403 => {
            "The app lacks a scope or the user a permission: grant it in SalesLoft and authorize again"
        }
        404 => "It does not exist, or this user may not see it",
        422 => "Fix the fields named and send it again",
        429 => "The team's rate-limit budget for this minute is spent: wait for the next minute",
        500..=599 => "SalesLoft failed: try again later",
        _ => "See SalesLoft's API documentation for this status",
    }
}

impl ApiError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Service { status, .. } => Some(*status),
            Self::Connection { source } => source.status(),
            _ => None,
        }
    }

    /// Whether the same request may succeed later (the transport has already retried it as
    /// far as its policy allows). Wider than [`crate::RetryPolicy::decide`], which resends
    /// within one call: later, a server error or an unreadable body may well have passed too.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Service { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            Self::Connection { .. } => true,
            // A body cut short may come whole next time; a value of the wrong type will not.
            Self::InvalidResponse { failure, .. } => failure.malformed,
            Self::AnswerTooLarge { .. }
            | Self::PageRepeated { .. }
            | Self::Credentials(_)
            | Self::InvalidRequest(_) => false,
        }
    }

    /// The rate-limit figures of the answer, when there was one.
    pub fn rate_limit(&self) -> Option<RateLimitInfo> {
        match self {
            Self::Service { rate_limit, .. } => Some(*rate_limit),
            _ => None,
        }
    }

    /// The body of an answer that did not decode, as it came (its first [`MAX_RAW_BODY`]
    /// bytes), so a caller can still read it (as `serde_json::Value`, say). It may hold
    /// personal data: it is never printed.
    pub fn raw_body(&self) -> Option<&[u8]> {
        match self {
            Self::InvalidResponse { body, .. } => Some(body.bytes()),
            _ => None,
        }
    }

    /// The operation the error came from, where known.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Self::InvalidResponse { operation, .. } => *operation,
            _ => None,
        }
    }

    /// The same error, naming the operation it came from (what the generated `call()` does).
    pub fn in_operation(mut self, name: &'static str) -> Self {
        if let Self::InvalidResponse { operation, .. } = &mut self {
            *operation = Some(name);
        }
        self
    }

    pub(crate) fn service(
        status: StatusCode,
        body: Option<&ErrorBody>,
        headers: &reqwest::header::HeaderMap,
    ) -> Self {
        let field_errors = bounded_field_errors(body.and_then(|b| b.errors.as_ref()));
        let mut message = body.and_then(|b| b.error.clone()).unwrap_or_default();
        if let Some(description) = body.and_then(|b| b.error_description.as_deref()) {
            message = format!("{message} ({description})");
        }
        if message.is_empty() && !field_errors.is_empty() {
            let parts: Vec<String> = field_errors
                .iter()
                .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
                .collect();
            message = parts.join("; ");
        }
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("error").to_string();
        }
        Self::Service {
            status,
            // SalesLoft's words reach terminals and logs: no control characters; and an error
            // outlives its answer (in a report, a retry loop): a bounded copy.
            message: crate::text::printable_bounded(&message, MAX_MESSAGE),
            field_errors,
            rate_limit: RateLimitInfo::from_headers(headers),
            hint: hint(status),
        }
    }
}

impl From<progenitor_client::Error<ErrorBody>> for ApiError {
    fn from(error: progenitor_client::Error<ErrorBody>) -> Self {
        use progenitor_client::Error as E;
        match error {
            E::ErrorResponse(response) => {
                Self::service(response.status(), Some(&response), response.headers())
            }
            E::UnexpectedResponse(response) => {
                Self::service(response.status(), None, response.headers())
            }
            E::CommunicationError(source)
            | E::InvalidUpgrade(source)
            | E::ResponseBodyError(source) => match AnswerTooLarge::within(&source) {
                Some(too_large) => Self::AnswerTooLarge {
                    limit: too_large.limit,
                },
                None => Self::Connection { source },
            },
            E::InvalidResponsePayload(body, e) => Self::InvalidResponse {
                operation: None,
                failure: Box::new(DecodeFailure::new(&body, &e)),
                body: RawBody::keep(&body),
            },
            E::InvalidRequest(message) => Self::InvalidRequest(message),
            E::Custom(message) => Self::Credentials(message),
        }
    }
}

/// The largest answer body a client reads by default: far above any page of the API, far
/// below what would hurt a process.
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// Why the transport stopped reading an answer: carried to [`ApiError::AnswerTooLarge`] as the
/// source of the transport's error (the hooks can only hand on a `reqwest::Error`).
#[derive(Debug, thiserror::Error)]
#[error("the answer is larger than {limit} bytes")]
pub(crate) struct AnswerTooLarge {
    pub(crate) limit: usize,
}

impl AnswerTooLarge {
    /// The one in `error`'s chain of causes, if any.
    fn within(error: &reqwest::Error) -> Option<&AnswerTooLarge> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(error) = cause {
            if let Some(found) = error.downcast_ref::<AnswerTooLarge>() {
                return Some(found);
            }
            cause = error.source();
        }
        None
    }

    /// A `reqwest::Error` whose cause is this one: a body that fails with it, read (which
    /// reqwest always reports as an error).
    pub(crate) async fn into_reqwest(self) -> Option<reqwest::Error> {
        let failing = reqwest::Body::wrap(FailingBody(Some(self)));
        let response = reqwest::Response::from(http::Response::new(failing));
        response.bytes().await.err()
    }
}

/// A body whose one frame is an error.
struct FailingBody(Option<AnswerTooLarge>);

impl http_body::Body for FailingBody {
    type Data = bytes::Bytes;
    type Error = AnswerTooLarge;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(Err))
    }
}

/// The longest message an error keeps of SalesLoft's words.
pub const MAX_MESSAGE: usize = 1024;
/// The most fields, and messages per field, an error keeps of a 422's `errors` map.
pub const MAX_FIELD_ERRORS: usize = 32;
/// The most of an undecodable body an error keeps (a full page of 100 records is ~300 KB).
pub const MAX_RAW_BODY: usize = 1024 * 1024;

/// A 422's `errors` map as an error keeps it: bounded in fields, messages and their lengths,
/// control characters escaped.
fn bounded_field_errors(
    errors: Option<&std::collections::HashMap<String, Vec<String>>>,
) -> BTreeMap<String, Vec<String>> {
    let bounded = |text: &str| crate::text::printable_bounded(text, 256);
    errors
        .into_iter()
        .flatten()
        .take(MAX_FIELD_ERRORS)
        .map(|(field, messages)| {
            let messages = messages.iter().take(MAX_FIELD_ERRORS).map(|m| bounded(m));
            (bounded(field), messages.collect())
        })
        .collect()
}

/// A raw response body, shown only by its size: an owned copy of at most [`MAX_RAW_BODY`]
/// bytes (never a view that keeps a larger buffer alive), and the length of the whole.
#[derive(Clone)]
pub struct RawBody {
    kept: bytes::Bytes,
    whole_len: usize,
}

impl RawBody {
    pub(crate) fn keep(body: &[u8]) -> Self {
        Self {
            kept: bytes::Bytes::copy_from_slice(&body[..body.len().min(MAX_RAW_BODY)]),
            whole_len: body.len(),
        }
    }

    /// The body, or its first [`MAX_RAW_BODY`] bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.kept
    }

    /// How long the whole body was.
    pub fn whole_len(&self) -> usize {
        self.whole_len
    }

    /// Whether [`RawBody::bytes`] is all of it.
    pub fn is_whole(&self) -> bool {
        self.kept.len() == self.whole_len
    }
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawBody(<{} bytes>)", self.whole_len)
    }
}

fn invalid_response(operation: Option<&str>, failure: &DecodeFailure) -> String {
    let answer = match operation {
        Some(operation) => format!("SalesLoft's answer to {operation}"),
        None => "SalesLoft's answer".to_string(),
    };
    let next = if failure.malformed {
        "try again, and report it if it persists"
    } else {
        "the generated type does not fit what the service sent: report it with the raw body (`ApiError::raw_body`), which you can read as `serde_json::Value` meanwhile"
    };
    format!("{answer} could not be read: {failure}; {next}")
}

/// An error and its causes, one after another: reqwest's own message ("error sending request
/// for url ...") does not say whether the connection was refused, cut or timed out; its
/// sources do.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
