//! The filesystem layer's state machines over the in-memory store: who uploads when,
//! what a failed upload leaves, and what the listing cache costs, in milliseconds
//! and without FUSE or a server. (What only a real Swift or a real kernel shows is
//! tested under tests/.)

use super::*;
use crate::swift::{Effect, FaultStore, MemoryStore, Op, Rule};
use bytes::Bytes;
use std::time::Instant;

const WRITER: Option<u32> = Some(100);
const READER: Option<u32> = Some(200);
/// The mount's owner, as in the fixture's config.
const OWNER: Caller = Caller { uid: 0, gid: 0 };

struct Fixture {
    fs: SwiftFs,
    metrics: Arc<Metrics>,
    memory: Arc<MemoryStore>,
    faults: Arc<FaultStore>,
    container: ContainerName,
    config: FsConfig,
    _cache: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    fixture_with(MemoryStore::new(), SegmentPlan::new(1 << 20, None, None)).await
}

/// A fixture over `memory`, cutting large files as `plan` says.
async fn fixture_with(memory: MemoryStore, plan: SegmentPlan) -> Fixture {
    let memory = Arc::new(memory);
    let faults = Arc::new(FaultStore::new(memory.clone()));
    let container = ContainerName::new("c").unwrap();
    memory.create_container(&container).await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let config = FsConfig {
        uid: 0,
        gid: 0,
        file_mode: 0o644,
        dir_mode: 0o755,
        dir_cache_ttl: Duration::from_secs(60),
        dir_cache_max_dirs: 100,
        dir_cache_max_entries: 500_000,
        read_only: false,
        segment_plan: plan,
        segment_container: ContainerName::new("c_segments").unwrap(),
        cache_dir: cache.path().to_path_buf(),
        ignore_stored_perms: false,
        meta_limits: crate::swift::MetaLimits::default(),
        swift_symlinks: true,
    };
    let location = Location {
        container: container.clone(),
        prefix: String::new(),
    };
    let metrics = Arc::new(Metrics::default());
    Fixture {
        fs: SwiftFs::new(faults.clone(), location, config.clone(), metrics.clone()),
        metrics,
        memory,
        faults,
        container,
        config,
        _cache: cache,
    }
}

impl Fixture {
    /// A new mount of the same container: it knows only what Swift holds.
    fn remount(&self) -> SwiftFs {
        self.remount_with(|_| {})
    }

    /// A new mount of the same container with other settings.
    fn remount_with(&self, change: impl FnOnce(&mut FsConfig)) -> SwiftFs {
        let location = Location {
            container: self.container.clone(),
            prefix: String::new(),
        };
        let mut config = self.config.clone();
        change(&mut config);
        SwiftFs::new(
            self.faults.clone(),
            location,
            config,
            Arc::new(Metrics::default()),
        )
    }

    fn stored(&self, name: &str) -> Option<Bytes> {
        self.memory.object_bytes(self.container.as_str(), name)
    }

    async fn create(&self, name: &str) -> (u64, u64) {
        let (attr, opened) = self
            .fs
            .create(ROOT_INO, OsStr::new(name), true, WRITER, 0o644, OWNER)
            .await
            .unwrap();
        (attr.ino, opened.fh)
    }

    async fn open(&self, ino: u64, write: bool, opener: Option<u32>) -> u64 {
        let mode = OpenMode {
            write,
            truncate: false,
            opener,
        };
        self.fs.open(ino, mode).await.unwrap().fh
    }

    /// The value of the metric sample `name` (with its labels, if any).
    fn metric(&self, name: &str) -> f64 {
        let text = self.metrics.text();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    }

    /// close(2) as the kernel sends it: flush by the closing process, then release.
    async fn close(&self, fh: u64, closer: Option<u32>) -> Result<(), FsError> {
        let flushed = self.fs.flush(fh, closer).await;
        self.fs.release(fh).await;
        flushed
    }
}

fn bytes(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_readers_close_never_uploads_but_any_fsync_does() {
    let f = fixture().await;
    let (ino, w) = f.create("pack").await;
    let first = bytes(3 << 20, 1);
    f.fs.write(w, 0, first.clone()).await.unwrap();
    // a reader (another process) reads what was written and closes
    let r = f.open(ino, false, READER).await;
    assert_eq!(f.fs.read(r, 0, 4096).await.unwrap(), first.slice(..4096));
    assert_eq!(f.fs.getattr(ino).unwrap().size, first.len() as u64);
    f.close(r, READER).await.unwrap();
    assert_eq!(
        f.stored("pack"),
        None,
        "a reader's close published half a file"
    );
    // fsync on a read-only handle stores the content as it is now
    let r = f.open(ino, false, READER).await;
    f.fs.fsync(r).await.unwrap();
    assert_eq!(f.stored("pack"), Some(first.clone()));
    f.close(r, READER).await.unwrap();
    // the writer goes on; its own close stores the whole file
    let second = bytes(1 << 20, 2);
    f.fs.write(w, first.len() as u64, second.clone())
        .await
        .unwrap();
    let whole = [first, second].concat();
    assert_eq!(f.stored("pack").unwrap().len(), 3 << 20, "nothing new yet");
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("pack").unwrap(), whole);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inherited_descriptors_close_waits_for_the_last_close() {
    let f = fixture().await;
    let (ino, w) = f.create("f").await;
    f.fs.write(w, 0, bytes(1000, 3)).await.unwrap();
    // a child that inherited the descriptor closes its copy: no upload
    f.fs.flush(w, Some(999)).await.unwrap();
    assert_eq!(f.stored("f"), None);
    // a second writer of the same file shares its content
    let w2 = f.open(ino, true, WRITER).await;
    f.fs.write(w2, 1000, bytes(10, 4)).await.unwrap();
    f.close(w2, WRITER).await.unwrap();
    assert_eq!(
        f.stored("f").unwrap().len(),
        1010,
        "a writer's close stores"
    );
    f.fs.write(w, 1010, bytes(5, 5)).await.unwrap();
    // the last release uploads even when its flush came from another process
    f.close(w, Some(999)).await.unwrap();
    assert_eq!(f.stored("f").unwrap().len(), 1015);
    assert!(
        f.fs.open_files.get(ino).is_none(),
        "no longer being written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_is_listed_before_it_is_stored_and_a_failed_upload_keeps_the_old() {
    let f = fixture().await;
    let (ino, w) = f.create("doc").await;
    f.fs.write(w, 0, Bytes::from_static(b"v1")).await.unwrap();
    // a fresh listing (nothing cached yet) shows the file being written
    let dir = f.fs.opendir(ROOT_INO).await.unwrap();
    let mut names = Vec::new();
    f.fs.readdir(ROOT_INO, dir, 0, false, |e, _| {
        names.push(e.name.clone());
        false
    })
    .unwrap();
    f.fs.release_dir(dir);
    assert_eq!(names, [".", "..", "doc"]);
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("doc").unwrap(), Bytes::from_static(b"v1"));
    keeps_cache(&f.fs, ino).await;
    let again = keeps_cache(&f.fs, ino).await;
    assert!(again, "v1 again: the kernel's pages are v1");
    // the next version fails to upload: close says so, Swift keeps v1
    let w = f.open(ino, true, WRITER).await;
    f.fs.write(w, 0, Bytes::from_static(b"v2, longer"))
        .await
        .unwrap();
    f.faults
        .inject(Rule::new(Op::PutFile, Effect::Status(503)).times(u64::MAX));
    f.faults
        .inject(Rule::new(Op::Put, Effect::Status(503)).times(u64::MAX));
    let err = f.close(w, WRITER).await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO, "{err}");
    assert_eq!(f.stored("doc").unwrap(), Bytes::from_static(b"v1"));
    // the kernel's pages hold the bytes that failed, not v1
    f.faults.clear();
    let after = keeps_cache(&f.fs, ino).await;
    assert!(!after, "the pages hold what the failed writer wrote");
    assert!(keeps_cache(&f.fs, ino).await);
}

/// Whether an open for reading lets the kernel keep the pages it has of the file.
async fn keeps_cache(fs: &SwiftFs, ino: u64) -> bool {
    let mode = OpenMode {
        write: false,
        truncate: false,
        opener: READER,
    };
    let opened = fs.open(ino, mode).await.unwrap();
    fs.release(opened.fh).await;
    opened.keep_cache
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unlinked_open_file_is_never_uploaded() {
    let f = fixture().await;
    let (ino, w) = f.create("tmp").await;
    f.fs.write(w, 0, bytes(100, 6)).await.unwrap();
    f.fs.unlink(ROOT_INO, OsStr::new("tmp")).await.unwrap();
    f.fs.write(w, 100, bytes(100, 7)).await.unwrap();
    assert_eq!(f.fs.read(w, 0, 300).await.unwrap().len(), 200);
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("tmp"), None);
    assert!(f.fs.open_files.get(ino).is_none());
    let e = f.fs.lookup(ROOT_INO, OsStr::new("tmp")).await.unwrap_err();
    assert_eq!(e.errno(), libc::ENOENT);
}

