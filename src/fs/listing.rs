//! Turning a Swift listing (with `delimiter=/`) into the entries of one directory.
//!
//! Object names are paths; the rules for names a directory cannot show:
//! - an empty segment (`a//b`), `.` or `..`, or a segment over 255 bytes: the object
//!   is left out (it stays in Swift, untouched);
//! - a name that is both an object and a folder (`a` and `a/b`): the folder wins and the
//!   object `a` is hidden, as in mountpoint-s3;
//! - a folder marker (`a/` zero-byte, or `a` with content type `application/directory`)
//!   and an implicit folder `a/` are the same directory.

use crate::swift::{ListEntry, ListedMeta, ListedObject, PosixAttrs};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Longest name a directory entry may have (NAME_MAX on Linux and macOS).
pub const NAME_MAX: usize = 255;

/// Why a path segment cannot be a file name.
pub fn segment_problem(seg: &str) -> Option<&'static str> {
    if seg.is_empty() {
        Some("empty path segment")
    } else if seg == "." || seg == ".." {
        Some("'.' or '..' segment")
    } else if seg.len() > NAME_MAX {
        Some("segment longer than 255 bytes")
    } else {
        None
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File(FileMeta),
    /// `marker` is the folder's own object, if it has one; `below`: objects below
    /// it were listed too (a `subdir` row), not just its marker.
    Dir {
        marker: Option<FileMeta>,
        below: bool,
    },
}

/// What a listing row says about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub etag: String,
    /// The listing's `last_modified`: when the object was stored.
    pub modified: Option<SystemTime>,
    /// The file's own mtime, when its content type carries it (files written or
    /// touched through swiftmount).
    pub mtime: Option<SystemTime>,
    /// Mode, owner and link target, when stored.
    pub posix: PosixAttrs,
    /// It has extended attributes.
    pub xattrs: bool,
    /// A Swift symlink's `container/object`.
    pub swift_link: Option<String>,
}

impl FileMeta {
    fn from_listing(o: &ListedObject, meta: ListedMeta) -> Self {
        FileMeta {
            size: o.bytes,
            etag: o.hash.clone(),
            modified: o.modified(),
            mtime: meta.mtime,
            posix: meta.posix,
            xattrs: meta.xattrs,
            swift_link: o.swift_link(),
        }
    }
}

/// Builds the entries of the directory whose objects start with `dir_key` (empty or
/// ending in `/`), from listing rows fetched with that prefix and `delimiter=/`.
/// Returns entries by name, and how many rows were left out.
pub fn entries_from_rows(
    dir_key: &str,
    rows: &[ListEntry],
) -> (BTreeMap<String, EntryKind>, usize) {
    let mut entries: BTreeMap<String, EntryKind> = BTreeMap::new();
    let mut skipped = 0;
    for row in rows {
        let (seg, kind) = match row {
            ListEntry::Subdir { subdir } => {
                let Some(rest) = subdir.strip_prefix(dir_key) else {
                    skipped += 1;
                    continue;
                };
                (
                    rest.strip_suffix('/').unwrap_or(rest),
                    EntryKind::Dir {
                        marker: None,
                        below: true,
                    },
                )
            }
            ListEntry::Object(o) => {
                let Some(rest) = o.name.strip_prefix(dir_key) else {
                    skipped += 1;
                    continue;
                };
                if rest.is_empty() {
                    // the folder's own `dir/` marker
                    continue;
                }
                let meta = o.meta();
                if let Some(seg) = rest.strip_suffix('/') {
                    // `name/` object when listing with a delimiter that Swift did not
                    // fold into a subdir (it does fold; kept for other implementations)
                    (
                        seg,
                        EntryKind::Dir {
                            marker: Some(FileMeta::from_listing(o, meta)),
                            below: false,
                        },
                    )
                } else if meta.directory {
                    (
                        rest,
                        EntryKind::Dir {
                            marker: Some(FileMeta::from_listing(o, meta)),
                            below: false,
                        },
                    )
                } else {
                    (rest, EntryKind::File(FileMeta::from_listing(o, meta)))
                }
            }
        };
        if let Some(problem) = segment_problem(seg) {
            log::debug!("hiding {dir_key}{seg:?}: {problem}");
            skipped += 1;
            continue;
        }
        match (entries.get_mut(seg), kind) {
            (None, kind) => {
                entries.insert(seg.to_string(), kind);
            }
            // a folder shadows a file of the same name
            (Some(existing @ EntryKind::File(_)), dir @ EntryKind::Dir { .. }) => {
                log::warn!("{dir_key}{seg} is both an object and a folder; showing the folder");
                skipped += 1;
                *existing = dir;
            }
            (Some(EntryKind::Dir { .. }), EntryKind::File(_)) => {
                log::warn!("{dir_key}{seg} is both an object and a folder; showing the folder");
                skipped += 1;
            }
            (
                Some(EntryKind::Dir { marker, below }),
                EntryKind::Dir {
                    marker: m,
                    below: b,
                },
            ) => {
                if marker.is_none() {
                    *marker = m;
                }
                *below |= b;
            }
            (Some(EntryKind::File(_)), EntryKind::File(_)) => skipped += 1,
        }
    }
    (entries, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, bytes: u64, ct: &str) -> ListEntry {
        ListEntry::Object(ListedObject {
            name: name.into(),
            bytes,
            hash: "h".into(),
            last_modified: "2026-11-25T10:00:00.000000".into(),
            content_type: ct.into(),
            symlink_path: None,
        })
    }

    fn sub(s: &str) -> ListEntry {
        ListEntry::Subdir { subdir: s.into() }
    }

    #[test]
    fn files_folders_and_markers() {
        let rows = vec![
            obj("p/", 0, "application/octet-stream"), // own marker
            obj("p/a.txt", 3, "text/plain"),
            sub("p/b/"),
            obj("p/c", 0, "application/directory"),
            sub("p/c/"),
            obj("p/d", 5, "text/plain"),
            sub("p/d/"),
            obj("p/e", 0, "application/directory"),
        ];
        let (e, skipped) = entries_from_rows("p/", &rows);
        assert_eq!(e.keys().collect::<Vec<_>>(), ["a.txt", "b", "c", "d", "e"]);
        assert!(matches!(
            e["a.txt"],
            EntryKind::File(FileMeta { size: 3, .. })
        ));
        assert!(matches!(
            e["b"],
            EntryKind::Dir {
                marker: None,
                below: true
            }
        ));
        assert!(
            matches!(
                e["c"],
                EntryKind::Dir {
                    marker: Some(_),
                    below: true
                }
            ),
            "marker and subdir merge"
        );
        assert!(
            matches!(e["e"], EntryKind::Dir { below: false, .. }),
            "a marker alone"
        );
        assert!(
            matches!(e["d"], EntryKind::Dir { .. }),
            "folder shadows file"
        );
        assert_eq!(skipped, 1);
    }

    #[test]
    fn unrepresentable_names_are_hidden_not_fatal() {
        let long = format!("p/{}", "x".repeat(256));
        let rows = vec![
            sub("p//"),
            obj("p/.", 1, ""),
            obj("p/..", 1, ""),
            obj(&long, 1, ""),
            obj("p/ok", 1, ""),
        ];
        let (e, skipped) = entries_from_rows("p/", &rows);
        assert_eq!(e.keys().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(skipped, 4);
    }
}
