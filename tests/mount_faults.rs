//! Faults between the mount and Swift, injected by an in-process proxy: reads retry
//! and return the right bytes, or fail cleanly with EIO — never wrong bytes.

mod common;

use common::fault_proxy::FaultProxy;
use common::files::{random_bytes as data, read_blocking as read};
use common::lab::{self, TestContainer, obj};
use common::mount::Mount;
use common::objects::{segment_count, swift_bytes};
use std::fs;
use swiftmount::swift::ObjectStore;

async fn put(t: &TestContainer, name: &str, content: &[u8]) {
    t.client
        .put_raw(
            &t.name,
            &obj(name),
            bytes::Bytes::copy_from_slice(content),
            &[],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_survive_errors_and_cut_connections_or_fail_cleanly() {
    let proxy = FaultProxy::in_front_of(&lab::tempauth_url()).await;
    let t = TestContainer::new(lab::client(lab::tempauth()), "faults-read").await;
    let content = data(5 << 20, 1);
    for name in ["a", "b", "c"] {
        put(&t, name, &content).await;
    }
    let m = Mount::via_proxy(
        &proxy.base_url(),
        t.name.as_str(),
        &["--dir-cache-ttl", "0"],
    );

    // 503s on listing, HEAD and GET: retried
    proxy.fail_next(3, 503);
    assert_eq!(read(m.join("a")).await.unwrap(), content);
    // bodies cut off half-way, several times: the stream resumes where it broke
    proxy.cut_body_next(3);
    assert_eq!(read(m.join("b")).await.unwrap(), content);
    let (_, injected) = proxy.counts();
    assert!(injected >= 6, "faults were injected: {injected}");
    // a listing cut off half-way is asked for again, never shown half
    proxy.cut_body_next(1);
    let root = m.path.clone();
    let mut names: Vec<String> = tokio::task::spawn_blocking(move || {
        fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    })
    .await
    .unwrap();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(proxy.counts().1, injected + 1, "the listing was cut");

    // Swift down for good: a clean error, not wrong or short data
    proxy.fail_next(usize::MAX / 2, 503);
    let err = read(m.join("c")).await.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    proxy.fail_next(0, 503);
    assert_eq!(
        read(m.join("c")).await.unwrap(),
        content,
        "works again once Swift is back"
    );
    drop(m);
    t.cleanup().await;
}

/// A large file's segments go up from the spill file while it is written; a segment
/// upload answered 503, or stored but its answer lost, is retried from there by the
/// client: close succeeds and Swift holds every byte, in exactly one set of segments.
#[tokio::test(flavor = "multi_thread")]
async fn broken_segment_uploads_are_sent_again() {
    let proxy = std::sync::Arc::new(FaultProxy::in_front_of(&lab::tempauth_url()).await);
    let t = TestContainer::new(lab::client(lab::tempauth()), "faults-seg").await;
    let m = Mount::via_proxy(
        &proxy.base_url(),
        t.name.as_str(),
        &["-v", "--segment-size", "4"],
    );
    let content = data(28 << 20, 2);
    let path = m.join("big.bin");
    let (written, faults) = {
        let content = content.clone();
        let proxy_faults = proxy.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut f = fs::File::create(&path)?;
            let mut faults = 0;
            for (i, chunk) in content.chunks(1 << 20).enumerate() {
                f.write_all(chunk)?;
                // segments are going up (8 MiB buffered, then spilled): break the
                // next two segment uploads, later lose the answer to one
                if i == 12 {
                    proxy_faults.fail_next(2, 503);
                    faults += 2;
                }
                if i == 20 {
                    proxy_faults.lose_answer_next(1);
                    faults += 1;
                }
            }
            f.sync_all()?;
            drop(f);
            Ok::<_, std::io::Error>((content.len(), faults))
        })
        .await
        .unwrap()
        .unwrap()
    };
    assert_eq!(proxy.counts().1, faults, "every fault was injected");
    let log = m.log();
    assert!(
        log.contains("from the local copy") && log.contains("retry 1/"),
        "a segment was resent; log:\n{log}"
    );
    drop(m);
    let info = t
        .client
        .head_object(&t.name, &obj("big.bin"))
        .await
        .unwrap();
    assert_eq!(info.size, written as u64);
    let got = swift_bytes(&t, "big.bin").await;
    assert!(got == content, "Swift holds what was written");
    assert_eq!(
        segment_count(&t).await,
        7,
        "28 MiB in 4 MiB segments, resends in place"
    );
    t.cleanup().await;
}

