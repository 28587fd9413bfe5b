//! The filesystem layer ([`SwiftFs`]) as a model target, without FUSE and without a
//! server: paths are resolved by `lookup` from the root as the kernel walks them, and
//! each operation becomes the calls src/fuse.rs makes for the kernel's requests,
//! after the checks the kernel's VFS makes before it asks the filesystem at all
//! (an existing name for `O_EXCL` or `mkdir`, a folder opened for writing, a folder
//! renamed into itself, kinds on both sides of a rename). So `close(2)` is `flush`
//! by the opening process then `release`; `open(2)` with `O_TRUNC` of an existing
//! file is `open` and then `setattr(size 0)` (the mount does not ask for atomic
//! `O_TRUNC`); a listing is `opendir`, `readdirplus` in small batches, `releasedir`.
//!
//! As the kernel, the target counts the entries it was given (lookups, creates,
//! `mkdir`, `readdirplus`) and gives them back with `forget` when it lets an inode
//! go: a removed name's at once, or at the last close of a file still open; and on
//! [`Target::drop_caches`], every file not open (folders stay: an open file's folders
//! are held by the kernel, and which they are is not tracked here).
//!
//! A remount waits for the folder markers still being stored, as an unmount does,
//! and builds a new [`SwiftFs`] over the same store: every cache is gone.
//! The async calls run on a multi-thread runtime of the target's own
//! (`block_in_place` in the filesystem layer panics on a current-thread one).

use super::target::{Entry, OpenFlags, Res, Stat, Target};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use swiftmount::fs::{
    Attr, Caller, FsConfig, FsError, NodeKind, OpenMode, ROOT_INO, SegmentPlan, SetAttr, SwiftFs,
};
use swiftmount::source::Location;
use swiftmount::swift::{ContainerName, MetaLimits, ObjectName, ObjectStore};

/// The largest read and write the mount lets the kernel send (`MAX_IO` in
/// src/fuse.rs).
const MAX_IO: usize = 1 << 20;
/// Entries one `readdirplus` call takes: a few, so that every listing is read in
/// several calls, each going on from the offset the last one ended at.
const READDIR_BATCH: usize = 3;
/// The process that opens and closes every handle (the kernel tells the
/// filesystem who it is).
const PID: u32 = 4242;
/// The mount's default `--dir-cache-size`.
pub const DIR_CACHE_DIRS: usize = 1000;
/// Segment size: small, so that a small file changed in place (up to 256 KiB and a
/// write past its end) is uploaded as a large object now and then too, and a
/// streamed one is many segments.
pub const SEGMENT_SIZE: u64 = 128 << 10;

/// What an open handle is, as the kernel's `struct file` knows it.
struct Open {
    ino: u64,
    dir: bool,
    write: bool,
}

pub struct FsTarget {
    fs: Arc<SwiftFs>,
    store: Arc<dyn ObjectStore>,
    location: Location,
    config: FsConfig,
    open: HashMap<u64, Open>,
    /// Entries handed to the kernel and not given back, by inode.
    lookups: HashMap<u64, u64>,
    /// Removed while open: forgotten at the last close.
    removed: HashSet<u64>,
    _cache_dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

fn errno(e: FsError) -> i32 {
    e.errno()
}

/// What `ftruncate` asks: the size and the time of the change.
fn truncation(len: u64) -> SetAttr {
    SetAttr {
        size: Some(len),
        mtime: Some(SystemTime::now()),
        ..SetAttr::default()
    }
}

fn stat_of(attr: &Attr) -> Stat {
    match attr.kind {
        NodeKind::Dir => ('d', 0),
        NodeKind::File => ('f', attr.size),
        kind => panic!("the model makes no {kind:?}"),
    }
}

impl FsTarget {
    /// The model's process: the mount's owner.
    fn caller(&self) -> Caller {
        Caller {
            uid: self.config.uid,
            gid: self.config.gid,
        }
    }

