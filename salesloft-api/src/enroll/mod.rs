//! Put a list of people on a cadence: each company once (upserted by domain), each person
//! upserted by email address with their company set, and a membership for each person not
//! already on the cadence; paced within the team's budget, resumable, never duplicated.
//!
//! The work, in three phases, and why it cannot duplicate anything (SERVICE.md §8):
//! 1. companies: `POST /v2/account_upserts` with `upsert_key=domain`, one per distinct domain;
//! 2. people: `POST /v2/person_upserts` with `upsert_key=email_address`, or, where it costs
//!    less (more than a handful of people), all of them in one bulk job (`people_job`), about
//!    one request per hundred people;
//! 3. memberships: the cadence's current memberships are listed once (page 1 requests only, by
//!    `updated_at`, however many there are), then `POST /v2/cadence_memberships` for each
//!    person not on it. A 422 there means "already on it".
//!
//! Upserts converge, so an upsert whose answer was lost is simply sent again. A membership is
//! not idempotent: before one whose answer was lost is sent again, the person's memberships of
//! the cadence are read to see whether the first took effect; and a resumed run lists the
//! cadence again before adding anyone. The [`Journal`] records what is done, so a resumed run
//! does only the rest. Pacing is the client's (shared by its clones; see
//! [`ClientBuilder::budget_share`](crate::ClientBuilder::budget_share)).

mod journal;
mod people_job;
mod rows;

pub use journal::{Entry, Journal, JournalError};
pub use rows::{Lead, Row, domain_key, email_key, valid_email, validate};

use crate::sync::{IncrementalSync, SyncCursor};
use crate::{ApiError, Client, Id, RateLimitInfo};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Upserts and memberships in flight at once (the pacer keeps them inside the budget).
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The three phases, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Companies,
    People,
    Memberships,
}

/// Where a run stands, reported after each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    /// Items of this phase done, of `total`.
    pub done: usize,
    pub total: usize,
    /// Cost spent by this run so far.
    pub cost_spent: u64,
    /// Cost this run still expects to spend (at least; a membership page more or less).
    pub cost_left: u64,
}

/// What became of one row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    /// The person was created and put on the cadence (without a cadence: created).
    Created,
    /// The person existed, was updated, and put on the cadence (without one: updated).
    Updated,
    /// The person was already on the cadence (and was updated).
    AlreadyOnCadence,
    /// Not enrolled: the row is not valid.
    Invalid(String),
    /// Not enrolled: SalesLoft refused a step of it (the other rows went on).
    Failed(String),
}

/// One row's result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowReport {
    pub line: usize,
    pub email: String,
    pub person_id: Option<i64>,
    pub company_id: Option<i64>,
    pub membership_id: Option<i64>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// How the people are upserted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PeoplePath {
    /// In one bulk job where that costs less than one upsert each (more than a handful).
    #[default]
    Auto,
    /// One upsert each (`--no-bulk`).
    OneByOne,
}

/// The work a list asks for, before anything is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub valid: usize,
    pub invalid: usize,
    pub domains: usize,
    /// The people are upserted in one bulk job.
    pub people_by_job: bool,
    /// The fewest cost units that can do it if no one is on the cadence yet: one upsert per
    /// domain, the people (one upsert each, or one job), one membership list page, one
    /// membership per person.
    pub cost: u64,
}

impl Plan {
    /// The plan on the path [`enroll`] takes ([`PeoplePath::Auto`]).
    pub fn of(rows: &[Row]) -> Self {
        Self::on(rows, PeoplePath::Auto)
    }

    pub fn on(rows: &[Row], path: PeoplePath) -> Self {
        let valid: Vec<&Row> = rows.iter().filter(|r| r.problem.is_none()).collect();
        let domains: HashSet<String> = valid.iter().filter_map(|r| r.domain_key()).collect();
        let people: HashSet<String> = valid.iter().map(|r| r.email_key()).collect();
        let people_by_job = path == PeoplePath::Auto && people_job::pays_for(people.len());
        let people_cost = if people_by_job {
            crate::bulk::cost(people.len(), 1)
        } else {
            valid.len() as u64
        };
        Self {
            valid: valid.len(),
            invalid: rows.len() - valid.len(),
            domains: domains.len(),
            people_by_job,
            cost: domains.len() as u64 + people_cost + 1 + valid.len() as u64,
        }
    }

