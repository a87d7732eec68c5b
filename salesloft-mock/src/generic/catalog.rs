//! The list resources of the spec, read once at start: one [`Resource`] per `list_*`
//! operation (39 of them: the two lists under a bulk job belong to the bulk-job flow), with
//! the fields of its record schema, the filters its list declares and the writes the spec
//! has for it. Every table of the sandbox is driven by one of these; nothing here is written
//! per resource, except the small named hooks at the end ([`USER_REFERENCES`],
//! [`string_identifier`]).

pub use salesloft_openapi::schema::{IdForm, USER_REFERENCES, string_identifier};
use salesloft_openapi::schema::{
    ListPaging, list_paging, reference_target, required_query, resolve, snake_case,
};
use serde_json::Value;

/// How a field of a record is made and compared.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// An identifier (the spec's `Id`): an integer, or a string in the form the service
    /// sends it ([`IdForm`]).
    Id(IdForm),
    /// `{"_href", "id"}` of a record of the named resource (`None`: not one the sandbox keeps).
    Reference(Option<String>),
    DateTime,
    Date,
    Text,
    Integer,
    Number,
    Boolean,
    /// An object or array: its example, or null.
    Json,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub kind: Kind,
    pub example: Option<Value>,
}

/// A filter a list declares, as the sandbox applies it.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `ids[]`: the records' own ids.
    Ids,
    /// `name[gt]`, `[gte]`, `[lt]`, `[lte]` on a date-time or date field.
    Bracket { param: String, field: String },
    /// `id[gt]`: keyset paging (bulk jobs).
    IdAfter,
    /// `person_id[]=1`: the embedded reference `person` is one of these.
    Reference { param: String, field: String },
    /// `domain=x`, `name[]=a`: the field equals one of these (text case-insensitively).
    Equal { param: String, field: String },
    /// `custom_fields[Name]=value`: the map field has the entry `Name` (exactly) with this
    /// value (text case-insensitively); every condition must hold.
    Keyed { param: String, field: String },
}

#[derive(Clone, Debug)]
pub struct Resource {
    /// The list path after `/v2/`, without `.json`: `notes`, `activities/calls`.
    pub name: String,
    pub segments: Vec<String>,
    /// The record schema's name (`Note`), and its snake-case form, the event prefix (`note`).
    pub schema: String,
    pub singular: String,
    pub fields: Vec<Field>,
    pub id_form: IdForm,
    pub filters: Vec<Filter>,
    /// What `sort_by` accepts; empty when the list declares no `sort_by`.
    pub sortable: Vec<String>,
    /// How the list is walked, as its parameters declare: pages, ids after the last one
    /// (answered in ascending id order), or whole (without `paging`).
    pub paging: ListPaging,
    /// The list is asked with `POST <resource>/searches`, not `GET <resource>`.
    pub searched: bool,
    pub get: bool,
    pub create: bool,
    pub update: bool,
    pub delete: bool,
    /// Fields a create must carry (the request body's `required`).
    pub required: Vec<String>,
    /// Query parameters the list cannot be asked without (a lookup such as caller ids by
    /// `phone_number` is a list only in name).
    pub list_requires: Vec<String>,
    /// Fields a create may set, and an update: their request bodies' properties.
    pub creatable: Vec<String>,
    pub updatable: Vec<String>,
}

impl Resource {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether the list takes the `updated_at` filters (incremental sync by polling).
    pub fn incremental(&self) -> bool {
        self.filters
            .iter()
            .any(|f| matches!(f, Filter::Bracket { field, .. } if field == "updated_at"))
    }
}

/// The catalog of the spec this crate ships, read on first use.
pub fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::from_spec(salesloft_openapi::SPEC))
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub resources: Vec<Resource>,
}

impl Catalog {
    /// Reads every list resource of the spec this crate ships (a malformed one yields none).
    pub fn from_spec(spec: &str) -> Self {
        let Ok(doc) = serde_json::from_str::<Value>(spec) else {
            return Self::default();
        };
        let Some(paths) = doc["paths"].as_object() else {
            return Self::default();
        };
        let mut resources: Vec<Resource> = paths
            .iter()
            .filter_map(|(path, item)| resource_of(&doc, paths, path, item))
            .collect();
        // References name resources by their singular: resolved once every resource is known.
        let singulars: Vec<(String, String)> = resources
            .iter()
            .map(|r| (r.singular.clone(), r.name.clone()))
            .collect();
        for resource in &mut resources {
            for field in &mut resource.fields {
                if let Kind::Reference(target) = &mut field.kind {
                    *target = reference_target(&field.name, &singulars);
                }
            }
        }
        resources.sort_by(|a, b| a.name.cmp(&b.name));
        Self { resources }
    }

