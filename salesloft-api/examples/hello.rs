//! Who am I: the smallest program, with an API key.
//!
//! `SALESLOFT_API_KEY=ak_... cargo run -p salesloft-api --example hello` (without the key: a
//! local sandbox).

mod common;

async fn run() -> Result<String, salesloft_api::ApiError> {
    let (client, _sandbox) = common::connect().await;
    let me = client.get_me().call().await?.into_inner().data;
    Ok(format!(
        "signed in as {} <{}>",
        me.name.unwrap_or_default(),
        me.email.unwrap_or_default()
    ))
}

#[tokio::main]
async fn main() -> Result<(), salesloft_api::ApiError> {
    println!("{}", run().await?);
    Ok(())
}

#[cfg(test)]
#[tokio::test]
async fn runs_against_the_sandbox() {
    assert!(run().await.unwrap().contains("signed in as"));
}
