//! `kill -9` of the mount while files are being written: every file whose close()
//! returned 0 is intact in Swift; every other one is absent or whole — never partial.

mod common;

use common::files::write_and_close;
use common::lab::{self, TestContainer};
use common::mount::Mount;
use common::objects::stored_bytes;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        match stored_bytes(&t, &format!("f{i}")).await {
            Some(got) => {
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
            None => {
                assert!(
                    !acked.contains(&i),
                    "f{i}: close() returned 0 but the object is missing"
                );
                absent += 1;
            }
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
