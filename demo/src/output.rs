//! What the demo reports: a line per step as it happens, or one JSON document at the end.

use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub mode: String,
    pub user: Option<User>,
    pub person: Option<Person>,
    pub account: Option<Account>,
    pub membership: Option<Membership>,
    pub links: Links,
    pub cleaned_up: bool,
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

/// Prints the steps as they happen (text mode) or stays quiet (JSON mode).
pub struct Reporter {
    pub json: bool,
}

impl Reporter {
    pub fn step(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }
}
