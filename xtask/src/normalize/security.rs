//! Security schemes that tell the truth (SERVICE.md §1.10).

use anyhow::{Context, Result};
use serde_json::{Value, json};

const ACCOUNTS: &str = "https://accounts.salesloft.com";

/// OAuth 2 authorization code (with refresh) and client credentials, and API keys sent as
/// bearer tokens; every operation accepts either.
pub fn schemes(doc: &mut Value) -> Result<()> {
    let root = doc.as_object_mut().context("document is not an object")?;
    let components = root
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("`components` is not an object")?;
    components.insert(
        "securitySchemes".into(),
        json!({
            "oauth2": {
                "type": "oauth2",
                "description": "OAuth 2.0. Access tokens last 7200 s; refresh tokens rotate (each refresh revokes the earlier ones).",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": format!("{ACCOUNTS}/oauth/authorize"),
                        "tokenUrl": format!("{ACCOUNTS}/oauth/token"),
                        "refreshUrl": format!("{ACCOUNTS}/oauth/token"),
                        "scopes": {},
                    },
                    "clientCredentials": {
                        "tokenUrl": format!("{ACCOUNTS}/oauth/token"),
                        "scopes": {},
                    },
                },
            },
            "api_key": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`ak_...` or `v2_ak_...`) sent as a bearer token; it acts as the user who made it.",
            },
        }),
    );
    root.insert("security".into(), json!([{"oauth2": []}, {"api_key": []}]));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_code_and_bearer_are_declared() {
        let mut doc = json!({"components": {"securitySchemes": {"OAuth2": {}}}});
        schemes(&mut doc).unwrap();
        let s = &doc["components"]["securitySchemes"];
        assert!(s.get("OAuth2").is_none());
        assert!(s["oauth2"]["flows"]["authorizationCode"]["authorizationUrl"].is_string());
        assert_eq!(s["api_key"]["scheme"], "bearer");
        assert_eq!(doc["security"][1]["api_key"], json!([]));
    }
}
