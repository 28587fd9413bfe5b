//! How the mount meets the system: mount(8) and fstab options, who may use it,
//! secrets kept out of logs and the process list, and the metrics an operator scrapes.

mod common;

use common::files::{close_checked, ls, random_bytes, write_and_close};
use common::lab::{self, TestContainer};
use common::metrics::{Scrape, free_port};
use common::mount::{
    self, Cleanup, Mount, fresh_dir, is_mount_point, mountinfo_count, tempauth_env, v3_env,
};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};
use swiftmount::swift::ObjectStore;

/// `mount -t fuse.swiftmount` runs `mount.fuse3`, which runs `swiftmount` from the
/// safe PATH mount(8) sets: the binary must be installed there, as a user would.
struct Installed(std::path::PathBuf);

impl Installed {
    fn new() -> Self {
        let link = std::path::PathBuf::from("/usr/local/bin/swiftmount");
        assert!(
            !link.exists() || std::fs::read_link(&link).is_ok(),
            "/usr/local/bin/swiftmount is a real file; not replacing it"
        );
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(common::mount::BIN, &link).unwrap();
        Installed(link)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_command_with_fstab_options() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "adm-mount").await;
    t.client
        .put_raw(
            &t.name,
            &lab::obj("dir/file"),
            bytes::Bytes::from_static(b"via mount(8)"),
            &[],
        )
        .await
        .unwrap();
    let _installed = Installed::new();
    let dir = fresh_dir("fstab");
    let _cleanup = Cleanup(dir.clone());
    let out = Command::new("mount")
        .args([
            "-t",
            "fuse.swiftmount",
            "-o",
            "ro,nodev,_netdev,x-systemd.automount,dir_cache_ttl=5,segment_size=64M",
        ])
        .arg(t.name.as_str())
        .arg(&dir)
        .envs(tempauth_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(is_mount_point(&dir));
    assert_eq!(
        std::fs::read(dir.join("dir/file")).unwrap(),
        b"via mount(8)"
    );
    let err = std::fs::write(dir.join("new"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "-o ro is honoured");
    let out = Command::new("umount").arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "umount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!is_mount_point(&dir));
    t.cleanup().await;
}

/// Runs `ls` on `dir` as the unprivileged user `nobody`.
fn ls_as_nobody(dir: &std::path::Path) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "ls"])
        .arg(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn private_unless_allow_other() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "adm-private").await;
    t.client
        .put_raw(
            &t.name,
            &lab::obj("visible"),
            bytes::Bytes::from_static(b"x"),
            &[],
        )
        .await
        .unwrap();
    let private = Mount::with_env(t.name.as_str(), &[], &tempauth_env());
    // nobody must be able to reach the mount point, or the test proves nothing
    use std::os::unix::fs::PermissionsExt;
    let base = private.path.parent().unwrap();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = ls_as_nobody(&private.path);
    assert!(
        !out.status.success(),
        "another user must not see a private mount"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    drop(private);

    let shared = Mount::with_env(t.name.as_str(), &["--allow-other"], &tempauth_env());
    let out = ls_as_nobody(&shared.path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "visible");
    // default permissions: files are 0644, so nobody cannot write
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--", "touch"])
        .arg(shared.join("visible"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "mode bits are enforced");
    drop(shared);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_stay_out_of_trace_logs_and_the_process_list() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "adm-secrets").await;
    let password = lab::labuser_password();
    let m = Mount::with_env(t.name.as_str(), &["-vvv"], &v3_env());
    std::fs::write(m.join("f"), b"data").unwrap();
    assert_eq!(std::fs::read(m.join("f")).unwrap(), b"data");
    std::fs::read_dir(&m.path).unwrap().for_each(drop);
    std::fs::remove_file(m.join("f")).unwrap();
    let pid = m.pid().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(&password),
        "password on the command line"
    );
    let log = m.log();
    drop(m);
    let session = t.client.session().await.unwrap();
    assert!(log.lines().count() > 20, "trace logging is on: {log}");
    assert!(log.contains("authenticated with Keystone v3"), "{log}");
    for secret in [password.as_str(), "gAAAAA", session.token.expose()] {
        assert!(!log.contains(secret), "{secret:?} in the trace log");
    }
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_from_clouds_yaml() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "adm-cloud").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clouds.yaml");
    std::fs::write(
        &file,
        format!(
            "clouds:\n  lab:\n    auth:\n      auth_url: {}\n      username: labuser\n      \
             password: {}\n      project_name: labproject\n      domain_name: labdomain\n",
            lab::keystone_v3(),
            lab::labuser_password()
        ),
    )
    .unwrap();
    let env = [
        ("OS_CLOUD", "lab".to_string()),
        ("OS_CLIENT_CONFIG_FILE", file.display().to_string()),
    ];
    // a segment size with a suffix; a file past the 8 MiB kept in memory is streamed
    // in segments
    let m = Mount::with_env(t.name.as_str(), &["--segment-size", "1M"], &env);
    let data = common::files::random_bytes(10 << 20, 7);
    std::fs::write(m.join("big"), &data).unwrap();
    assert_eq!(std::fs::read(m.join("big")).unwrap(), data);
    drop(m);
    let segments = swiftmount::swift::ContainerName::new(format!("{}_segments", t.name)).unwrap();
    let rows = t
        .client
        .list_all(&segments, &swiftmount::swift::ListQuery::default())
        .await
        .unwrap();
    assert_eq!(rows.len(), 10, "10 MiB in 1 MiB segments: {rows:?}");
    t.cleanup().await;
}

