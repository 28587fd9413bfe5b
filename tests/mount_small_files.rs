//! Small files written by parallel writers through a real mount: what each costs in
//! requests, counted at a proxy in front of the real Swift, and that every one of
//! them is in Swift after its close.

mod common;

use common::fault_proxy::FaultProxy;
use common::files::random_bytes as data;
use common::lab::{self, TestContainer};
use common::mount::Mount;
use common::objects::swift_bytes;
use std::fs;

const WRITERS: usize = 8;
const PER_WRITER: usize = 8;

/// 1 to 16 KiB, different for every file.
fn size_of(w: usize, i: usize) -> usize {
    1024 + (w * 7919 + i * 104_729) % (15 * 1024)
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_writers_of_small_files_cost_one_put_each_and_their_lookups() {
    let proxy = FaultProxy::in_front_of(&lab::tempauth_url()).await;
    let t = TestContainer::new(lab::client(lab::tempauth()), "small").await;
    // listings (and misses) trusted for the whole test: at load 40 it outlasts the
    // default 30 s, and an expired listing would cost lookups this test does not count
    let m = Mount::via_proxy(
        &proxy.base_url(),
        t.name.as_str(),
        &["--dir-cache-ttl", "3600"],
    );
    std::fs::create_dir(m.join("sub")).unwrap();
    let before = proxy.method_counts();
    let root = m.path.clone();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let root = root.clone();
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    // half in the root, never listed, half in a folder made just now
                    let dir = if i % 2 == 0 { "" } else { "sub/" };
                    let path = root.join(format!("{dir}w{w}-{i}"));
                    fs::write(&path, data(size_of(w, i), (w * 1000 + i) as u64)).unwrap();
                }
            })
        })
        .collect();
    for h in writers {
        h.join().unwrap();
    }
    let after = proxy.method_counts();
    let sent = |method: &str| {
        after.get(method).copied().unwrap_or(0) - before.get(method).copied().unwrap_or(0)
    };
    let files = WRITERS * PER_WRITER;
    let in_root = WRITERS * PER_WRITER.div_ceil(2);
    // `sub`'s marker may go out in the background during the writes
    assert!(
        (files..=files + 1).contains(&sent("PUT")),
        "{} PUTs for {files} files: {after:?} (before {before:?})",
        sent("PUT")
    );
    // A new name in the never-listed root costs its lookup (a HEAD and a one-row
    // listing, sent together); the create after it knows the answer. The new folder
    // is known empty: its names cost nothing. A few more for logins.
    assert!(
        sent("HEAD") <= in_root + 2 && sent("GET") <= in_root + 4,
        "{} HEADs and {} GETs for {in_root} new names in an unlisted folder: {after:?} \
         (before {before:?})",
        sent("HEAD"),
        sent("GET")
    );
    drop(m);
    for w in 0..WRITERS {
        for i in 0..PER_WRITER {
            let dir = if i % 2 == 0 { "" } else { "sub/" };
            let want = data(size_of(w, i), (w * 1000 + i) as u64);
            assert_eq!(swift_bytes(&t, &format!("{dir}w{w}-{i}")).await, want);
        }
    }
    t.cleanup().await;
}
