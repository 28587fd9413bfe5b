//! In-process Keystone v2.0 identity emulator for integration tests.
//!
//! Keystone dropped the v2.0 API in Queens and the lab runs Keystone 22, so
//! there is no real v2.0 server to test our v2 auth code against. This
//! emulator speaks just enough v2.0 (`POST /v2.0/tokens`) and forwards every
//! request to the real Keystone v3 (`POST /v3/auth/tokens`). The token id it
//! hands out is the real v3 token, so the real Swift proxy accepts it.
//!
//! It is a Rust port of the lab's `keystone-v2-shim.py`, plus knobs that let
//! tests provoke situations a real Keystone will not produce on demand
//! (tokens about to expire, a catalog without Swift).

// This module is shared by several test binaries, each using a subset of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// v2.0 always lived in the Default domain; v3 needs it spelled out.
const DEFAULT_DOMAIN: &str = "default";

/// What a Rackspace-style API key stands for: Keystone has no API keys, so the
/// emulator swaps the key for the user's real password.
#[derive(Clone)]
pub struct ApiKeyEntry {
    pub api_key: String,
    pub password: String,
    /// Tenant (project name) to scope to when the request names none.
    pub default_tenant: String,
}

// Hand-written so secrets never end up in a panic message or test log.
impl fmt::Debug for ApiKeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyEntry")
            .field("api_key", &"<redacted>")
            .field("password", &"<redacted>")
            .field("default_tenant", &self.default_tenant)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct V2IdentityConfig {
    /// Keystone v3 base URL, e.g. `http://127.0.0.1:5000/v3`.
    pub keystone_url: String,
    /// username → API key entry.
    pub api_keys: HashMap<String, ApiKeyEntry>,
    /// Report `expires` as now + this instead of Keystone's real expiry, so
    /// "renew ahead of expiry" can be tested without waiting an hour. The
    /// token itself stays valid until its real expiry.
    pub expires_override: Option<Duration>,
    /// Drop every `object-store` service from the catalog (the identity
    /// service stays), to exercise the client's "no endpoint" error.
    pub empty_catalog: bool,
}

impl V2IdentityConfig {
    /// Lab defaults, overridable by environment:
    /// - `SWIFTMOUNT_TEST_KEYSTONE` (default `http://127.0.0.1:5000/v3`)
    /// - `SWIFTMOUNT_TEST_V2_APIKEYS`: comma-separated
    ///   `user:apikey:password:default_tenant` (default
    ///   `demo:demo-apikey:demo-secret:demo`), same format as the lab shim's
    ///   `LAB_V2_APIKEYS`.
    pub fn from_env() -> Self {
        let keystone_url = std::env::var("SWIFTMOUNT_TEST_KEYSTONE")
            .unwrap_or_else(|_| "http://127.0.0.1:5000/v3".to_owned());
        let keys = std::env::var("SWIFTMOUNT_TEST_V2_APIKEYS")
            .unwrap_or_else(|_| "demo:demo-apikey:demo-secret:demo".to_owned());
        Self {
            keystone_url: keystone_url.trim_end_matches('/').to_owned(),
            api_keys: parse_api_keys(&keys),
            expires_override: None,
            empty_catalog: false,
        }
    }
}

impl Default for V2IdentityConfig {
    fn default() -> Self {
        Self::from_env()
    }
}

fn parse_api_keys(spec: &str) -> HashMap<String, ApiKeyEntry> {
    spec.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            // The password sits in the middle so it may contain ':' itself.
            let parsed = e.split_once(':').and_then(|(user, rest)| {
                let (key, rest) = rest.split_once(':')?;
                let (password, tenant) = rest.rsplit_once(':')?;
                Some((user, key, password, tenant))
            });
            let Some((user, key, password, tenant)) = parsed else {
                // Not echoing the entry: it holds a password.
                panic!("SWIFTMOUNT_TEST_V2_APIKEYS: want user:apikey:password:tenant");
            };
            let entry = ApiKeyEntry {
                api_key: key.to_owned(),
                password: password.to_owned(),
                default_tenant: tenant.to_owned(),
            };
            (user.to_owned(), entry)
        })
        .collect()
}

