//! Open file and folder handles, by the number the kernel passes back.
//!
//! The table only maps numbers to handles; each handle's state sits behind its own
//! lock, so a slow operation on one handle (filling the kernel's buffer, an upload)
//! never holds up the others.

use super::FsError;
use super::dircache::DirSnapshot;
use super::open_files::OpenFile;
use super::reader::Reader;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub enum Handle {
    Dir(Arc<Mutex<DirCursor>>),
    /// A file opened for reading while nothing writes it: reads Swift's version.
    Remote(Arc<tokio::sync::Mutex<Reader>>),
    /// A file in the open-file registry: opened for writing, or for reading while
    /// it is being written (then it reads what the writers wrote, and never uploads
    /// at close).
    Open {
        file: Arc<OpenFile>,
        writable: bool,
        /// The process that opened it (its thread-group id), when known.
        opener: Option<u32>,
    },
}

/// An open folder: the listing it reads (fixed while the handle is open, so offsets
/// stay valid), and where the last `readdir` stopped: the offset the kernel asks for
/// next, and the last name it was given.
pub struct DirCursor {
    pub snap: Arc<DirSnapshot>,
    pub resume: Option<(u64, String)>,
}

#[derive(Default)]
pub struct Handles {
    table: Mutex<HashMap<u64, Handle>>,
    next: AtomicU64,
}

impl Handles {
    pub fn add(&self, h: Handle) -> u64 {
        // 0 is never handed out: some kernels treat it as "no handle"
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.table.lock().expect("handles").insert(fh, h);
        fh
    }

    pub fn get(&self, fh: u64) -> Result<Handle, FsError> {
        self.table
            .lock()
            .expect("handles")
            .get(&fh)
            .cloned()
            .ok_or(FsError::UnknownHandle(fh))
    }

    pub fn remove(&self, fh: u64) -> Option<Handle> {
        self.table.lock().expect("handles").remove(&fh)
    }
}
