//! A string that never shows itself in `Debug` or `Display`.

use std::fmt;
use std::sync::Arc;

/// A secret (access token, refresh token, API key, client secret).
///
/// `Debug` and `Display` print `<redacted>`; the value is read only through [`Secret::expose`],
/// so every place a secret leaves the program is easy to find. Cloning is cheap (shared): every
/// request clones the current token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::from(value.into()))
    }

    /// The secret itself. Use it only to put it on the wire or in the credentials store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(Arc::from(value))
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(Arc::from(value))
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::from)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("ak_0123456789abcdef");
        assert!(!format!("{secret:?}").contains("ak_"));
        assert!(!format!("{secret}").contains("ak_"));
        assert_eq!(secret.expose(), "ak_0123456789abcdef");
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let secret = Secret::new("rt_1");
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, r#""rt_1""#);
        assert_eq!(serde_json::from_str::<Secret>(&json).unwrap(), secret);
    }
}
