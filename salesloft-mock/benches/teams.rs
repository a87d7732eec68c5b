//! What many teams cost the sandbox: resident memory of the sandbox binary serving 500 teams
//! of 1,000 people each, against the same binary serving one team of 500,000 people (the same
//! records), measured in the same run. Run with `cargo xtask bench teams`; one line per figure.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const TEAMS: usize = 500;
const PEOPLE_PER_TEAM: usize = 1_000;

/// The sandbox binary, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn start() -> (Self, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_salesloft-mock"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the sandbox binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let running = Running(child);
        let mut lines = BufReader::new(stdout).lines();
        let base = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                Some(
                    line.trim()
                        .strip_prefix("API base URL:")?
                        .trim()
                        .to_string(),
                )
            })
            .expect("the sandbox prints its API base URL");
        std::thread::spawn(move || lines.for_each(drop));
        (running, base)
    }

    /// Resident memory, in KiB.
    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id()))
            .expect("the sandbox is running");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS");
        line.split_whitespace()
            .nth(1)
            .and_then(|kb| kb.parse().ok())
            .expect("a number of kB")
    }
}

async fn post(http: &reqwest::Client, url: &str, body: serde_json::Value) {
    let response = http.post(url).json(&body).send().await.expect("admin call");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    let (idle, _) = Running::start();
    let idle_kb = idle.rss_kb();
    drop(idle);

    let (one, base) = Running::start();
    post(
        &http,
        &format!("{base}/__admin/seed_people"),
        serde_json::json!({"count": TEAMS * PEOPLE_PER_TEAM}),
    )
    .await;
    let one_kb = one.rss_kb();
    drop(one);

    let (many, base) = Running::start();
    post(
        &http,
        &format!("{base}/__admin/teams"),
        serde_json::json!({"count": TEAMS - 1}),
    )
    .await;
    for team in 1..=TEAMS {
        post(
            &http,
            &format!("{base}/__admin/seed_people?team={team}"),
            serde_json::json!({"count": PEOPLE_PER_TEAM}),
        )
        .await;
    }
    let many_kb = many.rss_kb();
    drop(many);

    let people = TEAMS * PEOPLE_PER_TEAM;
    println!("teams_rss_idle_mb={}", idle_kb / 1024);
    println!("teams_rss_1_team_{people}_people_mb={}", one_kb / 1024);
    println!(
        "teams_rss_{TEAMS}_teams_{PEOPLE_PER_TEAM}_people_mb={}",
        many_kb / 1024
    );
    println!(
        "teams_rss_per_person_bytes={}",
        many_kb.saturating_sub(idle_kb) * 1024 / people as u64
    );
    println!(
        "teams_overhead_per_team_kb={}",
        many_kb.saturating_sub(one_kb) / (TEAMS as u64 - 1)
    );
}
