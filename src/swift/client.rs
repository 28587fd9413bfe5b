//! The Swift HTTP client: one authenticated session shared by every request, renewed
//! ahead of expiry and on a 401, and retries with backoff for requests that may be
//! repeated safely. Every request goes out through one funnel (`SwiftClient::send`),
//! where it is counted and timed for the mount's metrics.

use super::auth::{self, Credentials, EndpointFilter, Session};
use super::error::SwiftError;
use super::retry::RetryPolicy;
use super::store::{
    ByteRange, FileRange, ListQuery, ObjectStore, ObjectStream, SegmentPath, UploadBody,
};
use super::types::{
    AccountInfo, ClusterInfo, ContainerInfo, ListEntry, ObjectInfo, SloSegment, header_u64,
};
use super::{ContainerName, ObjectMeta, ObjectName};
use crate::metrics::Metrics;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use url::Url;

/// Tunables of the client; [`Default`] is what the CLI uses unless told otherwise.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response (not for a whole transfer).
    pub read_timeout: Duration,
    /// Extra attempts for a request that may be repeated. Delays double from
    /// `retry_base_delay` (with jitter, at most 10 s each): 6 attempts from 0.2 s
    /// wait 6-12 s in all, long enough for a proxy to restart.
    pub retries: u32,
    pub retry_base_delay: Duration,
    /// Renew the token this long before it expires. `None`: a quarter of the token's
    /// lifetime, at most five minutes.
    pub renew_margin: Option<Duration>,
    /// Rows asked for per listing request (Swift's own cap is 10,000).
    pub listing_page_size: u32,
    /// Accept any TLS certificate (self-signed test clusters only).
    pub insecure_tls: bool,
    /// A PEM file of CA certificates trusted besides the system's: a private cloud's
    /// own CA, without turning verification off.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            retries: 6,
            retry_base_delay: Duration::from_millis(200),
            renew_margin: None,
            listing_page_size: 10_000,
            insecure_tls: false,
            ca_file: None,
        }
    }
}

/// How one request is built again for each attempt.
struct RequestSpec<'a> {
    method: Method,
    container: Option<&'a ContainerName>,
    object: Option<&'a ObjectName>,
    query: Vec<(&'static str, String)>,
    headers: HeaderMap,
    /// Always replayable: every request sent through `execute` may be repeated
    /// safely (a streamed PUT goes its own way).
    body: Option<Bytes>,
}

