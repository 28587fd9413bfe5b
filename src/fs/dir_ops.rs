//! Folders and names: listing, unlink, mkdir, rmdir and rename.

use super::dircache::DirSnapshot;
use super::file_ops::SetAttr;
use super::handles::{DirCursor, Handle};
use super::inode::{Inode, ROOT_INO};
use super::writer::Committed;
use super::{Attr, Caller, DirEntry, FsError, NodeKind, SwiftFs, name_str};
use crate::swift::{
    ContainerName, ListEntry, ListQuery, ListedObject, Manifest, ObjectMeta, ObjectName,
    ObjectStore, SwiftError,
};
use bytes::Bytes;
use std::ffi::OsStr;
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

impl SwiftFs {
    /// Takes a snapshot of the directory that stays fixed while the handle is open,
    /// so `readdir` offsets stay valid.
    pub async fn opendir(&self, ino: u64) -> Result<u64, FsError> {
        let dir = self.dir_inode(ino)?;
        let snap = self.snapshot(&dir).await?;
        let cursor = DirCursor { snap, resume: None };
        Ok(self.handles.add(Handle::Dir(Arc::new(Mutex::new(cursor)))))
    }

    /// Hands `add` the entries from `offset` on (0 = the start), each with its own
    /// offset (its index + 1, the dots included), until `add` returns true: the
    /// kernel's buffer is full, and it asks again from the last offset it took.
    ///
    /// Only the entries the kernel takes are built, and a handle read piece by piece
    /// resumes after the last name it gave out instead of walking the listing from
    /// the start. Building (or skipping) everything before the offset on every call
    /// made a listing quadratic: a folder of 100,000 read 8 KiB at a time (Go's
    /// `os.ReadDir`: restic, rclone) is ~2,000 calls and took 40 s; now 0.2 s.
    ///
    /// With `plus` (readdirplus), each entry taken is an entry the kernel holds.
    pub fn readdir(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        plus: bool,
        mut add: impl FnMut(&DirEntry, u64) -> bool,
    ) -> Result<(), FsError> {
        let dir = self.dir_inode(ino)?;
        let parent = self.inode(dir.parent())?;
        let Handle::Dir(cursor) = self.handles.get(fh)? else {
            return Err(FsError::UnknownHandle(fh));
        };
        let mut cursor = cursor.lock().expect("dir cursor");
        let DirCursor { snap, resume } = &mut *cursor;
        for (next, (name, inode)) in [(1, (".", &dir)), (2, ("..", &parent))] {
            if next > offset {
                let entry = DirEntry {
                    name: name.to_string(),
                    attr: self.attr_of(inode),
                };
                if add(&entry, next) {
                    return Ok(());
                }
            }
        }
        // the listing's entry i has offset i + 3
        let mut next = offset.max(2);
        let resumed = resume.take().filter(|(at, _)| *at == next);
        let rest: Box<dyn Iterator<Item = (&String, &Arc<Inode>)>> = match &resumed {
            Some((_, after)) => Box::new(
                snap.entries
                    .range::<str, _>((Bound::Excluded(after.as_str()), Bound::Unbounded)),
            ),
            None => Box::new(snap.entries.iter().skip(next as usize - 2)),
        };
        let mut last = None;
        for (name, inode) in rest {
            let entry = DirEntry {
                name: name.clone(),
                attr: self.attr_of(inode),
            };
            if add(&entry, next + 1) {
                break;
            }
            if plus {
                self.inodes.remember(inode);
            }
            next += 1;
            last = Some(name);
        }
        *resume = match last {
            Some(name) => Some((next, name.clone())),
            None => resumed,
        };
        Ok(())
    }

    pub fn release_dir(&self, fh: u64) {
        self.handles.remove(fh);
    }

    /// Deletes an object; a large object goes with its segments. Returns the ETag
    /// listings show for the version deleted (unknown for a large object: listings
    /// show its manifest's).
    async fn delete_object(&self, inode: &Inode) -> Result<Option<String>, FsError> {
        let object = self.object_name(inode)?;
        let info = self.store.head_object(&self.container, &object).await?;
        match info.manifest {
            Some(Manifest::Slo) => self.store.delete_slo(&self.container, &object).await?,
            _ => self.store.delete_object(&self.container, &object).await?,
        }
        Ok(info.etag.filter(|_| info.manifest.is_none()))
    }

