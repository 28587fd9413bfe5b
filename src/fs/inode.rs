//! Inodes: a number for each path the kernel or the mount is using.
//!
//! Number and kind never change; the place (parent and name) changes only by rename,
//! and the object key is derived from it, so renaming a folder moves everything below
//! it at once. What Swift says about the object (size, mtime, ETag) lives behind a lock
//! and is refreshed from listings and HEADs. A path that turns from file into folder
//! (or back) gets a new inode, so the kernel never sees an inode change kind.
//!
//! An inode lives while something uses it: the kernel (its lookup count, given back
//! by `forget`), a cached listing, an open handle, or a child (each inode holds its
//! parent). Then it goes, and the same path looked up again later gets a new number:
//! memory is bounded by what the kernel and the listing cache hold, not by every path
//! ever seen.

use super::listing::FileMeta;
use super::writer::Committed;
use crate::swift::{ObjectInfo, PosixAttrs};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Instant, SystemTime};

pub const ROOT_INO: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
}

impl NodeKind {
    /// The kind of a (non-folder) object whose stored mode is `mode`.
    pub fn of_object(mode: Option<u32>) -> NodeKind {
        match mode.map(|m| m & libc::S_IFMT) {
            Some(libc::S_IFLNK) => NodeKind::Symlink,
            Some(libc::S_IFIFO) => NodeKind::Fifo,
            Some(libc::S_IFSOCK) => NodeKind::Socket,
            _ => NodeKind::File,
        }
    }

    /// The `S_IFMT` bits of this kind.
    pub fn type_bits(self) -> u32 {
        match self {
            NodeKind::File => libc::S_IFREG,
            NodeKind::Dir => libc::S_IFDIR,
            NodeKind::Symlink => libc::S_IFLNK,
            NodeKind::Fifo => libc::S_IFIFO,
            NodeKind::Socket => libc::S_IFSOCK,
        }
    }
}

/// Extended attributes as a HEAD read them, for one version of the object.
pub type Xattrs = Arc<BTreeMap<String, Vec<u8>>>;

/// What the object looks like now, as far as we know.
#[derive(Clone, Debug)]
pub struct NodeState {
    pub size: u64,
    pub mtime: SystemTime,
    pub etag: Option<String>,
    /// `X-Object-Meta-Mtime` learnt from a HEAD, valid while the ETag is unchanged
    /// (listings do not carry metadata, and must not overwrite it).
    pub meta_mtime: Option<(String, SystemTime)>,
    /// When a HEAD last confirmed size and ETag (listings do not see DLO sizes).
    pub headed_at: Option<Instant>,
    /// A large-object manifest, as of that HEAD.
    pub manifest: bool,
    /// That HEAD came from a lookup and no open has used it yet.
    head_unused: bool,
    /// The ETag of the version whose pages the kernel may still cache (that of the
    /// last open).
    pub cached_etag: Option<String>,
    /// Mode, owner and link target as stored (from listings and HEADs; a folder's
    /// from its marker).
    pub posix: PosixAttrs,
    /// The object has extended attributes, as the last listing or HEAD said.
    pub has_xattrs: bool,
    /// Those attributes, read by a HEAD of the version with this ETag.
    pub xattrs: Option<(String, Xattrs)>,
}

#[derive(Debug)]
pub struct Inode {
    pub ino: u64,
    pub kind: NodeKind,
    place: Mutex<Place>,
    state: Mutex<NodeState>,
}

#[derive(Clone, Debug)]
struct Place {
    /// `None` for the root.
    parent: Option<Arc<Inode>>,
    name: String,
}

impl Inode {
    /// The parent's number (the root is its own parent).
    pub fn parent(&self) -> u64 {
        self.place
            .lock()
            .expect("inode place")
            .parent
            .as_ref()
            .map_or(ROOT_INO, |p| p.ino)
    }

    pub fn name(&self) -> String {
        self.place.lock().expect("inode place").name.clone()
    }

    pub fn state(&self) -> NodeState {
        self.state.lock().expect("inode lock").clone()
    }

