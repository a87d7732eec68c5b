//! Bulk jobs: thousands of upserts in one job, typed, resumable.
//!
//! The flow SalesLoft runs: a job is created with its type, takes uploads of up to 5,000
//! records, is marked ready, runs (`open` → `executing` → `done`), and then pages its results
//! by `id[gt]`, one per record (`success` with what the record became, or `error` with
//! SalesLoft's message). A team has one queue: SalesLoft asks for one job at a time, so a
//! [`create`] waits while another job of the team executes.
//!
//! Every step is resumable from one small value, [`JobState`], that the caller saves after
//! each step (its `on_step` callback): uploads are not idempotent, so a resumed
//! [`upload`] first reads how many records the job has counted (its `total`) and never sends
//! a chunk it already holds.
//!
//! ```no_run
//! # async fn f(client: salesloft_api::Client, people: Vec<salesloft_api::types::UpsertPersonBody>)
//! # -> Result<(), salesloft_api::bulk::BulkError> {
//! use futures::TryStreamExt;
//! use salesloft_api::bulk::{self, JobType};
//! let mut job = bulk::create(&client, JobType::PersonUpsert, "leads").await?;
//! bulk::upload(&client, &mut job, &people, &mut |saved| { /* save `saved` */ }).await?;
//! bulk::run(&client, &mut job, &bulk::Polling::default(), None, &mut |_| {}).await?;
//! let results = bulk::results::<salesloft_api::types::Person>(&client, &job);
//! futures::pin_mut!(results);
//! while let Some(result) = results.try_next().await? {
//!     match result.outcome {
//!         Ok(person) => println!("{:?}", person.id),
//!         Err(message) => println!("record {} refused: {message}", result.id),
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::pagination::{id_number, items_after_id};
use crate::{ApiError, Client, ClientInfo};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The most records one upload takes.
pub const MAX_UPLOAD: usize = 5_000;
/// Results a page.
pub const RESULTS_PER_PAGE: usize = 100;

/// The job types SalesLoft documents, and the call each record of them is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobType {
    /// Each record the body of `POST /v2/person_upserts` ([`crate::types::UpsertPersonBody`]).
    #[serde(rename = "person/upsert")]
    PersonUpsert,
    /// Each record the body of a calendar event upsert
    /// ([`crate::types::UpsertCalendarEventBody`]).
    #[serde(rename = "calendar/events/upsert")]
    CalendarEventsUpsert,
}

impl JobType {
    pub const ALL: [JobType; 2] = [JobType::PersonUpsert, JobType::CalendarEventsUpsert];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PersonUpsert => "person/upsert",
            Self::CalendarEventsUpsert => "calendar/events/upsert",
        }
    }
}

impl std::str::FromStr for JobType {
    type Err = BulkError;

    /// A type SalesLoft does not document is refused before any request.
    fn from_str(text: &str) -> Result<Self, BulkError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text.trim())
            .ok_or_else(|| BulkError::UnknownType(crate::text::printable_bounded(text, 64)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(
        "`{0}` is not a bulk job type SalesLoft documents: use person/upsert or calendar/events/upsert"
    )]
    UnknownType(String),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error(
        "bulk job {job_id} holds {total} records, more than the {uploaded} this flow uploaded to it: records were added by someone else; start a new job"
    )]
    NotOurs {
        job_id: i64,
        total: u64,
        uploaded: u64,
    },
    #[error(
        "bulk job {job_id} is {state} and can no longer take records; its {uploaded} records stand (resume from its results, or start a new job)"
    )]
    Closed {
        job_id: i64,
        state: String,
        uploaded: u64,
    },
}

/// Where a job stands: what a caller saves to resume after a crash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    pub job_id: i64,
    pub job_type: JobType,
    /// Records the job has counted from this flow's uploads (a prefix of the records given).
    pub uploaded: u64,
    /// Marked ready to execute.
    pub ready: bool,
    /// Done: its results can be read.
    pub done: bool,
    /// The last result read (results are read after it).
    pub results_after: Option<i64>,
}