/// Creating files in a cached folder changes its listing in place: 10,000 creates in a
/// folder of 100,000 used to copy the whole listing each time (10^9 entries copied).
#[tokio::test(flavor = "multi_thread")]
async fn creates_in_a_big_cached_folder_do_not_copy_its_listing() {
    const BIG: usize = 100_000;
    const NEW: usize = 10_000;
    let f = fixture().await;
    for i in 0..BIG {
        let o = ObjectName::new(format!("big/f{i:06}")).unwrap();
        f.memory
            .put_object(&f.container, &o, Bytes::new(), &Default::default())
            .await
            .unwrap();
    }
    let dir = f.fs.lookup(ROOT_INO, OsStr::new("big")).await.unwrap().ino;
    let fh = f.fs.opendir(dir).await.unwrap();
    f.fs.release_dir(fh);
    let started = Instant::now();
    for j in 0..NEW {
        let (_, opened) =
            f.fs.create(
                dir,
                OsStr::new(&format!("new{j:05}")),
                true,
                WRITER,
                0o644,
                OWNER,
            )
            .await
            .unwrap();
        f.close(opened.fh, WRITER).await.unwrap();
    }
    let took = started.elapsed();
    let snap = f.fs.dirs.get_fresh(dir).expect("still cached");
    assert_eq!(snap.entries.len(), BIG + NEW);
    eprintln!("{NEW} creates in a cached folder of {BIG}: {took:.2?}");
    // measured: about 1 s in a debug build; copying the listing each time took minutes
    assert!(
        took < Duration::from_secs(60),
        "{NEW} creates took {took:?}"
    );
}

/// A reader of a file being written sequentially makes its content local: the
/// segments stored so far are read back into the spill file. When that fails,
/// nothing is lost: the spill file and the segments still hold every byte, and the
/// file is stored whole at its close.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_read_back_of_spilled_bytes_keeps_the_file() {
    let f = fixture().await;
    let (ino, w) = f.create("big").await;
    let data = bytes(10 << 20, 8);
    f.write_in_mib(w, 0, &data).await;
    f.faults
        .inject(Rule::new(Op::Get, Effect::Status(503)).times(u64::MAX));
    let r = f.open(ino, false, READER).await;
    let err = f.fs.read(r, 0, 4096).await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO, "{err}");
    f.close(r, READER).await.unwrap();
    f.faults.clear();
    let more = bytes(10, 9);
    f.fs.write(w, data.len() as u64, more.clone())
        .await
        .unwrap();
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("big").unwrap(), [data, more].concat());
}

impl Fixture {
    /// Writes `data` at `offset` in writes of 1 MiB, as the kernel sends them.
    async fn write_in_mib(&self, fh: u64, offset: u64, data: &Bytes) {
        for (i, piece) in data.chunks(1 << 20).enumerate() {
            self.fs
                .write(fh, offset + (i << 20) as u64, Bytes::copy_from_slice(piece))
                .await
                .unwrap();
        }
    }

    async fn open_truncated(&self, ino: u64) -> u64 {
        let mode = OpenMode {
            write: true,
            truncate: true,
            opener: WRITER,
        };
        self.fs.open(ino, mode).await.unwrap().fh
    }

    async fn segments_of(&self, name: &str) -> usize {
        let o = ObjectName::new(name).unwrap();
        self.memory
            .slo_segments(&self.container, &o)
            .await
            .unwrap()
            .len()
    }
}

/// Past the memory buffer, each segment goes up as soon as it is written, up to four
/// at once; a write that would start a fifth waits for the oldest.
#[tokio::test(flavor = "multi_thread")]
async fn segments_go_up_four_at_once_while_the_program_writes() {
    let f = Arc::new(fixture().await);
    let (_, w) = f.create("par").await;
    let data = bytes(16 << 20, 10);
    // the first four segment uploads hang for a while
    f.faults.inject(
        Rule::new(Op::PutFile, Effect::Delay(Duration::from_secs(10)))
            .on("par/slo/")
            .times(4),
    );
    let writer = {
        let (f, data) = (f.clone(), data.clone());
        tokio::spawn(async move { f.write_in_mib(w, 0, &data).await })
    };
    let started = Instant::now();
    while f.faults.fired() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} segment uploads started",
            f.faults.fired()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // four uploads started before any of them finished, and the writes wait
    let segments_stored = f.memory.object_names("c_segments").len();
    assert_eq!(
        segments_stored, 0,
        "a segment upload finished early (load?)"
    );
    assert!(
        !writer.is_finished(),
        "writes went on past four uploads in flight"
    );
    writer.await.unwrap();
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("par").unwrap(), data);
    assert_eq!(f.segments_of("par").await, 16);
}

/// A segment whose upload failed for good is sent again from the spill file at the
/// next close or fsync; while it cannot be, the close fails and Swift keeps the old
/// version; the next fsync stores the whole file.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_segment_is_sent_again_at_close_and_until_it_is_stored() {
    let f = fixture().await;
    let (ino, w) = f.create("re").await;
    f.fs.write(w, 0, Bytes::from_static(b"old")).await.unwrap();
    f.close(w, WRITER).await.unwrap();
    // the first one goes through on the second try
    let w = f.open_truncated(ino).await;
    let data = bytes(12 << 20, 11);
    f.faults.inject(
        Rule::new(Op::PutFile, Effect::Status(503))
            .on("re/slo/")
            .times(1),
    );
    f.write_in_mib(w, 0, &data).await;
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.faults.fired(), 1);
    assert_eq!(f.stored("re").unwrap(), data);
    assert_eq!(f.segments_of("re").await, 12);
    // the second one fails again at close: the close says so, Swift keeps the first
    let w = f.open_truncated(ino).await;
    let data2 = bytes(12 << 20, 12);
    f.faults.inject(
        Rule::new(Op::PutFile, Effect::Status(503))
            .on("/00000003")
            .times(2),
    );
    f.write_in_mib(w, 0, &data2).await;
    let err = f.fs.flush(w, WRITER).await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO, "{err}");
    assert_eq!(f.stored("re").unwrap(), data, "the old version stays");
    f.fs.fsync(w).await.unwrap();
    assert_eq!(f.stored("re").unwrap(), data2);
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.faults.fired(), 3);
}

/// Segments grow so that a manifest never lists more than the cluster takes (here 4:
/// 1, 2, 4 and 8 MiB); a file larger than that can be is refused with EFBIG, and what
/// fits is stored, whether written in order or not.
#[tokio::test(flavor = "multi_thread")]
async fn segments_grow_to_stay_within_the_manifest_limit_and_past_it_is_efbig() {
    let plan = SegmentPlan::new(1 << 20, Some(4), None);
    let f = fixture_with(MemoryStore::new().with_max_segments(4), plan).await;
    assert_eq!(plan.max_file_size(), 15 << 20);
    let (_, w) = f.create("seq").await;
    let data = bytes(15 << 20, 13);
    f.write_in_mib(w, 0, &data).await;
    let err = f.fs.write(w, 15 << 20, bytes(1, 1)).await.unwrap_err();
    assert_eq!(err.errno(), libc::EFBIG, "{err}");
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("seq").unwrap(), data);
    assert_eq!(f.segments_of("seq").await, 4);
    // written back to front: a local file, cut the same way
    let (_, w) = f.create("rev").await;
    for i in (0..15).rev() {
        let piece = data.slice(i << 20..(i + 1) << 20);
        f.fs.write(w, (i << 20) as u64, piece).await.unwrap();
    }
    let err =
        f.fs.write(w, (15 << 20) - 1, bytes(2, 1))
            .await
            .unwrap_err();
    assert_eq!(err.errno(), libc::EFBIG, "{err}");
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("rev").unwrap(), data);
    assert_eq!(f.segments_of("rev").await, 4);
}

/// A file that ends within its first segment is one plain object, even past the
/// memory buffer: no manifest, no segments container.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_within_the_first_segment_is_one_plain_put() {
    let plan = SegmentPlan::new(32 << 20, None, None);
    let f = fixture_with(MemoryStore::new(), plan).await;
    let (_, w) = f.create("one").await;
    let data = bytes(32 << 20, 14);
    f.write_in_mib(w, 0, &data).await;
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("one").unwrap(), data);
    let info = f
        .memory
        .head_object(&f.container, &ObjectName::new("one").unwrap())
        .await
        .unwrap();
    assert!(info.manifest.is_none(), "stored as a manifest");
    assert!(f.memory.object_names("c_segments").is_empty());
}

impl Fixture {
    async fn mkdir(&self, parent: u64, name: &str) -> Result<u64, FsError> {
        Ok(self
            .fs
            .mkdir(parent, OsStr::new(name), 0o755, OWNER)
            .await?
            .ino)
    }

    /// The names in a folder, as a fresh `ls` sees them.
    async fn names(&self, ino: u64) -> Vec<String> {
        names_in(&self.fs, ino).await
    }

    /// Marker PUTs of names containing `part` take `wait`.
    fn slow_markers(&self, part: &str, wait: Duration) {
        self.faults.inject(
            Rule::new(Op::Put, Effect::Delay(wait))
                .on(part)
                .times(u64::MAX),
        );
    }
}

const MARKER_DELAY: Duration = Duration::from_millis(400);

