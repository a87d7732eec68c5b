//! Keeping a callback URL subscribed to the events it wants, through the generated client.
//!
//! SalesLoft keeps one subscription per event type and callback URL (SERVICE.md §7); it signs
//! each delivery with that subscription's `callback_token`, so a subscription with another
//! token is of no use to a receiver that verifies with ours.

use crate::types::{self, Subscription};
use crate::{ApiError, Client, Id};

/// What [`ensure_subscriptions`] found and did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Subscribed {
    /// One enabled subscription per event asked for.
    pub subscriptions: Vec<Subscription>,
    pub created: usize,
    /// Existing ones that were disabled and are enabled again.
    pub enabled: usize,
    /// Subscriptions of this URL and event with another token, removed once ours existed.
    pub replaced: usize,
}

/// What to undo if a later step fails.
enum Undo {
    Delete(i64),
    Disable(i64),
}

/// Makes sure `callback_url` has an enabled subscription with `callback_token` for each of
/// `events`: lists what exists and creates only what is missing, enabling disabled ones. If
/// one step fails, what this call created or enabled is undone before the error is returned.
pub async fn ensure_subscriptions(
    client: &Client,
    callback_url: &str,
    callback_token: &str,
    events: &[&str],
) -> Result<Subscribed, ApiError> {
    let existing = all_subscriptions(client).await?;
    let mut undo = Vec::new();
    match subscribe(
        client,
        &existing,
        callback_url,
        callback_token,
        events,
        &mut undo,
    )
    .await
    {
        Ok(done) => Ok(done),
        Err(error) => {
            // Best effort: the first error is the one the caller needs.
            for step in undo.into_iter().rev() {
                let _ = match step {
                    Undo::Delete(id) => client
                        .delete_webhook_subscription()
                        .id(id)
                        .call()
                        .await
                        .map(drop),
                    Undo::Disable(id) => set_enabled(client, id, false).await.map(drop),
                };
            }
            Err(error)
        }
    }
}

async fn subscribe(
    client: &Client,
    existing: &[Subscription],
    callback_url: &str,
    callback_token: &str,
    events: &[&str],
    undo: &mut Vec<Undo>,
) -> Result<Subscribed, ApiError> {
    let mut done = Subscribed::default();
    let mut stale = Vec::new();
    let mut wanted: Vec<&str> = events.to_vec();
    wanted.dedup();
    for event in wanted {
        let same_target = |s: &&Subscription| {
            s.callback_url.as_deref() == Some(callback_url)
                && s.event_type.as_deref() == Some(event)
        };
        let ours = existing
            .iter()
            .filter(same_target)
            .find(|s| s.callback_token.as_deref() == Some(callback_token));
        stale.extend(
            existing
                .iter()
                .filter(same_target)
                .filter(|s| s.callback_token.as_deref() != Some(callback_token))
                .filter_map(|s| id_of(s).ok()),
        );
        let subscription = match ours {
            Some(found) if found.enabled != Some(false) => found.clone(),
            Some(disabled) => {
                let id = id_of(disabled)?;
                let enabled = set_enabled(client, id, true).await?;
                undo.push(Undo::Disable(id));
                done.enabled += 1;
                enabled
            }
            None => {
                let created = client
                    .create_webhook_subscription()
                    .body_map(|b| {
                        b.callback_url(callback_url.to_string())
                            .callback_token(callback_token.to_string())
                            .event_type(event.to_string())
                    })
                    .call()
                    .await?
                    .into_inner()
                    .data;
                if let Ok(id) = id_of(&created) {
                    undo.push(Undo::Delete(id));
                }
                done.created += 1;
                created
            }
        };
        done.subscriptions.push(subscription);
    }
    for id in stale {
        client.delete_webhook_subscription().id(id).call().await?;
        done.replaced += 1;
    }
    Ok(done)
}

/// Removes every subscription of `callback_url` for `events` (all of its events when `events`
/// is empty); returns how many were removed.
pub async fn remove_subscriptions(
    client: &Client,
    callback_url: &str,
    events: &[&str],
) -> Result<usize, ApiError> {
    let existing = all_subscriptions(client).await?;
    let mut removed = 0;
    for subscription in existing.iter().filter(|s| {
        s.callback_url.as_deref() == Some(callback_url)
            && (events.is_empty() || s.event_type.as_deref().is_some_and(|e| events.contains(&e)))
    }) {
        client
            .delete_webhook_subscription()
            .id(id_of(subscription)?)
            .call()
            .await?;
        removed += 1;
    }
    Ok(removed)
}

/// Every subscription of the team (the list is not paged).
async fn all_subscriptions(client: &Client) -> Result<Vec<Subscription>, ApiError> {
    Ok(client
        .list_webhook_subscriptions()
        .call()
        .await?
        .into_inner()
        .data)
}

async fn set_enabled(client: &Client, id: i64, enabled: bool) -> Result<Subscription, ApiError> {
    let body = types::UpdateWebhookSubscriptionBody {
        enabled: Some(enabled),
    };
    Ok(client
        .update_webhook_subscription()
        .id(id)
        .body(body)
        .call()
        .await?
        .into_inner()
        .data)
}

fn id_of(subscription: &Subscription) -> Result<i64, ApiError> {
    subscription
        .id
        .as_ref()
        .and_then(Id::as_i64)
        .ok_or_else(|| {
            ApiError::InvalidRequest(
                "SalesLoft returned a webhook subscription without an integer id".into(),
            )
        })
}
