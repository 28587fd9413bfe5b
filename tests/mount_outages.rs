//! Outages that last longer than one request, ridden out by a real mount: the
//! Keystone token expiring in the middle of a long write, and the Swift proxy being
//! killed and started again in the middle of a copy. What close() acknowledged must be
//! in Swift, byte for byte.

mod common;

use common::files::{close_checked, random_bytes as data};
use common::lab::{self, TestContainer};
use common::mount::{self, Mount};
use common::objects::swift_bytes;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the test stack's Keystone tokens live (scripts/test.sh sets 60 s).
fn token_life() -> Duration {
    let secs = std::env::var("SWIFTMOUNT_TEST_KS_TOKEN_LIFE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3600);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expiring_during_a_long_write_is_renewed() {
    let life = token_life();
    assert!(
        life <= Duration::from_secs(120),
        "this test needs short Keystone tokens (scripts/test.sh starts Keystone with \
         KS_TOKEN_EXPIRATION=60 and sets SWIFTMOUNT_TEST_KS_TOKEN_LIFE); tokens live {life:?}"
    );
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "o-token").await;
    // -v: the log says each login; 4 MiB segments: uploads go on during the write
    let m = Mount::new(t.name.as_str(), &["-v", "--segment-size", "4"]);
    let content = data(40 << 20, 71);
    let chunks: Vec<&[u8]> = content.chunks(2 << 20).collect();
    // spread the 20 writes over the token's life and 15 s more
    let pause = (life + Duration::from_secs(15)) / chunks.len() as u32;
    let start = Instant::now();
    let mut f = File::create(m.join("long.bin")).unwrap();
    for chunk in &chunks {
        f.write_all(chunk).unwrap();
        std::thread::sleep(pause);
    }
    f.sync_all().expect("fsync after the token expired");
    close_checked(f).expect("close after the token expired");
    let took = start.elapsed();
    assert!(took > life, "the write must outlive one token: {took:?}");
    let logins = m.log().matches("authenticated with").count();
    assert!(
        logins >= 2,
        "a write of {took:?} with {life:?} tokens must log in again; log:\n{}",
        m.log()
    );
    assert_eq!(
        fs::read(m.join("long.bin")).unwrap(),
        content,
        "read back on the mount"
    );
    drop(m);
    assert_eq!(swift_bytes(&t, "long.bin").await, content, "Swift API");
    eprintln!("long write: {took:?}, {logins} logins, 40 MiB verified");
    t.cleanup().await;
}

/// A Swift proxy of our own (a copy of the stack's configuration on a free port, one
/// process), so that killing it disturbs no other test.
struct PrivateProxy {
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PrivateProxy {
    fn start() -> PrivateProxy {
        let root = lab::env_or("SWIFTMOUNT_TEST_LAB_ROOT", "/srv/swiftmount-lab");
        let shared = fs::read_to_string(Path::new(&root).join("etc/proxy-server.conf"))
            .expect("the stack's proxy-server.conf");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // one process (workers = 0): a SIGKILL takes the whole proxy down at once
        let conf_text: String = shared
            .lines()
            .map(|l| match l.split('=').next().map(str::trim) {
                Some("bind_port") => format!("bind_port = {port}"),
                Some("workers") => "workers = 0".to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("proxy-server.conf");
        fs::write(&conf, conf_text).unwrap();
        let log = dir.path().join("proxy.log");
        let mut p = PrivateProxy {
            conf,
            port,
            child: None,
            log,
            _dir: dir,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("/usr/bin/swift-proxy-server")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("swift-proxy-server");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "private proxy not listening; log:\n{}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateProxy {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swift_proxy_restart_mid_copy_is_ridden_out() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "o-restart").await;
    let session = t.client.session().await.unwrap();
    let mut proxy = PrivateProxy::start();
    let mut storage_url = session.storage_url.clone();
    storage_url.set_port(Some(proxy.port)).unwrap();
    // a pre-made token (tempauth keeps it in memcached, which both proxies share) and
    // the private proxy's storage URL: every request of the mount goes through it
    let env: mount::Env = vec![
        ("OS_STORAGE_URL", storage_url.to_string()),
        ("OS_AUTH_TOKEN", session.token.expose().to_string()),
    ];
    let m = Mount::with_env(t.name.as_str(), &["-v", "--segment-size", "4"], &env);
    let content = data(48 << 20, 72);
    let written = Arc::new(AtomicUsize::new(0));
    let copy = std::thread::spawn({
        let dst = m.join("big.bin");
        let content = content.clone();
        let written = written.clone();
        move || {
            let mut f = File::create(&dst)?;
            for chunk in content.chunks(1 << 20) {
                f.write_all(chunk)?;
                written.fetch_add(chunk.len(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(40));
            }
            f.sync_all()?;
            close_checked(f)
        }
    });
    // past the first segments: down, and back after a second
    while written.load(Ordering::SeqCst) < 14 << 20 {
        std::thread::sleep(Duration::from_millis(10));
    }
    proxy.kill();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    proxy.spawn();
    let outage = down.elapsed();
    let copied = copy.join().unwrap();
    let log = m.log();
    if let Err(e) = copied {
        panic!("the copy must survive a proxy restart of {outage:?}: {e}; log:\n{log}");
    }
    assert!(
        log.contains("retry"),
        "the outage must have been seen and retried; log:\n{log}"
    );
    assert_eq!(
        fs::read(m.join("big.bin")).unwrap(),
        content,
        "on the mount"
    );
    drop(m);
    assert_eq!(swift_bytes(&t, "big.bin").await, content, "Swift API");
    eprintln!(
        "proxy down for {outage:?} during a 48 MiB copy: {} retried requests, {} segments \
         sent again from the spill file; 48 MiB verified",
        log.matches("; retry").count(),
        log.matches("sending it again").count()
    );
    t.cleanup().await;
}