    /// A filesystem over `location` in `store` (the container is created if missing),
    /// with the mount's `--dir-cache-ttl` and `--dir-cache-size`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        location: Location,
        dir_cache_ttl: Duration,
        dir_cache_dirs: usize,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cache_dir = tempfile::Builder::new()
            .prefix("swiftmount-model-cache-")
            .tempdir()
            .unwrap();
        // as src/mount.rs builds it from the defaults, but for the segment size and
        // the listing cache
        let config = FsConfig {
            // SAFETY: getuid/getgid cannot fail and touch no memory.
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            file_mode: 0o644,
            dir_mode: 0o755,
            dir_cache_ttl,
            dir_cache_max_dirs: dir_cache_dirs,
            dir_cache_max_entries: 500_000,
            read_only: false,
            segment_plan: SegmentPlan::new(SEGMENT_SIZE, None, None),
            segment_container: ContainerName::new(format!("{}_segments", location.container))
                .unwrap(),
            cache_dir: cache_dir.path().to_path_buf(),
            ignore_stored_perms: false,
            meta_limits: MetaLimits::default(),
            swift_symlinks: true,
        };
        runtime
            .block_on(store.create_container(&location.container))
            .unwrap();
        FsTarget {
            fs: Arc::new(SwiftFs::new(
                store.clone(),
                location.clone(),
                config.clone(),
                Default::default(),
            )),
            store,
            location,
            config,
            open: HashMap::new(),
            lookups: HashMap::new(),
            removed: HashSet::new(),
            _cache_dir: cache_dir,
            runtime,
        }
    }

    /// The filesystem as it is now (a remount replaces it).
    pub fn fs(&self) -> Arc<SwiftFs> {
        self.fs.clone()
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    fn call<T>(&self, f: impl Future<Output = Result<T, FsError>>) -> Res<T> {
        self.runtime.block_on(f).map_err(errno)
    }

    /// The object a path is stored as.
    pub fn object_name(&self, rel: &str) -> ObjectName {
        ObjectName::new(format!("{}{rel}", self.location.prefix)).unwrap()
    }

    /// An entry the kernel was given: it holds the inode until it forgets it.
    fn entry(&mut self, attr: Attr) -> Attr {
        if attr.ino != ROOT_INO {
            *self.lookups.entry(attr.ino).or_default() += 1;
        }
        attr
    }

    /// The kernel lets an inode go: all its lookups back.
    fn forget(&mut self, ino: u64) {
        if let Some(n) = self.lookups.remove(&ino) {
            self.fs.forget([(ino, n)]);
        }
    }

    /// A name is gone: its inode goes once no open file holds it.
    fn name_removed(&mut self, ino: u64) {
        if self.open.values().any(|o| o.ino == ino) {
            self.removed.insert(ino);
        } else {
            self.forget(ino);
        }
    }

    fn lookup_in(&mut self, parent: u64, name: &str) -> Res<Attr> {
        let attr = self.call(self.fs.lookup(parent, OsStr::new(name)))?;
        Ok(self.entry(attr))
    }

    /// Walks a path from the root.
    fn lookup(&mut self, rel: &str) -> Res<Attr> {
        let mut attr = self.fs.getattr(ROOT_INO).map_err(errno)?;
        for name in rel.split('/').filter(|n| !n.is_empty()) {
            attr = self.lookup_in(attr.ino, name)?;
        }
        Ok(attr)
    }

    /// The folder a path's last name is in, and that name.
    fn parent<'a>(&mut self, rel: &'a str) -> Res<(u64, &'a str)> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let attr = self.lookup(dir)?;
        if attr.kind != NodeKind::Dir {
            return Err(libc::ENOTDIR);
        }
        Ok((attr.ino, name))
    }

