//! Generates the SalesLoft client from the normalized spec with progenitor (builder interface).
//!
//! The spec comes from the `salesloft-openapi` crate; the output goes to `OUT_DIR/codegen.rs`
//! and is included by `src/generated.rs`. Nothing generated is ever edited by hand: change the
//! normalization in `xtask` or the settings (`generation_settings.rs`, shared with the
//! benchmark's copy of `get_person`, and the hooks below).

include!("generation_settings.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=generation_settings.rs");
    let spec: openapiv3::OpenAPI = serde_json::from_str(salesloft_openapi::SPEC)
        .expect("salesloft-openapi carries a valid OpenAPI document");

    let mut settings = generation_settings();
    settings
        // `src/hooks.rs` implements `ClientHooks` for the generated `Client`: auth header,
        // 401 refresh, and the transport policy. `state::ClientState` is what each client carries for it.
        .with_inner_type(quote::quote! { crate::state::ClientState })
        .with_hooks(progenitor::HooksMode::Expected);
    let tokens = progenitor::Generator::new(&settings)
        .generate_tokens(&spec)
        .expect("progenitor generates the client from the normalized spec");
    let mut file: syn::File = syn::parse2(tokens).expect("generated code parses");
    keep_body_builders_only(&mut file);
    let (calls, answers) = call_methods(&file);
    let code = prettyplease::unparse(&file);
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("codegen.rs"), code).expect("OUT_DIR is writable");

    let document: serde_json::Value =
        serde_json::from_str(salesloft_openapi::SPEC).expect("the spec is JSON");
    let traits = trait_impls(&document) + &calls + &decoders(&document, &answers);
    std::fs::write(out_dir.join("traits.rs"), traits).expect("OUT_DIR is writable");
}

/// The builder interface has typify write a builder for every type (`types::builder::X`,
/// `X::builder()`), but only request bodies are built that way (`body_map(|b| ...)`): the
/// builders of the ~160 answer types are half of the generated code, which every user of the
/// crate compiles and none calls (an answer is decoded, not built). Those are left out; the
/// answer types themselves are untouched.
fn keep_body_builders_only(file: &mut syn::File) {
    use quote::ToTokens;
    use std::collections::BTreeSet;
    // The bodies: every `types::builder::X` the operation builders name.
    let operations: String = module_items(file, "builder")
        .iter()
        .map(|item| item.to_token_stream().to_string())
        .collect();
    let bodies: BTreeSet<String> = operations
        .split("types :: builder :: ")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
        })
        .map(str::to_string)
        .collect();
    assert!(
        !bodies.is_empty(),
        "the operation builders name their bodies' builders"
    );
    let is_body = |name: &str| bodies.contains(name);
    // The last path segment of a type (`super::Person` -> `Person`).
    let type_name = |ty: &syn::Type| match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    };
    let Some(types) = file.items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == "types" => m.content.as_mut(),
        _ => None,
    }) else {
        panic!("progenitor writes a `types` module");
    };
    for item in types.1.iter_mut() {
        if let syn::Item::Mod(builders) = item
            && builders.ident == "builder"
            && let Some((_, items)) = builders.content.as_mut()
        {
            items.retain(|item| match item {
                syn::Item::Struct(s) => is_body(&s.ident.to_string()),
                // `impl Default for X`, `impl X {setters}`, `impl TryFrom<X> for super::X`,
                // `impl From<super::X> for X`: X is the builder's own type in each.
                syn::Item::Impl(block) => {
                    type_name(&block.self_ty).is_none_or(|name| is_body(&name))
                }
                _ => true,
            });
        }
    }
    // `impl X { pub fn builder() -> builder::X }` of the answer types.
    types.1.retain(|item| match item {
        syn::Item::Impl(block) if block.trait_.is_none() && block.items.len() == 1 => {
            let only_builder =
                matches!(&block.items[0], syn::ImplItem::Fn(f) if f.sig.ident == "builder");
            !only_builder || type_name(&block.self_ty).is_some_and(|name| is_body(&name))
        }
        _ => true,
    });
}

/// The items of the generated file's top-level module `name` (progenitor writes `types` and,
/// with the builder interface, `builder`).
fn module_items<'f>(file: &'f syn::File, name: &str) -> &'f [syn::Item] {
    file.items
        .iter()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == name => m.content.as_ref().map(|(_, items)| &items[..]),
            _ => None,
        })
        .unwrap_or_else(|| panic!("progenitor's builder interface writes a `{name}` module"))
}