/// How [`run`] polls a job until it is done: the first wait, growing by half each time up to
/// `max` (so a long job costs few requests of the team's budget).
#[derive(Clone, Debug)]
pub struct Polling {
    pub first: Duration,
    pub max: Duration,
}

impl Polling {
    /// The wait after one of `wait`: half as long again, at most `max`.
    fn after(&self, wait: Duration) -> Duration {
        (wait + wait / 2).min(self.max)
    }
}

impl Default for Polling {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// Creates a job of `job_type`, once no other job of the team is executing (SalesLoft asks for
/// one at a time).
pub async fn create(client: &Client, job_type: JobType, name: &str) -> Result<JobState, BulkError> {
    wait_for_queue(client, &Polling::default()).await?;
    let job = client
        .create_bulk_job()
        .body_map(|b| {
            b.type_(job_type.as_str().to_string())
                .name(Some(name.to_string()))
        })
        .call()
        .await?
        .into_inner()
        .data;
    Ok(JobState {
        job_id: job_id(&job)?,
        job_type,
        uploaded: 0,
        ready: false,
        done: false,
        results_after: None,
    })
}

/// Uploads what `records` holds past `state.uploaded`, at most [`MAX_UPLOAD`] an upload,
/// calling `on_step` with the state after each. `records` must be the same list, in the same
/// order, on every call for one job. Resumed after a crash, it first reads the job's `total`:
/// an upload whose answer was lost was counted, and is not sent again.
pub async fn upload<R: Serialize>(
    client: &Client,
    state: &mut JobState,
    records: &[R],
    on_step: &mut (dyn FnMut(&JobState) + Send),
) -> Result<(), BulkError> {
    if state.ready {
        return Ok(());
    }
    let job = get_job(client, state.job_id).await?;
    let total = job.total.unwrap_or(0).max(0) as u64;
    if total > records.len() as u64 || total < state.uploaded {
        return Err(BulkError::NotOurs {
            job_id: state.job_id,
            total,
            uploaded: state.uploaded,
        });
    }
    if job.state.as_deref() != Some("open") {
        state.ready = true;
        state.uploaded = total;
        on_step(state);
        if total < records.len() as u64 {
            return Err(BulkError::Closed {
                job_id: state.job_id,
                state: job.state.unwrap_or_default(),
                uploaded: total,
            });
        }
        return Ok(());
    }
    if total != state.uploaded {
        state.uploaded = total;
        on_step(state);
    }
    for chunk in records[state.uploaded as usize..].chunks(MAX_UPLOAD) {
        let data: Vec<Map<String, Value>> = chunk.iter().map(as_object).collect();
        client
            .create_bulk_job_data()
            .bulk_jobs_id(state.job_id)
            .body_map(|b| b.data(data))
            .call()
            .await?;
        state.uploaded += chunk.len() as u64;
        on_step(state);
    }
    Ok(())
}

/// Marks the job ready (once) and waits for it to be done: polling with [`Polling`]'s backoff,
/// or at once when `completed` is notified (a `bulk_job_completed` delivery to the caller's
/// receiver, say). `on_poll` sees the job at each poll (its `processed` of `total`).
pub async fn run(
    client: &Client,
    state: &mut JobState,
    polling: &Polling,
    completed: Option<Arc<tokio::sync::Notify>>,
    on_poll: &mut (dyn FnMut(&crate::types::BulkJob) + Send),
) -> Result<crate::types::BulkJob, BulkError> {
    if !state.ready {
        client
            .update_bulk_job()
            .id(state.job_id)
            .body_map(|b| b.ready_to_execute(Some(true)))
            .call()
            .await?;
        state.ready = true;
    }
    let clock = client.inner().clock.clone();
    let mut wait = polling.first;
    loop {
        let job = get_job(client, state.job_id).await?;
        on_poll(&job);
        if job.state.as_deref() == Some("done") {
            state.done = true;
            return Ok(job);
        }
        let sleep = clock.sleep(wait);
        match &completed {
            Some(notify) => {
                let notified = std::pin::pin!(notify.notified());
                futures_util::future::select(sleep, notified).await;
            }
            None => sleep.await,
        }
        wait = polling.after(wait);
    }
}

/// One record's result: what it became (`T`, the resource's type: [`crate::types::Person`]
/// for person upserts), or SalesLoft's message; with the input as it was uploaded.
#[derive(Clone, Debug)]
pub struct BulkResult<T> {
    pub id: i64,
    pub input: Map<String, Value>,
    pub outcome: Result<T, String>,
}

/// The job's results after `state.results_after`, in id order, paged by `id[gt]`. A result
/// whose resource does not read as `T` is an `Err` outcome naming why, not a failed stream.
pub fn results<'a, T>(
    client: &'a Client,
    state: &JobState,
) -> impl Stream<Item = Result<BulkResult<T>, ApiError>> + 'a
where
    T: serde::de::DeserializeOwned + 'a,
{
    let job_id = state.job_id;
    let first = state.results_after;
    let pages = items_after_id(
        RESULTS_PER_PAGE,
        |result: &crate::types::BulkJobResult| id_number(&result.id),
        move |after| {
            let list = client
                .list_bulk_job_results()
                .bulk_jobs_id(job_id)
                .per_page(RESULTS_PER_PAGE as i64);
            match after.or(first) {
                Some(after) => list.id_gt(after),
                None => list,
            }
            .send()
        },
    );
    pages.map(|result| result.map(read_result))
}

