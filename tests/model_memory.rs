//! The filesystem layer on its own: `SwiftFs` over the in-memory store, driven the
//! way src/fuse.rs drives it for the kernel (tests/common/model/fs_target.rs), with
//! no FUSE and no server, so that thousands of operations over many seeds take
//! seconds.
//!
//! - The model test of tests/model.rs (see tests/common/model), once per seed, with
//!   the dir cache's TTL and size, the mount's prefix and the store's listing page
//!   size varied by seed.
//! - Two handles of one file used at the same time (two calls in flight at once on
//!   the runtime), where whatever the interleaving, disjoint writes commute, a read
//!   sees a concurrent write whole or not at all, and the store only ever holds
//!   complete versions.
//! - Who uploads at close: a reader's close never does, an `fsync` on any handle
//!   does, and the opener's close of a writer does.
//!
//! `SWIFTMOUNT_MODEL_SEEDS=N` runs seeds 1..=N (default 20 for the model, 50 for
//! two handles),
//! `SWIFTMOUNT_MODEL_SEED=S` only seed S (to replay a failure),
//! `SWIFTMOUNT_MODEL_OPS` is the model's operations per seed (default 1000),
//! `SWIFTMOUNT_MODEL_TTL` its dir cache TTL in seconds (default: 0, 1 or 30 by seed),
//! `SWIFTMOUNT_MODEL_HISTORY` how many operations a failure shows (default 20).

mod common;

use bytes::Bytes;
use common::model::fs_target::{DIR_CACHE_DIRS, FsTarget, SEGMENT_SIZE};
use common::model::{LargeFiles, Model, Pool, STREAM_LIMIT, Target, env_num};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use swiftmount::fs::{Caller, FsError, OpenMode, ROOT_INO, SwiftFs};
use swiftmount::source::Location;
use swiftmount::swift::{ContainerName, MemoryStore};

const CONTAINER: &str = "model";

/// The process making files: the mount's owner, as the target's config has it.
fn me() -> Caller {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    unsafe {
        Caller {
            uid: libc::getuid(),
            gid: libc::getgid(),
        }
    }
}

/// The seeds to run: `SWIFTMOUNT_MODEL_SEED` alone, or 1..=`SWIFTMOUNT_MODEL_SEEDS`.
fn seeds(default_count: u64) -> Vec<u64> {
    if std::env::var_os("SWIFTMOUNT_MODEL_SEED").is_some() {
        vec![env_num("SWIFTMOUNT_MODEL_SEED", 1)]
    } else {
        (1..=env_num("SWIFTMOUNT_MODEL_SEEDS", default_count)).collect()
    }
}

fn location(prefix: &str) -> Location {
    Location {
        container: ContainerName::new(CONTAINER).unwrap(),
        prefix: prefix.to_string(),
    }
}

#[test]
fn random_operations_on_the_fs_layer_match_a_local_directory() {
    let ops = env_num("SWIFTMOUNT_MODEL_OPS", 1000) as usize;
    let start = Instant::now();
    let seeds = seeds(20);
    let mut total_ops = 0;
    for &seed in &seeds {
        let ttl = env_num("SWIFTMOUNT_MODEL_TTL", [0, 1, 30][(seed % 3) as usize]);
        // listings in pages of a few rows follow the marker, as in a large folder
        let page_size = [10_000, 3][(seed % 2) as usize];
        let prefix = ["", "mounted/prefix/"][(seed / 2 % 2) as usize];
        let store = Arc::new(MemoryStore::with_page_size(page_size));
        // a small listing cache lets go of the inodes its listings held
        let dirs = [DIR_CACHE_DIRS, 2][(seed / 4 % 2) as usize];
        let ttl = Duration::from_secs(ttl);
        let target = FsTarget::new(store, location(prefix), ttl, dirs);
        let described = format!("{}, listing pages of {page_size}", target.describe());
        // one per seed: each of its uploads hashes all of it, most of a seed's time
        let large = LargeFiles {
            sizes: STREAM_LIMIT + 1..STREAM_LIMIT + (1 << 20),
            count: 1,
        };
        let report = Model::new(seed, target, large).run(ops);
        println!("model seed {seed} ({described}): {report}");
        total_ops += report.ops;
    }
    println!(
        "model over the fs layer: {} seeds, {total_ops} operations in {:.1?}",
        seeds.len(),
        start.elapsed()
    );
}

