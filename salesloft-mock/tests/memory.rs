//! What the network sends is held at its real size: the sandbox binary, fed 300 bodies of
//! 1.9 MB (150 without credentials, 150 with an API key), keeps its resident memory within
//! [`BOUND_MB`] of what it had after the first few requests.
//!
//! Why 64 MB: what the sandbox may keep of these requests is its request log (8 MiB by
//! default, counted by the allocations it really holds) and 300 small people; the rest is
//! the allocator keeping freed 2 MB buffers for reuse (one or two per worker thread). Before
//! the fix each request kept its whole body (a cut string that held its 2 MB buffer): +1.8 MB
//! a request.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BOUND_MB: u64 = 64;
const BODY_BYTES: usize = 1_900_000;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of `pid`, in MB.
fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024
}

fn start_binary() -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_salesloft-mock"))
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
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
    // Keep reading, so the sandbox's later lines never meet a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (running, base)
}

/// A JSON person body of about `BODY_BYTES`, the bulk in a field the sandbox does not store.
fn body(n: usize, filler: &str) -> Vec<u8> {
    format!(r#"{{"email_address":"big{n}@memory.test","first_name":"Big","notes":"{filler}"}}"#)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_from_the_network_are_not_kept_whole() {
    salesloft_mock::install_tls_provider();
    let (sandbox, base) = start_binary();
    let pid = sandbox.0.id();
    let http = reqwest::Client::new();
    let key = format!("ak_{}", "0".repeat(64));
    let url = format!("{base}/v2/people.json");
    let filler = "x".repeat(BODY_BYTES);
    let send = |n: usize, authorized: bool| {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body(n, &filler));
        if authorized {
            request = request.bearer_auth(&key);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Warm up: the first requests grow the allocator's pools to their working size.
    for n in 0..5 {
        send(n, false).await;
    }
    let start = rss_mb(pid);
    for n in 0..150 {
        assert_eq!(send(n, false).await, 401);
    }
    let after_anonymous = rss_mb(pid);
    for n in 0..150 {
        assert_eq!(send(n, true).await, 200, "person {n} is created");
    }
    let after_authorized = rss_mb(pid);
    eprintln!(
        "resident memory: {start} MB at start, {after_anonymous} MB after 150 refused, \
         {after_authorized} MB after 150 created"
    );
    assert!(
        after_anonymous <= start + BOUND_MB && after_authorized <= start + BOUND_MB,
        "the sandbox grew from {start} MB to {after_anonymous} MB, then {after_authorized} MB"
    );
}
