//! The open-file registry: the one owner of what is being written through the mount.
//!
//! A file is "being written" exactly while it has an entry here. The entry holds the
//! file's content not yet in Swift (its [`Writer`]), the number of handles open on it,
//! and the size and mtime those handles see; listings, lookups and `getattr` ask the
//! registry first and Swift's word second. Handles opened for reading while a file
//! is being written share the entry (they read what the writers wrote) but their
//! close never uploads: only a writer's close, an `fsync` or the last close does (see
//! docs/SEMANTICS.md, "Writing").

use super::FsError;
use super::inode::Inode;
use super::writer::{Committed, Writer};
use crate::metrics::Metrics;
use crate::swift::PosixAttrs;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub struct OpenFile {
    pub inode: Arc<Inode>,
    content: tokio::sync::Mutex<Writer>,
    state: Mutex<OpenState>,
}

struct OpenState {
    /// Handles open on the file, for reading or writing.
    handles: usize,
    /// What the handles see: the content's size, mtime, mode and owner after the
    /// last change.
    size: u64,
    mtime: SystemTime,
    posix: PosixAttrs,
    /// Created through the mount and never stored: listings must show it.
    unstored: bool,
}

/// The content of an open file, locked for one operation; the size and mtime it
/// leaves are what `getattr` answers from then on.
pub struct Content<'a> {
    file: &'a OpenFile,
    writer: tokio::sync::MutexGuard<'a, Writer>,
}

impl std::ops::Deref for Content<'_> {
    type Target = Writer;
    fn deref(&self) -> &Writer {
        &self.writer
    }
}

impl std::ops::DerefMut for Content<'_> {
    fn deref_mut(&mut self) -> &mut Writer {
        &mut self.writer
    }
}

impl Drop for Content<'_> {
    fn drop(&mut self) {
        let mut s = self.file.state.lock().expect("open file");
        s.size = self.writer.size();
        s.mtime = self.writer.mtime();
        if s.posix != self.writer.meta().posix {
            s.posix = self.writer.meta().posix.clone();
        }
    }
}

impl OpenFile {
    /// Waits for the file's other operations (an upload may take a while).
    pub async fn content(&self) -> Content<'_> {
        Content {
            file: self,
            writer: self.content.lock().await,
        }
    }

    /// Size, mtime, mode and owner as the open handles see them.
    pub fn attrs(&self) -> (u64, SystemTime, PosixAttrs) {
        let s = self.state.lock().expect("open file");
        (s.size, s.mtime, s.posix.clone())
    }

    pub fn is_unstored(&self) -> bool {
        self.state.lock().expect("open file").unstored
    }

    /// Stores the content as it is now, if it changed, and tells the inode what
    /// Swift holds from now on.
    pub async fn commit(&self) -> Result<Option<Committed>, FsError> {
        let mut content = self.content().await;
        let committed = content.commit().await?;
        if let Some(c) = &committed {
            self.inode.update_from_commit(c);
            self.state.lock().expect("open file").unstored = false;
        }
        Ok(committed)
    }

    /// The name is gone (unlink, or replaced by a rename): the open handles keep a
    /// private copy, which is never uploaded nor listed.
    pub async fn detach(&self) -> Result<(), FsError> {
        self.content().await.detach().await?;
        self.state.lock().expect("open file").unstored = false;
        Ok(())
    }

    /// Its content was stored under its name by a rename's first step.
    pub fn mark_stored(&self) {
        self.state.lock().expect("open file").unstored = false;
    }
}

pub struct OpenFiles {
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    /// Told how many files there are after each change.
    metrics: Arc<Metrics>,
}

impl OpenFiles {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        OpenFiles {
            files: Mutex::default(),
            metrics,
        }
    }

    pub fn get(&self, ino: u64) -> Option<Arc<OpenFile>> {
        self.files.lock().expect("open files").get(&ino).cloned()
    }

    /// One more handle on a file being written, if it is.
    pub fn share(&self, ino: u64) -> Option<Arc<OpenFile>> {
        let files = self.files.lock().expect("open files");
        let file = files.get(&ino)?;
        file.state.lock().expect("open file").handles += 1;
        Some(file.clone())
    }

    /// One more handle on the file: its entry, or a new one over `writer` (made
    /// before, since that may take a request; a racing open's entry wins).
    pub fn open(&self, inode: &Arc<Inode>, writer: Writer, unstored: bool) -> Arc<OpenFile> {
        let mut files = self.files.lock().expect("open files");
        let file = files.entry(inode.ino).or_insert_with(|| {
            Arc::new(OpenFile {
                inode: inode.clone(),
                state: Mutex::new(OpenState {
                    handles: 0,
                    size: writer.size(),
                    mtime: writer.mtime(),
                    posix: writer.meta().posix.clone(),
                    unstored,
                }),
                content: tokio::sync::Mutex::new(writer),
            })
        });
        file.state.lock().expect("open file").handles += 1;
        let file = file.clone();
        self.metrics.open_files(files.len());
        file
    }

    /// One handle fewer. The last one's caller uploads what is left and then calls
    /// [`Self::remove_unused`]: the entry stays meanwhile, so that a rename or a time
    /// change racing with that upload waits for it instead of acting on a file
    /// about to change.
    pub fn close(&self, file: &OpenFile) -> bool {
        let mut s = file.state.lock().expect("open file");
        s.handles = s.handles.saturating_sub(1);
        s.handles == 0
    }

    /// Forgets the entry of `ino` unless a handle was opened on it meanwhile.
    pub fn remove_unused(&self, ino: u64) {
        let mut files = self.files.lock().expect("open files");
        if files
            .get(&ino)
            .is_some_and(|f| f.state.lock().expect("open file").handles == 0)
        {
            files.remove(&ino);
            self.metrics.open_files(files.len());
        }
    }

    /// Every file being written.
    pub fn all(&self) -> Vec<Arc<OpenFile>> {
        self.files
            .lock()
            .expect("open files")
            .values()
            .cloned()
            .collect()
    }

    /// Files created through the mount and not yet stored.
    pub fn unstored(&self) -> Vec<Arc<OpenFile>> {
        let mut v = self.all();
        v.retain(|f| f.is_unstored());
        v
    }

    /// Those of them directly in the folder `parent`.
    pub fn unstored_in(&self, parent: u64) -> Vec<Arc<OpenFile>> {
        let mut v = self.unstored();
        v.retain(|f| f.inode.parent() == parent);
        v
    }
}
