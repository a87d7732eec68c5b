// Included by `build.rs` here and by `tests/build.rs` (the overhead benchmark's copy of
// `get_person` with progenitor's default hooks), so that both are generated alike.

/// progenitor's settings for the SalesLoft client, hooks aside.
fn generation_settings() -> progenitor::GenerationSettings {
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_derive("PartialEq");
    settings
}
