//! A store that fails on purpose, for tests of the filesystem layer: it wraps any
//! [`ObjectStore`] and, by rules a test sets, refuses requests, loses answers,
//! breaks GET bodies off or holds requests back.
//!
//! An injected fault stands for a failure that outlasted the client's retries:
//! [`super::SwiftClient`] repeats transient failures itself, this wrapper never
//! does, so the filesystem layer sees the error at once, as it would after the last
//! retry. One fault is one failed request: a paged listing meets a rule once per
//! page, a resumed GET once per attempt.
//!
//! Rules are tried in the order they were injected; the first that matches a
//! request fires (using up one of its times) and the others are not tried.

use super::{
    AccountInfo, ByteRange, ContainerInfo, ContainerName, FileRange, ListEntry, ListQuery,
    ObjectInfo, ObjectMeta, ObjectName, ObjectStore, ObjectStream, SegmentPath, SloSegment,
    SwiftError, UploadBody,
};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::StatusCode;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The operations of [`ObjectStore`], one per request a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Account,
    Container,
    CreateContainer,
    /// One page of a listing.
    List,
    Head,
    Get,
    Put,
    PutFile,
    PutStream,
    Post,
    Delete,
    Copy,
    /// Writing a large object's manifest.
    Manifest,
    DeleteSlo,
    /// Reading a large object's manifest.
    Segments,
}

impl Op {
    fn method(self) -> &'static str {
        match self {
            Op::Account | Op::Container | Op::Head => "HEAD",
            Op::List | Op::Get | Op::Segments => "GET",
            Op::CreateContainer
            | Op::Put
            | Op::PutFile
            | Op::PutStream
            | Op::Copy
            | Op::Manifest => "PUT",
            Op::Post => "POST",
            Op::Delete | Op::DeleteSlo => "DELETE",
        }
    }
}

/// What a rule does to a request it matches.
#[derive(Clone, Debug)]
pub enum Effect {
    /// The server refuses the request with this status, which becomes the error the
    /// client returns for it (404 is [`SwiftError::NotFound`], 503 a transient
    /// [`SwiftError::Http`]); the request has no effect.
    Status(u16),
    /// The request takes effect but its answer is lost: the caller gets a transient
    /// [`SwiftError::Transfer`].
    LostAnswer,
    /// A GET answers, but its body breaks off with a [`SwiftError::Transfer`] after
    /// `after` bytes (a shorter body arrives whole). Other requests have no body
    /// to cut: their answer is lost, as with [`Effect::LostAnswer`].
    CutBody { after: u64 },
    /// The request waits this long before it goes on.
    Delay(Duration),
    /// A HEAD or GET is answered by a node that missed the latest changes: with what
    /// the store holds under this other name (an earlier version kept there). A GET
    /// pinned to another version is refused there and goes on to the next node, as
    /// Swift's proxy does with a 412: it gets the object. Other requests go on untouched.
    StaleAs(ObjectName),
    /// A listing page answers with those of these rows under its prefix instead of
    /// the store's: a container replica that missed updates. Other requests go on
    /// untouched.
    Rows(Vec<ListEntry>),
}

/// When and how often an [`Effect`] applies.
#[derive(Clone, Debug)]
pub struct Rule {
    op: Op,
    name: Option<String>,
    times: u64,
    effect: Effect,
}

impl Rule {
    /// A rule for every request of `op`, firing once.
    pub fn new(op: Op, effect: Effect) -> Self {
        Rule {
            op,
            name: None,
            times: 1,
            effect,
        }
    }

    /// Only for requests whose object name contains `part` (a copy: either name; a
    /// listing: its prefix). Requests about no object then never match.
    pub fn on(mut self, part: impl Into<String>) -> Self {
        self.name = Some(part.into());
        self
    }

    /// Firing `n` times instead of once (`u64::MAX`: for good).
    pub fn times(mut self, n: u64) -> Self {
        self.times = n;
        self
    }

    fn matches(&self, op: Op, names: &[&str]) -> bool {
        self.op == op
            && self.times > 0
            && self
                .name
                .as_deref()
                .is_none_or(|part| names.iter().any(|n| n.contains(part)))
    }
}

/// An [`ObjectStore`] that passes requests to another, except where a rule says
/// otherwise.
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    rules: Mutex<Vec<Rule>>,
    fired: AtomicU64,
}

