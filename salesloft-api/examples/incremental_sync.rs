//! Incremental sync that survives a restart: notes changed since the stored cursor, with
//! page-1 requests only; the cursor is saved to a file and read back next time.
//!
//! `cargo run -p salesloft-api --example incremental_sync -- notes.cursor`

mod common;

use salesloft_api::sync::{IncrementalSync, SyncCursor};

/// Syncs notes from the cursor in `path` (none: from the beginning) and stores the new one.
async fn sync_notes(
    client: &salesloft_api::Client,
    path: &std::path::Path,
) -> Result<usize, Box<dyn std::error::Error>> {
    let cursor: SyncCursor = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => SyncCursor::default(),
    };
    let mut notes = IncrementalSync::new(cursor, |window| {
        let client = client.clone();
        async move { salesloft_api::sync_request!(client.list_notes(), window).await }
    });
    let mut count = 0;
    while let Some(note) = notes.next().await {
        let note = note?;
        count += 1;
        if count <= 3 {
            println!("{:?} {:?}", note.id, note.updated_at);
        }
    }
    std::fs::write(path, serde_json::to_vec(notes.cursor())?)?;
    Ok(count)
}

async fn run(path: &std::path::Path) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    let (client, _sandbox) = common::connect().await;
    let first = sync_notes(&client, path).await?;
    // Started again from the stored cursor: only what changed meanwhile (nothing, here).
    let again = sync_notes(&client, path).await?;
    Ok((first, again))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "notes.cursor".into());
    let (first, again) = run(std::path::Path::new(&path)).await?;
    println!("{first} notes, then {again} from the stored cursor ({path})");
    Ok(())
}

#[cfg(test)]
#[tokio::test]
async fn runs_against_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let (first, again) = run(&dir.path().join("notes.cursor")).await.unwrap();
    assert_eq!((first, again), (30, 0));
}
