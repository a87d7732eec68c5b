// Included by `build.rs` here and by `tests/build.rs` (the overhead benchmark's copy of
// `get_person` with progenitor's default hooks), so that both are generated alike.

/// progenitor's settings for the SalesLoft client, hooks aside.
fn generation_settings() -> progenitor::GenerationSettings {
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_derive("PartialEq")
        // Every identifier-like property refers to the spec's `Id` schema (an integer or a
        // string, SERVICE.md §1.17); it decodes as our `Id`, which keeps the form that came.
        .with_replacement(
            "Id",
            "::salesloft_api::Id",
            [progenitor::TypeImpl::Display, progenitor::TypeImpl::FromStr].into_iter(),
        );
    settings
}
