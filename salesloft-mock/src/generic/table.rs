//! A stored resource and a table of them, by id: what every resource of the sandbox (and the
//! webhook subscriptions) is kept as, and how a record renders as the API shows it.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The seeded team's local offset: SalesLoft renders timestamps in the team's time zone.
pub const TEAM_OFFSET_SECONDS: i32 = -5 * 3600;

/// A stored resource: its id and timestamps, and every other field as JSON.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub fields: Map<String, Value>,
}

impl Record {
    /// The resource as the API shows it (its `Serialize`, as a value).
    pub fn render(&self) -> Value {
        serde_json::to_value(self).expect("a record is a map with string keys")
    }

    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
}

impl serde::Serialize for Record {
    /// The resource as the API shows it: `id`, the fields, and the two timestamps.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.fields.len() + 3))?;
        // A resource whose ids are not integers keeps its id's form among its fields.
        match self.fields.get("id") {
            Some(id) => map.serialize_entry("id", id)?,
            None => map.serialize_entry("id", &self.id)?,
        }
        for (key, value) in self.fields.iter().filter(|(key, _)| *key != "id") {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("created_at", &timestamp(self.created_at))?;
        map.serialize_entry("updated_at", &timestamp(self.updated_at))?;
        map.end()
    }
}

/// The GUID form of row `key` of a resource whose ids are GUIDs.
pub fn guid_of(key: i64) -> String {
    format!("5eed0000-0000-4000-8000-{key:012x}")
}

/// Timestamps as SalesLoft sends them: microseconds and the team's offset.
pub fn timestamp(at: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(TEAM_OFFSET_SECONDS).expect("valid offset");
    at.with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// One kind of resource, by id.
#[derive(Debug, Default)]
pub struct Table {
    next_id: i64,
    pub(crate) rows: BTreeMap<i64, Record>,
}

/// The table of a resource that has no records yet.
pub static EMPTY: Table = Table {
    next_id: 0,
    rows: BTreeMap::new(),
};

impl Table {
    /// An empty table whose first record gets id `base + 1`.
    pub fn starting_after(base: i64) -> Self {
        Self {
            next_id: base,
            rows: BTreeMap::new(),
        }
    }

    /// Inserts a record whose id has `form` on the wire (a GUID resource keeps the GUID among
    /// its fields).
    pub fn insert_as(
        &mut self,
        now: DateTime<Utc>,
        mut fields: Map<String, Value>,
        form: crate::generic::catalog::IdForm,
    ) -> &Record {
        fields.remove("id");
        if form == crate::generic::catalog::IdForm::Guid {
            fields.insert("id".into(), json!(guid_of(self.next_id + 1)));
        }
        self.insert(now, fields)
    }

    pub fn insert(&mut self, now: DateTime<Utc>, fields: Map<String, Value>) -> &Record {
        self.next_id += 1;
        let id = self.next_id;
        self.rows.insert(
            id,
            Record {
                id,
                created_at: now,
                updated_at: now,
                fields,
            },
        );
        &self.rows[&id]
    }

    /// `_href` + `id`, as other resources embed this one.
    pub fn embedded(&self, base: &str, path: &str, id: i64) -> Value {
        json!({"_href": format!("{base}/v2/{path}/{id}"), "id": id})
    }
}