#[tokio::test(flavor = "multi_thread")]
async fn mkdir_answers_before_its_marker_is_stored_and_fsyncdir_waits_for_it() {
    let f = fixture().await;
    f.slow_markers("new", MARKER_DELAY);
    let started = Instant::now();
    let ino = f.mkdir(ROOT_INO, "new").await.unwrap();
    assert!(
        started.elapsed() < MARKER_DELAY / 2,
        "mkdir waited for its PUT"
    );
    assert_eq!(f.stored("new"), None);
    // looked up (the parent was never listed) and listed meanwhile
    let found = f.fs.lookup(ROOT_INO, OsStr::new("new")).await.unwrap();
    assert_eq!((found.ino, found.kind), (ino, NodeKind::Dir));
    assert_eq!(f.names(ROOT_INO).await, ["new"]);
    // and after the parent's listing expired
    f.fs.dirs.invalidate(ROOT_INO);
    assert_eq!(f.names(ROOT_INO).await, ["new"]);
    assert_eq!(f.names(ino).await, Vec::<String>::new());
    f.fs.fsync_dir(ROOT_INO).await.unwrap();
    assert!(started.elapsed() >= MARKER_DELAY);
    assert_eq!(f.stored("new"), Some(Bytes::new()));
    f.fs.dirs.invalidate(ROOT_INO);
    assert_eq!(f.names(ROOT_INO).await, ["new"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn fsyncdir_of_the_folder_itself_waits_for_its_marker() {
    let f = fixture().await;
    f.slow_markers("own", MARKER_DELAY);
    let ino = f.mkdir(ROOT_INO, "own").await.unwrap();
    f.fs.fsync_dir(ino).await.unwrap();
    assert_eq!(f.stored("own"), Some(Bytes::new()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_marker_fails_fsyncdir_once_and_the_folder_goes() {
    let f = fixture().await;
    f.faults.inject(
        Rule::new(Op::Put, Effect::Status(503))
            .on("bad")
            .times(u64::MAX),
    );
    let ino = f.mkdir(ROOT_INO, "bad").await.unwrap();
    f.mkdir(ino, "below").await.unwrap();
    let err = f.fs.fsync_dir(ROOT_INO).await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO, "{err}");
    f.fs.fsync_dir(ROOT_INO).await.unwrap();
    // the folder inside failed too ("bad/below"): its own fsyncdir reports it, once
    let err = f.fs.fsync_dir(ino).await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO, "{err}");
    f.fs.fsync_dir(ino).await.unwrap();
    assert_eq!(f.stored("bad"), None);
    assert_eq!(f.names(ROOT_INO).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn rmdir_of_a_pending_folder_leaves_nothing_behind() {
    let f = fixture().await;
    f.slow_markers("gone", MARKER_DELAY);
    f.mkdir(ROOT_INO, "gone").await.unwrap();
    f.fs.rmdir(ROOT_INO, OsStr::new("gone")).await.unwrap();
    assert_eq!(f.names(ROOT_INO).await, Vec::<String>::new());
    // a PUT that was in flight is waited for and deleted; a queued one never goes
    tokio::time::sleep(MARKER_DELAY * 2).await;
    assert_eq!(f.stored("gone"), None);
    f.fs.dirs.invalidate(ROOT_INO);
    assert_eq!(f.names(ROOT_INO).await, Vec::<String>::new());
    f.fs.fsync_dir(ROOT_INO).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn rmdir_of_a_folder_with_a_pending_folder_inside_is_enotempty() {
    let f = fixture().await;
    f.slow_markers("inner", MARKER_DELAY);
    let outer = f.mkdir(ROOT_INO, "outer").await.unwrap();
    f.mkdir(outer, "inner").await.unwrap();
    let err = f.fs.rmdir(ROOT_INO, OsStr::new("outer")).await.unwrap_err();
    assert_eq!(err.errno(), libc::ENOTEMPTY);
}

#[tokio::test(flavor = "multi_thread")]
async fn rename_of_a_pending_folder_waits_for_its_marker() {
    let f = fixture().await;
    f.slow_markers("src", MARKER_DELAY);
    let src = f.mkdir(ROOT_INO, "src").await.unwrap();
    f.mkdir(src, "sub").await.unwrap();
    f.fs.rename(
        ROOT_INO,
        OsStr::new("src"),
        ROOT_INO,
        OsStr::new("dst"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(f.stored("src"), None);
    assert_eq!(f.stored("src/sub"), None);
    assert_eq!(f.stored("dst"), Some(Bytes::new()));
    assert_eq!(f.stored("dst/sub"), Some(Bytes::new()));
    f.fs.dirs.invalidate(ROOT_INO);
    assert_eq!(f.names(ROOT_INO).await, ["dst"]);
    // over a pending empty folder
    f.slow_markers("over", MARKER_DELAY);
    f.mkdir(ROOT_INO, "over").await.unwrap();
    f.fs.rename(
        ROOT_INO,
        OsStr::new("dst"),
        ROOT_INO,
        OsStr::new("over"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(f.stored("over/sub"), Some(Bytes::new()));
    assert_eq!(f.stored("dst"), None);
    f.fs.dirs.invalidate(ROOT_INO);
    assert_eq!(f.names(ROOT_INO).await, ["over"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn mkdir_of_a_pending_name_is_eexist() {
    let f = fixture().await;
    f.slow_markers("twice", MARKER_DELAY);
    f.mkdir(ROOT_INO, "twice").await.unwrap();
    let err = f.mkdir(ROOT_INO, "twice").await.unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
    f.fs.dirs.invalidate(ROOT_INO);
    let err = f.mkdir(ROOT_INO, "twice").await.unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
}

#[tokio::test(flavor = "multi_thread")]
async fn unmount_stores_every_pending_marker() {
    let f = fixture().await;
    f.slow_markers("d", Duration::from_millis(50));
    for i in 0..20 {
        f.mkdir(ROOT_INO, &format!("d{i:02}")).await.unwrap();
    }
    f.fs.store_pending_dirs(Duration::from_secs(10)).await;
    for i in 0..20 {
        assert_eq!(f.stored(&format!("d{i:02}")), Some(Bytes::new()));
    }
}

// ---- what a real tree holds: links, fifos, modes, owners, folder times, xattrs

const SOMEONE: Caller = Caller {
    uid: 1234,
    gid: 5678,
};

/// The attributes of `path` (names joined by `/`) as a mount sees them.
async fn attr_at(fs: &SwiftFs, path: &str) -> Attr {
    let mut ino = ROOT_INO;
    let mut attr = fs.getattr(ROOT_INO).unwrap();
    for name in path.split('/') {
        attr = fs.lookup(ino, OsStr::new(name)).await.unwrap();
        ino = attr.ino;
    }
    attr
}

/// The names in folder `ino` of `fs`, as a fresh `ls` sees them.
async fn names_in(fs: &SwiftFs, ino: u64) -> Vec<String> {
    let dir = fs.opendir(ino).await.unwrap();
    let mut names = Vec::new();
    fs.readdir(ino, dir, 0, false, |e, _| {
        names.push(e.name.clone());
        false
    })
    .unwrap();
    fs.release_dir(dir);
    names.retain(|n| n != "." && n != "..");
    names
}

/// The entries of the root as one listing hands them over (readdirplus).
async fn listed(fs: &SwiftFs) -> std::collections::BTreeMap<String, Attr> {
    let dir = fs.opendir(ROOT_INO).await.unwrap();
    let mut out = std::collections::BTreeMap::new();
    fs.readdir(ROOT_INO, dir, 0, true, |e, _| {
        out.insert(e.name.clone(), e.attr.clone());
        false
    })
    .unwrap();
    fs.release_dir(dir);
    out.remove(".");
    out.remove("..");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn links_fifos_modes_and_owners_come_back_from_one_listing() {
    let f = fixture().await;
    let long = "../".repeat(1365);
    for (name, target) in [
        ("rel", "../up/there"),
        ("abs", "/etc/hostname"),
        ("long", &long),
    ] {
        f.fs.symlink(ROOT_INO, OsStr::new(name), OsStr::new(target), OWNER)
            .await
            .unwrap();
    }
    f.fs.mknod(ROOT_INO, OsStr::new("pipe"), libc::S_IFIFO | 0o640, SOMEONE)
        .await
        .unwrap();
    f.fs.mknod(ROOT_INO, OsStr::new("sock"), libc::S_IFSOCK | 0o600, OWNER)
        .await
        .unwrap();
    let err =
        f.fs.mknod(ROOT_INO, OsStr::new("dev"), libc::S_IFCHR | 0o600, OWNER);
    assert_eq!(err.await.unwrap_err().errno(), libc::EPERM);
    let (attr, opened) =
        f.fs.create(ROOT_INO, OsStr::new("secret"), true, WRITER, 0o600, SOMEONE)
            .await
            .unwrap();
    assert_eq!((attr.perm, attr.uid, attr.gid), (0o600, 1234, 5678));
    f.close(opened.fh, WRITER).await.unwrap();
    f.mkdir(ROOT_INO, "private").await.unwrap();
    let dir = attr_at(&f.fs, "private").await.ino;
    let t = SystemTime::UNIX_EPOCH + Duration::new(1_500_000_000, 123_456_789);
    let change = SetAttr {
        mode: Some(0o700),
        mtime: Some(t),
        uid: Some(42),
        ..SetAttr::default()
    };
    f.fs.setattr(dir, change).await.unwrap();

    let fs = f.remount();
    let before = f.memory.request_count();
    let entries = listed(&fs).await;
    assert_eq!(f.memory.request_count() - before, 1, "one listing, no HEAD");
    let kind = |n: &str| entries[n].kind;
    assert_eq!(kind("rel"), NodeKind::Symlink);
    assert_eq!(entries["long"].size, long.len() as u64);
    assert_eq!(kind("pipe"), NodeKind::Fifo);
    assert_eq!(kind("sock"), NodeKind::Socket);
    let p = &entries["pipe"];
    assert_eq!((p.perm, p.uid, p.gid), (0o640, 1234, 5678));
    let s = &entries["secret"];
    assert_eq!(
        (s.kind, s.perm, s.uid, s.gid),
        (NodeKind::File, 0o600, 1234, 5678)
    );
    let d = &entries["private"];
    assert_eq!(
        (d.kind, d.perm, d.uid, d.gid, d.mtime),
        (NodeKind::Dir, 0o700, 42, 0, t)
    );
    for (name, target) in [
        ("rel", "../up/there"),
        ("abs", "/etc/hostname"),
        ("long", &long),
    ] {
        assert_eq!(fs.readlink(entries[name].ino).await.unwrap(), target);
    }
    assert_eq!(
        f.memory.request_count() - before,
        1,
        "targets came with the listing"
    );
    // the stored owner equal to the mount's is not stored: it stays the mount's
    let change = SetAttr {
        uid: Some(0),
        ..SetAttr::default()
    };
    fs.setattr(entries["secret"].ino, change).await.unwrap();
    let fs = f.remount();
    assert_eq!(attr_at(&fs, "secret").await.uid, f.config.uid);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mode_change_keeps_data_and_other_metadata_of_a_large_object() {
    let f = fixture().await;
    let (ino, w) = f.create("big").await;
    let data = bytes(10 << 20, 7);
    f.fs.write(w, 0, data.clone()).await.unwrap();
    f.close(w, WRITER).await.unwrap();
    let info = f
        .memory
        .head_object(&f.container, &ObjectName::new("big".to_string()).unwrap())
        .await
        .unwrap();
    assert!(info.manifest.is_some(), "stored as segments");
    let change = SetAttr {
        mode: Some(0o751),
        ..SetAttr::default()
    };
    f.fs.setattr(ino, change).await.unwrap();
    f.fs.setxattr(ino, OsStr::new("user.k"), b"v", XattrWrite::Either)
        .await
        .unwrap();
    let fs = f.remount();
    let attr = attr_at(&fs, "big").await;
    assert_eq!((attr.perm, attr.size), (0o751, data.len() as u64));
    let opened = fs.open(attr.ino, OpenMode::default()).await.unwrap();
    let mut back = Vec::new();
    while back.len() < data.len() {
        let part = fs
            .read(opened.fh, back.len() as u64, 1 << 20)
            .await
            .unwrap();
        assert!(!part.is_empty());
        back.extend_from_slice(&part);
    }
    assert!(back == data, "the data survived the metadata changes");
    assert_eq!(
        fs.getxattr(attr.ino, OsStr::new("user.k")).await.unwrap(),
        b"v"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mode_change_of_a_file_being_written_is_stored_at_its_close() {
    let f = fixture().await;
    let (ino, w) = f.create("open").await;
    f.fs.write(w, 0, Bytes::from_static(b"abc")).await.unwrap();
    let change = SetAttr {
        mode: Some(0o600),
        ..SetAttr::default()
    };
    f.fs.setattr(ino, change).await.unwrap();
    assert_eq!(f.stored("open"), None, "the writer's close stores it");
    assert_eq!(f.fs.getattr(ino).unwrap().perm, 0o600);
    f.fs.write(w, 3, Bytes::from_static(b"def")).await.unwrap();
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.stored("open").as_deref(), Some(&b"abcdef"[..]));
    assert_eq!(attr_at(&f.remount(), "open").await.perm, 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn user_xattrs_are_stored_within_swifts_limits_and_others_refused() {
    let f = fixture().await;
    let (ino, w) = f.create("x").await;
    f.close(w, WRITER).await.unwrap();
    let set = |name: &'static str, value: Vec<u8>| {
        let fs = &f.fs;
        async move {
            fs.setxattr(ino, OsStr::new(name), &value, XattrWrite::Either)
                .await
        }
    };
    set("user.Mixed_Case", b"one\0two \xff".to_vec())
        .await
        .unwrap();
    set("user.empty", Vec::new()).await.unwrap();
    let err = set("security.selinux", b"x".to_vec()).await.unwrap_err();
    assert_eq!(err.errno(), libc::ENOTSUP);
    let err = set("user.big", vec![b'v'; 300]).await.unwrap_err();
    assert_eq!(err.errno(), libc::E2BIG);
    let mut last = Ok(());
    for i in 0..40 {
        let name: &'static str = Box::leak(format!("user.n{i:02}").into_boxed_str());
        last = set(name, vec![b'v'; 200]).await;
        if last.is_err() {
            break;
        }
    }
    assert_eq!(last.unwrap_err().errno(), libc::ENOSPC, "4 KiB in all");
    let err =
        f.fs.setxattr(ino, OsStr::new("user.empty"), b"", XattrWrite::Create)
            .await;
    assert_eq!(err.unwrap_err().errno(), libc::EEXIST);
    f.fs.removexattr(ino, OsStr::new("user.n00")).await.unwrap();
    let err = f.fs.removexattr(ino, OsStr::new("user.n00")).await;
    assert_eq!(err.unwrap_err().errno(), libc::ENODATA);

    let fs = f.remount();
    let attr = attr_at(&fs, "x").await;
    let names = fs.listxattr(attr.ino).await.unwrap();
    assert!(names.contains(&"user.Mixed_Case".to_string()), "{names:?}");
    assert!(!names.contains(&"user.n00".to_string()));
    assert_eq!(
        fs.getxattr(attr.ino, OsStr::new("user.Mixed_Case"))
            .await
            .unwrap(),
        b"one\0two \xff"
    );
    assert_eq!(
        fs.getxattr(attr.ino, OsStr::new("user.empty"))
            .await
            .unwrap(),
        b""
    );
    // a file whose listing says it has none costs no request
    let (plain, w) = f.create("plain").await;
    f.close(w, WRITER).await.unwrap();
    let fs = f.remount();
    listed(&fs).await;
    let plain_attr = attr_at(&fs, "plain").await;
    let before = f.memory.request_count();
    assert!(fs.listxattr(plain_attr.ino).await.unwrap().is_empty());
    assert_eq!(f.memory.request_count(), before);
    let _ = plain;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_follow_markers_open_files_and_the_listing_cache() {
    let f = fixture().await;
    // long enough to be seen in flight on a loaded machine
    f.slow_markers("slow", Duration::from_secs(3));
    f.mkdir(ROOT_INO, "slow").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.metric("swiftmount_folder_markers_in_flight") < 1.0 {
        assert!(Instant::now() < deadline, "the marker never went out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f.fs.fsync_dir(ROOT_INO).await.unwrap();
    assert_eq!(f.metric("swiftmount_folder_markers_in_flight"), 0.0);

    // the root was never listed: the first ls asks Swift, the second and a lookup
    // of a listed name do not
    let hits = "swiftmount_listing_cache_hits_total";
    let misses = "swiftmount_listing_cache_misses_total";
    let (h, m) = (f.metric(hits), f.metric(misses));
    f.names(ROOT_INO).await;
    f.names(ROOT_INO).await;
    assert!(f.fs.lookup_cached(ROOT_INO, OsStr::new("slow")).is_some());
    assert_eq!((f.metric(hits), f.metric(misses)), (h + 2.0, m + 1.0));

    let (ino, w) = f.create("file").await;
    let r = f.open(ino, false, READER).await;
    assert_eq!(
        f.metric("swiftmount_open_files"),
        1.0,
        "one file, two handles"
    );
    f.close(r, READER).await.unwrap();
    assert_eq!(f.metric("swiftmount_open_files"), 1.0);
    f.close(w, WRITER).await.unwrap();
    assert_eq!(f.metric("swiftmount_open_files"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_too_long_is_enametoolong_from_a_cached_listing_too() {
    let f = fixture().await;
    f.names(ROOT_INO).await;
    let long = "n".repeat(NAME_MAX + 1);
    let cached = f.fs.lookup_cached(ROOT_INO, OsStr::new(&long));
    assert_eq!(cached.unwrap().unwrap_err().errno(), libc::ENAMETOOLONG);
    let asked = f.fs.lookup(ROOT_INO, OsStr::new(&long)).await;
    assert_eq!(asked.unwrap_err().errno(), libc::ENAMETOOLONG);
}

/// A listing of the root as Swift holds it now, rows and all.
/// Another writer's object `name`, PUT straight into Swift (plain metadata).
async fn put_theirs(f: &Fixture, name: &str, data: Bytes) {
    let object = ObjectName::new(name.to_string()).unwrap();
    let meta = crate::swift::ObjectMeta::default();
    f.memory
        .put_object(&f.container, &object, data, &meta)
        .await
        .unwrap();
}

async fn root_rows(f: &Fixture) -> Vec<crate::swift::ListEntry> {
    let query = ListQuery {
        delimiter: Some('/'),
        ..ListQuery::default()
    };
    f.memory.list_page(&f.container, &query).await.unwrap()
}

/// A cluster whose container replica missed the mount's own updates (its object
/// server died before sending them) lists the old rows; the mount lists every time.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_listing_does_not_undo_the_mounts_own_changes() {
    let f = fixture().await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    for name in ["keep", "gone", "old"] {
        let (attr, opened) = fs
            .create(ROOT_INO, OsStr::new(name), true, WRITER, 0o644, OWNER)
            .await
            .unwrap();
        fs.write(opened.fh, 0, bytes(100, attr.ino as u8))
            .await
            .unwrap();
        fs.flush(opened.fh, WRITER).await.unwrap();
        fs.release(opened.fh).await;
    }
    // a large object: listings show its manifest's ETag, not the one a HEAD gives
    let (_, opened) = fs
        .create(ROOT_INO, OsStr::new("big"), true, WRITER, 0o644, OWNER)
        .await
        .unwrap();
    fs.write(opened.fh, 0, bytes(3 << 20, 3)).await.unwrap();
    fs.flush(opened.fh, WRITER).await.unwrap();
    fs.release(opened.fh).await;
    let before = root_rows(&f).await;
    let root_names = |rows: &[crate::swift::ListEntry]| -> Vec<String> {
        rows.iter()
            .filter_map(|r| match r {
                crate::swift::ListEntry::Object(o) => Some(o.name.clone()),
                crate::swift::ListEntry::Subdir { .. } => None,
            })
            .collect()
    };
    assert_eq!(root_names(&before), ["big", "gone", "keep", "old"]);
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(before.clone())).times(u64::MAX));

    fs.unlink(ROOT_INO, OsStr::new("gone")).await.unwrap();
    fs.unlink(ROOT_INO, OsStr::new("big")).await.unwrap();
    rename_in_root(&fs, "old", "new").await;
    let (_, opened) = fs
        .create(ROOT_INO, OsStr::new("fresh"), true, WRITER, 0o644, OWNER)
        .await
        .unwrap();
    fs.write(opened.fh, 0, bytes(7, 7)).await.unwrap();
    fs.flush(opened.fh, WRITER).await.unwrap();
    fs.release(opened.fh).await;
    fs.mkdir(ROOT_INO, OsStr::new("made"), 0o755, OWNER)
        .await
        .unwrap();
    fs.store_pending_dirs(Duration::from_secs(10)).await;

    let sizes = |l: std::collections::BTreeMap<String, Attr>| -> Vec<(String, u64)> {
        l.into_iter().map(|(n, a)| (n, a.size)).collect()
    };
    assert_eq!(
        sizes(listed(&fs).await),
        [
            ("fresh".to_string(), 7),
            ("keep".to_string(), 100),
            ("made".to_string(), 0),
            ("new".to_string(), 100),
        ],
        "the stale listing still had big, gone and old, and not fresh, made or new"
    );
    assert!(matches!(
        fs.lookup(ROOT_INO, OsStr::new("gone")).await,
        Err(FsError::NotFound)
    ));
    // a mount that made none of these changes lists what the lagging replica says
    assert_eq!(
        listed(&f.remount()).await.len(),
        4,
        "the fault must show the old rows"
    );

    // another writer stores "gone" again: a version we did not delete is shown
    f.faults.clear();
    let mut newer = before.clone();
    for row in &mut newer {
        if let crate::swift::ListEntry::Object(o) = row
            && o.name == "gone"
        {
            o.hash = "another-writers-version".into();
            o.bytes = 5;
        }
    }
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(newer)).times(u64::MAX));
    let names: Vec<String> = listed(&fs).await.into_keys().collect();
    assert_eq!(names, ["fresh", "gone", "keep", "made", "new"]);
}

/// A folder we removed or moved away is hidden while a lagging listing still shows
/// its marker alone (the soak: `mkdir notes.txt`, renamed over an empty folder, and
/// listed again), but shown as soon as objects below it are listed.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_listing_does_not_bring_back_a_folder_we_removed() {
    let f = fixture().await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    for name in ["gone", "moved", "over"] {
        fs.mkdir(ROOT_INO, OsStr::new(name), 0o755, OWNER)
            .await
            .unwrap();
    }
    fs.store_pending_dirs(Duration::from_secs(10)).await;
    let before = root_rows(&f).await;
    assert_eq!(before.len(), 3, "{before:?}");
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(before.clone())).times(u64::MAX));
    fs.rmdir(ROOT_INO, OsStr::new("gone")).await.unwrap();
    rename_in_root(&fs, "moved", "over").await;
    let names: Vec<String> = listed(&fs).await.into_keys().collect();
    assert_eq!(
        names,
        ["over"],
        "the lagging listing showed all three markers"
    );
    assert_not_found(&fs, &["gone", "moved"]).await;

    // another writer stores a file below "gone": the folder is back
    put_theirs(&f, "gone/new", bytes(5, 1)).await;
    let mut rows = before;
    rows.push(crate::swift::ListEntry::Subdir {
        subdir: "gone/".into(),
    });
    f.faults.clear();
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(rows)).times(u64::MAX));
    let names: Vec<String> = listed(&fs).await.into_keys().collect();
    assert_eq!(names, ["gone", "over"]);
}

/// A folder with files, moved away or emptied and removed: a lagging replica still
/// lists its old objects (the parent as a `subdir` row), which are only what we
/// deleted, so the folder stays gone; one object of another writer brings it back.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_listing_of_a_folders_old_files_does_not_bring_it_back() {
    let f = fixture().await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    for dir in ["moved", "emptied"] {
        let made = fs
            .mkdir(ROOT_INO, OsStr::new(dir), 0o755, OWNER)
            .await
            .unwrap();
        for (i, file) in ["a", "b"].into_iter().enumerate() {
            let (_, opened) = fs
                .create(made.ino, OsStr::new(file), true, WRITER, 0o644, OWNER)
                .await
                .unwrap();
            fs.write(opened.fh, 0, bytes(10 + i, 1)).await.unwrap();
            fs.release(opened.fh).await;
        }
    }
    fs.store_pending_dirs(Duration::from_secs(10)).await;
    let list = |prefix: &str| {
        let query = ListQuery {
            prefix: Some(prefix.to_string()),
            ..ListQuery::default()
        };
        let (memory, container) = (f.memory.clone(), f.container.clone());
        async move { memory.list_page(&container, &query).await.unwrap() }
    };
    let stale = |prefix: &'static str, rows: Vec<crate::swift::ListEntry>| {
        Rule::new(Op::List, Effect::Rows(rows))
            .on(prefix)
            .times(u64::MAX)
    };
    let (moved, emptied, root) = (
        list("moved/").await,
        list("emptied/").await,
        root_rows(&f).await,
    );
    assert_eq!(
        (moved.len(), emptied.len()),
        (2, 2),
        "{moved:?} {emptied:?}"
    );

    rename_in_root(&fs, "moved", "away").await;
    let emptied_ino = fs
        .lookup(ROOT_INO, OsStr::new("emptied"))
        .await
        .unwrap()
        .ino;
    for file in ["a", "b"] {
        fs.unlink(emptied_ino, OsStr::new(file)).await.unwrap();
    }
    fs.rmdir(ROOT_INO, OsStr::new("emptied")).await.unwrap();
    f.faults.inject(stale("moved/", moved.clone()));
    f.faults.inject(stale("emptied/", emptied.clone()));
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(root.clone())).times(u64::MAX));
    let names: Vec<String> = listed(&fs).await.into_keys().collect();
    assert_eq!(
        names,
        ["away"],
        "the lagging listing showed the old folders"
    );
    assert_not_found(&fs, &["moved", "emptied"]).await;

    // another writer stores a file below "moved": the folder is back, with that file
    put_theirs(&f, "moved/new", bytes(5, 2)).await;
    f.faults.clear();
    f.faults
        .inject(stale("moved/", [moved, list("moved/").await].concat()));
    f.faults.inject(stale("emptied/", emptied));
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(root)).times(u64::MAX));
    let names: Vec<String> = listed(&fs).await.into_keys().collect();
    assert_eq!(names, ["away", "moved"]);
    let back = fs.lookup(ROOT_INO, OsStr::new("moved")).await.unwrap();
    let dir = fs.opendir(back.ino).await.unwrap();
    let mut inside = Vec::new();
    fs.readdir(back.ino, dir, 0, false, |e, _| {
        inside.push(e.name.clone());
        false
    })
    .unwrap();
    fs.release_dir(dir);
    inside.retain(|n| n != "." && n != "..");
    assert_eq!(inside, ["new"], "only the other writer's file is below it");
}

/// A listing that does not show our new files yet (the container update of a killed
/// object server): rmdir must not call the folder empty, and renaming it moves them.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_listing_without_our_new_files_keeps_their_folder_whole() {
    let f = fixture().await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    let dir = fs
        .mkdir(ROOT_INO, OsStr::new("d"), 0o755, OWNER)
        .await
        .unwrap();
    fs.store_pending_dirs(Duration::from_secs(10)).await;
    let root = root_rows(&f).await;
    let (_, opened) = fs
        .create(dir.ino, OsStr::new("f"), true, WRITER, 0o644, OWNER)
        .await
        .unwrap();
    fs.write(opened.fh, 0, bytes(20, 1)).await.unwrap();
    fs.release(opened.fh).await;
    // every listing as before the file: the root's rows, nothing below "d/"
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(root)).times(u64::MAX));
    let refused = fs.rmdir(ROOT_INO, OsStr::new("d")).await;
    assert!(matches!(refused, Err(FsError::NotEmpty)), "{refused:?}");
    rename_in_root(&fs, "d", "e").await;
    let head = |name: &str| {
        let object = ObjectName::new(name.to_string()).unwrap();
        let (memory, container) = (f.memory.clone(), f.container.clone());
        async move { memory.head_object(&container, &object).await }
    };
    assert_eq!(
        head("e/f").await.unwrap().size,
        20,
        "the file moved with its folder"
    );
    assert!(matches!(head("d/f").await, Err(SwiftError::NotFound(_))));
}

/// A node that missed our rename over a file still has the version we replaced; the
/// proxy may ask it (the soak found `stat` after `rename a b` give the old `b`'s
/// size): a lookup keeps what we stored, and an open asks for our version by its ETag.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_replica_of_a_file_we_replaced_is_not_what_we_show_or_open() {
    let f = fixture().await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    let (old, new) = (bytes(100, 1), bytes(200, 2));
    for (name, data) in [("b", &old), ("h", &new), ("stale-b", &old)] {
        put_theirs(&f, name, data.clone()).await;
    }
    rename_in_root(&fs, "h", "b").await;
    let stale = ObjectName::new("stale-b".to_string()).unwrap();
    for op in [Op::Head, Op::Get] {
        let rule = Rule::new(op, Effect::StaleAs(stale.clone())).on("b");
        f.faults.inject(rule.times(u64::MAX));
    }
    let b = fs.lookup(ROOT_INO, OsStr::new("b")).await.unwrap();
    assert_eq!(b.size, 200, "the size of the file we renamed over b");
    // the first open uses the HEAD the rename made, the second asks Swift
    for _ in 0..2 {
        let opened = fs.open(b.ino, OpenMode::default()).await.unwrap();
        let got = fs.read(opened.fh, 0, 4096).await.unwrap();
        assert!(
            got == new,
            "{} bytes: not what we renamed over b",
            got.len()
        );
        fs.release(opened.fh).await;
    }
    assert!(f.faults.fired() >= 3, "the stale node was asked");
    // emptied (the soak found a truncate to 0 read back whole): an empty object has
    // no range to GET, so the open asks a HEAD, which the stale node answers too
    let empty = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    fs.setattr(b.ino, empty).await.unwrap();
    for _ in 0..2 {
        let opened = fs.open(b.ino, OpenMode::default()).await.unwrap();
        let got = fs.read(opened.fh, 0, 4096).await.unwrap();
        assert!(
            got.is_empty(),
            "{} bytes read of the emptied file",
            got.len()
        );
        fs.release(opened.fh).await;
    }
    let b = fs.lookup(ROOT_INO, OsStr::new("b")).await.unwrap();
    assert_eq!(b.size, 0);
}

/// The marker of a folder we removed, still listed by a lagging replica, is no
/// object below its parent (the soak, seed 3, found `rmdir` of the parent refused).
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_listing_of_a_removed_folders_marker_lets_its_parent_go() {
    let f = fixture().await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    let p = fs
        .mkdir(ROOT_INO, OsStr::new("p"), 0o755, OWNER)
        .await
        .unwrap();
    fs.mkdir(p.ino, OsStr::new("q"), 0o755, OWNER)
        .await
        .unwrap();
    fs.store_pending_dirs(Duration::from_secs(10)).await;
    put_theirs(&f, "p/r/", Bytes::new()).await;
    let query = ListQuery {
        prefix: Some("p/".into()),
        ..ListQuery::default()
    };
    let below_p = f.memory.list_page(&f.container, &query).await.unwrap();
    assert_eq!(below_p.len(), 2, "both markers: {below_p:?}");
    fs.rmdir(p.ino, OsStr::new("q")).await.unwrap();
    fs.rmdir(p.ino, OsStr::new("r")).await.unwrap();
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(below_p)).times(u64::MAX));
    fs.rmdir(ROOT_INO, OsStr::new("p")).await.unwrap();
}

/// A folder's rename copies what others wrote below it; a replica that missed the
/// copies' updates lists nothing below the new name (the soak, seed 3, found a moved
/// file missing from its new folder): the copies are shown, and the folder is not
/// empty, until the listing has them.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_listing_without_a_moved_folders_copies_still_shows_them() {
    let f = fixture().await;
    put_theirs(&f, "d/c", bytes(5, 1)).await;
    put_theirs(&f, "d/sub/b", bytes(7, 2)).await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    let (root, below_d) = (root_rows(&f).await, {
        let query = ListQuery {
            prefix: Some("d/".into()),
            ..ListQuery::default()
        };
        f.memory.list_page(&f.container, &query).await.unwrap()
    });
    assert_eq!(below_d.len(), 2, "{below_d:?}");
    rename_in_root(&fs, "d", "e").await;
    // every listing as before the rename
    for (prefix, rows) in [("e/", Vec::new()), ("d/", below_d)] {
        let stale = Rule::new(Op::List, Effect::Rows(rows)).on(prefix);
        f.faults.inject(stale.times(u64::MAX));
    }
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(root)).times(u64::MAX));
    let names: Vec<String> = listed(&fs).await.into_keys().collect();
    assert_eq!(names, ["e"]);
    let e = fs.lookup(ROOT_INO, OsStr::new("e")).await.unwrap();
    assert_eq!(names_in(&fs, e.ino).await, ["c", "sub"]);
    let sub = fs.lookup(e.ino, OsStr::new("sub")).await.unwrap();
    assert_eq!(sub.kind, NodeKind::Dir);
    assert_eq!(names_in(&fs, sub.ino).await, ["b"]);
    let b = fs.lookup(sub.ino, OsStr::new("b")).await.unwrap();
    assert_eq!(b.size, 7);
    let refused = fs.rmdir(e.ino, OsStr::new("sub")).await;
    assert!(matches!(refused, Err(FsError::NotEmpty)), "{refused:?}");
    // moved once more, the copies go along though no listing shows them yet
    rename_in_root(&fs, "e", "g").await;
    let g = fs.lookup(ROOT_INO, OsStr::new("g")).await.unwrap();
    assert_eq!(names_in(&fs, g.ino).await, ["c", "sub"]);
    let object = ObjectName::new("g/sub/b".to_string()).unwrap();
    let moved = f.memory.head_object(&f.container, &object).await.unwrap();
    assert_eq!(moved.size, 7);
}

