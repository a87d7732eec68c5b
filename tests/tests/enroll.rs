//! Enrolling a list against the sandbox: each company once, people upserted, only those not
//! on the cadence added; a run killed in any phase resumes without duplicating anything; a
//! refused row does not stop the others; the budget share is kept.

use salesloft_api::enroll::{self, Journal, Lead, Outcome, PeoplePath, Phase, Progress, RowReport};
use salesloft_api::{Client, RetryPolicy};
use salesloft_mock::{Config, Fault, SandboxHandle};
use salesloft_testkit::sandbox_and_client;
use std::collections::HashMap;
use std::sync::Arc;

fn leads(count: usize, domains: usize) -> Vec<Lead> {
    (0..count)
        .map(|i| Lead {
            email: format!("lead{i}@company{}.test", i % domains),
            first_name: Some(format!("Lead{i}")),
            domain: Some(format!("company{}.test", i % domains)),
            company_name: Some(format!("Company {}", i % domains)),
            ..Lead::default()
        })
        .collect()
}

fn cadence_id(sandbox: &SandboxHandle) -> i64 {
    sandbox.records("cadences")[0]["id"].as_i64().unwrap()
}

fn journal(dir: &tempfile::TempDir, sandbox: &SandboxHandle) -> Journal {
    Journal::open(
        dir.path().join("run.journal"),
        cadence_id(sandbox),
        sandbox.api_base_url(),
    )
    .unwrap()
}

async fn run(
    client: &Client,
    sandbox: &SandboxHandle,
    rows: &[enroll::Row],
    journal: &mut Journal,
) -> Vec<RowReport> {
    run_on(client, sandbox, rows, PeoplePath::Auto, journal).await
}

async fn run_on(
    client: &Client,
    sandbox: &SandboxHandle,
    rows: &[enroll::Row],
    path: PeoplePath,
    journal: &mut Journal,
) -> Vec<RowReport> {
    let cadence = Some(cadence_id(sandbox));
    enroll::enroll_on(client, cadence, rows, path, journal, &mut |_| {})
        .await
        .unwrap()
}

