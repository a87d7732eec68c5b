//! Deduplication of deliveries on their [`EventKey`], in a bounded window of memory.
//!
//! An event counts as handled only once its handler succeeded: a delivery whose handler
//! failed must be handled when SalesLoft sends it again. A key whose record id or `updated_at`
//! is missing cannot tell two events apart, so it is never deduplicated.
//!
//! The window keeps a 20-byte digest of each key, not the key: its parts come from the
//! network (a string id, an `updated_at` of any length), and a window of 10,000 events must
//! hold 10,000 small entries whatever a sender put in them.

use super::EventKey;
use sha1::{Digest as _, Sha1};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// The keys of the last `capacity` events handled, and of those being handled now.
#[derive(Clone, Debug)]
pub struct Dedup {
    window: Arc<Mutex<Window>>,
}

#[derive(Debug, Default)]
struct Window {
    capacity: usize,
    handled: HashSet<KeyDigest>,
    order: VecDeque<KeyDigest>,
    in_flight: HashSet<KeyDigest>,
}

/// What the window remembers of an [`EventKey`]: SHA-1 of its parts, each length-prefixed
/// (so no two different keys run together into one text), the id in its text form (equal ids
/// read the same).
type KeyDigest = [u8; 20];

fn digest(key: &EventKey) -> KeyDigest {
    let mut hash = Sha1::new();
    let id = key.record_id.as_ref().map(|id| id.as_text());
    for part in [
        Some(key.event_type.as_str()),
        id.as_deref(),
        key.updated_at.as_deref(),
    ] {
        let part = part.unwrap_or_default();
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

/// What the window says of a delivery.
#[derive(Debug)]
pub enum Seen {
    /// Not handled yet: handle it, then call [`Claim::handled`].
    New(Claim),
    /// Handled before: acknowledge it, do not handle it again.
    AlreadyHandled,
    /// The same event is being handled right now by another delivery.
    BeingHandled,
}

/// The right to handle one event; dropped without [`Claim::handled`], the event stays new.
#[derive(Debug)]
pub struct Claim {
    window: Arc<Mutex<Window>>,
    key: Option<KeyDigest>,
}

impl Dedup {
    /// Remembers the last `capacity` events handled (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            window: Arc::new(Mutex::new(Window {
                capacity: capacity.max(1),
                ..Window::default()
            })),
        }
    }

    pub fn claim(&self, key: &EventKey) -> Seen {
        if !key.is_complete() {
            return Seen::New(Claim {
                window: self.window.clone(),
                key: None,
            });
        }
        let key = digest(key);
        let mut window = lock(&self.window);
        if window.handled.contains(&key) {
            return Seen::AlreadyHandled;
        }
        if !window.in_flight.insert(key) {
            return Seen::BeingHandled;
        }
        Seen::New(Claim {
            window: self.window.clone(),
            key: Some(key),
        })
    }

    /// How many handled events are remembered.
    pub fn len(&self) -> usize {
        lock(&self.window).handled.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Claim {
    /// The handler succeeded: later deliveries of this event are acknowledged unhandled.
    pub fn handled(mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut window = lock(&self.window);
        window.in_flight.remove(&key);
        if window.handled.insert(key) {
            window.order.push_back(key);
        }
        while window.order.len() > window.capacity {
            if let Some(oldest) = window.order.pop_front() {
                window.handled.remove(&oldest);
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.window).in_flight.remove(&key);
        }
    }
}

/// The window stays usable even if a handler panicked while a guard was held.
fn lock(window: &Mutex<Window>) -> MutexGuard<'_, Window> {
    window
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Id;

    fn key(id: i64) -> EventKey {
        EventKey {
            event_type: "person_updated".into(),
            record_id: Some(Id::from(id)),
            updated_at: Some("2024-01-01T00:00:00Z".into()),
        }
    }

    #[test]
    fn an_event_is_handled_once_and_only_after_success() {
        let dedup = Dedup::new(10);
        let Seen::New(claim) = dedup.claim(&key(1)) else {
            panic!()
        };
        assert!(matches!(dedup.claim(&key(1)), Seen::BeingHandled));
        drop(claim); // the handler failed
        let Seen::New(claim) = dedup.claim(&key(1)) else {
            panic!("a failed event stays new")
        };
        claim.handled();
        assert!(matches!(dedup.claim(&key(1)), Seen::AlreadyHandled));
    }

    #[test]
    fn the_window_is_bounded_and_incomplete_keys_are_never_deduplicated() {
        let dedup = Dedup::new(3);
        for id in 0..10 {
            let Seen::New(claim) = dedup.claim(&key(id)) else {
                panic!()
            };
            claim.handled();
        }
        assert_eq!(dedup.len(), 3);
        assert!(matches!(dedup.claim(&key(9)), Seen::AlreadyHandled));
        assert!(matches!(dedup.claim(&key(0)), Seen::New(_)), "forgotten");
        let mut partial = key(1);
        partial.updated_at = None;
        for _ in 0..2 {
            let Seen::New(claim) = dedup.claim(&partial) else {
                panic!()
            };
            claim.handled();
        }
    }
}
