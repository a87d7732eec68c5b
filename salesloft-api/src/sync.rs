//! Incremental sync, as SalesLoft recommends: `sort_by=updated_at`, `sort_direction=ASC`,
//! `updated_at[gte]=<cursor>`, `per_page=100`, dropping the ids already seen at the cursor's
//! timestamp. Every request is a page-1 request (cost 1) however many records there are.
//!
//! When a full page shares one `updated_at`, asking again from that timestamp would return the
//! same page forever: the sync then walks that one timestamp by page number
//! (`updated_at[gte]=T&updated_at[lte]=T&page=2..`) and goes on with `updated_at[gt]=T`.
//! The [`SyncCursor`] can be stored and given back later to resume.

use crate::error::ApiError;
use crate::pagination::ListEnvelope;
use crate::types::ErrorBody;
use chrono::{DateTime, Utc};
use progenitor_client::ResponseValue;
use std::collections::VecDeque;
use std::future::Future;

pub const PER_PAGE: i64 = 100;

/// A record that incremental sync can follow (every resource with an id and an `updated_at`;
/// implemented by the build script). Ids may be integers or strings (team templates have
/// GUIDs): the cursor keeps them as they came.
pub trait Synced {
    fn record_id(&self) -> Option<crate::Id>;
    fn record_updated_at(&self) -> Option<DateTime<Utc>>;
}

/// Where a sync stands: the newest `updated_at` seen and the ids seen at that instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncCursor {
    pub since: Option<DateTime<Utc>>,
    /// Integers or strings (a cursor stored with integer ids reads back the same).
    pub seen_at_since: Vec<crate::Id>,
}

/// The filters of one sync request; map it onto a list builder with [`sync_request!`](crate::sync_request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncWindow {
    pub gte: Option<DateTime<Utc>>,
    pub gt: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
    pub page: i64,
}

/// Applies a [`SyncWindow`] to a list builder that has the `updated_at` filters, and sends it.
///
/// ```no_run
/// # async fn f(client: salesloft_api::Client) {
/// use salesloft_api::sync::{IncrementalSync, SyncCursor};
/// let mut notes = IncrementalSync::new(SyncCursor::default(), |window| {
///     let client = client.clone();
///     async move { salesloft_api::sync_request!(client.list_notes(), window).await }
/// });
/// while let Some(note) = notes.next().await {
///     let note = note.expect("a note");
/// }
/// let resume_from = notes.cursor().clone();
/// # }
/// ```
#[macro_export]
macro_rules! sync_request {
    ($builder:expr, $window:expr) => {{
        let window: $crate::sync::SyncWindow = $window;
        let mut builder = $builder
            .sort_by("updated_at")
            .sort_direction("ASC")
            .per_page($crate::sync::PER_PAGE)
            .page(window.page);
        if let Some(at) = window.gte {
            builder = builder.updated_at_gte(at);
        }
        if let Some(at) = window.gt {
            builder = builder.updated_at_gt(at);
        }
        if let Some(at) = window.lte {
            builder = builder.updated_at_lte(at);
        }
        builder.send()
    }};
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Page 1 from the cursor (`[gte]`).
    FromCursor,
    /// Walking the cursor's own timestamp by page number.
    WithinTimestamp {
        page: i64,
    },
    /// Page 1 strictly after the cursor (`[gt]`), once its timestamp is exhausted.
    AfterTimestamp,
    Done,
}

/// Items changed since a cursor, oldest first; holds at most one page.
pub struct IncrementalSync<E: ListEnvelope, F> {
    fetch: F,
    cursor: SyncCursor,
    buffer: VecDeque<E::Item>,
    phase: Phase,
    requests: u64,
}

impl<E, F, Fut> IncrementalSync<E, F>
where
    E: ListEnvelope,
    E::Item: Synced,
    F: FnMut(SyncWindow) -> Fut,
    Fut: Future<Output = Result<ResponseValue<E>, progenitor_client::Error<ErrorBody>>>,
{
    pub fn new(cursor: SyncCursor, fetch: F) -> Self {
        Self {
            fetch,
            cursor,
            buffer: VecDeque::new(),
            phase: Phase::FromCursor,
            requests: 0,
        }
    }

    /// Where the sync stands; store it to resume later.
    pub fn cursor(&self) -> &SyncCursor {
        &self.cursor
    }

    /// How many list requests the sync has sent.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn window(&self) -> Option<SyncWindow> {
        let since = self.cursor.since;
        let none = SyncWindow {
            gte: None,
            gt: None,
            lte: None,
            page: 1,
        };
        Some(match self.phase {
            Phase::FromCursor => SyncWindow { gte: since, ..none },
            Phase::WithinTimestamp { page } => SyncWindow {
                gte: since,
                lte: since,
                page,
                ..none
            },
            Phase::AfterTimestamp => SyncWindow { gt: since, ..none },
            Phase::Done => return None,
        })
    }

    /// The next changed record; `None` once caught up. After an error, calling again retries
    /// the same request.
    pub async fn next(&mut self) -> Option<Result<E::Item, ApiError>> {
        loop {
            // The cursor moves as records are handed out, not as pages arrive: a cursor
            // stored in the middle of a page resumes at the next record.
            while let Some(item) = self.buffer.pop_front() {
                if self.take(&item) {
                    return Some(Ok(item));
                }
            }
            let window = self.window()?;
            self.requests += 1;
            let data = match (self.fetch)(window).await {
                Ok(response) => response.into_inner().into_parts().0,
                Err(e) => return Some(Err(ApiError::from(e))),
            };
            self.phase = self.next_phase(&data);
            self.buffer = data.into();
        }
    }

    /// Records `item` in the cursor; false if it was already seen. A record without an id
    /// still moves the cursor (it cannot be told apart from another at the same instant, so
    /// it is handed out again if asked for again: never lost, never a loop).
    fn take(&mut self, item: &E::Item) -> bool {
        let Some(at) = item.record_updated_at() else {
            return true;
        };
        let id = item.record_id();
        match self.cursor.since {
            Some(since) if at < since => false,
            Some(since) if at == since => {
                if let Some(id) = id {
                    if self.cursor.seen_at_since.contains(&id) {
                        return false;
                    }
                    self.cursor.seen_at_since.push(id);
                }
                true
            }
            _ => {
                self.cursor.since = Some(at);
                self.cursor.seen_at_since = id.into_iter().collect();
                true
            }
        }
    }

    fn next_phase(&self, data: &[E::Item]) -> Phase {
        let full = data.len() as i64 >= PER_PAGE;
        let first = data.first().and_then(Synced::record_updated_at);
        let last = data.last().and_then(Synced::record_updated_at);
        let one_timestamp = full && first.is_some() && first == last;
        match self.phase {
            Phase::WithinTimestamp { page } if full => Phase::WithinTimestamp { page: page + 1 },
            Phase::WithinTimestamp { .. } => Phase::AfterTimestamp,
            _ if one_timestamp => Phase::WithinTimestamp { page: 2 },
            _ if full => Phase::FromCursor,
            _ => Phase::Done,
        }
    }
}
