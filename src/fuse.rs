//! The fuser adapter: copies the kernel's arguments, runs the filesystem call on the
//! tokio runtime, and answers from the task. Errors become errno here, and are
//! logged here, once, with the operation and inode.

use crate::fs::{Attr, FsError, NodeKind, SwiftFs};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, Request,
};
use std::ffi::OsStr;
use std::future::Future;
use std::sync::Arc;

/// Largest read the kernel may send (it also caps its read-ahead at this).
const MAX_READ: u32 = 1 << 20;

pub struct FuseAdapter {
    fs: Arc<SwiftFs>,
    runtime: tokio::runtime::Handle,
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
    ReplyData,
    ReplyDirectory,
    ReplyEmpty,
    ReplyEntry,
    ReplyOpen,
    ReplyStatfs
);

fn log_error(op: &str, ino: u64, e: &FsError) {
    match e {
        // asked for often, and normal: `ls x` of a missing x, editors probing files
        FsError::NotFound => log::debug!("{op} ino {ino}: {e}"),
        _ => log::warn!("{op} ino {ino}: {e}"),
    }
}

impl FuseAdapter {
    pub fn new(fs: Arc<SwiftFs>, runtime: tokio::runtime::Handle) -> Self {
        FuseAdapter { fs, runtime }
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
    }
}

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(max) = config.set_max_readahead(MAX_READ) {
            let _ = config.set_max_readahead(max);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_owned();
        self.run(
            "lookup",
            parent.0,
            reply,
            |fs| async move { fs.lookup(parent.0, &name).await },
            |fs, reply, attr| reply.entry(&fs.attr_ttl(), &file_attr(&attr), Generation(0)),
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.fs.getattr(ino.0) {
            Ok(attr) => reply.attr(&self.fs.attr_ttl(), &file_attr(&attr)),
            Err(e) => {
                log_error("getattr", ino.0, &e);
                reply.error(Errno::from_i32(e.errno()));
            }
        }
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
        match self.fs.readdir(ino.0, fh.0, offset) {
            Ok(entries) => {
                for (i, e) in entries.iter().enumerate() {
                    let next = offset + i as u64 + 1;
                    if reply.add(INodeNo(e.ino), next, file_type(e.kind), &e.name) {
                        break; // the kernel's buffer is full; it asks again from `next`
                    }
                }
                reply.ok();
            }
            Err(e) => {
                log_error("readdir", ino.0, &e);
                reply.error(Errno::from_i32(e.errno()));
            }
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.release_handle(fh.0);
        reply.ok();
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
            log_error("open", ino.0, &FsError::ReadOnly);
            reply.error(Errno::from_i32(FsError::ReadOnly.errno()));
            return;
        }
        self.run(
            "open",
            ino.0,
            reply,
            |fs| async move { fs.open(ino.0).await },
            |_, reply, opened| {
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
        self.fs.release_handle(fh.0);
        reply.ok();
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
