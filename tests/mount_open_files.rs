//! A file being written through a mount and opened again meanwhile, through a real
//! mount and a real Swift: a read-only open reads what the writers wrote, and its
//! close uploads nothing; an `fsync` on any descriptor stores the content as it is at
//! that moment; a writer's close stores it. The object in Swift is only ever replaced
//! by a whole version, never by part of a file still being written.
//!
//! (A child closing its inherited copy of the writer's descriptor is tested in
//! tests/mount_write.rs: `a_forked_child_closing_its_copy_does_not_upload_half_a_file`.)

mod common;

use common::files::{close_checked, random_bytes, write_and_close};
use common::lab::{self, TestContainer, obj};
use common::mount::{Mount, wait_timeout};
use common::objects::swift_bytes;
use md5::{Digest, Md5};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use swiftmount::swift::{ObjectStore, SwiftError};

/// Small segments: a 16 MiB file streams into segments half-way through.
const SEGMENT_MIB: &str = "8";
/// How long another process may take over one file (generous: at load 10 a read of a
/// few MiB through the mount can take seconds).
const PROCESS_LIMIT: Duration = Duration::from_secs(180);

fn mount(t: &TestContainer) -> Mount {
    Mount::new(t.name.as_str(), &["--segment-size", SEGMENT_MIB])
}

/// Runs `program args` as another process and returns its stdout, which goes to a file
/// (a pipe could fill up while we wait). Fails the test if the process fails or is
/// still running after [`PROCESS_LIMIT`].
fn other_process(program: &str, args: &[&OsStr]) -> Vec<u8> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let Some(status) = wait_timeout(&mut child, PROCESS_LIMIT) else {
        // our own child: ours to stop
        let _ = child.kill();
        let _ = child.wait();
        panic!("{program} {args:?} still running after {PROCESS_LIMIT:?}");
    };
    assert!(
        status.success(),
        "{program} {args:?}: {status}: {}",
        fs::read_to_string(err.path()).unwrap_or_default()
    );
    fs::read(out.path()).unwrap()
}

/// Swift has no object `name` at all: nothing of it, not even a part, was uploaded.
async fn assert_not_in_swift(t: &TestContainer, name: &str, when: &str) {
    match t.client.head_object(&t.name, &obj(name)).await {
        Err(SwiftError::NotFound(_)) => {}
        Ok(info) => panic!(
            "{when}: Swift holds {} bytes of {name}, which is still being written",
            info.size
        ),
        Err(e) => panic!("HEAD {name}: {e}"),
    }
}

/// The scenario: one process writes a 16 MiB file in 256 KiB pieces while
/// other processes read it (md5sum, cat) and close it. Each reader sees what was
/// written so far; none of their closes uploads anything; the writer's close stores
/// the whole file. (Before the open-file registry, a reader's close uploaded the
/// partial file: Swift held 5,505,024 of 16,777,216 bytes.)
#[tokio::test(flavor = "multi_thread")]
async fn a_readers_close_mid_write_publishes_nothing() {
    const PIECE: usize = 256 << 10;
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "of-readers").await;
    let m = mount(&t);
    let path = m.join("pack");
    let content = random_bytes(16 << 20, 61);
    // readers while the file is held in memory (3, 7 MiB) and once it streams into
    // segments (past the 8 MiB buffer: 10, 13 MiB)
    let read_after = [3 << 20, 7 << 20, 10 << 20, 13 << 20];
    let mut f = File::create(&path).unwrap();
    let mut readers = 0;
    for (i, piece) in content.chunks(PIECE).enumerate() {
        f.write_all(piece).unwrap();
        let written = (i + 1) * PIECE;
        if !read_after.contains(&written) {
            continue;
        }
        let prefix = &content[..written];
        let sum = other_process("md5sum", &[path.as_os_str()]);
        let sum = String::from_utf8_lossy(&sum);
        assert_eq!(
            sum.split_whitespace().next(),
            Some(format!("{:x}", Md5::digest(prefix)).as_str()),
            "md5sum after {written} bytes written: {sum}"
        );
        assert_not_in_swift(&t, "pack", &format!("md5sum closed at {written} bytes")).await;
        let seen = other_process("cat", &[path.as_os_str()]);
        assert!(
            seen == prefix,
            "cat after {written} bytes written read {} bytes, not what was written",
            seen.len()
        );
        assert_not_in_swift(&t, "pack", &format!("cat closed at {written} bytes")).await;
        readers += 2;
    }
    assert_eq!(readers, 2 * read_after.len());
    close_checked(f).expect("the writer's close stores the file");
    let stored = swift_bytes(&t, "pack").await;
    assert!(
        stored == content,
        "Swift holds {} bytes that are not the {} written",
        stored.len(),
        content.len()
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), content.len() as u64);
    assert!(
        fs::read(&path).unwrap() == content,
        "the mount shows the whole file"
    );
    drop(m);
    t.cleanup().await;
}

