//! The demo's webhook receiver: `salesloft_api::webhooks::receiver` on a local port, its
//! verified events handed to the flow through a channel, so each is printed under the step
//! that caused it.

use crate::error::DemoError;
use crate::output::{Reporter, WebhookEvent};
use salesloft_api::Client;
use salesloft_api::webhooks::receiver::Receiver;
use salesloft_api::webhooks::{Delivery, Event, ensure_subscriptions, remove_subscriptions};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// The events the sandbox run subscribes to.
pub const FLOW_EVENTS: &[&str] = &[
    "person_created",
    "person_updated",
    "cadence_membership_created",
];

/// How long the flow waits for the event a step caused.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// A running receiver and the subscriptions that point at it.
pub struct EventFeed {
    pub callback_url: String,
    events: mpsc::UnboundedReceiver<Delivery>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A callback token no one can guess: the receiver verifies every delivery with it.
pub fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl EventFeed {
    /// Serves the receiver on `listen` (port 0: any free one); SalesLoft reaches it at
    /// `public_url` (by default the local address itself, which only a local sandbox reaches).
    pub async fn start(
        listen: SocketAddr,
        public_url: Option<&str>,
        token: &str,
    ) -> Result<Self, DemoError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| DemoError::Flow(format!("cannot listen for webhooks on {listen}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| DemoError::Flow(format!("cannot listen for webhooks: {e}")))?;
        let (sender, events) = mpsc::unbounded_channel();
        let receiver = Receiver::new(token.to_string(), move |delivery: Delivery| {
            let sent = sender.send(delivery).map_err(|_| "the demo has stopped");
            async move { sent }
        })
        .dedup(10_000);
        let server = tokio::spawn(receiver.serve(listener));
        Ok(Self {
            callback_url: public_url
                .map(str::to_string)
                .unwrap_or_else(|| format!("http://{address}/")),
            events,
            server,
        })
    }

    /// Subscribes the callback URL to `events` with `token`.
    pub async fn subscribe(
        &self,
        client: &Client,
        token: &str,
        events: &[&str],
    ) -> Result<usize, DemoError> {
        let done = ensure_subscriptions(client, &self.callback_url, token, events).await?;
        Ok(done.subscriptions.len())
    }

    pub async fn unsubscribe(&self, client: &Client) -> Result<usize, DemoError> {
        Ok(remove_subscriptions(client, &self.callback_url, &[]).await?)
    }

    /// Waits for an event of `event_type` and prints every event received until it comes.
    pub async fn show(
        &mut self,
        event_type: &str,
        out: &Reporter,
        seen: &mut Vec<WebhookEvent>,
    ) -> Result<(), DemoError> {
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            let Ok(Some(delivery)) = tokio::time::timeout_at(deadline, self.events.recv()).await
            else {
                return Err(DemoError::Flow(format!(
                    "no `{event_type}` webhook arrived within {} s",
                    EVENT_WAIT.as_secs()
                )));
            };
            let event = describe(&delivery);
            out.detail(&format!(
                "webhook {}: {} (signature verified)",
                event.event_type, event.summary
            ));
            let found = event.event_type == event_type;
            seen.push(event);
            if found {
                return Ok(());
            }
        }
    }

    /// The next event, printed; `None` once the receiver has stopped.
    pub async fn next(&mut self, out: &Reporter) -> Option<WebhookEvent> {
        let delivery = self.events.recv().await?;
        let event = describe(&delivery);
        out.note(&format!("webhook {}: {}", event.event_type, event.summary));
        Some(event)
    }
}

/// One line about an event's record.
fn describe(delivery: &Delivery) -> WebhookEvent {
    let id =
        |id: &Option<salesloft_api::Id>| id.as_ref().map_or("?".to_string(), ToString::to_string);
    let embedded = |e: &Option<salesloft_api::types::EmbeddedResource>| {
        e.as_ref().map_or("?".to_string(), |e| id(&e.id))
    };
    let summary = match &delivery.event {
        Event::PersonCreated(p) | Event::PersonUpdated(p) | Event::PersonDeleted(p) => format!(
            "person {} {} {} <{}>",
            id(&p.id),
            p.first_name.as_deref().unwrap_or_default(),
            p.last_name.as_deref().unwrap_or_default(),
            p.email_address.as_deref().unwrap_or_default()
        ),
        Event::CadenceMembershipCreated(m) | Event::CadenceMembershipUpdated(m) => format!(
            "membership {} (person {}, cadence {})",
            id(&m.id),
            embedded(&m.person),
            embedded(&m.cadence)
        ),
        other => {
            let event_type = other.event_type();
            let resource = event_type.rsplit_once('_').map_or(event_type, |(r, _)| r);
            format!("{resource} {}", id(&delivery.key.record_id))
        }
    };
    WebhookEvent {
        event_type: delivery.event.event_type().to_string(),
        record_id: delivery
            .key
            .record_id
            .as_ref()
            .and_then(salesloft_api::Id::as_i64),
        summary,
    }
}
