//! The filesystem semantics layer: inodes, directory listings, reads and writes.
//!
//! Async methods return attributes, entries and bytes or an [`FsError`]; nothing here
//! knows fuser's types or replies, and nothing here builds an HTTP request (that is
//! [`crate::swift`]'s job). See docs/SEMANTICS.md for what a mounted container
//! promises.

mod dir_ops;
mod dircache;
mod error;
mod file_ops;
mod handles;
mod inode;
mod listing;
mod open_files;
mod pending_dirs;
mod reader;
mod recent_changes;
mod segment_plan;
mod special_ops;
mod spill;
mod writer;
mod xattr_ops;

#[cfg(test)]
mod tests;

pub use error::FsError;
pub use file_ops::SetAttr;
pub use inode::{InodeCounts, NodeKind, ROOT_INO};
pub use xattr_ops::{XattrWrite, is_user_xattr};

use crate::metrics::Metrics;
use crate::source::Location;
use crate::swift::{ContainerName, ListQuery, MetaLimits, ObjectName, ObjectStore, SwiftError};
use dircache::{DirCache, DirSnapshot};
use handles::Handles;
use inode::{Inode, InodeTable};
use listing::{EntryKind, NAME_MAX, entries_from_rows};
use open_files::OpenFiles;
use pending_dirs::PendingDirs;
use recent_changes::RecentChanges;
pub use segment_plan::SegmentPlan;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use writer::UploadConfig;

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
    /// How files larger than the first segment are cut into SLO segments.
    pub segment_plan: SegmentPlan,
    pub segment_container: ContainerName,
    /// Where files being changed other than sequentially are kept until uploaded.
    pub cache_dir: PathBuf,
    /// Show `uid`, `gid`, `file_mode` and `dir_mode` for every entry, whatever mode
    /// and owner are stored.
    pub ignore_stored_perms: bool,
    /// The cluster's limits on metadata (xattrs count against them).
    pub meta_limits: MetaLimits,
    /// The cluster offers Swift symlinks: links to objects of the mount are stored
    /// as such, for other Swift clients to follow.
    pub swift_symlinks: bool,
}

/// The process asking for a new file, folder or link: it owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
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

pub struct SwiftFs {
    store: Arc<dyn ObjectStore>,
    container: ContainerName,
    config: FsConfig,
    upload: UploadConfig,
    inodes: InodeTable,
    dirs: DirCache,
    handles: Handles,
    /// What is being written through the mount: the one owner of that fact.
    open_files: OpenFiles,
    /// Folders made through the mount whose marker is not stored yet: the one owner.
    pending_dirs: PendingDirs,
    /// Names we removed or stored lately, laid over listings that lag behind.
    recent: Arc<RecentChanges>,
    metrics: Arc<Metrics>,
}

const BLOCK: u64 = 4096;

fn name_str(name: &OsStr) -> Result<&str, FsError> {
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    name.to_str()
        .ok_or_else(|| FsError::InvalidName("not UTF-8".into()))
}

