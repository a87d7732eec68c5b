//! `cargo xtask bench <mock|client|webhooks|enroll>`: runs the benchmark targets in release mode.
//!
//! The benchmarks are ordinary `harness = false` bench targets, so they build with the crates
//! they measure; this task only picks the right one.

use anyhow::{Result, bail};
use std::process::Command;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// GET person throughput of salesloft-mock.
    Mock,
    /// The client's overhead, sync cost and refresh behaviour against salesloft-mock.
    Client,
    /// Webhooks: 10,000 changes delivered with refusals and duplicates; verification speed.
    Webhooks,
    /// Enrolling 10,000 rows on a simulated clock, with 5 kills and resumes.
    Enroll,
}

pub fn run(which: Which) -> Result<()> {
    let (package, bench) = match which {
        Which::Mock => ("salesloft-mock", "get_person"),
        Which::Client => ("tests", "client"),
        Which::Webhooks => ("tests", "webhooks"),
        Which::Enroll => ("tests", "enroll"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if let Which::Client = which {
        // The client is measured against the sandbox running in its own process.
        let build = [
            "build",
            "--release",
            "-p",
            "salesloft-mock",
            "--bin",
            "salesloft-mock",
        ];
        let status = Command::new(&cargo).args(build).status()?;
        if !status.success() {
            bail!("building salesloft-mock failed ({status})");
        }
    }
    let status = Command::new(cargo)
        .args(["bench", "-p", package, "--bench", bench])
        .status()?;
    if !status.success() {
        bail!("benchmark {package}/{bench} failed ({status})");
    }
    Ok(())
}
