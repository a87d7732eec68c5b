// Included by `build.rs` here and by `tests/build.rs` (the overhead benchmark's copy of
// `get_person` with progenitor's default hooks), so that both are generated alike.

/// Schemas of the normalized spec that decode as, or are sent by, a hand-written type of the
/// crate rather than a generated one: the schema's name, the type's path.
const REPLACED_SCHEMAS: &[(&str, &str)] = &[
    // Every identifier-like property refers to the spec's `Id` schema (an integer or a
    // string, SERVICE.md §1.17); it decodes as our `Id`, which keeps the form that came.
    ("Id", "::salesloft_api::Id"),
    // The free-form map filters of list_people and list_accounts: sent as
    // `custom_fields[Name]=value`, which no generated map type would do (`src/filters.rs`).
    ("CustomFieldsFilter", "::salesloft_api::CustomFieldsFilter"),
    ("UserRelationshipsFilter", "::salesloft_api::UserRelationshipsFilter"),
];

/// progenitor's settings for the SalesLoft client, hooks aside.
fn generation_settings() -> progenitor::GenerationSettings {
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_derive("PartialEq");
    for (schema, path) in REPLACED_SCHEMAS {
        let impls = match *schema {
            "Id" => vec![progenitor::TypeImpl::Display, progenitor::TypeImpl::FromStr],
            _ => vec![progenitor::TypeImpl::Default],
        };
        settings.with_replacement(schema, path, impls.into_iter());
    }
    settings
}
