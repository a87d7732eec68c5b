//! The people phase through one bulk job: every person upsert of the run in one job (uploads
//! of 5,000), then the job's results read back as the people's ids, or SalesLoft's reason
//! for refusing a row. About one request per hundred people instead of one per person.
//!
//! The journal holds the job: which rows it carries (their lines, recorded before the first
//! upload, so a resumed run uploads the same records in the same order), its [`bulk::JobState`]
//! after each upload and once done, each result as it is read (with its id), and the end of the
//! results. A run killed at any
//! point resumes the same job where it stood: an upload the job already counted is not sent
//! again (`bulk::upload` reads the job's total), and results are read after the last one
//! recorded.

use super::{EnrollError, Entry, Journal, Known, Meter, Phase, Row, person_body};
use crate::Client;
use crate::bulk::{self, JobType, Polling};
use crate::types::{Person, UpsertPersonBody};
use futures_util::StreamExt;
use std::collections::HashMap;

/// Whether one job costs less than single upserts for `people` people (a job's fixed cost is
/// a handful of requests; each hundred people then cost one).
pub(super) fn pays_for(people: usize) -> bool {
    bulk::cost(people, 2) < people as u64
}

/// What became of the people phase's job.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ByJob {
    /// Every person upserted or refused by the job.
    Done,
    /// SalesLoft does not let this team or app use bulk jobs (403, 404): nothing was sent
    /// for the people yet; they are to be upserted one by one.
    Unavailable,
}

/// Upserts the people of `to_upsert` (with the companies `known` has for them) in one job, or finishes the job a killed
/// run left in the journal; records each person's id, or their refusal, in `known`.
/// [`ByJob::Unavailable`] when a new job may not be made here.
pub(super) async fn upsert_people(
    client: &Client,
    to_upsert: &[(&Row, Option<i64>)],
    rows_by_line: &HashMap<usize, &Row>,
    known: &mut Known,
    journal: &mut Journal,
    meter: &mut Meter<'_>,
    later: u64,
) -> Result<ByJob, EnrollError> {
    let (mut job, lines) = match known.bulk.take() {
        Some(resumed) => resumed,
        None => {
            let created = bulk::create(client, JobType::PersonUpsert, "salesloft enroll").await;
            let job = match created {
                Err(bulk::BulkError::Api(e)) if not_allowed(&e) => {
                    meter.charge(e.rate_limit());
                    return Ok(ByJob::Unavailable);
                }
                other => other?,
            };
            meter.spent += 2;
            let lines: Vec<usize> = to_upsert.iter().map(|(row, _)| row.line).collect();
            journal.record(Entry::PeopleJob {
                job: job.clone(),
                lines: lines.clone(),
            })?;
            (job, lines)
        }
    };
    let mut records: Vec<UpsertPersonBody> = Vec::with_capacity(lines.len());
    for line in &lines {
        let row = rows_by_line
            .get(line)
            .ok_or(EnrollError::ListChanged { line: *line })?;
        let company = row
            .domain_key()
            .and_then(|d| known.companies.get(&d).copied());
        let body = UpsertPersonBody::try_from(person_body(row, company)).map_err(|e| {
            crate::ApiError::InvalidRequest(format!("line {line} cannot be uploaded: {e}"))
        })?;
        records.push(body);
    }
    let total = records.len();

    // Uploads, each step journaled (a failed journal write stops the run after the step).
    let mut journal_error = None;
    let uploaded_before = job.uploaded;
    bulk::upload(client, &mut job, &records, &mut |state| {
        if journal_error.is_none()
            && let Err(e) = journal.record(Entry::PeopleJobStep { job: state.clone() })
        {
            journal_error = Some(e);
        }
        meter.report(Phase::People, state.uploaded as usize, total, later);
    })
    .await?;
    if let Some(e) = journal_error {
        return Err(e.into());
    }
    meter.spent += 1 + (job.uploaded - uploaded_before).div_ceil(bulk::MAX_UPLOAD as u64);
    meter.report(Phase::People, 0, total, later);

    if !job.done {
        let mut polls = 0;
        bulk::run(
            client,
            &mut job,
            &Polling::default(),
            None,
            &mut |running| {
                polls += 1;
                let processed = running.processed.unwrap_or(0).max(0) as usize;
                meter.report(Phase::People, processed.min(total), total, later);
            },
        )
        .await?;
        meter.spent += 1 + polls;
        journal.record(Entry::PeopleJobStep { job: job.clone() })?;
    }

    // Results, in id order, each recorded with its id: a resumed run reads after the last.
    let mut read = 0;
    let mut results = std::pin::pin!(bulk::results::<Person>(client, &job));
    while let Some(result) = results.next().await {
        let result = result?;
        read += 1;
        let email = result
            .input
            .get("email_address")
            .and_then(serde_json::Value::as_str)
            .map(super::rows::email_key)
            .unwrap_or_default();
        match result.outcome {
            Ok(person) => {
                let id = person.id.as_ref().and_then(crate::Id::as_i64);
                // A person the upsert created has not changed since.
                let created = person.created_at.is_some() && person.created_at == person.updated_at;
                match id {
                    Some(id) => {
                        journal.record(Entry::Person {
                            email: email.clone(),
                            id,
                            created,
                            result: Some(result.id),
                        })?;
                        known.people.insert(email, (id, created));
                    }
                    None => refuse(known, journal, email, result.id, "no id was answered")?,
                }
            }
            Err(reason) => refuse(known, journal, email, result.id, &reason)?,
        }
        if read % bulk::RESULTS_PER_PAGE == 0 {
            meter.spent += 1;
            meter.report(Phase::People, read.min(total), total, later);
        }
    }
    meter.spent += 1;
    journal.record(Entry::PeopleJobRead)?;
    meter.report(Phase::People, total, total, later);
    Ok(ByJob::Done)
}

/// SalesLoft refuses bulk jobs to this team or app: a missing scope or permission (403), or
/// no such feature (404).
fn not_allowed(error: &crate::ApiError) -> bool {
    error
        .status()
        .is_some_and(|s| matches!(s.as_u16(), 403 | 404))
}

fn refuse(
    known: &mut Known,
    journal: &mut Journal,
    email: String,
    result: i64,
    reason: &str,
) -> Result<(), EnrollError> {
    let reason = format!("the person could not be saved: {reason}");
    journal.record(Entry::PersonRefused {
        email: email.clone(),
        reason: reason.clone(),
        result,
    })?;
    known.refused.insert(email, reason);
    Ok(())
}
