//! Real backup tools on the mount (restic, borg, rsync, duplicity, rdiff-backup): a
//! full backup of a generated tree, an incremental one after changes, the tool's own
//! check with data verification, then unmount, mount again (cold cache), restore and
//! compare byte for byte with the source. Also the pattern of Duplicati's file backend.
//!
//! The tools must be installed (scripts/test.sh does it: `apt_need … restic borgbackup
//! rsync duplicity rdiff-backup`); a missing tool fails its test.
//!
//! What the tools meet on the mount, and the options used for it:
//! - restic: rename over existing files, fsync, chmod (accepted, not stored), 262
//!   folders made by `init`; lock files in the repository work.
//! - borg: locks by mkdir (EEXIST) and rename; fsync/fdatasync. Hard links are
//!   refused, so borg prints "Failed to securely erase old repository config file
//!   (hardlinks not supported)" when it rewrites its config (init, check) and goes on.
//!   The mount point differs between mounts: `BORG_RELOCATED_REPO_ACCESS_IS_OK=yes`.
//! - rsync: temp name then rename over the final name, utimens on the temp file;
//!   folder times are stored, so no `--omit-dir-times` is needed.
//! - duplicity: rename from its local temp dir fails with EXDEV, it copies instead;
//!   it keeps whole-second mtimes (tar), so restores are compared to the second.
//! - rdiff-backup: finds no hard links on the destination and notes it; symlinks,
//!   modes and xattrs are kept; keeps whole-second mtimes;
//!   backups are named by the second, so the two runs are at least a second apart.

mod common;

use common::lab::{self, TestContainer};
use common::mount::Mount;
use common::tree::{self, Mtimes};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SEGMENT_MIB: &str = "8";
/// Small files in the generated tree (plus one empty folder and one 20 MiB file).
const FILES: usize = 200;
const SEED: u64 = 42;

fn mount(t: &TestContainer) -> Mount {
    Mount::new(t.name.as_str(), &["-vv", "--segment-size", SEGMENT_MIB])
}

/// Where `name` is on PATH; fails the test when it is not.
fn tool_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH: this test needs it installed \
                 (scripts/test.sh installs restic borgbackup rsync duplicity rdiff-backup)"
            )
        })
}

/// Lines of the mount's log worth showing when something failed: warnings, errors,
/// panics, plus the last lines.
fn log_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut out: Vec<&str> = lines
        .iter()
        .filter(|l| {
            l.contains(" WARN ")
                || l.contains(" ERROR ")
                || l.contains("panicked")
                || l.contains("Not Implemented")
        })
        .copied()
        .collect();
    if out.len() > 80 {
        out.drain(..out.len() - 80);
    }
    out.push("--- last lines ---");
    out.extend(lines.iter().rev().take(30).rev());
    out.join("\n")
}

/// A test's working area: the source tree, the tools' home, caches and temp files,
/// and a place to restore to.
struct Work {
    dir: tempfile::TempDir,
    name: &'static str,
    started: Instant,
}

