//! The fuser adapter: copies the kernel's arguments, runs the filesystem call on the
//! tokio runtime, and answers from the task. Errors become errno here, and are
//! logged here, once, with the operation and inode.

use crate::fs::{
    Attr, Caller, FsError, NodeKind, OpenMode, SetAttr, SwiftFs, XattrWrite, is_user_xattr,
};
use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, IoctlFlags, KernelConfig, LockOwner, Notifier, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry,
    ReplyIoctl, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// Largest read the kernel may send (it also caps its read-ahead at this), and
/// largest write.
const MAX_IO: u32 = 1 << 20;

/// How long an unmount waits for folder markers still being stored.
const UNMOUNT_MARKER_WAIT: Duration = Duration::from_secs(60);

pub struct FuseAdapter {
    fs: Arc<SwiftFs>,
    runtime: tokio::runtime::Handle,
    /// Set once the session exists (the session is made from the adapter).
    notifier: Arc<OnceLock<Notifier>>,
}

/// The replies that can carry an error.
trait ErrorReply: Send + 'static {
    fn fail(self, e: Errno);
}

macro_rules! error_reply {
    ($($t:ty),*) => {$(
        impl ErrorReply for $t {
            fn fail(self, e: Errno) {
                self.error(e)
            }
        }
    )*};
}
error_reply!(
    ReplyAttr,
    ReplyCreate,
    ReplyWrite,
    ReplyData,
    ReplyDirectory,
    ReplyDirectoryPlus,
    ReplyEmpty,
    ReplyEntry,
    ReplyOpen,
    ReplyStatfs,
    ReplyXattr
);

fn log_error(op: &str, ino: u64, e: &FsError) {
    match e {
        // asked for often, and normal: `ls x` of a missing x, editors probing files,
        // tools asking for attributes a file does not have
        FsError::NotFound
        | FsError::Exists
        | FsError::NotEmpty
        | FsError::NoAttribute
        | FsError::XattrNamespace => {
            log::debug!("{op} ino {ino}: {e}")
        }
        _ => log::warn!("{op} ino {ino}: {e}"),
    }
}

impl FuseAdapter {
    pub fn new(
        fs: Arc<SwiftFs>,
        runtime: tokio::runtime::Handle,
        notifier: Arc<OnceLock<Notifier>>,
    ) -> Self {
        FuseAdapter {
            fs,
            runtime,
            notifier,
        }
    }

    /// Runs `work` on the runtime; `done` replies with its value, errors reply errno.
    fn run<R, T, W, Fut>(
        &self,
        op: &'static str,
        ino: u64,
        reply: R,
        work: W,
        done: impl FnOnce(&SwiftFs, R, T) + Send + 'static,
    ) where
        R: ErrorReply,
        T: Send + 'static,
        W: FnOnce(Arc<SwiftFs>) -> Fut,
        Fut: Future<Output = Result<T, FsError>> + Send + 'static,
    {
        let fs = self.fs.clone();
        let fut = work(fs.clone());
        self.runtime.spawn(async move {
            match fut.await {
                Ok(v) => done(&fs, reply, v),
                Err(e) => {
                    log_error(op, ino, &e);
                    reply.fail(Errno::from_i32(e.errno()));
                }
            }
        });
    }
}

/// Who makes a new file, folder or link.
fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

/// The process (thread-group id) of the thread that sent a request: the kernel gives
/// the thread's id, and threads of one process must count as one. `None` where
/// /proc cannot tell (not Linux, or the thread is gone).
fn process_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Answers a request served from memory, on the kernel's thread.
fn answer<R: ErrorReply, T>(
    op: &str,
    ino: u64,
    reply: R,
    result: Result<T, FsError>,
    done: impl FnOnce(R, T),
) {
    match result {
        Ok(v) => done(reply, v),
        Err(e) => {
            log_error(op, ino, &e);
            reply.fail(Errno::from_i32(e.errno()));
        }
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: a.mtime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 1 << 20,
        flags: 0,
    }
}

fn file_type(k: NodeKind) -> FileType {
    match k {
        NodeKind::File => FileType::RegularFile,
        NodeKind::Dir => FileType::Directory,
        NodeKind::Symlink => FileType::Symlink,
        NodeKind::Fifo => FileType::NamedPipe,
        NodeKind::Socket => FileType::Socket,
    }
}

/// Answers lookup, mkdir, symlink and mknod: the entry the kernel now holds.
fn reply_entry(fs: &SwiftFs, reply: ReplyEntry, attr: Attr) {
    reply.entry(&fs.attr_ttl(), &file_attr(&attr), Generation(0))
}

