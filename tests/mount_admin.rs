//! How the mount meets the system: mount(8) and fstab options, who may use it, and
//! secrets kept out of logs and the process list.

mod common;

use common::lab::{self, TestContainer};
use common::mount::{Cleanup, Mount, fresh_dir, is_mount_point, tempauth_env, v3_env};
use std::process::Command;
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
