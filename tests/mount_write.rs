//! The write side through a real mount: what close() acknowledged is in Swift, read
//! back through a fresh mount (cold cache) and through the Swift API.

mod common;

use common::fault_proxy::FaultProxy;
use common::files::{ls, random_bytes as data};
use common::lab::{self, TestContainer, obj};
use common::mount::Mount;
use common::objects::{listed_names, segment_count, swift_bytes};
use rand::{Rng, SeedableRng};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::{Duration, SystemTime};
use swiftmount::swift::{ListQuery, Manifest, ObjectStore};

/// Small segments so that multi-segment files stay small in tests.
const SEGMENT_MIB: &str = "8";
const SEGMENT: usize = 8 << 20;

fn mount(t: &TestContainer) -> Mount {
    Mount::new(t.name.as_str(), &["--segment-size", SEGMENT_MIB])
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trips_of_every_size() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-sizes").await;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("small.txt", b"hello swift\n".to_vec()),
        ("dir/3mib.bin", data(3 << 20, 1)),
        // over the in-memory limit and the segment size: streamed as two segments
        ("dir/12mib.bin", data(12 << 20, 2)),
        // several segments
        ("dir/sub/20mib.bin", data(20 << 20, 3)),
        ("names/a b %25 #? ü.txt", b"odd name".to_vec()),
    ];
    let m = mount(&t);
    for (name, content) in &files {
        let path = m.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // std::fs::write: open O_CREAT|O_TRUNC, write, close; close must succeed
        fs::write(&path, content).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            content.len() as u64,
            "{name}"
        );
        assert_eq!(
            &fs::read(&path).unwrap(),
            content,
            "read back on the same mount: {name}"
        );
    }
    drop(m);
    // through the Swift API
    for (name, content) in &files {
        assert_eq!(&swift_bytes(&t, name).await, content, "Swift API: {name}");
    }
    let big = t
        .client
        .head_object(&t.name, &obj("dir/sub/20mib.bin"))
        .await
        .unwrap();
    assert_eq!(big.manifest, Some(Manifest::Slo));
    let small = t
        .client
        .head_object(&t.name, &obj("dir/3mib.bin"))
        .await
        .unwrap();
    assert_eq!(small.manifest, None, "small files are plain objects");
    assert_eq!(segment_count(&t).await, 2 + 3);
    // through a fresh mount: cold cache
    let m = mount(&t);
    for (name, content) in &files {
        assert_eq!(
            &fs::read(m.join(name)).unwrap(),
            content,
            "fresh mount: {name}"
        );
    }
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_append_truncate_and_random_writes() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-modify").await;
    let m = mount(&t);
    let p = m.join("f.bin");
    let mut model = data(20 << 20, 10);
    fs::write(&p, &model).unwrap();
    assert_eq!(segment_count(&t).await, 3);
    // overwrite a large file with a small one: the old segments go
    model = data(1000, 11);
    fs::write(&p, &model).unwrap();
    assert_eq!(
        segment_count(&t).await,
        0,
        "segments of the replaced object are deleted"
    );
    // append
    let mut f = fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"appended").unwrap();
    drop(f);
    model.extend_from_slice(b"appended");
    assert_eq!(fs::read(&p).unwrap(), model);
    // random writes, checked against the model
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    for _ in 0..200 {
        let off = rng.random_range(0..300_000usize);
        let chunk = data(rng.random_range(1..20_000), rng.random());
        f.write_all_at(&chunk, off as u64).unwrap();
        if model.len() < off + chunk.len() {
            model.resize(off + chunk.len(), 0);
        }
        model[off..off + chunk.len()].copy_from_slice(&chunk);
        // reads on the same handle see the writes
        let mut back = vec![0u8; chunk.len()];
        f.read_exact_at(&mut back, off as u64).unwrap();
        assert_eq!(back, chunk);
    }
    f.sync_all().unwrap();
    assert_eq!(swift_bytes(&t, "f.bin").await, model, "fsync stored it");
    drop(f);
    // truncate down and up
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(1234)
        .unwrap();
    model.truncate(1234);
    assert_eq!(fs::read(&p).unwrap(), model);
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(5000)
        .unwrap();
    model.resize(5000, 0);
    assert_eq!(fs::read(&p).unwrap(), model);
    drop(m);
    assert_eq!(swift_bytes(&t, "f.bin").await, model);
    let m = mount(&t);
    assert_eq!(fs::read(m.join("f.bin")).unwrap(), model, "fresh mount");
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn renames_of_files_and_folders() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-rename").await;
    let m = mount(&t);
    // temp name then rename over the final name, as restic and rsync do
    fs::write(m.join("final"), b"old").unwrap();
    fs::write(m.join(".final.tmp"), b"new content").unwrap();
    fs::rename(m.join(".final.tmp"), m.join("final")).unwrap();
    assert_eq!(fs::read(m.join("final")).unwrap(), b"new content");
    assert!(!m.join(".final.tmp").exists());
    // a large object is renamed as its manifest: the segments stay, shared by nobody
    let big = data(17 << 20, 5);
    fs::write(m.join("big"), &big).unwrap();
    let before = segment_count(&t).await;
    fs::rename(m.join("big"), m.join("big2")).unwrap();
    assert_eq!(segment_count(&t).await, before);
    assert_eq!(fs::read(m.join("big2")).unwrap(), big);
    // folders, nested, with an explicit marker made by mkdir
    fs::create_dir_all(m.join("a/b/c")).unwrap();
    fs::write(m.join("a/one"), b"1").unwrap();
    fs::write(m.join("a/b/two"), b"2").unwrap();
    fs::write(m.join("a/b/c/three"), b"3").unwrap();
    fs::rename(m.join("a"), m.join("z")).unwrap();
    assert!(!m.join("a").exists());
    assert_eq!(fs::read(m.join("z/b/c/three")).unwrap(), b"3");
    assert_eq!(ls(&m.join("z/b")), ["c", "two"]);
    drop(m);
    assert_eq!(
        listed_names(&t).await,
        [
            "big2",
            "final",
            "z",
            "z/b",
            "z/b/c",
            "z/b/c/three",
            "z/b/two",
            "z/one"
        ]
    );
    assert_eq!(swift_bytes(&t, "big2").await, big);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn folders_names_and_exclusive_create() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-dirs").await;
    let m = mount(&t);
    fs::create_dir(m.join("d")).unwrap();
    assert_eq!(
        fs::create_dir(m.join("d")).unwrap_err().kind(),
        std::io::ErrorKind::AlreadyExists
    );
    fs::write(m.join("d/f"), b"x").unwrap();
    let err = fs::remove_dir(m.join("d")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTEMPTY));
    fs::remove_file(m.join("d/f")).unwrap();
    fs::remove_dir(m.join("d")).unwrap();
    assert!(!m.join("d").exists());
    // an implicit folder goes with its last file
    fs::create_dir_all(m.join("implicit")).unwrap();
    t.client
        .put_raw(
            &t.name,
            &obj("imp/only"),
            bytes::Bytes::from_static(b"1"),
            &[],
        )
        .await
        .unwrap();
    drop(m);
    let m = mount(&t);
    fs::remove_file(m.join("imp/only")).unwrap();
    fs::remove_dir(m.join("imp")).unwrap();
    // O_EXCL on an existing name
    fs::write(m.join("e"), b"").unwrap();
    let err = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(m.join("e"))
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    // zero-length writes and an empty file
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(m.join("zero"))
        .unwrap();
    f.write_all(b"").unwrap();
    drop(f);
    assert_eq!(fs::metadata(m.join("zero")).unwrap().len(), 0);
    // names Swift cannot hold are refused, not mangled
    let long = "x".repeat(256);
    assert_eq!(
        fs::write(m.join(&long), b"").unwrap_err().raw_os_error(),
        Some(libc::ENAMETOOLONG)
    );
    drop(m);
    assert_eq!(listed_names(&t).await, ["e", "implicit", "zero"]);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mtime_survives_a_remount() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-mtime").await;
    let m = mount(&t);
    fs::write(m.join("old"), b"from the past").unwrap();
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let status = std::process::Command::new("touch")
        .args(["-d", "@1500000000"])
        .arg(m.join("old"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        fs::metadata(m.join("old")).unwrap().modified().unwrap(),
        when
    );
    drop(m);
    let info = t.client.head_object(&t.name, &obj("old")).await.unwrap();
    assert_eq!(info.meta.mtime, Some(when), "{:?}", info.meta);
    let m = mount(&t);
    // a listing shows it too, without a HEAD per file (it rides in the content type)
    let listed = fs::read_dir(&m.path)
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.file_name() == "old")
        .unwrap();
    assert_eq!(listed.metadata().unwrap().modified().unwrap(), when);
    drop(m);
    let m = mount(&t);
    // lookup of the single name reads the object's own header
    assert_eq!(
        fs::metadata(m.join("old")).unwrap().modified().unwrap(),
        when
    );
    assert_eq!(fs::read(m.join("old")).unwrap(), b"from the past");
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_writers() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-par").await;
    let m = mount(&t);
    let root = m.path.clone();
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let root = root.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let content = data(4096 + i * 1000, (w * 100 + i) as u64);
                    fs::write(root.join(format!("w{w}-{i}")), &content).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(fs::read_dir(&root).unwrap().count(), 80);
    drop(m);
    for w in 0..8 {
        for i in 0..10 {
            let want = data(4096 + i * 1000, (w * 100 + i) as u64);
            assert_eq!(swift_bytes(&t, &format!("w{w}-{i}")).await, want);
        }
    }
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_upload_is_reported_at_close_and_old_version_survives() {
    let proxy = FaultProxy::in_front_of(&lab::tempauth_url()).await;
    let t = TestContainer::new(lab::client(lab::tempauth()), "w-fail").await;
    let old_small = b"precious old version".to_vec();
    let old_big = data(SEGMENT + 1000, 7);
    // through the fault proxy, so that the mount's every request can be made to fail
    let m = Mount::via_proxy(
        &proxy.base_url(),
        t.name.as_str(),
        &[
            "--segment-size",
            SEGMENT_MIB,
            "--retries",
            "1",
            "--dir-cache-ttl",
            "0",
        ],
    );
    let (small, big) = (m.join("small"), m.join("big"));
    let (s2, b2, os, ob) = (
        small.clone(),
        big.clone(),
        old_small.clone(),
        old_big.clone(),
    );
    tokio::task::spawn_blocking(move || {
        fs::write(&s2, &os).unwrap();
        fs::write(&b2, &ob).unwrap();
    })
    .await
    .unwrap();

    // every request fails from now on: the buffered small file fails at close,
    // the streamed large one at a write or at close; neither may report success
    proxy.fail_next(10_000, 503);
    let (s2, b2) = (small.clone(), big.clone());
    let (small_result, big_result) = tokio::task::spawn_blocking(move || {
        let small_result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&s2)?;
            f.write_all(b"new version that never lands")?;
            f.sync_all()
        })();
        let big_result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&b2)?;
            f.write_all(&data(3 * SEGMENT, 8))?;
            f.sync_all()
        })();
        (small_result, big_result)
    })
    .await
    .unwrap();
    assert!(
        small_result.is_err(),
        "a failed upload must not be acknowledged"
    );
    assert!(
        big_result.is_err(),
        "a failed upload must not be acknowledged"
    );
    proxy.fail_next(0, 503);
    assert_eq!(
        swift_bytes(&t, "small").await,
        old_small,
        "old version intact"
    );
    assert_eq!(swift_bytes(&t, "big").await, old_big, "old version intact");
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_cache_dir_gives_enospc_and_keeps_the_old_version() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-enospc").await;
    let old = data(1 << 20, 21);
    t.client
        .put_raw(&t.name, &obj("doc"), bytes::Bytes::from(old.clone()), &[])
        .await
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "swiftmount-test-cache"])
        .arg(cache.path())
        .status()
        .unwrap();
    assert!(status.success(), "a small tmpfs for the cache directory");
    let m = Mount::new(
        t.name.as_str(),
        &["--cache-dir", cache.path().to_str().unwrap()],
    );
    // changing an existing file goes through the local copy, which cannot hold 8 MiB
    let f = fs::OpenOptions::new()
        .write(true)
        .open(m.join("doc"))
        .unwrap();
    let mut result = Ok(());
    for i in 0..8u64 {
        result = f.write_all_at(&data(1 << 20, 30 + i), i << 20);
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("the cache directory is full");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    let err = f
        .sync_all()
        .expect_err("after a refused write, nothing is uploaded");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    drop(f);
    assert_eq!(swift_bytes(&t, "doc").await, old, "the old version stays");
    // new files written from start to end do not use the cache directory
    let fresh = data(6 << 20, 22);
    fs::write(m.join("fresh"), &fresh).unwrap();
    drop(m);
    assert_eq!(swift_bytes(&t, "fresh").await, fresh);
    assert!(
        std::process::Command::new("umount")
            .arg(cache.path())
            .status()
            .unwrap()
            .success()
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forked_child_closing_its_copy_does_not_upload_half_a_file() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-fork").await;
    let m = mount(&t);
    let (part1, part2) = (data(300_000, 41), data(300_000, 42));
    let mut f = fs::File::create(m.join("forked")).unwrap();
    f.write_all(&part1).unwrap();
    // fork + exec: the child's copy of the descriptor is closed at exec (a FUSE
    // flush from another process)
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    let err = t
        .client
        .head_object(&t.name, &obj("forked"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, swiftmount::swift::SwiftError::NotFound(_)),
        "nothing may be uploaded before the writer closes: {err:?}"
    );
    f.write_all(&part2).unwrap();
    f.sync_all().unwrap();
    drop(f);
    drop(m);
    assert_eq!(swift_bytes(&t, "forked").await, [part1, part2].concat());
    t.cleanup().await;
}

/// Names Swift allows but a file system cannot show are left out of listings and left
/// alone in Swift; names a file may not have are refused with the right errno, and
/// the mount goes on working.
#[tokio::test(flavor = "multi_thread")]
async fn names_files_cannot_have() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-names").await;
    let long_ok = "é".repeat(127); // 254 bytes: a valid file name
    let too_long = "x".repeat(256);
    let hidden = [
        "odd/a//b".to_string(),
        "odd/./c".to_string(),
        "odd/../d".to_string(),
        format!("odd/{too_long}"),
    ];
    let shown = ["odd/ok.txt".to_string(), format!("odd/{long_ok}")];
    for name in hidden.iter().chain(&shown) {
        t.client
            .put_raw(&t.name, &obj(name), bytes::Bytes::from_static(b"x"), &[])
            .await
            .unwrap_or_else(|e| panic!("PUT {name}: {e}"));
    }
    let m = mount(&t);
    // `a` is a folder because of a//b; the object itself cannot be shown in it
    let mut want = vec!["a".to_string(), long_ok.clone(), "ok.txt".to_string()];
    want.sort();
    assert_eq!(ls(&m.join("odd")), want);
    assert_eq!(fs::read_dir(m.join("odd/a")).unwrap().count(), 0);
    assert_eq!(fs::read(m.join(&format!("odd/{long_ok}"))).unwrap(), b"x");

    let errno = |r: std::io::Result<()>| match r {
        Ok(()) => panic!("should fail; log:\n{}", m.log()),
        Err(e) => e.raw_os_error(),
    };
    let not_utf8 = m.path.join(OsStr::from_bytes(b"bad-\xff-name"));
    assert_eq!(
        errno(fs::write(&not_utf8, b"data")),
        Some(libc::EINVAL),
        "create"
    );
    assert_eq!(
        errno(fs::create_dir(&not_utf8)),
        Some(libc::EINVAL),
        "mkdir"
    );
    assert_eq!(
        errno(fs::metadata(&not_utf8).map(drop)),
        Some(libc::ENOENT),
        "lookup: such a name cannot exist in Swift"
    );
    fs::write(m.join("movable"), b"m").unwrap();
    assert_eq!(
        errno(fs::rename(m.join("movable"), &not_utf8)),
        Some(libc::EINVAL),
        "rename to it"
    );
    assert_eq!(
        errno(fs::write(m.join(&too_long), b"data")),
        Some(libc::ENAMETOOLONG)
    );
    // each segment may be 255 bytes, but a whole object name at most 1024
    let deep = m.join(&format!("{0}/{0}/{0}/{0}", "d".repeat(250)));
    fs::create_dir_all(&deep).unwrap(); // 1004 bytes
    let beyond = deep.join("e".repeat(30));
    assert_eq!(
        errno(fs::create_dir(&beyond)),
        Some(libc::EINVAL),
        "mkdir: an object name over 1024 bytes"
    );
    assert_eq!(
        errno(fs::write(&beyond, b"data")),
        Some(libc::EINVAL),
        "create: an object name over 1024 bytes, refused at open"
    );
    assert_eq!(fs::read_dir(&deep).unwrap().count(), 0);

    assert_eq!(fs::read(m.join("movable")).unwrap(), b"m", "still works");
    drop(m);
    // nothing of what was hidden was touched
    for name in &hidden {
        let info = t.client.head_object(&t.name, &obj(name)).await.unwrap();
        assert_eq!(info.size, 1, "{name}");
    }
    let listed = t
        .client
        .list_all(&t.name, &ListQuery::default())
        .await
        .unwrap();
    assert!(
        !listed.iter().any(|e| e.marker().contains("bad-")),
        "nothing made for the refused names"
    );
    t.cleanup().await;
}

