//! Reading query strings and bodies the way the service does: Rails-style arrays, bracket
//! operators, JSON or form bodies, numbers that may arrive as strings.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The query string as ordered pairs.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some() || self.0.iter().any(|(k, _)| k == &format!("{name}[]"))
    }

    /// `name[key]=value` pairs, as (key, value), in the order sent; `name[]` is not one.
    pub fn keyed(&self, name: &str) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')?;
                (!key.is_empty()).then(|| (key.to_string(), v.clone()))
            })
            .collect()
    }

    /// `name[]=a&name[]=b`, or `name=a` (also `name=a,b`).
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let rails = format!("{name}[]");
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| *k == rails || k == name)
            .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty() || self.0.iter().any(|(k, _)| *k == rails || k == name))
            .then_some(values)
    }

    /// A list of integer ids; a value that is not an integer gets 422.
    pub fn ids(&self, name: &str) -> Result<Option<Vec<i64>>, ApiError> {
        let Some(values) = self.list(name) else {
            return Ok(None);
        };
        values
            .iter()
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ApiError::invalid(name, "is not a valid id"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// `field[gt]`, `[gte]`, `[lt]`, `[lte]` as (operator, instant); a bad timestamp gets 422.
    pub fn time_filters(&self, field: &str) -> Result<Vec<(Comparison, DateTime<Utc>)>, ApiError> {
        let mut out = Vec::new();
        for (operator, comparison) in [
            ("gt", Comparison::Gt),
            ("gte", Comparison::Gte),
            ("lt", Comparison::Lt),
            ("lte", Comparison::Lte),
        ] {
            let key = format!("{field}[{operator}]");
            if let Some(value) = self.get(&key) {
                let at = DateTime::parse_from_rfc3339(value)
                    .map_err(|_| ApiError::invalid(&key, "is not a valid ISO-8601 timestamp"))?;
                out.push((comparison, at.with_timezone(&Utc)));
            }
        }
        Ok(out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Comparison {
    pub fn holds(self, value: DateTime<Utc>, bound: DateTime<Utc>) -> bool {
        match self {
            Self::Gt => value > bound,
            Self::Gte => value >= bound,
            Self::Lt => value < bound,
            Self::Lte => value <= bound,
        }
    }
}

/// A request body, JSON or form, as a JSON object. Form arrays (`tags[]=a`) become arrays.
pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let is_form = content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let mut map = Map::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.strip_suffix("[]") {
                Some(name) => {
                    let entry = map
                        .entry(name.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(items) = entry {
                        items.push(Value::String(value.into_owned()));
                    }
                }
                None => {
                    map.insert(key.into_owned(), Value::String(value.into_owned()));
                }
            }
        }
        return Ok(map);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object",
        )),
        Err(_) => Err(ApiError::bad_request("The request body is not valid JSON")),
    }
}

/// An integer field that may arrive as a number or a numeric string (form bodies).
pub fn int_field(body: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(name, "is not a valid id")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(name, "is not a valid id")),
        Some(_) => Err(ApiError::invalid(name, "is not a valid id")),
    }
}

/// A string field; numbers are taken as their text, anything else gets 422.
pub fn str_field(body: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::invalid(name, "must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rails_arrays_single_values_and_commas() {
        let p = Params::parse(Some(
            "ids%5B%5D=1&ids%5B%5D=2&email_addresses=a%40b.c&tag=x,y",
        ));
        assert_eq!(p.ids("ids").unwrap(), Some(vec![1, 2]));
        assert_eq!(p.list("email_addresses"), Some(vec!["a@b.c".to_string()]));
        assert_eq!(p.list("tag"), Some(vec!["x".to_string(), "y".to_string()]));
        assert_eq!(p.list("other"), None);
        assert!(p.ids("email_addresses").is_err());
    }

    #[test]
    fn bracket_filters() {
        let p = Params::parse(Some("updated_at%5Bgte%5D=2023-03-07T12:12:52.362090-05:00"));
        let filters = p.time_filters("updated_at").unwrap();
        assert_eq!(filters[0].0, Comparison::Gte);
        assert_eq!(filters[0].1.timestamp_subsec_micros(), 362_090);
        assert!(
            Params::parse(Some("updated_at%5Bgt%5D=yesterday"))
                .time_filters("updated_at")
                .is_err()
        );
    }

    #[test]
    fn json_and_form_bodies() {
        let json = parse_body(Some("application/json"), br#"{"account_id": 7}"#).unwrap();
        assert_eq!(int_field(&json, "account_id").unwrap(), Some(7));
        let form = parse_body(
            Some("application/x-www-form-urlencoded"),
            b"account_id=7&tags%5B%5D=a&tags%5B%5D=b",
        )
        .unwrap();
        assert_eq!(int_field(&form, "account_id").unwrap(), Some(7));
        assert_eq!(form["tags"], serde_json::json!(["a", "b"]));
        assert!(parse_body(Some("application/json"), b"{not json").is_err());
        assert!(parse_body(Some("application/json"), b"[1]").is_err());
    }
}
