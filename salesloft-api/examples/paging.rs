//! Every person, page after page: `pagination::items` turns any list operation into a stream
//! of records (rate limits, 429s and retries handled underneath).

mod common;

use futures::TryStreamExt;

async fn run() -> Result<usize, salesloft_api::ApiError> {
    let (client, _sandbox) = common::connect().await;
    let people = salesloft_api::pagination::items(|page| {
        client.list_people().per_page(100).page(page).send()
    });
    futures::pin_mut!(people);
    let mut count = 0;
    while let Some(person) = people.try_next().await? {
        count += 1;
        if count <= 3 {
            println!("{:?} {:?}", person.id, person.email_address);
        }
    }
    Ok(count)
}

#[tokio::main]
async fn main() -> Result<(), salesloft_api::ApiError> {
    println!("{} people", run().await?);
    Ok(())
}

#[cfg(test)]
#[tokio::test]
async fn runs_against_the_sandbox() {
    assert_eq!(
        run().await.unwrap(),
        123,
        "the sandbox's 3 people and 120 seeded"
    );
}
