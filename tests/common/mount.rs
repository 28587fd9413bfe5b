//! Runs the real `swiftmount` binary against the local Swift: a [`Mount`] guard for a
//! foreground mount that is always unmounted (even when the test panics), a runner
//! with a time limit for invocations that should fail or daemonize, and helpers to
//! tell whether a directory is a mount point.

#![allow(dead_code)]

use super::lab;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_swiftmount");
/// How long a mount may take to come up.
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the process may take to exit once unmounted: an unmount waits up to 60 s
/// for folder markers still being stored (hundreds of them take seconds on a loaded
/// machine).
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(70);

pub type Env = Vec<(&'static str, String)>;

/// Keystone v3 login as labuser (the account `lab::client(lab::labuser_v3())` uses).
pub fn v3_env() -> Env {
    vec![
        ("OS_AUTH_URL", lab::keystone_v3()),
        ("OS_USERNAME", "labuser".into()),
        ("OS_PASSWORD", lab::labuser_password()),
        ("OS_USER_DOMAIN_NAME", "labdomain".into()),
        ("OS_PROJECT_NAME", "labproject".into()),
        ("OS_PROJECT_DOMAIN_NAME", "labdomain".into()),
    ]
}

/// Tempauth login as test:tester (the account `lab::client(lab::tempauth())` uses).
pub fn tempauth_env() -> Env {
    vec![
        ("ST_AUTH", lab::tempauth_url()),
        ("ST_USER", "test:tester".into()),
        ("ST_KEY", lab::tempauth_key()),
    ]
}

/// [`tempauth_env`] logging in through a proxy at `proxy_base` (`http://host:port`):
/// tempauth then hands out a storage URL on the proxy, so every request of the mount
/// goes through it.
pub fn tempauth_env_via(proxy_base: &str) -> Env {
    let auth = url::Url::parse(&lab::tempauth_url()).unwrap();
    let mut env = tempauth_env();
    for (k, v) in env.iter_mut() {
        if *k == "ST_AUTH" {
            *v = format!("{proxy_base}{}", auth.path());
        }
    }
    env
}

/// Where mount points are made: `$SWIFTMOUNT_TEST_MNT_DIR` (scripts/swift-down.sh
/// unmounts leftovers there), else a temporary directory kept for the whole run.
pub fn mount_base() -> PathBuf {
    static TMP: OnceLock<tempfile::TempDir> = OnceLock::new();
    if let Some(dir) = std::env::var_os("SWIFTMOUNT_TEST_MNT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        return dir;
    }
    TMP.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("swiftmount-mnt-")
            .tempdir()
            .unwrap()
    })
    .path()
    .to_path_buf()
}

/// A path for a mount point no other test uses; not created.
pub fn unique_path(tag: &str) -> PathBuf {
    mount_base().join(lab::unique(tag))
}

/// A new, empty directory to mount on.
pub fn fresh_dir(tag: &str) -> PathBuf {
    let p = unique_path(tag);
    std::fs::create_dir(&p).unwrap();
    p
}

/// Whether `p` is the root of another filesystem than its parent's.
pub fn is_mount_point(p: &Path) -> bool {
    let parent = p.parent().expect("mount point has a parent");
    match (std::fs::metadata(p), std::fs::metadata(parent)) {
        (Ok(m), Ok(pm)) => m.dev() != pm.dev(),
        // ENOTCONN: a dead FUSE mount is still a mount
        (Err(e), _) if e.raw_os_error() == Some(libc::ENOTCONN) => true,
        _ => false,
    }
}

/// How many lines of /proc/self/mountinfo mount something on `p`.
pub fn mountinfo_count(p: &Path) -> usize {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = p.to_str().unwrap();
    info.lines()
        .filter(|l| l.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(want))
        .count()
}

/// mountinfo writes space, tab, newline and backslash as \ooo.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// PIDs of processes (other than us) whose command line mentions `needle`, e.g. a
/// unique mount point. Only for looking: the tests never kill what they did not start.
pub fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.as_os_str().as_bytes();
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|arg| arg == needle) {
            found.push(pid);
        }
    }
    found
}

