//! README's "Query your mirror": each question's SQL, as the README has it, run on both
//! backends against a mirrored sandbox (with history), its answer checked against one
//! computed from the sandbox's own records.

use chrono::{DateTime, Duration, Utc};
use salesloft_mirror::Mirror;
use salesloft_mock::SandboxHandle;
use salesloft_testkit::on_both_backends;
use serde_json::{Map, Value, json};
use sqlx::Row;
use std::collections::BTreeMap;

/// The SQL blocks of README's "Query your mirror", in order, for `backend`.
fn readme_queries(backend: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the workspace README");
    let section = readme
        .split("## Query your mirror")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a section \"Query your mirror\"");
    section
        .split("```sql\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|sql| sql.starts_with(&format!("-- {backend}\n")))
        .map(str::to_string)
        .collect()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn id(value: &Value) -> Option<i64> {
    value.get("id").and_then(Value::as_i64)
}

fn name_of(sandbox: &SandboxHandle, resource: &str, reference: &Value) -> Option<String> {
    let record = sandbox.record(resource, id(reference)?)?;
    record["name"].as_str().map(str::to_string)
}

/// The sandbox with what the questions need, some of it changed between two mirror runs so
/// the history has something to tell.
async fn mirrored(url: &str) -> (SandboxHandle, Mirror) {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    sandbox.seed("person_stages", 4, 1_000, 1).unwrap();
    sandbox.seed("cadences", 5, 1_000, 2).unwrap();
    sandbox.seed("steps", 12, 1_000, 3).unwrap();
    sandbox.seed("accounts", 60, 1_000, 4).unwrap();
    sandbox.seed("people", 80, 1_000, 5).unwrap();
    sandbox.seed("activities/emails", 150, 1_000, 6).unwrap();
    // Memberships a day apart, the oldest 29 days ago.
    sandbox
        .seed("cadence_memberships", 30, 86_400_000_000, 7)
        .unwrap();
    for (i, stage) in sandbox.records("person_stages").iter().enumerate() {
        let named = json!({"name": format!("Stage {i}"), "keep_updated_at": true});
        sandbox
            .patch_record("person_stages", id(stage).unwrap(), object(named))
            .unwrap();
    }
    let statuses = ["sent", "sent", "bounced", "scheduled"];
    for (i, email) in sandbox.records("activities/emails").iter().enumerate() {
        let status = json!({"status": statuses[i % statuses.len()], "keep_updated_at": true});
        sandbox
            .patch_record("activities/emails", id(email).unwrap(), object(status))
            .unwrap();
    }
    // Active since long ago (their last change weeks old): not "last seven days".
    let mut memberships = sandbox.records("cadence_memberships");
    memberships.sort_by_key(|m| time(&m["updated_at"]));
    for membership in memberships.iter().take(3) {
        let old = json!({"current_state": "active", "keep_updated_at": true});
        sandbox
            .patch_record("cadence_memberships", id(membership).unwrap(), object(old))
            .unwrap();
    }
    let mut mirror = Mirror::open(url, &|_| {}).await.unwrap();
    mirror.keep_history().await.unwrap();
    let only: Vec<String> = [
        "person_stages",
        "users",
        "people",
        "accounts",
        "activities/emails",
        "cadence_memberships",
    ]
    .map(str::to_string)
    .to_vec();
    let tables = mirror.select(&only, &[]).unwrap();
    mirror.run(&client, &tables, &mut |_| {}).await.unwrap();

    // Later: five memberships become active, ten people move to another stage.
    sandbox.clock().advance(Duration::seconds(5));
    for membership in sandbox
        .records("cadence_memberships")
        .iter()
        .skip(10)
        .take(5)
    {
        let active = json!({"current_state": "active"});
        sandbox
            .patch_record(
                "cadence_memberships",
                id(membership).unwrap(),
                object(active),
            )
            .unwrap();
    }
    let stage = sandbox.records("person_stages")[0].clone();
    for person in sandbox.records("people").iter().take(10) {
        let moved = json!({"person_stage": {"id": stage["id"], "_href": null}});
        sandbox
            .patch_record("people", id(person).unwrap(), object(moved))
            .unwrap();
    }
    mirror.run(&client, &tables, &mut |_| {}).await.unwrap();
    (sandbox, mirror)
}

/// The database, read as an analyst's tool would: Postgres through its own driver (sqlx's
/// `Any` driver cannot decode a `TIMESTAMPTZ` column), SQLite through `Any`.
enum Db {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::AnyPool),
}

impl Db {
    async fn open(url: &str) -> Self {
        match url.strip_prefix("sqlite:") {
            Some(_) => Self::Sqlite(salesloft_testkit::any_pool(url).await),
            None => Self::Postgres(sqlx::PgPool::connect(url).await.unwrap()),
        }
    }

