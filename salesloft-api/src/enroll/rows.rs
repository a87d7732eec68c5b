//! The rows of a list to enroll, checked before anything is written.

use std::collections::{BTreeMap, HashMap};

/// One lead: an email address (required) and what else is known of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lead {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub company_name: Option<String>,
    /// The company's domain (`example.com`); without one the person gets no company.
    pub domain: Option<String>,
    pub phone: Option<String>,
    pub custom_fields: BTreeMap<String, String>,
}

/// A lead and where it stood in the input (1 = the first row of data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub lead: Lead,
    /// Why the row cannot be enrolled, if it cannot: it is reported and skipped.
    pub problem: Option<String>,
}

impl Row {
    /// The email address as the service compares it: trimmed, lower case.
    pub fn email_key(&self) -> String {
        email_key(&self.lead.email)
    }

    /// The company's domain as a host name: lower case, without scheme, `www.`, path or dot.
    pub fn domain_key(&self) -> Option<String> {
        self.lead.domain.as_deref().and_then(domain_key)
    }
}

/// An email address as the service compares it: trimmed, lower case.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks every lead: a valid email address, a valid domain if one is given, no email address
/// twice (the later rows are the duplicates), fields of sane size. Nothing is written.
pub fn validate(leads: Vec<Lead>) -> Vec<Row> {
    let mut first_line: HashMap<String, usize> = HashMap::new();
    leads
        .into_iter()
        .enumerate()
        .map(|(index, mut lead)| {
            let line = index + 1;
            lead.email = lead.email.trim().to_string();
            let mut problem = problem_of(&lead);
            if problem.is_none() {
                let key = lead.email.to_lowercase();
                if let Some(first) = first_line.get(&key) {
                    problem = Some(format!("duplicate of row {first}"));
                } else {
                    first_line.insert(key, line);
                }
            }
            Row {
                line,
                lead,
                problem,
            }
        })
        .collect()
}

fn problem_of(lead: &Lead) -> Option<String> {
    if lead.email.is_empty() {
        return Some("no email address".into());
    }
    if !valid_email(&lead.email) {
        return Some("not an email address".into());
    }
    if let Some(domain) = lead.domain.as_deref().filter(|d| !d.trim().is_empty())
        && domain_key(domain).is_none()
    {
        return Some("not a domain".into());
    }
    let fields = [
        &lead.first_name,
        &lead.last_name,
        &lead.title,
        &lead.company_name,
        &lead.phone,
    ];
    let too_long = fields
        .iter()
        .filter_map(|f| f.as_deref())
        .any(|f| f.len() > 255)
        || lead.custom_fields.values().any(|v| v.len() > 2048);
    let control = fields
        .iter()
        .filter_map(|f| f.as_deref())
        .chain(lead.custom_fields.values().map(String::as_str))
        .any(|f| f.chars().any(char::is_control));
    if too_long {
        return Some("a field is too long".into());
    }
    if control {
        return Some("a field holds control characters".into());
    }
    None
}

/// `local@domain.tld`: one `@`, no white space or control characters, a dotted domain.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && !local.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain_key(domain).is_some_and(|d| d == domain.to_lowercase())
}

/// A domain as a host name, or `None` if it is not one.
pub fn domain_key(domain: &str) -> Option<String> {
    let mut host = domain.trim().to_lowercase();
    for scheme in ["https://", "http://"] {
        if let Some(rest) = host.strip_prefix(scheme) {
            host = rest.to_string();
        }
    }
    let host = host.split('/').next().unwrap_or_default();
    let host = host
        .strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    let ok = host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    ok.then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(email: &str, domain: Option<&str>) -> Lead {
        Lead {
            email: email.into(),
            domain: domain.map(str::to_string),
            ..Lead::default()
        }
    }

    #[test]
    fn every_kind_of_bad_row_is_named_and_good_ones_pass() {
        let rows = validate(vec![
            lead(" Ada@Example.com ", Some("https://www.Example.com/about")),
            lead("", None),
            lead("not-an-email", None),
            lead("ada@example.com", None),
            lead("bob@example.com", Some("not a domain")),
            lead("a b@example.com", None),
            Lead {
                title: Some("x".repeat(300)),
                ..lead("long@example.com", None)
            },
            Lead {
                first_name: Some("\u{1b}[2J".into()),
                ..lead("esc@example.com", None)
            },
        ]);
        let problems: Vec<Option<&str>> = rows.iter().map(|r| r.problem.as_deref()).collect();
        assert_eq!(
            problems,
            [
                None,
                Some("no email address"),
                Some("not an email address"),
                Some("duplicate of row 1"),
                Some("not a domain"),
                Some("not an email address"),
                Some("a field is too long"),
                Some("a field holds control characters"),
            ]
        );
        assert_eq!(rows[0].email_key(), "ada@example.com");
        assert_eq!(rows[0].domain_key().as_deref(), Some("example.com"));
    }
}
