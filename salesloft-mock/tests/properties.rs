//! Properties over whatever a client may send: the query and body parsers never panic, the
//! request log never keeps a secret, and no request gets a 5xx without a fault injected.

use proptest::prelude::*;
use salesloft_mock::generic::listing::ListRequest;
use salesloft_mock::params::{Params, parse_body};
use salesloft_mock::request_log::{REDACTED, redact_body, redact_form};
use salesloft_mock::{Config, Sandbox};

fn query_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "page",
        "per_page",
        "sort_by",
        "sort_direction",
        "ids[]",
        "updated_at[gt]",
        "created_at[lte]",
        "email_addresses[]",
        "domain",
        "person_id",
        "cadence_id",
        "x",
    ]);
    let value = prop_oneof![
        any::<String>(),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("2023-03-07T12:12:52.362090-05:00".to_string()),
        Just("%ff%00".to_string()),
    ];
    prop::collection::vec((key, value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn query_parsing_never_panics(query in query_text(), raw in any::<String>()) {
        for text in [query.as_str(), raw.as_str()] {
            let params = Params::parse(Some(text));
            let _ = ListRequest::parse(&params, &["name".to_string()]);
            let _ = params.ids("ids");
            let _ = params.time_filters("updated_at");
            let _ = salesloft_mock::generic::listing::page_number(&params);
        }
    }

    #[test]
    fn body_parsing_never_panics(body in prop::collection::vec(any::<u8>(), 0..512), json in any::<bool>()) {
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        let _ = parse_body(Some(content_type), &body);
        let _ = salesloft_mock::oauth::token_form(Some(content_type), &body);
        let _ = redact_body(&String::from_utf8_lossy(&body));
    }

    #[test]
    fn the_log_keeps_no_secret(secret in "[A-Za-z0-9]{12,40}", other in "[a-z_]{1,12}") {
        let form = format!("{other}=1&client_secret={secret}&refresh_token={secret}");
        prop_assert!(!redact_form(&form).contains(&secret));
        let json = format!(r#"{{"{other}": 1, "nested": {{"access_token": "{secret}"}}}}"#);
        let kept = redact_body(&json);
        prop_assert!(!kept.contains(&secret), "{}", kept);
        prop_assert!(kept.contains(REDACTED) || other == "access_token");
    }
}

fn method() -> impl Strategy<Value = reqwest::Method> {
    prop::sample::select(vec![
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
        reqwest::Method::HEAD,
    ])
}

fn path() -> impl Strategy<Value = String> {
    let resource = prop::sample::select(vec![
        "people",
        "accounts",
        "cadences",
        "cadence_memberships",
        "users",
        "me",
        "team",
        "steps",
        "notes",
        "tasks",
        "person_upserts",
        "webhook_subscriptions",
        "bulk_jobs",
        "nothing",
    ]);
    let id = prop_oneof![
        Just(String::new()),
        any::<i64>().prop_map(|n| format!("/{n}")),
        "[a-z%0-9.]{1,10}".prop_map(|s| format!("/{s}")),
    ];
    let suffix = prop::sample::select(vec!["", ".json"]);
    (resource, id, suffix).prop_map(|(r, i, s)| format!("/v2/{r}{i}{s}"))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        Just(br#"{"email_address": "p@example.com", "account_id": "9", "tags": "a,b"}"#.to_vec()),
        Just(br#"{"name": "N", "domain": " d.test. ", "person_id": 1, "cadence_id": 1}"#.to_vec()),
        Just(br#"{"email_address": null, "phone": [1], "custom_fields": 3}"#.to_vec()),
    ]
}

#[test]
fn no_request_gets_a_5xx_without_a_fault() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = runtime.block_on(Sandbox::start(Config::default())).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let key = sandbox.api_key();
    let base = sandbox.api_base_url().to_string();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(
            &(method(), path(), query_text(), body()),
            |(method, path, query, body)| {
                let url = format!("{base}{path}?{query}");
                let status = runtime.block_on(async {
                    http.request(method, url)
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                });
                let status = status.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(status < 500, "answered {}", status);
                Ok(())
            },
        )
        .unwrap();
}
