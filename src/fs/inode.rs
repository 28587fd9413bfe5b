//! Inodes: a number for each path seen, stable for the life of the mount.
//!
//! Identity (number, parent, name, object key, kind) never changes; what Swift says
//! about the object (size, mtime, ETag) lives behind a lock and is refreshed from
//! listings and HEADs. A path that turns from file into folder (or back) gets a new
//! inode, so the kernel never sees an inode change kind.

use super::listing::FileMeta;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

pub const ROOT_INO: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
}

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
}

#[derive(Debug)]
pub struct Inode {
    pub ino: u64,
    pub parent: u64,
    /// For a file, its object name; for a folder, the listing prefix (`""` or
    /// ending in `/`).
    pub key: String,
    pub kind: NodeKind,
    state: Mutex<NodeState>,
}

impl Inode {
    pub fn state(&self) -> NodeState {
        self.state.lock().expect("inode lock").clone()
    }

    /// Applies a listing row: size and ETag; the listing's time unless a HEAD told
    /// the mtime of this very version.
    pub fn update_from_listing(&self, meta: &FileMeta, fallback_time: SystemTime) {
        let mut s = self.state.lock().expect("inode lock");
        if s.etag.as_deref() != Some(meta.etag.as_str()) {
            s.headed_at = None;
        }
        s.size = meta.size;
        s.etag = Some(meta.etag.clone());
        s.mtime = match &s.meta_mtime {
            Some((etag, t)) if *etag == meta.etag => *t,
            _ => meta.modified.unwrap_or(fallback_time),
        };
    }

    /// Applies a HEAD: the authoritative size (SLO, DLO) and `X-Object-Meta-Mtime`.
    pub fn update_from_head(
        &self,
        size: u64,
        etag: Option<String>,
        modified: Option<SystemTime>,
        meta_mtime: Option<SystemTime>,
    ) {
        let mut s = self.state.lock().expect("inode lock");
        s.size = size;
        s.etag = etag.clone();
        s.headed_at = Some(Instant::now());
        s.meta_mtime = match (etag, meta_mtime) {
            (Some(e), Some(t)) => Some((e, t)),
            _ => None,
        };
        if let Some(t) = meta_mtime.or(modified) {
            s.mtime = t;
        }
    }
}

/// Parses `X-Object-Meta-Mtime`: seconds since the epoch, with a fraction
/// (rclone writes nanoseconds, swiftclient microseconds).
pub fn parse_meta_mtime(v: &str) -> Option<SystemTime> {
    let secs: f64 = v.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs))
}

#[derive(Default)]
struct Table {
    by_ino: HashMap<u64, Arc<Inode>>,
    by_name: HashMap<(u64, String), u64>,
    next: u64,
}

/// All inodes of the mount. Entries live as long as the mount: a path keeps its
/// number, which tools that compare inode numbers (rsync, tar, find) rely on.
pub struct InodeTable {
    table: Mutex<Table>,
    created: SystemTime,
}

impl InodeTable {
    pub fn new(root_key: String) -> Self {
        let created = SystemTime::now();
        let root = Arc::new(Inode {
            ino: ROOT_INO,
            parent: ROOT_INO,
            key: root_key,
            kind: NodeKind::Dir,
            state: Mutex::new(dir_state(created)),
        });
        let mut table = Table {
            next: ROOT_INO + 1,
            ..Table::default()
        };
        table.by_ino.insert(ROOT_INO, root);
        InodeTable {
            table: Mutex::new(table),
            created,
        }
    }

    pub fn get(&self, ino: u64) -> Option<Arc<Inode>> {
        self.table
            .lock()
            .expect("inode table")
            .by_ino
            .get(&ino)
            .cloned()
    }

    /// The inode for `name` in `parent` with this kind, created if new (or if the
    /// path changed kind), updated from the listing row when one is given.
    pub fn upsert(
        &self,
        parent: &Inode,
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
                .and_then(|ino| t.by_ino.get(ino))
                .filter(|i| i.kind == kind)
                .cloned();
            match existing {
                Some(i) => i,
                None => {
                    let ino = t.next;
                    t.next += 1;
                    let object_key = match kind {
                        NodeKind::File => format!("{}{name}", parent.key),
                        NodeKind::Dir => format!("{}{name}/", parent.key),
                    };
                    let state = match kind {
                        NodeKind::Dir => dir_state(self.created),
                        NodeKind::File => NodeState {
                            size: 0,
                            mtime: self.created,
                            etag: None,
                            meta_mtime: None,
                            headed_at: None,
                        },
                    };
                    let inode = Arc::new(Inode {
                        ino,
                        parent: parent.ino,
                        key: object_key,
                        kind,
                        state: Mutex::new(state),
                    });
                    t.by_ino.insert(ino, inode.clone());
                    t.by_name.insert(key, ino);
                    inode
                }
            }
        };
        if let Some(meta) = meta {
            inode.update_from_listing(meta, self.created);
        }
        inode
    }
}

fn dir_state(t: SystemTime) -> NodeState {
    NodeState {
        size: 0,
        mtime: t,
        etag: None,
        meta_mtime: None,
        headed_at: None,
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
        }
    }

    #[test]
    fn numbers_are_stable_and_kind_changes_renumber() {
        let t = InodeTable::new("pre/".into());
        let root = t.get(ROOT_INO).unwrap();
        let a = t.upsert(&root, "a", NodeKind::File, Some(&meta(1, "e1")));
        assert_eq!(a.key, "pre/a");
        let again = t.upsert(&root, "a", NodeKind::File, Some(&meta(2, "e2")));
        assert_eq!(a.ino, again.ino);
        assert_eq!(again.state().size, 2);
        let dir = t.upsert(&root, "a", NodeKind::Dir, None);
        assert_ne!(dir.ino, a.ino);
        assert_eq!(dir.key, "pre/a/");
        let child = t.upsert(&dir, "b", NodeKind::File, None);
        assert_eq!((child.parent, child.key.as_str()), (dir.ino, "pre/a/b"));
    }

    #[test]
    fn head_mtime_survives_listing_of_same_version() {
        let t = InodeTable::new(String::new());
        let root = t.get(ROOT_INO).unwrap();
        let f = t.upsert(&root, "f", NodeKind::File, Some(&meta(5, "e1")));
        let m = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(42);
        f.update_from_head(5, Some("e1".into()), None, Some(m));
        f.update_from_listing(&meta(5, "e1"), SystemTime::now());
        assert_eq!(f.state().mtime, m);
        f.update_from_listing(&meta(6, "e2"), SystemTime::now());
        assert_ne!(f.state().mtime, m, "a new version has its own time");
    }

    #[test]
    fn meta_mtime_formats() {
        let t = parse_meta_mtime("1700000000.5").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
            1_700_000_000_500
        );
        assert!(parse_meta_mtime("1700000000.123456789").is_some());
        assert!(parse_meta_mtime("yesterday").is_none());
        assert!(parse_meta_mtime("-1").is_none());
    }
}
