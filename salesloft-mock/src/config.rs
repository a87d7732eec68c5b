//! How a sandbox is set up: the registered app, API keys, token lifetime, rate limit.

/// The redirect URI SalesLoft apps register for a local callback server.
pub const DEFAULT_REDIRECT_URI: &str = "https://localhost:8443/auth/salesloft/callback";

/// The scopes an authorization grants unless a test narrows them.
pub const SCOPE: &str = "people:read people:write accounts:read accounts:write cadences:read cadence_memberships:read cadence_memberships:write users:read";

#[derive(Clone, Debug)]
pub struct Config {
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    pub port: u16,
    /// The registered OAuth app.
    pub client_id: String,
    pub client_secret: String,
    /// Redirect URIs accepted besides any `http://127.0.0.1:<port>/...` or `http://localhost:<port>/...`.
    pub redirect_uris: Vec<String>,
    /// API keys accepted as bearer tokens; they act as the seeded user.
    pub api_keys: Vec<String>,
    /// Access token lifetime, in seconds (SalesLoft: 7200).
    pub token_ttl_seconds: i64,
    /// Cost budget per team per calendar minute (SalesLoft: 600).
    pub rate_limit_per_minute: u32,
    /// Whether `/oauth/authorize` approves at once (true) or denies (`error=access_denied`).
    pub approve: bool,
    /// How many requests the request log keeps (oldest dropped first).
    pub request_log_capacity: usize,
    /// How many bytes of paths, queries and bodies the request log keeps in all.
    pub request_log_bytes: usize,
    /// When set, `/__admin` answers only requests with `Authorization: Bearer <this>`.
    pub admin_token: Option<String>,
    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may sit idle before its next request.
    pub header_timeout: std::time::Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: std::time::Duration,
    /// How long a bulk job executes, on the sandbox's clock, once marked ready (0: it is done
    /// by the next time anyone looks). The service does not say how long jobs take.
    pub bulk_job_seconds: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            client_id: "sandbox-client-id".into(),
            client_secret: "sandbox-client-secret".into(),
            redirect_uris: vec![DEFAULT_REDIRECT_URI.into()],
            api_keys: vec![format!("ak_{}", "0".repeat(64))],
            token_ttl_seconds: 7200,
            rate_limit_per_minute: 600,
            approve: true,
            request_log_capacity: 100_000,
            request_log_bytes: 8 * 1024 * 1024,
            admin_token: None,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(10),
            bulk_job_seconds: 0,
        }
    }
}

impl Config {
    /// Whether `uri` may receive authorization codes: a registered URI, or a loopback `http` URI
    /// on any port (as native apps use).
    pub fn accepts_redirect_uri(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        let Ok(url) = url::Url::parse(uri) else {
            return false;
        };
        url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1") | Some("localhost"))
            && url.port().is_some()
            && url.fragment().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        let config = Config::default();
        assert!(config.accepts_redirect_uri(DEFAULT_REDIRECT_URI));
        assert!(config.accepts_redirect_uri("http://127.0.0.1:53682/callback"));
        assert!(config.accepts_redirect_uri("http://localhost:9000/auth/salesloft/callback"));
        assert!(!config.accepts_redirect_uri("http://evil.example/callback"));
        assert!(!config.accepts_redirect_uri("https://localhost:9999/other"));
        assert!(!config.accepts_redirect_uri("http://127.0.0.1/no-port"));
    }
}