/// An `fsync` on a read-only descriptor (this process's, then another process's)
/// stores the file as it is at that moment; the read-only descriptor's close stores
/// nothing; the writer's close stores the rest.
#[tokio::test(flavor = "multi_thread")]
async fn fsync_on_a_second_descriptor_stores_what_is_written_so_far() {
    const MIB: usize = 1 << 20;
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "of-fsync").await;
    let m = mount(&t);
    let path = m.join("log");
    let content = random_bytes(5 * MIB, 62);
    let mut w = File::create(&path).unwrap();
    w.write_all(&content[..3 * MIB]).unwrap();

    let r = File::open(&path).unwrap();
    r.sync_all().expect("fsync on a read-only descriptor");
    let stored = swift_bytes(&t, "log").await;
    assert!(
        stored == content[..3 * MIB],
        "the fsync stores the 3 MiB written: Swift holds {} bytes",
        stored.len()
    );

    w.write_all(&content[3 * MIB..4 * MIB]).unwrap();
    close_checked(r).expect("the read-only descriptor's close");
    let stored = swift_bytes(&t, "log").await;
    assert!(
        stored == content[..3 * MIB],
        "a read-only descriptor's close uploads nothing: Swift holds {} bytes, not the 3 MiB of the fsync",
        stored.len()
    );
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        4 * MIB as u64,
        "the mount shows what was written"
    );

    // coreutils `sync FILE`: another process opens it read-only and fsyncs it
    other_process("sync", &[path.as_os_str()]);
    let stored = swift_bytes(&t, "log").await;
    assert!(
        stored == content[..4 * MIB],
        "another process's fsync stores the 4 MiB written: Swift holds {} bytes",
        stored.len()
    );

    w.write_all(&content[4 * MIB..]).unwrap();
    close_checked(w).expect("the writer's close");
    let stored = swift_bytes(&t, "log").await;
    assert!(
        stored == content,
        "the writer's close stores all 5 MiB: Swift holds {} bytes",
        stored.len()
    );
    drop(m);
    t.cleanup().await;
}

/// The same write on the mount and on a local file.
fn write_both(on_mount: &File, local: &File, offset: u64, data: &[u8]) {
    on_mount.write_all_at(data, offset).unwrap();
    local.write_all_at(data, offset).unwrap();
}

/// Two descriptors open for writing on one existing file, writing at different (and
/// overlapping) offsets: the first close stores both writers' changes so far, the
/// second the rest; the result is what a local file holds after the same calls.
#[tokio::test(flavor = "multi_thread")]
async fn two_writers_on_one_file() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "of-two").await;
    let m = mount(&t);
    let local_dir = tempfile::tempdir().unwrap();
    let (path, local) = (m.join("shared"), local_dir.path().join("shared"));
    let start = vec![b'A'; 1 << 20];
    write_and_close(&path, &start).unwrap();
    fs::write(&local, &start).unwrap();
    let open = |p: &Path| OpenOptions::new().write(true).open(p).unwrap();
    let (m1, l1) = (open(&path), open(&local));
    let (m2, l2) = (open(&path), open(&local));

    write_both(&m1, &l1, 1000, &random_bytes(5000, 1));
    write_both(&m2, &l2, 500_000, &random_bytes(70_000, 2));
    // over part of the second writer's bytes
    write_both(&m1, &l1, 530_000, &random_bytes(10_000, 3));
    // across the old end
    write_both(&m2, &l2, (1 << 20) - 100, &random_bytes(300, 4));
    close_checked(m1).expect("the first writer's close");
    drop(l1);
    let want = fs::read(&local).unwrap();
    let stored = swift_bytes(&t, "shared").await;
    assert!(
        stored == want,
        "the first close stores both writers' changes: Swift holds {} bytes, {} expected",
        stored.len(),
        want.len()
    );

    write_both(&m2, &l2, 0, b"BBBB");
    // past the end, leaving a hole
    write_both(&m2, &l2, (1 << 20) + 200_000, &random_bytes(1000, 5));
    close_checked(m2).expect("the second writer's close");
    drop(l2);
    let want = fs::read(&local).unwrap();
    let stored = swift_bytes(&t, "shared").await;
    assert!(
        stored == want,
        "the last close stores the file as a local one ends up: Swift holds {} bytes, {} expected",
        stored.len(),
        want.len()
    );
    assert!(fs::read(&path).unwrap() == want, "the mount shows it");
    drop(m);
    t.cleanup().await;
}

