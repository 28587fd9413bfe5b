//! Real mounts on a Swift *cluster*: three storage nodes, three replicas, writes that
//! succeed on a quorum of two, container listings updated asynchronously, replicas that
//! come back stale after an outage (issue 13).
//!
//! They need the cluster profile of the local stack, so they are `#[ignore]`d and run by
//! `scripts/test.sh` after the normal suite:
//!
//! ```sh
//! SWIFTMOUNT_LAB_NODES=3 SWIFTMOUNT_LAB_ROOT=/srv/swiftmount-cluster … scripts/swift-up.sh
//! SWIFTMOUNT_TEST_LAB_ROOT=/srv/swiftmount-cluster SWIFTMOUNT_TEST_KEYSTONE=http://127.0.0.1:15000/v3 \
//!   cargo test --locked --test cluster -- --ignored --test-threads=1
//! ```
//!
//! The node ports come from `$SWIFTMOUNT_TEST_LAB_ROOT/etc/lab.env` (written by
//! swift-up.sh); one server of one node is stopped, killed and started again with
//! `scripts/swift-node.sh`. Every test starts what it stopped again, also when it fails
//! ([`Downed`]). Replicas are checked on each node's object server directly (a GET
//! `/<device>/<partition>/<account>/<container>/<object>`, no proxy, no auth).

mod common;

use common::files::{close_checked, random_bytes, write_and_close};
use common::lab::{self, TestContainer};
use common::model::mount_target::mount_target;
use common::model::target::Root;
use common::model::{LargeFiles, Model, STREAM_LIMIT, env_num};
use common::mount::Mount;
use common::objects::{listed_names, swift_bytes};
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use swiftmount::swift::{ListQuery, ObjectStore};

// ------------------------------------------------------------------ the cluster

/// The cluster profile the tests run on, as `swift-up.sh` wrote it down.
struct Cluster {
    root: PathBuf,
    nodes: u32,
    base_port: u16,
    host: String,
    hash_prefix: String,
    hash_suffix: String,
}

impl Cluster {
    fn get() -> Cluster {
        let root = PathBuf::from(lab::env_or(
            "SWIFTMOUNT_TEST_LAB_ROOT",
            "/srv/swiftmount-lab",
        ));
        let env_file = root.join("etc/lab.env");
        let text = fs::read_to_string(&env_file).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: these tests need the cluster profile \
                 (SWIFTMOUNT_LAB_NODES=3 scripts/swift-up.sh, SWIFTMOUNT_TEST_LAB_ROOT=its root)",
                env_file.display()
            )
        });
        let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let swift_conf = fs::read_to_string(root.join("etc/swift.conf")).unwrap();
        let conf = |key: &str| {
            swift_conf
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == key).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let c = Cluster {
            nodes: vars["SWIFTMOUNT_LAB_NODES"].parse().unwrap(),
            base_port: vars["SWIFT_NODE_BASE_PORT"].parse().unwrap(),
            host: vars["SWIFTMOUNT_LAB_HOST"].to_string(),
            hash_prefix: conf("swift_hash_path_prefix"),
            hash_suffix: conf("swift_hash_path_suffix"),
            root,
        };
        assert!(c.nodes >= 3, "the cluster has {} nodes", c.nodes);
        c
    }

    fn object_port(&self, node: u32) -> u16 {
        self.base_port + 10 * node as u16
    }

    /// `scripts/swift-node.sh ACTION SERVICE NODE`, which must succeed.
    fn node(&self, action: &str, service: &str, node: u32) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swift-node.sh");
        let out = Command::new(&script)
            .args([action, service, &node.to_string()])
            .env("SWIFTMOUNT_LAB_ROOT", &self.root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "swift-node.sh {action} {service} {node}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim_end());
    }

    /// Stops (or SIGKILLs, `kill`) `service` of `node`; it is started again when the
    /// returned guard is restarted or dropped.
    fn down(&self, how: &str, service: &str, node: u32) -> Downed<'_> {
        let mut d = Downed {
            cluster: self,
            down: Vec::new(),
        };
        d.add(how, service, node);
        d
    }

    /// The partition of `/account/container/object` (part power 10, as swift-up.sh
    /// builds the rings); with 3 devices and 3 replicas it is on every node.
    fn partition(&self, account: &str, container: &str, object: &str) -> u32 {
        let mut h = Md5::new();
        h.update(self.hash_prefix.as_bytes());
        h.update(format!("/{account}/{container}/{object}").as_bytes());
        h.update(self.hash_suffix.as_bytes());
        let d = h.finalize();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]]) >> (32 - 10)
    }
}

/// Services a test stopped; started again (in order) by [`Downed::restart`] or on drop.
struct Downed<'a> {
    cluster: &'a Cluster,
    down: Vec<(String, u32)>,
}

impl Downed<'_> {
    fn add(&mut self, how: &str, service: &str, node: u32) {
        self.cluster.node(how, service, node);
        self.down.push((service.to_string(), node));
    }

    fn restart(&mut self) {
        for (service, node) in std::mem::take(&mut self.down) {
            self.cluster.node("start", &service, node);
        }
    }
}

impl Drop for Downed<'_> {
    fn drop(&mut self) {
        for (service, node) in std::mem::take(&mut self.down) {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swift-node.sh");
            let _ = Command::new(script)
                .args(["start", &service, &node.to_string()])
                .env("SWIFTMOUNT_LAB_ROOT", &self.cluster.root)
                .status();
        }
    }
}

/// One replica as an object server holds it.
#[derive(Debug)]
struct Replica {
    body: Vec<u8>,
    timestamp: String,
}