/// `call()` next to every builder's generated `send()`: the same request, its error an
/// `ApiError` that names the operation (progenitor's decode error does not know it). Read
/// from the generated code itself, so every operation has one and none is written by hand.
/// Also returns each operation with the type of its answer's body (`()` when it has none).
fn call_methods(file: &syn::File) -> (String, Vec<(String, String)>) {
    use quote::ToTokens;
    let mut out = String::new();
    let mut answers = Vec::new();
    for item in module_items(file, "builder") {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        let builder_type = block.self_ty.to_token_stream().to_string().replace(' ', "");
        for member in &block.items {
            let syn::ImplItem::Fn(method) = member else {
                continue;
            };
            if method.sig.ident != "send" {
                continue;
            }
            let body = method.block.to_token_stream().to_string();
            let operation = body
                .split("operation_id : \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("every generated send() names its operation");
            let syn::ReturnType::Type(_, returned) = &method.sig.output else {
                panic!("send() returns a Result");
            };
            let returned = returned.to_token_stream().to_string();
            let ok = returned
                .strip_prefix("Result < ")
                .and_then(|rest| rest.rsplit_once(", Error <"))
                .map(|(ok, _)| ok)
                .expect("send() returns Result<ResponseValue<T>, Error<E>>");
            let lifetime = builder_type
                .split_once('<')
                .map_or(String::new(), |(_, rest)| format!("<{rest}"));
            let name = builder_type.split('<').next().unwrap_or(&builder_type);
            let body_type = ok
                .trim()
                .strip_prefix("ResponseValue < ")
                .and_then(|rest| rest.strip_suffix(" >"))
                .expect("send() answers a ResponseValue<T>");
            answers.push((operation.to_string(), body_type.replace(' ', "")));
            out.push_str(&format!(
                "impl{lifetime} builder::{name}{lifetime} {{\n    \
                 /// Sends the request, as `send()` does; an error is an [`ApiError`](crate::ApiError) naming `{operation}`.\n    \
                 pub async fn call(self) -> Result<{ok}, crate::ApiError> {{\n        \
                 self.send().await.map_err(|e| crate::ApiError::from(e).in_operation(\"{operation}\"))\n    }}\n}}\n"
            ));
        }
    }
    (out, answers)
}

/// `decoders`: JSON in, the generated type of a schema or of an operation's answer out, by
/// name, for the fidelity tests (every schema's examples, every operation's sandbox answer).
fn decoders(document: &serde_json::Value, answers: &[(String, String)]) -> String {
    let decoder = |name: &str, rust: &str| {
        format!("    (\"{name}\", |b| serde_json::from_slice::<{rust}>(b).map(drop)),\n")
    };
    let mut out = String::from(
        "/// For the workspace's fidelity tests: decode JSON as the generated type of a schema, or of\n\
         /// an operation's answer (operations without a body are left out). Behind the `decoders`\n\
         /// feature: a table of every type's decoder is of no use to a client's users.\n\
         #[doc(hidden)]\n#[cfg(feature = \"decoders\")]\npub mod decoders {\n    use super::types;\n    \
         pub type Decode = fn(&[u8]) -> Result<(), serde_json::Error>;\n    \
         pub const SCHEMAS: &[(&str, Decode)] = &[\n",
    );
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("the spec has schemas");
    for name in schemas.keys() {
        let rust = REPLACED_SCHEMAS
            .iter()
            .find(|(schema, _)| schema == name)
            .map_or_else(|| format!("types::{name}"), |(_, path)| path.to_string());
        out.push_str(&decoder(name, &rust));
    }
    out.push_str("    ];\n    pub const OPERATIONS: &[(&str, Decode)] = &[\n");
    for (operation, body_type) in answers.iter().filter(|(_, t)| t != "()") {
        out.push_str(&decoder(operation, body_type));
    }
    out.push_str("    ];\n}\n");
    out
}

/// `ListEnvelope` for every list envelope, so one page stream serves every list operation, and
/// `Synced` for every resource with an `id` and an `updated_at`, for incremental sync.
fn trait_impls(document: &serde_json::Value) -> String {
    let mut out = String::from("// Generated by build.rs from the normalized spec.\n");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("the spec has schemas");
    for (name, schema) in schemas {
        let properties = &schema["properties"];
        if name.ends_with("ListEnvelope") {
            let item = properties["data"]["items"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .expect("list envelopes carry a named schema");
            out.push_str(&format!(
                "impl crate::pagination::ListEnvelope for types::{name} {{\n    type Item = types::{item};\n    \
                 fn into_parts(self) -> (Vec<types::{item}>, Option<types::ListMetadata>) {{ (self.data, self.metadata) }}\n}}\n"
            ));
        }
        let has_id = properties["id"]
            .to_string()
            .contains("#/components/schemas/Id\"");
        let updated_at = properties["updated_at"]["format"] == "date-time";
        if has_id && updated_at {
            out.push_str(&format!(
                "impl crate::sync::Synced for types::{name} {{\n    \
                 fn record_id(&self) -> Option<crate::Id> {{ self.id.clone() }}\n    \
                 fn record_updated_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {{ self.updated_at }}\n}}\n"
            ));
        }
    }
    out
}