/// While a file is being written, a read-only open reads exactly the bytes written so
/// far and `stat` gives their number; Swift meanwhile holds nothing (a new file) or
/// the old version (an existing file opened with O_TRUNC) until the writer closes.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_open_of_a_file_being_written_sees_its_bytes() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "of-see").await;
    let m = mount(&t);

    // a new file
    let path = m.join("new");
    let content = random_bytes(1_500_007, 63);
    let n = 1_000_003;
    let mut w = File::create(&path).unwrap();
    w.write_all(&content[..n]).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), n as u64, "stat");
    let seen = fs::read(&path).unwrap();
    assert!(
        seen == content[..n],
        "a read-only open read {} bytes, not the {n} written",
        seen.len()
    );
    assert_not_in_swift(&t, "new", "a read-only open closed").await;
    // a read-only descriptor kept open reads what is written after its open
    let r = File::open(&path).unwrap();
    w.write_all(&content[n..]).unwrap();
    let mut tail = vec![0u8; content.len() - n];
    r.read_exact_at(&mut tail, n as u64).unwrap();
    assert!(
        tail == content[n..],
        "an open reader reads what was written since"
    );
    assert_eq!(r.metadata().unwrap().len(), content.len() as u64, "fstat");
    close_checked(r).expect("the reader's close");
    assert_not_in_swift(&t, "new", "a reader opened before more writes closed").await;
    close_checked(w).expect("the writer's close");
    assert!(swift_bytes(&t, "new").await == content, "stored at close");

    // an existing file, opened with O_TRUNC and written anew
    let path = m.join("doc");
    let old = random_bytes(700_000, 64);
    write_and_close(&path, &old).unwrap();
    let new = random_bytes(123_457, 65);
    let mut w = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), 0, "stat after O_TRUNC");
    w.write_all(&new).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), new.len() as u64, "stat");
    let seen = fs::read(&path).unwrap();
    assert!(
        seen == new,
        "a read-only open read {} bytes, not the {} written",
        seen.len(),
        new.len()
    );
    let info = t.client.head_object(&t.name, &obj("doc")).await.unwrap();
    assert_eq!(
        info.size,
        old.len() as u64,
        "Swift keeps the old version while the new one is written"
    );
    assert!(
        swift_bytes(&t, "doc").await == old,
        "the old version, whole"
    );
    close_checked(w).expect("the writer's close");
    assert!(swift_bytes(&t, "doc").await == new, "stored at close");
    drop(m);
    t.cleanup().await;
}

/// A reader makes the writer's content local (in `--cache-dir`); when that fails
/// (the cache directory is full), the reader hears so and the writer's bytes are not
/// lost: the writer goes on, and its close stores exactly what it wrote. (It used to
/// store zeros where the first 6 MiB had been, and say nothing.)
#[tokio::test(flavor = "multi_thread")]
async fn a_reader_that_cannot_get_a_local_copy_loses_none_of_the_writers_bytes() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "of-full").await;
    let cache = SmallTmpfs::new("4m");
    let cache_arg = cache.0.path().to_str().unwrap().to_string();
    let m = Mount::new(t.name.as_str(), &["--cache-dir", &cache_arg]);
    let path = m.join("f");
    let data = random_bytes(7 << 20, 31);
    let mut f = File::create(&path).unwrap();
    f.write_all(&data[..6 << 20]).unwrap();
    let err = fs::read(&path).expect_err("6 MiB cannot go into a 4 MiB cache dir");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert_eq!(fs::metadata(&path).unwrap().len(), 6 << 20);
    f.write_all(&data[6 << 20..]).unwrap();
    close_checked(f).expect("the writer's close");
    assert_eq!(swift_bytes(&t, "f").await, data);
    drop(m);
    drop(cache);
    t.cleanup().await;
}

/// A tmpfs of a given size on a temporary directory, unmounted when dropped.
struct SmallTmpfs(tempfile::TempDir);

impl SmallTmpfs {
    fn new(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "swiftmount-test",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "mount a {size} tmpfs");
        SmallTmpfs(dir)
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}
