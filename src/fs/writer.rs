//! Writing one file, so that what `close()` or `fsync()` acknowledged is in Swift and
//! a reader never sees half an object.
//!
//! New content written from offset 0 onwards is *sequential*: the first
//! [`BUFFER_LIMIT`] bytes stay in memory and go up in one PUT (which can be retried);
//! beyond that, bytes stream straight into SLO segments in the segments container,
//! several segments in flight, and the manifest is written last; a spill file keeps
//! the segments not yet stored, so that a broken upload is sent again. Anything else (a write elsewhere, changing an existing file, truncating to
//! a non-zero size, reading back) moves the content into a local temporary file in
//! the cache directory, uploaded as a whole at commit.
//!
//! The object under the final name is only ever replaced by one complete PUT (plain
//! object or manifest), so readers see the old version or the new one. Segments of a
//! replaced large object are deleted after the new version is in place.

use super::FsError;
use super::inode::Xattrs;
use crate::swift::{
    ContainerName, FileRange, ObjectMeta, ObjectName, ObjectStore, PosixAttrs, SegmentNames,
    SegmentPath, SloSegment, SwiftError,
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
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Sequential content up to this size is kept in memory and sent as one PUT.
pub const BUFFER_LIMIT: usize = 8 << 20;
/// Segment uploads running at once for one file.
const SEGMENTS_IN_FLIGHT: usize = 4;
/// Chunks queued towards one segment upload (each at most one kernel write, 1 MiB).
const SEGMENT_QUEUE: usize = 8;

/// Where a file's bytes go; shared by every writer of the mount.
#[derive(Clone)]
pub struct UploadConfig {
    pub store: Arc<dyn ObjectStore>,
    pub container: ContainerName,
    pub segment_container: ContainerName,
    pub segment_size: u64,
    pub cache_dir: PathBuf,
    /// Created on first use: most mounts never write a large object.
    pub segment_container_ready: Arc<tokio::sync::OnceCell<()>>,
}

impl UploadConfig {
    async fn ensure_segment_container(&self) -> Result<(), SwiftError> {
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
    buf: BytesMut,
    written: u64,
    stream: Option<SegmentStream>,
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
            Content::Sequential(s) => s.written,
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
        let sequential_append = match &self.content {
            Content::Sequential(s) => offset == s.written,
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
            if let Err(e) = s.append(&self.cfg, &self.object, data).await {
                // a segment failed: its bytes are gone, so no manifest may be written
                self.failed = Some(libc::EIO);
                return Err(e.into());
            }
        } else {
            let end = offset + data.len() as u64;
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
        if size == 0 {
            if let Content::Sequential(s) = &mut self.content {
                if let Some(stream) = s.stream.take() {
                    stream.abort();
                }
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
                Content::Sequential(s) if s.stream.is_none() => {
                    if let Err(e) = s.buffer_into(&mut local) {
                        // the bytes are still in memory: the file goes on as it was
                        self.content = Content::Sequential(s);
                        return Err(e);
                    }
                }
                Content::Sequential(s) => {
                    if let Err(e) = s.stream_into(&self.cfg, &mut local).await {
                        // what was streamed did not all come back: storing the file
                        // now would store something the program never wrote
                        self.failed = Some(e.errno());
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
                // only a failed streamed upload leaves dirty content behind it, and
                // that marks the writer failed: never reached, but never uploads
                return Err(SwiftError::Transfer {
                    what: self.object.to_string(),
                    reason: "the content of an earlier failed upload is gone".into(),
                });
            }
            Content::Sequential(s) => {
                let size = s.written;
                match s.upload(&self.cfg, &self.object, &meta).await {
                    Ok((etag, slo)) => (size, etag, slo),
                    Err(e) => {
                        // streamed bytes cannot be sent again: this file is lost,
                        // and every later flush must say so
                        self.failed = Some(libc::EIO);
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
            written: 0,
            stream: None,
        }
    }

    async fn append(
        &mut self,
        cfg: &UploadConfig,
        object: &ObjectName,
        data: Bytes,
    ) -> Result<(), SwiftError> {
        self.written += data.len() as u64;
        if self.stream.is_none() && self.buf.len() + data.len() <= BUFFER_LIMIT {
            self.buf.extend_from_slice(&data);
            return Ok(());
        }
        let stream = self
            .stream
            .get_or_insert_with(|| SegmentStream::new(cfg.clone(), object));
        if !self.buf.is_empty() {
            let buffered = self.buf.split().freeze();
            stream.feed(buffered).await?;
        }
        stream.feed(data).await
    }

    /// Uploads: one PUT if everything fit in memory, else the last segments and the
    /// manifest. Returns the ETag and whether it is a large object.
    async fn upload(
        self,
        cfg: &UploadConfig,
        object: &ObjectName,
        meta: &ObjectMeta,
    ) -> Result<(String, bool), SwiftError> {
        match self.stream {
            None => {
                let etag = cfg
                    .store
                    .put_object(&cfg.container, object, self.buf.freeze(), meta)
                    .await?;
                Ok((etag, false))
            }
            Some(stream) => {
                let segments = stream.finish().await?;
                put_manifest(cfg, object, &segments, meta).await
            }
        }
    }

    /// Writes the buffered content (nothing was streamed) into a local file.
    fn buffer_into(&self, local: &mut LocalFile) -> Result<(), FsError> {
        tokio::task::block_in_place(|| local.file.write_all_at(&self.buf, 0))?;
        local.size = self.buf.len() as u64;
        Ok(())
    }

    /// Moves streamed content into a local file: the segments uploaded so far are
    /// read back from Swift (and then deleted).
    async fn stream_into(self, cfg: &UploadConfig, local: &mut LocalFile) -> Result<(), FsError> {
        let Some(stream) = self.stream else {
            return self.buffer_into(local);
        };
        let segments = stream.finish().await?;
        let paths = segments
            .iter()
            .map(|seg| SegmentPath::parse(&seg.path))
            .collect::<Result<Vec<_>, _>>()?;
        for seg in &paths {
            download_into(cfg, &seg.container, &seg.object, local).await?;
        }
        for seg in &paths {
            if let Err(e) = cfg.store.delete_segment(seg).await {
                log::warn!("could not delete segment {seg}: {e}");
            }
        }
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

async fn put_manifest(
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

/// Uploads a local file: one PUT up to the segment size, else segments and a manifest.
/// Each request reads its part of the file and, being replayable, is retried.
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
    if f.size <= cfg.segment_size {
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
        let len = cfg.segment_size.min(f.size - start);
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

/// Gives back the cache directory's space (and drops the dirty pages) of a range
/// Swift now holds. Best effort: a file system without hole punching keeps the bytes
/// until the spill file is dropped.
#[cfg(target_os = "linux")]
fn punch_hole(file: &File, start: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(start), Ok(len)) = (libc::off_t::try_from(start), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: fallocate on an open descriptor we own; it only changes that file.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            start,
            len,
        )
    };
    if rc != 0 {
        log::debug!("punching the spill file: {}", io::Error::last_os_error());
    }
}

#[cfg(not(target_os = "linux"))]
fn punch_hole(_file: &File, _start: u64, _len: u64) {}

/// A segment upload: its task, its path, where it starts in the file, bytes sent to it.
struct SegmentTask {
    task: JoinHandle<Result<String, SwiftError>>,
    path: SegmentPath,
    start: u64,
    size: u64,
}

/// The segment being filled.
struct OpenSegment {
    /// Feeds the PUT's body; `None` once that upload gave up.
    body: Option<mpsc::Sender<io::Result<Bytes>>>,
    filled: u64,
    /// Told the segment's length once every byte of it is in the spill file: the
    /// upload may then be sent again from there.
    complete: tokio::sync::oneshot::Sender<u64>,
    /// Every byte of this segment reached the spill file.
    spilled: bool,
}

/// Segments streamed from sequential writes: each segment is a PUT whose body is fed
/// through a channel; several may still be finishing while the next one fills.
///
/// Each byte is also written to a spill file in the cache directory (page cache, not
/// memory), so that a segment whose upload broke off (a proxy restart, a reset
/// connection) is sent again from there instead of failing the file. A segment's
/// range is punched out of the spill file once Swift has it. Without a spill file (the
/// cache directory is full or unwritable) streaming goes on, without that second chance.
struct SegmentStream {
    cfg: UploadConfig,
    names: SegmentNames,
    spill: Option<Arc<File>>,
    /// Bytes fed so far: where the next one goes in the file.
    fed: u64,
    current: Option<OpenSegment>,
    /// Uploads still running, in order.
    tasks: VecDeque<SegmentTask>,
    done: Vec<SloSegment>,
    next_index: u32,
}

impl SegmentStream {
    fn new(cfg: UploadConfig, object: &ObjectName) -> Self {
        let spill = match tempfile::tempfile_in(&cfg.cache_dir) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                log::warn!(
                    "no spill file in {} for {object} ({e}): a broken segment upload fails the file",
                    cfg.cache_dir.display()
                );
                None
            }
        };
        SegmentStream {
            names: SegmentNames::new(&cfg.segment_container, object),
            cfg,
            spill,
            fed: 0,
            current: None,
            tasks: VecDeque::new(),
            done: Vec::new(),
            next_index: 0,
        }
    }

    async fn start_segment(&mut self) -> Result<(), SwiftError> {
        self.cfg.ensure_segment_container().await?;
        let path = self.names.segment(self.next_index)?;
        self.next_index += 1;
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(SEGMENT_QUEUE);
        let body = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed();
        let (complete_tx, complete_rx) = tokio::sync::oneshot::channel();
        let cfg = self.cfg.clone();
        let spill = self.spill.clone();
        let start = self.fed;
        let seg = path.clone();
        let task = tokio::spawn(async move {
            let none = ObjectMeta::default();
            let streamed = cfg
                .store
                .put_object_stream(&seg.container, &seg.object, body, None, &none)
                .await;
            match (streamed, spill) {
                (Err(e), Some(spill)) if e.is_transient() => {
                    // the length comes once the segment is whole in the spill file;
                    // no length: some of it never got there, so it cannot be resent
                    let Ok(len) = complete_rx.await else {
                        return Err(e);
                    };
                    log::warn!("segment {seg}: {e}; sending it again from the spill file");
                    let part = FileRange {
                        file: spill,
                        start,
                        len,
                    };
                    cfg.store
                        .put_file_range(&seg.container, &seg.object, &part, &none)
                        .await
                }
                (streamed, _) => streamed,
            }
        });
        self.tasks.push_back(SegmentTask {
            task,
            path,
            start,
            size: 0,
        });
        self.current = Some(OpenSegment {
            body: Some(tx),
            filled: 0,
            complete: complete_tx,
            spilled: self.spill.is_some(),
        });
        Ok(())
    }

    /// Ends the segment being filled: its upload's body ends, and a resend may start.
    fn end_segment(&mut self) {
        if let Some(seg) = self.current.take()
            && seg.spilled
        {
            // the task may be gone already (it succeeded or failed for good)
            let _ = seg.complete.send(seg.filled);
        }
    }

    async fn feed(&mut self, mut data: Bytes) -> Result<(), SwiftError> {
        while !data.is_empty() {
            if self.current.is_none() {
                self.start_segment().await?;
            }
            let seg = self.current.as_mut().expect("started above");
            let room = self.cfg.segment_size - seg.filled;
            let part = data.split_to((room as usize).min(data.len()));
            let n = part.len() as u64;
            if seg.spilled
                && let Some(spill) = &self.spill
            {
                let at = self.fed;
                if let Err(e) = tokio::task::block_in_place(|| spill.write_all_at(&part, at)) {
                    log::warn!(
                        "spill file for {}: {e}; later segments cannot be sent again",
                        self.names
                    );
                    seg.spilled = false;
                    self.spill = None;
                }
            }
            if let Some(body) = &seg.body
                && body.send(Ok(part)).await.is_err()
            {
                // the upload gave up before taking all its body
                seg.body = None;
            }
            if seg.body.is_none() && !seg.spilled {
                // nothing can send this segment again: its task's error says why
                let task = self.tasks.pop_back().expect("current segment's task");
                self.current = None;
                return Err(join(task.task)
                    .await
                    .err()
                    .unwrap_or_else(|| SwiftError::Transfer {
                        what: self.names.to_string(),
                        reason: "segment upload ended early".into(),
                    }));
            }
            seg.filled += n;
            self.fed += n;
            self.tasks.back_mut().expect("current segment's task").size += n;
            if seg.filled == self.cfg.segment_size {
                self.end_segment();
            }
            while self.tasks.len() > SEGMENTS_IN_FLIGHT {
                self.collect_oldest().await?;
            }
        }
        Ok(())
    }

    async fn collect_oldest(&mut self) -> Result<(), SwiftError> {
        let seg = self.tasks.pop_front().expect("caller checked");
        let etag = join(seg.task).await?;
        if let Some(spill) = &self.spill {
            punch_hole(spill, seg.start, seg.size);
        }
        self.done.push(SloSegment::new(&seg.path, etag, seg.size));
        Ok(())
    }

    /// Ends the last segment and waits for every upload; segments in order.
    async fn finish(mut self) -> Result<Vec<SloSegment>, SwiftError> {
        self.end_segment();
        while !self.tasks.is_empty() {
            if let Err(e) = self.collect_oldest().await {
                self.abort();
                return Err(e);
            }
        }
        Ok(std::mem::take(&mut self.done))
    }

    /// Stops the uploads and deletes what was stored, in the background.
    fn abort(mut self) {
        self.current = None;
        let mut paths: Vec<SegmentPath> = self
            .done
            .iter()
            .filter_map(|s| SegmentPath::parse(&s.path).ok())
            .collect();
        for seg in self.tasks.drain(..) {
            seg.task.abort();
            paths.push(seg.path);
        }
        let store = self.cfg.store.clone();
        tokio::spawn(async move {
            for p in paths {
                let _ = store.delete_segment(&p).await;
            }
        });
    }
}
