//! `mirror`: the team's data into a database, a thin shell over `salesloft-mirror` (progress
//! bars, the summary table, `--dry-run`, `--follow`).

use crate::connection::Connection;
use crate::error::DemoError;
use crate::output::Reporter;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use salesloft_mirror::{Mirror, Opening, Progress, Report, Table, follow};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct MirrorArgs {
    /// The database: sqlite:PATH (created when missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "SALESLOFT_MIRROR_DB",
        default_value = "sqlite:salesloft.db"
    )]
    pub db: String,
    /// Only these resources, by their path after /v2/ (notes,people,activities/calls).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Every resource but these.
    #[arg(long, value_delimiter = ',')]
    pub except: Vec<String>,
    /// After the run, keep the mirror fresh until Ctrl-C: webhooks for changes and
    /// deletions, polling between them.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: the public HTTPS URL that reaches --listen (a tunnel or a public host).
    #[arg(long)]
    pub public_url: Option<String>,
    /// With --follow: where the receiver listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// After the run, find rows of the incremental resources that are gone (deletions no
    /// webhook told of): a page-1 walk of each whole list; its cost is printed first.
    #[arg(long)]
    pub reconcile: bool,
    /// The share of the team's 600-a-minute budget to use (0.8 leaves a fifth to others).
    #[arg(long, default_value_t = 1.0)]
    pub budget_share: f64,
    /// Keep every version of every row in <table>_history (valid_from, valid_to, change);
    /// once asked for, the database keeps history on every later run.
    #[arg(long)]
    pub history: bool,
    /// Print the plan (resources, records, requests, cost) and its least time; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds a read waits out a service that keeps failing (asking again after growing
    /// pauses) before it reports that resource as failed and goes on; 0: no waiting.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub patience: u64,
}

/// Records of each resource the built-in sandbox gets, so a first run shows something.
const SANDBOX_RECORDS: usize = 30;

