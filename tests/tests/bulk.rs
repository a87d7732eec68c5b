//! `salesloft_api::bulk` against the sandbox: a whole job of person upserts, typed results,
//! and every step resumed after a crash without a record sent twice.

use futures::TryStreamExt;
use salesloft_api::bulk::{self, BulkError, JobState, JobType, Polling};
use salesloft_api::types::{Person, UpsertPersonBody};
use salesloft_api::{Client, RetryPolicy};
use salesloft_mock::{Config, SandboxHandle};
use salesloft_testkit::sandbox_and_client;
use std::collections::HashSet;

fn unmetered() -> Config {
    Config {
        rate_limit_per_minute: 1_000_000,
        ..Config::default()
    }
}

/// `count` upserts by email; every `bad_every`th has no email address (SalesLoft refuses it).
fn people(count: usize, bad_every: usize) -> Vec<UpsertPersonBody> {
    (0..count)
        .map(|i| {
            let email = (i % bad_every != bad_every - 1).then(|| format!("bulk{i}@example.test"));
            UpsertPersonBody::builder()
                .upsert_key(Some("email_address".to_string()))
                .email_address(email)
                .first_name(Some(format!("Bulk {i}")))
                .try_into()
                .unwrap()
        })
        .collect()
}

async fn new_job(client: &Client) -> JobState {
    bulk::create(client, JobType::PersonUpsert, "leads")
        .await
        .unwrap()
}

async fn all_results(client: &Client, job: &JobState) -> Vec<bulk::BulkResult<Person>> {
    bulk::results::<Person>(client, job)
        .try_collect()
        .await
        .unwrap()
}

fn people_named_bulk(sandbox: &SandboxHandle) -> usize {
    sandbox
        .records("people")
        .iter()
        .filter(|p| {
            p["email_address"]
                .as_str()
                .is_some_and(|e| e.starts_with("bulk"))
        })
        .count()
}

#[tokio::test]
async fn a_job_upserts_every_record_and_reads_each_result_typed() {
    let (sandbox, client) = sandbox_and_client(unmetered(), RetryPolicy::none()).await;
    let records = people(6_000, 100);
    sandbox.clear_requests();
    let mut job = new_job(&client).await;
    let mut steps = Vec::new();
    bulk::upload(&client, &mut job, &records, &mut |s| steps.push(s.uploaded))
        .await
        .unwrap();
    assert_eq!(steps, [5_000, 6_000]);
    let done = bulk::run(&client, &mut job, &Polling::default(), None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (done.total, done.processed, done.errors),
        (Some(6_000), Some(6_000), Some(60))
    );
    let results = all_results(&client, &job).await;
    assert_eq!(results.len(), 6_000);
    let ids: HashSet<i64> = results.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 6_000);
    let refused: Vec<&bulk::BulkResult<Person>> =
        results.iter().filter(|r| r.outcome.is_err()).collect();
    assert_eq!(refused.len(), 60);
    let message = refused[0].outcome.as_ref().unwrap_err();
    assert!(message.contains("email"), "{message}");
    assert_eq!(refused[0].input["first_name"], "Bulk 99");
    let person = results[0].outcome.as_ref().unwrap();
    assert_eq!(person.email_address.as_deref(), Some("bulk0@example.test"));
    assert_eq!(people_named_bulk(&sandbox), 5_940);

    // The requests are the flow's cost: queue check, create, the job read, 2 uploads, ready,
    // one poll, and 61 results pages (the last one empty).
    let polls = 1;
    assert_eq!(sandbox.requests().len() as u64, bulk::cost(6_000, polls));
    assert_eq!(bulk::cost(6_000, polls), 1 + 1 + 1 + 2 + 1 + 1 + 61);
}