impl Work {
    fn new(name: &'static str) -> Work {
        let dir = tempfile::Builder::new()
            .prefix(&format!("swiftmount-{name}-"))
            .tempdir()
            .unwrap();
        for d in ["src", "home", "tmp"] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        tree::generate(&dir.path().join("src"), FILES, SEED);
        let (n, bytes) = tree::stats(&dir.path().join("src"));
        eprintln!("[{name}] source: {n} files, {bytes} bytes");
        Work {
            dir,
            name,
            started: Instant::now(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn src(&self) -> PathBuf {
        self.path("src")
    }

    /// The source as it was before `mutate` (the tree is deterministic).
    fn first_version(&self) -> PathBuf {
        let p = self.path("src-v1");
        if !p.exists() {
            fs::create_dir(&p).unwrap();
            tree::generate(&p, FILES, SEED);
        }
        p
    }

    fn mutate(&self) {
        let ch = tree::mutate(&self.src(), SEED);
        eprintln!(
            "[{}] changed {} files, deleted {}, added {}",
            self.name,
            ch.modified.len(),
            ch.deleted.len(),
            ch.added.len()
        );
    }

    /// `program` with a clean environment: PATH, a private HOME and TMPDIR, UTF-8.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(tool_path(program));
        c.env_clear();
        if let Some(p) = std::env::var_os("PATH") {
            c.env("PATH", p);
        }
        c.env("HOME", self.path("home"))
            .env("TMPDIR", self.path("tmp"))
            .env("LC_ALL", "C.UTF-8")
            .env("LANG", "C.UTF-8")
            .current_dir(self.dir.path());
        c
    }

    /// Runs `c`; panics with its output and the mount's log if it fails. Returns
    /// stdout + stderr.
    fn run(&self, m: &Mount, what: &str, c: &mut Command) -> String {
        let t = Instant::now();
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("[{}] {what}: cannot start {c:?}: {e}", self.name));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "[{}] {what}: {} in {:.1}s (at {:.1}s)",
            self.name,
            out.status,
            t.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
        let log = m.log();
        assert!(
            out.status.success() && !log.contains("panicked"),
            "[{}] {what} failed: {}\ncommand: {c:?}\noutput:\n{text}\n\
             swiftmount log ({}):\n{}",
            self.name,
            out.status,
            m.path.display(),
            log_excerpt(&log)
        );
        text
    }

    fn check_restore(&self, want: &Path, got: &Path, mtimes: Mtimes) {
        if let Err(e) = tree::compare(want, got, mtimes) {
            panic!("[{}] restore differs from the source: {e}", self.name);
        }
        eprintln!(
            "[{}] {} matches {} (at {:.1}s)",
            self.name,
            got.display(),
            want.display(),
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Operations the mount refused as not implemented, as named in its log.
fn not_implemented(log: &str) -> Vec<String> {
    let mut ops: Vec<String> = log
        .lines()
        .filter_map(|l| l.split("[Not Implemented] ").nth(1))
        .map(|r| r.split('(').next().unwrap_or(r).to_string())
        .collect();
    ops.sort();
    ops.dedup();
    ops
}

/// Unmounts (the process must exit cleanly) and reports what the mount refused.
fn finish_mount(w: &Work, m: Mount) {
    let log = m.log();
    eprintln!(
        "[{}] not implemented by the mount: {:?}",
        w.name,
        not_implemented(&log)
    );
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| {
            (l.contains(" WARN ") || l.contains(" ERROR ")) && !l.contains("Not Implemented")
        })
        .collect();
    if !warnings.is_empty() {
        eprintln!(
            "[{}] {} warnings in the mount's log, the first:\n{}",
            w.name,
            warnings.len(),
            warnings[..warnings.len().min(5)].join("\n")
        );
    }
    let path = m.path.clone();
    let status = m.unmount();
    assert!(
        status.success(),
        "[{}] swiftmount on {} exited with {status}; log:\n{}",
        w.name,
        path.display(),
        log_excerpt(&log)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restic_backup_check_restore() {
    let w = Work::new("restic");
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "bt-restic").await;
    let cache = w.path("restic-cache");
    let restic = |m: &Mount| {
        let mut c = w.cmd("restic");
        c.env("RESTIC_PASSWORD", "swiftmount-test")
            .arg("--cache-dir")
            .arg(&cache)
            .arg("-r")
            .arg(m.join("repo"));
        c
    };
    let m = mount(&t);
    w.run(&m, "restic init", restic(&m).arg("init"));
    w.run(
        &m,
        "restic backup (full)",
        restic(&m)
            .args(["backup", "--host", "test", "--tag", "v1", "."])
            .current_dir(w.src()),
    );
    w.mutate();
    w.run(
        &m,
        "restic backup (incremental)",
        restic(&m)
            .args(["backup", "--host", "test", "--tag", "v2", "."])
            .current_dir(w.src()),
    );
    let out = w.run(
        &m,
        "restic check --read-data",
        restic(&m).args(["check", "--read-data"]),
    );
    assert!(out.contains("no errors were found"), "{out}");
    finish_mount(&w, m);

    let m = mount(&t);
    // a cold cache on this side too
    fs::remove_dir_all(&cache).unwrap();
    let r2 = w.path("restore-v2");
    w.run(
        &m,
        "restic restore latest",
        restic(&m)
            .args(["restore", "latest", "--tag", "v2", "--target"])
            .arg(&r2),
    );
    w.check_restore(&w.src(), &r2, Mtimes::Exact);
    let r1 = w.path("restore-v1");
    w.run(
        &m,
        "restic restore first snapshot",
        restic(&m)
            .args(["restore", "latest", "--tag", "v1", "--target"])
            .arg(&r1),
    );
    w.check_restore(&w.first_version(), &r1, Mtimes::Exact);
    finish_mount(&w, m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn borg_backup_check_extract() {
    let w = Work::new("borg");
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "bt-borg").await;
    // borg SUB [OPTIONS] REPO[::ARCHIVE] [PATH]: options before the repository
    let borg = |m: &Mount, sub: &str, opts: &[&str], archive: Option<&str>| {
        let mut c = w.cmd("borg");
        c.env("BORG_PASSPHRASE", "swiftmount-test")
            .env("BORG_BASE_DIR", w.path("borg-base"))
            .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
            // the mount point differs from one mount to the next
            .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
            .arg(sub)
            .args(opts);
        let repo = m.join("repo").into_os_string().into_string().unwrap();
        match archive {
            Some(a) => c.arg(format!("{repo}::{a}")),
            None => c.arg(repo),
        };
        c
    };
    let m = mount(&t);
    w.run(
        &m,
        "borg init",
        &mut borg(&m, "init", &["--encryption=repokey"], None),
    );
    w.run(
        &m,
        "borg create (full)",
        borg(&m, "create", &["--stats"], Some("one"))
            .arg(".")
            .current_dir(w.src()),
    );
    w.mutate();
    w.run(
        &m,
        "borg create (incremental)",
        borg(&m, "create", &["--stats"], Some("two"))
            .arg(".")
            .current_dir(w.src()),
    );
    let out = w.run(
        &m,
        "borg check --verify-data",
        &mut borg(&m, "check", &["-v", "--verify-data"], None),
    );
    assert!(
        out.contains("Archive consistency check complete, no problems found"),
        "{out}"
    );
    finish_mount(&w, m);

    let m = mount(&t);
    fs::remove_dir_all(w.path("borg-base/.cache")).ok();
    for (archive, dir, want) in [
        ("two", "restore-v2", w.src()),
        ("one", "restore-v1", w.first_version()),
    ] {
        let target = w.path(dir);
        fs::create_dir(&target).unwrap();
        w.run(
            &m,
            &format!("borg extract {archive}"),
            borg(&m, "extract", &[], Some(archive)).current_dir(&target),
        );
        w.check_restore(&want, &target, Mtimes::Exact);
    }
    finish_mount(&w, m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_copy_verify_copy_back() {
    let w = Work::new("rsync");
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "bt-rsync").await;
    let m = mount(&t);
    let src = format!("{}/", w.src().display());
    let dst = |m: &Mount| format!("{}/", m.join("copy").display());
    // no -O: folders keep their times on the mount too
    w.run(
        &m,
        "rsync -a (full)",
        w.cmd("rsync").args(["-a", "--stats", &src, &dst(&m)]),
    );
    w.mutate();
    w.run(
        &m,
        "rsync -a --delete (incremental)",
        w.cmd("rsync")
            .args(["-a", "--delete", "--stats", &src, &dst(&m)]),
    );
    let out = w.run(
        &m,
        "rsync -c --dry-run --itemize-changes",
        w.cmd("rsync").args([
            "-a",
            "-c",
            "--delete",
            "--dry-run",
            "--itemize-changes",
            &src,
            &dst(&m),
        ]),
    );
    assert!(
        out.trim().is_empty(),
        "rsync still sees differences after the copy:\n{out}\nswiftmount log:\n{}",
        log_excerpt(&m.log())
    );
    finish_mount(&w, m);

    let m = mount(&t);
    // the nightly run after a remount: rsync's quick check (size and mtime) should
    // find nothing to send
    let again = w.run(
        &m,
        "rsync --dry-run --itemize-changes after a remount",
        w.cmd("rsync").args([
            "-a",
            "--delete",
            "--dry-run",
            "--itemize-changes",
            &src,
            &dst(&m),
        ]),
    );
    // the times stored in Swift, as an open (one HEAD) learns them
    let mut stored_wrong = Vec::new();
    for (rel, e) in tree::walk(&w.src()) {
        if e.is_dir {
            continue;
        }
        let f = fs::File::open(m.join("copy").join(&rel)).unwrap();
        let got = f.metadata().unwrap().modified().unwrap();
        let apart = got
            .duration_since(e.mtime)
            .or_else(|_| e.mtime.duration_since(got))
            .unwrap();
        if apart >= Duration::from_micros(1) {
            stored_wrong.push(format!("{rel}: {apart:?} apart"));
        }
    }
    let target = w.path("restore");
    w.run(
        &m,
        "rsync -a back",
        w.cmd("rsync")
            .args(["-a", &dst(&m)])
            .arg(format!("{}/", target.display())),
    );
    // within 1 µs: see the report on X-Object-Meta-Mtime read back as a float
    let restored = tree::compare(&w.src(), &target, Mtimes::Within(Duration::from_micros(1)));
    finish_mount(&w, m);
    let mut problems = Vec::new();
    if !again.trim().is_empty() {
        let n = again.lines().count();
        let head: Vec<&str> = again.lines().take(10).collect();
        problems.push(format!(
            "after a remount rsync's quick check finds {n} files to send again:\n{}",
            head.join("\n")
        ));
    }
    if !stored_wrong.is_empty() {
        problems.push(format!(
            "{} files have another mtime in Swift (read after open) than the source:\n{}",
            stored_wrong.len(),
            stored_wrong.join("\n")
        ));
    }
    if let Err(e) = restored {
        problems.push(format!("restore differs from the source: {e}"));
    }
    t.cleanup().await;
    assert!(problems.is_empty(), "[rsync] {}", problems.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicity_backup_verify_restore() {
    let w = Work::new("duplicity");
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "bt-dup").await;
    let dup = |sub: &str, archive: &str| {
        let mut c = w.cmd("duplicity");
        c.arg(sub)
            .args(["--no-encryption", "--name", "bt", "--archive-dir"])
            .arg(w.path(archive));
        c
    };
    let url = |m: &Mount| format!("file://{}", m.join("dup").display());
    let m = mount(&t);
    w.run(
        &m,
        "duplicity full",
        dup("full", "dup-archive").arg(w.src()).arg(url(&m)),
    );
    w.mutate();
    // backups are named by the second
    std::thread::sleep(Duration::from_millis(1100));
    w.run(
        &m,
        "duplicity incremental",
        dup("incremental", "dup-archive").arg(w.src()).arg(url(&m)),
    );
    let out = w.run(
        &m,
        "duplicity verify --compare-data",
        dup("verify", "dup-archive")
            .arg("--compare-data")
            .arg(url(&m))
            .arg(w.src()),
    );
    assert!(out.contains(", 0 differences found"), "{out}");
    finish_mount(&w, m);

    let m = mount(&t);
    let target = w.path("restore");
    // a fresh archive dir: everything comes from the mount
    w.run(
        &m,
        "duplicity restore",
        dup("restore", "dup-archive-2").arg(url(&m)).arg(&target),
    );
    // duplicity keeps whole seconds (tar headers)
    w.check_restore(&w.src(), &target, Mtimes::Within(Duration::from_secs(1)));
    finish_mount(&w, m);
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rdiff_backup_backup_verify_restore() {
    let w = Work::new("rdiff-backup");
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "bt-rdiff").await;
    let m = mount(&t);
    let repo = |m: &Mount| m.join("mirror");
    w.run(
        &m,
        "rdiff-backup backup (full)",
        w.cmd("rdiff-backup")
            .arg("backup")
            .arg(w.src())
            .arg(repo(&m)),
    );
    w.mutate();
    // increments are named by the second
    std::thread::sleep(Duration::from_millis(1100));
    w.run(
        &m,
        "rdiff-backup backup (incremental)",
        w.cmd("rdiff-backup")
            .arg("backup")
            .arg(w.src())
            .arg(repo(&m)),
    );
    let out = w.run(
        &m,
        "rdiff-backup verify",
        w.cmd("rdiff-backup").arg("verify").arg(repo(&m)),
    );
    assert!(out.contains("All files verified successfully"), "{out}");
    finish_mount(&w, m);

    let m = mount(&t);
    for (at, dir, want) in [
        ("now", "restore-v2", w.src()),
        ("1B", "restore-v1", w.first_version()),
    ] {
        let target = w.path(dir);
        w.run(
            &m,
            &format!("rdiff-backup restore --at {at}"),
            w.cmd("rdiff-backup")
                .args(["restore", "--at", at])
                .arg(repo(&m))
                .arg(&target),
        );
        // rdiff-backup keeps whole seconds in its metadata
        w.check_restore(&want, &target, Mtimes::Within(Duration::from_secs(1)));
    }
    finish_mount(&w, m);
    t.cleanup().await;
}

/// Duplicati's file backend: each volume written once under its final name (or a
/// temporary name renamed into place), listed, read back, deleted; its folder made
/// with mkdir.
#[tokio::test(flavor = "multi_thread")]
async fn duplicati_file_backend_pattern() {
    let t = TestContainer::new(lab::client(lab::labuser_v3()), "bt-duplicati").await;
    let m = mount(&t);
    let dir = m.join("duplicati backups");
    fs::create_dir(&dir).unwrap();
    let volumes: Vec<(String, Vec<u8>)> = [
        ("duplicati-20240101T000000Z.dlist.zip.aes", 3_000),
        ("duplicati-b1f0c0ffee.dblock.zip.aes", 1 << 20),
        ("duplicati-b2f0c0ffee.dblock.zip.aes", (10 << 20) + 7),
        ("duplicati-i1f0c0ffee.dindex.zip.aes", 0),
        ("duplicati-i2f0c0ffee.dindex.zip.aes", 4_321),
    ]
    .iter()
    .enumerate()
    .map(|(i, (n, len))| {
        let data: Vec<u8> = (0..*len).map(|k| (k * 31 + i * 7) as u8).collect();
        (n.to_string(), data)
    })
    .collect();
    for (i, (name, data)) in volumes.iter().enumerate() {
        if i % 2 == 0 {
            fs::write(dir.join(name), data).unwrap();
        } else {
            let tmp = dir.join(format!("{name}.tmp"));
            fs::write(&tmp, data).unwrap();
            fs::rename(&tmp, dir.join(name)).unwrap();
        }
    }
    let list = |d: &Path| {
        let mut v: Vec<(String, u64)> = fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let mut want: Vec<(String, u64)> = volumes
        .iter()
        .map(|(n, d)| (n.clone(), d.len() as u64))
        .collect();
    want.sort();
    assert_eq!(list(&dir), want);
    drop(m);

    let m = mount(&t);
    let dir = m.join("duplicati backups");
    assert_eq!(list(&dir), want, "listing after a new mount");
    for (name, data) in &volumes {
        assert!(
            fs::read(dir.join(name)).unwrap() == *data,
            "{name} read back differs"
        );
    }
    for (name, _) in &volumes {
        fs::remove_file(dir.join(name)).unwrap();
    }
    assert_eq!(list(&dir), vec![]);
    fs::remove_dir(&dir).unwrap();
    assert!(!dir.exists());
    let log = m.log();
    assert!(!log.contains("panicked"), "{}", log_excerpt(&log));
    drop(m);
    t.cleanup().await;
}