/// The stdout of a run that must have succeeded (else its stderr in the panic).
pub fn ok(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn base_command(env: &[(&'static str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    // only the login given here, none of the caller's OS_* / ST_*
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}

fn log_file() -> (tempfile::NamedTempFile, File, File) {
    let log = tempfile::Builder::new()
        .prefix("swiftmount-test-")
        .suffix(".log")
        .tempfile()
        .unwrap();
    let out = log.reopen().unwrap();
    let err = log.reopen().unwrap();
    (log, out, err)
}

/// Waits for `child` to exit, at most `limit`; `None` if it is still running then.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `swiftmount ARGS` with only `env`, output to files (so a background process
/// that kept a pipe open cannot make us wait). Panics if it runs longer than `limit`
/// (after killing it: it is our child).
pub fn run(args: &[&OsStr], env: &[(&'static str, String)], limit: Duration) -> Outcome {
    let out_path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let err_path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let mut child = base_command(env)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status = match wait_timeout(&mut child, limit) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "swiftmount {args:?} still running after {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
    };
    Outcome {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    }
}

/// `fusermount3 -u`, which must succeed (else its stderr in the panic).
pub fn fusermount_u(p: &Path) {
    let out = Command::new("fusermount3")
        .arg("-u")
        .arg(p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fusermount3 -u: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `fusermount3 -u`, then `umount -l` if that did not work. True once unmounted.
pub fn unmount(p: &Path) -> bool {
    let quiet = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if quiet(Command::new("fusermount3").arg("-u").arg(p)) && !is_mount_point(p) {
        return true;
    }
    if !is_mount_point(p) {
        return true;
    }
    quiet(Command::new("umount").arg("-l").arg(p));
    !is_mount_point(p)
}

/// A foreground `swiftmount` mount; unmounted, waited for and its directory removed
/// on drop.
pub struct Mount {
    pub path: PathBuf,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Mount {
    /// Mounts `source` (`container[/prefix]`) as labuser (Keystone v3).
    pub fn new(source: &str, extra: &[&str]) -> Mount {
        Mount::with_env(source, extra, &v3_env())
    }

    /// Mounts `source` with the given login and extra options, on a fresh directory.
    pub fn with_env(source: &str, extra: &[&str], env: &[(&'static str, String)]) -> Mount {
        Mount::on(fresh_dir("mnt"), source, extra, env)
    }

    /// Mounts `source` as test:tester logging in through the proxy at `proxy_base`
    /// (see [`tempauth_env_via`]): every request of the mount goes through it.
    pub fn via_proxy(proxy_base: &str, source: &str, extra: &[&str]) -> Mount {
        Mount::with_env(source, extra, &tempauth_env_via(proxy_base))
    }

    /// Mounts on `path` (which must exist); removes `path` when dropped.
    pub fn on(
        path: PathBuf,
        source: &str,
        extra: &[&str],
        env: &[(&'static str, String)],
    ) -> Mount {
        let (log, out, err) = log_file();
        let child = base_command(env)
            .arg("--foreground")
            .args(extra)
            .arg(source)
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let mut m = Mount {
            path,
            child: Some(child),
            log,
        };
        let start = Instant::now();
        loop {
            if is_mount_point(&m.path) {
                return m;
            }
            if let Some(status) = m.child.as_mut().unwrap().try_wait().unwrap() {
                m.child = None;
                panic!(
                    "swiftmount {source} {extra:?} exited with {status} before mounting; log:\n{}",
                    m.log()
                );
            }
            if start.elapsed() > MOUNT_TIMEOUT {
                panic!(
                    "swiftmount {source} {extra:?} not mounted after {MOUNT_TIMEOUT:?}; log:\n{}",
                    m.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Unmounts with `fusermount3 -u` and returns how the process exited.
    pub fn unmount(mut self) -> ExitStatus {
        fusermount_u(&self.path);
        self.wait_exit()
    }

    /// Sends SIGTERM and returns how the process exited.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.pid().expect("running") as libc::pid_t;
        // SAFETY: plain syscall on our own child's PID (not yet waited for, so not reused).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        match wait_timeout(&mut child, EXIT_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "swiftmount did not exit within {EXIT_TIMEOUT:?} of the unmount; log:\n{}",
                    self.log()
                );
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if is_mount_point(&self.path) && !unmount(&self.path) {
            eprintln!("could not unmount {}", self.path.display());
        }
        if let Some(mut child) = self.child.take()
            && wait_timeout(&mut child, EXIT_TIMEOUT).is_none()
        {
            eprintln!(
                "swiftmount on {} still running after unmount; killing pid {}",
                self.path.display(),
                child.id()
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        if !is_mount_point(&self.path) {
            // never recursive: if the unmount failed this is still the mount
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

/// Removes a path made for a test when dropped: unmounts it first if something is
/// still mounted there (e.g. a background mount of a test that failed half-way).
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if is_mount_point(&self.0) && !unmount(&self.0) {
            eprintln!("could not unmount {}", self.0.display());
            return;
        }
        match std::fs::symlink_metadata(&self.0) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir(&self.0);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&self.0);
            }
            Err(_) => {}
        }
    }
}
