//! salesloft-auth against the sandbox: the code flow through the callback server, refresh
//! proactive, reactive and single-flight, invalid_grant, client credentials, and no secret in logs.

use demo::sandbox::{app as sandbox_app, browser, follow_authorization, login as login_to_sandbox};
use salesloft_auth::{
    AuthError, CallbackKind, CredentialStore, FileStore, LoginOptions, MemoryStore, OAuthTokens,
    Session,
};
use salesloft_mock::{Config, Sandbox};
use std::sync::Arc;

fn token_requests(sandbox: &salesloft_mock::SandboxHandle) -> Vec<salesloft_mock::LoggedRequest> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/token")
        .collect()
}

#[tokio::test]
async fn the_code_flow_through_the_loopback_callback_server() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let store = Arc::new(MemoryStore::default());
    let credentials = login_to_sandbox(&sandbox, store.as_ref())
        .await
        .expect("login succeeds");
    assert!(credentials.refresh_token.is_some());
    assert_eq!(store.load().unwrap(), Some(credentials));

    let exchange = &token_requests(&sandbox)[0];
    let body = &exchange.body;
    assert!(
        body.contains("grant_type=authorization_code") && body.contains("client_secret="),
        "secret in the body"
    );
    assert!(body.contains("code_verifier="), "PKCE verifier sent");
    let authorize = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth/authorize")
        .unwrap();
    let query = authorize.query.unwrap();
    assert!(
        query.contains("state=") && query.contains("code_challenge_method=S256"),
        "{query}"
    );

    let client = Session::from_store(sandbox_app(&sandbox), store)
        .await
        .unwrap()
        .client()
        .unwrap();
    let me = client.get_me().send().await.unwrap().into_inner().data;
    assert_eq!(me.email.as_deref(), Some("sandy@example.com"));
}

#[tokio::test]
async fn the_code_flow_through_the_https_callback_server() {
    const PORT: u16 = 18443;
    let redirect = format!("https://localhost:{PORT}/auth/salesloft/callback");
    let config = Config {
        redirect_uris: vec![redirect.clone()],
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = LoginOptions {
        callback: CallbackKind::Https {
            port: PORT,
            cert_dir: dir.path().to_path_buf(),
        },
        timeout: std::time::Duration::from_secs(20),
        open_browser: false,
        sign_in_page: false,
    };
    let cert = {
        // The certificate is made on first use and kept: read it the way a browser would trust it.
        let server = salesloft_auth::CallbackServer::bind(options.callback.clone())
            .await
            .unwrap();
        assert_eq!(server.redirect_uri(), redirect);
        server.certificate_pem().unwrap().to_string()
    };
    let store = MemoryStore::default();
    let app = sandbox_app(&sandbox);
    let result = salesloft_auth::login(&app, &store, &options, |url| {
        tokio::spawn(follow_authorization(
            url.to_string(),
            browser(Some(&cert)),
            |l| l,
        ));
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    let again = std::fs::read_to_string(dir.path().join("localhost-cert.pem")).unwrap();
    assert_eq!(
        again, cert,
        "the certificate is kept, so a browser exception stays valid"
    );
}

#[tokio::test]
async fn a_denied_login() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    sandbox.set_approve(false);
    let store = MemoryStore::default();
    let err = login_to_sandbox(&sandbox, &store).await.unwrap_err();
    assert!(matches!(err, AuthError::Denied(_)), "{err:?}");
    assert!(err.to_string().contains("denied"));
    assert!(token_requests(&sandbox).is_empty());
    assert_eq!(store.load().unwrap(), None);
}

#[tokio::test]
async fn a_state_mismatch_exchanges_nothing() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let store = MemoryStore::default();
    let options = LoginOptions {
        open_browser: false,
        ..LoginOptions::loopback()
    };
    let err = salesloft_auth::login(&sandbox_app(&sandbox), &store, &options, |url| {
        let forged = |location: String| location.replace("state=", "state=forged");
        tokio::spawn(follow_authorization(url.to_string(), browser(None), forged));
    })
    .await
    .unwrap_err();
    assert!(matches!(err, AuthError::StateMismatch), "{err:?}");
    assert!(token_requests(&sandbox).is_empty(), "no code was exchanged");
}

#[tokio::test]
async fn the_callback_server_times_out_clearly() {
    let options = LoginOptions {
        timeout: std::time::Duration::from_millis(200),
        open_browser: false,
        ..LoginOptions::loopback()
    };
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let err = salesloft_auth::login(
        &sandbox_app(&sandbox),
        &MemoryStore::default(),
        &options,
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AuthError::Timeout(_)), "{err:?}");
}

async fn logged_in(sandbox: &salesloft_mock::SandboxHandle) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    login_to_sandbox(sandbox, store.as_ref()).await.unwrap();
    sandbox.clear_requests();
    store
}

