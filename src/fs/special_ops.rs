//! Symbolic links, fifos and sockets: objects whose stored mode says what they are
//! (see docs/SEMANTICS.md, "Links, fifos and sockets").

use super::writer::Committed;
use super::{Attr, Caller, FsError, NodeKind, SwiftFs};
use crate::swift::{ObjectMeta, ObjectName, PosixAttrs};
use bytes::Bytes;
use futures::StreamExt;
use std::ffi::OsStr;
use std::time::SystemTime;

/// Longest symlink target (PATH_MAX less its terminating zero).
const LINK_MAX: usize = 4095;

impl SwiftFs {
    /// Makes a symbolic link. The target is kept as given, never resolved: relative,
    /// absolute, dangling or outside the mount alike.
    pub async fn symlink(
        &self,
        parent: u64,
        name: &OsStr,
        target: &OsStr,
        caller: Caller,
    ) -> Result<Attr, FsError> {
        let target = target
            .to_str()
            .ok_or_else(|| FsError::InvalidName("link target is not UTF-8".into()))?;
        if target.is_empty() {
            return Err(FsError::NotFound);
        }
        if target.len() > LINK_MAX {
            return Err(FsError::NameTooLong);
        }
        let mut posix = self.new_posix(NodeKind::Symlink, 0o777, caller);
        posix.link = Some(target.to_string());
        let folder = self.inodes.key(&*self.dir_inode(parent)?);
        let root = self.inodes.key(&*self.inode(super::ROOT_INO)?);
        let swift_link = match resolve_in_mount(&root, &folder, target) {
            Some(key) if self.config.swift_symlinks && ObjectMeta::link_is_listed(target) => {
                Some(format!("{}/{key}", self.container))
            }
            _ => None,
        };
        // A Swift symlink's body must be empty. Otherwise the body holds the target
        // too: other tools see it, and a target too long for the listing is read
        // from there.
        let body = match swift_link {
            Some(_) => Bytes::new(),
            None => Bytes::copy_from_slice(target.as_bytes()),
        };
        self.make_object(parent, name, NodeKind::Symlink, posix, body, swift_link)
            .await
    }

    /// `mknod`: fifos and sockets are zero-byte objects of that mode, a regular file
    /// an empty one; device nodes cannot be stored.
    pub async fn mknod(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        caller: Caller,
    ) -> Result<Attr, FsError> {
        let kind = match mode & libc::S_IFMT {
            libc::S_IFIFO => NodeKind::Fifo,
            libc::S_IFSOCK => NodeKind::Socket,
            0 | libc::S_IFREG => NodeKind::File,
            _ => return Err(FsError::NotPermitted("device nodes cannot be stored")),
        };
        let posix = self.new_posix(kind, mode, caller);
        self.make_object(parent, name, kind, posix, Bytes::new(), None)
            .await
    }

    /// Stores a new object of `kind` at once (it is small) and hands it to the kernel;
    /// with `swift_link`, as a Swift symlink to that `container/object`.
    async fn make_object(
        &self,
        parent: u64,
        name: &OsStr,
        kind: NodeKind,
        posix: PosixAttrs,
        body: Bytes,
        swift_link: Option<String>,
    ) -> Result<Attr, FsError> {
        let (parent, name) = self.free_name(parent, name).await?;
        let object = ObjectName::new(format!("{}{name}", self.inodes.key(&parent)))?;
        let meta = ObjectMeta {
            mtime: Some(SystemTime::now()),
            posix,
            swift_link,
            ..ObjectMeta::default()
        };
        let size = body.len() as u64;
        let etag = self
            .store
            .put_object(&self.container, &object, body, &meta)
            .await?;
        let inode = self.inodes.upsert(&parent, name, kind, None);
        inode.update_from_commit(&Committed::new(size, etag, &meta, false));
        self.recent.stored(object.as_str(), &inode, None);
        self.dirs.added(parent.ino, name, inode.clone());
        Ok(self.entry_for_kernel(&inode))
    }

    /// A link's target: from the listing, or (too long for it) from the object.
    pub async fn readlink(&self, ino: u64) -> Result<String, FsError> {
        let inode = self.inode(ino)?;
        if inode.kind != NodeKind::Symlink {
            return Err(FsError::NotASymlink);
        }
        if let Some(target) = inode.with_state(|s| s.posix.link.clone()) {
            return Ok(target);
        }
        let object = self.object_name(&inode)?;
        let mut stream = self
            .store
            .get_object(&self.container, &object, None, None)
            .await?;
        let mut body = Vec::new();
        while let Some(chunk) = stream.body.next().await {
            body.extend_from_slice(&chunk?);
            if body.len() > LINK_MAX {
                return Err(FsError::NameTooLong);
            }
        }
        let target = String::from_utf8(body)
            .map_err(|_| FsError::InvalidName("link target is not UTF-8".into()))?;
        inode.learn_link(&target);
        Ok(target)
    }
}

