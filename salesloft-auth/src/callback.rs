//! The local server the browser is sent back to after SalesLoft's consent page.
//!
//! By default it serves `https://localhost:8443/auth/salesloft/callback` (the redirect URI
//! SalesLoft apps register) with a self-signed certificate for `localhost`, made once with
//! rcgen and kept in the configuration directory so a browser exception stays valid. A plain
//! `http://127.0.0.1:<port>` loopback server is the other option. It listens on loopback only,
//! serves one callback, then stops; it checks `state` in constant time before anything else
//! the callback carries, and hands the code on only when it matches. The browser's page is
//! answered after the code exchange, with its outcome. TLS handshakes run each on a task of
//! its own with its own timeout, so a connection that never finishes its handshake delays
//! nobody else.

use crate::error::AuthError;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use salesloft_api::Secret;
use salesloft_api::serve::{Limits, serve};
use salesloft_api::text::printable_bounded;
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

/// What the login made of the code, for the browser's page: `Err` holds the message to show.
type PageOutcome = Result<(), String>;

/// A callback handed to the login, with the way back to the browser's waiting page.
type Arrived = (Outcome, oneshot::Sender<PageOutcome>);

/// How much of a denial's description the login's error keeps (it outlives the request).
const MAX_DENIAL: usize = 512;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the browser's page waits for the code exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Shared {
    state: Secret,
    sign_in_url: Option<String>,
    done: Arc<Mutex<Option<oneshot::Sender<Arrived>>>>,
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
                        tokio::spawn(serve(listener, app, Limits::default()))
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
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                Ok(Self {
                    redirect_uri: format!("https://localhost:{}{CALLBACK_PATH}", address.port()),
                    cert_pem: Some(cert_pem),
                    // The handshakes start only when the server does: a server bound and
                    // dropped unused frees its port at once.
                    serve: Box::new(move |app| {
                        tokio::spawn(async move {
                            let tls = TlsListener::new(listener, acceptor, address);
                            serve(tls, app, Limits::default()).await
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

    /// Serves until one callback arrives (or `timeout`); if its `state` is `state`, hands its
    /// code to `exchange` and answers the browser with the outcome. With `sign_in_url`, `/`
    /// shows a "Sign in with SalesLoft" link to it.
    pub async fn wait<T, F, Fut>(
        self,
        state: &Secret,
        sign_in_url: Option<&str>,
        timeout: Duration,
        exchange: F,
    ) -> Result<T, AuthError>
    where
        F: FnOnce(Secret) -> Fut,
        Fut: Future<Output = Result<T, AuthError>>,
    {
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
        let result = match tokio::time::timeout(timeout, receiver).await {
            Err(_) => Err(AuthError::Timeout(timeout.as_secs())),
            Ok(Err(_)) => Err(AuthError::Callback("the callback server stopped".into())),
            Ok(Ok((outcome, page))) => {
                let result = match outcome {
                    Ok(code) => exchange(code).await,
                    Err(e) => Err(e),
                };
                let _ = page.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
                result
            }
        };
        // Let the page reach the browser before the server goes away.
        tokio::time::sleep(Duration::from_millis(100)).await;
        task.abort();
        result
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

pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:4em auto\"><h1>{title}</h1><p>{body}</p></body></html>"
    ))
}

pub(crate) fn escape(text: &str) -> String {
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
    let outcome = read_callback(&query, &shared.state);
    let refused = outcome.as_ref().err().map(|e| match e {
        AuthError::StateMismatch => page(
            "Login refused",
            "The response did not belong to this login. Start again from the terminal.",
        ),
        AuthError::MissingCode => page(
            "Login failed",
            "SalesLoft sent no authorization code. Start again from the terminal.",
        ),
        other => page(
            "Authorization denied",
            &format!("{}. Return to the terminal.", escape(&other.to_string())),
        ),
    });
    let (page_sender, page_receiver) = oneshot::channel();
    let _ = sender.send((outcome, page_sender));
    if let Some(view) = refused {
        return view;
    }
    match tokio::time::timeout(EXCHANGE_TIMEOUT, page_receiver).await {
        Ok(Ok(Ok(()))) => page(
            "Signed in",
            "SalesLoft authorized the app. You can close this tab and return to the terminal.",
        ),
        Ok(Ok(Err(message))) => page(
            "Login failed",
            &format!("{}. Return to the terminal.", escape(&message)),
        ),
        _ => page(
            "Login unfinished",
            "The terminal did not finish the login. Return to the terminal.",
        ),
    }
}

/// What a callback's query means. The state is checked first: a callback that is not for this
/// login is refused whatever else it says (an `error` included).
fn read_callback(query: &HashMap<String, String>, state: &Secret) -> Outcome {
    let state_ok = query
        .get("state")
        .is_some_and(|s| same_secret(s, state.expose()));
    if !state_ok {
        return Err(AuthError::StateMismatch);
    }
    if let Some(error) = query.get("error") {
        let detail = query.get("error_description").unwrap_or(error);
        return Err(AuthError::Denied(printable_bounded(detail, MAX_DENIAL)));
    }
    match query.get("code").filter(|c| !c.is_empty()) {
        Some(code) => Ok(Secret::new(code.clone())),
        None => Err(AuthError::MissingCode),
    }
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

/// A TCP listener whose connections complete their TLS handshake, each on a task of its own
/// with [`HANDSHAKE_TIMEOUT`], before axum gets them. Dropping it stops accepting.
struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream, SocketAddr)>,
    address: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

impl TlsListener {
    fn new(tcp: TcpListener, acceptor: tokio_rustls::TlsAcceptor, address: SocketAddr) -> Self {
        let (sender, ready) = tokio::sync::mpsc::channel(16);
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    // A browser that refuses the certificate, or a connection that never
                    // speaks, only ends its own connection.
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = sender.send((tls, peer)).await;
                    }
                });
            }
        });
        Self {
            ready,
            address,
            accepting,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task is gone only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.address)
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

    #[test]
    fn a_denial_keeps_a_bounded_printable_copy_of_what_the_browser_sent() {
        let state = Secret::new("s".to_string());
        let query: HashMap<String, String> = [
            ("state", "s".to_string()),
            ("error", "access_denied".to_string()),
            ("error_description", "\u{1b}[2J".repeat(100_000)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let Err(AuthError::Denied(text)) = read_callback(&query, &state) else {
            panic!("an error callback is a denial")
        };
        assert!(
            text.capacity() <= 4 * MAX_DENIAL,
            "{} bytes kept",
            text.capacity()
        );
        assert!(!text.chars().any(|c| c.is_control()));
    }
}
