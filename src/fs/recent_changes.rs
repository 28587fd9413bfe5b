//! The mount's own recent changes to names, laid over listings: the one owner of
//! "this name was just removed, or just stored, by us".
//!
//! Swift updates container listings after the object write, and on a cluster each
//! container replica gets its own update. When an object server dies with updates it
//! has not sent, a replica lists what was there before until the replicators merge it
//! with the others (a pass or two), and the proxy picks a replica at random for each
//! listing. So right after `rm f` a listing may still show `f`, and right after a
//! create or rename it may miss the new name. For [`KEEP`] after a change the mount
//! trusts its own change over such a listing, unless the listing shows a version the
//! mount did not see (another writer's): see docs/SEMANTICS.md, "Consistency with
//! other writers".

use super::inode::Inode;
use super::listing::{EntryKind, entries_from_rows};
use crate::swift::{ListEntry, ListedObject};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a change outweighs listings that contradict it: several container
/// replication passes (30 s each by default) and the walk through the partitions.
const KEEP: Duration = Duration::from_secs(120);

/// Changes remembered at most; the oldest go first (a bulk delete of a big tree
/// must not pin memory).
const MAX_CHANGES: usize = 50_000;

/// Earlier versions remembered per name: a replica can lag by several of our
/// changes (a file truncated, then renamed away), never by many.
const MAX_EARLIER: usize = 8;

#[derive(Clone, Debug)]
enum Change {
    /// A file deleted by us; `etag` is the version we deleted (none for a large
    /// object, whose listed ETag is its manifest's: any version is ours).
    Removed { etag: Option<String> },
    /// A folder removed (or moved away) by us. A folder can come back by many ways
    /// (a file written below it, by us or anyone): only its marker alone is hidden.
    FolderRemoved,
    /// Stored (or made, for a folder) by us: this inode is what the name holds;
    /// `etag` is the version stored then (the inode moves on with later writes).
    Stored {
        inode: Arc<Inode>,
        etag: Option<String>,
    },
    /// Copied here by us from a name we knew only from a listing (a folder's rename
    /// moves what others or earlier mounts wrote), or a folder holding such copies:
    /// the row as it is listed now.
    Copied { row: ListEntry },
}

impl Change {
    fn version(&self) -> Option<&String> {
        match self {
            Change::Removed { etag } | Change::Stored { etag, .. } => etag.as_ref(),
            Change::Copied {
                row: ListEntry::Object(o),
            } => Some(&o.hash),
            Change::FolderRemoved | Change::Copied { .. } => None,
        }
    }
}

#[derive(Debug)]
struct Record {
    at: Instant,
    change: Change,
    /// Versions the name held before, replaced by us since: a replica that missed
    /// our changes shows one of them, and it is no newer than what we did.
    earlier: Vec<String>,
}

impl Record {
    /// Whether a listed or HEADed version `etag` of the name is one we replaced.
    fn replaced(&self, etag: &str) -> bool {
        self.earlier.iter().any(|e| e == etag)
    }

    /// Whether the name holds what we put there.
    fn stores(&self) -> bool {
        matches!(self.change, Change::Stored { .. } | Change::Copied { .. })
    }

    /// Whether a folder listed as its marker alone (`below`: with objects below it)
    /// is the one we removed.
    fn hides_folder(&self, below: bool) -> bool {
        matches!(self.change, Change::FolderRemoved) && !below
    }