/// Server-side state. The knobs are mutable so a test can flip them between
/// two authentications of the same client.
struct Shared {
    keystone_url: String,
    api_keys: HashMap<String, ApiKeyEntry>,
    expires_override: Mutex<Option<Duration>>,
    empty_catalog: AtomicBool,
    requests: AtomicUsize,
    http: reqwest::Client,
}

/// A running emulator. Dropping it stops the server.
pub struct V2Identity {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl V2Identity {
    /// Binds 127.0.0.1 on an ephemeral port and serves on the current tokio
    /// runtime.
    pub async fn start(config: V2IdentityConfig) -> Self {
        let shared = Arc::new(Shared {
            keystone_url: config.keystone_url.trim_end_matches('/').to_owned(),
            api_keys: config.api_keys,
            expires_override: Mutex::new(config.expires_override),
            empty_catalog: AtomicBool::new(config.empty_catalog),
            requests: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("reqwest client"),
        });
        let app = Router::new()
            .route("/v2.0", get(version))
            .route("/v2.0/", get(version))
            .route("/v2.0/tokens", post(tokens))
            .route("/v2.0/tokens/", post(tokens))
            .route("/tokens", post(tokens))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Graceful, so idle keep-alive connections of the client under
            // test get closed too instead of lingering on a dead server.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Starts with [`V2IdentityConfig::from_env`].
    pub async fn start_default() -> Self {
        Self::start(V2IdentityConfig::from_env()).await
    }

    /// The v2.0 auth URL to give a client: `http://127.0.0.1:PORT/v2.0`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2.0", self.addr)
    }

    /// `base_url() + "/tokens"`.
    pub fn tokens_url(&self) -> String {
        format!("{}/tokens", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Number of token requests answered with 200 so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn set_expires_override(&self, value: Option<Duration>) {
        *self.shared.expires_override.lock().unwrap() = value;
    }

    pub fn set_empty_catalog(&self, value: bool) {
        self.shared.empty_catalog.store(value, Ordering::SeqCst);
    }

    /// Stops the server and waits (briefly) for it to wind down.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        if let Some(task) = self.task.take() {
            // A client holding a request open must not hang the test.
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for V2Identity {
    fn drop(&mut self) {
        // Drop cannot await; the listener closes as soon as the signal lands.
        self.signal_stop();
    }
}

// ---------------------------------------------------------------------------
// v2.0 request / error shapes

#[derive(Deserialize)]
struct V2Request {
    auth: V2Auth,
}

#[derive(Deserialize)]
struct V2Auth {
    #[serde(rename = "passwordCredentials")]
    password: Option<PasswordCredentials>,
    #[serde(rename = "RAX-KSKEY:apiKeyCredentials")]
    api_key: Option<ApiKeyCredentials>,
    token: Option<TokenCredentials>,
    #[serde(rename = "tenantName")]
    tenant_name: Option<String>,
    #[serde(rename = "tenantId")]
    tenant_id: Option<String>,
}

#[derive(Deserialize)]
struct PasswordCredentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct ApiKeyCredentials {
    username: String,
    #[serde(rename = "apiKey")]
    api_key: String,
}

#[derive(Deserialize)]
struct TokenCredentials {
    id: String,
}

/// An error rendered as a v2.0 `{"error":{...}}` document.
struct V2Error {
    status: StatusCode,
    message: String,
}

impl V2Error {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.status.as_u16(),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        }});
        (self.status, axum::Json(body)).into_response()
    }
}

// ---------------------------------------------------------------------------
// v3 response shapes (only what v2.0 needs)

#[derive(Deserialize)]
struct V3Response {
    token: V3Token,
}

#[derive(Deserialize)]
struct V3Token {
    expires_at: String,
    issued_at: String,
    user: V3Named,
    project: Option<V3Named>,
    #[serde(default)]
    roles: Vec<V3Named>,
    #[serde(default)]
    catalog: Vec<V3Service>,
    #[serde(default)]
    audit_ids: Vec<String>,
}

