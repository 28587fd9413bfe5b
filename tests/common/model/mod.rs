//! A model test in the style of fsx: a seeded random sequence of file operations is
//! applied to a filesystem under test (a [`Target`]: the real mount, or the
//! filesystem layer over an in-memory store) and to a local directory side by side,
//! and after every step the results (Ok or the same errno) and the state of what was
//! touched must agree; every few steps, and after each remount (cold cache), the
//! whole trees are compared byte for byte.
//!
//! Only what docs/SEMANTICS.md promises is generated: regular files and folders (no
//! links, xattrs or modes), names of valid UTF-8 without `/`. Files are written whole
//! (sometimes large, to take the streamed path), or through up to [`MAX_HANDLES`]
//! read-write handles kept open across other operations (writes inside, appending and
//! past the end, reads, `ftruncate`, `fsync`); paths are read, truncated, renamed
//! (files and folders, over existing names too) and unlinked, also while open; and
//! now and then the kernel drops its caches, or everything is remounted.
//!
//! `SWIFTMOUNT_MODEL_HISTORY` is how many operations a failure shows (default 20),
//! `SWIFTMOUNT_MODEL_LOG=FILE` keeps the target's whole log of a failed run. A
//! mismatch panics with the seed, the step and the last operations, so it can be
//! replayed.

#![allow(dead_code)]

pub mod fs_target;
pub mod mount_target;
pub mod target;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::{self, Debug};
use std::ops::Range;
use std::time::{Duration, Instant};
pub use target::Target;
use target::{OpenFlags, PathTarget, Res};

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
/// Sequential writes past this are streamed into segments (`BUFFER_LIMIT` in
/// src/fs/writer.rs): large files are written past it.
pub const STREAM_LIMIT: u64 = 8 << 20;
/// Operations shown on a mismatch.
const HISTORY: usize = 20;
/// Lines of the target's log shown on a mismatch.
const LOG_TAIL: usize = 60;

pub fn env_num(name: &str, default: u64) -> u64 {
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

/// Random bytes to take data from: drawing every byte written from the seeded
/// generator was most of the time of a run in a debug build.
pub struct Pool(Vec<u8>);

impl Pool {
    pub fn new(rng: &mut StdRng, size: usize) -> Self {
        let mut pool = vec![0u8; size];
        rng.fill(&mut pool[..]);
        Pool(pool)
    }

    /// `len` bytes of the pool from a random offset, wrapping around at its end.
    pub fn bytes(&self, rng: &mut StdRng, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len);
        let mut at = rng.random_range(0..self.0.len());
        while v.len() < len {
            let n = (len - v.len()).min(self.0.len() - at);
            v.extend_from_slice(&self.0[at..at + n]);
            at = 0;
        }
        v
    }
}

/// A file open on both sides, as `rel` (its current name).
struct Handle {
    id: usize,
    rel: String,
    local: u64,
    target: u64,
}

/// The large files of a run: written whole past the size a mount keeps in memory
/// ([`STREAM_LIMIT`]), so that they are streamed into segments.
#[derive(Clone, Debug)]
pub struct LargeFiles {
    pub sizes: Range<u64>,
    /// How many, at most.
    pub count: usize,
}

/// What one run did.
pub struct Report {
    pub ops: usize,
    pub elapsed: Duration,
    pub counts: BTreeMap<&'static str, usize>,
    pub written: u64,
    pub verified: u64,
    pub remounts: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(
            f,
            "{} operations in {:.1?} ({}); {} bytes written, {} bytes verified, {} remounts",
            self.ops,
            self.elapsed,
            counts.join(" "),
            self.written,
            self.verified,
            self.remounts,
        )
    }
}

pub struct Model<T: Target> {
    seed: u64,
    rng: StdRng,
    pool: Pool,
    target: T,
    local: PathTarget<tempfile::TempDir>,
    handles: Vec<Handle>,
    next_handle: usize,
    large: Range<u64>,
    history: VecDeque<String>,
    history_len: usize,
    step: usize,
    counts: BTreeMap<&'static str, usize>,
    written: u64,
    verified: u64,
    large_left: usize,
    remounts: usize,
    /// Whether a random step may remount (off: the soak samples one process's memory).
    random_remounts: bool,
    /// How long a new mount's listings may take to show every name (a cluster's
    /// container replicas catch up with updates they missed; a new mount does not
    /// know what the old one wrote). Zero: at once.
    listings_settle: Duration,
}

