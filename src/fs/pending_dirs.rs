//! Folders made through the mount whose marker is not yet stored: the one owner of
//! that fact.
//!
//! `mkdir` answers as soon as the folder exists in the mount's view, as a local disk
//! does; its marker (`name/`, see [`super::SwiftFs::mkdir`]) is PUT by a background
//! task, at most [`MARKERS_AT_ONCE`] at a time. A folder has an entry here from its
//! `mkdir` until its marker is stored, or, if that failed, until someone takes the
//! error: `fsyncdir` reports it, `rmdir` and `rename` settle the folder before they
//! act on it, and unmount logs it. Listings and lookups merge these folders in, as
//! they merge files not yet uploaded (see docs/SEMANTICS.md, "Folders").

use super::FsError;
use super::inode::Inode;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, watch};

/// Markers PUT at the same time: `restic init` makes 256 folders at once, and a
/// few requests in flight already hide the round trip without flooding the proxy.
const MARKERS_AT_ONCE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for one of the slots.
    Queued,
    InFlight,
    Stored,
    /// The store's retries gave up; the error waits in [`PendingDir::error`].
    Failed,
    /// Removed (`rmdir`) before its PUT was sent: it never will be.
    Cancelled,
}

impl Phase {
    fn settled(self) -> bool {
        matches!(self, Phase::Stored | Phase::Failed | Phase::Cancelled)
    }
}

pub struct PendingDir {
    pub inode: Arc<Inode>,
    /// The folder's key (its marker is this without the last `/`), fixed at
    /// `mkdir`: a rename of the folder or of a folder above it settles it first.
    pub key: String,
    phase: watch::Sender<Phase>,
    error: Mutex<Option<FsError>>,
}

struct Shared {
    dirs: Mutex<HashMap<u64, Arc<PendingDir>>>,
    slots: Semaphore,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn remove(&self, dir: &Arc<PendingDir>) {
        let mut dirs = self.dirs.lock().expect("pending dirs");
        if dirs
            .get(&dir.inode.ino)
            .is_some_and(|d| Arc::ptr_eq(d, dir))
        {
            dirs.remove(&dir.inode.ino);
        }
    }
}

pub struct PendingDirs {
    shared: Arc<Shared>,
}

impl PendingDirs {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        PendingDirs {
            shared: Arc::new(Shared {
                dirs: Mutex::default(),
                slots: Semaphore::new(MARKERS_AT_ONCE),
                metrics,
            }),
        }
    }

    /// Registers the folder `inode` and starts `put`, which stores its marker `key`,
    /// in the background (on the current tokio runtime).
    pub fn start(
        &self,
        inode: Arc<Inode>,
        key: String,
        put: impl Future<Output = Result<(), FsError>> + Send + 'static,
    ) {
        let dir = Arc::new(PendingDir {
            inode,
            key,
            phase: watch::Sender::new(Phase::Queued),
            error: Mutex::new(None),
        });
        self.shared
            .dirs
            .lock()
            .expect("pending dirs")
            .insert(dir.inode.ino, dir.clone());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let _slot = shared.slots.acquire().await.expect("slots never close");
            let sent = dir.phase.send_if_modified(|p| {
                let queued = *p == Phase::Queued;
                if queued {
                    *p = Phase::InFlight;
                }
                queued
            });
            if !sent {
                return; // cancelled meanwhile
            }
            let in_flight = shared.metrics.marker_in_flight();
            let stored = put.await;
            // out of flight before anyone can see the folder settled
            drop(in_flight);
            match stored {
                Ok(()) => {
                    shared.remove(&dir);
                    dir.phase.send_replace(Phase::Stored);
                }
                Err(e) => {
                    log::warn!("could not store the marker of folder {}: {e}", dir.key);
                    *dir.error.lock().expect("pending dir") = Some(e);
                    dir.phase.send_replace(Phase::Failed);
                }
            }
        });
    }

    pub fn get(&self, ino: u64) -> Option<Arc<PendingDir>> {
        self.shared
            .dirs
            .lock()
            .expect("pending dirs")
            .get(&ino)
            .cloned()
    }

    /// Every folder whose marker is not stored (queued, in flight or failed).
    pub fn all(&self) -> Vec<Arc<PendingDir>> {
        self.shared
            .dirs
            .lock()
            .expect("pending dirs")
            .values()
            .cloned()
            .collect()
    }

    /// The pending folders directly in the folder `parent`.
    pub fn in_folder(&self, parent: u64) -> Vec<Arc<PendingDir>> {
        let mut v = self.all();
        v.retain(|d| d.inode.parent() == parent);
        v
    }

    /// Waits until the marker is stored or has failed, then forgets the folder: the
    /// error of a failed marker is handed to the caller, once.
    pub async fn settle(&self, dir: &Arc<PendingDir>) -> Result<(), FsError> {
        let mut phase = dir.phase.subscribe();
        // the sender lives in `dir`, which we hold: the wait cannot end otherwise
        let _ = phase.wait_for(|p| p.settled()).await;
        self.shared.remove(dir);
        match dir.error.lock().expect("pending dir").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The folder is being removed: its marker is not sent if it is still queued,
    /// else waited for. What it ends in does not matter any more.
    pub async fn cancel(&self, dir: &Arc<PendingDir>) {
        dir.phase.send_if_modified(|p| {
            let queued = *p == Phase::Queued;
            if queued {
                *p = Phase::Cancelled;
            }
            queued
        });
        let _ = self.settle(dir).await;
    }
}