/// A replica can miss several of our changes to a name: one that shows a version we
/// replaced before the delete or rename (the soak found a file truncated, then renamed
/// away, listed again with its size before the truncate) does not bring the name back.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_listing_of_a_version_replaced_before_the_delete_stays_hidden() {
    let f = fixture().await;
    put_theirs(&f, "theirs", bytes(50, 1)).await;
    let fs = f.remount_with(|c| c.dir_cache_ttl = Duration::ZERO);
    let (attr, opened) = fs
        .create(ROOT_INO, OsStr::new("ours"), true, WRITER, 0o644, OWNER)
        .await
        .unwrap();
    fs.write(opened.fh, 0, bytes(100, 2)).await.unwrap();
    fs.release(opened.fh).await;
    let ours = attr.ino;
    let before = root_rows(&f).await;
    assert_eq!(before.len(), 2, "{before:?}");
    f.faults
        .inject(Rule::new(Op::List, Effect::Rows(before)).times(u64::MAX));

    // another client's file: looked up, truncated through the mount, removed
    let theirs = fs.lookup(ROOT_INO, OsStr::new("theirs")).await.unwrap().ino;
    let truncate = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    fs.setattr(theirs, truncate).await.unwrap();
    fs.unlink(ROOT_INO, OsStr::new("theirs")).await.unwrap();
    // ours: truncated, then renamed away
    fs.setattr(ours, truncate).await.unwrap();
    rename_in_root(&fs, "ours", "moved").await;

    let names: Vec<String> = listed(&fs).await.into_keys().collect();
    assert_eq!(
        names,
        ["moved"],
        "the lagging listing showed both names with their sizes before the truncate"
    );
    assert_not_found(&fs, &["theirs", "ours"]).await;
    assert_eq!(attr_at(&fs, "moved").await.size, 0);
}

