//! The request log, kept as a real service's access log is: bounded in entries and in bytes,
//! bodies cut to a length, and secrets (client secrets, tokens, authorization codes, PKCE
//! verifiers, API keys) replaced by `[REDACTED]` before anything is stored. The
//! `Authorization` header is never kept, only how the request authenticated.

use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;

/// How a request authenticated, as the request log shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    Bearer,
    ApiKey,
    Basic,
    Other,
}

/// One request, as the request log keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: String,
    pub auth: AuthKind,
    pub status: u16,
}

/// How much the log keeps before dropping its oldest entries.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub bytes: usize,
}

/// How much of a body an entry keeps.
pub const MAX_LOGGED_BODY: usize = 16 * 1024;

/// What stands in for a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Parameter and field names whose values are secrets.
const SECRET_NAMES: &[&str] = &[
    "client_secret",
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "code_verifier",
    "password",
    "api_key",
    "callback_token",
    "token",
    "secret",
];

fn is_secret(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    SECRET_NAMES.contains(&name.as_str()) || name.ends_with("_secret") || name.ends_with("_token")
}

#[derive(Debug)]
pub struct RequestLog {
    limits: Limits,
    entries: VecDeque<LoggedRequest>,
    bytes: usize,
}

impl RequestLog {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Keeps `entry`, redacted and cut, dropping the oldest entries over the limits. What is
    /// kept is an owned copy of its own size: a string cut from a 2 MB body must not keep the
    /// 2 MB buffer it was cut from (the byte limit counts what is really held).
    pub fn push(&mut self, mut entry: LoggedRequest) {
        entry.query = entry.query.map(|q| owned(cut(redact_form(&q))));
        entry.body = owned(redact_body(&entry.body));
        entry.method = owned(entry.method);
        entry.path = owned(cut(entry.path));
        let size = size_of(&entry);
        if self.limits.entries == 0 || size > self.limits.bytes {
            return;
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= self.limits.entries || self.bytes + size > self.limits.bytes)
        {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= size_of(&old);
            }
        }
        self.bytes += size;
        self.entries.push_back(entry);
    }

    pub fn entries(&self) -> impl Iterator<Item = &LoggedRequest> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held by the kept entries' strings (their allocations, not only their text).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// What an entry holds in memory: its strings' allocations and the entry itself.
fn size_of(entry: &LoggedRequest) -> usize {
    entry.method.capacity()
        + entry.path.capacity()
        + entry.query.as_ref().map_or(0, String::capacity)
        + entry.body.capacity()
        + std::mem::size_of::<LoggedRequest>()
}

/// `text` in an allocation of its own length.
fn owned(mut text: String) -> String {
    text.shrink_to_fit();
    text
}

/// A body with its secrets redacted, cut to [`MAX_LOGGED_BODY`] bytes.
pub fn redact_body(body: &str) -> String {
    let trimmed = body.trim_start();
    let redacted = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(body) {
            Ok(mut value) => {
                if redact_json(&mut value, 0) {
                    value.to_string()
                } else {
                    body.to_string()
                }
            }
            // Not JSON after all: keep only its start, since it may hold anything.
            Err(_) => body.to_string(),
        }
    } else {
        redact_form(body)
    };
    cut(redacted)
}

/// At most [`MAX_LOGGED_BODY`] bytes of `text`, saying how long the whole was; a cut text is
/// a new string, not the whole one truncated (which would keep its whole buffer).
fn cut(text: String) -> String {
    if text.len() <= MAX_LOGGED_BODY {
        return text;
    }
    let mut end = MAX_LOGGED_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}

/// Redacts secret fields at any depth; true when something was redacted.
fn redact_json(value: &mut Value, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let mut changed = false;
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if is_secret(key) && !field.is_null() {
                    *field = Value::String(REDACTED.into());
                    changed = true;
                } else {
                    changed |= redact_json(field, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= redact_json(item, depth + 1);
            }
        }
        _ => {}
    }
    changed
}

/// `a=1&client_secret=x` → `a=1&client_secret=[REDACTED]`, every other byte as it came.
pub fn redact_form(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret(&decoded(key)) => format!("{key}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decoded(key: &str) -> String {
    url::form_urlencoded::parse(key.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &str) -> LoggedRequest {
        LoggedRequest {
            method: "POST".into(),
            path: "/oauth/token".into(),
            query: None,
            body: body.into(),
            auth: AuthKind::None,
            status: 200,
        }
    }

    #[test]
    fn secrets_are_redacted_in_forms_json_and_queries() {
        assert_eq!(
            redact_form(
                "grant_type=refresh_token&refresh_token=r1&client_secret=s&code_verifier=v"
            ),
            "grant_type=refresh_token&refresh_token=[REDACTED]&client_secret=[REDACTED]&code_verifier=[REDACTED]"
        );
        assert_eq!(
            redact_form("email_addresses%5B%5D=a%2Bb%40c.d&page=2"),
            "email_addresses%5B%5D=a%2Bb%40c.d&page=2",
            "other parameters keep their bytes"
        );
        let json =
            redact_body(r#"{"client_id":"id","client_secret":"s","nested":{"access_token":"t"}}"#);
        assert!(!json.contains("\"s\"") && !json.contains("\"t\""), "{json}");
        assert!(json.contains("client_id") && json.contains(REDACTED));
        let untouched = r#"{"email_address": "a@b.c"}"#;
        assert_eq!(redact_body(untouched), untouched);
    }

    #[test]
    fn the_log_is_bounded_by_bytes_and_entries() {
        let mut log = RequestLog::new(Limits {
            entries: 1000,
            bytes: 100_000,
        });
        let big = "x".repeat(2_000_000);
        for _ in 0..40 {
            log.push(entry(&big));
        }
        assert!(log.bytes() <= 100_000, "{} bytes", log.bytes());
        assert!(log.entries().all(|e| e.body.len() < MAX_LOGGED_BODY + 64));
        assert!(
            log.entries()
                .all(|e| e.body.capacity() < MAX_LOGGED_BODY + 64),
            "a cut body holds only what it shows"
        );
        let mut few = RequestLog::new(Limits {
            entries: 3,
            bytes: 1 << 20,
        });
        for i in 0..10 {
            few.push(entry(&i.to_string()));
        }
        let kept: Vec<_> = few.entries().map(|e| e.body.clone()).collect();
        assert_eq!(kept, ["7", "8", "9"]);
    }
}
