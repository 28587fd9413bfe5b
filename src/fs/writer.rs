//! Writing one file, so that what `close()` or `fsync()` acknowledged is in Swift and
//! a reader never sees half an object.
//!
//! New content written from offset 0 onwards is *sequential*: the first
//! [`BUFFER_LIMIT`] bytes stay in memory and go up in one PUT (which can be retried);
//! beyond that they go to a spill file, whose segments are uploaded while the
//! program goes on writing ([`super::spill`]), and the manifest is written at commit.
//! Anything else (a write elsewhere, changing an existing file, truncating to a
//! non-zero size, reading back) moves the content into a local temporary file in the
//! cache directory, uploaded as a whole at commit. Segment sizes follow
//! [`SegmentPlan`]; a file larger than one manifest can hold is refused (`EFBIG`).
//!
//! The object under the final name is only ever replaced by one complete PUT (plain
//! object or manifest), so readers see the old version or the new one. Segments of a
//! replaced large object are deleted after the new version is in place.

use super::FsError;
use super::inode::Xattrs;
use super::segment_plan::SegmentPlan;
use super::spill::{SEGMENTS_IN_FLIGHT, Spill};
use crate::swift::{
    ContainerName, FileRange, ObjectMeta, ObjectName, ObjectStore, PosixAttrs, SegmentNames,
    SloSegment, SwiftError,
};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::task::JoinHandle;

/// Sequential content up to this size is kept in memory and sent as one PUT.
pub const BUFFER_LIMIT: usize = 8 << 20;

/// Where a file's bytes go; shared by every writer of the mount.
#[derive(Clone)]
pub struct UploadConfig {
    pub store: Arc<dyn ObjectStore>,
    pub container: ContainerName,
    pub segment_container: ContainerName,
    pub plan: SegmentPlan,
    pub cache_dir: PathBuf,
    /// Created on first use: most mounts never write a large object.
    pub segment_container_ready: Arc<tokio::sync::OnceCell<()>>,
}

impl UploadConfig {
    pub(super) async fn ensure_segment_container(&self) -> Result<(), SwiftError> {
        self.segment_container_ready
            .get_or_try_init(|| self.store.create_container(&self.segment_container))
            .await?;
        Ok(())
    }
}

/// What Swift holds under the file's name when the writer started, if anything.
#[derive(Clone, Debug, Default)]
pub struct Base {
    pub size: u64,
    pub exists: bool,
    pub is_slo: bool,
}

enum Content {
    /// Nothing changed: the content is the object in Swift (`Base`).
    Remote,
    Sequential(Box<Sequential>),
    Local(LocalFile),
}

struct Sequential {
    /// The content while it fits in memory.
    buf: BytesMut,
    /// The content once it does not.
    spill: Option<Spill>,
}

struct LocalFile {
    file: Arc<File>,
    size: u64,
}

/// What a successful commit stored.
#[derive(Clone, Debug)]
pub struct Committed {
    pub size: u64,
    pub etag: String,
    pub mtime: SystemTime,
    /// Stored as a static large object.
    pub large: bool,
    pub posix: PosixAttrs,
    pub xattrs: Xattrs,
}

impl Committed {
    pub fn new(size: u64, etag: String, meta: &ObjectMeta, large: bool) -> Self {
        Committed {
            size,
            etag,
            mtime: meta.mtime.unwrap_or_else(SystemTime::now),
            large,
            posix: meta.posix.clone(),
            xattrs: Arc::new(meta.xattrs.clone()),
        }
    }
}

pub struct Writer {
    cfg: UploadConfig,
    object: ObjectName,
    base: Base,
    content: Content,
    /// Content differs from Swift's.
    dirty: bool,
    /// What is stored with the content: mtime (always set), mode, owner, xattrs, and
    /// whatever other tools stored.
    meta: ObjectMeta,
    /// Only the metadata changed: a POST will do.
    meta_dirty: bool,
    /// Unlinked while open: nothing is uploaded any more.
    unlinked: bool,
    /// The errno of a write or truncate that failed on the local copy (e.g. the cache
    /// directory is full): the file is never uploaded after that.
    failed: Option<i32>,
}

impl Writer {
    /// A writer over an existing object (or nothing, for a new file), whose
    /// metadata is `meta` (its mtime is set).
    pub fn new(cfg: UploadConfig, object: ObjectName, base: Base, meta: ObjectMeta) -> Self {
        debug_assert!(meta.mtime.is_some());
        Writer {
            cfg,
            object,
            content: Content::Remote,
            base,
            dirty: false,
            meta,
            meta_dirty: false,
            unlinked: false,
            failed: None,
        }
    }

