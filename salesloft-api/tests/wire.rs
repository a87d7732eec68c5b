//! What goes on the wire: Rails-style arrays, bracket filters, JSON bodies, the bearer header.

mod support;

use chrono::{TimeZone, Utc};
use support::CaptureServer;

const EMPTY_LIST: &str = r#"{"data": [], "metadata": {}}"#;
const ONE: &str = r#"{"data": {"id": 1}}"#;

#[tokio::test]
async fn array_parameters_are_rails_style_and_encoded() {
    let server = CaptureServer::start().await;
    server.answer("/v2/people.json", 200, EMPTY_LIST);
    server
        .client()
        .list_people()
        .ids(vec![1, 2])
        .email_addresses(vec!["a@b.c".to_string()])
        .send()
        .await
        .unwrap();
    assert_eq!(
        server.last().query.as_deref(),
        Some("email_addresses%5B%5D=a%40b.c&ids%5B%5D=1&ids%5B%5D=2")
    );
}

#[tokio::test]
async fn bracket_filters_and_paging_parameters() {
    let server = CaptureServer::start().await;
    server.answer("/v2/people.json", 200, EMPTY_LIST);
    let since = Utc.with_ymd_and_hms(2023, 3, 7, 17, 12, 52).unwrap()
        + chrono::Duration::microseconds(362_090);
    server
        .client()
        .list_people()
        .updated_at_gte(since)
        .sort_by("updated_at")
        .sort_direction("ASC")
        .per_page(100)
        .page(1)
        .include_paging_counts(true)
        .new_filter(
            [("new".to_string(), true)]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .send()
        .await
        .unwrap();
    let query = server.last().query.unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("updated_at[gte]"), Some("2023-03-07T17:12:52.362090Z"));
    assert_eq!(get("sort_by"), Some("updated_at"));
    assert_eq!(get("sort_direction"), Some("ASC"));
    assert_eq!(get("per_page"), Some("100"));
    assert_eq!(get("include_paging_counts"), Some("true"));
    assert_eq!(
        get("new"),
        Some("true"),
        "list_people's `new` filter: {query}"
    );
}

#[tokio::test]
async fn bodies_are_json_with_the_json_content_type() {
    let server = CaptureServer::start().await;
    server.answer("/v2/people/5.json", 200, ONE);
    server
        .client()
        .update_person()
        .id(5)
        .body_map(|b| {
            b.first_name("Test".to_string())
                .last_name("McTester".to_string())
                .account_id(7)
        })
        .send()
        .await
        .unwrap();
    let request = server.last();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"first_name": "Test", "last_name": "McTester", "account_id": 7})
    );
}

#[tokio::test]
async fn cadence_membership_parameters_travel_in_the_query_as_documented() {
    let server = CaptureServer::start().await;
    server.answer("/v2/cadence_memberships.json", 200, ONE);
    server
        .client()
        .create_cadence_membership()
        .person_id(11)
        .cadence_id(22)
        .step_id(33)
        .send()
        .await
        .unwrap();
    let request = server.last();
    assert_eq!(
        request.query.as_deref(),
        Some("cadence_id=22&person_id=11&step_id=33")
    );
    assert!(request.body.is_empty(), "no body");
}

#[tokio::test]
async fn the_bearer_token_is_sent() {
    let server = CaptureServer::start().await;
    server.answer("/v2/me.json", 200, ONE);
    server.client().get_me().send().await.unwrap();
    assert_eq!(server.last().headers["authorization"], "Bearer ak_test_key");
}

/// Hands out `t1`, then `t2` after it is told about a 401.
#[derive(Debug, Default)]
struct Rotating {
    refreshed: std::sync::atomic::AtomicUsize,
}

impl salesloft_api::TokenSource for Rotating {
    fn token(
        &self,
    ) -> salesloft_api::BoxFuture<'_, Result<salesloft_api::Secret, salesloft_api::TokenError>>
    {
        let n = self.refreshed.load(std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move { Ok(salesloft_api::Secret::new(format!("t{}", n + 1))) })
    }

    fn unauthorized<'a>(
        &'a self,
        _: &'a salesloft_api::Secret,
    ) -> salesloft_api::BoxFuture<
        'a,
        Result<salesloft_api::AfterUnauthorized, salesloft_api::TokenError>,
    > {
        self.refreshed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok(salesloft_api::AfterUnauthorized::Retry) })
    }
}

#[tokio::test]
async fn a_401_is_told_to_the_token_source_and_resent_once() {
    let server = CaptureServer::start().await;
    server.answer(
        "/v2/me.json",
        401,
        r#"{"error": "No Bearer Token attached to request"}"#,
    );
    let tokens = std::sync::Arc::new(Rotating::default());
    let client =
        salesloft_api::Client::with_token_source(&server.base_url, tokens.clone()).unwrap();
    let err = client.get_me().send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    let sent: Vec<_> = server
        .captured()
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(
        sent,
        ["Bearer t1", "Bearer t2"],
        "one resend, with the new token"
    );
    assert_eq!(
        tokens.refreshed.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn an_api_key_401_is_not_resent() {
    let server = CaptureServer::start().await;
    server.answer(
        "/v2/me.json",
        401,
        r#"{"error": "No Bearer Token attached to request"}"#,
    );
    let err = server.client().get_me().send().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(server.captured().len(), 1);
}
