//! For the overhead benchmark only: the `get_person` operation generated again by progenitor,
//! from the same normalized spec and with the same settings as `salesloft-api` (its
//! `generation_settings.rs`), but with progenitor's default hooks (a plain `execute`) instead of
//! our hook stack. Measured next to the bare reqwest loop and the full client, it tells apart
//! what the generated code costs and what our hooks cost. Written to `OUT_DIR/floor.rs`;
//! nothing ships with it.

use serde_json::{Map, Value, json};

include!("../salesloft-api/generation_settings.rs");

const PATH: &str = "/v2/people/{id}.json";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../salesloft-api/generation_settings.rs");
    let document: Value = serde_json::from_str(salesloft_openapi::SPEC).expect("the spec is JSON");
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(get_person_only(&document)).expect("the cut spec is OpenAPI");

    let mut settings = generation_settings();
    settings
        // The only hook: the bearer header, built per request as the bare loop builds it.
        .with_inner_type(quote::quote! { String })
        .with_pre_hook(quote::quote! {
            |key: &String, request: &mut reqwest::Request| {
                let mut value = reqwest::header::HeaderValue::try_from(format!("Bearer {key}"))
                    .expect("the sandbox's key is a header value");
                value.set_sensitive(true);
                request.headers_mut().insert(reqwest::header::AUTHORIZATION, value);
            }
        });
    let tokens = progenitor::Generator::new(&settings)
        .generate_tokens(&spec)
        .expect("progenitor generates get_person");
    let file: syn::File = syn::parse2(tokens).expect("generated code parses");
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("floor.rs"), prettyplease::unparse(&file))
        .expect("OUT_DIR is writable");
}

/// The spec with only `GET /v2/people/{id}.json` and the schemas it reaches.
fn get_person_only(document: &Value) -> Value {
    let operation = document["paths"][PATH]["get"].clone();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("the spec has schemas");
    let mut kept = Map::new();
    let mut pending = Vec::new();
    refs_in(&operation, &mut pending);
    while let Some(name) = pending.pop() {
        if kept.contains_key(&name) {
            continue;
        }
        let schema = schemas[&name].clone();
        refs_in(&schema, &mut pending);
        kept.insert(name, schema);
    }
    let mut cut = document.clone();
    cut["paths"] = json!({ PATH: { "get": operation } });
    cut["components"]["schemas"] = Value::Object(kept);
    cut
}

/// The names of the schemas `value` refers to.
fn refs_in(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                names.push(name.to_string());
            }
            map.values().for_each(|v| refs_in(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, names)),
        _ => {}
    }
}