impl FaultStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        FaultStore {
            inner,
            rules: Mutex::default(),
            fired: AtomicU64::new(0),
        }
    }

    /// Adds a rule after those already there.
    pub fn inject(&self, rule: Rule) {
        self.rules().push(rule);
    }

    /// Drops every rule: requests pass untouched again.
    pub fn clear(&self) {
        self.rules().clear();
    }

    /// How many faults have been applied so far.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().expect("fault rules lock poisoned")
    }

    /// The effect for a request, if a rule fires on it.
    fn take(&self, op: Op, names: &[&str]) -> Option<Effect> {
        let mut rules = self.rules();
        let i = rules.iter().position(|r| r.matches(op, names))?;
        rules[i].times -= 1;
        let effect = rules[i].effect.clone();
        if rules[i].times == 0 {
            rules.remove(i);
        }
        self.fired.fetch_add(1, Ordering::Relaxed);
        Some(effect)
    }

    /// Sends a request (`call`, not started yet) through the rules.
    async fn run<T>(
        &self,
        op: Op,
        what: String,
        names: &[&str],
        call: impl Future<Output = Result<T, SwiftError>>,
    ) -> Result<T, SwiftError> {
        apply(self.take(op, names), op, what, call).await
    }
}

async fn apply<T>(
    effect: Option<Effect>,
    op: Op,
    what: String,
    call: impl Future<Output = Result<T, SwiftError>>,
) -> Result<T, SwiftError> {
    match effect {
        None | Some(Effect::Rows(_) | Effect::StaleAs(_)) => call.await,
        Some(Effect::Status(status)) => Err(refused(op, what, status)),
        Some(Effect::LostAnswer | Effect::CutBody { .. }) => {
            // whatever the store answered, it never reaches the caller
            let _ = call.await;
            Err(SwiftError::Transfer {
                what,
                reason: "answer lost (injected fault)".into(),
            })
        }
        Some(Effect::Delay(d)) => {
            tokio::time::sleep(d).await;
            call.await
        }
    }
}

/// The error the client makes of an HTTP status.
fn refused(op: Op, what: String, status: u16) -> SwiftError {
    match StatusCode::from_u16(status) {
        Ok(code) => SwiftError::from_status(op.method(), &what, code, ""),
        Err(_) => SwiftError::Http {
            method: op.method().to_string(),
            what,
            status,
            detail: String::new(),
        },
    }
}

/// `body` up to `after` bytes, then a broken transfer unless the body ended there.
fn cut(
    body: BoxStream<'_, Result<Bytes, SwiftError>>,
    after: u64,
    what: String,
) -> BoxStream<'_, Result<Bytes, SwiftError>> {
    struct Cut<'a> {
        body: BoxStream<'a, Result<Bytes, SwiftError>>,
        left: u64,
        broken: bool,
        done: bool,
        what: String,
    }
    let state = Cut {
        body,
        left: after,
        broken: false,
        done: false,
        what,
    };
    futures::stream::unfold(state, move |mut s| async move {
        if s.done {
            return None;
        }
        if !s.broken {
            match s.body.next().await? {
                Ok(chunk) if chunk.len() as u64 <= s.left => {
                    s.left -= chunk.len() as u64;
                    return Some((Ok(chunk), s));
                }
                Ok(chunk) if s.left > 0 => {
                    let head = chunk.slice(..s.left as usize);
                    s.broken = true;
                    return Some((Ok(head), s));
                }
                Ok(_) => {}
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            }
        }
        s.done = true;
        let e = SwiftError::Transfer {
            what: s.what.clone(),
            reason: format!("body cut off after {after} bytes (injected fault)"),
        };
        Some((Err(e), s))
    })
    .boxed()
}

fn object_what(c: &ContainerName, o: &ObjectName) -> String {
    format!("object {c}/{o}")
}

#[async_trait::async_trait]
impl ObjectStore for FaultStore {
    async fn account_info(&self) -> Result<AccountInfo, SwiftError> {
        let call = self.inner.account_info();
        self.run(Op::Account, "account".into(), &[], call).await
    }

    async fn container_info(&self, c: &ContainerName) -> Result<ContainerInfo, SwiftError> {
        let call = self.inner.container_info(c);
        self.run(Op::Container, format!("container {c}"), &[], call)
            .await
    }

    async fn create_container(&self, c: &ContainerName) -> Result<(), SwiftError> {
        let call = self.inner.create_container(c);
        self.run(Op::CreateContainer, format!("container {c}"), &[], call)
            .await
    }