/// Makes `00`..`ff` in `dir` from 8 threads at once, as `restic init` does (its
/// `data` and `keys` folders); returns how long that took.
fn make_256_folders(dir: &std::path::Path) -> Duration {
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for first in 0..8 {
            s.spawn(move || {
                for i in (first..256).step_by(8) {
                    fs::create_dir(dir.join(format!("{i:02x}"))).unwrap();
                }
            });
        }
    });
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn many_folders_at_once_are_stored_by_fsync_of_the_parent_and_by_unmount() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "w-mkdirs").await;
    let m = mount(&t);
    let (data_dir, keys_dir) = (m.join("data"), m.join("keys"));
    let (made, synced) = tokio::task::spawn_blocking(move || {
        fs::create_dir(&data_dir).unwrap();
        let made = make_256_folders(&data_dir);
        let started = std::time::Instant::now();
        fs::File::open(&data_dir).unwrap().sync_all().unwrap();
        let synced = started.elapsed();
        assert_eq!(ls(&data_dir).len(), 256);
        fs::create_dir(&keys_dir).unwrap();
        make_256_folders(&keys_dir);
        (made, synced)
    })
    .await
    .unwrap();
    eprintln!("256 mkdir from 8 threads: {made:?}; then fsync of their folder: {synced:?}");
    let expected = |top: &'static str| (0..256).map(move |i| format!("{top}/{i:02x}"));
    let names = listed_names(&t).await;
    for name in expected("data") {
        assert!(names.contains(&name), "{name} not stored after fsync");
    }
    // the unmount waits for the rest
    assert!(m.unmount().success());
    let names = listed_names(&t).await;
    for name in expected("keys") {
        assert!(names.contains(&name), "{name} not stored after unmount");
    }
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_marker_that_cannot_be_stored_fails_fsync_of_its_folder() {
    let proxy = FaultProxy::in_front_of(&lab::tempauth_url()).await;
    let t = TestContainer::new(lab::client(lab::tempauth()), "w-mkdir-fail").await;
    let m = Mount::via_proxy(&proxy.base_url(), t.name.as_str(), &["--retries", "1"]);
    let parent = m.join("parent");
    let p = parent.clone();
    // two handles on the folder, opened while requests still work
    let (h1, h2, synced) = tokio::task::spawn_blocking(move || {
        fs::create_dir(&p).unwrap();
        let h1 = fs::File::open(&p).unwrap();
        let synced = h1.sync_all();
        (h1, fs::File::open(&p).unwrap(), synced)
    })
    .await
    .unwrap();
    synced.unwrap_or_else(|e| panic!("fsync: {e}; log:\n{}", m.log()));
    // every request fails from now on; mkdir in a folder whose (empty) listing is
    // cached still succeeds, and the failure surfaces at the folder's fsync, once
    proxy.fail_next(10_000, 503);
    let p = parent.clone();
    let (made, first, second) = tokio::task::spawn_blocking(move || {
        let made = fs::create_dir(p.join("child"));
        (made, h1.sync_all(), h2.sync_all())
    })
    .await
    .unwrap();
    proxy.fail_next(0, 503);
    made.unwrap_or_else(|e| panic!("mkdir: {e}; log:\n{}", m.log()));
    let err = first.expect_err("a marker that was not stored must fail fsyncdir");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    second.expect("the failure is reported once");
    assert!(m.log().contains("parent/child/"), "warned: {}", m.log());
    let names = listed_names(&t).await;
    assert_eq!(names, ["parent"]);
    drop(m);
    t.cleanup().await;
}
