//! Cadences: one by id, an export of its settings and steps, an import that makes a new one.

use super::ok;
use crate::call::{Call, Reply};
use crate::error::ApiError;
use crate::generic::embedded_key;
use crate::params::str_field;
use crate::store::Store;
use serde_json::{Map, Value, json};

/// The fields of a new cadence with SalesLoft's defaults.
pub(crate) fn cadence_fields(name: &str, team_cadence: bool, owner: &Value) -> Map<String, Value> {
    let v = json!({
        "name": name, "team_cadence": team_cadence, "shared": team_cadence, "archived_at": null,
        "remove_bounces_enabled": true, "remove_replies_enabled": true, "opt_out_link_included": true,
        "draft": false, "cadence_framework_id": null, "cadence_function": "outbound",
        "external_identifier": null, "tags": [], "creator": owner, "owner": owner,
        "bounced_stage": null, "replied_stage": null, "added_stage": null, "finished_stage": null,
        "counts": {"cadence_people": 0, "people_acted_on_count": 0, "target_daily_people": 0},
    });
    v.as_object().cloned().expect("object")
}

// ---- cadences ----

/// `GET /v2/cadence_exports/{id}`: the cadence's settings and its steps, as an import takes
/// them back; 404 for a cadence that does not exist.
pub(crate) fn export_cadence(store: &Store, cadence: i64) -> Result<Reply, ApiError> {
    let record = store
        .cadences
        .rows
        .get(&cadence)
        .ok_or_else(ApiError::not_found)?;
    let steps: Vec<Value> = store
        .table("steps")
        .into_iter()
        .flat_map(|t| t.rows.values())
        .filter(|step| embedded_key(&step.fields, "cadence") == Some(cadence))
        .map(|step| {
            json!({"name": step.fields.get("name"), "type": step.fields.get("type"),
                   "day": step.fields.get("day"), "step_number": step.fields.get("step_number")})
        })
        .collect();
    let f = &record.fields;
    ok(json!({"data": {"cadence_content": {
        "settings": {"name": f.get("name"), "cadence_function": f.get("cadence_function"),
                     "remove_bounces_enabled": f.get("remove_bounces_enabled"),
                     "remove_replies_enabled": f.get("remove_replies_enabled"),
                     "opt_out_link_included": f.get("opt_out_link_included")},
        "sharing_settings": {"team_cadence": f.get("team_cadence"), "shared": f.get("shared")},
        "steps": steps,
    }}}))
}

/// `POST /v2/cadence_imports`: a new cadence named by `settings.name` (422 when blank), a team
/// cadence when `sharing_settings.team_cadence` says so, owned by the caller; the answer embeds
/// it and `cadence_created` is sent.
pub(crate) fn import_cadence(store: &mut Store, call: &Call) -> Result<Reply, ApiError> {
    let settings = match call.body.get("settings") {
        Some(Value::Object(settings)) => settings,
        None | Some(Value::Null) => return Err(ApiError::invalid("settings", "can't be blank")),
        Some(_) => return Err(ApiError::invalid("settings", "must be an object")),
    };
    let name = str_field(settings, "name")?
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("settings.name", "can't be blank"))?;
    let team = call
        .body
        .get("sharing_settings")
        .and_then(|s| s.get("team_cadence"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let base = store.base_url.clone();
    let owner = store.users.embedded(&base, "users", call.user_id);
    let mut fields = cadence_fields(&name, team, &owner);
    for key in [
        "cadence_function",
        "remove_bounces_enabled",
        "remove_replies_enabled",
        "opt_out_link_included",
    ] {
        if let Some(value) = settings.get(key).filter(|v| !v.is_null()) {
            fields.insert(key.to_string(), value.clone());
        }
    }
    let record = store.cadences.insert(call.now, fields).render();
    let id = record["id"].as_i64().unwrap_or_default();
    store.outbox.emit("cadence_created", &record, call.now);
    ok(json!({"data": {"cadence": store.cadences.embedded(&base, "cadences", id)}}))
}
