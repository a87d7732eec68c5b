//! `enroll leads.csv --cadence <id or name>`: the CSV read and checked, the cadence found, then
//! `salesloft_api::enroll` with a progress bar whose ETA comes from the cost left and the
//! budget, a summary, and an optional report file (one line per row).

use crate::error::DemoError;
use crate::output::Reporter;
use salesloft_api::Client;
use salesloft_api::enroll::{
    self, Journal, Lead, Outcome, PeoplePath, Plan, Progress, Row, RowReport,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct EnrollArgs {
    /// The leads: a CSV file with a header row; `email` is required, `first_name`,
    /// `last_name`, `title`, `company`, `domain` and `phone` are read, any other column is a
    /// custom field.
    pub input: PathBuf,
    /// The cadence: its id, or its name. Without it, the companies and people are upserted
    /// only (a CSV import).
    #[arg(long)]
    pub cadence: Option<String>,
    /// Check the rows and print the cost and the least time the budget allows; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop before writing anything if any row is invalid (otherwise they are skipped).
    #[arg(long)]
    pub strict: bool,
    /// Write one line per row (email, person id, company id, membership id, outcome) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The share of the team's 600-a-minute budget to use (0.8 leaves a fifth to others).
    #[arg(long, default_value_t = 1.0)]
    pub budget_share: f64,
    /// The journal that makes a run resumable (default: beside the input, `.journal` added).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Upsert people one by one, never in a bulk job (by default more than a handful of
    /// people go in one job: about one request per hundred people instead of one each).
    #[arg(long)]
    pub no_bulk: bool,
}

/// Failed rows named one by one on the terminal; the rest are counted.
const SHOWN_FAILURES: usize = 20;

/// The known columns, by their header (lower case, `_`, `-` and spaces alike).
fn column(header: &str) -> Option<&'static str> {
    let key: String = header
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect();
    Some(match key.as_str() {
        "email" | "email_address" => "email",
        "first_name" | "firstname" => "first_name",
        "last_name" | "lastname" => "last_name",
        "title" | "job_title" => "title",
        "company" | "company_name" => "company",
        "domain" | "company_domain" | "website" => "domain",
        "phone" | "phone_number" => "phone",
        _ => return None,
    })
}

/// Reads the CSV into leads; a file without an `email` column, or not CSV, is an error.
pub fn read_leads(path: &std::path::Path) -> Result<Vec<Lead>, DemoError> {
    let shown = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_path(path)
        .map_err(|e| DemoError::Input(format!("cannot read {shown}: {}", csv_error(&e))))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| DemoError::Input(format!("{shown}: {}", csv_error(&e))))?
        .iter()
        .map(str::to_string)
        .collect();
    let known: Vec<Option<&str>> = headers.iter().map(|h| column(h)).collect();
    if !known.contains(&Some("email")) {
        return Err(DemoError::Input(format!(
            "{shown} has no `email` column (its columns: {})",
            headers.join(", ")
        )));
    }
    let mut leads = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| DemoError::Input(format!("{shown}: {}", csv_error(&e))))?;
        let mut lead = Lead::default();
        let mut custom = BTreeMap::new();
        for ((value, header), kind) in record.iter().zip(&headers).zip(&known) {
            let value = value.trim();
            let optional = (!value.is_empty()).then(|| value.to_string());
            match kind {
                Some("email") => lead.email = value.to_string(),
                Some("first_name") => lead.first_name = optional,
                Some("last_name") => lead.last_name = optional,
                Some("title") => lead.title = optional,
                Some("company") => lead.company_name = optional,
                Some("domain") => lead.domain = optional,
                Some("phone") => lead.phone = optional,
                _ => {
                    if let Some(value) = optional {
                        custom.insert(header.trim().to_string(), value);
                    }
                }
            }
        }
        lead.custom_fields = custom;
        leads.push(lead);
    }
    Ok(leads)
}

/// The csv crate's message, with the line it names.
fn csv_error(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {} has {len} fields where the header has {expected_len}",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        csv::ErrorKind::Utf8 { pos, .. } => format!(
            "line {} is not UTF-8 text",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        _ => error.to_string(),
    }
}