    /// Applies a listing row: size and ETag; the listing's time unless a HEAD told
    /// the mtime of this very version.
    pub fn update_from_listing(&self, meta: &FileMeta, fallback_time: SystemTime) {
        let mut s = self.state.lock().expect("inode lock");
        // The ETag is replaced only when it changed: every listing of a big folder
        // would otherwise swap in a new string per entry, long-lived small strings
        // scattered among the listing's freed rows, which keep the allocator from
        // reusing that memory (100,000 entries fetched ten times: 15 MiB more RSS).
        if s.etag.as_deref() != Some(meta.etag.as_str()) {
            s.headed_at = None;
            s.etag = Some(meta.etag.clone());
        }
        s.size = meta.size;
        if s.posix != meta.posix {
            s.posix = meta.posix.clone();
        }
        s.has_xattrs = meta.xattrs;
        s.mtime = match (&meta.mtime, &s.meta_mtime) {
            (Some(t), _) => *t,
            (None, Some((etag, t))) if *etag == meta.etag => *t,
            _ => meta.modified.unwrap_or(fallback_time),
        };
    }

    /// Applies a HEAD: the authoritative size (SLO, DLO) and `X-Object-Meta-Mtime`.
    pub fn update_from_head(&self, info: &ObjectInfo) {
        let meta_mtime = info.meta.mtime;
        let mut s = self.state.lock().expect("inode lock");
        s.size = info.size;
        s.etag = info.etag.clone();
        s.headed_at = Some(Instant::now());
        s.head_unused = false;
        s.manifest = info.manifest.is_some();
        s.meta_mtime = match (&info.etag, meta_mtime) {
            (Some(e), Some(t)) => Some((e.clone(), t)),
            _ => None,
        };
        s.posix = info.meta.posix.clone();
        s.has_xattrs = !info.meta.xattrs.is_empty();
        s.xattrs = info
            .etag
            .clone()
            .map(|e| (e, Arc::new(info.meta.xattrs.clone())));
        if let Some(t) = meta_mtime.or(info.last_modified) {
            s.mtime = t;
        }
    }

    /// Lets the next `open` use the HEAD a lookup just made, once.
    pub fn offer_head(&self) {
        self.state.lock().expect("inode lock").head_unused = true;
    }

    /// The state of a HEAD offered by a lookup younger than `max_age`, used up.
    pub fn take_offered_head(&self, max_age: std::time::Duration) -> Option<NodeState> {
        let mut s = self.state.lock().expect("inode lock");
        let fresh = s.head_unused && s.headed_at.is_some_and(|t| t.elapsed() < max_age);
        s.head_unused = false;
        fresh.then(|| s.clone())
    }

    /// Records the ETag of the version just opened; whether the kernel's cached pages
    /// (of the version opened before) are still that version's.
    pub fn note_opened(&self, etag: Option<&str>) -> bool {
        let mut s = self.state.lock().expect("inode lock");
        let same = etag.is_some() && s.cached_etag.as_deref() == etag;
        s.cached_etag = etag.map(str::to_string);
        same
    }

    /// The kernel's cached pages of the file no longer show a stored version.
    pub fn forget_cached_version(&self) {
        self.state.lock().expect("inode lock").cached_etag = None;
    }

    /// What an upload through the mount (or a folder marker's PUT) stored.
    pub fn update_from_commit(&self, c: &Committed) {
        let mut s = self.state.lock().expect("inode lock");
        s.size = c.size;
        s.mtime = c.mtime;
        s.meta_mtime = Some((c.etag.clone(), c.mtime));
        s.etag = Some(c.etag.clone());
        s.manifest = c.large;
        s.headed_at = Some(Instant::now());
        s.posix = c.posix.clone();
        s.has_xattrs = !c.xattrs.is_empty();
        s.xattrs = Some((c.etag.clone(), c.xattrs.clone()));
    }

    /// A link target read from the object's body (it was too long for the listing).
    pub fn learn_link(&self, target: &str) {
        self.state.lock().expect("inode lock").posix.link = Some(target.to_string());
    }

