//! `connections`: the teams connected in a connections database (as `connect` or a product
//! stores them), listed without secrets; `connections remove TEAM`; `connections rekey`.

use crate::error::DemoError;
use crate::output::printable;
use salesloft_auth::connections::{ConnectionInfo, Encryption, PgConnections};

/// The connections database, for every command that uses one.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct StoreArgs {
    /// The connections database (PostgreSQL): postgres://user@host/db.
    #[arg(
        long,
        env = "SALESLOFT_CONNECTIONS_DB",
        value_name = "URL",
        global = true
    )]
    pub db: Option<String>,
    /// Keep tokens in the clear when SALESLOFT_TOKEN_KEY is not set: for a throwaway local
    /// database only.
    #[arg(long, global = true)]
    pub plaintext_tokens: bool,
}

impl StoreArgs {
    /// The database URL, given before or after a subcommand's name, or from the environment.
    pub fn url(&self) -> Result<&str, DemoError> {
        self.db.as_deref().ok_or_else(|| {
            DemoError::Input(
                "which database? give --db postgres://user@host/db (or set SALESLOFT_CONNECTIONS_DB)"
                    .into(),
            )
        })
    }

    /// The store; `needs_key`: refuse to go on without SALESLOFT_TOKEN_KEY (unless plaintext
    /// was asked for). Listing and removing open no token, so they need no key.
    pub async fn open(&self, needs_key: bool) -> Result<PgConnections, DemoError> {
        let encryption = Encryption::from_env(self.plaintext_tokens || !needs_key)?;
        Ok(PgConnections::connect(self.url()?, encryption, 4).await?)
    }
}

/// `connections`' flags.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ConnectionsArgs {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Forget a team's connection (its tokens are deleted; to revoke the app's access too, an
    /// admin of the team disconnects the app in SalesLoft).
    Remove {
        /// The SalesLoft team id (as `connections` lists it).
        team: i64,
    },
    /// Seal every token again with SALESLOFT_TOKEN_KEY (after moving the old key to
    /// SALESLOFT_TOKEN_KEY_OLD), or seal tokens kept in the clear.
    Rekey,
}

pub async fn run(
    args: &ConnectionsArgs,
    app: Option<&salesloft_auth::OAuthApp>,
    json: bool,
) -> Result<(), DemoError> {
    match &args.action {
        None => {
            let store = args.store.open(false).await?;
            let listed = store.list().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&listed).unwrap_or_default()
                );
            } else {
                print!("{}", table(&listed));
            }
        }
        Some(Action::Remove { team }) => {
            let unsubscribed = unsubscribe(args, app, *team).await;
            let store = args.store.open(false).await?;
            let removed = store.remove(*team).await?;
            if !removed {
                return Err(DemoError::Input(format!(
                    "team {team} has no connection in this database (`salesloft connections` lists them)"
                )));
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "removed": team,
                        "subscriptions_removed": unsubscribed.as_ref().ok(),
                        "subscriptions_left": unsubscribed.as_ref().err(),
                    })
                );
            } else {
                println!("Removed the connection of team {team}.");
                match &unsubscribed {
                    Ok(0) => {}
                    Ok(n) => println!("Removed its {n} webhook subscription(s)."),
                    Err(why) => eprintln!("warning: its webhook subscriptions were left: {why}"),
                }
            }
        }
        Some(Action::Rekey) => {
            let store = args.store.open(true).await?;
            let rewritten = store.rekey().await?;
            if json {
                println!("{}", serde_json::json!({ "rekeyed": rewritten }));
            } else {
                println!("Sealed {rewritten} connection(s) again with SALESLOFT_TOKEN_KEY.");
            }
        }
    }
    Ok(())
}

/// Takes away the webhook subscriptions a fleet made for `team`, which needs the team's tokens
/// (the key) and the app (to refresh them): how many, or why they were left.
async fn unsubscribe(
    args: &ConnectionsArgs,
    app: Option<&salesloft_auth::OAuthApp>,
    team: i64,
) -> Result<usize, String> {
    let url = args.store.url().map_err(|e| e.to_string())?;
    match salesloft_mirror::fleet::subscribed_at(url, team).await {
        Ok(None) => return Ok(0),
        Ok(Some(_)) => {}
        Err(e) => return Err(e.to_string()),
    }
    let Some(app) = app else {
        return Err("set SALESLOFT_APP_ID and SALESLOFT_APP_SECRET to remove them too".into());
    };
    let store = args.store.open(true).await.map_err(|e| e.to_string())?;
    salesloft_mirror::fleet::unsubscribe(url, &store, app, team)
        .await
        .map_err(|e| e.to_string())
}

/// The listing as a text table; every value is made printable (names come from SalesLoft).
pub fn table(listed: &[ConnectionInfo]) -> String {
    if listed.is_empty() {
        return "No team is connected.\n".to_string();
    }
    let mut text = format!(
        "{:<12} {:<28} {:<20} {:<13} {:<20} {}\n",
        "team", "name", "tenant", "status", "expires", "note"
    );
    for c in listed {
        let note = match (&c.status, &c.last_error) {
            (salesloft_auth::connections::Status::NeedsReauth(reason), _) => reason.clone(),
            (_, Some(error)) => error.clone(),
            _ => String::new(),
        };
        let cut = |s: &str, n: usize| printable(&s.chars().take(n).collect::<String>());
        text.push_str(&format!(
            "{:<12} {:<28} {:<20} {:<13} {:<20} {}\n",
            c.team_id,
            cut(&c.team_name, 28),
            cut(c.tenant.as_deref().unwrap_or(""), 20),
            c.status.name(),
            c.expires_at.format("%Y-%m-%d %H:%M:%S"),
            cut(&note, 120),
        ));
    }
    text
}
