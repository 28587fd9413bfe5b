//! What a real tree holds survives the mount and a remount: symlinks (relative,
//! absolute, dangling, long), modes, owners, folder times, user xattrs and fifos, as
//! rsync -aX, tar -xp / -c and cp -a leave them (issue 11).

mod common;

use common::lab::{self, TestContainer};
use common::mount::Mount;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// Runs a command that must succeed; its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let (path, name) = (c_path(p), CString::new(name).unwrap());
    // SAFETY: valid C strings and a buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Every extended attribute of `p` (not following a link).
fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let path = c_path(p);
    let mut names = vec![0u8; 65536];
    // SAFETY: valid C string and buffer of the given length.
    let n = unsafe { libc::llistxattr(path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(
        n >= 0,
        "listxattr {p:?}: {}",
        std::io::Error::last_os_error()
    );
    names.truncate(n as usize);
    let mut out = BTreeMap::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).unwrap();
        let mut value = vec![0u8; 65536];
        // SAFETY: as above.
        let len = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        assert!(
            len >= 0,
            "getxattr {p:?}: {}",
            std::io::Error::last_os_error()
        );
        value.truncate(len as usize);
        out.insert(String::from_utf8_lossy(name).into_owned(), value);
    }
    out
}

/// Path, type, mode, owner, group, link target and mtime (ns) of everything below
/// `root`, and its user xattrs: what must survive.
fn inventory(root: &Path) -> Vec<String> {
    let listing = run(Command::new("find")
        .arg(".")
        .args(["-printf", "%p %y %m %U %G [%l] %T@\\n"])
        .current_dir(root));
    let mut lines: Vec<String> = listing
        .lines()
        // the top folder is the mount point or the test's temporary folder
        .filter(|l| !l.starts_with(". "))
        .map(|l| {
            let path = l.split(' ').next().unwrap();
            let x = xattrs(&root.join(path))
                .into_iter()
                .filter(|(k, _)| k.starts_with("user."))
                .collect::<Vec<_>>();
            format!("{l} {x:?}")
        })
        .collect();
    lines.sort();
    lines
}

fn set_mtime(p: &Path, secs: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::new(secs, 123_456_789);
    let path = c_path(p);
    let ts = libc::timespec {
        tv_sec: t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as libc::time_t,
        tv_nsec: 123_456_789,
    };
    // SAFETY: valid C string and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            path.as_ptr(),
            [ts, ts].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        rc,
        0,
        "utimensat {p:?}: {}",
        std::io::Error::last_os_error()
    );
}