impl<'a> RequestSpec<'a> {
    fn new(
        method: Method,
        container: Option<&'a ContainerName>,
        object: Option<&'a ObjectName>,
    ) -> Self {
        RequestSpec {
            method,
            container,
            object,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Result<Self, SwiftError> {
        let bad = || SwiftError::Config(format!("header {name} cannot carry the value {value:?}"));
        let value = HeaderValue::from_str(value).map_err(|_| bad())?;
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        self.headers.insert(name, value);
        Ok(self)
    }

    fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    /// `container/object` for messages.
    fn what(&self) -> String {
        match (self.container, self.object) {
            (Some(c), Some(o)) => format!("object {c}/{o}"),
            (Some(c), None) => format!("container {c}"),
            _ => "account".to_string(),
        }
    }

    fn url(&self, storage_url: &Url) -> Url {
        let mut url = storage_url.clone();
        {
            // Storage URLs never have cannot-be-a-base form: they come from a catalog
            // or an auth server and were parsed as http(s) URLs.
            let mut segs = url.path_segments_mut().expect("storage URL is http(s)");
            segs.pop_if_empty();
            if let Some(c) = self.container {
                segs.push(c.as_str());
            }
            if let Some(o) = self.object {
                segs.push(o.as_str());
            }
        }
        if !self.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(self.query.iter().map(|(k, v)| (*k, v)));
        }
        url
    }
}

/// Talks to one Swift account.
pub struct SwiftClient {
    http: reqwest::Client,
    credentials: Credentials,
    filter: EndpointFilter,
    config: ClientConfig,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
    session: RwLock<Option<Arc<Session>>>,
    /// One login at a time: a burst of 401s renews the token once.
    login_lock: tokio::sync::Mutex<()>,
    logins: AtomicU64,
}

impl SwiftClient {
    pub fn new(
        credentials: Credentials,
        filter: EndpointFilter,
        config: ClientConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, SwiftError> {
        let extra_roots = match &config.ca_file {
            Some(path) => super::tls::load_ca_file(path)?,
            None => Vec::new(),
        };
        if config.insecure_tls {
            log::warn!(
                "TLS certificates are not verified (--insecure, or the cloud's verify: false)"
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            // Swift's proxy closes idle connections after 60 s (client_timeout); a
            // pooled one older than that fails the next request, and a streamed
            // upload cannot be sent again
            .pool_idle_timeout(Duration::from_secs(20))
            .user_agent(concat!("swiftmount/", env!("CARGO_PKG_VERSION")))
            // Swift answers a POST to a (native) symlink with 307 to its target:
            // following it would change the target's metadata instead
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(config.insecure_tls)
            // merged with the system's roots, which stay trusted
            .tls_certs_merge(extra_roots)
            .build()
            .map_err(|e| SwiftError::Config(format!("HTTP client: {e}")))?;
        Ok(SwiftClient {
            http,
            credentials,
            filter,
            retry: RetryPolicy {
                retries: config.retries,
                base_delay: config.retry_base_delay,
                metrics: metrics.clone(),
            },
            metrics,
            config,
            session: RwLock::new(None),
            login_lock: tokio::sync::Mutex::new(()),
            logins: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// How many times this client has logged in (for diagnostics and tests).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    fn current(&self) -> Option<Arc<Session>> {
        self.session.read().expect("session lock").clone()
    }

    fn needs_renewal(&self, s: &Session) -> bool {
        let Some(expires) = s.expires_at else {
            return false;
        };
        let margin = self.config.renew_margin.unwrap_or_else(|| {
            let lifetime = (expires - s.issued_at).to_std().unwrap_or_default();
            (lifetime / 4).min(Duration::from_secs(300))
        });
        let margin = chrono::Duration::from_std(margin).unwrap_or_default();
        chrono::Utc::now() + margin >= expires
    }

    /// A session that is not about to expire, logging in if needed.
    pub async fn session(&self) -> Result<Arc<Session>, SwiftError> {
        match self.current() {
            Some(s) if !self.needs_renewal(&s) => Ok(s),
            _ => self.login(None).await,
        }
    }

    /// Logs in again, unless another task already replaced `stale` meanwhile.
    async fn login(&self, stale: Option<&Arc<Session>>) -> Result<Arc<Session>, SwiftError> {
        let _one_at_a_time = self.login_lock.lock().await;
        let current = self.current();
        if let Some(cur) = &current {
            let replaced = stale.is_some_and(|st| !Arc::ptr_eq(cur, st));
            if replaced || (stale.is_none() && !self.needs_renewal(cur)) {
                return Ok(cur.clone());
            }
        }
        if current.is_some() && !self.credentials.can_renew() {
            return Err(SwiftError::AuthFailed {
                url: self.credentials.auth_url().to_string(),
                reason: "the given token was refused or expired, and there are no credentials to get a new one".into(),
            });
        }
        match self.authenticate_with_retries(current.is_some()).await {
            Ok(s) => {
                self.logins.fetch_add(1, Ordering::Relaxed);
                let s = Arc::new(s);
                *self.session.write().expect("session lock") = Some(s.clone());
                Ok(s)
            }
            // Renewing ahead of time failed, but the old token still works: keep it
            // and let the next request try again, instead of failing I/O now.
            Err(e) if stale.is_none() && current.as_ref().is_some_and(|c| still_valid(c)) => {
                log::warn!("token renewal failed, keeping the current token: {e}");
                Ok(current.expect("checked above"))
            }
            Err(e) => Err(e),
        }
    }

    /// One login, repeated when the identity service answered but had a passing
    /// problem (a dropped connection, a 503 under load). Refused credentials are
    /// final. A service that never answered is retried only when renewing: at the
    /// first login it is most likely a wrong address, and the user should hear so
    /// at once. Retries are logged at info level: the final error is the one line
    /// a failing command prints.
    async fn authenticate_with_retries(&self, renewing: bool) -> Result<Session, SwiftError> {
        let what = format!("login at {}", self.credentials.auth_url());
        self.retry
            .run(
                &what,
                log::Level::Info,
                |e| retry_login(e, renewing),
                || auth::authenticate(&self.http, &self.credentials, &self.filter),
            )
            .await
    }

    /// The retry policy every request of this client follows.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Every request to Swift goes out here, and is counted by method and answer. An
    /// upload (a PUT with a body) is in flight until answered, and timed to the
    /// answer; a GET of an object (`of_object`) is timed to its first byte. A body
    /// held in memory counts as sent once answered; a streamed one counts as it
    /// goes, in [`Self::send_stream`].
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        of_object: bool,
    ) -> reqwest::Result<Response> {
        let req = req.build()?;
        let method = req.method().clone();
        let upload = method == Method::PUT && req.body().is_some();
        let in_memory = req.body().and_then(|b| b.as_bytes()).map_or(0, <[u8]>::len);
        let _in_flight = upload.then(|| self.metrics.upload_in_flight());
        let started = Instant::now();
        let sent = self.http.execute(req).await;
        let status = sent.as_ref().ok().map(Response::status);
        self.metrics
            .request(method.as_str(), status.map(|s| s.as_u16()));
        if let Some(status) = status {
            self.metrics.sent(in_memory as u64);
            if upload {
                self.metrics.upload_answered(started.elapsed());
            } else if of_object && method == Method::GET && status.is_success() {
                self.metrics.first_byte(started.elapsed());
            }
        }
        sent
    }

    /// An object's headers, from a HEAD.
    async fn head_with(&self, spec: RequestSpec<'_>) -> Result<ObjectInfo, SwiftError> {
        let resp = self.execute(&spec).await?;
        let size = header_u64(resp.headers(), "content-length").unwrap_or(0);
        Ok(ObjectInfo::from_headers(resp.headers(), size))
    }

    /// Sends a request, renewing the token once on 401 and retrying transient
    /// failures. Returns only 2xx responses.
    async fn execute(&self, spec: &RequestSpec<'_>) -> Result<Response, SwiftError> {
        self.execute_tracked(spec).await.0
    }

    /// [`Self::execute`], also telling whether an attempt failed transiently before
    /// the final answer: then that attempt may have taken effect.
    async fn execute_tracked(
        &self,
        spec: &RequestSpec<'_>,
    ) -> (Result<Response, SwiftError>, bool) {
        let mut attempt = 0u32;
        let mut renewed = false;
        let mut had_transient_failure = false;
        loop {
            let session = match self.session().await {
                Ok(s) => s,
                Err(e) => return (Err(e), had_transient_failure),
            };
            let url = spec.url(&session.storage_url);
            let mut req = self
                .http
                .request(spec.method.clone(), url.clone())
                .headers(spec.headers.clone())
                .header("X-Auth-Token", session.token.header_value());
            if let Some(body) = &spec.body {
                req = req.body(body.clone());
            }
            let outcome = match self.send(req, spec.object.is_some()).await {
                Ok(resp) if resp.status().is_success() => return (Ok(resp), had_transient_failure),
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !renewed => {
                    log::info!(
                        "{} {}: token refused (401), logging in again",
                        spec.method,
                        spec.what()
                    );
                    renewed = true;
                    if let Err(e) = self.login(Some(&session)).await {
                        return (Err(e), had_transient_failure);
                    }
                    continue;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    SwiftError::from_status(spec.method.as_str(), &spec.what(), status, &body)
                }
                Err(e) => SwiftError::from_reqwest(url.as_str(), e),
            };
            if !(outcome.is_transient() && self.retry.may_retry(attempt)) {
                return (Err(outcome), had_transient_failure);
            }
            had_transient_failure = true;
            let delay = self.retry.retry_after(attempt);
            attempt += 1;
            log::warn!(
                "{} {}: {outcome}; retry {attempt}/{} in {delay:?}",
                spec.method,
                spec.what(),
                self.config.retries
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends a request whose JSON body is the answer; a body cut off half-way is
    /// asked for again like any transient failure. `None` for an empty body (204).
    async fn execute_json<T: serde::de::DeserializeOwned>(
        &self,
        spec: &RequestSpec<'_>,
    ) -> Result<Option<T>, SwiftError> {
        let what = spec.what();
        // the request itself is retried inside execute; here only a body that broke
        // off is asked for again
        let body_broke = AtomicBool::new(false);
        let bytes = self
            .retry
            .run(
                &format!("{} {what}: body", spec.method),
                log::Level::Warn,
                |_| body_broke.load(Ordering::Relaxed),
                || async {
                    body_broke.store(false, Ordering::Relaxed);
                    let resp = self.execute(spec).await?;
                    let bytes = resp.bytes().await.map_err(|e| {
                        body_broke.store(true, Ordering::Relaxed);
                        SwiftError::from_reqwest(&what, e)
                    })?;
                    self.metrics.received(bytes.len() as u64);
                    Ok(bytes)
                },
            )
            .await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SwiftError::InvalidResponse {
                what,
                reason: format!("body is not the JSON expected: {e}"),
            })
    }

    /// The cluster's features and limits, from `GET /info` beside the storage URL
    /// (`https://host:port[/prefix]/info` for `…[/prefix]/v1/AUTH_x`). It needs no
    /// token, so none is sent; transient failures are retried as for any GET.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, SwiftError> {
        let url = info_url(&self.session().await?.storage_url);
        let what = url.to_string();
        let bytes = self
            .retry
            .run(
                &format!("GET {what}"),
                log::Level::Warn,
                SwiftError::is_transient,
                || async {
                    let resp = self
                        .send(self.http.get(url.clone()), false)
                        .await
                        .map_err(|e| SwiftError::from_reqwest(&what, e))?;
                    let status = resp.status();
                    if !status.is_success() {
                        let body = resp.text().await.unwrap_or_default();
                        return Err(SwiftError::from_status("GET", &what, status, &body));
                    }
                    let bytes = resp
                        .bytes()
                        .await
                        .map_err(|e| SwiftError::from_reqwest(&what, e))?;
                    self.metrics.received(bytes.len() as u64);
                    Ok(bytes)
                },
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| SwiftError::InvalidResponse {
            what,
            reason: format!("not Swift's /info JSON: {e}"),
        })
    }

    /// Deletes an empty container (Swift answers 409 when it is not empty).
    pub async fn delete_container(&self, c: &ContainerName) -> Result<(), SwiftError> {
        self.execute(&RequestSpec::new(Method::DELETE, Some(c), None))
            .await?;
        Ok(())
    }

    /// PUTs an object held in memory with headers of the caller's choosing, as other
    /// tools write them (the filesystem writes [`ObjectMeta`] through
    /// [`ObjectStore::put_object`]). Swift checks the MD5 we send (`ETag`), so a
    /// corrupted transfer is refused rather than stored; the request is retried.
    pub async fn put_raw(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        data: Bytes,
        headers: &[(&str, String)],
    ) -> Result<String, SwiftError> {
        let md5 = hex(&Md5::digest(&data));
        // an empty body would otherwise go without a length, which Swift refuses (411)
        let mut spec = RequestSpec::new(Method::PUT, Some(c), Some(o))
            .header("etag", &md5)?
            .header("content-length", &data.len().to_string())?;
        for (k, v) in headers {
            spec = spec.header(k, v)?;
        }
        spec.body = Some(data);
        let resp = self.execute(&spec).await?;
        check_etag(&spec.what(), &md5, resp.headers())?;
        Ok(md5)
    }

    /// One GET, retried until a response comes (its body is the caller's).
    async fn get_response(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: Option<&ByteRange>,
        if_match: Option<&str>,
    ) -> Result<Response, SwiftError> {
        let mut spec = RequestSpec::new(Method::GET, Some(c), Some(o));
        if let Some(etag) = if_match {
            spec = spec.header("if-match", &format!("\"{etag}\""))?;
        }
        if let Some(r) = range {
            if r.is_empty() {
                return Err(SwiftError::Config(format!(
                    "empty range {r:?} of {}",
                    spec.what()
                )));
            }
            spec = spec.header("range", &format!("bytes={}-{}", r.start, r.end - 1))?;
        }
        self.execute(&spec).await
    }

    /// The spec of a PUT carrying `meta`.
    fn put_spec<'a>(
        c: &'a ContainerName,
        o: &'a ObjectName,
        meta: &ObjectMeta,
    ) -> Result<RequestSpec<'a>, SwiftError> {
        let mut spec = RequestSpec::new(Method::PUT, Some(c), Some(o));
        for (k, v) in meta.headers() {
            spec = spec.header(&k, &v)?;
        }
        Ok(spec)
    }

    /// One streamed PUT; the MD5 of what was sent is compared with what Swift stored.
    async fn send_stream<S>(&self, spec: &RequestSpec<'_>, body: S) -> Result<String, SwiftError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let what = spec.what();
        let hasher = Arc::new(Mutex::new(Md5::new()));
        let h = hasher.clone();
        let metrics = self.metrics.clone();
        let body = body.inspect_ok(move |chunk| {
            h.lock().expect("md5 lock").update(chunk);
            metrics.sent(chunk.len() as u64);
        });
        let session = self.session().await?;
        let url = spec.url(&session.storage_url);
        let req = self
            .http
            .put(url.clone())
            .headers(spec.headers.clone())
            .header("X-Auth-Token", session.token.header_value())
            .body(reqwest::Body::wrap_stream(body));
        let resp = self
            .send(req, true)
            .await
            .map_err(|e| SwiftError::from_reqwest(url.as_str(), e))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(SwiftError::from_status("PUT", &what, status, &text));
        }
        let md5 = hex(&hasher.lock().expect("md5 lock").clone().finalize());
        check_etag(&what, &md5, resp.headers())?;
        Ok(md5)
    }
}

/// Where a GET body stands, for resuming it after a break.
struct BodyResume<'a> {
    client: &'a SwiftClient,
    container: ContainerName,
    object: ObjectName,
    body: Option<futures::stream::BoxStream<'static, reqwest::Result<Bytes>>>,
    /// The next byte expected, and where the range asked for ends.
    pos: u64,
    end: u64,
    /// The version first answered: a resumed range must come from it.
    pin: Option<String>,
    attempt: u32,
    done: bool,
}

impl BodyResume<'_> {
    fn what(&self) -> String {
        format!("object {}/{}", self.container, self.object)
    }

