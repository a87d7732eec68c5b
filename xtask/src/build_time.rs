//! `cargo xtask bench build`: what a user pays to build a program that calls `get_me` with
//! `salesloft-api`, against the same program on bare reqwest + serde + tokio with the same
//! features; both built clean (a target folder of their own each), debug, one after the
//! other in this run. Prints `consumer_build_seconds`, `bare_build_seconds` and
//! `consumer_build_ratio`. `BENCH_BUILD_API=<path of another checkout's salesloft-api>`
//! measures that one instead (a baseline).

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CONSUMER_MAIN: &str = r#"#[tokio::main]
async fn main() {
    let client = salesloft_api::Client::with_api_key("http://127.0.0.1:9", "ak_key").unwrap();
    let me = client.get_me().send().await;
    println!("{}", me.is_ok());
}
"#;

const BARE_MAIN: &str = r#"#[derive(serde::Deserialize)]
struct Me { data: serde_json::Value }

#[tokio::main]
async fn main() {
    let me = reqwest::Client::new()
        .get("http://127.0.0.1:9/v2/me.json")
        .bearer_auth("ak_key")
        .send()
        .await
        .and_then(|r| r.error_for_status());
    let ok = match me {
        Ok(r) => r.json::<Me>().await.map(|m| m.data.is_object()).unwrap_or(false),
        Err(_) => false,
    };
    println!("{ok}");
}
"#;

pub fn run() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the workspace root")?
        .to_path_buf();
    let scratch = tempdir()?;
    // Another checkout's salesloft-api, to measure a baseline in the same run.
    let api = std::env::var_os("BENCH_BUILD_API")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("salesloft-api"));
    let consumer = format!(
        "salesloft-api = {{ path = {:?} }}\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n",
        api.display().to_string()
    );
    // The same reqwest features salesloft-api uses, and what the bare program needs.
    let bare = "reqwest = { version = \"0.13\", default-features = false, features = [\"json\", \"query\", \"form\", \"rustls-no-provider\", \"http2\"] }\n\
                serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n\
                tokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }\n";
    let consumer_seconds = build(&scratch.join("consumer"), &consumer, CONSUMER_MAIN, &root)?;
    let bare_seconds = build(&scratch.join("bare"), bare, BARE_MAIN, &root)?;
    println!("consumer_build_seconds={consumer_seconds:.1}");
    println!("bare_build_seconds={bare_seconds:.1}");
    println!(
        "consumer_build_ratio={:.2}",
        consumer_seconds / bare_seconds
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Builds a fresh crate with `dependencies` and `main`, clean, pinned to the workspace's
/// lock file; the seconds it took.
fn build(dir: &Path, dependencies: &str, main: &str, root: &Path) -> Result<f64> {
    std::fs::create_dir_all(dir.join("src"))?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("consumer");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n[dependencies]\n{dependencies}"
        ),
    )?;
    std::fs::write(dir.join("src/main.rs"), main)?;
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Fetch first, so the time is building, not downloading.
    let fetched = Command::new(&cargo)
        .arg("fetch")
        .current_dir(dir)
        .status()?;
    if !fetched.success() {
        bail!("cargo fetch failed in {}", dir.display());
    }
    let started = Instant::now();
    let status = Command::new(&cargo)
        .args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .current_dir(dir)
        .status()?;
    if !status.success() {
        bail!("building {} failed", dir.display());
    }
    Ok(started.elapsed().as_secs_f64())
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("salesloft-build-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