    async fn list_page(
        &self,
        c: &ContainerName,
        q: &ListQuery,
    ) -> Result<Vec<ListEntry>, SwiftError> {
        let prefix = q.prefix.as_deref().unwrap_or_default();
        let call = self.inner.list_page(c, q);
        match self.take(Op::List, &[prefix]) {
            Some(Effect::Rows(rows)) => Ok(rows
                .into_iter()
                .filter(|r| match r {
                    ListEntry::Object(o) => o.name.starts_with(prefix),
                    ListEntry::Subdir { subdir } => subdir.starts_with(prefix),
                })
                .collect()),
            effect => apply(effect, Op::List, format!("container {c}"), call).await,
        }
    }

    fn page_size(&self) -> u32 {
        self.inner.page_size()
    }

    async fn head_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError> {
        match self.take(Op::Head, &[o.as_str()]) {
            Some(Effect::StaleAs(old)) => self.inner.head_object(c, &old).await,
            effect => {
                apply(
                    effect,
                    Op::Head,
                    object_what(c, o),
                    self.inner.head_object(c, o),
                )
                .await
            }
        }
    }

    async fn head_newest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError> {
        // every node is asked: a stale one does not decide
        let call = self.inner.head_newest(c, o);
        self.run(Op::Head, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn get_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: Option<ByteRange>,
        if_match: Option<&str>,
    ) -> Result<ObjectStream<'_>, SwiftError> {
        let what = object_what(c, o);
        let call = self.inner.get_object(c, o, range.clone(), if_match);
        match self.take(Op::Get, &[o.as_str()]) {
            Some(Effect::StaleAs(old)) => {
                match self.inner.get_object(c, &old, range, if_match).await {
                    Err(SwiftError::PreconditionFailed(_)) => call.await,
                    stale => stale,
                }
            }
            Some(Effect::CutBody { after }) => {
                let stream = call.await?;
                Ok(ObjectStream {
                    info: stream.info,
                    body: cut(stream.body, after, what),
                })
            }
            effect => apply(effect, Op::Get, what, call).await,
        }
    }

