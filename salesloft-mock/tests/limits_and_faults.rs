//! Rate limits, fault injection and the request log, through plain HTTP.

mod common;

use common::Api;
use salesloft_mock::{AuthKind, Config, Fault};
use serde_json::json;

#[tokio::test]
async fn every_response_carries_cost_and_remaining_budget() {
    let api = Api::with(Config {
        rate_limit_per_minute: 50,
        ..Config::default()
    })
    .await;
    api.sandbox.clock().advance_to_next_minute();
    let first = api.get("/v2/people.json").await;
    assert_eq!(first.header("x-ratelimit-endpoint-cost"), Some("1"));
    assert_eq!(first.header("x-ratelimit-remaining-minute"), Some("49"));
    assert!(first.header("date").is_some());
    api.sandbox.seed_people(1).unwrap();
    let deep = api.get("/v2/people.json?page=120").await;
    assert_eq!(deep.header("x-ratelimit-endpoint-cost"), Some("3"));
    assert_eq!(deep.header("x-ratelimit-remaining-minute"), Some("46"));
    assert_eq!(
        api.get("/v2/people.json?page=600")
            .await
            .header("x-ratelimit-endpoint-cost"),
        Some("30")
    );
}

#[tokio::test]
async fn a_spent_budget_gets_429_without_retry_after_until_the_next_minute() {
    let api = Api::with(Config {
        rate_limit_per_minute: 3,
        ..Config::default()
    })
    .await;
    api.sandbox.clock().advance_to_next_minute();
    for _ in 0..3 {
        assert_eq!(api.get("/v2/me.json").await.status, 200);
    }
    let limited = api.get("/v2/me.json").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body, json!({"error": "API rate limit exceeded"}));
    assert_eq!(limited.header("retry-after"), None);
    assert_eq!(limited.header("x-ratelimit-remaining-minute"), Some("0"));
    api.sandbox.clock().advance_to_next_minute();
    assert_eq!(api.get("/v2/me.json").await.status, 200);
}

#[tokio::test]
async fn injected_statuses_come_before_any_work() {
    let api = Api::start().await;
    api.sandbox
        .inject(Fault::Status { status: 503 }, 2)
        .unwrap();
    let first = api
        .post(
            "/v2/accounts.json",
            json!({"name": "A", "domain": "a.test"}),
        )
        .await;
    assert_eq!(first.status, 503);
    assert_eq!(api.get("/v2/me.json").await.status, 503);
    assert_eq!(api.get("/v2/me.json").await.status, 200);
    let found = api.get("/v2/accounts.json?domain=a.test").await;
    assert_eq!(
        found.body["data"],
        json!([]),
        "the failed POST created nothing"
    );
    api.sandbox
        .inject(Fault::Status { status: 429 }, 1)
        .unwrap();
    let limited = api.get("/v2/me.json").await;
    assert_eq!(
        (limited.status, limited.body.clone()),
        (429, json!({"error": "API rate limit exceeded"}))
    );
}

#[tokio::test]
async fn body_faults_spoil_the_response_but_keep_serving() {
    let api = Api::start().await;
    api.sandbox.inject(Fault::TruncatedBody, 1).unwrap();
    let response = api
        .http
        .get(api.url("/v2/me.json"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    let bytes = response.bytes().await.unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());

    api.sandbox.inject(Fault::MalformedBody, 1).unwrap();
    let response = api
        .http
        .get(api.url("/v2/me.json"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert!(response.json::<serde_json::Value>().await.is_err());

    api.sandbox.inject(Fault::DropConnection, 1).unwrap();
    let result = async {
        api.http
            .get(api.url("/v2/me.json"))
            .bearer_auth(&api.token)
            .send()
            .await?
            .bytes()
            .await
    }
    .await;
    assert!(result.is_err(), "the connection is cut mid-body");
    assert_eq!(api.get("/v2/me.json").await.status, 200);
}

#[tokio::test]
async fn latency_is_added() {
    let api = Api::start().await;
    api.sandbox
        .set_latency(std::time::Duration::from_millis(150));
    let started = std::time::Instant::now();
    api.get("/v2/me.json").await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn the_request_log_records_what_tests_need() {
    let api = Api::start().await;
    api.post(
        "/v2/people.json",
        json!({"email_address": "log@example.com"}),
    )
    .await;
    api.http
        .get(api.url("/v2/me.json?x=1"))
        .send()
        .await
        .unwrap();
    let log = api.sandbox.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str(), log[0].status),
        ("POST", "/v2/people.json", 200)
    );
    assert_eq!(log[0].auth, AuthKind::ApiKey);
    assert!(log[0].body.contains("log@example.com"));
    assert_eq!(
        (log[1].auth, log[1].status, log[1].query.as_deref()),
        (AuthKind::None, 401, Some("x=1"))
    );
}

#[tokio::test]
async fn the_admin_surface_over_http() {
    let api = Api::start().await;
    let admin = |path: &str| format!("{}/__admin/{path}", api.sandbox.api_base_url());
    let ok = api
        .http
        .post(admin("faults"))
        .json(&json!({"fault": {"kind": "status", "status": 502}, "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(api.get("/v2/me.json").await.status, 502);
    api.http
        .post(admin("settings"))
        .json(&json!({"rate_limit_per_minute": 1}))
        .send()
        .await
        .unwrap();
    api.http
        .post(admin("clock"))
        .json(&json!({"next_minute": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.get("/v2/me.json").await.status, 200);
    assert_eq!(api.get("/v2/me.json").await.status, 429);
    let log: serde_json::Value = api
        .http
        .get(admin("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 3);
    let bad = api
        .http
        .post(admin("faults"))
        .json(&json!({"fault": "nonsense"}))
        .send()
        .await
        .unwrap();
    assert!(bad.status().is_client_error());
}