    /// The next piece of the body; a break is resumed with a range from where it
    /// stopped, under the client's retry policy.
    async fn next(&mut self) -> Option<Result<Bytes, SwiftError>> {
        if self.done {
            return None;
        }
        loop {
            let failure = match &mut self.body {
                Some(body) => match body.next().await {
                    Some(Ok(chunk)) => {
                        self.pos += chunk.len() as u64;
                        self.client.metrics.received(chunk.len() as u64);
                        return Some(Ok(chunk));
                    }
                    None if self.pos >= self.end => {
                        self.done = true;
                        return None;
                    }
                    None => SwiftError::Transfer {
                        what: self.what(),
                        reason: format!("body ended at byte {} of {}", self.pos, self.end),
                    },
                    Some(Err(e)) => SwiftError::from_reqwest(&self.what(), e),
                },
                None => {
                    let range = self.pos..self.end;
                    match self
                        .client
                        .get_response(
                            &self.container,
                            &self.object,
                            Some(&range),
                            self.pin.as_deref(),
                        )
                        .await
                    {
                        Ok(resp) => {
                            self.body = Some(resp.bytes_stream().boxed());
                            continue;
                        }
                        Err(e) => e,
                    }
                }
            };
            let policy = &self.client.retry;
            if !(failure.is_transient() && policy.may_retry(self.attempt)) {
                self.done = true;
                return Some(Err(failure));
            }
            let delay = policy.retry_after(self.attempt);
            self.attempt += 1;
            log::warn!(
                "GET {} broke at byte {}: {failure}; resuming, retry {}/{} in {delay:?}",
                self.what(),
                self.pos,
                self.attempt,
                policy.retries
            );
            self.body = None;
            tokio::time::sleep(delay).await;
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for SwiftClient {
    async fn account_info(&self) -> Result<AccountInfo, SwiftError> {
        let resp = self
            .execute(&RequestSpec::new(Method::HEAD, None, None))
            .await?;
        Ok(AccountInfo::from_headers(resp.headers()))
    }

    async fn container_info(&self, c: &ContainerName) -> Result<ContainerInfo, SwiftError> {
        let resp = self
            .execute(&RequestSpec::new(Method::HEAD, Some(c), None))
            .await?;
        Ok(ContainerInfo::from_headers(resp.headers()))
    }

    async fn create_container(&self, c: &ContainerName) -> Result<(), SwiftError> {
        self.execute(&RequestSpec::new(Method::PUT, Some(c), None))
            .await?;
        Ok(())
    }

    async fn list_page(
        &self,
        c: &ContainerName,
        q: &ListQuery,
    ) -> Result<Vec<ListEntry>, SwiftError> {
        let mut spec = RequestSpec::new(Method::GET, Some(c), None).query("format", "json");
        if let Some(p) = &q.prefix {
            spec = spec.query("prefix", p.clone());
        }
        if let Some(d) = q.delimiter {
            spec = spec.query("delimiter", d.to_string());
        }
        if let Some(m) = &q.marker {
            spec = spec.query("marker", m.clone());
        }
        spec = spec.query("limit", q.limit.unwrap_or(self.page_size()).to_string());
        Ok(self.execute_json(&spec).await?.unwrap_or_default())
    }

    fn page_size(&self) -> u32 {
        self.config.listing_page_size
    }

    async fn head_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError> {
        // a Swift symlink's own headers, not its target's
        let spec = RequestSpec::new(Method::HEAD, Some(c), Some(o)).query("symlink", "get");
        self.head_with(spec).await
    }

    async fn head_newest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError> {
        let spec = RequestSpec::new(Method::HEAD, Some(c), Some(o))
            .query("symlink", "get")
            .header("X-Newest", "true")?;
        self.head_with(spec).await
    }

    /// Retries cover getting the response; a body that breaks off is asked for again
    /// from where it stopped, pinned (`If-Match`) to the version first answered, so
    /// one stream never mixes two versions (Swift compares `If-Match` with a large
    /// object's own ETag, the one its GET answers).
    async fn get_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: Option<ByteRange>,
        if_match: Option<&str>,
    ) -> Result<ObjectStream<'_>, SwiftError> {
        let resp = self.get_response(c, o, range.as_ref(), if_match).await?;
        let size = total_size(resp.headers()).unwrap_or(0);
        let info = ObjectInfo::from_headers(resp.headers(), size);
        let pin = if_match.map(str::to_string).or_else(|| info.etag.clone());
        let resume = BodyResume {
            client: self,
            container: c.clone(),
            object: o.clone(),
            body: Some(resp.bytes_stream().boxed()),
            pos: range.as_ref().map_or(0, |r| r.start),
            end: range.map_or(size, |r| r.end.min(size)),
            pin,
            attempt: 0,
            done: false,
        };
        let body = futures::stream::unfold(resume, |mut r| async move {
            let item = r.next().await?;
            Some((item, r))
        })
        .boxed();
        Ok(ObjectStream { info, body })
    }

    async fn put_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        data: Bytes,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let headers = meta.headers();
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.put_raw(c, o, data, &headers).await
    }

