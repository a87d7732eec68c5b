//! The page stream and incremental sync against the sandbox.

use futures::TryStreamExt;
use salesloft_api::pagination::items;
use salesloft_api::sync::{IncrementalSync, SyncCursor};
use salesloft_api::{Client, RetryPolicy, sync_request};
use salesloft_mock::Config;
use salesloft_testkit::{only_people, sandbox_and_client};
use std::collections::HashSet;

async fn walk(client: &Client) -> Vec<i64> {
    let stream = items(|page| client.list_people().per_page(100).page(page).send());
    let people: Vec<_> = stream.try_collect().await.expect("the walk succeeds");
    people
        .iter()
        .filter_map(|p| p.id.as_ref()?.as_i64())
        .collect()
}

#[tokio::test]
async fn the_page_stream_over_0_1_100_and_101_records() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    for (count, requests) in [(0, 1), (1, 1), (100, 1), (101, 2)] {
        only_people(&sandbox, count);
        sandbox.clear_requests();
        let ids = walk(&client).await;
        assert_eq!(ids.len(), count);
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            count,
            "no record twice"
        );
        assert_eq!(sandbox.requests().len(), requests, "{count} records");
    }
}

#[tokio::test]
async fn the_page_stream_works_for_any_list_and_stops_without_paging() {
    let (_sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    let cadences: Vec<_> = items(|page| client.list_cadences().page(page).send())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(cadences.len(), 3);
    // /v2/users without `page` has no paging: one request, then done.
    let users: Vec<_> = items(|_| client.list_users().send())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
}

/// Syncs people from `cursor` until `limit` records are handed out or none are left: the ids,
/// the cursor then, and the requests made.
async fn sync_up_to(
    client: &Client,
    cursor: SyncCursor,
    limit: usize,
) -> (Vec<i64>, SyncCursor, u64) {
    let mut sync = IncrementalSync::new(cursor, |window| {
        let client = client.clone();
        async move { sync_request!(client.list_people(), window).await }
    });
    let mut ids = Vec::new();
    while ids.len() < limit {
        let Some(person) = sync.next().await else {
            break;
        };
        ids.push(
            person
                .expect("sync succeeds")
                .id
                .and_then(|id| id.as_i64())
                .unwrap(),
        );
    }
    (ids, sync.cursor().clone(), sync.requests())
}

async fn sync_all(client: &Client, cursor: SyncCursor) -> (Vec<i64>, SyncCursor, u64) {
    sync_up_to(client, cursor, usize::MAX).await
}

/// Only `count` people, each updated a millisecond after the one before.
fn people_one_ms_apart(sandbox: &salesloft_mock::SandboxHandle, count: usize) {
    only_people(sandbox, 0);
    for _ in 0..count {
        sandbox.clock().advance(chrono::Duration::milliseconds(1));
        sandbox.seed_people(1).unwrap();
    }
}

#[tokio::test]
async fn sync_resumes_from_a_stored_cursor_and_sees_updates_made_meanwhile() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    people_one_ms_apart(&sandbox, 150);
    let (ids, cursor, requests) = sync_all(&client, SyncCursor::default()).await;
    assert_eq!(ids.len(), 150);
    assert_eq!(requests, 2, "page-1 requests only");
    let stored = serde_json::to_string(&cursor).unwrap();

    sandbox.clock().advance(chrono::Duration::seconds(1));
    let first = ids[0];
    client
        .update_person()
        .id(first)
        .body_map(|b| b.title("Updated".to_string()))
        .send()
        .await
        .unwrap();
    sandbox.seed_people(1).unwrap();
    let resumed: SyncCursor = serde_json::from_str(&stored).unwrap();
    let (again, _, _) = sync_all(&client, resumed).await;
    assert_eq!(
        again.len(),
        2,
        "the updated record and the new one, nothing else: {again:?}"
    );
    assert!(again.contains(&first));
    let requests: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert!(
        requests
            .iter()
            .all(|r| r.query.as_deref().unwrap_or_default().contains("page=1"))
    );
}

#[tokio::test]
async fn a_cursor_stored_in_the_middle_of_a_page_resumes_at_the_next_record() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    people_one_ms_apart(&sandbox, 150);
    let (first_part, stored, _) = sync_up_to(&client, SyncCursor::default(), 30).await;
    assert_eq!(first_part.len(), 30);
    let (rest, _, _) = sync_all(&client, stored).await;
    assert_eq!(
        rest.len(),
        120,
        "neither the 70 left of the first page lost nor any repeated"
    );
    let all: HashSet<i64> = first_part.iter().chain(&rest).copied().collect();
    assert_eq!(all.len(), 150);
}

#[tokio::test]
async fn records_sharing_one_updated_at_are_synced_once_without_looping() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    only_people(&sandbox, 250);
    sandbox.clock().advance(chrono::Duration::seconds(1));
    sandbox.seed_people(5).unwrap();
    let (ids, cursor, requests) = sync_all(&client, SyncCursor::default()).await;
    assert_eq!(ids.len(), 255);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        255,
        "each record once"
    );
    assert!(requests <= 6, "{requests} requests");
    assert_eq!(cursor.seen_at_since.len(), 5);
    let (nothing, _, _) = sync_all(&client, cursor).await;
    assert!(nothing.is_empty());
}

/// Bulk jobs page by `id[gt]`: 0, 99, 100, 150 and 250 jobs are each walked whole, once, with
/// one request per `per_page` records (and one more only when the last page is full).
#[tokio::test]
async fn the_id_stream_walks_a_list_paged_by_id_whole_and_once() {
    use salesloft_api::pagination::{id_number, items_after_id};
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    for (count, more) in [(0usize, 0), (99, 99), (100, 1), (150, 50), (250, 100)] {
        sandbox
            .seed("bulk_jobs", more, 1_000, count as u64)
            .unwrap();
        sandbox.clear_requests();
        let jobs = items_after_id(
            50,
            |job: &salesloft_api::types::BulkJob| id_number(&job.id),
            |after| {
                let list = client.list_bulk_jobs().per_page(50);
                match after {
                    Some(after) => list.id_gt(after),
                    None => list,
                }
                .send()
            },
        );
        let ids: Vec<i64> = jobs
            .map_ok(|job| id_number(&job.id).unwrap())
            .try_collect()
            .await
            .unwrap();
        let unique: HashSet<i64> = ids.iter().copied().collect();
        assert_eq!((ids.len(), unique.len()), (count, count));
        assert_eq!(sandbox.requests().len(), count / 50 + 1, "{count} jobs");
    }
}

/// A service that ignores `id[gt]` answers the first page again: the stream stops with an
/// error after two requests instead of looping.
#[tokio::test]
async fn a_list_that_does_not_move_past_the_last_id_is_an_error_not_a_loop() {
    use salesloft_api::ApiError;
    use salesloft_api::pagination::{id_number, items_after_id};
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::none()).await;
    sandbox.seed("bulk_jobs", 120, 1_000, 3).unwrap();
    sandbox.clear_requests();
    let jobs = items_after_id(
        50,
        |job: &salesloft_api::types::BulkJob| id_number(&job.id),
        // Never sends `id[gt]`: every answer is the first page.
        |_| client.list_bulk_jobs().per_page(50).send(),
    );
    let error = jobs.try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(error, ApiError::PageRepeated { .. }), "{error:?}");
    assert_eq!(sandbox.requests().len(), 2);
}
