//! The filesystem semantics layer: inodes, directory listings, reads and writes.
//!
//! Async methods return attributes, entries and bytes or an [`FsError`]; nothing here
//! knows fuser's types or replies, and nothing here builds an HTTP request (that is
//! [`crate::swift`]'s job). See docs/SEMANTICS.md for what a mounted container
//! promises.

mod dircache;
mod error;
mod inode;
mod listing;
mod reader;
mod writer;

pub use error::FsError;
pub use inode::{NodeKind, ROOT_INO};

use crate::source::Location;
use crate::swift::{
    ContainerName, ListEntry, ListQuery, Manifest, ObjectName, SwiftClient, SwiftError,
};
use bytes::Bytes;
use dircache::{DirCache, DirSnapshot};
use inode::{Inode, InodeTable};
use listing::{EntryKind, NAME_MAX, entries_from_rows, is_directory_marker_type, segment_problem};
use reader::Reader;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use writer::{Base, UploadConfig, Writer};

/// Mount-wide settings of the filesystem layer.
#[derive(Clone, Debug)]
pub struct FsConfig {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u16,
    pub dir_mode: u16,
    /// How long a listing (and attributes learnt from it) is trusted.
    pub dir_cache_ttl: Duration,
    pub dir_cache_max_dirs: usize,
    pub dir_cache_max_entries: usize,
    pub read_only: bool,
    /// Files larger than this are stored as SLO segments of this size.
    pub segment_size: u64,
    pub segment_container: ContainerName,
    /// Where files being changed other than sequentially are kept until uploaded.
    pub cache_dir: PathBuf,
}

/// Attributes of a file or folder, as the adapter hands them to the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: NodeKind,
    pub size: u64,
    pub mtime: SystemTime,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
}

/// Capacity figures for `statfs`, in 4 KiB blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub files: u64,
    pub ffree: u64,
    pub block_size: u32,
    pub name_max: u32,
}

/// How a file is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenMode {
    pub write: bool,
    pub truncate: bool,
    /// The opening process (thread-group id), when the adapter knows it: only its
    /// own closes upload (see [`SwiftFs::flush`]).
    pub opener: Option<u32>,
}

/// What `open` tells the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    /// The object is the version whose pages the kernel may still cache.
    pub keep_cache: bool,
    /// Size or mtime differ from what the kernel was last told (the object changed,
    /// or a listing could not know, as for DLOs and `X-Object-Meta-Mtime`): the
    /// kernel's copy of the attributes must be dropped before the file is read.
    pub attr_changed: bool,
}

type SharedWriter = Arc<tokio::sync::Mutex<Writer>>;

enum Handle {
    /// An open folder: the listing it reads (fixed while the handle is open, so
    /// offsets stay valid), and where the last `readdir` stopped: the offset the
    /// kernel asks for next, and the last name it was given.
    Dir {
        snap: Arc<DirSnapshot>,
        resume: Option<(u64, String)>,
    },
    Read(Arc<tokio::sync::Mutex<Reader>>),
    Write {
        ino: u64,
        writer: SharedWriter,
        /// The process that opened it (its thread-group id), when known.
        opener: Option<u32>,
    },
}

pub struct SwiftFs {
    client: Arc<SwiftClient>,
    container: ContainerName,
    config: FsConfig,
    upload: UploadConfig,
    inodes: InodeTable,
    dirs: DirCache,
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    /// ETag of each file's version as of its last open, for the kernel page cache.
    opened_etags: Mutex<HashMap<u64, String>>,
    /// One writer per inode open for writing, shared by its handles, with their count.
    writers: Mutex<HashMap<u64, (SharedWriter, usize)>>,
    /// Files created through the mount and not yet in Swift: listings must show them.
    uncommitted: Mutex<HashSet<u64>>,
}

const BLOCK: u64 = 4096;
/// A lookup's HEAD this young may serve the open that follows it.
const RECENT_HEAD: Duration = Duration::from_secs(1);
/// Bytes an open for reading fetches with the object's headers.
const OPEN_WINDOW: u64 = 256 * 1024;

fn name_str(name: &OsStr) -> Result<&str, FsError> {
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    name.to_str()
        .ok_or_else(|| FsError::InvalidName("not UTF-8".into()))
}

impl SwiftFs {
    pub fn new(client: Arc<SwiftClient>, location: Location, config: FsConfig) -> Self {
        let upload = UploadConfig {
            client: client.clone(),
            container: location.container.clone(),
            segment_container: config.segment_container.clone(),
            segment_size: config.segment_size,
            cache_dir: config.cache_dir.clone(),
            segment_container_ready: Default::default(),
        };
        SwiftFs {
            client,
            container: location.container,
            inodes: InodeTable::new(location.prefix),
            dirs: DirCache::new(
                config.dir_cache_ttl,
                config.dir_cache_max_dirs,
                config.dir_cache_max_entries,
            ),
            config,
            upload,
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            opened_etags: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
            uncommitted: Mutex::new(HashSet::new()),
        }
    }

