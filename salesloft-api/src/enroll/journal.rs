//! The journal of an enrollment: one JSON line per thing done, appended as it is done, so a
//! run killed at any point (SIGKILL included: each line is handed to the kernel when written)
//! and started again knows what is done and does only the rest.
//!
//! A line cut short by the kill is the last one and is ignored: what it would have recorded is
//! found again (upserts converge; memberships are listed again before any is added).

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One thing done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "done", rename_all = "snake_case")]
pub enum Entry {
    /// The run's subject: a journal is resumed only for the same cadence (none: upserts
    /// only) of the same service (`target`: its API base URL).
    Start {
        cadence_id: Option<i64>,
        target: String,
    },
    /// The company of `domain` exists with `id`.
    Company { domain: String, id: i64 },
    /// The person of `email` (compared in lower case) exists with `id`; `result`: the bulk
    /// job's result that said so (a resumed run reads the results after it).
    Person {
        email: String,
        id: i64,
        created: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<i64>,
    },
    /// The people phase's bulk job was created for the rows of these `lines`, in this order
    /// (the records it is uploaded are those rows', always in this order).
    PeopleJob {
        job: crate::bulk::JobState,
        lines: Vec<usize>,
    },
    /// The job after a step: an upload, or its run (done).
    PeopleJobStep { job: crate::bulk::JobState },
    /// Every result of the job is read (and recorded).
    PeopleJobRead,
    /// The job's result `result` for the person of `email`: refused, with SalesLoft's reason.
    PersonRefused {
        email: String,
        reason: String,
        result: i64,
    },
    /// The cadence's current memberships were listed (each recorded as `already`): a resumed
    /// run does not list them again.
    Listed,
    /// A membership is about to be asked for: if no `Membership` follows, a resumed run checks
    /// whether it took effect before asking again.
    Adding { person_id: i64 },
    /// The person is on the cadence: by this run's membership, or already.
    Membership {
        person_id: i64,
        id: Option<i64>,
        already: bool,
    },
}

/// An append-only file of [`Entry`] lines.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
    entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the journal {path} cannot be used: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the journal {path} belongs to a run for {theirs}, not {ours}: give another journal path, or remove it to start over"
    )]
    OtherRun {
        path: PathBuf,
        theirs: String,
        ours: String,
    },
    #[error("the journal {path} has an unreadable line {line}: it was not written by this tool")]
    Corrupt { path: PathBuf, line: usize },
}

impl Journal {
    /// Opens (or creates) the journal at `path` for `cadence_id` on `target` (the API's base
    /// URL), reading what it holds.
    pub fn open(
        path: impl AsRef<Path>,
        cadence_id: i64,
        target: &str,
    ) -> Result<Self, JournalError> {
        Self::open_for(path, Some(cadence_id), target)
    }

    /// [`Journal::open`] for a run on `cadence_id`, or for upserts only (`None`).
    pub fn open_for(
        path: impl AsRef<Path>,
        cadence_id: Option<i64>,
        target: &str,
    ) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        // Every entry is written with its newline in one call: a line without one was cut
        // short by a kill, is the last, and is cut off (`good` counts the bytes kept).
        let mut entries = Vec::new();
        let mut good = 0;
        for (index, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
            let Some(line) = line.strip_suffix(b"\n") else {
                break;
            };
            if !line.iter().all(u8::is_ascii_whitespace) {
                let entry =
                    serde_json::from_slice::<Entry>(line).map_err(|_| JournalError::Corrupt {
                        path: path.clone(),
                        line: index + 1,
                    })?;
                entries.push(entry);
            }
            good += line.len() + 1;
        }
        let ours = Entry::Start {
            cadence_id,
            target: target.to_string(),
        };
        if let Some(theirs @ Entry::Start { .. }) = entries.first()
            && *theirs != ours
        {
            let describe = |e: &Entry| match e {
                Entry::Start {
                    cadence_id: Some(cadence_id),
                    target,
                } => format!("cadence {cadence_id} on {target}"),
                Entry::Start {
                    cadence_id: None,
                    target,
                } => format!("upserts only on {target}"),
                _ => String::new(),
            };
            return Err(JournalError::OtherRun {
                path,
                theirs: describe(theirs),
                ours: describe(&ours),
            });
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        if (good as u64) < file.metadata().map_err(io)?.len() {
            file.set_len(good as u64).map_err(io)?;
        }
        let mut journal = Self {
            path,
            file,
            entries,
        };
        if journal.entries.is_empty() {
            journal.record(ours)?;
        }
        Ok(journal)
    }

    /// Appends one entry (one `write` call, so a kill leaves it whole or cut short, last).
    pub fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(&entry).expect("entries serialize");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.entries.push(entry);
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        let mut journal = Journal::open(&path, 7, "http://x").unwrap();
        journal
            .record(Entry::Company {
                domain: "example.com".into(),
                id: 3,
            })
            .unwrap();
        drop(journal);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(br#"{"done":"person","email":"a@exa"#)
            .unwrap();
        drop(file);

        let mut journal = Journal::open(&path, 7, "http://x").unwrap();
        assert_eq!(journal.entries().len(), 2, "{:?}", journal.entries());
        journal
            .record(Entry::Person {
                email: "a@example.com".into(),
                id: 9,
                created: true,
                result: None,
            })
            .unwrap();
        let journal = Journal::open(&path, 7, "http://x").unwrap();
        assert_eq!(journal.entries().len(), 3);
        assert!(matches!(
            Journal::open(&path, 8, "http://x"),
            Err(JournalError::OtherRun { .. })
        ));
        assert!(matches!(
            Journal::open(&path, 7, "http://y"),
            Err(JournalError::OtherRun { .. })
        ));
    }
}
