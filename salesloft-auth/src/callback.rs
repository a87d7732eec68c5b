//! The local server the browser is sent back to after SalesLoft's consent page.
//!
//! By default it serves `https://localhost:8443/auth/salesloft/callback` (the redirect URI
//! SalesLoft apps register) with a self-signed certificate for `localhost`, made once with
//! rcgen and kept in the configuration directory so a browser exception stays valid. A plain
//! `http://127.0.0.1:<port>` loopback server is the other option. It listens on loopback only,
//! serves one callback, then stops; it checks `state` in constant time and hands back the
//! code only when it matches.

use crate::error::AuthError;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use salesloft_api::Secret;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const DEFAULT_HTTPS_PORT: u16 = 8443;
pub const CALLBACK_PATH: &str = "/auth/salesloft/callback";

/// Which server to run.
#[derive(Clone, Debug)]
pub enum CallbackKind {
    /// `https://localhost:<port>/auth/salesloft/callback`, certificate kept in `cert_dir`.
    Https { port: u16, cert_dir: PathBuf },
    /// `http://127.0.0.1:<port>/auth/salesloft/callback` (0: any free port).
    Loopback { port: u16 },
}

/// What the callback carried, after the state check.
type Outcome = Result<Secret, AuthError>;

#[derive(Clone)]
struct Shared {
    state: Secret,
    sign_in_url: Option<String>,
    done: Arc<Mutex<Option<oneshot::Sender<Outcome>>>>,
}

/// A bound callback server, not yet waiting.
pub struct CallbackServer {
    redirect_uri: String,
    cert_pem: Option<String>,
    serve: Box<dyn FnOnce(Router) -> tokio::task::JoinHandle<()> + Send>,
}

impl CallbackServer {
    pub async fn bind(kind: CallbackKind) -> Result<Self, AuthError> {
        let fail = |e: std::io::Error| AuthError::Callback(e.to_string());
        match kind {
            CallbackKind::Loopback { port } => {
                let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(fail)?;
                let address = listener.local_addr().map_err(fail)?;
                Ok(Self {
                    redirect_uri: format!("http://{address}{CALLBACK_PATH}"),
                    cert_pem: None,
                    serve: Box::new(move |app| {
                        tokio::spawn(async move {
                            let _ = axum::serve(listener, app).await;
                        })
                    }),
                })
            }
            CallbackKind::Https { port, cert_dir } => {
                let (cert_pem, key_pem) = localhost_certificate(&cert_dir)?;
                let config = tls_config(&cert_pem, &key_pem)?;
                let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
                    AuthError::Callback(format!(
                        "cannot listen on 127.0.0.1:{port} ({e}); is another login running?"
                    ))
                })?;
                let address = listener.local_addr().map_err(fail)?;
                let tls = TlsListener {
                    tcp: listener,
                    acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
                };
                Ok(Self {
                    redirect_uri: format!("https://localhost:{}{CALLBACK_PATH}", address.port()),
                    cert_pem: Some(cert_pem),
                    serve: Box::new(move |app| {
                        tokio::spawn(async move {
                            let _ = axum::serve(tls, app).await;
                        })
                    }),
                })
            }
        }
    }

    /// The redirect URI this server answers (register it with the app).
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The PEM of the self-signed certificate, for the HTTPS server.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// Serves until one callback arrives (or `timeout`), and returns its code if its `state` is
    /// `state`. With `sign_in_url`, `/` shows a "Sign in with SalesLoft" link to it.
    pub async fn wait(
        self,
        state: &Secret,
        sign_in_url: Option<&str>,
        timeout: Duration,
    ) -> Result<Secret, AuthError> {
        let (sender, receiver) = oneshot::channel();
        let shared = Shared {
            state: state.clone(),
            sign_in_url: sign_in_url.map(str::to_string),
            done: Arc::new(Mutex::new(Some(sender))),
        };
        let app = Router::new()
            .route("/", get(sign_in))
            .route(CALLBACK_PATH, get(callback))
            .with_state(shared);
        let task = (self.serve)(app);
        let outcome = tokio::time::timeout(timeout, receiver).await;
        // Let the page reach the browser before the server goes away.
        tokio::time::sleep(Duration::from_millis(100)).await;
        task.abort();
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(AuthError::Callback("the callback server stopped".into())),
            Err(_) => Err(AuthError::Timeout(timeout.as_secs())),
        }
    }
}

/// Constant-time comparison, so the state check does not leak how much of a guess was right.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:4em auto\"><h1>{title}</h1><p>{body}</p></body></html>"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn sign_in(State(shared): State<Shared>) -> impl IntoResponse {
    match shared.sign_in_url {
        Some(url) => page(
            "SalesLoft demo",
            &format!(
                "<a href=\"{}\" style=\"font-size:1.4em\">Sign in with SalesLoft</a>",
                escape(&url)
            ),
        ),
        None => page(
            "SalesLoft login",
            "Waiting for SalesLoft to send you back here.",
        ),
    }
}

async fn callback(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let Some(sender) = shared.done.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return page(
            "Already done",
            "This login has already finished; you can close this tab.",
        );
    };
    let state_ok = query
        .get("state")
        .is_some_and(|s| same_secret(s, shared.state.expose()));
    let (outcome, view) = if let Some(error) = query.get("error") {
        let detail = query
            .get("error_description")
            .cloned()
            .unwrap_or_else(|| error.clone());
        let view = page(
            "Authorization denied",
            &format!(
                "SalesLoft said: {}. Return to the terminal.",
                escape(&detail)
            ),
        );
        (Err(AuthError::Denied(detail)), view)
    } else if !state_ok {
        (
            Err(AuthError::StateMismatch),
            page(
                "Login refused",
                "The response did not belong to this login. Start again from the terminal.",
            ),
        )
    } else if let Some(code) = query.get("code").filter(|c| !c.is_empty()) {
        (
            Ok(Secret::new(code.clone())),
            page(
                "Signed in",
                "SalesLoft authorized the app. You can close this tab and return to the terminal.",
            ),
        )
    } else {
        (
            Err(AuthError::MissingCode),
            page(
                "Login failed",
                "SalesLoft sent no authorization code. Start again from the terminal.",
            ),
        )
    };
    let _ = sender.send(outcome);
    view
}

/// The certificate for `localhost` in `dir`, made on first use.
fn localhost_certificate(dir: &Path) -> Result<(String, String), AuthError> {
    let fail =
        |e: std::io::Error| AuthError::Callback(format!("certificate in {}: {e}", dir.display()));
    let (cert_path, key_path) = (
        dir.join("localhost-cert.pem"),
        dir.join("localhost-key.pem"),
    );
    if let (Ok(cert), Ok(key)) = (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        return Ok((cert, key));
    }
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| AuthError::Callback(format!("cannot make a certificate: {e}")))?;
    let (cert, key) = (generated.cert.pem(), generated.signing_key.serialize_pem());
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(fail)?;
    std::fs::write(&cert_path, &cert).map_err(fail)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&key_path).map_err(fail)?, key.as_bytes())
        .map_err(fail)?;
    Ok((cert, key))
}

fn tls_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig, AuthError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |e: String| AuthError::Callback(format!("TLS setup: {e}"));
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail(e.to_string()))
}

/// A TCP listener that completes the TLS handshake before handing a connection to axum.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // A browser that refuses the certificate only ends its own connection.
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(stream)).await
            {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