impl<T: Target> Model<T> {
    pub fn new(seed: u64, target: T, large: LargeFiles) -> Self {
        let local = tempfile::Builder::new()
            .prefix("swiftmount-model-")
            .tempdir()
            .unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let pool = Pool::new(&mut rng, 1 << 20);
        Model {
            seed,
            rng,
            pool,
            target,
            local: PathTarget::new(local),
            handles: Vec::new(),
            next_handle: 0,
            large: large.sizes,
            history: VecDeque::new(),
            history_len: env_num("SWIFTMOUNT_MODEL_HISTORY", HISTORY as u64) as usize,
            step: 0,
            counts: BTreeMap::new(),
            written: 0,
            verified: 0,
            large_left: large.count,
            remounts: 0,
            random_remounts: true,
            listings_settle: Duration::ZERO,
        }
    }

    /// No remounts among the random operations (the kernel's caches are still dropped
    /// now and then); the final one of a run stays.
    pub fn without_random_remounts(mut self) -> Self {
        self.random_remounts = false;
        self
    }

    /// After a remount, a listing that differs is asked again for up to `d` before it
    /// counts as a mismatch (contents must match at once).
    pub fn listings_settle_within(mut self, d: Duration) -> Self {
        self.listings_settle = d;
        self
    }

    /// `ops` random operations, then everything closed, a remount and a full
    /// comparison.
    pub fn run(&mut self, ops: usize) -> Report {
        self.run_while(|step| step < ops)
    }

    /// Random operations while `go(step)` says so (the soak runs for a time), then
    /// everything closed, a remount and a full comparison.
    pub fn run_while(&mut self, mut go: impl FnMut(usize) -> bool) -> Report {
        let start = Instant::now();
        let mut ops = 0;
        while go(ops) {
            let step = ops;
            self.step = step;
            self.step_once();
            if step % FULL_EVERY == FULL_EVERY - 1 {
                self.full_compare("periodic");
            }
            ops += 1;
        }
        self.step = ops;
        self.log("final", "close everything, remount, compare".into());
        self.op_remount();
        Report {
            ops,
            elapsed: start.elapsed(),
            counts: self.counts.clone(),
            written: self.written,
            verified: self.verified,
            remounts: self.remounts,
        }
    }

