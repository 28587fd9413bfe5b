//! The filesystem under test, as the model drives it: path-based operations and file
//! handles, every result `Ok` or an errno. [`PathTarget`] does them with `std::fs`
//! under a directory: a local one is the reference every other target is compared
//! with, and a mount point is the mount under test.

use crate::common::files::close_checked;
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub type Res<T> = Result<T, i32>;

/// One entry of a directory: name, kind (`d`, `f`) and size (0 for folders).
pub type Entry = (String, char, u64);

/// Kind (`d`, `f`) and size of a path (0 for folders).
pub type Stat = (char, u64);

pub fn errno<T>(r: io::Result<T>) -> Res<T> {
    r.map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// How `open(2)` is asked to open a file (always for reading, too).
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenFlags {
    pub write: bool,
    /// `O_CREAT`.
    pub create: bool,
    /// `O_TRUNC`.
    pub truncate: bool,
    /// `O_EXCL` (with `O_CREAT`).
    pub excl: bool,
}

impl OpenFlags {
    pub const READ: OpenFlags = OpenFlags {
        write: false,
        create: false,
        truncate: false,
        excl: false,
    };
}

/// What the model does to a filesystem. Paths are relative to its root (`""` is the
/// root); a handle is the number `open` returned, valid until `close`.
pub trait Target {
    /// What is under test, for a failure's message.
    fn describe(&self) -> String;
    /// Everything it logged so far, for a failure's message (empty if nothing).
    fn log(&self) -> String {
        String::new()
    }
    fn open(&mut self, rel: &str, flags: OpenFlags) -> Res<u64>;
    /// Writes all of `data` at `off`.
    fn write_at(&mut self, fh: u64, off: u64, data: &[u8]) -> Res<()>;
    /// Reads `len` bytes at `off`, fewer only at the end of the file.
    fn read_at(&mut self, fh: u64, off: u64, len: usize) -> Res<Vec<u8>>;
    /// `ftruncate(2)`.
    fn set_len(&mut self, fh: u64, len: u64) -> Res<()>;
    fn fsync(&mut self, fh: u64) -> Res<()>;
    /// `close(2)`, with its result (where a mount reports a failed upload).
    fn close(&mut self, fh: u64) -> Res<()>;
    /// The whole file, as `cat` reads it.
    fn read_file(&mut self, rel: &str) -> Res<Vec<u8>>;
    /// `truncate(2)` on a path.
    fn truncate(&mut self, rel: &str, len: u64) -> Res<()>;
    fn rename(&mut self, from: &str, to: &str) -> Res<()>;
    fn unlink(&mut self, rel: &str) -> Res<()>;
    fn mkdir(&mut self, rel: &str) -> Res<()>;
    fn rmdir(&mut self, rel: &str) -> Res<()>;
    /// A folder's entries, sorted.
    fn listing(&mut self, rel: &str) -> Res<Vec<Entry>>;
    fn stat(&mut self, rel: &str) -> Res<Stat>;
    /// The kernel forgets the inodes it does not need (as under memory pressure),
    /// and whether the filesystem's count of what the kernel holds agrees. Where a
    /// real kernel is in between, it decides that by itself: nothing to do.
    fn drop_caches(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// A cold start with nothing cached (every handle is closed before).
    fn remount(&mut self) -> Result<(), String>;
}

/// The directory a [`PathTarget`] works in, and how to start it again cold.
pub trait Root {
    fn path(&self) -> &Path;
    fn describe(&self) -> String;
    fn log(&self) -> String {
        String::new()
    }
    fn remount(&mut self) -> Result<(), String>;
}

/// The reference: a local directory, which has nothing to start again.
impl Root for tempfile::TempDir {
    fn path(&self) -> &Path {
        tempfile::TempDir::path(self)
    }

    fn describe(&self) -> String {
        format!("local directory {}", self.path().display())
    }

    fn remount(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// `std::fs` and plain syscalls under a [`Root`].
pub struct PathTarget<R: Root> {
    /// Before `root`: closed first, so that a mount can be unmounted after a failure.
    files: HashMap<u64, File>,
    next: u64,
    pub root: R,
}

impl<R: Root> PathTarget<R> {
    pub fn new(root: R) -> Self {
        PathTarget {
            files: HashMap::new(),
            next: 0,
            root,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn file(&self, fh: u64) -> &File {
        &self.files[&fh]
    }

    /// The size of an open file.
    pub fn handle_len(&self, fh: u64) -> u64 {
        self.file(fh).metadata().unwrap().len()
    }
}

impl<R: Root> Target for PathTarget<R> {
    fn describe(&self) -> String {
        self.root.describe()
    }

    fn log(&self) -> String {
        self.root.log()
    }

    fn open(&mut self, rel: &str, flags: OpenFlags) -> Res<u64> {
        let mut o = OpenOptions::new();
        o.read(true).write(flags.write);
        if flags.excl {
            o.create_new(true);
        } else {
            o.create(flags.create).truncate(flags.truncate);
        }
        let f = errno(o.open(self.path(rel)))?;
        self.next += 1;
        self.files.insert(self.next, f);
        Ok(self.next)
    }

    fn write_at(&mut self, fh: u64, off: u64, data: &[u8]) -> Res<()> {
        errno(self.file(fh).write_all_at(data, off))
    }

    fn read_at(&mut self, fh: u64, off: u64, len: usize) -> Res<Vec<u8>> {
        let f = self.file(fh);
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match errno(f.read_at(&mut buf[got..], off + got as u64))? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    fn set_len(&mut self, fh: u64, len: u64) -> Res<()> {
        errno(self.file(fh).set_len(len))
    }

    fn fsync(&mut self, fh: u64) -> Res<()> {
        errno(self.file(fh).sync_all())
    }

    fn close(&mut self, fh: u64) -> Res<()> {
        // dropping a File would hide the errors of a FUSE flush
        errno(close_checked(self.files.remove(&fh).expect("open handle")))
    }

    fn read_file(&mut self, rel: &str) -> Res<Vec<u8>> {
        errno(fs::read(self.path(rel)))
    }

    fn truncate(&mut self, rel: &str, len: u64) -> Res<()> {
        let c = CString::new(self.path(rel).as_os_str().as_bytes()).unwrap();
        // SAFETY: plain syscall with a valid NUL-terminated path.
        if unsafe { libc::truncate(c.as_ptr(), len as libc::off_t) } == 0 {
            Ok(())
        } else {
            errno(Err(io::Error::last_os_error()))
        }
    }

    fn rename(&mut self, from: &str, to: &str) -> Res<()> {
        errno(fs::rename(self.path(from), self.path(to)))
    }

    fn unlink(&mut self, rel: &str) -> Res<()> {
        errno(fs::remove_file(self.path(rel)))
    }

    fn mkdir(&mut self, rel: &str) -> Res<()> {
        errno(fs::create_dir(self.path(rel)))
    }

    fn rmdir(&mut self, rel: &str) -> Res<()> {
        errno(fs::remove_dir(self.path(rel)))
    }

    fn listing(&mut self, rel: &str) -> Res<Vec<Entry>> {
        let mut v = Vec::new();
        for e in errno(fs::read_dir(self.path(rel)))? {
            let e = errno(e)?;
            let name = e.file_name().into_string().expect("UTF-8 name");
            let (kind, size) = errno(stat(&e.path()))?;
            v.push((name, kind, size));
        }
        v.sort();
        Ok(v)
    }

    fn stat(&mut self, rel: &str) -> Res<Stat> {
        errno(stat(&self.path(rel)))
    }

    fn remount(&mut self) -> Result<(), String> {
        assert!(self.files.is_empty(), "remount with files open");
        self.root.remount()
    }
}

fn stat(p: &Path) -> io::Result<Stat> {
    let md = fs::symlink_metadata(p)?;
    Ok(if md.is_dir() {
        ('d', 0)
    } else if md.is_file() {
        ('f', md.len())
    } else {
        ('?', 0)
    })
}
