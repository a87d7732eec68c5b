//! A local HTTP server that records every request and answers with canned responses.
#![allow(dead_code)] // each test binary uses a different part of it

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Captured {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
struct State {
    captured: Arc<Mutex<Vec<Captured>>>,
    /// Canned answers by path: (status, JSON body text).
    answers: Arc<Mutex<HashMap<String, (u16, String)>>>,
}

pub struct CaptureServer {
    pub base_url: String,
    state: State,
}

impl CaptureServer {
    pub async fn start() -> Self {
        let state = State::default();
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base_url, state }
    }

    /// Answer requests to `path` with `status` and `body`.
    pub fn answer(&self, path: &str, status: u16, body: &str) {
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(path.to_string(), (status, body.to_string()));
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.state.captured.lock().unwrap().clone()
    }

    pub fn last(&self) -> Captured {
        self.captured()
            .pop()
            .expect("the server received a request")
    }

    pub fn client(&self) -> salesloft_api::Client {
        salesloft_api::Client::with_api_key(&self.base_url, "ak_test_key").unwrap()
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    state.captured.lock().unwrap().push(Captured {
        method,
        path: path.clone(),
        query: uri.query().map(str::to_string),
        headers,
        body,
    });
    let answer = state.answers.lock().unwrap().get(&path).cloned();
    match answer {
        Some((status, body)) => (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [("content-type", "application/json")],
            r#"{"error":"Not Found"}"#,
        )
            .into_response(),
    }
}
