//! The demo binary as a newcomer runs it: the sandbox transcript, `--json`, and the errors
//! that need no server.

mod common;

use std::process::Output;

fn demo(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::demo_command(args, env)
        .output()
        .expect("the demo runs")
}

/// Ids and times vary from run to run: every run of digits becomes `<n>`, except the step
/// numbers that start a line.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_number = false;
        for (i, c) in line.char_indices() {
            let step_number = line[..i].chars().all(|p| p.is_ascii_digit());
            if c.is_ascii_digit() && !step_number {
                if !in_number {
                    out.push_str("<n>");
                }
                in_number = true;
            } else {
                in_number = false;
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_sandbox_transcript() {
    let output = demo(&["--cleanup"], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .starts_with("Using the local SalesLoft sandbox")
    );
    insta::assert_snapshot!(redact(&stdout));
}

#[test]
fn json_output_parses_and_has_every_part() {
    let output = demo(&["--json"], &[]);
    assert!(output.status.success());
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(report["mode"], "sandbox");
    assert_eq!(report["user"]["email"], "sandy@example.com");
    assert_eq!(report["person"]["name"], "Test McTester");
    assert!(report["person"]["id"].is_i64());
    assert!(
        report["person"]["email"]
            .as_str()
            .unwrap()
            .starts_with("sandy+")
    );
    assert_eq!(report["account"]["domain"], "example.com");
    assert!(report["membership"]["id"].is_i64() && report["membership"]["cadence_id"].is_i64());
    assert_eq!(report["membership"]["state"], "staged");
    assert!(
        report["links"]["person"]
            .as_str()
            .unwrap()
            .starts_with("https://app.salesloft.com/app/people/")
    );
    let events: Vec<&str> = report["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "person_created",
            "person_updated",
            "person_updated",
            "cadence_membership_created"
        ],
        "each webhook the steps caused, verified"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("local SalesLoft sandbox"),
        "the note goes to stderr in JSON mode"
    );
}

fn fails_with(output: &Output, needle: &str) {
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn half_set_credentials() {
    fails_with(
        &demo(&[], &[("SALESLOFT_APP_ID", "id")]),
        "SALESLOFT_APP_SECRET",
    );
    fails_with(
        &demo(&[], &[("SALESLOFT_APP_SECRET", "secret")]),
        "set both",
    );
}

#[test]
fn run_without_stored_credentials_says_to_authorize() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.json");
    let env = [
        ("SALESLOFT_APP_ID", "id"),
        ("SALESLOFT_APP_SECRET", "secret"),
        ("SALESLOFT_CREDENTIALS", path.to_str().unwrap()),
    ];
    fails_with(&demo(&["run"], &env), "cargo run -p demo -- authorize");
}

#[test]
fn a_network_error() {
    let env = [
        ("SALESLOFT_API_KEY", "ak_secret_key_value"),
        ("SALESLOFT_API_BASE_URL", "http://127.0.0.1:9"),
    ];
    let output = demo(&["--no-retry"], &env);
    fails_with(&output, "could not reach SalesLoft");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("ak_secret_key_value"));
}

#[test]
fn authorize_without_an_app() {
    fails_with(&demo(&["authorize"], &[]), "SALESLOFT_APP_ID");
}

#[test]
fn webhooks_against_the_real_service_need_a_public_url() {
    let env = [("SALESLOFT_API_KEY", "ak_secret_key_value")];
    let output = demo(&["webhooks", "--listen", "127.0.0.1:0"], &env);
    fails_with(&output, "--public-url");
}

/// Each subcommand's `--help` shows the flags it uses (its own and the connection's), none
/// of another command's.
#[test]
fn each_subcommand_shows_only_its_flags() {
    let mut texts = String::new();
    for command in ["run", "authorize", "webhooks", "enroll"] {
        let output = demo(&[command, "--help"], &[]);
        assert!(output.status.success(), "{command} --help");
        let help = String::from_utf8_lossy(&output.stdout).into_owned();
        let foreign: &[&str] = match command {
            "run" => &["--port", "--cadence", "--listen"],
            "authorize" => &["--cleanup", "--cadence", "--listen"],
            "webhooks" => &["--cleanup", "--port", "--cadence"],
            _ => &["--cleanup", "--port", "--listen", "--app-base-url"],
        };
        for flag in foreign {
            assert!(
                !help.contains(flag),
                "`{command} --help` shows {flag}:\n{help}"
            );
        }
        texts.push_str(&format!("==== {command} --help\n{help}\n"));
    }
    insta::assert_snapshot!("help_texts", texts);
}