impl SwiftFs {
    /// A Swift symlink made by another client carries no POSIX target of ours: it
    /// is shown as a link to the object it points at, from the link `key`'s folder
    /// (see [`path_to_swift_target`]).
    pub(super) fn adopt_swift_link(
        &self,
        key: &str,
        swift_link: Option<&str>,
        posix: &mut PosixAttrs,
    ) {
        let Some(to) = swift_link else { return };
        if posix.link.is_some() {
            return;
        }
        let root = self.inodes.root_key();
        let container = self.container.as_str();
        posix.link = Some(path_to_swift_target(root, key, container, to));
        posix.mode = Some(libc::S_IFLNK | 0o777);
    }
}

/// The relative path from the link `key` to the object `container/object` a Swift
/// symlink names: within the mount (the mount's `container`, below its `root`) the
/// shortest one; otherwise one through the folder above the mounted container, as
/// if every container of the account were mounted side by side (there, it leads to
/// the object; elsewhere it dangles, as a link out of the mount does).
fn path_to_swift_target(root: &str, key: &str, container: &str, target: &str) -> String {
    let mut folder: Vec<&str> = key.split('/').collect();
    folder.pop();
    let (to_container, object) = target.split_once('/').unwrap_or((target, ""));
    let within = to_container == container && object.starts_with(root) && object != root;
    if !within {
        let up = "../".repeat(folder.len() + 1);
        return format!("{up}{target}");
    }
    let segments: Vec<&str> = object.split('/').collect();
    let (dirs, _) = segments.split_at(segments.len() - 1);
    let common = folder.iter().zip(dirs).take_while(|(a, b)| a == b).count();
    let mut path = vec![".."; folder.len() - common];
    path.extend(&segments[common..]);
    path.join("/")
}

/// The object a relative link target names, when it names one of the mount's own:
/// `target` read from the folder whose key is `folder`, within the mount's `root`
/// key (both `""` or ending in `/`). `None` for an absolute target, one that climbs
/// out of the mount, names a folder (a trailing `/`, `.` or `..` last) or holds an
/// empty segment: those stay plain links.
fn resolve_in_mount(root: &str, folder: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let below = folder.strip_prefix(root)?;
    let mut path: Vec<&str> = below.split('/').filter(|s| !s.is_empty()).collect();
    let segments: Vec<&str> = target.split('/').collect();
    let last = *segments.last()?;
    if last.is_empty() || last == "." || last == ".." {
        return None;
    }
    for seg in segments {
        match seg {
            "" => return None,
            "." => {}
            ".." => {
                path.pop()?;
            }
            name => path.push(name),
        }
    }
    Some(format!("{root}{}", path.join("/")))
}

#[cfg(test)]
mod tests {
    use super::{path_to_swift_target, resolve_in_mount};

    #[test]
    fn swift_symlinks_of_other_clients_point_where_they_lead() {
        let path = |root, key, target| path_to_swift_target(root, key, "c", target);
        assert_eq!(path("", "link", "c/a"), "a");
        assert_eq!(path("", "d/link", "c/d/a"), "a");
        assert_eq!(path("", "d/e/link", "c/f/a b"), "../../f/a b");
        assert_eq!(path("p/", "p/d/link", "c/p/x/y"), "../x/y");
        // out of the mount: through the folder above the container
        assert_eq!(path("", "d/link", "other/x"), "../../other/x");
        assert_eq!(path("p/", "p/link", "c/q/x"), "../../c/q/x");
        assert_eq!(path("p/", "p/link", "c/p/"), "../../c/p/");
    }

    #[test]
    fn link_targets_resolve_to_objects_of_the_mount_only() {
        assert_eq!(resolve_in_mount("", "", "a").as_deref(), Some("a"));
        assert_eq!(
            resolve_in_mount("p/", "p/d/", "../e/./f").as_deref(),
            Some("p/e/f")
        );
        assert_eq!(
            resolve_in_mount("p/", "p/d/", "x").as_deref(),
            Some("p/d/x")
        );
        assert_eq!(
            resolve_in_mount("p/", "p/", "../q/x"),
            None,
            "out of the mount"
        );
        assert_eq!(
            resolve_in_mount("", "d/", "../../x"),
            None,
            "out of the container"
        );
        assert_eq!(resolve_in_mount("", "", "/etc/passwd"), None);
        assert_eq!(resolve_in_mount("", "", "d/"), None, "a folder");
        assert_eq!(resolve_in_mount("", "d/", ".."), None);
        assert_eq!(resolve_in_mount("", "", "a//b"), None);
    }
}
