//! A model test in the style of fsx: a seeded random sequence of file operations is
//! applied to the mount and to a local directory side by side, and after every step
//! the results (Ok or the same errno) and the state of what was touched must agree;
//! every few steps, and after each remount (cold cache), the whole trees are compared
//! byte for byte.
//!
//! Only what docs/SEMANTICS.md promises is generated: regular files and folders (no
//! links, xattrs or modes), names of valid UTF-8 without `/`.
//!
//! `SWIFTMOUNT_MODEL_SEED` picks the sequence (default 1), `SWIFTMOUNT_MODEL_OPS` its
//! length (default 1000), `SWIFTMOUNT_MODEL_VERBOSE=1` mounts with `-vv`,
//! `SWIFTMOUNT_MODEL_HISTORY` is how many operations a failure shows (default 20),
//! `SWIFTMOUNT_MODEL_LOG=FILE` keeps the whole mount log of a failed run,
//! `SWIFTMOUNT_MODEL_TTL` sets `--dir-cache-ttl` (default: 1, 2 or 30 by seed). A mismatch
//! panics with the seed, the step and the last operations, so it can be replayed.

mod common;

use common::files::close_checked;
use common::lab::{self, TestContainer};
use common::mount::Mount;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::ffi::CString;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Small segments so that a large file is a few segments only.
const SEGMENT_MIB: &str = "8";
/// Files over this are streamed into segments when written sequentially.
const STREAM_LIMIT: u64 = 8 << 20;
/// Names for files and folders alike, so that kinds collide.
const NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "notes.txt",
    "x y z",
    "été",
    "数据 1",
    ".hidden",
];
/// Folders deeper than this are not made.
const MAX_DEPTH: usize = 3;
/// Files kept open at once, at most.
const MAX_HANDLES: usize = 4;
/// A full comparison of both trees every this many steps.
const FULL_EVERY: usize = 25;
/// Small files stay below this (writes and truncates past it are clamped).
const SMALL_MAX: u64 = 256 << 10;
/// Large files (streamed path) written in one run, at most.
const LARGE_BUDGET: usize = 3;
/// Operations shown on a mismatch.
const HISTORY: usize = 20;
/// Lines of the mount's log shown on a mismatch.
const LOG_TAIL: usize = 60;

type Res<T> = Result<T, i32>;

fn errno<T>(r: io::Result<T>) -> Res<T> {
    r.map_err(|e| e.raw_os_error().unwrap_or(-1))
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

fn depth(rel: &str) -> usize {
    if rel.is_empty() {
        0
    } else {
        rel.matches('/').count() + 1
    }
}

/// `close(2)` with its result as an errno: dropping a `File` hides errors of the
/// FUSE flush.
fn close(f: File) -> Res<()> {
    errno(close_checked(f))
}

/// `truncate(2)` on a path.
fn truncate_path(p: &Path, len: u64) -> io::Result<()> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: plain syscall with a valid NUL-terminated path.
    if unsafe { libc::truncate(c.as_ptr(), len as libc::off_t) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One directory's entries: name, kind (`d`, `f`) and size of files.
fn listing(dir: &Path) -> io::Result<Vec<(String, char, u64)>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let md = fs::symlink_metadata(e.path())?;
        let name = e.file_name().into_string().expect("UTF-8 name");
        let (kind, size) = if md.is_dir() {
            ('d', 0)
        } else if md.is_file() {
            ('f', md.len())
        } else {
            ('?', 0)
        };
        v.push((name, kind, size));
    }
    v.sort();
    Ok(v)
}

/// Kind and size of a path.
fn stat(p: &Path) -> io::Result<(char, u64)> {
    let md = fs::symlink_metadata(p)?;
    Ok(if md.is_dir() {
        ('d', 0)
    } else {
        ('f', md.len())
    })
}

/// A file open on both sides, as `rel` (its current name).
struct Handle {
    id: usize,
    rel: String,
    local: File,
    mnt: File,
}