    /// A name in a folder, `None` if there is none.
    fn find(&mut self, parent: u64, name: &str) -> Res<Option<Attr>> {
        match self.lookup_in(parent, name) {
            Ok(a) => Ok(Some(a)),
            Err(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn handle(&self, fh: u64) -> &Open {
        self.open.get(&fh).expect("open handle")
    }

    fn release(&self, fh: u64) {
        self.runtime.block_on(self.fs.release(fh));
    }
}

impl Target for FsTarget {
    fn describe(&self) -> String {
        format!(
            "fs layer (dir-cache-ttl {:?}, dir-cache-size {}, segments of {} KiB, prefix {:?})",
            self.config.dir_cache_ttl,
            self.config.dir_cache_max_dirs,
            self.config.segment_plan.size(0) >> 10,
            self.location.prefix
        )
    }

    fn open(&mut self, rel: &str, flags: OpenFlags) -> Res<u64> {
        let (parent, name) = self.parent(rel)?;
        let opener = Some(PID);
        let (fh, open) = match self.find(parent, name)? {
            None if flags.create => {
                let (attr, opened) = self.call(self.fs.create(
                    parent,
                    OsStr::new(name),
                    flags.excl,
                    opener,
                    0o644,
                    self.caller(),
                ))?;
                let attr = self.entry(attr);
                let open = Open {
                    ino: attr.ino,
                    dir: false,
                    write: true,
                };
                (opened.fh, open)
            }
            None => return Err(libc::ENOENT),
            Some(_) if flags.create && flags.excl => return Err(libc::EEXIST),
            Some(a) if a.kind == NodeKind::Dir => {
                if flags.write || flags.create {
                    return Err(libc::EISDIR);
                }
                let fh = self.call(self.fs.opendir(a.ino))?;
                let open = Open {
                    ino: a.ino,
                    dir: true,
                    write: false,
                };
                (fh, open)
            }
            Some(a) => {
                let mode = OpenMode {
                    write: flags.write,
                    truncate: false,
                    opener,
                };
                let opened = self.call(self.fs.open(a.ino, mode))?;
                if flags.truncate && flags.write {
                    let truncated = self.call(self.fs.setattr(a.ino, truncation(0)));
                    if let Err(e) = truncated {
                        // the kernel drops the file it could not truncate: no flush
                        self.release(opened.fh);
                        return Err(e);
                    }
                }
                let open = Open {
                    ino: a.ino,
                    dir: false,
                    write: flags.write,
                };
                (opened.fh, open)
            }
        };
        self.open.insert(fh, open);
        Ok(fh)
    }

    fn write_at(&mut self, fh: u64, off: u64, data: &[u8]) -> Res<()> {
        if !self.handle(fh).write {
            return Err(libc::EBADF);
        }
        let mut at = off;
        for piece in data.chunks(MAX_IO) {
            let n = self.call(self.fs.write(fh, at, Bytes::copy_from_slice(piece)))?;
            assert_eq!(n as usize, piece.len(), "short write of fh {fh} at {at}");
            at += n as u64;
        }
        Ok(())
    }

    fn read_at(&mut self, fh: u64, off: u64, len: usize) -> Res<Vec<u8>> {
        if self.handle(fh).dir {
            return Err(libc::EISDIR);
        }
        let mut buf = Vec::new();
        while buf.len() < len {
            let want = (len - buf.len()).min(MAX_IO) as u32;
            let got = self.call(self.fs.read(fh, off + buf.len() as u64, want))?;
            if got.is_empty() {
                break;
            }
            buf.extend_from_slice(&got);
        }
        Ok(buf)
    }

    fn set_len(&mut self, fh: u64, len: u64) -> Res<()> {
        let h = self.handle(fh);
        if h.dir || !h.write {
            return Err(libc::EINVAL);
        }
        let ino = h.ino;
        self.call(self.fs.setattr(ino, truncation(len))).map(|_| ())
    }

    fn fsync(&mut self, fh: u64) -> Res<()> {
        let h = self.handle(fh);
        if h.dir {
            // fsyncdir: waits for the markers mkdir still stores in the background
            let ino = h.ino;
            return self.call(self.fs.fsync_dir(ino));
        }
        self.call(self.fs.fsync(fh))
    }

    fn close(&mut self, fh: u64) -> Res<()> {
        let open = self.open.remove(&fh).expect("open handle");
        let flushed = if open.dir {
            Ok(())
        } else {
            self.call(self.fs.flush(fh, Some(PID)))
        };
        self.release(fh);
        if !self.open.values().any(|o| o.ino == open.ino) && self.removed.remove(&open.ino) {
            self.forget(open.ino);
        }
        flushed
    }

    fn read_file(&mut self, rel: &str) -> Res<Vec<u8>> {
        let fh = self.open(rel, OpenFlags::READ)?;
        let data = self.read_at(fh, 0, usize::MAX);
        let closed = self.close(fh);
        data.and_then(|d| closed.map(|()| d))
    }

    fn truncate(&mut self, rel: &str, len: u64) -> Res<()> {
        let attr = self.lookup(rel)?;
        if attr.kind == NodeKind::Dir {
            return Err(libc::EISDIR);
        }
        let change = SetAttr {
            size: Some(len),
            ..SetAttr::default()
        };
        self.call(self.fs.setattr(attr.ino, change)).map(|_| ())
    }

    fn rename(&mut self, from: &str, to: &str) -> Res<()> {
        let (from_parent, from_name) = self.parent(from)?;
        let (to_parent, to_name) = self.parent(to)?;
        let source = self.lookup_in(from_parent, from_name)?;
        let target = self.find(to_parent, to_name)?;
        if to.starts_with(&format!("{from}/")) {
            return Err(libc::EINVAL);
        }
        if from.starts_with(&format!("{to}/")) {
            return Err(libc::ENOTEMPTY);
        }
        if let Some(t) = &target {
            if t.ino == source.ino {
                return Ok(());
            }
            match (source.kind, t.kind) {
                (NodeKind::Dir, NodeKind::File) => return Err(libc::ENOTDIR),
                (NodeKind::File, NodeKind::Dir) => return Err(libc::EISDIR),
                _ => {}
            }
        }
        self.call(self.fs.rename(
            from_parent,
            OsStr::new(from_name),
            to_parent,
            OsStr::new(to_name),
            false,
        ))?;
        if let Some(t) = target {
            self.name_removed(t.ino);
        }
        Ok(())
    }

    fn unlink(&mut self, rel: &str) -> Res<()> {
        let (parent, name) = self.parent(rel)?;
        let file = self.lookup_in(parent, name)?;
        if file.kind == NodeKind::Dir {
            return Err(libc::EISDIR);
        }
        self.call(self.fs.unlink(parent, OsStr::new(name)))?;
        self.name_removed(file.ino);
        Ok(())
    }

    fn mkdir(&mut self, rel: &str) -> Res<()> {
        let (parent, name) = self.parent(rel)?;
        if self.find(parent, name)?.is_some() {
            return Err(libc::EEXIST);
        }
        let attr = self.call(
            self.fs
                .mkdir(parent, OsStr::new(name), 0o755, self.caller()),
        )?;
        self.entry(attr);
        Ok(())
    }

    fn rmdir(&mut self, rel: &str) -> Res<()> {
        let (parent, name) = self.parent(rel)?;
        let dir = self.lookup_in(parent, name)?;
        if dir.kind != NodeKind::Dir {
            return Err(libc::ENOTDIR);
        }
        self.call(self.fs.rmdir(parent, OsStr::new(name)))?;
        self.name_removed(dir.ino);
        Ok(())
    }

    fn listing(&mut self, rel: &str) -> Res<Vec<Entry>> {
        let dir = self.lookup(rel)?;
        if dir.kind != NodeKind::Dir {
            return Err(libc::ENOTDIR);
        }
        let fh = self.call(self.fs.opendir(dir.ino))?;
        let mut entries = Vec::new();
        let mut offset = 0;
        let read = loop {
            let mut batch = Vec::new();
            let r = self.fs.readdir(dir.ino, fh, offset, true, |e, next| {
                if batch.len() == READDIR_BATCH {
                    return true;
                }
                batch.push((e.clone(), next));
                false
            });
            if let Err(e) = r {
                break Err(errno(e));
            }
            let Some((_, next)) = batch.last() else {
                break Ok(());
            };
            offset = *next;
            for (e, _) in batch {
                if e.name != "." && e.name != ".." {
                    let (kind, size) = stat_of(&self.entry(e.attr));
                    entries.push((e.name, kind, size));
                }
            }
        };
        self.release(fh);
        read?;
        entries.sort();
        Ok(entries)
    }

    fn stat(&mut self, rel: &str) -> Res<Stat> {
        self.lookup(rel).map(|a| stat_of(&a))
    }

    fn drop_caches(&mut self) -> Result<(), String> {
        let held: HashSet<u64> = self.open.values().map(|o| o.ino).collect();
        let files: Vec<u64> = self
            .lookups
            .keys()
            .copied()
            .filter(|ino| !held.contains(ino))
            .filter(|&ino| matches!(self.fs.getattr(ino), Ok(a) if a.kind == NodeKind::File))
            .collect();
        for ino in files {
            self.forget(ino);
        }
        let counted = self.fs.inode_counts().kernel;
        if counted != self.lookups.len() {
            return Err(format!(
                "the fs counts {counted} inodes held by the kernel, which holds {}",
                self.lookups.len()
            ));
        }
        Ok(())
    }

    fn remount(&mut self) -> Result<(), String> {
        assert!(self.open.is_empty(), "remount with files open");
        // an unmount first stores the folder markers mkdir left to the background
        self.runtime
            .block_on(self.fs.store_pending_dirs(Duration::from_secs(60)));
        // the kernel's entries go with the old filesystem
        self.lookups.clear();
        self.fs = Arc::new(SwiftFs::new(
            self.store.clone(),
            self.location.clone(),
            self.config.clone(),
            Default::default(),
        ));
        Ok(())
    }
}
