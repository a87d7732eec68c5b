//! Every list resource of the spec is a table of the sandbox: seeded, read back whole (by the
//! client's incremental sync where the list has the `updated_at` filters, by a page walk
//! elsewhere), changed, deleted, and decoded with the generated types all along.

use axum::http::Method;
use salesloft_api::generated::decoders::OPERATIONS;
use salesloft_api::sync::{IncrementalSync, SyncCursor};
use salesloft_api::{Client, RetryPolicy, sync_request};
use salesloft_mock::spec_routes::SpecRoutes;
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use salesloft_openapi::schema::ListPaging;
use serde_json::{Value, json};

const COUNT: usize = 250;

/// Syncs a resource whose list has the `updated_at` filters: the ids handed out and the cursor.
macro_rules! sync {
    ($client:expr, $cursor:expr, $list:ident) => {{
        let client: Client = $client.clone();
        let mut sync = IncrementalSync::new($cursor, move |window| {
            let client = client.clone();
            async move { sync_request!(client.$list(), window).await }
        });
        let mut ids = Vec::new();
        while let Some(record) = sync.next().await {
            let record = record.expect("the sync decodes every record");
            ids.push(serde_json::to_value(&record).unwrap()["id"].clone());
        }
        (ids, sync.cursor().clone())
    }};
}

/// The 15 resources whose lists take `updated_at[..]`, each synced by its typed builder.
async fn sync_resource(
    client: &Client,
    name: &str,
    cursor: SyncCursor,
) -> (Vec<Value>, SyncCursor) {
    match name {
        "account_stages" => sync!(client, cursor, list_account_stages),
        "accounts" => sync!(client, cursor, list_accounts),
        "actions" => sync!(client, cursor, list_actions),
        "activities/calls" => sync!(client, cursor, list_calls),
        "activities/emails" => sync!(client, cursor, list_emails),
        "activity_histories" => sync!(client, cursor, list_activity_histories),
        "cadence_memberships" => sync!(client, cursor, list_cadence_memberships),
        "cadences" => sync!(client, cursor, list_cadences),
        "call_data_records" => sync!(client, cursor, list_call_data_records),
        "crm_activities" => sync!(client, cursor, list_crm_activities),
        "email_templates" => sync!(client, cursor, list_email_templates),
        "notes" => sync!(client, cursor, list_notes),
        "people" => sync!(client, cursor, list_people),
        "successes" => sync!(client, cursor, list_successes),
        "team_templates" => sync!(client, cursor, list_team_templates),
        other => panic!("{other} has no updated_at filter"),
    }
}

/// Walks a list by page number, or by `id[gt]` where it takes no page number (100 a page),
/// over HTTP, decoding each page with the list operation's generated type: every record's id.
/// A list that cannot be asked without some query parameters (a lookup by phone number) is
/// asked with them, and refused without them. A searched list is asked with a POST.
async fn walk(
    sandbox: &SandboxHandle,
    path: &str,
    operation: &str,
    required: &[String],
    paging: ListPaging,
    searched: bool,
) -> Vec<Value> {
    let decoder = OPERATIONS
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, d)| *d)
        .unwrap_or_else(|| panic!("{operation} has a decoder"));
    let http = reqwest::Client::new();
    if !required.is_empty() {
        let url = format!("{}{path}?per_page=100", sandbox.api_base_url());
        let bare = http.get(url).bearer_auth(sandbox.api_key()).send().await;
        assert_eq!(bare.unwrap().status(), 422, "{path} without {required:?}");
    }
    let asked: String = required
        .iter()
        .map(|name| format!("&{name}=%2B15555550100"))
        .collect();
    let mut ids: Vec<Value> = Vec::new();
    for page in 1..=100 {
        let at = match (paging, ids.last()) {
            (ListPaging::AfterId, Some(last)) => format!("&id[gt]={last}"),
            (ListPaging::AfterId, None) => String::new(),
            _ => format!("&page={page}"),
        };
        let url = format!("{}{path}?per_page=100{at}{asked}", sandbox.api_base_url());
        let request = match searched {
            true => http.post(url).json(&json!({})),
            false => http.get(url),
        };
        let response = request.bearer_auth(sandbox.api_key()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} page {page}");
        let body = response.bytes().await.unwrap();
        if let Err(e) = decoder(&body) {
            let failure = salesloft_api::decode::DecodeFailure::new(&body, &e);
            panic!("{operation} page {page} does not decode: {failure}");
        }
        let body: Value = serde_json::from_slice(&body).unwrap();
        let data = body["data"].as_array().unwrap();
        ids.extend(data.iter().map(|r| r["id"].clone()));
        let last = match paging {
            ListPaging::AfterId => data.len() < 100,
            _ => body["metadata"]["paging"]["next_page"].is_null(),
        };
        if last {
            return ids;
        }
    }
    panic!("{path} did not end within 100 pages")
}