    /// Reads the state without copying it (attributes of every listed entry).
    pub fn with_state<T>(&self, f: impl FnOnce(&NodeState) -> T) -> T {
        f(&self.state.lock().expect("inode lock"))
    }

    /// Attributes known before Swift has them (a folder whose marker is being
    /// stored), or that Swift never has (the mount's root has no object).
    pub fn set_attrs(&self, mtime: Option<SystemTime>, posix: PosixAttrs) {
        let mut s = self.state.lock().expect("inode lock");
        if let Some(t) = mtime {
            s.mtime = t;
        }
        s.posix = posix;
    }
}

struct Table {
    by_ino: HashMap<u64, Weak<Inode>>,
    by_name: HashMap<(u64, String), Weak<Inode>>,
    /// Inodes the kernel was told about, with its lookup count: kept alive until it
    /// forgets them.
    kernel: HashMap<u64, (Arc<Inode>, u64)>,
    next: u64,
    /// Live entries after the last sweep of dead ones, and inodes the kernel gave up
    /// since: the next sweep comes when the maps have doubled or the kernel let go
    /// of half of them, so sweeping costs O(1) per inode made or forgotten.
    swept_len: usize,
    released: usize,
}

/// The inodes of the mount.
pub struct InodeTable {
    table: Mutex<Table>,
    root: Arc<Inode>,
    root_key: String,
    created: SystemTime,
}

/// Inodes the table knows, and how many of them the kernel holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InodeCounts {
    pub known: usize,
    pub kernel: usize,
}

impl InodeTable {
    pub fn new(root_key: String) -> Self {
        let created = SystemTime::now();
        let root = Arc::new(Inode {
            ino: ROOT_INO,
            kind: NodeKind::Dir,
            place: Mutex::new(Place {
                parent: None,
                name: String::new(),
            }),
            state: Mutex::new(new_state(created)),
        });
        let mut table = Table {
            by_ino: HashMap::new(),
            by_name: HashMap::new(),
            kernel: HashMap::new(),
            next: ROOT_INO + 1,
            swept_len: 0,
            released: 0,
        };
        table.by_ino.insert(ROOT_INO, Arc::downgrade(&root));
        InodeTable {
            table: Mutex::new(table),
            root,
            root_key,
            created,
        }
    }

    pub fn get(&self, ino: u64) -> Option<Arc<Inode>> {
        if ino == ROOT_INO {
            return Some(self.root.clone());
        }
        self.table
            .lock()
            .expect("inode table")
            .by_ino
            .get(&ino)?
            .upgrade()
    }

    /// The mount root's key: its object-name prefix (`""` or ending in `/`).
    pub fn root_key(&self) -> &str {
        &self.root_key
    }

    /// The object name of a file, or the listing prefix of a folder (`""` or ending
    /// in `/`): the root's key, then each name on the way down.
    pub fn key(&self, inode: &Inode) -> String {
        let mut names = Vec::new();
        let mut cur = {
            let place = inode.place.lock().expect("inode place");
            names.push(place.name.clone());
            place.parent.clone()
        };
        while let Some(node) = cur {
            let place = node.place.lock().expect("inode place");
            if place.parent.is_some() {
                names.push(place.name.clone());
            }
            cur = place.parent.clone();
        }
        let mut key = self.root_key.clone();
        if inode.ino == ROOT_INO {
            return key;
        }
        for name in names.iter().rev() {
            key.push_str(name);
            key.push('/');
        }
        if inode.kind != NodeKind::Dir {
            key.pop();
        }
        key
    }