/// What `node`'s object server holds of `object` in the test container (`None`: 404),
/// asked directly, without the proxy; `Err` says why it cannot tell (a server down).
async fn replica(
    c: &Cluster,
    t: &TestContainer,
    container: &str,
    object: &str,
    node: u32,
) -> Result<Option<Replica>, String> {
    let account = account_of(t).await;
    let part = c.partition(&account, container, object);
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let url = format!(
        "http://{}:{}/d{node}/{part}/{account}/{}/{}",
        c.host,
        c.object_port(node),
        enc(container),
        object.split('/').map(enc).collect::<Vec<_>>().join("/")
    );
    let resp = reqwest::Client::new()
        .get(&url)
        .header("X-Backend-Storage-Policy-Index", "0")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    match resp.status().as_u16() {
        404 => return Ok(None),
        200 => {}
        status => return Err(format!("GET {url}: {status}")),
    }
    let header = |k: &str| {
        resp.headers()
            .get(k)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let timestamp = header("x-timestamp");
    let body = resp.bytes().await.map_err(|e| e.to_string())?.to_vec();
    Ok(Some(Replica { body, timestamp }))
}

/// `AUTH_…` of the test container's account.
async fn account_of(t: &TestContainer) -> String {
    let s = t.client.session().await.unwrap();
    s.storage_url
        .path_segments()
        .unwrap()
        .nth(1)
        .expect("/v1/<account>")
        .to_string()
}

/// Polls `check` (every 2 s) until it returns `None`, at most `limit`; panics with the
/// last thing it said otherwise. Returns how long it took.
async fn until<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            None => return start.elapsed(),
            Some(why) if start.elapsed() > limit => {
                panic!("{what}: not after {limit:?}: {why}")
            }
            Some(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

/// Every node holds `object` with exactly `want` (a plain object), or says what is off.
async fn replicas_hold(
    c: &Cluster,
    t: &TestContainer,
    object: &str,
    want: &[u8],
) -> Option<String> {
    for n in 1..=c.nodes {
        match replica(c, t, t.name.as_str(), object, n).await {
            Err(why) => return Some(why),
            Ok(None) => return Some(format!("node {n} has no {object}")),
            Ok(Some(r)) if r.body != want => {
                return Some(format!(
                    "node {n} holds another {object} ({} bytes, ts {})",
                    r.body.len(),
                    r.timestamp
                ));
            }
            Ok(Some(_)) => {}
        }
    }
    None
}

/// Every node holds the static large object `object` = `want`: its manifest, and every
/// segment the manifest names, byte for byte.
async fn slo_replicas_hold(
    c: &Cluster,
    t: &TestContainer,
    object: &str,
    want: &[u8],
) -> Option<String> {
    let mut manifest: Option<Vec<serde_json::Value>> = None;
    for n in 1..=c.nodes {
        let r = match replica(c, t, t.name.as_str(), object, n).await {
            Err(why) => return Some(why),
            Ok(None) => return Some(format!("node {n} has no manifest {object}")),
            Ok(Some(r)) => r,
        };
        let segs: Vec<serde_json::Value> = match serde_json::from_slice(&r.body) {
            Ok(s) => s,
            Err(e) => return Some(format!("node {n}: {object} is no SLO manifest: {e}")),
        };
        match &manifest {
            None => manifest = Some(segs),
            Some(m) if *m != segs => return Some(format!("node {n} holds another manifest")),
            Some(_) => {}
        }
    }
    let manifest = manifest.unwrap();
    let mut offset = 0usize;
    for seg in &manifest {
        let path = seg["name"].as_str().unwrap().trim_start_matches('/');
        let (container, name) = path.split_once('/').unwrap();
        let len = seg["bytes"].as_u64().unwrap() as usize;
        let expected = &want[offset..offset + len];
        offset += len;
        for n in 1..=c.nodes {
            match replica(c, t, container, name, n).await {
                Err(why) => return Some(why),
                Ok(None) => return Some(format!("node {n} has no segment {name}")),
                Ok(Some(r)) if r.body != expected => {
                    return Some(format!("node {n}: segment {name} differs"));
                }
                Ok(Some(_)) => {}
            }
        }
    }
    if offset != want.len() {
        return Some(format!(
            "the manifest covers {offset} of {} bytes",
            want.len()
        ));
    }
    None
}

/// A fresh test container, once the cluster takes writes again on every node: after
/// a server restart the proxies skip ("error-limit") it for up to 60 s, and a test
/// that follows one that restarted servers must not start with a cluster still
/// catching up (a file written then has a replica too few, and a test that stops the
/// other nodes finds none).
async fn container(tag: &str) -> TestContainer {
    let c = Cluster::get();
    let t = TestContainer::new(lab::client(lab::labuser_v3()), tag).await;
    let probe = lab::obj("probe");
    until(
        "a PUT, DELETE and listings through the proxy",
        Duration::from_secs(180),
        || async {
            let put = t
                .client
                .put_raw(&t.name, &probe, bytes::Bytes::from_static(b"probe"), &[])
                .await;
            match put {
                Ok(_) => {}
                Err(e) => return Some(e.to_string()),
            }
            // the proxy wrote every replica at once: it skips no object server
            if let Some(why) = replicas_hold(&c, &t, probe.as_str(), b"probe").await {
                return Some(why);
            }
            if let Err(e) = t.client.delete_object(&t.name, &probe).await {
                return Some(e.to_string());
            }
            // every container server answers (each proxy picks one at random)
            for _ in 0..6 {
                if let Err(e) = t.client.list_all(&t.name, &ListQuery::default()).await {
                    return Some(e.to_string());
                }
            }
            None
        },
    )
    .await;
    t
}

/// Deletes the test container and what is in it (and its segments container), asking
/// again while the proxies answer 503 (error-limited nodes after a restart).
async fn remove(t: TestContainer) {
    until(
        "deleting the test container",
        Duration::from_secs(180),
        || async {
            for c in [t.segments(), t.name.clone()] {
                let rows = match t.client.list_all(&c, &ListQuery::default()).await {
                    Ok(rows) => rows,
                    Err(swiftmount::swift::SwiftError::NotFound(_)) => continue,
                    Err(e) => return Some(e.to_string()),
                };
                for row in rows {
                    if let swiftmount::swift::ListEntry::Object(o) = row {
                        match t.client.delete_object(&c, &lab::obj(&o.name)).await {
                            Ok(()) | Err(swiftmount::swift::SwiftError::NotFound(_)) => {}
                            Err(e) => return Some(e.to_string()),
                        }
                    }
                }
                match t.client.delete_container(&c).await {
                    Ok(()) | Err(swiftmount::swift::SwiftError::NotFound(_)) => {}
                    Err(e) => return Some(e.to_string()),
                }
            }
            None
        },
    )
    .await;
}

/// Writes `data` to `path` and closes it, with close's result.
fn try_write(path: &Path, data: &[u8]) -> io::Result<()> {
    write_and_close(path, data)
}

fn test_mount(t: &TestContainer, extra: &[&str]) -> Mount {
    let mut args = vec!["-v"];
    args.extend_from_slice(extra);
    Mount::new(t.name.as_str(), &args)
}

// ------------------------------------------------------------------ tests

/// What one small-file writer wrote: name, content, and what close() said.
type Written = Vec<(String, Vec<u8>, io::Result<()>)>;

/// One object server SIGKILLed in the middle of a 200 MiB copy (a large object: its
/// segments stream while it is written) and of 8 processes' worth of small-file
/// writers, started again only after they are done: every file whose close returned 0
/// must be intact, and the three replicas of everything must converge (checked on each
/// node's object server) once the killed one is back.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the cluster profile (scripts/test.sh runs it)"]
async fn an_object_server_killed_mid_write_loses_nothing_and_replicas_converge() {
    const BIG: usize = 200 << 20;
    let c = Cluster::get();
    let t = container("c-kill").await;
    let m = test_mount(&t, &["--segment-size", "16"]);
    let big = Arc::new(random_bytes(BIG, 11));
    let copied = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let copy = std::thread::spawn({
        let (dst, big, copied) = (m.join("big.bin"), big.clone(), copied.clone());
        move || -> io::Result<()> {
            let mut f = File::create(dst)?;
            for chunk in big.chunks(128 << 10) {
                f.write_all(chunk)?;
                copied.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
            close_checked(f)
        }
    });
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let (dir, stop) = (m.path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut out: Written = Vec::new();
                let mut k = 0u64;
                while !stop.load(Ordering::SeqCst) || k < 5 {
                    let name = format!("w{w}-{k:03}.bin");
                    let data = random_bytes(
                        1000 + ((w * 7919 + k * 104_729) % 60_000) as usize,
                        w * 1000 + k,
                    );
                    let r = write_and_close(&dir.join(&name), &data);
                    out.push((name, data, r));
                    k += 1;
                }
                out
            })
        })
        .collect();
    // a third of the way into the copy: SIGKILL node 2's object server
    while copied.load(Ordering::SeqCst) < (BIG / 3) as u64 {
        assert!(!copy.is_finished(), "the copy ended before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut down = c.down("kill", "object", 2);
    let killed_at = start.elapsed();
    let copy_result = copy.join().unwrap();
    let copy_took = start.elapsed();
    // writers go on for a while with the node down, then stop
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    let small: Written = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    down.restart();
    let restarted_at = start.elapsed();
    let log = m.log();

    let acked: Vec<&(String, Vec<u8>, io::Result<()>)> =
        small.iter().filter(|(_, _, r)| r.is_ok()).collect();
    let failed: Vec<String> = small
        .iter()
        .filter_map(|(n, _, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
        .collect();
    eprintln!(
        "object-server-2 SIGKILLed {killed_at:?} in (copy at {} MiB), the 200 MiB copy closed \
         with {copy_result:?} at {copy_took:?}; {} small files closed fine, {} failed {failed:?}; \
         node 2 back at {restarted_at:?}; {} retries in the log",
        (BIG / 3) >> 20,
        acked.len(),
        failed.len(),
        log.matches("; retry").count()
    );
    // every acknowledged close: intact in Swift and on the mount
    let mut verified = 0usize;
    if copy_result.is_ok() {
        assert!(
            swift_bytes(&t, "big.bin").await == *big,
            "big.bin in Swift differs"
        );
        assert!(
            fs::read(m.join("big.bin")).unwrap() == *big,
            "big.bin on the mount differs"
        );
        verified += BIG;
    }
    for (name, data, _) in &acked {
        assert_eq!(swift_bytes(&t, name).await, *data, "{name} in Swift");
        assert_eq!(
            fs::read(m.join(name)).unwrap(),
            *data,
            "{name} on the mount"
        );
        verified += data.len();
    }
    // with two of three object servers up every write has its quorum: none may fail
    assert!(
        copy_result.is_ok(),
        "the copy failed with one node down: {copy_result:?}; log:\n{log}"
    );
    assert!(
        failed.is_empty(),
        "small files failed with one node down: {failed:?}; log:\n{log}"
    );
    drop(m);

    // replicas converge: node 2 gets what was written while it was down (ssync)
    let smalls_converged = until(
        "3 replicas of every small file",
        Duration::from_secs(400),
        || async {
            for (name, data, _) in &acked {
                if let Some(why) = replicas_hold(&c, &t, name, data).await {
                    return Some(why);
                }
            }
            None
        },
    )
    .await;
    let big_converged = until(
        "3 replicas of big.bin and its segments",
        Duration::from_secs(400),
        || slo_replicas_hold(&c, &t, "big.bin", &big),
    )
    .await;
    eprintln!(
        "verified {} MiB through Swift and the mount ({} files); replicas on all 3 nodes: small \
         files {smalls_converged:?} after the restart, big.bin {big_converged:?} after that",
        verified >> 20,
        acked.len() + 1
    );
    remove(t).await;
}

/// With two of three object servers down no PUT reaches a quorum: every close must say
/// so (EIO), the version Swift had must stay, and once the servers are back the same
/// writes must go through.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the cluster profile (scripts/test.sh runs it)"]
async fn two_object_servers_down_fail_writes_cleanly() {
    let c = Cluster::get();
    let t = container("c-two-down").await;
    let m = test_mount(&t, &["--retries", "2"]);
    let v1 = random_bytes(300 << 10, 1);
    let v2 = random_bytes(300 << 10, 2);
    let fresh = random_bytes(20 << 10, 3);
    try_write(&m.join("keep.bin"), &v1).expect("v1 with every node up");
    // node 1, which stays up, must hold v1 (a slow replica is written a moment later)
    until("3 replicas of v1", Duration::from_secs(60), || {
        replicas_hold(&c, &t, "keep.bin", &v1)
    })
    .await;

    let start = Instant::now();
    let mut down = c.down("stop", "object", 2);
    down.add("stop", "object", 3);
    let over = try_write(&m.join("keep.bin"), &v2);
    let new = try_write(&m.join("new.bin"), &fresh);
    let failed_in = start.elapsed();
    // close() said EIO at once; the kernel's release comes after it, and the mount's
    // last try to store keep.bin (readers on the mount see what it tries to store)
    // ends with its ERROR line
    let last_try = until(
        "the last close of keep.bin giving up",
        Duration::from_secs(120),
        || {
            let log = m.log();
            async move {
                let gave_up = log
                    .lines()
                    .any(|l| l.contains("keep.bin") && l.contains("ERROR"));
                (!gave_up).then(|| "no ERROR line about keep.bin yet".to_string())
            }
        },
    )
    .await;
    eprintln!("the last close of keep.bin gave up {last_try:?} after close() returned");
    let log = m.log();
    assert_eq!(
        over.as_ref().map_err(io::Error::raw_os_error),
        Err(Some(libc::EIO)),
        "overwriting with 2 of 3 object servers down; log:\n{log}"
    );
    // a new name: Swift cannot even say it is absent (one 404 of three is no quorum:
    // the HEAD of the kernel's lookup is a 503), so the create fails already, with EIO
    assert_eq!(
        new.as_ref().map_err(io::Error::raw_os_error),
        Err(Some(libc::EIO)),
        "a new file with 2 of 3 object servers down; log:\n{log}"
    );
    // the old version is intact, on the mount and in Swift (node 1 still has it)
    assert_eq!(
        fs::read(m.join("keep.bin")).unwrap(),
        v1,
        "keep.bin on the mount"
    );
    assert_eq!(swift_bytes(&t, "keep.bin").await, v1, "keep.bin in Swift");
    assert!(
        !m.join("new.bin").exists() || fs::metadata(m.join("new.bin")).unwrap().len() == 0,
        "new.bin must not appear with content"
    );
    // one ERROR line per failed file (the retries before it are WARNs)
    let lines = |name: &str, level: &str| {
        log.lines()
            .filter(|l| l.contains(name) && l.contains(level))
            .count()
    };
    eprintln!(
        "2 of 3 object servers down: keep.bin {over:?}, new.bin {new:?} after {failed_in:?}; \
         log lines about keep.bin: {} ERROR, {} WARN; about new.bin: {} ERROR, {} WARN",
        lines("keep.bin", "ERROR"),
        lines("keep.bin", "WARN"),
        lines("new.bin", "ERROR"),
        lines("new.bin", "WARN"),
    );
    assert_eq!(
        lines("keep.bin", "ERROR"),
        1,
        "one error line per failed file; log:\n{log}"
    );
    assert!(
        lines("new.bin", "ERROR") <= 1,
        "at most one error line per failed file; log:\n{log}"
    );

    down.restart();
    // the proxy may error-limit the restarted nodes for up to 60 s: ask again until then
    let back = Instant::now();
    let took = until(
        "writes after the object servers are back",
        Duration::from_secs(240),
        || {
            let (keep, new) = (m.join("keep.bin"), m.join("new.bin"));
            let (v2, fresh) = (v2.clone(), fresh.clone());
            async move {
                let r = tokio::task::spawn_blocking(move || {
                    try_write(&keep, &v2).and_then(|_| try_write(&new, &fresh))
                })
                .await
                .unwrap();
                r.err().map(|e| e.to_string())
            }
        },
    )
    .await;
    assert_eq!(fs::read(m.join("keep.bin")).unwrap(), v2);
    assert_eq!(fs::read(m.join("new.bin")).unwrap(), fresh);
    drop(m);
    assert_eq!(swift_bytes(&t, "keep.bin").await, v2, "keep.bin in Swift");
    assert_eq!(swift_bytes(&t, "new.bin").await, fresh, "new.bin in Swift");
    let converged = until(
        "3 replicas of keep.bin and new.bin",
        Duration::from_secs(300),
        || async {
            match replicas_hold(&c, &t, "keep.bin", &v2).await {
                Some(why) => Some(why),
                None => replicas_hold(&c, &t, "new.bin", &fresh).await,
            }
        },
    )
    .await;
    eprintln!(
        "servers back: writes succeeded again {took:?} later ({:?} after the restart), \
         3 replicas of both on every node {converged:?} after that",
        back.elapsed()
    );
    remove(t).await;
}

/// With every container server down, object PUTs still succeed (the object servers
/// queue the listing update); the mount must still show its own new files, and the
/// With every container server down, object PUTs still succeed (the object servers
/// queue the listing update); the mount must still show its own new files, and the
/// listings catch up once the container servers are back.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the cluster profile (scripts/test.sh runs it)"]
async fn container_servers_down_writes_succeed_and_listings_catch_up() {
    const TTL: u64 = 20;
    let c = Cluster::get();
    let t = container("c-cont-down").await;
    let m = test_mount(&t, &["--dir-cache-ttl", &TTL.to_string()]);
    try_write(&m.join("before.txt"), b"before").unwrap();
    fs::create_dir(m.join("d")).unwrap();
    // The folders' listings are cached now, so the names created below are known to be
    // new without asking Swift (with no container server, nobody can say). And the
    // proxies cache the container's existence for 60 s (recheck_container_existence):
    // a PUT needs it, so the writes below come within that minute of a listing.
    assert_eq!(common::files::ls(&m.path), ["before.txt", "d"]);
    assert!(common::files::ls(&m.join("d")).is_empty());
    let _ = listed_names(&t).await;
    let listed_at = Instant::now();
    let mut down = Downed {
        cluster: &c,
        down: Vec::new(),
    };
    for n in 1..=c.nodes {
        down.add("stop", "container", n);
    }
    let files: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| {
            let name = if i % 2 == 0 {
                format!("new-{i}.bin")
            } else {
                format!("d/new-{i}.bin")
            };
            (name, random_bytes(1000 + 7000 * i, 100 + i as u64))
        })
        .collect();
    for (name, data) in &files {
        try_write(&m.join(name), data).unwrap_or_else(|e| {
            panic!(
                "close of {name} with the container servers down ({:?} after the last listing): {e}; log:\n{}",
                listed_at.elapsed(),
                m.log()
            )
        });
    }
    let written_in = listed_at.elapsed();
    let in_root: Vec<String> = files
        .iter()
        .filter(|(n, _)| !n.contains('/'))
        .map(|(n, _)| n.clone())
        .collect();
    let in_d: Vec<String> = files
        .iter()
        .filter_map(|(n, _)| n.strip_prefix("d/").map(str::to_string))
        .collect();
    let mut want_root = in_root.clone();
    want_root.extend(["before.txt".to_string(), "d".to_string()]);
    want_root.sort();
    // within the TTL: the mount lists its own new files and reads them back
    assert!(
        listed_at.elapsed() < Duration::from_secs(TTL),
        "the writes took {written_in:?}: past the {TTL} s TTL"
    );
    assert_eq!(common::files::ls(&m.path), want_root, "ls within the TTL");
    assert_eq!(common::files::ls(&m.join("d")), in_d, "ls d within the TTL");
    for (name, data) in &files {
        assert_eq!(
            fs::read(m.join(name)).unwrap(),
            *data,
            "{name} on the mount"
        );
    }
    // past the TTL the listing cannot be asked for again: a listing must not leave
    // out the mount's own files (failing is honest); each file is still found
    // (a HEAD per name) and read back
    while listed_at.elapsed() < Duration::from_secs(TTL + 2) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let late_ls = fs::read_dir(&m.path).map(|rd| {
        let mut v: Vec<String> = rd
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    });
    if let Ok(names) = &late_ls {
        assert_eq!(
            *names, want_root,
            "a listing past the TTL must hold the mount's files"
        );
    }
    // (a file in a folder is not: the folder's name cannot be confirmed, neither by a
    // listing nor by a HEAD of the name itself, which is no object: EIO)
    for (name, data) in files.iter().filter(|(n, _)| !n.contains('/')) {
        assert_eq!(
            fs::read(m.join(name))
                .unwrap_or_else(|e| panic!("{name} past the TTL: {e}; log:\n{}", m.log())),
            *data,
            "{name} on the mount past the TTL"
        );
    }
    let in_folder = fs::read(m.join(&files[1].0)).map(|b| b == files[1].1);
    // a name the mount has not cached: can it be created with no container server?
    let late_new = try_write(&m.join("late.bin"), b"late");
    eprintln!(
        "container servers down: {} files written and closed in {written_in:?}, listed and read \
         back within the TTL; past the TTL: ls {:?}, every file of the root found and read, \
         {} in d/: {in_folder:?}; a new name past the TTL: {late_new:?}",
        files.len(),
        late_ls.as_ref().map_err(|e| e.to_string()),
        files[1].0,
    );
    let mut all: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    if late_new.is_ok() {
        all.push("late.bin".into());
    }

    down.restart();
    let restarted = Instant::now();
    let caught_up = until(
        "Swift's listing after the container servers are back",
        Duration::from_secs(240),
        || async {
            let names = match t.client.list_all(&t.name, &ListQuery::default()).await {
                Ok(rows) => rows
                    .iter()
                    .map(|r| r.marker().to_string())
                    .collect::<Vec<_>>(),
                Err(e) => return Some(e.to_string()),
            };
            let missing: Vec<&String> = all.iter().filter(|n| !names.contains(n)).collect();
            (!missing.is_empty()).then(|| format!("missing {missing:?}"))
        },
    )
    .await;
    if late_new.is_ok() {
        want_root.push("late.bin".into());
        want_root.sort();
    }
    let mount_caught_up = until("the mount's listing", Duration::from_secs(TTL * 3), || {
        let out = (common::files::ls(&m.path), common::files::ls(&m.join("d")));
        let ok = out.0 == want_root && out.1 == in_d;
        async move { (!ok).then(|| format!("ls {:?} / d: {:?}", out.0, out.1)) }
    })
    .await;
    for (name, data) in &files {
        assert_eq!(swift_bytes(&t, name).await, *data, "{name} in Swift");
    }
    eprintln!(
        "container servers back: Swift's listing complete {caught_up:?} after the restart, \
         the mount's {mount_caught_up:?} after that ({:?} in all)",
        restarted.elapsed()
    );
    drop(m);
    remove(t).await;
}

/// How a read of the whole file through a fresh open came out.
#[derive(Debug, Default)]
struct Opens {
    old: usize,
    new: usize,
    failed: Vec<String>,
}

/// `n` fresh opens of `path`, each read whole: the old or the new version, never a mix.
fn fresh_opens(path: &Path, n: usize, old: &[u8], new: &[u8]) -> Opens {
    let mut o = Opens::default();
    for _ in 0..n {
        match fs::read(path) {
            Ok(b) if b == old => o.old += 1,
            Ok(b) if b == new => o.new += 1,
            Ok(b) => panic!(
                "a fresh open read {} bytes that are neither version (mixed?)",
                b.len()
            ),
            Err(e) => o.failed.push(e.to_string()),
        }
    }
    o
}

/// Reads of an open handle at offsets all over the file, past its cached pages: each
/// must be the version it opened, or fail with ESTALE. Returns (reads of the opened
/// version, ESTALE).
fn pinned_reads(f: &File, opened: &[u8], other: &[u8], rounds: usize) -> (usize, usize) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    let (mut same, mut stale) = (0, 0);
    let chunk = 64 << 10;
    for r in 0..rounds {
        // SAFETY: plain syscall on an open descriptor we own; drops its cached pages
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let off = (r * 7 * chunk + r * 4096) % (opened.len() - chunk);
        let mut buf = vec![0u8; chunk];
        match f.read_exact_at(&mut buf, off as u64) {
            Ok(()) => {
                assert!(
                    buf == opened[off..off + chunk],
                    "read at {off} of the handle is not the version it opened{}",
                    if buf == other[off..off + chunk] {
                        " but the other one"
                    } else {
                        ""
                    }
                );
                same += 1;
            }
            Err(e) if e.raw_os_error() == Some(libc::ESTALE) => stale += 1,
            Err(e) => panic!("read at {off}: {e}"),
        }
    }
    (same, stale)
}

/// `n` GETs of `object` through the proxy, with or without `X-Newest`: how many
/// returned `old` and how many `new`.
async fn proxy_gets(
    t: &TestContainer,
    object: &str,
    n: usize,
    newest: bool,
    old: &[u8],
    new: &[u8],
) -> (usize, usize) {
    let s = t.client.session().await.unwrap();
    let url = format!(
        "{}/{}/{object}",
        s.storage_url.as_str().trim_end_matches('/'),
        t.name
    );
    let http = reqwest::Client::new();
    let (mut o, mut nw) = (0, 0);
    for _ in 0..n {
        let mut req = http.get(&url).header("X-Auth-Token", s.token.expose());
        if newest {
            req = req.header("X-Newest", "true");
        }
        let body = req.send().await.unwrap().bytes().await.unwrap();
        if body == old {
            o += 1;
        } else if body == new {
            nw += 1;
        } else {
            panic!("GET {object}: neither version ({} bytes)", body.len());
        }
    }
    (o, nw)
}

/// A stale replica: node 3's object server is stopped while a file is replaced, and
/// started again before replication can fix it. A handle opened before must never
/// return bytes of two versions; fresh opens may return the old version until the
/// replicators have run (what docs/SEMANTICS.md says), and only the new one after.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the cluster profile (scripts/test.sh runs it)"]
async fn a_stale_replica_never_mixes_versions() {
    // a plain object (written by another writer: through the mount, a file past 8 MiB
    // would be a large object, which is not pinned) larger than what one open buffers
    // ahead (8 MiB), so that the handle's reads past that go to Swift, pinned by ETag
    const LEN: usize = 12 << 20;
    let c = Cluster::get();
    let t = container("c-stale").await;
    let m = test_mount(&t, &["--dir-cache-ttl", "1"]);
    let (v1, v2) = (random_bytes(LEN, 41), random_bytes(LEN, 42));
    let path = m.join("f.bin");
    t.client
        .put_raw(
            &t.name,
            &lab::obj("f.bin"),
            bytes::Bytes::from(v1.clone()),
            &[],
        )
        .await
        .unwrap();
    until("3 replicas of v1", Duration::from_secs(300), || {
        replicas_hold(&c, &t, "f.bin", &v1)
    })
    .await;
    let h1 = File::open(&path).unwrap();
    let mut head = vec![0u8; 4096];
    std::os::unix::fs::FileExt::read_exact_at(&h1, &mut head, 0).unwrap();
    assert_eq!(head, v1[..4096]);

    // no replication meanwhile; node 3 misses the overwrite (by another writer)
    let mut replicators = Downed {
        cluster: &c,
        down: Vec::new(),
    };
    for n in 1..=c.nodes {
        replicators.add("stop", "object-replicator", n);
    }
    let mut node3 = c.down("stop", "object", 3);
    t.client
        .put_raw(
            &t.name,
            &lab::obj("f.bin"),
            bytes::Bytes::from(v2.clone()),
            &[],
        )
        .await
        .expect("PUT v2 with node 3 down (quorum 2 of 3)");
    node3.restart();
    let r3 = replica(&c, &t, t.name.as_str(), "f.bin", 3)
        .await
        .unwrap()
        .expect("node 3 holds f.bin");
    let r1 = replica(&c, &t, t.name.as_str(), "f.bin", 1)
        .await
        .unwrap()
        .expect("node 1 holds f.bin");
    assert!(
        r3.body == v1 && r1.body == v2,
        "node 3 must hold v1 (stale), node 1 v2"
    );
    eprintln!(
        "stale: node 3 holds v1 (ts {}), nodes 1-2 v2 (ts {})",
        r3.timestamp, r1.timestamp
    );

    // the handle opened on v1: v1 or ESTALE, never v2 bytes
    let (same, stale) = pinned_reads(&h1, &v1, &v2, 60);
    // fresh opens: one version or the other, whole
    let opens = fresh_opens(&path, 20, &v1, &v2);
    let plain = proxy_gets(&t, "f.bin", 30, false, &v1, &v2).await;
    let newest = proxy_gets(&t, "f.bin", 30, true, &v1, &v2).await;
    eprintln!(
        "with the stale replica: the old handle read v1 {same} times, ESTALE {stale} times; \
         20 fresh opens on the mount: {} v1 (stale), {} v2, failed {:?}; 30 proxy GETs: \
         {} v1 / {} v2, with X-Newest: {} v1 / {} v2",
        opens.old, opens.new, opens.failed, plain.0, plain.1, newest.0, newest.1
    );
    assert_eq!(newest.0, 0, "X-Newest must never return the stale replica");
    assert!(
        opens.failed.is_empty(),
        "fresh opens failed: {:?}",
        opens.failed
    );

    // replication repairs node 3; then every fresh open reads v2
    replicators.restart();
    let repaired = until(
        "node 3 repaired by replication",
        Duration::from_secs(300),
        || replicas_hold(&c, &t, "f.bin", &v2),
    )
    .await;
    let after = fresh_opens(&path, 10, &v1, &v2);
    let (same2, stale2) = pinned_reads(&h1, &v1, &v2, 20);
    let log = m.log();
    close_checked(h1).unwrap();
    eprintln!(
        "replicated {repaired:?} after the replicators started: 10 fresh opens: {} v1, {} v2; \
         the old handle: v1 {same2} times, ESTALE {stale2} times",
        after.old, after.new
    );
    assert_eq!(
        (after.old, after.new),
        (0, 10),
        "after replication every open reads v2"
    );
    assert!(same2 + stale2 == 20);
    assert!(
        stale2 > 0,
        "with v1 gone from every node, the old handle's reads past its buffer must be ESTALE; log:\n{log}"
    );
    drop(m);
    remove(t).await;
}

/// What writer `k` writes as its file `i` (`i == BIG_FILE`: its large file).
fn disjoint_file(k: u64, i: u64) -> (String, Vec<u8>) {
    let len = if i == BIG_FILE {
        10 << 20
    } else {
        500 + ((k * 31 + i * 977) % 200_000) as usize
    };
    (
        format!("p{k}/f{i:03}.bin"),
        random_bytes(len, 5000 + k * 1000 + i),
    )
}
const BIG_FILE: u64 = 999;
const PER_WRITER: u64 = 30;

/// Reads every file listed under `p1/` … `p4/` on `root` and checks it against what its
/// writer wrote; returns (files, bytes) verified.
fn verify_listed(root: &Path, writers: u64) -> (usize, usize) {
    let (mut files, mut bytes) = (0, 0);
    for k in 1..=writers {
        let dir = root.join(format!("p{k}"));
        let names = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect::<Vec<_>>(),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => panic!("ls {}: {e}", dir.display()),
        };
        for name in names {
            let i: u64 = name
                .strip_prefix('f')
                .and_then(|n| n.strip_suffix(".bin"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("p{k}/{name}: no file of writer {k} (cross-talk?)"));
            let (rel, want) = disjoint_file(k, i);
            let got = fs::read(root.join(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(
                got == want,
                "{rel}: {} bytes, not what writer {k} wrote",
                got.len()
            );
            files += 1;
            bytes += got.len();
        }
    }
    (files, bytes)
}

/// Four mounts (four processes) write disjoint folders of one container at once while
/// a fifth lists and reads them: whatever the fifth lists is complete and the right
/// writer's, and after the listing TTL it lists everything.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the cluster profile (scripts/test.sh runs it)"]
async fn four_mounts_write_while_a_fifth_lists_and_reads() {
    const WRITERS: u64 = 4;
    const TTL: u64 = 2;
    let _c = Cluster::get();
    let t = container("c-five").await;
    let writers: Vec<Mount> = (0..WRITERS)
        .map(|_| test_mount(&t, &["--segment-size", "4"]))
        .collect();
    let reader = test_mount(&t, &["--dir-cache-ttl", &TTL.to_string()]);
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let jobs: Vec<_> = writers
        .iter()
        .zip(1..)
        .map(|(m, k)| {
            let root = m.path.clone();
            std::thread::spawn(move || {
                fs::create_dir(root.join(format!("p{k}"))).unwrap();
                for i in (0..PER_WRITER).chain([BIG_FILE]) {
                    let (rel, data) = disjoint_file(k, i);
                    write_and_close(&root.join(&rel), &data)
                        .unwrap_or_else(|e| panic!("writer {k}: {rel}: {e}"));
                }
            })
        })
        .collect();
    let lister = std::thread::spawn({
        let (root, done) = (reader.path.clone(), done.clone());
        move || {
            let (mut rounds, mut files, mut bytes) = (0, 0, 0);
            while !done.load(Ordering::SeqCst) {
                let (f, b) = verify_listed(&root, WRITERS);
                rounds += 1;
                files += f;
                bytes += b;
                std::thread::sleep(Duration::from_millis(300));
            }
            (rounds, files, bytes)
        }
    });
    for j in jobs {
        j.join().unwrap();
    }
    let written_in = start.elapsed();
    done.store(true, Ordering::SeqCst);
    let (rounds, seen, seen_bytes) = lister.join().unwrap();

    // after the TTL the fifth lists everything, exactly
    let want: Vec<String> = (0..PER_WRITER)
        .chain([BIG_FILE])
        .map(|i| disjoint_file(1, i).0.split_once('/').unwrap().1.to_string())
        .collect();
    let complete = until(
        "the fifth mount's listings",
        Duration::from_secs(60),
        || {
            let r = reader.path.clone();
            let want = want.clone();
            async move {
                for k in 1..=WRITERS {
                    let mut got = common::files::ls(&r.join(format!("p{k}")));
                    got.sort();
                    if got != want {
                        return Some(format!("p{k}: {} of {} names", got.len(), want.len()));
                    }
                }
                None
            }
        },
    )
    .await;
    let (files, bytes) = verify_listed(&reader.path, WRITERS);
    assert_eq!(files as u64, WRITERS * (PER_WRITER + 1));
    // and Swift has exactly those objects (plus the folders' markers `p1`…, beside them)
    let mut names = listed_names(&t).await;
    names.retain(|n| n.contains('/'));
    let mut expected: Vec<String> = (1..=WRITERS)
        .flat_map(|k| {
            (0..PER_WRITER)
                .chain([BIG_FILE])
                .map(move |i| disjoint_file(k, i).0)
        })
        .collect();
    expected.sort();
    assert_eq!(names, expected, "the container's listing");
    for k in 1..=WRITERS {
        let (rel, data) = disjoint_file(k, BIG_FILE);
        assert!(swift_bytes(&t, &rel).await == data, "{rel} in Swift");
    }
    eprintln!(
        "4 mounts wrote {} files ({} MiB) in {written_in:?}; meanwhile the fifth listed {rounds} \
         times and verified {seen} reads ({} MiB); complete listings {complete:?} after the \
         writes, then {files} files ({} MiB) verified on the fifth mount",
        WRITERS * (PER_WRITER + 1),
        bytes >> 20,
        seen_bytes >> 20,
        bytes >> 20
    );
    drop(reader);
    drop(writers);
    remove(t).await;
}

/// Resident memory of a process, in KiB (0 once it is gone).
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Logins a mount made so far, from its log (its stderr, a file).
fn logins_of(pid: u32) -> usize {
    fs::read_to_string(format!("/proc/{pid}/fd/2"))
        .map(|l| l.matches("authenticated with").count())
        .unwrap_or(0)
}

/// The soak: the model test's random operations on two mounts (each on its own
/// prefix of one container, each against its own local directory) for
/// `SWIFTMOUNT_SOAK_SECS` (default 180; 3600 on demand), with faults on a schedule
/// (`SWIFTMOUNT_SOAK_FAULTS`, a comma-separated list, default `proxy,kill`): every minute
/// the RegionOne proxy the mounts use is restarted (`proxy`, at 15 s), and one object
/// server is SIGKILLed (`kill`, at 35 s, a different node each time) and started again
/// (at 50 s); Keystone tokens live 60 s in the test stack, so each mount logs in again
/// about once a minute. (A kill in the middle of a DELETE or PUT loses that request's
/// update of one container replica until the next container replication pass: the
/// mount must not show its own unlink or rename undone in the meantime — the bug this
/// soak found, see docs/SEMANTICS.md.) Every result and every byte the mounts return must match the
/// local directories (the model compares them after each operation, in full every 25
/// and after the final remount); each mount's RSS, sampled every 10 s, must stay below
/// 192 MiB, and in soaks of 20 minutes or more within 10 % of its peak during the
/// warm-up (the first half, at most 10 minutes; shorter soaks print the verdict).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the cluster profile (scripts/test.sh runs it)"]
async fn soak_two_mounts_with_faults() {
    let secs = env_num("SWIFTMOUNT_SOAK_SECS", 180);
    let seed = env_num("SWIFTMOUNT_SOAK_SEED", 1);
    let t = container("c-soak").await;
    let name = t.name.as_str().to_string();
    let run = tokio::task::spawn_blocking(move || soak(&Cluster::get(), &name, secs, seed)).await;
    remove(t).await;
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// How long the soak's final remount may wait for a complete listing: the new mount
/// knows nothing of the old one's changes, and a container replica that missed an
/// update (its object server was killed, or the update timed out at load and waits
/// in the object server's async pending queue) lists without it until replication or
/// the object updater catches up (a pass each, 10 s in the profile).
const LISTINGS_SETTLE: Duration = Duration::from_secs(60);

/// The warm-up's heaviest moment, before the model starts: two large files (the
/// model's largest) written at once and read back at once, then deleted. Otherwise the
/// first time the model has two large files in flight (its buffers' high-water mark)
/// may come minutes into a short soak, and look like growth.
fn prewarm(root: &Path) {
    let size = (STREAM_LIMIT + (9 << 20)) as usize;
    let jobs: Vec<_> = (0..2u64)
        .map(|i| {
            let path = root.join(format!("prewarm-{i}.bin"));
            std::thread::spawn(move || {
                let data = random_bytes(size, 77 + i);
                write_and_close(&path, &data).unwrap();
                assert!(fs::read(&path).unwrap() == data, "{}", path.display());
                path
            })
        })
        .collect();
    for j in jobs {
        fs::remove_file(j.join().unwrap()).unwrap();
    }
}

fn soak(c: &Cluster, container: &str, secs: u64, seed: u64) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let stop = Arc::new(AtomicBool::new(false));
    let mut pids = Vec::new();
    let mut runs = Vec::new();
    for (i, prefix) in ["a", "b"].into_iter().enumerate() {
        // 16 retries (rides out 55-110 s): a proxy restart took 10 s at load 25, and
        // more than 30 s with a build running beside it
        // -v: the log says each login (the token renewals counted below)
        let args = vec![
            "-v",
            "--segment-size",
            "8",
            "--dir-cache-ttl",
            "2",
            "--retries",
            "16",
        ];
        let target = mount_target(format!("{container}/{prefix}"), args);
        let found = common::mount::processes_mentioning(target.root.path());
        assert_eq!(found.len(), 1, "the mount's process: {found:?}");
        prewarm(target.root.path());
        pids.push(found[0]);
        let stop = stop.clone();
        let large = LargeFiles {
            sizes: STREAM_LIMIT + 1..STREAM_LIMIT + (9 << 20),
            count: 6,
        };
        runs.push(std::thread::spawn(move || {
            Model::new(seed + i as u64, target, large)
                .without_random_remounts()
                .listings_settle_within(LISTINGS_SETTLE)
                .run_while(|_| !stop.load(Ordering::SeqCst))
        }));
    }
    let sampler = std::thread::spawn({
        let (pids, stop) = (pids.clone(), stop.clone());
        move || {
            let mut samples: Vec<(Duration, Vec<u64>)> = Vec::new();
            let mut logins = vec![0; pids.len()];
            while !stop.load(Ordering::SeqCst) {
                samples.push((start.elapsed(), pids.iter().map(|p| rss_kib(*p)).collect()));
                for (l, p) in logins.iter_mut().zip(&pids) {
                    *l = logins_of(*p).max(*l);
                }
                let next = start + samples.last().unwrap().0 + Duration::from_secs(10);
                while Instant::now() < next && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            (samples, logins)
        }
    });
    // the fault schedule, once a minute
    let (mut proxy_restarts, mut kills) = (0, 0);
    let at = |cycle: u64, s: u64| start + Duration::from_secs(cycle * 60 + s);
    let wait_until = |when: Instant| {
        while Instant::now() < when {
            if runs.iter().any(|r| r.is_finished()) {
                return false; // a model run failed: stop injecting
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        true
    };
    let faults = lab::env_or("SWIFTMOUNT_SOAK_FAULTS", "proxy,kill");
    let enabled = |f: &str| faults.split(',').any(|x| x.trim() == f);
    'faults: for cycle in 0.. {
        for (s, fault) in [(15, "proxy"), (35, "kill"), (50, "start")] {
            let kind = if fault == "start" { "kill" } else { fault };
            if !enabled(kind) {
                continue;
            }
            let when = at(cycle, s);
            if when + Duration::from_secs(15) > deadline || !wait_until(when) {
                break 'faults;
            }
            let node = (cycle % c.nodes as u64) as u32 + 1;
            match fault {
                "proxy" => {
                    let mut d = c.down("stop", "proxy", 1);
                    d.restart();
                    proxy_restarts += 1;
                }
                "kill" => {
                    c.node("kill", "object", node);
                    kills += 1;
                }
                _ => c.node("start", "object", node),
            }
        }
    }
    // an object server still down (the deadline came between kill and start)
    for n in 1..=c.nodes {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swift-node.sh");
        let up = Command::new(&script)
            .args(["status", "object", &n.to_string()])
            .env("SWIFTMOUNT_LAB_ROOT", &c.root)
            .status()
            .unwrap()
            .success();
        if !up {
            c.node("start", "object", n);
        }
    }
    while Instant::now() < deadline && !runs.iter().any(|r| r.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    let reports: Vec<_> = runs.into_iter().map(|r| r.join()).collect();
    let (samples, logins) = sampler.join().unwrap();
    let mut ok = Vec::new();
    for r in reports {
        match r {
            Ok(r) => ok.push(r),
            Err(e) => std::panic::resume_unwind(e),
        }
    }
    let ops: usize = ok.iter().map(|r| r.ops).sum();
    let written: u64 = ok.iter().map(|r| r.written).sum();
    let verified: u64 = ok.iter().map(|r| r.verified).sum();
    let series: Vec<String> = samples
        .iter()
        .map(|(t, r)| {
            format!(
                "{}s:{}",
                t.as_secs(),
                r.iter()
                    .map(|k| (k >> 10).to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            )
        })
        .collect();
    println!(
        "soak {secs} s, 2 mounts: {ops} operations, faults: {proxy_restarts} proxy restarts, \
         {kills} object-server SIGKILLs, {} Keystone logins (tokens of 60 s); {} MiB written, \
         {} MiB verified, 0 bytes lost (every operation and the final full comparison after a \
         remount matched the local directories); RSS MiB (a/b) {}",
        logins
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("+"),
        written >> 20,
        verified >> 20,
        series.join(" ")
    );
    for r in &ok {
        println!("  {r}");
    }
    // Memory: each mount below SWIFTMOUNT_SOAK_RSS_MAX_MIB (192: since reads fetch up
    // to 20 MiB ahead and keep 8 MiB behind per open file, one mount reached 108 MiB
    // with the model's handles open) always; flat after
    // the warm-up (within 10 % of the warm-up's peak; warm-up: the first half of the sampled time, at most
    // 10 minutes) asserted only in soaks of 20 minutes or more. In 180 s runs the
    // buffers' high-water mark (two large files in flight, read-ahead of four handles:
    // 70-77 MiB in every run) was still being reached after the first half in some runs
    // (53 -> 69 MiB), so there the verdict is printed, not asserted.
    let max_mib = env_num("SWIFTMOUNT_SOAK_RSS_MAX_MIB", 192);
    // from the first sample: mounting and the prewarm can take a minute at load
    let first = samples.first().map_or(Duration::ZERO, |(t, _)| *t);
    let sampled = secs.saturating_sub(first.as_secs());
    let warm = first + Duration::from_secs((sampled / 2).clamp(30, 600));
    for m in 0..pids.len() {
        let all: Vec<u64> = samples.iter().map(|(_, r)| r[m]).collect();
        let peak = all.iter().max().copied().unwrap_or(0);
        assert!(
            peak <= max_mib << 10,
            "mount {m}: RSS {peak} KiB, over {max_mib} MiB: {all:?}"
        );
        let peak_warm = samples
            .iter()
            .filter(|(t, _)| *t <= warm)
            .map(|(_, r)| r[m])
            .max()
            .unwrap_or(0);
        let later: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| *t > warm)
            .map(|(_, r)| r[m])
            .collect();
        let max_later = later.iter().max().copied().unwrap_or(0);
        let flat = max_later * 10 <= peak_warm * 11;
        println!(
            "mount {m}: RSS peak {} MiB; after the warm-up ({warm:?}) at most {} MiB against {} MiB \
             in it: {}",
            peak >> 10,
            max_later >> 10,
            peak_warm >> 10,
            if flat {
                "flat (within 10 %)"
            } else {
                "grew more than 10 %"
            }
        );
        if secs >= 1200 {
            assert!(
                flat,
                "mount {m}: RSS grew past 10 % of its warm-up peak ({peak_warm} KiB): {later:?} KiB"
            );
        }
    }
    assert!(kills + proxy_restarts > 0, "the soak injected no faults");
}