impl SwiftFs {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        location: Location,
        config: FsConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let upload = UploadConfig {
            store: store.clone(),
            container: location.container.clone(),
            segment_container: config.segment_container.clone(),
            plan: config.segment_plan,
            cache_dir: config.cache_dir.clone(),
            segment_container_ready: Default::default(),
        };
        SwiftFs {
            store,
            container: location.container,
            inodes: InodeTable::new(location.prefix),
            dirs: DirCache::new(
                config.dir_cache_ttl,
                config.dir_cache_max_dirs,
                config.dir_cache_max_entries,
            ),
            config,
            upload,
            handles: Handles::default(),
            open_files: OpenFiles::new(metrics.clone()),
            pending_dirs: PendingDirs::new(metrics.clone()),
            recent: Arc::default(),
            metrics,
        }
    }

    /// How long the kernel may keep attributes and names it was given.
    pub fn attr_ttl(&self) -> Duration {
        self.config.dir_cache_ttl
    }

    /// Fails unless the container exists and the credentials may read it: checked
    /// before mounting, so a bad source never leaves a dead mount.
    pub async fn check_container(&self) -> Result<(), FsError> {
        self.store.container_info(&self.container).await?;
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

    /// Attributes as known now: a file being written is what its handles see; any
    /// other is what listings and HEADs said of Swift's version. Mode and owner are
    /// the stored ones, else the mount's.
    fn attr_of(&self, inode: &Inode) -> Attr {
        let (size, mtime, mode, uid, gid) = match self.open_files.get(inode.ino) {
            Some(open) => {
                let (size, mtime, p) = open.attrs();
                (size, mtime, p.mode, p.uid, p.gid)
            }
            None => inode.with_state(|s| {
                let size = match (&s.posix.link, inode.kind) {
                    // a link's size is its target's length, whatever the object holds
                    (Some(l), NodeKind::Symlink) => l.len() as u64,
                    _ => s.size,
                };
                (size, s.mtime, s.posix.mode, s.posix.uid, s.posix.gid)
            }),
        };
        let c = &self.config;
        let (mode, uid, gid) = if c.ignore_stored_perms {
            (None, None, None)
        } else {
            (mode, uid, gid)
        };
        let stored_perm = mode.map(|m| (m & 0o7777) as u16);
        let (perm, nlink, size) = match inode.kind {
            NodeKind::Dir => (stored_perm.unwrap_or(c.dir_mode), 2, 0),
            // Linux ignores a link's own mode
            NodeKind::Symlink => (0o777, 1, size),
            NodeKind::File | NodeKind::Fifo | NodeKind::Socket => {
                (stored_perm.unwrap_or(c.file_mode), 1, size)
            }
        };
        Attr {
            ino: inode.ino,
            kind: inode.kind,
            size,
            mtime,
            perm,
            uid: uid.unwrap_or(c.uid),
            gid: gid.unwrap_or(c.gid),
            nlink,
        }
    }

    /// The owner to store for something `caller` makes: none where it is the
    /// mount's own, so that the mount's `--uid`/`--gid` keep deciding it.
    fn owner_of(&self, caller: Caller) -> (Option<u32>, Option<u32>) {
        (
            (caller.uid != self.config.uid).then_some(caller.uid),
            (caller.gid != self.config.gid).then_some(caller.gid),
        )
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

    /// The cached listing of `dir`, counted as a hit or a miss of the cache.
    fn cached_listing(&self, dir: u64) -> Option<Arc<DirSnapshot>> {
        let snap = self.dirs.get_fresh(dir);
        self.metrics.listing_cache(snap.is_some());
        snap
    }

    /// The child `name` of `parent`, from the cached listing, a remembered miss, or
    /// asked for alone.
    async fn child(&self, parent: &Arc<Inode>, name: &str) -> Result<Arc<Inode>, FsError> {
        if let Some(snap) = self.cached_listing(parent.ino) {
            return snap.entries.get(name).cloned().ok_or(FsError::NotFound);
        }
        self.lookup_remote(parent, name).await
    }

    /// A lookup answered from memory, when the parent's listing is cached or the
    /// name was found missing there lately: `None` means Swift must be asked
    /// ([`Self::lookup`]).
    pub fn lookup_cached(&self, parent: u64, name: &OsStr) -> Option<Result<Attr, FsError>> {
        if name.len() > NAME_MAX {
            return Some(Err(FsError::NameTooLong));
        }
        let name = name.to_str()?;
        let Some(snap) = self.dirs.get_fresh(parent) else {
            // a name made through the mount is never a remembered miss: no need to
            // look for it among files being written
            return self
                .dirs
                .is_missing(parent, name)
                .then_some(Err(FsError::NotFound));
        };
        // a miss is counted by the lookup that follows it
        self.metrics.listing_cache(true);
        Some(
            snap.entries
                .get(name)
                .map(|inode| self.entry_for_kernel(inode))
                .ok_or(FsError::NotFound),
        )
    }

    /// The attributes of an inode handed to the kernel as an entry (a lookup, create,
    /// mkdir or readdirplus): it holds the inode until it forgets it.
    fn entry_for_kernel(&self, inode: &Arc<Inode>) -> Attr {
        self.inodes.remember(inode);
        self.attr_of(inode)
    }

    /// The kernel gives back references to inodes (FUSE `forget`, `(ino, n)` pairs).
    /// Expired listings go too: they would keep their entries' inodes alive.
    pub fn forget(&self, refs: impl IntoIterator<Item = (u64, u64)>) {
        self.inodes.forget(refs);
        self.dirs.drop_expired();
    }

    /// How many inodes the mount knows, and how many of them the kernel holds.
    pub fn inode_counts(&self) -> InodeCounts {
        self.inodes.counts()
    }

    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let parent = self.dir_inode(parent)?;
        // Swift names are UTF-8: anything else cannot exist there.
        let name = name_str(name).map_err(|e| match e {
            FsError::InvalidName(_) => FsError::NotFound,
            e => e,
        })?;
        let inode = self.child(&parent, name).await?;
        Ok(self.entry_for_kernel(&inode))
    }

    /// One name without listing the whole parent: a HEAD of the object and a
    /// one-row listing under `name/`, at the same time. A folder wins over a file.
    /// A name found missing is remembered for the listing TTL.
    async fn lookup_remote(&self, parent: &Arc<Inode>, name: &str) -> Result<Arc<Inode>, FsError> {
        // before the registries are asked: a name made from here on is not a miss
        let ticket = self.dirs.lookup_ticket();
        if let Some(open) = self
            .open_files
            .unstored_in(parent.ino)
            .into_iter()
            .find(|f| f.inode.name() == name)
        {
            return Ok(open.inode.clone());
        }
        if let Some(dir) = self
            .pending_dirs
            .in_folder(parent.ino)
            .into_iter()
            .find(|d| d.inode.name() == name)
        {
            return Ok(dir.inode.clone());
        }
        if self.dirs.is_missing(parent.ino, name) {
            return Err(FsError::NotFound);
        }
        let file_key = format!("{}{name}", self.inodes.key(parent));
        let object = ObjectName::new(file_key.clone()).map_err(|_| FsError::NotFound)?;
        let children = ListQuery {
            prefix: Some(format!("{file_key}/")),
            limit: Some(1),
            ..ListQuery::default()
        };
        let (head, list) = futures::join!(
            self.store.head_object(&self.container, &object),
            self.store.list_page(&self.container, &children)
        );
        // a lagging replica may still answer for what we deleted
        let head = match head {
            Ok(info) if self.recent.is_removed(&file_key, info.etag.as_deref()) => {
                Err(SwiftError::NotFound(file_key.clone()))
            }
            head => head,
        };
        let below = match list {
            Ok(rows) => !rows.is_empty(),
            // No listing (every container server down, say) but the object answered:
            // it is what the HEAD says. (A folder of the same name would win, but
            // cannot be seen now; without the object, nothing can be said: the error.)
            Err(e) if head.is_ok() => {
                log::debug!("lookup of {file_key}: the HEAD answers, the listing not: {e}");
                false
            }
            Err(e) => return Err(e.into()),
        };
        let below = below && !self.only_our_deletions_below(&file_key).await?;
        if !below
            && let Ok(info) = &head
            && let Some(inode) = self.recent.stored_over(&file_key, info.etag.as_deref())
        {
            log::debug!("lookup of {file_key}: a replica still has the version we replaced");
            return Ok(inode);
        }
        match head {
            // the marker of a folder we removed, from a lagging replica
            Ok(info) if info.meta.directory && self.recent.hides_folder(&file_key, below) => {
                log::debug!("lookup of {file_key}: the folder removed by us is still shown");
                self.dirs.remember_miss(parent.ino, name, ticket);
                Err(FsError::NotFound)
            }
            // a marker of our own kind carries the folder's attributes
            Ok(info) if info.meta.directory => {
                let inode = self.inodes.upsert(parent, name, NodeKind::Dir, None);
                inode.update_from_head(&info);
                Ok(inode)
            }
            _ if below => Ok(self.inodes.upsert(parent, name, NodeKind::Dir, None)),
            Ok(mut info) => {
                let link = info.meta.swift_link.as_deref();
                self.adopt_swift_link(&file_key, link, &mut info.meta.posix);
                let kind = NodeKind::of_object(info.meta.posix.mode);
                let inode = self.inodes.upsert(parent, name, kind, None);
                inode.update_from_head(&info);
                inode.offer_head();
                Ok(inode)
            }
            Err(SwiftError::NotFound(_)) => {
                // stored (a file) or made (a folder) by us, and a lagging replica
                // does not know it yet
                if let Some(inode) = self.recent.stored_inode(&file_key) {
                    return Ok(inode);
                }
                if let Some(kind) = self.recent.copied(&file_key) {
                    return Ok(self.listed_inode(parent, name, &kind));
                }
                self.dirs.remember_miss(parent.ino, name, ticket);
                Err(FsError::NotFound)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The inode of `dir`'s entry `name`, as a listing shows it.
    fn listed_inode(&self, dir: &Arc<Inode>, name: &str, kind: &EntryKind) -> Arc<Inode> {
        match kind {
            EntryKind::File(meta) => {
                let kind = NodeKind::of_object(meta.posix.mode);
                self.inodes.upsert(dir, name, kind, Some(meta))
            }
            EntryKind::Dir { marker, .. } => {
                let inode = self.inodes.upsert(dir, name, NodeKind::Dir, None);
                if let Some(meta) = marker {
                    inode.update_from_listing(meta, SystemTime::now());
                }
                inode
            }
        }
    }

    /// Whether the folder `key` (no slash), listed with objects below it, is one we
    /// removed and those objects are only what we deleted: a lagging replica's rows.
    async fn only_our_deletions_below(&self, key: &str) -> Result<bool, FsError> {
        if !self.recent.removed_folder(key) {
            return Ok(false);
        }
        let below = ListQuery {
            prefix: Some(format!("{key}/")),
            ..ListQuery::default()
        };
        let rows = self.store.list_all(&self.container, &below).await?;
        Ok(rows.iter().all(|r| self.recent.lists_removed(r)))
    }

    /// The entries of a directory: from the cache while fresh, else one paged
    /// listing with `delimiter=/`, plus files and folders created here and not yet
    /// stored.
    async fn snapshot(&self, dir: &Arc<Inode>) -> Result<Arc<DirSnapshot>, FsError> {
        if let Some(snap) = self.cached_listing(dir.ino) {
            return Ok(snap);
        }
        let key = self.inodes.key(dir);
        let query = ListQuery {
            prefix: (!key.is_empty()).then(|| key.clone()),
            delimiter: Some('/'),
            ..ListQuery::default()
        };
        // Taken before the listing: a marker stored while it runs leaves the
        // registry and may be missing from the rows, but not from both.
        let mut pending = self.pending_dirs.in_folder(dir.ino);
        let started = Instant::now();
        let rows = self.store.list_all(&self.container, &query).await?;
        let (mut entries, hidden) = entries_from_rows(&key, &rows);
        let ours = self.recent.overlay(&key, &mut entries);
        for (name, kind) in entries.iter_mut() {
            if let EntryKind::File(meta) = kind
                && let Some(link) = meta.swift_link.take()
            {
                self.adopt_swift_link(&format!("{key}{name}"), Some(&link), &mut meta.posix);
            }
        }
        for name in &ours.check_below {
            if self
                .only_our_deletions_below(&format!("{key}{name}"))
                .await?
            {
                log::debug!(
                    "listing of {key:?} shows {name:?}, moved away by us, with what we deleted"
                );
                entries.remove(name);
            }
        }
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
                let inode = self.listed_inode(dir, &name, &kind);
                (name, inode)
            })
            .collect();
        entries.extend(ours.stored);
        for f in self.open_files.unstored_in(dir.ino) {
            entries.entry(f.inode.name()).or_insert(f.inode.clone());
        }
        pending.extend(self.pending_dirs.in_folder(dir.ino));
        for d in pending {
            entries.entry(d.inode.name()).or_insert(d.inode.clone());
        }
        let snap = Arc::new(DirSnapshot {
            fetched: Instant::now(),
            entries,
        });
        self.dirs.insert(dir.ino, snap.clone());
        Ok(snap)
    }

    /// Capacity from the account: the quota when one is set, else used + 1 PiB, so
    /// tools that check free space before writing go ahead.
    pub async fn statfs(&self) -> Result<StatFs, FsError> {
        let account = self.store.account_info().await?;
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