fn requests_to(sandbox: &SandboxHandle, path: &str) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path == path || r.path == format!("{path}.json"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_resource_is_seeded_read_changed_and_deleted() {
    let config = Config {
        rate_limit_per_minute: 1_000_000,
        ..Config::default()
    };
    let (sandbox, client) = sandbox_and_client(config, RetryPolicy::none()).await;
    let routes = SpecRoutes::from_spec(salesloft_openapi::SPEC);
    let catalog = salesloft_mock::generic::catalog::catalog();
    let resources = sandbox.resources();
    // 39 lists asked with GET, and the meeting settings searched with a POST.
    assert_eq!(resources.len(), 40);
    let mut incremental = 0;
    let mut report = Vec::new();
    for name in &resources {
        let resource = catalog.find(name).unwrap();
        let segments: Vec<&str> = name.split('/').collect();
        let json = if list_path_has_json(name) {
            ".json"
        } else {
            ""
        };
        let (list, path) = if resource.searched {
            let mut searches = segments.clone();
            searches.push("searches");
            let list = routes.find(&Method::POST, &searches).unwrap();
            (list, format!("/v2/{name}/searches{json}"))
        } else {
            let list = routes.find(&Method::GET, &segments).unwrap();
            (list, format!("/v2/{name}{json}"))
        };
        sandbox.clear_records(name).unwrap();
        sandbox.seed(name, COUNT, 1_000, 7).unwrap();
        sandbox.clear_requests();

        let mut supports = vec!["seed", "read"];
        // A searched list takes the `updated_at` filters but no sort: walked, not synced.
        let ids = if resource.incremental() && !resource.searched {
            incremental += 1;
            let (ids, cursor) = sync_resource(&client, name, SyncCursor::default()).await;
            // ceil(N/100) full or short pages, and at most one more that finds nothing new.
            let requests = requests_to(&sandbox, &format!("/v2/{name}"));
            assert!(
                (COUNT.div_ceil(100)..=COUNT.div_ceil(100) + 1).contains(&requests),
                "{name}: {requests} requests"
            );
            // Ten changes, through the API where it allows, else through admin.
            sandbox.clock().advance(chrono::Duration::seconds(1));
            let changed: Vec<Value> = ids[..10].to_vec();
            for id in &changed {
                change(&sandbox, &client, resource, id).await;
            }
            let (again, _) = sync_resource(&client, name, cursor).await;
            let mut again = again;
            again.sort_by_key(|v| v.to_string());
            let mut expected = changed.clone();
            expected.sort_by_key(|v| v.to_string());
            assert_eq!(
                again, expected,
                "{name}: exactly the ten changed, from the cursor"
            );
            supports.push("incremental");
            ids
        } else {
            walk(
                &sandbox,
                &path,
                &list.operation_id,
                &resource.list_requires,
                resource.paging,
                resource.searched,
            )
            .await
        };
        let mut unique = ids.iter().map(Value::to_string).collect::<Vec<_>>();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT, "{name}: every seeded record, once");

        if resource.get {
            let mut one: Vec<&str> = segments.clone();
            one.push("1");
            let get = routes.find(&Method::GET, &one).unwrap();
            let shown = ids[0]
                .as_str()
                .map_or_else(|| ids[0].to_string(), str::to_string);
            let url = format!("{}/v2/{name}/{shown}{json}", sandbox.api_base_url());
            let body = reqwest::Client::new()
                .get(url)
                .bearer_auth(sandbox.api_key())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let decoder = OPERATIONS
                .iter()
                .find(|(op, _)| *op == get.operation_id)
                .unwrap()
                .1;
            if let Err(e) = decoder(&body) {
                let failure = salesloft_api::decode::DecodeFailure::new(&body, &e);
                panic!("{} does not decode: {failure}", get.operation_id);
            }
            let record: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(record["data"]["id"], ids[0], "{name}: GET reads the table");
            supports.push("get");
        }
        if resource.update
            && let Some(field) = text_to_write(resource)
        {
            let shown = ids[20]
                .as_str()
                .map_or_else(|| ids[20].to_string(), str::to_string);
            let url = format!("{}/v2/{name}/{shown}{json}", sandbox.api_base_url());
            let before = sandbox.record(name, &shown).unwrap();
            sandbox.clock().advance(chrono::Duration::seconds(1));
            let answer = reqwest::Client::new()
                .put(&url)
                .bearer_auth(sandbox.api_key())
                .json(&json!({ field: "Written" }))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{name}: PUT {field}");
            let after: Value = answer.json().await.unwrap();
            assert_eq!(after["data"][field], "Written", "{name}");
            assert!(
                after["data"]["updated_at"].as_str() > before["updated_at"].as_str(),
                "{name}: an update moves updated_at"
            );
            supports.push("update");
        }
        if resource.delete {
            for id in &ids[..10] {
                let shown = id.as_str().map_or_else(|| id.to_string(), str::to_string);
                let url = format!("{}/v2/{name}/{shown}{json}", sandbox.api_base_url());
                let http = reqwest::Client::new();
                let deleted = http
                    .delete(&url)
                    .bearer_auth(sandbox.api_key())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(deleted.status(), 204, "{name} {shown}");
                let gone = http
                    .get(&url)
                    .bearer_auth(sandbox.api_key())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(gone.status(), 404, "{name} {shown} is gone");
            }
            assert_eq!(sandbox.records(name).len(), COUNT - 10, "{name}");
            supports.push("delete");
        }
        report.push(format!("{name}: {}", supports.join(", ")));
    }
    assert_eq!(incremental, 15);
    eprintln!("{}", report.join("\n"));
}