    /// A new, empty file: it is created at the first commit even if nothing is written.
    pub fn new_file(cfg: UploadConfig, object: ObjectName, posix: PosixAttrs) -> Self {
        let meta = ObjectMeta {
            posix,
            ..ObjectMeta::with_mtime(SystemTime::now())
        };
        let mut w = Writer::new(cfg, object, Base::default(), meta);
        w.content = Content::Sequential(Box::new(Sequential::new()));
        w.dirty = true;
        w
    }

    pub fn size(&self) -> u64 {
        match &self.content {
            Content::Remote => self.base.size,
            Content::Sequential(s) => s.len(),
            Content::Local(f) => f.size,
        }
    }

    pub fn mtime(&self) -> SystemTime {
        self.meta.mtime.unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// What will be stored with the content.
    pub fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    /// Changes what is stored with the content (mode, owner, xattrs), at the next
    /// commit.
    pub fn change_meta(&mut self, change: impl FnOnce(&mut ObjectMeta)) {
        change(&mut self.meta);
        self.meta_dirty = true;
    }

    /// The file's name is gone (unlinked, or replaced by a rename) while it is open:
    /// its handles go on reading and writing a private copy, never uploaded.
    pub async fn detach(&mut self) -> Result<(), FsError> {
        if let Content::Remote = self.content {
            // the object is about to go: keep what the open handles see
            self.local().await?;
        }
        self.unlinked = true;
        self.failed = None;
        Ok(())
    }

    /// The file was renamed: later uploads go to the new name.
    pub fn set_object(&mut self, object: ObjectName) {
        self.object = object;
    }

    pub fn set_mtime(&mut self, t: SystemTime) {
        self.change_meta(|m| m.mtime = Some(t));
    }

    /// Writes `data` at `offset`. Owned bytes: a streamed segment sends them on
    /// without another copy.
    pub async fn write(&mut self, offset: u64, data: Bytes) -> Result<(), FsError> {
        let end = offset + data.len() as u64;
        let max = self.cfg.plan.max_file_size();
        if end > max {
            return Err(FsError::TooLarge(max));
        }
        let sequential_append = match &self.content {
            Content::Sequential(s) => offset == s.len(),
            // a write at 0 over nothing is the start of new content
            Content::Remote => offset == 0 && self.base.size == 0,
            Content::Local(_) => false,
        };
        if sequential_append {
            if let Content::Remote = self.content {
                self.content = Content::Sequential(Box::new(Sequential::new()));
            }
            let Content::Sequential(s) = &mut self.content else {
                unreachable!("made sequential above")
            };
            if let Err(e) = s.append(&self.cfg, &self.object, &data).await {
                // the spill file did not take the bytes (the cache directory is full)
                self.failed = Some(e.errno());
                return Err(e);
            }
        } else {
            let result = match self.local().await {
                Ok(f) => tokio::task::block_in_place(|| f.file.write_all_at(&data, offset))
                    .map(|()| f.size = f.size.max(end))
                    .map_err(FsError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                self.failed = Some(e.errno());
                return Err(e);
            }
        }
        self.dirty = true;
        self.meta.mtime = Some(SystemTime::now());
        Ok(())
    }

    /// Reads back what this writer holds (for files opened read-write).
    pub async fn read(&mut self, offset: u64, len: u32) -> Result<Bytes, FsError> {
        let f = self.local().await?;
        if offset >= f.size {
            return Ok(Bytes::new());
        }
        let n = (u64::from(len)).min(f.size - offset) as usize;
        let mut buf = vec![0u8; n];
        tokio::task::block_in_place(|| f.file.read_exact_at(&mut buf, offset))?;
        Ok(Bytes::from(buf))
    }

    pub async fn truncate(&mut self, size: u64) -> Result<(), FsError> {
        let max = self.cfg.plan.max_file_size();
        if size > max {
            return Err(FsError::TooLarge(max));
        }
        if size == 0 {
            if let Content::Sequential(s) = &mut self.content
                && let Some(spill) = s.spill.take()
            {
                spill.abort();
            }
            self.content = Content::Sequential(Box::new(Sequential::new()));
            // starting over from nothing: earlier failures no longer matter
            self.failed = None;
        } else if size != self.size() {
            let f = self.local().await?;
            tokio::task::block_in_place(|| f.file.set_len(size))?;
            f.size = size;
        } else {
            return Ok(());
        }
        self.dirty = true;
        self.meta.mtime = Some(SystemTime::now());
        Ok(())
    }

    /// The content as a local file, loading or converting it first if needed.
    async fn local(&mut self) -> Result<&mut LocalFile, FsError> {
        if let Content::Sequential(s) = &mut self.content
            && let Some(spill) = &mut s.spill
        {
            // on failure the spill file and the segments still hold every byte
            let (file, size) = spill.restore_whole().await?;
            self.content = Content::Local(LocalFile { file, size });
        }
        if !matches!(self.content, Content::Local(_)) {
            let file = Arc::new(tempfile::tempfile_in(&self.cfg.cache_dir)?);
            let mut local = LocalFile { file, size: 0 };
            match std::mem::replace(&mut self.content, Content::Remote) {
                // on failure the content is still Swift's object: nothing is lost
                Content::Remote => {
                    if self.base.exists && self.base.size > 0 {
                        download_into(&self.cfg, &self.cfg.container, &self.object, &mut local)
                            .await?;
                    }
                }
                Content::Sequential(s) => {
                    if let Err(e) = s.buffer_into(&mut local) {
                        // the bytes are still in memory: the file goes on as it was
                        self.content = Content::Sequential(s);
                        return Err(e);
                    }
                }
                Content::Local(_) => unreachable!("checked above"),
            }
            self.content = Content::Local(local);
        }
        match &mut self.content {
            Content::Local(f) => Ok(f),
            _ => unreachable!("made local above"),
        }
    }

    /// Makes Swift hold what was written. Returns `None` when there was nothing to do.
    pub async fn commit(&mut self) -> Result<Option<Committed>, FsError> {
        if let Some(errno) = self.failed {
            // a write was refused: what the file holds is not what the program
            // meant, so the version in Swift stays
            return Err(io::Error::from_raw_os_error(errno).into());
        }
        Ok(self.upload().await?)
    }

    async fn upload(&mut self) -> Result<Option<Committed>, SwiftError> {
        if self.unlinked || !(self.dirty || self.meta_dirty) {
            return Ok(None);
        }
        let store = &self.cfg.store;
        if !self.dirty {
            // only the metadata changed: keep the object, and what other tools stored
            // with it since (a POST replaces every X-Object-Meta-*)
            let info = store.head_object(&self.cfg.container, &self.object).await?;
            let meta = ObjectMeta {
                content_type: info.meta.content_type,
                other: info.meta.other,
                swift_link: info.meta.swift_link,
                ..self.meta.clone()
            };
            if meta.swift_link.is_some() {
                // Swift redirects a POST to a symlink to its target: the link is
                // written again instead (its body is empty)
                store
                    .put_object(&self.cfg.container, &self.object, Bytes::new(), &meta)
                    .await?;
            } else {
                store
                    .post_object(&self.cfg.container, &self.object, &meta)
                    .await?;
            }
            self.meta_dirty = false;
            return Ok(Some(Committed::new(
                info.size,
                info.etag.unwrap_or_default(),
                &meta,
                info.manifest.is_some(),
            )));
        }
        // the old large object's segments, to delete once the new version is in place
        let old_segments = if self.base.is_slo {
            store
                .slo_segments(&self.cfg.container, &self.object)
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let meta = self.meta.clone();
        let (size, etag, is_slo) = match std::mem::replace(&mut self.content, Content::Remote) {
            Content::Remote => {
                // every write makes the content sequential or local: never reached,
                // but never uploads
                return Err(SwiftError::Transfer {
                    what: self.object.to_string(),
                    reason: "changed content without a copy of it".into(),
                });
            }
            Content::Sequential(mut s) => {
                let size = s.len();
                match s.upload(&self.cfg, &self.object, &meta).await {
                    Ok((etag, slo)) => (size, etag, slo),
                    Err(e) => {
                        // every byte is still here: the next flush tries again
                        self.content = Content::Sequential(s);
                        return Err(e);
                    }
                }
            }
            Content::Local(f) => {
                let size = f.size;
                let result = upload_file(&self.cfg, &self.object, &f, &meta).await;
                // keep the local copy: more writes may follow, and a failed upload
                // can be tried again at the next flush
                self.content = Content::Local(f);
                let (etag, slo) = result?;
                (size, etag, slo)
            }
        };
        self.dirty = false;
        self.meta_dirty = false;
        self.base = Base {
            size,
            exists: true,
            is_slo,
        };
        for seg in old_segments {
            if let Err(e) = store.delete_segment(&seg).await {
                log::warn!("could not delete old segment {seg} of {}: {e}", self.object);
            }
        }
        Ok(Some(Committed::new(size, etag, &meta, is_slo)))
    }
}

impl Sequential {
    fn new() -> Self {
        Sequential {
            buf: BytesMut::new(),
            spill: None,
        }
    }

    fn len(&self) -> u64 {
        self.spill
            .as_ref()
            .map_or(self.buf.len() as u64, |spill| spill.len())
    }

    async fn append(
        &mut self,
        cfg: &UploadConfig,
        object: &ObjectName,
        data: &[u8],
    ) -> Result<(), FsError> {
        if let Some(spill) = &mut self.spill {
            return spill.append(data).await;
        }
        if self.buf.len() + data.len() <= BUFFER_LIMIT {
            self.buf.extend_from_slice(data);
            return Ok(());
        }
        let mut spill = Spill::new(cfg, object, &self.buf).await?;
        spill.append(data).await?;
        self.buf = BytesMut::new();
        self.spill = Some(spill);
        Ok(())
    }

    /// Uploads: one PUT from memory if everything fit there, else from the spill
    /// file. Returns the ETag and whether it is a large object. On failure the
    /// content is kept, for the next try.
    async fn upload(
        &mut self,
        cfg: &UploadConfig,
        object: &ObjectName,
        meta: &ObjectMeta,
    ) -> Result<(String, bool), SwiftError> {
        if let Some(spill) = &mut self.spill {
            return spill.commit(object, meta).await;
        }
        let data = self.buf.split().freeze();
        match cfg
            .store
            .put_object(&cfg.container, object, data.clone(), meta)
            .await
        {
            Ok(etag) => Ok((etag, false)),
            Err(e) => {
                self.buf.extend_from_slice(&data);
                Err(e)
            }
        }
    }

    /// Writes the buffered content (nothing was spilled) into a local file.
    fn buffer_into(&self, local: &mut LocalFile) -> Result<(), FsError> {
        tokio::task::block_in_place(|| local.file.write_all_at(&self.buf, 0))?;
        local.size = self.buf.len() as u64;
        Ok(())
    }
}

/// Appends an object's bytes to a local file.
async fn download_into(
    cfg: &UploadConfig,
    c: &ContainerName,
    o: &ObjectName,
    local: &mut LocalFile,
) -> Result<(), FsError> {
    let mut stream = cfg.store.get_object(c, o, None, None).await?;
    while let Some(chunk) = stream.body.next().await {
        let chunk = chunk?;
        tokio::task::block_in_place(|| local.file.write_all_at(&chunk, local.size))?;
        local.size += chunk.len() as u64;
    }
    Ok(())
}

pub(super) async fn put_manifest(
    cfg: &UploadConfig,
    object: &ObjectName,
    segments: &[SloSegment],
    meta: &ObjectMeta,
) -> Result<(String, bool), SwiftError> {
    cfg.store
        .put_slo_manifest(&cfg.container, object, segments, meta)
        .await?;
    let info = cfg.store.head_object(&cfg.container, object).await?;
    Ok((info.etag.unwrap_or_default(), true))
}

/// Uploads a local file: one PUT up to the first segment's size, else segments (as
/// [`SegmentPlan`] lays them out) and a manifest. Each request reads its part of the
/// file and, being replayable, is retried.
async fn upload_file(
    cfg: &UploadConfig,
    object: &ObjectName,
    f: &LocalFile,
    meta: &ObjectMeta,
) -> Result<(String, bool), SwiftError> {
    let whole = FileRange {
        file: f.file.clone(),
        start: 0,
        len: f.size,
    };
    if f.size <= cfg.plan.size(0) {
        let etag = cfg
            .store
            .put_file_range(&cfg.container, object, &whole, meta)
            .await?;
        return Ok((etag, false));
    }
    cfg.ensure_segment_container().await?;
    let names = SegmentNames::new(&cfg.segment_container, object);
    let mut tasks = VecDeque::new();
    let mut segments = Vec::new();
    let mut start = 0;
    let mut index = 0u32;
    while start < f.size {
        let len = cfg.plan.size(index).min(f.size - start);
        let part = FileRange {
            start,
            len,
            ..whole.clone()
        };
        let seg = names.segment(index)?;
        let store = cfg.store.clone();
        tasks.push_back(tokio::spawn(async move {
            let etag = store
                .put_file_range(&seg.container, &seg.object, &part, &ObjectMeta::default())
                .await?;
            Ok::<_, SwiftError>(SloSegment::new(&seg, etag, part.len))
        }));
        if tasks.len() >= SEGMENTS_IN_FLIGHT {
            segments.push(join(tasks.pop_front().expect("non-empty")).await?);
        }
        start += len;
        index += 1;
    }
    for t in tasks {
        segments.push(join(t).await?);
    }
    put_manifest(cfg, object, &segments, meta).await
}

async fn join<T>(t: JoinHandle<Result<T, SwiftError>>) -> Result<T, SwiftError> {
    t.await.map_err(|e| SwiftError::Transfer {
        what: "upload task".into(),
        reason: e.to_string(),
    })?
}