struct Model {
    seed: u64,
    rng: StdRng,
    source: String,
    mount_args: Vec<&'static str>,
    local: tempfile::TempDir,
    /// Before `mount`: dropped first, so that a failed run can unmount.
    handles: Vec<Handle>,
    mount: Option<Mount>,
    next_handle: usize,
    history: VecDeque<String>,
    step: usize,
    counts: BTreeMap<&'static str, usize>,
    written: u64,
    verified: u64,
    large_left: usize,
    remounts: usize,
}

impl Model {
    fn mnt(&self, rel: &str) -> PathBuf {
        self.mount.as_ref().expect("mounted").join(rel)
    }

    fn loc(&self, rel: &str) -> PathBuf {
        self.local.path().join(rel)
    }

    fn log(&mut self, kind: &'static str, desc: String) {
        *self.counts.entry(kind).or_default() += 1;
        self.history.push_back(format!("#{} {desc}", self.step));
        if self.history.len() > env_num("SWIFTMOUNT_MODEL_HISTORY", HISTORY as u64) as usize {
            self.history.pop_front();
        }
    }

    /// Adds a detail to the last operation in the history.
    fn note(&mut self, s: String) {
        if let Some(last) = self.history.back_mut() {
            last.push_str(&s);
        }
    }

    fn fail(&self, what: String) -> ! {
        let log = self.mount.as_ref().map(|m| m.log()).unwrap_or_default();
        if let Some(path) = std::env::var_os("SWIFTMOUNT_MODEL_LOG") {
            let _ = fs::write(path, &log);
        }
        let tail: Vec<&str> = log.lines().rev().take(LOG_TAIL).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let history: Vec<&str> = self.history.iter().map(String::as_str).collect();
        panic!(
            "MODEL MISMATCH (seed {seed}, step {step}, mount {args:?}): {what}\n\
             replay: SWIFTMOUNT_MODEL_SEED={seed} SWIFTMOUNT_MODEL_OPS={ops}\n\
             last operations:\n  {hist}\n\
             mount log (tail):\n{tail}",
            seed = self.seed,
            step = self.step,
            args = self.mount_args,
            ops = self.step + 1,
            hist = history.join("\n  "),
            tail = tail.join("\n"),
        );
    }

    fn same<T: PartialEq + Debug>(&self, what: &str, local: &T, mnt: &T) {
        if local != mnt {
            self.fail(format!("{what}: local {local:?}, mount {mnt:?}"));
        }
    }

    fn same_bytes(&mut self, what: &str, local: &Res<Vec<u8>>, mnt: &Res<Vec<u8>>) {
        match (local, mnt) {
            (Ok(l), Ok(m)) if l == m => self.verified += l.len() as u64,
            (Ok(l), Ok(m)) => {
                let first = l.iter().zip(m.iter()).position(|(a, b)| a != b);
                self.fail(format!(
                    "{what}: contents differ: local {} bytes, mount {} bytes, first difference at {:?}",
                    l.len(),
                    m.len(),
                    first
                ))
            }
            _ => self.same(
                what,
                &local.as_ref().map(Vec::len),
                &mnt.as_ref().map(Vec::len),
            ),
        }
    }

    /// Files and folders (the root `""` included) of the local tree, sorted.
    fn tree(&self) -> (Vec<String>, Vec<String>) {
        let mut files = Vec::new();
        let mut dirs = vec![String::new()];
        let mut todo = vec![String::new()];
        while let Some(d) = todo.pop() {
            for (name, kind, _) in listing(&self.loc(&d)).unwrap() {
                let rel = join(&d, &name);
                if kind == 'd' {
                    dirs.push(rel.clone());
                    todo.push(rel);
                } else {
                    files.push(rel);
                }
            }
        }
        files.sort();
        dirs.sort();
        (files, dirs)
    }

