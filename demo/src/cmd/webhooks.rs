//! `webhooks`: print the team's events as they come.

use crate::error::DemoError;
use crate::event_feed;
use crate::output::Reporter;

#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct WebhooksOptions {
    /// The public HTTPS URL that reaches `--listen` (a tunnel or a public host).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Where the receiver listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The event types (default: every documented one).
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
}

/// `webhooks`: subscribes a receiver on `--listen` at `--public-url` and prints each verified
/// event until Ctrl-C, then unsubscribes. A local sandbox reaches the receiver directly.
pub async fn run(
    client: &salesloft_api::Client,
    options: &WebhooksOptions,
    local_sandbox: bool,
    out: &Reporter,
) -> Result<(), DemoError> {
    if options.public_url.is_none() && !local_sandbox {
        return Err(DemoError::NoPublicUrl(options.listen));
    }
    let events: Vec<&str> = if options.events.is_empty() {
        salesloft_api::webhooks::EVENT_TYPES.to_vec()
    } else {
        options.events.iter().map(String::as_str).collect()
    };
    let token = event_feed::new_token();
    let mut feed =
        event_feed::EventFeed::start(options.listen, options.public_url.as_deref(), &token).await?;
    let count = feed.subscribe(client, &token, &events).await?;
    out.note(&format!(
        "Listening on {} for {count} event types at {}; Ctrl-C stops and unsubscribes.",
        options.listen, feed.callback_url
    ));
    loop {
        tokio::select! {
            event = feed.next(out) => if event.is_none() { break },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let removed = feed.unsubscribe(client).await?;
    out.note(&format!("Removed the {removed} webhook subscriptions."));
    Ok(())
}
