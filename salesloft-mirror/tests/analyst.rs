//! The mirror as an analyst queries it, on SQLite and on a real PostgreSQL server: typed
//! columns, values that fit no column kept, child tables for arrays, the history of every
//! change, and the conversion of a database written before columns were typed.

use salesloft_mirror::{Mirror, Opening, Table};
use salesloft_testkit::on_both_backends;
use serde_json::{Map, Value, json};
use sqlx::Row;
use std::sync::Mutex;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn run(mirror: &Mirror, client: &salesloft_api::Client, only: &[&str]) {
    let tables = mirror.select(&names(only), &[]).unwrap();
    for report in mirror.run(client, &tables, &mut |_| {}).await.unwrap() {
        assert!(report.failed.is_none(), "{report:?}");
    }
}

fn table(mirror: &Mirror, resource: &str) -> Table {
    mirror.select(&names(&[resource]), &[]).unwrap().remove(0)
}

async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get::<i64, _>(0)
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

/// Ids compare and sort as numbers, times as times, JSON as JSON; a value that fits no
/// column is kept in `_extra`, a record whose id fits none in `_mirror_rejects`.
async fn typed_columns(url: &str) {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    sandbox.seed("notes", 120, 1_000, 1).unwrap();
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    run(&mirror, &client, &["notes", "people"]).await;
    drop(mirror);
    let db = salesloft_testkit::any_pool(url).await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM sl_notes WHERE id = 5").await,
        1
    );
    let first: Vec<i64> = sqlx::query("SELECT id FROM sl_notes ORDER BY id LIMIT 12")
        .fetch_all(&db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect();
    assert_eq!(first, (1..=12).collect::<Vec<i64>>(), "ids sort as numbers");
    if url.starts_with("postgres") {
        let types: Vec<(String, String)> = sqlx::query(
            "SELECT table_name::text || '.' || column_name::text, data_type::text FROM information_schema.columns \
             WHERE (table_name, column_name) IN (('sl_notes','id'), ('sl_notes','updated_at'), ('sl_notes','user_id'), \
             ('sl_people','custom_fields'), ('sl_people','do_not_contact'), ('sl_tasks','due_date'), \
             ('sl_team_templates','id'), ('sl_people_tags','value')) ORDER BY 1",
        )
        .fetch_all(&db)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let types: Vec<(&str, &str)> = types
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("sl_notes.id", "bigint"),
                ("sl_notes.updated_at", "timestamp with time zone"),
                ("sl_notes.user_id", "bigint"),
                ("sl_people.custom_fields", "jsonb"),
                ("sl_people.do_not_contact", "boolean"),
                ("sl_people_tags.value", "text"),
                ("sl_tasks.due_date", "date"),
                ("sl_team_templates.id", "text"),
            ]
        );
        let recent =
            "SELECT COUNT(*) FROM sl_notes WHERE updated_at > now() - interval '1000 days'";
        assert_eq!(count(&db, recent).await, 120);
    } else {
        let integers = "SELECT COUNT(*) FROM sl_notes WHERE typeof(id) = 'integer'";
        assert_eq!(count(&db, integers).await, 120);
        let width = "SELECT COUNT(*) FROM sl_notes WHERE length(updated_at) = 27";
        assert_eq!(
            count(&db, width).await,
            120,
            "times are UTC text of one width"
        );
    }
    drop(db);

    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    let notes = table(&mirror, "notes");
    let odd =
        json!({"id": 9001, "content": "odd", "updated_at": "yesterday", "user": {"id": "Admin"}});
    let bad_id = json!({"id": "not-a-number", "content": "lost?"});
    let nul = json!({"id": 9002, "content": "a\u{0}b", "surprise\u{0}": ["\u{0}"]});
    mirror
        .write_rows(&notes, &[object(odd), object(bad_id), object(nul)])
        .await
        .unwrap();
    let rows = mirror.dump(&notes).await.unwrap();
    let row = rows.iter().find(|r| r["id"] == 9001).unwrap();
    assert_eq!(
        (&row["updated_at"], &row["user_id"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        row["_extra"],
        json!({"updated_at": "yesterday", "user": {"id": "Admin"}}),
        "what fits no column is kept whole"
    );
    let row = rows.iter().find(|r| r["id"] == 9002).unwrap();
    assert_eq!(row["content"], "a\u{fffd}b", "no NUL reaches the database");
    assert_eq!(row["_extra"], json!({"surprise\u{fffd}": ["\u{fffd}"]}));
    assert_eq!(rows.len(), 122);
    drop(mirror);
    let db = salesloft_testkit::any_pool(url).await;
    let rejected: String =
        sqlx::query("SELECT record FROM _mirror_rejects WHERE \"table\" = 'sl_notes'")
            .fetch_one(&db)
            .await
            .unwrap()
            .get(0);
    assert_eq!(
        serde_json::from_str::<Value>(&rejected).unwrap()["content"],
        "lost?"
    );
}
on_both_backends!(columns_are_typed_and_misfits_kept, typed_columns);

/// Each array of tags or references is a child table, rewritten with its parent row.
async fn child_tables(url: &str) {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    let tags = |list: &[&str]| object(json!({ "tags": list }));
    sandbox
        .patch_record("people", 1, tags(&["vip", "west"]))
        .unwrap();
    sandbox.patch_record("people", 2, tags(&[])).unwrap();
    let mirror = Mirror::open(url, &|_| {}).await.unwrap();
    run(&mirror, &client, &["people", "cadences"]).await;
    let people = table(&mirror, "people");
    let children = mirror.dump_children(&people).await.unwrap();
    let (_, tag_rows) = children
        .iter()
        .find(|(name, _)| name == "sl_people_tags")
        .unwrap();
    let of = |rows: &[Map<String, Value>], parent: i64| -> Vec<Value> {
        rows.iter()
            .filter(|r| r["parent_id"] == parent)
            .map(|r| r["value"].clone())
            .collect()
    };
    assert_eq!(of(tag_rows, 1), [json!("vip"), json!("west")]);
    assert!(of(tag_rows, 2).is_empty());
    // Every person's tags, as the sandbox has them.
    let expected: usize = sandbox
        .records("people")
        .iter()
        .map(|p| p["tags"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(tag_rows.len(), expected);
    let (_, cadence_rows) = children
        .iter()
        .find(|(name, _)| name == "sl_people_cadences")
        .unwrap();
    let expected: usize = sandbox
        .records("people")
        .iter()
        .map(|p| p["cadences"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(cadence_rows.len(), expected);

    sandbox.clock().advance(chrono::Duration::seconds(1));
    sandbox
        .patch_record("people", 1, tags(&["churned"]))
        .unwrap();
    run(&mirror, &client, &["people"]).await;
    let children = mirror.dump_children(&people).await.unwrap();
    let (_, tag_rows) = children
        .iter()
        .find(|(name, _)| name == "sl_people_tags")
        .unwrap();
    assert_eq!(
        of(tag_rows, 1),
        [json!("churned")],
        "rewritten with its parent"
    );
}
on_both_backends!(arrays_are_child_tables, child_tables);

/// The versions of one id in a history dump, oldest first.
fn versions_of(history: &[Map<String, Value>], id: i64) -> Vec<&Map<String, Value>> {
    history.iter().filter(|r| r["id"] == id).collect()
}

/// Every change is one history row; a re-read that changed nothing adds none; a late version
/// is placed by its `updated_at`; a deletion ends the last version.
async fn history_of_changes(url: &str) {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    sandbox.seed("notes", 300, 1_000, 1).unwrap();
    sandbox.seed("custom_fields", 20, 1_000, 2).unwrap();
    sandbox.seed("tags", 10, 1_000, 3).unwrap();
    let mut mirror = Mirror::open(url, &|_| {}).await.unwrap();
    mirror.keep_history().await.unwrap();
    let only = ["notes", "custom_fields", "tags"];
    run(&mirror, &client, &only).await;
    run(&mirror, &client, &only).await;
    let notes = table(&mirror, "notes");
    let changes = |rows: &[Map<String, Value>], change: &str| {
        rows.iter().filter(|r| r["change"] == change).count()
    };
    let history = mirror.dump_history(&notes).await.unwrap();
    assert_eq!(changes(&history, "insert"), 300);
    assert_eq!(history.len(), 300, "a re-read adds nothing");
    let tags = table(&mirror, "tags");
    let tag_history = mirror.dump_history(&tags).await.unwrap();
    assert_eq!(tag_history.len(), sandbox.records("tags").len());

    // 50 notes change twice, each change read by its own run: 100 updates.
    for round in 0..2 {
        sandbox.clock().advance(chrono::Duration::seconds(1));
        for id in 1..=50 {
            let content = object(json!({"content": format!("round {round}")}));
            assert!(sandbox.patch_record("notes", id, content).unwrap());
        }
        run(&mirror, &client, &only).await;
    }
    let history = mirror.dump_history(&notes).await.unwrap();
    assert_eq!(changes(&history, "update"), 100);
    assert_eq!(history.len(), 400);
    for id in [1, 50] {
        let list = versions_of(&history, id);
        assert_eq!(list.len(), 3);
        for pair in list.windows(2) {
            assert_eq!(pair[0]["valid_to"], pair[1]["valid_from"]);
        }
        assert!(list[2]["valid_to"].is_null());
        assert_eq!(list[2]["content"], "round 1");
    }

    // A late delivery of a version between note 7's two: placed between, the row unchanged.
    let list = versions_of(&history, 7);
    let (first, second) = (
        list[0]["valid_from"].as_str().unwrap(),
        list[1]["valid_from"].as_str().unwrap(),
    );
    let between =
        chrono::DateTime::parse_from_rfc3339(first).unwrap() + chrono::Duration::microseconds(1);
    let late = json!({"id": 7, "content": "late", "updated_at": between.to_rfc3339()});
    mirror.apply("note_updated", &late).await.unwrap();
    let history = mirror.dump_history(&notes).await.unwrap();
    let list = versions_of(&history, 7);
    assert_eq!(list.len(), 4);
    assert_eq!(list[1]["content"], "late");
    assert_eq!(list[0]["valid_to"], list[1]["valid_from"]);
    assert_eq!(list[1]["valid_to"], json!(second));
    let row = mirror
        .dump(&notes)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r["id"] == 7)
        .unwrap();
    assert_eq!(row["content"], "round 1", "the newer version stays current");

    // A deletion delivered ends the last version (notes have integer columns: the deletion's
    // row is nulls of each column's type).
    let note = sandbox.record("notes", 80).unwrap();
    mirror.apply("note_deleted", &note).await.unwrap();
    let history = mirror.dump_history(&notes).await.unwrap();
    let list = versions_of(&history, 80);
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["change"], "delete");
    assert_eq!(list[0]["valid_to"], list[1]["valid_from"]);

    // A deletion found by a whole read ends the last version.
    assert_eq!(
        salesloft_testkit::delete(&sandbox, "custom_fields/3").await,
        204
    );
    run(&mirror, &client, &only).await;
    let fields = table(&mirror, "custom_fields");
    let field_history = mirror.dump_history(&fields).await.unwrap();
    let list = versions_of(&field_history, 3);
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["change"], "delete");
    assert_eq!(list[0]["valid_to"], list[1]["valid_from"]);
    assert_eq!(changes(&field_history, "delete"), 1);

    // A resource without updated_at: a changed record is an update, found by its content.
    let tag = sandbox.records("tags")[0]["id"].as_i64().unwrap();
    sandbox
        .patch_record("tags", tag, object(json!({"name": "renamed"})))
        .unwrap();
    run(&mirror, &client, &only).await;
    let tag_history = mirror.dump_history(&tags).await.unwrap();
    assert_eq!(changes(&tag_history, "update"), 1);
    assert_eq!(versions_of(&tag_history, tag)[1]["name"], "renamed");
}
on_both_backends!(history_keeps_every_change, history_of_changes);

/// A database written before columns were typed is converted when opened, a table at a time,
/// with its progress told; nothing in it is lost.
async fn converts_untyped(url: &str) {
    let sqlite = url.starts_with("sqlite");
    let tables = salesloft_mirror::schema::tables(salesloft_openapi::SPEC);
    let notes = tables.iter().find(|t| t.resource == "notes").unwrap();
    let db = salesloft_testkit::any_pool(url).await;
    let mut columns: Vec<String> = salesloft_mirror::db::untyped_columns(notes)
        .iter()
        .map(|(name, kind)| format!("\"{name}\" {}", kind.sql(sqlite)))
        .collect();
    columns[0].push_str(" PRIMARY KEY");
    for sql in [
        "CREATE TABLE _mirror_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)".to_string(),
        "INSERT INTO _mirror_meta VALUES ('layout_version', '1')".into(),
        format!("CREATE TABLE sl_notes ({})", columns.join(", ")),
        "INSERT INTO sl_notes (id, content, updated_at, _updated_utc, user_id, _extra) VALUES \
         ('10', 'ten', '2024-01-01T10:00:00-05:00', '2024-01-01T15:00:00.000000Z', '7', '{\"surprise\":1}')".into(),
        "INSERT INTO sl_notes (id, content, user_id, _deleted_at) VALUES ('9', 'nine', 'Admin', '2024-02-01T00:00:00.000000Z')".into(),
        "INSERT INTO sl_notes (id, content) VALUES ('5', 'five')".into(),
    ] {
        sqlx::query(&sql).execute(&db).await.unwrap();
    }
    drop(db);
    let told = Mutex::new(Vec::new());
    let mirror = Mirror::open(url, &|opening| {
        if let Opening::Converting { table, done, total } = opening {
            told.lock().unwrap().push((table.to_string(), done, total));
        }
    })
    .await
    .unwrap();
    assert_eq!(
        told.lock().unwrap().last(),
        Some(&("sl_notes".to_string(), 3, 3)),
        "progress is told"
    );
    let rows = mirror.dump(&table(&mirror, "notes")).await.unwrap();
    let ids: Vec<&Value> = rows.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&json!(5), &json!(9), &json!(10)]);
    let ten = &rows[2];
    assert_eq!(ten["updated_at"], "2024-01-01T15:00:00.000000Z");
    assert_eq!(ten["user_id"], 7);
    assert_eq!(ten["_extra"], json!({"surprise": 1}));
    let nine = &rows[1];
    assert_eq!(nine["user_id"], Value::Null);
    assert_eq!(
        nine["_extra"],
        json!({"user": {"id": "Admin"}}),
        "a misfit is kept"
    );
    assert_eq!(nine["_deleted_at"], "2024-02-01T00:00:00.000000Z");
    drop(mirror);
    // Opened again: nothing left to convert.
    let again = Mutex::new(0);
    Mirror::open(url, &|opening| {
        if matches!(opening, Opening::Converting { .. }) {
            *again.lock().unwrap() += 1;
        }
    })
    .await
    .unwrap();
    assert_eq!(*again.lock().unwrap(), 0);
}
on_both_backends!(an_untyped_database_is_converted_in_place, converts_untyped);
