//! Project tasks: `cargo xtask regen-spec` and `cargo xtask bench`.

mod bench;
mod build_time;
mod normalize;
mod regen_spec;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Project tasks for the SalesLoft toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Normalize SalesLoft's published OpenAPI document into salesloft-openapi/swagger.json.
    RegenSpec {
        /// Read the upstream document from this file instead of downloading it.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        /// Write nothing; fail with a summary if swagger.json is not what the normalization produces.
        #[arg(long)]
        check: bool,
    },
    /// Run a benchmark: `mock`, `teams`, `client`, `webhooks`, `enroll`, `mirror`, `faults` (release mode), or
    /// `build` (a user's clean build). Prints `name=value` lines.
    Bench {
        #[arg(value_enum)]
        which: bench::Which,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::RegenSpec { from, check } => regen_spec::run(from.as_deref(), check),
        Command::Bench { which } => match which {
            bench::Which::Build => build_time::run(),
            which => bench::run(which),
        },
    }
}
