//! The v2 API rules of salesloft-openapi/SERVICE.md, one test per rule, through plain HTTP.

mod common;

use common::Api;
use serde_json::json;

#[tokio::test]
async fn me_is_the_seeded_user_in_an_envelope() {
    let api = Api::start().await;
    let me = api.get("/v2/me.json").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["data"]["email"], "sandy@example.com");
    assert_eq!(
        api.get("/v2/me").await.body,
        me.body,
        "the .json suffix is optional"
    );
}

#[tokio::test]
async fn people_lifecycle_with_unique_email_and_partial_update() {
    let api = Api::start().await;
    let created = api
        .post(
            "/v2/people.json",
            json!({"email_address": "new@example.com", "first_name": "New"}),
        )
        .await;
    assert_eq!(created.status, 200);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let stamp = created.body["data"]["created_at"].as_str().unwrap();
    assert!(
        stamp.ends_with("-05:00") && stamp.split('.').nth(1).unwrap().len() == 12,
        "{stamp}"
    );

    let duplicate = api
        .post(
            "/v2/people.json",
            json!({"email_address": "NEW@example.com"}),
        )
        .await;
    assert_eq!(duplicate.status, 422);
    assert_eq!(
        duplicate.body,
        json!({"errors": {"email_address": ["is already taken"]}})
    );

    let nothing = api
        .post("/v2/people.json", json!({"first_name": "x"}))
        .await;
    assert_eq!(nothing.status, 422);
    let by_phone = api
        .post(
            "/v2/people.json",
            json!({"phone": "+1 555 0100", "last_name": "Phone"}),
        )
        .await;
    assert_eq!(by_phone.status, 200);

    let updated = api
        .put(
            &format!("/v2/people/{id}.json"),
            json!({"last_name": "McTester", "account_id": 2}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        updated.body["data"]["first_name"], "New",
        "partial update keeps other fields"
    );
    assert_eq!(updated.body["data"]["last_name"], "McTester");
    assert_eq!(updated.body["data"]["account"]["id"], 2);
    assert!(
        updated.body["data"].get("account_id").is_none(),
        "the response embeds the account instead"
    );

    let unknown_account = api
        .put(&format!("/v2/people/{id}.json"), json!({"account_id": 999}))
        .await;
    assert_eq!(unknown_account.status, 422);

    let found = api
        .get("/v2/people.json?email_addresses[]=new%40example.com")
        .await;
    assert_eq!(found.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["data"][0]["id"], id);
    let single = api
        .get("/v2/people.json?email_addresses=new%40example.com")
        .await;
    assert_eq!(single.body["data"][0]["id"], id);

    let deleted = api.delete(&format!("/v2/people/{id}.json")).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        api.get(&format!("/v2/people/{id}.json")).await.body,
        json!({"error": "Not Found"})
    );
}

#[tokio::test]
async fn form_bodies_work_too() {
    let api = Api::start().await;
    let created = api
        .send(api.http.post(api.url("/v2/people.json")).form(&[
            ("email_address", "form@example.com"),
            ("account_id", "1"),
            ("tags[]", "a"),
        ]))
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.body["data"]["account"]["id"], 1);
    assert_eq!(created.body["data"]["tags"], json!(["a"]));
}