/// One call on one of the two handles of [`two_handles_interleaved`].
#[derive(Clone)]
enum Call {
    Write {
        off: u64,
        data: Bytes,
    },
    Read {
        off: u64,
        len: u32,
    },
    Fsync,
    /// `flush` by a process: the opener (a close but for the release), or another
    /// one, closing the copy of the descriptor it inherited.
    Flush {
        closer: u32,
    },
    /// `close(2)`: `flush` by the opener, then `release` (never the last handle).
    Close,
}

impl Call {
    fn describe(&self) -> String {
        match self {
            Call::Write { off, data } => format!("write {} @ {off}", data.len()),
            Call::Read { off, len } => format!("read {len} @ {off}"),
            Call::Fsync => "fsync".into(),
            Call::Flush { closer } => format!("flush by process {closer}"),
            Call::Close => "close".into(),
        }
    }

    /// Whether it stores the file's content (if changed): a writer's close or flush
    /// by its opener, or an fsync on any handle.
    fn commits(&self, side: &Side) -> bool {
        match self {
            Call::Fsync => true,
            Call::Flush { closer } => side.write && *closer == side.opener,
            Call::Close => side.write,
            Call::Write { .. } | Call::Read { .. } => false,
        }
    }

    /// `content` after this call.
    fn apply(&self, content: &[u8]) -> Vec<u8> {
        let mut v = content.to_vec();
        if let Call::Write { off, data } = self {
            let (off, end) = (*off as usize, *off as usize + data.len());
            if v.len() < end {
                v.resize(end, 0);
            }
            v[off..end].copy_from_slice(data);
        }
        v
    }

    async fn run(self, fs: Arc<SwiftFs>, side: Side) -> Result<Option<Bytes>, FsError> {
        match self {
            Call::Write { off, data } => {
                let len = data.len();
                let n = fs.write(side.fh, off, data).await?;
                assert_eq!(n as usize, len, "short write");
                Ok(None)
            }
            Call::Read { off, len } => fs.read(side.fh, off, len).await.map(Some),
            Call::Fsync => fs.fsync(side.fh).await.map(|()| None),
            Call::Flush { closer } => fs.flush(side.fh, Some(closer)).await.map(|()| None),
            Call::Close => {
                let flushed = fs.flush(side.fh, Some(side.opener)).await;
                fs.release(side.fh).await;
                flushed.map(|()| None)
            }
        }
    }
}

/// A handle of [`two_handles_interleaved`]: each is opened by its own process.
#[derive(Clone, Copy)]
struct Side {
    fh: u64,
    write: bool,
    opener: u32,
}

fn open_side(target: &FsTarget, ino: u64, write: bool, opener: u32) -> Result<Side, FsError> {
    let mode = OpenMode {
        write,
        truncate: false,
        opener: Some(opener),
    };
    let opened = target.runtime().block_on(target.fs().open(ino, mode))?;
    Ok(Side {
        fh: opened.fh,
        write,
        opener,
    })
}

/// The bytes `[off, off + len)` of `content`, as a read returns them.
fn range(content: &[u8], off: u64, len: u32) -> &[u8] {
    let start = (off as usize).min(content.len());
    let end = (off as usize + len as usize).min(content.len());
    &content[start..end]
}

/// What the store may hold under the file's name: nothing yet, or one version.
type Stored = Option<Bytes>;

struct TwoHandles {
    seed: u64,
    rng: StdRng,
    pool: Pool,
    store: Arc<MemoryStore>,
    target: FsTarget,
    ino: u64,
    sides: [Side; 2],
    /// What the file holds after every whole call so far (what a reader of both
    /// handles must see, whatever the interleaving).
    content: Vec<u8>,
    /// What the store held after the last round.
    stored: Stored,
    history: Vec<String>,
}

const FILE: &str = "two handles";
/// A process that did not open either handle: a child closing its inherited copy.
const CHILD: u32 = 3;

impl TwoHandles {
    fn fail(&self, what: String) -> ! {
        panic!(
            "TWO HANDLES MISMATCH (seed {seed}, round {round}): {what}\n\
             replay: SWIFTMOUNT_MODEL_SEED={seed} cargo test --test model_memory two_handles\n\
             rounds:\n  {hist}",
            seed = self.seed,
            round = self.history.len(),
            hist = self.history.join("\n  "),
        );
    }