#[tokio::test]
async fn an_upload_whose_answer_was_lost_is_not_sent_again() {
    let (sandbox, client) = sandbox_and_client(unmetered(), RetryPolicy::none()).await;
    let records = people(7_000, 1_000_000);
    let mut job = new_job(&client).await;
    // The first upload reaches the job, and the process dies before it saves the new state.
    let saved = job.clone();
    let mut first_only = records[..5_000].to_vec();
    bulk::upload(&client, &mut job, &first_only, &mut |_| {})
        .await
        .unwrap();
    first_only.clear();
    // Resumed from what was saved: the job's total says 5,000 are in.
    let mut resumed = saved;
    sandbox.clear_requests();
    let mut steps = Vec::new();
    bulk::upload(&client, &mut resumed, &records, &mut |s| {
        steps.push(s.uploaded)
    })
    .await
    .unwrap();
    assert_eq!(steps, [5_000, 7_000]);
    let uploads = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(uploads, 1, "only the 2,000 not counted yet");
    let done = bulk::run(
        &client,
        &mut resumed,
        &Polling::default(),
        None,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(done.total, Some(7_000));
    assert_eq!(people_named_bulk(&sandbox), 7_000);

    // A resumed upload after the job was marked ready sends nothing.
    sandbox.clear_requests();
    let mut again = JobState {
        ready: false,
        ..resumed.clone()
    };
    bulk::upload(&client, &mut again, &records, &mut |_| {})
        .await
        .unwrap();
    assert!(again.ready);
    assert!(sandbox.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn results_resume_after_the_last_one_read() {
    let (_sandbox, client) = sandbox_and_client(unmetered(), RetryPolicy::none()).await;
    let records = people(250, 1_000_000);
    let mut job = new_job(&client).await;
    bulk::upload(&client, &mut job, &records, &mut |_| {})
        .await
        .unwrap();
    bulk::run(&client, &mut job, &Polling::default(), None, &mut |_| {})
        .await
        .unwrap();
    let all = all_results(&client, &job).await;
    let first: Vec<i64> = all[..130].iter().map(|r| r.id).collect();
    job.results_after = first.last().copied();
    let rest: Vec<i64> = all_results(&client, &job)
        .await
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(rest.len(), 120);
    assert!(rest.iter().all(|id| !first.contains(id)));
}

#[tokio::test]
async fn an_unknown_job_type_is_refused_before_any_request() {
    let error = "person/upsrt".parse::<JobType>().unwrap_err();
    assert!(matches!(error, BulkError::UnknownType(_)));
    assert!(error.to_string().contains("person/upsert"), "{error}");
    assert_eq!(
        "calendar/events/upsert".parse::<JobType>().unwrap(),
        JobType::CalendarEventsUpsert
    );
}

/// SalesLoft asks for one job at a time: while another job of the team executes (30 s on the
/// sandbox's clock here), `create` waits for it, polling on the client's clock.
#[tokio::test]
async fn a_new_job_waits_while_another_executes() {
    let (sandbox, client) = sandbox_and_client(unmetered(), RetryPolicy::none()).await;
    sandbox.set_bulk_job_seconds(30);
    let mut first = new_job(&client).await;
    bulk::upload(&client, &mut first, &people(10, 1_000_000), &mut |_| {})
        .await
        .unwrap();
    client
        .update_bulk_job()
        .id(first.job_id)
        .body_map(|b| b.ready_to_execute(Some(true)))
        .send()
        .await
        .unwrap();
    sandbox.clear_requests();
    let second = new_job(&client).await;
    let queue_checks = sandbox
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET" && r.query.as_deref().is_some_and(|q| q.contains("executing"))
        })
        .count();
    assert!(queue_checks > 1, "{queue_checks} checks of the queue");
    let job = |id: i64| {
        sandbox
            .records("bulk_jobs")
            .into_iter()
            .find(|j| j["id"] == id)
            .unwrap()
    };
    let (first, second) = (job(first.job_id), job(second.job_id));
    assert_eq!(first["state"], "done");
    assert!(
        second["created_at"].as_str() >= first["finished_at"].as_str(),
        "created {} while the first ran until {}",
        second["created_at"],
        first["finished_at"]
    );
}

/// A caller with a receiver wakes the wait at once on `bulk_job_completed`, instead of
/// sleeping out the poll interval (an hour here).
#[tokio::test]
async fn a_completion_notice_ends_the_wait_at_once() {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    sandbox.set_bulk_job_seconds(30);
    let mut job = new_job(&client).await;
    bulk::upload(&client, &mut job, &people(10, 1_000_000), &mut |_| {})
        .await
        .unwrap();
    let completed = std::sync::Arc::new(tokio::sync::Notify::new());
    let notice = completed.clone();
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = polls.clone();
    let waiting = tokio::spawn(async move {
        let hourly = Polling {
            first: std::time::Duration::from_secs(3_600),
            max: std::time::Duration::from_secs(3_600),
        };
        let mut on_poll = move |_: &salesloft_api::types::BulkJob| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        bulk::run(&client, &mut job, &hourly, Some(notice), &mut on_poll).await
    });
    while polls.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    sandbox.clock().advance(chrono::Duration::seconds(31));
    completed.notify_one();
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the notice ends the wait")
        .unwrap()
        .unwrap();
    assert_eq!(done.state.as_deref(), Some("done"));
    assert_eq!(polls.load(std::sync::atomic::Ordering::Relaxed), 2);
}