#[derive(Deserialize)]
struct V3Named {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct V3Service {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    endpoints: Vec<V3Endpoint>,
}

#[derive(Deserialize)]
struct V3Endpoint {
    id: String,
    interface: String,
    region_id: Option<String>,
    region: Option<String>,
    url: String,
}

// ---------------------------------------------------------------------------
// handlers

async fn version() -> axum::Json<Value> {
    axum::Json(json!({"version": {
        "id": "v2.0",
        "status": "deprecated",
        "updated": "2016-08-04T00:00:00Z",
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.identity-v2.0+json",
        }],
    }}))
}

async fn tokens(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    // Body taken raw: axum's Json extractor would answer 415/422 with a
    // plain-text body, but v2.0 clients expect 400 and a JSON error document.
    match issue_token(&shared, &body).await {
        Ok(access) => {
            shared.requests.fetch_add(1, Ordering::SeqCst);
            axum::Json(access).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn issue_token(shared: &Shared, body: &[u8]) -> Result<Value, V2Error> {
    let req: V2Request = serde_json::from_slice(body)
        .map_err(|e| V2Error::new(StatusCode::BAD_REQUEST, malformed(&e)))?;
    let auth = req.auth;
    let mut tenant_name = auth.tenant_name.filter(|s| !s.is_empty());
    let tenant_id = auth.tenant_id.filter(|s| !s.is_empty());

    let identity = if let Some(pc) = auth.password {
        password_identity(&pc.username, &pc.password)
    } else if let Some(kc) = auth.api_key {
        let entry = shared
            .api_keys
            .get(&kc.username)
            .filter(|e| e.api_key == kc.api_key)
            .ok_or_else(|| V2Error::new(StatusCode::UNAUTHORIZED, "invalid API key"))?;
        if tenant_id.is_none() && tenant_name.is_none() {
            tenant_name = Some(entry.default_tenant.clone());
        }
        password_identity(&kc.username, &entry.password)
    } else if let Some(tc) = auth.token {
        json!({"methods": ["token"], "token": {"id": tc.id}})
    } else {
        return Err(V2Error::new(
            StatusCode::BAD_REQUEST,
            "need passwordCredentials, RAX-KSKEY:apiKeyCredentials or token",
        ));
    };

    let mut v3_auth = json!({"identity": identity});
    // v3 prefers an id when both are given, as v2.0 did.
    if let Some(id) = tenant_id {
        v3_auth["scope"] = json!({"project": {"id": id}});
    } else if let Some(name) = tenant_name {
        v3_auth["scope"] = json!({"project": {"name": name, "domain": {"id": DEFAULT_DOMAIN}}});
    }

    // Keystone is shared with the whole suite and, on a loaded 2-core CI machine, now
    // and then drops a connection or answers 503: the emulator asks again, so that
    // tests about v2.0 are not failed by that.
    let body = json!({"auth": v3_auth});
    let mut attempt = 0;
    let resp = loop {
        attempt += 1;
        let sent = shared
            .http
            .post(format!("{}/auth/tokens", shared.keystone_url))
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if !r.status().is_server_error() || attempt >= 4 => break r,
            Err(e) if attempt >= 4 => {
                // reqwest errors carry the URL, never the body, so no secrets leak.
                return Err(V2Error::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("keystone unreachable: {e}"),
                ));
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(300)).await,
        }
    };

    let status = resp.status();
    if !status.is_success() {
        return Err(upstream_error(status, resp).await);
    }
    let token_id = resp
        .headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| V2Error::new(StatusCode::BAD_GATEWAY, "keystone sent no X-Subject-Token"))?;
    let v3: V3Response = resp.json().await.map_err(|e| {
        V2Error::new(
            StatusCode::BAD_GATEWAY,
            format!("unexpected keystone answer: {e}"),
        )
    })?;

    let expires_override = *shared.expires_override.lock().unwrap();
    let empty_catalog = shared.empty_catalog.load(Ordering::SeqCst);
    Ok(v3_to_v2(
        v3.token,
        &token_id,
        expires_override,
        empty_catalog,
    ))
}

