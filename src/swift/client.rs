//! The Swift HTTP client: one authenticated session shared by every request, renewed
//! ahead of expiry and on a 401, and retries with backoff for requests that may be
//! repeated safely.

use super::auth::{self, Credentials, EndpointFilter, Session};
use super::error::SwiftError;
use super::types::{AccountInfo, ContainerInfo, ListEntry, ObjectInfo, SloSegment, header_u64};
use super::{ContainerName, ObjectName};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
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

/// A listing request; `None` fields are left out of the query.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub prefix: Option<String>,
    pub delimiter: Option<char>,
    pub marker: Option<String>,
    pub limit: Option<u32>,
}

/// A byte range of an object, `start..end` (end exclusive).
pub type ByteRange = std::ops::Range<u64>;

/// The headers of a GET and a stream of its body.
pub struct ObjectStream {
    pub info: ObjectInfo,
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, SwiftError>> + Send>>,
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
    ) -> Result<Self, SwiftError> {
        let extra_roots = match &config.ca_file {
            Some(path) => super::tls::load_ca_file(path)?,
            None => Vec::new(),
        };
        if config.insecure_tls {
            log::warn!("TLS certificates are not verified (--insecure)");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            // Swift's proxy closes idle connections after 60 s (client_timeout); a
            // pooled one older than that fails the next request, and a streamed
            // upload cannot be sent again
            .pool_idle_timeout(Duration::from_secs(20))
            .user_agent(concat!("swiftmount/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(config.insecure_tls)
            // merged with the system's roots, which stay trusted
            .tls_certs_merge(extra_roots)
            .build()
            .map_err(|e| SwiftError::Config(format!("HTTP client: {e}")))?;
        Ok(SwiftClient {
            http,
            credentials,
            filter,
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
        let mut attempt = 0;
        loop {
            match auth::authenticate(&self.http, &self.credentials, &self.filter).await {
                Err(e) if retry_login(&e, renewing) && attempt < self.config.retries => {
                    let delay = self.backoff(attempt);
                    attempt += 1;
                    log::info!(
                        "login at {}: {e}; retry {attempt}/{} in {delay:?}",
                        self.credentials.auth_url(),
                        self.config.retries
                    );
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .retry_base_delay
            .saturating_mul(1 << attempt.min(6));
        let cap = cap.min(Duration::from_secs(10));
        // full jitter: retries from many tasks do not hit a recovering server in step
        cap.mul_f64(rand::random_range(0.5..=1.0))
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
            let outcome = match req.send().await {
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
            if !(outcome.is_transient() && attempt < self.config.retries) {
                return (Err(outcome), had_transient_failure);
            }
            had_transient_failure = true;
            let delay = self.backoff(attempt);
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
        let mut attempt = 0;
        loop {
            let resp = self.execute(spec).await?;
            match resp.bytes().await {
                Ok(bytes) if bytes.is_empty() => return Ok(None),
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                        SwiftError::InvalidResponse {
                            what,
                            reason: format!("body is not the JSON expected: {e}"),
                        }
                    });
                }
                Err(e) if attempt < self.config.retries => {
                    let delay = self.backoff(attempt);
                    attempt += 1;
                    log::warn!(
                        "{} {what}: body broke off ({e}); retry {attempt} in {delay:?}",
                        spec.method
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(SwiftError::from_reqwest(&what, e)),
            }
        }
    }

    pub async fn account_info(&self) -> Result<AccountInfo, SwiftError> {
        let resp = self
            .execute(&RequestSpec::new(Method::HEAD, None, None))
            .await?;
        Ok(AccountInfo::from_headers(resp.headers()))
    }

    pub async fn container_info(&self, c: &ContainerName) -> Result<ContainerInfo, SwiftError> {
        let resp = self
            .execute(&RequestSpec::new(Method::HEAD, Some(c), None))
            .await?;
        Ok(ContainerInfo::from_headers(resp.headers()))
    }

    pub async fn create_container(&self, c: &ContainerName) -> Result<(), SwiftError> {
        self.execute(&RequestSpec::new(Method::PUT, Some(c), None))
            .await?;
        Ok(())
    }

    /// Deletes an empty container (Swift answers 409 when it is not empty).
    pub async fn delete_container(&self, c: &ContainerName) -> Result<(), SwiftError> {
        self.execute(&RequestSpec::new(Method::DELETE, Some(c), None))
            .await?;
        Ok(())
    }

    /// One page of a listing.
    pub async fn list_page(
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
        spec = spec.query(
            "limit",
            q.limit.unwrap_or(self.config.listing_page_size).to_string(),
        );
        Ok(self.execute_json(&spec).await?.unwrap_or_default())
    }

    /// Every row, following `marker` across pages. `q.limit` sets the page size.
    pub async fn list_all(
        &self,
        c: &ContainerName,
        q: &ListQuery,
    ) -> Result<Vec<ListEntry>, SwiftError> {
        let page_size = q.limit.unwrap_or(self.config.listing_page_size) as usize;
        let mut q = q.clone();
        let mut all = Vec::new();
        loop {
            let page = self.list_page(c, &q).await?;
            let full = page.len() >= page_size;
            q.marker = page.last().map(|e| e.marker().to_string());
            all.extend(page);
            if !full || q.marker.is_none() {
                return Ok(all);
            }
        }
    }

    pub async fn head_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError> {
        let resp = self
            .execute(&RequestSpec::new(Method::HEAD, Some(c), Some(o)))
            .await?;
        let size = header_u64(resp.headers(), "content-length").unwrap_or(0);
        Ok(ObjectInfo::from_headers(resp.headers(), size))
    }

    /// GETs an object or a range of it as a stream. Retries cover getting the
    /// response; a failure mid-body reaches the stream's reader, who may resume with
    /// a range from where it stopped. With `if_match`, a changed object is refused
    /// (412, [`SwiftError::PreconditionFailed`]) instead of mixing two versions.
    pub async fn get_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: Option<ByteRange>,
        if_match: Option<&str>,
    ) -> Result<ObjectStream, SwiftError> {
        let mut spec = RequestSpec::new(Method::GET, Some(c), Some(o));
        if let Some(etag) = if_match {
            spec = spec.header("if-match", &format!("\"{etag}\""))?;
        }
        if let Some(r) = &range {
            if r.is_empty() {
                return Err(SwiftError::Config(format!(
                    "empty range {r:?} of {}",
                    spec.what()
                )));
            }
            spec = spec.header("range", &format!("bytes={}-{}", r.start, r.end - 1))?;
        }
        let what = spec.what();
        let resp = self.execute(&spec).await?;
        let size = total_size(resp.headers()).unwrap_or(0);
        let info = ObjectInfo::from_headers(resp.headers(), size);
        let body = resp
            .bytes_stream()
            .map_err(move |e| SwiftError::from_reqwest(&what, e))
            .boxed();
        Ok(ObjectStream { info, body })
    }

    /// GETs a whole range into memory, retrying a body cut off half-way.
    pub async fn get_range(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: ByteRange,
        if_match: Option<&str>,
    ) -> Result<Bytes, SwiftError> {
        Ok(self.get_range_with_info(c, o, range, if_match).await?.1)
    }

    /// [`Self::get_range`] that also returns what the answer's headers say about the
    /// object (its whole size, ETag, metadata): a HEAD and a first read in one request.
    /// A range past the end is cut to the object's size; an empty object is
    /// [`SwiftError::RangeNotSatisfiable`].
    pub async fn get_range_with_info(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: ByteRange,
        if_match: Option<&str>,
    ) -> Result<(ObjectInfo, Bytes), SwiftError> {
        let mut attempt = 0;
        loop {
            let result = async {
                let mut stream = self.get_object(c, o, Some(range.clone()), if_match).await?;
                let want = (range.end - range.start).min(stream.info.size);
                let mut buf = bytes::BytesMut::with_capacity(want as usize);
                while let Some(chunk) = stream.body.next().await {
                    buf.extend_from_slice(&chunk?);
                }
                Ok::<_, SwiftError>((stream.info, buf.freeze()))
            }
            .await;
            match result {
                Err(e) if e.is_transient() && attempt < self.config.retries => {
                    let delay = self.backoff(attempt);
                    attempt += 1;
                    log::warn!("GET object {c}/{o} {range:?}: {e}; retry {attempt} in {delay:?}");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// PUTs an object held in memory. Swift checks the MD5 we send (`ETag`), so a
    /// corrupted transfer is refused rather than stored; the request is retried.
    pub async fn put_object(
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

    /// PUTs an object from a stream, chunked unless `length` is known. A stream cannot
    /// be replayed, so there is one attempt; the caller keeps what it needs to retry.
    /// The MD5 of what was sent is compared with what Swift stored.
    pub async fn put_object_stream<S>(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        body: S,
        length: Option<u64>,
        headers: &[(&str, String)],
    ) -> Result<String, SwiftError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let mut spec = RequestSpec::new(Method::PUT, Some(c), Some(o));
        for (k, v) in headers {
            spec = spec.header(k, v)?;
        }
        if let Some(len) = length {
            spec = spec.header("content-length", &len.to_string())?;
        }
        let what = spec.what();
        let hasher = Arc::new(Mutex::new(Md5::new()));
        let h = hasher.clone();
        let body = body.inspect_ok(move |chunk| h.lock().expect("md5 lock").update(chunk));
        let session = self.session().await?;
        let url = spec.url(&session.storage_url);
        let resp = self
            .http
            .put(url.clone())
            .headers(spec.headers.clone())
            .header("X-Auth-Token", session.token.header_value())
            .body(reqwest::Body::wrap_stream(body))
            .send()
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

    /// Updates an object's metadata. Swift replaces all `X-Object-Meta-*` at once, so
    /// pass every header the object should keep.
    pub async fn post_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        headers: &[(&str, String)],
    ) -> Result<(), SwiftError> {
        let mut spec = RequestSpec::new(Method::POST, Some(c), Some(o));
        for (k, v) in headers {
            spec = spec.header(k, v)?;
        }
        self.execute(&spec).await?;
        Ok(())
    }

    pub async fn delete_object(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
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

    /// Server-side copy (`PUT` with `X-Copy-From`): no data passes through us. With
    /// `manifest`, an SLO is copied as its manifest, sharing the segments.
    pub async fn copy_object(
        &self,
        from: (&ContainerName, &ObjectName),
        to: (&ContainerName, &ObjectName),
        manifest: bool,
    ) -> Result<(), SwiftError> {
        let source = copy_source(from.0, from.1);
        let mut spec = RequestSpec::new(Method::PUT, Some(to.0), Some(to.1))
            .header("x-copy-from", &source)?
            .header("content-length", "0")?;
        if manifest {
            spec = spec.query("multipart-manifest", "get");
        }
        self.execute(&spec).await?;
        Ok(())
    }

    /// Writes a static large object manifest over segments already uploaded. Swift
    /// checks every segment's size and ETag before the object appears.
    pub async fn put_slo_manifest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        segments: &[SloSegment],
        headers: &[(&str, String)],
    ) -> Result<(), SwiftError> {
        let body = serde_json::to_vec(segments)
            .map_err(|e| SwiftError::Config(format!("manifest: {e}")))?;
        let mut spec =
            RequestSpec::new(Method::PUT, Some(c), Some(o)).query("multipart-manifest", "put");
        for (k, v) in headers {
            spec = spec.header(k, v)?;
        }
        spec.body = Some(Bytes::from(body));
        self.execute(&spec).await?;
        Ok(())
    }

    /// Deletes an SLO together with its segments. Swift answers 200 whatever
    /// happened and reports in the body, so the body is what is checked.
    pub async fn delete_slo(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
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

    /// The segments of an SLO manifest, as `/<container>/<object>` paths.
    pub async fn slo_segments(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<Vec<String>, SwiftError> {
        let spec =
            RequestSpec::new(Method::GET, Some(c), Some(o)).query("multipart-manifest", "get");
        let rows: Vec<serde_json::Value> = self.execute_json(&spec).await?.unwrap_or_default();
        Ok(rows
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect())
    }

    /// Deletes an object given as `/<container>/<object>` (a manifest's segment path).
    pub async fn delete_path(&self, path: &str) -> Result<(), SwiftError> {
        let (c, o) = split_path(path)?;
        self.delete_object(&c, &o).await
    }
}

/// Splits `/<container>/<object>` as manifests list segments (not percent-encoded).
pub fn split_path(path: &str) -> Result<(ContainerName, ObjectName), SwiftError> {
    let (c, o) = path
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| SwiftError::InvalidName {
            name: path.to_string(),
            reason: "segment path has no object part",
        })?;
    Ok((ContainerName::new(c)?, ObjectName::new(o)?))
}

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
    fn copy_source_is_encoded() {
        let c = ContainerName::new("c").unwrap();
        let o = ObjectName::new("a b/c").unwrap();
        assert_eq!(copy_source(&c, &o), "/c/a%20b%2Fc");
    }

    #[test]
    fn segment_paths() {
        let (c, o) = split_path("/segs/a%20b/slo/1/00000000").unwrap();
        assert_eq!((c.as_str(), o.as_str()), ("segs", "a%20b/slo/1/00000000"));
        assert!(split_path("/nocontainer").is_err());
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
