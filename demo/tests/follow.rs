//! `salesloft mirror --follow` as a process facing the internet: with a descriptor limit of
//! 256 and more idle clients than that holding connections open, SalesLoft's deliveries are
//! still answered and applied.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const DESCRIPTORS: usize = 256;

/// `command` run under a descriptor limit of `limit` (soft and hard), as services often are.
fn with_descriptor_limit(command: &Command, limit: usize) -> Command {
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$@\""))
        .arg("sh")
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => limited.env(name, value),
            None => limited.env_remove(name),
        };
    }
    limited
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Kills the child however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_answered_while_idle_clients_outnumber_the_descriptors() {
    let (sandbox, client) = salesloft_testkit::unmetered().await;
    salesloft_testkit::only_people(&sandbox, 5);
    let db = salesloft_testkit::sqlite();
    let listen = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{listen}/");
    let key = sandbox.api_key();
    let args = [
        "mirror",
        "--db",
        &db.url,
        "--only",
        "people",
        "--follow",
        "--listen",
        &listen,
        "--public-url",
        &url,
    ];
    let env = [
        ("SALESLOFT_API_KEY", key.as_str()),
        ("SALESLOFT_API_BASE_URL", sandbox.api_base_url()),
    ];
    let mut command = with_descriptor_limit(&common::demo_command(&args, &env), DESCRIPTORS);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = Running(command.spawn().unwrap());
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let following = tokio::task::spawn_blocking(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .find(|line| line.starts_with("Following:"))
    });
    let following = tokio::time::timeout(Duration::from_secs(60), following)
        .await
        .expect("the mirror follows within a minute")
        .unwrap();
    assert!(following.is_some(), "the mirror stopped before following");

    // More clients than the process has descriptors, each with half its headers sent.
    let mut idle = Vec::new();
    for _ in 0..DESCRIPTORS + 150 {
        let mut stream = tokio::net::TcpStream::connect(&listen).await.unwrap();
        let _ = stream.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").await;
        idle.push(stream);
    }

    let people = client.list_people().send().await.unwrap().into_inner().data;
    let person = people
        .first()
        .and_then(|p| p.id.as_ref()?.as_i64())
        .expect("a person");
    client
        .update_person()
        .id(person)
        .body_map(|b| b.title("Changed while crowded".to_string()))
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let answered = loop {
        let statuses: Vec<Option<u16>> = sandbox
            .webhook_deliveries()
            .into_iter()
            .filter(|d| d.callback_url == url && d.record_id == Some(person))
            .map(|d| d.status)
            .collect();
        if statuses.contains(&Some(200)) || Instant::now() > deadline {
            break statuses;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(answered.contains(&Some(200)), "attempts: {answered:?}");
    drop(idle);
}
