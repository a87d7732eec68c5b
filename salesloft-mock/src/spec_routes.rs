//! Every operation of the normalized spec that neither `rules` nor `generic` keeps state for is still
//! routed: it checks the required parameters (422 when one is missing) and answers an
//! enveloped body shaped by the spec's schema, so no declared route ever gets a 404.

use crate::body_types::Expected;
use crate::call::Reply;
use crate::error::ApiError;
use crate::generic::listing::ListRequest;
use crate::params::Params;
use axum::http::{Method, StatusCode};
use salesloft_openapi::schema::{required_query, resolve};
use serde_json::{Map, Value, json};

#[derive(Debug)]
pub struct SpecRoute {
    pub method: Method,
    pub operation_id: String,
    /// Path segments after `/v2/`, `.json` stripped; `{name}` for a parameter.
    segments: Vec<String>,
    required_query: Vec<String>,
    required_body: Vec<String>,
    /// What the request body's fields must be.
    pub body: Expected,
    status: StatusCode,
    /// The single resource (or one list item) this route answers with, if it answers a body.
    example: Option<Value>,
    is_list: bool,
}

#[derive(Debug, Default)]
pub struct SpecRoutes {
    pub routes: Vec<SpecRoute>,
}

/// Path segments after `/v2/`, with `.json` stripped.
pub fn segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/v2/")?;
    let rest = rest.strip_suffix(".json").unwrap_or(rest);
    Some(rest.split('/').filter(|s| !s.is_empty()).collect())
}

impl SpecRoutes {
    /// Reads every operation of the spec. The spec is the one this crate ships, so a malformed
    /// one is a build mistake; it yields no routes rather than a panic.
    pub fn from_spec(spec: &str) -> Self {
        let Ok(doc) = serde_json::from_str::<Value>(spec) else {
            return Self::default();
        };
        let mut routes = Vec::new();
        let Some(paths) = doc["paths"].as_object() else {
            return Self::default();
        };
        for (path, item) in paths {
            let Some(segments) = segments(path) else {
                continue;
            };
            let segments: Vec<String> = segments.into_iter().map(str::to_string).collect();
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                routes.push(route_for(&doc, method, segments.clone(), op));
            }
        }
        Self { routes }
    }

    /// The methods declared for `path` segments (empty: no such path).
    pub fn methods_for(&self, path: &[&str]) -> Vec<Method> {
        let mut methods: Vec<Method> = self
            .routes
            .iter()
            .filter(|r| r.matches(path))
            .map(|r| r.method.clone())
            .collect();
        methods.dedup();
        methods
    }

    /// The query parameters the document requires of `method` on `path` (`/v2/...`) that
    /// `query` does not carry: what a validating proxy would refuse. None for an undeclared
    /// route.
    pub fn missing_query(&self, method: &str, path: &str, query: Option<&str>) -> Vec<String> {
        let (Ok(method), Some(path)) = (method.parse::<Method>(), segments(path)) else {
            return Vec::new();
        };
        let Some(route) = self.find(&method, &path) else {
            return Vec::new();
        };
        let given: Vec<String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(name, _)| name.into_owned())
            .collect();
        let given = |name: &String| given.iter().any(|g| g == name || *g == format!("{name}[]"));
        route
            .required_query
            .iter()
            .filter(|name| !given(name))
            .cloned()
            .collect()
    }

    /// The declared operation for `method` and `path` segments.
    pub fn find(&self, method: &Method, path: &[&str]) -> Option<&SpecRoute> {
        self.routes
            .iter()
            .find(|r| r.method == method && r.matches(path))
    }
}

impl SpecRoute {
    fn matches(&self, path: &[&str]) -> bool {
        self.segments.len() == path.len()
            && self
                .segments
                .iter()
                .zip(path)
                .all(|(t, p)| t.starts_with('{') || t == p)
    }

