//! An object store in memory that answers like OpenStack Swift 2.30 wherever a
//! filesystem built on it could tell the difference, so that the filesystem's state
//! machines can be tested without a server.
//!
//! Modelled as Swift does it:
//! - PUTs are atomic: a new version replaces the old only once its whole body is in.
//! - ETags are the MD5 of the bytes; metadata is kept as the headers Swift keeps
//!   (blanks around values dropped, `_` in a metadata name read as `-`), within
//!   Swift's default limits (90 items, names of 128 bytes, values of 256, 4096 in
//!   all), and a POST replaces all of it and the object's modification time. A
//!   value that is not ASCII is stored, but does not read back, as with the client,
//!   which reads headers as ASCII text.
//! - HEAD reports `Last-Modified` rounded up to the second; listings report the time
//!   to 10 µs, the precision of Swift's timestamps.
//! - Listings page by byte-order name with `prefix`, `marker`, `limit` (10,000 at
//!   most) and `delimiter`, folding names into pseudo-folders as the container server
//!   does (a folder equal to the marker is left out, so a page may end in one).
//! - Static large objects: a manifest is checked against its segments when written
//!   (and when copied as a manifest); GET assembles the segments as they are at that
//!   moment, and reports the size of the whole and the MD5 of the segments' ETags.
//!   A segment gone or changed fails the GET with 409 ([`SwiftError::Conflict`]) if
//!   the range starts in it, and breaks the body off later ([`SwiftError::Transfer`]),
//!   as Swift drops the connection. Listings show a manifest with the whole size but
//!   the MD5 of the stored manifest, and containers count the manifest's own bytes.
//! - Swift symlinks (`X-Symlink-Target`): a PUT must have an empty body, a POST is
//!   redirected (307). HEAD and COPY act on the link itself, as the client asks for
//!   with `symlink=get`; links are not followed (the mount never GETs a Swift
//!   symlink: its target string is in its content type).
//!
//! Not modelled: eventual consistency (every write is seen at once by every read),
//! dynamic large objects, nested SLOs and segment ranges (a manifest naming a large
//! object is refused), versioning, expiry, authentication, ACLs, quotas, the 5 GiB
//! object limit, and transient failures ([`super::FaultStore`] adds those). Errors
//! a real client detects before sending anything (an empty range, a header HTTP
//! cannot carry) are the client's own, and are not counted as requests.

use super::{
    AccountInfo, ByteRange, ContainerInfo, ContainerName, FileRange, ListEntry, ListQuery,
    ListedObject, Manifest, ObjectInfo, ObjectMeta, ObjectName, ObjectStore, ObjectStream,
    SegmentPath, SloSegment, SwiftError, UploadBody,
};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use md5::{Digest, Md5};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Swift's cap on the rows of one listing request.
const LISTING_LIMIT: u32 = 10_000;
/// Swift's default `max_manifest_segments`.
const MAX_SEGMENTS: usize = 1000;
/// Swift's default metadata limits (`swift.conf`).
const MAX_META_NAME: usize = 128;
const MAX_META_VALUE: usize = 256;
const MAX_META_COUNT: usize = 90;
const MAX_META_SIZE: usize = 4096;
const MAX_HEADER_VALUE: usize = 8192;
const META_PREFIX: &str = "x-object-meta-";
const SYMLINK_TARGET: &str = "x-symlink-target";
/// The account a listing's `symlink_path` names.
const MEMORY_ACCOUNT: &str = "AUTH_memory";
/// The largest piece of a GET body, so that readers meet bodies in several pieces.
const CHUNK: usize = 64 * 1024;

/// An in-memory [`ObjectStore`]; see the module documentation for what it models.
pub struct MemoryStore {
    state: Mutex<State>,
    page_size: u32,
    /// Segments one manifest may list.
    max_segments: usize,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, BTreeMap<String, Object>>,
    counts: BTreeMap<&'static str, u64>,
    /// Body bytes answered by object GETs.
    got: u64,
}

struct Object {
    content: Content,
    /// `Content-Type` and `X-Object-Meta-*`, as Swift keeps them.
    meta: HeaderMap,
    /// Of the last PUT or POST.
    modified: SystemTime,
}

#[derive(Clone)]
enum Content {
    Plain { data: Bytes, etag: String },
    Slo(Slo),
}

#[derive(Clone)]
struct Slo {
    segments: Vec<Segment>,
    size: u64,
    /// What HEAD and GET report: the MD5 of the segments' ETags.
    etag: String,
    /// Of the manifest Swift stores: listings show its MD5 and containers count
    /// its length, not the segments' bytes, which their own container counts.
    manifest_md5: String,
    manifest_len: u64,
}

#[derive(Clone)]
struct Segment {
    path: SegmentPath,
    etag: String,
    size: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store (no containers) with Swift's page size of 10,000 rows.
    pub fn new() -> Self {
        Self::with_page_size(LISTING_LIMIT)
    }

    /// An empty store whose listings return `page_size` rows when a query sets no
    /// limit, to test paging with few objects. Above 10,000, listings are refused
    /// as Swift refuses such a limit.
    pub fn with_page_size(page_size: u32) -> Self {
        MemoryStore {
            state: Mutex::default(),
            page_size,
            max_segments: MAX_SEGMENTS,
        }
    }

    /// The same store taking at most `n` segments per manifest, as a cluster with
    /// a lower `max_manifest_segments` does.
    pub fn with_max_segments(self, n: usize) -> Self {
        MemoryStore {
            max_segments: n,
            ..self
        }
    }