/// The cadence's id: given as a number (checked to exist), or found by name.
pub async fn find_cadence(client: &Client, cadence: &str) -> Result<(i64, String), DemoError> {
    if let Ok(id) = cadence.trim().parse::<i64>() {
        return match client.get_cadence().id(id).call().await {
            Ok(found) => Ok((id, found.into_inner().data.name.unwrap_or_default())),
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) => Err(DemoError::Input(
                format!("there is no cadence {id} (or this user cannot see it)"),
            )),
            Err(e) => Err(e.into()),
        };
    }
    let wanted = cadence.trim().to_lowercase();
    let mut names = Vec::new();
    let mut matches = Vec::new();
    let mut page = 1;
    loop {
        let answer = client
            .list_cadences()
            .per_page(100)
            .page(page)
            .call()
            .await?
            .into_inner();
        for c in &answer.data {
            let name = c.name.clone().unwrap_or_default();
            if name.trim().to_lowercase() == wanted
                && let Some(id) = c.id.as_ref().and_then(salesloft_api::Id::as_i64)
            {
                matches.push((id, name.clone()));
            }
            names.push(name);
        }
        let next = answer
            .metadata
            .and_then(|m| m.paging)
            .and_then(|p| p.next_page);
        match next {
            Some(next) if !answer.data.is_empty() && page < 100 => page = next,
            _ => break,
        }
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(DemoError::Input(format!(
            "there is no cadence named `{cadence}` (cadences: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))),
        n => Err(DemoError::Input(format!(
            "{n} cadences are named `{cadence}`: give its id instead ({})",
            matches
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The whole command.
///
/// `target` names the service in the journal (its API base URL); `scratch_journal` puts the
/// default journal in a temporary folder (a local sandbox forgets everything when it stops).
pub async fn run(
    client: &Client,
    args: &EnrollArgs,
    target: &str,
    scratch_journal: bool,
    json: bool,
    out: &Reporter,
) -> Result<(), DemoError> {
    let rows = enroll::validate(read_leads(&args.input)?);
    let path = if args.no_bulk {
        PeoplePath::OneByOne
    } else {
        PeoplePath::Auto
    };
    let share = args.budget_share.clamp(0.01, 1.0);
    let plan = Plan::on(&rows, path);
    let (cadence_id, target_text, plan) = match &args.cadence {
        Some(cadence) => {
            let (id, name) = find_cadence(client, cadence).await?;
            (Some(id), format!("cadence {id} ({name})"), plan)
        }
        None => (None, "no cadence: upserts only".into(), plan.upserts_only()),
    };
    out.note(&format!(
        "{} rows: {} valid, {} invalid; {} companies; {target_text}.",
        rows.len(),
        plan.valid,
        plan.invalid,
        plan.domains
    ));
    for row in rows.iter().filter(|r| r.problem.is_some()) {
        out.detail(&format!(
            "row {}: {} ({})",
            row.line,
            row.problem.as_deref().unwrap_or_default(),
            shown_email(row)
        ));
    }
    out.note(&format!(
        "Cost: at most {} ({}; fewer for people already on the cadence); at least {} at {:.0}% of the team's 600 a minute.",
        plan.cost,
        if plan.people_by_job {
            "the people in one bulk job"
        } else {
            "one upsert a person"
        },
        duration(plan.minutes(share)),
        share * 100.0
    ));
    if args.dry_run {
        out.note("Dry run: nothing was written.");
        if json {
            println!(
                "{}",
                serde_json::json!({"dry_run": true, "rows": rows.len(), "valid": plan.valid, "invalid": plan.invalid, "companies": plan.domains, "people_by_job": plan.people_by_job, "cost": plan.cost, "minutes": plan.minutes(share)})
            );
        }
        return Ok(());
    }
    if args.strict && plan.invalid > 0 {
        return Err(DemoError::Input(format!(
            "{} invalid rows and --strict: nothing was written (fix them, or run without --strict to skip them)",
            plan.invalid
        )));
    }
    let scratch =
        tempfile::tempdir().map_err(|e| DemoError::Input(format!("no temporary folder: {e}")))?;
    let journal_path = match &args.journal {
        Some(path) => path.clone(),
        None if scratch_journal => scratch.path().join("enroll.journal"),
        None => {
            let mut name = args.input.clone().into_os_string();
            name.push(".journal");
            PathBuf::from(name)
        }
    };
    let mut journal = Journal::open_for(&journal_path, cadence_id, target)
        .map_err(|e| DemoError::Input(e.to_string()))?;
    let bar = progress_bar(json, plan.cost);
    let mut on_progress = |p: Progress| {
        if let Some(bar) = &bar {
            let total = p.cost_spent + p.cost_left;
            bar.set_length(total.max(1));
            bar.set_position(p.cost_spent);
            let minutes = p.cost_left as f64 / (600.0 * share);
            let phase = format!("{:?}", p.phase).to_lowercase();
            bar.set_message(format!(
                "{phase} {}/{}, ETA {minutes:.1} min at the budget",
                p.done, p.total
            ));
        }
    };
    let reports = enroll::enroll_on(
        client,
        cadence_id,
        &rows,
        path,
        &mut journal,
        &mut on_progress,
    )
    .await
    .map_err(|e| {
        DemoError::Flow(format!(
            "{e} (the journal {} keeps what was done: run the same command again to finish)",
            journal_path.display()
        ))
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let count = |f: fn(&Outcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
    out.note(&format!(
        "Done: {} created, {} updated, {} already on the cadence, {} invalid, {} failed.",
        count(|o| *o == Outcome::Created),
        count(|o| *o == Outcome::Updated),
        count(|o| *o == Outcome::AlreadyOnCadence),
        count(|o| matches!(o, Outcome::Invalid(_))),
        count(|o| matches!(o, Outcome::Failed(_))),
    ));
    // The first failures, with SalesLoft's messages; all of them are in --report.
    let failed: Vec<&RowReport> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .collect();
    for report in failed.iter().take(SHOWN_FAILURES) {
        out.detail(&format!(
            "row {}: {}",
            report.line,
            outcome_text(&report.outcome)
        ));
    }
    if failed.len() > SHOWN_FAILURES {
        out.detail(&format!(
            "... and {} more failed rows (--report lists every row)",
            failed.len() - SHOWN_FAILURES
        ));
    }
    if let Some(path) = &args.report {
        write_report(path, &reports)?;
        out.note(&format!("Report: {}", path.display()));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"cadence_id": cadence_id, "rows": reports})
            )
            .unwrap_or_default()
        );
    }
    Ok(())
}

/// `40 seconds`, `12.5 minutes`.
fn duration(minutes: f64) -> String {
    if minutes < 1.0 {
        format!("{:.0} seconds", (minutes * 60.0).ceil())
    } else {
        format!("{minutes:.1} minutes")
    }
}

fn shown_email(row: &Row) -> String {
    if row.lead.email.is_empty() {
        "no email".into()
    } else {
        row.lead.email.clone()
    }
}

fn progress_bar(json: bool, cost: u64) -> Option<indicatif::ProgressBar> {
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(cost.max(1));
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cost, {msg}") {
        bar.set_style(style);
    }
    Some(bar)
}

/// `created`, `already on cadence`, `invalid: not an email address`, ...
pub fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Created => "created".into(),
        Outcome::Updated => "updated".into(),
        Outcome::AlreadyOnCadence => "already on cadence".into(),
        Outcome::Invalid(reason) => format!("invalid: {reason}"),
        Outcome::Failed(reason) => format!("failed: {reason}"),
    }
}

pub fn write_report(path: &std::path::Path, reports: &[RowReport]) -> Result<(), DemoError> {
    let failed = |e: csv::Error| {
        DemoError::Input(format!("cannot write the report {}: {e}", path.display()))
    };
    let mut writer = csv::Writer::from_path(path).map_err(failed)?;
    writer
        .write_record([
            "email",
            "person_id",
            "company_id",
            "membership_id",
            "outcome",
        ])
        .map_err(failed)?;
    let id = |id: Option<i64>| id.map(|i| i.to_string()).unwrap_or_default();
    for r in reports {
        writer
            .write_record([
                r.email.clone(),
                id(r.person_id),
                id(r.company_id),
                id(r.membership_id),
                outcome_text(&r.outcome),
            ])
            .map_err(failed)?;
    }
    writer
        .flush()
        .map_err(|e| DemoError::Input(format!("cannot write the report {}: {e}", path.display())))
}