    /// The plan without a cadence: the companies and people upserted only.
    pub fn upserts_only(mut self) -> Self {
        self.cost -= 1 + self.valid as u64;
        self
    }

    /// The least time the budget allows for the work, in minutes, at `share` of 600 a minute.
    pub fn minutes(&self, share: f64) -> f64 {
        self.cost as f64
            / (f64::from(crate::ratelimit::TEAM_BUDGET_PER_MINUTE) * share.clamp(0.01, 1.0))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error(
        "the journal's bulk job carries line {line} of the list, which the list no longer has: give the list the journal was written for, or another journal path to start over"
    )]
    ListChanged { line: usize },
    #[error("{0}")]
    Bulk(crate::bulk::BulkError),
}

impl From<crate::bulk::BulkError> for EnrollError {
    /// A service error is the same `Api` error as in the one-by-one path.
    fn from(error: crate::bulk::BulkError) -> Self {
        match error {
            crate::bulk::BulkError::Api(e) => Self::Api(e),
            other => Self::Bulk(other),
        }
    }
}

/// What the run knows: from the journal, then from this run's answers.
#[derive(Default)]
struct Known {
    companies: HashMap<String, i64>,
    people: HashMap<String, (i64, bool)>,
    memberships: HashMap<i64, (Option<i64>, bool)>,
    /// The cadence's memberships were listed by an earlier run.
    listed: bool,
    /// Memberships asked for whose answer is not in the journal.
    in_doubt: HashSet<i64>,
    failed: HashMap<usize, String>,
    /// The people phase's bulk job, while its results are not all read, and its rows' lines.
    bulk: Option<(crate::bulk::JobState, Vec<usize>)>,
    /// People the job refused, by email, with the reason.
    refused: HashMap<String, String>,
}

impl Known {
    fn from(journal: &Journal) -> Self {
        let mut known = Self::default();
        for entry in journal.entries() {
            match entry {
                Entry::Start { .. } => {}
                Entry::Company { domain, id } => {
                    known.companies.insert(domain.clone(), *id);
                }
                Entry::Person {
                    email,
                    id,
                    created,
                    result,
                } => {
                    known.people.insert(email.clone(), (*id, *created));
                    known.read_result(*result);
                }
                Entry::PeopleJob { job, lines } => {
                    known.bulk = Some((job.clone(), lines.clone()));
                }
                Entry::PeopleJobStep { job } => {
                    if let Some((state, _)) = &mut known.bulk {
                        let read = state.results_after;
                        *state = job.clone();
                        state.results_after = state.results_after.max(read);
                    }
                }
                Entry::PeopleJobRead => known.bulk = None,
                Entry::PersonRefused {
                    email,
                    reason,
                    result,
                } => {
                    known.refused.insert(email.clone(), reason.clone());
                    known.read_result(Some(*result));
                }
                Entry::Listed => known.listed = true,
                Entry::Adding { person_id } => {
                    known.in_doubt.insert(*person_id);
                }
                Entry::Membership {
                    person_id,
                    id,
                    already,
                } => {
                    known.in_doubt.remove(person_id);
                    known.memberships.insert(*person_id, (*id, *already));
                }
            }
        }
        known
    }

    /// A result of the people's job was read: the job's results are read after it.
    fn read_result(&mut self, result: Option<i64>) {
        if let (Some((job, _)), Some(result)) = (&mut self.bulk, result) {
            job.results_after = job.results_after.max(Some(result));
        }
    }
}

/// Counts the cost of each answer and reports progress.
struct Meter<'a> {
    spent: u64,
    progress: &'a mut (dyn FnMut(Progress) + Send),
}