    /// Whether a file Swift shows with `etag` is gone by our removal.
    fn removes(&self, etag: Option<&str>) -> bool {
        match (&self.change, etag) {
            (Change::Stored { .. } | Change::Copied { .. }, _) => false,
            (Change::FolderRemoved, e) => e.is_some_and(|e| self.replaced(e)),
            // a large object's: listings show its manifest's ETag
            (Change::Removed { etag: None }, _) => true,
            (Change::Removed { etag: Some(r) }, Some(e)) => r == e || self.replaced(e),
            (Change::Removed { etag: Some(_) }, None) => false,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Folder key (as listed: `""` or ending in `/`) → name → its latest change.
    by_dir: HashMap<String, HashMap<String, Record>>,
    /// Every change in the order made, to expire them (stale ones are skipped).
    order: VecDeque<(Instant, String, String)>,
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        while let Some((at, _, _)) = self.order.front() {
            if now.duration_since(*at) < KEEP && self.order.len() <= MAX_CHANGES {
                break;
            }
            let (at, dir, name) = self.order.pop_front().expect("front checked");
            if let Some(names) = self.by_dir.get_mut(&dir) {
                // only if no newer change to the name came since
                if names.get(&name).is_some_and(|r| r.at == at) {
                    names.remove(&name);
                }
                if names.is_empty() {
                    self.by_dir.remove(&dir);
                }
            }
        }
    }
}

/// What a listing of one folder must change to agree with our recent changes.
pub struct Overlay {
    /// Stored by us and missing from (or older in) the listing: shown as they are.
    pub stored: Vec<(String, Arc<Inode>)>,
    /// Folders we removed that the listing shows with objects below: hidden if
    /// those are only what we deleted ([`RecentChanges::lists_removed`]).
    pub check_below: Vec<String>,
}

#[derive(Default)]
pub struct RecentChanges {
    inner: Mutex<Inner>,
}

/// Splits a file's object name or a folder's key into its folder's key and its name.
fn split(key: &str) -> (&str, &str) {
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    match trimmed.rfind('/') {
        Some(i) => (&key[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    }
}

impl RecentChanges {
    /// Records `change` to `key`, which replaced version `replaced` (when known)
    /// and whatever we did to the name before.
    fn record(&self, key: &str, change: Change, replaced: Option<String>) {
        let (dir, name) = split(key);
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("recent changes");
        inner.expire(now);
        let names = inner.by_dir.entry(dir.to_string()).or_default();
        let mut earlier = Vec::new();
        let before = names.remove(name);
        let versions = before.as_ref().into_iter().flat_map(|b| {
            let own = b.change.version().into_iter();
            b.earlier.iter().chain(own)
        });
        for version in versions.chain(replaced.as_ref()) {
            if Some(version) != change.version() && !earlier.contains(version) {
                earlier.push(version.clone());
            }
        }
        let excess = earlier.len().saturating_sub(MAX_EARLIER);
        earlier.drain(..excess);
        names.insert(
            name.to_string(),
            Record {
                at: now,
                change,
                earlier,
            },
        );
        inner
            .order
            .push_back((now, dir.to_string(), name.to_string()));
    }

    /// The file `key` was deleted by us; `etag` is the version deleted, when known,
    /// and `replaced` the one before it (a rename first stores what is being written).
    pub fn removed(&self, key: &str, etag: Option<String>, replaced: Option<String>) {
        self.record(key, Change::Removed { etag }, replaced);
    }

    /// `key` now holds what `inode` says: we stored it over version `replaced`
    /// (when known), or made the folder.
    pub fn stored(&self, key: &str, inode: &Arc<Inode>, replaced: Option<String>) {
        let etag = inode.with_state(|s| s.etag.clone());
        let inode = inode.clone();
        self.record(key, Change::Stored { inode, etag }, replaced);
    }

    /// The folder `dir_key` was removed or moved away by us: nothing holds its name,
    /// and nothing we stored below it holds now (what we deleted there stays deleted:
    /// a lagging replica may still list it, and so bring the folder back).
    pub fn folder_removed(&self, dir_key: &str) {
        self.retain_below(dir_key, |r| !r.stores());
        self.record(dir_key, Change::FolderRemoved, None);
    }

    /// The folder `from` was moved to `to` by us (keys ending in `/`): `moved` are
    /// the objects deleted below `from` (names and versions), `listed` the rows the
    /// rename listed of them. A lagging replica may still list them below `from`
    /// and not yet below `to`: both names keep our side for a while.
    pub fn folder_moved(
        &self,
        from: &str,
        to: &str,
        moved: &[(String, Option<String>)],
        listed: Vec<ListedObject>,
    ) {
        // what we did below `to` before (a folder replaced) no longer holds: the
        // objects copied there are new, whatever we deleted there
        self.retain_below(to, |_| false);
        let renamed = |name: &str| format!("{to}{}", &name[from.len()..]);
        let mut folders = std::collections::BTreeSet::new();
        for (name, _) in moved {
            let rest = &name[from.len()..];
            for (i, _) in rest.match_indices('/') {
                folders.insert(renamed(&name[..=from.len() + i]));
            }
        }
        for subdir in folders {
            let row = ListEntry::Subdir {
                subdir: subdir.clone(),
            };
            self.record(&subdir, Change::Copied { row }, None);
        }
        for mut row in listed {
            row.name = renamed(&row.name);
            let key = row.name.clone();
            let row = ListEntry::Object(row);
            self.record(&key, Change::Copied { row }, None);
        }
        // what we stored (or copied) below `from` moved along, inodes and all
        let ours: Vec<(String, Change)> = {
            let mut inner = self.inner.lock().expect("recent changes");
            let mut ours = Vec::new();
            for (dir, names) in inner.by_dir.iter_mut().filter(|(d, _)| d.starts_with(from)) {
                let stored: Vec<String> = names
                    .iter()
                    .filter(|(_, r)| r.stores())
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in stored {
                    let mut change = names.remove(&name).expect("listed just above").change;
                    if let Change::Copied { row } = &mut change {
                        match row {
                            ListEntry::Object(o) => o.name = renamed(&o.name),
                            ListEntry::Subdir { subdir } => *subdir = renamed(subdir),
                        }
                    }
                    ours.push((renamed(&format!("{dir}{name}")), change));
                }
            }
            inner.by_dir.retain(|_, names| !names.is_empty());
            ours
        };
        for (key, change) in ours {
            self.record(&key, change, None);
        }
        self.folder_removed(from);
        for (name, etag) in moved {
            self.removed(name, etag.clone(), None);
        }
    }

    /// Keeps of the records below folder `dir_key` those `keep` says.
    fn retain_below(&self, dir_key: &str, keep: impl Fn(&Record) -> bool) {
        let mut inner = self.inner.lock().expect("recent changes");
        inner.by_dir.retain(|dir, names| {
            if dir.starts_with(dir_key) {
                names.retain(|_, r| keep(r));
            }
            !names.is_empty()
        });
    }

    /// Lays our changes over the entries a listing of folder `dir_key` gave:
    /// names we removed go (unless they show a version we never saw), and names we
    /// stored are taken from us (the caller adds `stored`; their rows are dropped so
    /// that a stale row cannot turn our attributes back).
    pub fn overlay(&self, dir_key: &str, entries: &mut BTreeMap<String, EntryKind>) -> Overlay {
        let mut inner = self.inner.lock().expect("recent changes");
        inner.expire(Instant::now());
        let mut overlay = Overlay {
            stored: Vec::new(),
            check_below: Vec::new(),
        };
        let Some(names) = inner.by_dir.get(dir_key) else {
            return overlay;
        };
        for (name, record) in names {
            match &record.change {
                Change::Removed { .. } | Change::FolderRemoved => {
                    let stale = match entries.get(name) {
                        Some(EntryKind::File(row)) => record.removes(Some(&row.etag)),
                        Some(EntryKind::Dir { below, .. }) => {
                            if *below && matches!(record.change, Change::FolderRemoved) {
                                overlay.check_below.push(name.clone());
                            }
                            record.hides_folder(*below)
                        }
                        None => false,
                    };
                    if stale {
                        log::debug!("listing of {dir_key:?} still shows {name:?}, deleted by us");
                        entries.remove(name);
                    }
                }
                Change::Stored { inode, .. } => {
                    let ours = inode.with_state(|s| s.etag.clone());
                    let agrees = match entries.get(name) {
                        Some(EntryKind::File(row)) => ours.as_deref() == Some(row.etag.as_str()),
                        Some(EntryKind::Dir { .. }) => inode.kind == super::NodeKind::Dir,
                        None => false,
                    };
                    if !agrees {
                        log::debug!("listing of {dir_key:?} misses our {name:?}: shown as stored");
                        entries.remove(name);
                        overlay.stored.push((name.clone(), inode.clone()));
                    }
                }
                Change::Copied { row } => {
                    if !entries.contains_key(name) {
                        log::debug!("listing of {dir_key:?} misses {name:?}, copied by us");
                        let (copied, _) = entries_from_rows(dir_key, std::slice::from_ref(row));
                        entries.extend(copied);
                    }
                }
            }
        }
        overlay
    }

    /// What we copied to `key` (see [`RecentChanges::folder_moved`]), as the listing
    /// of its folder shows it.
    pub fn copied(&self, key: &str) -> Option<EntryKind> {
        let (dir, name) = split(key);
        let row = self
            .with_record(key, |r| match &r.change {
                Change::Copied { row } => Some(row.clone()),
                _ => None,
            })
            .flatten()?;
        entries_from_rows(dir, std::slice::from_ref(&row))
            .0
            .remove(name)
    }

    /// What `ask` says of the record of `key`'s name (`None` without one).
    fn with_record<T>(&self, key: &str, ask: impl FnOnce(&Record) -> T) -> Option<T> {
        let (dir, name) = split(key);
        let mut inner = self.inner.lock().expect("recent changes");
        inner.expire(Instant::now());
        inner.by_dir.get(dir)?.get(name).map(ask)
    }

    /// Whether the file Swift shows under `key` (its version `etag`) is what we
    /// deleted: then the name is gone, whatever a lagging replica says.
    pub fn is_removed(&self, key: &str, etag: Option<&str>) -> bool {
        self.with_record(key, |r| r.removes(etag)).unwrap_or(false)
    }

    /// Whether the folder marker Swift shows under `key` (`below`: with objects
    /// below it) is the folder we removed.
    pub fn hides_folder(&self, key: &str, below: bool) -> bool {
        self.with_record(key, |r| r.hides_folder(below))
            .unwrap_or(false)
    }

    /// Whether we removed the folder `key` (its name, without the slash) lately:
    /// then objects listed below it may be ours, deleted, from a lagging replica.
    pub fn removed_folder(&self, key: &str) -> bool {
        self.with_record(key, |r| matches!(r.change, Change::FolderRemoved))
            .unwrap_or(false)
    }

    /// The objects (names and versions) and folders (marker names) we stored below
    /// the folder `dir_key` lately: a lagging replica may not list them yet.
    pub fn stored_below(&self, dir_key: &str) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        self.each_stored_below(dir_key, |name, etag| {
            out.push((name, etag.cloned()));
            true
        });
        out
    }

    /// Whether we stored anything below the folder `dir_key` lately.
    pub fn any_stored_below(&self, dir_key: &str) -> bool {
        let mut any = false;
        self.each_stored_below(dir_key, |_, _| {
            any = true;
            false
        });
        any
    }

    /// Calls `each` with the name and version of what we stored below `dir_key`
    /// (copied folders hold nothing of their own) until it returns false.
    fn each_stored_below(
        &self,
        dir_key: &str,
        mut each: impl FnMut(String, Option<&String>) -> bool,
    ) {
        let mut inner = self.inner.lock().expect("recent changes");
        inner.expire(Instant::now());
        for (dir, names) in inner.by_dir.iter().filter(|(d, _)| d.starts_with(dir_key)) {
            for (name, record) in names {
                let etag = match &record.change {
                    Change::Stored { etag, .. } => etag.as_ref(),
                    Change::Copied {
                        row: ListEntry::Object(o),
                    } => Some(&o.hash),
                    _ => continue,
                };
                if !each(format!("{dir}{name}"), etag) {
                    return;
                }
            }
        }
    }

    /// Whether a listing's row is an object we deleted (a lagging replica's): a
    /// file's version we deleted, or the marker of a folder we removed.
    pub fn lists_removed(&self, row: &ListEntry) -> bool {
        match row {
            ListEntry::Object(o) if o.name.ends_with('/') || o.meta().directory => {
                self.hides_folder(&o.name, false) || self.is_removed(&o.name, Some(&o.hash))
            }
            ListEntry::Object(o) => self.is_removed(&o.name, Some(&o.hash)),
            ListEntry::Subdir { .. } => false,
        }
    }

    /// What we stored under `key` lately, if Swift shows `etag` there: a version we
    /// replaced, from a replica that missed our change.
    pub fn stored_over(&self, key: &str, etag: Option<&str>) -> Option<Arc<Inode>> {
        self.with_record(key, |r| match &r.change {
            Change::Stored { inode, .. } if etag.is_some_and(|e| r.replaced(e)) => {
                Some(inode.clone())
            }
            _ => None,
        })
        .flatten()
    }

    /// What we stored under `key`, if it was us, lately.
    pub fn stored_inode(&self, key: &str) -> Option<Arc<Inode>> {
        self.with_record(key, |r| match &r.change {
            Change::Stored { inode, .. } => Some(inode.clone()),
            Change::Removed { .. } | Change::FolderRemoved | Change::Copied { .. } => None,
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_folder_and_name() {
        assert_eq!(split("a"), ("", "a"));
        assert_eq!(split("p/a"), ("p/", "a"));
        assert_eq!(split("p/q/"), ("p/", "q"));
        assert_eq!(split("q/"), ("", "q"));
    }
}
