//! `cargo run -p demo`: the SalesLoft person-plus-cadence flow, against the built-in sandbox
//! by default, or a real SalesLoft account when credentials are given.
//!
//! This file parses the command line and dispatches: [`connection`] turns the environment
//! into a client once (sandbox, API key or OAuth), then one module of [`cmd`] runs the
//! command, owning its arguments. [`flow`] is the person-plus-cadence flow itself,
//! [`event_feed`] the local webhook receiver, [`output`] what is printed.

pub mod cmd;
pub mod connection;
pub mod error;
pub mod event_feed;
pub mod flow;
pub mod output;
pub mod sandbox;

pub use connection::{ConnectionArgs, Env, SANDBOX_NOTE};

use clap::{Parser, Subcommand};
use connection::Mode;
use error::DemoError;
use output::{Report, Reporter};

#[derive(Parser, Debug)]
#[command(
    name = "salesloft",
    about = "The SalesLoft person-plus-cadence flow",
    long_about = "Runs the person-plus-cadence flow.\n\nNo credentials: the built-in local sandbox.\n\
                  SALESLOFT_APP_ID + SALESLOFT_APP_SECRET: your SalesLoft app (run `authorize` once, then `run`).\n\
                  SALESLOFT_API_KEY: an API key, no OAuth.",
    // `demo --cleanup` runs the flow; a subcommand takes its own flags after its name.
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The flow's flags, when no subcommand is named (`run` is the default).
    #[command(flatten)]
    pub flow: cmd::run::FlowArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Sign in with your SalesLoft app through https://localhost:8443 and store the credentials.
    Authorize(cmd::authorize::AuthorizeArgs),
    /// Run the flow with the stored credentials (the default).
    Run(cmd::run::FlowArgs),
    /// Subscribe a local receiver to webhooks and print each verified event until Ctrl-C, then
    /// unsubscribe. SalesLoft must reach the receiver from the internet: give its public URL.
    Webhooks(cmd::webhooks::WebhooksOptions),
    /// Put a list of people (a CSV file) on a cadence: companies by domain, people upserted by
    /// email (many in one bulk job), memberships for those not on it yet; without --cadence,
    /// the upserts only. Paced, resumable, never duplicated.
    Enroll(cmd::enroll::EnrollArgs),
    /// Mirror the team's data into a database (SQLite by default, or Postgres): every list
    /// resource, incremental where the API allows, crash-safe; --follow keeps it fresh.
    Mirror(cmd::mirror::MirrorArgs),
    /// Serve "Connect SalesLoft" for many teams (`/connect?tenant=X`), storing each team's
    /// connection in PostgreSQL, tokens sealed with SALESLOFT_TOKEN_KEY; renews tokens before
    /// they expire. Until Ctrl-C.
    Connect(cmd::connect::ConnectArgs),
    /// List the teams connected in a connections database (no secrets); `remove TEAM`;
    /// `rekey` after rotating SALESLOFT_TOKEN_KEY.
    Connections(cmd::connections::ConnectionsArgs),
    /// Mirror every connected team into the shared PostgreSQL, each in a schema of its own,
    /// with workers on any number of machines (leases in the database); `fleet status`.
    Fleet(cmd::fleet::FleetArgs),
}

impl Cli {
    /// The command to run: the one named, or the flow with the top-level flags.
    pub fn command(&self) -> Command {
        self.command
            .clone()
            .unwrap_or_else(|| Command::Run(self.flow.clone()))
    }
}

/// Runs the demo; the process exit code.
pub async fn main_with(cli: Cli, env: Env) -> i32 {
    let json = cli.connection.json;
    let out = Reporter::new(json);
    let mut report = Report::default();
    // These print their own document.
    let own_output = matches!(
        cli.command,
        Some(Command::Connect(_) | Command::Connections(_) | Command::Fleet(_))
    );
    match execute(&cli, &env, &out, &mut report).await {
        Ok(()) => {
            if json && !own_output {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            }
            0
        }
        Err(e) => {
            eprintln!("error: {}", e.one_line());
            1
        }
    }
}

/// The whole run: resolves the connection once, then runs the one command.
pub async fn execute(
    cli: &Cli,
    env: &Env,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let command = cli.command();
    if let Command::Connections(args) = &command {
        // The app's credentials, when given, let `remove` take the team's webhook
        // subscriptions away first (they need the team's tokens).
        let app = match connection::mode(&cli.connection, env) {
            Ok(Mode::OAuth(app, _)) => Some(app),
            _ => None,
        };
        return cmd::connections::run(args, app.as_ref(), cli.connection.json).await;
    }
    let mode = connection::mode(&cli.connection, env)?;
    if let Command::Connect(args) = &command {
        let Mode::OAuth(app, _) = &mode else {
            return Err(DemoError::ConnectWithoutApp);
        };
        return cmd::connect::run(args, app, out).await;
    }
    if let Command::Fleet(args) = &command {
        let app = match &mode {
            Mode::OAuth(app, _) => Some(app),
            _ => None,
        };
        return cmd::fleet::run(args, app, cli.connection.json, out).await;
    }
    if let Command::Authorize(args) = &command {
        let Mode::OAuth(app, store) = &mode else {
            return Err(DemoError::AuthorizeWithoutApp);
        };
        report.mode = "authorize".into();
        return cmd::authorize::run(args, app, store, out).await;
    }
    let budget_share = match &command {
        Command::Enroll(args) => args.budget_share,
        Command::Mirror(args) => args.budget_share,
        _ => 1.0,
    };
    let connection = connection::connect(mode, &cli.connection, budget_share, out, report).await?;
    let client = &connection.client;
    let local_sandbox = connection.sandbox.is_some();
    match &command {
        Command::Run(flow) => cmd::run::run(&connection, flow, out, report).await,
        Command::Webhooks(options) => cmd::webhooks::run(client, options, local_sandbox, out).await,
        Command::Enroll(args) => {
            let target = salesloft_api::ClientInfo::baseurl(client).to_string();
            let json = cli.connection.json;
            cmd::enroll::run(client, args, &target, local_sandbox, json, out).await
        }
        Command::Mirror(args) => {
            cmd::mirror::run(&connection, args, cli.connection.json, out).await
        }
        Command::Authorize(_) => Err(DemoError::AuthorizeWithoutApp),
        Command::Connect(_) | Command::Connections(_) | Command::Fleet(_) => {
            unreachable!("answered above")
        }
    }
}

/// The demo's session on a sandbox: [`sandbox::session`].
pub use sandbox::session as sandbox_session;