    /// Requests answered so far by method: `PUT` (objects, manifests and
    /// containers), `GET` (objects and manifests), `HEAD` (objects, containers and
    /// the account), `POST`, `DELETE`, `COPY` and `LIST`.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.state().counts.clone()
    }

    /// The body bytes object GETs have answered so far: what reads cost.
    pub fn bytes_got(&self) -> u64 {
        self.state().got
    }

    /// All requests answered so far.
    pub fn request_count(&self) -> u64 {
        self.state().counts.values().sum()
    }

    /// The names in a container, sorted; none if it does not exist. Not a request.
    pub fn object_names(&self, container: &str) -> Vec<String> {
        let state = self.state();
        state
            .containers
            .get(container)
            .map(|objects| objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The bytes a GET of the whole object would return (a large object assembled);
    /// `None` if it does not exist or a segment is missing. Not a request.
    pub fn object_bytes(&self, container: &str, name: &str) -> Option<Bytes> {
        let state = self.state();
        let obj = state.containers.get(container)?.get(name)?;
        state.whole(obj, &format!("object {container}/{name}"))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("memory store lock poisoned")
    }

    /// The state, for one request of `method`.
    fn request(&self, method: &'static str) -> MutexGuard<'_, State> {
        let mut state = self.state();
        *state.counts.entry(method).or_default() += 1;
        state
    }
}

impl State {
    fn object(&self, c: &ContainerName, o: &ObjectName) -> Result<&Object, SwiftError> {
        self.containers
            .get(c.as_str())
            .and_then(|objects| objects.get(o.as_str()))
            .ok_or_else(|| SwiftError::NotFound(object_what(c, o)))
    }

    fn remove(&mut self, c: &ContainerName, o: &ObjectName) -> Option<Object> {
        self.containers.get_mut(c.as_str())?.remove(o.as_str())
    }

    /// Writes a new version: in a container that does not exist, 404.
    fn store(
        &mut self,
        c: &ContainerName,
        o: &ObjectName,
        content: Content,
        meta: HeaderMap,
    ) -> Result<(), SwiftError> {
        let objects = self
            .containers
            .get_mut(c.as_str())
            .ok_or_else(|| SwiftError::NotFound(object_what(c, o)))?;
        let modified = now();
        objects.insert(
            o.to_string(),
            Object {
                content,
                meta,
                modified,
            },
        );
        Ok(())
    }

    fn store_plain(
        &mut self,
        c: &ContainerName,
        o: &ObjectName,
        data: Bytes,
        meta: HeaderMap,
    ) -> Result<String, SwiftError> {
        let etag = md5_hex(&data);
        let content = Content::Plain {
            data,
            etag: etag.clone(),
        };
        self.store(c, o, content, meta)?;
        Ok(etag)
    }

    /// The pieces of `range` of `obj`; a large object's are read from its segments
    /// now, as Swift does.
    fn read(
        &self,
        obj: &Object,
        range: ByteRange,
        what: &str,
    ) -> Result<Vec<Result<Bytes, SwiftError>>, SwiftError> {
        let mut out = Vec::new();
        let slo = match &obj.content {
            Content::Plain { data, .. } => {
                push_chunks(
                    &mut out,
                    data.slice(range.start as usize..range.end as usize),
                );
                return Ok(out);
            }
            Content::Slo(slo) => slo,
        };
        let mut offset = 0;
        for seg in &slo.segments {
            let start = offset;
            offset += seg.size;
            if offset <= range.start || start >= range.end {
                continue;
            }
            let Some(data) = self.segment_data(seg) else {
                if out.is_empty() {
                    return Err(SwiftError::Conflict(what.to_string()));
                }
                out.push(Err(SwiftError::Transfer {
                    what: what.to_string(),
                    reason: format!("segment {} is gone or changed", seg.path),
                }));
                break;
            };
            let from = range.start.saturating_sub(start) as usize;
            let to = (range.end.min(offset) - start) as usize;
            push_chunks(&mut out, data.slice(from..to));
        }
        Ok(out)
    }

    /// All of an object's bytes; `None` if a segment is missing or changed.
    fn whole(&self, obj: &Object, what: &str) -> Option<Bytes> {
        let pieces = self.read(obj, 0..obj.size(), what).ok()?;
        let pieces: Vec<Bytes> = pieces.into_iter().collect::<Result<_, _>>().ok()?;
        Some(Bytes::from(pieces.concat()))
    }

    /// A segment's bytes, if it is still what the manifest says.
    fn segment_data(&self, seg: &Segment) -> Option<&Bytes> {
        let obj = self.object(&seg.path.container, &seg.path.object).ok()?;
        match &obj.content {
            Content::Plain { data, etag } if *etag == seg.etag && data.len() as u64 == seg.size => {
                Some(data)
            }
            _ => None,
        }
    }

    /// Swift's checks of a new manifest at `target` (it HEADs every segment):
    /// every problem found is reported, and nothing is stored.
    fn check_manifest(
        &self,
        target: (&ContainerName, &ObjectName),
        segments: &[SloSegment],
        max: usize,
    ) -> Result<Slo, SwiftError> {
        let what = object_what(target.0, target.1);
        if segments.len() > max {
            return Err(SwiftError::from_status(
                "PUT",
                &what,
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Number of object-backed segments must be <= {max}"),
            ));
        }
        let mut checked = Vec::new();
        let mut problems = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            match self.check_segment(target, s, i + 1 == segments.len()) {
                Ok(seg) => checked.push(seg),
                Err(problem) => problems.push(format!("{}: {problem}", s.path)),
            }
        }
        if !problems.is_empty() {
            return Err(SwiftError::from_status(
                "PUT",
                &what,
                StatusCode::BAD_REQUEST,
                &problems.join("; "),
            ));
        }
        Ok(Slo::new(checked))
    }

    fn check_segment(
        &self,
        target: (&ContainerName, &ObjectName),
        s: &SloSegment,
        last: bool,
    ) -> Result<Segment, &'static str> {
        let path = SegmentPath::parse(&s.path).map_err(|_| "path does not refer to an object")?;
        if path.container == *target.0 && path.object == *target.1 {
            return Err("manifest must not include itself as a segment");
        }
        let obj = self
            .object(&path.container, &path.object)
            .map_err(|_| "404 Not Found")?;
        let Content::Plain { data, etag } = &obj.content else {
            return Err("a large object (nested manifests are not modelled)");
        };
        if data.is_empty() && !last {
            return Err("Too small; each segment must be at least 1 byte.");
        }
        if data.len() as u64 != s.size_bytes {
            return Err("Size Mismatch");
        }
        if *etag != s.etag {
            return Err("Etag Mismatch");
        }
        Ok(Segment {
            path,
            etag: etag.clone(),
            size: s.size_bytes,
        })
    }
}

impl Object {
    fn size(&self) -> u64 {
        match &self.content {
            Content::Plain { data, .. } => data.len() as u64,
            Content::Slo(slo) => slo.size,
        }
    }

    fn etag(&self) -> &str {
        match &self.content {
            Content::Plain { etag, .. } => etag,
            Content::Slo(slo) => &slo.etag,
        }
    }

    /// The bytes its container counts.
    fn stored_len(&self) -> u64 {
        match &self.content {
            Content::Plain { data, .. } => data.len() as u64,
            Content::Slo(slo) => slo.manifest_len,
        }
    }

