//! The demo against a sandbox, in process: every step checked against the sandbox's state,
//! and the errors a user meets driven through the sandbox's deny and fault modes.

use clap::Parser;
use demo::output::{Report, Reporter};
use demo::{Cli, Env};
use salesloft_auth::FileStore;
use salesloft_mock::{Config, Fault, Sandbox, SandboxHandle};

static QUIET: Reporter = Reporter::new(true);

fn options(cleanup: bool) -> demo::flow::FlowOptions {
    demo::flow::FlowOptions {
        app_base_url: "https://app.example".into(),
        cleanup,
        unix_time: 1_700_000_000,
    }
}

#[tokio::test]
async fn every_step_lands_in_the_sandbox() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let (session, _dir) = demo::sandbox_session(&sandbox, &QUIET).await.unwrap();
    let mut report = Report::default();
    demo::flow::run(
        &session.client().unwrap(),
        &options(false),
        &QUIET,
        &mut report,
        None,
    )
    .await
    .unwrap();

    let person = report.person.as_ref().unwrap();
    assert_eq!(person.email, "sandy+1700000000@example.com");
    let membership = report.membership.as_ref().unwrap();
    {
        let stored = sandbox
            .record("people", person.id)
            .expect("the person exists");
        assert_eq!(stored["email_address"], "sandy+1700000000@example.com");
        assert_eq!(
            (stored["first_name"].as_str(), stored["last_name"].as_str()),
            (Some("Test"), Some("McTester"))
        );
        assert_eq!(stored["account"]["id"], report.account.as_ref().unwrap().id);
        let m = sandbox
            .record("cadence_memberships", membership.id)
            .expect("the membership exists");
        assert_eq!(m["person"]["id"], person.id);
        assert_eq!(m["cadence"]["id"], membership.cadence_id);
        assert_eq!(m["current_state"], "staged");
    }
    assert_eq!(
        report.links.person.as_deref(),
        Some(format!("https://app.example/app/people/{}", person.id).as_str())
    );
    let lookups: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/people.json" && r.method == "GET")
        .collect();
    assert!(
        lookups[0]
            .query
            .as_deref()
            .unwrap()
            .contains("email_addresses%5B%5D=sandy%2B1700000000%40example.com")
    );
}

#[tokio::test]
async fn cleanup_removes_what_the_run_created_and_a_new_domain_gets_an_account() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let email = serde_json::json!({"email": "sandy@newco.test"});
    assert!(
        sandbox
            .patch_record("users", 1, email.as_object().unwrap().clone())
            .unwrap()
    );
    sandbox.clear_records("cadences").unwrap();
    let (session, _dir) = demo::sandbox_session(&sandbox, &QUIET).await.unwrap();
    let mut report = Report::default();
    demo::flow::run(
        &session.client().unwrap(),
        &options(true),
        &QUIET,
        &mut report,
        None,
    )
    .await
    .unwrap();
    let account = report.account.as_ref().unwrap();
    assert!(account.created && account.domain == "newco.test");
    assert!(report.membership.is_none(), "no cadence: nothing to add to");
    assert!(report.cleaned_up);
    assert!(
        sandbox
            .record("people", report.person.as_ref().unwrap().id)
            .is_none()
    );
    assert!(sandbox.record("accounts", account.id).is_none());
}

/// The demo's OAuth mode against `sandbox`, with credentials stored in `store_path`.
async fn run_oauth_mode(
    sandbox: &SandboxHandle,
    store_path: &std::path::Path,
) -> Result<(), demo::error::DemoError> {
    let config = sandbox.config();
    let base = sandbox.api_base_url();
    let path = store_path.to_str().unwrap();
    let cli = Cli::parse_from([
        "demo",
        "run",
        "--no-retry",
        "--api-base-url",
        base,
        "--accounts-base-url",
        base,
        "--credentials",
        path,
    ]);
    let env = Env {
        app_id: Some(config.client_id),
        app_secret: Some(config.client_secret),
        api_key: None,
    };
    demo::execute(&cli, &env, &QUIET, &mut Report::default()).await
}

async fn authorized(sandbox: &SandboxHandle) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    demo::sandbox::login(sandbox, &FileStore::new(&path))
        .await
        .unwrap();
    (dir, path)
}

#[tokio::test]
async fn the_oauth_mode_runs_with_stored_credentials() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let (_dir, path) = authorized(&sandbox).await;
    run_oauth_mode(&sandbox, &path)
        .await
        .expect("the flow runs");
}

#[tokio::test]
async fn a_denied_authorization() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.set_approve(false);
    let err = demo::sandbox_session(&sandbox, &QUIET).await.unwrap_err();
    assert!(err.one_line().contains("denied"), "{}", err.one_line());
}

#[tokio::test]
async fn invalid_grant_says_to_authorize_again() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let (_dir, path) = authorized(&sandbox).await;
    // Rotate the refresh token behind the demo's back, and expire the access token.
    let store = FileStore::new(&path);
    let stored = salesloft_auth::CredentialStore::load(&store)
        .unwrap()
        .unwrap();
    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            stored.refresh_token.as_ref().unwrap().expose(),
        ),
        ("client_id", "sandbox-client-id"),
        ("client_secret", "sandbox-client-secret"),
    ];
    http.post(format!("{}/oauth/token", sandbox.accounts_base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    sandbox.expire_all_tokens();
    let err = run_oauth_mode(&sandbox, &path)
        .await
        .unwrap_err()
        .one_line();
    assert!(
        err.contains("invalid_grant") && err.contains("authorize again"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_scope_is_named() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.set_granted_scope("people:read users:read");
    let (_dir, path) = authorized(&sandbox).await;
    let err = run_oauth_mode(&sandbox, &path)
        .await
        .unwrap_err()
        .one_line();
    assert!(err.contains("403") && err.contains("people:write"), "{err}");
}

#[tokio::test]
async fn the_rate_limit() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let (_dir, path) = authorized(&sandbox).await;
    sandbox.inject(Fault::Status { status: 429 }, 1).unwrap();
    let err = run_oauth_mode(&sandbox, &path)
        .await
        .unwrap_err()
        .one_line();
    assert!(
        err.contains("429") && err.contains("wait for the next minute"),
        "{err}"
    );
}

#[tokio::test]
async fn no_token_in_any_error() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let (_dir, path) = authorized(&sandbox).await;
    let stored = salesloft_auth::CredentialStore::load(&FileStore::new(&path))
        .unwrap()
        .unwrap();
    sandbox.inject(Fault::Status { status: 503 }, 1).unwrap();
    let err = run_oauth_mode(&sandbox, &path).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(stored.access_token.expose())
            && !text.contains(stored.refresh_token.unwrap().expose())
    );
}
