//! `salesloft connect` and `salesloft connections` as a product's operator runs them: teams
//! connect through the server, are listed without secrets, removed, and sealed again with a
//! new key.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4k=";
const NEW_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn app_env<'a>(sandbox: &'a salesloft_mock::SandboxHandle, db: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SALESLOFT_APP_ID", "sandbox-client-id"),
        ("SALESLOFT_APP_SECRET", "sandbox-client-secret"),
        ("SALESLOFT_ACCOUNTS_BASE_URL", sandbox.accounts_base_url()),
        ("SALESLOFT_API_BASE_URL", sandbox.api_base_url()),
        ("SALESLOFT_CONNECTIONS_DB", db),
    ]
}

/// `salesloft connect` on a free port; answers the server and its base URL.
fn serve(env: &[(&str, &str)]) -> (Server, String) {
    let mut child = common::demo_command(&["connect", "--listen", "127.0.0.1:0"], env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .split_whitespace()
        .nth(1)
        .and_then(|url| url.strip_suffix("/connect?tenant=<your"))
        .unwrap_or_else(|| panic!("the server says where it listens: {first:?}"))
        .to_string();
    (Server(child), base)
}

/// A browser connects team `team` for `tenant`; answers the page it ends on.
async fn connect(base: &str, tenant: &str, team: i64) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = browser
        .get(format!("{base}/connect?tenant={tenant}"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303);
    let cookie = started.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let authorize = started.headers()["location"].to_str().unwrap().to_string();
    let consented = browser
        .get(format!("{authorize}&team={team}"))
        .send()
        .await
        .unwrap();
    let callback = consented.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let back = browser
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303, "{:?}", back.text().await);
    let success = back.headers()["location"].to_str().unwrap().to_string();
    browser
        .get(success)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = common::demo_command(args, env).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_connect_are_listed_without_secrets_removed_and_rekeyed() {
    let sandbox = salesloft_mock::Sandbox::start(salesloft_mock::Config::default())
        .await
        .unwrap();
    sandbox.add_teams(2).unwrap();
    let db = salesloft_testkit::postgres();
    let mut env = app_env(&sandbox, &db.url);

    // Without a key the server refuses to start, naming the variable.
    let (ok, _, stderr) = run(&["connect", "--listen", "127.0.0.1:0"], &env);
    assert!(!ok);
    assert!(stderr.contains("SALESLOFT_TOKEN_KEY"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    env.push(("SALESLOFT_TOKEN_KEY", KEY));
    let (server, base) = serve(&env);
    assert!(
        connect(&base, "acme", 2)
            .await
            .contains("Team 2 is connected")
    );
    assert!(
        connect(&base, "globex", 3)
            .await
            .contains("Team 3 is connected")
    );
    drop(server);

    // Listing needs no key and shows no token.
    let (ok, listed, stderr) = run(&["connections"], &app_env(&sandbox, &db.url));
    assert!(ok, "{stderr}");
    assert!(
        listed.contains("Sandbox Team 2") && listed.contains("globex"),
        "{listed}"
    );
    let (ok, json, _) = run(&["connections", "--json"], &app_env(&sandbox, &db.url));
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let teams: Vec<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["team_id"].as_i64().unwrap())
        .collect();
    assert_eq!(teams, vec![2, 3]);
    assert_eq!(json[0]["status"], "active");
    assert!(json[0].get("access_token").is_none() && json[0].get("refresh_token").is_none());

    // Rotating the key: the old one opens, rekey seals again with the new one.
    let mut rotated = app_env(&sandbox, &db.url);
    rotated.extend([
        ("SALESLOFT_TOKEN_KEY", NEW_KEY),
        ("SALESLOFT_TOKEN_KEY_OLD", KEY),
    ]);
    let (ok, said, stderr) = run(&["connections", "rekey"], &rotated);
    assert!(ok, "{stderr}");
    assert!(said.contains("Sealed 2 connection"), "{said}");
    let (_, said, _) = run(&["connections", "rekey"], &rotated);
    assert!(said.contains("Sealed 0 connection"), "{said}");

    // Removing: once; a second time is a clear one-line error.
    let (ok, said, _) = run(&["connections", "remove", "2"], &app_env(&sandbox, &db.url));
    assert!(
        ok && said.contains("Removed the connection of team 2"),
        "{said}"
    );
    let (ok, _, stderr) = run(&["connections", "remove", "2"], &app_env(&sandbox, &db.url));
    assert!(
        !ok && stderr.contains("team 2 has no connection"),
        "{stderr}"
    );
    let (_, listed, _) = run(&["connections"], &app_env(&sandbox, &db.url));
    assert!(!listed.contains("Sandbox Team 2") && listed.contains("Sandbox Team 3"));

    // A database that is not PostgreSQL: one line, nothing else.
    let (ok, _, stderr) = run(&["connections", "--db", "sqlite://x.db"], &[]);
    assert!(!ok && stderr.contains("postgres://"), "{stderr}");
}