#[tokio::test]
async fn an_access_token_about_to_expire_is_refreshed_once_before_use() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let store = logged_in(&sandbox).await;
    let mut credentials = store.load().unwrap().unwrap();
    credentials.expires_at = chrono::Utc::now() + chrono::Duration::minutes(2);
    store.save(&credentials).unwrap();
    let client = Session::from_store(sandbox_app(&sandbox), store.clone())
        .await
        .unwrap()
        .client()
        .unwrap();
    for _ in 0..3 {
        client.get_me().send().await.unwrap();
    }
    assert_eq!(token_requests(&sandbox).len(), 1);
    let stored = store.load().unwrap().unwrap();
    assert_ne!(
        stored.refresh_token, credentials.refresh_token,
        "the rotated refresh token is stored"
    );
    assert!(sandbox.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn a_401_causes_one_refresh_and_one_resend() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let store = logged_in(&sandbox).await;
    let client = Session::from_store(sandbox_app(&sandbox), store)
        .await
        .unwrap()
        .client()
        .unwrap();
    sandbox.expire_all_tokens();
    client.get_me().send().await.expect("refreshed and resent");
    let log: Vec<(String, u16)> = sandbox
        .requests()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    assert_eq!(
        log,
        [
            ("/v2/me.json".to_string(), 401),
            ("/oauth/token".to_string(), 200),
            ("/v2/me.json".to_string(), 200)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_on_an_expired_token_refresh_once() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let store = logged_in(&sandbox).await;
    let mut credentials = store.load().unwrap().unwrap();
    credentials.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    store.save(&credentials).unwrap();
    sandbox.expire_all_tokens();
    let client = Session::from_store(sandbox_app(&sandbox), store)
        .await
        .unwrap()
        .client()
        .unwrap();
    let requests = (0..200).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.get_person().id(1).send().await.is_ok() })
    });
    let results = futures::future::join_all(requests).await;
    let failed = results.iter().filter(|r| !matches!(r, Ok(true))).count();
    assert_eq!(failed, 0);
    assert_eq!(token_requests(&sandbox).len(), 1, "single flight");
}

#[tokio::test]
async fn invalid_grant_says_to_authorize_again_and_keeps_the_store() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path().join("credentials.json")));
    login_to_sandbox(&sandbox, store.as_ref()).await.unwrap();
    let before = std::fs::read_to_string(store.path()).unwrap();
    // Another client used the refresh token behind our back: ours is revoked.
    let stolen = store.load().unwrap().unwrap();
    let app = sandbox_app(&sandbox);
    let other = Arc::new(MemoryStore::default());
    other.save(&stolen).unwrap();
    let mut expired = stolen.clone();
    expired.expires_at = chrono::Utc::now();
    let thief = OAuthTokens::new(app.clone(), other, expired).unwrap();
    salesloft_api::TokenSource::token(&thief).await.unwrap();

    let mut ours = stolen;
    ours.expires_at = chrono::Utc::now();
    let tokens = Arc::new(OAuthTokens::new(app, store.clone(), ours).unwrap());
    let client = Session::from_token_source(sandbox.api_base_url(), tokens)
        .client()
        .unwrap();
    let err = salesloft_api::ApiError::from(client.get_me().send().await.unwrap_err());
    assert!(
        err.to_string().contains("invalid_grant") && err.to_string().contains("authorize again"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(store.path()).unwrap(),
        before,
        "the store keeps what it had"
    );
}

#[tokio::test]
async fn client_credentials_through_the_same_seam() {
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let client = Session::client_credentials(sandbox_app(&sandbox))
        .unwrap()
        .client()
        .unwrap();
    client.get_me().send().await.unwrap();
    sandbox.expire_all_tokens();
    client
        .get_me()
        .send()
        .await
        .expect("a new token after a 401");
    let grants: Vec<_> = token_requests(&sandbox)
        .iter()
        .map(|r| r.body.contains("client_credentials"))
        .collect();
    assert_eq!(grants, [true, true]);
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    let buffer = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let writer = {
        let buffer = buffer.clone();
        move || BufferWriter(buffer.clone())
    };
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false),
        )
        .with(tracing_subscriber::filter::LevelFilter::TRACE);
    let _guard = tracing::subscriber::set_default(subscriber);

    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let store = logged_in(&sandbox).await;
    let first = store.load().unwrap().unwrap();
    let client = Session::from_store(sandbox_app(&sandbox), store.clone())
        .await
        .unwrap()
        .client()
        .unwrap();
    sandbox.expire_all_tokens();
    client.get_me().send().await.unwrap();
    let second = store.load().unwrap().unwrap();

    let logs = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("salesloft"),
        "the log was captured: {}",
        &logs[..logs.len().min(500)]
    );
    let secrets = [
        first.access_token.expose(),
        first.refresh_token.as_ref().unwrap().expose(),
        second.access_token.expose(),
        second.refresh_token.as_ref().unwrap().expose(),
        "sandbox-client-secret",
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}

struct BufferWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for BufferWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