/// Scrapes until `done` holds for the scrape, at most a minute (generous: a loaded
/// machine may take its time); the last scrape.
async fn scrape_until(addr: &str, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = Scrape::of(addr).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{}", s.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Copies `n` bytes from `from` to `to` in 1 MiB writes, as cp does.
fn copy_bytes(from: &mut std::fs::File, to: &mut std::fs::File, mut n: usize) {
    let mut buf = vec![0u8; 1 << 20];
    while n > 0 {
        let got = from.read(&mut buf[..n.min(1 << 20)]).unwrap();
        assert!(got > 0, "source ended early");
        to.write_all(&buf[..got]).unwrap();
        n -= got;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_during_a_copy() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "adm-metrics").await;
    // a file the kernel never saw: reading it must fetch all its bytes from Swift
    let fetched = random_bytes(3 << 20, 11);
    t.client
        .put_raw(&t.name, &lab::obj("fetched"), fetched.clone().into(), &[])
        .await
        .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let m = Mount::with_env(
        t.name.as_str(),
        &[
            "--metrics-addr",
            &addr,
            "--segment-size",
            "4M",
            "--dir-cache-ttl",
            "600",
        ],
        &tempauth_env(),
    );
    let first = Scrape::of(&addr).await;
    assert_eq!(first.get("swiftmount_open_files"), 0.0);
    assert_eq!(first.get("swiftmount_uploads_in_flight"), 0.0);

    for i in 0..5 {
        write_and_close(&m.join(&format!("small{i}")), &random_bytes(1000, i)).unwrap();
    }
    std::fs::create_dir(m.join("folder")).unwrap();
    let hits = Scrape::of(&addr)
        .await
        .get("swiftmount_listing_cache_hits_total");
    let names = ls(&m.path);
    assert_eq!(ls(&m.path), names);
    assert_eq!(names.len(), 7, "{names:?}");
    let listed = Scrape::of(&addr).await;
    assert!(
        listed.get("swiftmount_listing_cache_hits_total") > hits,
        "the second listing came from the cache:\n{}",
        listed.0
    );
    assert!(listed.get("swiftmount_listing_cache_misses_total") > 0.0);

    // a copy of 24 MiB: past the 8 MiB kept in memory, bytes stream into 4 MiB
    // segments, and the one being filled is an upload waiting for the rest
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("big");
    let big = random_bytes(24 << 20, 12);
    std::fs::write(&source, &big).unwrap();
    let mut from = std::fs::File::open(&source).unwrap();
    let mut to = std::fs::File::create(m.join("big")).unwrap();
    copy_bytes(&mut from, &mut to, 18 << 20);
    let mid = scrape_until(&addr, "an upload in flight mid-copy", |s| {
        s.get("swiftmount_uploads_in_flight") >= 1.0
    })
    .await;
    assert_eq!(mid.get("swiftmount_open_files"), 1.0, "{}", mid.0);
    copy_bytes(&mut from, &mut to, 6 << 20);
    close_checked(to).unwrap();
    // the kernel releases the file after close(2) returns
    scrape_until(&addr, "no open file and no upload after close", |s| {
        s.get("swiftmount_open_files") == 0.0 && s.get("swiftmount_uploads_in_flight") == 0.0
    })
    .await;
    assert_eq!(std::fs::read(m.join("fetched")).unwrap(), fetched);
    assert_eq!(std::fs::read(m.join("big")).unwrap(), big);

    let end = Scrape::of(&addr).await;
    let puts = end.sum("swiftmount_requests_total", &[("method", "PUT")]);
    let gets = end.sum("swiftmount_requests_total", &[("method", "GET")]);
    // markers, small files, 6 segments and the manifest at least
    assert!(puts >= 13.0, "PUTs: {puts}\n{}", end.0);
    assert!(
        end.sum(
            "swiftmount_requests_total",
            &[("method", "PUT"), ("status", "201")]
        ) >= 13.0
    );
    assert!(gets >= 2.0, "GETs: {gets}\n{}", end.0);
    let sent = end.get("swiftmount_sent_bytes_total");
    assert!(sent >= (big.len() + 5000) as f64, "sent {sent}");
    let received = end.get("swiftmount_received_bytes_total");
    assert!(received >= fetched.len() as f64, "received {received}");
    assert!(end.get("swiftmount_upload_duration_seconds_count") >= 13.0);
    assert!(end.get("swiftmount_first_byte_seconds_count") >= 1.0);
    assert_eq!(end.get("swiftmount_folder_markers_in_flight"), 0.0);
    end.get("swiftmount_retries_total");
    assert_eq!(m.unmount().code(), Some(0));
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_metrics_address_fails_with_one_line_and_no_mount() {
    let t = TestContainer::new(lab::client(lab::tempauth()), "adm-metrics-bad").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap().to_string();
    let limit = Duration::from_secs(120);
    for foreground in [false, true] {
        let mode = if foreground { "--foreground" } else { "daemon" };
        let mp = fresh_dir("metrics-bad");
        let _c = Cleanup(mp.clone());
        for (addr, what, code) in [
            (in_use.as_str(), "in use", 1),
            ("localhost:9100", "--metrics-addr", 2),
        ] {
            let mut args = vec![OsStr::new("--metrics-addr"), OsStr::new(addr)];
            if foreground {
                args.push(OsStr::new("--foreground"));
            }
            args.extend([OsStr::new(t.name.as_str()), mp.as_os_str()]);
            let o = mount::run(&args, &tempauth_env(), limit);
            assert_eq!(o.status.code(), Some(code), "{mode} {addr}: {o:?}");
            assert_eq!(o.stderr.lines().count(), 1, "{mode} {addr}: {}", o.stderr);
            assert!(o.stderr.starts_with("swiftmount: "), "{}", o.stderr);
            assert!(o.stderr.contains(what), "{mode}: {what:?} in {}", o.stderr);
            assert!(o.stderr.contains(addr), "{mode}: {addr} in {}", o.stderr);
            assert!(!is_mount_point(&mp), "{mode} {addr}: mounted anyway");
            assert_eq!(mountinfo_count(&mp), 0, "{mode} {addr}");
        }
    }
    drop(taken);
    t.cleanup().await;
}
