//! `run` (the default): the person-plus-cadence flow.

use crate::connection::Connection;
use crate::error::DemoError;
use crate::event_feed;
use crate::flow::{self, FlowOptions};
use crate::output::{Report, Reporter};

/// The person-plus-cadence flow's flags.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowArgs {
    /// Remove what the run created (membership, person, and the account if it was new).
    #[arg(long)]
    pub cleanup: bool,
    /// The web app's base URL, for the links printed at the end.
    #[arg(
        long,
        env = "SALESLOFT_APP_URL",
        default_value = "https://app.salesloft.com"
    )]
    pub app_base_url: String,
}

/// The person-plus-cadence flow; on the built-in sandbox, with a local webhook receiver whose
/// events are printed under the steps that caused them.
pub async fn run(
    connection: &Connection,
    flow: &FlowArgs,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let client = &connection.client;
    let options = FlowOptions {
        app_base_url: flow.app_base_url.trim_end_matches('/').to_string(),
        cleanup: flow.cleanup,
        unix_time: chrono::Utc::now().timestamp(),
    };
    if connection.sandbox.is_none() {
        return flow::run(client, &options, out, report, None).await;
    }
    let token = event_feed::new_token();
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let mut feed = event_feed::EventFeed::start(local, None, &token).await?;
    let count = feed
        .subscribe(client, &token, event_feed::FLOW_EVENTS)
        .await?;
    out.note(&format!(
        "Subscribed a local webhook receiver ({}) to {count} event types: {}.",
        feed.callback_url,
        event_feed::FLOW_EVENTS.join(", ")
    ));
    flow::run(client, &options, out, report, Some(&mut feed)).await?;
    let removed = feed.unsubscribe(client).await?;
    out.note(&format!("Removed the {removed} webhook subscriptions."));
    Ok(())
}
