//! A webhook receiver: signatures verified, events typed, each handled once. On your account,
//! SalesLoft must reach it over HTTPS: set `SALESLOFT_WEBHOOK_URL` to the public URL (a tunnel)
//! of `127.0.0.1:8080`. On the sandbox it subscribes, creates a person, and stops after the
//! event arrives.

mod common;

use salesloft_api::webhooks::receiver::Receiver;
use salesloft_api::webhooks::{Delivery, Event, ensure_subscriptions, remove_subscriptions};

const EVENTS: &[&str] = &["person_created", "person_updated"];

async fn run(stop_after: Option<usize>) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let (client, sandbox) = common::connect().await;
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let token = "a long random secret of yours";
    let receiver = Receiver::new(token, move |delivery: Delivery| {
        let sender = sender.clone();
        async move {
            if let Event::PersonCreated(person) | Event::PersonUpdated(person) = &delivery.event {
                let _ = sender.send(format!(
                    "{}: {:?}",
                    delivery.key.event_type, person.email_address
                ));
            }
            Ok::<(), std::io::Error>(()) // an Err answers 500: SalesLoft sends it again
        }
    })
    .dedup(100_000);
    let listen = if sandbox.is_some() {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:8080"
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let url = match std::env::var("SALESLOFT_WEBHOOK_URL") {
        Ok(url) => url,
        Err(_) => format!("http://{}/", listener.local_addr()?),
    };
    // Served against slow and idle clients: header and body timeouts, a cap on connections.
    tokio::spawn(receiver.serve(listener));
    ensure_subscriptions(&client, &url, token, EVENTS).await?;
    if sandbox.is_some() {
        client
            .create_person()
            .body_map(|b| b.email_address("new.person@example.com".to_string()))
            .send()
            .await?;
    }
    let mut seen = Vec::new();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    println!("{event}");
                    seen.push(event);
                    if stop_after.is_some_and(|n| seen.len() >= n) { break; }
                }
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    remove_subscriptions(&client, &url, EVENTS).await?;
    Ok(seen)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let on_sandbox = std::env::var("SALESLOFT_API_KEY").is_err();
    run(on_sandbox.then_some(1)).await?;
    Ok(())
}

#[cfg(test)]
#[tokio::test]
async fn runs_against_the_sandbox() {
    let seen = run(Some(1)).await.unwrap();
    assert_eq!(seen, ["person_created: Some(\"new.person@example.com\")"]);
}