/// A segment upload that fails for good (no retries left) while the file is written
/// does not fail the file: its bytes stay in the spill file and it is sent again at
/// fsync, while the other segments go on in parallel; Swift then holds every byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_segment_that_failed_for_good_is_sent_again_at_fsync() {
    let proxy = std::sync::Arc::new(FaultProxy::in_front_of(&lab::tempauth_url()).await);
    let t = TestContainer::new(lab::client(lab::tempauth()), "faults-seg2").await;
    let m = Mount::via_proxy(
        &proxy.base_url(),
        t.name.as_str(),
        &["-v", "--segment-size", "4", "--retries", "0"],
    );
    let content = data(28 << 20, 3);
    let path = m.join("big.bin");
    {
        let content = content.clone();
        let proxy_faults = proxy.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut f = fs::File::create(&path)?;
            for (i, chunk) in content.chunks(1 << 20).enumerate() {
                f.write_all(chunk)?;
                // segments are going up: the next one is refused, with no retry
                if i == 12 {
                    proxy_faults.fail_next(1, 503);
                }
            }
            f.sync_all()?;
            drop(f);
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap()
        .unwrap();
    }
    assert_eq!(proxy.counts().1, 1, "the fault was injected");
    let log = m.log();
    assert!(
        log.contains("it is sent again at the next close or fsync")
            && log.contains("stored at the second try"),
        "a failed segment was resent at fsync; log:\n{log}"
    );
    drop(m);
    let got = swift_bytes(&t, "big.bin").await;
    assert!(got == content, "Swift holds what was written");
    assert_eq!(segment_count(&t).await, 7, "28 MiB in 4 MiB segments");
    t.cleanup().await;
}

/// Backup tools read many small files: each is one GET per open (headers and bytes
/// together), not a HEAD and then a GET. Counted at the proxy.
#[tokio::test(flavor = "multi_thread")]
async fn a_small_file_is_read_with_one_request() {
    let proxy = FaultProxy::in_front_of(&lab::tempauth_url()).await;
    let t = TestContainer::new(lab::client(lab::tempauth()), "faults-small").await;
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("f{i:02}"), data(1000 + i * 9000, i as u64)))
        .collect();
    for (name, content) in &files {
        put(&t, name, content).await;
    }
    let m = Mount::via_proxy(&proxy.base_url(), t.name.as_str(), &[]);
    let root = m.path.clone();
    let listed = tokio::task::spawn_blocking(move || fs::read_dir(root).unwrap().count())
        .await
        .unwrap();
    assert_eq!(listed, files.len());
    let before = proxy.counts().0;
    for (name, content) in &files {
        assert_eq!(&read(m.join(name)).await.unwrap(), content, "{name}");
    }
    let requests = proxy.counts().0 - before;
    assert_eq!(requests, files.len(), "one request per small file read");
    drop(m);
    t.cleanup().await;
}

/// A large file is read with ranged GETs of growing parts: a bounded number of
/// requests (counted at the proxy), and bodies cut off mid-part are resumed by the
/// client from where they broke, so the bytes are right.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_is_read_in_few_ranged_gets_that_survive_cut_bodies() {
    let proxy = FaultProxy::in_front_of(&lab::tempauth_url()).await;
    let t = TestContainer::new(lab::client(lab::tempauth()), "faults-large").await;
    let content = data(40 << 20, 3);
    put(&t, "large", &content).await;
    // -v: the resumes are logged as warnings
    let m = Mount::via_proxy(&proxy.base_url(), t.name.as_str(), &["-v"]);
    let root = m.path.clone();
    let listed = tokio::task::spawn_blocking(move || fs::read_dir(root).unwrap().count())
        .await
        .unwrap();
    assert_eq!(listed, 1);
    let before = proxy.counts().0;
    // the open's GET and the first parts break off half-way
    proxy.cut_body_next(3);
    assert!(
        read(m.join("large")).await.unwrap() == content,
        "right bytes"
    );
    let (seen, injected) = proxy.counts();
    assert_eq!(injected, 3, "every cut was injected");
    // 4 MiB parts once the window has grown, a few smaller ones before, a resume
    // per cut, and the lookup's request
    let requests = seen - before;
    assert!(
        (10..=10 + 8 + 3 + 1).contains(&requests),
        "{requests} requests for 40 MiB"
    );
    let log = m.log();
    // a cut met before the client returned the answer is a retried request, one
    // met in the body a resumed one: both are logged as retries
    assert!(
        log.matches("retry ").count() >= 3,
        "cut bodies were asked for again; log:\n{log}"
    );
    drop(m);
    t.cleanup().await;
}
