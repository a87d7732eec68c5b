//! [`Id`]: the one type of every identifier in the generated records.
//!
//! The service sends identifiers as JSON integers or strings whatever the document declares
//! (SERVICE.md §1.17): a GUID where an integer is documented, an integer where a string is, a hex
//! digest where an integer is. The normalized spec gives every identifier-like property the
//! shared `Id` schema (integer or string) and `build.rs` maps it to this type, so a record
//! decodes however its ids arrive. The form that came is kept, and sent back, as it came.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An identifier as the service sent it: an integer, or a string (a GUID, a CRM id, a digest).
///
/// Two ids are equal when they read the same: `Id::from(5) == Id::from("5")`. Path parameters
/// of the generated client are integers: [`Id::as_i64`] gives one.
#[derive(Clone)]
pub enum Id {
    Integer(i64),
    Text(String),
}

impl Id {
    /// The integer this id is, if it is one (an integer, or a string of one, such as `"123"`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Integer(n) => Some(*n),
            Self::Text(text) => text.parse().ok(),
        }
    }

    /// The id as text, the form it has in a URL.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Integer(n) => n.to_string().into(),
            Self::Text(text) => text.as_str().into(),
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(n) => write!(f, "{n}"),
            // Ids come from the network: printed, they carry no control characters.
            Self::Text(text) => f.write_str(&crate::text::printable(text)),
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(n) => write!(f, "Id({n})"),
            Self::Text(text) => write!(f, "Id({text:?})"),
        }
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Integer(a), Self::Integer(b)) => a == b,
            _ => self.as_text() == other.as_text(),
        }
    }
}

impl Eq for Id {}

impl std::hash::Hash for Id {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal ids read the same, so they hash the same.
        self.as_text().hash(state);
    }
}

impl PartialEq<i64> for Id {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Self::Integer(n)
    }
}

impl From<&str> for Id {
    fn from(text: &str) -> Self {
        Self::Text(text.to_string())
    }
}

impl From<String> for Id {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl std::str::FromStr for Id {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(text))
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Integer(n) => serializer.serialize_i64(*n),
            Self::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an identifier (an integer or a string)")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Id, E> {
                Ok(Id::Integer(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Id, E> {
                // Beyond i64 only as text, so nothing is lost.
                Ok(i64::try_from(n).map_or_else(|_| Id::Text(n.to_string()), Id::Integer))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Id, E> {
                Ok(Id::Text(text.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Id, E> {
                Ok(Id::Text(text))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_strings_decode_and_are_sent_back_as_they_came() {
        for json in [
            "5",
            "\"5\"",
            "\"9ccb7701-52e7-4d3e\"",
            "18446744073709551615",
        ] {
            let id: Id = serde_json::from_str(json).unwrap();
            assert_eq!(
                serde_json::to_string(&id).unwrap().trim_matches('"'),
                json.trim_matches('"')
            );
        }
        assert!(serde_json::from_str::<Id>("1.5").is_err());
        assert!(serde_json::from_str::<Id>("{}").is_err());
    }

    #[test]
    fn ids_that_read_the_same_are_equal_and_hash_alike() {
        use std::collections::HashSet;
        assert_eq!(Id::from(5), Id::from("5"));
        assert_ne!(Id::from(5), Id::from("05"));
        assert_eq!(Id::from("5"), 5);
        assert_eq!(Id::from("abc").as_i64(), None);
        let set: HashSet<Id> = [Id::from(5), Id::from("5")].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn printed_ids_carry_no_control_characters() {
        assert!(!Id::from("a\u{1b}[2Jb").to_string().contains('\u{1b}'));
    }
}