impl Meter<'_> {
    fn charge(&mut self, info: Option<RateLimitInfo>) {
        self.spent += u64::from(info.and_then(|i| i.cost).unwrap_or(1));
    }

    fn report(&mut self, phase: Phase, done: usize, total: usize, left_in_later_phases: u64) {
        let left = (total - done) as u64 + left_in_later_phases;
        (self.progress)(Progress {
            phase,
            done,
            total,
            cost_spent: self.spent,
            cost_left: left,
        });
    }
}

/// Enrolls the valid `rows` on `cadence_id`, recording each step in `journal` (resuming what
/// it holds), reporting progress after each request. Invalid rows are reported and skipped;
/// a row SalesLoft refuses is reported `Failed` and the others go on. The people go through
/// one bulk job where that costs less ([`PeoplePath::Auto`]).
pub async fn enroll(
    client: &Client,
    cadence_id: i64,
    rows: &[Row],
    journal: &mut Journal,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<RowReport>, EnrollError> {
    let cadence = Some(cadence_id);
    enroll_on(client, cadence, rows, PeoplePath::Auto, journal, progress).await
}

/// [`enroll`] on `cadence` (or, without one, the companies and people upserted only: a CSV
/// import), the people upserted as `path` says.
pub async fn enroll_on(
    client: &Client,
    cadence: Option<i64>,
    rows: &[Row],
    path: PeoplePath,
    journal: &mut Journal,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<RowReport>, EnrollError> {
    let mut known = Known::from(journal);
    let mut meter = Meter { spent: 0, progress };
    let valid: Vec<&Row> = rows.iter().filter(|r| r.problem.is_none()).collect();

    // 1. Companies: one upsert per distinct domain, named after its first row.
    let mut domains: BTreeMap<String, &Row> = BTreeMap::new();
    for row in &valid {
        if let Some(domain) = row.domain_key() {
            domains.entry(domain).or_insert(row);
        }
    }
    let to_upsert: Vec<(String, &Row)> = domains
        .iter()
        .filter(|(d, _)| !known.companies.contains_key(*d))
        .map(|(d, r)| (d.clone(), *r))
        .collect();
    let memberships_left = if cadence.is_some() { valid.len() } else { 0 };
    let later = (valid.len() + memberships_left) as u64;
    let total = to_upsert.len();
    let mut failed_domains: HashMap<String, String> = HashMap::new();
    let mut answers = futures_util::stream::iter(to_upsert)
        .map(|(domain, row)| async move {
            let answer = upsert_company(client, &domain, row).await;
            (domain, answer)
        })
        .buffer_unordered(DEFAULT_CONCURRENCY);
    let mut done = 0;
    while let Some((domain, answer)) = answers.next().await {
        done += 1;
        match answer {
            Ok((id, info)) => {
                meter.charge(Some(info));
                journal.record(Entry::Company {
                    domain: domain.clone(),
                    id,
                })?;
                known.companies.insert(domain, id);
            }
            Err(e) if is_fatal(&e) => return Err(e.into()),
            Err(e) => {
                meter.charge(e.rate_limit());
                failed_domains.insert(domain, format!("the company could not be saved: {e}"));
            }
        }
        meter.report(Phase::Companies, done, total, later);
    }
    drop(answers);

    // 2. People: upserted by email address, with their company; in one bulk job where that
    // costs less, or where a killed run left one.
    let mut to_upsert = Vec::new();
    for row in &valid {
        let domain = row.domain_key();
        if let Some(reason) = domain.as_ref().and_then(|d| failed_domains.get(d)) {
            known.failed.insert(row.line, reason.clone());
        } else if !known.people.contains_key(&row.email_key())
            && !known.refused.contains_key(&row.email_key())
        {
            let company = domain.and_then(|d| known.companies.get(&d).copied());
            to_upsert.push((*row, company));
        }
    }
    let total = to_upsert.len();
    let later = memberships_left as u64;
    let by_job =
        known.bulk.is_some() || (path == PeoplePath::Auto && people_job::pays_for(to_upsert.len()));
    if by_job {
        let rows_by_line: HashMap<usize, &Row> = valid.iter().map(|r| (r.line, *r)).collect();
        let by_job = people_job::upsert_people(
            client,
            &to_upsert,
            &rows_by_line,
            &mut known,
            journal,
            &mut meter,
            later,
        )
        .await?;
        // A team or app that may not use bulk jobs gets one upsert each instead.
        if by_job == people_job::ByJob::Done {
            to_upsert.clear();
        }
    }
    let mut answers = futures_util::stream::iter(to_upsert)
        .map(|(row, company)| async move { (row, upsert_person(client, row, company).await) })
        .buffer_unordered(DEFAULT_CONCURRENCY);
    let mut done = 0;
    while let Some((row, answer)) = answers.next().await {
        done += 1;
        match answer {
            Ok((id, created, info)) => {
                meter.charge(Some(info));
                journal.record(Entry::Person {
                    email: row.email_key(),
                    id,
                    created,
                    result: None,
                })?;
                known.people.insert(row.email_key(), (id, created));
            }
            Err(e) if is_fatal(&e) => return Err(e.into()),
            Err(e) => {
                meter.charge(e.rate_limit());
                known
                    .failed
                    .insert(row.line, format!("the person could not be saved: {e}"));
            }
        }
        meter.report(Phase::People, done, total, later);
    }
    drop(answers);

    // 3. Memberships: who is on the cadence now (listed once), then the others added.
    let Some(cadence_id) = cadence else {
        let none = HashMap::new();
        return Ok(rows
            .iter()
            .map(|row| report(row, &known, &none, false))
            .collect());
    };
    let people: Vec<i64> = valid
        .iter()
        .filter_map(|r| known.people.get(&r.email_key()).map(|(id, _)| *id))
        .filter(|id| !known.memberships.contains_key(id))
        .collect();
    if !people.is_empty() && !known.listed {
        let on_cadence = current_members(client, cadence_id, &mut meter).await?;
        for person_id in &people {
            if let Some(membership) = on_cadence.get(person_id) {
                journal.record(Entry::Membership {
                    person_id: *person_id,
                    id: *membership,
                    already: true,
                })?;
                known.memberships.insert(*person_id, (*membership, true));
            }
        }
        journal.record(Entry::Listed)?;
        // The list settles every membership asked for before it.
        known.in_doubt.clear();
    }
    let to_add: Vec<i64> = people
        .into_iter()
        .filter(|id| !known.memberships.contains_key(id))
        .collect();
    let total = to_add.len();
    let mut failed_people: HashMap<i64, String> = HashMap::new();
    // Each membership is recorded as asked for just before it is sent (the stream takes the
    // next one only when it starts it): a kill leaves it in doubt, and the resumed run checks
    // whether it took effect before asking again.
    let journal = std::sync::Mutex::new(journal);
    let in_doubt = &known.in_doubt;
    let mut answers = futures_util::stream::iter(to_add)
        .map(|person_id| {
            let intent = lock(&journal).record(Entry::Adding { person_id });
            let check_first = in_doubt.contains(&person_id);
            async move {
                intent?;
                let added = add_membership(client, cadence_id, person_id, check_first).await;
                Ok::<_, EnrollError>((person_id, added))
            }
        })
        .buffer_unordered(DEFAULT_CONCURRENCY);
    let mut done = 0;
    let mut added_now = Vec::new();
    while let Some(answer) = answers.next().await {
        let (person_id, answer) = answer?;
        done += 1;
        match answer {
            Ok(added) => {
                meter.spent += added.cost;
                lock(&journal).record(Entry::Membership {
                    person_id,
                    id: added.id,
                    already: added.already,
                })?;
                added_now.push((person_id, added.id, added.already));
            }
            Err(e) if is_fatal(&e) => return Err(e.into()),
            Err(e) => {
                meter.charge(e.rate_limit());
                failed_people.insert(person_id, format!("could not be put on the cadence: {e}"));
            }
        }
        meter.report(Phase::Memberships, done, total, 0);
    }
    drop(answers);
    for (person_id, id, already) in added_now {
        known.memberships.insert(person_id, (id, already));
    }

    Ok(rows
        .iter()
        .map(|row| report(row, &known, &failed_people, true))
        .collect())
}

/// The journal stays usable after a panic elsewhere held its lock.
fn lock<'a, 'b>(
    journal: &'a std::sync::Mutex<&'b mut Journal>,
) -> std::sync::MutexGuard<'a, &'b mut Journal> {
    journal
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What became of `row`; `on_cadence`: the run put people on a cadence (else upserts only).
fn report(
    row: &Row,
    known: &Known,
    failed_people: &HashMap<i64, String>,
    on_cadence: bool,
) -> RowReport {
    // An invalid row (a duplicate among them) is not this person's: no ids.
    let person = known
        .people
        .get(&row.email_key())
        .copied()
        .filter(|_| row.problem.is_none());
    let person_id = person.map(|(id, _)| id);
    let membership = person_id.and_then(|id| known.memberships.get(&id).copied());
    let outcome = if let Some(problem) = &row.problem {
        Outcome::Invalid(problem.clone())
    } else if let Some(reason) = known.failed.get(&row.line) {
        Outcome::Failed(reason.clone())
    } else if let Some(reason) = known.refused.get(&row.email_key()) {
        Outcome::Failed(reason.clone())
    } else if let Some(reason) = person_id.and_then(|id| failed_people.get(&id)) {
        Outcome::Failed(reason.clone())
    } else {
        match (person, membership) {
            (Some(_), Some((_, true))) => Outcome::AlreadyOnCadence,
            (Some((_, true)), Some(_)) => Outcome::Created,
            (Some((_, false)), Some(_)) => Outcome::Updated,
            (Some((_, true)), None) if !on_cadence => Outcome::Created,
            (Some((_, false)), None) if !on_cadence => Outcome::Updated,
            _ => Outcome::Failed("not finished".into()),
        }
    };
    RowReport {
        line: row.line,
        email: row.lead.email.clone(),
        person_id,
        company_id: row
            .domain_key()
            .and_then(|d| known.companies.get(&d).copied()),
        membership_id: membership.and_then(|(id, _)| id),
        outcome,
    }
}

/// Errors that would fail every row alike (credentials, permissions, an unreachable service
/// after the transport's retries): the run stops, the journal keeps what was done.
fn is_fatal(error: &ApiError) -> bool {
    match error {
        ApiError::Service { status, .. } => {
            matches!(status.as_u16(), 401 | 403 | 429) || status.is_server_error()
        }
        ApiError::Connection { .. } | ApiError::Credentials(_) => true,
        ApiError::InvalidResponse { .. }
        | ApiError::AnswerTooLarge { .. }
        | ApiError::PageRepeated { .. }
        | ApiError::InvalidRequest(_) => false,
    }
}

async fn upsert_company(
    client: &Client,
    domain: &str,
    row: &Row,
) -> Result<(i64, RateLimitInfo), ApiError> {
    let name = row
        .lead
        .company_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| company_name(domain));
    let answer = client
        .upsert_account()
        .body_map(|b| {
            b.upsert_key("domain".to_string())
                .domain(domain.to_string())
                .name(name)
        })
        .call()
        .await?;
    let info = RateLimitInfo::from_headers(answer.headers());
    let account = answer.into_inner().data.account;
    let id = account
        .and_then(|a| a.id)
        .as_ref()
        .and_then(Id::as_i64)
        .ok_or_else(|| {
            ApiError::InvalidRequest("SalesLoft answered an account upsert without an id".into())
        })?;
    Ok((id, info))
}

/// A company's name from its domain when none is given: `example.com` -> `Example`.
pub fn company_name(domain: &str) -> String {
    let label = domain.split('.').next().unwrap_or(domain);
    let mut chars = label.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_else(|| domain.to_string())
}

/// A row's person upsert, by email address, with its company: sent alone or in a bulk job.
fn person_body(row: &Row, company: Option<i64>) -> crate::types::builder::UpsertPersonBody {
    let lead = &row.lead;
    let custom: serde_json::Map<String, serde_json::Value> = lead
        .custom_fields
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let body = crate::types::UpsertPersonBody::builder()
        .upsert_key(Some("email_address".to_string()))
        .email_address(Some(lead.email.clone()))
        .first_name(lead.first_name.clone())
        .last_name(lead.last_name.clone())
        .title(lead.title.clone())
        .phone(lead.phone.clone())
        .custom_fields(custom);
    match company {
        Some(company) => body.account_id(Some(company)),
        None => body,
    }
}

async fn upsert_person(
    client: &Client,
    row: &Row,
    company: Option<i64>,
) -> Result<(i64, bool, RateLimitInfo), ApiError> {
    let answer = client
        .upsert_person()
        .body(person_body(row, company))
        .call()
        .await?;
    let info = RateLimitInfo::from_headers(answer.headers());
    let upsert = answer.into_inner().data;
    let created = upsert.upsert_type.as_deref() == Some("create");
    let id = upsert
        .person
        .and_then(|p| p.id)
        .as_ref()
        .and_then(Id::as_i64)
        .ok_or_else(|| {
            ApiError::InvalidRequest("SalesLoft answered a person upsert without an id".into())
        })?;
    Ok((id, created, info))
}

/// The people currently on the cadence and their memberships' ids, listed by `updated_at`
/// (every request a page-1 request, cost 1, however long the cadence).
async fn current_members(
    client: &Client,
    cadence_id: i64,
    meter: &mut Meter<'_>,
) -> Result<HashMap<i64, Option<i64>>, ApiError> {
    let mut members = HashMap::new();
    let mut list = IncrementalSync::new(SyncCursor::default(), |window| {
        let client = client.clone();
        async move {
            crate::sync_request!(
                client
                    .list_cadence_memberships()
                    .cadence_id(cadence_id)
                    .currently_on_cadence(true),
                window
            )
            .await
        }
    });
    while let Some(membership) = list.next().await {
        let membership = membership?;
        if let Some(person) = membership
            .person
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .and_then(Id::as_i64)
        {
            members.insert(person, membership.id.as_ref().and_then(Id::as_i64));
        }
    }
    meter.spent += list.requests();
    Ok(members)
}

struct Added {
    id: Option<i64>,
    already: bool,
    cost: u64,
}

/// Adds the person to the cadence. A 422 means they are on it already. When the answer is
/// lost (the connection broke, the service failed), the person's memberships of the cadence are
/// read before anything is sent again: the first request may have taken effect.
async fn add_membership(
    client: &Client,
    cadence_id: i64,
    person_id: i64,
    check_first: bool,
) -> Result<Added, ApiError> {
    let mut cost = 0;
    let mut attempt = usize::from(check_first);
    loop {
        if attempt > 0 {
            cost += 1;
            let existing = client
                .list_cadence_memberships()
                .person_id(person_id)
                .cadence_id(cadence_id)
                .currently_on_cadence(true)
                .call()
                .await?
                .into_inner()
                .data;
            if let Some(membership) = existing.first() {
                return Ok(Added {
                    id: membership.id.as_ref().and_then(Id::as_i64),
                    already: false,
                    cost,
                });
            }
        }
        cost += 1;
        match client
            .create_cadence_membership()
            .person_id(person_id)
            .cadence_id(cadence_id)
            .call()
            .await
        {
            Ok(answer) => {
                let id = answer.into_inner().data.id.as_ref().and_then(Id::as_i64);
                return Ok(Added {
                    id,
                    already: false,
                    cost,
                });
            }
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 422) => {
                // Undocumented answer to adding someone who is on it already (SERVICE.md §8).
                return Ok(Added {
                    id: None,
                    already: true,
                    cost,
                });
            }
            Err(e) if answer_lost(&e) && attempt < 3 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Whether a membership request may have taken effect without our hearing of it.
fn answer_lost(error: &ApiError) -> bool {
    match error {
        // An answer that came but could not be read: the request took effect.
        ApiError::Connection { .. }
        | ApiError::InvalidResponse { .. }
        | ApiError::AnswerTooLarge { .. } => true,
        ApiError::Service { status, .. } => status.is_server_error(),
        _ => false,
    }
}