/// A text field an update may write (one without a rule of its own: not an email or domain).
fn text_to_write(resource: &salesloft_mock::generic::catalog::Resource) -> Option<&str> {
    resource
        .updatable
        .iter()
        .filter(|name| !matches!(name.as_str(), "email_address" | "domain" | "name"))
        .find(|name| {
            resource
                .field(name)
                .is_some_and(|f| f.kind == salesloft_mock::generic::catalog::Kind::Text)
        })
        .map(String::as_str)
}

/// Whether the spec's list path of `name` ends in `.json` (most do; a few newer ones don't).
fn list_path_has_json(name: &str) -> bool {
    let doc: Value = serde_json::from_str(salesloft_openapi::SPEC).unwrap();
    doc["paths"]
        .as_object()
        .unwrap()
        .contains_key(&format!("/v2/{name}.json"))
}

/// Changes one record: an update through the API where the spec has one, else through
/// `/__admin` (which moves `updated_at` like a change on the service).
async fn change(
    sandbox: &SandboxHandle,
    client: &Client,
    resource: &salesloft_mock::generic::catalog::Resource,
    id: &Value,
) {
    let key = id.as_i64();
    match (resource.name.as_str(), key) {
        ("people", Some(id)) => {
            client
                .update_person()
                .id(id)
                .body_map(|b| b.title("Changed".to_string()))
                .send()
                .await
                .unwrap();
        }
        ("accounts", Some(id)) => {
            client
                .update_account()
                .id(id)
                .body_map(|b| b.description("Changed".to_string()))
                .send()
                .await
                .unwrap();
        }
        ("notes", Some(id)) => {
            client
                .update_note()
                .id(id)
                .body_map(|b| b.content("Changed".to_string()))
                .send()
                .await
                .unwrap();
        }
        _ => {
            let shown = id.as_str().map_or_else(|| id.to_string(), str::to_string);
            let fields = json!({"seed_note": "changed"})
                .as_object()
                .cloned()
                .unwrap();
            assert!(sandbox.patch_record(&resource.name, shown, fields).unwrap());
        }
    }
}

