//! Files: open, read, write, close, fsync and attribute changes.
//!
//! A file being written has one entry in the open-file registry, shared by all its
//! handles; what decides an upload is who closes: a writer's close (by the process
//! that opened it), an `fsync` on any handle, or the last close of any handle.

use super::handles::Handle;
use super::inode::Inode;
use super::open_files::OpenFile;
use super::reader::Reader;
use super::writer::{Base, Writer};
use super::{Attr, Caller, FsError, NodeKind, OpenMode, Opened, SwiftFs, name_str};
use crate::swift::{Manifest, ObjectInfo, ObjectMeta, ObjectName, PosixAttrs, SwiftError};
use bytes::Bytes;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A lookup's HEAD this young may serve the open that follows it.
const RECENT_HEAD: Duration = Duration::from_secs(1);
/// Bytes an open for reading fetches with the object's headers.
const OPEN_WINDOW: u64 = 256 * 1024;

/// What `setattr` changes (`truncate`, `utimes`, `chmod`, `chown`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub size: Option<u64>,
    pub mtime: Option<SystemTime>,
    /// Permission bits (the file type is kept).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl SetAttr {
    fn is_empty(&self) -> bool {
        *self == SetAttr::default()
    }
}

impl SwiftFs {
    /// HEADs a file, updating its inode; `None` if it is not in Swift.
    pub(super) async fn head(&self, inode: &Inode) -> Result<Option<ObjectInfo>, FsError> {
        let object = self.object_name(inode)?;
        let head = match self.store.head_object(&self.container, &object).await {
            // a node that missed our change answered: ask them all
            Ok(info)
                if self
                    .recent
                    .stored_over(object.as_str(), info.etag.as_deref())
                    .is_some() =>
            {
                log::debug!("HEAD of {object}: a node still has the version we replaced");
                self.store.head_newest(&self.container, &object).await
            }
            head => head,
        };
        match head {
            Ok(mut info) => {
                let link = info.meta.swift_link.as_deref();
                self.adopt_swift_link(object.as_str(), link, &mut info.meta.posix);
                inode.update_from_head(&info);
                Ok(Some(info))
            }
            Err(SwiftError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// What an open for reading asks Swift: the object's headers and its first
    /// [`OPEN_WINDOW`] bytes in one GET (a whole small file in one request, where a
    /// HEAD and then a GET would take two). `None` if it is not in Swift.
    async fn fetch_start(&self, inode: &Inode) -> Result<Option<(ObjectInfo, Bytes)>, FsError> {
        let object = self.object_name(inode)?;
        // What we stored lately is asked for by its ETag: a replica that missed it
        // answers 412, and the proxy asks the next one. Refused by all, someone else
        // replaced it since: whatever Swift has now is opened.
        let ours = self
            .recent
            .stored_inode(object.as_str())
            .filter(|stored| stored.ino == inode.ino)
            .and_then(|stored| stored.with_state(|s| s.etag.clone()));
        let get = |pin: Option<String>| {
            let object = &object;
            async move {
                self.store
                    .get_range_with_info(&self.container, object, 0..OPEN_WINDOW, pin.as_deref())
                    .await
            }
        };
        let first = match get(ours.clone()).await {
            Err(SwiftError::PreconditionFailed(_)) if ours.is_some() => get(None).await,
            first => first,
        };
        match first {
            Ok((info, head)) => {
                inode.update_from_head(&info);
                Ok(Some((info, head)))
            }
            // an empty object has no range to give
            Err(SwiftError::RangeNotSatisfiable(_)) => {
                Ok(self.head(inode).await?.map(|info| (info, Bytes::new())))
            }
            Err(SwiftError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a file. For reading, the first GET confirms the version (and learns the
    /// real size of large objects), and reads are pinned to it; a file being written
    /// through the mount is read from what its writers hold instead. For writing, the
    /// file's one entry in the registry is shared by all its handles.
    pub async fn open(&self, ino: u64, mode: OpenMode) -> Result<Opened, FsError> {
        let inode = self.inode(ino)?;
        match inode.kind {
            NodeKind::File => {}
            NodeKind::Dir => return Err(FsError::IsADirectory),
            // the kernel opens fifos itself and follows links before opening
            NodeKind::Symlink | NodeKind::Fifo | NodeKind::Socket => return Err(FsError::NotAFile),
        }
        let unchanged = Opened {
            fh: 0,
            keep_cache: false,
            attr_changed: false,
        };
        if mode.write {
            self.writable()?;
            let file = self.open_for_writing(&inode).await?;
            if mode.truncate {
                file.content().await.truncate(0).await?;
            }
            let fh = self.handles.add(Handle::Open {
                file,
                writable: true,
                opener: mode.opener,
            });
            return Ok(Opened { fh, ..unchanged });
        }
        if let Some(file) = self.open_files.share(ino) {
            let fh = self.handles.add(Handle::Open {
                file,
                writable: false,
                opener: mode.opener,
            });
            return Ok(Opened { fh, ..unchanged });
        }
        let before = inode.state();
        // the HEAD of the lookup just before (cat, cp of one file) serves this open
        // once; any other open asks Swift again
        let (info, head) = match inode.take_offered_head(RECENT_HEAD) {
            Some(st) => (
                ObjectInfo {
                    size: st.size,
                    etag: st.etag,
                    last_modified: Some(st.mtime),
                    meta: ObjectMeta::default(),
                    manifest: st.manifest.then_some(Manifest::Slo),
                },
                Bytes::new(),
            ),
            None => match self.fetch_start(&inode).await? {
                Some(found) => found,
                None => {
                    self.dirs.invalidate(inode.parent());
                    return Err(FsError::NotFound);
                }
            },
        };
        let keep_cache = inode.note_opened(info.etag.as_deref());
        // Swift compares `If-Match` with a large object's own ETag (the one its GET
        // and HEAD answer), so large objects are pinned like any other
        let reader = Reader::new(
            self.store.clone(),
            self.container.clone(),
            self.object_name(&inode)?,
            info.size,
            info.etag,
            head,
        );
        let fh = self
            .handles
            .add(Handle::Remote(Arc::new(tokio::sync::Mutex::new(reader))));
        let after = inode.state();
        Ok(Opened {
            fh,
            keep_cache,
            attr_changed: before.size != after.size || before.mtime != after.mtime,
        })
    }

    /// One more handle on the file's registry entry, made on first need from a HEAD.
    pub(super) async fn open_for_writing(
        &self,
        inode: &Arc<Inode>,
    ) -> Result<Arc<OpenFile>, FsError> {
        if let Some(file) = self.open_files.share(inode.ino) {
            return Ok(file);
        }
        // the kernel's pages of the file will hold what is written, stored or not
        inode.forget_cached_version();
        let info = self.head(inode).await?;
        let base = match &info {
            Some(i) => Base {
                size: i.size,
                exists: true,
                is_slo: i.manifest == Some(Manifest::Slo),
            },
            None => Base::default(),
        };
        let mut meta = info.map(|i| i.meta).unwrap_or_default();
        meta.mtime.get_or_insert(inode.state().mtime);
        let writer = Writer::new(self.upload.clone(), self.object_name(inode)?, base, meta);
        Ok(self.open_files.open(inode, writer, false))
    }

    /// Creates a new file (or opens an existing one, as `O_CREAT` without `O_EXCL`)
    /// with the permission bits of `mode`, owned by `caller`.
    pub async fn create(
        &self,
        parent: u64,
        name: &OsStr,
        exclusive: bool,
        opener: Option<u32>,
        mode: u32,
        caller: Caller,
    ) -> Result<(Attr, Opened), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        self.check_new_name(&parent, name)?;
        match self.child(&parent, name).await {
            Ok(_) if exclusive => return Err(FsError::Exists),
            Ok(existing) if existing.kind == NodeKind::Dir => return Err(FsError::IsADirectory),
            Ok(existing) if existing.kind != NodeKind::File => return Err(FsError::NotAFile),
            Ok(existing) => {
                let mode = OpenMode {
                    write: true,
                    truncate: false,
                    opener,
                };
                let opened = self.open(existing.ino, mode).await?;
                return Ok((self.entry_for_kernel(&existing), opened));
            }
            Err(FsError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let inode = self.inodes.upsert(&parent, name, NodeKind::File, None);
        let posix = self.new_posix(NodeKind::File, mode, caller);
        let writer = Writer::new_file(self.upload.clone(), self.object_name(&inode)?, posix);
        let file = self.open_files.open(&inode, writer, true);
        self.dirs.added(parent.ino, name, inode.clone());
        let fh = self.handles.add(Handle::Open {
            file,
            writable: true,
            opener,
        });
        let opened = Opened {
            fh,
            keep_cache: false,
            attr_changed: false,
        };
        Ok((self.entry_for_kernel(&inode), opened))
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes, FsError> {
        log::trace!("read fh {fh} offset {offset} size {size}");
        match self.handles.get(fh)? {
            Handle::Remote(r) => Ok(r.lock().await.read(offset, size).await?),
            Handle::Open { file, .. } => file.content().await.read(offset, size).await,
            Handle::Dir(_) => Err(FsError::IsADirectory),
        }
    }

    pub async fn write(&self, fh: u64, offset: u64, data: Bytes) -> Result<u32, FsError> {
        let Handle::Open {
            file,
            writable: true,
            ..
        } = self.handles.get(fh)?
        else {
            return Err(FsError::NotWritable);
        };
        let len = data.len() as u32;
        file.content().await.write(offset, data).await?;
        Ok(len)
    }

    /// `close()` of a handle: a writer's close uploads what the file holds, if
    /// anything changed, and returns only once it is in Swift, or with the reason it
    /// is not. A reader's close uploads nothing.
    ///
    /// `closer` is the closing process (thread-group id). A close by another process
    /// than the opener does not upload either: that is a child that inherited the
    /// descriptor closing its copy (every fork-and-exec does), in the middle of the
    /// opener's writes; the opener's own close (or the last one, at release) uploads.
    pub async fn flush(&self, fh: u64, closer: Option<u32>) -> Result<(), FsError> {
        let Handle::Open {
            file,
            writable: true,
            opener,
        } = self.handles.get(fh)?
        else {
            return Ok(());
        };
        if let (Some(opener), Some(closer)) = (opener, closer)
            && opener != closer
        {
            log::debug!("close of fh {fh} by process {closer}, opened by {opener}: not uploading");
            return Ok(());
        }
        self.store_content(&file).await
    }

    /// `fsync()` on any handle: the file's content as it is now goes to Swift, as a
    /// disk would make it durable, whoever asks.
    pub async fn fsync(&self, fh: u64) -> Result<(), FsError> {
        match self.handles.get(fh)? {
            Handle::Open { file, .. } => self.store_content(&file).await,
            Handle::Remote(_) | Handle::Dir(_) => Ok(()),
        }
    }

    async fn store_content(&self, file: &OpenFile) -> Result<(), FsError> {
        let replaced = file.inode.with_state(|s| s.etag.clone());
        if let Some(c) = file.commit().await? {
            let key = self.inodes.key(&file.inode);
            log::debug!("stored {key} ({} bytes)", c.size);
            self.recent.stored(&key, &file.inode, replaced);
        }
        Ok(())
    }

    /// Closes a handle for good; the last handle of a written file uploads what is
    /// left (a failure here can only be logged: the kernel ignores it).
    pub async fn release(&self, fh: u64) {
        if let Some(Handle::Open { file, .. }) = self.handles.remove(fh)
            && let Err(e) = self.close_file(&file).await
        {
            log::error!(
                "upload at close of {} failed, the change is lost: {e}",
                self.inodes.key(&file.inode)
            );
        }
    }

    /// Gives back one handle's use of a registry entry; the last one stores what is
    /// left, with the entry still registered, and then removes it.
    pub(super) async fn close_file(&self, file: &OpenFile) -> Result<(), FsError> {
        if !self.open_files.close(file) {
            return Ok(());
        }
        let stored = self.store_content(file).await;
        self.open_files.remove_unused(file.inode.ino);
        stored
    }

    /// The mode and owner stored with something new that `caller` makes.
    pub(super) fn new_posix(&self, kind: NodeKind, mode: u32, caller: Caller) -> PosixAttrs {
        let (uid, gid) = self.owner_of(caller);
        PosixAttrs {
            mode: Some(kind.type_bits() | (mode & 0o7777)),
            uid,
            gid,
            link: None,
        }
    }

    /// Applies a `setattr`'s mode and owner to stored attributes of a `kind`.
    pub(super) fn apply_perms(&self, posix: &mut PosixAttrs, kind: NodeKind, change: &SetAttr) {
        if let Some(mode) = change.mode {
            posix.mode = Some(kind.type_bits() | (mode & 0o7777));
        }
        let (uid, gid) = self.owner_of(Caller {
            uid: change.uid.unwrap_or(self.config.uid),
            gid: change.gid.unwrap_or(self.config.gid),
        });
        if change.uid.is_some() {
            posix.uid = uid;
        }
        if change.gid.is_some() {
            posix.gid = gid;
        }
    }

    /// Truncates, sets the modification time, changes mode or owner (the kernel has
    /// checked the caller may, `default_permissions`). Stored with the object, or a
    /// folder's marker.
    pub async fn setattr(&self, ino: u64, change: SetAttr) -> Result<Attr, FsError> {
        let inode = self.inode(ino)?;
        if change.is_empty() {
            return Ok(self.attr_of(&inode));
        }
        self.writable()?;
        if inode.kind == NodeKind::Dir {
            if change.size.is_some() {
                return Err(FsError::IsADirectory);
            }
            self.set_dir_attrs(&inode, &change).await?;
            return Ok(self.attr_of(&inode));
        }
        if change.size.is_some() && inode.kind != NodeKind::File {
            return Err(FsError::NotAFile);
        }
        // Like an open, a change and a close: stored now unless a handle of the file
        // is still open, whose close will store it.
        let file = self.open_for_writing(&inode).await?;
        let changed = async {
            let mut content = file.content().await;
            if let Some(size) = change.size {
                content.truncate(size).await?;
            }
            if let Some(t) = change.mtime {
                content.set_mtime(t);
            }
            if change.mode.is_some() || change.uid.is_some() || change.gid.is_some() {
                content.change_meta(|m| self.apply_perms(&mut m.posix, inode.kind, &change));
            }
            Ok::<_, FsError>(())
        }
        .await;
        let stored = self.close_file(&file).await;
        changed?;
        stored?;
        Ok(self.attr_of(&inode))
    }

    /// The folder `parent` and a name that can be made there and is not taken (for
    /// mkdir, symlink, mknod), on a writable mount.
    pub(super) async fn free_name<'n>(
        &self,
        parent: u64,
        name: &'n OsStr,
    ) -> Result<(Arc<Inode>, &'n str), FsError> {
        self.writable()?;
        let parent = self.dir_inode(parent)?;
        let name = name_str(name)?;
        self.check_new_name(&parent, name)?;
        match self.child(&parent, name).await {
            Ok(_) => Err(FsError::Exists),
            Err(FsError::NotFound) => Ok((parent, name)),
            Err(e) => Err(e),
        }
    }

    /// Checks that a name can be made in `parent`: a valid segment, and a whole
    /// object name within Swift's limit (found here, not at close).
    pub(super) fn check_new_name(&self, parent: &Inode, name: &str) -> Result<(), FsError> {
        if let Some(problem) = super::listing::segment_problem(name) {
            return Err(FsError::InvalidName(problem.into()));
        }
        ObjectName::new(format!("{}{name}", self.inodes.key(parent)))?;
        Ok(())
    }
}
