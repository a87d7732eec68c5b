//! The client's transport against the sandbox: pacing, 429, retries, broken answers.

use salesloft_api::{ApiError, RetryPolicy};
use salesloft_mock::{Config, Fault};
use salesloft_testkit::{fast_retries, sandbox_and_client};

/// POST /v2/people.json with only an email address.
async fn create_person(
    client: &salesloft_api::Client,
    email: &str,
) -> Result<
    salesloft_api::ResponseValue<salesloft_api::types::PersonEnvelope>,
    salesloft_api::Error<salesloft_api::types::ErrorBody>,
> {
    client
        .create_person()
        .body_map(|b| b.email_address(email.to_string()))
        .send()
        .await
}

/// How many POSTs reached the sandbox.
fn posts_sent(sandbox: &salesloft_mock::SandboxHandle) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count()
}

#[tokio::test]
async fn pacing_prevents_any_429_when_the_budget_is_tight() {
    let (sandbox, client) = sandbox_and_client(
        Config {
            rate_limit_per_minute: 5,
            ..Config::default()
        },
        RetryPolicy::none(),
    )
    .await;
    for _ in 0..23 {
        client
            .get_person()
            .id(1)
            .send()
            .await
            .expect("paced requests succeed");
    }
    let log = sandbox.requests();
    assert_eq!(log.len(), 23);
    assert!(
        log.iter().all(|r| r.status == 200),
        "no 429: {:?}",
        log.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn pacing_is_shared_by_clones_of_a_client() {
    let (sandbox, client) = sandbox_and_client(
        Config {
            rate_limit_per_minute: 4,
            ..Config::default()
        },
        RetryPolicy::none(),
    )
    .await;
    for _ in 0..6 {
        let clone = client.clone();
        clone.get_me().send().await.expect("paced");
    }
    assert!(sandbox.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn an_injected_429_is_waited_out_and_resent() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    sandbox.inject(Fault::Status { status: 429 }, 1).unwrap();
    let before = sandbox.clock().now();
    client
        .get_me()
        .send()
        .await
        .expect("resent after the minute turned");
    let statuses: Vec<u16> = sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);
    let waited = sandbox.clock().now() - before;
    assert!(
        waited >= chrono::Duration::seconds(1),
        "waited for the next minute on the sandbox clock: {waited}"
    );
}

#[tokio::test]
async fn a_429_that_keeps_coming_says_the_budget_is_spent() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    sandbox.inject(Fault::Status { status: 429 }, 10).unwrap();
    let err = ApiError::from(client.get_me().send().await.unwrap_err());
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert!(err.to_string().contains("rate-limit budget"), "{err}");
    assert!(err.is_retryable());
    assert_eq!(
        sandbox.requests().len(),
        4,
        "one try and three waits, then the error"
    );
}

#[tokio::test]
async fn a_503_on_get_is_retried() {
    let (sandbox, client) = sandbox_and_client(Config::default(), fast_retries()).await;
    sandbox.inject(Fault::Status { status: 503 }, 2).unwrap();
    client
        .get_person()
        .id(1)
        .send()
        .await
        .expect("retried to success");
    let statuses: Vec<u16> = sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
}

#[tokio::test]
async fn a_503_on_post_is_not_resent_unless_opted_in() {
    let (sandbox, client) = sandbox_and_client(Config::default(), fast_retries()).await;
    sandbox.inject(Fault::Status { status: 503 }, 1).unwrap();
    let err = ApiError::from(
        create_person(&client, "once@example.com")
            .await
            .unwrap_err(),
    );
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    let posts = posts_sent(&sandbox);
    assert_eq!(posts, 1, "the POST was sent once");

    let opted_in = salesloft_testkit::api_key_client(
        &sandbox,
        RetryPolicy {
            retry_post: true,
            ..fast_retries()
        },
    );
    sandbox.inject(Fault::Status { status: 503 }, 1).unwrap();
    create_person(&opted_in, "twice@example.com")
        .await
        .expect("resent");
    let posts = posts_sent(&sandbox);
    assert_eq!(posts, 3);
}

#[tokio::test]
async fn a_dropped_connection_and_a_malformed_body_give_typed_errors() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    sandbox.inject(Fault::DropConnection, 1).unwrap();
    let err = ApiError::from(client.get_me().send().await.unwrap_err());
    assert!(matches!(err, ApiError::Connection { .. }), "{err:?}");
    assert!(err.is_retryable());

    sandbox.inject(Fault::MalformedBody, 1).unwrap();
    let err = ApiError::from(client.get_me().send().await.unwrap_err());
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");

    sandbox.inject(Fault::TruncatedBody, 1).unwrap();
    let err = ApiError::from(client.get_me().send().await.unwrap_err());
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn a_body_that_does_not_decode_names_operation_path_expectation_and_keeps_the_body() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    sandbox.seed_people(4).unwrap();
    let ids: Vec<i64> = sandbox
        .records("people")
        .iter()
        .filter_map(|p| p["id"].as_i64())
        .collect();
    // The fourth person's `do_not_contact` comes as a string where a boolean is declared.
    let mut wrong = serde_json::Map::new();
    wrong.insert("do_not_contact".into(), "ada@example.com".into());
    assert!(sandbox.patch_record("people", ids[3], wrong).unwrap());

    let err = client
        .list_people()
        .sort_by("id")
        .sort_direction("ASC")
        .call()
        .await
        .unwrap_err();
    let ApiError::InvalidResponse { failure, .. } = &err else {
        panic!("expected a decode failure, got {err:?}")
    };
    assert_eq!(failure.path, "data[3].do_not_contact");
    assert_eq!(failure.expected, "a boolean");
    assert_eq!(failure.got, "a string");
    assert_eq!(err.operation(), Some("list_people"));
    let text = err.to_string();
    assert!(
        text.contains("list_people") && text.contains("data[3].do_not_contact"),
        "{text}"
    );
    assert!(
        !text.contains("ada@example.com"),
        "the value stays out of the message: {text}"
    );
    assert!(
        !format!("{err:?}").contains("ada@example.com"),
        "and out of Debug"
    );
    assert!(
        !err.is_retryable(),
        "the same body will not fit next time either"
    );
    // The caller can still read what came.
    let raw: serde_json::Value = serde_json::from_slice(err.raw_body().unwrap()).unwrap();
    assert_eq!(raw["data"][3]["do_not_contact"], "ada@example.com");

    // `send()` and `?` give the same failure, without the operation's name.
    let err = ApiError::from(
        client
            .list_people()
            .sort_by("id")
            .sort_direction("ASC")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(err.operation(), None);
    assert!(err.to_string().contains("data[3].do_not_contact"));

    sandbox.inject(Fault::MalformedBody, 1).unwrap();
    let err = client.get_me().call().await.unwrap_err();
    let ApiError::InvalidResponse { failure, .. } = &err else {
        panic!("expected a decode failure, got {err:?}")
    };
    assert!(failure.malformed, "{failure:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("get_me"), "{err}");
}

#[tokio::test]
async fn a_dropped_connection_on_post_is_a_typed_error_and_not_resent() {
    let (sandbox, client) = sandbox_and_client(Config::default(), fast_retries()).await;
    sandbox.inject(Fault::DropConnection, 1).unwrap();
    let err = ApiError::from(create_person(&client, "cut@example.com").await.unwrap_err());
    assert!(matches!(err, ApiError::Connection { .. }), "{err:?}");
    assert!(err.is_retryable(), "the caller may decide to try again");
    let posts = posts_sent(&sandbox);
    assert_eq!(posts, 1, "the POST was sent once");
}

#[tokio::test]
async fn a_dropped_connection_on_get_is_retried_by_default() {
    let (sandbox, client) = sandbox_and_client(Config::default(), fast_retries()).await;
    sandbox.inject(Fault::DropConnection, 1).unwrap();
    client
        .get_me()
        .send()
        .await
        .expect("retried after the body was cut");
    assert_eq!(sandbox.requests().len(), 2);
}

#[tokio::test]
async fn service_errors_carry_status_message_fields_and_figures() {
    let (_sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    let err = ApiError::from(create_person(&client, "ada@example.com").await.unwrap_err());
    let ApiError::Service {
        status,
        message,
        field_errors,
        rate_limit,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(status.as_u16(), 422);
    assert_eq!(message, "email_address is already taken");
    assert_eq!(field_errors["email_address"], ["is already taken"]);
    assert_eq!(rate_limit.cost, Some(1));
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("Fix the fields named"), "{err}");
}

#[tokio::test]
async fn a_slow_answer_times_out_unless_the_callers_own_http_client_waits_longer() {
    use salesloft_api::{ApiKey, ClientBuilder};
    use std::sync::Arc;
    use std::time::Duration;
    let (sandbox, _) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    sandbox.set_latency(Duration::from_millis(400));
    let builder = || {
        ClientBuilder::new(Arc::new(ApiKey::new(sandbox.api_key())))
            .base_url(sandbox.api_base_url())
            .retry_policy(RetryPolicy::none())
            .timeout(Duration::from_millis(100))
    };

    let hasty = builder().build().unwrap();
    let err = ApiError::from(hasty.get_me().send().await.unwrap_err());
    assert!(
        matches!(err, ApiError::Connection { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");

    // A caller's reqwest client is used as it is: its timeout, not the builder's.
    let http = salesloft_api::http_client(Duration::from_secs(10)).unwrap();
    let patient = builder().http_client(http).build().unwrap();
    patient
        .get_me()
        .send()
        .await
        .expect("the caller's client waits");
}

#[tokio::test]
async fn an_answer_larger_than_the_client_reads_is_one_typed_error_and_not_asked_again() {
    use salesloft_api::{ApiKey, ClientBuilder};
    use std::sync::Arc;
    let (sandbox, _) = sandbox_and_client(Config::default(), fast_retries()).await;
    let builder = || {
        ClientBuilder::new(Arc::new(ApiKey::new(sandbox.api_key())))
            .base_url(sandbox.api_base_url())
            .retry_policy(fast_retries())
    };
    // The page's size on the wire.
    let size = reqwest::Client::new()
        .get(format!(
            "{}/v2/people.json?per_page=100",
            sandbox.api_base_url()
        ))
        .bearer_auth(sandbox.api_key())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    sandbox.clear_requests();

    let small = builder().max_answer_bytes(size / 2).build().unwrap();
    let err = ApiError::from(small.list_people().per_page(100).send().await.unwrap_err());
    assert!(
        matches!(err, ApiError::AnswerTooLarge { limit } if limit == size / 2),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("per_page"), "{err}");
    assert_eq!(sandbox.requests().len(), 1, "asked again");

    // Below the limit, the same page reads as before.
    let roomy = builder().max_answer_bytes(size).build().unwrap();
    roomy.list_people().per_page(100).send().await.unwrap();
}

#[tokio::test]
async fn a_server_that_never_stops_sending_cannot_fill_the_memory() {
    use salesloft_api::{ApiKey, ClientBuilder};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "[".repeat(64 * 1024));
                while stream.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let client = ClientBuilder::new(Arc::new(ApiKey::new("key")))
        .base_url(&format!("http://{address}/v2"))
        .retry_policy(fast_retries())
        .max_answer_bytes(4 * 1024 * 1024)
        .build()
        .unwrap();
    let err = ApiError::from(client.get_me().send().await.unwrap_err());
    assert!(matches!(err, ApiError::AnswerTooLarge { .. }), "{err:?}");
}