/// `custom_fields[Name]=value` on people and accounts and `user_relationships[name]=value` on
/// accounts, from the typed builders to the sandbox and back: every condition must hold, names
/// exactly, values without case; `_is_null` and `_unmapped` for relationships.
#[tokio::test]
async fn people_and_accounts_filter_by_custom_fields_and_user_relationships() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    let fields = |pairs: &[(&str, &str)]| -> serde_json::Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    };
    for (email, custom) in [
        (
            "gold.emea@example.test",
            fields(&[("Tier", "Gold"), ("Region", "EMEA")]),
        ),
        (
            "gold.us@example.test",
            fields(&[("Tier", "gold"), ("Region", "US")]),
        ),
        ("silver@example.test", fields(&[("Tier", "Silver")])),
        ("plain@example.test", fields(&[])),
    ] {
        client
            .create_person()
            .body_map(|b| b.email_address(email.to_string()).custom_fields(custom))
            .call()
            .await
            .unwrap();
    }
    let people = |filter: salesloft_api::CustomFieldsFilter| {
        let client = client.clone();
        async move {
            let page = client
                .list_people()
                .custom_fields(filter)
                .call()
                .await
                .unwrap();
            sorted(
                page.into_inner()
                    .data
                    .into_iter()
                    .filter_map(|p| p.email_address),
            )
        }
    };
    assert_eq!(
        people([("Tier", "GOLD")].into()).await,
        ["gold.emea@example.test", "gold.us@example.test"],
        "values are compared without case"
    );
    assert_eq!(
        people([("Tier", "gold"), ("Region", "emea")].into()).await,
        ["gold.emea@example.test"],
        "every condition must hold"
    );
    assert!(
        people([("tier", "gold")].into()).await.is_empty(),
        "names are case-sensitive"
    );
    assert_eq!(
        people(Default::default()).await.len(),
        sandbox.records("people").len(),
        "no conditions, no filter"
    );

    let mut accounts = Vec::new();
    for (name, tier) in [
        ("Ours Acme", "Gold"),
        ("Ours Globex", "Silver"),
        ("Ours Initech", "Gold"),
    ] {
        let account = client
            .create_account()
            .body_map(|b| {
                b.name(name.to_string())
                    .domain(format!(
                        "{}.example.test",
                        name.replace(' ', "-").to_lowercase()
                    ))
                    .custom_fields(fields(&[("Tier", tier)]))
            })
            .call()
            .await
            .unwrap()
            .into_inner();
        accounts.push(account.data.id.unwrap());
    }
    // The API does not write relationships (the team's CRM does): set through admin.
    let relationships = [
        json!({"owner": "Ann", "csm": null}),
        json!({"owner": "Bob"}),
    ];
    for (id, relationships) in accounts.iter().zip(relationships) {
        let patch = [("user_relationships".to_string(), relationships)]
            .into_iter()
            .collect();
        assert!(sandbox.patch_record("accounts", id, patch).unwrap());
    }
    let account_names = |custom: &[(&str, &str)], relationships: &[(&str, &str)]| {
        let client = client.clone();
        let custom: salesloft_api::CustomFieldsFilter = custom.iter().copied().collect();
        let relationships: salesloft_api::UserRelationshipsFilter =
            relationships.iter().copied().collect();
        async move {
            let page = client
                .list_accounts()
                .custom_fields(custom)
                .user_relationships(relationships)
                .call()
                .await
                .unwrap();
            // The sandbox's own seeded accounts aside.
            let names = page.into_inner().data.into_iter().filter_map(|a| a.name);
            sorted(names.filter_map(|name| name.strip_prefix("Ours ").map(str::to_string)))
        }
    };
    assert_eq!(
        account_names(&[("Tier", "gold")], &[]).await,
        ["Acme", "Initech"]
    );
    assert_eq!(account_names(&[], &[("owner", "ann")]).await, ["Acme"]);
    assert_eq!(account_names(&[], &[("csm", "_is_null")]).await, ["Acme"]);
    assert_eq!(
        account_names(&[], &[("owner", "_unmapped")]).await,
        ["Initech"]
    );
    assert_eq!(
        account_names(&[("Tier", "gold")], &[("owner", "bob")]).await,
        Vec::<String>::new()
    );
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut items: Vec<String> = items.collect();
    items.sort();
    items
}

