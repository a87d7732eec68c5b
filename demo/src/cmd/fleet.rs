//! `fleet`: a worker mirroring every connected team into the shared PostgreSQL (run it on as
//! many machines as the teams need); `fleet status`: each team as the fleet sees it.

use crate::cmd::connections::StoreArgs;
use crate::error::DemoError;
use crate::output::{Reporter, printable};
use salesloft_auth::OAuthApp;
use salesloft_mirror::fleet::{Fleet, FleetOptions, TeamStatus};
use std::time::Duration;

/// `fleet`'s flags.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub action: Option<FleetAction>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Teams mirrored at once by this worker.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// How long after a run a team is mirrored again (90s, 15m, 1h).
    #[arg(long, default_value = "15m", value_parser = duration)]
    pub interval: Duration,
    /// How long a team stays claimed without renewal: a killed worker's teams are taken over
    /// after this long.
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub lease: Duration,
    /// Stop once no team is due, instead of serving until Ctrl-C.
    #[arg(long)]
    pub once: bool,
    /// The share (0 to 1) of each team's 600-a-minute budget the fleet uses.
    #[arg(long, default_value_t = 1.0)]
    pub budget_share: f64,
    /// Serve this worker's webhook receiver (`/hooks/{team}`) and `/metrics` here
    /// (127.0.0.1:9100; port 0: any free one).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Where SalesLoft reaches the receiver's `/hooks` (https://fleet.example.com/hooks):
    /// each team is subscribed at `<URL>/<team>` when first mirrored. Needs --listen.
    #[arg(long)]
    pub hooks_url: Option<String>,
    /// A webhook delivery makes its team due within this (a burst of them is one run).
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub after_webhook: Duration,
    /// How often each team's changing resources are read whole, to find deletions whose
    /// webhook never arrived (a run alone reads only what changed).
    #[arg(long, default_value = "24h", value_parser = duration)]
    pub reconcile_every: Duration,
}

#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum FleetAction {
    /// Each team: its last good run, lag, rows, requests, cost and 429s today, errors,
    /// whether it needs connecting again, and the worker holding its lease.
    Status,
}

/// `90`, `90s`, `15m`, `2h`: a duration.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: give 90s, 15m or 2h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("`{text}` is not a duration: give 90s, 15m or 2h")),
    };
    if seconds == 0 {
        return Err("a duration of zero: give at least 1s".into());
    }
    Ok(Duration::from_secs(seconds))
}

pub async fn run(
    args: &FleetArgs,
    app: Option<&OAuthApp>,
    json: bool,
    out: &Reporter,
) -> Result<(), DemoError> {
    if let Some(FleetAction::Status) = args.action {
        let teams = salesloft_mirror::fleet::status(args.store.url()?).await?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&teams).unwrap_or_default()
            );
        } else {
            print!("{}", table(&teams));
        }
        return Ok(());
    }
    if !(0.0..=1.0).contains(&args.budget_share) || args.budget_share == 0.0 {
        return Err(DemoError::Input(
            "--budget-share is a share of each team's budget: more than 0, at most 1".into(),
        ));
    }
    let hooks_url = match (&args.hooks_url, args.listen) {
        (Some(_), None) => {
            return Err(DemoError::Input(
                "--hooks-url is where SalesLoft reaches this worker's receiver: give --listen too"
                    .into(),
            ));
        }
        (Some(url), Some(_)) => {
            let parsed = url::Url::parse(url)
                .map_err(|e| DemoError::Input(format!("--hooks-url `{}`: {e}", printable(url))))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
                return Err(DemoError::Input(format!(
                    "--hooks-url `{}`: give an http(s) URL without a query, ending in the receiver's /hooks",
                    printable(url)
                )));
            }
            Some(url.clone())
        }
        (None, _) => None,
    };
    let app = app.ok_or(DemoError::FleetWithoutApp)?;
    let encryption =
        salesloft_auth::connections::Encryption::from_env(args.store.plaintext_tokens)?;
    let options = FleetOptions {
        concurrency: args.concurrency,
        interval: args.interval,
        lease: args.lease,
        once: args.once,
        budget_share: args.budget_share,
        hooks_url,
        after_webhook: args.after_webhook,
        reconcile_every: args.reconcile_every,
        ..FleetOptions::default()
    };
    let fleet = Fleet::connect(args.store.url()?, encryption, app.clone(), options).await?;
    let _server = match args.listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
                DemoError::Input(format!("--listen {address}: cannot listen there: {e}"))
            })?;
            let local = listener
                .local_addr()
                .map_err(|e| DemoError::Input(format!("--listen {address}: {e}")))?;
            out.note(&format!(
                "Webhooks at http://{local}/hooks/<team>, metrics at http://{local}/metrics."
            ));
            let worker = fleet.clone();
            Some(AbortOnDrop(tokio::spawn(async move {
                worker.serve(listener).await
            })))
        }
        None => None,
    };
    out.note(&format!(
        "Fleet worker {} mirroring every connected team ({} at a time){}.",
        fleet.owner(),
        args.concurrency.max(1),
        if args.once {
            ", until none is due"
        } else {
            "; Ctrl-C stops"
        }
    ));
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let report = fleet.run(stop).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        out.note(&format!(
            "{} runs ({} good), {} teams taken over, {} requests.",
            report.runs, report.good_runs, report.takeovers, report.requests
        ));
    }
    Ok(())
}

/// The receiver, stopped with the worker.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The status as a text table; names and errors come from SalesLoft: made printable.
pub fn table(teams: &[TeamStatus]) -> String {
    if teams.is_empty() {
        return "No team in the fleet yet (connect teams with `salesloft connect`).\n".into();
    }
    let mut text = format!(
        "{:<12} {:<24} {:<13} {:>9} {:>8} {:>9} {:>9} {:>5} {:<28} {}\n",
        "team",
        "name",
        "connection",
        "lag",
        "rows",
        "req today",
        "cost",
        "429s",
        "lease holder",
        "error"
    );
    for t in teams {
        let cut = |s: &str, n: usize| printable(&s.chars().take(n).collect::<String>());
        let lag = t.lag_s.map_or("never".into(), |s| format!("{s:.0}s"));
        let error = t
            .reason
            .as_deref()
            .or(t.last_error.as_deref())
            .unwrap_or("");
        text.push_str(&format!(
            "{:<12} {:<24} {:<13} {:>9} {:>8} {:>9} {:>9} {:>5} {:<28} {}\n",
            t.team_id,
            cut(&t.team_name, 24),
            t.connection,
            lag,
            t.rows,
            t.requests_today,
            t.cost_today,
            t.rate_limited_today,
            cut(t.lease_holder.as_deref().unwrap_or("-"), 28),
            cut(error, 120),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(duration("0s").is_err() && duration("soon").is_err() && duration("5d").is_err());
    }
}