    fn local_size(&self, rel: &str) -> u64 {
        fs::metadata(self.loc(rel)).map(|m| m.len()).unwrap_or(0)
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.rng.random_range(0..v.len())].clone()
    }

    fn name(&mut self) -> &'static str {
        NAMES[self.rng.random_range(0..NAMES.len())]
    }

    /// A path for something new: an existing folder (rarely a missing one) and a name
    /// (possibly already taken).
    fn new_path(&mut self, dirs: &[String]) -> String {
        if self.rng.random_bool(0.03) {
            return join("no such folder", self.name());
        }
        let d = self.pick(dirs);
        let n = self.name();
        join(&d, n)
    }

    /// Any path: mostly existing, sometimes missing.
    fn any_path(&mut self, files: &[String], dirs: &[String]) -> String {
        let all: Vec<String> = files
            .iter()
            .chain(dirs.iter().filter(|d| !d.is_empty()))
            .cloned()
            .collect();
        if all.is_empty() || self.rng.random_bool(0.2) {
            self.new_path(dirs)
        } else {
            self.pick(&all)
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        if self.rng.random_bool(0.7) {
            self.rng.fill(&mut v[..]);
        } else {
            let b: u8 = self.rng.random();
            v.fill(b);
        }
        v
    }

    /// Kind, size and (for files) bytes of one path on both sides.
    fn compare_path(&mut self, rel: &str) {
        let l = errno(stat(&self.loc(rel)));
        let m = errno(stat(&self.mnt(rel)));
        self.same(&format!("stat {rel:?}"), &l, &m);
        if let Ok(('f', _)) = l {
            let lb = errno(fs::read(self.loc(rel)));
            let mb = errno(fs::read(self.mnt(rel)));
            self.same_bytes(&format!("contents of {rel:?}"), &lb, &mb);
        }
    }

    fn compare_dir(&mut self, rel: &str) {
        let l = errno(listing(&self.loc(rel)));
        let m = errno(listing(&self.mnt(rel)));
        self.same(&format!("listing of {rel:?}"), &l, &m);
    }

    /// Both trees, every name, kind, size and byte.
    fn full_compare(&mut self, why: &str) {
        let mut todo = vec![String::new()];
        while let Some(d) = todo.pop() {
            let l = errno(listing(&self.loc(&d)));
            let m = errno(listing(&self.mnt(&d)));
            self.same(&format!("listing of {d:?} ({why})"), &l, &m);
            for (name, kind, _) in l.unwrap() {
                let rel = join(&d, &name);
                if kind == 'd' {
                    todo.push(rel);
                } else {
                    let lb = errno(fs::read(self.loc(&rel)));
                    let mb = errno(fs::read(self.mnt(&rel)));
                    self.same_bytes(&format!("contents of {rel:?} ({why})"), &lb, &mb);
                }
            }
        }
        *self.counts.entry("full-compare").or_default() += 1;
    }

    fn open_both(&self, rel: &str, create: bool, truncate: bool, excl: bool) -> Res<(File, File)> {
        let open = |p: &Path| {
            let mut o = OpenOptions::new();
            o.read(true).write(true);
            if excl {
                o.create_new(true);
            } else {
                o.create(create).truncate(truncate);
            }
            o.open(p)
        };
        let m = errno(open(&self.mnt(rel)));
        let l = errno(open(&self.loc(rel)));
        self.same(
            &format!("open {rel:?} create={create} truncate={truncate} excl={excl}"),
            &l.as_ref().map(|_| ()).map_err(|e| *e),
            &m.as_ref().map(|_| ()).map_err(|e| *e),
        );
        match (l, m) {
            (Ok(l), Ok(m)) => Ok((l, m)),
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(e),
        }
    }

    fn add_handle(&mut self, rel: String, local: File, mnt: File) -> usize {
        let id = self.next_handle;
        self.next_handle += 1;
        self.handles.push(Handle {
            id,
            rel,
            local,
            mnt,
        });
        id
    }

    fn close_handle(&mut self, i: usize) {
        let h = self.handles.remove(i);
        let m = close(h.mnt);
        let l = close(h.local);
        self.same(&format!("close h{} ({:?})", h.id, h.rel), &l, &m);
    }

    /// Handles left open on a file whose name went (unlinked or replaced by a rename):
    /// written to (or not), then closed; the name must not change because of them.
    fn close_orphans(&mut self, ids: &[usize], rel: &str) {
        while let Some(i) = self.handles.iter().position(|h| ids.contains(&h.id)) {
            if self.rng.random_bool(0.5) {
                let off = self.rng.random_range(0..4096u64);
                let n = self.rng.random_range(1..4096);
                let data = self.bytes(n);
                let h = &self.handles[i];
                let m = errno(h.mnt.write_all_at(&data, off));
                let l = errno(h.local.write_all_at(&data, off));
                let id = h.id;
                self.note(format!(
                    "; orphan h{id} write {} @ {off}: {m:?}",
                    data.len()
                ));
                self.same(&format!("write to orphaned h{id}"), &l, &m);
            }
            let id = self.handles[i].id;
            self.note(format!("; close orphan h{id}"));
            self.close_handle(i);
        }
        self.compare_path(rel);
    }

    // ---- operations ----

    /// Create (or truncate) a file, write it from start to end, close it. Sometimes
    /// large, to take the streamed path.
    fn op_write_whole(&mut self, dirs: &[String], files: &[String]) {
        let rel = if !files.is_empty() && self.rng.random_bool(0.3) {
            self.pick(files)
        } else {
            self.new_path(dirs)
        };
        let large_now = files
            .iter()
            .filter(|f| self.local_size(f) > STREAM_LIMIT)
            .count();
        let size = if self.large_left > 0 && large_now < 2 && self.rng.random_bool(0.08) {
            self.large_left -= 1;
            STREAM_LIMIT + self.rng.random_range(1..(9 << 20))
        } else {
            match self.rng.random_range(0..10) {
                0 => 0,
                1..=6 => self.rng.random_range(1..16 << 10),
                _ => self.rng.random_range(16 << 10..SMALL_MAX),
            }
        };
        let excl = self.rng.random_bool(0.2);
        self.log(
            "write-whole",
            format!("write whole {rel:?} ({size} bytes, excl={excl})"),
        );
        let Ok((mut l, mut m)) = self.open_both(&rel, true, true, excl) else {
            return;
        };
        let chunk_max = if size > STREAM_LIMIT {
            1 << 20
        } else {
            64 << 10
        };
        let mut done = 0u64;
        while done < size {
            let n = self.rng.random_range(1..=chunk_max).min(size - done);
            let data = self.bytes(n as usize);
            let mr = errno(m.write_all(&data));
            let lr = errno(l.write_all(&data));
            self.same(&format!("write of {rel:?} at {done}"), &lr, &mr);
            done += n;
            self.written += n;
        }
        let mr = close(m);
        let lr = close(l);
        self.same(&format!("close of {rel:?}"), &lr, &mr);
        self.compare_path(&rel);
    }

    /// Create a file and keep it open.
    fn op_create_open(&mut self, dirs: &[String]) {
        let rel = self.new_path(dirs);
        let excl = self.rng.random_bool(0.3);
        self.log("create-open", format!("create+open {rel:?} excl={excl}"));
        if let Ok((l, m)) = self.open_both(&rel, true, true, excl) {
            let id = self.add_handle(rel.clone(), l, m);
            self.note(format!(" -> h{id}"));
        }
        self.compare_dir(parent_of(&rel));
    }

    /// Open an existing file (sometimes a folder or a missing name) read-write.
    fn op_open(&mut self, files: &[String], dirs: &[String]) {
        let rel = if !files.is_empty() && self.rng.random_bool(0.85) {
            self.pick(files)
        } else {
            self.any_path(files, dirs)
        };
        let truncate = self.rng.random_bool(0.1);
        self.log("open", format!("open {rel:?} truncate={truncate}"));
        if let Ok((l, m)) = self.open_both(&rel, false, truncate, false) {
            let id = self.add_handle(rel.clone(), l, m);
            self.note(format!(" -> h{id}"));
        }
    }

    fn handle_size(&self, i: usize) -> u64 {
        self.handles[i].local.metadata().unwrap().len()
    }

    /// A write through an open handle: appending, inside, or past the end (a hole).
    fn op_handle_write(&mut self, i: usize) {
        let size = self.handle_size(i);
        let off = match self.rng.random_range(0..10) {
            0..=3 => size,
            4..=7 => self.rng.random_range(0..=size),
            _ => size + self.rng.random_range(1..64 << 10),
        };
        let off = if size <= SMALL_MAX {
            off.min(SMALL_MAX)
        } else {
            off.min(size)
        };
        let len = self.rng.random_range(1..32 << 10);
        let data = self.bytes(len);
        let h = &self.handles[i];
        let (id, rel) = (h.id, h.rel.clone());
        self.log(
            "write",
            format!("h{id} ({rel:?}, size {size}) write {len} @ {off}"),
        );
        let h = &self.handles[i];
        let m = errno(h.mnt.write_all_at(&data, off));
        let l = errno(h.local.write_all_at(&data, off));
        self.same(&format!("write h{id}"), &l, &m);
        self.written += len as u64;
        if self.rng.random_bool(0.3) {
            self.compare_path(&rel);
        }
    }

    fn op_handle_read(&mut self, i: usize) {
        let size = self.handle_size(i);
        let off = if self.rng.random_bool(0.9) {
            self.rng.random_range(0..=size)
        } else {
            size + self.rng.random_range(0..10_000)
        };
        let len = self.rng.random_range(1..64 << 10);
        let h = &self.handles[i];
        let (id, rel) = (h.id, h.rel.clone());
        self.log(
            "read",
            format!("h{id} ({rel:?}, size {size}) read {len} @ {off}"),
        );
        let h = &self.handles[i];
        let read = |f: &File| {
            let mut buf = vec![0u8; len];
            let mut got = 0;
            loop {
                match f.read_at(&mut buf[got..], off + got as u64) {
                    Ok(0) => break,
                    Ok(n) => {
                        got += n;
                        if got == len {
                            break;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(got);
            Ok(buf)
        };
        let m = errno(read(&h.mnt));
        let l = errno(read(&h.local));
        self.same_bytes(&format!("read h{id} ({rel:?}) {len} @ {off}"), &l, &m);
    }

    fn op_handle_truncate(&mut self, i: usize) {
        let size = self.handle_size(i);
        let new = match self.rng.random_range(0..4) {
            0 => 0,
            1 => self.rng.random_range(0..=size),
            _ => (size + self.rng.random_range(0..128 << 10)).min(SMALL_MAX.max(size)),
        };
        let h = &self.handles[i];
        let (id, rel) = (h.id, h.rel.clone());
        self.log(
            "ftruncate",
            format!("h{id} ({rel:?}) ftruncate {size} -> {new}"),
        );
        let h = &self.handles[i];
        let m = errno(h.mnt.set_len(new));
        let l = errno(h.local.set_len(new));
        self.same(&format!("ftruncate h{id}"), &l, &m);
        self.compare_path(&rel);
    }

    fn op_handle_fsync(&mut self, i: usize) {
        let h = &self.handles[i];
        let (id, rel) = (h.id, h.rel.clone());
        self.log("fsync", format!("h{id} ({rel:?}) fsync"));
        let h = &self.handles[i];
        let m = errno(h.mnt.sync_all());
        let l = errno(h.local.sync_all());
        self.same(&format!("fsync h{id}"), &l, &m);
    }

    fn op_handle_close(&mut self, i: usize, reopen: bool) {
        let (id, rel) = (self.handles[i].id, self.handles[i].rel.clone());
        self.log(
            if reopen { "close-reopen" } else { "close" },
            format!(
                "h{id} ({rel:?}) close{}",
                if reopen { "+reopen" } else { "" }
            ),
        );
        self.close_handle(i);
        self.compare_path(&rel);
        if reopen && let Ok((l, m)) = self.open_both(&rel, false, false, false) {
            let id = self.add_handle(rel.clone(), l, m);
            self.note(format!(" -> h{id}"));
        }
    }

    /// Open read-only, read at an offset or the whole file, close.
    fn op_path_read(&mut self, files: &[String], dirs: &[String]) {
        let rel = if !files.is_empty() && self.rng.random_bool(0.9) {
            self.pick(files)
        } else {
            self.any_path(files, dirs)
        };
        let size = self.local_size(&rel);
        if self.rng.random_bool(0.3) {
            self.log("read-whole", format!("read whole {rel:?}"));
            self.compare_path(&rel);
            return;
        }
        let off = self.rng.random_range(0..=size + 100);
        let len = self.rng.random_range(1..128 << 10);
        self.log("read-path", format!("read {rel:?} {len} @ {off}"));
        let read = |p: &Path| -> io::Result<Vec<u8>> {
            let f = File::open(p)?;
            let mut buf = vec![0u8; len];
            let mut got = 0;
            loop {
                let n = f.read_at(&mut buf[got..], off + got as u64)?;
                got += n;
                if n == 0 || got == len {
                    break;
                }
            }
            buf.truncate(got);
            Ok(buf)
        };
        let m = errno(read(&self.mnt(&rel)));
        let l = errno(read(&self.loc(&rel)));
        self.same_bytes(&format!("read {rel:?} {len} @ {off}"), &l, &m);
    }

    fn op_path_truncate(&mut self, files: &[String], dirs: &[String]) {
        let rel = if !files.is_empty() && self.rng.random_bool(0.9) {
            self.pick(files)
        } else {
            self.any_path(files, dirs)
        };
        let size = self.local_size(&rel);
        let new = match self.rng.random_range(0..4) {
            0 => 0,
            1 => self.rng.random_range(0..=size),
            _ => (size + self.rng.random_range(0..128 << 10)).min(SMALL_MAX.max(size)),
        };
        self.log("truncate", format!("truncate {rel:?} {size} -> {new}"));
        let m = errno(truncate_path(&self.mnt(&rel), new));
        let l = errno(truncate_path(&self.loc(&rel), new));
        self.same(&format!("truncate {rel:?}"), &l, &m);
        self.compare_path(&rel);
    }

    fn op_rename(&mut self, files: &[String], dirs: &[String]) {
        let real_dirs: Vec<String> = dirs.iter().filter(|d| !d.is_empty()).cloned().collect();
        let roll = self.rng.random_range(0..100);
        let (from, to) = if roll < 35 && !files.is_empty() {
            let f = self.pick(files);
            (f, self.new_path(dirs))
        } else if roll < 60 && files.len() >= 2 {
            (self.pick(files), self.pick(files))
        } else if roll < 85 && !real_dirs.is_empty() {
            let d = self.pick(&real_dirs);
            let parents: Vec<String> = dirs
                .iter()
                .filter(|p| *p != &d && !p.starts_with(&format!("{d}/")))
                .filter(|p| depth(p) < MAX_DEPTH)
                .cloned()
                .collect();
            let p = self.pick(&parents);
            let n = self.name();
            (d, join(&p, n))
        } else {
            (self.any_path(files, dirs), self.any_path(files, dirs))
        };
        self.log("rename", format!("rename {from:?} -> {to:?}"));
        let from_kind = stat(&self.loc(&from)).ok().map(|s| s.0);
        let to_kind = stat(&self.loc(&to)).ok().map(|s| s.0);
        let m = errno(fs::rename(self.mnt(&from), self.mnt(&to)));
        let open_below = self
            .handles
            .iter()
            .any(|h| h.rel.starts_with(&format!("{from}/")));
        if m == Err(libc::EBUSY) && from_kind == Some('d') && open_below {
            // documented: a folder with files being written below is not renamed
            self.note(" -> EBUSY (files open below; documented)".into());
            self.compare_path(&from);
            return;
        }
        let l = errno(fs::rename(self.loc(&from), self.loc(&to)));
        self.note(format!(" -> {l:?}"));
        self.same(&format!("rename {from:?} -> {to:?}"), &l, &m);
        if l.is_ok() && from != to {
            if from_kind == Some('f') && to_kind == Some('f') {
                // the target's open handles now hold an unlinked file
                let orphans: Vec<usize> = self
                    .handles
                    .iter()
                    .filter(|h| h.rel == to)
                    .map(|h| h.id)
                    .collect();
                self.close_orphans(&orphans, &to);
            }
            for h in &mut self.handles {
                if h.rel == from {
                    h.rel = to.clone();
                } else if let Some(rest) = h.rel.strip_prefix(&format!("{from}/")) {
                    h.rel = format!("{to}/{rest}");
                }
            }
        }
        self.compare_dir(parent_of(&from));
        self.compare_dir(parent_of(&to));
        self.compare_path(&to);
    }

    fn op_unlink(&mut self, files: &[String], dirs: &[String]) {
        let rel = if !files.is_empty() && self.rng.random_bool(0.85) {
            self.pick(files)
        } else {
            self.any_path(files, dirs)
        };
        self.log("unlink", format!("unlink {rel:?}"));
        let m = errno(fs::remove_file(self.mnt(&rel)));
        let l = errno(fs::remove_file(self.loc(&rel)));
        self.same(&format!("unlink {rel:?}"), &l, &m);
        if l.is_ok() {
            let orphans: Vec<usize> = self
                .handles
                .iter()
                .filter(|h| h.rel == rel)
                .map(|h| h.id)
                .collect();
            self.close_orphans(&orphans, &rel);
        }
        self.compare_dir(parent_of(&rel));
    }

    fn op_mkdir(&mut self, dirs: &[String]) {
        let shallow: Vec<String> = dirs
            .iter()
            .filter(|d| depth(d) < MAX_DEPTH)
            .cloned()
            .collect();
        let rel = if self.rng.random_bool(0.05) {
            self.new_path(dirs)
        } else {
            let p = self.pick(&shallow);
            let n = self.name();
            join(&p, n)
        };
        self.log("mkdir", format!("mkdir {rel:?}"));
        let m = errno(fs::create_dir(self.mnt(&rel)));
        let l = errno(fs::create_dir(self.loc(&rel)));
        self.same(&format!("mkdir {rel:?}"), &l, &m);
        self.compare_dir(parent_of(&rel));
        self.compare_path(&rel);
    }

    fn op_rmdir(&mut self, files: &[String], dirs: &[String]) {
        let real_dirs: Vec<String> = dirs.iter().filter(|d| !d.is_empty()).cloned().collect();
        let rel = if !real_dirs.is_empty() && self.rng.random_bool(0.85) {
            self.pick(&real_dirs)
        } else {
            self.any_path(files, dirs)
        };
        let empty = fs::read_dir(self.loc(&rel)).map(|mut d| d.next().is_none());
        self.log(
            "rmdir",
            format!("rmdir {rel:?} (empty: {:?})", empty.as_ref().ok()),
        );
        let m = errno(fs::remove_dir(self.mnt(&rel)));
        let l = errno(fs::remove_dir(self.loc(&rel)));
        self.same(&format!("rmdir {rel:?}"), &l, &m);
        self.compare_dir(parent_of(&rel));
        self.compare_path(&rel);
    }

    fn close_all(&mut self) {
        while !self.handles.is_empty() {
            let id = self.handles[0].id;
            self.note(format!("; close h{id}"));
            self.close_handle(0);
        }
    }

    fn op_remount(&mut self) {
        self.log("remount", "close everything, unmount, mount again".into());
        self.close_all();
        let m = self.mount.take().expect("mounted");
        let log = m.log();
        let status = m.unmount();
        if !status.success() {
            self.fail(format!("swiftmount exited with {status}; log:\n{log}"));
        }
        self.mount = Some(Mount::new(&self.source, &self.mount_args));
        self.remounts += 1;
        self.full_compare("after remount");
    }

    fn step_once(&mut self) {
        let (files, dirs) = self.tree();
        let n_handles = self.handles.len();
        // bias towards removal when the tree grows
        let crowded = files.len() + dirs.len() > 40;
        let roll = self.rng.random_range(0..120);
        match roll {
            0..=11 => self.op_write_whole(&dirs, &files),
            12..=17 if n_handles < MAX_HANDLES => self.op_create_open(&dirs),
            18..=23 if n_handles < MAX_HANDLES => self.op_open(&files, &dirs),
            24..=63 if n_handles > 0 => {
                let i = self.rng.random_range(0..n_handles);
                match roll {
                    24..=39 => self.op_handle_write(i),
                    40..=48 => self.op_handle_read(i),
                    49..=52 => self.op_handle_truncate(i),
                    53..=55 => self.op_handle_fsync(i),
                    56..=60 => self.op_handle_close(i, false),
                    _ => self.op_handle_close(i, true),
                }
            }
            12..=63 => self.op_create_open(&dirs),
            64..=71 => self.op_path_read(&files, &dirs),
            72..=75 => self.op_path_truncate(&files, &dirs),
            76..=85 => self.op_rename(&files, &dirs),
            86..=93 => self.op_unlink(&files, &dirs),
            94..=100 if !crowded => self.op_mkdir(&dirs),
            94..=100 => self.op_unlink(&files, &dirs),
            101..=106 => self.op_rmdir(&files, &dirs),
            107 => self.op_remount(),
            _ => self.op_path_read(&files, &dirs),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn random_operations_match_a_local_directory() {
    let seed = env_num("SWIFTMOUNT_MODEL_SEED", 1);
    let ops = env_num("SWIFTMOUNT_MODEL_OPS", 1000) as usize;
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "model").await;
    let source = t.name.as_str().to_string();
    // Listings and kernel attributes expire after the TTL: the mount's own changes must
    // survive that, so a short one is part of what is tested.
    let ttl: &'static str = match std::env::var("SWIFTMOUNT_MODEL_TTL") {
        Ok(v) => Box::leak(v.into_boxed_str()),
        // (0, asking Swift for every lookup, is too slow for a default run)
        Err(_) => ["1", "2", "30"][(seed % 3) as usize],
    };
    let run = tokio::task::spawn_blocking(move || {
        let mut mount_args = vec!["--segment-size", SEGMENT_MIB, "--dir-cache-ttl", ttl];
        if std::env::var_os("SWIFTMOUNT_MODEL_VERBOSE").is_some() {
            mount_args.push("-vv");
        }
        let mount = Mount::new(&source, &mount_args);
        let mut m = Model {
            seed,
            rng: StdRng::seed_from_u64(seed),
            source,
            mount_args,
            local: tempfile::Builder::new()
                .prefix("swiftmount-model-")
                .tempdir()
                .unwrap(),
            mount: Some(mount),
            handles: Vec::new(),
            next_handle: 0,
            history: VecDeque::new(),
            step: 0,
            counts: BTreeMap::new(),
            written: 0,
            verified: 0,
            large_left: LARGE_BUDGET,
            remounts: 0,
        };
        let start = Instant::now();
        for step in 0..ops {
            m.step = step;
            m.step_once();
            if step % FULL_EVERY == FULL_EVERY - 1 {
                m.full_compare("periodic");
            }
        }
        m.step = ops;
        m.log("final", "close everything, remount, compare".into());
        m.op_remount();
        let counts: Vec<String> = m.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "model seed {seed} (dir-cache-ttl {ttl}): {ops} operations in {:.1?} ({}); {} bytes written, {} bytes verified, {} remounts",
            start.elapsed(),
            counts.join(" "),
            m.written,
            m.verified,
            m.remounts,
        );
        drop(m);
    })
    .await;
    t.cleanup_best_effort().await;
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
}
