//! Processes sharing one credentials store: no invalid_grant across expiries, and a store that
//! always parses even when a process is killed in the middle of refreshing.

use demo::sandbox::login as login_to_sandbox;
use salesloft_auth::{CredentialStore, FileStore};
use salesloft_mock::{Config, Sandbox};
use std::process::{Command, Stdio};
use std::time::Duration;

const WORKER: &str = env!("CARGO_BIN_EXE_auth_worker");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_across_several_expiries_never_see_invalid_grant() {
    // Tokens live 2 s: five seconds of requests cross at least two expiries in every process.
    // (The budget is raised: 4 processes at 50 requests a second would spend 600 in 3 s, and
    // the clients would rightly wait for the next minute.)
    let config = Config {
        token_ttl_seconds: 2,
        rate_limit_per_minute: 100_000,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    login_to_sandbox(&sandbox, &FileStore::new(&path))
        .await
        .unwrap();
    sandbox.clear_requests();

    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(WORKER)
                .args([
                    path.to_str().unwrap(),
                    sandbox.api_base_url(),
                    "requests",
                    "5",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the worker starts")
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().expect("the worker ends"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    for output in &outputs {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(stdout.contains("invalid_grant=0"), "{stdout} {stderr}");
        assert!(stdout.contains("failed=0"), "{stdout} {stderr}");
    }
    let refreshes = sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token")
        .count();
    assert!(
        refreshes >= 2,
        "the workers crossed expiries: {refreshes} refreshes"
    );
    assert!(
        sandbox
            .requests()
            .iter()
            .filter(|r| r.path == "/oauth/token")
            .all(|r| r.status == 200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_refreshing_leaves_a_store_that_parses() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let store = FileStore::new(&path);
    let mut refreshes = 0;
    for round in 0..12u64 {
        // A kill between SalesLoft's answer and the save loses the rotated refresh token (it
        // existed only in that process): the next round starts from a fresh login, as a user would.
        login_to_sandbox(&sandbox, &store).await.unwrap();
        sandbox.clear_requests();
        let mut child = Command::new(WORKER)
            .args([
                path.to_str().unwrap(),
                sandbox.api_base_url(),
                "refresh-loop",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60 + 37 * round)).await;
        child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
        let _ = child.wait();
        let loaded = store.load();
        assert!(matches!(loaded, Ok(Some(_))), "round {round}: {loaded:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        refreshes += sandbox
            .requests()
            .iter()
            .filter(|r| r.body.contains("grant_type=refresh_token"))
            .count();
    }
    assert!(
        refreshes > 24,
        "the workers were refreshing when killed: {refreshes} refreshes in 12 rounds"
    );
}