fn outcomes(reports: &[RowReport]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in reports {
        let key = match &r.outcome {
            Outcome::Invalid(_) => "invalid".to_string(),
            Outcome::Failed(_) => "failed".to_string(),
            other => format!("{other:?}"),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_list_is_enrolled_with_each_company_once_at_the_fewest_requests() {
    enrolled_at_the_fewest_requests(PeoplePath::OneByOne).await;
}

#[tokio::test]
async fn a_list_is_enrolled_with_its_people_in_one_bulk_job() {
    enrolled_at_the_fewest_requests(PeoplePath::Auto).await;
}

async fn enrolled_at_the_fewest_requests(path: PeoplePath) {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    for i in 0..5 {
        salesloft_testkit::already_on_cadence(
            &client,
            cadence_id(&sandbox),
            &format!("lead{i}@company{}.test", i % 4),
        )
        .await;
    }
    let mut input = leads(40, 4);
    input.push(Lead {
        email: "not an email".into(),
        ..Lead::default()
    });
    input.push(Lead {
        email: "LEAD7@company3.test".into(),
        ..Lead::default()
    });
    let rows = enroll::validate(input);
    let before = sandbox.requests().len();
    let dir = tempfile::tempdir().unwrap();
    let reports = run_on(&client, &sandbox, &rows, path, &mut journal(&dir, &sandbox)).await;

    let counts = outcomes(&reports);
    assert_eq!(counts["Created"], 35, "{counts:?}");
    assert_eq!(counts["AlreadyOnCadence"], 5, "{counts:?}");
    assert_eq!(
        counts["invalid"], 2,
        "a bad email and a duplicate in another case"
    );
    assert_eq!(salesloft_testkit::duplicates(&sandbox), 0);
    // 4 account upserts, the people (40 upserts, or a job: queue check, create, job read,
    // upload, ready, poll, 1 results page), 1 membership page, 35 memberships.
    let people = match path {
        PeoplePath::OneByOne => 40,
        PeoplePath::Auto => 7,
    };
    assert_eq!(sandbox.requests().len() - before, 4 + people + 1 + 35);
    let plan = enroll::Plan::on(&rows, path);
    assert_eq!(
        (plan.valid, plan.invalid, plan.domains, plan.cost),
        (40, 2, 4, 4 + people as u64 + 1 + 40)
    );
    assert_eq!(plan.people_by_job, path == PeoplePath::Auto);
    let first = &reports[0];
    assert!(
        first.person_id.is_some() && first.company_id.is_some() && first.membership_id.is_some()
    );

    // Run again: everything is there already; nothing new is created.
    let again = run(
        &client,
        &sandbox,
        &rows,
        &mut journal(&tempfile::tempdir().unwrap(), &sandbox),
    )
    .await;
    assert_eq!(outcomes(&again)["AlreadyOnCadence"], 40);
    assert_eq!(salesloft_testkit::duplicates(&sandbox), 0);
}

#[tokio::test]
async fn a_run_killed_in_any_phase_finishes_on_resume_without_duplicates() {
    // One by one (30 rows), and through a bulk job (250 rows: killed after the upload, before
    // the job runs, and after its first page of results; 5,200 rows: between its two uploads).
    for (path, count, phase, at) in [
        (PeoplePath::OneByOne, 30, Phase::Companies, 3),
        (PeoplePath::OneByOne, 30, Phase::People, 10),
        (PeoplePath::OneByOne, 30, Phase::Memberships, 10),
        (PeoplePath::Auto, 250, Phase::Companies, 3),
        (PeoplePath::Auto, 250, Phase::People, 0),
        (PeoplePath::Auto, 250, Phase::People, 100),
        (PeoplePath::Auto, 250, Phase::Memberships, 10),
        (PeoplePath::Auto, 5_200, Phase::People, 5_000),
    ] {
        let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
        let rows = enroll::validate(leads(count, 6));
        let dir = tempfile::tempdir().unwrap();
        let kill = Arc::new(tokio::sync::Notify::new());
        let trigger = kill.clone();
        let mut journal1 = journal(&dir, &sandbox);
        let mut on_progress = move |p: Progress| {
            if p.phase == phase && p.done == at {
                trigger.notify_one();
            }
        };
        // The run is dropped mid-flight, as a killed process stops: requests in the air may
        // or may not have reached the sandbox.
        let cadence = Some(cadence_id(&sandbox));
        tokio::select! {
            _ = enroll::enroll_on(&client, cadence, &rows, path, &mut journal1, &mut on_progress) => {
                panic!("the run was to be killed in {phase:?} at {at}")
            }
            _ = kill.notified() => {}
        }
        drop(journal1);
        let reports = run_on(&client, &sandbox, &rows, path, &mut journal(&dir, &sandbox)).await;
        assert_eq!(salesloft_testkit::duplicates(&sandbox), 0, "{phase:?}");
        assert!(
            reports.iter().all(|r| matches!(
                r.outcome,
                Outcome::Created | Outcome::Updated | Outcome::AlreadyOnCadence
            )),
            "{phase:?}: {reports:?}"
        );
        let on_cadence = sandbox.records("cadence_memberships").len();
        assert_eq!(on_cadence, count, "{phase:?}: everyone on the cadence once");
        let people = sandbox.records("people").len();
        assert!(people >= count, "{phase:?}: {people} people");
    }
}

#[tokio::test]
async fn a_refused_company_fails_its_rows_and_the_others_go_on() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    let rows = enroll::validate(leads(12, 3));
    sandbox.inject(Fault::Status { status: 422 }, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reports = run(&client, &sandbox, &rows, &mut journal(&dir, &sandbox)).await;
    let counts = outcomes(&reports);
    assert_eq!((counts["failed"], counts["Created"]), (4, 8), "{reports:?}");
    let failed = reports
        .iter()
        .find(|r| matches!(r.outcome, Outcome::Failed(_)))
        .unwrap();
    assert!(matches!(&failed.outcome, Outcome::Failed(reason) if reason.contains("company")));
}

#[tokio::test]
async fn a_budget_share_leaves_the_rest_of_each_minute_to_others() {
    // 10 companies + 300 people + 1 page + 300 memberships = 611 cost, more than a minute's.
    for share in [1.0, 0.5] {
        let sandbox = salesloft_mock::Sandbox::start(Config::default())
            .await
            .unwrap();
        let client = salesloft_api::ClientBuilder::new(Arc::new(salesloft_api::ApiKey::new(
            sandbox.api_key(),
        )))
        .base_url(sandbox.api_base_url())
        .clock(Arc::new(salesloft_testkit::SandboxClock(
            sandbox.clock().clone(),
        )))
        .budget_share(share)
        .build()
        .unwrap();
        let rows = enroll::validate(leads(300, 10));
        let dir = tempfile::tempdir().unwrap();
        // Cost spent in each of the sandbox's minutes.
        let mut per_minute: std::collections::BTreeMap<i64, u64> = Default::default();
        let mut last = 0;
        let clock = sandbox.clock().clone();
        let mut on_progress = |p: Progress| {
            *per_minute
                .entry(clock.now().timestamp().div_euclid(60))
                .or_default() += p.cost_spent - last;
            last = p.cost_spent;
        };
        // One upsert a person: enough cost to span minutes.
        enroll::enroll_on(
            &client,
            Some(cadence_id(&sandbox)),
            &rows,
            PeoplePath::OneByOne,
            &mut journal(&dir, &sandbox),
            &mut on_progress,
        )
        .await
        .unwrap();
        assert!(
            sandbox.requests().iter().all(|r| r.status != 429),
            "no 429 at share {share}"
        );
        let most = per_minute.values().copied().max().unwrap();
        let allowed = (600.0 * share) as u64;
        assert!(
            most <= allowed,
            "share {share}: {most} in one minute, {allowed} allowed: {per_minute:?}"
        );
        assert!(
            most >= allowed - 10,
            "share {share}: the budget is used to its share: {per_minute:?}"
        );
    }
}

#[tokio::test]
async fn a_membership_whose_answer_was_lost_is_checked_for_not_asked_twice() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    let rows = enroll::validate(vec![Lead {
        email: "lost@example.test".into(),
        ..Lead::default()
    }]);
    let person = client
        .create_person()
        .body_map(|b| b.email_address("lost@example.test".to_string()))
        .call()
        .await
        .unwrap();
    let person_id = person
        .into_inner()
        .data
        .id
        .and_then(|i| i.as_i64())
        .unwrap();
    // A journal that is past the people and the listing: the next request is the membership.
    let dir = tempfile::tempdir().unwrap();
    let mut journal = journal(&dir, &sandbox);
    journal
        .record(enroll::Entry::Person {
            email: "lost@example.test".into(),
            id: person_id,
            created: true,
            result: None,
        })
        .unwrap();
    journal.record(enroll::Entry::Listed).unwrap();
    // The sandbox adds the membership, then drops the connection: the answer is lost.
    sandbox.inject(Fault::DropConnection, 1).unwrap();
    let before = sandbox.requests().len();
    let reports = run(&client, &sandbox, &rows, &mut journal).await;

    assert_eq!(reports[0].outcome, Outcome::Created, "{reports:?}");
    assert!(reports[0].membership_id.is_some());
    assert_eq!(
        sandbox.records("cadence_memberships").len(),
        1,
        "asked once, not twice"
    );
    let sent: Vec<String> = sandbox.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        sent,
        [
            "POST /v2/cadence_memberships.json",
            "GET /v2/cadence_memberships.json"
        ],
        "{sent:?}"
    );
}

/// Rows the bulk job refuses fail with SalesLoft's message, once, without a loop: here every
/// company is deleted after the job's upload, so the job refuses every person of it.
#[tokio::test]
async fn rows_the_job_refuses_fail_with_salesloft_s_message() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    let rows = enroll::validate(leads(30, 3));
    let dir = tempfile::tempdir().unwrap();
    let kill = Arc::new(tokio::sync::Notify::new());
    let trigger = kill.clone();
    let mut on_progress = move |p: Progress| {
        if p.phase == Phase::People && p.done == 0 {
            trigger.notify_one();
        }
    };
    let cadence = Some(cadence_id(&sandbox));
    let mut first = journal(&dir, &sandbox);
    tokio::select! {
        _ = enroll::enroll_on(&client, cadence, &rows, PeoplePath::Auto, &mut first, &mut on_progress) => {
            panic!("the run was to stop after the upload")
        }
        _ = kill.notified() => {}
    }
    drop(first);
    for account in sandbox.records("accounts") {
        let domain = account["domain"].as_str().unwrap_or_default();
        if domain.starts_with("company") {
            let id = account["id"].as_i64().unwrap();
            let deleted = salesloft_testkit::delete(&sandbox, &format!("accounts/{id}")).await;
            assert_eq!(deleted, 204);
        }
    }
    let before = sandbox.requests().len();
    let reports = run(&client, &sandbox, &rows, &mut journal(&dir, &sandbox)).await;
    assert_eq!(outcomes(&reports)["failed"], 30, "{reports:?}");
    assert!(
        reports.iter().all(|r| matches!(
            &r.outcome,
            Outcome::Failed(reason) if reason.contains("account") && reason.contains("must exist")
        )),
        "{reports:?}"
    );
    // The job run once and its results read once: no membership asked, nothing sent again.
    let after: Vec<String> = sandbox.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(after.iter().all(|r| !r.starts_with("POST")), "{after:?}");
    assert!(after.len() <= 5, "{after:?}");
    assert_eq!(sandbox.records("bulk_jobs").len(), 1);
}

/// A team or app that may not use bulk jobs (403 on the job's first request) gets its people
/// upserted one by one, in the same run.
#[tokio::test]
async fn without_bulk_jobs_the_people_are_upserted_one_by_one() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    let rows = enroll::validate(
        (0..30)
            .map(|i| Lead {
                email: format!("solo{i}@example.test"),
                ..Lead::default()
            })
            .collect(),
    );
    // Without domains the run's first request is the job's: refused.
    sandbox.inject(Fault::Status { status: 403 }, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reports = run(&client, &sandbox, &rows, &mut journal(&dir, &sandbox)).await;
    assert_eq!(outcomes(&reports)["Created"], 30, "{reports:?}");
    assert!(sandbox.records("bulk_jobs").is_empty());
    let upserts = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/person_upserts"))
        .count();
    assert_eq!(upserts, 30);
}
