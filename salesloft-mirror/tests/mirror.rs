//! The mirror against the sandbox, every test on SQLite and on a real PostgreSQL server.

use salesloft_mirror::{Mirror, MirrorError};
use salesloft_testkit::on_both_backends;
use serde_json::{Value, json};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn run(
    mirror: &Mirror,
    client: &salesloft_api::Client,
    only: &[&str],
) -> Vec<salesloft_mirror::Report> {
    let tables = mirror.select(&names(only), &[]).unwrap();
    mirror.run(client, &tables, &mut |_| {}).await.unwrap()
}

/// Every record of the sandbox is a row; a second run asks one page-1 request per
/// incremental resource; changes come back alone; a whole read finds deletions.
async fn mirrors_the_sandbox(url: &str) {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    sandbox.seed("notes", 250, 1_000, 1).unwrap();
    sandbox.seed("custom_fields", 30, 1_000, 2).unwrap();
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    let reports = run(&mirror, &client, &["notes", "people", "custom_fields"]).await;
    let by = |name: &str| reports.iter().find(|r| r.resource == name).unwrap().clone();
    let notes = by("notes");
    assert_eq!(notes.rows, 250);
    assert!(notes.requests <= 250_u64.div_ceil(100) + 1, "{notes:?}");
    assert_eq!(notes.cost, notes.requests, "page-1 requests only");
    assert_eq!(by("people").rows, sandbox.records("people").len() as u64);
    assert_eq!(by("custom_fields").rows, 30);

    // Nothing changed: one request, nothing written.
    let again = run(&mirror, &client, &["notes"]).await;
    assert_eq!((again[0].requests, again[0].written), (1, 0));

    // Ten notes change through the API: exactly those ten are written.
    sandbox.clock().advance(chrono::Duration::seconds(1));
    let http = reqwest::Client::new();
    for id in 1..=10 {
        let url = format!("{}/v2/notes/{id}.json", sandbox.api_base_url());
        let answer = http
            .put(url)
            .bearer_auth(sandbox.api_key())
            .json(&json!({"content": format!("changed {id}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let changed = run(&mirror, &client, &["notes"]).await;
    assert_eq!(changed[0].written, 10);
    let table = mirror.select(&names(&["notes"]), &[]).unwrap().remove(0);
    let rows = mirror.dump(&table).await.unwrap();
    let first = rows.iter().find(|r| r["id"] == 1).unwrap();
    assert_eq!(first["content"], "changed 1");
    let record = sandbox.record("notes", 1).unwrap();
    assert_eq!(first["user_id"], record["user"]["id"]);

    // Two custom fields are deleted: the next whole read marks them.
    for id in [3, 4] {
        assert_eq!(
            salesloft_testkit::delete(&sandbox, &format!("custom_fields/{id}")).await,
            204
        );
    }
    let whole = run(&mirror, &client, &["custom_fields"]).await;
    assert_eq!((whole[0].rows, whole[0].deleted), (28, 2));
}
on_both_backends!(mirrors_the_sandbox_incrementally, mirrors_the_sandbox);

/// Deliveries: a newer `updated_at` wins, an older or repeated one changes nothing, a
/// deletion marks the row and stays.
async fn deliveries_newest_wins(url: &str) {
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    let note = |content: &str, at: &str| json!({"id": 7, "content": content, "updated_at": at, "user": {"id": 1}, "surprise": [1]});
    let table = mirror.select(&names(&["notes"]), &[]).unwrap().remove(0);
    let read = |rows: Vec<serde_json::Map<String, Value>>| rows.into_iter().next().unwrap();
    assert!(
        mirror
            .apply(
                "note_created",
                &note("first", "2024-01-01T10:00:00.000001-05:00")
            )
            .await
            .unwrap()
    );
    assert!(
        mirror
            .apply(
                "note_updated",
                &note("third", "2024-01-01T10:00:00.000003-05:00")
            )
            .await
            .unwrap()
    );
    // Late, reordered and duplicated: older than what is stored.
    mirror
        .apply(
            "note_updated",
            &note("second", "2024-01-01T15:00:00.000002Z"),
        )
        .await
        .unwrap();
    mirror
        .apply(
            "note_created",
            &note("first", "2024-01-01T10:00:00.000001-05:00"),
        )
        .await
        .unwrap();
    let row = read(mirror.dump(&table).await.unwrap());
    assert_eq!(row["content"], "third");
    assert_eq!(
        row["_extra"],
        json!({"surprise": [1]}),
        "unknown fields are kept"
    );
    mirror
        .apply(
            "note_deleted",
            &note("third", "2024-01-01T10:00:00.000003-05:00"),
        )
        .await
        .unwrap();
    mirror
        .apply(
            "note_updated",
            &note("third", "2024-01-01T10:00:00.000003-05:00"),
        )
        .await
        .unwrap();
    let row = read(mirror.dump(&table).await.unwrap());
    assert!(
        row["_deleted_at"].is_string(),
        "the deletion stays: {row:?}"
    );
    assert_eq!(mirror.rows(&table).await.unwrap(), 0);
    assert!(!mirror.apply("no_such_event", &json!({})).await.unwrap());
}
on_both_backends!(deliveries_are_applied_newest_wins, deliveries_newest_wins);

/// Bad input is one clear error and leaves the database as it was.
async fn refusals(url: &str) {
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    let unknown = mirror.select(&names(&["notes", "nope"]), &[]).unwrap_err();
    assert!(
        matches!(unknown, MirrorError::UnknownResource(_)),
        "{unknown}"
    );
    // A second mirror on the same database is told who holds it.
    let second = Mirror::open_now(url).await.err().expect("locked");
    assert!(matches!(second, MirrorError::Locked(_)), "{second}");
    assert!(second.to_string().contains("another mirror"), "{second}");
    if let Some(path) = url.strip_prefix("sqlite:") {
        // The lock file is anyone's to write: what it says never reaches the message.
        std::fs::write(format!("{path}.lock"), "\x1b[2J\x1b]0;owned\x07 pid 12").unwrap();
        let hostile = Mirror::open_now(url).await.err().expect("locked");
        let text = hostile.to_string();
        assert!(text.contains("another process"), "{text}");
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
    drop(mirror);
    // A database from a newer program is refused, and not changed.
    {
        let mirror = Mirror::open(url, &|_| {}).await.unwrap();
        drop(mirror);
        let pool = salesloft_testkit::any_pool(url).await;
        sqlx::query("UPDATE _mirror_meta SET value = '99' WHERE key = 'layout_version'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let future = Mirror::open(url, &|_| {}).await.err().expect("refused");
    assert!(
        matches!(future, MirrorError::FromTheFuture { found: 99, .. }),
        "{future}"
    );
    let pool = salesloft_testkit::any_pool(url).await;
    let value: String = sqlx::Row::get(
        &sqlx::query("SELECT value FROM _mirror_meta WHERE key = 'layout_version'")
            .fetch_one(&pool)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(value, "99", "left as it was");
}
on_both_backends!(bad_input_is_refused_and_changes_nothing, refusals);

/// On Postgres the mirror's lock is one advisory key: a session holding another advisory lock
/// is never named as the mirror's holder, the session holding the mirror's key is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_holder_named_is_the_holder_of_the_mirrors_key() {
    let db = salesloft_testkit::postgres();
    let pool = salesloft_testkit::any_pool(&db.url).await;
    let mut other = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(42)")
        .execute(&mut *other)
        .await
        .unwrap();
    let other_pid: i64 = sqlx::query_scalar("SELECT pg_backend_pid()::bigint")
        .fetch_one(&mut *other)
        .await
        .unwrap();
    let mirror = Mirror::open(&db.url, &|_| {}).await.unwrap();
    let holder_pid: i64 = sqlx::query_scalar(
        "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> $1",
    )
    .bind(other_pid)
    .fetch_one(&salesloft_testkit::any_pool(&db.url).await)
    .await
    .unwrap();
    let refused = Mirror::open_now(&db.url).await.err().expect("locked");
    let text = refused.to_string();
    assert!(text.contains(&format!("backend {holder_pid} ")), "{text}");
    assert!(!text.contains(&format!("backend {other_pid} ")), "{text}");
    drop(mirror);
}

/// A newer spec's columns are added when the database is opened; rows stay.
async fn migrations_add_columns(url: &str) {
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    mirror
        .apply(
            "note_created",
            &json!({"id": 1, "content": "kept", "updated_at": "2024-01-01T00:00:00Z"}),
        )
        .await
        .unwrap();
    drop(mirror);
    let pool = salesloft_testkit::any_pool(url).await;
    sqlx::query("ALTER TABLE sl_notes DROP COLUMN associated_type")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    let table = mirror.select(&names(&["notes"]), &[]).unwrap().remove(0);
    let rows = mirror.dump(&table).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["content"], "kept");
    assert!(rows[0].contains_key("associated_type"));
}
on_both_backends!(a_newer_spec_adds_columns, migrations_add_columns);

/// A deletion whose webhook was never seen is found by `reconcile`: a page-1 walk, its cost
/// known before.
async fn reconcile_finds_deletions(url: &str) {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    sandbox.seed("people", 150, 1_000, 3).unwrap();
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    let tables = mirror.select(&names(&["people", "groups"]), &[]).unwrap();
    mirror.run(&client, &tables, &mut |_| {}).await.unwrap();
    for id in [4, 5] {
        assert_eq!(
            salesloft_testkit::delete(&sandbox, &format!("people/{id}")).await,
            204
        );
    }
    assert_eq!(
        mirror.reconcile_cost(&tables).await.unwrap(),
        153_u64.div_ceil(100) + 1
    );
    sandbox.clear_requests();
    let reports = mirror
        .reconcile(&client, &tables, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reports.len(), 1, "only the incremental resources");
    assert_eq!((reports[0].deleted, reports[0].rows), (2, 151));
    assert!(reports[0].requests <= 3, "{:?}", reports[0]);
    // The incremental cursor was left where it was: nothing new to read.
    let again = run(&mirror, &client, &["people"]).await;
    assert_eq!((again[0].requests, again[0].written), (1, 0));
}
on_both_backends!(reconcile_marks_what_is_gone, reconcile_finds_deletions);

/// A database that cannot be opened says which and why, and keeps the error it came from:
/// the file system's for a SQLite path in a missing folder, the driver's for a Postgres
/// server that is not there (its password hidden).
#[tokio::test]
async fn a_database_that_cannot_be_opened_keeps_its_cause() {
    use std::error::Error as _;
    let missing = tempfile::tempdir().unwrap().path().join("gone/mirror.db");
    let url = format!("sqlite:{}", missing.display());
    let Err(error) = Mirror::open_now(&url).await else {
        panic!("a database in a missing folder opened");
    };
    assert!(matches!(error, MirrorError::Unreachable { .. }), "{error}");
    let cause = error.source().expect("the file system's error is kept");
    assert!(cause.to_string().contains("mirror.db.lock"), "{cause}");
    assert!(
        cause.source().is_some(),
        "the io::Error under the lock file's name"
    );

    let url = "postgres://mirror:hunter2@127.0.0.1:1/nothing";
    let Err(error) = Mirror::open_now(url).await else {
        panic!("a server that is not there answered");
    };
    assert!(matches!(error, MirrorError::Unreachable { .. }), "{error}");
    assert!(error.source().is_some(), "the driver's error is kept");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

/// A resource whose read keeps failing past the client's retries is reported as failed, with
/// the pages read before the failure kept; the resources after it are read all the same; the
/// next run goes on from the failed resource's cursor and finishes it.
async fn one_failed_resource(url: &str) {
    use salesloft_mirror::{Patience, Progress};
    use std::time::Duration;
    let (sandbox, _) = salesloft_testkit::unmetered().await;
    sandbox.seed("notes", 250, 1_000, 1).unwrap();
    sandbox.seed("custom_fields", 30, 1_000, 2).unwrap();
    let retries = salesloft_testkit::fast_retries();
    let attempts = retries.max_attempts as usize;
    let client = salesloft_testkit::api_key_client(&sandbox, retries);
    let mut mirror = Mirror::open(url, &|_| {}).await.unwrap();
    mirror.set_patience(Patience(Duration::ZERO));
    let tables = mirror
        .select(&names(&["notes", "custom_fields"]), &[])
        .unwrap();
    // After the first page of notes, every attempt at the second fails.
    let mut struck = false;
    let mut strike = |progress: Progress<'_>| {
        if let Progress::Page { table, .. } = progress
            && table.resource == "notes"
            && !struck
        {
            sandbox
                .inject(salesloft_mock::Fault::Status { status: 500 }, attempts)
                .unwrap();
            struck = true;
        }
    };
    let reports = mirror.run(&client, &tables, &mut strike).await.unwrap();
    let by = |name: &str| reports.iter().find(|r| r.resource == name).unwrap().clone();
    let notes = by("notes");
    let failed = notes.failed.as_deref().expect("notes failed");
    assert!(failed.contains("500"), "{failed}");
    assert_eq!(notes.rows, 100, "the first page is kept");
    assert_eq!(by("custom_fields").rows, 30, "read after the failure");
    assert!(by("custom_fields").failed.is_none());

    let again = run(&mirror, &client, &["notes"]).await;
    assert!(again[0].failed.is_none(), "{again:?}");
    assert_eq!(again[0].rows, 250);
    assert!(
        again[0].written <= 150 + 100,
        "{again:?}: on from the cursor"
    );
}
on_both_backends!(a_failed_resource_does_not_stop_the_run, one_failed_resource);

/// A whole run asks nothing the document forbids: every request carries the query
/// parameters its operation requires (a validating proxy in front of the service would let
/// each through). A lookup that needs a parameter the mirror cannot fill is not mirrored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_a_whole_run_carries_what_the_document_requires() {
    let db = salesloft_testkit::sqlite();
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    let mirror = Mirror::open(&db.url, &|_| {}).await.unwrap();
    let tables = mirror.select(&[], &[]).unwrap();
    assert!(
        tables
            .iter()
            .all(|t| t.resource != "phone_numbers/caller_ids")
    );
    let reports = mirror.run(&client, &tables, &mut |_| {}).await.unwrap();
    assert!(reports.iter().all(|r| r.failed.is_none()), "{reports:?}");
    let routes = salesloft_mock::spec_routes::SpecRoutes::from_spec(salesloft_openapi::SPEC);
    let requests = sandbox.requests();
    assert!(requests.len() >= tables.len());
    for request in requests {
        let missing =
            routes.missing_query(&request.method, &request.path, request.query.as_deref());
        assert!(
            missing.is_empty(),
            "{} {} lacks {missing:?}",
            request.method,
            request.path
        );
    }
}

/// A storm that outlasts the client's retries is waited out with the mirror's patience: the
/// page is asked again after pauses, the run completes, nothing is missing. Costs two real
/// pauses (1 s and 2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_is_waited_out_with_patience() {
    let db = salesloft_testkit::sqlite();
    let (sandbox, _) = salesloft_testkit::unmetered().await;
    sandbox.seed("notes", 250, 1_000, 1).unwrap();
    let retries = salesloft_testkit::fast_retries();
    let storm = 2 * retries.max_attempts as usize + 1;
    let client = salesloft_testkit::api_key_client(&sandbox, retries);
    let mirror = Mirror::open(&db.url, &|_| {}).await.unwrap();
    sandbox
        .inject(salesloft_mock::Fault::Status { status: 503 }, storm)
        .unwrap();
    let reports = run(&mirror, &client, &["notes"]).await;
    assert!(reports[0].failed.is_none(), "{reports:?}");
    assert_eq!(reports[0].rows, 250);
    let statuses: Vec<u16> = sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), storm);
}

/// Bulk jobs take `id[gt]` and no page number: a whole read walks them by the last id (250
/// jobs: three requests, never `page`), and a second read finds every row still there.
async fn lists_paged_by_id(url: &str) {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    sandbox.seed("bulk_jobs", 250, 1_000, 9).unwrap();
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    let reports = run(&mirror, &client, &["bulk_jobs"]).await;
    assert!(reports[0].failed.is_none(), "{reports:?}");
    assert_eq!((reports[0].rows, reports[0].requests), (250, 3));
    let queries: Vec<String> = sandbox
        .requests()
        .iter()
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    let asks = |name: &str| {
        let name = name.to_string();
        move |query: &&String| {
            query
                .split('&')
                .any(|pair| pair.split('=').next() == Some(&name))
        }
    };
    assert_eq!(
        queries.iter().filter(asks("page")).count(),
        0,
        "{queries:?}"
    );
    assert_eq!(
        queries.iter().filter(asks("id%5Bgt%5D")).count(),
        2,
        "{queries:?}"
    );
    let again = run(&mirror, &client, &["bulk_jobs"]).await;
    assert_eq!((again[0].rows, again[0].deleted), (250, 0));
}
on_both_backends!(a_list_paged_by_id_is_read_by_the_last_id, lists_paged_by_id);