/// Swift symlinks made by another client are links, from one listing and from a
/// lookup alike: to the object within the mount, else through the folder above the
/// container.
#[tokio::test(flavor = "multi_thread")]
async fn swift_symlinks_of_other_clients_are_links() {
    let f = fixture().await;
    let c = f.container.as_str();
    for (name, to) in [
        ("d/near", format!("{c}/d/x")),
        ("top", format!("{c}/d/x")),
        ("out", "elsewhere/y".to_string()),
    ] {
        let meta = crate::swift::ObjectMeta {
            swift_link: Some(to),
            ..Default::default()
        };
        let object = ObjectName::new(name.to_string()).unwrap();
        f.memory
            .put_object(&f.container, &object, Bytes::new(), &meta)
            .await
            .unwrap();
    }
    let before = f.memory.request_count();
    let entries = listed(&f.fs).await;
    assert_eq!(f.memory.request_count() - before, 1, "one listing, no HEAD");
    assert_eq!(entries["top"].kind, NodeKind::Symlink);
    assert_eq!(entries["top"].size, 3);
    assert_eq!(f.fs.readlink(entries["top"].ino).await.unwrap(), "d/x");
    let out = f.fs.readlink(entries["out"].ino).await.unwrap();
    assert_eq!(out, "../elsewhere/y");
    // a lookup (a HEAD of the link itself) says the same
    let fs = f.remount();
    let near = attr_at(&fs, "d/near").await;
    assert_eq!(near.kind, NodeKind::Symlink);
    assert_eq!(fs.readlink(near.ino).await.unwrap(), "x");
}