    fn info(&self) -> ObjectInfo {
        ObjectInfo {
            size: self.size(),
            etag: Some(self.etag().to_string()),
            last_modified: Some(http_time(self.modified)),
            meta: ObjectMeta::from_headers(&self.meta),
            manifest: matches!(self.content, Content::Slo(_)).then_some(Manifest::Slo),
        }
    }

    fn listed(&self, name: &str) -> ListedObject {
        let hash = match &self.content {
            Content::Plain { etag, .. } => etag.clone(),
            Content::Slo(slo) => slo.manifest_md5.clone(),
        };
        let content_type = self
            .meta
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ListedObject {
            name: name.to_string(),
            bytes: self.size(),
            hash,
            last_modified: chrono::DateTime::<chrono::Utc>::from(self.modified)
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string(),
            content_type: content_type.to_string(),
            symlink_path: self
                .meta
                .get(SYMLINK_TARGET)
                .and_then(|v| v.to_str().ok())
                .map(|target| format!("/v1/{MEMORY_ACCOUNT}/{target}")),
        }
    }
}

impl Slo {
    fn new(segments: Vec<Segment>) -> Self {
        let etags: String = segments.iter().map(|s| s.etag.as_str()).collect();
        let rows = segments
            .iter()
            .map(|s| {
                let name = s.path.to_string();
                serde_json::json!({"name": name, "bytes": s.size, "hash": s.etag})
            })
            .collect();
        let manifest = serde_json::Value::Array(rows).to_string();
        Slo {
            size: segments.iter().map(|s| s.size).sum(),
            etag: md5_hex(etags.as_bytes()),
            manifest_md5: md5_hex(manifest.as_bytes()),
            manifest_len: manifest.len() as u64,
            segments,
        }
    }

    /// The manifest as written, to be checked again.
    fn declared(&self) -> Vec<SloSegment> {
        self.segments
            .iter()
            .map(|s| SloSegment::new(&s.path, s.etag.clone(), s.size))
            .collect()
    }

    fn paths(&self) -> Vec<SegmentPath> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }
}

#[async_trait::async_trait]
impl ObjectStore for MemoryStore {
    async fn account_info(&self) -> Result<AccountInfo, SwiftError> {
        let state = self.request("HEAD");
        let objects = || {
            state
                .containers
                .values()
                .flat_map(|objects| objects.values())
        };
        Ok(AccountInfo {
            bytes_used: objects().map(Object::stored_len).sum(),
            object_count: objects().count() as u64,
            container_count: state.containers.len() as u64,
            quota_bytes: None,
        })
    }

    async fn container_info(&self, c: &ContainerName) -> Result<ContainerInfo, SwiftError> {
        let state = self.request("HEAD");
        let objects = state
            .containers
            .get(c.as_str())
            .ok_or_else(|| SwiftError::NotFound(format!("container {c}")))?;
        Ok(ContainerInfo {
            bytes_used: objects.values().map(Object::stored_len).sum(),
            object_count: objects.len() as u64,
            quota_bytes: None,
            quota_count: None,
        })
    }

    async fn create_container(&self, c: &ContainerName) -> Result<(), SwiftError> {
        let mut state = self.request("PUT");
        state.containers.entry(c.to_string()).or_default();
        Ok(())
    }

    async fn list_page(
        &self,
        c: &ContainerName,
        q: &ListQuery,
    ) -> Result<Vec<ListEntry>, SwiftError> {
        let state = self.request("LIST");
        let what = format!("container {c}");
        let objects = state
            .containers
            .get(c.as_str())
            .ok_or_else(|| SwiftError::NotFound(what.clone()))?;
        let limit = q.limit.unwrap_or(self.page_size);
        if limit > LISTING_LIMIT {
            return Err(SwiftError::PreconditionFailed(what));
        }
        Ok(list(objects, q, limit as usize))
    }

    fn page_size(&self) -> u32 {
        self.page_size
    }

    async fn head_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError> {
        Ok(self.request("HEAD").object(c, o)?.info())
    }

