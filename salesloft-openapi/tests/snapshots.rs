//! The operation table and the normalization steps, as snapshots: a spec change shows up in review.

use serde_json::Value;

fn spec() -> Value {
    serde_json::from_str(salesloft_openapi::SPEC).expect("swagger.json is JSON")
}

#[test]
fn operation_table() {
    let spec = spec();
    let mut rows = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .expect("every operation has an operationId");
            rows.push(format!("{:<7} {:<55} {}", method.to_uppercase(), path, id));
        }
    }
    assert_eq!(rows.len(), 118, "SalesLoft documents 118 operations");
    insta::assert_snapshot!(rows.join("\n"));
}

#[test]
fn normalization_steps() {
    let steps: Vec<String> = spec()["info"]["x-normalization"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s["step"].as_str().unwrap(),
                s["why"].as_str().unwrap()
            )
        })
        .collect();
    insta::assert_snapshot!(steps.join("\n"));
}

#[test]
fn is_openapi_3_0_with_json_everywhere() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.0"));
    let mut media_types = std::collections::BTreeSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let bodies = op["responses"]
                .as_object()
                .unwrap()
                .values()
                .chain(op.get("requestBody"));
            for body in bodies {
                if let Some(content) = body.get("content").and_then(Value::as_object) {
                    media_types.extend(content.keys().cloned());
                }
            }
        }
    }
    assert_eq!(
        media_types.into_iter().collect::<Vec<_>>(),
        ["application/json"]
    );
}

/// Every property `types_from_examples` corrected (and every allow-list entry it used), so a
/// reviewer sees each one; a new upstream document that changes them changes this snapshot.
#[test]
fn corrections_from_examples() {
    let spec = spec();
    let step = spec["info"]["x-normalization"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "types_from_examples")
        .expect("the step ran");
    let lines: Vec<&str> = step["corrected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}