    async fn put_file_range(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        part: &FileRange,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let spec = Self::put_spec(c, o, meta)?.header("content-length", &part.len.to_string())?;
        let what = spec.what();
        // a local read error is the file's fault, not the network's: never retried
        let local_error: Arc<Mutex<Option<std::io::Error>>> = Arc::default();
        let sent = self
            .retry
            .run(
                &format!("PUT {what} from the local copy"),
                log::Level::Warn,
                |e| e.is_transient() && local_error.lock().expect("local error").is_none(),
                || {
                    let body = file_chunks(part.clone(), local_error.clone());
                    self.send_stream(&spec, body)
                },
            )
            .await;
        match local_error.lock().expect("local error").take() {
            Some(source) => Err(SwiftError::LocalFile { what, source }),
            None => sent,
        }
    }

    async fn put_object_stream(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        body: UploadBody,
        length: Option<u64>,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let mut spec = Self::put_spec(c, o, meta)?;
        if let Some(len) = length {
            spec = spec.header("content-length", &len.to_string())?;
        }
        self.send_stream(&spec, body).await
    }

    /// Swift replaces all `X-Object-Meta-*` at once: `meta` is everything it keeps.
    async fn post_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError> {
        let mut spec = RequestSpec::new(Method::POST, Some(c), Some(o));
        for (k, v) in meta.headers() {
            spec = spec.header(&k, &v)?;
        }
        self.execute(&spec).await?;
        Ok(())
    }