async fn rename_in_root(fs: &SwiftFs, from: &str, to: &str) {
    let (from, to) = (OsStr::new(from), OsStr::new(to));
    fs.rename(ROOT_INO, from, ROOT_INO, to, false)
        .await
        .unwrap();
}

async fn assert_not_found(fs: &SwiftFs, names: &[&str]) {
    for name in names {
        let found = fs.lookup(ROOT_INO, OsStr::new(name)).await;
        assert!(matches!(found, Err(FsError::NotFound)), "{name}: {found:?}");
    }
}

/// What Swift holds under `name`: its metadata, as a HEAD (of the link itself) says.
async fn stored_meta(f: &Fixture, name: &str) -> crate::swift::ObjectMeta {
    let object = ObjectName::new(name.to_string()).unwrap();
    f.memory
        .head_object(&f.container, &object)
        .await
        .unwrap()
        .meta
}

#[tokio::test(flavor = "multi_thread")]
async fn links_to_objects_of_the_mount_are_swift_symlinks_and_stay_so() {
    let f = fixture().await;
    let d = f.mkdir(ROOT_INO, "d").await.unwrap();
    let link = |parent, name: &'static str, target: &'static str| {
        let fs = &f.fs;
        async move {
            fs.symlink(parent, OsStr::new(name), OsStr::new(target), OWNER)
                .await
                .unwrap()
        }
    };
    let native = link(d, "up", "../top").await;
    link(d, "here", "./x").await;
    link(ROOT_INO, "abs", "/etc/hosts").await;
    link(ROOT_INO, "out", "../elsewhere").await;
    link(ROOT_INO, "dir", "d/").await;
    assert_eq!(
        stored_meta(&f, "d/up").await.swift_link.as_deref(),
        Some("c/top")
    );
    assert_eq!(
        stored_meta(&f, "d/here").await.swift_link.as_deref(),
        Some("c/d/x")
    );
    assert_eq!(
        f.stored("d/up").unwrap(),
        Bytes::new(),
        "a Swift symlink's body is empty"
    );
    for plain in ["abs", "out", "dir"] {
        assert_eq!(stored_meta(&f, plain).await.swift_link, None, "{plain}");
    }
    assert_eq!(f.stored("abs").unwrap(), Bytes::from_static(b"/etc/hosts"));

    // another mount reads the exact target from the listing, lstat size included
    let other = f.remount();
    let up = attr_at(&other, "d/up").await;
    assert_eq!((up.kind, up.size), (NodeKind::Symlink, 6));
    assert_eq!(other.readlink(up.ino).await.unwrap(), "../top");

    // a time change is written as a new link (Swift redirects a POST to a link)
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let change = SetAttr {
        mtime: Some(t),
        ..SetAttr::default()
    };
    assert_eq!(f.fs.setattr(native.ino, change).await.unwrap().mtime, t);
    let meta = stored_meta(&f, "d/up").await;
    assert_eq!(
        (meta.mtime, meta.swift_link.as_deref()),
        (Some(t), Some("c/top"))
    );
    // a rename copies the link itself, not its target's content
    f.fs.rename(d, OsStr::new("up"), ROOT_INO, OsStr::new("moved"), false)
        .await
        .unwrap();
    let meta = stored_meta(&f, "moved").await;
    assert_eq!(meta.swift_link.as_deref(), Some("c/top"));
    assert_eq!(meta.posix.link.as_deref(), Some("../top"));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_swift_symlinks_every_link_is_a_plain_object() {
    let f = fixture().await;
    let fs = f.remount_with(|c| c.swift_symlinks = false);
    fs.symlink(ROOT_INO, OsStr::new("l"), OsStr::new("t"), OWNER)
        .await
        .unwrap();
    assert_eq!(stored_meta(&f, "l").await.swift_link, None);
    assert_eq!(f.stored("l").unwrap(), Bytes::from_static(b"t"));
}

// Reading: parallel ranged GETs pinned to the version opened.

const MIB: u64 = 1 << 20;

impl Fixture {
    /// Stores `data` as a plain object `name`, as another client would.
    async fn put_plain(&self, name: &str, data: Bytes) {
        let o = ObjectName::new(name.to_string()).unwrap();
        self.memory
            .put_object(
                &self.container,
                &o,
                data,
                &crate::swift::ObjectMeta::default(),
            )
            .await
            .unwrap();
    }

    /// The file `name` opened for reading by `fs`, a mount that is not writing it.
    async fn open_remote(fs: &SwiftFs, name: &str) -> u64 {
        let attr = fs.lookup(ROOT_INO, OsStr::new(name)).await.unwrap();
        fs.open(attr.ino, OpenMode::default()).await.unwrap().fh
    }
}

/// Reads `[from, to)` in reads of `step` bytes; each read's outcome, by offset.
async fn read_steps(
    fs: &SwiftFs,
    fh: u64,
    from: u64,
    to: u64,
    step: u32,
) -> Vec<(u64, Result<Bytes, FsError>)> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos < to {
        out.push((pos, fs.read(fh, pos, step).await));
        pos += u64::from(step);
    }
    out
}

