//! `enroll` as a user runs it: the transcript and the report (insta), the messages for bad
//! input, and a real SIGKILL in each phase followed by a resume that duplicates nothing.

mod common;

use common::demo_command as demo;
use salesloft_mock::{Config, Sandbox, SandboxHandle};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

const LEADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/leads.csv");

fn output(args: &[&str]) -> Output {
    demo(args, &[]).output().expect("the demo runs")
}

/// Ids vary: each run of digits after `,` in the report, or after `id ` in text, becomes `<n>`.
fn redact(text: &str) -> String {
    let mut out = String::new();
    let mut previous = ' ';
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() && (in_number || previous == ',') {
            if !in_number {
                out.push_str("<n>");
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
        previous = c;
    }
    out
}

#[test]
fn the_sandbox_run_and_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.csv");
    let run = output(&[
        "enroll",
        LEADS,
        "--cadence",
        "Nurture",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout).replace(report.to_str().unwrap(), "<report>");
    insta::assert_snapshot!("enroll_transcript", stdout);
    insta::assert_snapshot!(
        "enroll_report",
        redact(&std::fs::read_to_string(&report).unwrap())
    );
}

#[test]
fn a_dry_run_prints_the_cost_and_writes_nothing() {
    let run = output(&[
        "enroll",
        LEADS,
        "--cadence",
        "1",
        "--dry-run",
        "--budget-share",
        "0.5",
    ]);
    assert!(run.status.success());
    insta::assert_snapshot!("enroll_dry_run", String::from_utf8_lossy(&run.stdout));
}

fn error_of(run: &Output) -> String {
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"));
    stderr
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let no_email = dir.path().join("no_email.csv");
    std::fs::write(&no_email, "name,domain\nAda,acme.test\n").unwrap();
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "email,name\nada@acme.test,Ada,extra\n").unwrap();
    let messages = [
        error_of(&output(&[
            "enroll",
            no_email.to_str().unwrap(),
            "--cadence",
            "1",
        ])),
        error_of(&output(&[
            "enroll",
            ragged.to_str().unwrap(),
            "--cadence",
            "1",
        ])),
        error_of(&output(&[
            "enroll",
            "/nonexistent/leads.csv",
            "--cadence",
            "1",
        ])),
        error_of(&output(&["enroll", LEADS, "--cadence", "No Such Cadence"])),
        error_of(&output(&["enroll", LEADS, "--cadence", "999"])),
        error_of(&output(&["enroll", LEADS, "--cadence", "1", "--strict"])),
    ];
    let text = messages
        .join("")
        .replace(dir.path().to_str().unwrap(), "<dir>");
    insta::assert_snapshot!("enroll_errors", text);
}

/// Journal lines of each kind.
fn journal_counts(path: &Path) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let count = |kind: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("\"done\":\"{kind}\"")))
            .count()
    };
    (count("company"), count("person"), count("membership"))
}

fn duplicates(sandbox: &SandboxHandle) -> usize {
    let mut seen = HashSet::new();
    let mut twice = 0;
    for p in sandbox.records("people") {
        twice += usize::from(!seen.insert(format!(
            "p{}",
            p["email_address"].as_str().unwrap_or("").to_lowercase()
        )));
    }
    for a in sandbox.records("accounts") {
        twice += usize::from(!seen.insert(format!("a{}", a["domain"])));
    }
    for m in sandbox.records("cadence_memberships") {
        twice +=
            usize::from(!seen.insert(format!("m{}-{}", m["person"]["id"], m["cadence"]["id"])));
    }
    twice
}

/// A CSV of `count` leads `{prefix}{i}@company{i % domains}.test`, with their domains.
fn leads_file(dir: &tempfile::TempDir, prefix: &str, count: usize, domains: usize) -> PathBuf {
    let path = dir.path().join("leads.csv");
    let mut csv = String::from("email,domain\n");
    for i in 0..count {
        let company = i % domains;
        csv.push_str(&format!(
            "{prefix}{i}@company{company}.test,company{company}.test\n"
        ));
    }
    std::fs::write(&path, csv).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_in_each_phase_then_a_resume_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let leads = leads_file(&dir, "lead", 40, 8);
    // (phase, journal lines of it after which the process is killed)
    for (phase, after) in [(0, 3), (1, 10), (2, 10)] {
        let sandbox = Sandbox::start(Config::default()).await.unwrap();
        // Slow answers, so the kill lands inside the phase.
        sandbox.set_latency(Duration::from_millis(15));
        let journal = dir.path().join(format!("run{phase}.journal"));
        let env = [
            ("SALESLOFT_API_KEY", sandbox.api_key()),
            ("SALESLOFT_API_BASE_URL", sandbox.api_base_url().to_string()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let args = [
            "enroll",
            leads.to_str().unwrap(),
            "--cadence",
            "1",
            "--journal",
            journal.to_str().unwrap(),
        ];
        let mut child = demo(&args, &env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        loop {
            let counts = journal_counts(&journal);
            let reached = [counts.0, counts.1, counts.2][phase] >= after;
            if reached || child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(
            sandbox.records("cadence_memberships").len() < 40,
            "phase {phase}: killed before the end"
        );
        let resumed = tokio::task::block_in_place(|| demo(&args, &env).output().unwrap());
        assert!(
            resumed.status.success(),
            "{}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_eq!(duplicates(&sandbox), 0, "phase {phase}");
        assert_eq!(
            sandbox.records("cadence_memberships").len(),
            40,
            "phase {phase}"
        );
        let counts = journal_counts(&journal);
        assert_eq!(
            (counts.0, counts.1, counts.2),
            (8, 40, 40),
            "phase {phase}: each thing done once"
        );
    }
}

/// Without `--cadence`: a CSV import. Companies and people are upserted (in one bulk job, as
/// there are enough of them), nobody is put on a cadence, and a second run creates no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cadence_the_list_is_imported_only() {
    let dir = tempfile::tempdir().unwrap();
    let leads = leads_file(&dir, "import", 30, 3);
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    let memberships = sandbox.records("cadence_memberships").len();
    let env = [
        ("SALESLOFT_API_KEY", sandbox.api_key()),
        ("SALESLOFT_API_BASE_URL", sandbox.api_base_url().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let import = |journal: &str| {
        let journal = dir.path().join(journal);
        let args = [
            "enroll",
            leads.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ];
        tokio::task::block_in_place(|| demo(&args, &env).output().unwrap())
    };
    let first = import("first.journal");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("no cadence: upserts only"), "{stdout}");
    assert!(stdout.contains("the people in one bulk job"), "{stdout}");
    assert!(stdout.contains("Done: 30 created, 0 updated"), "{stdout}");
    let imported = |s: &SandboxHandle| {
        s.records("people")
            .iter()
            .filter(|p| {
                p["email_address"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("import"))
            })
            .count()
    };
    assert_eq!(imported(&sandbox), 30);
    assert_eq!(sandbox.records("bulk_jobs").len(), 1);
    assert_eq!(sandbox.records("cadence_memberships").len(), memberships);
    assert_eq!(duplicates(&sandbox), 0);

    let again = import("second.journal");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("Done: 0 created, 30 updated"), "{stdout}");
    assert_eq!(imported(&sandbox), 30);
}