fn read_result<T: serde::de::DeserializeOwned>(
    result: crate::types::BulkJobResult,
) -> BulkResult<T> {
    let outcome = if result.status.as_deref() == Some("success") {
        let resource = Value::Object(result.resource.unwrap_or_default());
        serde_json::from_value(resource)
            .map_err(|e| format!("SalesLoft's record of the result could not be read: {e}"))
    } else {
        Err(result
            .error
            .map(|e| crate::text::printable_bounded(&e, crate::error::MAX_MESSAGE))
            .unwrap_or_else(|| "refused without a message".into()))
    };
    BulkResult {
        id: id_number(&result.id).unwrap_or_default(),
        input: result.record.unwrap_or_default(),
        outcome,
    }
}

/// The cost in requests of one job of `records` records, polled `polls` times: the queue
/// check, create, the job read before uploading, uploads, ready, polls and results pages (one
/// more when the last is full).
pub fn cost(records: usize, polls: u64) -> u64 {
    let uploads = records.div_ceil(MAX_UPLOAD) as u64;
    let results = (records / RESULTS_PER_PAGE + 1) as u64;
    1 + 1 + 1 + uploads + 1 + polls + results
}

/// Waits while a job of the team is executing.
async fn wait_for_queue(client: &Client, polling: &Polling) -> Result<(), ApiError> {
    let clock = client.inner().clock.clone();
    let mut wait = polling.first;
    loop {
        let executing = client
            .list_bulk_jobs()
            .state(vec!["executing".to_string()])
            .per_page(1)
            .call()
            .await?
            .into_inner()
            .data;
        if executing.is_empty() {
            return Ok(());
        }
        clock.sleep(wait).await;
        wait = polling.after(wait);
    }
}

async fn get_job(client: &Client, job_id: i64) -> Result<crate::types::BulkJob, ApiError> {
    Ok(client
        .get_bulk_job()
        .id(job_id)
        .call()
        .await?
        .into_inner()
        .data)
}

fn job_id(job: &crate::types::BulkJob) -> Result<i64, ApiError> {
    id_number(&job.id).ok_or_else(|| {
        ApiError::InvalidRequest("SalesLoft answered a bulk job without an id".into())
    })
}

/// A record as the object an upload carries.
fn as_object<R: Serialize>(record: &R) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}
