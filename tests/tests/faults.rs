//! Every fault the sandbox can inject, at every place it can strike: a request that may be
//! resent rides it out (the retry covers the whole answer, body included); one that may not
//! is sent once and fails with a typed error; a fault that outlasts the attempts is reported.

use salesloft_api::{ApiError, Client, RetryPolicy};
use salesloft_mock::{Config, Fault, SandboxHandle};
use salesloft_testkit::{fast_retries, only_people, sandbox_and_client};
use std::collections::HashSet;

/// Every fault kind: the server errors worth a retry, and the three ways an answer breaks
/// after its headers.
const FAULTS: [Fault; 7] = [
    Fault::Status { status: 500 },
    Fault::Status { status: 502 },
    Fault::Status { status: 503 },
    Fault::Status { status: 504 },
    Fault::DropConnection,
    Fault::TruncatedBody,
    Fault::MalformedBody,
];

async fn unmetered_with_retries() -> (SandboxHandle, Client) {
    let config = Config {
        rate_limit_per_minute: 1_000_000,
        ..Config::default()
    };
    sandbox_and_client(config, fast_retries()).await
}

/// One page of people by number, 100 a page: their ids.
async fn page_of_people(client: &Client, page: i64) -> Result<Vec<i64>, ApiError> {
    let answer = client
        .list_people()
        .per_page(100)
        .page(page)
        .sort_by("id")
        .sort_direction("ASC")
        .send()
        .await?;
    Ok(answer
        .into_inner()
        .data
        .iter()
        .filter_map(|p| p.id.as_ref()?.as_i64())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_the_first_middle_or_last_page_of_a_get_costs_one_request_and_loses_nothing() {
    let (sandbox, client) = unmetered_with_retries().await;
    only_people(&sandbox, 250);
    for fault in FAULTS {
        for struck in 1..=3 {
            sandbox.clear_requests();
            let mut ids = Vec::new();
            for page in 1..=3 {
                if page == struck {
                    sandbox.inject(fault, 1).unwrap();
                }
                let read = page_of_people(&client, page).await;
                ids.extend(read.unwrap_or_else(|e| panic!("{fault:?} on page {struck}: {e}")));
            }
            let unique: HashSet<_> = ids.iter().collect();
            assert_eq!(
                (ids.len(), unique.len()),
                (250, 250),
                "{fault:?} on page {struck}: every person once"
            );
            assert_eq!(
                sandbox.requests().len(),
                4,
                "{fault:?} on page {struck}: three pages and one resend"
            );
        }
    }
}

/// POST /v2/people.json with only an email address, as a user would write it.
async fn create_person(client: &Client, email: &str) -> Result<(), ApiError> {
    client
        .create_person()
        .body_map(|b| b.email_address(email.to_string()))
        .send()
        .await?;
    Ok(())
}

fn posts_sent(sandbox: &SandboxHandle) -> usize {
    let posts = sandbox.requests().into_iter();
    posts.filter(|r| r.method == "POST").count()
}

#[tokio::test]
async fn a_post_struck_by_any_fault_is_sent_once_and_fails_typed() {
    let (sandbox, client) = unmetered_with_retries().await;
    for (n, fault) in FAULTS.into_iter().enumerate() {
        sandbox.clear_requests();
        sandbox.inject(fault, 1).unwrap();
        let email = format!("once{n}@example.com");
        let error = create_person(&client, &email)
            .await
            .expect_err("the fault is the caller's to see");
        assert_eq!(
            posts_sent(&sandbox),
            1,
            "{fault:?}: the POST was not resent"
        );
        match fault {
            Fault::Status { status } => {
                assert_eq!(error.status().map(|s| s.as_u16()), Some(status), "{error}");
                assert!(error.is_retryable(), "{fault:?}: {error}");
            }
            Fault::DropConnection => {
                assert!(matches!(error, ApiError::Connection { .. }), "{error:?}");
            }
            Fault::TruncatedBody | Fault::MalformedBody => {
                assert!(
                    matches!(error, ApiError::InvalidResponse { .. }),
                    "{error:?}"
                );
            }
        }
        // A body fault strikes after the work: the person exists, once.
        let made = sandbox
            .records("people")
            .iter()
            .filter(|p| p["email_address"] == email.as_str())
            .count();
        let acted = !matches!(fault, Fault::Status { .. });
        assert_eq!(made, usize::from(acted), "{fault:?}");
    }
}

#[tokio::test]
async fn a_storm_within_the_attempts_is_ridden_out_and_one_past_them_is_reported() {
    let (sandbox, client) = unmetered_with_retries().await;
    only_people(&sandbox, 5);
    let attempts = fast_retries().max_attempts as usize;
    for fault in FAULTS {
        sandbox.clear_requests();
        sandbox.inject(fault, attempts - 1).unwrap();
        let ids = page_of_people(&client, 1).await;
        assert_eq!(ids.map(|ids| ids.len()).ok(), Some(5), "{fault:?}");
        assert_eq!(sandbox.requests().len(), attempts, "{fault:?}");

        sandbox.clear_requests();
        sandbox.inject(fault, attempts).unwrap();
        let error = page_of_people(&client, 1)
            .await
            .expect_err("the storm outlasts");
        assert_eq!(sandbox.requests().len(), attempts, "{fault:?}: no more");
        assert!(error.is_retryable(), "{fault:?}: {error}");
        let text = error.to_string();
        assert!(text.contains("try again"), "{fault:?}: {text}");
    }
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_and_a_4xx_are_the_answer_not_retried() {
    let (sandbox, client) = unmetered_with_retries().await;
    only_people(&sandbox, 3);
    let id = sandbox.records("people")[2]["id"].as_i64().unwrap();
    let mut wrong = serde_json::Map::new();
    wrong.insert("do_not_contact".into(), "yes".into());
    assert!(sandbox.patch_record("people", id, wrong).unwrap());
    sandbox.clear_requests();
    let error = page_of_people(&client, 1).await.unwrap_err();
    assert!(
        matches!(error, ApiError::InvalidResponse { .. }),
        "{error:?}"
    );
    assert_eq!(sandbox.requests().len(), 1, "valid JSON is read once");

    for status in [400, 404, 422] {
        sandbox.clear_requests();
        sandbox.inject(Fault::Status { status }, 1).unwrap();
        let error = page_of_people(&client, 1).await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(sandbox.requests().len(), 1, "{status} is not resent");
    }
}

#[tokio::test]
async fn without_retries_each_fault_is_one_request_and_the_callers_error() {
    let config = Config::default();
    let (sandbox, client) = sandbox_and_client(config, RetryPolicy::none()).await;
    for fault in FAULTS {
        sandbox.clear_requests();
        sandbox.inject(fault, 1).unwrap();
        let error = page_of_people(&client, 1).await.unwrap_err();
        assert!(error.is_retryable(), "{fault:?}: {error}");
        assert_eq!(sandbox.requests().len(), 1, "{fault:?}");
    }
}