/// A reader whose object is replaced while parts of it are in flight (every GET is
/// held back a little, so several are pending at once) gets the old version's
/// bytes up to some point and ESTALE from there on, never a byte of the new
/// version: for a plain object and for a large object (pinned by its own ETag).
#[tokio::test(flavor = "multi_thread")]
async fn a_reader_pinned_across_parallel_gets_gets_estale_never_mixed_bytes() {
    let f = fixture().await;
    let size = 40 * MIB as usize;
    let v1 = bytes(size, 1);
    f.put_plain("plain", v1.clone()).await;
    // written through the mount with 1 MiB segments: a large object
    let (_, w) = f.create("large").await;
    f.fs.write(w, 0, v1.clone()).await.unwrap();
    f.close(w, WRITER).await.unwrap();
    for name in ["plain", "large"] {
        let fs = f.remount();
        let fh = Fixture::open_remote(&fs, name).await;
        f.faults
            .inject(Rule::new(Op::Get, Effect::Delay(Duration::from_millis(20))).times(u64::MAX));
        for (pos, r) in read_steps(&fs, fh, 0, 4 * MIB, MIB as u32).await {
            let got = r.unwrap();
            assert!(
                got == v1.slice(pos as usize..(pos + MIB) as usize),
                "{name} at {pos}"
            );
        }
        // another client replaces it: every byte differs
        let v2 = bytes(size, 2);
        f.put_plain(name, v2.clone()).await;
        let mut stale_from = None;
        for (pos, r) in read_steps(&fs, fh, 4 * MIB, size as u64, MIB as u32).await {
            match r {
                Ok(got) => {
                    assert_eq!(stale_from, None, "{name}: bytes at {pos} after ESTALE");
                    let want = v1.slice(pos as usize..(pos + MIB) as usize);
                    assert!(got == want, "{name} at {pos}: not the old version's bytes");
                }
                Err(e) => {
                    assert_eq!(e.errno(), libc::ESTALE, "{name} at {pos}: {e}");
                    stale_from.get_or_insert(pos);
                }
            }
        }
        let stale_from = stale_from.expect("the replacement was noticed");
        assert!(
            stale_from <= 4 * MIB + WINDOW_PLUS_PARTS,
            "{name}: ESTALE only from {stale_from}: more was buffered than the window"
        );
        f.faults.clear();
        fs.release(fh).await;
        // a new open reads the new version
        let fh = Fixture::open_remote(&fs, name).await;
        for (pos, r) in read_steps(&fs, fh, 0, size as u64, MIB as u32).await {
            assert!(
                r.unwrap() == v2.slice(pos as usize..(pos + MIB) as usize),
                "{name} v2 at {pos}"
            );
        }
        fs.release(fh).await;
    }
}

fn gets(m: &MemoryStore) -> u64 {
    m.counts().get("GET").copied().unwrap_or(0)
}

/// The furthest the parts reach past the last read (the reader's window and one part).
const WINDOW_PLUS_PARTS: u64 = 20 * MIB;

/// A large file read sequentially, in the kernel's 128 KiB reads, is fetched once
/// (every byte one time) in a bounded number of GETs: the window grows to 4 MiB
/// parts instead of one request per read.
#[tokio::test(flavor = "multi_thread")]
async fn sequential_reads_of_a_large_file_make_a_bounded_number_of_gets() {
    let f = fixture().await;
    let size = 64 * MIB;
    let data = bytes(size as usize, 3);
    f.put_plain("seq", data.clone()).await;
    let (gets0, got) = (gets(&f.memory), f.memory.bytes_got());
    let fh = Fixture::open_remote(&f.fs, "seq").await;
    for (pos, r) in read_steps(&f.fs, fh, 0, size, 128 * 1024).await {
        let want = data.slice(pos as usize..pos as usize + 128 * 1024);
        assert!(r.unwrap() == want, "at {pos}");
    }
    let gets = gets(&f.memory) - gets0;
    assert_eq!(f.memory.bytes_got() - got, size, "every byte fetched once");
    // the open's GET, parts growing from 1 MiB, then 4 MiB parts
    assert!(
        (size / (4 * MIB)..=size / (4 * MIB) + 8).contains(&gets),
        "{gets} GETs for {size} bytes"
    );
    assert_eq!(
        f.fs.read(fh, size, 4096).await.unwrap(),
        Bytes::new(),
        "EOF"
    );
    f.fs.release(fh).await;
}

/// Random reads fetch what they ask for, one GET each; after a seek the window
/// starts small again, so a few sequential reads there do not fetch megabytes.
#[tokio::test(flavor = "multi_thread")]
async fn random_reads_fetch_only_their_range_and_a_seek_resets_the_window() {
    let f = fixture().await;
    let size = 64 * MIB;
    let data = bytes(size as usize, 4);
    f.put_plain("rand", data.clone()).await;
    let fh = Fixture::open_remote(&f.fs, "rand").await;
    // a sequential stretch grows the window
    for (pos, r) in read_steps(&f.fs, fh, 0, 24 * MIB, MIB as u32).await {
        assert!(r.unwrap() == data.slice(pos as usize..(pos + MIB) as usize));
    }
    for offset in [50 * MIB + 17, 3 * MIB + 5, 33 * MIB, 61 * MIB + 4095] {
        let (gets0, got) = (gets(&f.memory), f.memory.bytes_got());
        let r = f.fs.read(fh, offset, 4096).await.unwrap();
        assert!(
            r == data.slice(offset as usize..offset as usize + 4096),
            "at {offset}"
        );
        assert_eq!(gets(&f.memory) - gets0, 1, "one GET for a read at {offset}");
        assert_eq!(
            f.memory.bytes_got() - got,
            4096,
            "only the range at {offset}"
        );
    }
    // reading on from the last random read: a new stream with a small window
    let got = f.memory.bytes_got();
    let from = 61 * MIB + 4095 + 4096;
    for (pos, r) in read_steps(&f.fs, fh, from, from + 3 * 128 * 1024, 128 * 1024).await {
        assert!(r.unwrap() == data.slice(pos as usize..pos as usize + 128 * 1024));
    }
    let fetched = f.memory.bytes_got() - got;
    assert!(
        fetched <= 2 * MIB + 4096,
        "{fetched} bytes fetched after a seek"
    );
    f.fs.release(fh).await;
}

