//! `demo mirror` as a process: SIGKILLed at five points of a run, then run again, it ends with
//! the same rows as a run never killed; on SQLite and on a real PostgreSQL server. Bad input
//! is one line and leaves the database as it was.

mod common;

use salesloft_mirror::Mirror;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

const ONLY: &str = "notes,people,custom_fields,account_tiers";

fn mirror_command(sandbox: &salesloft_mock::SandboxHandle, db: &str) -> std::process::Command {
    mirror_only(sandbox, db, ONLY)
}

fn mirror_only(
    sandbox: &salesloft_mock::SandboxHandle,
    db: &str,
    only: &str,
) -> std::process::Command {
    let key = sandbox.api_key();
    let mut command = common::demo_command(
        &["mirror", "--db", db, "--only", only, "--json"],
        &[
            ("SALESLOFT_API_KEY", key.as_str()),
            ("SALESLOFT_API_BASE_URL", sandbox.api_base_url()),
        ],
    );
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Every row of the mirrored tables, without what differs from run to run by design (the
/// run's mark, and when a deletion was seen).
async fn rows(db: &str) -> Vec<Map<String, Value>> {
    let mirror = Mirror::open_now(db).await.unwrap();
    let only: Vec<String> = ONLY.split(',').map(str::to_string).collect();
    let mut all = Vec::new();
    for table in mirror.select(&only, &[]).unwrap() {
        for mut row in mirror.dump(&table).await.unwrap() {
            row.remove("_seen_run");
            let deleted = row.remove("_deleted_at").is_some_and(|v| !v.is_null());
            row.insert("deleted".into(), Value::Bool(deleted));
            row.insert("table".into(), Value::from(table.table.clone()));
            all.push(row);
        }
    }
    all
}

async fn killed_five_times_ends_like_a_clean_run(clean: &str, killed: &str) {
    let (sandbox, _client) = salesloft_testkit::unmetered().await;
    sandbox.seed("notes", 3_000, 1_000, 1).unwrap();
    sandbox.seed("people", 2_000, 1_000, 2).unwrap();
    sandbox.seed("custom_fields", 500, 1_000, 3).unwrap();
    sandbox.seed("account_tiers", 40, 1_000, 4).unwrap();
    // Slow answers, so each kill lands inside the run.
    sandbox.set_latency(Duration::from_millis(15));
    let started = Instant::now();
    let status = mirror_command(&sandbox, clean).status().unwrap();
    assert!(status.success());
    let whole = started.elapsed();
    for k in 1..=5u32 {
        let mut child = mirror_command(&sandbox, killed).spawn().unwrap();
        std::thread::sleep(whole * k / 7);
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    let status = mirror_command(&sandbox, killed).status().unwrap();
    assert!(status.success());
    let (clean_rows, killed_rows) = (rows(clean).await, rows(killed).await);
    assert_eq!(clean_rows.len(), 3_000 + 2_003 + 500 + 40);
    assert!(
        clean_rows == killed_rows,
        "the killed run's rows differ from the clean run's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_restart_on_sqlite() {
    let (clean, killed) = (salesloft_testkit::sqlite(), salesloft_testkit::sqlite());
    killed_five_times_ends_like_a_clean_run(&clean.url, &killed.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_restart_on_postgres() {
    let (clean, killed) = (salesloft_testkit::postgres(), salesloft_testkit::postgres());
    killed_five_times_ends_like_a_clean_run(&clean.url, &killed.url).await;
}

/// One line, no panic, nothing written.
#[test]
fn bad_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (vec!["mirror", "--db", "mysql://nope"], "not a database URL"),
        (
            vec!["mirror", "--db", "postgres://nobody@127.0.0.1:1/none"],
            "cannot be opened",
        ),
        (vec!["mirror", "--only", "nope"], "no such resource"),
    ];
    for (args, needle) in cases {
        let db = format!("sqlite:{}", dir.path().join("x.db").display());
        let mut args = args.clone();
        if !args.contains(&"--db") {
            args.extend(["--db", &db]);
        }
        let output = common::demo_command(&args, &[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(error.len(), 1, "{stderr}");
        assert!(error[0].contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(
        !dir.path().join("x.db").exists(),
        "an unknown resource writes nothing"
    );
    // A read-only file: refused in one line, left as it was.
    let readonly = dir.path().join("ro.db");
    std::fs::write(&readonly, b"").unwrap();
    let mut permissions = std::fs::metadata(&readonly).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&readonly, permissions).unwrap();
    let db = format!("sqlite:{}", readonly.display());
    let output = common::demo_command(&["mirror", "--db", &db, "--only", "notes"], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Root may write any file; anyone else gets one line.
    if !output.status.success() {
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{stderr}"
        );
        assert_eq!(std::fs::read(&readonly).unwrap(), b"");
    }
}

/// A resource that still fails after the retries does not stop the run: the others are read,
/// the summary (`--json` too) names the failed one and why, and the exit is not 0; the next
/// run finishes it and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_resource_is_named_and_the_others_are_read() {
    let db = salesloft_testkit::sqlite();
    let (sandbox, _client) = salesloft_testkit::unmetered().await;
    sandbox.seed("notes", 250, 1_000, 1).unwrap();
    sandbox.seed("custom_fields", 30, 1_000, 2).unwrap();
    // Every attempt of the first request fails (four attempts in all).
    let fault = salesloft_mock::Fault::Status { status: 500 };
    sandbox.inject(fault, 4).unwrap();
    let output = mirror_only(&sandbox, &db.url, "notes,custom_fields")
        .args(["--patience", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let reports: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let failed: Vec<&Value> = reports.iter().filter(|r| r["failed"].is_string()).collect();
    assert_eq!(failed.len(), 1, "{reports:?}");
    assert!(failed[0]["failed"].as_str().unwrap().contains("500"));
    let resource = failed[0]["resource"].as_str().unwrap();
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(error[0].contains(resource), "{stderr}");
    let read = reports.iter().find(|r| r["failed"].is_null()).unwrap();
    assert!(read["rows"].as_u64().unwrap() > 0, "{reports:?}");

    let again = mirror_only(&sandbox, &db.url, "notes,custom_fields")
        .status()
        .unwrap();
    assert!(again.success());
    let rows = rows_of(&db.url, &["notes", "custom_fields"]).await;
    assert_eq!(rows, 250 + 30);
}

async fn rows_of(db: &str, only: &[&str]) -> usize {
    let mirror = Mirror::open_now(db).await.unwrap();
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let mut count = 0;
    for table in mirror.select(&only, &[]).unwrap() {
        count += mirror.dump(&table).await.unwrap().len();
    }
    count
}

/// A database of the untyped layout with `rows` notes (ids and times as text).
async fn untyped_notes(url: &str, rows: usize) {
    let tables = salesloft_mirror::schema::tables(salesloft_openapi::SPEC);
    let notes = tables.iter().find(|t| t.resource == "notes").unwrap();
    let columns = salesloft_mirror::db::untyped_columns(notes);
    let mut defs: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("\"{name}\" {}", kind.sql(true)))
        .collect();
    defs[0].push_str(" PRIMARY KEY");
    let pool = salesloft_testkit::any_pool(url).await;
    let mut tx = pool.begin().await.unwrap();
    for sql in [
        "CREATE TABLE _mirror_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)".to_string(),
        "INSERT INTO _mirror_meta VALUES ('layout_version', '1')".into(),
        format!("CREATE TABLE sl_notes ({})", defs.join(", ")),
    ] {
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    for first in (0..rows).step_by(500) {
        let values: Vec<String> = (first..(first + 500).min(rows))
            .map(|n| {
                format!(
                    "('{}', 'note {n}', '2024-01-01T10:00:00-05:00', '2024-01-01T15:00:00.000000Z', '{}')",
                    n + 1,
                    n % 7 + 1
                )
            })
            .collect();
        let insert = format!(
            "INSERT INTO sl_notes (id, content, updated_at, _updated_utc, user_id) VALUES {}",
            values.join(", ")
        );
        sqlx::query(&insert).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

/// Notes whose `id` is stored as an integer, and all notes.
async fn integer_ids(url: &str) -> (i64, i64) {
    use sqlx::Row;
    let pool = salesloft_testkit::any_pool(url).await;
    let row = sqlx::query(
        "SELECT SUM(CASE WHEN typeof(id) = 'integer' THEN 1 ELSE 0 END), COUNT(*) FROM sl_notes",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let counts = (row.get::<i64, _>(0), row.get::<i64, _>(1));
    pool.close().await;
    counts
}

/// A conversion to typed columns SIGKILLed half way leaves the table as it was (the
/// conversion is one transaction); the next run converts it whole, its progress printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversion_killed_half_way_leaves_the_table_as_it_was() {
    use std::io::BufRead;
    const NOTES: usize = 40_000;
    let (sandbox, _client) = salesloft_testkit::unmetered().await;
    let db = salesloft_testkit::sqlite();
    untyped_notes(&db.url, NOTES).await;
    let mut child = mirror_only(&sandbox, &db.url, "notes")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut told = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        told.push(line.clone());
        if line.starts_with("Converting sl_notes") && !line.contains(": 0 of") {
            child.kill().unwrap(); // SIGKILL, inside the conversion's transaction
            break;
        }
    }
    let _ = child.wait();
    assert!(
        told.iter().any(|l| l.contains("of 40000 rows")),
        "progress is printed: {told:?}"
    );
    assert_eq!(
        integer_ids(&db.url).await,
        (0, NOTES as i64),
        "the table is as it was"
    );

    let again = mirror_only(&sandbox, &db.url, "notes").output().unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let (integers, all) = integer_ids(&db.url).await;
    assert!(all >= NOTES as i64);
    assert_eq!(integers, all, "every id converted");
}
