//! Directory listings kept for a while, so `ls -l`, `find` and lookups that follow a
//! listing cost no further requests.
//!
//! Bounded twice: an LRU on the number of directories, and a cap on the entries of
//! all cached directories together (a folder of 100,000 objects must not pin memory).
//!
//! Beside the listings, names a lookup found missing in a folder whose listing is not
//! cached (a big folder past the limits, or an expired listing) are remembered for
//! the same TTL: the `create` or `mkdir` that follows a failed lookup (the kernel
//! always looks a name up first) then costs no second HEAD and listing. A miss is
//! forgotten the moment the mount makes that name ([`DirCache::added`]); a name
//! another client makes is seen once the miss expires, as in listings.

use super::inode::Inode;
use lru::LruCache;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One directory's entries as of `fetched`.
#[derive(Clone, Debug)]
pub struct DirSnapshot {
    pub fetched: Instant,
    pub entries: BTreeMap<String, Arc<Inode>>,
}

pub struct DirCache {
    ttl: Duration,
    max_entries: usize,
    inner: Mutex<Inner>,
    misses: Mutex<Misses>,
}

struct Inner {
    lru: LruCache<u64, Arc<DirSnapshot>>,
    total_entries: usize,
    /// When expired listings were last dropped.
    swept: Instant,
}

/// Names known absent: `(folder, name)` and when Swift said so.
struct Misses {
    lru: LruCache<(u64, String), Instant>,
    /// Counts the names the mount made; `made[bucket]` is the count when a name of
    /// that bucket was last made. A lookup that was under way meanwhile may have
    /// been answered before the name existed: its miss is not remembered (see
    /// [`DirCache::remember_miss`]). Buckets of names rather than names: bounded, and
    /// 8 writers making different files rarely hinder each other.
    count: u64,
    made: [u64; MADE_BUCKETS],
    hasher: RandomState,
}

impl Misses {
    fn bucket(&self, dir: u64, name: &str) -> usize {
        (self.hasher.hash_one((dir, name)) % MADE_BUCKETS as u64) as usize
    }
}

/// Taken before a lookup asks Swift; a miss is remembered only with it.
#[derive(Clone, Copy, Debug)]
pub struct LookupTicket(u64);

/// Most names remembered missing (some 100 bytes each).
const MAX_MISSES: usize = 10_000;
const MADE_BUCKETS: usize = 256;