/// A part whose GET fails (after the store's own retries, which a fault here stands
/// for) fails the read that needs it with EIO, never with wrong or short bytes;
/// the next read starts afresh and the rest of the file reads right.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_part_fails_one_read_and_the_next_starts_afresh() {
    let f = fixture().await;
    let size = 32 * MIB;
    let data = bytes(size as usize, 5);
    f.put_plain("cut", data.clone()).await;
    let fh = Fixture::open_remote(&f.fs, "cut").await;
    let mut failed = Vec::new();
    let mut pos = 0;
    while pos < size {
        if pos == 6 * MIB {
            // the next GET (a part of the window ahead) breaks off mid-body
            f.faults
                .inject(Rule::new(Op::Get, Effect::CutBody { after: 100_000 }));
        }
        match f.fs.read(fh, pos, MIB as u32).await {
            Ok(got) => {
                assert!(
                    got == data.slice(pos as usize..(pos + MIB) as usize),
                    "at {pos}"
                );
                pos += MIB;
            }
            Err(e) => {
                assert_eq!(e.errno(), libc::EIO, "at {pos}: {e}");
                assert!(failed.len() < 3, "reads keep failing: {failed:?}");
                failed.push(pos); // read again, as the kernel's caller would
            }
        }
    }
    assert_eq!(f.faults.fired(), 1);
    assert_eq!(failed.len(), 1, "one read failed: {failed:?}");
    f.fs.release(fh).await;
}

/// Requests of each method the store was sent since `before`.
fn sent_since(
    memory: &MemoryStore,
    before: &std::collections::BTreeMap<&'static str, u64>,
) -> Vec<(&'static str, u64)> {
    memory
        .counts()
        .into_iter()
        .map(|(m, n)| (m, n - before.get(m).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A new file as the kernel makes it: a lookup that misses, then create, write and
/// close.
async fn write_new(fs: &SwiftFs, parent: u64, name: &str, data: Bytes) -> Result<u64, FsError> {
    let looked = fs.lookup(parent, OsStr::new(name)).await;
    assert_eq!(looked.unwrap_err().errno(), libc::ENOENT, "{name} is new");
    let (attr, opened) = fs
        .create(parent, OsStr::new(name), false, WRITER, 0o644, OWNER)
        .await?;
    fs.write(opened.fh, 0, data).await?;
    let flushed = fs.flush(opened.fh, WRITER).await;
    fs.release(opened.fh).await;
    flushed.map(|()| attr.ino)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_in_a_folder_whose_listing_is_not_cached_costs_its_lookup_and_one_put() {
    let f = fixture().await;
    // TTL long enough for lookup and create on a loaded machine, short enough to wait out
    let ttl = Duration::from_secs(2);
    let fs = f.remount_with(|c| c.dir_cache_ttl = ttl);
    let expect = vec![("HEAD", 1), ("LIST", 1), ("PUT", 1)];

    // never listed: the lookup asks Swift (HEAD and a one-row listing), the create
    // that follows knows the answer
    let before = f.memory.counts();
    write_new(&fs, ROOT_INO, "a", bytes(5000, 1)).await.unwrap();
    assert_eq!(sent_since(&f.memory, &before), expect);

    // listed, then expired
    let dir = fs.opendir(ROOT_INO).await.unwrap();
    fs.release_dir(dir);
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let before = f.memory.counts();
    write_new(&fs, ROOT_INO, "b", bytes(7000, 2)).await.unwrap();
    assert_eq!(sent_since(&f.memory, &before), expect);

    // listed, then pushed out of the cache by another folder's listing
    let fs = f.remount_with(|c| c.dir_cache_max_dirs = 1);
    put_theirs(&f, "sub/x", bytes(10, 3)).await;
    let sub = attr_at(&fs, "sub").await.ino;
    let dir = fs.opendir(sub).await.unwrap();
    fs.release_dir(dir);
    assert!(fs.lookup_cached(ROOT_INO, OsStr::new("sub")).is_none());
    let before = f.memory.counts();
    write_new(&fs, ROOT_INO, "c", bytes(3000, 4)).await.unwrap();
    assert_eq!(sent_since(&f.memory, &before), expect);
    assert_eq!(f.stored("c"), Some(bytes(3000, 4)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remembered_miss_is_forgotten_by_the_mounts_own_create_mkdir_and_rename() {
    let f = fixture().await;
    let fs = &f.fs;
    let missing = |name: &'static str| async move {
        let e = fs.lookup(ROOT_INO, OsStr::new(name)).await.unwrap_err();
        assert_eq!(e.errno(), libc::ENOENT, "{name}");
    };
    let ino = write_new(fs, ROOT_INO, "file", bytes(100, 1))
        .await
        .unwrap();
    // stored and no longer open: found by a HEAD, not hidden by the old miss
    assert_eq!(
        fs.lookup(ROOT_INO, OsStr::new("file")).await.unwrap().ino,
        ino
    );

    missing("dir").await;
    let dir = f.mkdir(ROOT_INO, "dir").await.unwrap();
    assert_eq!(
        fs.lookup(ROOT_INO, OsStr::new("dir")).await.unwrap().ino,
        dir
    );
    assert!(fs.lookup_cached(ROOT_INO, OsStr::new("dir")).is_none());

    missing("moved").await;
    fs.rename(
        ROOT_INO,
        OsStr::new("file"),
        ROOT_INO,
        OsStr::new("moved"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        fs.lookup(ROOT_INO, OsStr::new("moved")).await.unwrap().ino,
        ino
    );

    missing("link").await;
    fs.symlink(ROOT_INO, OsStr::new("link"), OsStr::new("moved"), OWNER)
        .await
        .unwrap();
    let link = fs.lookup(ROOT_INO, OsStr::new("link")).await.unwrap();
    assert_eq!(link.kind, NodeKind::Symlink);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_miss_is_answered_from_memory_and_another_clients_object_shows_after_the_ttl() {
    let f = fixture().await;
    let ttl = Duration::from_secs(1);
    let fs = f.remount_with(|c| c.dir_cache_ttl = ttl);
    assert!(fs.lookup(ROOT_INO, OsStr::new("later")).await.is_err());
    let before = f.memory.request_count();
    let cached = fs.lookup_cached(ROOT_INO, OsStr::new("later"));
    assert_eq!(cached.unwrap().unwrap_err().errno(), libc::ENOENT);
    assert!(fs.lookup(ROOT_INO, OsStr::new("later")).await.is_err());
    assert_eq!(f.memory.request_count(), before, "asked Swift again");
    // another client stores the name: hidden while the miss is remembered
    f.memory
        .put_object(
            &f.container,
            &ObjectName::new("later").unwrap(),
            bytes(10, 1),
            &crate::swift::ObjectMeta::default(),
        )
        .await
        .unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(fs.lookup_cached(ROOT_INO, OsStr::new("later")).is_none());
    assert_eq!(
        fs.lookup(ROOT_INO, OsStr::new("later")).await.unwrap().size,
        10
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_answered_before_the_mount_made_the_name_leaves_no_miss() {
    let f = fixture().await;
    // the lookup's listing is held back while the mount makes and stores the name
    f.faults
        .inject(Rule::new(Op::List, Effect::Delay(Duration::from_secs(1))).on("race"));
    let heads = || f.memory.counts().get("HEAD").copied().unwrap_or(0);
    let before = heads();
    let lookup = f.fs.lookup(ROOT_INO, OsStr::new("race"));
    let make = async {
        // the lookup's HEAD has answered 404: it has taken its ticket
        while heads() == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (attr, opened) =
            f.fs.create(ROOT_INO, OsStr::new("race"), true, WRITER, 0o644, OWNER)
                .await
                .unwrap();
        (attr.ino, opened.fh)
    };
    let (looked, (ino, fh)) = tokio::join!(lookup, make);
    assert_eq!(looked.unwrap_err().errno(), libc::ENOENT, "asked before");
    // stored after the lookup answered (a name stored before it would be answered
    // from the mount's recent changes)
    f.close(fh, WRITER).await.unwrap();
    assert_eq!(f.stored("race"), Some(Bytes::new()));
    assert_eq!(
        f.fs.lookup(ROOT_INO, OsStr::new("race")).await.unwrap().ino,
        ino,
        "the old answer was remembered as a miss"
    );
}

/// borg's lock: a folder made under a temporary name, a file in it, the folder
/// renamed into place; released by deleting both; taken again the same way, with a
/// file of the same name and content.
#[tokio::test(flavor = "multi_thread")]
async fn a_folder_moved_over_names_deleted_before_shows_its_files() {
    let f = fixture().await;
    for round in 0..2 {
        let tmp = format!("lock.tmp{round}");
        let t = f.mkdir(ROOT_INO, &tmp).await.unwrap();
        let (_, opened) =
            f.fs.create(t, OsStr::new("host-1"), true, WRITER, 0o644, OWNER)
                .await
                .unwrap();
        f.close(opened.fh, WRITER).await.unwrap();
        f.fs.rename(
            ROOT_INO,
            OsStr::new(&tmp),
            ROOT_INO,
            OsStr::new("lock"),
            true,
        )
        .await
        .unwrap();
        let lock = f.fs.lookup(ROOT_INO, OsStr::new("lock")).await.unwrap().ino;
        assert_eq!(f.names(lock).await, ["host-1"], "round {round}");
        f.fs.unlink(lock, OsStr::new("host-1")).await.unwrap();
        f.fs.rmdir(ROOT_INO, OsStr::new("lock")).await.unwrap();
    }
}
