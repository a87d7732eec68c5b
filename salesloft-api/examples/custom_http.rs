//! A client on a `reqwest::Client` of your own (a proxy, your timeouts, your pool), with a
//! retry policy and a share of the team's budget.

mod common;

use salesloft_api::{ApiKey, ClientBuilder, RetryPolicy};
use std::sync::Arc;
use std::time::Duration;

async fn run() -> Result<i64, Box<dyn std::error::Error>> {
    let (sandbox_client, sandbox) = common::connect().await;
    let base = salesloft_api::ClientInfo::baseurl(&sandbox_client).to_string();
    let key = match &sandbox {
        Some(sandbox) => sandbox.api_key(),
        None => std::env::var("SALESLOFT_API_KEY")?,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(4)
        .user_agent("my-crm-sync/1.0")
        .build()?;
    let client = ClientBuilder::new(Arc::new(ApiKey::new(key)))
        .base_url(&base)
        .http_client(http)
        .retry_policy(RetryPolicy::default())
        .budget_share(0.5) // leave half of the 600-a-minute budget to other integrations
        .build()?;
    let cadences = client.list_cadences().send().await?.into_inner().data;
    Ok(cadences.len() as i64)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{} cadences", run().await?);
    Ok(())
}

#[cfg(test)]
#[tokio::test]
async fn runs_against_the_sandbox() {
    assert_eq!(run().await.unwrap(), 3);
}