    /// The inode for `name` in `parent` with this kind, created if new (or if the
    /// path changed kind), updated from the listing row when one is given.
    pub fn upsert(
        &self,
        parent: &Arc<Inode>,
        name: &str,
        kind: NodeKind,
        meta: Option<&FileMeta>,
    ) -> Arc<Inode> {
        let inode = {
            let mut t = self.table.lock().expect("inode table");
            let key = (parent.ino, name.to_string());
            let existing = t
                .by_name
                .get(&key)
                .and_then(Weak::upgrade)
                .filter(|i| i.kind == kind);
            match existing {
                Some(i) => i,
                None => {
                    let ino = t.next;
                    t.next += 1;
                    let inode = Arc::new(Inode {
                        ino,
                        kind,
                        place: Mutex::new(Place {
                            parent: Some(parent.clone()),
                            name: name.to_string(),
                        }),
                        state: Mutex::new(new_state(self.created)),
                    });
                    t.by_ino.insert(ino, Arc::downgrade(&inode));
                    t.by_name.insert(key, Arc::downgrade(&inode));
                    t.sweep_if_due();
                    inode
                }
            }
        };
        if let Some(meta) = meta {
            inode.update_from_listing(meta, self.created);
        }
        inode
    }

    /// The kernel was handed `inode` (a lookup, create, mkdir or readdirplus entry):
    /// it holds one more reference until it forgets it.
    pub fn remember(&self, inode: &Arc<Inode>) {
        if inode.ino == ROOT_INO {
            return;
        }
        let mut t = self.table.lock().expect("inode table");
        t.kernel
            .entry(inode.ino)
            .or_insert_with(|| (inode.clone(), 0))
            .1 += 1;
    }

    /// The kernel gives back references (`(ino, n)` pairs); an inode left with none
    /// lives on only while something else uses it.
    pub fn forget(&self, refs: impl IntoIterator<Item = (u64, u64)>) {
        let mut t = self.table.lock().expect("inode table");
        for (ino, n) in refs {
            let Some((_, count)) = t.kernel.get_mut(&ino) else {
                continue;
            };
            *count = count.saturating_sub(n);
            if *count == 0 {
                t.kernel.remove(&ino);
                t.released += 1;
            }
        }
        t.sweep_if_due();
    }

    /// How many inodes are known, and held by the kernel.
    pub fn counts(&self) -> InodeCounts {
        let mut t = self.table.lock().expect("inode table");
        t.sweep();
        InodeCounts {
            known: t.by_ino.len(),
            kernel: t.kernel.len(),
        }
    }

    /// Forgets the name (after unlink or rmdir); a new file of that name gets a new
    /// number. The inode itself stays valid for handles still open on it.
    pub fn remove_name(&self, parent: u64, name: &str) {
        self.table
            .lock()
            .expect("inode table")
            .by_name
            .remove(&(parent, name.to_string()));
    }

    /// Moves an inode to a new place; whatever had that name loses it.
    pub fn rename(&self, inode: &Arc<Inode>, new_parent: &Arc<Inode>, new_name: &str) {
        let mut t = self.table.lock().expect("inode table");
        let mut place = inode.place.lock().expect("inode place");
        let old_parent = place.parent.as_ref().map_or(ROOT_INO, |p| p.ino);
        t.by_name.remove(&(old_parent, place.name.clone()));
        t.by_name.insert(
            (new_parent.ino, new_name.to_string()),
            Arc::downgrade(inode),
        );
        *place = Place {
            parent: Some(new_parent.clone()),
            name: new_name.to_string(),
        };
    }
}

impl Table {
    fn sweep_if_due(&mut self) {
        if self.by_ino.len() > 2 * self.swept_len + 1024 || self.released > self.swept_len / 2 {
            self.sweep();
        }
    }

    /// Drops the entries of inodes nothing uses any more.
    fn sweep(&mut self) {
        let before = self.by_ino.len();
        self.by_ino.retain(|_, w| w.strong_count() > 0);
        self.by_name.retain(|_, w| w.strong_count() > 0);
        self.swept_len = self.by_ino.len();
        self.released = 0;
        // a table that once held many more keeps their room otherwise
        shrink(&mut self.by_ino);
        shrink(&mut self.by_name);
        shrink(&mut self.kernel);
        if before - self.swept_len > 10_000 {
            log::debug!("{} inodes no longer used", before - self.swept_len);
            give_memory_back();
        }
    }
}

fn shrink<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 4 * map.len() + 1024 {
        map.shrink_to_fit();
    }
}