/// Answers a request that asks for a variable-size value (`getxattr`, `listxattr`):
/// its size when asked with 0, else the value if it fits.
fn reply_sized(reply: ReplyXattr, size: u32, value: &[u8]) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if value.len() <= size as usize {
        reply.data(value);
    } else {
        reply.error(Errno::from_i32(libc::ERANGE));
    }
}

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(max) = config.set_max_readahead(MAX_IO) {
            let _ = config.set_max_readahead(max);
        }
        if let Err(max) = config.set_max_write(MAX_IO) {
            let _ = config.set_max_write(max);
        }
        // readdirplus hands the kernel each entry's attributes with the listing, so
        // `ls -l` of 10,000 files is a few calls instead of 10,000 lookups
        if let Err(missing) = config.add_capabilities(InitFlags::FUSE_DO_READDIRPLUS) {
            log::info!("kernel lacks {missing:?}: listings without attributes");
        }
        Ok(())
    }

    /// Unmounted: the folder markers still being stored are waited for (each one
    /// that cannot be stored is logged), as a clean shutdown of a local disk writes
    /// its folders out.
    fn destroy(&mut self) {
        self.runtime
            .block_on(self.fs.store_pending_dirs(UNMOUNT_MARKER_WAIT));
    }

    // Inodes the kernel no longer holds may go. (fuser 0.18 keeps the type of
    // batch_forget's argument private; its default calls this for each inode.)
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget([(ino.0, nlookup)]);
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        // most lookups follow a listing (ls -l, find, cp -r): answer those at once
        if let Some(result) = self.fs.lookup_cached(parent.0, name) {
            let ttl = self.fs.attr_ttl();
            return answer("lookup", parent.0, reply, result, |reply, attr| {
                reply.entry(&ttl, &file_attr(&attr), Generation(0))
            });
        }
        let name = name.to_owned();
        self.run(
            "lookup",
            parent.0,
            reply,
            |fs| async move { fs.lookup(parent.0, &name).await },
            reply_entry,
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        // answered from memory, on the kernel's thread: no task, no network
        let ttl = self.fs.attr_ttl();
        answer(
            "getattr",
            ino.0,
            reply,
            self.fs.getattr(ino.0),
            |reply, attr| reply.attr(&ttl, &file_attr(&attr)),
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mtime = mtime.map(|t| match t {
            TimeOrNow::SpecificTime(t) => t,
            TimeOrNow::Now => SystemTime::now(),
        });
        let change = SetAttr {
            size,
            mtime,
            mode,
            uid,
            gid,
        };
        self.run(
            "setattr",
            ino.0,
            reply,
            |fs| async move { fs.setattr(ino.0, change).await },
            |fs, reply, attr| reply.attr(&fs.attr_ttl(), &file_attr(&attr)),
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        let who = caller(req);
        self.run(
            "mkdir",
            parent.0,
            reply,
            |fs| async move { fs.mkdir(parent.0, &name, mode & !umask, who).await },
            reply_entry,
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.run(
            "unlink",
            parent.0,
            reply,
            |fs| async move { fs.unlink(parent.0, &name).await },
            |_, reply, ()| reply.ok(),
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.run(
            "rmdir",
            parent.0,
            reply,
            |fs| async move { fs.rmdir(parent.0, &name).await },
            |_, reply, ()| reply.ok(),
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            reply.error(Errno::from_i32(libc::EINVAL));
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let (name, newname) = (name.to_owned(), newname.to_owned());
        self.run(
            "rename",
            parent.0,
            reply,
            |fs| async move {
                fs.rename(parent.0, &name, newparent.0, &newname, no_replace)
                    .await
            },
            |_, reply, ()| reply.ok(),
        );
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let name = name.to_owned();
        let exclusive = flags & libc::O_EXCL != 0;
        let opener = process_of(req.pid());
        let who = caller(req);
        let mode = mode & !umask;
        self.run(
            "create",
            parent.0,
            reply,
            |fs| async move {
                fs.create(parent.0, &name, exclusive, opener, mode, who)
                    .await
            },
            |fs, reply, (attr, opened)| {
                reply.created(
                    &fs.attr_ttl(),
                    &file_attr(&attr),
                    Generation(0),
                    FileHandle(opened.fh),
                    FopenFlags::empty(),
                )
            },
        );
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        // the one copy out of the kernel's buffer; the bytes go on as they are
        let data = bytes::Bytes::copy_from_slice(data);
        self.run(
            "write",
            ino.0,
            reply,
            |fs| async move { fs.write(fh.0, offset, data).await },
            |_, reply, n| reply.written(n),
        );
    }

    fn flush(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let closer = process_of(req.pid());
        self.run(
            "flush",
            ino.0,
            reply,
            |fs| async move { fs.flush(fh.0, closer).await },
            |_, reply, ()| reply.ok(),
        );
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.run(
            "fsync",
            ino.0,
            reply,
            |fs| async move { fs.fsync(fh.0).await },
            |_, reply, ()| reply.ok(),
        );
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.run(
            "opendir",
            ino.0,
            reply,
            |fs| async move { fs.opendir(ino.0).await },
            |_, reply, fh| reply.opened(FileHandle(fh), FopenFlags::empty()),
        );
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        // entries go straight into the kernel's buffer until it is full; the kernel
        // asks again from the last offset it got
        let result = self.fs.readdir(ino.0, fh.0, offset, false, |e, next| {
            reply.add(INodeNo(e.attr.ino), next, file_type(e.attr.kind), &e.name)
        });
        answer("readdir", ino.0, reply, result, |reply, ()| reply.ok());
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let ttl = self.fs.attr_ttl();
        let result = self.fs.readdir(ino.0, fh.0, offset, true, |e, next| {
            let attr = file_attr(&e.attr);
            reply.add(
                INodeNo(e.attr.ino),
                next,
                &e.name,
                &ttl,
                &attr,
                Generation(0),
            )
        });
        answer("readdirplus", ino.0, reply, result, |reply, ()| reply.ok());
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.release_dir(fh.0);
        reply.ok();
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mode = OpenMode {
            write: flags.0 & libc::O_ACCMODE != libc::O_RDONLY,
            truncate: flags.0 & libc::O_TRUNC != 0,
            opener: process_of(req.pid()),
        };
        let notifier = self.notifier.clone();
        self.run(
            "open",
            ino.0,
            reply,
            |fs| async move { fs.open(ino.0, mode).await },
            move |_, reply, opened| {
                if opened.attr_changed {
                    // Before the reply, so the first read or fstat already asks for
                    // the new size. Safe here: an open holds no page of the inode.
                    if let Some(Err(e)) = notifier.get().map(|n| n.inval_inode(ino, 0, 0)) {
                        log::warn!(
                            "open ino {}: could not refresh the kernel's attributes: {e}",
                            ino.0
                        );
                    }
                }
                let flags = if opened.keep_cache {
                    FopenFlags::FOPEN_KEEP_CACHE
                } else {
                    FopenFlags::empty()
                };
                reply.opened(FileHandle(opened.fh), flags)
            },
        );
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.run(
            "read",
            ino.0,
            reply,
            |fs| async move { fs.read(fh.0, offset, size).await },
            |_, reply, bytes| reply.data(&bytes),
        );
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // the last handle of a changed file may still upload: answer once it has
        let fs = self.fs.clone();
        self.runtime.spawn(async move {
            fs.release(fh.0).await;
            reply.ok();
        });
    }

    // Every folder change but mkdir's marker is in Swift when its call returns; the
    // markers still being stored in this folder or for it are waited for here.
    // (borg and others fsync directories after renames.)
    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.run(
            "fsyncdir",
            ino.0,
            reply,
            |fs| async move { fs.fsync_dir(ino.0).await },
            |_, reply, ()| reply.ok(),
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (name, target) = (link_name.to_owned(), target.as_os_str().to_owned());
        let who = caller(req);
        self.run(
            "symlink",
            parent.0,
            reply,
            |fs| async move { fs.symlink(parent.0, &name, &target, who).await },
            reply_entry,
        );
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.run(
            "readlink",
            ino.0,
            reply,
            |fs| async move { fs.readlink(ino.0).await },
            |_, reply, target| reply.data(target.as_bytes()),
        );
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        let who = caller(req);
        self.run(
            "mknod",
            parent.0,
            reply,
            |fs| async move { fs.mknod(parent.0, &name, mode & !umask, who).await },
            reply_entry,
        );
    }

    // Each object is one name: hard links cannot be stored (docs/SEMANTICS.md).
    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::from_i32(libc::EPERM));
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if !is_user_xattr(name) {
            // the kernel asks for security.capability before writes: no task for that
            return reply.error(Errno::from_i32(libc::ENOTSUP));
        }
        let name = name.to_owned();
        self.run(
            "getxattr",
            ino.0,
            reply,
            |fs| async move { fs.getxattr(ino.0, &name).await },
            move |_, reply, value| reply_sized(reply, size, &value),
        );
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.run(
            "listxattr",
            ino.0,
            reply,
            |fs| async move { fs.listxattr(ino.0).await },
            move |_, reply, names| {
                let mut list = Vec::new();
                for n in names {
                    list.extend_from_slice(n.as_bytes());
                    list.push(0);
                }
                reply_sized(reply, size, &list)
            },
        );
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let how = if flags & libc::XATTR_CREATE != 0 {
            XattrWrite::Create
        } else if flags & libc::XATTR_REPLACE != 0 {
            XattrWrite::Replace
        } else {
            XattrWrite::Either
        };
        let (name, value) = (name.to_owned(), value.to_vec());
        self.run(
            "setxattr",
            ino.0,
            reply,
            |fs| async move { fs.setxattr(ino.0, &name, &value, how).await },
            |_, reply, ()| reply.ok(),
        );
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.run(
            "removexattr",
            ino.0,
            reply,
            |fs| async move { fs.removexattr(ino.0, &name).await },
            |_, reply, ()| reply.ok(),
        );
    }

    // Terminal and filesystem ioctls mean nothing here (Python probes TCGETS on open).
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::from_i32(libc::ENOTTY));
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        self.run(
            "statfs",
            ino.0,
            reply,
            |fs| async move { fs.statfs().await },
            |_, reply, s| {
                reply.statfs(
                    s.blocks,
                    s.bfree,
                    s.bfree,
                    s.files,
                    s.ffree,
                    s.block_size,
                    s.name_max,
                    s.block_size,
                )
            },
        );
    }
}
