//! The incremental cursor: where a read of one resource stands, committed with each page's
//! rows. Pure: given the cursor and a page, it says which records are new, what the next
//! request is and whether the read is done; the reading and the writing are elsewhere.
//!
//! An incremental read asks page 1 sorted by `updated_at`, from the newest instant written
//! (`updated_at[gte]`, the ids already written at that instant skipped). A full page all at
//! one instant cannot be passed that way, so that instant is walked by page number
//! (`updated_at[gte]` and `[lte]` the instant), then the read goes on strictly after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a read stands (kept per resource, committed with each page).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    /// The newest `updated_at` written, as the service sent it.
    pub(crate) since: Option<String>,
    /// Ids written at that instant.
    pub(crate) seen: Vec<String>,
    /// Walking one instant's records by page number (a full page all at `since`).
    pub(crate) within_page: Option<i64>,
    /// After walking that instant: strictly newer records.
    pub(crate) after: bool,
    /// A whole read: the next page (or, walking by `id[gt]`, the last id read), and the run's
    /// mark.
    pub(crate) page: Option<i64>,
    pub(crate) after_id: Option<i64>,
    pub(crate) run: Option<String>,
}

impl Cursor {
    /// The page number the next request asks for.
    pub fn page_to_ask(&self) -> i64 {
        self.within_page.unwrap_or(1)
    }

    /// The next request's query, `per_page` records a page.
    pub fn request(&self, per_page: usize) -> Vec<(String, String)> {
        let mut query = vec![
            ("sort_by".to_string(), "updated_at".to_string()),
            ("sort_direction".to_string(), "ASC".to_string()),
            ("per_page".to_string(), per_page.to_string()),
            ("page".to_string(), self.page_to_ask().to_string()),
        ];
        if let Some(since) = &self.since {
            if self.after {
                query.push(("updated_at[gt]".into(), since.clone()));
            } else {
                query.push(("updated_at[gte]".into(), since.clone()));
            }
            if self.within_page.is_some() {
                query.push(("updated_at[lte]".into(), since.clone()));
            }
        }
        query
    }

    /// Whether `record` is new to the cursor (and notes it): newer than `since`, or at
    /// `since` with an id not written yet.
    pub fn take(&mut self, record: &Map<String, Value>) -> bool {
        let Some(at) = updated_at(record) else {
            return true;
        };
        let id = record.get("id").and_then(crate::db::text_of);
        let since = self.since.as_deref().and_then(parse_time);
        match since {
            Some(since) if at < since => false,
            Some(since) if at == since => match id {
                Some(id) if self.seen.contains(&id) => false,
                Some(id) => {
                    self.seen.push(id);
                    true
                }
                None => true,
            },
            _ => {
                self.since = record
                    .get("updated_at")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.seen = id.into_iter().collect();
                true
            }
        }
    }

    /// After a page whose records had `stamps` (their `updated_at`, in order): moves to the
    /// next request; true when the read is done.
    pub fn advance(&mut self, stamps: &[Option<DateTime<Utc>>], per_page: usize) -> bool {
        let full = stamps.len() >= per_page;
        let one_instant =
            full && stamps.first().is_some_and(Option::is_some) && stamps.first() == stamps.last();
        match (self.within_page, full) {
            (Some(page), true) => {
                self.within_page = Some(page + 1);
                false
            }
            (Some(_), false) => {
                self.within_page = None;
                self.after = true;
                false
            }
            (None, _) if one_instant => {
                self.within_page = Some(2);
                false
            }
            (None, true) => {
                self.after = false;
                false
            }
            (None, false) => {
                self.after = false;
                true
            }
        }
    }
}

