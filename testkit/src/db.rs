//! The two backends the mirror runs on, for tests: a SQLite file in a temporary folder, and a
//! throwaway PostgreSQL server (initdb into a temporary folder, a free port on 127.0.0.1,
//! stopped on drop).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A database for one test: its URL and what must live as long as it. Fields drop in order:
/// the server is stopped before its folder is removed (`pg_ctl stop` finds the server by the
/// folder; removed first, the server was left running until it noticed, a minute later).
pub struct TestDb {
    pub url: String,
    _server: Option<Postgres>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// `pg_dump` of the whole database, as text (Postgres only): what a backup would hold.
    pub fn dump(&self) -> String {
        let output = Command::new(program("pg_dump"))
            .arg(format!("--dbname={}", self.url))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("mirror.db").display());
    TestDb {
        url,
        _dir: dir,
        _server: None,
    }
}

pub fn postgres() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let server = Postgres::start(dir.path());
    TestDb {
        url: format!("postgres://postgres@127.0.0.1:{}/postgres", server.port),
        _dir: dir,
        _server: Some(server),
    }
}

/// A plain pool of one connection on a test database's URL (`sqlite:PATH`, created when
/// missing, or `postgres://`), through sqlx's `Any` driver.
pub async fn any_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match url.strip_prefix("sqlite:") {
        Some(path) => format!("sqlite://{path}?mode=rwc"),
        None => url.to_string(),
    };
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap()
}

/// A PostgreSQL server of its own, run as the `postgres` user when the tests run as root
/// (initdb refuses root).
pub struct Postgres {
    data: PathBuf,
    pub port: u16,
}

/// Where PostgreSQL's server programs are: on the PATH, or Debian's versioned folder.
fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin").join(name))
                .collect()
        })
        .unwrap_or_default();
    debian.sort();
    on_path
        .into_iter()
        .chain(debian.into_iter().rev())
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("PostgreSQL's `{name}` is not installed (.ci/run installs it)"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs a server program, as `postgres` when we are root.
fn run(name: &str, args: &[&str]) {
    if let Err(failed) = try_run(name, args) {
        panic!("{failed}");
    }
}

/// [`run`], its failure returned.
fn try_run(name: &str, args: &[&str]) -> Result<(), String> {
    let program = program(name);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command.args(args).output().unwrap();
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{name} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    pub fn start(dir: &Path) -> Self {
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.join("data");
        let data_text = data.to_str().unwrap();
        run(
            "initdb",
            &[
                "-D",
                data_text,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let log = dir.join("server.log");
        // A free port can be taken by another test's server before this one binds it: then
        // start again on another.
        let mut failed = String::new();
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
                dir.display()
            );
            let started = try_run(
                "pg_ctl",
                &[
                    "-D",
                    data_text,
                    "-o",
                    &options,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "start",
                ],
            );
            match started {
                Ok(()) => return Self { data, port },
                Err(why) => failed = why,
            }
        }
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("{failed}\n{server_log}")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap().to_string();
        let program = program("pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Runs a test body once per backend: `on_both_backends!(name, body)` makes `name::sqlite` and
/// `name::postgres`, each calling `body(&url)` with a database of its own.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::sqlite();
                super::$body(&db.url).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::postgres();
                super::$body(&db.url).await;
            }
        }
    };
}