    async fn get_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: Option<ByteRange>,
        if_match: Option<&str>,
    ) -> Result<ObjectStream<'_>, SwiftError> {
        let what = object_what(c, o);
        if let Some(r) = range.as_ref().filter(|r| r.is_empty()) {
            return Err(SwiftError::Config(format!("empty range {r:?} of {what}")));
        }
        let mut state = self.request("GET");
        let obj = state.object(c, o)?;
        let info = obj.info();
        if if_match.is_some_and(|tag| tag.trim_matches('"') != obj.etag()) {
            return Err(SwiftError::PreconditionFailed(what));
        }
        let range = match range {
            None => 0..info.size,
            Some(r) if r.start >= info.size => return Err(SwiftError::RangeNotSatisfiable(what)),
            Some(r) => r.start..r.end.min(info.size),
        };
        let pieces = state.read(obj, range.clone(), &what)?;
        state.got += range.end - range.start;
        Ok(ObjectStream {
            info,
            body: futures::stream::iter(pieces).boxed(),
        })
    }

    async fn put_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        data: Bytes,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let headers = meta_headers(meta)?;
        let mut state = self.request("PUT");
        check_meta("PUT", &object_what(c, o), &headers)?;
        if meta.swift_link.is_some() && !data.is_empty() {
            return Err(SwiftError::from_status(
                "PUT",
                &object_what(c, o),
                StatusCode::BAD_REQUEST,
                "Symlink requests require a zero byte body",
            ));
        }
        state.store_plain(c, o, data, headers)
    }

    async fn put_file_range(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        part: &FileRange,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let what = object_what(c, o);
        let headers = meta_headers(meta)?;
        // a plain blocking read: the parts tests upload are small
        let mut data = vec![0; part.len as usize];
        let read = part.file.read_exact_at(&mut data, part.start);
        let mut state = self.request("PUT");
        read.map_err(|source| SwiftError::LocalFile {
            what: what.clone(),
            source,
        })?;
        check_meta("PUT", &what, &headers)?;
        state.store_plain(c, o, Bytes::from(data), headers)
    }

    async fn put_object_stream(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        body: UploadBody,
        length: Option<u64>,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let what = object_what(c, o);
        let headers = meta_headers(meta)?;
        // the whole body first: what breaks off on the way is never stored
        let data = collect(body, length, &what).await;
        let mut state = self.request("PUT");
        check_meta("PUT", &what, &headers)?;
        state.store_plain(c, o, data?, headers)
    }

    async fn post_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError> {
        let what = object_what(c, o);
        let headers = meta_headers(meta)?;
        let mut state = self.request("POST");
        check_meta("POST", &what, &headers)?;
        let modified = now();
        let obj = state
            .containers
            .get_mut(c.as_str())
            .and_then(|objects| objects.get_mut(o.as_str()))
            .ok_or_else(|| SwiftError::NotFound(what.clone()))?;
        if ObjectMeta::from_headers(&obj.meta).swift_link.is_some() {
            // Swift redirects a POST to a symlink to its target
            return Err(SwiftError::from_status(
                "POST",
                &what,
                StatusCode::TEMPORARY_REDIRECT,
                "",
            ));
        }
        obj.meta = headers;
        obj.modified = modified;
        Ok(())
    }

    async fn delete_object(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
        let mut state = self.request("DELETE");
        match state.remove(c, o) {
            Some(_) => Ok(()),
            None => Err(SwiftError::NotFound(object_what(c, o))),
        }
    }

    /// A large object copied whole is assembled now; a segment missing or changed
    /// fails it with 409 (Swift fails it at the first such segment, at the latest
    /// when its body breaks off).
    async fn copy_object(
        &self,
        from: (&ContainerName, &ObjectName),
        to: (&ContainerName, &ObjectName),
        manifest: bool,
    ) -> Result<(), SwiftError> {
        // errors are about the request, a PUT of the destination
        let what = object_what(to.0, to.1);
        let mut state = self.request("COPY");
        let src = state
            .object(from.0, from.1)
            .map_err(|_| SwiftError::NotFound(what.clone()))?;
        let content = match &src.content {
            Content::Slo(slo) if manifest => {
                Content::Slo(state.check_manifest(to, &slo.declared(), self.max_segments)?)
            }
            Content::Slo(_) => {
                let data = state
                    .whole(src, &what)
                    .ok_or_else(|| SwiftError::Conflict(what.clone()))?;
                Content::Plain {
                    etag: md5_hex(&data),
                    data,
                }
            }
            plain => plain.clone(),
        };
        let meta = src.meta.clone();
        state.store(to.0, to.1, content, meta)
    }

    async fn put_slo_manifest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        segments: &[SloSegment],
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError> {
        let headers = meta_headers(meta)?;
        let mut state = self.request("PUT");
        check_meta("PUT", &object_what(c, o), &headers)?;
        let slo = state.check_manifest((c, o), segments, self.max_segments)?;
        state.store(c, o, Content::Slo(slo), headers)
    }

    /// Segments already gone are passed over, as Swift only counts them; a plain
    /// object is refused (400) and kept.
    async fn delete_slo(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
        let mut state = self.request("DELETE");
        let Content::Slo(slo) = &state.object(c, o)?.content else {
            return Err(SwiftError::from_status(
                "DELETE",
                &object_what(c, o),
                StatusCode::BAD_REQUEST,
                "Not an SLO manifest",
            ));
        };
        for path in slo.paths() {
            state.remove(&path.container, &path.object);
        }
        state.remove(c, o);
        Ok(())
    }

    /// Swift answers `?multipart-manifest=get` on a plain object with its bytes,
    /// which the client reads as JSON: an empty body is no rows, any other fails.
    async fn slo_segments(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<Vec<SegmentPath>, SwiftError> {
        let state = self.request("GET");
        match &state.object(c, o)?.content {
            Content::Slo(slo) => Ok(slo.paths()),
            Content::Plain { data, .. } if data.is_empty() => Ok(Vec::new()),
            Content::Plain { .. } => Err(SwiftError::InvalidResponse {
                what: object_what(c, o),
                reason: "body is not the JSON expected: not a manifest".into(),
            }),
        }
    }
}

/// One page as Swift's container server builds it: the names after the marker
/// under the prefix and, with a delimiter, one row per pseudo-folder.
fn list(objects: &BTreeMap<String, Object>, q: &ListQuery, limit: usize) -> Vec<ListEntry> {
    let prefix = q.prefix.as_deref().unwrap_or_default();
    let marker = q.marker.as_deref().unwrap_or_default();
    let start = if marker >= prefix {
        Bound::Excluded(marker)
    } else {
        Bound::Included(prefix)
    };
    let mut rows = Vec::new();
    let mut folder: Option<String> = None;
    for (name, obj) in objects.range::<str, _>((start, Bound::Unbounded)) {
        if !name.starts_with(prefix) || rows.len() >= limit {
            break;
        }
        if folder.as_deref().is_some_and(|f| name.starts_with(f)) {
            continue;
        }
        let folded = q.delimiter.and_then(|d| {
            let at = prefix.len() + name[prefix.len()..].find(d)?;
            Some(name[..at + d.len_utf8()].to_string())
        });
        match folded {
            Some(f) => {
                // the folder a previous page ended with is not repeated
                if f != marker {
                    rows.push(ListEntry::Subdir { subdir: f.clone() });
                }
                folder = Some(f);
            }
            None => rows.push(ListEntry::Object(obj.listed(name))),
        }
    }
    rows
}

/// The headers a PUT or POST sends for `meta`, as Swift keeps them: HTTP drops the
/// blanks around values, and Swift's WSGI layer reads `_` in a name as `-`.
fn meta_headers(meta: &ObjectMeta) -> Result<HeaderMap, SwiftError> {
    let mut headers = HeaderMap::new();
    for (name, value) in meta.headers() {
        // the client refuses these before sending anything
        let bad = || SwiftError::Config(format!("header {name} cannot carry the value {value:?}"));
        let v = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        let n = HeaderName::from_bytes(name.replace('_', "-").as_bytes()).map_err(|_| bad())?;
        headers.insert(n, v);
    }
    Ok(headers)
}

