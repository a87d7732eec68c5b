//! The shapes the real service sends (salesloft-openapi/SERVICE.md) decode into the generated types.

mod support;

use salesloft_api::Error;
use salesloft_api::Id;
use salesloft_api::types::AccountUserRelationships;
use support::CaptureServer;

const PERSON: &str = r#"{"data": {
    "id": 101, "first_name": "Ada", "last_name": null, "email_address": "ada@example.com",
    "tags": null, "custom_fields": null, "counts": null,
    "account": {"_href": "https://api.salesloft.com/v2/accounts/7", "id": 7},
    "owner": {"id": "3f0e1d2c-aaaa-bbbb-cccc-000000000001"},
    "created_at": "2023-03-07T12:12:52.362090-05:00",
    "updated_at": "2023-03-07T17:12:52.123456Z",
    "account_crm_id": "0017h00000abcde",
    "a_field_nobody_documented": {"nested": [1, 2, 3]}
}}"#;

#[tokio::test]
async fn a_person_in_its_envelope_with_nulls_string_ids_and_offsets() {
    let server = CaptureServer::start().await;
    server.answer("/v2/people/101.json", 200, PERSON);
    let person = server
        .client()
        .get_person()
        .id(101)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;

    assert_eq!(person.id, Some(Id::from(101)));
    assert_eq!(person.first_name.as_deref(), Some("Ada"));
    assert_eq!(person.last_name, None);
    assert_eq!(person.tags, None);
    assert_eq!(person.custom_fields, None);
    assert_eq!(person.account_crm_id, Some(Id::from("0017h00000abcde")));
    let account = person.account.unwrap();
    assert_eq!(account.id, Some(Id::Integer(7)));
    let owner = person.owner.unwrap();
    assert_eq!(
        owner.id,
        Some(Id::Text("3f0e1d2c-aaaa-bbbb-cccc-000000000001".into()))
    );
    assert_eq!(owner.href, None, "_href may be absent");
    // -05:00 and Z, both with microseconds, are the same kind of instant.
    assert_eq!(
        person.created_at.unwrap().to_rfc3339(),
        "2023-03-07T17:12:52.362090+00:00"
    );
    assert_eq!(
        person.updated_at.unwrap().to_rfc3339(),
        "2023-03-07T17:12:52.123456+00:00"
    );
}

#[tokio::test]
async fn a_list_with_paging_counts_and_one_without_paging() {
    let server = CaptureServer::start().await;
    server.answer(
        "/v2/people.json",
        200,
        r#"{"metadata": {"filtering": {}, "paging": {"per_page": 25, "current_page": 1, "next_page": 2, "prev_page": null, "total_pages": 4, "total_count": 80},
            "sorting": {"sort_by": "updated_at", "sort_direction": "DESC NULLS LAST"}},
            "data": [{"id": 1}, {"id": 2, "account": null}]}"#,
    );
    let page = server
        .client()
        .list_people()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.data.len(), 2);
    let paging = page.metadata.unwrap().paging.unwrap();
    assert_eq!(
        (paging.current_page, paging.next_page, paging.prev_page),
        (Some(1), Some(2), None)
    );
    assert_eq!(
        (paging.total_pages, paging.total_count),
        (Some(4), Some(80))
    );

    server.answer(
        "/v2/groups.json",
        200,
        r#"{"metadata": {"filtering": {}, "sorting": {}}, "data": []}"#,
    );
    let groups = server
        .client()
        .list_groups()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(groups.data.is_empty());
    assert_eq!(
        groups.metadata.unwrap().paging,
        None,
        "absent paging means no next page"
    );

    server.answer(
        "/v2/webhook_subscriptions",
        200,
        r#"{"data": [{"id": 5, "enabled": null}]}"#,
    );
    let hooks = server
        .client()
        .list_webhook_subscriptions()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hooks.metadata, None);
    assert_eq!(hooks.data[0].enabled, None);
}

#[tokio::test]
async fn an_account_with_empty_user_relationships_and_custom_fields_map() {
    let server = CaptureServer::start().await;
    server.answer(
        "/v2/accounts/7.json",
        200,
        r#"{"data": {"id": 7, "name": "Acme", "domain": "acme.test", "user_relationships": [],
            "custom_fields": {"Tier": "Gold"}, "tags": ["a", "b"], "prospector_engagement_score": "12.5"}}"#,
    );
    let account = server
        .client()
        .get_account()
        .id(7)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(
        account.user_relationships,
        Some(AccountUserRelationships::Array(vec![]))
    );
    assert_eq!(account.custom_fields.unwrap()["Tier"], "Gold");
    assert_eq!(account.tags, Some(vec!["a".to_string(), "b".to_string()]));

    server.answer(
        "/v2/accounts/8.json",
        200,
        r#"{"data": {"id": 8, "user_relationships": {"bff": "0037h"}}}"#,
    );
    let account = server
        .client()
        .get_account()
        .id(8)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert!(
        matches!(account.user_relationships, Some(AccountUserRelationships::Object(map)) if map["bff"] == "0037h")
    );
}

#[tokio::test]
async fn a_422_errors_map_and_a_404_error_are_decoded() {
    let server = CaptureServer::start().await;
    server.answer(
        "/v2/people.json",
        422,
        r#"{"errors": {"email_address": ["is already taken"]}}"#,
    );
    let err = server
        .client()
        .create_person()
        .body_map(|b| b.email_address("a@b.c".to_string()))
        .send()
        .await
        .unwrap_err();
    let Error::ErrorResponse(body) = err else {
        panic!("expected a decoded error body, got {err:?}")
    };
    assert_eq!(body.status().as_u16(), 422);
    assert_eq!(
        body.errors.as_ref().unwrap()["email_address"],
        vec!["is already taken".to_string()]
    );

    server.answer("/v2/people/9.json", 404, r#"{"error": "Not Found"}"#);
    let err = server.client().get_person().id(9).send().await.unwrap_err();
    let Error::ErrorResponse(body) = err else {
        panic!("expected a decoded error body, got {err:?}")
    };
    assert_eq!(body.status().as_u16(), 404);
    assert_eq!(body.error.as_deref(), Some("Not Found"));
}

#[tokio::test]
async fn a_task_get_and_a_note_update_decode_as_what_they_are() {
    let server = CaptureServer::start().await;
    server.answer(
        "/v2/tasks/3.json",
        200,
        r#"{"data": {"id": 3, "subject": "Call", "score": 0.5, "source": "cadence"}}"#,
    );
    let task = server
        .client()
        .get_task()
        .id(3)
        .send()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(task.subject.as_deref(), Some("Call"));
    assert_eq!(task.source.as_deref(), Some("cadence"));

    server.answer(
        "/v2/activity_histories",
        200,
        r#"{"data": [{"id": 1}, {"id": 2}], "metadata": {}}"#,
    );
    let histories = server
        .client()
        .list_activity_histories()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(histories.data.len(), 2);
}