    pub fn find(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// The resource a path belongs to (`["activities", "calls", "5"]`), and the id segment.
    pub fn for_path<'a, 'p>(&'a self, path: &[&'p str]) -> Option<(&'a Resource, Option<&'p str>)> {
        self.resources.iter().find_map(|r| {
            let n = r.segments.len();
            let same = path.len() >= n && r.segments.iter().zip(path).all(|(a, b)| a == b);
            match path.len() - n.min(path.len()) {
                0 if same => Some((r, None)),
                1 if same => Some((r, Some(path[n]))),
                _ => None,
            }
        })
    }
}

fn resource_of(
    doc: &Value,
    paths: &serde_json::Map<String, Value>,
    path: &str,
    item: &Value,
) -> Option<Resource> {
    if path.contains('{') {
        return None;
    }
    let name = path.strip_prefix("/v2/")?;
    let name = name.strip_suffix(".json").unwrap_or(name);
    // A list is a `list_` GET, or a `search_` POST at `<resource>/searches` (meeting settings:
    // a list behind a POST, its filters in the query as any list's).
    let (op, searched) = match (item.get("get"), item.get("post")) {
        (Some(get), _) if get["operationId"].as_str()?.starts_with("list_") => (get, false),
        (_, Some(post)) if post["operationId"].as_str()?.starts_with("search_") => (post, true),
        _ => return None,
    };
    let name = match searched {
        true => name.strip_suffix("/searches")?.to_string(),
        false => name.to_string(),
    };
    let envelope = resolve(
        doc,
        &op["responses"]["200"]["content"]["application/json"]["schema"],
    );
    let reference = envelope["properties"]["data"]["items"]["$ref"].as_str()?;
    let schema = reference.rsplit('/').next()?.to_string();
    let record = resolve(doc, &envelope["properties"]["data"]["items"]);
    let fields: Vec<Field> = record["properties"]
        .as_object()?
        .iter()
        .map(|(name, property)| field(doc, name, property))
        .collect();
    let id_form = fields
        .iter()
        .find(|f| f.name == "id")
        .and_then(|f| match f.kind {
            Kind::Id(form) => Some(form),
            _ => None,
        })
        .unwrap_or(IdForm::Integer);
    let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
    let list_requires = required_query(doc, op)
        .into_iter()
        .map(str::to_string)
        .collect();
    let filters = params
        .iter()
        .filter_map(|p| filter(doc, p, &fields))
        .collect();
    let sortable = match params.iter().find(|p| p["name"] == "sort_by") {
        None => Vec::new(),
        Some(sort_by) => match sort_by["schema"]["enum"].as_array() {
            Some(values) => values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            None => fields
                .iter()
                .filter(|f| !matches!(f.kind, Kind::Json | Kind::Reference(_)))
                .map(|f| f.name.clone())
                .collect(),
        },
    };
    let suffix = if path.ends_with(".json") { ".json" } else { "" };
    let many = format!("/v2/{name}{suffix}");
    let one = format!("/v2/{name}/{{id}}{suffix}");
    let has = |p: &str, method: &str| paths.get(p).is_some_and(|i| i.get(method).is_some());
    let body_of = |p: &str, method: &str| {
        resolve(
            doc,
            &paths[p][method]["requestBody"]["content"]["application/json"]["schema"],
        )
        .clone()
    };
    let create = !searched && has(&many, "post");
    let update = has(&one, "put");
    let properties = |body: &Value| -> Vec<String> {
        body["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    };
    let created = if create {
        body_of(&many, "post")
    } else {
        Value::Null
    };
    let updated = if update {
        body_of(&one, "put")
    } else {
        Value::Null
    };
    let required = strings(&created["required"]);
    Some(Resource {
        segments: name.split('/').map(str::to_string).collect(),
        singular: snake_case(&schema),
        paging: list_paging(doc, op),
        searched,
        get: has(&one, "get"),
        create,
        update,
        delete: has(&one, "delete"),
        name,
        schema,
        fields,
        id_form,
        filters,
        sortable,
        required,
        list_requires,
        creatable: properties(&created),
        updatable: properties(&updated),
    })
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn field(doc: &Value, name: &str, property: &Value) -> Field {
    let example = property.get("example").cloned();
    let target = property["allOf"][0]["$ref"]
        .as_str()
        .or(property["$ref"].as_str())
        .map(|r| r.rsplit('/').next().unwrap_or_default());
    let schema = resolve(doc, property);
    let kind = match target {
        Some("Id") => {
            Kind::Id(string_identifier(name, example.as_ref()).unwrap_or(IdForm::Integer))
        }
        Some("EmbeddedResource") => Kind::Reference(None),
        Some(_) => Kind::Json,
        None => match (schema["type"].as_str(), schema["format"].as_str()) {
            (Some("string"), Some("date-time")) => Kind::DateTime,
            (Some("string"), Some("date")) => Kind::Date,
            (Some("string"), _) => Kind::Text,
            (Some("integer"), _) => Kind::Integer,
            (Some("number"), _) => Kind::Number,
            (Some("boolean"), _) => Kind::Boolean,
            _ => Kind::Json,
        },
    };
    Field {
        name: name.to_string(),
        kind,
        example,
    }
}

/// What a list parameter filters on, by its name (its schema, for a map) and the record's
/// fields; `None` for the paging and sorting parameters and for filters on things a record
/// does not show (ignored, as the service ignores an unknown filter).
fn filter(doc: &Value, param: &Value, fields: &[Field]) -> Option<Filter> {
    let name = param["name"].as_str()?;
    if resolve(doc, &param["schema"])["type"] == "object" {
        // A map of conditions on the record's map field of the same name.
        return fields
            .iter()
            .any(|f| f.name == name && matches!(f.kind, Kind::Json))
            .then(|| Filter::Keyed {
                param: name.to_string(),
                field: name.to_string(),
            });
    }
    let base = name.trim_end_matches("[]");
    if base == "ids" {
        return Some(Filter::Ids);
    }
    if base == "id[gt]" {
        return Some(Filter::IdAfter);
    }
    let has = |name: &str| fields.iter().find(|f| f.name == name);
    if let Some((name, _)) = base.split_once('[') {
        let field = [name.to_string(), format!("{name}_at")]
            .into_iter()
            .find(|n| has(n).is_some_and(|f| matches!(f.kind, Kind::DateTime | Kind::Date)))?;
        return Some(Filter::Bracket {
            param: name.to_string(),
            field,
        });
    }
    let singular = base.strip_suffix("_ids").map(|s| format!("{s}_id"));
    let name = singular.as_deref().unwrap_or(base);
    // `person_id` filters on the reference `person`, or one named for its role
    // (`called_person`).
    if let Some(reference) = name.strip_suffix("_id") {
        let role = format!("_{reference}");
        let field = fields.iter().find(|f| {
            matches!(f.kind, Kind::Reference(_)) && (f.name == reference || f.name.ends_with(&role))
        });
        if let Some(field) = field {
            return Some(Filter::Reference {
                param: base.to_string(),
                field: field.name.clone(),
            });
        }
    }
    let field = has(name)?;
    if matches!(field.kind, Kind::Json | Kind::Reference(_)) {
        return None;
    }
    Some(Filter::Equal {
        param: base.to_string(),
        field: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_spec(salesloft_openapi::SPEC)
    }

    #[test]
    fn every_list_but_the_bulk_job_ones_is_a_resource() {
        let catalog = catalog();
        // 39 lists asked with GET, and the meeting settings searched with POST.
        assert_eq!(catalog.resources.len(), 40);
        let searched: Vec<&str> = catalog
            .resources
            .iter()
            .filter(|r| r.searched)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(searched, ["meetings/settings"]);
        let incremental: Vec<&str> = catalog
            .resources
            .iter()
            .filter(|r| r.incremental())
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(incremental.len(), 16, "{incremental:?}");
    }

    #[test]
    fn identifiers_references_and_filters_come_from_the_schema() {
        let catalog = catalog();
        let templates = catalog.find("team_templates").unwrap();
        assert_eq!(templates.id_form, IdForm::Guid);
        let notes = catalog.find("notes").unwrap();
        assert_eq!(notes.id_form, IdForm::Integer);
        assert_eq!(
            notes.field("user").unwrap().kind,
            Kind::Reference(Some("users".into()))
        );
        assert!(notes.create && notes.update && notes.delete && notes.get);
        let meetings = catalog.find("meetings").unwrap();
        assert_eq!(
            meetings.field("event_id").unwrap().kind,
            Kind::Id(IdForm::Text)
        );
        assert_eq!(
            meetings.field("task_id").unwrap().kind,
            Kind::Id(IdForm::Integer)
        );
        let calls = catalog.find("activities/calls").unwrap();
        assert!(calls.filters.contains(&Filter::Reference {
            param: "person_id".into(),
            field: "called_person".into()
        }));
        let people = catalog.find("people").unwrap();
        assert_eq!(
            people.field("most_recent_cadence").unwrap().kind,
            Kind::Reference(Some("cadences".into()))
        );
        assert_eq!(
            catalog
                .for_path(&["activities", "calls", "7"])
                .map(|(r, id)| (r.name.as_str(), id)),
            Some(("activities/calls", Some("7")))
        );
    }
}