    fn in_store(&self) -> Stored {
        let name = self.target.object_name(FILE);
        self.store.object_bytes(CONTAINER, name.as_str())
    }

    fn open(&self, write: bool, opener: u32) -> Side {
        open_side(&self.target, self.ino, write, opener)
            .unwrap_or_else(|e| self.fail(format!("open: {e}")))
    }

    fn write_call(&mut self) -> Call {
        let size = self.content.len() as u64;
        let off = match self.rng.random_range(0..4) {
            0 => 0,
            1 => size,
            _ => self.rng.random_range(0..=size + (16 << 10)),
        };
        let len = self.rng.random_range(1..64 << 10);
        let data = self.pool.bytes(&mut self.rng, len).into();
        Call::Write { off, data }
    }

    /// A write that does not overlap `other`'s range.
    fn disjoint_write(&mut self, other: &Call) -> Call {
        let Call::Write { off, data } = other else {
            unreachable!("a write")
        };
        let (start, end) = (*off, *off + data.len() as u64);
        let len = self.rng.random_range(1..64 << 10);
        let off = if start > len as u64 && self.rng.random_bool(0.5) {
            self.rng.random_range(0..=start - len as u64)
        } else {
            end + self.rng.random_range(0..4096)
        };
        let data = self.pool.bytes(&mut self.rng, len).into();
        Call::Write { off, data }
    }

    /// A handle that may write, other than `not` where there is a choice.
    fn writer(&mut self, not: Option<usize>) -> usize {
        let writers: Vec<usize> = (0..2)
            .filter(|&i| self.sides[i].write && Some(i) != not)
            .collect();
        match writers.as_slice() {
            [] => 0,
            w => w[self.rng.random_range(0..w.len())],
        }
    }

    /// Both calls at once, each a task on the runtime (so on two threads), started
    /// in either order; meanwhile every version the store holds under the name is
    /// collected.
    fn run_pair(
        &mut self,
        (i, a): (usize, Call),
        (j, b): (usize, Call),
    ) -> (Option<Bytes>, Option<Bytes>, Vec<Stored>) {
        let fs = self.target.fs();
        let (side_a, side_b) = (self.sides[i], self.sides[j]);
        let swap = self.rng.random_bool(0.5);
        let store = self.store.clone();
        let name = self.target.object_name(FILE);
        let (ra, rb, seen) = self.target.runtime().block_on(async {
            let done = AtomicBool::new(false);
            let (ha, hb) = if swap {
                let hb = tokio::spawn(b.clone().run(fs.clone(), side_b));
                (tokio::spawn(a.clone().run(fs.clone(), side_a)), hb)
            } else {
                let ha = tokio::spawn(a.clone().run(fs.clone(), side_a));
                (ha, tokio::spawn(b.clone().run(fs.clone(), side_b)))
            };
            let calls = async {
                let both = futures::join!(ha, hb);
                done.store(true, Ordering::SeqCst);
                both
            };
            let watch = async {
                let mut seen: Vec<Stored> = Vec::new();
                let mut requests = None;
                while !done.load(Ordering::SeqCst) {
                    // a version only changes with a request (counted in the same
                    // step): read again only after one, and count before reading
                    let now = Some(store.request_count());
                    if requests != now {
                        requests = now;
                        let version = store.object_bytes(CONTAINER, name.as_str());
                        if !seen.contains(&version) {
                            seen.push(version);
                        }
                    }
                    tokio::task::yield_now().await;
                }
                seen
            };
            let ((ra, rb), seen) = futures::join!(calls, watch);
            (ra.unwrap(), rb.unwrap(), seen)
        });
        let name = |k: usize| ["A", "B"][k];
        self.history.push(format!(
            "{} {} | {} {}{}",
            name(i),
            a.describe(),
            name(j),
            b.describe(),
            if swap {
                " (the second started first)"
            } else {
                ""
            }
        ));
        let ra = ra.unwrap_or_else(|e| self.fail(format!("{} {}: {e}", name(i), a.describe())));
        let rb = rb.unwrap_or_else(|e| self.fail(format!("{} {}: {e}", name(j), b.describe())));
        (ra, rb, seen)
    }

