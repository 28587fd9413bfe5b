//! An in-process HTTP proxy in front of the real Swift that injects faults on demand:
//! error statuses for the next N requests, or a stall longer than a client timeout.
//! Everything else is passed through unchanged, so the real Swift does the real work.

#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Default)]
struct Faults {
    /// Requests still to be answered with `status` instead of being forwarded.
    fail_next: AtomicUsize,
    status: AtomicU16,
    /// Requests still to be held for `stall_ms` before being forwarded.
    stall_next: AtomicUsize,
    stall_ms: AtomicU64,
    /// Requests still to be forwarded (so they take effect) but answered with 503,
    /// as when a reply is lost on the way back.
    lose_next: AtomicUsize,
    /// Responses still to be cut off half-way through their body (the connection
    /// breaks, as with a proxy restart or a reset).
    cut_next: AtomicUsize,
    seen: AtomicUsize,
    injected: AtomicUsize,
    /// Requests received, by method.
    methods: Mutex<BTreeMap<String, usize>>,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    faults: Faults,
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy in front of the server of `url` (its path is left out).
    pub async fn in_front_of(url: &str) -> Self {
        let url = url::Url::parse(url).unwrap();
        FaultProxy::start(&url[..url::Position::BeforePath]).await
    }

    /// Proxies `http://127.0.0.1:PORT/...` to `upstream` (scheme://host:port).
    pub async fn start(upstream: &str) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            faults: Faults::default(),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FaultProxy { addr, shared, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.faults.status.store(status, Ordering::SeqCst);
        self.shared.faults.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn stall_next(&self, n: usize, stall: Duration) {
        self.shared
            .faults
            .stall_ms
            .store(stall.as_millis() as u64, Ordering::SeqCst);
        self.shared.faults.stall_next.store(n, Ordering::SeqCst);
    }

    pub fn cut_body_next(&self, n: usize) {
        self.shared.faults.cut_next.store(n, Ordering::SeqCst);
    }

    pub fn lose_answer_next(&self, n: usize) {
        self.shared.faults.lose_next.store(n, Ordering::SeqCst);
    }

    /// Requests received so far, by method (`GET`, `HEAD`, `PUT`...).
    pub fn method_counts(&self) -> BTreeMap<String, usize> {
        self.shared.faults.methods.lock().unwrap().clone()
    }

    /// Requests received, and faults injected, so far.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.shared.faults.seen.load(Ordering::SeqCst),
            self.shared.faults.injected.load(Ordering::SeqCst),
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Takes one from a counter if it is above zero.
fn take_one(c: &AtomicUsize) -> bool {
    c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn forward(State(s): State<Arc<Shared>>, req: Request) -> Response {
    s.faults.seen.fetch_add(1, Ordering::SeqCst);
    *s.faults
        .methods
        .lock()
        .unwrap()
        .entry(req.method().to_string())
        .or_default() += 1;
    if take_one(&s.faults.fail_next) {
        s.faults.injected.fetch_add(1, Ordering::SeqCst);
        let status = StatusCode::from_u16(s.faults.status.load(Ordering::SeqCst)).unwrap();
        return Response::builder()
            .status(status)
            .body(Body::from("injected fault"))
            .unwrap();
    }
    if take_one(&s.faults.stall_next) {
        s.faults.injected.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(
            s.faults.stall_ms.load(Ordering::SeqCst),
        ))
        .await;
    }
    let upstream = send_upstream(&s.http, &s.upstream, req).await.unwrap();
    if take_one(&s.faults.lose_next) {
        s.faults.injected.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::from("answer lost"))
            .unwrap();
    }
    let resp = response_head(&upstream);
    let body = upstream.bytes().await.unwrap();
    if body.len() > 1 && take_one(&s.faults.cut_next) {
        s.faults.injected.fetch_add(1, Ordering::SeqCst);
        let half = body.slice(..body.len() / 2);
        let parts: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
            Ok(half),
            Err(std::io::Error::other("injected: connection cut")),
        ];
        return resp
            .body(Body::from_stream(futures::stream::iter(parts)))
            .unwrap();
    }
    resp.body(Body::from(body)).unwrap()
}

/// Sends `req` on to `upstream` (scheme://host:port), headers and all. The Host header
/// goes through: tempauth builds the storage URL it hands out from it, so clients that
/// log in through a proxy keep using it. The body is buffered (small in these tests),
/// so Swift gets a Content-Length (set by hand when the body is empty: reqwest sends
/// none then, and Swift refuses a zero-byte PUT, a folder marker, with 411).
pub async fn send_upstream(
    http: &reqwest::Client,
    upstream: &str,
    req: Request,
) -> reqwest::Result<reqwest::Response> {
    let (parts, body) = req.into_parts();
    let url = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let body = to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if k != "content-length" && k != "transfer-encoding" {
            headers.insert(k.clone(), v.clone());
        }
    }
    if body.is_empty() && parts.headers.contains_key("content-length") {
        headers.insert("content-length", "0".parse().unwrap());
    }
    http.request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
}

/// The status and headers of an upstream answer, less the hop-by-hop ones.
pub fn response_head(upstream: &reqwest::Response) -> axum::http::response::Builder {
    let mut resp = Response::builder().status(upstream.status());
    for (k, v) in upstream.headers() {
        if k != "transfer-encoding" && k != "connection" {
            resp = resp.header(k, v);
        }
    }
    resp
}
