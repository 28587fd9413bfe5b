//! The operations the filesystem layer needs from an object store: implemented by
//! [`super::SwiftClient`] over HTTP, and by [`super::MemoryStore`] in memory, so that
//! the filesystem's state machines can be tested without a server.
//!
//! Every operation that may be repeated safely is retried by the implementation
//! (callers never loop on their own); a body handed over as a stream cannot be
//! replayed and is tried once.

use super::{
    AccountInfo, ContainerInfo, ContainerName, ListEntry, ObjectInfo, ObjectMeta, ObjectName,
    SloSegment, SwiftError,
};
use bytes::Bytes;
use futures::stream::BoxStream;
use std::fs::File;
use std::sync::Arc;

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

/// The headers of a GET and a stream of its body. A body that breaks off is resumed
/// by the store where it can be; an error in the stream is final.
pub struct ObjectStream<'a> {
    pub info: ObjectInfo,
    pub body: BoxStream<'a, Result<Bytes, SwiftError>>,
}

/// A stream of bytes to upload; an `Err` item aborts the upload.
pub type UploadBody = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// A part of a local file to upload: replayable, so it is retried like any request.
#[derive(Clone, Debug)]
pub struct FileRange {
    pub file: Arc<File>,
    pub start: u64,
    pub len: u64,
}

#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync {
    async fn account_info(&self) -> Result<AccountInfo, SwiftError>;

    async fn container_info(&self, c: &ContainerName) -> Result<ContainerInfo, SwiftError>;

    /// Creates a container; one that exists already is fine.
    async fn create_container(&self, c: &ContainerName) -> Result<(), SwiftError>;

    /// One page of a listing (`q.limit` rows at most, else the store's page size).
    async fn list_page(
        &self,
        c: &ContainerName,
        q: &ListQuery,
    ) -> Result<Vec<ListEntry>, SwiftError>;

    /// The store's page size when a query sets none.
    fn page_size(&self) -> u32;

    /// Every row, following `marker` across pages.
    async fn list_all(
        &self,
        c: &ContainerName,
        q: &ListQuery,
    ) -> Result<Vec<ListEntry>, SwiftError> {
        let page_size = q.limit.unwrap_or(self.page_size()) as usize;
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

    async fn head_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError>;

    /// A HEAD answered by the newest version any node holds (`X-Newest`: the proxy
    /// asks every replica), for when a node that missed a change answered.
    async fn head_newest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<ObjectInfo, SwiftError> {
        self.head_object(c, o).await
    }

    /// GETs an object or a range of it. With `if_match`, a changed object is refused
    /// ([`SwiftError::PreconditionFailed`]) instead of mixing two versions.
    async fn get_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: Option<ByteRange>,
        if_match: Option<&str>,
    ) -> Result<ObjectStream<'_>, SwiftError>;

    /// A range read into memory, with what the answer's headers say about the whole
    /// object: a HEAD and a first read in one request. A range past the end is cut to
    /// the object's size; an empty object is [`SwiftError::RangeNotSatisfiable`].
    async fn get_range_with_info(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: ByteRange,
        if_match: Option<&str>,
    ) -> Result<(ObjectInfo, Bytes), SwiftError> {
        use futures::StreamExt;
        let mut stream = self.get_object(c, o, Some(range.clone()), if_match).await?;
        let want = (range.end - range.start).min(stream.info.size);
        let mut buf = bytes::BytesMut::with_capacity(want as usize);
        while let Some(chunk) = stream.body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok((stream.info, buf.freeze()))
    }

    /// A range read into memory.
    async fn get_range(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        range: ByteRange,
        if_match: Option<&str>,
    ) -> Result<Bytes, SwiftError> {
        Ok(self.get_range_with_info(c, o, range, if_match).await?.1)
    }

    /// PUTs an object held in memory; the store checks the MD5 it stored. Returns the
    /// ETag.
    async fn put_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        data: Bytes,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError>;

    /// PUTs a part of a local file; retried from the file on passing trouble.
    async fn put_file_range(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        part: &FileRange,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError>;

    /// PUTs a stream (chunked unless `length` is given); tried once.
    async fn put_object_stream(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        body: UploadBody,
        length: Option<u64>,
        meta: &ObjectMeta,
    ) -> Result<String, SwiftError>;

    /// Replaces an object's metadata (all of it: pass everything it should keep).
    async fn post_object(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError>;

    async fn delete_object(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError>;

    /// Server-side copy; with `manifest`, a large object is copied as its manifest,
    /// sharing the segments.
    async fn copy_object(
        &self,
        from: (&ContainerName, &ObjectName),
        to: (&ContainerName, &ObjectName),
        manifest: bool,
    ) -> Result<(), SwiftError>;

    /// Writes a static large object manifest over segments already stored; the store
    /// checks every segment's size and ETag before the object appears.
    async fn put_slo_manifest(
        &self,
        c: &ContainerName,
        o: &ObjectName,
        segments: &[SloSegment],
        meta: &ObjectMeta,
    ) -> Result<(), SwiftError>;

    /// Deletes a large object together with its segments.
    async fn delete_slo(&self, c: &ContainerName, o: &ObjectName) -> Result<(), SwiftError>;

    /// The segments of a large object's manifest.
    async fn slo_segments(
        &self,
        c: &ContainerName,
        o: &ObjectName,
    ) -> Result<Vec<SegmentPath>, SwiftError>;

    async fn delete_segment(&self, s: &SegmentPath) -> Result<(), SwiftError> {
        self.delete_object(&s.container, &s.object).await
    }
}

/// Where a segment of a large object lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentPath {
    pub container: ContainerName,
    pub object: ObjectName,
}

impl std::fmt::Display for SegmentPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/{}", self.container, self.object)
    }
}

