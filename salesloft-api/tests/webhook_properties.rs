//! Properties of webhook verification on arbitrary input: a signed body always verifies, any
//! change to body, token or signature never does, and nothing panics.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use salesloft_api::webhooks::{EVENT_HEADER, SIGNATURE_HEADER, WebhookError, signature, verify};

fn headers(event: &str, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(EVENT_HEADER, HeaderValue::from_str(event).unwrap());
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
    headers
}

proptest! {
    #[test]
    fn a_signed_body_passes_the_signature_and_a_changed_one_never_does(
        token in ".{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        flip in any::<usize>(),
    ) {
        let good = signature(&token, &body);
        let outcome = verify(&token, &headers("person_updated", &good), &body);
        // Past the signature, only the body's own shape can refuse it.
        prop_assert!(!matches!(outcome, Err(WebhookError::WrongSignature | WebhookError::SignatureNotHex)));
        if !body.is_empty() {
            let mut changed = body.clone();
            changed[flip % body.len()] ^= 1;
            prop_assert_eq!(verify(&token, &headers("person_updated", &good), &changed).unwrap_err(), WebhookError::WrongSignature);
        }
        let other = format!("{token}x");
        prop_assert_eq!(verify(&other, &headers("person_updated", &good), &body).unwrap_err(), WebhookError::WrongSignature);
    }

    #[test]
    fn arbitrary_headers_and_bodies_never_panic(
        event in proptest::collection::vec(any::<u8>(), 0..64),
        sig in proptest::collection::vec(any::<u8>(), 0..64),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&event) {
            headers.insert(EVENT_HEADER, value);
        }
        if let Ok(value) = HeaderValue::from_bytes(&sig) {
            headers.insert(SIGNATURE_HEADER, value);
        }
        let _ = verify("token", &headers, &body);
    }
}