    pub async fn unlink(&self, parent: u64, name: &OsStr) -> Result<(), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        let inode = self.child(&parent, name).await?;
        if inode.kind == NodeKind::Dir {
            return Err(FsError::IsADirectory);
        }
        let mut stored = true;
        if let Some(open) = self.open_files.get(inode.ino) {
            stored = !open.is_unstored();
            open.detach().await?;
        }
        if stored {
            let etag = match self.delete_object(&inode).await {
                Ok(etag) => etag,
                Err(FsError::Swift(SwiftError::NotFound(_))) => None,
                Err(e) => return Err(e),
            };
            self.recent.removed(&self.inodes.key(&inode), etag, None);
        }
        self.forget_child(&parent, name);
        Ok(())
    }

    fn forget_child(&self, parent: &Inode, name: &str) {
        self.inodes.remove_name(parent.ino, name);
        self.dirs.patch(parent.ino, |e| {
            e.remove(name);
        });
    }

    /// Makes a folder with the permission bits of `mode`, owned by `caller`; its
    /// marker is stored in the background.
    pub async fn mkdir(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        caller: Caller,
    ) -> Result<Attr, FsError> {
        let (parent, name) = self.free_name(parent, name).await?;
        let key = format!("{}{name}/", self.inodes.key(&parent));
        // a name Swift refuses fails here, not in the background
        ObjectName::new(key.clone())?;
        let marker = marker_of(&key)?;
        let inode = self.inodes.upsert(&parent, name, NodeKind::Dir, None);
        let meta = ObjectMeta {
            mtime: Some(SystemTime::now()),
            posix: self.new_posix(NodeKind::Dir, mode, caller),
            ..ObjectMeta::directory()
        };
        inode.set_attrs(meta.mtime, meta.posix.clone());
        // The kernel holds the parent's lock until mkdir answers: answering after the
        // PUT made `restic init` (256 folders) wait for 256 round trips in a row.
        let (store, container) = (self.store.clone(), self.container.clone());
        let (recent, made) = (self.recent.clone(), inode.clone());
        self.pending_dirs
            .start(inode.clone(), key.clone(), async move {
                store_marker(&*store, &container, &marker, &meta).await?;
                // listed as pending until now; a lagging listing must not lose it after
                recent.stored(&key, &made, None);
                Ok(())
            });
        self.dirs.added(parent.ino, name, inode.clone());
        // a folder made just now is empty: no need to ask Swift
        self.dirs.insert(
            inode.ino,
            Arc::new(DirSnapshot {
                fetched: Instant::now(),
                entries: Default::default(),
            }),
        );
        Ok(self.entry_for_kernel(&inode))
    }

    pub async fn rmdir(&self, parent: u64, name: &OsStr) -> Result<(), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        let dir = match self.child(&parent, name).await {
            Ok(dir) => dir,
            // The kernel only asks for a name it has seen: an implicit folder whose
            // last object was just deleted is already gone, which is what was asked.
            Err(FsError::NotFound) => {
                self.forget_child(&parent, name);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if dir.kind != NodeKind::Dir {
            return Err(FsError::NotADirectory);
        }
        // what was made below and is not stored yet first: it costs no request
        if !self.pending_dirs.in_folder(dir.ino).is_empty()
            || !self.open_files.unstored_in(dir.ino).is_empty()
        {
            return Err(FsError::NotEmpty);
        }
        if let Some(pending) = self.pending_dirs.get(dir.ino) {
            self.pending_dirs.cancel(&pending).await;
        }
        let key = self.inodes.key(&dir);
        if self.has_objects_below(&key).await? {
            return Err(FsError::NotEmpty);
        }
        // both marker styles; an implicit folder has neither
        let with_slash = ObjectName::new(key.clone())?;
        match self.store.delete_object(&self.container, &with_slash).await {
            Ok(()) | Err(SwiftError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let without = ObjectName::new(key.trim_end_matches('/').to_string())?;
        if let Ok(info) = self.store.head_object(&self.container, &without).await
            && info.meta.directory
        {
            self.store.delete_object(&self.container, &without).await?;
        }
        self.recent.folder_removed(&key);
        self.dirs.invalidate(dir.ino);
        self.forget_child(&parent, name);
        Ok(())
    }

    /// Writes a folder marker without attributes (`key` ends in `/`) now.
    async fn put_marker(&self, key: &str) -> Result<(), FsError> {
        let meta = ObjectMeta::directory();
        store_marker(&*self.store, &self.container, &marker_of(key)?, &meta).await
    }

    /// Stores a folder's new mode, owner or time on its marker (made if it had none).
    pub(super) async fn set_dir_attrs(
        &self,
        dir: &Arc<Inode>,
        change: &SetAttr,
    ) -> Result<(), FsError> {
        self.update_marker(dir, |meta| {
            self.apply_perms(&mut meta.posix, NodeKind::Dir, change);
            if let Some(t) = change.mtime {
                meta.mtime = Some(t);
            }
            Ok(())
        })
        .await
    }

    /// Changes what a folder's marker holds (mode, owner, time, xattrs) and stores it
    /// at once. The mount's root has no marker: what is set there lasts while it is
    /// mounted.
    pub(super) async fn update_marker(
        &self,
        dir: &Arc<Inode>,
        change: impl FnOnce(&mut ObjectMeta) -> Result<(), FsError>,
    ) -> Result<(), FsError> {
        let (mtime, posix) = dir.with_state(|s| (s.mtime, s.posix.clone()));
        let mut meta = ObjectMeta {
            mtime: Some(mtime),
            posix,
            xattrs: (*self.stored_xattrs(dir).await?).clone(),
            ..ObjectMeta::directory()
        };
        change(&mut meta)?;
        meta.check(&self.config.meta_limits)?;
        if dir.ino == ROOT_INO {
            dir.set_attrs(meta.mtime, meta.posix);
            return Ok(());
        }
        // a marker still on its way is replaced by this one
        if let Some(pending) = self.pending_dirs.get(dir.ino) {
            let _ = self.pending_dirs.settle(&pending).await;
        }
        let marker = marker_of(&self.inodes.key(dir))?;
        let etag = self
            .store
            .put_object(&self.container, &marker, Bytes::new(), &meta)
            .await?;
        dir.update_from_commit(&Committed::new(0, etag, &meta, false));
        Ok(())
    }

    /// Waits for the markers of the folder `ino` and of the folders directly in it
    /// (`fsyncdir`): the first error of a failed one is returned, and each failure
    /// is reported once.
    pub async fn fsync_dir(&self, ino: u64) -> Result<(), FsError> {
        let mut first = Ok(());
        for dir in self.pending_dirs.all() {
            if dir.inode.ino != ino && dir.inode.parent() != ino {
                continue;
            }
            if let Err(e) = self.pending_dirs.settle(&dir).await {
                // not in Swift and no longer pending: the listing must ask Swift again
                self.dirs.invalidate(dir.inode.parent());
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// Waits, at most `limit`, for every marker not yet stored (unmount): a folder
    /// whose marker cannot be stored is logged, with its name, as lost unless
    /// something is stored below it.
    pub async fn store_pending_dirs(&self, limit: Duration) {
        let pending = self.pending_dirs.all();
        if pending.is_empty() {
            return;
        }
        log::info!("storing {} folder markers", pending.len());
        let all = async {
            for dir in &pending {
                if let Err(e) = self.pending_dirs.settle(dir).await {
                    log::error!(
                        "folder {}/{} may be lost: its marker was not stored: {e}",
                        self.container,
                        dir.key
                    );
                }
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            for dir in self.pending_dirs.all() {
                log::error!(
                    "folder {}/{} may be lost: its marker was not stored within {limit:?}",
                    self.container,
                    dir.key
                );
            }
        }
    }

    /// Whether any object lies below a folder's key, its own marker aside.
    async fn has_objects_below(&self, key: &str) -> Result<bool, FsError> {
        // what we stored below lately, which a lagging replica may not list yet
        if self.recent.any_stored_below(key) {
            return Ok(true);
        }
        // the folder's own `key` marker, and what we deleted that a lagging replica
        // still lists, are no objects below it
        let below = |r: &ListEntry| r.marker() != key && !self.recent.lists_removed(r);
        let mut query = ListQuery {
            prefix: Some(key.to_string()),
            limit: Some(PEEK_BELOW),
            ..ListQuery::default()
        };
        let mut rows = self.store.list_page(&self.container, &query).await?;
        if rows.len() == PEEK_BELOW as usize && !rows.iter().any(below) {
            query.limit = None;
            rows = self.store.list_all(&self.container, &query).await?;
        }
        Ok(rows.iter().any(below))
    }

    /// Whether a file below `key` is being written through the mount.
    fn writing_below(&self, key: &str) -> bool {
        self.open_files
            .all()
            .iter()
            .any(|f| self.inodes.key(&f.inode).starts_with(key))
    }

    /// Renames a file (server-side copy, then delete) or a folder (every object
    /// below it, copied first and deleted after, so a failure half-way loses nothing).
    pub async fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let new_parent = self.dir_inode(new_parent)?;
        let name = name_str(name)?;
        let new_name = name_str(new_name)?;
        if let Some(problem) = super::listing::segment_problem(new_name) {
            return Err(FsError::InvalidName(problem.into()));
        }
        let source = self.child(&parent, name).await?;
        let target = match self.child(&new_parent, new_name).await {
            Ok(t) => Some(t),
            Err(FsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if let Some(t) = &target {
            if t.ino == source.ino {
                return Ok(());
            }
            if no_replace {
                return Err(FsError::Exists);
            }
            match (source.kind, t.kind) {
                (NodeKind::Dir, NodeKind::Dir) => {}
                (_, NodeKind::Dir) => return Err(FsError::IsADirectory),
                (NodeKind::Dir, _) => return Err(FsError::NotADirectory),
                _ => {}
            }
        }
        if let Some(open) = target.as_ref().and_then(|t| self.open_files.get(t.ino)) {
            // the replaced file's open handles keep their own copy, never uploaded
            open.detach().await?;
        }
        let old_key = self.inodes.key(&source);
        let etag_of = |inode: &Inode| inode.with_state(|s| s.etag.clone());
        let (left_before, replaced) = (etag_of(&source), target.as_deref().and_then(etag_of));
        // the objects a folder's rename deleted below the old name, and their rows
        let (mut moved_away, mut listed) = (Vec::new(), Vec::new());
        // the ETag listings show for the file left behind
        let left = match source.kind {
            NodeKind::File | NodeKind::Symlink | NodeKind::Fifo | NodeKind::Socket => {
                self.rename_file(&source, &new_parent, new_name, target.as_deref())
                    .await?
            }
            NodeKind::Dir => {
                (moved_away, listed) = self
                    .rename_dir(&source, &new_parent, new_name, target.as_deref())
                    .await?;
                None
            }
        };
        self.dirs.patch(parent.ino, |e| {
            e.remove(name);
        });
        if let Some(t) = &target {
            self.inodes.remove_name(new_parent.ino, new_name);
            if t.kind == NodeKind::Dir {
                self.dirs.invalidate(t.ino);
            }
        }
        self.inodes.rename(&source, &new_parent, new_name);
        let new_key = self.inodes.key(&source);
        if source.kind == NodeKind::Dir {
            self.recent
                .folder_moved(&old_key, &new_key, &moved_away, listed);
        } else {
            self.recent.removed(&old_key, left, left_before);
        }
        self.recent.stored(&new_key, &source, replaced);
        self.dirs.added(new_parent.ino, new_name, source.clone());
        if source.kind == NodeKind::Dir {
            self.dirs.invalidate(source.ino);
        }
        Ok(())
    }

    async fn rename_file(
        &self,
        source: &Arc<Inode>,
        new_parent: &Inode,
        new_name: &str,
        target: Option<&Inode>,
    ) -> Result<Option<String>, FsError> {
        // A file still being written is stored first, under its current name; its
        // content stays locked until later writes are pointed at the new name.
        let open = self.open_files.get(source.ino);
        let mut content = match &open {
            Some(f) => Some(f.content().await),
            None => None,
        };
        if let Some(c) = content.as_mut()
            && let Some(done) = c.commit().await?
        {
            source.update_from_commit(&done);
        }
        if let Some(f) = &open {
            f.mark_stored();
        }
        let from = self.object_name(source)?;
        let to = ObjectName::new(format!("{}{new_name}", self.inodes.key(new_parent)))?;
        let info = self.store.head_object(&self.container, &from).await?;
        let is_slo = info.manifest == Some(Manifest::Slo);
        // segments of a large object being replaced go once the new one is in place
        let old_segments = match target {
            Some(_) => match self.store.head_object(&self.container, &to).await {
                Ok(t) if t.manifest == Some(Manifest::Slo) => {
                    self.store.slo_segments(&self.container, &to).await?
                }
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        self.store
            .copy_object((&self.container, &from), (&self.container, &to), is_slo)
            .await?;
        // the copy keeps the segments of a large object: delete the manifest only
        self.store.delete_object(&self.container, &from).await?;
        for seg in old_segments {
            if let Err(e) = self.store.delete_segment(&seg).await {
                log::warn!("could not delete old segment {seg}: {e}");
            }
        }
        if let Some(c) = content.as_mut() {
            // later writes through open handles go to the new name
            c.set_object(to);
        }
        Ok(info.etag.filter(|_| !is_slo))
    }

    async fn rename_dir(
        &self,
        source: &Arc<Inode>,
        new_parent: &Inode,
        new_name: &str,
        target: Option<&Inode>,
    ) -> Result<(Vec<(String, Option<String>)>, Vec<ListedObject>), FsError> {
        let from = self.inodes.key(source);
        let to = format!("{}{new_name}/", self.inodes.key(new_parent));
        if to.starts_with(&from) {
            return Err(FsError::InvalidName(
                "cannot move a folder into itself".into(),
            ));
        }
        if let Some(t) = target {
            let key = self.inodes.key(t);
            let pending_below = self
                .pending_dirs
                .all()
                .iter()
                .any(|d| d.inode.ino != t.ino && d.key.starts_with(&key));
            if pending_below
                || self.has_objects_below(&key).await?
                || self
                    .open_files
                    .unstored()
                    .iter()
                    .any(|f| self.inodes.key(&f.inode).starts_with(&key))
            {
                return Err(FsError::NotEmpty);
            }
            if let Some(pending) = self.pending_dirs.get(t.ino) {
                // replaced: whether its own marker was stored no longer matters
                let _ = self.pending_dirs.settle(&pending).await;
            }
        }
        if self.writing_below(&from) {
            // files open for writing below would be stored under the old name
            return Err(FsError::Busy);
        }
        // the markers of the folder and of folders below are copied with the rest: they
        // must be in Swift first (a failed one is stored now, or the rename fails)
        for dir in self.pending_dirs.all() {
            if dir.key.starts_with(&from) && self.pending_dirs.settle(&dir).await.is_err() {
                self.put_marker(&dir.key).await?;
            }
        }
        let rows = self
            .store
            .list_all(
                &self.container,
                &ListQuery {
                    prefix: Some(from.clone()),
                    ..ListQuery::default()
                },
            )
            .await?;
        // what a lagging replica still lists of what we deleted is not there; what
        // we stored lately is there, listed or not
        let listed: Vec<ListedObject> = rows
            .into_iter()
            .filter(|r| !self.recent.lists_removed(r))
            .filter_map(|r| match r {
                ListEntry::Object(o) => Some(o),
                ListEntry::Subdir { .. } => None,
            })
            .collect();
        let mut objects: Vec<(String, Option<String>)> = listed
            .iter()
            .map(|o| (o.name.clone(), Some(o.hash.clone())))
            .collect();
        for (name, etag) in self.recent.stored_below(&from) {
            if !objects.iter().any(|(n, _)| *n == name) {
                objects.push((name, etag));
            }
        }
        // copy everything first: a failure half-way leaves the source whole
        for (name, _) in &objects {
            let src = ObjectName::new(name.clone())?;
            let dst = ObjectName::new(format!("{to}{}", &name[from.len()..]))?;
            let info = self.store.head_object(&self.container, &src).await?;
            self.store
                .copy_object(
                    (&self.container, &src),
                    (&self.container, &dst),
                    info.manifest == Some(Manifest::Slo),
                )
                .await?;
        }
        // the folder's own marker (mode, owner, times) sits beside its key
        let from_marker = marker_of(&from)?;
        let marked = matches!(
            self.store.head_object(&self.container, &from_marker).await,
            Ok(info) if info.meta.directory
        );
        if marked {
            self.store
                .copy_object(
                    (&self.container, &from_marker),
                    (&self.container, &marker_of(&to)?),
                    false,
                )
                .await?;
        } else if objects.is_empty() {
            // an implicit folder made empty by its last file: give it a marker there
            self.put_marker(&to).await?;
        }
        for (name, _) in &objects {
            match self
                .store
                .delete_object(&self.container, &ObjectName::new(name.clone())?)
                .await
            {
                Ok(()) | Err(SwiftError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if marked {
            match self
                .store
                .delete_object(&self.container, &from_marker)
                .await
            {
                Ok(()) | Err(SwiftError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        log::info!("renamed folder {from} to {to}: {} objects", objects.len());
        Ok((objects, listed))
    }
}

/// Rows asked for to tell whether a folder is empty: its own marker and a few of
/// our deletions that a lagging replica still lists, and one more.
const PEEK_BELOW: u32 = 16;

/// The marker of the folder whose key is `key` (ending in `/`): the folder's name
/// without the slash, as svfs and cloudfuse write it, so that the listing of its
/// parent carries its mode, owner and times. (Markers ending in `/`, as swiftclient
/// and rclone write them, are folded into the parent's listing as bare names.)
pub(super) fn marker_of(key: &str) -> Result<ObjectName, FsError> {
    Ok(ObjectName::new(
        key.strip_suffix('/').unwrap_or(key).to_string(),
    )?)
}

/// Writes a folder marker: a zero-byte object with content type
/// `application/directory` and the folder's attributes.
async fn store_marker(
    store: &dyn ObjectStore,
    container: &ContainerName,
    marker: &ObjectName,
    meta: &ObjectMeta,
) -> Result<(), FsError> {
    store
        .put_object(container, marker, Bytes::new(), meta)
        .await?;
    Ok(())
}