#[tokio::test]
async fn list_filters_by_ids_and_updated_at() {
    let api = Api::start().await;
    let by_ids = api.get("/v2/people.json?ids[]=1&ids[]=3").await;
    let ids: Vec<i64> = by_ids.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&1) && ids.contains(&3));

    api.sandbox.clock().advance(chrono::Duration::seconds(5));
    let touched = api.put("/v2/people/2.json", json!({"title": "CTO"})).await;
    let stamp = touched.body["data"]["updated_at"]
        .as_str()
        .unwrap()
        .to_string();
    let since = url::form_urlencoded::byte_serialize(stamp.as_bytes()).collect::<String>();
    let gte = api
        .get(&format!("/v2/people.json?updated_at[gte]={since}"))
        .await;
    assert_eq!(gte.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(gte.body["data"][0]["id"], 2);
    let gt = api
        .get(&format!("/v2/people.json?updated_at[gt]={since}"))
        .await;
    assert_eq!(gt.body["data"], json!([]));
    let lt = api
        .get(&format!("/v2/people.json?updated_at[lt]={since}"))
        .await;
    assert_eq!(lt.body["data"].as_array().unwrap().len(), 2);
    let bad = api.get("/v2/people.json?updated_at[gt]=yesterday").await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn paging_metadata_as_the_service_sends_it() {
    let api = Api::start().await;
    api.sandbox.seed_people(57).unwrap();
    let first = api.get("/v2/people.json?per_page=25").await;
    let meta = &first.body["metadata"];
    assert_eq!(
        meta["paging"],
        json!({"per_page": 25, "current_page": 1, "next_page": 2, "prev_page": null})
    );
    assert_eq!(meta["sorting"]["sort_by"], "updated_at");
    let counted = api
        .get("/v2/people.json?per_page=25&page=3&include_paging_counts=true")
        .await;
    let paging = &counted.body["metadata"]["paging"];
    assert_eq!(
        (
            paging["total_count"].as_i64(),
            paging["total_pages"].as_i64()
        ),
        (Some(60), Some(3))
    );
    assert_eq!(paging["next_page"], json!(null));
    assert_eq!(counted.body["data"].as_array().unwrap().len(), 10);
    assert_eq!(
        api.get("/v2/people.json?per_page=500").await.body["metadata"]["paging"]["per_page"],
        100
    );
    assert_eq!(
        api.get("/v2/people.json?page=40").await.body["data"],
        json!([])
    );
    assert_eq!(
        api.get("/v2/people.json?sort_by=shoe_size").await.status,
        422
    );
    let asc = api
        .get("/v2/people.json?sort_by=id&sort_direction=ASC&per_page=2")
        .await;
    assert_eq!(asc.body["data"][0]["id"], 1);
}

#[tokio::test]
async fn accounts_have_unique_domains_and_partial_updates() {
    let api = Api::start().await;
    let created = api
        .post(
            "/v2/accounts.json",
            json!({"name": "Initech", "domain": "initech.test"}),
        )
        .await;
    assert_eq!(created.status, 200);
    let id = created.body["data"]["id"].as_i64().unwrap();
    assert_eq!(created.body["data"]["user_relationships"], json!([]));
    let duplicate = api
        .post(
            "/v2/accounts.json",
            json!({"name": "Other", "domain": "INITECH.test"}),
        )
        .await;
    assert_eq!(
        duplicate.body,
        json!({"errors": {"domain": ["has already been taken"]}})
    );
    assert_eq!(
        api.post("/v2/accounts.json", json!({"name": "No domain"}))
            .await
            .status,
        422
    );
    let renamed = api
        .put(&format!("/v2/accounts/{id}"), json!({"name": "Initrode"}))
        .await;
    assert_eq!(renamed.body["data"]["domain"], "initech.test");
    assert_eq!(renamed.body["data"]["name"], "Initrode");
    let found = api.get("/v2/accounts.json?domain=initech.test").await;
    assert_eq!(found.body["data"][0]["id"], id);
    assert_eq!(
        api.delete(&format!("/v2/accounts/{id}.json")).await.status,
        204
    );
}

#[tokio::test]
async fn cadences_and_memberships() {
    let api = Api::start().await;
    let cadences = api.get("/v2/cadences.json").await;
    assert_eq!(cadences.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(
        api.get("/v2/cadences.json?team_cadence=true").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/v2/cadences/1.json").await.body["data"]["name"],
        "Sandbox Outreach"
    );

    let membership = api
        .post(
            "/v2/cadence_memberships.json",
            json!({"person_id": 1, "cadence_id": 2}),
        )
        .await;
    assert_eq!(membership.status, 200);
    let data = &membership.body["data"];
    assert_eq!(data["current_state"], "staged");
    assert_eq!(data["cadence"]["id"], 2);
    assert_eq!(data["person"]["id"], 1);
    assert!(data["latest_action"].is_null());
    let id = data["id"].as_i64().unwrap();
    let again = api
        .post(
            "/v2/cadence_memberships.json",
            json!({"person_id": 1, "cadence_id": 2}),
        )
        .await;
    assert_eq!(again.status, 422);
    let missing = api
        .post("/v2/cadence_memberships.json", json!({"person_id": 1}))
        .await;
    assert_eq!(
        missing.body,
        json!({"errors": {"cadence_id": ["can't be blank"]}})
    );
    let by_person = api.get("/v2/cadence_memberships.json?person_id[]=1").await;
    assert_eq!(by_person.body["data"][0]["id"], id);
    assert_eq!(
        api.get("/v2/cadence_memberships.json?cadence_id[]=3")
            .await
            .body["data"],
        json!([])
    );
    assert_eq!(
        api.get(&format!("/v2/cadence_memberships/{id}.json"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.delete(&format!("/v2/cadence_memberships/{id}.json"))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn every_declared_route_answers_and_checks_required_parameters() {
    let api = Api::start().await;
    api.sandbox.seed("steps", 3, 0, 1).unwrap();
    let steps = api.get("/v2/steps.json").await;
    assert_eq!(steps.status, 200);
    assert_eq!(steps.body["data"].as_array().unwrap().len(), 3);
    assert!(steps.body["metadata"]["paging"].is_object());
    assert_eq!(api.get("/v2/steps/2.json").await.status, 200);
    assert_eq!(api.get("/v2/steps/42.json").await.status, 404);
    assert_eq!(api.get("/v2/webhook_subscriptions").await.status, 200);
    let note = api.post("/v2/notes.json", json!({"content": "hi"})).await;
    assert_eq!(note.status, 422);
    assert!(
        note.body["errors"]["associated_with_type"].is_array(),
        "{}",
        note.body
    );
    let note = api
        .post(
            "/v2/notes.json",
            json!({"content": "hi", "associated_with_type": "Person", "associated_with_id": 1}),
        )
        .await;
    assert_eq!(note.status, 200, "{}", note.body);
    assert_eq!(note.body["data"]["associated_with"]["id"], 1);
    assert_eq!(note.body["data"]["user"]["id"], 1, "the caller wrote it");
    let id = note.body["data"]["id"].as_i64().unwrap();
    assert_eq!(
        api.delete(&format!("/v2/notes/{id}.json")).await.status,
        204
    );
    assert_eq!(
        api.delete(&format!("/v2/notes/{id}.json")).await.status,
        404
    );
    assert_eq!(
        api.get("/v2/nothing_here.json").await.body,
        json!({"error": "Not Found"})
    );
}

#[tokio::test]
async fn auth_errors_have_the_real_bodies() {
    let api = Api::start().await;
    let none = api.http.get(api.url("/v2/me.json")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = none.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("No Bearer Token")
    );
    let wrong = api
        .http
        .get(api.url("/v2/me.json"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn bad_input_gets_4xx_never_a_crash() {
    let api = Api::start().await;
    let broken = api
        .send(
            api.http
                .post(api.url("/v2/people.json"))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(broken.status, 400);
    assert_eq!(api.get("/v2/people/abc.json").await.status, 404);
    assert_eq!(api.get("/v2/people.json?ids[]=x").await.status, 422);
    let array = api
        .send(
            api.http
                .put(api.url("/v2/people/1.json"))
                .json(&json!([1, 2])),
        )
        .await;
    assert_eq!(array.status, 400);
    let wrong_type = api.put("/v2/people/1.json", json!({"tags": 5})).await;
    assert_eq!(wrong_type.status, 422);
    assert_eq!(api.get("/v2/me.json").await.status, 200, "still serving");
}

/// Every list resource filters, sorts and pages by what its list declares: here calls and
/// notes, which no hand-written code serves.
#[tokio::test]
async fn lists_filter_sort_and_page_as_declared_and_refuse_bad_values() {
    let api = Api::start().await;
    api.sandbox.seed("people", 5, 0, 1).unwrap();
    api.sandbox.seed("activities/calls", 120, 1_000, 2).unwrap();
    api.sandbox.seed("notes", 30, 1_000, 3).unwrap();
    let ids = |answer: &common::Answer| -> Vec<i64> {
        answer.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };

    let all = api.get("/v2/activities/calls.json?per_page=1000").await;
    assert_eq!(all.body["metadata"]["paging"]["per_page"], 100, "clamped");
    assert_eq!(ids(&all).len(), 100);
    let person = all.body["data"][0]["called_person"]["id"].as_i64().unwrap();
    let theirs = api
        .get(&format!(
            "/v2/activities/calls.json?person_id[]={person}&per_page=100"
        ))
        .await;
    assert!(!ids(&theirs).is_empty());
    assert!(
        theirs.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["called_person"]["id"] == person),
        "person_id[] filters on the call's person"
    );
    assert_eq!(
        ids(&api.get("/v2/activities/calls.json?ids[]=3&ids[]=5").await),
        [5, 3]
    );

    // Bracket filters on updated_at and created_at, ascending sort where declared.
    let notes = api
        .get("/v2/notes.json?sort_by=updated_at&sort_direction=ASC&per_page=100")
        .await;
    let data = notes.body["data"].as_array().unwrap();
    let times: Vec<&str> = data
        .iter()
        .map(|n| n["updated_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "ascending: {times:?}"
    );
    let tenth = times[9].replace('+', "%2B");
    let newer = api
        .get(&format!(
            "/v2/notes.json?updated_at[gt]={tenth}&per_page=100"
        ))
        .await;
    assert_eq!(ids(&newer).len(), 20);
    assert_eq!(
        ids(&api
            .get("/v2/notes.json?no_such_filter=1&per_page=100")
            .await)
        .len(),
        30,
        "an unknown filter is ignored"
    );
    for bad in [
        "/v2/notes.json?updated_at[gt]=yesterday",
        "/v2/notes.json?ids[]=abc",
        "/v2/notes.json?sort_by=shoe_size",
    ] {
        let refused = api.get(bad).await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(
            refused.body["errors"].is_object(),
            "{bad}: {}",
            refused.body
        );
    }
    // A note's person is one of the sandbox's people.
    let person = data[0]["associated_with"]["id"].as_i64().unwrap();
    assert_eq!(
        api.get(&format!("/v2/people/{person}.json")).await.status,
        200
    );
    // Deep pages cost what the service charges.
    let deep = api.get("/v2/notes.json?page=101").await;
    assert_eq!(deep.header("x-ratelimit-endpoint-cost"), Some("3"));
    assert_eq!(deep.body["data"], json!([]));
}

/// Writes to any resource send the events the service has for it.
#[tokio::test]
async fn writes_send_the_resources_events() {
    let api = Api::start().await;
    subscribe(&api, &["note_created", "note_updated", "note_deleted"]).await;
    let note = api
        .post(
            "/v2/notes.json",
            json!({"content": "hi", "associated_with_type": "person", "associated_with_id": 1}),
        )
        .await;
    let id = note.body["data"]["id"].as_i64().unwrap();
    let path = format!("/v2/notes/{id}.json");
    assert_eq!(
        api.put(&path, json!({"content": "again"})).await.status,
        200
    );
    assert_eq!(api.delete(&path).await.status, 204);
    let mut seen: Vec<(String, Option<i64>)> = first_attempts(&api, 3)
        .await
        .into_iter()
        .map(|d| (d.event_type, d.record_id))
        .collect();
    seen.sort();
    let id = Some(id);
    assert_eq!(
        seen,
        [
            ("note_created".to_string(), id),
            ("note_deleted".to_string(), id),
            ("note_updated".to_string(), id)
        ]
    );
}

/// A bulk job's records send their resources' events as they run, and the job
/// `bulk_job_completed` once done.
#[tokio::test]
async fn a_bulk_job_sends_its_records_events_and_its_completion() {
    let api = Api::start().await;
    subscribe(&api, &["person_created", "bulk_job_completed"]).await;
    let job = api
        .post("/v2/bulk_jobs", json!({"type": "person/upsert"}))
        .await;
    let id = job.body["data"]["id"].as_i64().unwrap();
    let upload = api
        .post(
            &format!("/v2/bulk_jobs/{id}/job_data"),
            // The document's form too: a record as a JSON string.
            json!({"data": [
                {"upsert_key": "email_address", "email_address": "b1@example.test"},
                "{\"upsert_key\": \"email_address\", \"email_address\": \"b2@example.test\"}",
            ]}),
        )
        .await;
    assert_eq!(upload.body["data"]["records"], 2, "{:?}", upload.body);
    let refused = api
        .post(
            &format!("/v2/bulk_jobs/{id}/job_data"),
            json!({"data": [1]}),
        )
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    let ready = api
        .put(
            &format!("/v2/bulk_jobs/{id}"),
            json!({"ready_to_execute": true}),
        )
        .await;
    assert_eq!(ready.body["data"]["state"], "executing");
    let listed = api.get("/v2/bulk_jobs?state[]=done").await;
    assert_eq!(listed.body["data"][0]["id"], id, "{:?}", listed.body);
    let mut seen: Vec<String> = first_attempts(&api, 3)
        .await
        .into_iter()
        .map(|d| d.event_type)
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        ["bulk_job_completed", "person_created", "person_created"]
    );
}

/// A list that declares `id[gt]` and no `page` (bulk jobs) answers in ascending id order,
/// whatever `page` or sort is asked, so a walk by the last id sees every record once.
#[tokio::test]
async fn a_list_paged_by_id_is_walked_by_the_last_id() {
    let api = Api::start().await;
    api.sandbox.seed("bulk_jobs", 150, 1_000, 7).unwrap();
    let mut seen: Vec<i64> = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let query = after.map_or(String::new(), |id| format!("&id[gt]={id}"));
        let page = api
            .get(&format!(
                "/v2/bulk_jobs?per_page=100&sort_direction=DESC&page=2{query}"
            ))
            .await;
        let ids: Vec<i64> = page.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["id"].as_i64().unwrap())
            .collect();
        if ids.is_empty() {
            break;
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        after = ids.last().copied();
        seen.extend(ids);
    }
    assert_eq!(seen.len(), 150);
    seen.dedup();
    assert_eq!(seen.len(), 150);
}

/// `/v2/users` without `page` answers every user of the team at once, without `paging` (a
/// connector that reads users in one request gets all 151); with `page` it pages as any list.
#[tokio::test]
async fn users_without_a_page_are_every_user_unpaged() {
    let api = Api::start().await;
    let before = api.sandbox.records("users").len();
    api.sandbox.seed("users", 151 - before, 1_000, 3).unwrap();
    let all = api.get("/v2/users").await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 151);
    assert!(
        all.body["metadata"].get("paging").is_none(),
        "{:?}",
        all.body["metadata"]
    );
    let paged = api.get("/v2/users?page=2&per_page=100").await;
    assert_eq!(paged.body["data"].as_array().unwrap().len(), 51);
    assert_eq!(paged.body["metadata"]["paging"]["current_page"], 2);
}

/// A write whose body has a value of the wrong type for its field is a 422 naming the field,
/// and nothing is stored: the lists that would hold it keep answering in their schema.
#[tokio::test]
async fn a_value_of_the_wrong_type_is_refused_and_nothing_is_stored() {
    let api = Api::start().await;
    let account = api.get("/v2/accounts.json?per_page=1").await.body["data"][0].clone();
    let id = account["id"].as_i64().unwrap();
    let refused = api
        .put(
            &format!("/v2/accounts/{id}.json"),
            json!({"tags": [{}], "name": "Renamed"}),
        )
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert!(
        refused.body["errors"]["tags"].is_array(),
        "{:?}",
        refused.body
    );
    let after = api.get(&format!("/v2/accounts/{id}.json")).await.body["data"].clone();
    assert_eq!(
        (&after["tags"], &after["name"]),
        (&account["tags"], &account["name"])
    );

    let views = api.get("/v2/saved_list_views.json").await.body["data"].clone();
    let refused = api
        .post(
            "/v2/saved_list_views.json",
            json!({"name": "Broken", "view": "people", "view_params": [null, null]}),
        )
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert!(refused.body["errors"]["view_params"].is_array());
    assert_eq!(
        api.get("/v2/saved_list_views.json").await.body["data"],
        views
    );

    // The right types still write, text for numbers included (as forms send them).
    let written = api
        .put(
            &format!("/v2/accounts/{id}.json"),
            json!({"tags": ["a", "b"], "account_tier_id": "2"}),
        )
        .await;
    assert_eq!(written.status, 200, "{:?}", written.body);
}

/// The meeting-settings search is a list behind a POST: a table like every other list, seeded,
/// filtered by `updated_at`, written by its update route; not the document's one example.
#[tokio::test]
async fn meeting_settings_are_searched_as_a_table() {
    let api = Api::start().await;
    api.sandbox.seed("meetings/settings", 30, 1_000, 4).unwrap();
    let all = api
        .post(
            "/v2/meetings/settings/searches.json?per_page=100",
            json!({}),
        )
        .await;
    let records = all.body["data"].as_array().unwrap().clone();
    assert_eq!(records.len(), 30, "{:?}", all.body);
    let id = records[0]["id"].as_i64().unwrap();
    api.sandbox.clock().advance(chrono::Duration::seconds(5));
    let newest = records
        .iter()
        .filter_map(|r| r["updated_at"].as_str())
        .max()
        .unwrap()
        .to_string();
    let written = api
        .put(
            &format!("/v2/meetings/settings/{id}.json"),
            json!({"title": "Written"}),
        )
        .await;
    assert_eq!(written.status, 200, "{:?}", written.body);
    let since = url::form_urlencoded::byte_serialize(newest.as_bytes()).collect::<String>();
    let changed = api
        .post(
            &format!("/v2/meetings/settings/searches.json?updated_at[gt]={since}"),
            json!({}),
        )
        .await;
    let changed = changed.body["data"].as_array().unwrap().clone();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["id"], id);
    assert_eq!(changed[0]["title"], "Written");
}

/// Subscribes a receiver that is never there to each event type.
async fn subscribe(api: &Api, events: &[&str]) {
    for event in events {
        let subscribed = api
            .post(
                "/v2/webhook_subscriptions",
                json!({"callback_url": "http://127.0.0.1:9/hook", "callback_token": "t", "event_type": event}),
            )
            .await;
        assert_eq!(subscribed.status, 200);
    }
}

/// The first attempts of the deliveries, once `count` are made (or after 2 s).
async fn first_attempts(api: &Api, count: usize) -> Vec<salesloft_mock::webhooks::DeliveryAttempt> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = api
            .sandbox
            .webhook_deliveries()
            .into_iter()
            .filter(|d| d.attempt == 1)
            .collect();
        if seen.len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    seen
}

/// Calendar events are upserted by (`calendar_id`, `i_cal_uid`), keep the provider's string
/// id, and refuse a missing required field or a time that is not one; a bulk job of them
/// does the same per record.
#[tokio::test]
async fn calendar_events_upsert_by_their_ical_uid() {
    let api = Api::start().await;
    let event = |title: &str| {
        json!({"id": "AAMk-provider-1", "i_cal_uid": "uid-1@example.test", "calendar_id": "cal-1",
               "start_time": "2026-12-03T10:00:00+00:00", "end_time": "2026-12-03T10:30:00+00:00",
               "title": title})
    };
    let first = api.post("/v2/calendar/events/upsert", event("Intro")).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["data"]["id"], "AAMk-provider-1");
    let again = api
        .post("/v2/calendar/events/upsert", event("Intro, moved"))
        .await;
    assert_eq!(again.status, 201);
    let listed = api.get("/v2/calendar/events?per_page=100").await;
    let ours: Vec<&serde_json::Value> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["i_cal_uid"] == "uid-1@example.test")
        .collect();
    assert_eq!(ours.len(), 1, "one event, updated");
    assert_eq!(ours[0]["title"], "Intro, moved");
    let mut missing = event("x");
    missing.as_object_mut().unwrap().remove("calendar_id");
    let refused = api.post("/v2/calendar/events/upsert", missing).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body["errors"]["calendar_id"].is_array(),
        "{:?}",
        refused.body
    );
    let mut bad_time = event("x");
    bad_time["start_time"] = json!("tomorrow");
    assert_eq!(
        api.post("/v2/calendar/events/upsert", bad_time)
            .await
            .status,
        422
    );

    let job = api
        .post("/v2/bulk_jobs", json!({"type": "calendar/events/upsert"}))
        .await;
    let id = job.body["data"]["id"].as_i64().unwrap();
    let mut second = event("Second");
    second["i_cal_uid"] = json!("uid-2@example.test");
    let upload = api
        .post(
            &format!("/v2/bulk_jobs/{id}/job_data"),
            json!({"data": [event("Third title"), second, {"title": "no ids"}]}),
        )
        .await;
    assert_eq!(upload.body["data"]["records"], 3);
    api.put(
        &format!("/v2/bulk_jobs/{id}"),
        json!({"ready_to_execute": true}),
    )
    .await;
    let results = api.get(&format!("/v2/bulk_jobs/{id}/results")).await;
    let statuses: Vec<&str> = results.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["success", "success", "error"],
        "{:?}",
        results.body
    );
    let job = api.get(&format!("/v2/bulk_jobs/{id}")).await;
    assert_eq!(
        (
            job.body["data"]["errors"].as_i64(),
            job.body["data"]["state"].as_str()
        ),
        (Some(1), Some("done"))
    );
}

/// A cadence exports its settings and steps; an import makes a new cadence from them (a
/// blank name refused) and sends `cadence_created`; an unknown cadence is a 404.
#[tokio::test]
async fn cadences_export_and_import() {
    let api = Api::start().await;
    subscribe(&api, &["cadence_created"]).await;
    assert_eq!(api.get("/v2/cadence_exports/999999.json").await.status, 404);
    let exported = api.get("/v2/cadence_exports/1.json").await;
    assert_eq!(exported.status, 200);
    let mut content = exported.body["data"]["cadence_content"].clone();
    assert_eq!(content["settings"]["name"], "Sandbox Outreach");
    content["settings"]["name"] = json!("Sandbox Outreach (copy)");
    let imported = api
        .post(
            "/v2/cadence_imports.json",
            json!({"settings": content["settings"], "sharing_settings": content["sharing_settings"],
                   "cadence_content": {"steps": content["steps"]}}),
        )
        .await;
    assert_eq!(imported.status, 200, "{:?}", imported.body);
    let id = imported.body["data"]["cadence"]["id"].as_i64().unwrap();
    let cadence = api.get(&format!("/v2/cadences/{id}.json")).await;
    assert_eq!(cadence.body["data"]["name"], "Sandbox Outreach (copy)");
    assert_eq!(cadence.body["data"]["team_cadence"], true);
    let blank = api
        .post(
            "/v2/cadence_imports.json",
            json!({"settings": {"name": "  "}}),
        )
        .await;
    assert_eq!(blank.status, 422);
    let sent = first_attempts(&api, 1).await;
    assert_eq!(
        sent.iter()
            .map(|d| (d.event_type.as_str(), d.record_id))
            .collect::<Vec<_>>(),
        [("cadence_created", Some(id))]
    );
}