    pub fn answer(&self, params: &Params, body: &Map<String, Value>) -> Result<Reply, ApiError> {
        for name in &self.required_query {
            if !params.has(name) {
                return Err(ApiError::invalid(name, "can't be blank"));
            }
        }
        for name in &self.required_body {
            if body.get(name).is_none_or(Value::is_null) {
                return Err(ApiError::invalid(name, "can't be blank"));
            }
        }
        self.reply(params)
    }

    /// What a request carrying every required parameter gets (the first page of a list): the
    /// schema-shaped body this route serves, for tests that decode it.
    pub fn example_reply(&self) -> Result<Reply, ApiError> {
        self.reply(&Params::default())
    }

    fn reply(&self, params: &Params) -> Result<Reply, ApiError> {
        let Some(example) = &self.example else {
            return Ok(Reply::NoContent);
        };
        if self.is_list {
            let list = ListRequest::parse(params, &[])?;
            let data = if list.page == 1 {
                vec![example.clone()]
            } else {
                Vec::new()
            };
            return Ok(Reply::Json(self.status, list.envelope(data, 1)));
        }
        Ok(Reply::Json(self.status, json!({"data": example})))
    }
}

fn route_for(doc: &Value, method: Method, segments: Vec<String>, op: &Value) -> SpecRoute {
    let required_query = required_query(doc, op)
        .into_iter()
        .map(str::to_string)
        .collect();
    let body_schema = resolve(
        doc,
        &op["requestBody"]["content"]["application/json"]["schema"],
    );
    let body = Expected::of(doc, body_schema);
    let required_body = body_schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    let (status, response) = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(code, _)| code.starts_with('2'))
        .map(|(code, r)| (code.parse().unwrap_or(200), r.clone()))
        .unwrap_or((200, Value::Null));
    let envelope = resolve(doc, &response["content"]["application/json"]["schema"]);
    let data = resolve(doc, &envelope["properties"]["data"]);
    let is_list = data["type"] == "array";
    let item = if is_list {
        resolve(doc, &data["items"])
    } else {
        data
    };
    let example = (!item.is_null()).then(|| example_of(doc, item, 0));
    SpecRoute {
        method,
        operation_id: op["operationId"].as_str().unwrap_or_default().to_string(),
        segments,
        required_query,
        required_body,
        body,
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        example,
        is_list,
    }
}

/// A value shaped by `schema`: its example where it has one, else a plain value of its type.
fn example_of(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if depth > 4 {
        return Value::Null;
    }
    if let Some(first) = schema["oneOf"].as_array().and_then(|v| v.first()) {
        return example_of(doc, first, depth + 1);
    }
    let kind = schema["type"]
        .as_str()
        .or(schema.get("properties").map(|_| "object"));
    match kind {
        Some("object") => {
            let properties = schema["properties"].as_object();
            let fields = properties
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), example_of(doc, v, depth + 1)));
            Value::Object(fields.collect())
        }
        Some("array") => json!([example_of(doc, &schema["items"], depth + 1)]),
        Some("string") if schema["format"] == "date-time" => {
            json!("2024-01-02T03:04:05.123456-05:00")
        }
        Some("string") if schema["format"] == "date" => json!("2024-01-02"),
        Some("string") => json!("string"),
        Some("integer") => json!(1),
        Some("number") => json!(1.0),
        Some("boolean") => json!(false),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_operation_is_routed() {
        let routes = SpecRoutes::from_spec(salesloft_openapi::SPEC);
        assert_eq!(routes.routes.len(), 118);
        let steps = routes.find(&Method::GET, &["steps", "5"]).unwrap();
        assert_eq!(steps.operation_id, "get_step");
        let Reply::Json(status, body) = steps.answer(&Params::default(), &Map::new()).unwrap()
        else {
            panic!()
        };
        assert_eq!(status, StatusCode::OK);
        assert!(body["data"].is_object());
    }

    #[test]
    fn missing_required_parameters_get_422() {
        let routes = SpecRoutes::from_spec(salesloft_openapi::SPEC);
        let notes = routes.find(&Method::POST, &["notes"]).unwrap();
        let err = notes.answer(&Params::default(), &Map::new()).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.body["errors"].is_object());
    }
}