    async fn put_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        data: Bytes,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let call = self.inner.put_object(c, o, data, meta);
        self.run(Op::Put, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn put_file_range(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        part: &FileRange,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let call = self.inner.put_file_range(c, o, part, meta);
        self.run(Op::PutFile, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn put_object_stream(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        body: UploadBody,
        length: Option<u64>,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError> {
        let call = self.inner.put_object_stream(c, o, body, length, meta);
        self.run(Op::PutStream, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn post_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError> {
        let call = self.inner.post_object(c, o, meta);
        self.run(Op::Post, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn delete_object(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
        let call = self.inner.delete_object(c, o);
        self.run(Op::Delete, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn copy_object(
        &self,
        from: (&ContainerName, &ObjectName),
        to: (&ContainerName, &ObjectName),
        manifest: bool,
    ) -> Result<(), SwiftError> {
        let call = self.inner.copy_object(from, to, manifest);
        let names = [from.1.as_str(), to.1.as_str()];
        self.run(Op::Copy, object_what(to.0, to.1), &names, call)
            .await
    }

    async fn put_slo_manifest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        segments: &[SloSegment],
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError> {
        let call = self.inner.put_slo_manifest(c, o, segments, meta);
        self.run(Op::Manifest, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn delete_slo(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError> {
        let call = self.inner.delete_slo(c, o);
        self.run(Op::DeleteSlo, object_what(c, o), &[o.as_str()], call)
            .await
    }

    async fn slo_segments(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<Vec<SegmentPath>, SwiftError> {
        let call = self.inner.slo_segments(c, o);
        self.run(Op::Segments, object_what(c, o), &[o.as_str()], call)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swift::MemoryStore;

    struct Setup {
        inner: Arc<MemoryStore>,
        faults: FaultStore,
        c: ContainerName,
    }

    async fn setup() -> Setup {
        let inner = Arc::new(MemoryStore::new());
        let c = ContainerName::new("c").unwrap();
        inner.create_container(&c).await.unwrap();
        let faults = FaultStore::new(inner.clone());
        Setup { inner, faults, c }
    }

    fn object(name: &str) -> ObjectName {
        ObjectName::new(name).unwrap()
    }

    async fn put(
        s: &impl ObjectStore,
        c: &ContainerName,
        o: &str,
        data: Vec<u8>,
    ) -> Result<String, SwiftError> {
        s.put_object(c, &object(o), Bytes::from(data), &ObjectMeta::default())
            .await
    }

    /// A GET's bytes and the error that ended it, if one did.
    async fn read(s: &FaultStore, c: &ContainerName, o: &str) -> (Vec<u8>, Option<SwiftError>) {
        let mut body = s.get_object(c, &object(o), None, None).await.unwrap().body;
        let mut out = Vec::new();
        while let Some(item) = body.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn a_refused_request_never_reaches_the_store() {
        let Setup { inner, faults, c } = setup().await;
        faults.inject(Rule::new(Op::Put, Effect::Status(503)));
        let e = put(&faults, &c, "f", b"x".to_vec()).await.unwrap_err();
        assert!(
            matches!(e, SwiftError::Http { status: 503, .. }) && e.is_transient(),
            "{e}"
        );
        assert_eq!(inner.object_names("c"), Vec::<String>::new());
        assert_eq!(inner.counts().get("PUT"), Some(&1), "only the container's");
        put(&faults, &c, "f", b"x".to_vec()).await.unwrap();
        assert_eq!(faults.fired(), 1, "it fired once");

        faults.inject(Rule::new(Op::Head, Effect::Status(404)).on("other"));
        faults.head_object(&c, &object("f")).await.unwrap();
        let e = faults.head_object(&c, &object("an-other")).await;
        assert!(matches!(e, Err(SwiftError::NotFound(_))), "{e:?}");
    }

    #[tokio::test]
    async fn a_lost_answer_took_effect() {
        let Setup { inner, faults, c } = setup().await;
        faults.inject(Rule::new(Op::Put, Effect::LostAnswer));
        let e = put(&faults, &c, "f", b"x".to_vec()).await.unwrap_err();
        assert!(matches!(e, SwiftError::Transfer { .. }), "{e}");
        assert_eq!(inner.object_bytes("c", "f").unwrap(), "x");
        // a body to cut there is not: the answer is lost all the same
        faults.inject(Rule::new(Op::Delete, Effect::CutBody { after: 0 }));
        let e = faults.delete_object(&c, &object("f")).await.unwrap_err();
        assert!(matches!(e, SwiftError::Transfer { .. }), "{e}");
        assert_eq!(inner.object_names("c"), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_body_breaks_off() {
        let Setup { inner, faults, c } = setup().await;
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        put(&*inner, &c, "big", data.clone()).await.unwrap();
        for after in [0, 100, 70_000] {
            faults.inject(Rule::new(Op::Get, Effect::CutBody { after }));
            let (got, err) = read(&faults, &c, "big").await;
            assert_eq!(got, data[..after as usize]);
            assert!(matches!(err, Some(SwiftError::Transfer { .. })), "{err:?}");
        }
        for after in [200_000, 300_000] {
            faults.inject(Rule::new(Op::Get, Effect::CutBody { after }));
            let (got, err) = read(&faults, &c, "big").await;
            assert!(
                err.is_none() && got == data,
                "a body that ends in time is whole"
            );
        }
        assert_eq!(faults.fired(), 5);
    }

    #[tokio::test]
    async fn a_delay_holds_the_request_back() {
        let Setup { faults, c, .. } = setup().await;
        let wait = Duration::from_millis(30);
        faults.inject(Rule::new(Op::CreateContainer, Effect::Delay(wait)));
        let start = std::time::Instant::now();
        faults.create_container(&c).await.unwrap();
        assert!(start.elapsed() >= wait);
    }

    #[tokio::test]
    async fn rules_fire_in_order_until_used_up() {
        let Setup { inner, faults, c } = setup().await;
        for name in ["a/1", "a/2", "b/1"] {
            put(&*inner, &c, name, Vec::new()).await.unwrap();
        }
        faults.inject(Rule::new(Op::List, Effect::Status(500)).on("a/").times(2));
        faults.inject(Rule::new(Op::List, Effect::Status(401)));
        let q = |prefix: &str| ListQuery {
            prefix: Some(prefix.into()),
            ..ListQuery::default()
        };
        for _ in 0..2 {
            let e = faults.list_page(&c, &q("a/")).await.unwrap_err();
            assert!(matches!(e, SwiftError::Http { status: 500, .. }), "{e}");
        }
        let e = faults.list_page(&c, &q("a/")).await.unwrap_err();
        assert!(
            matches!(e, SwiftError::Forbidden { status: 401, .. }),
            "{e}"
        );
        assert_eq!(faults.list_all(&c, &q("a/")).await.unwrap().len(), 2);

        faults.inject(
            Rule::new(Op::Copy, Effect::Status(507))
                .on("b/")
                .times(u64::MAX),
        );
        let e = faults
            .copy_object((&c, &object("a/1")), (&c, &object("b/2")), false)
            .await;
        assert!(
            matches!(e, Err(SwiftError::Http { status: 507, .. })),
            "the destination matches"
        );
        faults.clear();
        faults
            .copy_object((&c, &object("a/1")), (&c, &object("b/2")), false)
            .await
            .unwrap();
        assert_eq!(faults.fired(), 4);
    }
}