    /// How long the kernel may keep attributes and names it was given.
    pub fn attr_ttl(&self) -> Duration {
        self.config.dir_cache_ttl
    }

    /// Fails unless the container exists and the credentials may read it: checked
    /// before mounting, so a bad source never leaves a dead mount.
    pub async fn check_container(&self) -> Result<(), FsError> {
        self.client.container_info(&self.container).await?;
        Ok(())
    }

    fn writable(&self) -> Result<(), FsError> {
        if self.config.read_only {
            Err(FsError::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn inode(&self, ino: u64) -> Result<Arc<Inode>, FsError> {
        self.inodes.get(ino).ok_or(FsError::UnknownInode(ino))
    }

    fn object_name(&self, inode: &Inode) -> Result<ObjectName, FsError> {
        // SwiftError::InvalidName maps to EINVAL like FsError::InvalidName
        Ok(ObjectName::new(self.inodes.key(inode))?)
    }

    fn writer_of(&self, ino: u64) -> Option<SharedWriter> {
        self.writers
            .lock()
            .expect("writers")
            .get(&ino)
            .map(|(w, _)| w.clone())
    }

    /// Attributes as known now: from listings and HEADs, and from writes through the
    /// mount as they happen.
    fn attr_of(&self, inode: &Inode) -> Attr {
        let s = inode.state();
        let (perm, nlink, size) = match inode.kind {
            NodeKind::Dir => (self.config.dir_mode, 2, 0),
            NodeKind::File => (self.config.file_mode, 1, s.size),
        };
        Attr {
            ino: inode.ino,
            kind: inode.kind,
            size,
            mtime: s.mtime,
            perm,
            uid: self.config.uid,
            gid: self.config.gid,
            nlink,
        }
    }

    pub fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        let inode = self.inode(ino)?;
        Ok(self.attr_of(&inode))
    }

    fn dir_inode(&self, ino: u64) -> Result<Arc<Inode>, FsError> {
        let inode = self.inode(ino)?;
        if inode.kind != NodeKind::Dir {
            return Err(FsError::NotADirectory);
        }
        Ok(inode)
    }

    /// The child `name` of `parent`, from the cached listing or asked for alone.
    async fn child(&self, parent: &Arc<Inode>, name: &str) -> Result<Arc<Inode>, FsError> {
        if let Some(snap) = self.dirs.get_fresh(parent.ino) {
            return snap.entries.get(name).cloned().ok_or(FsError::NotFound);
        }
        self.lookup_remote(parent, name).await
    }

    /// A lookup answered from memory, when the parent's listing is cached: `None`
    /// means Swift must be asked ([`Self::lookup`]).
    pub fn lookup_cached(&self, parent: u64, name: &OsStr) -> Option<Result<Attr, FsError>> {
        let snap = self.dirs.get_fresh(parent)?;
        let name = name.to_str()?;
        Some(
            snap.entries
                .get(name)
                .map(|inode| self.attr_of(inode))
                .ok_or(FsError::NotFound),
        )
    }

    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let parent = self.dir_inode(parent)?;
        // Swift names are UTF-8: anything else cannot exist there.
        let name = name_str(name).map_err(|e| match e {
            FsError::InvalidName(_) => FsError::NotFound,
            e => e,
        })?;
        let inode = self.child(&parent, name).await?;
        Ok(self.attr_of(&inode))
    }

    /// One name without listing the whole parent: a HEAD of the object and a
    /// one-row listing under `name/`, at the same time. A folder wins over a file.
    async fn lookup_remote(&self, parent: &Inode, name: &str) -> Result<Arc<Inode>, FsError> {
        if let Some(ino) = self.uncommitted_child(parent.ino, name) {
            return self.inode(ino);
        }
        let file_key = format!("{}{name}", self.inodes.key(parent));
        let object = ObjectName::new(file_key.clone()).map_err(|_| FsError::NotFound)?;
        let children = ListQuery {
            prefix: Some(format!("{file_key}/")),
            limit: Some(1),
            ..ListQuery::default()
        };
        let (head, list) = futures::join!(
            self.client.head_object(&self.container, &object),
            self.client.list_page(&self.container, &children)
        );
        if !list?.is_empty() {
            return Ok(self.inodes.upsert(parent, name, NodeKind::Dir, None));
        }
        match head {
            Ok(info) => {
                let is_dir = info
                    .content_type
                    .as_deref()
                    .is_some_and(is_directory_marker_type);
                if is_dir {
                    return Ok(self.inodes.upsert(parent, name, NodeKind::Dir, None));
                }
                let inode = self.inodes.upsert(parent, name, NodeKind::File, None);
                inode.update_from_head(&info);
                inode.offer_head();
                Ok(inode)
            }
            Err(SwiftError::NotFound(_)) => Err(FsError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Files created through the mount and not yet uploaded.
    fn pending(&self) -> Vec<Arc<Inode>> {
        let inos: Vec<u64> = self
            .uncommitted
            .lock()
            .expect("uncommitted")
            .iter()
            .copied()
            .collect();
        inos.into_iter()
            .filter_map(|ino| self.inodes.get(ino))
            .collect()
    }

    fn uncommitted_child(&self, parent: u64, name: &str) -> Option<u64> {
        self.pending()
            .into_iter()
            .find(|i| i.parent() == parent && i.name() == name)
            .map(|i| i.ino)
    }

    /// The entries of a directory: from the cache while fresh, else one paged
    /// listing with `delimiter=/`, plus files created here and not yet uploaded.
    async fn snapshot(&self, dir: &Arc<Inode>) -> Result<Arc<DirSnapshot>, FsError> {
        if let Some(snap) = self.dirs.get_fresh(dir.ino) {
            return Ok(snap);
        }
        let key = self.inodes.key(dir);
        let query = ListQuery {
            prefix: (!key.is_empty()).then(|| key.clone()),
            delimiter: Some('/'),
            ..ListQuery::default()
        };
        let started = Instant::now();
        let rows = self.client.list_all(&self.container, &query).await?;
        let (entries, hidden) = entries_from_rows(&key, &rows);
        log::debug!(
            "listed {}/{key}: {} rows, {} entries, {hidden} hidden, in {:?}",
            self.container,
            rows.len(),
            entries.len(),
            started.elapsed()
        );
        let mut entries: std::collections::BTreeMap<String, Arc<Inode>> = entries
            .into_iter()
            .map(|(name, kind)| {
                let inode = match &kind {
                    EntryKind::File(meta) => {
                        self.inodes.upsert(dir, &name, NodeKind::File, Some(meta))
                    }
                    EntryKind::Dir { marker } => {
                        let inode = self.inodes.upsert(dir, &name, NodeKind::Dir, None);
                        if let Some(meta) = marker {
                            inode.update_from_listing(meta, SystemTime::now());
                        }
                        inode
                    }
                };
                (name, inode)
            })
            .collect();
        for i in self.pending().into_iter().filter(|i| i.parent() == dir.ino) {
            entries.entry(i.name()).or_insert(i);
        }
        let snap = Arc::new(DirSnapshot {
            fetched: Instant::now(),
            entries,
        });
        self.dirs.insert(dir.ino, snap.clone());
        Ok(snap)
    }

    fn add_handle(&self, h: Handle) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.lock().expect("handles").insert(fh, h);
        fh
    }

    /// Takes a snapshot of the directory that stays fixed while the handle is open,
    /// so `readdir` offsets stay valid.
    pub async fn opendir(&self, ino: u64) -> Result<u64, FsError> {
        let dir = self.dir_inode(ino)?;
        let snap = self.snapshot(&dir).await?;
        Ok(self.add_handle(Handle::Dir { snap, resume: None }))
    }

    /// Hands `add` the entries from `offset` on (0 = the start), each with its own
    /// offset (its index + 1, the dots included), until `add` returns true: the
    /// kernel's buffer is full, and it asks again from the last offset it took.
    ///
    /// Only the entries the kernel takes are built, and a handle read piece by piece
    /// resumes after the last name it gave out instead of walking the listing from
    /// the start. Building (or skipping) everything before the offset on every call
    /// made a listing quadratic: a folder of 100,000 read 8 KiB at a time (Go's
    /// `os.ReadDir`: restic, rclone) is ~2,000 calls and took 40 s; now 0.2 s.
    pub fn readdir(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(&DirEntry, u64) -> bool,
    ) -> Result<(), FsError> {
        let dir = self.dir_inode(ino)?;
        let parent = self.inode(dir.parent())?;
        let mut handles = self.handles.lock().expect("handles");
        let Some(Handle::Dir { snap, resume }) = handles.get_mut(&fh) else {
            return Err(FsError::UnknownHandle(fh));
        };
        for (next, (name, inode)) in [(1, (".", &dir)), (2, ("..", &parent))] {
            if next > offset {
                let entry = DirEntry {
                    name: name.to_string(),
                    attr: self.attr_of(inode),
                };
                if add(&entry, next) {
                    return Ok(());
                }
            }
        }
        // the listing's entry i has offset i + 3
        let mut next = offset.max(2);
        let resumed = resume.take().filter(|(at, _)| *at == next);
        let rest: Box<dyn Iterator<Item = (&String, &Arc<Inode>)>> = match &resumed {
            Some((_, after)) => Box::new(
                snap.entries
                    .range::<str, _>((Bound::Excluded(after.as_str()), Bound::Unbounded)),
            ),
            None => Box::new(snap.entries.iter().skip(next as usize - 2)),
        };
        let mut last = None;
        for (name, inode) in rest {
            let entry = DirEntry {
                name: name.clone(),
                attr: self.attr_of(inode),
            };
            if add(&entry, next + 1) {
                break;
            }
            next += 1;
            last = Some(name);
        }
        *resume = match last {
            Some(name) => Some((next, name.clone())),
            None => resumed,
        };
        Ok(())
    }

    pub fn releasedir(&self, fh: u64) {
        self.handles.lock().expect("handles").remove(&fh);
    }

    /// HEADs a file, updating its inode; `None` if it is not in Swift.
    async fn head(&self, inode: &Inode) -> Result<Option<crate::swift::ObjectInfo>, FsError> {
        let object = self.object_name(inode)?;
        match self.client.head_object(&self.container, &object).await {
            Ok(info) => {
                inode.update_from_head(&info);
                Ok(Some(info))
            }
            Err(SwiftError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// What an open for reading asks Swift: the object's headers and its first
    /// [`OPEN_WINDOW`] bytes in one GET (a whole small file in one request, where a
    /// HEAD and then a GET would take two). `None` if it is not in Swift.
    async fn fetch_start(
        &self,
        inode: &Inode,
    ) -> Result<Option<(crate::swift::ObjectInfo, Bytes)>, FsError> {
        let object = self.object_name(inode)?;
        let first = self
            .client
            .get_range_with_info(&self.container, &object, 0..OPEN_WINDOW, None)
            .await;
        match first {
            Ok((info, head)) => {
                inode.update_from_head(&info);
                Ok(Some((info, head)))
            }
            // an empty object has no range to give
            Err(SwiftError::RangeNotSatisfiable(_)) => {
                Ok(self.head(inode).await?.map(|info| (info, Bytes::new())))
            }
            Err(SwiftError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a file. For reading, the first GET confirms the version (and learns the real
    /// size of large objects), and reads are pinned to it. For writing, the file's
    /// one writer is shared by all its handles.
    pub async fn open(&self, ino: u64, mode: OpenMode) -> Result<Opened, FsError> {
        let opener = mode.opener;
        let inode = self.inode(ino)?;
        if inode.kind == NodeKind::Dir {
            return Err(FsError::IsADirectory);
        }
        if mode.write {
            self.writable()?;
            let writer = self.acquire_writer(&inode).await?;
            if mode.truncate {
                let mut w = writer.lock().await;
                w.truncate(0).await?;
                inode.update_local(0, w.mtime());
            }
            let fh = self.add_handle(Handle::Write {
                ino,
                writer,
                opener,
            });
            return Ok(Opened {
                fh,
                keep_cache: false,
                attr_changed: false,
            });
        }
        if let Some(w) = self.writer_of(ino) {
            // open for writing elsewhere through the mount: read what it holds
            self.add_writer_ref(ino);
            let fh = self.add_handle(Handle::Write {
                ino,
                writer: w,
                opener,
            });
            return Ok(Opened {
                fh,
                keep_cache: false,
                attr_changed: false,
            });
        }
        let before = inode.state();
        // the HEAD of the lookup just before (cat, cp of one file) serves this open
        // once; any other open asks Swift again
        let (info, head) = match inode.take_offered_head(RECENT_HEAD) {
            Some(st) => (
                crate::swift::ObjectInfo {
                    size: st.size,
                    etag: st.etag,
                    last_modified: Some(st.mtime),
                    content_type: None,
                    meta: Default::default(),
                    manifest: st.manifest.then_some(Manifest::Slo),
                },
                Bytes::new(),
            ),
            None => match self.fetch_start(&inode).await? {
                Some(found) => found,
                None => {
                    self.dirs.invalidate(inode.parent());
                    return Err(FsError::NotFound);
                }
            },
        };
        let keep_cache = {
            let mut seen = self.opened_etags.lock().expect("etags");
            match &info.etag {
                Some(etag) => seen.insert(ino, etag.clone()).as_deref() == Some(etag.as_str()),
                None => false,
            }
        };
        let pin = if info.manifest.is_some() {
            None
        } else {
            info.etag
        };
        let reader = Reader::new(
            self.client.clone(),
            self.container.clone(),
            self.object_name(&inode)?,
            info.size,
            pin,
            head,
        );
        let fh = self.add_handle(Handle::Read(Arc::new(tokio::sync::Mutex::new(reader))));
        let after = inode.state();
        Ok(Opened {
            fh,
            keep_cache,
            attr_changed: before.size != after.size || before.mtime != after.mtime,
        })
    }

    fn add_writer_ref(&self, ino: u64) {
        if let Some((_, n)) = self.writers.lock().expect("writers").get_mut(&ino) {
            *n += 1;
        }
    }

    /// The writer of an existing file, made on first need from a HEAD.
    async fn acquire_writer(&self, inode: &Arc<Inode>) -> Result<SharedWriter, FsError> {
        if let Some(w) = self.writer_of(inode.ino) {
            self.add_writer_ref(inode.ino);
            return Ok(w);
        }
        let info = self.head(inode).await?;
        let base = match &info {
            Some(i) => Base {
                size: i.size,
                exists: true,
                is_slo: i.manifest == Some(Manifest::Slo),
            },
            None => Base::default(),
        };
        let mtime = inode.state().mtime;
        let writer = Writer::new(self.upload.clone(), self.object_name(inode)?, base, mtime);
        let mut writers = self.writers.lock().expect("writers");
        // another open may have raced us here: share its writer
        let entry = writers
            .entry(inode.ino)
            .or_insert_with(|| (Arc::new(tokio::sync::Mutex::new(writer)), 0));
        entry.1 += 1;
        inode.set_writing(true);
        Ok(entry.0.clone())
    }

    /// Creates a new file (or opens an existing one, as `O_CREAT` without `O_EXCL`).
    pub async fn create(
        &self,
        parent: u64,
        name: &OsStr,
        exclusive: bool,
        opener: Option<u32>,
    ) -> Result<(Attr, Opened), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        if let Some(problem) = segment_problem(name) {
            return Err(FsError::InvalidName(problem.into()));
        }
        // a whole object name over Swift's limit fails here, not at close
        ObjectName::new(format!("{}{name}", self.inodes.key(&parent)))?;
        match self.child(&parent, name).await {
            Ok(existing) if exclusive => {
                let _ = existing;
                return Err(FsError::Exists);
            }
            Ok(existing) if existing.kind == NodeKind::Dir => return Err(FsError::IsADirectory),
            Ok(existing) => {
                let opened = self
                    .open(
                        existing.ino,
                        OpenMode {
                            write: true,
                            truncate: false,
                            opener,
                        },
                    )
                    .await?;
                return Ok((self.attr_of(&existing), opened));
            }
            Err(FsError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let inode = self.inodes.upsert(&parent, name, NodeKind::File, None);
        let writer = Arc::new(tokio::sync::Mutex::new(Writer::new_file(
            self.upload.clone(),
            self.object_name(&inode)?,
        )));
        self.writers
            .lock()
            .expect("writers")
            .insert(inode.ino, (writer.clone(), 1));
        inode.set_writing(true);
        self.uncommitted
            .lock()
            .expect("uncommitted")
            .insert(inode.ino);
        let child = inode.clone();
        self.dirs.patch(parent.ino, |e| {
            e.insert(name.to_string(), child);
        });
        let fh = self.add_handle(Handle::Write {
            ino: inode.ino,
            writer,
            opener,
        });
        Ok((
            self.attr_of(&inode),
            Opened {
                fh,
                keep_cache: false,
                attr_changed: false,
            },
        ))
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes, FsError> {
        log::trace!("read fh {fh} offset {offset} size {size}");
        enum Source {
            Remote(Arc<tokio::sync::Mutex<Reader>>),
            Local(SharedWriter),
        }
        let source = match self.handles.lock().expect("handles").get(&fh) {
            Some(Handle::Read(r)) => Source::Remote(r.clone()),
            Some(Handle::Write { writer, .. }) => Source::Local(writer.clone()),
            _ => return Err(FsError::UnknownHandle(fh)),
        };
        match source {
            Source::Remote(r) => Ok(r.lock().await.read(offset, size).await?),
            Source::Local(w) => Ok(w.lock().await.read(offset, size).await?),
        }
    }

    fn write_handle(&self, fh: u64) -> Result<(u64, SharedWriter), FsError> {
        match self.handles.lock().expect("handles").get(&fh) {
            Some(Handle::Write { ino, writer, .. }) => Ok((*ino, writer.clone())),
            Some(_) => Err(FsError::NotWritable),
            None => Err(FsError::UnknownHandle(fh)),
        }
    }

    pub async fn write(&self, fh: u64, offset: u64, data: Bytes) -> Result<u32, FsError> {
        let (ino, writer) = self.write_handle(fh)?;
        let len = data.len() as u32;
        let mut w = writer.lock().await;
        w.write(offset, data).await?;
        self.inode(ino)?.update_local(w.size(), w.mtime());
        Ok(len)
    }

    /// Uploads what the handle's file holds, if anything changed: `close()` and
    /// `fsync()` return only once it is in Swift, or with the reason it is not.
    ///
    /// `closer` is the process closing (thread-group id), `None` for an fsync. A close
    /// by another process than the opener does not upload: that is a child that
    /// inherited the descriptor closing its copy (every fork-and-exec does), in the
    /// middle of the opener's writes; the opener's own close (or the last one, at
    /// release) uploads.
    pub async fn flush(&self, fh: u64, closer: Option<u32>) -> Result<(), FsError> {
        let opener = match self.handles.lock().expect("handles").get(&fh) {
            Some(Handle::Write { opener, .. }) => *opener,
            _ => None,
        };
        if let (Some(opener), Some(closer)) = (opener, closer) {
            if opener != closer {
                log::debug!(
                    "flush of fh {fh} by process {closer}, opened by {opener}: not uploading yet"
                );
                return Ok(());
            }
        }
        let (ino, writer) = match self.write_handle(fh) {
            Ok(w) => w,
            // handles opened for reading have nothing to flush
            Err(FsError::NotWritable) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut w = writer.lock().await;
        let committed = w.commit().await?;
        drop(w);
        if let Some(c) = committed {
            let inode = self.inode(ino)?;
            inode.update_from_commit(c.size, c.etag, c.mtime, c.large);
            self.uncommitted.lock().expect("uncommitted").remove(&ino);
            log::debug!("stored {} ({} bytes)", self.inodes.key(&inode), c.size);
        }
        Ok(())
    }

    /// Closes a handle; the last handle of a written file uploads what is left
    /// (a failure here can only be logged: the kernel ignores it).
    pub async fn release(&self, fh: u64) {
        let handle = self.handles.lock().expect("handles").remove(&fh);
        if let Some(Handle::Write { ino, writer, .. }) = handle {
            if let Err(e) = self.drop_writer_ref(ino, &writer).await {
                log::error!("upload at close of ino {ino} failed, the change is lost: {e}");
            }
        }
    }

    /// Gives back one use of a file's writer. The last one uploads what is left,
    /// with the writer still registered, so that a rename or a time change racing
    /// with it waits for it instead of acting on a file about to change.
    async fn drop_writer_ref(&self, ino: u64, writer: &SharedWriter) -> Result<(), FsError> {
        let last = {
            let mut writers = self.writers.lock().expect("writers");
            match writers.get_mut(&ino) {
                Some((_, n)) => {
                    *n = n.saturating_sub(1);
                    *n == 0
                }
                None => false,
            }
        };
        if !last {
            return Ok(());
        }
        let result = {
            let mut w = writer.lock().await;
            match w.commit().await {
                Ok(Some(c)) => {
                    if let Ok(inode) = self.inode(ino) {
                        inode.update_from_commit(c.size, c.etag, c.mtime, c.large);
                    }
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => Err(FsError::from(e)),
            }
        };
        let mut writers = self.writers.lock().expect("writers");
        if writers.get(&ino).is_some_and(|(_, n)| *n == 0) {
            writers.remove(&ino);
            self.uncommitted.lock().expect("uncommitted").remove(&ino);
            if let Ok(inode) = self.inode(ino) {
                inode.set_writing(false);
            }
        }
        result
    }

    /// Truncates and/or sets the modification time. Mode and owner are fixed for the
    /// whole mount: changes are accepted and not stored.
    pub async fn setattr(
        &self,
        ino: u64,
        size: Option<u64>,
        mtime: Option<SystemTime>,
    ) -> Result<Attr, FsError> {
        let inode = self.inode(ino)?;
        if size.is_none() && mtime.is_none() {
            return Ok(self.attr_of(&inode));
        }
        self.writable()?;
        if inode.kind == NodeKind::Dir {
            if size.is_some() {
                return Err(FsError::IsADirectory);
            }
            // folders have no object to keep a time on
            return Ok(self.attr_of(&inode));
        }
        // Like an open, a change and a close: stored now unless a handle of the file
        // is still open, whose close will store it.
        let writer = self.acquire_writer(&inode).await?;
        let changed = async {
            let mut w = writer.lock().await;
            if let Some(size) = size {
                w.truncate(size).await?;
            }
            if let Some(t) = mtime {
                w.set_mtime(t);
            }
            inode.update_local(w.size(), w.mtime());
            Ok::<_, FsError>(())
        }
        .await;
        let stored = self.drop_writer_ref(ino, &writer).await;
        changed?;
        stored?;
        Ok(self.attr_of(&inode))
    }

    /// Deletes an object; a large object goes with its segments.
    async fn delete_object(&self, inode: &Inode) -> Result<(), FsError> {
        let object = self.object_name(inode)?;
        let info = self.client.head_object(&self.container, &object).await?;
        match info.manifest {
            Some(Manifest::Slo) => self.client.delete_slo(&self.container, &object).await?,
            _ => self.client.delete_object(&self.container, &object).await?,
        }
        Ok(())
    }

    pub async fn unlink(&self, parent: u64, name: &OsStr) -> Result<(), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        let inode = self.child(&parent, name).await?;
        if inode.kind == NodeKind::Dir {
            return Err(FsError::IsADirectory);
        }
        let uncommitted = self
            .uncommitted
            .lock()
            .expect("uncommitted")
            .remove(&inode.ino);
        if let Some(w) = self.writer_of(inode.ino) {
            w.lock().await.detach().await?;
        }
        if !uncommitted {
            match self.delete_object(&inode).await {
                Ok(()) | Err(FsError::Swift(SwiftError::NotFound(_))) => {}
                Err(e) => return Err(e),
            }
        }
        self.forget_child(&parent, name);
        Ok(())
    }

    fn forget_child(&self, parent: &Inode, name: &str) {
        self.inodes.remove_name(parent.ino, name);
        self.dirs.patch(parent.ino, |e| {
            e.remove(name);
        });
    }

    pub async fn mkdir(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        if let Some(problem) = segment_problem(name) {
            return Err(FsError::InvalidName(problem.into()));
        }
        match self.child(&parent, name).await {
            Ok(_) => return Err(FsError::Exists),
            Err(FsError::NotFound) => {}
            Err(e) => return Err(e),
        }
        self.put_marker(format!("{}{name}/", self.inodes.key(&parent)))
            .await?;
        let inode = self.inodes.upsert(&parent, name, NodeKind::Dir, None);
        let child = inode.clone();
        self.dirs.patch(parent.ino, |e| {
            e.insert(name.to_string(), child);
        });
        // a folder made just now is empty: no need to ask Swift
        self.dirs.insert(
            inode.ino,
            Arc::new(DirSnapshot {
                fetched: Instant::now(),
                entries: Default::default(),
            }),
        );
        Ok(self.attr_of(&inode))
    }

    pub async fn rmdir(&self, parent: u64, name: &OsStr) -> Result<(), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        let dir = match self.child(&parent, name).await {
            Ok(dir) => dir,
            // The kernel only asks for a name it has seen: an implicit folder whose
            // last object was just deleted is already gone, which is what was asked.
            Err(FsError::NotFound) => {
                self.forget_child(&parent, name);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if dir.kind != NodeKind::Dir {
            return Err(FsError::NotADirectory);
        }
        let key = self.inodes.key(&dir);
        let has_children = self.has_objects_below(&key).await?;
        let has_pending = self.pending_where(|i| i.parent() == dir.ino);
        if has_children || has_pending {
            return Err(FsError::NotEmpty);
        }
        // both marker styles; an implicit folder has neither
        let with_slash = ObjectName::new(key.clone())?;
        match self
            .client
            .delete_object(&self.container, &with_slash)
            .await
        {
            Ok(()) | Err(SwiftError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let without = ObjectName::new(key.trim_end_matches('/').to_string())?;
        if let Ok(info) = self.client.head_object(&self.container, &without).await {
            if info
                .content_type
                .as_deref()
                .is_some_and(is_directory_marker_type)
            {
                self.client.delete_object(&self.container, &without).await?;
            }
        }
        self.dirs.invalidate(dir.ino);
        self.forget_child(&parent, name);
        Ok(())
    }

    /// Writes a folder marker (`key` ends in `/`), as swiftclient and rclone do.
    async fn put_marker(&self, key: String) -> Result<(), FsError> {
        let marker = ObjectName::new(key)?;
        self.client
            .put_object(
                &self.container,
                &marker,
                Bytes::new(),
                &[("content-type", "application/directory".into())],
            )
            .await?;
        Ok(())
    }

    /// Whether any object lies below a folder's key, its own marker aside.
    async fn has_objects_below(&self, key: &str) -> Result<bool, FsError> {
        let query = ListQuery {
            prefix: Some(key.to_string()),
            limit: Some(2),
            ..ListQuery::default()
        };
        let rows = self.client.list_page(&self.container, &query).await?;
        Ok(rows.iter().any(|r| r.marker() != key))
    }

    /// Whether a file below `key` is open for writing through the mount.
    fn writing_below(&self, key: &str) -> bool {
        let inos: Vec<u64> = self
            .writers
            .lock()
            .expect("writers")
            .keys()
            .copied()
            .collect();
        inos.into_iter()
            .filter_map(|ino| self.inodes.get(ino))
            .any(|i| self.inodes.key(&i).starts_with(key))
    }

    /// Whether a file created through the mount and not yet uploaded matches.
    fn pending_where(&self, matches: impl Fn(&Inode) -> bool) -> bool {
        self.pending().iter().any(|i| matches(i))
    }

    /// Renames a file (server-side copy, then delete) or a folder (every object
    /// below it, copied first and deleted after, so a failure half-way loses nothing).
    pub async fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let new_parent = self.dir_inode(new_parent)?;
        let name = name_str(name)?;
        let new_name = name_str(new_name)?;
        if let Some(problem) = segment_problem(new_name) {
            return Err(FsError::InvalidName(problem.into()));
        }
        let source = self.child(&parent, name).await?;
        let target = match self.child(&new_parent, new_name).await {
            Ok(t) => Some(t),
            Err(FsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if let Some(t) = &target {
            if t.ino == source.ino {
                return Ok(());
            }
            if no_replace {
                return Err(FsError::Exists);
            }
            match (source.kind, t.kind) {
                (NodeKind::File, NodeKind::Dir) => return Err(FsError::IsADirectory),
                (NodeKind::Dir, NodeKind::File) => return Err(FsError::NotADirectory),
                _ => {}
            }
        }
        if let Some(w) = target.as_ref().and_then(|t| self.writer_of(t.ino)) {
            // the replaced file's open handles keep their own copy, never uploaded
            w.lock().await.detach().await?;
        }
        match source.kind {
            NodeKind::File => {
                self.rename_file(&source, &new_parent, new_name, target.as_deref())
                    .await?
            }
            NodeKind::Dir => {
                self.rename_dir(&source, &new_parent, new_name, target.as_deref())
                    .await?
            }
        }
        self.dirs.patch(parent.ino, |e| {
            e.remove(name);
        });
        if let Some(t) = &target {
            // a replaced file open for writing is like an unlinked one
            self.uncommitted.lock().expect("uncommitted").remove(&t.ino);
            self.inodes.remove_name(new_parent.ino, new_name);
            if t.kind == NodeKind::Dir {
                self.dirs.invalidate(t.ino);
            }
        }
        self.inodes.rename(&source, new_parent.ino, new_name);
        let moved = source.clone();
        self.dirs.patch(new_parent.ino, |e| {
            e.insert(new_name.to_string(), moved);
        });
        if source.kind == NodeKind::Dir {
            self.dirs.invalidate(source.ino);
        }
        Ok(())
    }

    async fn rename_file(
        &self,
        source: &Arc<Inode>,
        new_parent: &Inode,
        new_name: &str,
        target: Option<&Inode>,
    ) -> Result<(), FsError> {
        // a file still being written is stored first, under its current name
        if let Some(w) = self.writer_of(source.ino) {
            let mut w = w.lock().await;
            if let Some(c) = w.commit().await? {
                source.update_from_commit(c.size, c.etag, c.mtime, c.large);
            }
            self.uncommitted
                .lock()
                .expect("uncommitted")
                .remove(&source.ino);
        }
        let from = self.object_name(source)?;
        let to = ObjectName::new(format!("{}{new_name}", self.inodes.key(new_parent)))?;
        let info = self.client.head_object(&self.container, &from).await?;
        let is_slo = info.manifest == Some(Manifest::Slo);
        // segments of a large object being replaced go once the new one is in place
        let old_segments = match target {
            Some(_) => match self.client.head_object(&self.container, &to).await {
                Ok(t) if t.manifest == Some(Manifest::Slo) => {
                    self.client.slo_segments(&self.container, &to).await?
                }
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        self.client
            .copy_object((&self.container, &from), (&self.container, &to), is_slo)
            .await?;
        // the copy keeps the segments of a large object: delete the manifest only
        self.client.delete_object(&self.container, &from).await?;
        for seg in old_segments {
            if let Err(e) = self.client.delete_path(&seg).await {
                log::warn!("could not delete old segment {seg}: {e}");
            }
        }
        if let Some(w) = self.writer_of(source.ino) {
            // later writes through open handles go to the new name
            w.lock().await.set_object(to);
        }
        Ok(())
    }

    async fn rename_dir(
        &self,
        source: &Arc<Inode>,
        new_parent: &Inode,
        new_name: &str,
        target: Option<&Inode>,
    ) -> Result<(), FsError> {
        let from = self.inodes.key(source);
        let to = format!("{}{new_name}/", self.inodes.key(new_parent));
        if to.starts_with(&from) {
            return Err(FsError::InvalidName(
                "cannot move a folder into itself".into(),
            ));
        }
        if let Some(t) = target {
            let key = self.inodes.key(t);
            if self.has_objects_below(&key).await?
                || self.pending_where(|i| self.inodes.key(i).starts_with(&key))
            {
                return Err(FsError::NotEmpty);
            }
        }
        if self.writing_below(&from) {
            // files open for writing below would be stored under the old name
            return Err(FsError::Busy);
        }
        let rows = self
            .client
            .list_all(
                &self.container,
                &ListQuery {
                    prefix: Some(from.clone()),
                    ..ListQuery::default()
                },
            )
            .await?;
        let names: Vec<String> = rows
            .into_iter()
            .filter_map(|r| match r {
                ListEntry::Object(o) => Some(o.name),
                ListEntry::Subdir { .. } => None,
            })
            .collect();
        // copy everything first: a failure half-way leaves the source whole
        for name in &names {
            let src = ObjectName::new(name.clone())?;
            let dst = ObjectName::new(format!("{to}{}", &name[from.len()..]))?;
            let info = self.client.head_object(&self.container, &src).await?;
            self.client
                .copy_object(
                    (&self.container, &src),
                    (&self.container, &dst),
                    info.manifest == Some(Manifest::Slo),
                )
                .await?;
        }
        if names.is_empty() {
            // an implicit folder made empty by its last file: give it a marker there
            self.put_marker(to.clone()).await?;
        }
        for name in &names {
            match self
                .client
                .delete_object(&self.container, &ObjectName::new(name.clone())?)
                .await
            {
                Ok(()) | Err(SwiftError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        log::info!("renamed folder {from} to {to}: {} objects", names.len());
        Ok(())
    }

    /// Capacity from the account: the quota when one is set, else used + 1 PiB, so
    /// tools that check free space before writing go ahead.
    pub async fn statfs(&self) -> Result<StatFs, FsError> {
        let account = self.client.account_info().await?;
        let used = account.bytes_used.div_ceil(BLOCK);
        let total = match account.quota_bytes {
            Some(q) => q.div_ceil(BLOCK).max(used),
            None => used + (1u64 << 50) / BLOCK,
        };
        Ok(StatFs {
            blocks: total,
            bfree: total - used,
            files: account.object_count,
            ffree: u64::from(u32::MAX),
            block_size: BLOCK as u32,
            name_max: NAME_MAX as u32,
        })
    }
}