/// A record's `updated_at`, when it has one the mirror can read.
pub fn updated_at(record: &Map<String, Value>) -> Option<DateTime<Utc>> {
    record
        .get("updated_at")
        .and_then(Value::as_str)
        .and_then(parse_time)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: i64, at: &str) -> Map<String, Value> {
        json!({"id": id, "updated_at": at})
            .as_object()
            .unwrap()
            .clone()
    }

    fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Feeds a page: the records the cursor takes (their ids) and whether the read is done.
    fn page(
        cursor: &mut Cursor,
        records: &[Map<String, Value>],
        per_page: usize,
    ) -> (Vec<i64>, bool) {
        let stamps: Vec<_> = records.iter().map(updated_at).collect();
        let taken = records
            .iter()
            .filter(|r| cursor.take(r))
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        (taken, cursor.advance(&stamps, per_page))
    }

    const T1: &str = "2026-01-01T10:00:00.000001-05:00";
    const T2: &str = "2026-01-01T10:00:00.000002-05:00";

    #[test]
    fn a_first_read_asks_page_one_sorted_without_a_bracket() {
        let query = Cursor::default().request(100);
        assert_eq!(param(&query, "page"), Some("1"));
        assert_eq!(param(&query, "sort_by"), Some("updated_at"));
        assert_eq!(param(&query, "sort_direction"), Some("ASC"));
        assert_eq!(param(&query, "updated_at[gte]"), None);
    }

    #[test]
    fn a_short_page_ends_the_read_and_the_next_starts_at_the_newest_instant() {
        let mut cursor = Cursor::default();
        let (taken, done) = page(&mut cursor, &[record(1, T1), record(2, T2)], 3);
        assert_eq!((taken, done), (vec![1, 2], true));
        let query = cursor.request(3);
        assert_eq!(param(&query, "updated_at[gte]"), Some(T2));
        assert_eq!(param(&query, "page"), Some("1"));
        // The record at that instant already written is not taken again; a newer one is.
        let (taken, done) = page(&mut cursor, &[record(2, T2), record(3, T2)], 3);
        assert_eq!((taken, done), (vec![3], true));
    }

    #[test]
    fn a_full_page_goes_on_from_page_one_of_what_is_newer() {
        let mut cursor = Cursor::default();
        let (taken, done) = page(&mut cursor, &[record(1, T1), record(2, T2)], 2);
        assert_eq!((taken, done), (vec![1, 2], false));
        assert_eq!(param(&cursor.request(2), "page"), Some("1"));
        assert_eq!(param(&cursor.request(2), "updated_at[gte]"), Some(T2));
    }

    #[test]
    fn a_full_page_at_one_instant_is_walked_by_page_then_passed() {
        let mut cursor = Cursor::default();
        let (taken, done) = page(&mut cursor, &[record(1, T1), record(2, T1)], 2);
        assert_eq!((taken, done), (vec![1, 2], false));
        let query = cursor.request(2);
        assert_eq!(param(&query, "page"), Some("2"));
        assert_eq!(param(&query, "updated_at[gte]"), Some(T1));
        assert_eq!(param(&query, "updated_at[lte]"), Some(T1));
        let (taken, done) = page(&mut cursor, &[record(3, T1), record(4, T1)], 2);
        assert_eq!((taken, done), (vec![3, 4], false));
        assert_eq!(param(&cursor.request(2), "page"), Some("3"));
        // The instant's last page is short: next, strictly after it, from page 1.
        let (taken, done) = page(&mut cursor, &[record(5, T1)], 2);
        assert_eq!((taken, done), (vec![5], false));
        let query = cursor.request(2);
        assert_eq!(param(&query, "page"), Some("1"));
        assert_eq!(param(&query, "updated_at[gt]"), Some(T1));
        assert_eq!(param(&query, "updated_at[lte]"), None);
        let (taken, done) = page(&mut cursor, &[record(6, T2)], 2);
        assert_eq!((taken, done), (vec![6], true));
        assert_eq!(param(&cursor.request(2), "updated_at[gte]"), Some(T2));
    }

    #[test]
    fn older_records_and_records_without_a_time_are_handled() {
        let mut cursor = Cursor::default();
        page(&mut cursor, &[record(1, T2)], 5);
        assert!(!cursor.take(&record(9, T1)), "older than the cursor");
        let untimed = json!({"id": 7}).as_object().unwrap().clone();
        assert!(cursor.take(&untimed), "no time: always written");
        assert_eq!(cursor.since.as_deref(), Some(T2));
    }
}