/// Swift's limits on metadata: a request over them is refused (400).
fn check_meta(method: &str, what: &str, headers: &HeaderMap) -> Result<(), SwiftError> {
    let (mut count, mut size) = (0, 0);
    for (name, value) in headers {
        let value = value.as_bytes();
        let reason = if value.len() > MAX_HEADER_VALUE {
            format!("Header value too long: {name}")
        } else if let Some(key) = name.as_str().strip_prefix(META_PREFIX) {
            count += 1;
            size += key.len() + value.len();
            if key.is_empty() {
                "Metadata name cannot be empty".to_string()
            } else if key.len() > MAX_META_NAME {
                format!("Metadata name too long: {name}")
            } else if value.len() > MAX_META_VALUE {
                format!("Metadata value longer than {MAX_META_VALUE}: {name}")
            } else if count > MAX_META_COUNT {
                format!("Too many metadata items; max {MAX_META_COUNT}")
            } else if size > MAX_META_SIZE {
                format!("Total metadata too large; max {MAX_META_SIZE}")
            } else {
                continue;
            }
        } else {
            continue;
        };
        return Err(SwiftError::from_status(
            method,
            what,
            StatusCode::BAD_REQUEST,
            &reason,
        ));
    }
    Ok(())
}

/// An upload's whole body; one that fails or differs from its announced length is
/// a broken transfer.
async fn collect(
    mut body: UploadBody,
    length: Option<u64>,
    what: &str,
) -> Result<Bytes, SwiftError> {
    let broken = |reason: String| SwiftError::Transfer {
        what: what.to_string(),
        reason,
    };
    let mut data = BytesMut::new();
    while let Some(chunk) = body.next().await {
        data.extend_from_slice(&chunk.map_err(|e| broken(e.to_string()))?);
    }
    match length {
        Some(len) if len != data.len() as u64 => Err(broken(format!(
            "body of {} bytes, {len} announced",
            data.len()
        ))),
        _ => Ok(data.freeze()),
    }
}

fn push_chunks(out: &mut Vec<Result<Bytes, SwiftError>>, mut data: Bytes) {
    while !data.is_empty() {
        out.push(Ok(data.split_to(data.len().min(CHUNK))));
    }
}

