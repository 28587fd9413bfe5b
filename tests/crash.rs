//! `kill -9` of the mount while files are being written: every file whose close()
//! returned 0 is intact in Swift; every other one is absent or whole — never partial.

mod common;

use common::lab::{self, TestContainer, obj};
use common::mount::Mount;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use swiftmount::swift::{ObjectStore, SwiftError};

fn content(i: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
    // mostly small files, every fifth one streamed as a large object
    let len = if i % 5 == 4 {
        (9 << 20) + rng.random_range(0..(4 << 20))
    } else {
        rng.random_range(0..200_000)
    };
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

/// Writes a file and closes it, reporting what close() returned: `std::fs::write`
/// drops the file, and a drop ignores the result of close.
fn write_and_close(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::fd::IntoRawFd;
    let mut f = std::fs::File::create(path)?;
    f.write_all(data)?;
    let fd = f.into_raw_fd();
    // SAFETY: fd was just taken from the File, which no longer owns it.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_nothing_acknowledged_and_leaves_nothing_partial() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "crash").await;
    let m = Mount::new(t.name.as_str(), &["--segment-size", "8"]);
    let pid = m.pid().unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let attempted = Arc::new(Mutex::new(0usize));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (root, acked, attempted) = (m.path.clone(), acked.clone(), attempted.clone());
            std::thread::spawn(move || {
                for i in (w..).step_by(3) {
                    {
                        let mut a = attempted.lock().unwrap();
                        *a = (*a).max(i + 1);
                    }
                    match write_and_close(&root.join(format!("f{i}")), &content(i)) {
                        Ok(()) => acked.lock().unwrap().push(i),
                        Err(_) => return, // the mount is gone
                    }
                }
            })
        })
        .collect();
    // let some files land, and some be in flight
    let started = Instant::now();
    while acked.lock().unwrap().len() < 12 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for w in writers {
        w.join().unwrap();
    }
    drop(m); // unmounts the dead mount
    let acked = acked.lock().unwrap().clone();
    let attempted = *attempted.lock().unwrap();
    assert!(
        acked.len() >= 12,
        "the test needs acknowledged files: {}",
        acked.len()
    );

    let (mut intact, mut absent, mut whole_unacked) = (0, 0, 0);
    let mut bytes_verified = 0usize;
    for i in 0..attempted {
        let want = content(i);
        match t.client.head_object(&t.name, &obj(&format!("f{i}"))).await {
            Ok(info) => {
                let got = if info.size == 0 {
                    Vec::new()
                } else {
                    t.client
                        .get_range(&t.name, &obj(&format!("f{i}")), 0..info.size, None)
                        .await
                        .unwrap()
                        .to_vec()
                };
                assert!(
                    got == want,
                    "f{i}: stored {} bytes that are not what was written ({} bytes)",
                    got.len(),
                    want.len()
                );
                bytes_verified += got.len();
                if acked.contains(&i) {
                    intact += 1;
                } else {
                    whole_unacked += 1;
                }
            }
            Err(SwiftError::NotFound(_)) => {
                assert!(
                    !acked.contains(&i),
                    "f{i}: close() returned 0 but the object is missing"
                );
                absent += 1;
            }
            Err(e) => panic!("f{i}: {e}"),
        }
    }
    println!(
        "kill -9: {attempted} files attempted, {} acknowledged and intact, {whole_unacked} whole but unacknowledged, \
         {absent} absent, {bytes_verified} bytes verified, 0 bytes lost",
        intact
    );
    assert_eq!(intact, acked.len());
    t.cleanup().await;
}