    /// Each row's integer, number and text cells (a time on Postgres reads as null).
    async fn rows(&self, sql: &str) -> Vec<Vec<Value>> {
        fn cells<R: Row>(row: &R) -> Vec<Value>
        where
            usize: sqlx::ColumnIndex<R>,
            for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            (0..row.len())
                .map(|i| {
                    if let Ok(n) = row.try_get::<Option<i64>, _>(i) {
                        json!(n)
                    } else if let Ok(x) = row.try_get::<Option<f64>, _>(i) {
                        json!(x)
                    } else {
                        json!(row.try_get::<Option<String>, _>(i).ok().flatten())
                    }
                })
                .collect()
        }
        let failed = |e: sqlx::Error| -> Vec<Vec<Value>> { panic!("{sql}\n{e}") };
        match self {
            Self::Postgres(pool) => match sqlx::query(sql).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(cells).collect(),
                Err(e) => failed(e),
            },
            Self::Sqlite(pool) => match sqlx::query(sql).fetch_all(pool).await {
                Ok(rows) => rows.iter().map(cells).collect(),
                Err(e) => failed(e),
            },
        }
    }
}

async fn the_five_questions(url: &str) {
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let queries = readme_queries(backend);
    assert_eq!(queries.len(), 5, "five questions for {backend}");
    // The records as they were before the second run, for the stage durations.
    let (sandbox, mirror) = mirrored(url).await;
    let history_people = {
        let people = mirror.select(&["people".to_string()], &[]).unwrap();
        mirror.dump_history(&people[0]).await.unwrap()
    };
    drop(mirror);
    let db = Db::open(url).await;

    // 1. People by stage and owner.
    let mut answer: BTreeMap<(Option<String>, Option<String>), i64> = BTreeMap::new();
    for row in db.rows(&queries[0]).await {
        let text = |v: &Value| v.as_str().map(str::to_string);
        answer.insert((text(&row[0]), text(&row[1])), row[2].as_i64().unwrap());
    }
    let mut truth: BTreeMap<(Option<String>, Option<String>), i64> = BTreeMap::new();
    for person in sandbox.records("people") {
        let stage = name_of(&sandbox, "person_stages", &person["person_stage"]);
        let owner = name_of(&sandbox, "users", &person["owner"]);
        *truth.entry((stage, owner)).or_default() += 1;
    }
    assert_eq!(answer, truth, "people by stage and owner");
    assert!(truth.len() > 1, "{truth:?}");

    // 2. Memberships that became active in the last seven days.
    let answer: Vec<i64> = {
        let mut ids: Vec<i64> = db
            .rows(&queries[1])
            .await
            .iter()
            .map(|r| r[0].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    };
    let week = Utc::now() - Duration::days(7);
    let mut truth: Vec<i64> = sandbox
        .records("cadence_memberships")
        .iter()
        .filter(|m| m["current_state"] == "active")
        .filter(|m| time(&m["updated_at"]).is_some_and(|t| t >= week))
        .filter_map(|m| m["id"].as_i64())
        .collect();
    truth.sort();
    assert_eq!(answer, truth, "memberships active this week");
    assert_eq!(truth.len(), 5);

    // 3. Emails sent per cadence step.
    let mut answer: BTreeMap<(Option<i64>, Option<i64>), i64> = BTreeMap::new();
    for row in db.rows(&queries[2]).await {
        answer.insert((row[0].as_i64(), row[1].as_i64()), row[2].as_i64().unwrap());
    }
    let mut truth: BTreeMap<(Option<i64>, Option<i64>), i64> = BTreeMap::new();
    for email in sandbox.records("activities/emails") {
        if email["status"] == "sent" {
            *truth
                .entry((id(&email["cadence"]), id(&email["step"])))
                .or_default() += 1;
        }
    }
    assert_eq!(answer, truth, "emails sent per cadence step");

    // 4. Days in each stage before leaving it: the ten people moved, their first versions.
    let mut answer: BTreeMap<Option<i64>, f64> = BTreeMap::new();
    for row in db.rows(&queries[3]).await {
        answer.insert(row[0].as_i64(), row[1].as_f64().unwrap());
    }
    let mut truth: BTreeMap<Option<i64>, f64> = BTreeMap::new();
    for person in sandbox.records("people").iter().take(10) {
        let versions: Vec<&Map<String, Value>> = history_people
            .iter()
            .filter(|v| v["id"] == person["id"])
            .collect();
        assert_eq!(versions.len(), 2, "{versions:?}");
        let left = time(&person["updated_at"]).unwrap();
        let came = time(&versions[0]["updated_at"]).unwrap();
        let days = (left - came).num_microseconds().unwrap() as f64 / 86_400e6;
        *truth
            .entry(versions[0]["person_stage_id"].as_i64())
            .or_default() += days;
    }
    assert_eq!(
        answer.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>()
    );
    for (stage, days) in &truth {
        assert!(
            (answer[stage] - days).abs() < 1e-6,
            "stage {stage:?}: {} against {days}",
            answer[stage]
        );
    }

    // 5. Accounts nobody touched in 30 days.
    let mut answer: Vec<i64> = db
        .rows(&queries[4])
        .await
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    answer.sort();
    let month = Utc::now() - Duration::days(30);
    let mut truth: Vec<i64> = sandbox
        .records("accounts")
        .iter()
        .filter(|a| time(&a["last_contacted_at"]).is_none_or(|t| t < month))
        .filter_map(|a| a["id"].as_i64())
        .collect();
    truth.sort();
    assert_eq!(answer, truth, "accounts untouched in 30 days");
}
on_both_backends!(
    readme_questions_answer_what_the_sandbox_holds,
    the_five_questions
);