/// serde's "invalid type: string \"...\"" messages can quote a password, so
/// only the harmless "missing field" text is passed on verbatim.
fn malformed(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("missing field") {
        format!("malformed auth request: {text}")
    } else {
        format!(
            "malformed auth request at line {} column {}",
            e.line(),
            e.column()
        )
    }
}

fn password_identity(username: &str, password: &str) -> Value {
    json!({"methods": ["password"], "password": {"user": {
        "name": username,
        "domain": {"id": DEFAULT_DOMAIN},
        "password": password,
    }}})
}

/// Maps a Keystone v3 failure onto what a v2.0 server would have said.
async fn upstream_error(status: StatusCode, resp: reqwest::Response) -> V2Error {
    // Keystone answers 404 for an unknown project/user in some paths; v2.0
    // clients only know "bad credentials".
    let status = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => status,
        StatusCode::NOT_FOUND => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_GATEWAY,
    };
    let message = resp
        .json::<Value>()
        .await
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "keystone rejected the request".to_owned());
    V2Error::new(status, message)
}

fn v3_to_v2(
    token: V3Token,
    token_id: &str,
    expires_override: Option<Duration>,
    empty_catalog: bool,
) -> Value {
    let expires = match expires_override {
        Some(d) => v2_time(Utc::now() + d),
        None => v2_time_str(&token.expires_at),
    };
    let catalog: Vec<Value> = token
        .catalog
        .into_iter()
        .filter(|svc| !(empty_catalog && svc.kind == "object-store"))
        .map(v2_service)
        .collect();

    let mut token_doc = json!({
        "id": token_id,
        "expires": expires,
        "issued_at": v2_time_str(&token.issued_at),
        "audit_ids": token.audit_ids,
    });
    if let Some(project) = token.project {
        token_doc["tenant"] = json!({
            "id": project.id,
            "name": project.name,
            "enabled": true,
            "description": null,
        });
    }
    json!({"access": {
        "token": token_doc,
        "serviceCatalog": catalog,
        "user": {
            "id": token.user.id,
            "name": token.user.name,
            "username": token.user.name,
            "roles": token.roles.iter().map(|r| json!({"name": r.name})).collect::<Vec<_>>(),
            "roles_links": [],
        },
        "metadata": {
            "is_admin": 0,
            "roles": token.roles.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        },
    }})
}

/// v3 lists one endpoint per (region, interface); v2.0 has one entry per
/// region with `publicURL`/`internalURL`/`adminURL`. Regions keep the order
/// in which v3 first mentions them, since clients default to the first one.
fn v2_service(svc: V3Service) -> Value {
    let mut regions: Vec<(String, Map<String, Value>)> = Vec::new();
    for ep in svc.endpoints {
        let region = ep.region_id.or(ep.region).unwrap_or_default();
        let idx = match regions.iter().position(|(r, _)| *r == region) {
            Some(idx) => idx,
            None => {
                let mut entry = Map::new();
                entry.insert("region".into(), region.clone().into());
                entry.insert("id".into(), ep.id.into());
                regions.push((region, entry));
                regions.len() - 1
            }
        };
        regions[idx]
            .1
            .insert(format!("{}URL", ep.interface), ep.url.into());
    }
    let name = svc.name.unwrap_or_else(|| svc.kind.clone());
    json!({
        "type": svc.kind,
        "name": name,
        "endpoints": regions.into_iter().map(|(_, e)| Value::Object(e)).collect::<Vec<_>>(),
        "endpoints_links": [],
    })
}

/// v2.0 wrote timestamps as `2014-01-30T15:30:58Z` (no fraction); some
/// clients parse exactly that.
fn v2_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn v2_time_str(v3: &str) -> String {
    DateTime::parse_from_rfc3339(v3)
        .map(|t| v2_time(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| v3.to_owned())
}
