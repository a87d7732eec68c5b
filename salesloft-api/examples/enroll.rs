//! A list of leads onto a cadence from code: companies upserted by domain, people by email,
//! memberships only for those not on it yet; a journal makes the run resumable.

mod common;

use salesloft_api::enroll::{self, Journal, Lead};

async fn run(journal_path: &std::path::Path) -> Result<usize, Box<dyn std::error::Error>> {
    let (client, _sandbox) = common::connect().await;
    let cadence = client.list_cadences().send().await?.into_inner().data;
    let cadence_id = cadence
        .first()
        .and_then(|c| c.id.as_ref()?.as_i64())
        .ok_or("no cadence to enroll onto")?;
    let leads = vec![
        Lead {
            email: "ada@analytical.example".into(),
            first_name: Some("Ada".into()),
            domain: Some("analytical.example".into()),
            ..Lead::default()
        },
        Lead {
            email: "grace@cobol.example".into(),
            first_name: Some("Grace".into()),
            domain: Some("cobol.example".into()),
            ..Lead::default()
        },
    ];
    let rows = enroll::validate(leads);
    let target = salesloft_api::ClientInfo::baseurl(&client).to_string();
    let mut journal = Journal::open(journal_path, cadence_id, &target)?;
    let reports = enroll::enroll(&client, cadence_id, &rows, &mut journal, &mut |_| {}).await?;
    for report in &reports {
        println!("{:?}", report);
    }
    Ok(reports.len())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let journal = std::env::temp_dir().join("enroll-example.journal");
    println!("{} rows enrolled", run(&journal).await?);
    Ok(())
}

#[cfg(test)]
#[tokio::test]
async fn runs_against_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(&dir.path().join("journal")).await.unwrap(), 2);
}