    async fn delete_object(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
        match self
            .execute_tracked(&RequestSpec::new(Method::DELETE, Some(c), Some(o)))
            .await
        {
            (Ok(_), _) => Ok(()),
            // An attempt we saw fail did delete it before the retry came.
            (Err(SwiftError::NotFound(_)), true) => {
                log::debug!("DELETE object {c}/{o}: 404 after a failed attempt, already gone");
                Ok(())
            }
            (Err(e), _) => Err(e),
        }
    }

    /// `PUT` with `X-Copy-From`: no data passes through us.
    async fn copy_object(
        &self,
        from: (&ContainerName, &ObjectName),
        to: (&ContainerName, &ObjectName),
        manifest: bool,
    ) -> Result<(), SwiftError> {
        let source = copy_source(from.0, from.1);
        // a Swift symlink is copied as a link, not as its target's content
        let mut spec = RequestSpec::new(Method::PUT, Some(to.0), Some(to.1))
            .header("x-copy-from", &source)?
            .header("content-length", "0")?
            .query("symlink", "get");
        if manifest {
            spec = spec.query("multipart-manifest", "get");
        }
        self.execute(&spec).await?;
        Ok(())
    }

    async fn put_slo_manifest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        segments: &[SloSegment],
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError> {
        let body = serde_json::to_vec(segments)
            .map_err(|e| SwiftError::Config(format!("manifest: {e}")))?;
        let mut spec = Self::put_spec(c, o, meta)?.query("multipart-manifest", "put");
        spec.body = Some(Bytes::from(body));
        self.execute(&spec).await?;
        Ok(())
    }