/// Returns freed heap memory to the system: a folder of 100,000 entries forgotten
/// leaves small freed blocks that glibc would otherwise keep for the process.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_memory_back() {
    // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_memory_back() {}

fn new_state(t: SystemTime) -> NodeState {
    NodeState {
        size: 0,
        mtime: t,
        etag: None,
        meta_mtime: None,
        headed_at: None,
        manifest: false,
        head_unused: false,
        cached_etag: None,
        posix: PosixAttrs::default(),
        has_xattrs: false,
        xattrs: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, etag: &str) -> FileMeta {
        FileMeta {
            size,
            etag: etag.into(),
            modified: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100)),
            mtime: None,
            posix: PosixAttrs::default(),
            xattrs: false,
            swift_link: None,
        }
    }

    #[test]
    fn numbers_are_stable_and_kind_changes_renumber() {
        let t = InodeTable::new("pre/".into());
        let root = t.get(ROOT_INO).unwrap();
        let a = t.upsert(&root, "a", NodeKind::File, Some(&meta(1, "e1")));
        assert_eq!(t.key(&a), "pre/a");
        let again = t.upsert(&root, "a", NodeKind::File, Some(&meta(2, "e2")));
        assert_eq!(a.ino, again.ino);
        assert_eq!(again.state().size, 2);
        let dir = t.upsert(&root, "a", NodeKind::Dir, None);
        assert_ne!(dir.ino, a.ino);
        assert_eq!(t.key(&dir), "pre/a/");
        let child = t.upsert(&dir, "b", NodeKind::File, None);
        assert_eq!(
            (child.parent(), t.key(&child).as_str()),
            (dir.ino, "pre/a/b")
        );
        // renaming the folder moves what is below it
        t.rename(&dir, &root, "z");
        assert_eq!(t.key(&child), "pre/z/b");
        assert_eq!(t.upsert(&root, "z", NodeKind::Dir, None).ino, dir.ino);
        t.remove_name(ROOT_INO, "z");
        assert_ne!(t.upsert(&root, "z", NodeKind::Dir, None).ino, dir.ino);
    }

    #[test]
    fn inodes_go_once_nothing_uses_them() {
        let t = InodeTable::new(String::new());
        let root = t.get(ROOT_INO).unwrap();
        let dir = t.upsert(&root, "d", NodeKind::Dir, None);
        let file = t.upsert(&dir, "f", NodeKind::File, None);
        let (d, f) = (dir.ino, file.ino);
        t.remember(&dir);
        t.remember(&file);
        t.remember(&file);
        drop((dir, file));
        assert!(t.get(f).is_some(), "the kernel still holds it");
        t.forget([(f, 1)]);
        assert!(t.get(f).is_some(), "one reference left");
        t.forget([(d, 1)]);
        assert!(t.get(d).is_some(), "a child holds its parent");
        assert_eq!(t.key(&t.get(f).unwrap()), "d/f");
        t.forget([(f, 1)]);
        assert!(t.get(f).is_none() && t.get(d).is_none());
        assert_eq!(
            t.counts(),
            InodeCounts {
                known: 1,
                kernel: 0
            }
        );
        // the same path again is a new inode
        let again = t.upsert(&root, "d", NodeKind::Dir, None);
        assert_ne!(again.ino, d);
        assert!(t.get(ROOT_INO).is_some(), "the root never goes");
    }

    #[test]
    fn head_mtime_survives_listing_of_same_version() {
        let t = InodeTable::new(String::new());
        let root = t.get(ROOT_INO).unwrap();
        let f = t.upsert(&root, "f", NodeKind::File, Some(&meta(5, "e1")));
        let m = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(42);
        f.update_from_head(&ObjectInfo {
            size: 5,
            etag: Some("e1".into()),
            last_modified: None,
            meta: crate::swift::ObjectMeta::with_mtime(m),
            manifest: None,
        });
        f.update_from_listing(&meta(5, "e1"), SystemTime::now());
        assert_eq!(f.state().mtime, m);
        f.update_from_listing(&meta(6, "e2"), SystemTime::now());
        assert_ne!(f.state().mtime, m, "a new version has its own time");
    }
}
