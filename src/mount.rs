//! `swiftmount SOURCE MOUNTPOINT`: checks everything that can be checked before
//! mounting (source, credentials, container, mount point), so that bad input gives
//! one clear line and never a dead mount; then mounts, in the background by default.

use crate::cli::MountArgs;
use crate::fs::{FsConfig, SegmentPlan, SwiftFs};
use crate::fuse::FuseAdapter;
use crate::metrics::{Metrics, endpoint};
use crate::source::SourceError;
use crate::swift::{ContainerName, MetaLimits, SwiftClient, SwiftError};
use fuser::{Config, MountOption, SessionACL};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in the environment of the background process, so it knows it is one.
const DAEMON_ENV: &str = "SWIFTMOUNT_DAEMON_CHILD";
/// How long the foreground process waits for the background one to mount.
const MOUNT_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Swift(#[from] SwiftError),
    #[error("container {container} not found at {storage_url}")]
    NoContainer {
        container: String,
        storage_url: String,
    },
    #[error("mount point {0}: {1}")]
    MountPoint(PathBuf, String),
    #[error("cache directory {0}: {1}")]
    CacheDir(PathBuf, std::io::Error),
    #[error("cannot mount on {0}: {1}")]
    Mount(PathBuf, std::io::Error),
    #[error("cannot serve metrics on --metrics-addr {0}: {1}")]
    Metrics(SocketAddr, std::io::Error),
    #[error("background process: {0}")]
    Daemon(String),
    /// The background process failed and has already said why.
    #[error("background process exited with {0}")]
    ChildFailed(ExitStatus),
}

impl MountError {
    /// Whether the message was already printed (by the background process).
    pub fn already_reported(&self) -> bool {
        matches!(self, MountError::ChildFailed(_))
    }
}

/// Refuses mount points that would hide data or leave a confusing state.
fn check_mount_point(mp: &Path, allow_non_empty: bool) -> Result<PathBuf, MountError> {
    let bad = |why: &str| MountError::MountPoint(mp.to_path_buf(), why.to_string());
    let meta = match std::fs::metadata(mp) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(bad("does not exist")),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(bad("is a dead FUSE mount (run: fusermount3 -u on it)"));
        }
        Err(e) => return Err(bad(&e.to_string())),
    };
    if !meta.is_dir() {
        return Err(bad("is not a directory"));
    }
    let mp = mp.canonicalize().map_err(|e| bad(&e.to_string()))?;
    if let Some(parent) = mp.parent() {
        let parent_dev = std::fs::metadata(parent)
            .map_err(|e| bad(&e.to_string()))?
            .dev();
        if parent_dev != meta.dev() {
            return Err(bad("is already a mount point"));
        }
    }
    if !allow_non_empty {
        let mut entries = std::fs::read_dir(&mp).map_err(|e| bad(&e.to_string()))?;
        if entries.next().is_some() {
            return Err(bad("is not empty (use --allow-non-empty to mount over it)"));
        }
    }
    Ok(mp)
}

/// The cache directory must take temporary files: found out now, not at the first
/// random write.
fn check_cache_dir(dir: &Path) -> Result<PathBuf, MountError> {
    tempfile::tempfile_in(dir).map_err(|e| {
        MountError::MountPoint(
            dir.to_path_buf(),
            format!("cannot be used as --cache-dir: {e}"),
        )
    })?;
    Ok(dir.to_path_buf())
}

/// What the mount takes from the cluster's `/info`: its limits on metadata and on
/// large objects, and whether it offers symlinks. Swift's defaults and no symlinks
/// when it does not tell (the mount works either way: xattrs and large files then
/// fail at Swift's own limits, links are plain objects).
async fn cluster_features(
    client: &SwiftClient,
    segment_size: u64,
) -> (MetaLimits, SegmentPlan, bool) {
    match client.cluster_info().await {
        Ok(info) => (
            MetaLimits::from_info(&info.swift),
            SegmentPlan::for_cluster(segment_size, Some(&info)),
            info.symlink.is_some(),
        ),
        Err(e) => {
            log::info!("no /info from the cluster ({e}): Swift's default limits");
            (
                MetaLimits::default(),
                SegmentPlan::for_cluster(segment_size, None),
                false,
            )
        }
    }
}

fn is_mounted(mp: &Path) -> bool {
    match (std::fs::metadata(mp), mp.parent().map(std::fs::metadata)) {
        (Ok(m), Some(Ok(p))) => m.dev() != p.dev(),
        _ => false,
    }
}

