//! What the demo reports: a line per step as it happens, or one JSON document at the end.

use serde::Serialize;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub mode: String,
    pub user: Option<User>,
    pub person: Option<Person>,
    pub account: Option<Account>,
    pub membership: Option<Membership>,
    pub links: Links,
    pub cleaned_up: bool,
    /// The verified webhook events the run received (sandbox mode).
    pub webhooks: Vec<WebhookEvent>,
}

#[derive(Debug, Serialize)]
pub struct WebhookEvent {
    pub event_type: String,
    pub record_id: Option<i64>,
    pub summary: String,
}

#[derive(Debug, Serialize)]
pub struct User {
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Person {
    pub id: i64,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct Account {
    pub id: i64,
    pub name: Option<String>,
    pub domain: String,
    pub created: bool,
}

#[derive(Debug, Serialize)]
pub struct Membership {
    pub id: i64,
    pub cadence_id: i64,
    pub cadence_name: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Links {
    pub note: String,
    pub person: Option<String>,
    pub cadence: Option<String>,
}

/// Prints the steps as they happen (text mode) or stays quiet (JSON mode). It numbers the
/// steps itself, so a step added to the flow renumbers the rest. Everything printed goes
/// through [`printable`]: text from the network never reaches the terminal with its control
/// characters.
#[derive(Debug, Default)]
pub struct Reporter {
    json: bool,
    steps: AtomicU32,
}

impl Reporter {
    pub const fn new(json: bool) -> Self {
        Self {
            json,
            steps: AtomicU32::new(0),
        }
    }

    /// The next numbered step: `3. Renamed person ...`.
    pub fn step(&self, text: &str) {
        let n = self.steps.fetch_add(1, Ordering::Relaxed) + 1;
        self.line(&format!("{n}. {text}"));
    }

    /// A line under the current step, indented.
    pub fn detail(&self, text: &str) {
        self.line(&format!("   {text}"));
    }

    /// A line outside the numbered steps.
    pub fn note(&self, text: &str) {
        self.line(text);
    }

    fn line(&self, text: &str) {
        if !self.json {
            println!("{}", printable(text));
        }
    }
}

pub use salesloft_api::text::printable;