/// A tree with what backups meet: modes, owners, links of every kind, a fifo,
/// xattrs, and folder times set last (as after a restore).
fn make_tree(root: &Path) {
    for d in ["bin", "private", "links", "empty", "deep/er/est"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let files: &[(&str, u32, &[u8])] = &[
        ("a.txt", 0o644, b"plain text\n"),
        ("secret", 0o600, b"ssh key"),
        ("bin/run.sh", 0o755, b"#!/bin/sh\necho hi\n"),
        ("private/key", 0o400, b"k"),
        ("owned", 0o640, b"someone else's"),
        ("deep/er/est/leaf", 0o644, b"leaf"),
    ];
    for (name, mode, body) in files {
        let p = root.join(name);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
    }
    run(Command::new("chown")
        .arg("1234:5678")
        .arg(root.join("owned")));
    let long = format!("{}target", "../".repeat(300));
    for (name, target) in [
        ("links/rel", "../a.txt"),
        ("links/abs", "/etc/hostname"),
        ("links/dangling", "nowhere/at all"),
        ("links/dir", "../bin"),
        ("links/long", long.as_str()),
        ("links/odd", "sp ace;\"q\"%25/ü"),
    ] {
        symlink(target, root.join(name)).unwrap();
    }
    run(Command::new("mkfifo")
        .args(["-m", "0640"])
        .arg(root.join("fifo")));
    set_xattr(&root.join("a.txt"), "user.comment", b"hello world").unwrap();
    set_xattr(
        &root.join("secret"),
        "user.bin",
        &[0, 1, 2, 255, b'%', b' '],
    )
    .unwrap();
    set_xattr(&root.join("private"), "user.Folder_Tag", b"x").unwrap();
    let modes = [
        ("private", 0o700),
        ("bin", 0o755),
        ("links", 0o755),
        ("empty", 0o750),
    ];
    for (d, mode) in modes {
        fs::set_permissions(root.join(d), fs::Permissions::from_mode(mode)).unwrap();
    }
    let all = run(Command::new("find")
        .arg(".")
        .args(["-mindepth", "1", "-depth"])
        .current_dir(root));
    for (i, rel) in all.lines().enumerate() {
        set_mtime(&root.join(rel), 1_600_000_000 + i as u64 * 3600);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_a_x_of_a_real_tree_survives_a_remount() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "px-rsync").await;
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let want = inventory(src.path());
    let m = Mount::new(t.name.as_str(), &[]);
    let dst = m.join("tree");
    let from = format!("{}/", src.path().display());
    let to = format!("{}/", dst.display());
    // no -O: folder times are stored too
    run(Command::new("rsync").args(["-aX", &from, &to]));
    assert_eq!(inventory(&dst), want, "on the mount that wrote it");
    drop(m);

    let m = Mount::new(t.name.as_str(), &[]);
    let dst = m.join("tree");
    assert_eq!(inventory(&dst), want, "after a remount");
    let to = format!("{}/", dst.display());
    let changes = run(Command::new("rsync").args(["-aiX", "--dry-run", &from, &to]));
    assert_eq!(changes, "", "rsync finds nothing to send after a remount");
    // (diff cannot compare fifos: the inventory did)
    run(Command::new("diff")
        .args(["-r", "--no-dereference", "-x", "fifo"])
        .arg(src.path())
        .arg(&dst));
    assert_eq!(
        fs::read_link(dst.join("links/odd"))
            .unwrap()
            .as_os_str()
            .as_bytes(),
        "sp ace;\"q\"%25/ü".as_bytes()
    );
    assert_eq!(
        fs::read(dst.join("links/rel")).unwrap(),
        b"plain text\n",
        "the kernel follows links"
    );
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tar_and_cp_a_round_trips_of_a_real_tree() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "px-tar").await;
    let work = tempfile::tempdir().unwrap();
    // a real tree with links: the docs of some installed packages
    let docs = Path::new("/usr/share/doc");
    let mut picked: Vec<String> = fs::read_dir(docs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lib") && n[3..].starts_with(['a', 'b', 'c']))
        .collect();
    picked.sort();
    let archive = work.path().join("docs.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(docs)
        .args(&picked));
    let local = work.path().join("local");
    fs::create_dir(&local).unwrap();
    run(Command::new("tar")
        .arg("-xpf")
        .arg(&archive)
        .arg("-C")
        .arg(&local));
    make_tree(&local.join("mixed"));
    let want = inventory(&local);
    assert!(want.iter().any(|l| l.contains(" l ")), "the tree has links");

    let m = Mount::new(t.name.as_str(), &[]);
    let onto = m.join("docs");
    fs::create_dir(&onto).unwrap();
    run(Command::new("tar")
        .arg("-xpf")
        .arg(&archive)
        .arg("-C")
        .arg(&onto));
    run(Command::new("cp")
        .arg("-a")
        .arg(local.join("mixed"))
        .arg(&onto));
    drop(m);

    let m = Mount::new(t.name.as_str(), &[]);
    let onto = m.join("docs");
    assert_eq!(
        inventory(&onto),
        inventory(&local),
        "tar -xp and cp -a onto the mount"
    );
    let back = work.path().join("back.tar");
    // POSIX format: nanosecond times and xattrs, as a backup with tar keeps them
    let xattr_args = ["--format=posix", "--xattrs", "--xattrs-include=user.*"];
    run(Command::new("tar")
        .args(xattr_args)
        .arg("-cf")
        .arg(&back)
        .arg("-C")
        .arg(&onto)
        .arg("."));
    let again = work.path().join("again");
    fs::create_dir(&again).unwrap();
    run(Command::new("tar")
        .args(xattr_args)
        .arg("-xpf")
        .arg(&back)
        .arg("-C")
        .arg(&again));
    assert_eq!(
        inventory(&again),
        inventory(&local),
        "tar -c from the mount"
    );
    // (diff cannot compare fifos: the inventory did)
    run(Command::new("diff")
        .args(["-r", "--no-dereference", "-x", "fifo"])
        .arg(&local)
        .arg(&again));
    drop(m);
    t.cleanup().await;
}

/// Runs `sh -c script` as the unprivileged user nobody (65534) in `dir`.
fn as_nobody(dir: &Path, script: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .current_dir(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn modes_and_owners_are_stored_and_enforced() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "px-perms").await;
    let m = Mount::new(t.name.as_str(), &["--allow-other"]);
    let root = m.path.clone();
    // the mode given at creation, the umask applied
    run(Command::new("sh")
        .args(["-c", "umask 027 && touch made && mkdir dir && mkfifo pipe"])
        .current_dir(&root));
    fs::write(root.join("mine"), b"root's").unwrap();
    fs::set_permissions(root.join("mine"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir(root.join("shared")).unwrap();
    fs::set_permissions(root.join("shared"), fs::Permissions::from_mode(0o1777)).unwrap();
    // others may not read it, nor change its mode or owner
    let out = as_nobody(&root, "cat mine");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    let out = as_nobody(&root, "chmod 0644 mine");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    let out = as_nobody(&root, "chown 65534 mine");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    // what nobody makes is nobody's
    let out = as_nobody(&root.join("shared"), "echo x > theirs && chmod 0604 theirs");
    assert!(out.status.success(), "{out:?}");
    // device nodes and hard links cannot be stored
    let out = Command::new("mknod")
        .arg(root.join("null"))
        .args(["c", "1", "3"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    let err = fs::hard_link(root.join("made"), root.join("again")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    drop(m);

    let m = Mount::new(t.name.as_str(), &["--allow-other"]);
    let stat = run(Command::new("stat")
        .args(["-c", "%n %F %a %U %G"])
        .args(["made", "dir", "pipe", "mine", "shared", "shared/theirs"])
        .current_dir(&m.path));
    assert_eq!(
        stat.lines().collect::<Vec<_>>(),
        [
            "made regular empty file 640 root root",
            "dir directory 750 root root",
            "pipe fifo 640 root root",
            "mine regular file 600 root root",
            "shared directory 1777 root root",
            "shared/theirs regular file 604 nobody nogroup",
        ]
    );
    let out = as_nobody(&m.path, "cat mine");
    assert!(
        !out.status.success(),
        "still enforced after a remount: {out:?}"
    );
    drop(m);
    // the mount-wide values can be forced over stored ones
    let m = Mount::new(
        t.name.as_str(),
        &["--ignore-stored-perms", "--file-mode", "0444"],
    );
    let stat = run(Command::new("stat")
        .args(["-c", "%a %U"])
        .arg("shared/theirs")
        .current_dir(&m.path));
    assert_eq!(stat.trim(), "444 root");
    drop(m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn user_xattrs_within_swifts_limits_and_clear_errors_beyond() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "px-xattr").await;
    let m = Mount::new(t.name.as_str(), &[]);
    let f = m.join("f");
    fs::write(&f, b"data").unwrap();
    set_xattr(&f, "user.ok", b"1").unwrap();
    let errno = |r: std::io::Result<()>| r.unwrap_err().raw_os_error();
    assert_eq!(
        errno(set_xattr(&f, "user.big", &[b'v'; 300])),
        Some(libc::E2BIG)
    );
    // (system.posix_acl_* values are checked by the kernel before they reach a
    // filesystem: a made-up one is EINVAL there)
    for ns in ["security.test", "trusted.test"] {
        assert_eq!(errno(set_xattr(&f, ns, b"x")), Some(libc::ENOTSUP), "{ns}");
    }
    let mut i = 0;
    let full = loop {
        match set_xattr(&f, &format!("user.n{i:03}"), &[b'v'; 200]) {
            Ok(()) => i += 1,
            Err(e) => break e,
        }
        assert!(i < 100, "Swift's 4 KiB of metadata were never reached");
    };
    assert_eq!(full.raw_os_error(), Some(libc::ENOSPC), "{full}");
    let before = xattrs(&f);
    drop(m);
    let m = Mount::new(t.name.as_str(), &[]);
    let f = m.join("f");
    assert_eq!(
        xattrs(&f),
        before,
        "every attribute that was accepted, and only those"
    );
    assert_eq!(fs::read(&f).unwrap(), b"data");
    drop(m);
    t.cleanup().await;
}

/// What a plain Swift client reads under `name`: a GET that follows Swift symlinks.
async fn followed(t: &TestContainer, name: &str) -> Vec<u8> {
    use futures::StreamExt;
    use swiftmount::swift::ObjectStore;
    let mut got = t
        .client
        .get_object(&t.name, &lab::obj(name), None, None)
        .await
        .unwrap_or_else(|e| panic!("GET {name}: {e}"));
    let mut body = Vec::new();
    while let Some(chunk) = got.body.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn links_within_the_mount_are_swift_symlinks_other_clients_follow() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "px-swiftlink").await;
    let m = Mount::new(t.name.as_str(), &[]);
    fs::create_dir(m.join("d")).unwrap();
    fs::write(m.join("d/target.txt"), b"the target\n").unwrap();
    symlink("target.txt", m.join("d/near")).unwrap();
    symlink("../d/./target.txt", m.join("d/round")).unwrap();
    symlink("/etc/hostname", m.join("abs")).unwrap();
    assert_eq!(followed(&t, "d/near").await, b"the target\n");
    assert_eq!(followed(&t, "d/round").await, b"the target\n");
    assert_eq!(
        followed(&t, "abs").await,
        b"/etc/hostname",
        "a link out of the mount is an object holding its target"
    );
    // a rename moves the link, not a copy of its target; lutimes rewrites the link
    fs::rename(m.join("d/near"), m.join("d/moved")).unwrap();
    set_mtime(&m.join("d/moved"), 1_500_000_000);
    fs::write(m.join("d/target.txt"), b"version 2\n").unwrap();
    assert_eq!(followed(&t, "d/moved").await, b"version 2\n");
    drop(m);

    let m = Mount::new(t.name.as_str(), &[]);
    assert_eq!(
        fs::read_link(m.join("d/moved")).unwrap(),
        Path::new("target.txt")
    );
    assert_eq!(
        fs::read_link(m.join("d/round")).unwrap(),
        Path::new("../d/./target.txt"),
        "the exact target string, not Swift's"
    );
    let meta = fs::symlink_metadata(m.join("d/moved")).unwrap();
    assert!(meta.file_type().is_symlink());
    assert_eq!(meta.len(), "target.txt".len() as u64);
    assert_eq!(
        meta.modified().unwrap(),
        SystemTime::UNIX_EPOCH + Duration::new(1_500_000_000, 123_456_789)
    );
    assert_eq!(fs::read(m.join("d/moved")).unwrap(), b"version 2\n");
    drop(m);
    t.cleanup().await;
}

/// Swift symlinks made by another client (`X-Symlink-Target`, no POSIX target of
/// ours) are links on the mount, from one listing: to the object within the mount,
/// or, out of it, through the folder above the container.
#[tokio::test(flavor = "multi_thread")]
async fn swift_symlinks_of_other_clients_are_links() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "px-foreign-link").await;
    let c = t.name.as_str();
    let put = |name: &'static str, target: String| {
        let t = &t;
        async move {
            t.client
                .put_raw(
                    &t.name,
                    &lab::obj(name),
                    bytes::Bytes::new(),
                    &[("X-Symlink-Target", target)],
                )
                .await
                .unwrap_or_else(|e| panic!("PUT symlink {name}: {e}"));
        }
    };
    t.client
        .put_raw(
            &t.name,
            &lab::obj("d/a b.txt"),
            bytes::Bytes::from_static(b"target\n"),
            &[],
        )
        .await
        .unwrap();
    put("d/near", format!("{c}/d/a%20b.txt")).await;
    put("top", format!("{c}/d/a%20b.txt")).await;
    put("d/out", "elsewhere/x".to_string()).await;
    let m = Mount::new(c, &[]);
    let names: Vec<(String, bool)> = fs::read_dir(m.join("d"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.file_type().unwrap().is_symlink())
        })
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    assert_eq!(
        names,
        [
            ("a b.txt".to_string(), false),
            ("near".to_string(), true),
            ("out".to_string(), true)
        ]
    );
    assert_eq!(
        fs::read_link(m.join("d/near")).unwrap(),
        Path::new("a b.txt")
    );
    assert_eq!(
        fs::read_link(m.join("top")).unwrap(),
        Path::new("d/a b.txt")
    );
    assert_eq!(
        fs::read_link(m.join("d/out")).unwrap(),
        Path::new("../../elsewhere/x")
    );
    let meta = fs::symlink_metadata(m.join("top")).unwrap();
    assert!(meta.file_type().is_symlink());
    assert_eq!(meta.len(), "d/a b.txt".len() as u64);
    assert_eq!(fs::read(m.join("top")).unwrap(), b"target\n");
    assert_eq!(fs::read(m.join("d/near")).unwrap(), b"target\n");
    // renamed through the mount, it stays a Swift symlink other clients follow
    fs::rename(m.join("top"), m.join("d/top")).unwrap();
    drop(m);
    assert_eq!(followed(&t, "d/top").await, b"target\n");
    let m = Mount::new(c, &[]);
    assert_eq!(
        fs::read_link(m.join("d/top")).unwrap(),
        Path::new("a b.txt")
    );
    drop(m);
    t.cleanup().await;
}