pub fn run(args: &MountArgs) -> Result<(), MountError> {
    let source = args.source.as_deref().expect("clap requires SOURCE");
    let mountpoint = args
        .mountpoint
        .as_deref()
        .expect("clap requires MOUNTPOINT");
    let crate::cli::Resolved {
        location,
        credentials,
        filter,
        client_config,
    } = args.auth.resolve(source, &args.network)?;
    let mp = check_mount_point(mountpoint, args.options.allow_non_empty)?;
    if !args.options.foreground {
        return spawn_background(&mp);
    }
    let metrics_listener = args
        .options
        .metrics_addr
        .map(|addr| endpoint::bind(addr).map_err(|e| MountError::Metrics(addr, e)))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("swiftmount-io")
        .build()
        .map_err(|e| MountError::Daemon(format!("tokio runtime: {e}")))?;
    let metrics = Arc::new(Metrics::default());
    if let Some(listener) = metrics_listener {
        if let Ok(addr) = listener.local_addr() {
            log::info!("serving metrics at http://{addr}/metrics");
        }
        runtime.spawn(endpoint::serve(listener, metrics.clone()));
    }
    let client = Arc::new(SwiftClient::new(
        credentials,
        filter,
        client_config,
        metrics.clone(),
    )?);
    let opts = &args.options;
    let (meta_limits, segment_plan, swift_symlinks) =
        runtime.block_on(cluster_features(&client, opts.segment_size));
    let config = FsConfig {
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        uid: opts.uid.unwrap_or_else(|| unsafe { libc::getuid() }),
        gid: opts.gid.unwrap_or_else(|| unsafe { libc::getgid() }),
        file_mode: opts.file_mode,
        dir_mode: opts.dir_mode,
        dir_cache_ttl: Duration::from_secs(opts.dir_cache_ttl),
        dir_cache_max_dirs: opts.dir_cache_size as usize,
        dir_cache_max_entries: 500_000,
        read_only: opts.read_only,
        segment_plan,
        segment_container: ContainerName::new(
            opts.segments_container
                .clone()
                .unwrap_or_else(|| format!("{}_segments", location.container)),
        )?,
        cache_dir: check_cache_dir(&opts.cache_dir)?,
        ignore_stored_perms: opts.ignore_stored_perms,
        meta_limits,
        swift_symlinks,
    };
    let container = location.container.to_string();
    let prefix = location.prefix.clone();
    let fs = Arc::new(SwiftFs::new(client.clone(), location, config, metrics));
    runtime.block_on(async {
        match fs.check_container().await {
            Err(crate::fs::FsError::Swift(SwiftError::NotFound(_))) => {
                let storage_url = client.session().await?.storage_url.to_string();
                Err(MountError::NoContainer {
                    container: container.clone(),
                    storage_url,
                })
            }
            Err(crate::fs::FsError::Swift(e)) => Err(e.into()),
            Err(e) => Err(MountError::Daemon(e.to_string())),
            Ok(()) => Ok(()),
        }
    })?;

    let mut fuse_config = Config::default();
    fuse_config.mount_options = vec![
        MountOption::FSName(format!("swift:{container}/{prefix}")),
        MountOption::Subtype("swiftmount".into()),
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::NoAtime,
    ];
    if opts.read_only {
        fuse_config.mount_options.push(MountOption::RO);
    }
    fuse_config.acl = if opts.allow_other {
        SessionACL::All
    } else if opts.allow_root {
        SessionACL::RootAndOwner
    } else {
        SessionACL::Owner
    };
    fuse_config.n_threads = Some(4);
    fuse_config.clone_fd = cfg!(target_os = "linux");
    let notifier = Arc::new(std::sync::OnceLock::new());
    let adapter = FuseAdapter::new(fs, runtime.handle().clone(), notifier.clone());
    let mut session = fuser::Session::new(adapter, &mp, &fuse_config)
        .map_err(|e| MountError::Mount(mp.clone(), e))?;
    let _ = notifier.set(session.notifier());
    log::info!("mounted swift:{container}/{prefix} on {}", mp.display());

    // SIGTERM / SIGINT unmount cleanly; the session loop then returns.
    let mut unmounter = session.unmount_callable();
    runtime.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            log::error!("cannot install signal handlers; unmount with fusermount3 -u");
            return;
        };
        tokio::select! {
            _ = term.recv() => log::info!("SIGTERM: unmounting"),
            _ = int.recv() => log::info!("SIGINT: unmounting"),
        }
        if let Err(e) = unmounter.unmount() {
            log::error!("unmount failed: {e}");
        }
    });
    if std::env::var_os(DAEMON_ENV).is_some() {
        // Tell the waiting foreground process we are up; it exits and closes the pipe.
        eprintln!("{READY_LINE}");
    }
    session
        .run()
        .map_err(|e| MountError::Mount(mp.clone(), e))?;
    log::info!("unmounted {}", mp.display());
    Ok(())
}

const READY_LINE: &str = "swiftmount: mounted";

/// Starts this program again in the foreground mode, detached, and returns once it
/// has mounted, or with its error line.
fn spawn_background(mp: &Path) -> Result<(), MountError> {
    let exe = std::env::current_exe().map_err(|e| MountError::Daemon(e.to_string()))?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--foreground")
        .env(DAEMON_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // its own process group: the terminal's ^C and hang-up do not reach it
        .process_group(0)
        .spawn()
        .map_err(|e| MountError::Daemon(e.to_string()))?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line == READY_LINE {
                let _ = tx.send(true);
                return;
            }
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    });
    let started = Instant::now();
    loop {
        if rx.try_recv().is_ok() || is_mounted(mp) {
            return Ok(());
        }
        if let Some(status) = child
            .try_wait()
            .map_err(|e| MountError::Daemon(e.to_string()))?
        {
            // let the reader thread pass on the child's last lines
            std::thread::sleep(Duration::from_millis(50));
            return Err(MountError::ChildFailed(status));
        }
        if started.elapsed() > MOUNT_WAIT {
            let _ = child.kill();
            return Err(MountError::Daemon(format!(
                "not mounted after {MOUNT_WAIT:?}; gave up"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