    fn log(&mut self, kind: &'static str, desc: String) {
        *self.counts.entry(kind).or_default() += 1;
        self.history.push_back(format!("#{} {desc}", self.step));
        if self.history.len() > self.history_len {
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
        let log = self.target.log();
        if let Some(path) = std::env::var_os("SWIFTMOUNT_MODEL_LOG") {
            let _ = std::fs::write(path, &log);
        }
        let tail: Vec<&str> = log.lines().rev().take(LOG_TAIL).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let history: Vec<&str> = self.history.iter().map(String::as_str).collect();
        panic!(
            "MODEL MISMATCH (seed {seed}, step {step}, {target}): {what}\n\
             replay: SWIFTMOUNT_MODEL_SEED={seed} SWIFTMOUNT_MODEL_OPS={ops}\n\
             last operations:\n  {hist}\n\
             log (tail):\n{tail}",
            seed = self.seed,
            step = self.step,
            target = self.target.describe(),
            ops = self.step + 1,
            hist = history.join("\n  "),
            tail = tail.join("\n"),
        );
    }

    fn same<V: PartialEq + Debug>(&self, what: &str, local: &V, target: &V) {
        if local != target {
            self.fail(format!("{what}: local {local:?}, target {target:?}"));
        }
    }

    fn same_bytes(&mut self, what: &str, local: &Res<Vec<u8>>, target: &Res<Vec<u8>>) {
        match (local, target) {
            (Ok(l), Ok(t)) if l == t => self.verified += l.len() as u64,
            (Ok(l), Ok(t)) => {
                let first = l.iter().zip(t.iter()).position(|(a, b)| a != b);
                self.fail(format!(
                    "{what}: contents differ: local {} bytes, target {} bytes, first difference at {:?}",
                    l.len(),
                    t.len(),
                    first
                ))
            }
            _ => self.same(
                what,
                &local.as_ref().map(Vec::len),
                &target.as_ref().map(Vec::len),
            ),
        }
    }

    /// Files and folders (the root `""` included) of the local tree, sorted.
    fn tree(&mut self) -> (Vec<String>, Vec<String>) {
        let mut files = Vec::new();
        let mut dirs = vec![String::new()];
        let mut todo = vec![String::new()];
        while let Some(d) = todo.pop() {
            for (name, kind, _) in self.local.listing(&d).unwrap() {
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

    fn local_size(&mut self, rel: &str) -> u64 {
        match self.local.stat(rel) {
            Ok(('f', size)) => size,
            _ => 0,
        }
    }

    fn local_kind(&mut self, rel: &str) -> Option<char> {
        self.local.stat(rel).ok().map(|s| s.0)
    }

    fn pick<V: Clone>(&mut self, v: &[V]) -> V {
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

    /// Random bytes, or one byte repeated.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        if self.rng.random_bool(0.7) {
            self.pool.bytes(&mut self.rng, len)
        } else {
            vec![self.rng.random(); len]
        }
    }

    /// Kind, size and (for files) bytes of one path on both sides.
    fn compare_path(&mut self, rel: &str) {
        let l = self.local.stat(rel);
        let t = self.target.stat(rel);
        self.same(&format!("stat {rel:?}"), &l, &t);
        if let Ok(('f', _)) = l {
            let lb = self.local.read_file(rel);
            let tb = self.target.read_file(rel);
            self.same_bytes(&format!("contents of {rel:?}"), &lb, &tb);
        }
    }

    fn compare_dir(&mut self, rel: &str) {
        let l = self.local.listing(rel);
        let t = self.target.listing(rel);
        self.same(&format!("listing of {rel:?}"), &l, &t);
    }

    /// Both trees, every name, kind, size and byte.
    fn full_compare(&mut self, why: &str) {
        let mut todo = vec![String::new()];
        while let Some(d) = todo.pop() {
            let l = self.local.listing(&d);
            let mut t = self.target.listing(&d);
            let asked = Instant::now();
            while l != t && why == "after remount" && asked.elapsed() < self.listings_settle {
                std::thread::sleep(Duration::from_secs(1));
                t = self.target.listing(&d);
            }
            if l == t && asked.elapsed() >= Duration::from_secs(1) {
                self.note(format!(
                    "; listing of {d:?} complete after {:?}",
                    asked.elapsed()
                ));
                println!(
                    "model: listing of {d:?} ({why}) complete after {:?}",
                    asked.elapsed()
                );
            }
            self.same(&format!("listing of {d:?} ({why})"), &l, &t);
            for (name, kind, _) in l.unwrap() {
                let rel = join(&d, &name);
                if kind == 'd' {
                    todo.push(rel);
                } else {
                    let lb = self.local.read_file(&rel);
                    let tb = self.target.read_file(&rel);
                    self.same_bytes(&format!("contents of {rel:?} ({why})"), &lb, &tb);
                }
            }
        }
        *self.counts.entry("full-compare").or_default() += 1;
    }

    /// Opens read-write on both sides: both handles, or the errno both gave.
    fn open_both(
        &mut self,
        rel: &str,
        create: bool,
        truncate: bool,
        excl: bool,
    ) -> Res<(u64, u64)> {
        let flags = OpenFlags {
            write: true,
            create,
            truncate,
            excl,
        };
        let t = self.target.open(rel, flags);
        let l = self.local.open(rel, flags);
        self.same(
            &format!("open {rel:?} create={create} truncate={truncate} excl={excl}"),
            &l.map(|_| ()),
            &t.map(|_| ()),
        );
        Ok((l?, t?))
    }

    fn add_handle(&mut self, rel: String, (local, target): (u64, u64)) -> usize {
        let id = self.next_handle;
        self.next_handle += 1;
        self.handles.push(Handle {
            id,
            rel,
            local,
            target,
        });
        id
    }

    fn close_handle(&mut self, i: usize) {
        let h = self.handles.remove(i);
        let t = self.target.close(h.target);
        let l = self.local.close(h.local);
        self.same(&format!("close h{} ({:?})", h.id, h.rel), &l, &t);
    }

    /// Handles left open on a file whose name went (unlinked or replaced by a rename):
    /// written to (or not), then closed; the name must not change because of them.
    fn close_orphans(&mut self, ids: &[usize], rel: &str) {
        while let Some(i) = self.handles.iter().position(|h| ids.contains(&h.id)) {
            if self.rng.random_bool(0.5) {
                let off = self.rng.random_range(0..4096u64);
                let n = self.rng.random_range(1..4096);
                let data = self.bytes(n);
                let (id, lh, th) = (
                    self.handles[i].id,
                    self.handles[i].local,
                    self.handles[i].target,
                );
                let t = self.target.write_at(th, off, &data);
                let l = self.local.write_at(lh, off, &data);
                self.note(format!(
                    "; orphan h{id} write {} @ {off}: {t:?}",
                    data.len()
                ));
                self.same(&format!("write to orphaned h{id}"), &l, &t);
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
        let mut large_now = 0;
        for f in files {
            if self.local_size(f) >= self.large.start {
                large_now += 1;
            }
        }
        let size = if self.large_left > 0 && large_now < 2 && self.rng.random_bool(0.08) {
            self.large_left -= 1;
            self.rng.random_range(self.large.clone())
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
        let Ok((l, t)) = self.open_both(&rel, true, true, excl) else {
            return;
        };
        let chunk_max = if size >= self.large.start {
            1 << 20
        } else {
            64 << 10
        };
        let mut done = 0u64;
        while done < size {
            let n = self.rng.random_range(1..=chunk_max).min(size - done);
            let data = self.bytes(n as usize);
            let tr = self.target.write_at(t, done, &data);
            let lr = self.local.write_at(l, done, &data);
            self.same(&format!("write of {rel:?} at {done}"), &lr, &tr);
            done += n;
            self.written += n;
        }
        let tr = self.target.close(t);
        let lr = self.local.close(l);
        self.same(&format!("close of {rel:?}"), &lr, &tr);
        self.compare_path(&rel);
    }

    /// Create a file and keep it open.
    fn op_create_open(&mut self, dirs: &[String]) {
        let rel = self.new_path(dirs);
        let excl = self.rng.random_bool(0.3);
        self.log("create-open", format!("create+open {rel:?} excl={excl}"));
        if let Ok(both) = self.open_both(&rel, true, true, excl) {
            let id = self.add_handle(rel.clone(), both);
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
        if let Ok(both) = self.open_both(&rel, false, truncate, false) {
            let id = self.add_handle(rel.clone(), both);
            self.note(format!(" -> h{id}"));
        }
    }

    fn handle_size(&self, i: usize) -> u64 {
        self.local.handle_len(self.handles[i].local)
    }

    /// A write through an open handle: appending, over the start (of content that
    /// is only in the store, until then), inside, or past the end (a hole).
    fn op_handle_write(&mut self, i: usize) {
        let size = self.handle_size(i);
        let off = match self.rng.random_range(0..10) {
            0..=2 => size,
            3 => 0,
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
        let Handle {
            id,
            ref rel,
            local,
            target,
        } = self.handles[i];
        let rel = rel.clone();
        self.log(
            "write",
            format!("h{id} ({rel:?}, size {size}) write {len} @ {off}"),
        );
        let t = self.target.write_at(target, off, &data);
        let l = self.local.write_at(local, off, &data);
        self.same(&format!("write h{id}"), &l, &t);
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
        let Handle {
            id,
            ref rel,
            local,
            target,
        } = self.handles[i];
        let rel = rel.clone();
        self.log(
            "read",
            format!("h{id} ({rel:?}, size {size}) read {len} @ {off}"),
        );
        let t = self.target.read_at(target, off, len);
        let l = self.local.read_at(local, off, len);
        self.same_bytes(&format!("read h{id} ({rel:?}) {len} @ {off}"), &l, &t);
    }

    fn op_handle_truncate(&mut self, i: usize) {
        let size = self.handle_size(i);
        let new = match self.rng.random_range(0..4) {
            0 => 0,
            1 => self.rng.random_range(0..=size),
            _ => (size + self.rng.random_range(0..128 << 10)).min(SMALL_MAX.max(size)),
        };
        let Handle {
            id,
            ref rel,
            local,
            target,
        } = self.handles[i];
        let rel = rel.clone();
        self.log(
            "ftruncate",
            format!("h{id} ({rel:?}) ftruncate {size} -> {new}"),
        );
        let t = self.target.set_len(target, new);
        let l = self.local.set_len(local, new);
        self.same(&format!("ftruncate h{id}"), &l, &t);
        self.compare_path(&rel);
    }

    fn op_handle_fsync(&mut self, i: usize) {
        let Handle {
            id,
            ref rel,
            local,
            target,
        } = self.handles[i];
        self.log("fsync", format!("h{id} ({rel:?}) fsync"));
        let t = self.target.fsync(target);
        let l = self.local.fsync(local);
        self.same(&format!("fsync h{id}"), &l, &t);
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
        if reopen && let Ok(both) = self.open_both(&rel, false, false, false) {
            let id = self.add_handle(rel.clone(), both);
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
        fn read(t: &mut impl Target, rel: &str, off: u64, len: usize) -> Res<Vec<u8>> {
            let fh = t.open(rel, OpenFlags::READ)?;
            let data = t.read_at(fh, off, len);
            let closed = t.close(fh);
            data.and_then(|d| closed.map(|()| d))
        }
        let t = read(&mut self.target, &rel, off, len);
        let l = read(&mut self.local, &rel, off, len);
        self.same_bytes(&format!("read {rel:?} {len} @ {off}"), &l, &t);
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
        let t = self.target.truncate(&rel, new);
        let l = self.local.truncate(&rel, new);
        self.same(&format!("truncate {rel:?}"), &l, &t);
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
        let from_kind = self.local_kind(&from);
        let to_kind = self.local_kind(&to);
        let t = self.target.rename(&from, &to);
        let open_below = self
            .handles
            .iter()
            .any(|h| h.rel.starts_with(&format!("{from}/")));
        if t == Err(libc::EBUSY) && from_kind == Some('d') && open_below {
            // documented: a folder with files being written below is not renamed
            self.note(" -> EBUSY (files open below; documented)".into());
            self.compare_path(&from);
            return;
        }
        let l = self.local.rename(&from, &to);
        self.note(format!(" -> {l:?}"));
        self.same(&format!("rename {from:?} -> {to:?}"), &l, &t);
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
        let t = self.target.unlink(&rel);
        let l = self.local.unlink(&rel);
        self.same(&format!("unlink {rel:?}"), &l, &t);
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
        let t = self.target.mkdir(&rel);
        let l = self.local.mkdir(&rel);
        self.same(&format!("mkdir {rel:?}"), &l, &t);
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
        let empty = self.local.listing(&rel).map(|v| v.is_empty());
        self.log("rmdir", format!("rmdir {rel:?} (empty: {:?})", empty.ok()));
        let t = self.target.rmdir(&rel);
        let l = self.local.rmdir(&rel);
        self.same(&format!("rmdir {rel:?}"), &l, &t);
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

    fn op_drop_caches(&mut self) {
        self.log(
            "drop-caches",
            "the kernel forgets what it does not hold".into(),
        );
        if let Err(e) = self.target.drop_caches() {
            self.fail(e);
        }
    }

    fn op_remount(&mut self) {
        self.log("remount", "close everything, unmount, mount again".into());
        self.close_all();
        if let Err(e) = self.target.remount() {
            self.fail(e);
        }
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
            107 if self.random_remounts => self.op_remount(),
            107 => self.op_drop_caches(),
            108..=109 => self.op_drop_caches(),
            _ => self.op_path_read(&files, &dirs),
        }
    }
}
