//! `cargo xtask bench <mock|teams|client|webhooks|enroll|mirror|faults|tokens|fleet>`: runs the benchmark targets in release mode.
//!
//! The benchmarks are ordinary `harness = false` bench targets, so they build with the crates
//! they measure; this task only picks the right one.

use anyhow::{Result, bail};
use std::process::Command;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// GET person throughput of salesloft-mock.
    Mock,
    /// Resident memory of the sandbox serving 500 teams of 1,000 people, against one team of
    /// as many people.
    Teams,
    /// The client's overhead, sync cost and refresh behaviour against salesloft-mock.
    Client,
    /// Webhooks: 10,000 changes delivered with refusals and duplicates; verification speed.
    Webhooks,
    /// Enrolling 10,000 rows on a simulated clock, with 5 kills and resumes.
    Enroll,
    /// Mirroring a team of 50,000 people into SQLite and Postgres, with changes, deletions,
    /// webhook faults and 5 kills.
    Mirror,
    /// `salesloft mirror` of 1,500 people with one fault of each kind, and a storm of 40.
    Faults,
    /// 100 teams' rotating tokens shared by 8 processes through Postgres, with kills (one
    /// holding a refresh lock) and a revoked team.
    Tokens,
    /// 200 teams mirrored by 4 worker processes through one Postgres, with 6 kills, webhooks
    /// with drops, a last reconciling pass, and every team's schema compared.
    Fleet,
    /// A clean build of a program using salesloft-api against the same on bare reqwest.
    Build,
}

pub fn run(which: Which) -> Result<()> {
    let (package, bench) = match which {
        Which::Mock => ("salesloft-mock", "get_person"),
        Which::Teams => ("salesloft-mock", "teams"),
        Which::Client => ("tests", "client"),
        Which::Webhooks => ("tests", "webhooks"),
        Which::Enroll => ("tests", "enroll"),
        Which::Mirror => ("tests", "mirror"),
        Which::Faults => ("tests", "faults"),
        Which::Tokens => ("tests", "tokens"),
        Which::Fleet => ("tests", "fleet"),
        Which::Build => bail!("`bench build` is not a bench target (build_time.rs runs it)"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The client is measured against the sandbox in its own process, and the mirror's
    // memory as the demo's own process.
    let binary = match which {
        Which::Client => Some(("salesloft-mock", "salesloft-mock")),
        Which::Mirror | Which::Faults => Some(("demo", "salesloft")),
        _ => None,
    };
    if let Some((package, bin)) = binary {
        let build = ["build", "--release", "-p", package, "--bin", bin];
        let status = Command::new(&cargo).args(build).status()?;
        if !status.success() {
            bail!("building {package} failed ({status})");
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