    /// What the store holds, while the round ran and after it, must be one of
    /// `allowed` (complete versions of the file).
    fn check_store(&mut self, seen: &[Stored], allowed: &[Stored]) {
        let show = |s: &Stored| s.as_ref().map(Bytes::len);
        let allowed_sizes: Vec<_> = allowed.iter().map(show).collect();
        for s in seen {
            if !allowed.contains(s) && *s != self.stored {
                self.fail(format!(
                    "the store held {:?} bytes during the round, not one of {allowed_sizes:?} (or {:?} before)",
                    show(s),
                    show(&self.stored)
                ));
            }
        }
        let now = self.in_store();
        if !allowed.contains(&now) {
            self.fail(format!(
                "the store holds {:?} bytes after the round, not one of {allowed_sizes:?}",
                show(&now)
            ));
        }
        self.stored = now;
    }

    fn round(&mut self) {
        let before = self.content.clone();
        let unchanged = [self.stored.clone()];
        match self.rng.random_range(0..4) {
            0 => {
                // disjoint writes commute: any order leaves the same content
                let (i, j) = (0, self.writer(Some(0)));
                let a = self.write_call();
                let b = self.disjoint_write(&a);
                let (_, _, seen) = self.run_pair((i, a.clone()), (j, b.clone()));
                self.content = b.apply(&a.apply(&before));
                self.check_store(&seen, &unchanged);
            }
            1 => {
                // a read overlapping a write sees all of it or none of it
                let i = self.writer(None);
                let j = self.rng.random_range(0..2);
                let w = self.write_call();
                let Call::Write { off, ref data } = w else {
                    unreachable!("a write")
                };
                let off = off.saturating_sub(self.rng.random_range(0..4096));
                let len = data.len() as u32 + self.rng.random_range(0..8192);
                let r = Call::Read { off, len };
                let (_, got, seen) = self.run_pair((i, w.clone()), (j, r));
                let after = w.apply(&before);
                let got = got.expect("a read's bytes");
                if got != range(&before, off, len) && got != range(&after, off, len) {
                    self.fail(format!(
                        "read {len} @ {off} got {} bytes, neither what was there before the write ({}) nor after it ({})",
                        got.len(),
                        range(&before, off, len).len(),
                        range(&after, off, len).len()
                    ));
                }
                self.content = after;
                self.check_store(&seen, &unchanged);
            }
            kind => {
                // an fsync, flush or close of one handle while a write goes on: what
                // is stored is the content before the write or after it
                let (j, other) = if kind == 2 {
                    let j = self.rng.random_range(0..2);
                    let call = match self.rng.random_range(0..3) {
                        0 => Call::Fsync,
                        1 => Call::Flush {
                            closer: self.sides[j].opener,
                        },
                        _ => Call::Flush { closer: CHILD },
                    };
                    (j, call)
                } else {
                    // a reader can only close while the writer writes
                    let j = if self.sides[1].write {
                        self.rng.random_range(0..2)
                    } else {
                        1
                    };
                    (j, Call::Close)
                };
                let i = self.writer(Some(j));
                let w = self.write_call();
                let commits = other.commits(&self.sides[j]);
                let (_, _, seen) = self.run_pair((i, w.clone()), (j, other.clone()));
                let after = w.apply(&before);
                self.content = after.clone();
                if commits {
                    self.check_store(&seen, &[Some(before.into()), Some(after.into())]);
                } else {
                    self.check_store(&seen, &unchanged);
                }
                if let Call::Close = other {
                    let Side { write, opener, .. } = self.sides[j];
                    self.sides[j] = self.open(write, opener);
                }
            }
        }
    }
}

