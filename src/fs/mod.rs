//! The filesystem semantics layer: inodes, directory listings, reads.
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

pub use error::FsError;
pub use inode::{NodeKind, ROOT_INO};

use crate::source::Location;
use crate::swift::{ContainerName, ListQuery, ObjectName, SwiftClient, SwiftError};
use bytes::Bytes;
use dircache::{DirCache, DirSnapshot};
use inode::{Inode, InodeTable, parse_meta_mtime};
use listing::{EntryKind, NAME_MAX, entries_from_rows, is_directory_marker_type};
use reader::Reader;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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
    pub ino: u64,
    pub name: String,
    pub kind: NodeKind,
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

/// What `open` tells the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    /// The object is the version whose pages the kernel may still cache.
    pub keep_cache: bool,
}

enum Handle {
    Dir(Arc<DirSnapshot>),
    File(Arc<tokio::sync::Mutex<Reader>>),
}

pub struct SwiftFs {
    client: Arc<SwiftClient>,
    container: ContainerName,
    config: FsConfig,
    inodes: InodeTable,
    dirs: DirCache,
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    /// ETag of each file's version as of its last open, for the kernel page cache.
    opened_etags: Mutex<HashMap<u64, String>>,
}

const BLOCK: u64 = 4096;

impl SwiftFs {
    pub fn new(client: Arc<SwiftClient>, location: Location, config: FsConfig) -> Self {
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
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            opened_etags: Mutex::new(HashMap::new()),
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

    fn inode(&self, ino: u64) -> Result<Arc<Inode>, FsError> {
        self.inodes.get(ino).ok_or(FsError::UnknownInode(ino))
    }

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

    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let parent = self.dir_inode(parent)?;
        if name.len() > NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        // Swift names are UTF-8: anything else cannot exist there.
        let name = name.to_str().ok_or(FsError::NotFound)?;
        if let Some(snap) = self.dirs.get_fresh(parent.ino) {
            let inode = snap.entries.get(name).ok_or(FsError::NotFound)?;
            return Ok(self.attr_of(inode));
        }
        let inode = self.lookup_remote(&parent, name).await?;
        Ok(self.attr_of(&inode))
    }

    /// One name without listing the whole parent: a HEAD of the object and a
    /// one-row listing under `name/`, at the same time. A folder wins over a file.
    async fn lookup_remote(&self, parent: &Inode, name: &str) -> Result<Arc<Inode>, FsError> {
        let file_key = format!("{}{name}", parent.key);
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
                inode.update_from_head(
                    info.size,
                    info.etag.clone(),
                    info.last_modified,
                    info.meta.get("mtime").and_then(|v| parse_meta_mtime(v)),
                );
                Ok(inode)
            }
            Err(SwiftError::NotFound(_)) => Err(FsError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The entries of a directory: from the cache while fresh, else one paged
    /// listing with `delimiter=/`.
    async fn snapshot(&self, dir: &Arc<Inode>) -> Result<Arc<DirSnapshot>, FsError> {
        if let Some(snap) = self.dirs.get_fresh(dir.ino) {
            return Ok(snap);
        }
        let query = ListQuery {
            prefix: (!dir.key.is_empty()).then(|| dir.key.clone()),
            delimiter: Some('/'),
            ..ListQuery::default()
        };
        let started = Instant::now();
        let rows = self.client.list_all(&self.container, &query).await?;
        let (entries, hidden) = entries_from_rows(&dir.key, &rows);
        log::debug!(
            "listed {}/{}: {} rows, {} entries, {hidden} hidden, in {:?}",
            self.container,
            dir.key,
            rows.len(),
            entries.len(),
            started.elapsed()
        );
        let entries = entries
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
        Ok(self.add_handle(Handle::Dir(snap)))
    }

    /// Entries from `offset` on (0 = the start); each entry's offset is its index + 1.
    pub fn readdir(&self, ino: u64, fh: u64, offset: u64) -> Result<Vec<DirEntry>, FsError> {
        let dir = self.dir_inode(ino)?;
        let handles = self.handles.lock().expect("handles");
        let Some(Handle::Dir(snap)) = handles.get(&fh) else {
            return Err(FsError::UnknownHandle(fh));
        };
        let dots = [(".", dir.ino), ("..", dir.parent)]
            .into_iter()
            .map(|(n, i)| DirEntry {
                ino: i,
                name: n.to_string(),
                kind: NodeKind::Dir,
            });
        let rest = snap.entries.iter().map(|(name, inode)| DirEntry {
            ino: inode.ino,
            name: name.clone(),
            kind: inode.kind,
        });
        Ok(dots.chain(rest).skip(offset as usize).collect())
    }

    pub fn release_handle(&self, fh: u64) {
        self.handles.lock().expect("handles").remove(&fh);
    }

    /// Opens a file for reading. A HEAD confirms the version (and learns the real
    /// size of large objects); reads are then pinned to it.
    pub async fn open(&self, ino: u64) -> Result<Opened, FsError> {
        let inode = self.inode(ino)?;
        if inode.kind == NodeKind::Dir {
            return Err(FsError::IsADirectory);
        }
        let object =
            ObjectName::new(inode.key.clone()).map_err(|e| FsError::InvalidName(e.to_string()))?;
        let info = match self.client.head_object(&self.container, &object).await {
            Ok(info) => info,
            Err(SwiftError::NotFound(_)) => {
                self.dirs.invalidate(inode.parent);
                return Err(FsError::NotFound);
            }
            Err(e) => return Err(e.into()),
        };
        inode.update_from_head(
            info.size,
            info.etag.clone(),
            info.last_modified,
            info.meta.get("mtime").and_then(|v| parse_meta_mtime(v)),
        );
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
            object,
            info.size,
            pin,
        );
        let fh = self.add_handle(Handle::File(Arc::new(tokio::sync::Mutex::new(reader))));
        Ok(Opened { fh, keep_cache })
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes, FsError> {
        log::trace!("read fh {fh} offset {offset} size {size}");
        let reader = match self.handles.lock().expect("handles").get(&fh) {
            Some(Handle::File(r)) => r.clone(),
            _ => return Err(FsError::UnknownHandle(fh)),
        };
        let mut reader = reader.lock().await;
        Ok(reader.read(offset, size).await?)
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
