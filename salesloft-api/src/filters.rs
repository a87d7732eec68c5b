//! The free-form map filters of list requests: `custom_fields[Name]=value` on people and
//! accounts, `user_relationships[name]=value` on accounts.
//!
//! SalesLoft's document declares them as bare objects; the normalized spec names them
//! (`CustomFieldsFilter`, `UserRelationshipsFilter`) and the generator's settings put these
//! types in their place, so the list builders take them:
//!
//! ```no_run
//! # async fn run(client: salesloft_api::Client) -> Result<(), salesloft_api::ApiError> {
//! let gold = client
//!     .list_people()
//!     .custom_fields([("Tier", "gold"), ("Region", "EMEA")])
//!     .call()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The service matches every condition: field names exactly (they are case-sensitive), values
//! without regard to case. For user relationships, the value `_is_null` matches a relationship
//! that is null and `_unmapped` one that is not set.

use serde::ser::SerializeMap;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;

/// Which query parameter a [`MapFilter`] is sent as.
pub trait MapParameter {
    /// The parameter's name, before the brackets: `custom_fields`.
    const NAME: &'static str;
}

/// Marks a [`MapFilter`] sent as `custom_fields[Name]=value`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CustomFields;

impl MapParameter for CustomFields {
    const NAME: &'static str = "custom_fields";
}

/// Marks a [`MapFilter`] sent as `user_relationships[name]=value`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRelationships;

impl MapParameter for UserRelationships {
    const NAME: &'static str = "user_relationships";
}

/// Conditions on custom fields: `list_people().custom_fields(...)`, `list_accounts().custom_fields(...)`.
pub type CustomFieldsFilter = MapFilter<CustomFields>;

/// Conditions on an account's user relationships: `list_accounts().user_relationships(...)`.
pub type UserRelationshipsFilter = MapFilter<UserRelationships>;

/// Name-to-value conditions, all of which a record must meet, sent as `P::NAME[name]=value`.
/// Built from pairs (`[("Tier", "gold")]`, a `Vec`, a `HashMap`, a `BTreeMap`, an iterator) or
/// with [`MapFilter::with`].
#[derive(Clone, PartialEq, Eq)]
pub struct MapFilter<P> {
    conditions: BTreeMap<String, String>,
    parameter: PhantomData<P>,
}

impl<P> Default for MapFilter<P> {
    fn default() -> Self {
        Self {
            conditions: BTreeMap::new(),
            parameter: PhantomData,
        }
    }
}

impl<P: MapParameter> MapFilter<P> {
    /// No conditions (sends nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the condition `name = value` (a second one for the same name replaces the first).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.conditions.insert(name.into(), value.into());
        self
    }

    /// The conditions, by name.
    pub fn conditions(&self) -> &BTreeMap<String, String> {
        &self.conditions
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }
}

impl<P: MapParameter> fmt::Debug for MapFilter<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.conditions
                    .iter()
                    .map(|(name, value)| (format!("{}[{name}]", P::NAME), value)),
            )
            .finish()
    }
}

impl<P, K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapFilter<P> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self {
            conditions: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            parameter: PhantomData,
        }
    }
}

impl<P, K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for MapFilter<P> {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<P, K: Into<String>, V: Into<String>> From<Vec<(K, V)>> for MapFilter<P> {
    fn from(pairs: Vec<(K, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<P, K: Into<String>, V: Into<String>, S> From<HashMap<K, V, S>> for MapFilter<P> {
    fn from(pairs: HashMap<K, V, S>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<P, K: Into<String>, V: Into<String>> From<BTreeMap<K, V>> for MapFilter<P> {
    fn from(pairs: BTreeMap<K, V>) -> Self {
        pairs.into_iter().collect()
    }
}

/// The query's form: one `NAME[name]=value` pair per condition. (progenitor hands a map
/// parameter's entries to the query string as they are.)
impl<P: MapParameter> serde::Serialize for MapFilter<P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.conditions.len()))?;
        for (name, value) in &self.conditions {
            map.serialize_entry(&format!("{}[{name}]", P::NAME), value)?;
        }
        map.end()
    }
}

/// From JSON, the plain map `{"Tier": "gold"}` (the schema's own form).
impl<'de, P> serde::Deserialize<'de> for MapFilter<P> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(BTreeMap::<String, String>::deserialize(deserializer)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_condition_is_a_bracketed_query_pair() {
        let filter = CustomFieldsFilter::from([("Tier", "gold"), ("Region", "EMEA west")]);
        let query = serde_urlencoded::to_string(&filter).unwrap();
        assert_eq!(
            query,
            "custom_fields%5BRegion%5D=EMEA+west&custom_fields%5BTier%5D=gold"
        );
        let relationships = UserRelationshipsFilter::new().with("owner", "_is_null");
        assert_eq!(
            serde_urlencoded::to_string(&relationships).unwrap(),
            "user_relationships%5Bowner%5D=_is_null"
        );
    }

    #[test]
    fn names_keep_their_case_and_a_repeated_name_keeps_the_last_value() {
        let filter: CustomFieldsFilter = vec![("tier", "a"), ("Tier", "b"), ("tier", "c")].into();
        assert_eq!(filter.conditions().len(), 2);
        assert_eq!(filter.conditions()["tier"], "c");
        assert_eq!(
            format!("{filter:?}"),
            r#"{"custom_fields[Tier]": "b", "custom_fields[tier]": "c"}"#
        );
    }

    #[test]
    fn decodes_from_the_plain_json_map() {
        let filter: CustomFieldsFilter = serde_json::from_str(r#"{"Tier": "gold"}"#).unwrap();
        assert_eq!(filter, CustomFieldsFilter::new().with("Tier", "gold"));
        assert!(serde_json::from_str::<CustomFieldsFilter>(r#"{"Tier": 3}"#).is_err());
    }
}