/// Expired listings are looked for at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl DirCache {
    pub fn new(ttl: Duration, max_dirs: usize, max_entries: usize) -> Self {
        DirCache {
            ttl,
            max_entries,
            inner: Mutex::new(Inner {
                lru: LruCache::new(NonZeroUsize::new(max_dirs.max(1)).expect("max(1)")),
                total_entries: 0,
                swept: Instant::now(),
            }),
            misses: Mutex::new(Misses {
                lru: LruCache::new(NonZeroUsize::new(MAX_MISSES).expect("not zero")),
                count: 0,
                made: [0; MADE_BUCKETS],
                hasher: RandomState::new(),
            }),
        }
    }

    /// To take before asking Swift whether a name exists.
    pub fn lookup_ticket(&self) -> LookupTicket {
        LookupTicket(self.misses.lock().expect("misses").count)
    }

    /// Remembers that Swift has no `name` in `dir`, unless the mount made a name of
    /// its bucket since `ticket` was taken (the answer may predate it).
    pub fn remember_miss(&self, dir: u64, name: &str, ticket: LookupTicket) {
        if self.ttl.is_zero() {
            return;
        }
        let mut misses = self.misses.lock().expect("misses");
        if misses.made[misses.bucket(dir, name)] > ticket.0 {
            return;
        }
        misses.lru.put((dir, name.to_string()), Instant::now());
    }

    /// Whether a lookup found `name` missing in `dir` less than the TTL ago.
    pub fn is_missing(&self, dir: u64, name: &str) -> bool {
        let mut misses = self.misses.lock().expect("misses");
        // a key is needed to look up: one allocation, as cheap as the lookup's own
        let key = (dir, name.to_string());
        match misses.lru.get(&key) {
            Some(at) if at.elapsed() < self.ttl => true,
            Some(_) => {
                misses.lru.pop(&key);
                false
            }
            None => false,
        }
    }

    /// The mount made `name` in `dir` (create, mkdir, symlink, mknod, rename): it is
    /// no longer missing, and it joins `dir`'s cached listing, if one is cached.
    pub fn added(&self, dir: u64, name: &str, inode: Arc<Inode>) {
        {
            let mut misses = self.misses.lock().expect("misses");
            misses.lru.pop(&(dir, name.to_string()));
            misses.count += 1;
            let bucket = misses.bucket(dir, name);
            misses.made[bucket] = misses.count;
        }
        self.patch(dir, |e| {
            e.insert(name.to_string(), inode);
        });
    }

    /// The cached listing of `dir`, if younger than the TTL.
    pub fn get_fresh(&self, dir: u64) -> Option<Arc<DirSnapshot>> {
        let mut inner = self.inner.lock().expect("dir cache");
        let snap = inner.lru.get(&dir)?.clone();
        if snap.fetched.elapsed() < self.ttl {
            return Some(snap);
        }
        inner.total_entries -= snap.entries.len();
        inner.lru.pop(&dir);
        None
    }

    pub fn insert(&self, dir: u64, snap: Arc<DirSnapshot>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.inner.lock().expect("dir cache");
        let n = snap.entries.len();
        if let Some((_, old)) = inner.lru.push(dir, snap) {
            inner.total_entries -= old.entries.len();
        }
        inner.total_entries += n;
        while inner.total_entries > self.max_entries && inner.lru.len() > 1 {
            match inner.lru.pop_lru() {
                Some((_, old)) => inner.total_entries -= old.entries.len(),
                None => break,
            }
        }
    }

    /// Applies a change made through the mount to `dir`'s cached listing, if one is
    /// cached, so the mount shows its own changes at once. In place, unless an open
    /// folder handle still reads that listing: then the change goes to a copy (once;
    /// the next changes find the copy theirs alone), and the handle keeps its own.
    pub fn patch(&self, dir: u64, change: impl FnOnce(&mut BTreeMap<String, Arc<Inode>>)) {
        let mut guard = self.inner.lock().expect("dir cache");
        let inner = &mut *guard;
        let Some(snap) = inner.lru.peek_mut(&dir) else {
            return;
        };
        let entries = &mut Arc::make_mut(snap).entries;
        let before = entries.len();
        change(entries);
        inner.total_entries = inner.total_entries + entries.len() - before;
    }

    /// Drops every listing older than the TTL (they are otherwise dropped only when
    /// asked for, or pushed out by newer ones). At most once a second.
    pub fn drop_expired(&self) {
        let mut guard = self.inner.lock().expect("dir cache");
        let inner = &mut *guard;
        if inner.swept.elapsed() < SWEEP_EVERY {
            return;
        }
        inner.swept = Instant::now();
        let expired: Vec<u64> = inner
            .lru
            .iter()
            .filter(|(_, snap)| snap.fetched.elapsed() >= self.ttl)
            .map(|(dir, _)| *dir)
            .collect();
        for dir in expired {
            if let Some(old) = inner.lru.pop(&dir) {
                inner.total_entries -= old.entries.len();
            }
        }
    }

    /// Forgets `dir`'s listing (after a change made through the mount).
    pub fn invalidate(&self, dir: u64) {
        let mut inner = self.inner.lock().expect("dir cache");
        if let Some(old) = inner.lru.pop(&dir) {
            inner.total_entries -= old.entries.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::inode::{InodeTable, NodeKind, ROOT_INO};

    fn snap(table: &InodeTable, n: usize) -> Arc<DirSnapshot> {
        let root = table.get(ROOT_INO).unwrap();
        let entries = (0..n)
            .map(|i| {
                let name = format!("f{i}");
                let inode = table.upsert(&root, &name, NodeKind::File, None);
                (name, inode)
            })
            .collect();
        Arc::new(DirSnapshot {
            fetched: Instant::now(),
            entries,
        })
    }

    #[test]
    fn ttl_expires_entries() {
        let t = InodeTable::new(String::new());
        let c = DirCache::new(Duration::from_millis(30), 10, 1000);
        c.insert(1, snap(&t, 3));
        assert!(c.get_fresh(1).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get_fresh(1).is_none());
    }

    #[test]
    fn bounded_by_dirs_and_entries() {
        let t = InodeTable::new(String::new());
        let c = DirCache::new(Duration::from_secs(60), 2, 10);
        c.insert(1, snap(&t, 4));
        c.insert(2, snap(&t, 4));
        c.insert(3, snap(&t, 4)); // dir count: 1 goes
        assert!(c.get_fresh(1).is_none());
        c.get_fresh(2); // 2 is now most recent
        c.insert(4, snap(&t, 4)); // 3 goes by LRU; 2+4 = 8 entries
        assert!(c.get_fresh(3).is_none());
        c.insert(5, snap(&t, 9)); // entry cap: everything older goes
        assert!(c.get_fresh(2).is_none() && c.get_fresh(4).is_none());
        assert!(c.get_fresh(5).is_some());
        c.invalidate(5);
        assert!(c.get_fresh(5).is_none());
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let t = InodeTable::new(String::new());
        let c = DirCache::new(Duration::ZERO, 2, 10);
        c.insert(1, snap(&t, 1));
        assert!(c.get_fresh(1).is_none());
    }
}