    /// Swift answers 200 whatever happened and reports in the body, so the body is
    /// what is checked.
    async fn delete_slo(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
        let spec = RequestSpec::new(Method::DELETE, Some(c), Some(o))
            .query("multipart-manifest", "delete")
            .header("accept", "application/json")?;
        let what = spec.what();
        let body: serde_json::Value =
            self.execute_json(&spec)
                .await?
                .ok_or_else(|| SwiftError::InvalidResponse {
                    what: what.clone(),
                    reason: "no bulk delete report".into(),
                })?;
        let status = body["Response Status"].as_str().unwrap_or_default();
        if status.starts_with('2') {
            if body["Number Deleted"].as_u64() == Some(0)
                && body["Number Not Found"].as_u64() > Some(0)
            {
                return Err(SwiftError::NotFound(what));
            }
            return Ok(());
        }
        let code = status
            .split(' ')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
        Err(SwiftError::Http {
            method: "DELETE".into(),
            what,
            status: code,
            detail: format!(": {}", body["Errors"]),
        })
    }

    async fn slo_segments(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<Vec<SegmentPath>, SwiftError> {
        let spec =
            RequestSpec::new(Method::GET, Some(c), Some(o)).query("multipart-manifest", "get");
        let rows: Vec<serde_json::Value> = self.execute_json(&spec).await?.unwrap_or_default();
        rows.iter()
            .filter_map(|r| r["name"].as_str())
            .map(SegmentPath::parse)
            .collect()
    }
}

/// Reads `part` of a local file in chunks; a read error is kept in `error` (and
/// ends the upload) so that it is reported as the local failure it is.
fn file_chunks(
    part: FileRange,
    error: Arc<Mutex<Option<std::io::Error>>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let end = part.start + part.len;
    futures::stream::unfold(part.start, move |pos| {
        let file = part.file.clone();
        let error = error.clone();
        async move {
            if pos >= end {
                return None;
            }
            let n = (FILE_CHUNK as u64).min(end - pos) as usize;
            let mut buf = vec![0u8; n];
            match tokio::task::block_in_place(|| file.read_exact_at(&mut buf, pos)) {
                Ok(()) => Some((Ok(Bytes::from(buf)), pos + n as u64)),
                Err(e) => {
                    let kept = e.raw_os_error().map_or_else(
                        || std::io::Error::new(e.kind(), e.to_string()),
                        std::io::Error::from_raw_os_error,
                    );
                    *error.lock().expect("local error") = Some(kept);
                    Some((Err(e), end))
                }
            }
        }
    })
}

/// Unit of reading a local file for upload.
const FILE_CHUNK: usize = 1 << 20;

fn retry_login(e: &SwiftError, renewing: bool) -> bool {
    match e {
        SwiftError::Unreachable { .. } | SwiftError::Timeout { .. } => renewing,
        e => e.is_transient(),
    }
}

fn still_valid(s: &Session) -> bool {
    s.expires_at.is_none_or(|e| chrono::Utc::now() < e)
}

/// The size of the whole object: from `Content-Range` on a 206, else `Content-Length`.
fn total_size(h: &HeaderMap) -> Option<u64> {
    if let Some(cr) = h.get("content-range").and_then(|v| v.to_str().ok()) {
        return cr.rsplit('/').next()?.trim().parse().ok();
    }
    header_u64(h, "content-length")
}

/// `X-Copy-From` takes `/<container>/<object>`, percent-encoded like a URL path.
fn copy_source(c: &ContainerName, o: &ObjectName) -> String {
    let mut url = Url::parse("http://x/").expect("static URL");
    url.path_segments_mut()
        .expect("http URL")
        .pop_if_empty()
        .push(c.as_str())
        .push(o.as_str());
    url.path().to_string()
}

fn check_etag(what: &str, sent: &str, h: &HeaderMap) -> Result<(), SwiftError> {
    let stored = h
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim_matches('"').to_ascii_lowercase());
    match stored {
        Some(stored) if stored == sent => Ok(()),
        Some(stored) => Err(SwiftError::ChecksumMismatch {
            what: what.to_string(),
            sent: sent.to_string(),
            stored,
        }),
        None => Err(SwiftError::InvalidResponse {
            what: what.to_string(),
            reason: "PUT answered without an ETag".into(),
        }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `/info` is served by the proxy at its root: the storage URL's path up to its
/// `/v1` segment (a proxy mounted under a prefix keeps the prefix).
fn info_url(storage_url: &Url) -> Url {
    let path = storage_url.path();
    let root = match path
        .find("/v1/")
        .or_else(|| path.strip_suffix("/v1").map(str::len))
    {
        Some(i) => &path[..i],
        None => "",
    };
    let mut url = storage_url.clone();
    url.set_path(&format!("{root}/info"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_names_as_one_segment() {
        let c = ContainerName::new("my c").unwrap();
        let o = ObjectName::new("dir/a b%?#é").unwrap();
        let spec = RequestSpec::new(Method::GET, Some(&c), Some(&o)).query("prefix", "x y+z");
        let base = Url::parse("http://127.0.0.1:8080/v1/AUTH_abc/").unwrap();
        assert_eq!(
            spec.url(&base).as_str(),
            "http://127.0.0.1:8080/v1/AUTH_abc/my%20c/dir%2Fa%20b%25%3F%23%C3%A9?prefix=x+y%2Bz"
        );
    }

    #[test]
    fn dot_segments_inside_names_survive() {
        let c = ContainerName::new("c").unwrap();
        let o = ObjectName::new("a/../b/./c").unwrap();
        let spec = RequestSpec::new(Method::GET, Some(&c), Some(&o));
        let base = Url::parse("http://h/v1/AUTH_a").unwrap();
        assert_eq!(spec.url(&base).path(), "/v1/AUTH_a/c/a%2F..%2Fb%2F.%2Fc");
    }

    #[test]
    fn info_is_at_the_proxy_root() {
        let at = |s: &str| info_url(&Url::parse(s).unwrap()).to_string();
        assert_eq!(
            at("http://127.0.0.1:8081/v1/AUTH_abc"),
            "http://127.0.0.1:8081/info"
        );
        assert_eq!(
            at("https://h/swift/v1/AUTH_abc?x=1"),
            "https://h/swift/info"
        );
        assert_eq!(at("https://h/v1"), "https://h/info");
        assert_eq!(at("https://h/AUTH_abc"), "https://h/info");
    }

    #[test]
    fn copy_source_is_encoded() {
        let c = ContainerName::new("c").unwrap();
        let o = ObjectName::new("a b/c").unwrap();
        assert_eq!(copy_source(&c, &o), "/c/a%20b%2Fc");
    }

    #[test]
    fn total_size_prefers_content_range() {
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("10"));
        assert_eq!(total_size(&h), Some(10));
        h.insert("content-range", HeaderValue::from_static("bytes 0-9/12345"));
        assert_eq!(total_size(&h), Some(12345));
    }
}