fn object_what(c: &ContainerName, o: &ObjectName) -> String {
    format!("object {c}/{o}")
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Swift's timestamps have five decimals.
fn now() -> SystemTime {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UNIX_EPOCH + Duration::new(d.as_secs(), d.subsec_nanos() / 10_000 * 10_000)
}

/// `Last-Modified` has whole seconds, and Swift rounds up.
fn http_time(t: SystemTime) -> SystemTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn container(name: &str) -> ContainerName {
        ContainerName::new(name).unwrap()
    }

    fn object(name: &str) -> ObjectName {
        ObjectName::new(name).unwrap()
    }

    async fn store_with(containers: &[&str]) -> MemoryStore {
        let store = MemoryStore::new();
        for c in containers {
            store.create_container(&container(c)).await.unwrap();
        }
        store
    }

    async fn put(store: &MemoryStore, c: &str, o: &str, data: &'static [u8]) -> String {
        let meta = ObjectMeta::default();
        let data = Bytes::from_static(data);
        store
            .put_object(&container(c), &object(o), data, &meta)
            .await
            .unwrap()
    }

    /// A GET's pieces and the error that ended it, if one did.
    async fn pieces(s: ObjectStream<'_>) -> (Vec<Bytes>, Option<SwiftError>) {
        let mut body = s.body;
        let mut out = Vec::new();
        while let Some(item) = body.next().await {
            match item {
                Ok(b) => out.push(b),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    async fn get(store: &MemoryStore, c: &str, o: &str, range: Option<ByteRange>) -> Bytes {
        let s = store
            .get_object(&container(c), &object(o), range, None)
            .await
            .unwrap();
        let (parts, err) = pieces(s).await;
        assert!(err.is_none(), "{err:?}");
        Bytes::from(parts.concat())
    }

    fn markers(rows: &[ListEntry]) -> Vec<&str> {
        rows.iter().map(ListEntry::marker).collect()
    }

    fn status(e: &SwiftError) -> Option<u16> {
        match e {
            SwiftError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    #[tokio::test]
    async fn objects_containers_and_counts() {
        let store = store_with(&["c"]).await;
        let (c, o) = (container("c"), object("a/b"));
        let etag = put(&store, "c", "a/b", b"hello").await;
        assert_eq!(etag, "5d41402abc4b2a76b9719d911017c592");
        let info = store.head_object(&c, &o).await.unwrap();
        assert_eq!((info.size, info.etag.as_deref()), (5, Some(etag.as_str())));
        assert_eq!(info.manifest, None);
        assert!(info.last_modified.unwrap() >= SystemTime::now() - Duration::from_secs(2));
        assert_eq!(get(&store, "c", "a/b", None).await, "hello");
        assert_eq!(store.object_names("c"), ["a/b"]);
        assert_eq!(store.object_bytes("c", "a/b").unwrap(), "hello");
        let ci = store.container_info(&c).await.unwrap();
        assert_eq!((ci.bytes_used, ci.object_count), (5, 1));
        let ai = store.account_info().await.unwrap();
        assert_eq!(
            (ai.bytes_used, ai.object_count, ai.container_count),
            (5, 1, 1)
        );
        assert_eq!(ai.quota_bytes, None);

        store.create_container(&c).await.unwrap();
        assert_eq!(store.object_names("c").len(), 1, "creating again keeps it");
        let nowhere = container("nowhere");
        let meta = ObjectMeta::default();
        let e = store.put_object(&nowhere, &o, Bytes::new(), &meta).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
        let e = store.container_info(&nowhere).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
        let e = store.list_page(&nowhere, &ListQuery::default()).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));

        store.delete_object(&c, &o).await.unwrap();
        let e = store.delete_object(&c, &o).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
        let e = store.head_object(&c, &o).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
        let counts = store.counts();
        let expect = [
            ("DELETE", 2),
            ("GET", 1),
            ("HEAD", 5),
            ("LIST", 1),
            ("PUT", 4),
        ];
        assert_eq!(counts, BTreeMap::from(expect));
        assert_eq!(store.request_count(), 13);
    }

    #[tokio::test]
    async fn a_put_is_atomic() {
        let store = store_with(&["c"]).await;
        let (c, o) = (container("c"), object("f"));
        let meta = ObjectMeta::default();
        put(&store, "c", "f", b"old").await;
        let broken = stream::iter([
            Ok(Bytes::from_static(b"new")),
            Err(std::io::Error::other("disk gone")),
        ])
        .boxed();
        let e = store.put_object_stream(&c, &o, broken, None, &meta).await;
        assert!(matches!(e, Err(SwiftError::Transfer { .. })), "{e:?}");
        assert_eq!(store.object_bytes("c", "f").unwrap(), "old");
        let short = stream::iter([Ok(Bytes::from_static(b"new"))]).boxed();
        let e = store.put_object_stream(&c, &o, short, Some(4), &meta).await;
        assert!(matches!(e, Err(SwiftError::Transfer { .. })), "{e:?}");
        assert_eq!(store.object_bytes("c", "f").unwrap(), "old");

        let body = stream::iter([b"ne".as_slice(), b"w"].map(|b| Ok(Bytes::from_static(b))));
        let etag = store
            .put_object_stream(&c, &o, body.boxed(), Some(3), &meta)
            .await
            .unwrap();
        assert_eq!(etag, md5_hex(b"new"));
        assert_eq!(store.object_bytes("c", "f").unwrap(), "new");
    }

    #[tokio::test]
    async fn a_file_range_is_read_at_its_offset() {
        let store = store_with(&["c"]).await;
        let (c, o) = (container("c"), object("f"));
        let file = tempfile::tempfile().unwrap();
        file.write_all_at(b"0123456789", 0).unwrap();
        let file = std::sync::Arc::new(file);
        let meta = ObjectMeta::default();
        let part = FileRange {
            file: file.clone(),
            start: 2,
            len: 5,
        };
        let etag = store.put_file_range(&c, &o, &part, &meta).await.unwrap();
        assert_eq!(etag, md5_hex(b"23456"));
        assert_eq!(store.object_bytes("c", "f").unwrap(), "23456");
        let past_end = FileRange {
            file,
            start: 8,
            len: 5,
        };
        let e = store.put_file_range(&c, &o, &past_end, &meta).await;
        assert!(matches!(e, Err(SwiftError::LocalFile { .. })), "{e:?}");
        assert_eq!(store.object_bytes("c", "f").unwrap(), "23456");
    }

    #[tokio::test]
    async fn metadata_reads_back_through_head_and_listing() {
        let store = store_with(&["c"]).await;
        let (c, o) = (container("c"), object("f"));
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let mut meta = ObjectMeta::with_mtime(t);
        meta.content_type = Some("text/plain".into());
        meta.other.insert("color".into(), " blue ".into());
        meta.other.insert("a_b".into(), "x".into());
        store
            .put_object(&c, &o, Bytes::from_static(b"x"), &meta)
            .await
            .unwrap();

        let info = store.head_object(&c, &o).await.unwrap();
        assert_eq!(info.meta.mtime, Some(t));
        assert_eq!(info.meta.content_type.as_deref(), Some("text/plain"));
        let kept = BTreeMap::from([("a-b".into(), "x".into()), ("color".into(), "blue".into())]);
        assert_eq!(info.meta.other, kept, "as Swift gives them back");

        let rows = store.list_page(&c, &ListQuery::default()).await.unwrap();
        let [ListEntry::Object(row)] = rows.as_slice() else {
            panic!("{rows:?}")
        };
        assert_eq!(row.meta().mtime, Some(t));
        assert_eq!(row.content_type, meta.content_type_header());
        let (listed, head) = (row.modified().unwrap(), info.last_modified.unwrap());
        assert!(listed <= head && head < listed + Duration::from_secs(1));
    }

    #[tokio::test]
    async fn metadata_swift_would_refuse_is_refused() {
        let store = store_with(&["c"]).await;
        let (c, o) = (container("c"), object("f"));
        let data = Bytes::from_static(b"x");
        let mut meta = ObjectMeta::default();
        meta.other.insert("name".into(), "a\nb".into());
        let e = store.put_object(&c, &o, data.clone(), &meta).await;
        assert!(matches!(e, Err(SwiftError::Config(_))), "{e:?}");
        assert_eq!(store.counts().get("PUT"), Some(&1), "never sent");
        // HTTP carries it, but the client cannot read it back as text
        meta.other.insert("name".into(), "café".into());
        store.put_object(&c, &o, data.clone(), &meta).await.unwrap();
        let info = store.head_object(&c, &o).await.unwrap();
        assert!(info.meta.other.is_empty(), "{info:?}");
        store.delete_object(&c, &o).await.unwrap();

        let mut meta = ObjectMeta::default();
        for i in 0..=MAX_META_COUNT {
            meta.other.insert(format!("k{i}"), "v".into());
        }
        let e = store
            .put_object(&c, &o, data.clone(), &meta)
            .await
            .unwrap_err();
        assert_eq!(status(&e), Some(400), "{e}");
        let mut meta = ObjectMeta::default();
        meta.other
            .insert("k".into(), "v".repeat(MAX_META_VALUE + 1));
        let e = store.put_object(&c, &o, data, &meta).await.unwrap_err();
        assert_eq!(status(&e), Some(400), "{e}");
        assert!(store.object_names("c").is_empty());
    }

    #[tokio::test]
    async fn a_post_replaces_all_metadata_and_keeps_the_bytes() {
        let store = store_with(&["c"]).await;
        let (c, o) = (container("c"), object("f"));
        let mut meta = ObjectMeta::default();
        meta.other.insert("a".into(), "1".into());
        let etag = store
            .put_object(&c, &o, Bytes::from_static(b"data"), &meta)
            .await
            .unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let mut new = ObjectMeta::with_mtime(t);
        new.other.insert("b".into(), "2".into());
        store.post_object(&c, &o, &new).await.unwrap();

        let info = store.head_object(&c, &o).await.unwrap();
        assert_eq!(info.meta, new);
        assert_eq!(info.etag, Some(etag));
        assert_eq!(store.object_bytes("c", "f").unwrap(), "data");
        let rows = store.list_page(&c, &ListQuery::default()).await.unwrap();
        let ListEntry::Object(row) = &rows[0] else {
            panic!("{rows:?}")
        };
        assert_eq!(row.meta().mtime, Some(t));
        let e = store.post_object(&c, &object("absent"), &new).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
    }

    #[tokio::test]
    async fn listings_fold_folders_and_page_like_swift() {
        let store = store_with(&["c"]).await;
        let c = container("c");
        for name in ["a", "b/1", "b/2", "c/x/1", "c/y", "d", "e/", "Z"] {
            put(&store, "c", name, b"").await;
        }
        let q = |prefix: Option<&str>, marker: Option<&str>, limit: Option<u32>| ListQuery {
            prefix: prefix.map(String::from),
            delimiter: Some('/'),
            marker: marker.map(String::from),
            limit,
        };
        let page = |q: ListQuery| {
            let (store, c) = (&store, &c);
            async move { store.list_page(c, &q).await.unwrap() }
        };
        let all = page(q(None, None, None)).await;
        assert_eq!(markers(&all), ["Z", "a", "b/", "c/", "d", "e/"]);
        let c_dir = page(q(Some("c/"), None, None)).await;
        assert_eq!(markers(&c_dir), ["c/x/", "c/y"]);
        assert_eq!(
            markers(&page(q(None, Some("b/"), None)).await),
            ["c/", "d", "e/"]
        );
        // a marker inside a folder lists the folder again, as Swift does
        let inside = page(q(None, Some("b/1"), None)).await;
        assert_eq!(markers(&inside), ["b/", "c/", "d", "e/"]);
        assert_eq!(
            markers(&page(q(None, None, Some(3))).await),
            ["Z", "a", "b/"]
        );
        let next = page(q(None, Some("b/"), Some(3))).await;
        assert_eq!(markers(&next), ["c/", "d", "e/"]);
        let flat = ListQuery {
            prefix: Some("b/".into()),
            ..ListQuery::default()
        };
        assert_eq!(markers(&page(flat).await), ["b/1", "b/2"]);
        let too_many = store.list_page(&c, &q(None, None, Some(10_001))).await;
        assert!(matches!(too_many, Err(SwiftError::PreconditionFailed(_))));

        let small = MemoryStore::with_page_size(2);
        small.create_container(&c).await.unwrap();
        for name in ["a", "b/1", "b/2", "c/x/1", "c/y", "d", "e/", "Z"] {
            put(&small, "c", name, b"").await;
        }
        let lists = small.counts().get("LIST").copied().unwrap_or(0);
        let folded = small.list_all(&c, &q(None, None, None)).await.unwrap();
        assert_eq!(markers(&folded), markers(&all));
        assert_eq!(
            small.counts()["LIST"] - lists,
            4,
            "three full pages, one empty"
        );
        let every = small.list_all(&c, &ListQuery::default()).await.unwrap();
        assert_eq!(every.len(), 8);
        assert_eq!(small.counts()["LIST"] - lists, 4 + 5);
    }

    #[tokio::test]
    async fn ranges_are_cut_refused_and_pinned() {
        let store = store_with(&["c"]).await;
        let (c, o) = (container("c"), object("big"));
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let meta = ObjectMeta::default();
        let etag = store
            .put_object(&c, &o, Bytes::from(data.clone()), &meta)
            .await
            .unwrap();

        let s = store.get_object(&c, &o, None, None).await.unwrap();
        let (parts, _) = pieces(s).await;
        let sizes: Vec<usize> = parts.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [CHUNK, CHUNK, CHUNK, 200_000 - 3 * CHUNK]);
        assert_eq!(get(&store, "c", "big", Some(10..20)).await, data[10..20]);
        let (info, tail) = store
            .get_range_with_info(&c, &o, 199_990..300_000, Some(&format!("\"{etag}\"")))
            .await
            .unwrap();
        assert_eq!((info.size, &tail[..]), (200_000, &data[199_990..]));

        let past = store.get_object(&c, &o, Some(200_000..200_001), None).await;
        assert!(matches!(past, Err(SwiftError::RangeNotSatisfiable(_))));
        let pinned = store.get_object(&c, &o, None, Some("0123")).await;
        assert!(matches!(pinned, Err(SwiftError::PreconditionFailed(_))));
        let empty_range = store.get_object(&c, &o, Some(5..5), None).await;
        assert!(matches!(empty_range, Err(SwiftError::Config(_))));

        put(&store, "c", "empty", b"").await;
        let e = store.get_range(&c, &object("empty"), 0..10, None).await;
        assert!(matches!(e, Err(SwiftError::RangeNotSatisfiable(_))));
        assert_eq!(get(&store, "c", "empty", None).await, "");
    }

    /// Segments `segs/1` ("aaaa") and `segs/2` ("bb"), and their manifest rows.
    async fn segments(store: &MemoryStore) -> Vec<SloSegment> {
        let mut rows = Vec::new();
        for (name, data) in [("1", b"aaaa".as_slice()), ("2", b"bb")] {
            let etag = put(store, "segs", name, data).await;
            let path = SegmentPath::parse(&format!("/segs/{name}")).unwrap();
            rows.push(SloSegment::new(&path, etag, data.len() as u64));
        }
        rows
    }

    #[tokio::test]
    async fn a_manifest_is_checked_against_its_segments() {
        let store = store_with(&["c", "segs"]).await;
        let (c, o) = (container("c"), object("big"));
        let meta = ObjectMeta::default();
        put(&store, "c", "big", b"old").await;
        let good = segments(&store).await;
        let mut wrong_etag = good.clone();
        wrong_etag[1].etag = md5_hex(b"cc");
        let mut wrong_size = good.clone();
        wrong_size[0].size_bytes = 5;
        let mut missing = good.clone();
        missing[1].path = "/segs/3".into();
        let mut itself = good.clone();
        itself[0].path = "/c/big".into();
        for bad in [wrong_etag, wrong_size, missing, itself] {
            let e = store
                .put_slo_manifest(&c, &o, &bad, &meta)
                .await
                .unwrap_err();
            assert_eq!(status(&e), Some(400), "{e}");
            assert_eq!(store.object_bytes("c", "big").unwrap(), "old");
        }
        put(&store, "segs", "empty", b"").await;
        let empty = SloSegment::new(&SegmentPath::parse("/segs/empty").unwrap(), md5_hex(b""), 0);
        let first_empty = [empty.clone(), good[0].clone()];
        let e = store
            .put_slo_manifest(&c, &o, &first_empty, &meta)
            .await
            .unwrap_err();
        assert_eq!(status(&e), Some(400), "{e}");
        let last_empty = [good[0].clone(), empty];
        store
            .put_slo_manifest(&c, &o, &last_empty, &meta)
            .await
            .unwrap();
        assert_eq!(store.object_bytes("c", "big").unwrap(), "aaaa");
    }

    #[tokio::test]
    async fn a_large_object_is_assembled_at_get_time() {
        let store = store_with(&["c", "segs"]).await;
        let (c, o) = (container("c"), object("big"));
        let rows = segments(&store).await;
        let meta = ObjectMeta::with_mtime(UNIX_EPOCH + Duration::from_secs(7));
        store.put_slo_manifest(&c, &o, &rows, &meta).await.unwrap();

        let info = store.head_object(&c, &o).await.unwrap();
        let slo_etag = md5_hex(format!("{}{}", rows[0].etag, rows[1].etag).as_bytes());
        assert_eq!(info.etag.as_deref(), Some(slo_etag.as_str()));
        assert_eq!((info.size, info.manifest), (6, Some(Manifest::Slo)));
        assert_eq!(info.meta, meta);
        assert_eq!(get(&store, "c", "big", None).await, "aaaabb");
        assert_eq!(get(&store, "c", "big", Some(3..5)).await, "ab");
        let pinned = store
            .get_range(&c, &o, 0..6, Some(&slo_etag))
            .await
            .unwrap();
        assert_eq!(pinned, "aaaabb");

        let listed = store.list_page(&c, &ListQuery::default()).await.unwrap();
        let ListEntry::Object(row) = &listed[0] else {
            panic!("{listed:?}")
        };
        assert_eq!(row.bytes, 6);
        assert_ne!(row.hash, slo_etag, "a listing shows the manifest's MD5");
        let used = store.container_info(&c).await.unwrap().bytes_used;
        assert_ne!(used, 6, "the manifest's own bytes are counted");
        let paths = store.slo_segments(&c, &o).await.unwrap();
        assert_eq!(
            paths.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["/segs/1", "/segs/2"]
        );

        // a segment gone: where a read starts, 409; later, the body breaks off
        store
            .delete_object(&container("segs"), &object("2"))
            .await
            .unwrap();
        let s = store.get_object(&c, &o, None, None).await.unwrap();
        let (parts, err) = pieces(s).await;
        assert_eq!(parts.concat(), b"aaaa");
        assert!(matches!(err, Some(SwiftError::Transfer { .. })), "{err:?}");
        let e = store.get_object(&c, &o, Some(4..6), None).await;
        assert!(matches!(e, Err(SwiftError::Conflict(_))));
        put(&store, "segs", "1", b"AAAA").await;
        let e = store.get_object(&c, &o, None, None).await;
        assert!(
            matches!(e, Err(SwiftError::Conflict(_))),
            "a changed segment"
        );
        assert_eq!(store.object_bytes("c", "big"), None);
    }

    #[tokio::test]
    async fn copies_of_plain_and_large_objects() {
        let store = store_with(&["c", "segs"]).await;
        let c = container("c");
        let mut meta = ObjectMeta::with_mtime(UNIX_EPOCH + Duration::from_secs(9));
        meta.other.insert("k".into(), "v".into());
        store
            .put_object(&c, &object("plain"), Bytes::from_static(b"p"), &meta)
            .await
            .unwrap();
        store
            .copy_object((&c, &object("plain")), (&c, &object("plain2")), false)
            .await
            .unwrap();
        let (a, b) = (
            store.head_object(&c, &object("plain")).await.unwrap(),
            store.head_object(&c, &object("plain2")).await.unwrap(),
        );
        assert_eq!((a.etag, a.meta), (b.etag, b.meta));

        let rows = segments(&store).await;
        store
            .put_slo_manifest(&c, &object("big"), &rows, &meta)
            .await
            .unwrap();
        let big = (&c, &object("big"));
        store
            .copy_object(big, (&c, &object("manifest")), true)
            .await
            .unwrap();
        store
            .copy_object(big, (&c, &object("whole")), false)
            .await
            .unwrap();
        let m = store.head_object(&c, &object("manifest")).await.unwrap();
        assert_eq!(
            (m.manifest, m.size, m.meta),
            (Some(Manifest::Slo), 6, meta.clone())
        );
        let w = store.head_object(&c, &object("whole")).await.unwrap();
        assert_eq!((w.manifest, w.size, w.meta), (None, 6, meta));
        assert_eq!(w.etag, Some(md5_hex(b"aaaabb")));
        assert_eq!(store.object_bytes("c", "whole").unwrap(), "aaaabb");
        assert_eq!(
            store.slo_segments(&c, &object("manifest")).await.unwrap(),
            store.slo_segments(&c, big.1).await.unwrap(),
            "the copy shares the segments"
        );

        store
            .delete_object(&container("segs"), &object("1"))
            .await
            .unwrap();
        let e = store.copy_object(big, (&c, &object("x")), false).await;
        assert!(matches!(e, Err(SwiftError::Conflict(_))), "{e:?}");
        let e = store
            .copy_object(big, (&c, &object("x")), true)
            .await
            .unwrap_err();
        assert_eq!(status(&e), Some(400), "{e}");
        let e = store
            .copy_object((&c, &object("absent")), (&c, &object("x")), false)
            .await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
        let e = store
            .copy_object(
                (&c, &object("plain")),
                (&container("nowhere"), &object("x")),
                false,
            )
            .await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
        assert!(!store.object_names("c").contains(&"x".to_string()));
    }

    #[tokio::test]
    async fn delete_slo_takes_the_segments_along() {
        let store = store_with(&["c", "segs"]).await;
        let (c, o) = (container("c"), object("big"));
        let rows = segments(&store).await;
        put(&store, "segs", "other", b"o").await;
        store
            .put_slo_manifest(&c, &o, &rows, &ObjectMeta::default())
            .await
            .unwrap();
        store
            .delete_object(&container("segs"), &object("2"))
            .await
            .unwrap();
        store.delete_slo(&c, &o).await.unwrap();
        assert!(store.object_names("c").is_empty());
        assert_eq!(store.object_names("segs"), ["other"]);
        let e = store.delete_slo(&c, &o).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
        let e = store
            .delete_slo(&container("segs"), &object("other"))
            .await
            .unwrap_err();
        assert_eq!(status(&e), Some(400), "{e}");
        assert_eq!(store.object_names("segs"), ["other"]);
    }

    #[tokio::test]
    async fn the_manifest_of_a_plain_object() {
        let store = store_with(&["c"]).await;
        let c = container("c");
        put(&store, "c", "plain", b"not json").await;
        let e = store.slo_segments(&c, &object("plain")).await;
        assert!(
            matches!(e, Err(SwiftError::InvalidResponse { .. })),
            "{e:?}"
        );
        put(&store, "c", "empty", b"").await;
        assert!(
            store
                .slo_segments(&c, &object("empty"))
                .await
                .unwrap()
                .is_empty()
        );
        let e = store.slo_segments(&c, &object("absent")).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))));
    }
}
