//! What every generated `Client` carries for its hooks: where tokens come from, the retry
//! policy, the shared rate-limit pacer, the clock, and the bearer header of the current token.

use crate::clock::{Clock, SystemClock};
use crate::ratelimit::{Pacer, SharedBudget};
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::token::TokenSource;
use reqwest::Request;
use reqwest::header::{AUTHORIZATION, HeaderValue, InvalidHeaderValue};
use std::sync::{Arc, Mutex};

/// The state of one client, shared by its clones (and so is the rate-limit budget).
#[derive(Clone, Debug)]
pub struct ClientState {
    pub(crate) tokens: Arc<dyn TokenSource>,
    pub(crate) policy: RetryPolicy,
    pub(crate) pacer: Arc<Pacer>,
    /// The team's budget shared with other processes, when there is one.
    pub(crate) shared_budget: Option<Arc<dyn SharedBudget>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) bearer: Arc<BearerHeader>,
    /// The largest answer body read ([`crate::ClientBuilder::max_answer_bytes`]).
    pub(crate) max_answer: usize,
}

impl ClientState {
    pub fn new(tokens: Arc<dyn TokenSource>) -> Self {
        Self {
            tokens,
            policy: RetryPolicy::default(),
            pacer: Arc::default(),
            shared_budget: None,
            clock: Arc::new(SystemClock),
            bearer: Arc::default(),
            max_answer: crate::error::MAX_ANSWER,
        }
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_shared_budget(mut self, budget: Arc<dyn SharedBudget>) -> Self {
        self.shared_budget = Some(budget);
        self
    }

    pub fn with_max_answer(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }
}

/// The `Authorization: Bearer <token>` header of the current token, marked sensitive. It is
/// built once per token and shared by every request after (a clone is a reference count), as
/// is the token itself.
#[derive(Debug, Default)]
pub(crate) struct BearerHeader {
    last: Mutex<Option<(Secret, HeaderValue)>>,
}

impl BearerHeader {
    /// Puts the header for `token` on `request`.
    pub(crate) fn set(
        &self,
        request: &mut Request,
        token: &Secret,
    ) -> Result<(), InvalidHeaderValue> {
        let value = self.value(token)?;
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }

    fn value(&self, token: &Secret) -> Result<HeaderValue, InvalidHeaderValue> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // The same token is the same `Arc`, which `==` checks before comparing the text.
        if let Some((cached, value)) = last.as_ref()
            && cached == token
        {
            return Ok(value.clone());
        }
        let bytes = bytes::Bytes::from(format!("Bearer {}", token.expose()));
        let mut value = HeaderValue::from_maybe_shared(bytes)?;
        value.set_sensitive(true);
        *last = Some((token.clone(), value.clone()));
        Ok(value)
    }

    /// The token `request` was sent with, if it is still the current one: the header was made
    /// here from that token. `None` when the token has been replaced since (or the request has
    /// no header of ours).
    pub(crate) fn token_sent(&self, request: &Request) -> Option<Secret> {
        let sent = request.headers().get(AUTHORIZATION)?;
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (token, value) = last.as_ref()?;
        (value == sent).then(|| token.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_header_is_marked_sensitive() {
        let mut request = Request::new(
            reqwest::Method::GET,
            "http://127.0.0.1/v2/me.json".parse().unwrap(),
        );
        let bearer = BearerHeader::default();
        bearer.set(&mut request, &Secret::new("ak_secret")).unwrap();
        let value = &request.headers()[AUTHORIZATION];
        assert!(value.is_sensitive());
        assert!(
            !format!("{value:?}").contains("ak_secret"),
            "reqwest hides sensitive headers in Debug"
        );
        assert_eq!(bearer.token_sent(&request).unwrap().expose(), "ak_secret");
    }

    #[test]
    fn a_new_token_gets_a_new_header() {
        let bearer = BearerHeader::default();
        let mut request = Request::new(
            reqwest::Method::GET,
            "http://127.0.0.1/v2/me.json".parse().unwrap(),
        );
        bearer.set(&mut request, &Secret::new("at_1")).unwrap();
        let sent_with_1 = request.try_clone().unwrap();
        bearer.set(&mut request, &Secret::new("at_1")).unwrap();
        assert_eq!(bearer.token_sent(&request).unwrap().expose(), "at_1");
        bearer.set(&mut request, &Secret::new("at_2")).unwrap();
        assert_eq!(bearer.token_sent(&request).unwrap().expose(), "at_2");
        assert!(
            bearer.token_sent(&sent_with_1).is_none(),
            "a request sent with a replaced token is known as such"
        );
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        assert!(
            bearer
                .set(&mut request, &Secret::new("bad\ntoken"))
                .is_err(),
            "a token that is no header value is refused"
        );
    }
}