/// A bulk job from the typed client to the sandbox: created open, records uploaded (a bad
/// upload refused whole), marked ready, done at the next look with its counts, the results
/// paged by `id[gt]`, the people upserted.
#[tokio::test]
async fn a_bulk_job_runs_its_records_and_pages_its_results() {
    let (sandbox, client) = sandbox_and_client(Config::default(), RetryPolicy::default()).await;
    let unknown = client
        .create_bulk_job()
        .body_map(|b| b.type_("person/delete_everything".to_string()))
        .call()
        .await
        .unwrap_err();
    assert_eq!(unknown.status().map(|s| s.as_u16()), Some(422), "{unknown}");
    let job = client
        .create_bulk_job()
        .body_map(|b| {
            b.type_("person/upsert".to_string())
                .name(Some("import".to_string()))
        })
        .call()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(job.state.as_deref(), Some("open"));
    let job_id = job.id.unwrap().as_i64().unwrap();
    let record = |email: &str| {
        json!({"upsert_key": "email_address", "email_address": email, "first_name": "Bulk"})
            .as_object()
            .cloned()
            .unwrap()
    };
    let upload = |records: Vec<serde_json::Map<String, Value>>| {
        let client = client.clone();
        async move {
            client
                .create_bulk_job_data()
                .bulk_jobs_id(job_id)
                .body_map(|b| b.data(records))
                .call()
                .await
        }
    };
    let first = upload(vec![
        record("bulk.one@example.test"),
        record("bulk.two@example.test"),
    ])
    .await
    .unwrap();
    assert_eq!(first.into_inner().data.records, Some(2));
    upload(vec![record("bulk.three@example.test"), record("")])
        .await
        .unwrap();
    let too_many = upload(vec![record("x@example.test"); 5_001])
        .await
        .unwrap_err();
    assert_eq!(
        too_many.status().map(|s| s.as_u16()),
        Some(422),
        "{too_many}"
    );

    let results = |after: Option<i64>| {
        let client = client.clone();
        async move {
            let mut list = client
                .list_bulk_job_results()
                .bulk_jobs_id(job_id)
                .per_page(3);
            if let Some(after) = after {
                list = list.id_gt(after);
            }
            list.call().await.unwrap().into_inner().data
        }
    };
    assert!(
        results(None).await.is_empty(),
        "no results before the job is done"
    );
    let ready = client
        .update_bulk_job()
        .id(job_id)
        .body_map(|b| b.ready_to_execute(Some(true)))
        .call()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(ready.state.as_deref(), Some("executing"));
    let late = upload(vec![record("late@example.test")]).await.unwrap_err();
    assert_eq!(
        late.status().map(|s| s.as_u16()),
        Some(422),
        "a job marked ready takes no more records"
    );

    let done = client
        .get_bulk_job()
        .id(job_id)
        .call()
        .await
        .unwrap()
        .into_inner()
        .data;
    assert_eq!(done.state.as_deref(), Some("done"));
    assert_eq!(
        (done.total, done.processed, done.errors),
        (Some(4), Some(4), Some(1))
    );
    let page = results(None).await;
    assert_eq!(page.len(), 3);
    let last = page.last().unwrap().id.clone().unwrap().as_i64().unwrap();
    let rest = results(Some(last)).await;
    assert_eq!(rest.len(), 1);
    let all: Vec<_> = page.iter().chain(&rest).collect();
    let failed: Vec<_> = all
        .iter()
        .filter(|r| r.status.as_deref() == Some("error"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("email_address")
    );
    let people = sandbox.records("people");
    for email in [
        "bulk.one@example.test",
        "bulk.two@example.test",
        "bulk.three@example.test",
    ] {
        assert!(
            people.iter().any(|p| p["email_address"] == email),
            "{email}"
        );
    }
}

/// A sandbox and a client of it with its API key.
async fn sandbox_and_client(config: Config, retry: RetryPolicy) -> (SandboxHandle, Client) {
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = salesloft_api::ClientBuilder::new(std::sync::Arc::new(
        salesloft_api::ApiKey::new(sandbox.api_key()),
    ))
    .base_url(sandbox.api_base_url())
    .retry_policy(retry)
    .build()
    .unwrap();
    (sandbox, client)
}
