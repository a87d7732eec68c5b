//! Where credentials live between runs.
//!
//! [`FileStore`] keeps them as versioned JSON, mode 0600 in a 0700 directory, every write
//! atomic (a temporary file in the same directory, fsync, rename). A corrupt or unreadable
//! file is an error that names the file, and is never overwritten silently. A lock file beside
//! it serializes refreshes across processes.

use crate::credentials::Credentials;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read or write the credentials file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the credentials file {path} is corrupt ({detail}); delete it and authorize again")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the credentials file {path} has format version {found}; this program reads version {FORMAT_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("no configuration directory is known (set SALESLOFT_CREDENTIALS or HOME)")]
    NoConfigDir,
}

/// Keeps the credentials of one authorization.
pub trait CredentialStore: Send + Sync + Debug {
    fn load(&self) -> Result<Option<Credentials>, StoreError>;
    fn save(&self, credentials: &Credentials) -> Result<(), StoreError>;
    /// An exclusive lock, across processes where the store is shared, held while refreshing.
    fn lock(&self) -> Result<Box<dyn Send>, StoreError>;
    /// Where it is, for messages.
    fn describe(&self) -> String;
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredFile {
    version: u32,
    #[serde(flatten)]
    credentials: Credentials,
}

/// The user's configuration directory for this toolkit.
pub fn config_dir() -> Result<PathBuf, StoreError> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("salesloft"));
    }
    if let Some(dir) = std::env::var_os("APPDATA").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("salesloft"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(StoreError::NoConfigDir)?;
    Ok(PathBuf::from(home).join(".config").join("salesloft"))
}

/// Credentials in a JSON file.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `SALESLOFT_CREDENTIALS` if set, else `credentials.json` in the configuration directory.
    pub fn default_location() -> Result<Self, StoreError> {
        if let Some(path) = std::env::var_os("SALESLOFT_CREDENTIALS").filter(|p| !p.is_empty()) {
            return Ok(Self::new(path));
        }
        Ok(Self::new(config_dir()?.join("credentials.json")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn parse(&self, text: &str) -> Result<Credentials, StoreError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                detail: e.to_string(),
            })?;
        let version = value
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0) as u32;
        if version != FORMAT_VERSION {
            return Err(StoreError::Version {
                path: self.path.clone(),
                found: version,
            });
        }
        let stored: StoredFile =
            serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                detail: e.to_string(),
            })?;
        Ok(stored.credentials)
    }

    fn create_dir(&self) -> Result<(), StoreError> {
        let dir = self.dir();
        if dir.exists() {
            return Ok(());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| self.io(e))
    }
}

fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

impl CredentialStore for FileStore {
    fn load(&self) -> Result<Option<Credentials>, StoreError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => self.parse(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn save(&self, credentials: &Credentials) -> Result<(), StoreError> {
        // Never replace a file we cannot read: it may be someone's only copy.
        self.load()?;
        self.create_dir()?;
        let text = serde_json::to_string_pretty(&StoredFile {
            version: FORMAT_VERSION,
            credentials: credentials.clone(),
        })
        .map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("credentials");
        let temp = self.dir().join(format!(
            ".{name}.{}.{:x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = (|| {
            let mut file = private_file(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)?;
            // The rename itself must reach the disk too.
            File::open(self.dir())?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.map_err(|e| self.io(e))
    }

    fn lock(&self) -> Result<Box<dyn Send>, StoreError> {
        self.create_dir()?;
        let path = self.path.with_extension("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.io(e))?;
        file.lock().map_err(|e| self.io(e))?;
        // Unlocked when the file is closed, that is when the box is dropped.
        Ok(Box::new(file))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Credentials in memory (tests, the demo's sandbox mode).
#[derive(Debug, Default)]
pub struct MemoryStore {
    credentials: Mutex<Option<Credentials>>,
}

impl CredentialStore for MemoryStore {
    fn load(&self) -> Result<Option<Credentials>, StoreError> {
        Ok(self
            .credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    fn save(&self, credentials: &Credentials) -> Result<(), StoreError> {
        *self.credentials.lock().unwrap_or_else(|p| p.into_inner()) = Some(credentials.clone());
        Ok(())
    }

    fn lock(&self) -> Result<Box<dyn Send>, StoreError> {
        // In-process callers are already serialized by the token source.
        Ok(Box::new(()))
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salesloft_api::Secret;

    fn sample() -> Credentials {
        Credentials {
            access_token: Secret::new("access-123"),
            refresh_token: Some(Secret::new("refresh-456")),
            expires_at: chrono::DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap(),
            scope: "people:read".into(),
            client_id: "app".into(),
            api_base_url: "https://api.salesloft.com".into(),
        }
    }

    #[test]
    fn round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("nested/credentials.json"));
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(store.path()), 0o600);
            assert_eq!(mode(&dir.path().join("nested")), 0o700);
        }
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_corrupt_file_is_an_error_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        fs::write(&path, "{ half a file").unwrap();
        let store = FileStore::new(&path);
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("corrupt") && err.contains("credentials.json"),
            "{err}"
        );
        assert!(store.save(&sample()).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{ half a file");
    }

    #[test]
    fn another_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        fs::write(&path, r#"{"version": 9}"#).unwrap();
        assert!(matches!(
            FileStore::new(&path).load(),
            Err(StoreError::Version { found: 9, .. })
        ));
    }

    #[test]
    fn debug_output_has_no_tokens() {
        let text = format!("{:?}", sample());
        assert!(
            !text.contains("access-123") && !text.contains("refresh-456"),
            "{text}"
        );
    }
}