/// One seed of [`two_handles_interleaved`]: a file, sometimes new and never stored,
/// opened by two processes; `ROUNDS` pairs of calls at once; then both closed.
fn two_handles(seed: u64, rounds: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let pool = Pool::new(&mut rng, 128 << 10);
    let store = Arc::new(MemoryStore::new());
    let target = FsTarget::new(store.clone(), location(""), Duration::ZERO, DIR_CACHE_DIRS);
    let fs = target.fs();
    let stored_first = rng.random_bool(0.7);
    // up to a few segments: changed in place, it is stored as a large object
    let len = rng.random_range(0..3 * SEGMENT_SIZE as usize);
    let first = Bytes::from(pool.bytes(&mut rng, len));
    let (ino, created) = target.runtime().block_on(async {
        let (attr, opened) = fs
            .create(ROOT_INO, FILE.as_ref(), true, Some(1), 0o644, me())
            .await
            .unwrap();
        if !stored_first {
            return (attr.ino, Some(opened.fh));
        }
        fs.write(opened.fh, 0, first.clone()).await.unwrap();
        fs.flush(opened.fh, Some(1)).await.unwrap();
        fs.release(opened.fh).await;
        (attr.ino, None)
    });
    let stored = store.object_bytes(CONTAINER, target.object_name(FILE).as_str());
    assert_eq!(stored, stored_first.then(|| first.clone()), "seed {seed}");
    // the writer first: a reader opened then shares what the writers hold
    let a = match created {
        Some(fh) => Side {
            fh,
            write: true,
            opener: 1,
        },
        None => open_side(&target, ino, true, 1).unwrap(),
    };
    let b = open_side(&target, ino, rng.random_bool(0.5), 2).unwrap();
    let mut t = TwoHandles {
        seed,
        rng,
        pool,
        store,
        target,
        ino,
        sides: [a, b],
        content: stored.as_deref().unwrap_or_default().to_vec(),
        stored,
        history: Vec::new(),
    };
    for _ in 0..rounds {
        t.round();
    }
    let fs = t.target.fs();
    for side in t.sides {
        let closed = t
            .target
            .runtime()
            .block_on(Call::Close.run(fs.clone(), side));
        if let Err(e) = closed {
            t.fail(format!("last close: {e}"));
        }
    }
    let stored = t.in_store();
    if stored.as_deref() != Some(&t.content[..]) {
        t.fail(format!(
            "after both closes the store holds {:?} bytes, not the {} the file holds",
            stored.map(|s| s.len()),
            t.content.len()
        ));
    }
}

#[test]
fn two_handles_interleaved() {
    const ROUNDS: usize = 30;
    let start = Instant::now();
    let seeds = seeds(50);
    for &seed in &seeds {
        two_handles(seed, ROUNDS);
    }
    println!(
        "two handles: {} seeds of {ROUNDS} rounds in {:.1?}",
        seeds.len(),
        start.elapsed()
    );
}

/// The rule of who uploads, without FUSE: a reader's close (even the last but one)
/// stores nothing, an fsync on a reader stores what the writer wrote, and the
/// writer's own close stores the rest.
#[test]
fn only_a_writers_close_or_an_fsync_uploads() {
    let store = Arc::new(MemoryStore::new());
    let target = FsTarget::new(store.clone(), location(""), Duration::ZERO, DIR_CACHE_DIRS);
    let fs = target.fs();
    let name = "written.bin";
    let mut first = vec![0u8; 3 << 20];
    StdRng::seed_from_u64(1).fill(&mut first[..]);
    let more = vec![7u8; 100_000];
    let stored = || store.object_bytes(CONTAINER, name).map(|b| b.to_vec());
    let reader = OpenMode {
        write: false,
        truncate: false,
        opener: Some(2),
    };
    target.runtime().block_on(async {
        let (attr, a) = fs
            .create(ROOT_INO, name.as_ref(), true, Some(1), 0o644, me())
            .await
            .unwrap();
        for (i, piece) in first.chunks(1 << 20).enumerate() {
            let off = (i << 20) as u64;
            fs.write(a.fh, off, piece.to_vec().into()).await.unwrap();
        }
        let b = fs.open(attr.ino, reader).await.unwrap();
        let head = fs.read(b.fh, 0, 4096).await.unwrap();
        assert_eq!(
            &head[..],
            &first[..4096],
            "a reader sees what the writer wrote"
        );
        fs.flush(b.fh, Some(2)).await.unwrap();
        fs.release(b.fh).await;
        assert_eq!(stored(), None, "a reader's close uploaded");

        let b2 = fs.open(attr.ino, reader).await.unwrap();
        fs.fsync(b2.fh).await.unwrap();
        assert!(
            stored() == Some(first.clone()),
            "fsync on a reader: not the 3 MiB"
        );

        fs.write(a.fh, first.len() as u64, more.clone().into())
            .await
            .unwrap();
        fs.flush(a.fh, Some(1)).await.unwrap();
        let whole = [first.clone(), more.clone()].concat();
        assert!(
            stored() == Some(whole),
            "the writer's close: not everything"
        );
        fs.release(a.fh).await;
        fs.release(b2.fh).await;
    });
}
