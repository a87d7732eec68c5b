//! A string that never shows itself in `Debug` or `Display`.

use std::fmt;

/// A secret (access token, refresh token, API key, client secret).
///
/// `Debug` and `Display` print `<redacted>`; the value is read only through [`Secret::expose`],
/// so every place a secret leaves the program is easy to find.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Use it only to put it on the wire or in the credentials store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
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
}
