//! Generates the SalesLoft client from the normalized spec with progenitor (builder interface).
//!
//! The spec comes from the `salesloft-openapi` crate; the output goes to `OUT_DIR/codegen.rs`
//! and is included by `src/generated.rs`. Nothing generated is ever edited by hand: change the
//! normalization in `xtask` or the settings below.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let spec: openapiv3::OpenAPI = serde_json::from_str(salesloft_openapi::SPEC)
        .expect("salesloft-openapi carries a valid OpenAPI document");

    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        // `src/hooks.rs` implements `ClientHooks` for the generated `Client`: auth header,
        // 401 refresh, and the transport policy. `Inner` is what each client carries for it.
        .with_inner_type(quote::quote! { crate::hooks::Inner })
        .with_hooks(progenitor::HooksMode::Expected)
        .with_derive("PartialEq");
    let tokens = progenitor::Generator::new(&settings)
        .generate_tokens(&spec)
        .expect("progenitor generates the client from the normalized spec");
    let file: syn::File = syn::parse2(tokens).expect("generated code parses");
    let code = prettyplease::unparse(&file);
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("codegen.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