impl SegmentPath {
    /// Reads `/<container>/<object>` as manifests list segments (not percent-encoded).
    pub fn parse(path: &str) -> Result<Self, SwiftError> {
        let (c, o) = path
            .trim_start_matches('/')
            .split_once('/')
            .ok_or_else(|| SwiftError::InvalidName {
                name: path.to_string(),
                reason: "segment path has no object part",
            })?;
        Ok(SegmentPath {
            container: ContainerName::new(c)?,
            object: ObjectName::new(o)?,
        })
    }
}

/// Names for the segments of one upload of an object: unique per upload, so that a
/// new version never overwrites segments an older manifest still points to.
#[derive(Clone, Debug)]
pub struct SegmentNames {
    container: ContainerName,
    prefix: String,
}

impl SegmentNames {
    pub fn new(container: &ContainerName, object: &ObjectName) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        SegmentNames {
            container: container.clone(),
            prefix: format!("{object}/slo/{nanos:x}-{:08x}", rand::random::<u32>()),
        }
    }

    /// The segment number `index` (from 0).
    pub fn segment(&self, index: u32) -> Result<SegmentPath, SwiftError> {
        Ok(SegmentPath {
            container: self.container.clone(),
            object: ObjectName::new(format!("{}/{index:08}", self.prefix))?,
        })
    }
}

impl std::fmt::Display for SegmentNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/{}", self.container, self.prefix)
    }
}

impl SloSegment {
    pub fn new(path: &SegmentPath, etag: String, size_bytes: u64) -> Self {
        SloSegment {
            path: path.to_string(),
            etag,
            size_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_paths() {
        let s = SegmentPath::parse("/segs/a%20b/slo/1/00000000").unwrap();
        assert_eq!(
            (s.container.as_str(), s.object.as_str()),
            ("segs", "a%20b/slo/1/00000000")
        );
        assert_eq!(s.to_string(), "/segs/a%20b/slo/1/00000000");
        assert!(SegmentPath::parse("/nocontainer").is_err());
        let c = ContainerName::new("segs").unwrap();
        let names = SegmentNames::new(&c, &ObjectName::new("a/b").unwrap());
        let first = names.segment(0).unwrap();
        assert!(first.object.as_str().starts_with("a/b/slo/"));
        assert!(first.object.as_str().ends_with("/00000000"));
        let other = SegmentNames::new(&c, &ObjectName::new("a/b").unwrap());
        assert_ne!(
            other.segment(0).unwrap(),
            first,
            "each upload has its own names"
        );
    }
}
