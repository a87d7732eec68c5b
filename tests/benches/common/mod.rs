//! What the benchmarks share: the release binaries they run, the lines their worker
//! processes print, and the comparison of a mirror with the sandbox's records.
#![allow(dead_code)] // each benchmark uses a part of it

use salesloft_mirror::{Mirror, Table};
use salesloft_mock::SandboxHandle;
use std::collections::HashMap;

/// Rows missing from the mirror, rows it has that the sandbox has not, and rows whose
/// `updated_at` is not the sandbox's.
pub async fn compare(
    sandbox: &SandboxHandle,
    mirror: &Mirror,
    tables: &[Table],
) -> (usize, usize, usize) {
    let (mut missing, mut extra, mut stale) = (0, 0, 0);
    for table in tables {
        let truth: HashMap<String, Option<String>> = sandbox
            .records(&table.resource)
            .iter()
            .map(|r| {
                let id = salesloft_mirror::db::text_of(&r["id"]).unwrap_or_default();
                let at = r["updated_at"].as_str().and_then(salesloft_mirror::db::utc);
                (id, at)
            })
            .collect();
        let rows: HashMap<String, Option<String>> = mirror
            .dump(table)
            .await
            .unwrap()
            .into_iter()
            .filter(|row| row["_deleted_at"].is_null())
            .map(|row| {
                let id = salesloft_mirror::db::text_of(&row["id"]).unwrap_or_default();
                (id, row["_updated_utc"].as_str().map(str::to_string))
            })
            .collect();
        missing += truth.keys().filter(|id| !rows.contains_key(*id)).count();
        extra += rows.keys().filter(|id| !truth.contains_key(*id)).count();
        stale += truth
            .iter()
            .filter(|(id, at)| rows.get(*id).is_some_and(|mine| mine != *at))
            .count();
    }
    (missing, extra, stale)
}

/// The release binary `name` beside this benchmark's own (`<target>/release/deps/..`),
/// wherever the target folder is (`CARGO_TARGET_DIR` included); `cargo xtask bench` builds it.
pub fn release_binary(name: &str) -> std::path::PathBuf {
    let bench = std::env::current_exe().expect("the benchmark's own path");
    let release = bench
        .parent()
        .and_then(std::path::Path::parent)
        .expect("a benchmark lives in <target>/release/deps");
    release.join(name)
}

/// `salesloft mirror --only people --json` (the release binary) into `db`, against `sandbox`,
/// its output discarded.
pub fn mirror_people(sandbox: &SandboxHandle, db: &str) -> std::process::Command {
    let mut command = std::process::Command::new(release_binary("salesloft"));
    command
        .args(["mirror", "--only", "people", "--db", db, "--json"])
        .env("SALESLOFT_API_KEY", sandbox.api_key())
        .env("SALESLOFT_API_BASE_URL", sandbox.api_base_url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// A key made as the README says (`openssl rand -base64 32`), for the benchmarks' connection
/// stores only.
pub const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4k=";

/// A line a worker process printed: which process, and the line.
pub type Said = (usize, String);

/// Sends each line `child` prints to its stdout as `(id, line)`, then `(id, "exited")` when it
/// ends (killed or not), from a thread of its own.
pub fn forward_lines(
    child: &mut std::process::Child,
    id: usize,
    said: &std::sync::mpsc::Sender<Said>,
) {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let said = said.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if said.send((id, line)).is_err() {
                break;
            }
        }
        let _ = said.send((id, "exited".into()));
    });
}