pub async fn run(
    connection: &Connection,
    args: &MirrorArgs,
    json: bool,
    out: &Reporter,
) -> Result<(), DemoError> {
    if let Some(sandbox) = &connection.sandbox {
        for resource in sandbox.resources() {
            sandbox
                .seed(&resource, SANDBOX_RECORDS, 1_000, 1)
                .map_err(|e| DemoError::Flow(e.to_string()))?;
        }
        out.note(&format!(
            "The sandbox is seeded with {SANDBOX_RECORDS} records of each resource."
        ));
    }
    let all = salesloft_mirror::schema::tables(salesloft_openapi::SPEC);
    let tables = salesloft_mirror::select(&all, &args.only, &args.except)?;
    if args.dry_run {
        return plan(&connection.client, &tables, args.budget_share, json).await;
    }
    let mut mirror = Mirror::open(&args.db, &|opening| match opening {
        Opening::Waiting { holder } => {
            eprintln!("Waiting for {holder}, which is mirroring into this database...");
        }
        Opening::Converting { table, done, total } => {
            eprintln!("Converting {table} to typed columns: {done} of {total} rows");
        }
    })
    .await?;
    if args.history {
        mirror.keep_history().await?;
    }
    let patience = std::time::Duration::from_secs(args.patience);
    mirror.set_patience(salesloft_mirror::Patience(patience));
    let mut reports = mirror_once(
        &mirror,
        &connection.client,
        &tables,
        json,
        args.budget_share,
    )
    .await?;
    if args.reconcile {
        let cost = mirror.reconcile_cost(&tables).await?;
        out.note(&format!(
            "Reconciling: a page-1 walk of every incremental resource, cost {cost} (at least {:.1} minutes of the budget share).",
            cost as f64 / (600.0 * args.budget_share.clamp(0.01, 1.0))
        ));
        let found = mirror
            .reconcile(&connection.client, &tables, &mut |_| {})
            .await?;
        for report in found {
            if let Some(mine) = reports.iter_mut().find(|r| r.resource == report.resource) {
                mine.requests += report.requests;
                mine.cost += report.cost;
                mine.deleted += report.deleted;
                mine.rows = report.rows;
                if report.failed.is_some() {
                    mine.failed = report.failed;
                }
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else {
        print_summary(&reports);
    }
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| Some(format!("{}: {}", r.resource, r.failed.as_ref()?)))
        .collect();
    if args.follow {
        if !failed.is_empty() {
            out.note(&format!(
                "Not read to the end, picked up again by the polling while following: {}",
                failed.join("; ")
            ));
        }
        follow_changes(Arc::new(mirror), connection, &tables, args, out).await?;
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(DemoError::MirrorIncomplete(failed))
    }
}

/// One run over `tables`, with a progress bar per resource (on a terminal).
async fn mirror_once(
    mirror: &Mirror,
    client: &salesloft_api::Client,
    tables: &[Table],
    quiet: bool,
    share: f64,
) -> Result<Vec<Report>, DemoError> {
    let per_minute = 600.0 * share.clamp(0.01, 1.0);
    let bars = MultiProgress::new();
    if quiet {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{spinner} {prefix:<34} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar_style =
        ProgressStyle::with_template("{spinner} {prefix:<34} [{bar:24}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut shown: HashMap<String, ProgressBar> = HashMap::new();
    let reports = mirror
        .run(client, tables, &mut |progress| match progress {
            Progress::Start { table, rows } => {
                let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()));
                bar.set_prefix(table.resource.clone());
                bar.set_message(format!("{rows} rows"));
                bar.enable_steady_tick(Duration::from_millis(120));
                shown.insert(table.resource.clone(), bar);
            }
            Progress::Total { table, records } => {
                if let Some(bar) = shown.get(&table.resource) {
                    bar.set_style(bar_style.clone());
                    bar.set_length(bar.position() + records);
                }
            }
            Progress::Page {
                table,
                written,
                requests,
                cost,
            } => {
                if let Some(bar) = shown.get(&table.resource) {
                    bar.inc(written as u64);
                    // The ETA is the budget's: the requests left at the share's pace.
                    let left = bar.length().unwrap_or(0).saturating_sub(bar.position());
                    let minutes =
                        left.div_ceil(salesloft_mirror::PER_PAGE as u64) as f64 / per_minute;
                    bar.set_message(format!(
                        "{requests} requests, cost {cost}, ETA {:.0} s",
                        minutes * 60.0
                    ));
                }
            }
            Progress::Done { report } => {
                if let Some(bar) = shown.get(&report.resource) {
                    let failed = match &report.failed {
                        Some(_) => ", FAILED (see below)",
                        None => "",
                    };
                    bar.finish_with_message(format!(
                        "{} rows, {} written, {} requests{failed}",
                        report.rows, report.written, report.requests
                    ));
                }
            }
        })
        .await?;
    let _ = bars.clear();
    Ok(reports)
}

fn print_summary(reports: &[Report]) {
    println!(
        "{:<34} {:>8} {:>8} {:>9} {:>6} {:>8}",
        "resource", "rows", "written", "requests", "cost", "deleted"
    );
    for r in reports {
        let failed = if r.failed.is_some() { "  failed" } else { "" };
        println!(
            "{:<34} {:>8} {:>8} {:>9} {:>6} {:>8}{failed}",
            r.resource, r.rows, r.written, r.requests, r.cost, r.deleted
        );
    }
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    println!(
        "{:<34} {:>8} {:>8} {:>9} {:>6} {:>8}",
        "total",
        sum(|r| r.rows),
        sum(|r| r.written),
        sum(|r| r.requests),
        sum(|r| r.cost),
        sum(|r| r.deleted)
    );
}

/// `--dry-run`: how many records each resource has (one request each, with paging counts),
/// the requests a first run needs at least, and the least time the budget allows.
async fn plan(
    client: &salesloft_api::Client,
    tables: &[Table],
    share: f64,
    json: bool,
) -> Result<(), DemoError> {
    let mut rows = Vec::new();
    for table in tables {
        let query = vec![
            ("per_page".to_string(), "1".to_string()),
            ("include_paging_counts".to_string(), "true".to_string()),
        ];
        let body = salesloft_api::raw::get_json(client, &table.path, &query).await?;
        let records = body["metadata"]["paging"]["total_count"]
            .as_u64()
            .unwrap_or_else(|| body["data"].as_array().map_or(0, |d| d.len() as u64));
        let requests = records.div_ceil(salesloft_mirror::PER_PAGE as u64) + 1;
        rows.push(serde_json::json!({
            "resource": table.resource,
            "mode": if table.incremental { "incremental" } else { "whole" },
            "records": records,
            "requests": requests,
            "cost": requests,
        }));
    }
    let cost: u64 = rows.iter().filter_map(|r| r["cost"].as_u64()).sum();
    let per_minute = 600.0 * share.clamp(0.01, 1.0);
    let minutes = cost as f64 / per_minute;
    if json {
        let plan = serde_json::json!({"resources": rows, "cost": cost, "least_minutes": minutes});
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<34} {:>11} {:>8} {:>9}",
        "resource", "mode", "records", "requests"
    );
    for r in &rows {
        println!(
            "{:<34} {:>11} {:>8} {:>9}",
            r["resource"].as_str().unwrap_or_default(),
            r["mode"].as_str().unwrap_or_default(),
            r["records"],
            r["requests"]
        );
    }
    println!(
        "A first run costs at least {cost}: {minutes:.1} minutes at {per_minute:.0} a minute. Nothing was written."
    );
    Ok(())
}

/// `--follow`: webhooks write changes and deletions as they come; the incremental resources
/// are polled between them, at an interval that fits the budget share.
async fn follow_changes(
    mirror: Arc<Mirror>,
    connection: &Connection,
    tables: &[Table],
    args: &MirrorArgs,
    out: &Reporter,
) -> Result<(), DemoError> {
    let client = &connection.client;
    if args.public_url.is_none() && connection.sandbox.is_none() {
        return Err(DemoError::NoPublicUrl(args.listen));
    }
    let listen = if connection.sandbox.is_some() && args.public_url.is_none() {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        args.listen
    };
    let token = crate::event_feed::new_token();
    let receiver = follow::start(mirror.clone(), listen, args.public_url.as_deref(), &token)
        .await
        .map_err(|e| DemoError::Flow(format!("cannot listen for webhooks on {listen}: {e}")))?;
    let events = follow::events(tables);
    salesloft_api::webhooks::ensure_subscriptions(client, &receiver.callback_url, &token, &events)
        .await?;
    let incremental: Vec<Table> = tables.iter().filter(|t| t.incremental).cloned().collect();
    let interval = follow::poll_interval(incremental.len(), args.budget_share);
    out.note(&format!(
        "Following: {} event types to {}, polling {} resources every {interval} s; Ctrl-C stops and unsubscribes.",
        events.len(),
        receiver.callback_url,
        incremental.len()
    ));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_secs(interval)) => {
                let reports = mirror.run(client, &incremental, &mut |_| {}).await?;
                let written: u64 = reports.iter().map(|r| r.written).sum();
                let applied = receiver.applied.load(std::sync::atomic::Ordering::Relaxed);
                out.note(&format!("Polled: {written} written; {applied} deliveries applied so far."));
            }
        }
    }
    let removed =
        salesloft_api::webhooks::remove_subscriptions(client, &receiver.callback_url, &events)
            .await?;
    out.note(&format!("Removed the {removed} webhook subscriptions."));
    Ok(())
}
